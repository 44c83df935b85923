//! The project's fixture camera roll: a small, deterministic DCIM tree that
//! exercises every filing rule (see docs/fixtures.md), and the table of what
//! an export must make of it (`EXPECTED.tsv`).
//!
//! `examples/make_fixtures.rs` writes it under `fixtures/camera-roll/`; tests
//! can also call [`write_roll`] into a temp dir, which sets every file's mtime
//! too (git does not keep mtimes, and the no-metadata file is filed by it).

use std::path::{Path, PathBuf};

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, Offset, TimeZone, Utc};

use super::{aae, heic, jpeg, mov, mp4, png, AaeSpec, MovieLead, PngSpec, StillSpec, VideoSpec};

/// What an export must do with one file of the roll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Written to `archive`.
    Copied,
    /// Same bytes as a file already archived at `archive`: not written again.
    Duplicate,
    /// Not media: listed as skipped.
    Skipped,
}

impl Status {
    /// The word used in the roll's table: `copied`, `duplicate` or `skipped`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Copied => "copied",
            Status::Duplicate => "duplicate",
            Status::Skipped => "skipped",
        }
    }
}

/// One file of the fixture roll and its expected fate.
#[derive(Debug, Clone)]
pub struct RollFile {
    /// Path below the roll's root, `/`-separated.
    pub path: &'static str,
    /// The file's content.
    pub bytes: Vec<u8>,
    /// The file's modification time (different from its capture time on
    /// purpose, so filing by mtime instead of metadata shows).
    pub mtime: DateTime<Utc>,
    /// What an export must do with it.
    pub status: Status,
    /// Archive path (relative to ARCHIVE): where it goes, or for a duplicate
    /// the archived file it duplicates. `None` when skipped.
    pub archive: Option<String>,
    /// The file's own capture time as camroll reads it (`CaptureTime::display`).
    /// Rows from UTC-only sources (mvhd, mtime) are given for the zone UTC.
    pub capture: Option<String>,
    /// `DateSource` in its serde (snake_case) spelling.
    pub date_source: Option<&'static str>,
    /// Kind by content (`Kind::name`).
    pub kind: Option<&'static str>,
    /// `Role` in its serde spelling.
    pub role: Option<&'static str>,
    /// What the file is there to test.
    pub note: &'static str,
}

/// Content identifier of the Live Photo `IMG_0100` (still and movie).
pub const LIVE_ID_0100: &str = "5E1C7B0A-3A2D-4C1B-9F7E-0D1A2B3C4D5E";
/// Content identifier of the Live Photo `IMG_2001` (still and movie).
pub const LIVE_ID_2001: &str = "A0B1C2D3-E4F5-4A6B-8C7D-9E0F1A2B3C4D";

const MODEL: &str = "iPhone 12";

fn ndt(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> NaiveDateTime {
    NaiveDate::from_ymd_opt(y, mo, d)
        .and_then(|d| d.and_hms_opt(h, mi, s))
        .unwrap_or_default()
}

/// A whole-hour offset; the roll only uses valid ones (±14 h), UTC otherwise.
fn off(hours: i32) -> FixedOffset {
    FixedOffset::east_opt(hours * 3600).unwrap_or_else(|| Utc.fix())
}

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
    Utc.from_utc_datetime(&ndt(y, mo, d, h, mi, s))
}

fn local(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32, offset_h: i32) -> DateTime<FixedOffset> {
    let o = off(offset_h);
    o.from_local_datetime(&ndt(y, mo, d, h, mi, s))
        .single()
        .unwrap_or_else(|| o.from_utc_datetime(&ndt(y, mo, d, h, mi, s)))
}

fn still(seed: u64, when: DateTime<FixedOffset>) -> StillSpec {
    StillSpec::iphone(seed, MODEL, when.naive_local(), Some(*when.offset()))
}

fn display(when: DateTime<FixedOffset>) -> String {
    when.format("%Y-%m-%dT%H:%M:%S%:z").to_string()
}

/// When the roll's files were "copied off the phone": every file's mtime
/// except where a row needs its own.
fn copied_at() -> DateTime<Utc> {
    utc(2024, 6, 1, 12, 0, 0)
}

#[allow(clippy::too_many_arguments)]
fn row(
    path: &'static str,
    bytes: Vec<u8>,
    status: Status,
    archive: Option<&str>,
    capture: Option<String>,
    date_source: Option<&'static str>,
    kind: Option<&'static str>,
    role: Option<&'static str>,
    note: &'static str,
) -> RollFile {
    RollFile {
        path,
        bytes,
        mtime: copied_at(),
        status,
        archive: archive.map(str::to_string),
        capture,
        date_source,
        kind,
        role,
        note,
    }
}

const EXIF: Option<&str> = Some("exif_date_time_original");
const QT_KEYS: Option<&str> = Some("quick_time_creation_date");
const PRIMARY: Option<&str> = Some("primary");

/// The fixture roll, in the order an export processes it (sorted paths).
pub fn fixture_roll() -> Vec<RollFile> {
    use Status::*;
    let mut v = Vec::new();

    // --- DCIM/100APPLE: the classic camera folder.
    let t = local(2023, 7, 14, 18, 22, 5, 2);
    v.push(row(
        "DCIM/100APPLE/IMG_0001.JPG",
        jpeg(&still(1, t)),
        Copied,
        Some("2023/07/IMG_0001.JPG"),
        Some(display(t)),
        EXIF,
        Some("jpeg"),
        PRIMARY,
        "JPEG with offset; first of two different IMG_0001.JPG",
    ));

    let t = local(2023, 7, 15, 9, 10, 11, 2);
    let heic_0002 = heic(&still(2, t));
    v.push(row(
        "DCIM/100APPLE/IMG_0002.HEIC",
        heic_0002.clone(),
        Copied,
        Some("2023/07/IMG_0002.HEIC"),
        Some(display(t)),
        EXIF,
        Some("heif"),
        PRIMARY,
        "HEIC; also present as DCIM/101APPLE/IMG_0902.HEIC",
    ));

    let t = local(2023, 8, 2, 14, 0, 0, 2);
    let shot = PngSpec {
        exif: Some(StillSpec {
            taken: Some(t.naive_local()),
            offset: Some(*t.offset()),
            ..StillSpec::bare(3)
        }),
        xmp_date: Some(t),
        width: 48,
        height: 96,
        ..PngSpec::bare(3)
    };
    v.push(row(
        "DCIM/100APPLE/IMG_0003.PNG",
        png(&shot),
        Copied,
        Some("2023/08/IMG_0003.PNG"),
        Some(display(t)),
        EXIF,
        Some("png"),
        PRIMARY,
        "screenshot: PNG with eXIf and XMP dates",
    ));

    let t = local(2023, 7, 20, 20, 15, 30, 2);
    v.push(row(
        "DCIM/100APPLE/IMG_0004.MOV",
        mov(&VideoSpec::iphone(4, MODEL, t)),
        Copied,
        Some("2023/07/IMG_0004.MOV"),
        Some(display(t)),
        QT_KEYS,
        Some("quicktime"),
        PRIMARY,
        "video: creationdate with offset beats mvhd (UTC)",
    ));

    let when = utc(2022, 8, 15, 12, 0, 0);
    let clip = VideoSpec {
        created_utc: Some(when),
        ..VideoSpec::bare(5)
    };
    v.push(row(
        "DCIM/100APPLE/IMG_0005.MP4",
        mp4(&clip),
        Copied,
        Some("2022/08/IMG_0005.MP4"),
        Some("2022-08-15T12:00:00+00:00".into()),
        Some("quick_time_mvhd"),
        Some("mp4"),
        PRIMARY,
        "MP4 with only mvhd (UTC); noon mid-month so every zone files it in 2022/08",
    ));

    // Live Photo: still at 23:59:59 on 31 January, its movie's own date in February.
    let t = local(2023, 1, 31, 23, 59, 59, 1);
    let ts = AaeSpec::new(100, utc(2023, 2, 3, 10, 0, 0));
    let mut aae_row = row(
        "DCIM/100APPLE/IMG_0100.AAE",
        aae(&ts),
        Copied,
        Some("2023/01/IMG_0100.AAE"),
        Some("2023-02-03T10:00:00+00:00".into()),
        Some("file_mtime"),
        Some("aae"),
        Some("sidecar"),
        "edit sidecar: no date of its own (mtime in February); filed with its still",
    );
    aae_row.mtime = ts.timestamp;
    v.push(aae_row);
    let live = StillSpec {
        content_identifier: Some(LIVE_ID_0100.into()),
        ..still(100, t)
    };
    v.push(row(
        "DCIM/100APPLE/IMG_0100.HEIC",
        heic(&live),
        Copied,
        Some("2023/01/IMG_0100.HEIC"),
        Some(display(t)),
        EXIF,
        Some("heif"),
        PRIMARY,
        "Live Photo still, 23:59:59 on the last day of the month",
    ));
    let mt = local(2023, 2, 1, 0, 0, 1, 1);
    let live_mov = VideoSpec {
        content_identifier: Some(LIVE_ID_0100.into()),
        ..VideoSpec::iphone(100, MODEL, mt)
    };
    v.push(row(
        "DCIM/100APPLE/IMG_0100.MOV",
        mov(&live_mov),
        Copied,
        Some("2023/01/IMG_0100.MOV"),
        Some(display(mt)),
        QT_KEYS,
        Some("quicktime"),
        Some("live_photo_movie"),
        "Live Photo movie: own date in February, filed with its still",
    ));

    let t = local(2023, 3, 10, 12, 0, 0, 1);
    v.push(row(
        "DCIM/100APPLE/IMG_0200.HEIC",
        jpeg(&still(200, t)),
        Copied,
        Some("2023/03/IMG_0200.HEIC"),
        Some(display(t)),
        EXIF,
        Some("jpeg"),
        PRIMARY,
        "a JPEG named .HEIC: kind by content, name kept",
    ));

    let mut bare = row(
        "DCIM/100APPLE/IMG_0300.JPG",
        jpeg(&StillSpec::bare(300)),
        Copied,
        Some("2022/05/IMG_0300.JPG"),
        Some("2022-05-15T12:00:00+00:00".into()),
        Some("file_mtime"),
        Some("jpeg"),
        PRIMARY,
        "no metadata at all: filed by mtime (noon mid-month: same folder in every zone)",
    );
    bare.mtime = utc(2022, 5, 15, 12, 0, 0);
    v.push(bare);

    let t = local(2023, 12, 31, 23, 30, 0, -5);
    v.push(row(
        "DCIM/100APPLE/IMG_1231.JPG",
        jpeg(&still(1231, t)),
        Copied,
        Some("2023/12/IMG_1231.JPG"),
        Some(display(t)),
        EXIF,
        Some("jpeg"),
        PRIMARY,
        "New Year's Eve at -05:00: UTC (and GPS time) already 2024-01-01",
    ));

    // The edited render keeps its original's DateTimeOriginal, as Photos writes it.
    let t = local(2023, 1, 31, 23, 59, 59, 1);
    v.push(row(
        "DCIM/100APPLE/IMG_E0100.JPG",
        jpeg(&StillSpec {
            software: Some("Photos 9.0".into()),
            ..still(1100, t)
        }),
        Copied,
        Some("2023/01/IMG_E0100.JPG"),
        Some(display(t)),
        EXIF,
        Some("jpeg"),
        Some("edited_render"),
        "edited render of IMG_0100",
    ));

    v.push(row(
        "DCIM/100APPLE/notes.txt",
        b"Not a photo: camroll lists this file as skipped.\n".to_vec(),
        Skipped,
        None,
        None,
        None,
        None,
        None,
        "not media",
    ));

    // --- DCIM/101APPLE: a second camera folder, reusing numbers.
    let t = local(2023, 7, 2, 8, 0, 0, 2);
    v.push(row(
        "DCIM/101APPLE/IMG_0001.JPG",
        jpeg(&still(10001, t)),
        Copied,
        Some("2023/07/IMG_0001~2.JPG"),
        Some(display(t)),
        EXIF,
        Some("jpeg"),
        PRIMARY,
        "a different IMG_0001.JPG, same month: collision suffix ~2",
    ));
    let t = local(2023, 7, 15, 9, 10, 11, 2);
    v.push(row(
        "DCIM/101APPLE/IMG_0902.HEIC",
        heic_0002,
        Duplicate,
        Some("2023/07/IMG_0002.HEIC"),
        Some(display(t)),
        EXIF,
        Some("heif"),
        PRIMARY,
        "exact duplicate of DCIM/100APPLE/IMG_0002.HEIC",
    ));

    // --- DCIM/202401__: the newer YYYYMM__ folder naming.
    let t = local(2024, 1, 5, 10, 0, 0, 1);
    let live2 = StillSpec {
        content_identifier: Some(LIVE_ID_2001.into()),
        ..still(2001, t)
    };
    v.push(row(
        "DCIM/202401__/IMG_2001.HEIC",
        heic(&live2),
        Copied,
        Some("2024/01/IMG_2001.HEIC"),
        Some(display(t)),
        EXIF,
        Some("heif"),
        PRIMARY,
        "Live Photo still in a YYYYMM__ folder",
    ));
    let mt = local(2024, 1, 5, 10, 0, 1, 1);
    let live2_mov = VideoSpec {
        content_identifier: Some(LIVE_ID_2001.into()),
        lead: MovieLead::Mdat,
        ..VideoSpec::iphone(2001, MODEL, mt)
    };
    v.push(row(
        "DCIM/202401__/IMG_2001.MOV",
        mov(&live2_mov),
        Copied,
        Some("2024/01/IMG_2001.MOV"),
        Some(display(mt)),
        QT_KEYS,
        Some("quicktime"),
        Some("live_photo_movie"),
        "Live Photo movie that starts with mdat (no ftyp), as pulled over AFC",
    ));
    let t = local(2024, 1, 6, 16, 45, 0, 1);
    v.push(row(
        "DCIM/202401__/IMG_2002.JPG",
        jpeg(&still(2002, t)),
        Copied,
        Some("2024/01/IMG_2002.JPG"),
        Some(display(t)),
        EXIF,
        Some("jpeg"),
        PRIMARY,
        "JPEG in a YYYYMM__ folder",
    ));

    v.push(row(
        "EXPECTED.tsv",
        Vec::new(),
        Skipped,
        None,
        None,
        None,
        None,
        None,
        "this table (not media)",
    ));
    v
}

/// The `EXPECTED.tsv` text for `files` (header line, then one row per file).
pub fn expected_tsv(files: &[RollFile]) -> String {
    let mut out =
        String::from("source\tstatus\tarchive\tcapture\tdate_source\tkind\trole\tmtime\tnote\n");
    for f in files {
        let dash = |s: Option<&str>| s.unwrap_or("-").to_string();
        out.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\n",
            f.path,
            f.status.as_str(),
            dash(f.archive.as_deref()),
            dash(f.capture.as_deref()),
            dash(f.date_source),
            dash(f.kind),
            dash(f.role),
            f.mtime.format("%Y-%m-%dT%H:%M:%SZ"),
            f.note
        ));
    }
    out
}

/// Errors writing the roll, naming the file.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {source}")]
pub struct RollError {
    /// The file that could not be written.
    pub path: PathBuf,
    /// What the OS reported.
    pub source: std::io::Error,
}

/// Writes the fixture roll under `root` (created if needed): every file, its
/// mtime, and `EXPECTED.tsv`. Existing files are replaced.
pub fn write_roll(root: &Path) -> Result<Vec<RollFile>, RollError> {
    let mut files = fixture_roll();
    let tsv = expected_tsv(&files);
    for f in &mut files {
        if f.path == "EXPECTED.tsv" {
            f.bytes = tsv.clone().into_bytes();
        }
        let path = root.join(f.path);
        let err = |source| RollError {
            path: path.clone(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        std::fs::write(&path, &f.bytes).map_err(err)?;
    }
    apply_mtimes(root, &files)?;
    Ok(files)
}

/// Sets each file's mtime under `root` as the roll defines it: for a copy of
/// the committed `fixtures/camera-roll` (git does not keep mtimes).
pub fn apply_mtimes(root: &Path, files: &[RollFile]) -> Result<(), RollError> {
    for f in files {
        let path = root.join(f.path);
        let t = filetime::FileTime::from_unix_time(f.mtime.timestamp(), 0);
        filetime::set_file_mtime(&path, t).map_err(|source| RollError {
            path: path.clone(),
            source,
        })?;
    }
    Ok(())
}
