//! Parsing of the date strings found in photo and video metadata, strict where
//! the format is fixed (EXIF) and tolerant where writers vary (XMP, QuickTime).

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, Utc};

/// Whether a date can be a capture time: not before 1900, not the Unix or
/// QuickTime epoch itself, not more than a day in the future.
pub fn plausible(d: NaiveDateTime) -> bool {
    let epoch_1904 = NaiveDate::from_ymd_opt(1904, 1, 1).and_then(|d| d.and_hms_opt(0, 0, 0));
    d.year() >= 1900
        && d != DateTime::UNIX_EPOCH.naive_utc()
        && Some(d) != epoch_1904
        && d.and_utc().timestamp() < Utc::now().timestamp() + 86_400
}

/// EXIF `YYYY:MM:DD HH:MM:SS` (NULs and spaces around it ignored). Bogus
/// values (blank, zero dates, impossible or implausible dates) are `None`.
pub fn parse_exif_datetime(s: &str) -> Option<NaiveDateTime> {
    let s = s.trim_matches(|c: char| c == '\0' || c.is_whitespace());
    let d = NaiveDateTime::parse_from_str(s.get(..19)?, "%Y:%m:%d %H:%M:%S").ok()?;
    plausible(d).then_some(d)
}

/// EXIF SubSecTime digits (`"692"`) → nanoseconds; anything else `None`.
pub fn parse_subsec(s: &str) -> Option<u32> {
    let s = s.trim_matches(|c: char| c == '\0' || c.is_whitespace());
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits: String = s.chars().take(9).collect();
    let n: u32 = digits.parse().ok()?;
    Some(n * 10u32.pow(9 - digits.len() as u32))
}

/// `+02:00` / `-0530` / `+2` / `Z` / `GMT+02:00` → seconds east of UTC,
/// within ±14 h.
pub fn parse_offset(s: &str) -> Option<i32> {
    let s = s.trim_matches(|c: char| c == '\0' || c.is_whitespace());
    let s = s
        .strip_prefix("GMT")
        .or_else(|| s.strip_prefix("UTC"))
        .unwrap_or(s);
    if s == "Z" || s.is_empty() {
        return if s == "Z" { Some(0) } else { None };
    }
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => return None,
    };
    if !rest.is_ascii() {
        return None;
    }
    let (h, m) = match rest.split_once(':') {
        Some((h, m)) => (h, m),
        None if rest.len() == 4 => rest.split_at(2),
        None => (rest, "0"),
    };
    if h.is_empty() || h.len() > 2 || m.is_empty() || m.len() > 2 {
        return None;
    }
    if !h.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
    (h <= 14 && m < 60 && h * 60 + m <= 14 * 60).then_some(sign * (h * 3600 + m * 60))
}

/// A tolerant date-time as XMP, QuickTime and some non-standard EXIF writers
/// produce: `YYYY-MM-DD` or `YYYY:MM:DD`, then `T` or a space and
/// `HH:MM[:SS[.fff]]`, then an optional zone (`Z`, `±HH:MM`, `±HHMM`, `GMT+2`).
/// A date alone is midnight. Returns the wall-clock time and the offset.
pub fn parse_loose(s: &str) -> Option<(NaiveDateTime, Option<i32>)> {
    let s = s.trim_matches(|c: char| c == '\0' || c.is_whitespace());
    let b = s.as_bytes();
    if b.len() < 10 || !s.is_char_boundary(10) {
        return None;
    }
    let digits = |r: std::ops::Range<usize>| -> Option<u32> {
        let t = s.get(r)?;
        if t.bytes().all(|c| c.is_ascii_digit()) {
            t.parse().ok()
        } else {
            None
        }
    };
    let sep = b[4];
    if !(sep == b'-' || sep == b':') || b[7] != sep {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(digits(0..4)? as i32, digits(5..7)?, digits(8..10)?)?;
    let rest = &s[10..];
    if rest.is_empty() {
        let d = date.and_hms_opt(0, 0, 0)?;
        return plausible(d).then_some((d, None));
    }
    let rest = rest.strip_prefix('T').or_else(|| rest.strip_prefix(' '))?;
    let rb = rest.as_bytes();
    if rb.len() < 5 || rb[2] != b':' {
        return None;
    }
    let two = |at: usize| -> Option<u32> {
        let t = rest.get(at..at + 2)?;
        if t.bytes().all(|c| c.is_ascii_digit()) {
            t.parse().ok()
        } else {
            None
        }
    };
    let (h, mi) = (two(0)?, two(3)?);
    let mut pos = 5;
    let mut sec = 0;
    let mut nanos = 0;
    if rb.get(5) == Some(&b':') {
        sec = two(6)?;
        pos = 8;
        if rb.get(8) == Some(&b'.') || rb.get(8) == Some(&b',') {
            let frac: String = rest
                .get(9..)?
                .chars()
                .take_while(|c| c.is_ascii_digit())
                .collect();
            pos = 9 + frac.len();
            nanos = parse_subsec(&frac).unwrap_or(0);
        }
    }
    let time = NaiveTime::from_hms_nano_opt(h, mi, sec, nanos)?;
    let zone = rest.get(pos..)?.trim();
    let offset = if zone.is_empty() {
        None
    } else {
        Some(parse_offset(zone)?)
    };
    let d = date.and_time(time);
    plausible(d).then_some((d, offset))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dt(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f").unwrap()
    }

    #[test]
    fn exif_datetimes_parse_and_bogus_ones_do_not() {
        assert_eq!(
            parse_exif_datetime("2019:06:09 12:57:32"),
            Some(dt("2019-06-09T12:57:32"))
        );
        assert_eq!(
            parse_exif_datetime("2019:06:09 12:57:32\0"),
            Some(dt("2019-06-09T12:57:32"))
        );
        for bogus in [
            "",
            "0000:00:00 00:00:00",
            "1970:01:01 00:00:00",
            "1904:01:01 00:00:00",
            "    :  :     :  :  ",
            "2019:02:30 10:00:00",
            "1899:12:31 23:59:59",
            "2999:01:01 00:00:00",
            "2019-06-09 12:57:32",
        ] {
            assert_eq!(parse_exif_datetime(bogus), None, "{bogus:?}");
        }
        // A scanned 1965 photo is legitimate.
        assert!(parse_exif_datetime("1965:03:01 10:00:00").is_some());
    }

    #[test]
    fn offsets_parse() {
        assert_eq!(parse_offset("+02:00"), Some(7200));
        assert_eq!(parse_offset("-05:30"), Some(-19800));
        assert_eq!(parse_offset("-0530"), Some(-19800));
        assert_eq!(parse_offset("Z"), Some(0));
        assert_eq!(parse_offset("GMT+2"), Some(7200));
        assert_eq!(parse_offset("GMT+02:00"), Some(7200));
        assert_eq!(parse_offset("+14:00"), Some(50400));
        assert_eq!(parse_offset("+99:00"), None);
        assert_eq!(parse_offset("+14:30"), None);
        assert_eq!(parse_offset("   :  "), None);
        assert_eq!(parse_offset(""), None);
        // Found by fuzzing: a multi-byte character where digits belong.
        assert_eq!(parse_offset("+\u{FFFD}p"), None);
    }

    #[test]
    fn subsec_digits_become_nanoseconds() {
        assert_eq!(parse_subsec("692"), Some(692_000_000));
        assert_eq!(parse_subsec("05"), Some(50_000_000));
        assert_eq!(parse_subsec(""), None);
        assert_eq!(parse_subsec("1a"), None);
    }

    #[test]
    fn loose_datetimes_from_xmp_and_quicktime() {
        assert_eq!(
            parse_loose("2021-04-10T11:43:59+0100"),
            Some((dt("2021-04-10T11:43:59"), Some(3600)))
        );
        assert_eq!(
            parse_loose("2022-01-10T15:15:44.31"),
            Some((dt("2022-01-10T15:15:44.31"), None))
        );
        assert_eq!(
            parse_loose("2024:04:22 14:38:09.526GMT+02:00"),
            Some((dt("2024-04-22T14:38:09.526"), Some(7200)))
        );
        assert_eq!(
            parse_loose("2024-04-22T14:38:09GMT+2"),
            Some((dt("2024-04-22T14:38:09"), Some(7200)))
        );
        assert_eq!(
            parse_loose("2019-07-24T11:25:40Z"),
            Some((dt("2019-07-24T11:25:40"), Some(0)))
        );
        assert_eq!(
            parse_loose("2019-05-12"),
            Some((dt("2019-05-12T00:00:00"), None))
        );
        assert_eq!(
            parse_loose("2019-05-12T17:13"),
            Some((dt("2019-05-12T17:13:00"), None))
        );
        assert_eq!(parse_loose("0000-00-00T00:00:00"), None);
        assert_eq!(parse_loose("1970-01-01T00:00:00Z"), None);
        assert_eq!(parse_loose("2019-05-12Tgarbage"), None);
        assert_eq!(parse_loose("2019-05-12T10:00:00+garbage"), None);
        assert_eq!(parse_loose("ééééééééééé"), None);
    }
}
