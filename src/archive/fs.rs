//! What the filesystem under an archive (or a source folder) can hold.
//!
//! Archives live on ext4 and APFS, but also on exFAT and FAT32 USB drives and
//! NTFS disks. camroll asks the kernel which filesystem a path is on
//! (`statfs(2)`: the `f_type` magic on Linux, `f_fstypename` on macOS) and
//! derives what matters to an archiver:
//!
//! - the **largest file** it can hold: FAT32 stops at 4 GiB − 1 byte, so a
//!   bigger video is refused up front with a clear message (never a truncated
//!   copy);
//! - whether names are **case-insensitive** or **normalisation-insensitive**
//!   (informational: camroll treats `IMG_0001.JPG`, `img_0001.jpg` and NFC/NFD
//!   spellings as one name on every destination anyway, see `layout::fold`);
//! - the **timestamp granularity** (FAT: 2 s, exFAT: 10 ms, NTFS: 100 ns), so
//!   mtimes read from such a disk are compared with that tolerance and a
//!   re-run does not read every file again.
//!
//! Tests inject a filesystem with `CAMROLL_TEST_FS` (see [`detect`]), since
//! not every machine can mount a FAT32 image.

use std::path::Path;

/// Largest file on FAT12/16/32: the size field is 32 bits.
pub const FAT32_MAX_FILE: u64 = (1 << 32) - 1;

/// Properties of the filesystem holding a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FsInfo {
    /// Short name: `vfat`, `exfat`, `ntfs`, `ext4`, `apfs`, `tmpfs`, … or `unknown`.
    pub name: &'static str,
    /// `IMG_0001.JPG` and `img_0001.jpg` name the same file.
    pub case_insensitive: bool,
    /// NFC and NFD spellings of a name are the same file.
    pub normalization_insensitive: bool,
    /// Largest file it can hold, when it is a limit a photo or video can reach.
    pub max_file_size: Option<u64>,
    /// Smallest step between two stored modification times, in nanoseconds.
    pub mtime_granularity_ns: u64,
    /// Served by a userspace (FUSE) or network driver, which may lack the
    /// shared memory SQLite's WAL needs (see `catalog`).
    pub no_shared_memory: bool,
}

impl FsInfo {
    /// Whether one `syncfs(2)` makes everything written on it durable: a
    /// filesystem the kernel itself drives. A FUSE driver is not asked to
    /// flush its own storage by `syncfs` (only by an fsync of each file),
    /// and network filesystems differ; those, and unknown ones, get an
    /// fsync per file and per folder.
    pub fn syncfs_flushes_all(&self) -> bool {
        cfg!(target_os = "linux") && !self.no_shared_memory && self.name != "unknown"
    }

    /// The properties of a filesystem known by its short name.
    pub fn named(name: &str) -> FsInfo {
        let (name, ci, ni, max, gran): (&'static str, bool, bool, Option<u64>, u64) = match name {
            "vfat" | "msdos" | "fat" | "fat32" => {
                ("vfat", true, false, Some(FAT32_MAX_FILE), 2_000_000_000)
            }
            "exfat" => ("exfat", true, false, None, 10_000_000),
            // NTFS itself is case-insensitive for Windows; Linux drivers may expose it either way.
            "ntfs" | "ntfs3" => ("ntfs", true, false, None, 100),
            // ntfs-3g, exfat-fuse…: which one cannot be told from statfs, so assume the coarsest.
            "fuseblk" => ("fuseblk", true, false, None, 2_000_000_000),
            "apfs" => ("apfs", true, true, None, 1),
            "hfs" => ("hfs", true, true, None, 1_000_000_000),
            "smb" | "cifs" | "smbfs" => ("smb", true, false, None, 100),
            "ext4" => ("ext4", false, false, None, 1),
            "btrfs" => ("btrfs", false, false, None, 1),
            "xfs" => ("xfs", false, false, None, 1),
            "tmpfs" => ("tmpfs", false, false, None, 1),
            "zfs" => ("zfs", false, false, None, 1),
            "overlay" => ("overlay", false, false, None, 1),
            "nfs" => ("nfs", false, false, None, 1),
            "f2fs" => ("f2fs", false, false, None, 1),
            "fuse" => ("fuse", false, false, None, 1),
            _ => ("unknown", false, false, None, 1),
        };
        FsInfo {
            name,
            case_insensitive: ci,
            normalization_insensitive: ni,
            max_file_size: max,
            mtime_granularity_ns: gran,
            no_shared_memory: matches!(name, "fuse" | "fuseblk" | "smb" | "nfs"),
        }
    }

    /// Two mtimes (ns since the epoch) are the same stored time on this filesystem.
    pub fn same_mtime(&self, a: i64, b: i64) -> bool {
        a == b || a.abs_diff(b) < self.mtime_granularity_ns
    }

    /// Why a file of `size` bytes cannot be stored here, if it cannot.
    pub fn refuses_size(&self, size: u64) -> Option<String> {
        let max = self.max_file_size?;
        (size > max).then(|| {
            format!(
                "is {} bytes, but this archive is on a {} disk, which cannot hold files over {} bytes (4 GiB). \
                 Nothing was copied. Reformat the disk as exFAT (or archive to another disk) to keep this file",
                size,
                self.name.to_uppercase(),
                max
            )
        })
    }
}

/// The filesystem holding `path` (the nearest existing ancestor when `path`
/// does not exist yet). `CAMROLL_TEST_FS` overrides detection for tests
/// (builds with the `fault-injection` feature only):
/// either one name for every path (`vfat`), or `PREFIX=name` pairs separated
/// by commas (`/tmp/a=vfat,/tmp/src=exfat`).
pub fn detect(path: &Path) -> FsInfo {
    if let Some(name) = injected(path) {
        return FsInfo::named(&name);
    }
    let mut p = Some(path);
    while let Some(cur) = p {
        if cur.exists() {
            let (name, fuse) = kernel_name(cur).unwrap_or(("unknown", false));
            let mut info = FsInfo::named(name);
            info.no_shared_memory |= fuse;
            return info;
        }
        p = cur.parent();
    }
    FsInfo::named("unknown")
}

fn injected(path: &Path) -> Option<String> {
    // Only in builds with the `fault-injection` feature (src/faults.rs).
    let v = crate::faults::injected_fs()?;
    if !v.contains('=') {
        return Some(v);
    }
    v.split(',').find_map(|pair| {
        let (prefix, name) = pair.split_once('=')?;
        path.starts_with(prefix).then(|| name.to_string())
    })
}

/// The kernel's name for the filesystem holding an existing path, and
/// whether a FUSE driver serves it.
#[cfg(target_os = "linux")]
fn kernel_name(path: &Path) -> Option<(&'static str, bool)> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: statfs writes only into the zeroed struct; the path is NUL-terminated.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statfs(c.as_ptr(), &mut st) } != 0 {
        return None;
    }
    // Magic numbers from linux/magic.h (and each driver's super.c); no crate
    // exposes them as a table, so the few that matter are listed here.
    #[allow(clippy::unnecessary_cast)] // f_type's width differs between architectures
    let name = match st.f_type as u64 {
        0x4d44 => "vfat",       // MSDOS_SUPER_MAGIC: FAT12/16/32 (vfat, msdos)
        0x2011_BAB0 => "exfat", // EXFAT_SUPER_MAGIC
        0x5346_544e => "ntfs",  // NTFS_SB_MAGIC (old ntfs driver)
        0x7366_746e => "ntfs3", // "ntfs" (ntfs3 driver)
        0x6573_5546 => return Some((fuse_kind(path), true)), // FUSE_SUPER_MAGIC
        0xEF53 => "ext4",       // ext2/3/4
        0x9123_683E => "btrfs",
        0x5846_5342 => "xfs",
        0x0102_1994 => "tmpfs",
        0x2FC1_2FC2 => "zfs",
        0x794c_7630 => "overlay",
        0x6969 => "nfs",
        0xFF53_4D42 | 0xFE53_4D42 => "smb", // CIFS, SMB2
        0xF2F5_2010 => "f2fs",
        0x482b => "hfs",
        _ => "unknown",
    };
    Some((name, false))
}

/// FUSE hides the real filesystem behind one magic number; mountinfo's
/// `fuse.<subtype>` (fusefat, exfat-fuse…) or `fuseblk` (a disk-backed driver,
/// e.g. ntfs-3g) tells more.
#[cfg(target_os = "linux")]
fn fuse_kind(path: &Path) -> &'static str {
    let Ok(canon) = path.canonicalize() else {
        return "fuse";
    };
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return "fuse";
    };
    // The longest mount point containing the path is the one it is on.
    let mut best: Option<(usize, &'static str)> = None;
    for line in info.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let Some(sep) = fields.iter().position(|f| *f == "-") else {
            continue;
        };
        let (Some(mount), Some(fstype)) = (fields.get(4), fields.get(sep + 1)) else {
            continue;
        };
        if !canon.starts_with(mount) {
            continue;
        }
        // `fuse.<subtype>` names the driver when the mount says it.
        let kind = match *fstype {
            "fuse.fusefat" | "fuse.vfat" => "vfat",
            "fuse.exfat" | "fuse.exfat-fuse" => "exfat",
            "fuse.ntfs-3g" | "fuse.ntfs" | "fuse.ntfs3" => "ntfs",
            t if t.starts_with("fuseblk") => "fuseblk",
            _ => "fuse",
        };
        if best.is_none_or(|(len, _)| mount.len() > len) {
            best = Some((mount.len(), kind));
        }
    }
    best.map(|(_, k)| k).unwrap_or("fuse")
}

#[cfg(target_os = "macos")]
fn kernel_name(path: &Path) -> Option<(&'static str, bool)> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: statfs writes only into the zeroed struct; the path is NUL-terminated.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statfs(c.as_ptr(), &mut st) } != 0 {
        return None;
    }
    // SAFETY: f_fstypename is a NUL-terminated C string inside the struct.
    let name = unsafe { std::ffi::CStr::from_ptr(st.f_fstypename.as_ptr()) };
    let fuse = name
        .to_str()
        .is_ok_and(|n| n.starts_with("fuse") || n == "macfuse");
    Some((
        match name.to_str().unwrap_or("") {
            "msdos" => "vfat",
            "exfat" => "exfat",
            "ntfs" => "ntfs",
            "apfs" => "apfs",
            "hfs" => "hfs",
            "smbfs" => "smb",
            "nfs" => "nfs",
            _ => "unknown",
        },
        fuse,
    ))
}

#[cfg(not(any(target_os = "linux", target_os = "macos")))]
fn kernel_name(_path: &Path) -> Option<(&'static str, bool)> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fat32_refuses_files_over_4_gib_and_nothing_else() {
        let fat = FsInfo::named("vfat");
        assert!(fat.refuses_size(FAT32_MAX_FILE).is_none());
        let why = fat.refuses_size(FAT32_MAX_FILE + 1).unwrap();
        assert!(why.contains("VFAT") && why.contains("exFAT"), "{why}");
        assert!(FsInfo::named("exfat").refuses_size(10 << 30).is_none());
        assert!(FsInfo::named("ext4").refuses_size(u64::MAX).is_none());
    }

    #[test]
    fn mtimes_compare_with_the_filesystems_granularity() {
        let fat = FsInfo::named("vfat");
        assert!(fat.same_mtime(10_000_000_000, 11_999_999_999));
        assert!(!fat.same_mtime(10_000_000_000, 12_000_000_000));
        let ext4 = FsInfo::named("ext4");
        assert!(!ext4.same_mtime(10_000_000_000, 10_000_000_001));
        assert!(FsInfo::named("exfat").same_mtime(0, 9_999_999));
    }

    #[test]
    fn properties_of_the_archive_filesystems() {
        for n in ["vfat", "exfat", "ntfs", "apfs"] {
            assert!(FsInfo::named(n).case_insensitive, "{n}");
        }
        assert!(!FsInfo::named("ext4").case_insensitive);
        assert!(FsInfo::named("apfs").normalization_insensitive);
        assert_eq!(FsInfo::named("ntfs3"), FsInfo::named("ntfs"));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_temp_dir_is_detected_as_some_real_filesystem() {
        let d = tempfile::tempdir().unwrap();
        // Not yet existing paths resolve through their nearest ancestor.
        let info = detect(&d.path().join("a/b/c"));
        assert_eq!(info, detect(d.path()));
        if std::env::var("CAMROLL_TEST_FS").is_err() {
            assert_ne!(info.name, "unknown", "{info:?}");
        }
    }
}
