//! `camroll verify`: re-hash every archived file and report, with paths, what
//! is missing, corrupt, unlisted, where the catalog and `BLAKE3SUMS` disagree,
//! and staging leftovers. Findings are collected, never returned early
//! (rustic's `check`); the archive's files are never changed.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::Serialize;
use walkdir::WalkDir;

use crate::archive::catalog::Catalog;
use crate::archive::layout::os_to_text;
use crate::archive::{sums, CAMROLL_DIR, STAGING_DIR};
use crate::progress::Progress;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    Missing,
    Corrupt,
    Unlisted,
    SumsDisagree,
    StagingLeftover,
    CatalogUnreadable,
    SumsUnreadable,
}

#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub kind: FindingKind,
    pub path: String,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct ArchiveReport {
    pub archive: String,
    pub files: u64,
    pub verified: u64,
    pub bytes: u64,
    pub findings: Vec<Finding>,
}

impl ArchiveReport {
    pub fn human(&self) -> String {
        let mut s = String::new();
        for f in &self.findings {
            let label = match f.kind {
                FindingKind::Missing => "MISSING",
                FindingKind::Corrupt => "CORRUPT",
                FindingKind::Unlisted => "UNLISTED",
                FindingKind::SumsDisagree => "SUMS",
                FindingKind::StagingLeftover => "LEFTOVER",
                FindingKind::CatalogUnreadable => "CATALOG",
                FindingKind::SumsUnreadable => "SUMS",
            };
            let _ = writeln!(s, "{label:<9} {}: {}", f.path, f.detail);
        }
        let _ = writeln!(
            s,
            "{}: {} of {} files verified ({}), {} problem{}",
            self.archive,
            self.verified,
            self.files,
            crate::report::human_bytes(self.bytes),
            self.findings.len(),
            if self.findings.len() == 1 { "" } else { "s" }
        );
        s
    }
}

/// Verifies one archive. Never writes to its files; records verification
/// times in the catalog.
pub fn verify_archive(root: &Path, progress: &dyn Progress) -> ArchiveReport {
    let mut report = ArchiveReport {
        archive: root.display().to_string(),
        ..Default::default()
    };
    let arch = root.display();
    let catalog = if root
        .join(CAMROLL_DIR)
        .join(crate::archive::catalog::CATALOG_FILE)
        .is_file()
    {
        match Catalog::open(root, false) {
            Ok(c) => Some(c),
            Err(e) => {
                report.findings.push(Finding {
                    kind: FindingKind::CatalogUnreadable,
                    path: ".camroll/catalog.sqlite".into(),
                    detail: format!("{e}"),
                });
                None
            }
        }
    } else {
        report.findings.push(Finding {
            kind: FindingKind::CatalogUnreadable,
            path: ".camroll/catalog.sqlite".into(),
            detail: format!("missing. To repair: camroll rebuild {arch}"),
        });
        None
    };
    let listed: Vec<(String, String, u64)> = match catalog.as_ref().map(|c| c.all_files()) {
        Some(Ok(v)) => v,
        Some(Err(e)) => {
            report.findings.push(Finding {
                kind: FindingKind::CatalogUnreadable,
                path: ".camroll/catalog.sqlite".into(),
                detail: e.to_string(),
            });
            Vec::new()
        }
        None => Vec::new(),
    };
    let sums = match sums::read(root) {
        Ok(v) => Some(v),
        Err(e) => {
            report.findings.push(Finding {
                kind: FindingKind::SumsUnreadable,
                path: sums::SUMS_FILE.into(),
                detail: format!("{e}"),
            });
            None
        }
    };
    // What to hash: the catalog's list, or BLAKE3SUMS when there is no catalog.
    let expected: Vec<(String, String)> = if catalog.is_some() {
        listed
            .iter()
            .map(|(h, p, _)| (h.clone(), p.clone()))
            .collect()
    } else {
        sums.clone().unwrap_or_default()
    };
    if let (Some(sums), true) = (&sums, catalog.is_some()) {
        let by_path: HashMap<&str, &str> =
            sums.iter().map(|(h, p)| (p.as_str(), h.as_str())).collect();
        let cat: HashMap<&str, &str> = expected
            .iter()
            .map(|(h, p)| (p.as_str(), h.as_str()))
            .collect();
        for (h, p) in &expected {
            match by_path.get(p.as_str()) {
                None => report.findings.push(Finding {
                    kind: FindingKind::SumsDisagree,
                    path: p.clone(),
                    detail: format!(
                        "in the catalog but not in BLAKE3SUMS. To repair: camroll rebuild {arch}"
                    ),
                }),
                Some(sh) if sh != h => report.findings.push(Finding {
                    kind: FindingKind::SumsDisagree,
                    path: p.clone(),
                    detail: format!("BLAKE3SUMS says {sh}, the catalog says {h}"),
                }),
                _ => {}
            }
        }
        for (_, p) in sums {
            if !cat.contains_key(p.as_str()) {
                report.findings.push(Finding {
                    kind: FindingKind::SumsDisagree,
                    path: p.clone(),
                    detail: format!(
                        "in BLAKE3SUMS but not in the catalog. To repair: camroll rebuild {arch}"
                    ),
                });
            }
        }
    }
    // Files on disk that no record lists.
    let known: HashSet<&str> = expected.iter().map(|(_, p)| p.as_str()).collect();
    for entry in WalkDir::new(root)
        .follow_links(false)
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || e.file_name() != CAMROLL_DIR)
        .flatten()
    {
        if entry.file_type().is_dir() {
            continue;
        }
        let rel = rel_text(root, entry.path());
        if rel == sums::SUMS_FILE || known.contains(rel.as_str()) {
            continue;
        }
        report.findings.push(Finding {
            kind: FindingKind::Unlisted,
            path: rel,
            detail: "on disk but in no record: not put here by camroll, or recorded by a run that was killed. Export again to record it, or move it out".into(),
        });
    }
    if let Ok(rd) = std::fs::read_dir(root.join(CAMROLL_DIR).join(STAGING_DIR)) {
        for e in rd.flatten() {
            report.findings.push(Finding {
                kind: FindingKind::StagingLeftover,
                path: format!("{CAMROLL_DIR}/{STAGING_DIR}/{}", os_to_text(&e.file_name())),
                detail: "partial file of an interrupted run; the next export removes it".into(),
            });
        }
    }
    // Hash everything, in parallel.
    report.files = expected.len() as u64;
    progress.phase("Verifying", report.files, 0);
    let results: Vec<(String, Result<u64, Finding>)> = expected
        .par_iter()
        .map(|(hash, path)| {
            let full = root.join(path);
            let r = match hash_path(&full) {
                Ok((h, size)) if &h == hash => Ok(size),
                Ok((h, _)) => Err(Finding {
                    kind: FindingKind::Corrupt,
                    path: path.clone(),
                    detail: format!("hash is {h}, expected {hash}: the file changed or the disk is failing. To repair: camroll verify {arch} --repair-from <another archive>"),
                }),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Finding {
                    kind: FindingKind::Missing,
                    path: path.clone(),
                    detail: format!("listed but not on disk. To repair: camroll verify {arch} --repair-from <another archive>"),
                }),
                Err(e) => Err(Finding { kind: FindingKind::Corrupt, path: path.clone(), detail: format!("cannot read: {e}") }),
            };
            progress.advance(1, *r.as_ref().unwrap_or(&0));
            (path.clone(), r)
        })
        .collect();
    let mut good = Vec::new();
    for (path, r) in results {
        match r {
            Ok(size) => {
                report.verified += 1;
                report.bytes += size;
                good.push(path);
            }
            Err(f) => report.findings.push(f),
        }
    }
    if let Some(mut c) = catalog {
        // Best effort: a concurrent export holds no table lock for long.
        let _ = c.mark_verified(&good);
    }
    progress.finish();
    report
}

/// Hashes a whole file; memory-mapped and multi-threaded for large files, as b3sum does.
fn hash_path(path: &Path) -> std::io::Result<(String, u64)> {
    let mut hasher = blake3::Hasher::new();
    hasher.update_mmap_rayon(path)?;
    Ok((hasher.finalize().to_hex().to_string(), hasher.count()))
}

fn rel_text(root: &Path, p: &Path) -> String {
    let r = p.strip_prefix(root).unwrap_or(p);
    r.components()
        .map(|c| os_to_text(c.as_os_str()))
        .collect::<Vec<_>>()
        .join("/")
}

/// Verifies each archive; returns the reports.
pub fn verify(archives: &[PathBuf], progress: &dyn Progress) -> Vec<ArchiveReport> {
    archives
        .iter()
        .map(|a| verify_archive(a, progress))
        .collect()
}
