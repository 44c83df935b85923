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
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use clap::Args;
use rayon::prelude::*;
use serde::Serialize;
use thiserror::Error;

use crate::archive::catalog::{Catalog, FileRow, RunCounts, CATALOG_FILE};
use crate::archive::layout::{split_ext, with_suffix, Candidate};
use crate::archive::{Archive, ArchiveError, CAMROLL_DIR};
use crate::error::{EXIT_OK, EXIT_PARTIAL};
use crate::ingest::{advise_dontneed, CHUNK};
use crate::progress::{self, Progress};
use crate::report::{human_bytes, Failed};

/// `camroll sync`
#[derive(Debug, Args)]
pub struct SyncArgs {
    /// The archive to copy from (only read).
    #[arg(value_name = "FROM_ARCHIVE")]
    pub from: PathBuf,
    /// The archive to bring up to date (created if missing).
    #[arg(value_name = "TO_ARCHIVE")]
    pub to: PathBuf,
    /// Files copied in parallel (default: the number of CPUs).
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Print one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
    /// No progress bars.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Why one verified copy failed.
#[derive(Debug, Error)]
pub enum CopyError {
    #[error("cannot read: {0}")]
    Read(io::Error),
    #[error("cannot write the copy: {0}")]
    Write(io::Error),
    #[error("has hash {actual}, not the recorded {expected}: this copy is damaged too (run `camroll verify` on its archive)")]
    SourceMismatch { actual: String, expected: String },
    #[error("the copy read back with hash {actual}, not {expected}: the destination disk or its cable is failing")]
    ReadBack { actual: String, expected: String },
}

/// Copies `src` to `staged`, hashing while copying; the source must hash to
/// `expected`. The copy gets the source's mtime, is fsynced, and is read back
/// (with the page cache dropped where the OS allows) and hash-checked. On any
/// error the staged file is removed. Returns the size.
pub fn copy_verified(src: &Path, staged: &Path, expected: &str) -> Result<u64, CopyError> {
    let r = copy_verified_inner(src, staged, expected);
    if r.is_err() {
        let _ = std::fs::remove_file(staged);
    }
    r
}

fn copy_verified_inner(src: &Path, staged: &Path, expected: &str) -> Result<u64, CopyError> {
    let mut input = File::open(src).map_err(CopyError::Read)?;
    let mtime = input.metadata().and_then(|m| m.modified()).ok();
    let mut out = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(staged)
        .map_err(CopyError::Write)?;
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0u8; CHUNK];
    let mut total = 0u64;
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(CopyError::Read(e)),
        };
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n]).map_err(CopyError::Write)?;
        total += n as u64;
    }
    let actual = hasher.finalize().to_hex().to_string();
    if actual != expected {
        return Err(CopyError::SourceMismatch {
            actual,
            expected: expected.to_string(),
        });
    }
    if let Some(t) = mtime {
        out.set_modified(t).map_err(CopyError::Write)?;
    }
    out.sync_all().map_err(CopyError::Write)?;
    drop(out);
    let f = File::open(staged).map_err(CopyError::Write)?;
    advise_dontneed(&f);
    drop(f);
    let (back, _) = crate::ingest::hash_file(staged, true).map_err(CopyError::Write)?;
    if back != expected {
        return Err(CopyError::ReadBack {
            actual: back,
            expected: expected.to_string(),
        });
    }
    Ok(total)
}

#[derive(Debug, Error)]
pub enum SyncError {
    #[error(
        "{path}: no usable catalog ({why}). Run `camroll rebuild {path}` first, then sync again"
    )]
    NoCatalog { path: PathBuf, why: String },
    #[error("{path}: no such archive folder. Check the path (is the disk mounted?)")]
    NoArchive { path: PathBuf },
    #[error("FROM and TO are the same archive ({path})")]
    Same { path: PathBuf },
    #[error(transparent)]
    Archive(#[from] ArchiveError),
}

/// A file that got another name in TO because its name was taken there.
#[derive(Debug, Clone, Serialize)]
pub struct Renamed {
    pub path: String,
    pub to: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct SyncSummary {
    pub from: String,
    pub to: String,
    /// Files FROM lists.
    pub files: u64,
    /// Already in TO (by hash).
    pub already: u64,
    pub copied: u64,
    pub bytes_copied: u64,
    /// Copies read back and hash-checked before being put in place.
    pub verified: u64,
    pub renamed: Vec<Renamed>,
    pub source_records_added: u64,
    pub failed: Vec<Failed>,
    pub outcome: &'static str,
}

impl SyncSummary {
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

/// Copies into `to` every file of `from` it lacks; see the module docs.
pub fn sync(
    from: &Path,
    to: &Path,
    jobs: Option<usize>,
    progress: &dyn Progress,
) -> Result<SyncSummary, SyncError> {
    if !from.is_dir() {
        return Err(SyncError::NoArchive {
            path: from.to_path_buf(),
        });
    }
    if to.exists() && same_dir(from, to) {
        return Err(SyncError::Same {
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
    let from_cat = Catalog::open(from, false).map_err(|e| no_catalog(e.to_string()))?;
    if let Some(p) = from_cat
        .integrity_problem()
        .map_err(|e| no_catalog(e.to_string()))?
    {
        return Err(no_catalog(format!("damaged: {p}")));
    }
    let rows = from_cat
        .file_rows()
        .map_err(|e| no_catalog(e.to_string()))?;
    let from_sources = from_cat
        .all_source_items()
        .map_err(|e| no_catalog(e.to_string()))?;
    drop(from_cat);

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

    // What TO lacks, once per hash.
    let mut wanted: HashSet<&str> = HashSet::new();
    let todo: Vec<&FileRow> = rows
        .iter()
        .filter(|r| {
            !dest.by_hash.contains_key(&r.record.hash) && wanted.insert(r.record.hash.as_str())
        })
        .collect();
    summary.already = summary.files - todo.len() as u64;

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
        match crate::verify::pool(jobs) {
            Some(p) => p.install(|| todo.par_iter().enumerate().map(copy).collect()),
            None => todo.par_iter().enumerate().map(copy).collect(),
        }
    };
    progress.finish();

    // Groups: files of one folder sharing a stem keep one stem in TO.
    let mut groups: BTreeMap<(String, String), Vec<usize>> = BTreeMap::new();
    for (i, r) in todo.iter().enumerate() {
        let (folder, name) = split_path(&r.record.path);
        let (stem, _) = split_ext(name);
        groups
            .entry((folder.to_string(), stem.to_ascii_uppercase()))
            .or_default()
            .push(i);
    }
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
        let names: Vec<String> = ok
            .iter()
            .map(|(i, _, _)| split_path(&todo[*i].record.path).1.to_string())
            .collect();
        let chosen = allocate(&mut dest, &folder, &names);
        for ((i, staged_path, size), name) in ok.into_iter().zip(chosen) {
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
    // Folders first, then rows: the catalog never lists a file that is not durable.
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
        "ok"
    } else {
        "partial"
    };
    let counts = RunCounts {
        scanned: summary.files,
        copied: summary.copied,
        already_archived: summary.already,
        failed: summary.failed.len() as u64,
        bytes_copied: summary.bytes_copied,
        ..Default::default()
    };
    let _ = dest.catalog.finish_run(run, &counts, summary.outcome);
    Ok(summary)
}

/// Names for a group's files in `folder` of TO: FROM's names when all are
/// free, else the collision rule on the original stems (`~k` suffix, the
/// same k for the whole group).
fn allocate(dest: &mut Archive, folder: &str, names: &[String]) -> Vec<String> {
    let root = dest.root.clone();
    dest.planner.load_folder(&root, folder);
    let free = |dest: &Archive, cands: &[String]| {
        let mut seen = HashSet::new();
        cands.iter().all(|c| {
            seen.insert(crate::archive::layout::fold(c))
                && matches!(dest.planner.check(folder, c), Candidate::Free)
        })
    };
    if free(dest, names) {
        return names.to_vec();
    }
    let originals: Vec<String> = names.iter().map(|n| strip_suffix(n)).collect();
    let mut k = 2;
    loop {
        let cands: Vec<String> = originals.iter().map(|n| with_suffix(n, k)).collect();
        if free(dest, &cands) {
            return cands;
        }
        k += 1;
    }
}

/// `IMG_0001~2.JPG` → `IMG_0001.JPG` (the name before the collision rule).
fn strip_suffix(name: &str) -> String {
    let (stem, ext) = split_ext(name);
    match stem.rsplit_once('~') {
        Some((base, n)) if !base.is_empty() && n.parse::<u32>().is_ok_and(|k| k >= 2) => {
            format!("{base}{ext}")
        }
        _ => name.to_string(),
    }
}

fn split_path(p: &str) -> (&str, &str) {
    p.rsplit_once('/').unwrap_or(("", p))
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

/// `camroll sync FROM TO`: exit 0 when TO holds everything FROM does, 1 when some copies failed.
pub fn run(a: SyncArgs) -> anyhow::Result<u8> {
    let progress = progress::for_stderr(a.quiet || a.json);
    let summary = sync(&a.from, &a.to, a.jobs, progress.as_ref())?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print!("{}", summary.human());
    }
    Ok(if summary.failed.is_empty() {
        EXIT_OK
    } else {
        EXIT_PARTIAL
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collision_suffixes_are_stripped_back_to_the_original_name() {
        assert_eq!(strip_suffix("IMG_0001~2.JPG"), "IMG_0001.JPG");
        assert_eq!(strip_suffix("IMG_0001~13.HEIC"), "IMG_0001.HEIC");
        assert_eq!(strip_suffix("IMG~x.JPG"), "IMG~x.JPG");
        assert_eq!(strip_suffix("~2.JPG"), "~2.JPG");
    }

    #[test]
    fn a_copy_whose_source_does_not_match_its_hash_is_refused_and_removed() {
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("a");
        std::fs::write(&src, b"hello").unwrap();
        let good = blake3::hash(b"hello").to_hex().to_string();
        let staged = d.path().join("s");
        assert_eq!(copy_verified(&src, &staged, &good).unwrap(), 5);
        assert_eq!(std::fs::read(&staged).unwrap(), b"hello");
        let staged2 = d.path().join("s2");
        let err = copy_verified(&src, &staged2, &"0".repeat(64)).unwrap_err();
        assert!(matches!(err, CopyError::SourceMismatch { .. }));
        assert!(!staged2.exists());
    }
}
