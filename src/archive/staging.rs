//! The staging area, `.camroll/staging/`: where every file is written,
//! made durable and checked before it is renamed into place, so a run killed
//! at any instant leaves no partial file among the originals.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

use thiserror::Error;

use crate::hash;

/// Removes what killed runs left in the open staging folder; returns how
/// many files. Names are listed and unlinked through the folder's handle, so
/// a link is removed itself and never followed.
pub fn remove_leftovers(staging: &File) -> u64 {
    let mut n = 0;
    for name in super::contain::names_in(staging).unwrap_or_default() {
        if super::contain::remove_in(staging, &name).is_ok() {
            n += 1;
        }
    }
    n
}

/// Makes a batch of files durable at once. On Linux that is one `syncfs(2)`
/// on the filesystem of the open folder `dir` (errors from the writeback of
/// any file on it are reported since Linux 5.8): one flush for the batch
/// instead of one per file. Elsewhere each of `files` is fsynced.
pub fn sync_batch(dir: &File, files: &[&Path]) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let _ = files;
        // SAFETY: `dir` is an open descriptor for the whole call.
        if unsafe { libc::syncfs(dir.as_raw_fd()) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = dir;
        for f in files {
            open_staged(f)?.sync_all()?;
        }
        Ok(())
    }
}

/// Creates the new staging file `path`. For `ARCHIVE/.camroll/staging/NAME`
/// the folders are opened from the archive root one by one without following
/// links (see [`super::contain`]), so a `.camroll` or `staging` swapped for a
/// link in the middle of a run gets nothing created outside the archive.
/// Any other path (tests, scratch files) is created in its folder as given.
/// Always exclusive and never through a link at the name itself.
pub fn create_staged(path: &Path) -> io::Result<File> {
    let (folder, name) = staged_folder(path)?;
    super::contain::create_new_in(&folder, name, path)
}

/// The open folder of the staging file `path`, and its name.
fn staged_folder(path: &Path) -> io::Result<(File, &str)> {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{}: not a file path", path.display()),
        ));
    };
    let name = name.to_str().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{}: staging names are ASCII", path.display()),
        )
    })?;
    let camroll = dir.parent();
    let root = camroll.and_then(Path::parent);
    let own = dir.file_name() == Some(std::ffi::OsStr::new(super::STAGING_DIR))
        && camroll.and_then(Path::file_name) == Some(std::ffi::OsStr::new(super::CAMROLL_DIR));
    let folder = match (own, root) {
        (true, Some(root)) => super::contain::open_dir(
            root,
            &format!("{}/{}", super::CAMROLL_DIR, super::STAGING_DIR),
            false,
        )?,
        _ => super::contain::open_dir(dir, "", false)?,
    };
    Ok((folder, name))
}

/// Opens the existing staging file `path` for writing (its mtime, fsync)
/// through the same contained walk as [`create_staged`]; never creates,
/// never follows a link.
pub fn open_staged(path: &Path) -> io::Result<File> {
    staged_folder(path)
        .and_then(|(folder, name)| super::contain::open_existing_in(&folder, name, path))
}

/// Why one verified copy failed.
#[derive(Debug, Error)]
pub enum CopyError {
    /// Reading the source copy failed.
    #[error("cannot read: {0}")]
    Read(io::Error),
    /// Writing or syncing the new copy failed.
    #[error("cannot write the copy: {0}")]
    Write(io::Error),
    /// The copy being read from does not have the recorded hash.
    #[error("has hash {actual}, not the recorded {expected}: this copy is damaged too (run `camroll verify` on its archive)")]
    SourceMismatch {
        /// Its BLAKE3, 64 lower-case hex digits.
        actual: String,
        /// The recorded BLAKE3.
        expected: String,
    },
    /// The new copy read back with another hash.
    #[error("the copy read back with hash {actual}, not {expected}: the destination disk or its cable is failing")]
    ReadBack {
        /// The BLAKE3 read back, 64 lower-case hex digits.
        actual: String,
        /// The BLAKE3 written.
        expected: String,
    },
}

/// Copies `src` to `staged`, hashing while copying; the source must hash to
/// `expected`. The copy gets the source's mtime, is fsynced, and is read back
/// (with the page cache dropped where the OS allows) and hash-checked. On any
/// error the staged file is removed. Returns the size.
pub fn copy_verified(src: &Path, staged: &Path, expected: &str) -> Result<u64, CopyError> {
    let r = copy_verified_inner(src, staged, expected);
    if r.is_err() {
        let _ = fs::remove_file(staged);
    }
    r
}

fn copy_verified_inner(src: &Path, staged: &Path, expected: &str) -> Result<u64, CopyError> {
    let mut input = File::open(src).map_err(CopyError::Read)?;
    let mtime = input.metadata().and_then(|m| m.modified()).ok();
    let mut out = create_staged(staged).map_err(CopyError::Write)?;
    let mut buf = Vec::new();
    let digest = hash::stream(&mut input, &mut buf, 0, |chunk| out.write_all(chunk)).map_err(
        |e| match e {
            hash::StreamError::Read(e) => CopyError::Read(e),
            hash::StreamError::Sink(e) => CopyError::Write(e),
        },
    )?;
    let (actual, total) = (digest.hash, digest.size);
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
    let back = hash::hash_file(staged, true)
        .map_err(CopyError::Write)?
        .hash;
    if back != expected {
        return Err(CopyError::ReadBack {
            actual: back,
            expected: expected.to_string(),
        });
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staging_files_are_never_created_through_a_link() {
        let d = tempfile::tempdir().unwrap();
        let (root, outside) = (d.path().join("a"), d.path().join("outside"));
        std::fs::create_dir_all(root.join(".camroll/staging")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        let staged = root.join(".camroll/staging/1-1.part");
        create_staged(&staged).unwrap();
        // The same name again, or a link planted under a new name: refused.
        assert!(create_staged(&staged).is_err());
        std::os::unix::fs::symlink(outside.join("x"), root.join(".camroll/staging/1-2.part"))
            .unwrap();
        assert!(create_staged(&root.join(".camroll/staging/1-2.part")).is_err());
        // The staging folder, then .camroll, swapped for a link mid-run.
        std::fs::rename(root.join(".camroll/staging"), d.path().join("old")).unwrap();
        std::os::unix::fs::symlink(&outside, root.join(".camroll/staging")).unwrap();
        assert!(create_staged(&root.join(".camroll/staging/1-3.part")).is_err());
        std::fs::rename(root.join(".camroll"), d.path().join("oldc")).unwrap();
        std::fs::create_dir_all(outside.join("staging")).unwrap();
        std::os::unix::fs::symlink(&outside, root.join(".camroll")).unwrap();
        assert!(create_staged(&root.join(".camroll/staging/1-4.part")).is_err());
        assert_eq!(
            walkdir::WalkDir::new(&outside)
                .into_iter()
                .flatten()
                .filter(|e| e.file_type().is_file())
                .count(),
            0,
            "a file was created outside the archive"
        );
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
