//! `camroll verify`: re-hash every archived file and report, with paths, what
//! is missing, corrupt, unlisted, where the catalog and `BLAKE3SUMS` disagree,
//! and staging leftovers; with `--deep`, also what no longer decodes.
//!
//! Findings are collected, never returned early (rustic's `check`), and each
//! says what to do. The archive's files are never changed; the catalog records
//! each file's last verification (`verified_at`, `verify_problem`) and the run.
//! With `--repair-from`, missing and corrupt files are replaced from another
//! archive (see [`repair`]); that is the only case verify writes files.

pub mod bucket;
pub mod deep;
pub mod repair;

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::Serialize;
use walkdir::WalkDir;

use crate::archive::catalog::{self, Catalog, RunCounts, VerifyProblem};
use crate::archive::layout::{checked_rel_path, os_to_text, rel_text};
use crate::archive::sums::{self, SumsEntry};
use crate::archive::{CAMROLL_DIR, STAGING_DIR};
use crate::hash;
use crate::ops::{human_bytes, shown, Outcome};
use crate::progress::Progress;

/// Settings of one verification.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// Also decode (or structure-check) every file (`--deep`), to find damage that predates the copy.
    pub deep: bool,
    /// Parallel readers (default: number of CPUs).
    pub jobs: Option<usize>,
}

/// What kind of thing verify found wrong (`kind` in the JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// Listed, not on disk.
    Missing,
    /// On disk with another hash (or unreadable).
    Corrupt,
    /// A bucket object at the path holds other content than the one archived,
    /// and says so in its own metadata: it was overwritten, not damaged.
    Replaced,
    /// Hash matches, but the content does not decode (`--deep`).
    Undecodable,
    /// On disk, in no record.
    Unlisted,
    /// The catalog and `BLAKE3SUMS` disagree about a file (listed in one only, or with different hashes).
    SumsDisagree,
    /// A partial file of an interrupted run left in staging.
    StagingLeftover,
    /// The catalog is missing or cannot be read.
    CatalogUnreadable,
    /// `BLAKE3SUMS` is missing, unreadable or has damaged lines.
    SumsUnreadable,
    /// A catalog row whose path would leave the archive (`..`, absolute…):
    /// never read, repaired or written.
    BadPath,
    /// Another run held the catalog for the whole wait: not damage.
    CatalogBusy,
    /// A symbolic link where camroll keeps its own folder or file
    /// (`.camroll`, `staging`, `lock`, a `YYYY` or `MM` folder).
    Symlink,
}

impl FindingKind {
    fn label(self) -> &'static str {
        match self {
            FindingKind::Missing => "MISSING",
            FindingKind::Corrupt => "CORRUPT",
            FindingKind::Replaced => "REPLACED",
            FindingKind::Undecodable => "DAMAGED",
            FindingKind::Unlisted => "UNLISTED",
            FindingKind::SumsDisagree => "SUMS",
            FindingKind::StagingLeftover => "LEFTOVER",
            FindingKind::CatalogUnreadable => "CATALOG",
            FindingKind::SumsUnreadable => "SUMS",
            FindingKind::BadPath => "BADPATH",
            FindingKind::Symlink => "SYMLINK",
            FindingKind::CatalogBusy => "BUSY",
        }
    }

    /// What to do about it, rustic-style.
    pub fn todo(self, archive: &str) -> String {
        match self {
            FindingKind::Missing | FindingKind::Corrupt | FindingKind::Replaced => format!(
                "To repair: camroll verify {archive} --repair-from <another archive holding the same photos>"
            ),
            FindingKind::Undecodable => "The archived bytes are exactly what was copied, so the damage happened before camroll copied it (on the phone or the source). Open the original on the phone: if it is damaged there too, no better copy exists".into(),
            FindingKind::Unlisted => format!(
                "Not put here by camroll, or by a run killed before it recorded it. If it is a photo that belongs here, `camroll rebuild --force {archive}` records it; otherwise move it out of the archive"
            ),
            // The catalog is sound: rebuild rewrites BLAKE3SUMS from it only when told to.
            FindingKind::SumsDisagree | FindingKind::SumsUnreadable => {
                format!("To repair: camroll rebuild --force {archive}")
            }
            FindingKind::CatalogUnreadable => format!("To repair: camroll rebuild {archive}"),
            FindingKind::StagingLeftover => format!(
                "Partial file of an interrupted run: the next export (or `camroll rebuild {archive}`) removes it"
            ),
            FindingKind::BadPath => format!(
                "The catalog was changed by something other than camroll; camroll ignores the entry. `camroll rebuild {archive}` drops it"
            ),
            FindingKind::CatalogBusy => "Another camroll run kept the catalog busy: run verify again when it has finished (nothing is wrong with the catalog)".into(),
            FindingKind::Symlink => "camroll never follows links inside an archive and will not write here until it is gone: remove the link (and put the real folder back if it was moved)".into(),
        }
    }
}

/// One thing verify found wrong in an archive (an element of `findings`).
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// What kind of problem it is.
    pub kind: FindingKind,
    /// Relative to the archive, `/`-separated.
    pub path: String,
    /// What is wrong.
    pub detail: String,
    /// What to do about it.
    pub todo: String,
    /// The hash the file should have (missing and corrupt files).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_hash: Option<String>,
    /// Replaced by `--repair-from`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub repaired: bool,
}

/// What `camroll verify` found in one archive.
#[derive(Debug, Clone, Serialize, Default)]
pub struct ArchiveReport {
    /// The archive, as given on the command line.
    pub archive: String,
    /// Files the records list.
    pub files: u64,
    /// Files read back with the recorded hash.
    pub verified: u64,
    /// Bytes read back.
    pub bytes: u64,
    /// True when this was a `--deep` verification.
    pub deep: bool,
    /// Files decoded or structure-checked (`--deep`).
    pub deep_checked: u64,
    /// Everything found wrong; empty means the archive is whole.
    pub findings: Vec<Finding>,
    /// What `--repair-from` tried; omitted when empty.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub repairs: Vec<repair::Repair>,
    /// The verification was recorded in the catalog.
    pub recorded: bool,
}

impl ArchiveReport {
    fn push(&mut self, kind: FindingKind, path: impl Into<String>, detail: impl Into<String>) {
        self.push_with_hash(kind, path, detail, None);
    }

    fn push_with_hash(
        &mut self,
        kind: FindingKind,
        path: impl Into<String>,
        detail: impl Into<String>,
        expected_hash: Option<String>,
    ) {
        let todo = kind.todo(&self.archive);
        self.findings.push(Finding {
            kind,
            path: path.into(),
            detail: detail.into(),
            todo,
            expected_hash,
            repaired: false,
        });
    }

    /// Findings still standing (not repaired).
    pub fn problems(&self) -> usize {
        self.findings.iter().filter(|f| !f.repaired).count()
    }

    /// The human report (stdout): each finding with what to do, then the counts.
    pub fn human(&self) -> String {
        let mut s = String::new();
        for f in &self.findings {
            let label = if f.repaired {
                "REPAIRED"
            } else {
                f.kind.label()
            };
            let _ = writeln!(s, "{label:<9} {}: {}", shown(&f.path), shown(&f.detail));
        }
        for r in self.repairs.iter().filter(|r| !r.repaired) {
            let _ = writeln!(s, "NOT REPAIRED {}: {}", r.path, r.detail);
        }
        let problems = self.problems();
        let _ = write!(
            s,
            "{}: {} of {} files verified ({})",
            self.archive,
            self.verified,
            self.files,
            human_bytes(self.bytes),
        );
        if self.deep {
            let _ = write!(s, ", {} decoded or structure-checked", self.deep_checked);
        }
        let repaired = self.repairs.iter().filter(|r| r.repaired).count();
        if repaired > 0 {
            let _ = write!(s, ", {repaired} repaired");
        }
        let _ = writeln!(
            s,
            ", {problems} problem{}",
            if problems == 1 { "" } else { "s" }
        );
        // One line of guidance per kind of problem.
        let mut seen: Vec<(FindingKind, usize)> = Vec::new();
        for f in self.findings.iter().filter(|f| !f.repaired) {
            match seen.iter_mut().find(|(k, _)| *k == f.kind) {
                Some((_, n)) => *n += 1,
                None => seen.push((f.kind, 1)),
            }
        }
        if !seen.is_empty() {
            s.push_str("What to do:\n");
            let mut said: HashSet<String> = HashSet::new();
            for (k, n) in seen {
                let todo = k.todo(&self.archive);
                let what = format!("{n} {}", k.label().to_lowercase());
                if said.insert(todo.clone()) {
                    let _ = writeln!(s, "  {what}: {todo}");
                }
            }
        }
        s
    }
}

/// How one listed file fared.
enum Checked {
    Ok { size: u64, deep: Option<deep::Deep> },
    Missing,
    Corrupt(String),
    Unreadable(String),
}

/// Verifies one archive. Never writes to its files; records the verification
/// in the catalog.
pub fn verify_archive(root: &Path, opts: &VerifyOptions, progress: &dyn Progress) -> ArchiveReport {
    let mut report = ArchiveReport {
        archive: root.display().to_string(),
        deep: opts.deep,
        ..Default::default()
    };
    let cat_rel = format!("{CAMROLL_DIR}/{}", catalog::CATALOG_FILE);
    // The run starts before the list is read: a whole-archive verify vouches
    // for every file added before it started (see `record`). Nothing is
    // written until the end, and only when the catalog proved sound.
    let started = catalog::now_text();
    // BLAKE3SUMS is read and parsed beside the catalog's query.
    std::thread::scope(|scope| {
        let sums_read = scope.spawn(|| sums::read(root));
        verify_listed(
            root,
            opts,
            progress,
            &mut report,
            &started,
            &cat_rel,
            || {
                sums_read
                    .join()
                    .unwrap_or_else(|_| Err(std::io::Error::other("reading BLAKE3SUMS failed")))
            },
        )
    });
    report
}

/// [`verify_archive`] once BLAKE3SUMS is being read: `sums_read` waits for it.
fn verify_listed(
    root: &Path,
    opts: &VerifyOptions,
    progress: &dyn Progress,
    report: &mut ArchiveReport,
    started: &str,
    cat_rel: &str,
    sums_read: impl FnOnce() -> std::io::Result<sums::SumsRead>,
) {
    let mut catalog = None;
    if root.join(cat_rel).is_file() {
        match open_catalog_waiting(root, progress) {
            Ok(c) => catalog = Some(c),
            Err(e) if e.kind() == catalog::Unreadable::Busy => report.push(
                FindingKind::CatalogBusy,
                cat_rel,
                format!("in use by another run for over {BUSY_WAIT_SECS} s"),
            ),
            Err(e) => report.push(FindingKind::CatalogUnreadable, cat_rel, e.to_string()),
        }
    } else {
        report.push(FindingKind::CatalogUnreadable, cat_rel, "missing");
    }
    // The catalog's list (path → hash, size).
    let listed: Option<Vec<(String, String, u64)>> = match catalog.as_ref().map(|c| c.all_files()) {
        Some(Ok(v)) => Some(v),
        Some(Err(e)) => {
            report.push(FindingKind::CatalogUnreadable, cat_rel, e.to_string());
            catalog = None;
            None
        }
        None => None,
    };
    let sums = match sums_read() {
        Ok(read) => {
            for why in read.damaged {
                report.push(FindingKind::SumsUnreadable, sums::SUMS_FILE, why);
            }
            Some(read.entries)
        }
        Err(e) => {
            let what = if e.kind() == std::io::ErrorKind::NotFound {
                "missing".to_string()
            } else {
                format!("cannot read: {e}")
            };
            report.push(FindingKind::SumsUnreadable, sums::SUMS_FILE, what);
            None
        }
    };
    // Rows whose path would leave the archive are findings, never read.
    let listed = listed.map(|rows| {
        let (good, bad): (Vec<_>, Vec<_>) = rows
            .into_iter()
            .partition(|(_, p, _)| checked_rel_path(p).is_ok());
        for (_, p, _) in bad {
            let why = checked_rel_path(&p)
                .err()
                .map(|e| e.why)
                .unwrap_or_default();
            report.push(
                FindingKind::BadPath,
                &p,
                format!("catalog row names a path outside the archive ({why})"),
            );
        }
        good
    });
    for s in crate::archive::contain::symlinked_own_paths(root) {
        report.push(
            FindingKind::Symlink,
            &s,
            "is a symbolic link where camroll keeps its own folder or file",
        );
    }
    // What to hash: the catalog's list, or BLAKE3SUMS when the catalog is unusable.
    let from_catalog = listed.is_some();
    let expected: Vec<(String, String, u64)> = match listed {
        Some(v) => v,
        None => sums
            .iter()
            .flatten()
            .map(|e| (e.hash.clone(), e.path.clone(), 0))
            .collect(),
    };
    if let (Some(sums), true) = (&sums, from_catalog) {
        compare_sums(report, &expected, sums);
    }
    let mut known: HashSet<&str> = expected.iter().map(|(_, p, _)| p.as_str()).collect();
    if let Some(s) = &sums {
        known.extend(s.iter().map(|e| e.path.as_str()));
    }
    if let Ok(rd) = std::fs::read_dir(root.join(CAMROLL_DIR).join(STAGING_DIR)) {
        for e in rd.flatten() {
            report.push(
                FindingKind::StagingLeftover,
                format!("{CAMROLL_DIR}/{STAGING_DIR}/{}", os_to_text(&e.file_name())),
                "partial file of an interrupted run",
            );
        }
    }

    report.files = expected.len() as u64;
    let total_bytes = expected.iter().map(|(_, _, s)| s).sum();
    progress.phase(
        if opts.deep {
            "Verifying (deep)"
        } else {
            "Verifying"
        },
        report.files,
        total_bytes,
    );
    let deep_on = opts.deep;
    let check_one = |(hash, path, _): &(String, String, u64)| {
        let full = root.join(path);
        let r = match hash::hash_path(&full) {
            Ok(d) if &d.hash == hash => Checked::Ok {
                size: d.size,
                deep: deep_on.then(|| deep::check(&full)),
            },
            Ok(d) => Checked::Corrupt(d.hash),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Checked::Missing,
            Err(e) => Checked::Unreadable(e.to_string()),
        };
        let size = match &r {
            Checked::Ok { size, .. } => *size,
            _ => 0,
        };
        progress.advance(1, size);
        r
    };
    // The catalog's integrity check and the walk for unlisted files overlap
    // the hashing: neither needs its results.
    // So does reading which files still wait for their first verification
    // (for `record`).
    let (results, (catalog_back, integrity, unlisted, pending)) = std::thread::scope(|scope| {
        let cat = catalog.take();
        let known = &known;
        let side = scope.spawn(move || {
            let pending = cat.as_ref().map(|c| c.paths_not_verified());
            let integrity = cat.as_ref().map(|c| c.integrity_problem());
            (cat, integrity, find_unlisted(root, known), pending)
        });
        let pool = hash::pool(opts.jobs);
        let results: Vec<Checked> = hash::in_pool(pool.as_ref(), || {
            expected.par_iter().map(check_one).collect()
        });
        let side = side.join().unwrap_or_else(|_| {
            (
                None,
                None,
                vec![("?".into(), "the unlisted-file walk failed".into())],
                None,
            )
        });
        (results, side)
    });
    match integrity {
        Some(Ok(None)) => catalog = catalog_back,
        Some(Ok(Some(p))) => report.push(
            FindingKind::CatalogUnreadable,
            cat_rel,
            format!("damaged: {p}"),
        ),
        Some(Err(e)) => report.push(FindingKind::CatalogUnreadable, cat_rel, e.to_string()),
        None => {}
    }
    for (path, detail) in unlisted {
        report.push(FindingKind::Unlisted, path, detail);
    }
    let mut good = Vec::new();
    let mut bad: Vec<(String, VerifyProblem)> = Vec::new();
    for ((hash, path, _), r) in expected.iter().zip(results) {
        match r {
            Checked::Ok { size, deep } => {
                report.verified += 1;
                report.bytes += size;
                good.push(path.clone());
                match deep {
                    Some(deep::Deep::Whole(_)) => report.deep_checked += 1,
                    Some(deep::Deep::Damaged(why)) => {
                        report.deep_checked += 1;
                        bad.push((path.clone(), VerifyProblem::Undecodable(why.clone())));
                        report.push(FindingKind::Undecodable, path, why);
                    }
                    Some(deep::Deep::Unchecked(why)) => {
                        report.push(FindingKind::Undecodable, path, why);
                    }
                    None => {}
                }
            }
            Checked::Missing => {
                bad.push((path.clone(), VerifyProblem::Missing));
                report.push_with_hash(
                    FindingKind::Missing,
                    path,
                    "listed but not on disk",
                    Some(hash.clone()),
                );
            }
            Checked::Corrupt(actual) => {
                bad.push((path.clone(), VerifyProblem::Corrupt));
                report.push_with_hash(
                    FindingKind::Corrupt,
                    path,
                    format!("hash is {actual}, expected {hash}: the file changed or the disk is failing"),
                    Some(hash.clone()),
                );
            }
            Checked::Unreadable(e) => {
                bad.push((path.clone(), VerifyProblem::Unreadable(e.clone())));
                report.push_with_hash(
                    FindingKind::Corrupt,
                    path,
                    format!("cannot read: {e}"),
                    Some(hash.clone()),
                );
            }
        }
    }
    progress.finish();
    // Reading was read-only; the result is noted with a separate connection,
    // only where that can be done: a writable disk and a current catalog
    // (nothing is migrated). A failure to note it is not a finding.
    if let (Some(c), Some(Ok(pending))) = (catalog, pending) {
        let writable = !catalog::on_read_only_fs(root) && !c.is_legacy();
        drop(c);
        if writable {
            report.recorded = Catalog::open_existing(root)
                .and_then(|mut c| record(&mut c, started, report, &good, &bad, &pending))
                .is_ok();
        }
    }
}

/// How long verify waits for a catalog another run holds exclusively.
const BUSY_WAIT_SECS: u64 = 60;

/// Opens the catalog read-only; while another run holds it exclusively (a
/// FUSE disk, where SQLite cannot share it), waits up to [`BUSY_WAIT_SECS`]
/// and says so.
fn open_catalog_waiting(
    root: &Path,
    progress: &dyn Progress,
) -> Result<Catalog, catalog::CatalogError> {
    let mut said = false;
    for _ in 0..BUSY_WAIT_SECS {
        match Catalog::open_read_only(root) {
            Err(e) if e.kind() == catalog::Unreadable::Busy => {
                if !said {
                    progress.message(&format!(
                        "{}: the catalog is in use by another camroll run; waiting for it (up to {BUSY_WAIT_SECS} s)",
                        root.display()
                    ));
                    said = true;
                }
                std::thread::sleep(std::time::Duration::from_secs(1));
            }
            r => return r,
        }
    }
    Catalog::open_read_only(root)
}

/// Notes the verification in the catalog. The finished `verify` run records
/// that every file listed when it started was read back then; per file, only
/// changes are written (a file verified for the first time, or again after a
/// problem, gets `verified_at`; a file found wrong gets `verify_problem`), so
/// verifying a healthy archive rewrites no rows. A file's last verification is
/// the later of its `verified_at` and the last verify run it was listed for
/// (`FileRow::last_verified`). `pending`: the files not yet verified when
/// this run started.
fn record(
    c: &mut Catalog,
    started: &str,
    report: &ArchiveReport,
    good: &[String],
    bad: &[(String, VerifyProblem)],
    pending: &HashSet<String>,
) -> Result<(), catalog::CatalogError> {
    let changed: Vec<String> = good
        .iter()
        .filter(|p| pending.contains(p.as_str()))
        .cloned()
        .collect();
    // One transaction: one fsync for the whole record.
    c.begin()?;
    c.record_verification(&changed, bad)?;
    let counts = RunCounts {
        scanned: report.files,
        failed: report.problems() as u64,
        ..Default::default()
    };
    let outcome = if report.problems() == 0 {
        Outcome::Ok
    } else {
        Outcome::Problems
    };
    c.insert_finished_run("verify", started, &counts, outcome.as_str())?;
    c.commit()
}

/// Catalog and BLAKE3SUMS must list the same files with the same hashes.
fn compare_sums(
    report: &mut ArchiveReport,
    expected: &[(String, String, u64)],
    sums: &[SumsEntry],
) {
    let by_path: HashMap<&str, &str> = sums
        .iter()
        .map(|e| (e.path.as_str(), e.hash.as_str()))
        .collect();
    let cat: HashSet<&str> = expected.iter().map(|(_, p, _)| p.as_str()).collect();
    for (h, p, _) in expected {
        match by_path.get(p.as_str()) {
            None => report.push(
                FindingKind::SumsDisagree,
                p,
                "in the catalog but not in BLAKE3SUMS (b3sum --check would not check it)",
            ),
            Some(sh) if sh != h => report.push(
                FindingKind::SumsDisagree,
                p,
                format!("BLAKE3SUMS says {sh}, the catalog says {h}"),
            ),
            _ => {}
        }
    }
    for SumsEntry { path: p, .. } in sums {
        if !cat.contains(p.as_str()) {
            report.push(
                FindingKind::SumsDisagree,
                p,
                "in BLAKE3SUMS but not in the catalog",
            );
        }
    }
}

/// Files on disk that no record lists: (path, detail).
fn find_unlisted(root: &Path, known: &HashSet<&str>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    // Unsorted: sorting every folder's entries cost more than the walk on
    // 20,000 files; the few unlisted ones are sorted at the end instead.
    for entry in WalkDir::new(root)
        .follow_links(false)
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || e.file_name() != CAMROLL_DIR)
    {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                let path = e
                    .path()
                    .map(|p| rel_text(root, p))
                    .unwrap_or_else(|| "?".into());
                out.push((path, format!("cannot list this folder: {e}")));
                continue;
            }
        };
        if entry.file_type().is_dir() {
            continue;
        }
        let rel = rel_text(root, entry.path());
        if (entry.depth() == 1 && rel == sums::SUMS_FILE) || known.contains(rel.as_str()) {
            continue;
        }
        // `camroll albums --album-links`: links to archived files, not files.
        if entry.path_is_symlink()
            && rel.starts_with(&format!("{}/", crate::ops::albums::ALBUMS_DIR))
        {
            continue;
        }
        out.push((rel, "on disk but in no record".into()));
    }
    out.sort();
    out
}

/// Verifies each archive; returns the reports.
pub fn verify(
    archives: &[PathBuf],
    opts: &VerifyOptions,
    progress: &dyn Progress,
) -> Vec<ArchiveReport> {
    archives
        .iter()
        .map(|a| verify_archive(a, opts, progress))
        .collect()
}

/// What `verify` found in every archive it was given.
#[derive(Debug, Clone, Serialize)]
pub struct VerifySummary {
    /// One report per archive, in the order given.
    pub archives: Vec<ArchiveReport>,
    /// Findings still standing in all of them.
    pub problems: usize,
    /// `ok`, or `problems`.
    pub outcome: Outcome,
}

/// Verifies `archives`; with `repair_from`, then repairs what it can from
/// that other archive (never from itself).
pub fn verify_and_repair(
    archives: &[PathBuf],
    opts: &VerifyOptions,
    repair_from: Option<&Path>,
    progress: &dyn Progress,
) -> Result<VerifySummary, repair::RepairError> {
    let mut reports = verify(archives, opts, progress);
    if let Some(other) = repair_from {
        for r in reports.iter_mut() {
            if Path::new(&r.archive) == other {
                continue;
            }
            repair::repair(Path::new(&r.archive.clone()), r, other, progress)?;
        }
    }
    let problems: usize = reports.iter().map(|r| r.problems()).sum();
    Ok(VerifySummary {
        archives: reports,
        problems,
        outcome: if problems == 0 {
            Outcome::Ok
        } else {
            Outcome::Problems
        },
    })
}
