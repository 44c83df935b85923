//! Writes that never leave the archive. Every folder camroll writes into is
//! opened from the archive root one component at a time with `O_NOFOLLOW`
//! (`openat`), and files are created, renamed and removed relative to those
//! folder handles, so a symbolic link planted anywhere inside the archive
//! (`.camroll`, `staging`, a `YYYY` or `MM` folder, the lock) is refused
//! instead of followed, and a folder swapped for a link after it was checked
//! is never written through.
//!
//! Why a walk rather than `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)`:
//! the walk gives the same guarantee (no component is ever resolved through a
//! link, and `..` never reaches here: paths pass `layout::checked_rel_path`
//! first), works on every Linux kernel and on macOS, and needs no raw
//! syscall. `cap-std` would do the same walk; these few calls do not need it.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::io::{AsRawFd, FromRawFd};
use std::path::{Path, PathBuf};

use thiserror::Error;

use super::{CAMROLL_DIR, STAGING_DIR};

/// Names under `.camroll/` that camroll creates and writes.
pub const OWN_FILES: &[&str] = &[STAGING_DIR, "lock", "BLAKE3SUMS.tmp"];

/// A symbolic link where camroll keeps its own folder or file.
#[derive(Debug, Error)]
#[error("{path}: is a symbolic link, where camroll keeps its own {what}. camroll never follows links inside an archive and changed nothing: remove the link `{path}` (and put the real {what} back if it was moved), then run again")]
pub struct SymlinkError {
    /// The link.
    pub path: PathBuf,
    /// What camroll expected there (`folder`, `file`).
    pub what: &'static str,
}

fn is_link(p: &Path) -> bool {
    p.symlink_metadata()
        .is_ok_and(|m| m.file_type().is_symlink())
}

fn is_year(name: &str) -> bool {
    name.len() == 4 && name.bytes().all(|b| b.is_ascii_digit())
}

fn is_month(name: &str) -> bool {
    name.len() == 2 && name.bytes().all(|b| b.is_ascii_digit())
}

/// Every place camroll keeps its own folders and files (`.camroll`, its
/// `staging`, `lock` and `BLAKE3SUMS.tmp`, the `YYYY` and `YYYY/MM` folders)
/// that is a symbolic link, relative to the archive.
pub fn symlinked_own_paths(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let camroll = root.join(CAMROLL_DIR);
    if is_link(&camroll) {
        out.push(CAMROLL_DIR.to_string());
    } else {
        for f in OWN_FILES {
            if is_link(&camroll.join(f)) {
                out.push(format!("{CAMROLL_DIR}/{f}"));
            }
        }
    }
    let Ok(rd) = std::fs::read_dir(root) else {
        return out;
    };
    let mut years: Vec<String> = rd
        .flatten()
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter(|n| is_year(n))
        .collect();
    years.sort();
    for y in years {
        let yp = root.join(&y);
        if is_link(&yp) {
            out.push(y);
            continue;
        }
        let Ok(rd) = std::fs::read_dir(&yp) else {
            continue;
        };
        let mut months: Vec<String> = rd
            .flatten()
            .filter_map(|e| e.file_name().to_str().map(str::to_string))
            .filter(|n| is_month(n) && is_link(&yp.join(n)))
            .collect();
        months.sort();
        out.extend(months.into_iter().map(|m| format!("{y}/{m}")));
    }
    out
}

/// Fails with the first link [`symlinked_own_paths`] finds: a run that writes
/// the archive calls this before it changes anything.
pub fn refuse_symlinks(root: &Path) -> Result<(), SymlinkError> {
    match symlinked_own_paths(root).into_iter().next() {
        None => Ok(()),
        Some(rel) => {
            let last = rel.rsplit('/').next().unwrap_or(&rel);
            let what = if last == "lock" || last == "BLAKE3SUMS.tmp" {
                "file"
            } else {
                "folder"
            };
            Err(SymlinkError {
                path: root.join(rel),
                what,
            })
        }
    }
}

fn cstr(name: impl AsRef<std::ffi::OsStr>) -> io::Result<CString> {
    CString::new(name.as_ref().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in a name"))
}

fn check(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// A link met on the way is `ELOOP` (or `ENOTDIR`): say so in words.
fn link_error(e: io::Error, at: &Path) -> io::Error {
    match e.raw_os_error() {
        Some(libc::ELOOP) | Some(libc::ENOTDIR) => io::Error::other(format!(
            "{}: is a symbolic link or not a folder; camroll never writes through links inside an archive. Remove it and run again",
            at.display()
        )),
        _ => e,
    }
}

/// Opens the archive root itself (the path the user gave may be a link).
pub fn open_root(root: &Path) -> io::Result<File> {
    let c = CString::new(root.as_os_str().as_bytes()).map_err(io::Error::other)?;
    // SAFETY: a valid NUL-terminated path; the returned fd is owned by the File.
    let fd = check(unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    })?;
    // SAFETY: fd was just opened and is owned by nobody else.
    Ok(unsafe { File::from_raw_fd(fd) })
}

/// Opens the folder `rel` (`/`-separated, checked by `checked_rel_path`, or
/// empty for the root) beneath `root`, one component at a time, refusing
/// links; creates missing folders when `create`.
pub fn open_dir(root: &Path, rel: &str, create: bool) -> io::Result<File> {
    let mut dir = open_root(root)?;
    let mut at = root.to_path_buf();
    for comp in rel.split('/').filter(|c| !c.is_empty()) {
        if comp == "." || comp == ".." {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{rel}: not a path inside the archive"),
            ));
        }
        at.push(comp);
        let name = cstr(comp)?;
        let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
        // SAFETY: a valid directory fd and NUL-terminated name.
        let mut fd = unsafe { libc::openat(dir.as_raw_fd(), name.as_ptr(), flags) };
        if fd < 0 && create && io::Error::last_os_error().raw_os_error() == Some(libc::ENOENT) {
            // SAFETY: as above; mkdirat never follows a link at the last component.
            let rc = unsafe { libc::mkdirat(dir.as_raw_fd(), name.as_ptr(), 0o755) };
            if rc < 0 && io::Error::last_os_error().raw_os_error() != Some(libc::EEXIST) {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: as above.
            fd = unsafe { libc::openat(dir.as_raw_fd(), name.as_ptr(), flags) };
        }
        let fd = check(fd).map_err(|e| link_error(e, &at))?;
        // SAFETY: fd was just opened and is owned by nobody else.
        dir = unsafe { File::from_raw_fd(fd) };
    }
    Ok(dir)
}

/// Opens (creating when missing) the file `name` in `dir` without following
/// a link: `truncate` empties it (a temporary file), otherwise it is opened
/// read-write as it is (the lock).
pub fn open_file_in(dir: &File, name: &str, truncate: bool, at: &Path) -> io::Result<File> {
    let mut flags = libc::O_RDWR | libc::O_CREAT;
    if truncate {
        flags |= libc::O_TRUNC;
    }
    open_in(dir, name, flags, at)
}

/// Creates the new file `name` in `dir` for writing, exclusively and
/// without following a link: an existing name, a link included, is an error
/// (`AlreadyExists`), never written through.
pub fn create_new_in(dir: &File, name: &str, at: &Path) -> io::Result<File> {
    // Readable too: a large staging file is read back while it is written.
    open_in(dir, name, libc::O_RDWR | libc::O_CREAT | libc::O_EXCL, at)
}

/// Opens the existing file `name` in `dir` for writing, without following a
/// link and without creating it.
pub fn open_existing_in(dir: &File, name: &str, at: &Path) -> io::Result<File> {
    open_in(dir, name, libc::O_WRONLY, at)
}

/// `openat(dir, name, flags | O_NOFOLLOW | O_CLOEXEC, 0644)`; a link at
/// `name` is reported as one (naming `at`).
fn open_in(dir: &File, name: &str, flags: libc::c_int, at: &Path) -> io::Result<File> {
    let c = cstr(name)?;
    let flags = flags | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    // SAFETY: a valid directory fd and NUL-terminated name; mode for a new file.
    let fd =
        check(unsafe { libc::openat(dir.as_raw_fd(), c.as_ptr(), flags, 0o644 as libc::c_uint) })
            .map_err(|e| link_error(e, at))?;
    // SAFETY: fd was just opened and is owned by nobody else.
    Ok(unsafe { File::from_raw_fd(fd) })
}

/// Renames `from_dir/from` to `to_dir/to`. Unless `replace`, an existing
/// target is never replaced (`AlreadyExists`).
pub fn rename_in(
    from_dir: &File,
    from: &str,
    to_dir: &File,
    to: &str,
    replace: bool,
) -> io::Result<()> {
    let (f, t) = (cstr(from)?, cstr(to)?);
    // SAFETY: valid directory fds and NUL-terminated names.
    let rename = || {
        check(unsafe {
            libc::renameat(
                from_dir.as_raw_fd(),
                f.as_ptr(),
                to_dir.as_raw_fd(),
                t.as_ptr(),
            )
        })
        .map(drop)
    };
    if replace {
        return rename();
    }
    #[cfg(target_os = "linux")]
    {
        // SAFETY: valid directory fds and NUL-terminated names.
        let rc = unsafe {
            libc::renameat2(
                from_dir.as_raw_fd(),
                f.as_ptr(),
                to_dir.as_raw_fd(),
                t.as_ptr(),
                libc::RENAME_NOREPLACE,
            )
        };
        if rc == 0 {
            return Ok(());
        }
        let err = io::Error::last_os_error();
        // Filesystems without RENAME_NOREPLACE (some FUSE, older kernels) fall
        // through to check-then-rename, safe under the archive lock.
        if !matches!(
            err.raw_os_error(),
            Some(libc::EINVAL) | Some(libc::ENOSYS) | Some(libc::ENOTSUP)
        ) {
            return Err(err);
        }
    }
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: valid fd, name and an owned stat buffer.
    let exists = unsafe {
        libc::fstatat(
            to_dir.as_raw_fd(),
            t.as_ptr(),
            &mut st,
            libc::AT_SYMLINK_NOFOLLOW,
        )
    } == 0;
    if exists {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{to} already exists"),
        ));
    }
    rename()
}

/// Removes `name` from `dir` (a file or a link itself, never what a link points to).
pub fn remove_in(dir: &File, name: &std::ffi::OsStr) -> io::Result<()> {
    let c = cstr(name)?;
    // SAFETY: a valid directory fd and NUL-terminated name.
    check(unsafe { libc::unlinkat(dir.as_raw_fd(), c.as_ptr(), 0) })?;
    Ok(())
}

/// The names in an open folder (read through its handle, so a folder swapped
/// for a link meanwhile is not listed instead).
pub fn names_in(dir: &File) -> io::Result<Vec<std::ffi::OsString>> {
    // SAFETY: dup of a valid fd; fdopendir takes ownership of the duplicate.
    let fd = check(unsafe { libc::fcntl(dir.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 0) })?;
    let d = unsafe { libc::fdopendir(fd) };
    if d.is_null() {
        let e = io::Error::last_os_error();
        unsafe { libc::close(fd) };
        return Err(e);
    }
    let mut out = Vec::new();
    loop {
        // SAFETY: d is a valid DIR*; readdir's result is valid until the next call.
        let ent = unsafe { libc::readdir(d) };
        if ent.is_null() {
            break;
        }
        let name = unsafe { std::ffi::CStr::from_ptr((*ent).d_name.as_ptr()) };
        let b = name.to_bytes();
        if b != b"." && b != b".." {
            out.push(std::ffi::OsStr::from_bytes(b).to_os_string());
        }
    }
    // SAFETY: closes the DIR* (and the duplicated fd) once.
    unsafe { libc::closedir(d) };
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn folders_are_opened_and_created_beneath_the_root_and_links_refused() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("a");
        let outside = d.path().join("outside");
        std::fs::create_dir_all(root.join("2023")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        open_dir(&root, "2024/01", true).unwrap();
        assert!(root.join("2024/01").is_dir());
        symlink(&outside, root.join("2023/12")).unwrap();
        let e = open_dir(&root, "2023/12", true).unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        let e = open_dir(&root, "2023/12/x", true).unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
        assert_eq!(symlinked_own_paths(&root), ["2023/12"]);
        assert!(refuse_symlinks(&root)
            .unwrap_err()
            .to_string()
            .contains("2023/12"));
    }

    #[test]
    fn a_file_link_is_never_opened_through() {
        let d = tempfile::tempdir().unwrap();
        let victim = d.path().join("victim");
        std::fs::write(&victim, b"keep").unwrap();
        let dir = open_root(d.path()).unwrap();
        symlink(&victim, d.path().join("lock")).unwrap();
        assert!(open_file_in(&dir, "lock", true, d.path()).is_err());
        assert_eq!(std::fs::read(&victim).unwrap(), b"keep");
        remove_in(&dir, "lock".as_ref()).unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"keep");
        assert!(names_in(&dir).unwrap().iter().any(|n| n == "victim"));
    }
}
