//! `camroll albums ARCHIVE`: the phone's albums as the archive's sidecars
//! record them, with counts; optionally `Albums/<Folder>/<Album>/` folders of
//! relative symbolic links to the originals.
//!
//! Read from the sidecars camroll wrote (role `metadata_sidecar`), so the
//! album view needs nothing but the archive. Links are made only where the
//! filesystem holds symbolic links (not FAT32 or exFAT); the report says so
//! plainly otherwise. An existing link is kept, anything else in its place is
//! left alone.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::io;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::archive::catalog::{Catalog, CatalogError, CATALOG_FILE};
use crate::archive::layout::safe_file_name;
use crate::archive::sidecar::ROLE;
use crate::archive::CAMROLL_DIR;
use crate::media::sidecar::{read_facts, SidecarFacts};

/// The folder inside the archive holding the album links.
pub const ALBUMS_DIR: &str = "Albums";
/// Largest sidecar read (camroll's are bounded well below this).
const MAX_SIDECAR: u64 = 16 << 20;

/// Why the albums could not be listed.
#[derive(Debug, thiserror::Error)]
pub enum AlbumsError {
    /// No catalog: not an archive.
    #[error("{path}: no camroll archive here (no .camroll/catalog.sqlite). Check the path")]
    NotAnArchive {
        /// The folder given.
        path: PathBuf,
    },
    /// The catalog could not be read.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
}

impl AlbumsError {
    /// Whether there was no archive to read (exit 10 for scripts).
    pub fn refusal(&self) -> Option<crate::archive::Refusal> {
        match self {
            AlbumsError::NotAnArchive { .. } => Some(crate::archive::Refusal::NoArchive),
            AlbumsError::Catalog(_) => None,
        }
    }
}

/// One album.
#[derive(Debug, Clone, Serialize)]
pub struct Album {
    /// Its folders then its name, e.g. `["Trips", "2023", "Rome"]`.
    pub path: Vec<String>,
    /// Assets in it (a Live Photo counts once).
    pub assets: u64,
    /// Favorites among them.
    pub favorites: u64,
    /// Its archived originals, relative to the archive.
    pub files: Vec<String>,
}

/// What `camroll albums` found (and linked).
#[derive(Debug, Clone, Default, Serialize)]
pub struct AlbumsReport {
    /// The archive.
    pub archive: String,
    /// Sidecars read.
    pub sidecars: u64,
    /// Every album, by path.
    pub albums: Vec<Album>,
    /// Links written (`--album-links`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub links_written: Option<u64>,
    /// Why no links were written, or which could not be.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub link_problems: Vec<String>,
}

impl AlbumsReport {
    /// The human listing (stdout).
    pub fn human(&self) -> String {
        let mut s = String::new();
        if self.albums.is_empty() {
            s.push_str(&format!(
                "{}: no albums ({} sidecars read; sidecars come from exports that read the phone's library)\n",
                self.archive, self.sidecars
            ));
        }
        for a in &self.albums {
            s.push_str(&format!(
                "{:<40} {:>6} items, {} favorites\n",
                a.path.join(" / "),
                a.assets,
                a.favorites
            ));
        }
        if let Some(n) = self.links_written {
            s.push_str(&format!("{n} links written under {ALBUMS_DIR}/\n"));
        }
        for p in &self.link_problems {
            s.push_str(&format!("{p}\n"));
        }
        s
    }
}

/// Every archived original's sidecar facts: (original's path, facts).
pub fn sidecar_facts(root: &Path) -> Result<Vec<(String, SidecarFacts)>, AlbumsError> {
    if !root.join(CAMROLL_DIR).join(CATALOG_FILE).is_file() {
        return Err(AlbumsError::NotAnArchive {
            path: root.to_path_buf(),
        });
    }
    let cat = Catalog::open(root, false)?;
    let mut out = Vec::new();
    for r in cat.file_rows()? {
        let rec = r.record;
        if rec.role.as_deref() != Some(ROLE) {
            continue;
        }
        let Some(original) = rec
            .path
            .strip_suffix(".xmp")
            .or_else(|| rec.path.strip_suffix(".json"))
        else {
            continue;
        };
        let full = root.join(&rec.path);
        let small = std::fs::symlink_metadata(&full)
            .is_ok_and(|m| m.file_type().is_file() && m.len() <= MAX_SIDECAR);
        if !small {
            continue;
        }
        if let Some(f) = std::fs::read(&full).ok().and_then(|b| read_facts(&b)) {
            out.push((original.to_string(), f));
        }
    }
    Ok(out)
}

/// Lists the archive's albums; with `links`, writes the album folders of links.
pub fn albums(root: &Path, links: bool) -> Result<AlbumsReport, AlbumsError> {
    let facts = sidecar_facts(root)?;
    // album → (assets, favorite assets, archived originals)
    type Members = (BTreeSet<String>, BTreeSet<String>, Vec<String>);
    let mut by_album: BTreeMap<Vec<String>, Members> = BTreeMap::new();
    for (original, f) in &facts {
        for a in &f.albums {
            let e = by_album.entry(a.clone()).or_default();
            e.0.insert(f.uuid.clone());
            if f.favorite {
                e.1.insert(f.uuid.clone());
            }
            e.2.push(original.clone());
        }
    }
    let mut report = AlbumsReport {
        archive: root.display().to_string(),
        sidecars: facts.len() as u64,
        albums: by_album
            .into_iter()
            .map(|(path, (assets, favs, mut files))| {
                files.sort();
                Album {
                    path,
                    assets: assets.len() as u64,
                    favorites: favs.len() as u64,
                    files,
                }
            })
            .collect(),
        ..Default::default()
    };
    if links {
        write_links(root, &mut report);
    }
    Ok(report)
}

/// `../` enough times to climb from `Albums/<path…>/` back to the archive root.
fn relative_target(depth: usize, original: &str) -> PathBuf {
    let mut p = PathBuf::new();
    for _ in 0..depth {
        p.push("..");
    }
    p.join(original)
}

fn write_links(root: &Path, report: &mut AlbumsReport) {
    // Probe once: FAT32/exFAT (and some network shares) refuse symbolic links.
    let probe = root.join(CAMROLL_DIR).join("staging").join("symlink-probe");
    let _ = std::fs::remove_file(&probe);
    let _ = std::fs::create_dir_all(probe.parent().unwrap_or(root));
    if let Err(e) = std::os::unix::fs::symlink("target", &probe) {
        report.link_problems.push(format!(
            "no album folders written: this archive's filesystem cannot hold symbolic links ({e}); the albums are in the sidecars"
        ));
        return;
    }
    let _ = std::fs::remove_file(&probe);
    let mut written = 0;
    for a in &report.albums {
        // Each level a safe file name, as archived names are.
        let dir = a.path.iter().fold(root.join(ALBUMS_DIR), |d, part| {
            d.join(safe_file_name(OsStr::new(part)))
        });
        if let Err(e) = std::fs::create_dir_all(&dir) {
            report
                .link_problems
                .push(format!("{}: cannot create: {e}", dir.display()));
            continue;
        }
        let depth = 1 + a.path.len();
        let mut used: BTreeSet<String> = BTreeSet::new();
        for original in &a.files {
            let name = original.rsplit('/').next().unwrap_or(original);
            // Two originals with one name in different months: the month goes in front.
            let link_name = if used.insert(name.to_lowercase()) {
                name.to_string()
            } else {
                original.replace('/', "-")
            };
            let link = dir.join(&link_name);
            let target = relative_target(depth, original);
            match std::fs::read_link(&link) {
                Ok(t) if t == target => continue,
                Ok(_) => {
                    report.link_problems.push(format!(
                        "{}: a link to something else is there: left alone",
                        link.display()
                    ));
                    continue;
                }
                Err(e) if e.kind() != io::ErrorKind::NotFound => {
                    report.link_problems.push(format!(
                        "{}: something else is there: left alone",
                        link.display()
                    ));
                    continue;
                }
                Err(_) => {}
            }
            match std::os::unix::fs::symlink(&target, &link) {
                Ok(()) => written += 1,
                Err(e) => report
                    .link_problems
                    .push(format!("{}: cannot link: {e}", link.display())),
            }
        }
    }
    report.links_written = Some(written);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_climb_back_to_the_archive_root() {
        assert_eq!(
            relative_target(3, "2023/06/IMG_0001.HEIC"),
            PathBuf::from("../../../2023/06/IMG_0001.HEIC")
        );
    }
}
