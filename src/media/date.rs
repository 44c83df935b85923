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
    /// EXIF DateTimeOriginal (0x9003): when the shutter fired.
    ExifDateTimeOriginal,
    /// EXIF DateTimeDigitized (0x9004, "CreateDate").
    ExifDateTimeDigitized,
    /// XMP `photoshop:DateCreated`.
    XmpPhotoshopDateCreated,
    /// XMP `xmp:CreateDate`.
    XmpCreateDate,
    /// XMP `exif:DateTimeOriginal`.
    XmpExifDateTimeOriginal,
    /// IFD0 DateTime ("ModifyDate"): often the date of an edit, hence last.
    ExifModifyDate,
    /// QuickTime `com.apple.quicktime.creationdate` (iPhone movies: local time with its offset).
    QuickTimeCreationDate,
    /// Classic QuickTime user data `©day` (older iPhones, cameras).
    QuickTimeUserDataDay,
    /// The movie header (`mvhd`) creation time, UTC.
    QuickTimeMvhd,
    /// A track header (`tkhd`) creation time, UTC.
    QuickTimeTkhd,
    /// A media header (`mdhd`) creation time, UTC.
    QuickTimeMdhd,
    /// The still this item belongs with (Live Photo movie, sidecar, render).
    GroupPrimary,
    /// The capture date and zone the phone's Photos library recorded
    /// (Photos.sqlite), for files that carry none.
    PhotosLibrary,
    /// A date and time in the file name: a fallback, not metadata.
    FileName,
    /// The file's own modification time: a fallback, not metadata.
    FileMtime,
}

impl DateSource {
    /// How `inspect` and warnings name it, e.g. `EXIF DateTimeOriginal`.
    pub fn as_str(self) -> &'static str {
        match self {
            DateSource::ExifDateTimeOriginal => "EXIF DateTimeOriginal",
            DateSource::ExifDateTimeDigitized => "EXIF DateTimeDigitized (CreateDate)",
            DateSource::XmpPhotoshopDateCreated => "XMP photoshop:DateCreated",
            DateSource::XmpCreateDate => "XMP xmp:CreateDate",
            DateSource::XmpExifDateTimeOriginal => "XMP exif:DateTimeOriginal",
            DateSource::ExifModifyDate => "EXIF ModifyDate (IFD0 DateTime)",
            DateSource::QuickTimeCreationDate => "QuickTime com.apple.quicktime.creationdate",
            DateSource::QuickTimeUserDataDay => "QuickTime user data \u{a9}day",
            DateSource::QuickTimeMvhd => "QuickTime mvhd creation time (UTC)",
            DateSource::QuickTimeTkhd => "QuickTime tkhd creation time (UTC)",
            DateSource::QuickTimeMdhd => "QuickTime mdhd creation time (UTC)",
            DateSource::GroupPrimary => "the photo it belongs with",
            DateSource::PhotosLibrary => "the iPhone's Photos library (Photos.sqlite)",
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
    /// How `inspect` and warnings describe it, e.g. `recorded in the file`.
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
    /// The date and time on the photographer's clock, without zone.
    pub local: NaiveDateTime,
    /// Seconds east of UTC, when known.
    pub offset_seconds: Option<i32>,
    /// How the offset was found (or that it was not).
    pub offset_source: OffsetSource,
    /// Where the date and time were read from.
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

    /// A capture time from a file time (e.g. the modification time), localised in the machine's zone.
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
        self.local
            .checked_sub_signed(Duration::seconds(i64::from(self.offset_seconds?)))
    }

    /// Re-expresses a time that was UTC in the file (`mvhd`/`tkhd`/`mdhd`,
    /// made local with an *assumed* zone) in another offset, marking the
    /// offset as coming from the group. Any other capture time is returned
    /// unchanged: a recorded local time is never shifted.
    pub fn relocalize(&self, offset_seconds: i32) -> CaptureTime {
        if !(self.source.is_utc() && self.offset_source == OffsetSource::Assumed) {
            return *self;
        }
        let local = self
            .utc()
            .filter(|_| offset_seconds.abs() <= 14 * 3600)
            .and_then(|utc| utc.checked_add_signed(Duration::seconds(i64::from(offset_seconds))));
        let Some(local) = local else { return *self };
        CaptureTime {
            local,
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

/// A UTC offset in seconds as `+HH:MM` / `-HH:MM`.
pub fn format_offset(seconds: i32) -> String {
    let sign = if seconds < 0 { '-' } else { '+' };
    let a = seconds.unsigned_abs();
    format!("{sign}{:02}:{:02}", a / 3600, (a % 3600) / 60)
}

/// A time zone as people name it: a fixed UTC offset (`+05:30`, `UTC`), or an
/// IANA zone (`Europe/Paris`) whose offset is looked up for each instant, so
/// daylight-saving time is right for every capture date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zone {
    /// The same offset all year.
    Fixed(FixedOffset),
    /// An IANA time-zone database entry.
    Iana(chrono_tz::Tz),
}

/// A `--timezone` value that is neither a UTC offset nor an IANA zone name.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0:?} is not a time zone: use a UTC offset like +05:30, -0500 or UTC, or an IANA zone name like Europe/Paris")]
pub struct ZoneError(pub String);

impl Zone {
    /// UTC itself.
    pub const UTC: Zone = Zone::Iana(chrono_tz::UTC);

    /// Seconds east of UTC at the instant `utc`.
    pub fn offset_at(&self, utc: DateTime<Utc>) -> i32 {
        use chrono::Offset;
        match self {
            Zone::Fixed(f) => f.local_minus_utc(),
            Zone::Iana(tz) => utc.with_timezone(tz).offset().fix().local_minus_utc(),
        }
    }
}

impl std::str::FromStr for Zone {
    type Err = ZoneError;

    /// `UTC`, `Z`, `GMT`, `+05:30`, `-05:00`, `+0530`, `+2`, `UTC+2`, or an IANA
    /// name (`Europe/Paris`; matched ignoring case, as people type it).
    fn from_str(s: &str) -> Result<Zone, ZoneError> {
        let t = s.trim();
        if ["UTC", "Z", "GMT", "UT"]
            .iter()
            .any(|u| t.eq_ignore_ascii_case(u))
        {
            return Ok(Zone::Fixed(FixedOffset::east_opt(0).expect("zero offset")));
        }
        if let Some(f) = parse_offset(t).and_then(FixedOffset::east_opt) {
            return Ok(Zone::Fixed(f));
        }
        chrono_tz::Tz::from_str_insensitive(t)
            .map(Zone::Iana)
            .map_err(|_| ZoneError(s.to_string()))
    }
}

impl std::fmt::Display for Zone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Zone::Fixed(o) => f.write_str(&format_offset(o.local_minus_utc())),
            Zone::Iana(tz) => f.write_str(tz.name()),
        }
    }
}

/// Options for reading dates.
#[derive(Debug, Clone, Default)]
pub struct DateOptions {
    /// Zone for UTC-only video times; `None` = the machine's zone.
    pub timezone: Option<Zone>,
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
    let utc = d
        .and_hms_opt(0, 0, 0)?
        .checked_add_signed(Duration::milliseconds((secs * 1000.0).round() as i64))?;
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
    let keyed = [
        (
            "com.apple.quicktime.creationdate",
            DateSource::QuickTimeCreationDate,
        ),
        (bmff::DAY_KEY, DateSource::QuickTimeUserDataDay),
    ];
    for (key, source) in keyed {
        let Some(v) = m.key(key) else { continue };
        match parse_loose(v) {
            Some((local, off)) => {
                info.capture = Some(with_offset(local, off, source));
                return;
            }
            None => info
                .problems
                .push(format!("{} {v:?} is not a usable date", source.as_str())),
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
            (_, Some(tz)) => (tz.offset_at(utc), OffsetSource::Assumed),
            _ => (
                utc.with_timezone(&Local).offset().local_minus_utc(),
                OffsetSource::Assumed,
            ),
        };
        info.capture = Some(CaptureTime {
            local: utc
                .naive_utc()
                .checked_add_signed(Duration::seconds(i64::from(off)))
                .unwrap_or(utc.naive_utc()),
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

/// For a file without a metadata date: a date in its name, else its own
/// time (mtime, or birth time on a device), each marked as a fallback.
pub fn fallback_for(file_name: &str, file_time: Option<SystemTime>) -> CaptureTime {
    date_from_name(file_name).unwrap_or_else(|| fallback_capture(file_time))
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

#[cfg(test)]
mod tests {
    use super::super::bmff::tests::{bx, keys_meta, mvhd};
    use super::super::container::tests::jpeg_with;
    use super::super::exif_read::tests::{apple_makernote, ascii_val, rationals, TiffBuilder};
    use super::*;
    use std::io::Cursor;

    fn dt(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f").unwrap()
    }

    fn jpeg_info(t: TiffBuilder, xmp: Option<&str>) -> MediaInfo {
        let f = jpeg_with(&t.build(), xmp.map(str::as_bytes), &[0xFF, 0xDA, 0, 2]);
        read_media_info(&mut Cursor::new(f), Kind::Jpeg, &DateOptions::default())
    }

    fn movie_info(moov: Vec<u8>, tz: Option<i32>) -> MediaInfo {
        movie_info_in(moov, tz.and_then(FixedOffset::east_opt).map(Zone::Fixed))
    }

    fn movie_info_in(moov: Vec<u8>, zone: Option<Zone>) -> MediaInfo {
        let f = [
            bx(b"ftyp", b"qt  \0\0\0\0"),
            bx(b"mdat", &[0; 64]),
            bx(b"moov", &moov),
        ]
        .concat();
        let opts = DateOptions { timezone: zone };
        read_media_info(&mut Cursor::new(f), Kind::QuickTime, &opts)
    }

    fn qt_secs(s: &str) -> u32 {
        (dt(s).and_utc().timestamp() + 2_082_844_800) as u32
    }

    #[test]
    fn date_time_original_with_subseconds_and_offset_comes_first() {
        let t = TiffBuilder::new()
            .ifd0(0x0132, ascii_val("2020:05:15 10:00:00"))
            .exif(0x9003, ascii_val("2019:06:09 12:57:32"))
            .exif(0x9291, ascii_val("45"))
            .exif(0x9011, ascii_val("+02:00"))
            .exif(0x9004, ascii_val("2019:06:09 12:57:40"));
        let c = jpeg_info(t, Some(r#"<d xmp:CreateDate="2001-01-01T00:00:00"/>"#))
            .capture
            .unwrap();
        assert_eq!(c.local, dt("2019-06-09T12:57:32.45"));
        assert_eq!(
            (c.offset_seconds, c.offset_source),
            (Some(7200), OffsetSource::Recorded)
        );
        assert_eq!(c.source, DateSource::ExifDateTimeOriginal);
        assert_eq!(c.display(), "2019-06-09T12:57:32+02:00");
    }

    #[test]
    fn a_bogus_original_falls_through_to_digitized_with_its_offset() {
        let t = TiffBuilder::new()
            .exif(0x9003, ascii_val("0000:00:00 00:00:00"))
            .exif(0x9011, ascii_val("+09:00"))
            .exif(0x9004, ascii_val("2011:07:19 11:36:38"))
            .exif(0x9012, ascii_val("-03:00"));
        let i = jpeg_info(t, None);
        let c = i.capture.unwrap();
        assert_eq!(
            (c.source, c.local),
            (DateSource::ExifDateTimeDigitized, dt("2011-07-19T11:36:38"))
        );
        assert_eq!(c.offset_seconds, Some(-3 * 3600));
        assert!(
            i.problems.iter().any(|p| p.contains("DateTimeOriginal")),
            "{:?}",
            i.problems
        );
    }

    #[test]
    fn empty_exif_dates_fall_through_to_xmp_in_its_order() {
        let t = TiffBuilder::new()
            .ifd0(0x0132, ascii_val("2020:05:15 10:00:00"))
            .exif(0x9003, ascii_val(""))
            .exif(0x9004, ascii_val("    :  :     :  :  "));
        let xmp = r#"<d xmp:CreateDate="2001-01-01T00:00:00" photoshop:DateCreated="2022-01-10T15:15:44.31"/>"#;
        let c = jpeg_info(t, Some(xmp)).capture.unwrap();
        assert_eq!(c.source, DateSource::XmpPhotoshopDateCreated);
        assert_eq!(c.local, dt("2022-01-10T15:15:44.31"));
        assert_eq!(c.offset_source, OffsetSource::Unknown);
    }

    #[test]
    fn xmp_create_date_with_a_nonstandard_zone_is_read() {
        let t = TiffBuilder::new().ifd0(0x0132, ascii_val("2024-04-22T14:38:09GMT+2"));
        let c = jpeg_info(
            t,
            Some("<xmp:CreateDate>2024:04:22 14:38:09.526GMT+02:00</xmp:CreateDate>"),
        )
        .capture
        .unwrap();
        assert_eq!(
            (c.source, c.offset_seconds),
            (DateSource::XmpCreateDate, Some(7200))
        );
        assert_eq!(c.folder(), "2024/04");
    }

    #[test]
    fn modify_date_is_used_only_when_nothing_else_is_there() {
        let t = TiffBuilder::new()
            .ifd0(0x0132, ascii_val("2018:12:05 13:32:01"))
            .exif(0x9010, ascii_val("-05:00"));
        let c = jpeg_info(t, None).capture.unwrap();
        assert_eq!(
            (c.source, c.local),
            (DateSource::ExifModifyDate, dt("2018-12-05T13:32:01"))
        );
        assert_eq!(c.offset_seconds, Some(-18000));
    }

    #[test]
    fn dates_in_the_future_or_before_1900_fall_through_but_1965_is_fine() {
        let t = TiffBuilder::new()
            .exif(0x9003, ascii_val("2999:01:01 00:00:00"))
            .exif(0x9004, ascii_val("1899:01:01 00:00:00"))
            .ifd0(0x0132, ascii_val("1965:03:01 10:00:00"));
        let c = jpeg_info(t, None).capture.unwrap();
        assert_eq!(
            (c.source, c.local),
            (DateSource::ExifModifyDate, dt("1965-03-01T10:00:00"))
        );
    }

    #[test]
    fn no_date_at_all_gives_no_capture_and_the_fallbacks_decide() {
        let i = jpeg_info(TiffBuilder::new().ifd0(0x010f, ascii_val("Canon")), None);
        assert!(i.capture.is_none());
        let mtime = UNIX_EPOCH + std::time::Duration::from_secs(1_600_000_000);
        let by_name = capture_or_fallback(&i, "Screenshot 2019-05-21 at 10.45.52.png", Some(mtime));
        assert_eq!(
            (by_name.source, by_name.local),
            (DateSource::FileName, dt("2019-05-21T10:45:52"))
        );
        assert_eq!(
            fallback_for("telegram_2020-01-30_09-57-18.jpg", None).folder(),
            "2020/01"
        );
        assert_eq!(
            fallback_for("x.jpg", Some(mtime)).source,
            DateSource::FileMtime
        );
        let by_time = capture_or_fallback(&i, "no-exif.jpg", Some(mtime));
        assert_eq!(by_time.source, DateSource::FileMtime);
        assert!(by_time.source.is_fallback());
        assert_eq!(by_time.to_system_time(), mtime);
    }

    fn gps(t: TiffBuilder, date: &str, h: u32, m: u32, s100: u32) -> TiffBuilder {
        t.gps(0x001d, ascii_val(date))
            .gps(0x0007, rationals(&[(h, 1), (m, 1), (s100, 100)]))
    }

    #[test]
    fn a_missing_offset_is_inferred_from_gps_time() {
        let t = gps(
            TiffBuilder::new().exif(0x9003, ascii_val("2019:06:09 12:57:32")),
            "2019:06:09",
            10,
            57,
            2945,
        );
        let c = jpeg_info(t, None).capture.unwrap();
        assert_eq!(
            (c.offset_seconds, c.offset_source),
            (Some(7200), OffsetSource::Gps)
        );
        // UTC on the next calendar day, fix 11 s stale: -07:00.
        let t = gps(
            TiffBuilder::new().exif(0x9003, ascii_val("2018:04:10 18:28:03")),
            "2018:04:11",
            1,
            27,
            5200,
        );
        let c = jpeg_info(t, None).capture.unwrap();
        assert_eq!(c.offset_seconds, Some(-7 * 3600));
        assert_eq!(c.folder(), "2018/04");
        // Half-hour zones survive the rounding (India, +05:30, fix 33 s stale).
        let t = gps(
            TiffBuilder::new().exif(0x9003, ascii_val("2020:01:01 17:30:00")),
            "2020:01:01",
            11,
            59,
            2700,
        );
        assert_eq!(
            jpeg_info(t, None).capture.unwrap().offset_seconds,
            Some(5 * 3600 + 1800)
        );
    }

    #[test]
    fn gps_is_not_used_when_implausible_or_incomplete_or_an_offset_is_recorded() {
        let base = || TiffBuilder::new().exif(0x9003, ascii_val("2021:04:10 11:44:00"));
        // Stale by three days: beyond ±14 h.
        let c = jpeg_info(gps(base(), "2021:04:07", 10, 44, 0), None)
            .capture
            .unwrap();
        assert_eq!(
            (c.offset_seconds, c.offset_source),
            (None, OffsetSource::Unknown)
        );
        // GPS date without GPS time.
        let c = jpeg_info(base().gps(0x001d, ascii_val("2021:04:10")), None)
            .capture
            .unwrap();
        assert_eq!(c.offset_seconds, None);
        // Malformed GPS date ("YYYY:MM:DD HH:MM:SS").
        let c = jpeg_info(gps(base(), "2021:04:10 11:44:00", 11, 44, 0), None)
            .capture
            .unwrap();
        assert_eq!(c.offset_seconds, None);
        // A recorded offset wins over GPS.
        let t = gps(
            base().exif(0x9011, ascii_val("+01:00")),
            "2021:04:10",
            8,
            44,
            0,
        );
        let c = jpeg_info(t, None).capture.unwrap();
        assert_eq!(
            (c.offset_seconds, c.offset_source),
            (Some(3600), OffsetSource::Recorded)
        );
    }

    #[test]
    fn new_years_eve_is_filed_by_local_time_not_utc() {
        let t = TiffBuilder::new()
            .exif(0x9003, ascii_val("2019:12:31 23:30:00"))
            .exif(0x9011, ascii_val("-05:00"));
        let c = jpeg_info(t, None).capture.unwrap();
        assert_eq!(c.folder(), "2019/12");
        assert_eq!(c.utc(), Some(dt("2020-01-01T04:30:00")));
    }

    #[test]
    fn apple_content_identifier_comes_from_the_makernote() {
        let t = TiffBuilder::new()
            .exif(0x9003, ascii_val("2021:04:10 11:44:00"))
            .exif(0x927c, (7, apple_makernote("ID-1")));
        assert_eq!(
            jpeg_info(t, None).content_identifier.as_deref(),
            Some("ID-1")
        );
    }

    #[test]
    fn quicktime_creationdate_wins_over_mvhd() {
        let moov = [
            mvhd(qt_secs("2015-12-12T08:59:26")),
            keys_meta(&[
                (
                    "com.apple.quicktime.creationdate",
                    "2015-01-19T12:45:11-0800",
                ),
                ("com.apple.quicktime.content.identifier", "ABC-123"),
            ]),
        ]
        .concat();
        let i = movie_info(moov, None);
        let c = i.capture.unwrap();
        assert_eq!(
            (c.source, c.local),
            (DateSource::QuickTimeCreationDate, dt("2015-01-19T12:45:11"))
        );
        assert_eq!(
            (c.offset_seconds, c.offset_source),
            (Some(-8 * 3600), OffsetSource::Recorded)
        );
        assert_eq!(c.folder(), "2015/01");
        assert_eq!(i.content_identifier.as_deref(), Some("ABC-123"));
    }

    #[test]
    fn keys_in_udta_meta_are_read_too() {
        let moov = bx(
            b"udta",
            &keys_meta(&[(
                "com.apple.quicktime.creationdate",
                "2019-07-24T11:25:40+0300",
            )]),
        );
        assert_eq!(
            movie_info(moov, None).capture.unwrap().offset_seconds,
            Some(3 * 3600)
        );
    }

    #[test]
    fn udta_day_is_used_before_mvhd() {
        let mut day = 24u16.to_be_bytes().to_vec();
        day.extend_from_slice(&[0x15, 0xc7]);
        day.extend_from_slice(b"2015-01-19T12:45:11-0800");
        let moov = [
            mvhd(qt_secs("2015-12-12T08:59:26")),
            bx(b"udta", &bx(b"\xA9day", &day)),
        ]
        .concat();
        let c = movie_info(moov, None).capture.unwrap();
        assert_eq!(
            (c.source, c.local),
            (DateSource::QuickTimeUserDataDay, dt("2015-01-19T12:45:11"))
        );
        assert_eq!(c.offset_seconds, Some(-8 * 3600));
    }

    #[test]
    fn zones_are_read_as_people_write_them() {
        let fixed = |s: &str| match s.parse::<Zone>() {
            Ok(Zone::Fixed(f)) => f.local_minus_utc(),
            other => panic!("{s}: {other:?}"),
        };
        for (s, secs) in [
            ("UTC", 0),
            ("utc", 0),
            ("Z", 0),
            ("GMT", 0),
            ("+05:30", 19800),
            ("-05:00", -18000),
            ("+0530", 19800),
            ("-0930", -34200),
            ("+2", 7200),
            ("UTC+02:00", 7200),
        ] {
            assert_eq!(fixed(s), secs, "{s}");
        }
        assert_eq!(
            "Europe/Paris".parse::<Zone>().unwrap(),
            Zone::Iana(chrono_tz::Europe::Paris)
        );
        assert_eq!(
            "america/new_york".parse::<Zone>().unwrap().to_string(),
            "America/New_York"
        );
        assert_eq!("+05:30".parse::<Zone>().unwrap().to_string(), "+05:30");
        for bad in ["Mars/Olympus", "", "+25:00", "05:30", "Europe/"] {
            let e = bad.parse::<Zone>().unwrap_err().to_string();
            assert!(e.contains("IANA zone name"), "{bad}: {e}");
        }
    }

    #[test]
    fn an_iana_zone_is_resolved_per_capture_date_across_daylight_saving_time() {
        // Paris springs forward at 2024-03-31 01:00 UTC (+01:00 → +02:00).
        let paris = Some(Zone::Iana(chrono_tz::Europe::Paris));
        let before = movie_info_in(mvhd(qt_secs("2024-03-31T00:30:00")), paris);
        let after = movie_info_in(mvhd(qt_secs("2024-03-31T01:30:00")), paris);
        let (b, a) = (before.capture.unwrap(), after.capture.unwrap());
        assert_eq!(
            (b.local, b.offset_seconds),
            (dt("2024-03-31T01:30:00"), Some(3600))
        );
        assert_eq!(
            (a.local, a.offset_seconds),
            (dt("2024-03-31T03:30:00"), Some(7200))
        );
        // And back in the autumn: 2024-10-27 01:00 UTC (+02:00 → +01:00).
        let summer = movie_info_in(mvhd(qt_secs("2024-10-27T00:59:59")), paris).capture;
        let winter = movie_info_in(mvhd(qt_secs("2024-10-27T01:00:00")), paris).capture;
        assert_eq!(summer.unwrap().offset_seconds, Some(7200));
        assert_eq!(winter.unwrap().offset_seconds, Some(3600));
        assert_eq!(b.offset_source, OffsetSource::Assumed);
    }

    #[test]
    fn mvhd_is_utc_made_local_with_the_given_zone() {
        let i = movie_info(mvhd(qt_secs("2023-09-22T16:35:02")), Some(7200));
        let c = i.capture.unwrap();
        assert_eq!(
            (c.source, c.local),
            (DateSource::QuickTimeMvhd, dt("2023-09-22T18:35:02"))
        );
        assert_eq!(
            (c.offset_seconds, c.offset_source),
            (Some(7200), OffsetSource::Assumed)
        );
    }

    #[test]
    fn a_zero_or_epoch_mvhd_falls_through_to_tkhd_then_mdhd() {
        let tkhd = |secs: u32| {
            bx(
                b"tkhd",
                &[&[0u8, 0, 0, 0][..], &secs.to_be_bytes(), &[0; 80]].concat(),
            )
        };
        let mdhd = |secs: u32| {
            bx(
                b"mdia",
                &bx(
                    b"mdhd",
                    &[&[0u8, 0, 0, 0][..], &secs.to_be_bytes(), &[0; 16]].concat(),
                ),
            )
        };
        let moov = [
            mvhd(0),
            bx(
                b"trak",
                &[
                    tkhd(qt_secs("1970-01-01T00:00:00")),
                    mdhd(qt_secs("2020-02-02T10:00:00")),
                ]
                .concat(),
            ),
        ]
        .concat();
        let c = movie_info(moov, Some(0)).capture.unwrap();
        assert_eq!(
            (c.source, c.local),
            (DateSource::QuickTimeMdhd, dt("2020-02-02T10:00:00"))
        );
        let none = movie_info([mvhd(0), bx(b"trak", &tkhd(0))].concat(), None);
        assert!(none.capture.is_none());
    }

    #[test]
    fn sony_recorded_zone_localises_mvhd() {
        let mut mtdt = 1u16.to_be_bytes().to_vec();
        mtdt.extend_from_slice(&[0, 12, 0, 0, 0, 0x0b, 0xd5, 0xc4, 0, 0, 0, 60]);
        let uuid = [
            &[
                0x55, 0x53, 0x4d, 0x54, 0x21, 0xd2, 0x4f, 0xce, 0xbb, 0x88, 0x69, 0x5c, 0xfa, 0xc9,
                0xc7, 0x40,
            ][..],
            &bx(b"MTDT", &mtdt),
        ]
        .concat();
        let moov = [mvhd(qt_secs("2026-04-26T09:25:15")), bx(b"uuid", &uuid)].concat();
        let c = movie_info(moov, Some(-5 * 3600)).capture.unwrap();
        assert_eq!(
            (c.local, c.offset_seconds),
            (dt("2026-04-26T10:25:15"), Some(3600))
        );
        assert_eq!(c.offset_source, OffsetSource::Recorded);
    }

    #[test]
    fn a_live_photo_movie_with_only_mvhd_takes_its_stills_offset() {
        let movie = movie_info(mvhd(qt_secs("2023-07-12T11:17:12")), Some(-4 * 3600))
            .capture
            .unwrap();
        let still = CaptureTime {
            local: dt("2023-07-12T12:17:10"),
            offset_seconds: Some(3600),
            offset_source: OffsetSource::Recorded,
            source: DateSource::ExifDateTimeOriginal,
        };
        let c = localize_for_group(&still, &movie);
        assert_eq!(
            (c.local, c.offset_seconds),
            (dt("2023-07-12T12:17:12"), Some(3600))
        );
        assert_eq!(
            (c.offset_source, c.source),
            (OffsetSource::Group, DateSource::QuickTimeMvhd)
        );
        // A still whose offset is unknown or assumed changes nothing.
        let vague = CaptureTime {
            offset_seconds: None,
            offset_source: OffsetSource::Unknown,
            ..still
        };
        assert_eq!(localize_for_group(&vague, &movie), movie);
        // A recorded local time is never shifted.
        assert_eq!(still.relocalize(-3600), still);
    }

    #[test]
    fn canon_cr3_dates_come_from_the_cmt_blocks() {
        let cmt2 = TiffBuilder::new()
            .ifd0(0x9003, ascii_val("2025:09:06 20:24:47"))
            .ifd0(0x9011, ascii_val("-08:00"))
            .build();
        let mut uuid = vec![
            0x85, 0xc0, 0xb6, 0x87, 0x82, 0x0f, 0x11, 0xe0, 0x81, 0x11, 0xf4, 0xce, 0x46, 0x2b,
            0x6a, 0x48,
        ];
        uuid.extend(bx(
            b"CMT1",
            &TiffBuilder::new()
                .ifd0(0x0132, ascii_val("2025:09:07 04:24:47"))
                .build(),
        ));
        uuid.extend(bx(b"CMT2", &cmt2));
        let moov = [bx(b"uuid", &uuid), mvhd(qt_secs("2025-09-07T04:24:47"))].concat();
        let f = [bx(b"ftyp", b"crx \0\0\0\x01crx isom"), bx(b"moov", &moov)].concat();
        let c = read_media_info(&mut Cursor::new(f), Kind::Raw, &DateOptions::default())
            .capture
            .unwrap();
        assert_eq!(
            (c.source, c.local),
            (DateSource::ExifDateTimeOriginal, dt("2025-09-06T20:24:47"))
        );
        assert_eq!(
            (c.offset_seconds, c.folder()),
            (Some(-8 * 3600), "2025/09".to_string())
        );
    }

    #[test]
    fn dates_in_file_names() {
        for (name, want) in [
            (
                "Screenshot 2019-05-21 at 10.45.52.png",
                "2019-05-21T10:45:52",
            ),
            ("telegram_2020-01-30_09-57-18.jpg", "2020-01-30T09:57:18"),
            ("IMG_20190512_171353.jpg", "2019-05-12T17:13:53"),
            ("PXL_20231006_205351123.jpg", "2023-10-06T20:53:51"),
            ("2021-04-10 11.44.00.heic", "2021-04-10T11:44:00"),
        ] {
            let c = date_from_name(name).unwrap_or_else(|| panic!("{name}"));
            assert_eq!(
                (c.local, c.source),
                (dt(want), DateSource::FileName),
                "{name}"
            );
        }
        for name in [
            "IMG_0001.JPG",
            "no-exif.jpg",
            "12345678901234.jpg",
            "2019-13-45 10.00.00.jpg",
            "ééé2019",
        ] {
            assert!(date_from_name(name).is_none(), "{name}");
        }
    }

    #[test]
    fn aae_sidecars_have_no_date_of_their_own() {
        let f = b"<?xml version=\"1.0\"?><plist><dict><key>adjustmentTimestamp</key><date>2019-06-09T10:59:22Z</date></dict></plist>";
        let i = read_media_info(
            &mut Cursor::new(f.to_vec()),
            Kind::Aae,
            &DateOptions::default(),
        );
        assert!(i.capture.is_none());
    }
}
