//! `verify --repair-from OTHER`: replace missing and corrupt files with copies
//! from another archive whose hash matches. Each copy is staged inside the
//! archive, fsynced, read back and hashed, and only then renamed into place
//! (over the corrupt file, atomically). What cannot be repaired is reported
//! with the reason. Holds the archive's lock while it writes.

use std::collections::HashMap;
use std::fs;
use std::path::Path;

use serde::Serialize;

use thiserror::Error;

use super::{ArchiveReport, FindingKind};
use crate::archive::catalog::Catalog;
use crate::archive::layout::checked_rel_path;
use crate::archive::lock::LockError;
use crate::archive::staging::copy_verified;
use crate::archive::{contain, sums, CAMROLL_DIR, STAGING_DIR};
use crate::progress::Progress;

/// Why repairs could not start at all (single files that fail are reported in [`Repair`]).
#[derive(Debug, Error)]
pub enum RepairError {
    /// The staging folder could not be made.
    #[error("{path}: cannot create the staging folder: {source}. Check the archive disk is mounted and writable")]
    Staging {
        /// The staging folder.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Another camroll holds the archive.
    #[error(transparent)]
    Lock(#[from] LockError),
    /// The archive could not be readied for writing (a planted link…).
    #[error(transparent)]
    Archive(#[from] crate::archive::ArchiveError),
}

impl RepairError {
    /// Whether repairs were refused because the archive is locked (or gone).
    pub fn refusal(&self) -> Option<crate::archive::Refusal> {
        match self {
            RepairError::Lock(l) => l.refusal(),
            RepairError::Archive(a) => a.refusal(),
            RepairError::Staging { .. } => None,
        }
    }
}

/// One attempted repair.
#[derive(Debug, Clone, Serialize)]
pub struct Repair {
    /// The damaged or missing file, relative to the archive, `/`-separated.
    pub path: String,
    /// The BLAKE3 it should have, 64 lower-case hex digits.
    pub hash: String,
    /// True when a good copy was put in place.
    pub repaired: bool,
    /// The other archive's file it was copied from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// What was done, or why it could not be.
    pub detail: String,
}

/// Where each hash lives in the other archive: its catalog, else its BLAKE3SUMS.
pub fn index_by_hash(other: &Path) -> HashMap<String, String> {
    let from_catalog = other
        .join(CAMROLL_DIR)
        .join(crate::archive::catalog::CATALOG_FILE)
        .is_file()
        .then(|| Catalog::open_read_only(other).ok())
        .flatten()
        .and_then(|c| c.files_by_hash().ok())
        // A row whose path would leave the other archive is never read.
        .map(|m| {
            m.into_iter()
                .filter(|(_, p)| checked_rel_path(p).is_ok())
                .collect::<HashMap<_, _>>()
        })
        .filter(|m| !m.is_empty());
    if let Some(m) = from_catalog {
        return m;
    }
    let mut out = HashMap::new();
    // BLAKE3SUMS lines that would leave the archive are damage (`sums::read`).
    if let Ok(read) = sums::read(other) {
        for e in read.entries {
            out.entry(e.hash).or_insert(e.path);
        }
    }
    out
}

/// Repairs the missing and corrupt findings of `report` from `other`.
pub fn repair(
    root: &Path,
    report: &mut ArchiveReport,
    other: &Path,
    progress: &dyn Progress,
) -> Result<(), RepairError> {
    let mut index = None;
    repair_with(root, report, progress, |hash, staged| {
        let index = index.get_or_insert_with(|| index_by_hash(other));
        let Some(src_rel) = index.get(hash) else {
            return Err(format!(
                "{} holds no file with hash {hash}; look for another copy (camroll check shows which archives hold what)",
                other.display()
            ));
        };
        let src = other.join(src_rel);
        copy_verified(&src, staged, hash)
            .map(|_| format!("{}/{src_rel}", other.display()))
            .map_err(|e| format!("{}: {e}", src.display()))
    })
}

/// Repairs the missing and corrupt findings of `report` with copies that
/// `fetch(hash, staged)` writes (verified: fsynced, read back, hash-checked)
/// to the staging file `staged`, returning where the copy came from.
pub fn repair_with(
    root: &Path,
    report: &mut ArchiveReport,
    progress: &dyn Progress,
    mut fetch: impl FnMut(&str, &Path) -> Result<String, String>,
) -> Result<(), RepairError> {
    let todo: Vec<usize> = report
        .findings
        .iter()
        .enumerate()
        .filter(|(_, f)| {
            matches!(f.kind, FindingKind::Missing | FindingKind::Corrupt)
                && f.expected_hash.is_some()
        })
        .map(|(i, _)| i)
        .collect();
    if todo.is_empty() {
        return Ok(());
    }
    let staging = root.join(CAMROLL_DIR).join(STAGING_DIR);
    let _lock = crate::archive::open_writable(root)?.lock;
    progress.phase("Repairing", todo.len() as u64, 0);
    let mut fixed = Vec::new();
    for (n, i) in todo.into_iter().enumerate() {
        let f = &report.findings[i];
        let hash = f.expected_hash.clone().unwrap_or_default();
        let path = f.path.clone();
        let corrupt = f.kind == FindingKind::Corrupt;
        let outcome = if checked_rel_path(&path).is_err() {
            Err(format!(
                "{path:?} is not a path inside the archive: not repaired"
            ))
        } else {
            let staged = staging.join(format!("{}-repair-{n}.part", std::process::id()));
            fetch(&hash, &staged).and_then(|from| {
                place(root, &staged, &path, corrupt)
                    .map(|_| from)
                    .map_err(|e| {
                        let _ = fs::remove_file(&staged);
                        format!("cannot put the copy in place: {e}")
                    })
            })
        };
        progress.advance(1, 0);
        let r = match outcome {
            Ok(from) => {
                report.findings[i].repaired = true;
                fixed.push(path.clone());
                Repair {
                    path,
                    hash,
                    repaired: true,
                    from: Some(from),
                    detail: "copied, read back and hash-checked, then put in place".into(),
                }
            }
            Err(detail) => Repair {
                path,
                hash,
                repaired: false,
                from: None,
                detail,
            },
        };
        report.repairs.push(r);
    }
    progress.finish();
    if !fixed.is_empty() {
        if let Ok(mut c) = Catalog::open(root, false) {
            let _ = c.record_verification(&fixed, &[]);
        }
    }
    report.verified += fixed.len() as u64;
    Ok(())
}

/// Renames the verified staged copy to `rel`: a missing file never replaces
/// anything that appeared meanwhile; a corrupt one is replaced atomically.
/// Both folders are opened beneath the archive root without following links.
fn place(root: &Path, staged: &Path, rel: &str, replace: bool) -> std::io::Result<()> {
    checked_rel_path(rel).map_err(std::io::Error::other)?;
    let (folder, name) = rel.rsplit_once('/').unwrap_or(("", rel));
    let to_dir = contain::open_dir(root, folder, true)?;
    let from_dir = contain::open_dir(root, &format!("{CAMROLL_DIR}/{STAGING_DIR}"), false)?;
    let from = staged
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    contain::rename_in(&from_dir, &from, &to_dir, name, replace)?;
    to_dir.sync_all()
}
