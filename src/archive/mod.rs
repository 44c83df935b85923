//! An archive: plain `YYYY/MM/` folders with the original files, a
//! `BLAKE3SUMS` check-file, and `.camroll/` (catalog, lock, staging). The
//! on-disk contract is in `docs/archive-format.md`.

pub mod bucket;
pub mod catalog;
pub mod contain;
// Named `filesystem` in code: `fs` would clash with `std::fs` used throughout.
#[path = "fs.rs"]
pub mod filesystem;
pub mod layout;
pub mod lock;
pub mod sidecar;
pub mod staging;
pub mod sums;

use std::collections::{HashMap, HashSet};
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use thiserror::Error;

use catalog::{Catalog, CatalogError, SourceRecord};
use layout::NamePlanner;
use lock::{ArchiveLock, LockError};

/// The directory inside an archive that holds camroll's own files.
pub const CAMROLL_DIR: &str = ".camroll";
/// The directory inside `.camroll/` where files are written before being renamed into place.
pub const STAGING_DIR: &str = "staging";

/// Why an archive could not be opened.
#[derive(Debug, Error)]
pub enum ArchiveError {
    /// The archive path is a file.
    #[error("{path}: is a file, not a folder. Give the folder the archive should live in (it is created if missing)")]
    NotADirectory {
        /// The path given.
        path: PathBuf,
    },
    /// The archive folder could not be created or opened.
    #[error("{path}: cannot create or open the archive folder: {source}. Check the disk is mounted and writable")]
    Create {
        /// The folder.
        path: PathBuf,
        /// What the OS reported.
        source: io::Error,
    },
    /// The folder has no catalog.
    #[error("{path}: no camroll archive here (no .camroll/catalog.sqlite). Check the path, or run `camroll rebuild` to recreate the catalog from the files")]
    NotAnArchive {
        /// The folder.
        path: PathBuf,
    },
    /// The archive folder given is not there.
    #[error("{path}: no such archive folder. Check the path (is the disk mounted?)")]
    Missing {
        /// The folder given.
        path: PathBuf,
    },
    /// A symbolic link where camroll keeps its own folder or file.
    #[error(transparent)]
    Symlink(#[from] contain::SymlinkError),
    /// Another camroll run holds the archive, or its lock could not be taken.
    #[error(transparent)]
    Lock(#[from] LockError),
    /// The catalog could not be opened or read.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
}

/// An archive opened by a run.
pub struct Archive {
    /// The archive folder.
    pub root: PathBuf,
    /// Its catalog.
    pub catalog: Catalog,
    _lock: Option<ArchiveLock>,
    /// hash → archived path, from the catalog plus what this run placed.
    pub by_hash: HashMap<String, String>,
    /// The one name allocator for this archive's folders.
    pub planner: NamePlanner,
    /// What the catalog knows of the current source: relative path → record.
    pub source_items: HashMap<String, SourceRecord>,
    /// Staging files found (and removed) when the archive was opened.
    pub leftovers_removed: u64,
    /// Folders changed since the last [`Archive::sync_dirs`].
    dirty_dirs: HashSet<PathBuf>,
    /// The staging folder, opened once (see [`Archive::open_staging`]).
    staging: std::sync::OnceLock<Arc<File>>,
}

impl Archive {
    /// Opens (creating it when missing) an archive for an export from `source_id`:
    /// takes the lock, removes staging leftovers of killed runs, loads the catalog.
    /// With `dry_run`, nothing is created or written. The name allocator
    /// stays empty until [`Archive::fill_planner`].
    /// Its duplicate index (`by_hash`) leaves out camroll's own sidecars
    /// (half the rows of a phone's archive, never the bytes of an original).
    pub fn open_for_export_unplanned(
        root: &Path,
        source_id: &str,
        dry_run: bool,
    ) -> Result<Archive, ArchiveError> {
        Archive::open_inner(root, source_id, dry_run, sidecar::ROLE)
    }

    /// Opens for an export or a sync; `by_hash` leaves out the files
    /// recorded with `skip_role` ("": none left out).
    fn open_inner(
        root: &Path,
        source_id: &str,
        dry_run: bool,
        skip_role: &str,
    ) -> Result<Archive, ArchiveError> {
        if root.exists() && !root.is_dir() {
            return Err(ArchiveError::NotADirectory {
                path: root.to_path_buf(),
            });
        }
        let camroll = root.join(CAMROLL_DIR);
        let mut lock = None;
        let mut leftovers_removed = 0;
        let catalog = if dry_run {
            if !camroll.join(catalog::CATALOG_FILE).exists() {
                return Archive::empty(root);
            }
            Catalog::open_read_only(root)?
        } else {
            fs::create_dir_all(root).map_err(|source| ArchiveError::Create {
                path: root.to_path_buf(),
                source,
            })?;
            let w = open_writable(root)?;
            lock = Some(w.lock);
            leftovers_removed = w.leftovers_removed;
            Catalog::open(root, true)?
        };
        // Rows whose path would leave the archive are never acted on
        // (verify reports them; rebuild drops them).
        let mut by_hash = catalog.files_by_hash_except(skip_role)?;
        by_hash.retain(|_, p| layout::checked_rel_path(p).is_ok());
        let archive = Archive {
            root: root.to_path_buf(),
            by_hash,
            source_items: catalog.source_items(source_id)?,
            catalog,
            _lock: lock,
            planner: NamePlanner::default(),
            leftovers_removed,
            dirty_dirs: HashSet::new(),
            staging: std::sync::OnceLock::new(),
        };
        Ok(archive)
    }

    /// Opens an archive for an export from `source_id` (see
    /// [`Archive::open_for_export_unplanned`]) with its name allocator filled.
    pub fn open_for_export(
        root: &Path,
        source_id: &str,
        dry_run: bool,
    ) -> Result<Archive, ArchiveError> {
        // Sync copies sidecars too: its index has every file.
        let mut archive = Archive::open_inner(root, source_id, dry_run, "")?;
        archive.fill_planner()?;
        Ok(archive)
    }

    /// Gives the name allocator every name the catalog lists. Separate from
    /// opening so that a run with nothing to place (a no-change re-run)
    /// never holds every archived name in memory.
    pub fn fill_planner(&mut self) -> Result<(), ArchiveError> {
        for (_, path, _) in self.catalog.all_files()? {
            if layout::checked_rel_path(&path).is_ok() {
                self.planner.add_listed(&path);
            }
        }
        Ok(())
    }

    fn empty(root: &Path) -> Result<Archive, ArchiveError> {
        // A dry run against an archive that does not exist yet: an in-memory catalog.
        let catalog = Catalog::open_in_memory()?;
        Ok(Archive {
            root: root.to_path_buf(),
            catalog,
            _lock: None,
            by_hash: HashMap::new(),
            planner: NamePlanner::default(),
            source_items: HashMap::new(),
            leftovers_removed: 0,
            dirty_dirs: HashSet::new(),
            staging: std::sync::OnceLock::new(),
        })
    }

    /// `ARCHIVE/.camroll/staging`: where files are written before being renamed into place.
    pub fn staging_dir(&self) -> PathBuf {
        self.root.join(CAMROLL_DIR).join(STAGING_DIR)
    }

    /// The staging folder, opened beneath the archive root without following
    /// links, once per run: every staged file is created, renamed and
    /// flushed through this handle (one `openat` each instead of a walk from
    /// the root), and a folder swapped for a link later is never followed.
    pub fn open_staging(&self) -> io::Result<Arc<File>> {
        if let Some(d) = self.staging.get() {
            return Ok(d.clone());
        }
        let d = Arc::new(contain::open_dir(
            &self.root,
            &format!("{CAMROLL_DIR}/{STAGING_DIR}"),
            false,
        )?);
        Ok(self.staging.get_or_init(|| d).clone())
    }

    /// Moves a staged file to `folder/name`, never replacing an existing file.
    /// The folder is opened (and created) beneath the archive root without
    /// following links (see [`contain`]).
    pub fn place(&mut self, staged: &Path, folder: &str, name: &str) -> io::Result<()> {
        if !folder.is_empty() {
            layout::checked_rel_path(folder).map_err(io::Error::other)?;
        }
        layout::checked_rel_path(name).map_err(io::Error::other)?;
        let dir = self.root.join(folder);
        let existed = dir.symlink_metadata().is_ok_and(|m| m.is_dir());
        let to_dir = contain::open_dir(&self.root, folder, true)?;
        if !existed {
            // New folders must survive a crash too: their parents change.
            let mut p = dir.as_path();
            while let Some(parent) = p.parent() {
                self.dirty_dirs.insert(parent.to_path_buf());
                if parent == self.root {
                    break;
                }
                p = parent;
            }
        }
        let (Some(from_dir), Some(from_name)) = (staged.parent(), staged.file_name()) else {
            return Err(io::Error::other("staged file has no folder"));
        };
        let from_dir = if from_dir == self.staging_dir() {
            self.open_staging()?
        } else {
            Arc::new(contain::open_dir(
                &self.root,
                &layout::rel_text(&self.root, from_dir),
                false,
            )?)
        };
        crate::faults::point("before-rename");
        contain::rename_in(
            &from_dir,
            &from_name.to_string_lossy(),
            &to_dir,
            name,
            false,
        )?;
        crate::faults::point("after-rename");
        self.dirty_dirs.insert(dir);
        Ok(())
    }

    /// Makes staged files durable before they are renamed into place: with
    /// `whole_fs` (see [`filesystem::FsInfo::syncfs_flushes_all`]) one
    /// `syncfs` for the whole batch, else an fsync per file.
    pub fn sync_staged(&self, files: &[&Path], whole_fs: bool) -> io::Result<()> {
        if whole_fs {
            staging::sync_batch(&*self.open_staging()?, files)
        } else {
            files
                .iter()
                .try_for_each(|f| staging::open_staged(f)?.sync_all())
        }
    }

    /// Makes a batch's renames durable: like [`Archive::sync_dirs`], but with
    /// `whole_fs` and more than two folders changed (a batch spread over
    /// many months), one `syncfs` instead of an fsync per folder.
    pub fn sync_dirs_batched(&mut self, whole_fs: bool) -> io::Result<()> {
        if whole_fs && self.dirty_dirs.len() > 2 {
            staging::sync_batch(&contain::open_root(&self.root)?, &[])?;
            self.dirty_dirs.clear();
            return Ok(());
        }
        self.sync_dirs()
    }

    /// fsyncs every folder changed since the last call, so renames are durable
    /// before their catalog rows commit.
    pub fn sync_dirs(&mut self) -> io::Result<()> {
        for d in self.dirty_dirs.drain() {
            File::open(&d)?.sync_all()?;
        }
        Ok(())
    }

    /// Rewrites BLAKE3SUMS from the catalog.
    pub fn write_sums(&self) -> Result<(), ArchiveError> {
        let entries = self
            .catalog
            .all_files()?
            .into_iter()
            .map(|(hash, path, _)| sums::SumsEntry { hash, path })
            .collect();
        sums::write(&self.root, entries).map_err(|e| match e {
            sums::SumsError::Write { path, source } => ArchiveError::Create { path, source },
        })
    }
}

/// What a run that writes an archive holds while it runs.
pub struct Writable {
    /// The archive lock.
    pub lock: ArchiveLock,
    /// Staging files of killed runs removed on the way in.
    pub leftovers_removed: u64,
}

/// Readies an existing archive folder for writing: refuses (changing nothing)
/// when one of camroll's own folders or files is a symbolic link, creates
/// `.camroll/staging` beneath the root without following links, takes the
/// lock, and removes the staging leftovers of killed runs.
pub fn open_writable(root: &Path) -> Result<Writable, ArchiveError> {
    contain::refuse_symlinks(root)?;
    let staging_rel = format!("{CAMROLL_DIR}/{STAGING_DIR}");
    let create = |source| ArchiveError::Create {
        path: root.join(&staging_rel),
        source,
    };
    let staging = contain::open_dir(root, &staging_rel, true).map_err(create)?;
    let camroll = contain::open_dir(root, CAMROLL_DIR, false).map_err(create)?;
    let lock = ArchiveLock::acquire_in(&camroll, &root.join(CAMROLL_DIR))?;
    let leftovers_removed = staging::remove_leftovers(&staging);
    Ok(Writable {
        lock,
        leftovers_removed,
    })
}

/// Why a command could not even start on an archive, for the exit statuses
/// scripts rely on (10, 11); see [`refusal`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The archive does not exist (no folder, or no camroll archive in it).
    NoArchive,
    /// Another live camroll run holds the archive's lock.
    Locked,
}

impl ArchiveError {
    /// Whether this is one of the [`Refusal`]s.
    pub fn refusal(&self) -> Option<Refusal> {
        match self {
            ArchiveError::Missing { .. } | ArchiveError::NotAnArchive { .. } => {
                Some(Refusal::NoArchive)
            }
            ArchiveError::Lock(l) => l.refusal(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn place_never_replaces_an_existing_file() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        fs::write(&a, b"new").unwrap();
        fs::write(&b, b"old").unwrap();
        let handle = contain::open_root(dir.path()).unwrap();
        let err = contain::rename_in(&handle, "a", &handle, "b", false).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read(&b).unwrap(), b"old");
    }
}
