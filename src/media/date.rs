//! Capture time: the local wall-clock time where an item was taken, with its
//! UTC offset when known, and where each value came from.
//!
//! The rule chain (see `docs/capture-dates.md`):
//! - stills: EXIF DateTimeOriginal (+SubSec, +OffsetTimeOriginal) →
//!   DateTimeDigitized/CreateDate (+OffsetTimeDigitized) → XMP
//!   (`photoshop:DateCreated`, `xmp:CreateDate`, `exif:DateTimeOriginal`) →
//!   IFD0 ModifyDate (+OffsetTime); a missing offset is inferred from GPS
//!   date+time when plausible;
//! - movies: QuickTime `com.apple.quicktime.creationdate` → `mvhd` → `tkhd` →
//!   `mdhd` (UTC, localised with Sony's recorded zone, the group's still, or
//!   `--timezone`/the machine's zone);
//! - then (outside this reader) a date in the file name, then the file's own
//!   time, marked as a fallback.
//!
//! Bogus values (blank, zero, impossible, the epochs, before 1900, more than a
//! day in the future) count as missing and fall through, with a note in
//! `problems` so `inspect` can say why.

use std::io::{Read, Seek};
use std::time::{SystemTime, UNIX_EPOCH};

use chrono::{
    DateTime, Datelike, Duration, FixedOffset, Local, NaiveDate, NaiveDateTime, TimeZone, Timelike,
    Utc,
};
use serde::Serialize;

use super::container::{read_still, StillMeta};
use super::{bmff, xmp, Kind};

pub use super::timefmt::{parse_exif_datetime, parse_offset, plausible};
use super::timefmt::{parse_loose, parse_subsec};

/// Where a capture time was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DateSource {
    ExifDateTimeOriginal,
    /// EXIF DateTimeDigitized (0x9004, "CreateDate").
    ExifDateTimeDigitized,
    XmpPhotoshopDateCreated,
    XmpCreateDate,
    XmpExifDateTimeOriginal,
    /// IFD0 DateTime ("ModifyDate"): often the date of an edit, hence last.
    ExifModifyDate,
    QuickTimeCreationDate,
    QuickTimeMvhd,
    QuickTimeTkhd,
    QuickTimeMdhd,
    /// The still this item belongs with (Live Photo movie, sidecar, render).
    GroupPrimary,
    /// A date and time in the file name: a fallback, not metadata.
    FileName,
    /// The file's own modification time: a fallback, not metadata.
    FileMtime,
}

impl DateSource {
    pub fn as_str(self) -> &'static str {
        match self {
            DateSource::ExifDateTimeOriginal => "EXIF DateTimeOriginal",
            DateSource::ExifDateTimeDigitized => "EXIF DateTimeDigitized (CreateDate)",
            DateSource::XmpPhotoshopDateCreated => "XMP photoshop:DateCreated",
            DateSource::XmpCreateDate => "XMP xmp:CreateDate",
            DateSource::XmpExifDateTimeOriginal => "XMP exif:DateTimeOriginal",
            DateSource::ExifModifyDate => "EXIF ModifyDate (IFD0 DateTime)",
            DateSource::QuickTimeCreationDate => "QuickTime com.apple.quicktime.creationdate",
            DateSource::QuickTimeMvhd => "QuickTime mvhd creation time (UTC)",
            DateSource::QuickTimeTkhd => "QuickTime tkhd creation time (UTC)",
            DateSource::QuickTimeMdhd => "QuickTime mdhd creation time (UTC)",
            DateSource::GroupPrimary => "the photo it belongs with",
            DateSource::FileName => "date in the file name (fallback)",
            DateSource::FileMtime => "file modification time (fallback)",
        }
    }

    /// Whether the value is a fallback rather than metadata written at capture.
    pub fn is_fallback(self) -> bool {
        matches!(self, DateSource::FileName | DateSource::FileMtime)
    }

    /// Whether the value was a UTC instant, made local with an assumed zone.
    pub fn is_utc(self) -> bool {
        matches!(
            self,
            DateSource::QuickTimeMvhd | DateSource::QuickTimeTkhd | DateSource::QuickTimeMdhd
        )
    }
}

/// Where the UTC offset came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OffsetSource {
    /// Written in the file next to the time.
    Recorded,
    /// The time was UTC; converted with the zone given by `--timezone` or the machine's.
    Assumed,
    /// Not known: the time is local with an unknown offset.
    Unknown,
    /// Inferred from the GPS date and time (UTC) in the same file.
    Gps,
    /// Taken from the group's primary (a Live Photo movie localised with its still's offset).
    Group,
}

impl OffsetSource {
    pub fn as_str(self) -> &'static str {
        match self {
            OffsetSource::Recorded => "recorded in the file",
            OffsetSource::Assumed => "assumed (--timezone or this machine's zone)",
            OffsetSource::Unknown => "unknown",
            OffsetSource::Gps => "inferred from GPS time",
            OffsetSource::Group => "from the photo it belongs with",
        }
    }
}

/// A capture time as the photographer's clock showed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CaptureTime {
    pub local: NaiveDateTime,
    /// Seconds east of UTC, when known.
    pub offset_seconds: Option<i32>,
    pub offset_source: OffsetSource,
    pub source: DateSource,
}

impl CaptureTime {
    /// The archive folder, `YYYY/MM`, by local capture time.
    pub fn folder(&self) -> String {
        format!("{:04}/{:02}", self.local.year(), self.local.month())
    }

    /// The instant, for the archived file's mtime. Without an offset the local
    /// time is read in the machine's zone.
    pub fn to_system_time(&self) -> SystemTime {
        let utc: Option<DateTime<Utc>> = match self.offset_seconds.and_then(FixedOffset::east_opt) {
            Some(off) => off
                .from_local_datetime(&self.local)
                .single()
                .map(|d| d.with_timezone(&Utc)),
            None => Local
                .from_local_datetime(&self.local)
                .earliest()
                .map(|d| d.with_timezone(&Utc)),
        };
        let utc = utc.unwrap_or_else(|| Utc.from_utc_datetime(&self.local));
        SystemTime::from(utc)
    }

    /// `2019-06-09T12:57:32+02:00`, or without the offset when unknown.
    pub fn display(&self) -> String {
        let base = self.local.format("%Y-%m-%dT%H:%M:%S").to_string();
        match self.offset_seconds {
            Some(s) => format!("{base}{}", format_offset(s)),
            None => base,
        }
    }

    pub fn from_system_time(t: SystemTime, source: DateSource) -> CaptureTime {
        let d: DateTime<Local> = t.into();
        CaptureTime {
            local: d.naive_local(),
            offset_seconds: Some(d.offset().local_minus_utc()),
            offset_source: OffsetSource::Assumed,
            source,
        }
    }

    /// The UTC instant, when the offset is known.
    pub fn utc(&self) -> Option<NaiveDateTime> {
        Some(self.local - Duration::seconds(i64::from(self.offset_seconds?)))
    }

    /// Re-expresses a time that was UTC in the file (`mvhd`/`tkhd`/`mdhd`,
    /// made local with an *assumed* zone) in another offset, marking the
    /// offset as coming from the group. Any other capture time is returned
    /// unchanged: a recorded local time is never shifted.
    pub fn relocalize(&self, offset_seconds: i32) -> CaptureTime {
        if !(self.source.is_utc() && self.offset_source == OffsetSource::Assumed) {
            return *self;
        }
        let (Some(utc), true) = (self.utc(), offset_seconds.abs() <= 14 * 3600) else {
            return *self;
        };
        CaptureTime {
            local: utc + Duration::seconds(i64::from(offset_seconds)),
            offset_seconds: Some(offset_seconds),
            offset_source: OffsetSource::Group,
            source: self.source,
        }
    }
}

/// Localises a group member (a Live Photo movie whose only date is UTC) with
/// the primary's offset, when the primary's offset is real (recorded or
/// GPS-inferred, not assumed). Anything else is returned unchanged.
pub fn localize_for_group(primary: &CaptureTime, member: &CaptureTime) -> CaptureTime {
    match (primary.offset_seconds, primary.offset_source) {
        (Some(off), OffsetSource::Recorded | OffsetSource::Gps) => member.relocalize(off),
        _ => *member,
    }
}

pub fn format_offset(seconds: i32) -> String {
    let sign = if seconds < 0 { '-' } else { '+' };
    let a = seconds.unsigned_abs();
    format!("{sign}{:02}:{:02}", a / 3600, (a % 3600) / 60)
}

/// Options for reading dates.
#[derive(Debug, Clone, Default)]
pub struct DateOptions {
    /// Zone for UTC-only video times; `None` = the machine's zone.
    pub timezone: Option<FixedOffset>,
}

/// What camroll reads from a media file.
#[derive(Debug, Clone, Serialize)]
pub struct MediaInfo {
    /// From metadata; `None` when the file carries no usable date.
    pub capture: Option<CaptureTime>,
    /// Apple's ContentIdentifier (Live Photo pairing), when present.
    pub content_identifier: Option<String>,
    /// Metadata that could not be read or was rejected, in words.
    pub problems: Vec<String>,
}

/// Reads the capture time (and pairing identifier) of one file. Reads only
/// metadata segments/boxes, never whole files; never panics on bad input.
pub fn read_media_info<R: Read + Seek>(r: &mut R, kind: Kind, opts: &DateOptions) -> MediaInfo {
    let mut info = MediaInfo {
        capture: None,
        content_identifier: None,
        problems: Vec::new(),
    };
    match kind {
        Kind::QuickTime | Kind::Mp4 => {
            let m = bmff::read_movie(r);
            movie_capture(&m, opts, &mut info);
        }
        Kind::Aae => {}
        _ => {
            let m = read_still(r, kind);
            still_capture(m, &mut info);
        }
    }
    info
}

/// Applies the still rule chain to the metadata found in a still.
pub fn still_capture(m: StillMeta, info: &mut MediaInfo) {
    let e = &m.exif;
    info.problems.extend(m.problems.iter().cloned());
    info.content_identifier = e.content_identifier.clone();
    let exif_rules = [
        (
            DateSource::ExifDateTimeOriginal,
            &e.date_time_original,
            &e.subsec_original,
            &e.offset_original,
        ),
        (
            DateSource::ExifDateTimeDigitized,
            &e.date_time_digitized,
            &e.subsec_digitized,
            &e.offset_digitized,
        ),
    ];
    let mut found = None;
    for (source, value, subsec, offset) in exif_rules {
        if let Some(c) = exif_value(source, value, subsec, offset, &mut info.problems) {
            found = Some(c);
            break;
        }
    }
    if found.is_none() {
        if let Some(packet) = &m.xmp {
            for (name, value) in xmp::date_properties(packet) {
                let source = match name {
                    "photoshop:DateCreated" => DateSource::XmpPhotoshopDateCreated,
                    "xmp:CreateDate" => DateSource::XmpCreateDate,
                    _ => DateSource::XmpExifDateTimeOriginal,
                };
                match parse_loose(&value) {
                    Some((local, off)) => {
                        found = Some(with_offset(local, off, source));
                        break;
                    }
                    None => info
                        .problems
                        .push(format!("XMP {name} {value:?} is not a usable date")),
                }
            }
        }
    }
    if found.is_none() {
        found = exif_value(
            DateSource::ExifModifyDate,
            &e.modify_date,
            &e.subsec,
            &e.offset_time,
            &mut info.problems,
        );
    }
    if let Some(c) = found.as_mut() {
        if c.offset_seconds.is_none() {
            if let Some(off) = gps_offset(c.local, e.gps_date.as_deref(), e.gps_time) {
                c.offset_seconds = Some(off);
                c.offset_source = OffsetSource::Gps;
            }
        }
    }
    info.capture = found;
}

fn with_offset(local: NaiveDateTime, off: Option<i32>, source: DateSource) -> CaptureTime {
    CaptureTime {
        local,
        offset_seconds: off,
        offset_source: if off.is_some() {
            OffsetSource::Recorded
        } else {
            OffsetSource::Unknown
        },
        source,
    }
}

/// One EXIF date tag with its sub-seconds and offset tags; bogus values are
/// noted and give `None`. Non-standard `2024-04-22T14:38:09GMT+2` forms are
/// accepted too.
fn exif_value(
    source: DateSource,
    value: &Option<String>,
    subsec: &Option<String>,
    offset: &Option<String>,
    problems: &mut Vec<String>,
) -> Option<CaptureTime> {
    let v = value.as_deref()?;
    let (mut local, inline_off) = match parse_exif_datetime(v) {
        Some(d) => (d, None),
        None => match parse_loose(v) {
            Some(x) => x,
            None => {
                let shown = if v.is_empty() {
                    "empty".to_string()
                } else {
                    format!("{v:?}")
                };
                problems.push(format!("{} is {shown}: not a usable date", source.as_str()));
                return None;
            }
        },
    };
    if let Some(ns) = subsec.as_deref().and_then(parse_subsec) {
        if local.nanosecond() == 0 {
            local = local.with_nanosecond(ns).unwrap_or(local);
        }
    }
    let off = offset.as_deref().and_then(parse_offset).or(inline_off);
    Some(with_offset(local, off, source))
}

/// The offset implied by GPS date+time (UTC) against a local time: rounded to
/// 15 minutes, within ±14 h. `None` when GPS date or time is missing or
/// malformed (a GPS date without time must not be read as midnight UTC).
pub fn gps_offset(
    local: NaiveDateTime,
    gps_date: Option<&str>,
    gps_secs: Option<f64>,
) -> Option<i32> {
    let date = gps_date?.trim_matches(|c: char| c == '\0' || c.is_whitespace());
    // Exactly YYYY:MM:DD (some writers use '-'); anything longer is malformed.
    if date.len() != 10 {
        return None;
    }
    let d = NaiveDate::parse_from_str(date, "%Y:%m:%d")
        .or_else(|_| NaiveDate::parse_from_str(date, "%Y-%m-%d"))
        .ok()?;
    let secs = gps_secs?;
    if !(0.0..86_401.0).contains(&secs) {
        return None;
    }
    let utc = d.and_hms_opt(0, 0, 0)? + Duration::milliseconds((secs * 1000.0).round() as i64);
    if !plausible(utc) {
        return None;
    }
    let diff = (local - utc).num_seconds();
    let quarter = 15 * 60;
    let rounded = ((diff as f64) / quarter as f64).round() as i64 * quarter;
    (rounded.abs() <= 14 * 3600).then_some(rounded as i32)
}

/// Applies the movie rule chain.
fn movie_capture(m: &bmff::MovieMeta, opts: &DateOptions, info: &mut MediaInfo) {
    info.problems.extend(m.problems.iter().cloned());
    info.content_identifier = m
        .key("com.apple.quicktime.content.identifier")
        .map(|s| s.trim().to_string());
    if let Some(v) = m.key("com.apple.quicktime.creationdate") {
        match parse_loose(v) {
            Some((local, off)) => {
                info.capture = Some(with_offset(local, off, DateSource::QuickTimeCreationDate));
                return;
            }
            None => info
                .problems
                .push(format!("QuickTime creationdate {v:?} is not a usable date")),
        }
    }
    let candidates = m
        .mvhd
        .map(|s| (DateSource::QuickTimeMvhd, s))
        .into_iter()
        .chain(m.tkhd.iter().map(|&s| (DateSource::QuickTimeTkhd, s)))
        .chain(m.mdhd.iter().map(|&s| (DateSource::QuickTimeMdhd, s)));
    for (source, secs) in candidates {
        // Seconds since 1904-01-01 UTC; 0 means "not set".
        let unix = secs as i64 - 2_082_844_800;
        let Some(utc) = DateTime::<Utc>::from_timestamp(unix, 0) else {
            continue;
        };
        if secs == 0 || !plausible(utc.naive_utc()) {
            if secs != 0 {
                info.problems.push(format!(
                    "{} {} is not a usable date",
                    source.as_str(),
                    utc.naive_utc()
                ));
            }
            continue;
        }
        let (off, offset_source) = match (m.sony_tz_minutes, opts.timezone) {
            (Some(min), _) if i32::from(min).abs() <= 14 * 60 => {
                (i32::from(min) * 60, OffsetSource::Recorded)
            }
            (_, Some(tz)) => (tz.local_minus_utc(), OffsetSource::Assumed),
            _ => (
                utc.with_timezone(&Local).offset().local_minus_utc(),
                OffsetSource::Assumed,
            ),
        };
        info.capture = Some(CaptureTime {
            local: utc.naive_utc() + Duration::seconds(i64::from(off)),
            offset_seconds: Some(off),
            offset_source,
            source,
        });
        return;
    }
}

/// A date and time in a file name, for files without metadata dates:
/// `Screenshot 2019-05-21 at 10.45.52.png`, `telegram_2020-01-30_09-57-18.jpg`,
/// `IMG_20190512_171353.jpg`, `VID-20200101-WA0001`-style names are not
/// matched (no time). The offset is unknown.
pub fn date_from_name(name: &str) -> Option<CaptureTime> {
    let b = name.as_bytes();
    let digit = |i: usize| b.get(i).is_some_and(|c| c.is_ascii_digit());
    let num = |i: usize, n: usize| -> Option<u32> { name.get(i..i + n)?.parse().ok() };
    for start in 0..b.len() {
        if !digit(start) || (start > 0 && digit(start - 1)) {
            continue;
        }
        let mut p = start;
        let Some(year) = num(p, 4) else { continue };
        if !(1990..=2100).contains(&year) || !(0..4).all(|k| digit(p + k)) {
            continue;
        }
        p += 4;
        let mut parts = [0u32; 5];
        let mut ok = true;
        for (k, part) in parts.iter_mut().enumerate() {
            // Separators: none, or one of -_.: ; before the hour also " at " / "T" / " ".
            if k == 2 {
                let rest = &name[p..];
                let skip = [" at ", "_at_", "T", "_", "-", " ", "."]
                    .iter()
                    .find(|s| rest.starts_with(**s))
                    .map_or(0, |s| s.len());
                p += skip;
            } else if b.get(p).is_some_and(|c| b"-_.:".contains(c)) {
                p += 1;
            }
            if !(digit(p) && digit(p + 1)) {
                ok = false;
                break;
            }
            *part = num(p, 2).unwrap_or(99);
            p += 2;
        }
        if !ok {
            continue;
        }
        let [mo, d, h, mi, s] = parts;
        let Some(dt) =
            NaiveDate::from_ymd_opt(year as i32, mo, d).and_then(|d| d.and_hms_opt(h, mi, s))
        else {
            continue;
        };
        if plausible(dt) {
            return Some(CaptureTime {
                local: dt,
                offset_seconds: None,
                offset_source: OffsetSource::Unknown,
                source: DateSource::FileName,
            });
        }
    }
    None
}

/// The capture time the archive uses for one file on its own: its metadata
/// date, else a date in its name, else its own time (mtime or birth time),
/// each marked with its source.
pub fn capture_or_fallback(
    info: &MediaInfo,
    file_name: &str,
    file_time: Option<SystemTime>,
) -> CaptureTime {
    info.capture
        .or_else(|| date_from_name(file_name))
        .unwrap_or_else(|| fallback_capture(file_time))
}

/// The file's own time as a capture time, marked as a fallback.
pub fn fallback_capture(mtime: Option<SystemTime>) -> CaptureTime {
    CaptureTime::from_system_time(mtime.unwrap_or(UNIX_EPOCH), DateSource::FileMtime)
}
