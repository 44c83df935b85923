//! Sources yield items: files with a path relative to the source, a size and
//! a modification time, that can be opened for reading. A folder (an ifuse
//! mount, a copied DCIM, an SD card) or the iPhone over AFC.

pub mod afc_wire;
pub mod device;
pub mod folder;
pub mod library;
pub mod library_meta;
pub mod library_schema;
pub mod usbmux_listen;

use std::io::{Read, Seek};
use std::path::PathBuf;
use std::time::SystemTime;

use serde::Serialize;
use thiserror::Error;

/// Something that can be read and seeked (capture dates may sit at the end of a movie).
pub trait ReadSeek: Read + Seek + Send {}
impl<T: Read + Seek + Send> ReadSeek for T {}

/// One file on a source.
#[derive(Debug, Clone)]
pub struct SourceItem {
    /// Relative to the source root, `/`-separated, as text (non-UTF-8 bytes as `%XX`).
    pub rel_path: String,
    /// The folder part of `rel_path` ("" at the root): groups never span folders.
    pub dir: String,
    /// The file name as text.
    pub name: String,
    /// Size in bytes, as listed.
    pub size: u64,
    /// Modification time, as listed; `None` when the source gives none.
    pub mtime: Option<SystemTime>,
    /// Where the source finds it: the absolute path for a folder; empty on
    /// the phone, whose files are opened by `rel_path`.
    pub locator: PathBuf,
    /// What the source's own catalogue (the phone's Photos library) says of
    /// this file, when it lists it as an asset's original; `None` elsewhere.
    /// Kept on the item rather than in a map beside the scan: at 100,000
    /// assets a second map keyed by path cost ~20 MiB at the run's peak.
    pub listed: Option<Listed>,
}

/// What the phone's library says of one of its originals.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Listed {
    /// The capture time Photos recorded, used when the file carries none.
    pub capture: Option<crate::media::CaptureTime>,
    /// `ZKIND`: a video (`Some(true)`), a photo (`Some(false)`), or unknown.
    pub is_video: Option<bool>,
}

impl SourceItem {
    /// Nanoseconds since the Unix epoch (0 when unknown), for incremental re-runs.
    pub fn mtime_ns(&self) -> i64 {
        self.mtime
            .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
            .map(|d| d.as_nanos() as i64)
            .unwrap_or(0)
    }

    /// A capture time the source knows for an item whose file carries none
    /// (the phone's Photos library).
    pub fn capture_hint(&self) -> Option<crate::media::CaptureTime> {
        self.listed.and_then(|l| l.capture)
    }

    /// What the phone's library says this file is, when it lists it as an
    /// asset's original: a file camroll cannot parse is then archived as
    /// that kind rather than left behind. The library says "a photo" or "a
    /// video"; the kind only steers which capture-time reader is tried, and
    /// the library's own capture time is used when that reader finds nothing.
    pub fn listed_kind(&self) -> Option<crate::media::Kind> {
        self.listed.map(|l| match l.is_video {
            Some(true) => crate::media::Kind::QuickTime,
            _ => crate::media::Kind::Jpeg,
        })
    }
}

/// Something the source lists but camroll leaves alone, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    /// Relative to the source, `/`-separated.
    pub path: String,
    /// Why camroll leaves it alone.
    pub reason: String,
}

/// Why a file is known junk that camroll leaves behind on purpose, or `None`
/// for any other file. The whole list (docs/reliability.md, "What exit 0
/// promises"): Finder's `.DS_Store` and AppleDouble `._*` files, Windows'
/// `Thumbs.db` and `desktop.ini`, and the non-media files cameras keep in
/// DCIM: `*.THM` (a video's thumbnail) and `*.CTG` (Canon's folder index).
pub fn known_junk(name: &str) -> Option<&'static str> {
    let lower = name.to_ascii_lowercase();
    let ext = lower.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    Some(match lower.as_str() {
        ".ds_store" => "macOS Finder folder settings (.DS_Store)",
        "thumbs.db" => "Windows thumbnail cache (Thumbs.db)",
        "desktop.ini" => "Windows folder settings (desktop.ini)",
        _ if lower.starts_with("._") => "macOS AppleDouble resource file (._*)",
        _ if ext == "thm" => "a camera's thumbnail of a video (.THM)",
        _ if ext == "ctg" => "a camera's folder index (.CTG)",
        _ => return None,
    })
}

/// What a scan found.
#[derive(Debug, Default)]
pub struct Scan {
    /// Every file to consider, in listing order.
    pub items: Vec<SourceItem>,
    /// Entries left out on purpose (symbolic links, special files, …), each with the reason.
    pub skipped: Vec<Skipped>,
    /// Items that could not be listed (unreadable folders…): (path, error).
    pub failed: Vec<(String, String)>,
}

/// Why a source could not be opened or read.
#[derive(Debug, Error)]
pub enum SourceError {
    /// The source folder could not be read.
    #[error("{path}: cannot read the source: {source}. Check the path exists and you may read it")]
    Unreadable {
        /// The folder.
        path: PathBuf,
        /// What the OS reported.
        source: std::io::Error,
    },
    /// The source path is not a folder.
    #[error("{path}: is not a folder. Give the folder holding the photos (e.g. the DCIM folder or its parent)")]
    NotAFolder {
        /// The path given.
        path: PathBuf,
    },
    /// An item could not be opened for reading.
    #[error("{path}: cannot open: {source}")]
    Open {
        /// The item, relative to the source, `/`-separated.
        path: String,
        /// What went wrong.
        source: std::io::Error,
    },
    /// The source (the phone) went away and did not come back in time
    /// before it could be listed: nothing was read.
    #[error("{message}")]
    Gone {
        /// What happened and what to do.
        message: String,
    },
    /// The source refused to open an item for a reason that may pass during the
    /// run (the phone's file service refuses a file that has extra hard links):
    /// worth one more try once everything else is done.
    #[error("{message}")]
    Refused {
        /// The item, relative to the source, `/`-separated.
        path: String,
        /// Why, and what to do (names the item).
        message: String,
    },
}

/// A place photos come from.
pub trait Source: Send + Sync {
    /// A stable identity for incremental re-runs, e.g. `folder:/media/sd/DCIM`.
    fn id(&self) -> String;
    /// Lists every file (without reading any).
    fn scan(&self) -> Result<Scan, SourceError>;
    /// Lists like [`Source::scan`], handing `early` each file as soon as it
    /// is listed, where the source lists slowly (the phone: round trips), so
    /// the export can start large transfers while the listing goes on. An
    /// item handed early may still be left out of the scan (the export then
    /// drops what it read of it). By default: no early items.
    fn scan_early(&self, early: &mut dyn FnMut(&SourceItem)) -> Result<Scan, SourceError> {
        let _ = early;
        self.scan()
    }
    /// Whether [`Source::scan_early`] hands out items before the scan ends.
    fn lists_early(&self) -> bool {
        false
    }
    /// Whether reads mostly wait on round trips (the phone: open, read and
    /// close each cost one) rather than on the disk or the CPU: the export
    /// then runs more readers at once.
    fn round_trip_bound(&self) -> bool {
        false
    }
    /// Opens an item for reading.
    fn open(&self, item: &SourceItem) -> Result<Box<dyn ReadSeek>, SourceError>;
    /// What the source's own catalogue says beyond its files (the phone's
    /// library: cloud-only originals, Recently Deleted…), after a scan.
    fn library_report(&self) -> Option<library::LibraryReport> {
        None
    }
    /// The local copy of the source's Photos library (`Photos.sqlite`) read
    /// during the scan, when there is one: sidecars are written from it.
    fn library_db(&self) -> Option<PathBuf> {
        None
    }
    /// The item as listed now (size, mtime), or `None` when the source
    /// cannot tell. `after_read`: asked after every read to catch a file
    /// replaced in place; sources where a re-listing costs a round trip
    /// (the phone) answer `None` then.
    fn restat(&self, _item: &SourceItem, _after_read: bool) -> Option<std::io::Result<SourceItem>> {
        None
    }
    /// How messages name this kind of source ("folder", "iPhone").
    fn kind_name(&self) -> &'static str {
        "source"
    }
    /// The filesystem the items live on, when the source is a local folder
    /// (its mtime granularity decides when two mtimes are the same).
    fn filesystem(&self) -> Option<crate::archive::filesystem::FsInfo> {
        None
    }
}
