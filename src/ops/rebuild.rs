//! `camroll rebuild ARCHIVE`: recreate the catalog and `BLAKE3SUMS` from what
//! is on disk, so the archive never depends on its catalog surviving.
//!
//! Every file is re-hashed. What each file *should* hash to comes from the
//! best evidence left: the old catalog when it is still sound, else the lines
//! of `BLAKE3SUMS` that survive, else (for a file neither lists) the file
//! itself. So a corrupt or missing file stays recorded with its true hash and
//! `verify --repair-from` can still fix it; a rebuild never launders damage.
//! A damaged catalog is kept beside the new one as `catalog.damaged-<time>.sqlite`.
//! Capture times of files the records do not describe are re-read with
//! `media::read_media_info` (the archived file's mtime is its capture time
//! otherwise). Holds the archive lock.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::Serialize;
use thiserror::Error;
use walkdir::WalkDir;

use crate::archive::catalog::{
    now_text, Catalog, CatalogError, FileRecord, RunCounts, CATALOG_FILE,
};
use crate::archive::layout::checked_rel_path;
use crate::archive::layout::rel_text;
use crate::archive::lock::LockError;
use crate::archive::{sums, ArchiveError, Refusal, CAMROLL_DIR};
use crate::hash;
use crate::media::{self, DateOptions};
use crate::ops::{human_bytes, Outcome};
use crate::progress::Progress;

/// Why a rebuild could not be done (file-level findings are [`Problem`]s).
#[derive(Debug, Error)]
pub enum RebuildError {
    /// The folder is not there.
    #[error("{path}: no such archive folder. Check the path (is the disk mounted?)")]
    NoArchive {
        /// The archive folder given.
        path: PathBuf,
    },
    /// The folder is there but holds no archive: never make one by accident.
    #[error("{path}: not a camroll archive (neither .camroll/ nor BLAKE3SUMS). Check the path")]
    NotAnArchive {
        /// The folder given.
        path: PathBuf,
    },
    /// A file or folder of the archive could not be read or written.
    #[error("{path}: {source}. Check the archive disk is mounted and writable")]
    Io {
        /// What was being read or written.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Another camroll holds the archive.
    #[error(transparent)]
    Lock(#[from] LockError),
    /// The new catalog could not be written.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// BLAKE3SUMS could not be written.
    #[error(transparent)]
    Sums(#[from] sums::SumsError),
    /// The archive could not be readied for writing (a planted link…).
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    /// The catalog is sound: rebuilding it is not needed.
    #[error("{path}: the catalog is sound, so rebuild changed nothing. `camroll verify` reports what is wrong with the files; to re-hash every file and record the unlisted ones anyway, run `camroll rebuild --force`")]
    Sound {
        /// The catalog.
        path: PathBuf,
    },
    /// Another program holds the catalog open.
    #[error("{path}: the catalog is in use by another program, so rebuild changed nothing. Close it (an sqlite3 shell, a backup tool) and run again")]
    Busy {
        /// The catalog.
        path: PathBuf,
    },
}

impl RebuildError {
    /// Whether the rebuild was refused because the archive does not exist or is locked.
    pub fn refusal(&self) -> Option<Refusal> {
        match self {
            RebuildError::NoArchive { .. } | RebuildError::NotAnArchive { .. } => {
                Some(Refusal::NoArchive)
            }
            RebuildError::Lock(l) => l.refusal(),
            RebuildError::Archive(a) => a.refusal(),
            _ => None,
        }
    }
}

/// What kind of file-level problem a rebuild found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// Recorded but not on disk.
    Missing,
    /// On disk with another hash than recorded.
    Corrupt,
    /// On disk, unrecorded, and not a photo or video.
    NotMedia,
    /// Could not be listed or read.
    Unreadable,
    /// A catalog row whose path would leave the archive: dropped.
    BadPath,
}

impl ProblemKind {
    fn label(self) -> &'static str {
        match self {
            ProblemKind::Missing => "MISSING",
            ProblemKind::Corrupt => "CORRUPT",
            ProblemKind::NotMedia => "NOT_MEDIA",
            ProblemKind::Unreadable => "UNREADABLE",
            ProblemKind::BadPath => "BADPATH",
        }
    }
}

/// A file the rebuild could not vouch for.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    /// `missing`, `corrupt`, `not_media`, `unreadable`.
    pub kind: ProblemKind,
    /// The file, relative to the archive, `/`-separated.
    pub path: String,
    /// What is wrong with it, and what to do.
    pub detail: String,
}

/// What `camroll rebuild` did: the one JSON object `--json` prints.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RebuildSummary {
    /// The archive, as given on the command line.
    pub archive: String,
    /// Where the expected hashes came from: `catalog`, `blake3sums`, `files`.
    pub evidence: Vec<&'static str>,
    /// The damaged catalog, moved aside.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old_catalog_kept_as: Option<String>,
    /// Files now recorded.
    pub files: u64,
    /// Bytes of the files now recorded.
    pub bytes: u64,
    /// Files whose content matched the recorded hash.
    pub verified: u64,
    /// Media files on disk no record listed, now recorded.
    pub added: Vec<String>,
    /// Recorded lines that were damaged in BLAKE3SUMS.
    pub sums_damaged_lines: u64,
    /// Partial files of killed runs found in staging and removed.
    pub staging_leftovers_removed: u64,
    /// Files the rebuild could not vouch for; nonempty means exit 1.
    pub problems: Vec<Problem>,
    /// `ok` or `problems`; the exit status follows it.
    pub outcome: Outcome,
}

impl RebuildSummary {
    /// The short human summary (stdout): each problem, then the counts.
    pub fn human(&self) -> String {
        let mut s = String::new();
        for p in &self.problems {
            let _ = writeln!(s, "{:<9} {}: {}", p.kind.label(), p.path, p.detail);
        }
        for a in &self.added {
            let _ = writeln!(s, "ADDED     {a}: on disk but unrecorded; now recorded");
        }
        let _ = writeln!(
            s,
            "{}: catalog and BLAKE3SUMS rebuilt from {} ({} files, {}, {} verified, {} added, {} problems)",
            self.archive,
            self.evidence.join(" + "),
            self.files,
            human_bytes(self.bytes),
            self.verified,
            self.added.len(),
            self.problems.len()
        );
        if let Some(old) = &self.old_catalog_kept_as {
            let _ = writeln!(s, "The damaged catalog is kept as {old}.");
        }
        if self
            .problems
            .iter()
            .any(|p| matches!(p.kind, ProblemKind::Missing | ProblemKind::Corrupt))
        {
            let _ = writeln!(
                s,
                "What to do: missing and corrupt files stay recorded with their true hash. To repair: camroll verify {} --repair-from <another archive>",
                self.archive
            );
        }
        if self
            .problems
            .iter()
            .any(|p| p.kind == ProblemKind::NotMedia)
        {
            let _ = writeln!(
                s,
                "What to do: files that are not photos or videos were left unrecorded; move them out of the archive"
            );
        }
        s
    }
}

/// One file found on disk.
struct OnDisk {
    hash: Result<(String, u64), String>,
    kind: Option<media::Kind>,
}

/// Rebuilds the catalog and BLAKE3SUMS of `root`; see the module docs.
/// With `force`, a sound catalog is rebuilt too (amended: every file re-hashed,
/// unlisted media recorded); without it, rebuild refuses a sound catalog.
pub fn rebuild(
    root: &Path,
    jobs: Option<usize>,
    force: bool,
    progress: &dyn Progress,
) -> Result<RebuildSummary, RebuildError> {
    if !root.is_dir() {
        return Err(RebuildError::NoArchive {
            path: root.to_path_buf(),
        });
    }
    let camroll = root.join(CAMROLL_DIR);
    if !camroll.is_dir() && !root.join(sums::SUMS_FILE).is_file() {
        // Never turn an arbitrary folder into an archive by accident.
        return Err(RebuildError::NotAnArchive {
            path: root.to_path_buf(),
        });
    }
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| RebuildError::Io { path, source }
    };
    let writable = crate::archive::open_writable(root)?;
    let _lock = writable.lock;
    let mut summary = RebuildSummary {
        archive: root.display().to_string(),
        ..Default::default()
    };
    summary.staging_leftovers_removed = writable.leftovers_removed;

    // Evidence 1: the old catalog, if sound. Judged read-only first: a busy
    // catalog is not a damaged one, and a sound one needs no rebuild.
    let cat_path = camroll.join(CATALOG_FILE);
    let mut old: Option<(Catalog, BTreeMap<String, String>)> = None;
    if cat_path.is_file() {
        let judged = Catalog::open_read_only(root).and_then(|c| c.integrity_problem());
        match judged {
            Err(e) if e.kind() == crate::archive::catalog::Unreadable::Busy => {
                return Err(RebuildError::Busy { path: cat_path });
            }
            Ok(None) if !force => return Err(RebuildError::Sound { path: cat_path }),
            _ => {}
        }
        let sound = matches!(judged, Ok(None))
            .then(|| Catalog::open(root, false).ok())
            .flatten()
            .and_then(|c| {
                let files = c.all_files().ok()?;
                let map = files.into_iter().map(|(h, p, _)| (p, h)).collect();
                Some((c, map))
            });
        match sound {
            Some(x) => {
                summary.evidence.push("catalog");
                old = Some(x);
            }
            None => {
                let kept = move_aside(&camroll).map_err(io(&cat_path))?;
                summary.old_catalog_kept_as = Some(kept);
            }
        }
    }
    // Rows whose path would leave the archive are dropped, never acted on.
    if let Some((c, map)) = old.as_mut() {
        let bad: Vec<String> = map
            .keys()
            .filter(|p| checked_rel_path(p).is_err())
            .cloned()
            .collect();
        for p in bad {
            let why = checked_rel_path(&p)
                .err()
                .map(|e| e.why)
                .unwrap_or_default();
            map.remove(&p);
            c.remove_file(&p)?;
            summary.problems.push(Problem {
                kind: ProblemKind::BadPath,
                path: p,
                detail: format!("catalog row names a path outside the archive ({why}): dropped"),
            });
        }
    }
    // Evidence 2: what survives of BLAKE3SUMS (lines that would leave the
    // archive count as damaged: `sums::read`).
    let mut listed: BTreeMap<String, String> = BTreeMap::new();
    if let Ok(read) = sums::read(root) {
        summary.sums_damaged_lines = read.damaged.len() as u64;
        if !read.entries.is_empty() {
            summary.evidence.push("BLAKE3SUMS");
        }
        for e in read.entries {
            listed.insert(e.path, e.hash);
        }
    }
    summary.evidence.push("files");

    // Evidence 3: the files, re-hashed.
    let mut paths: Vec<(String, PathBuf)> = Vec::new();
    for entry in WalkDir::new(root)
        .follow_links(false)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || e.file_name() != CAMROLL_DIR)
    {
        match entry {
            Ok(e) if e.file_type().is_file() => {
                let rel = rel_text(root, e.path());
                if !(e.depth() == 1 && rel == sums::SUMS_FILE) {
                    paths.push((rel, e.path().to_path_buf()));
                }
            }
            Ok(_) => {}
            Err(e) => summary.problems.push(Problem {
                kind: ProblemKind::Unreadable,
                path: e
                    .path()
                    .map(|p| rel_text(root, p))
                    .unwrap_or_else(|| "?".into()),
                detail: format!("cannot list: {e}"),
            }),
        }
    }
    progress.phase("Re-hashing", paths.len() as u64, 0);
    let hash_one = |(_, full): &(String, PathBuf)| {
        let hash = hash::hash_path(full)
            .map(|d| (d.hash, d.size))
            .map_err(|e| e.to_string());
        let kind = sniff_file(full);
        progress.advance(1, hash.as_ref().map(|(_, n)| *n).unwrap_or(0));
        OnDisk { hash, kind }
    };
    let pool = hash::pool(jobs);
    let found: Vec<OnDisk> =
        hash::in_pool(pool.as_ref(), || paths.par_iter().map(hash_one).collect());
    progress.finish();
    let on_disk: HashMap<&str, (&PathBuf, &OnDisk)> = paths
        .iter()
        .zip(&found)
        .map(|((rel, full), d)| (rel.as_str(), (full, d)))
        .collect();

    // Decide every path's recorded hash.
    let old_map = old.as_ref().map(|(_, m)| m.clone()).unwrap_or_default();
    let mut all: Vec<&str> = old_map
        .keys()
        .chain(listed.keys())
        .map(String::as_str)
        .chain(paths.iter().map(|(p, _)| p.as_str()))
        .collect();
    all.sort_unstable();
    all.dedup();
    let mut decided: Vec<(String, String, u64, Option<media::Kind>, bool)> = Vec::new(); // path, hash, size, kind, new
    let mut good = Vec::new();
    for path in all {
        let records: Vec<&String> = [old_map.get(path), listed.get(path)]
            .into_iter()
            .flatten()
            .collect();
        match on_disk.get(path) {
            Some((_, d)) => match &d.hash {
                Ok((h, size)) if records.is_empty() => {
                    if d.kind.is_none() {
                        summary.problems.push(Problem {
                            kind: ProblemKind::NotMedia,
                            path: path.to_string(),
                            detail: "on disk but in no record, and not a photo or video: left unrecorded".into(),
                        });
                        continue;
                    }
                    summary.added.push(path.to_string());
                    good.push(path.to_string());
                    decided.push((path.to_string(), h.clone(), *size, d.kind, true));
                }
                Ok((h, size)) if records.contains(&h) => {
                    good.push(path.to_string());
                    decided.push((path.to_string(), h.clone(), *size, d.kind, false));
                }
                Ok((h, size)) => {
                    let expected = records[0].clone();
                    summary.problems.push(Problem {
                        kind: ProblemKind::Corrupt,
                        path: path.to_string(),
                        detail: format!("hash is {h}, the records say {expected}: kept recorded with the recorded hash"),
                    });
                    decided.push((path.to_string(), expected, *size, d.kind, false));
                }
                Err(e) => {
                    let expected = records.first().map(|h| (*h).clone());
                    summary.problems.push(Problem {
                        kind: ProblemKind::Unreadable,
                        path: path.to_string(),
                        detail: format!("cannot read: {e}"),
                    });
                    if let Some(h) = expected {
                        decided.push((path.to_string(), h, 0, d.kind, false));
                    }
                }
            },
            None => {
                let expected = records[0].clone();
                summary.problems.push(Problem {
                    kind: ProblemKind::Missing,
                    path: path.to_string(),
                    detail: "recorded but not on disk: kept recorded so it can be repaired".into(),
                });
                decided.push((path.to_string(), expected, 0, None, false));
            }
        }
    }

    // Write the catalog: amend the sound one, or fill a new one.
    let mut cat = match old {
        Some((c, _)) => c,
        None => Catalog::open(root, true)?,
    };
    let run = cat.start_run("rebuild", None)?;
    cat.begin()?;
    let opts = DateOptions::default();
    for (path, hash, size, kind, _new) in &decided {
        if let Some(old_hash) = old_map.get(path) {
            if old_hash != hash {
                cat.set_file_hash(path, hash, *size)?;
            }
            continue;
        }
        let capture = on_disk.get(path.as_str()).map(|(full, _)| {
            let mtime = fs::metadata(full).and_then(|m| m.modified()).ok();
            kind.and_then(|k| {
                fs::File::open(full)
                    .ok()
                    .and_then(|mut f| media::read_media_info(&mut f, k, &opts).capture)
            })
            .unwrap_or_else(|| media::date::fallback_capture(mtime))
        });
        let name = path.rsplit_once('/').map(|(_, n)| n).unwrap_or(path);
        // camroll's own sidecars get their role back, so later runs may replace them.
        let role = on_disk
            .get(path.as_str())
            .filter(|_| name.ends_with(".xmp") || name.ends_with(".json"))
            .and_then(|(full, _)| {
                let mut head = vec![0u8; 4096];
                let n = std::io::Read::read(&mut fs::File::open(full).ok()?, &mut head).ok()?;
                media::sidecar::is_camroll_sidecar(&head[..n])
                    .then(|| crate::archive::sidecar::ROLE.to_string())
            });
        cat.insert_file(
            &FileRecord {
                path: path.clone(),
                hash: hash.clone(),
                size: *size,
                kind: kind.map(|k| k.name().to_string()),
                capture,
                original_name: name.to_string(),
                source: "rebuild".into(),
                source_path: path.clone(),
                role,
            },
            run,
        )?;
    }
    cat.commit()?;
    cat.record_verification(&good, &[])?;
    summary.files = decided.len() as u64;
    summary.bytes = decided.iter().map(|d| d.2).sum();
    summary.verified = good.len() as u64;
    let entries = cat
        .all_files()?
        .into_iter()
        .map(|(hash, path, _)| sums::SumsEntry { hash, path })
        .collect();
    sums::write(root, entries)?;
    summary.outcome = if summary.problems.is_empty() {
        Outcome::Ok
    } else {
        Outcome::Problems
    };
    let counts = RunCounts {
        scanned: paths.len() as u64,
        copied: summary.added.len() as u64,
        failed: summary.problems.len() as u64,
        ..Default::default()
    };
    cat.finish_run(run, &counts, summary.outcome.as_str())?;
    Ok(summary)
}

/// The kind of a file from its first bytes, `None` when not media.
fn sniff_file(p: &Path) -> Option<media::Kind> {
    let mut head = [0u8; media::SNIFF_LEN];
    let mut f = fs::File::open(p).ok()?;
    let n = hash::read_full(&mut f, &mut head).ok()?;
    let ext = p.extension().and_then(|e| e.to_str());
    media::sniff(&head[..n], ext)
}

/// Moves a damaged catalog (and its WAL files) aside; returns the new name.
fn move_aside(camroll: &Path) -> std::io::Result<String> {
    // `.camroll` is no link (`open_writable` refused one); the rename stays inside it.
    let stamp = now_text().replace(':', "");
    let kept = format!("catalog.damaged-{stamp}.sqlite");
    fs::rename(camroll.join(CATALOG_FILE), camroll.join(&kept))?;
    for ext in ["-wal", "-shm"] {
        let p = camroll.join(format!("{CATALOG_FILE}{ext}"));
        if p.exists() {
            let _ = fs::rename(&p, camroll.join(format!("{kept}{ext}")));
        }
    }
    Ok(format!("{CAMROLL_DIR}/{kept}"))
}
