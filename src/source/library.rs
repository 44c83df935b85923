//! The phone's own photo library, `PhotoData/Photos.sqlite`, as a checklist:
//! every asset the phone knows, which originals are only in iCloud
//! ("Optimize iPhone Storage"), which are in Recently Deleted, and the capture
//! time and zone Photos recorded. Read-only, from a local copy.
//!
//! Both schema generations are handled: `ZASSET` (iOS 14+) and
//! `ZGENERICASSET` (older). Columns that a version lacks read as "unknown".
//! Facts used (see `shared/briefs/protocol.md` §5.4): `ZDIRECTORY`/`ZFILENAME`
//! relative to the media root; `ZDATECREATED` in seconds since 2001-01-01 UTC;
//! `ZTRASHEDSTATE = 1` in Recently Deleted; the original resource row of
//! `ZINTERNALRESOURCE` has `ZDATASTORESUBTYPE = 1`, and `ZLOCALAVAILABILITY =
//! -1` means the original is not on the phone; `ZADDITIONALASSETATTRIBUTES`
//! carries `ZTIMEZONEOFFSET` (seconds east of UTC) and `ZORIGINALFILENAME`.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OpenFlags};
use serde::Serialize;
use thiserror::Error;

use super::library_schema::{self, core_data_utc};
use crate::media::{CaptureTime, DateSource, OffsetSource};

/// Photos.sqlite could not be read.
#[derive(Debug, Error)]
#[error("{path}: cannot read the phone's photo library: {reason}")]
pub struct LibraryError {
    /// The copy of Photos.sqlite being read.
    pub path: PathBuf,
    /// What is wrong with it.
    pub reason: String,
}

/// A capture time from Photos' `ZDATECREATED` (UTC) and
/// `ZTIMEZONEOFFSET` (seconds; implausible offsets beyond ±14 h are
/// ignored, and a missing one is assumed to be UTC and said so).
pub(crate) fn library_capture(utc: DateTime<Utc>, offset: Option<i32>) -> CaptureTime {
    let off = offset.filter(|o| o.abs() <= 14 * 3600);
    let local = utc.naive_utc() + chrono::Duration::seconds(i64::from(off.unwrap_or(0)));
    CaptureTime {
        local,
        offset_seconds: Some(off.unwrap_or(0)),
        offset_source: if off.is_some() {
            OffsetSource::Recorded
        } else {
            OffsetSource::Assumed
        },
        source: DateSource::PhotosLibrary,
    }
}

/// Where an asset's original lives on the phone, relative to the media root,
/// from its `ZDIRECTORY` and `ZFILENAME`: `DCIM/100APPLE/IMG_0001.HEIC`.
pub fn media_path(directory: &str, filename: &str) -> String {
    let dir = directory.trim_matches('/');
    if dir.is_empty() {
        filename.to_string()
    } else if !dir.contains('/') && !dir.starts_with("DCIM") && !dir.starts_with("PhotoData") {
        // Older libraries store only the DCIM subfolder.
        format!("DCIM/{dir}/{filename}")
    } else {
        format!("{dir}/{filename}")
    }
}

/// One asset as Photos knows it.
#[derive(Debug, Clone, Serialize)]
pub struct LibraryAsset {
    /// The asset's UUID (`ZUUID`).
    pub uuid: String,
    /// Relative to the media root, e.g. `DCIM/100APPLE`.
    pub directory: String,
    /// The original's file name on the phone (`IMG_0001.HEIC`).
    pub filename: String,
    /// The name it had when imported (AirDrop, iCloud from another device).
    pub original_filename: Option<String>,
    /// The capture time Photos recorded (`ZDATECREATED`), in UTC.
    pub created_utc: Option<DateTime<Utc>>,
    /// Seconds east of UTC where it was taken.
    pub timezone_offset: Option<i32>,
    /// In Recently Deleted.
    pub trashed: bool,
    /// The library says the original is not on the phone (only in iCloud):
    /// `ZLOCALAVAILABILITY = -1` on its original resource.
    pub cloud_only: bool,
    /// The original's size in bytes, as the library records it
    /// (`ZADDITIONALASSETATTRIBUTES.ZORIGINALFILESIZE`, else the original
    /// resource's `ZDATALENGTH`).
    pub original_size: Option<u64>,
    /// Not one of the owner's originals: an item of a shared album or one
    /// "Shared with You" (see [`Shared`]).
    pub shared: Option<Shared>,
    /// `ZKIND`: 0 a photo, 1 a video (`None` when the column is missing or
    /// holds anything else). Lets a listed original camroll cannot parse
    /// be filed as what the phone says it is.
    pub is_video: Option<bool>,
}

/// Library rows that are not the owner's originals. iLEAPP's and Scott
/// Koenig's Photos.sqlite queries decode `ZSAVEDASSETTYPE` 4 as "Photo Cloud
/// Sharing Data asset" (shared albums; files under
/// `PhotoData/PhotoCloudSharingData`) and 12 as a "Shared with You"
/// syndication asset; 3 is the local library and 6 iCloud Photos. A Shared
/// with You item also carries `ZADDITIONALASSETATTRIBUTES.ZSYNDICATIONIDENTIFIER`,
/// and `ZSYNDICATIONHISTORY` stays 0 until the user saves it to the library
/// (osxphotos `syndicated` / `saved_to_library`, #1054); its file lives in
/// `Library/Photos/Libraries/Syndication.photoslibrary`, outside the media
/// folder AFC serves (ScottKjr3347/PhotoData-Synd-Photos.sqlite_Queries).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Shared {
    /// In an iCloud shared album (`ZSAVEDASSETTYPE = 4`, or stored under
    /// `PhotoData/PhotoCloudSharingData`).
    SharedAlbum,
    /// Shared with You in Messages and the like (`ZSAVEDASSETTYPE = 12`).
    SharedWithYou,
}

impl Shared {
    /// Classifies a row from its `ZSAVEDASSETTYPE`, whether it is a Shared
    /// with You item not saved to the library (a syndication identifier, no
    /// syndication history), and its `ZDIRECTORY`. Saved ones are the owner's.
    pub fn of(
        saved_asset_type: Option<i64>,
        syndicated_unsaved: bool,
        directory: &str,
    ) -> Option<Shared> {
        match saved_asset_type {
            Some(4) => Some(Shared::SharedAlbum),
            Some(12) => Some(Shared::SharedWithYou),
            _ if syndicated_unsaved => Some(Shared::SharedWithYou),
            _ if directory
                .trim_start_matches('/')
                .starts_with("PhotoData/PhotoCloudSharingData") =>
            {
                Some(Shared::SharedAlbum)
            }
            _ => None,
        }
    }

    /// Why the item is listed apart.
    pub fn reason(self) -> &'static str {
        match self {
            Shared::SharedAlbum => "in a shared album, not your original",
            Shared::SharedWithYou => "Shared with You, not your original",
        }
    }
}

impl LibraryAsset {
    /// `DCIM/100APPLE/IMG_0001.HEIC`: where the original lives on the phone.
    pub fn path(&self) -> String {
        media_path(&self.directory, &self.filename)
    }

    /// The capture time Photos recorded, as a fallback for files that carry none.
    pub fn capture(&self) -> Option<CaptureTime> {
        Some(library_capture(self.created_utc?, self.timezone_offset))
    }
}

/// The whole library.
#[derive(Debug, Clone, Default)]
pub struct Library {
    /// Every asset, Recently Deleted included.
    pub assets: Vec<LibraryAsset>,
    /// `ZASSET` or `ZGENERICASSET`.
    pub table: String,
    /// The copy of Photos.sqlite it was read from.
    pub db: PathBuf,
    /// The library records whether originals are on the phone
    /// (`ZINTERNALRESOURCE.ZLOCALAVAILABILITY`; iOS 11 libraries do not).
    pub cloud_state_known: bool,
}

/// One library asset in a report.
#[derive(Debug, Clone, Serialize)]
pub struct LibraryItem {
    /// The name to show: the original file name when it was imported under another, else the file name on the phone.
    pub name: String,
    /// Where the original lives (or should) on the phone, e.g. `DCIM/100APPLE/IMG_0001.HEIC`.
    pub path: String,
    /// The asset's UUID (`ZUUID`).
    pub uuid: String,
    /// The capture time Photos recorded, e.g. `2019-06-09T12:57:32+02:00`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub captured: Option<String>,
    /// Why it is listed here, when the list's name does not say it all.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl From<&LibraryAsset> for LibraryItem {
    fn from(a: &LibraryAsset) -> LibraryItem {
        LibraryItem {
            name: a
                .original_filename
                .clone()
                .unwrap_or_else(|| a.filename.clone()),
            path: a.path(),
            uuid: a.uuid.clone(),
            captured: a.capture().map(|c| c.display()),
            reason: None,
        }
    }
}

/// A path that hashes and compares as its `to_lowercase()`, without
/// holding a lower-case copy: the scan's found files are looked up case
/// blind, and a lower-case `String` for each of 120,000 paths was ~10 MiB
/// at the moment the scan's memory peaks. ASCII paths (nearly all) are
/// lowered byte by byte on the fly; others through `to_lowercase()`.
struct Lower<'a>(&'a str);

impl Lower<'_> {
    fn with_lower<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        if self.0.is_ascii() {
            if !self.0.bytes().any(|b| b.is_ascii_uppercase()) {
                return f(self.0.as_bytes());
            }
            let mut buf = [0u8; 256];
            if let Some(b) = buf.get_mut(..self.0.len()) {
                for (d, s) in b.iter_mut().zip(self.0.bytes()) {
                    *d = s.to_ascii_lowercase();
                }
                return f(b);
            }
            return f(self.0.to_ascii_lowercase().as_bytes());
        }
        f(self.0.to_lowercase().as_bytes())
    }
}

impl std::hash::Hash for Lower<'_> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.with_lower(|b| b.hash(state))
    }
}

impl PartialEq for Lower<'_> {
    fn eq(&self, other: &Self) -> bool {
        if self.0.is_ascii() && other.0.is_ascii() {
            return self.0.eq_ignore_ascii_case(other.0);
        }
        self.0.to_lowercase() == other.0.to_lowercase()
    }
}

impl Eq for Lower<'_> {}

/// The library's assets looked up by original path, case blind, as the
/// phone's scan needs for every file it lists. A map from lower-case path to
/// asset held a second copy of every path (~10 MiB at 100,000 assets, at the
/// moment the run's memory peaks); this holds 12 bytes per asset: a keyed
/// hash of each lower-case path, sorted, with the asset's position. Every
/// hash match is confirmed against the asset's own path, so a collision
/// never mixes two assets up.
pub struct PathIndex {
    keys: Vec<(u64, u32)>,
    state: std::collections::hash_map::RandomState,
}

impl PathIndex {
    /// Indexes every asset of `lib` by its [`LibraryAsset::path`].
    pub fn new(lib: &Library) -> PathIndex {
        let state = std::collections::hash_map::RandomState::new();
        let mut keys: Vec<(u64, u32)> = lib
            .assets
            .iter()
            .enumerate()
            .filter_map(|(i, a)| Some((hash_lower(&state, &a.path()), u32::try_from(i).ok()?)))
            .collect();
        keys.sort_unstable();
        PathIndex { keys, state }
    }

    /// The positions in `lib.assets` of the assets whose path is `path`,
    /// ignoring case, in library order. `lib` must be the library indexed.
    pub fn matches<'a>(
        &'a self,
        lib: &'a Library,
        path: &'a str,
    ) -> impl Iterator<Item = usize> + 'a {
        let h = hash_lower(&self.state, path);
        let start = self.keys.partition_point(|k| k.0 < h);
        self.keys[start..]
            .iter()
            .take_while(move |k| k.0 == h)
            .map(|k| k.1 as usize)
            .filter(move |&i| {
                lib.assets
                    .get(i)
                    .is_some_and(|a| Lower(&a.path()) == Lower(path))
            })
    }
}

fn hash_lower(state: &impl std::hash::BuildHasher, path: &str) -> u64 {
    state.hash_one(Lower(path))
}

/// The library view of a run: what the phone knows that the files alone do not say.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LibraryReport {
    /// The owner's assets the library lists (`library_assets` in the JSON);
    /// shared-album and Shared-with-You items are counted apart.
    pub library_assets: u64,
    /// Items of shared albums and Shared with You: in the library, not the
    /// owner's originals; listed apart, never "not found on the phone".
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub in_shared_albums: Vec<LibraryItem>,
    /// Originals only in iCloud: not on the phone, so not archived.
    pub cloud_only: Vec<LibraryItem>,
    /// Assets in Recently Deleted (archived like any other; marked here).
    pub recently_deleted: Vec<LibraryItem>,
    /// Assets whose original should be on the phone but was not found.
    pub not_found_on_device: Vec<LibraryItem>,
    /// The library says the original is only in iCloud, yet a file of the
    /// original's size is on the phone: archived, and worth a look.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_local_but_present: Vec<LibraryItem>,
    /// Set when the library cannot tell which originals are only in iCloud
    /// (then `cloud_only` is empty because it is unknown, not because there are none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cloud_only_unknown: Option<String>,
    /// Why there is no library view (missing or unreadable Photos.sqlite).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub library_warning: Option<String>,
}

impl LibraryReport {
    /// Compares the library with the files the scan kept as originals (paths
    /// relative to the media root). `why_not`: for originals the library calls
    /// cloud-only whose file was set aside (a stand-in, unreadable), why; keyed
    /// by lower-case path.
    pub fn new(
        lib: &Library,
        found: &HashSet<String>,
        why_not: &std::collections::HashMap<String, String>,
    ) -> LibraryReport {
        let mut found_lower: HashSet<Lower<'_>> = HashSet::with_capacity(found.len());
        found_lower.extend(found.iter().map(|p| Lower(p)));
        let flags: Vec<bool> = lib
            .assets
            .iter()
            .map(|a| found_lower.contains(&Lower(&a.path())))
            .collect();
        LibraryReport::with_found(lib, &flags, why_not)
    }

    /// Like [`LibraryReport::new`], with whether each asset's original was
    /// found given by position (`found[i]` for `lib.assets[i]`): the phone's
    /// scan marks them through a [`PathIndex`] instead of a set of its paths.
    pub fn with_found(
        lib: &Library,
        found: &[bool],
        why_not: &std::collections::HashMap<String, String>,
    ) -> LibraryReport {
        let mut r = LibraryReport {
            library_assets: lib.assets.iter().filter(|a| a.shared.is_none()).count() as u64,
            cloud_only_unknown: (!lib.cloud_state_known).then(|| {
                "this Photos library does not record which originals are only in iCloud (iOS 11 or older): turn on Settings › Photos › Download and Keep Originals to be sure everything is on the phone".to_string()
            }),
            ..Default::default()
        };
        for (i, a) in lib.assets.iter().enumerate() {
            if let Some(kind) = a.shared {
                let mut item = LibraryItem::from(a);
                item.reason = Some(kind.reason().to_string());
                r.in_shared_albums.push(item);
                continue;
            }
            if a.trashed {
                r.recently_deleted.push(a.into());
            }
            let is_found = found.get(i).copied().unwrap_or(false);
            if a.cloud_only && is_found {
                let mut item = LibraryItem::from(a);
                item.reason = Some("Photos says this original is only in iCloud, but a file of the original's size is on the phone; archived it".into());
                r.not_local_but_present.push(item);
            } else if a.cloud_only {
                let mut item = LibraryItem::from(a);
                item.reason = why_not.get(&a.path().to_lowercase()).cloned();
                r.cloud_only.push(item);
            } else if !is_found {
                r.not_found_on_device.push(a.into());
            }
        }
        r
    }

    /// A report with no library view, saying why (`library_warning`).
    pub fn unavailable(reason: String) -> LibraryReport {
        LibraryReport {
            library_warning: Some(reason),
            ..Default::default()
        }
    }

    /// The instruction for cloud-only originals.
    pub fn cloud_only_advice(&self) -> Option<String> {
        let n = self.cloud_only.len();
        (n > 0).then(|| {
            format!(
                "{n} original{} only in iCloud: turn on Settings › Photos › Download and Keep Originals, wait for the download, run again",
                if n == 1 { " is" } else { "s are" }
            )
        })
    }
}

/// How much of the machine reading a Photos.sqlite may take. The file comes
/// from the phone, so it is untrusted input: a huge generated column, a
/// million-row table or a view that recurses must end in a warning (and a
/// DCIM-only export) in bounded time and memory, never a hang.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// Wall-clock time for all queries.
    pub time: std::time::Duration,
    /// SQLite virtual-machine steps for all queries.
    pub steps: u64,
    /// Assets read at most (more is not a plausible camera roll).
    pub rows: usize,
    /// Longest string or blob SQLite may make (SQLITE_LIMIT_LENGTH).
    pub value_len: usize,
    /// Bytes of names kept in memory, over all assets.
    pub total_bytes: usize,
}

impl Default for Budget {
    fn default() -> Budget {
        Budget {
            time: std::time::Duration::from_secs(30),
            steps: 2_000_000_000,
            rows: 2_000_000,
            value_len: 64 * 1024,
            total_bytes: 512 << 20,
        }
    }
}

/// Opens an untrusted Photos.sqlite read-only and guarded: `trusted_schema`
/// off (no functions with side effects from views, triggers or generated
/// columns), strings and blobs capped at `budget.value_len`, and a progress
/// handler that interrupts any query once the time or step budget is spent.
pub(crate) fn open_guarded(db: &Path, budget: &Budget) -> rusqlite::Result<Connection> {
    use rusqlite::limits::Limit;
    // Read-only; the copy's WAL is applied by SQLite when it opens.
    let conn = Connection::open_with_flags(
        db,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.execute_batch("PRAGMA trusted_schema = OFF; PRAGMA query_only = ON;")?;
    let len = i32::try_from(budget.value_len).unwrap_or(i32::MAX);
    conn.set_limit(Limit::SQLITE_LIMIT_LENGTH, len)?;
    conn.set_limit(Limit::SQLITE_LIMIT_SQL_LENGTH, 100_000)?;
    conn.set_limit(Limit::SQLITE_LIMIT_EXPR_DEPTH, 100)?;
    conn.set_limit(Limit::SQLITE_LIMIT_COMPOUND_SELECT, 50)?;
    const EVERY: i32 = 10_000;
    let (deadline, max_steps) = (std::time::Instant::now() + budget.time, budget.steps);
    let mut steps = 0u64;
    conn.progress_handler(
        EVERY,
        Some(move || {
            steps += EVERY as u64;
            steps > max_steps || std::time::Instant::now() > deadline
        }),
    );
    Ok(conn)
}

/// Most folders taken from the library as scan roots (a hostile library
/// cannot make the scan list the whole phone folder by folder).
const MAX_SCAN_ROOTS: usize = 4096;

/// Folders of `PhotoData` that never hold the owner's originals.
const NOT_ORIGINALS: [&str; 7] = [
    "Thumbnails",
    "Caches",
    "Metadata",
    "MISC",
    "Mutations",
    "PhotoCloudSharingData",
    "private",
];

/// The folders under the media root to scan for originals: `DCIM` always,
/// plus every folder the library's `ZDIRECTORY` values name for the owner's
/// assets (so originals anywhere under the media root are found: iCloud
/// restores keep most under `PhotoData/CPLAssets`), reduced to the outermost
/// ones. Shared-album and Shared-with-You folders are left out (not the
/// owner's originals), and so is any value that is absolute, climbs (`..`),
/// or is not plain text. Without a library: `DCIM` and `PhotoData/CPLAssets`.
pub fn scan_roots(lib: Option<&Library>) -> Vec<String> {
    let Some(lib) = lib else {
        return vec!["DCIM".into(), "PhotoData/CPLAssets".into()];
    };
    let mut dirs: std::collections::BTreeSet<String> = ["DCIM".to_string()].into();
    for a in lib.assets.iter().filter(|a| a.shared.is_none()) {
        if dirs.len() >= MAX_SCAN_ROOTS {
            break;
        }
        let path = a.path();
        let Some((dir, _)) = path.rsplit_once('/') else {
            continue;
        };
        let sane = !dir.starts_with('/')
            && dir.split('/').all(|c| {
                !c.is_empty() && c != "." && c != ".." && !c.chars().any(char::is_control)
            });
        // PhotoData itself holds the library, thumbnails, caches and renders:
        // only its subfolders that hold originals may be roots.
        let photo_data_ok = match dir.strip_prefix("PhotoData") {
            None => true,
            Some("") => false,
            Some(rest) => !NOT_ORIGINALS
                .iter()
                .any(|n| rest == format!("/{n}") || rest.starts_with(&format!("/{n}/"))),
        };
        if sane && photo_data_ok {
            dirs.insert(dir.to_string());
        }
    }
    // Sorted, a folder comes right after its ancestors: keep the outermost.
    let mut roots: Vec<String> = Vec::new();
    for d in dirs {
        if !roots.iter().any(|r| d.starts_with(&format!("{r}/"))) {
            roots.push(d);
        }
    }
    roots
}

/// Reads a local copy of Photos.sqlite (with its `-wal`/`-shm` beside it).
pub fn read_library(db: &Path) -> Result<Library, LibraryError> {
    read_library_within(db, &Budget::default())
}

/// [`read_library`] within `budget`: a library that would exceed it is an error.
pub fn read_library_within(db: &Path, budget: &Budget) -> Result<Library, LibraryError> {
    let err = |reason: String| LibraryError {
        path: db.to_path_buf(),
        reason,
    };
    let conn = open_guarded(db, budget).map_err(|e| err(guard_words(e)))?;
    let schema = library_schema::resolve(&conn).map_err(|e| err(e.to_string()))?;
    let table = schema.asset_table.as_str();
    let col = |c: &str, fallback: &str| schema.asset_col(c, fallback);
    let aa_join = schema.attributes_join();
    let tz = schema.attr_col("ZTIMEZONEOFFSET", "NULL");
    let orig = schema.attr_col("ZORIGINALFILENAME", "NULL");
    let orig_size = schema.attr_col("ZORIGINALFILESIZE", "NULL");
    let cloud_state_known = schema.cloud_state_known();
    let cloud = if cloud_state_known {
        "EXISTS (SELECT 1 FROM ZINTERNALRESOURCE r WHERE r.ZASSET = a.Z_PK AND r.ZDATASTORESUBTYPE = 1 AND r.ZLOCALAVAILABILITY = -1)"
    } else {
        "0"
    };
    // The original resource's length, when the attributes table has no size.
    let res_size = if schema.resource_has(&["ZASSET", "ZDATASTORESUBTYPE", "ZDATALENGTH"]) {
        "(SELECT MAX(r.ZDATALENGTH) FROM ZINTERNALRESOURCE r WHERE r.ZASSET = a.Z_PK AND r.ZDATASTORESUBTYPE = 1)"
    } else {
        "NULL"
    };
    let sql = format!(
        "SELECT {uuid}, a.ZDIRECTORY, a.ZFILENAME, {orig}, {created}, {tz}, {trashed}, {cloud},
                COALESCE({orig_size}, {res_size}), {saved},
                {synd_id} IS NOT NULL AND COALESCE({synd_history}, 0) = 0, {kind}
         FROM {table} a {aa_join} ORDER BY a.Z_PK",
        synd_id = schema.attr_col("ZSYNDICATIONIDENTIFIER", "NULL"),
        synd_history = schema.attr_col("ZSYNDICATIONHISTORY", "NULL"),
        uuid = col("ZUUID", "''"),
        created = col("ZDATECREATED", "NULL"),
        trashed = col("ZTRASHEDSTATE", "0"),
        saved = col("ZSAVEDASSETTYPE", "NULL"),
        kind = col("ZKIND", "NULL"),
    );
    let mut stmt = conn.prepare(&sql).map_err(|e| err(e.to_string()))?;
    let rows = stmt
        .query_map([], |r| {
            let created: Option<f64> = r.get::<_, Option<f64>>(4).unwrap_or(None);
            let directory = r.get::<_, Option<String>>(1)?.unwrap_or_default();
            let saved = r.get::<_, Option<i64>>(9).unwrap_or(None);
            let unsaved_swy = r.get::<_, Option<i64>>(10).unwrap_or(None).unwrap_or(0) != 0;
            let kind = r.get::<_, Option<i64>>(11).unwrap_or(None);
            Ok(LibraryAsset {
                shared: Shared::of(saved, unsaved_swy, &directory),
                is_video: match kind {
                    Some(0) => Some(false),
                    Some(1) => Some(true),
                    _ => None,
                },
                uuid: r.get::<_, Option<String>>(0)?.unwrap_or_default(),
                directory,
                filename: r.get::<_, Option<String>>(2)?.unwrap_or_default(),
                original_filename: r.get::<_, Option<String>>(3).unwrap_or(None),
                created_utc: created.and_then(core_data_utc),
                timezone_offset: r
                    .get::<_, Option<i64>>(5)
                    .unwrap_or(None)
                    .and_then(|v| i32::try_from(v).ok()),
                trashed: r.get::<_, Option<i64>>(6).unwrap_or(None).unwrap_or(0) == 1,
                cloud_only: r.get::<_, Option<i64>>(7).unwrap_or(None).unwrap_or(0) != 0,
                original_size: r
                    .get::<_, Option<i64>>(8)
                    .unwrap_or(None)
                    .and_then(|v| u64::try_from(v).ok())
                    .filter(|v| *v > 0),
            })
        })
        .map_err(|e| err(e.to_string()))?;
    let mut assets = Vec::new();
    let mut bytes = 0usize;
    for row in rows {
        let a = row.map_err(|e| err(guard_words(e)))?;
        bytes += a.uuid.len() + a.directory.len() + a.filename.len();
        if assets.len() >= budget.rows || bytes > budget.total_bytes {
            return Err(err(format!(
                "more than {} assets or {} MiB of names: not a plausible library",
                budget.rows,
                budget.total_bytes >> 20
            )));
        }
        if !a.filename.is_empty() {
            assets.push(a);
        }
    }
    Ok(Library {
        assets,
        table: table.to_string(),
        db: db.to_path_buf(),
        cloud_state_known,
    })
}

/// A guard's refusal in words (the library is then left aside with a warning).
pub(crate) fn guard_words(e: rusqlite::Error) -> String {
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::OperationInterrupted) => {
            "reading it took longer than its time budget (a hostile or damaged library?)".into()
        }
        Some(rusqlite::ErrorCode::TooBig) => {
            "it holds a value longer than any a Photos library has (a hostile or damaged library?)"
                .into()
        }
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn make(sql: &str) -> (tempfile::TempDir, PathBuf) {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("Photos.sqlite");
        Connection::open(&p).unwrap().execute_batch(sql).unwrap();
        (d, p)
    }

    #[test]
    fn the_modern_schema_gives_cloud_only_trashed_and_zone() {
        let (_d, p) = make(
            "CREATE TABLE ZASSET(Z_PK INTEGER PRIMARY KEY, ZUUID TEXT, ZDIRECTORY TEXT, ZFILENAME TEXT,
               ZDATECREATED REAL, ZTRASHEDSTATE INTEGER, ZADDITIONALATTRIBUTES INTEGER);
             CREATE TABLE ZADDITIONALASSETATTRIBUTES(Z_PK INTEGER PRIMARY KEY, ZASSET INTEGER,
               ZTIMEZONEOFFSET INTEGER, ZORIGINALFILENAME TEXT);
             CREATE TABLE ZINTERNALRESOURCE(Z_PK INTEGER PRIMARY KEY, ZASSET INTEGER, ZDATASTORESUBTYPE INTEGER,
               ZLOCALAVAILABILITY INTEGER);
             INSERT INTO ZASSET VALUES(1, 'U1', 'DCIM/100APPLE', 'IMG_0001.HEIC', 700000000, 0, 1);
             INSERT INTO ZASSET VALUES(2, 'U2', 'DCIM/100APPLE', 'IMG_0002.HEIC', 700000100, 1, 2);
             INSERT INTO ZADDITIONALASSETATTRIBUTES VALUES(1, 1, 7200, 'IMG_0001.HEIC');
             INSERT INTO ZADDITIONALASSETATTRIBUTES VALUES(2, 2, -18000, 'IMG_0002.HEIC');
             INSERT INTO ZINTERNALRESOURCE VALUES(1, 1, 1, 1);
             INSERT INTO ZINTERNALRESOURCE VALUES(2, 2, 1, -1);",
        );
        let lib = read_library(&p).unwrap();
        assert_eq!(lib.table, "ZASSET");
        assert!(!lib.assets[0].cloud_only && lib.assets[1].cloud_only);
        assert!(!lib.assets[0].trashed && lib.assets[1].trashed);
        let c = lib.assets[0].capture().unwrap();
        // 700000000 s after 2001-01-01Z is 2023-03-08T20:26:40Z; +02:00 local.
        assert_eq!(c.display(), "2023-03-08T22:26:40+02:00");
        let found: HashSet<String> = HashSet::new();
        let r = LibraryReport::new(&lib, &found, &Default::default());
        assert_eq!(r.library_assets, 2);
        assert_eq!(r.cloud_only.len(), 1);
        assert_eq!(r.recently_deleted.len(), 1);
        assert_eq!(r.not_found_on_device[0].path, "DCIM/100APPLE/IMG_0001.HEIC");
        assert!(r
            .cloud_only_advice()
            .unwrap()
            .starts_with("1 original is only in iCloud"));
    }

    #[test]
    fn the_old_schema_with_fewer_columns_still_reads() {
        let (_d, p) = make(
            "CREATE TABLE ZGENERICASSET(Z_PK INTEGER PRIMARY KEY, ZDIRECTORY TEXT, ZFILENAME TEXT);
             INSERT INTO ZGENERICASSET VALUES(1, '100APPLE', 'IMG_0001.JPG');",
        );
        let lib = read_library(&p).unwrap();
        assert_eq!(lib.table, "ZGENERICASSET");
        assert_eq!(lib.assets[0].path(), "DCIM/100APPLE/IMG_0001.JPG");
        assert!(lib.assets[0].capture().is_none());
        // No availability columns: cloud-only state is unknown, and the report says so.
        assert!(!lib.cloud_state_known);
        let r = LibraryReport::new(&lib, &HashSet::new(), &Default::default());
        assert!(r.cloud_only_unknown.unwrap().contains("iOS 11"));
    }

    #[test]
    fn scan_roots_are_the_outermost_folders_the_library_names() {
        let asset = |dir: &str, shared: Option<Shared>| LibraryAsset {
            shared,
            ..asset_at(dir, "IMG_0001.HEIC")
        };
        let lib = Library {
            assets: vec![
                asset("DCIM/100APPLE", None),
                asset("101APPLE", None),
                asset("PhotoData/CPLAssets/group101", None),
                asset("PhotoData/CPLAssets/group102", None),
                asset("PhotoData/CPLAssets", None),
                asset(
                    "PhotoData/PhotoCloudSharingData/x/y/100CLOUD",
                    Some(Shared::SharedAlbum),
                ),
                asset("DCIM/../../etc", None),
                asset("/etc", None),
                asset("PhotoData", None),
                asset("PhotoData/Thumbnails/V2", None),
            ],
            ..Default::default()
        };
        assert_eq!(
            scan_roots(Some(&lib)),
            ["DCIM", "PhotoData/CPLAssets"],
            "nested folders fold into their ancestors; shared and hostile folders are left out"
        );
        assert_eq!(scan_roots(None), ["DCIM", "PhotoData/CPLAssets"]);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("Photos.sqlite");
        std::fs::write(&p, b"this is not sqlite at all, just text").unwrap();
        assert!(read_library(&p).is_err());
        let (_d2, p2) = make("CREATE TABLE other(x);");
        assert!(read_library(&p2)
            .unwrap_err()
            .to_string()
            .contains("not a Photos library"));
    }

    // ===== Hostile libraries: a warning (an error here), in bounded time =====
    fn small() -> Budget {
        Budget {
            time: std::time::Duration::from_secs(2),
            steps: 50_000_000,
            rows: 1000,
            ..Budget::default()
        }
    }

    fn refused_quickly(p: &Path, budget: &Budget, why: &str) {
        let t = std::time::Instant::now();
        let e = read_library_within(p, budget).unwrap_err().to_string();
        assert!(e.contains(why), "{e}");
        // Bounded: the budget plus slack, never the minutes the query wants.
        assert!(t.elapsed() < budget.time * 10, "{:?}", t.elapsed());
    }

    #[test]
    fn a_900_mb_generated_column_is_refused_without_allocating_it() {
        let (_d, p) = make(
            "CREATE TABLE ZASSET(Z_PK INTEGER PRIMARY KEY, ZDIRECTORY TEXT,
               ZFILENAME TEXT GENERATED ALWAYS AS (zeroblob(900000000)));
             INSERT INTO ZASSET(Z_PK, ZDIRECTORY) VALUES(1, 'DCIM/100APPLE');",
        );
        // PRAGMA table_info does not list generated columns, so the reader
        // refuses this table; a query that does reach the column is stopped
        // by the length cap before SQLite allocates 900 MB.
        let budget = Budget::default();
        let t = std::time::Instant::now();
        assert!(read_library_within(&p, &budget).is_err());
        let conn = open_guarded(&p, &budget).unwrap();
        let e = conn
            .query_row("SELECT ZFILENAME FROM ZASSET", [], |r| {
                r.get::<_, Vec<u8>>(0)
            })
            .unwrap_err();
        assert!(guard_words(e).contains("longer than any"));
        assert!(t.elapsed() < std::time::Duration::from_secs(20));
    }

    #[test]
    fn a_million_row_table_scanned_per_asset_runs_out_of_time_or_steps() {
        let (_d, p) = make(
            "CREATE TABLE ZASSET(Z_PK INTEGER PRIMARY KEY, ZDIRECTORY TEXT, ZFILENAME TEXT);
             CREATE TABLE ZINTERNALRESOURCE(ZASSET, ZDATASTORESUBTYPE, ZLOCALAVAILABILITY);
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 500)
               INSERT INTO ZASSET SELECT i, 'DCIM/100APPLE', 'IMG_' || i || '.JPG' FROM n;
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 1000000)
               INSERT INTO ZINTERNALRESOURCE SELECT -i, 1, 0 FROM n;",
        );
        refused_quickly(&p, &small(), "time budget");
    }

    #[test]
    fn more_assets_than_the_row_cap_is_refused() {
        let (_d, p) = make(
            "CREATE TABLE ZASSET(Z_PK INTEGER PRIMARY KEY, ZDIRECTORY TEXT, ZFILENAME TEXT);
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 1001)
               INSERT INTO ZASSET SELECT i, 'DCIM/100APPLE', 'IMG_' || i || '.JPG' FROM n;",
        );
        refused_quickly(&p, &small(), "not a plausible library");
    }

    #[test]
    fn a_view_that_recurses_forever_ends_within_the_budget() {
        let (_d, p) = make(
            "CREATE TABLE ZASSET(Z_PK INTEGER PRIMARY KEY, ZDIRECTORY TEXT, ZFILENAME TEXT,
               ZADDITIONALATTRIBUTES INTEGER);
             INSERT INTO ZASSET VALUES(1, 'DCIM/100APPLE', 'IMG_0001.JPG', 1);
             CREATE VIEW ZADDITIONALASSETATTRIBUTES AS
               WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r)
               SELECT n AS Z_PK, n AS ZASSET, 0 AS ZTIMEZONEOFFSET, 'x' AS ZORIGINALFILENAME FROM r;",
        );
        let budget = small();
        let t = std::time::Instant::now();
        // Either read without the view, or stopped by the budget: never a hang.
        let _ = read_library_within(&p, &budget);
        assert!(t.elapsed() < budget.time * 10, "{:?}", t.elapsed());
        // A query that does reach the view is interrupted by the guard.
        let conn = open_guarded(&p, &budget).unwrap();
        let e = conn
            .query_row("SELECT count(*) FROM ZADDITIONALASSETATTRIBUTES", [], |r| {
                r.get::<_, i64>(0)
            })
            .unwrap_err();
        assert!(guard_words(e).contains("time budget"));
    }

    #[test]
    fn found_paths_are_looked_up_as_their_lower_case() {
        let long = format!("DCIM/{}.JPG", "A".repeat(300));
        let found = [
            "DCIM/100APPLE/IMG_0001.HEIC",
            "DCIM/100APPLE/É.JPG",
            "\u{212A}.jpg",
            long.as_str(),
        ];
        let set: HashSet<Lower<'_>> = found.iter().map(|p| Lower(p)).collect();
        for (p, there) in [
            ("dcim/100apple/img_0001.heic", true),
            ("DCIM/100APPLE/IMG_0001.HEIC", true),
            ("dcim/100apple/é.jpg", true),
            ("k.jpg", true),
            (long.to_lowercase().as_str(), true),
            ("dcim/100apple/img_0002.heic", false),
        ] {
            assert_eq!(set.contains(&Lower(p)), there, "{p}");
            let lowered = p.to_lowercase();
            assert_eq!(
                found.iter().any(|f| f.to_lowercase() == lowered),
                there,
                "{p}"
            );
        }
    }

    fn asset_at(directory: &str, filename: &str) -> LibraryAsset {
        LibraryAsset {
            uuid: format!("U-{filename}"),
            directory: directory.into(),
            filename: filename.into(),
            original_filename: None,
            created_utc: None,
            timezone_offset: None,
            trashed: false,
            cloud_only: false,
            original_size: None,
            shared: None,
            is_video: None,
        }
    }

    #[test]
    fn the_path_index_finds_assets_case_blind_and_never_a_hash_neighbour() {
        let lib = Library {
            assets: vec![
                asset_at("DCIM/100APPLE", "IMG_0001.HEIC"),
                asset_at("100APPLE", "IMG_0002.JPG"),
                asset_at("DCIM/100APPLE", "É.JPG"),
                // Two rows naming one file (a damaged library): both match, in order.
                asset_at("DCIM/100APPLE", "img_0001.heic"),
            ],
            ..Default::default()
        };
        let mut index = PathIndex::new(&lib);
        let found = |index: &PathIndex, p: &str| index.matches(&lib, p).collect::<Vec<_>>();
        assert_eq!(found(&index, "dcim/100apple/IMG_0001.heic"), [0, 3]);
        assert_eq!(found(&index, "DCIM/100APPLE/IMG_0002.JPG"), [1]);
        assert_eq!(found(&index, "dcim/100apple/é.jpg"), [2]);
        assert!(found(&index, "DCIM/100APPLE/IMG_0003.JPG").is_empty());
        // A key that collides with a path but belongs to another asset (what
        // a 64-bit hash collision would look like) is checked and dropped.
        let h = hash_lower(&index.state, "DCIM/100APPLE/IMG_0003.JPG");
        index.keys.push((h, 1));
        index.keys.sort_unstable();
        assert!(found(&index, "DCIM/100APPLE/IMG_0003.JPG").is_empty());
        assert_eq!(found(&index, "DCIM/100APPLE/IMG_0002.JPG"), [1]);
        // The report by position says the same as the report by paths.
        let paths: HashSet<String> = ["dcim/100apple/img_0002.jpg".to_string()].into();
        let by_set = LibraryReport::new(&lib, &paths, &Default::default());
        let by_flags =
            LibraryReport::with_found(&lib, &[false, true, false, false], &Default::default());
        assert_eq!(by_set.not_found_on_device.len(), 3);
        assert_eq!(
            serde_json::to_string(&by_set).unwrap(),
            serde_json::to_string(&by_flags).unwrap()
        );
    }
}
