//! Sidecars camroll writes beside archived originals (`IMG_0001.HEIC.xmp`):
//! staged and made durable like originals, placed with the archive's own
//! placing function, and — unlike originals — replaced when what Photos
//! knows changes. A replacement is one `rename(2)` over the old sidecar, so a
//! reader sees the old file or the new one, never a mix.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::{contain, layout, Archive};

/// The catalog role of a sidecar camroll wrote (the phone's own `.AAE`
/// sidecars are `sidecar`): `verify` and later runs tell it from an original.
pub const ROLE: &str = "metadata_sidecar";

static SEQ: AtomicU64 = AtomicU64::new(0);

impl Archive {
    /// Writes `bytes` to a new staging file, fsyncs it and reads it back;
    /// returns its path. On any error nothing is left in staging.
    pub fn stage_bytes(&self, bytes: &[u8]) -> io::Result<PathBuf> {
        let p = self.stage_unsynced(bytes)?;
        let r = super::staging::open_staged(&p)
            .and_then(|f| f.sync_all())
            .and_then(|_| Self::check_staged(&p, bytes));
        match r {
            Ok(()) => Ok(p),
            Err(e) => {
                let _ = fs::remove_file(&p);
                Err(e)
            }
        }
    }

    /// Writes `bytes` to a new staging file, not yet durable: a batch of
    /// them is made durable at once ([`Archive::sync_staged`]) and each
    /// checked with [`Archive::check_staged`] before it is placed. One
    /// fsync per sidecar cost about a millisecond each on a first export
    /// (2,000 sidecars: 2.3 s of `fsync`, issue 13). On any error nothing is
    /// left in staging.
    pub fn stage_unsynced(&self, bytes: &[u8]) -> io::Result<PathBuf> {
        let p = self.staging_dir().join(format!(
            "sidecar-{}-{}.part",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let r = super::staging::create_staged(&p).and_then(|mut f| f.write_all(bytes));
        match r {
            Ok(()) => Ok(p),
            Err(e) => {
                let _ = fs::remove_file(&p);
                Err(e)
            }
        }
    }

    /// Reads a staged sidecar back after its flush and compares it with what
    /// was written.
    pub fn check_staged(staged: &Path, bytes: &[u8]) -> io::Result<()> {
        if fs::read(staged)? != bytes {
            return Err(io::Error::other(
                "the sidecar read back differently from what was written: the disk is failing",
            ));
        }
        Ok(())
    }

    /// Moves a staged sidecar to `folder/name`. A new one never replaces
    /// anything ([`Archive::place`]); with `replace`, it atomically takes the
    /// place of the regular file camroll wrote there before (never of a
    /// folder or a symbolic link).
    pub fn place_sidecar(
        &mut self,
        staged: &Path,
        folder: &str,
        name: &str,
        replace: bool,
    ) -> io::Result<()> {
        if !replace {
            return self.place(staged, folder, name);
        }
        if !folder.is_empty() {
            layout::checked_rel_path(folder).map_err(io::Error::other)?;
        }
        layout::checked_rel_path(name).map_err(io::Error::other)?;
        let dir = self.root.join(folder);
        let target = dir.join(name);
        // Folders opened beneath the root without following links, as for
        // originals: a replaced sidecar never lands outside the archive.
        let to_dir = contain::open_dir(&self.root, folder, false)?;
        let meta = fs::symlink_metadata(&target)?;
        if !meta.file_type().is_file() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} is not a regular file: left alone", target.display()),
            ));
        }
        let (Some(from_dir), Some(from_name)) = (staged.parent(), staged.file_name()) else {
            return Err(io::Error::other("staged file has no folder"));
        };
        let from_dir =
            contain::open_dir(&self.root, &layout::rel_text(&self.root, from_dir), false)?;
        crate::faults::point("before-rename");
        contain::rename_in(&from_dir, &from_name.to_string_lossy(), &to_dir, name, true)?;
        crate::faults::point("after-rename");
        self.dirty_dirs.insert(dir);
        Ok(())
    }
}
