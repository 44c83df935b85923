//! Capture time: the local wall-clock time where an item was taken, with its
//! UTC offset when known, and where the value came from.
//!
//! This is the minimal reader the archive engine needs (EXIF DateTimeOriginal +
//! OffsetTimeOriginal, QuickTime `com.apple.quicktime.creationdate`, `mvhd`,
//! then the file's own time). The media issue extends the rule chain.

use std::io::{Read, Seek, SeekFrom};
use std::time::{SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Datelike, FixedOffset, Local, NaiveDateTime, TimeZone, Utc};
use serde::Serialize;

use super::Kind;

/// Where a capture time was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DateSource {
    ExifDateTimeOriginal,
    QuickTimeCreationDate,
    QuickTimeMvhd,
    /// The still this item belongs with (Live Photo movie, sidecar, render).
    GroupPrimary,
    /// The file's own modification time: a fallback, not metadata.
    FileMtime,
}

impl DateSource {
    pub fn as_str(self) -> &'static str {
        match self {
            DateSource::ExifDateTimeOriginal => "EXIF DateTimeOriginal",
            DateSource::QuickTimeCreationDate => "QuickTime com.apple.quicktime.creationdate",
            DateSource::QuickTimeMvhd => "QuickTime mvhd creation time (UTC)",
            DateSource::GroupPrimary => "the photo it belongs with",
            DateSource::FileMtime => "file modification time (fallback)",
        }
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
    /// Metadata that could not be read, in words.
    pub problems: Vec<String>,
}

/// Reads the capture time (and pairing identifiers) of one file.
pub fn read_media_info<R: Read + Seek>(r: &mut R, kind: Kind, opts: &DateOptions) -> MediaInfo {
    let mut info = MediaInfo {
        capture: None,
        content_identifier: None,
        problems: Vec::new(),
    };
    match kind {
        Kind::QuickTime | Kind::Mp4 => read_quicktime(r, opts, &mut info),
        Kind::Aae => {}
        _ => read_exif(r, &mut info),
    }
    info
}

fn read_exif<R: Read + Seek>(r: &mut R, info: &mut MediaInfo) {
    use exif::{In, Tag, Value};
    if r.seek(SeekFrom::Start(0)).is_err() {
        return;
    }
    let mut buf = std::io::BufReader::new(r);
    let ex = match exif::Reader::new().read_from_container(&mut buf) {
        Ok(e) => e,
        Err(e) => {
            info.problems.push(format!("EXIF: {e}"));
            return;
        }
    };
    let ascii = |tag: Tag| -> Option<String> {
        let f = ex.get_field(tag, In::PRIMARY)?;
        match &f.value {
            Value::Ascii(v) => v
                .first()
                .map(|s| String::from_utf8_lossy(s).trim().to_string()),
            _ => None,
        }
    };
    if let Some(s) = ascii(Tag::DateTimeOriginal) {
        if let Some(local) = parse_exif_datetime(&s) {
            let offset = ascii(Tag::OffsetTimeOriginal).and_then(|o| parse_offset(&o));
            info.capture = Some(CaptureTime {
                local,
                offset_seconds: offset,
                offset_source: if offset.is_some() {
                    OffsetSource::Recorded
                } else {
                    OffsetSource::Unknown
                },
                source: DateSource::ExifDateTimeOriginal,
            });
        }
    }
}

/// `YYYY:MM:DD HH:MM:SS`; bogus values (zero dates, epochs, before 1900) are `None`.
pub fn parse_exif_datetime(s: &str) -> Option<NaiveDateTime> {
    let s = s.trim_matches(char::from(0)).trim();
    let d = NaiveDateTime::parse_from_str(s.get(..19)?, "%Y:%m:%d %H:%M:%S").ok()?;
    plausible(d).then_some(d)
}

fn plausible(d: NaiveDateTime) -> bool {
    d.year() >= 1900
        && d != NaiveDateTime::UNIX_EPOCH
        && d.and_utc().timestamp() < Utc::now().timestamp() + 86_400
}

/// `+02:00` / `-0530` / `Z` → seconds east of UTC.
pub fn parse_offset(s: &str) -> Option<i32> {
    let s = s.trim_matches(char::from(0)).trim();
    if s == "Z" {
        return Some(0);
    }
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => return None,
    };
    let digits: String = rest.chars().filter(|c| c.is_ascii_digit()).collect();
    if digits.len() != 4 {
        return None;
    }
    let h: i32 = digits[..2].parse().ok()?;
    let m: i32 = digits[2..].parse().ok()?;
    (h <= 14 && m < 60).then_some(sign * (h * 3600 + m * 60))
}

// --- QuickTime / ISO-BMFF -------------------------------------------------
// Written by hand: no maintained crate reads the `keys`/`ilst` metadata and
// `mvhd` while seeking past `mdat` without reading the whole (multi-GiB) file.

const MAX_META_BOX: u64 = 16 << 20;

fn read_quicktime<R: Read + Seek>(r: &mut R, opts: &DateOptions, info: &mut MediaInfo) {
    let end = match r.seek(SeekFrom::End(0)) {
        Ok(e) => e,
        Err(_) => return,
    };
    let moov = match find_box(r, 0, end, b"moov") {
        Some(b) => b,
        None => {
            info.problems.push("QuickTime: no moov box".into());
            return;
        }
    };
    if moov.1 > MAX_META_BOX * 4 {
        info.problems.push("QuickTime: moov box too large".into());
        return;
    }
    let mut data = vec![0u8; moov.1 as usize];
    if r.seek(SeekFrom::Start(moov.0)).is_err() || r.read_exact(&mut data).is_err() {
        info.problems.push("QuickTime: moov box truncated".into());
        return;
    }
    let keys = quicktime_keys(&data);
    for (k, v) in &keys {
        if k == "com.apple.quicktime.content.identifier" {
            info.content_identifier = Some(v.clone());
        }
    }
    if let Some((_, v)) = keys
        .iter()
        .find(|(k, _)| k == "com.apple.quicktime.creationdate")
    {
        if let Ok(d) = DateTime::parse_from_str(v.trim(), "%Y-%m-%dT%H:%M:%S%z") {
            if plausible(d.naive_local()) {
                info.capture = Some(CaptureTime {
                    local: d.naive_local(),
                    offset_seconds: Some(d.offset().local_minus_utc()),
                    offset_source: OffsetSource::Recorded,
                    source: DateSource::QuickTimeCreationDate,
                });
                return;
            }
        }
    }
    if let Some(secs) = mvhd_creation(&data) {
        let unix = secs as i64 - 2_082_844_800;
        if let Some(utc) = DateTime::<Utc>::from_timestamp(unix, 0) {
            if secs != 0 && plausible(utc.naive_utc()) {
                let (local, off) = match opts.timezone {
                    Some(tz) => {
                        let d = utc.with_timezone(&tz);
                        (d.naive_local(), tz.local_minus_utc())
                    }
                    None => {
                        let d = utc.with_timezone(&Local);
                        (d.naive_local(), d.offset().local_minus_utc())
                    }
                };
                info.capture = Some(CaptureTime {
                    local,
                    offset_seconds: Some(off),
                    offset_source: OffsetSource::Assumed,
                    source: DateSource::QuickTimeMvhd,
                });
            }
        }
    }
}

/// Finds a top-level box by type between `start` and `end`: (payload offset, payload length).
fn find_box<R: Read + Seek>(
    r: &mut R,
    mut pos: u64,
    end: u64,
    want: &[u8; 4],
) -> Option<(u64, u64)> {
    while pos + 8 <= end {
        r.seek(SeekFrom::Start(pos)).ok()?;
        let mut h = [0u8; 16];
        r.read_exact(&mut h[..8]).ok()?;
        let size32 = u32::from_be_bytes(h[0..4].try_into().ok()?) as u64;
        let (size, header) = match size32 {
            1 => {
                r.read_exact(&mut h[8..16]).ok()?;
                (u64::from_be_bytes(h[8..16].try_into().ok()?), 16)
            }
            0 => (end - pos, 8),
            s => (s, 8),
        };
        if size < header || pos.checked_add(size)? > end {
            return None;
        }
        if &h[4..8] == want {
            return Some((pos + header, size - header));
        }
        pos += size;
    }
    None
}

/// Child boxes of an in-memory box payload: (type, payload).
fn children(data: &[u8]) -> Vec<([u8; 4], &[u8])> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    while pos + 8 <= data.len() {
        let size = u32::from_be_bytes(data[pos..pos + 4].try_into().unwrap_or([0; 4])) as usize;
        let ty: [u8; 4] = data[pos + 4..pos + 8].try_into().unwrap_or([0; 4]);
        let (size, header) = if size == 1 && pos + 16 <= data.len() {
            (
                u64::from_be_bytes(data[pos + 8..pos + 16].try_into().unwrap_or([0; 8])) as usize,
                16,
            )
        } else if size == 0 {
            (data.len() - pos, 8)
        } else {
            (size, 8)
        };
        if size < header || pos + size > data.len() {
            break;
        }
        out.push((ty, &data[pos + header..pos + size]));
        pos += size;
    }
    out
}

fn mvhd_creation(moov: &[u8]) -> Option<u64> {
    let (_, p) = children(moov).into_iter().find(|(t, _)| t == b"mvhd")?;
    match *p.first()? {
        0 => Some(u32::from_be_bytes(p.get(4..8)?.try_into().ok()?) as u64),
        1 => Some(u64::from_be_bytes(p.get(4..12)?.try_into().ok()?)),
        _ => None,
    }
}

/// The QuickTime `meta` → `keys` + `ilst` string values, from `moov/meta` or `moov/udta/meta`.
fn quicktime_keys(moov: &[u8]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut metas: Vec<&[u8]> = Vec::new();
    for (t, p) in children(moov) {
        if &t == b"meta" {
            metas.push(p);
        } else if &t == b"udta" {
            metas.extend(
                children(p)
                    .into_iter()
                    .filter(|(t, _)| t == b"meta")
                    .map(|(_, p)| p),
            );
        }
    }
    for meta in metas {
        // QuickTime `meta` has no version/flags; ISO `meta` has 4 bytes of them.
        let kids = {
            let k = children(meta);
            if k.iter().any(|(t, _)| t == b"hdlr" || t == b"keys") {
                k
            } else {
                children(meta.get(4..).unwrap_or(&[]))
            }
        };
        let keys: Vec<String> = kids
            .iter()
            .find(|(t, _)| t == b"keys")
            .map(|(_, p)| {
                let mut names = Vec::new();
                let mut pos = 8usize;
                while pos + 8 <= p.len() {
                    let sz =
                        u32::from_be_bytes(p[pos..pos + 4].try_into().unwrap_or([0; 4])) as usize;
                    if sz < 8 || pos + sz > p.len() {
                        break;
                    }
                    names.push(String::from_utf8_lossy(&p[pos + 8..pos + sz]).into_owned());
                    pos += sz;
                }
                names
            })
            .unwrap_or_default();
        if let Some((_, ilst)) = kids.iter().find(|(t, _)| t == b"ilst") {
            for (t, item) in children(ilst) {
                let idx = u32::from_be_bytes(t) as usize;
                let Some(name) = idx.checked_sub(1).and_then(|i| keys.get(i)) else {
                    continue;
                };
                if let Some((_, d)) = children(item).into_iter().find(|(t, _)| t == b"data") {
                    if d.len() >= 8 && u32::from_be_bytes(d[0..4].try_into().unwrap_or([0; 4])) == 1
                    {
                        out.push((name.clone(), String::from_utf8_lossy(&d[8..]).into_owned()));
                    }
                }
            }
        }
    }
    out
}

/// The file's own time as a capture time, marked as a fallback.
pub fn fallback_capture(mtime: Option<SystemTime>) -> CaptureTime {
    CaptureTime::from_system_time(mtime.unwrap_or(UNIX_EPOCH), DateSource::FileMtime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exif_datetimes_parse_and_bogus_ones_do_not() {
        assert!(parse_exif_datetime("2019:06:09 12:57:32").is_some());
        assert!(parse_exif_datetime("0000:00:00 00:00:00").is_none());
        assert!(parse_exif_datetime("1970:01:01 00:00:00").is_none());
        assert!(parse_exif_datetime("    :  :     :  :  ").is_none());
        assert!(parse_exif_datetime("1965:03:01 10:00:00").is_some());
    }

    #[test]
    fn offsets_parse() {
        assert_eq!(parse_offset("+02:00"), Some(7200));
        assert_eq!(parse_offset("-05:30"), Some(-19800));
        assert_eq!(parse_offset("Z"), Some(0));
        assert_eq!(parse_offset("+99:00"), None);
    }
}
