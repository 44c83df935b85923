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
    /// An export loads it only when it has something to place
    /// ([`Archive::load_duplicates`]): a no-change re-run never holds it.
    pub by_hash: HashMap<String, String>,
    /// The one name allocator for this archive's folders.
    pub planner: NamePlanner,
    /// What the catalog knows of the current source: relative path →
    /// record, for the items whose content the archive still holds (the
    /// record's hash is in the duplicate index). Empty until
    /// [`Archive::load_index`] for an export.
    pub source_items: HashMap<String, SourceRecord>,
    /// `source_items` holds the catalog's records. An export opens its
    /// archives before the phone is listed and loads them only once the
    /// listing is done: at 100,000 assets the catalog's maps are tens of
    /// MiB, and the listing (with the phone's library) is the run's other
    /// large moment. Until then [`Archive::knows_item`] asks the catalog.
    indexed: bool,
    /// `by_hash` holds the catalog's duplicate index.
    hashes_loaded: bool,
    /// The source this archive was opened for.
    source_id: String,
    /// Files recorded with this role stay out of `by_hash` ("": none).
    skip_role: &'static str,
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
        Archive::open_inner(root, source_id, dry_run, sidecar::ROLE, false)
    }

    /// Opens for an export or a sync; `by_hash` leaves out the files
    /// recorded with `skip_role` ("": none left out). With `load`, the
    /// catalog's maps are loaded now, else by [`Archive::load_index`].
    fn open_inner(
        root: &Path,
        source_id: &str,
        dry_run: bool,
        skip_role: &'static str,
        load: bool,
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
                return Archive::empty(root, source_id);
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
        let mut archive = Archive {
            root: root.to_path_buf(),
            by_hash: HashMap::new(),
            source_items: HashMap::new(),
            indexed: false,
            hashes_loaded: false,
            source_id: source_id.to_string(),
            skip_role,
            catalog,
            _lock: lock,
            planner: NamePlanner::default(),
            leftovers_removed,
            dirty_dirs: HashSet::new(),
            staging: std::sync::OnceLock::new(),
        };
        if load {
            archive.load_duplicates()?;
            archive.load_index()?;
        }
        Ok(archive)
    }

    /// Loads `source_items` from the catalog, once, keeping the records
    /// whose content the archive still holds; does nothing when they are
    /// loaded or were filled otherwise (a bucket's spool:
    /// [`Archive::set_indexed`]). Which contents are held is worked out
    /// without the duplicate index itself: a sorted list of 32-byte hashes
    /// (4 MiB at 120,000 files, dropped on return), where the index is
    /// ~25 MiB of `String`s and their table.
    pub fn load_index(&mut self) -> Result<(), ArchiveError> {
        if self.indexed {
            return Ok(());
        }
        let mut items = self.catalog.source_items(&self.source_id)?;
        if !self.hashes_loaded {
            let held = self.held_hashes()?;
            items.retain(|_, r| {
                blake3::Hash::from_hex(&r.hash)
                    .is_ok_and(|h| held.binary_search(h.as_bytes()).is_ok())
            });
        } else {
            items.retain(|_, r| self.by_hash.contains_key(&r.hash));
        }
        self.source_items = items;
        self.indexed = true;
        Ok(())
    }

    /// The contents `by_hash` would hold: a hash is held when the least of
    /// its paths is one inside the archive (rows whose path would leave
    /// the archive are never acted on; verify reports them, rebuild drops
    /// them). Rows of such paths are rare, and looked at one by one.
    fn held_hashes(&self) -> Result<Vec<[u8; 32]>, ArchiveError> {
        let mut held = Vec::new();
        let mut doubtful = Vec::new();
        self.catalog
            .for_each_file_except(self.skip_role, |hash, path| {
                if let Ok(h) = blake3::Hash::from_hex(&hash) {
                    if layout::checked_rel_path(&path).is_ok() {
                        held.push(*h.as_bytes());
                    } else {
                        doubtful.push(hash);
                    }
                }
            })?;
        held.sort_unstable();
        held.dedup();
        for hash in doubtful {
            if !self.least_path_is_inside(&hash)? {
                if let Ok(h) = blake3::Hash::from_hex(&hash) {
                    if let Ok(i) = held.binary_search(h.as_bytes()) {
                        held.remove(i);
                    }
                }
            }
        }
        Ok(held)
    }

    /// Whether the least path recorded for `hash` (sidecars left out as in
    /// `by_hash`) is one inside the archive: the path `by_hash` keeps.
    fn least_path_is_inside(&self, hash: &str) -> Result<bool, ArchiveError> {
        let paths = self.catalog.paths_with_hash_except(hash, self.skip_role)?;
        Ok(paths
            .iter()
            .min()
            .is_some_and(|p| layout::checked_rel_path(p).is_ok()))
    }

    /// Loads `by_hash` from the catalog, once (an export, when it has
    /// something to place); does nothing when it is loaded or was filled
    /// otherwise (a bucket's spool: [`Archive::set_indexed`]).
    pub fn load_duplicates(&mut self) -> Result<(), ArchiveError> {
        if self.hashes_loaded {
            return Ok(());
        }
        // Rows whose path would leave the archive are never acted on
        // (verify reports them; rebuild drops them).
        let mut by_hash = self.catalog.files_by_hash_except(self.skip_role)?;
        by_hash.retain(|_, p| layout::checked_rel_path(p).is_ok());
        self.by_hash = by_hash;
        self.hashes_loaded = true;
        Ok(())
    }

    /// Marks `by_hash` and `source_items` as complete, filled by the caller
    /// (a bucket's spool, from the bucket's manifest).
    pub fn set_indexed(&mut self) {
        self.indexed = true;
        self.hashes_loaded = true;
    }

    /// Whether the archive recorded `rel_path` of this source with a record
    /// `same` accepts, and still holds that content. From the maps once
    /// loaded, else from the catalog (two lookups); a catalog that cannot
    /// be read answers "no", so the item is read again, never skipped.
    pub fn knows_item(&self, rel_path: &str, same: impl Fn(&SourceRecord) -> bool) -> bool {
        if self.indexed {
            return self.source_items.get(rel_path).is_some_and(|r| {
                same(r) && (!self.hashes_loaded || self.by_hash.contains_key(&r.hash))
            });
        }
        let Ok(Some(r)) = self.catalog.source_item(&self.source_id, rel_path) else {
            return false;
        };
        same(&r) && self.least_path_is_inside(&r.hash).unwrap_or(false)
    }

    /// Opens an archive for an export from `source_id` (see
    /// [`Archive::open_for_export_unplanned`]) with its name allocator filled.
    pub fn open_for_export(
        root: &Path,
        source_id: &str,
        dry_run: bool,
    ) -> Result<Archive, ArchiveError> {
        // Sync copies sidecars too: its index has every file.
        let mut archive = Archive::open_inner(root, source_id, dry_run, "", true)?;
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

    fn empty(root: &Path, source_id: &str) -> Result<Archive, ArchiveError> {
        // A dry run against an archive that does not exist yet: an in-memory catalog.
        let catalog = Catalog::open_in_memory()?;
        Ok(Archive {
            root: root.to_path_buf(),
            catalog,
            _lock: None,
            by_hash: HashMap::new(),
            planner: NamePlanner::default(),
            source_items: HashMap::new(),
            indexed: true,
            hashes_loaded: true,
            source_id: source_id.to_string(),
            skip_role: "",
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

    #[test]
    fn an_export_knows_an_item_the_same_way_before_and_after_loading_the_catalog() {
        let dir = tempfile::tempdir().unwrap();
        let src = "device:PHONE";
        let record = |a: &Archive, rel: &str, path: &str, hash: &str, role: Option<&str>| {
            let run = a.catalog.start_run("export", Some(src)).unwrap();
            a.catalog
                .insert_file(
                    &catalog::FileRecord {
                        path: path.into(),
                        hash: hash.into(),
                        size: 3,
                        kind: None,
                        capture: None,
                        original_name: rel.rsplit('/').next().unwrap().into(),
                        source: src.into(),
                        source_path: rel.into(),
                        role: role.map(str::to_string),
                    },
                    run,
                )
                .unwrap();
            a.catalog
                .record_source_item(
                    src,
                    rel,
                    &SourceRecord {
                        size: 3,
                        mtime_ns: 7,
                        hash: hash.into(),
                    },
                    run,
                )
                .unwrap();
        };
        let (h1, h2, h3) = ("1".repeat(64), "2".repeat(64), "3".repeat(64));
        {
            let a = Archive::open_for_export_unplanned(dir.path(), src, false).unwrap();
            record(&a, "DCIM/A.JPG", "2020/01/A.JPG", &h1, None);
            // Recorded only as a sidecar: not an original the archive holds.
            record(&a, "DCIM/B.JPG", "2020/01/B.AAE", &h2, Some(sidecar::ROLE));
            // A row whose path would leave the archive is never trusted.
            record(&a, "DCIM/C.JPG", "../C.JPG", &h3, None);
        }
        let mut a = Archive::open_for_export_unplanned(dir.path(), src, false).unwrap();
        assert!(a.by_hash.is_empty() && a.source_items.is_empty());
        let same = |r: &SourceRecord| r.size == 3 && r.mtime_ns == 7;
        let ask = |a: &Archive| {
            [
                a.knows_item("DCIM/A.JPG", same),
                a.knows_item("DCIM/A.JPG", |r| r.mtime_ns == 8),
                a.knows_item("DCIM/B.JPG", same),
                a.knows_item("DCIM/C.JPG", same),
                a.knows_item("DCIM/D.JPG", same),
            ]
        };
        let before = ask(&a);
        assert_eq!(before, [true, false, false, false, false]);
        // A path outside the archive sorted first hides the hash, as in `by_hash`.
        record(&a, "DCIM/E.JPG", "2020/01/E.JPG", &h3, None);
        assert!(!a.knows_item("DCIM/E.JPG", same));
        a.load_index().unwrap();
        assert!(
            a.by_hash.is_empty(),
            "the duplicate index waits for something to place"
        );
        assert_eq!(a.source_items.len(), 1, "only records of held content");
        assert_eq!(ask(&a), before);
        assert!(!a.knows_item("DCIM/E.JPG", same));
        a.load_duplicates().unwrap();
        assert_eq!(a.by_hash.len(), 1);
        assert_eq!(ask(&a), before);
    }
}
