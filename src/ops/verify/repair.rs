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
use crate::archive::lock::{ArchiveLock, LockError};
use crate::archive::staging::copy_verified;
use crate::archive::{rename_no_replace, sums, CAMROLL_DIR, STAGING_DIR};
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
        .then(|| Catalog::open(other, false).ok())
        .flatten()
        .and_then(|c| c.files_by_hash().ok())
        .filter(|m| !m.is_empty());
    if let Some(m) = from_catalog {
        return m;
    }
    let mut out = HashMap::new();
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
    fs::create_dir_all(&staging).map_err(|source| RepairError::Staging {
        path: staging.clone(),
        source,
    })?;
    let _lock = ArchiveLock::acquire(&root.join(CAMROLL_DIR))?;
    let index = index_by_hash(other);
    progress.phase("Repairing", todo.len() as u64, 0);
    let mut fixed = Vec::new();
    for (n, i) in todo.into_iter().enumerate() {
        let f = &report.findings[i];
        let hash = f.expected_hash.clone().unwrap_or_default();
        let path = f.path.clone();
        let corrupt = f.kind == FindingKind::Corrupt;
        let outcome = match index.get(&hash) {
            None => Err(format!(
                "{} holds no file with hash {hash}; look for another copy (camroll check shows which archives hold what)",
                other.display()
            )),
            Some(src_rel) => {
                let src = other.join(src_rel);
                let staged = staging.join(format!("{}-repair-{n}.part", std::process::id()));
                match copy_verified(&src, &staged, &hash) {
                    Err(e) => Err(format!("{}: {e}", src.display())),
                    Ok(_) => place(root, &staged, &path, corrupt)
                        .map(|_| src_rel.clone())
                        .map_err(|e| {
                            let _ = fs::remove_file(&staged);
                            format!("cannot put the copy in place: {e}")
                        }),
                }
            }
        };
        progress.advance(1, 0);
        let r = match outcome {
            Ok(src_rel) => {
                report.findings[i].repaired = true;
                fixed.push(path.clone());
                Repair {
                    path,
                    hash,
                    repaired: true,
                    from: Some(format!("{}/{src_rel}", other.display())),
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
fn place(root: &Path, staged: &Path, rel: &str, replace: bool) -> std::io::Result<()> {
    let dest = root.join(rel);
    let dir = dest.parent().unwrap_or(root).to_path_buf();
    fs::create_dir_all(&dir)?;
    if replace {
        fs::rename(staged, &dest)?;
    } else {
        rename_no_replace(staged, &dest)?;
    }
    fs::File::open(&dir)?.sync_all()
}
