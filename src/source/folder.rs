//! A folder source: an ifuse mount of the phone, a copied DCIM, an SD card.
//! Walks the tree without following symlinks and leaves out hidden files and
//! camroll's own `.camroll/` folder.

use std::fs::File;
use std::path::{Path, PathBuf};

use walkdir::WalkDir;

use super::{ReadSeek, Scan, Skipped, Source, SourceError, SourceItem};
use crate::archive::layout::{os_to_text, rel_key};

/// A folder on disk (an SD card, a copied DCIM, a mounted phone) as a [`Source`]; never written to.
pub struct FolderSource {
    root: PathBuf,
}

impl FolderSource {
    /// A source reading `root`; fails when it cannot be read or is not a folder.
    pub fn new(root: &Path) -> Result<FolderSource, SourceError> {
        let meta = std::fs::metadata(root).map_err(|source| SourceError::Unreadable {
            path: root.into(),
            source,
        })?;
        if !meta.is_dir() {
            return Err(SourceError::NotAFolder { path: root.into() });
        }
        let root = root
            .canonicalize()
            .map_err(|source| SourceError::Unreadable {
                path: root.into(),
                source,
            })?;
        // An unreadable root is "nothing could be done", not an empty source.
        std::fs::read_dir(&root).map_err(|source| SourceError::Unreadable {
            path: root.clone(),
            source,
        })?;
        Ok(FolderSource { root })
    }
}

impl Source for FolderSource {
    fn id(&self) -> String {
        format!("folder:{}", self.root.display())
    }

    fn scan(&self) -> Result<Scan, SourceError> {
        let mut scan = Scan::default();
        let walker = WalkDir::new(&self.root)
            .follow_links(false)
            .sort_by_file_name()
            .into_iter()
            .filter_entry(|e| e.depth() == 0 || !e.file_name().to_string_lossy().starts_with('.'));
        for entry in walker {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    let path = e.path().map(|p| self.rel(p)).unwrap_or_else(|| "?".into());
                    scan.failed.push((
                        path,
                        format!("cannot list: {}. Check permissions on this folder", e),
                    ));
                    continue;
                }
            };
            let ft = entry.file_type();
            if ft.is_dir() {
                continue;
            }
            let rel = self.rel(entry.path());
            if ft.is_symlink() {
                scan.skipped.push(Skipped {
                    path: rel,
                    reason: "symbolic link (not followed)".into(),
                });
                continue;
            }
            if !ft.is_file() {
                scan.skipped.push(Skipped {
                    path: rel,
                    reason: "not a regular file".into(),
                });
                continue;
            }
            let meta = match entry.metadata() {
                Ok(m) => m,
                Err(e) => {
                    scan.failed
                        .push((rel, format!("cannot read file information: {e}")));
                    continue;
                }
            };
            // The record key tells `\xFF` from a literal `%FF` (rel_key); the
            // name the archive copy gets is the plain text form.
            let dir = rel
                .rsplit_once('/')
                .map(|(d, _)| d.to_string())
                .unwrap_or_default();
            let name = os_to_text(entry.file_name());
            scan.items.push(SourceItem {
                rel_path: rel,
                dir,
                name,
                size: meta.len(),
                mtime: meta.modified().ok(),
                locator: entry.path().to_path_buf(),
                listed: None,
            });
        }
        Ok(scan)
    }

    fn restat(&self, item: &SourceItem, _after_read: bool) -> Option<std::io::Result<SourceItem>> {
        // One stat of a local file: cheap enough to do after every read.
        Some(
            std::fs::symlink_metadata(&item.locator).map(|m| SourceItem {
                size: m.len(),
                mtime: m.modified().ok(),
                ..item.clone()
            }),
        )
    }

    fn kind_name(&self) -> &'static str {
        "the folder"
    }

    fn filesystem(&self) -> Option<crate::archive::filesystem::FsInfo> {
        Some(crate::archive::filesystem::detect(&self.root))
    }

    fn open(&self, item: &SourceItem) -> Result<Box<dyn ReadSeek>, SourceError> {
        let f = File::open(&item.locator).map_err(|source| SourceError::Open {
            path: item.rel_path.clone(),
            source,
        })?;
        Ok(Box::new(f))
    }
}

impl FolderSource {
    fn rel(&self, p: &Path) -> String {
        rel_key(&self.root, p)
    }
}
