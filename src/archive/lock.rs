//! `ARCHIVE/.camroll/lock`: one writer per archive. An advisory `flock` is
//! held for the whole run; the kernel drops it when the process dies, so a
//! run killed with `kill -9` never leaves a stale lock behind. The file holds
//! the owner's pid and start time, for the message the next run prints.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use thiserror::Error;

/// Why the archive lock could not be taken.
#[derive(Debug, Error)]
pub enum LockError {
    /// Another camroll run holds the lock.
    #[error("{path}: this archive is in use by another camroll run ({owner}). Wait for it to finish, then run again")]
    Busy {
        /// The archive's lock file.
        path: PathBuf,
        /// Who holds it (pid and start time), as the lock file says.
        owner: String,
    },
    /// The lock file could not be created or locked.
    #[error("{path}: cannot create the archive lock: {source}. Check the archive disk is mounted and writable")]
    Io {
        /// The lock file.
        path: PathBuf,
        /// What the OS reported.
        source: std::io::Error,
    },
}

/// Held while a run writes the archive; released on drop (or process exit).
#[derive(Debug)]
pub struct ArchiveLock {
    _file: File,
}

impl LockError {
    /// [`Refusal::Locked`](super::Refusal::Locked) when another run holds the archive.
    pub fn refusal(&self) -> Option<super::Refusal> {
        matches!(self, LockError::Busy { .. }).then_some(super::Refusal::Locked)
    }
}

impl ArchiveLock {
    /// Takes the lock of the archive whose `.camroll` folder is `camroll_dir`
    /// (a path: tests; runs use [`ArchiveLock::acquire_in`]).
    pub fn acquire(camroll_dir: &Path) -> Result<ArchiveLock, LockError> {
        let dir = super::contain::open_root(camroll_dir).map_err(|source| LockError::Io {
            path: camroll_dir.join("lock"),
            source,
        })?;
        ArchiveLock::acquire_in(&dir, camroll_dir)
    }

    /// Takes the lock in the open `.camroll` folder `dir` (at `camroll_dir`,
    /// for messages). The lock file is never opened through a link.
    pub fn acquire_in(dir: &File, camroll_dir: &Path) -> Result<ArchiveLock, LockError> {
        let path = camroll_dir.join("lock");
        let io = |source| LockError::Io {
            path: path.clone(),
            source,
        };
        let mut file = super::contain::open_file_in(dir, "lock", false, &path).map_err(io)?;
        if !try_lock(&file).map_err(io)? {
            let mut owner = String::new();
            let _ = file.read_to_string(&mut owner);
            let owner = owner.trim();
            let owner = if owner.is_empty() {
                "pid unknown".to_string()
            } else {
                owner.to_string()
            };
            return Err(LockError::Busy { path, owner });
        }
        file.set_len(0).map_err(io)?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        writeln!(
            file,
            "pid {} since {}",
            std::process::id(),
            super::catalog::now_text()
        )
        .map_err(io)?;
        Ok(ArchiveLock { _file: file })
    }
}

#[cfg(unix)]
fn try_lock(file: &File) -> std::io::Result<bool> {
    use std::os::unix::io::AsRawFd;
    // SAFETY: flock on a valid, owned file descriptor.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 {
        return Ok(true);
    }
    let err = std::io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
        Ok(false)
    } else {
        Err(err)
    }
}

#[cfg(not(unix))]
fn try_lock(file: &File) -> std::io::Result<bool> {
    match file.try_lock() {
        Ok(()) => Ok(true),
        Err(std::fs::TryLockError::WouldBlock) => Ok(false),
        Err(std::fs::TryLockError::Error(e)) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_archive_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let first = ArchiveLock::acquire(dir.path()).unwrap();
        // flock locks belong to the open file description, so a second open conflicts.
        let err = ArchiveLock::acquire(dir.path()).unwrap_err();
        assert!(
            err.to_string().contains("in use by another camroll run"),
            "{err}"
        );
        drop(first);
        ArchiveLock::acquire(dir.path()).unwrap();
    }
}
