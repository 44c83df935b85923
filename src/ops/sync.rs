//! `camroll sync FROM TO`: bring another copy of an archive (the offsite
//! drive) up to date from the first, without the phone.
//!
//! Every file of FROM whose hash TO lacks is copied into the same folder under
//! the same name (the collision rule of `docs/archive-format.md` applies when
//! TO already has a different file of that name), each copy staged, fsynced,
//! read back and hash-checked before it is renamed into place. Catalog rows
//! keep FROM's metadata (capture time, original name, source), and FROM's
//! source records are copied so a later `camroll check` counts TO as holding
//! those items. FROM is only read.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::Serialize;
use thiserror::Error;

use crate::archive::catalog::{Catalog, FileRow, RunCounts, SourceRecord, CATALOG_FILE};
use crate::archive::layout::{checked_rel_path, split_ext, strip_suffix, NameRequest};
use crate::archive::staging::{copy_verified, CopyError};
use crate::archive::{Archive, ArchiveError, CAMROLL_DIR};
use crate::hash;
use crate::ops::{human_bytes, Failed, Outcome};
use crate::progress::Progress;

/// Why `camroll sync` could not start.
#[derive(Debug, Error)]
pub enum SyncError {
    /// An archive whose catalog is missing or unreadable.
    #[error(
        "{path}: no usable catalog ({why}). Run `camroll rebuild {path}` first, then sync again"
    )]
    NoCatalog {
        /// The archive.
        path: PathBuf,
        /// What is wrong with its catalog.
        why: String,
    },
    /// An archive path that is not a folder.
    #[error("{path}: no such archive folder. Check the path (is the disk mounted?)")]
    NoArchive {
        /// The path given.
        path: PathBuf,
    },
    /// FROM and TO name the same archive.
    #[error("FROM and TO are the same archive ({path})")]
    Same {
        /// The archive named twice.
        path: PathBuf,
    },
    /// Opening or locking an archive failed.
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    /// A bucket archive (`s3://…`) could not be used.
    #[error(transparent)]
    Bucket(crate::archive::bucket::BucketError),
}

impl SyncError {
    /// Whether the sync was refused because an archive does not exist or TO is locked.
    pub fn refusal(&self) -> Option<crate::archive::Refusal> {
        match self {
            SyncError::NoArchive { .. } => Some(crate::archive::Refusal::NoArchive),
            SyncError::Archive(a) => a.refusal(),
            SyncError::Bucket(b) => b.refusal(),
            _ => None,
        }
    }
}

/// A file that got another name in TO because its name was taken there.
#[derive(Debug, Clone, Serialize)]
pub struct Renamed {
    /// The file in FROM, relative to the archive, `/`-separated.
    pub path: String,
    /// Its name in TO, relative to the archive, `/`-separated.
    pub to: String,
}

/// What `camroll sync FROM TO` did: the one JSON object `--json` prints.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SyncSummary {
    /// The archive copied from, as given on the command line.
    pub from: String,
    /// The archive copied to, as given on the command line.
    pub to: String,
    /// Files FROM lists.
    pub files: u64,
    /// Already in TO (by hash).
    pub already: u64,
    /// Files newly written to TO.
    pub copied: u64,
    /// Bytes of the files newly written to TO.
    pub bytes_copied: u64,
    /// Copies read back and hash-checked before being put in place.
    pub verified: u64,
    /// Files that got another name in TO because their name was taken there.
    pub renamed: Vec<Renamed>,
    /// Source records (which source item each original came from) copied into TO's catalog, so incremental exports and check know TO holds them.
    pub source_records_added: u64,
    /// Files that could not be copied, each with the error; nonempty means exit 1.
    pub failed: Vec<Failed>,
    /// `ok`, `partial` or `failed`; the exit status follows it.
    pub outcome: Outcome,
}

impl SyncSummary {
    /// The short human summary (stdout).
    pub fn human(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{} -> {}: {} files, {} already there, {} copied ({}), {} verified, {} source records added, {} failed",
            self.from,
            self.to,
            self.files,
            self.already,
            self.copied,
            human_bytes(self.bytes_copied),
            self.verified,
            self.source_records_added,
            self.failed.len()
        );
        if !self.renamed.is_empty() {
            s.push_str("Renamed (name taken by a different file):\n");
            for r in &self.renamed {
                let _ = writeln!(s, "  {} -> {}", r.path, r.to);
            }
        }
        if !self.failed.is_empty() {
            s.push_str("Failed:\n");
            for f in &self.failed {
                let _ = writeln!(s, "  {}: {}", f.path, f.error);
            }
            s.push_str("Run the same command again to retry; a damaged file in FROM is repaired with `camroll verify FROM --repair-from TO`.\n");
        }
        s
    }
}

/// Every source record of a catalog: (source, path in the source, record).
pub(super) type SourceRecords = Vec<(String, String, SourceRecord)>;

/// FROM's files and source records, read from its catalog (read-only).
/// Refused when FROM is not a folder, or its catalog is missing or damaged.
pub(super) fn read_from(from: &Path) -> Result<(Vec<FileRow>, SourceRecords), SyncError> {
    if !from.is_dir() {
        return Err(SyncError::NoArchive {
            path: from.to_path_buf(),
        });
    }
    let no_catalog = |why: String| SyncError::NoCatalog {
        path: from.to_path_buf(),
        why,
    };
    if !from.join(CAMROLL_DIR).join(CATALOG_FILE).is_file() {
        return Err(no_catalog("missing".into()));
    }
    let cat = Catalog::open_read_only(from).map_err(|e| no_catalog(e.to_string()))?;
    if let Some(p) = cat
        .integrity_problem()
        .map_err(|e| no_catalog(e.to_string()))?
    {
        return Err(no_catalog(format!("damaged: {p}")));
    }
    let rows = cat.file_rows().map_err(|e| no_catalog(e.to_string()))?;
    let sources = cat
        .all_source_items()
        .map_err(|e| no_catalog(e.to_string()))?;
    Ok((rows, sources))
}

/// Copies into `to` every file of `from` it lacks; see the module docs.
pub fn sync(
    from: &Path,
    to: &Path,
    jobs: Option<usize>,
    progress: &dyn Progress,
) -> Result<SyncSummary, SyncError> {
    if to.exists() && same_dir(from, to) {
        return Err(SyncError::Same {
            path: from.to_path_buf(),
        });
    }
    let (rows, from_sources) = read_from(from)?;

    let from_id = format!(
        "archive:{}",
        from.canonicalize()
            .unwrap_or_else(|_| from.to_path_buf())
            .display()
    );
    let mut dest = Archive::open_for_export(to, &from_id, false)?;
    let run = dest
        .catalog
        .start_run("sync", Some(&from_id))
        .map_err(ArchiveError::from)?;
    let mut summary = SyncSummary {
        from: from.display().to_string(),
        to: to.display().to_string(),
        files: rows.len() as u64,
        ..Default::default()
    };

    // A row whose path would leave either archive is never acted on.
    let (rows, bad): (Vec<FileRow>, Vec<FileRow>) = rows
        .into_iter()
        .partition(|r| checked_rel_path(&r.record.path).is_ok());
    for r in bad {
        let e = checked_rel_path(&r.record.path)
            .err()
            .map(|e| e.to_string());
        summary.failed.push(Failed {
            path: r.record.path.clone(),
            error: format!(
                "{} (a row of {}'s catalog): skipped",
                e.unwrap_or_default(),
                from.display()
            ),
            destination: Some(summary.to.clone()),
        });
    }
    // What TO lacks, once per hash.
    let mut wanted: HashSet<&str> = HashSet::new();
    let todo: Vec<&FileRow> = rows
        .iter()
        .filter(|r| {
            !dest.by_hash.contains_key(&r.record.hash) && wanted.insert(r.record.hash.as_str())
        })
        .collect();
    summary.already = rows.len() as u64 - todo.len() as u64;

    // Copy in parallel into TO's staging area; place in path order afterwards.
    let bytes: u64 = todo.iter().map(|r| r.record.size).sum();
    progress.phase("Copying", todo.len() as u64, bytes);
    let staging_dir = dest.staging_dir();
    let staged: Vec<Result<(PathBuf, u64), CopyError>> = {
        let copy = |(i, r): (usize, &&FileRow)| {
            let staged = staging_dir.join(format!("{}-sync-{i}.part", std::process::id()));
            let res = copy_verified(&from.join(&r.record.path), &staged, &r.record.hash)
                .map(|n| (staged, n));
            progress.advance(1, r.record.size);
            res
        };
        let pool = hash::pool(jobs);
        hash::in_pool(pool.as_ref(), || {
            todo.par_iter().enumerate().map(copy).collect()
        })
    };
    progress.finish();

    let groups = groups(
        todo.iter()
            .enumerate()
            .map(|(i, r)| (i, r.record.path.as_str())),
    );
    if let Err(e) = dest.catalog.begin() {
        summary.failed.push(Failed {
            path: "catalog".into(),
            error: e.to_string(),
            destination: Some(summary.to.clone()),
        });
    }
    let mut placed: Vec<String> = Vec::new();
    for ((folder, _), members) in groups {
        let mut ok: Vec<(usize, PathBuf, u64)> = Vec::new();
        for i in members {
            match &staged[i] {
                Ok((p, n)) => ok.push((i, p.clone(), *n)),
                Err(e) => summary.failed.push(Failed {
                    path: todo[i].record.path.clone(),
                    error: format!("{}: {e}", from.join(&todo[i].record.path).display()),
                    destination: Some(summary.to.clone()),
                }),
            }
        }
        if ok.is_empty() {
            continue;
        }
        let paths: Vec<&str> = ok
            .iter()
            .map(|(i, _, _)| todo[*i].record.path.as_str())
            .collect();
        let requests = requests(&folder, &paths);
        let root = dest.root.clone();
        let chosen = dest.planner.allocate(&root, &requests, |_, _| false);
        for ((i, staged_path, size), choice) in ok.into_iter().zip(chosen) {
            let name = choice.name;
            let row = todo[i];
            let path = if folder.is_empty() {
                name.clone()
            } else {
                format!("{folder}/{name}")
            };
            if let Err(e) = dest.place(&staged_path, &folder, &name) {
                let _ = std::fs::remove_file(&staged_path);
                summary.failed.push(Failed {
                    path: row.record.path.clone(),
                    error: format!("cannot put in place as {path}: {e}"),
                    destination: Some(summary.to.clone()),
                });
                continue;
            }
            dest.planner.take(&folder, &name);
            dest.by_hash.insert(row.record.hash.clone(), path.clone());
            if path != row.record.path {
                summary.renamed.push(Renamed {
                    path: row.record.path.clone(),
                    to: path.clone(),
                });
            }
            let mut rec = row.record.clone();
            rec.path = path.clone();
            if let Err(e) = dest.catalog.insert_file(&rec, run) {
                summary.failed.push(Failed {
                    path: row.record.path.clone(),
                    error: e.to_string(),
                    destination: Some(summary.to.clone()),
                });
                continue;
            }
            summary.copied += 1;
            summary.bytes_copied += size;
            placed.push(path);
        }
    }
    make_durable(&mut dest, &mut summary);
    if let Err(e) = dest.catalog.mark_verified(&placed) {
        summary.failed.push(Failed {
            path: "catalog".into(),
            error: e.to_string(),
            destination: Some(summary.to.clone()),
        });
    }
    summary.verified = placed.len() as u64;

    // Source records of everything TO now holds, so `check` counts TO too.
    let have: HashSet<(String, String)> = dest
        .catalog
        .all_source_items()
        .map(|v| v.into_iter().map(|(s, p, _)| (s, p)).collect())
        .unwrap_or_default();
    for (source, rel, rec) in &from_sources {
        if !dest.by_hash.contains_key(&rec.hash) || have.contains(&(source.clone(), rel.clone())) {
            continue;
        }
        if let Err(e) = checked_rel_path(rel) {
            summary.failed.push(Failed {
                path: rel.clone(),
                error: format!("{e} (a source record of {}): skipped", from.display()),
                destination: Some(summary.to.clone()),
            });
            continue;
        }
        match dest.catalog.record_source_item(source, rel, rec, run) {
            Ok(()) => summary.source_records_added += 1,
            Err(e) => summary.failed.push(Failed {
                path: rel.clone(),
                error: e.to_string(),
                destination: Some(summary.to.clone()),
            }),
        }
    }
    if summary.copied > 0 || !to.join(crate::archive::sums::SUMS_FILE).exists() {
        if let Err(e) = dest.write_sums() {
            summary.failed.push(Failed {
                path: "BLAKE3SUMS".into(),
                error: e.to_string(),
                destination: Some(summary.to.clone()),
            });
        }
    }
    summary.outcome = if summary.failed.is_empty() {
        Outcome::Ok
    } else {
        Outcome::Partial
    };
    finish_run(&dest.catalog, run, &summary);
    Ok(summary)
}

/// Makes what a sync placed durable: folders first, then rows, so the
/// catalog never lists a file that is not durable. A failure is noted.
pub(super) fn make_durable(dest: &mut Archive, summary: &mut SyncSummary) {
    let durable = dest
        .sync_dirs()
        .map_err(|e| e.to_string())
        .and_then(|_| dest.catalog.commit().map_err(|e| e.to_string()));
    if let Err(e) = durable {
        summary.failed.push(Failed {
            path: "catalog".into(),
            error: e,
            destination: Some(summary.to.clone()),
        });
    }
}

/// Records the end of a sync run in TO's catalog (a failure to note it is
/// not a finding: the files and their rows are already in place).
pub(super) fn finish_run(catalog: &Catalog, run: i64, summary: &SyncSummary) {
    let counts = RunCounts {
        scanned: summary.files,
        copied: summary.copied,
        already_archived: summary.already,
        failed: summary.failed.len() as u64,
        bytes_copied: summary.bytes_copied,
        ..Default::default()
    };
    let _ = catalog.finish_run(run, &counts, summary.outcome.as_str());
}

/// `(folder, name)` of an archive path.
pub(super) fn split_path(p: &str) -> (&str, &str) {
    p.rsplit_once('/').unwrap_or(("", p))
}

/// Name requests for one folder's group of files (FROM's names when free,
/// else the collision rule on the names before FROM's own suffixes, one
/// suffix for the group).
pub(super) fn requests(folder: &str, paths: &[&str]) -> Vec<NameRequest> {
    paths
        .iter()
        .map(|p| {
            let name = split_path(p).1;
            NameRequest {
                folder: folder.to_string(),
                first: name.to_string(),
                base: strip_suffix(name),
            }
        })
        .collect()
}

/// Groups paths by (folder, stem): files of one folder sharing a stem keep
/// one stem in TO.
pub(super) fn groups<'a>(
    paths: impl Iterator<Item = (usize, &'a str)>,
) -> BTreeMap<(String, String), Vec<usize>> {
    let mut g: BTreeMap<(String, String), Vec<usize>> = BTreeMap::new();
    for (i, p) in paths {
        let (folder, name) = split_path(p);
        g.entry((folder.to_string(), split_ext(name).0.to_ascii_uppercase()))
            .or_default()
            .push(i);
    }
    g
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}
