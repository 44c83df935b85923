//! EXIF facts (dates, offsets, GPS time, Apple ContentIdentifier) from TIFF
//! structures, parsed by kamadak-exif. Containers (JPEG, HEIF, PNG, WebP,
//! CR3, TIFF/DNG) are walked in `container.rs`; this module only interprets
//! the TIFF blocks they yield.

use exif::{Context, Field, Value};

/// Which IFD a TIFF block's first IFD is. Canon CR3 stores the Exif and GPS
/// IFDs as separate TIFF blocks, so their tags arrive as "IFD0" tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Block {
    /// A normal TIFF/EXIF structure: IFD0 with Exif and GPS sub-IFDs.
    Tiff,
    /// A lone Exif IFD (CR3 `CMT2`).
    ExifIfd,
    /// A lone GPS IFD (CR3 `CMT4`).
    GpsIfd,
}

/// The raw values camroll reads from EXIF, as written (interpretation and
/// plausibility checks happen in `date.rs`, so `inspect` can show what was
/// rejected and why).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ExifFacts {
    /// DateTimeOriginal (0x9003), `YYYY:MM:DD HH:MM:SS` as written.
    pub date_time_original: Option<String>,
    /// SubSecTimeOriginal (0x9291): fractional seconds, as written.
    pub subsec_original: Option<String>,
    /// OffsetTimeOriginal (0x9011), e.g. `+02:00`, as written.
    pub offset_original: Option<String>,
    /// DateTimeDigitized (0x9004, "CreateDate"), also when misplaced in IFD0.
    pub date_time_digitized: Option<String>,
    /// SubSecTimeDigitized (0x9292), as written.
    pub subsec_digitized: Option<String>,
    /// OffsetTimeDigitized (0x9012), as written.
    pub offset_digitized: Option<String>,
    /// IFD0 DateTime (0x0132, "ModifyDate").
    pub modify_date: Option<String>,
    /// SubSecTime (0x9290), for `modify_date`, as written.
    pub subsec: Option<String>,
    /// OffsetTime (0x9010), for `modify_date`, as written.
    pub offset_time: Option<String>,
    /// GPSDateStamp, `YYYY:MM:DD` (UTC), as written.
    pub gps_date: Option<String>,
    /// GPSTimeStamp as seconds since midnight UTC.
    pub gps_time: Option<f64>,
    /// Apple MakerNote tag 0x0011.
    pub content_identifier: Option<String>,
    /// XMP packet in TIFF tag 700 (TIFF/DNG).
    pub xmp: Option<Vec<u8>>,
    /// What was damaged or out of bounds while reading, for `inspect` and warnings.
    pub problems: Vec<String>,
}

impl ExifFacts {
    /// Fills fields still empty from another block's facts.
    pub fn merge(&mut self, o: ExifFacts) {
        macro_rules! take {
            ($($f:ident),*) => { $( if self.$f.is_none() { self.$f = o.$f; } )* };
        }
        take!(
            date_time_original,
            subsec_original,
            offset_original,
            date_time_digitized,
            subsec_digitized,
            offset_digitized,
            modify_date,
            subsec,
            offset_time,
            gps_date,
            gps_time,
            content_identifier,
            xmp
        );
        self.problems.extend(o.problems);
    }
}

/// Largest TIFF block handed to the EXIF parser.
pub const MAX_TIFF: usize = 64 << 20;

/// Reads the facts of one TIFF block. Damaged IFDs are skipped (kamadak-exif's
/// `continue_on_error`), so a broken GPS or MakerNote IFD does not hide the
/// dates; what was skipped is listed in `problems`.
pub fn read_tiff(data: Vec<u8>, block: Block) -> ExifFacts {
    let mut f = ExifFacts::default();
    if data.len() > MAX_TIFF {
        f.problems.push(format!(
            "EXIF: block of {} bytes is over the limit",
            data.len()
        ));
        return f;
    }
    let exif = match exif::Reader::new().continue_on_error(true).read_raw(data) {
        Ok(e) => e,
        Err(e) => match e.distill_partial_result(|errs| {
            for e in errs.iter().take(5) {
                f.problems.push(format!("EXIF (skipped part): {e}"));
            }
        }) {
            Ok(e) => e,
            Err(e) => {
                f.problems.push(format!("EXIF: {e}"));
                return f;
            }
        },
    };
    let ctx_of = |field: &Field| match (block, field.tag.context()) {
        (Block::ExifIfd, Context::Tiff) => Context::Exif,
        (Block::GpsIfd, Context::Tiff) => Context::Gps,
        (_, c) => c,
    };
    let mut gps_time = None;
    for field in exif.fields() {
        // IFD1 is the thumbnail's.
        if field.ifd_num.index() != 0 {
            continue;
        }
        let ctx = ctx_of(field);
        let n = field.tag.number();
        let slot: Option<&mut Option<String>> = match (ctx, n) {
            (Context::Exif, 0x9003) => Some(&mut f.date_time_original),
            (Context::Exif, 0x9291) => Some(&mut f.subsec_original),
            (Context::Exif, 0x9011) => Some(&mut f.offset_original),
            // CreateDate misplaced in IFD0 (Samsung via Photoshop) counts too.
            (Context::Exif | Context::Tiff, 0x9004) => Some(&mut f.date_time_digitized),
            (Context::Exif, 0x9292) => Some(&mut f.subsec_digitized),
            (Context::Exif, 0x9012) => Some(&mut f.offset_digitized),
            (Context::Tiff, 0x0132) => Some(&mut f.modify_date),
            (Context::Exif, 0x9290) => Some(&mut f.subsec),
            (Context::Exif, 0x9010) => Some(&mut f.offset_time),
            (Context::Gps, 0x001d) => Some(&mut f.gps_date),
            _ => None,
        };
        if let Some(slot) = slot {
            if slot.is_none() {
                *slot = ascii(&field.value);
            }
            continue;
        }
        match (ctx, n) {
            (Context::Gps, 0x0007) => gps_time = gps_seconds(&field.value),
            (Context::Exif, 0x927c) => {
                if let Value::Undefined(bytes, _) = &field.value {
                    f.content_identifier = apple_content_identifier(bytes);
                }
            }
            (Context::Tiff, 0x02bc) => {
                if let Value::Byte(b) | Value::Undefined(b, _) = &field.value {
                    f.xmp = Some(b.clone());
                }
            }
            _ => {}
        }
    }
    f.gps_time = gps_time;
    f
}

/// An ASCII value as text (first string; NULs and surrounding blanks trimmed).
fn ascii(v: &Value) -> Option<String> {
    let bytes = match v {
        Value::Ascii(v) => v.first()?.as_slice(),
        // Some writers store dates as UNDEFINED or BYTE.
        Value::Undefined(b, _) | Value::Byte(b) => b.as_slice(),
        _ => return None,
    };
    let s = String::from_utf8_lossy(bytes);
    Some(
        s.trim_matches(|c: char| c == '\0' || c.is_whitespace())
            .to_string(),
    )
}

/// GPSTimeStamp (three rationals: h, m, s) as seconds since midnight.
fn gps_seconds(v: &Value) -> Option<f64> {
    let Value::Rational(r) = v else { return None };
    if r.len() != 3 || r.iter().any(|x| x.denom == 0) {
        return None;
    }
    let (h, m, s) = (r[0].to_f64(), r[1].to_f64(), r[2].to_f64());
    if !(0.0..24.0).contains(&h) || !(0.0..60.0).contains(&m) || !(0.0..61.0).contains(&s) {
        return None;
    }
    Some(h * 3600.0 + m * 60.0 + s)
}

/// Apple's MakerNote: `"Apple iOS\0"`, version (2), byte order (`MM`/`II`),
/// then an IFD whose value offsets count from the MakerNote's start. Tag
/// 0x0011 is the ContentIdentifier that pairs a Live Photo's still and movie.
/// Hand-written: kamadak-exif does not decode MakerNotes.
pub fn apple_content_identifier(mn: &[u8]) -> Option<String> {
    if !mn.starts_with(b"Apple iOS\0") {
        return None;
    }
    let le = match mn.get(12..14)? {
        b"MM" => false,
        b"II" => true,
        _ => return None,
    };
    let u16_at = |at: usize| -> Option<u16> {
        let b: [u8; 2] = mn.get(at..at.checked_add(2)?)?.try_into().ok()?;
        Some(if le {
            u16::from_le_bytes(b)
        } else {
            u16::from_be_bytes(b)
        })
    };
    let u32_at = |at: usize| -> Option<u32> {
        let b: [u8; 4] = mn.get(at..at.checked_add(4)?)?.try_into().ok()?;
        Some(if le {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        })
    };
    let count = u16_at(14)? as usize;
    for i in 0..count.min(512) {
        let e = 16 + i * 12;
        if u16_at(e)? != 0x0011 {
            continue;
        }
        if u16_at(e + 2)? != 2 {
            return None;
        }
        let n = u32_at(e + 4)? as usize;
        let bytes = if n <= 4 {
            mn.get(e + 8..e + 8 + n)?
        } else {
            let off = u32_at(e + 8)? as usize;
            mn.get(off..off.checked_add(n)?)?
        };
        let s = String::from_utf8_lossy(bytes);
        let s = s.trim_matches(|c: char| c == '\0' || c.is_whitespace());
        return (!s.is_empty()).then(|| s.to_string());
    }
    None
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Builds a big-endian TIFF block with IFD0 entries, an Exif IFD and a GPS IFD.
    /// Each entry: (tag, type, count, value bytes).
    pub struct TiffBuilder {
        pub ifd0: Vec<(u16, u16, Vec<u8>)>,
        pub exif: Vec<(u16, u16, Vec<u8>)>,
        pub gps: Vec<(u16, u16, Vec<u8>)>,
    }

    pub fn ascii_val(s: &str) -> (u16, Vec<u8>) {
        let mut v = s.as_bytes().to_vec();
        v.push(0);
        (2, v)
    }

    pub fn rationals(v: &[(u32, u32)]) -> (u16, Vec<u8>) {
        (
            5,
            v.iter()
                .flat_map(|(n, d)| [n.to_be_bytes(), d.to_be_bytes()].concat())
                .collect(),
        )
    }

    fn unit(ty: u16) -> usize {
        match ty {
            3 => 2,
            4 => 4,
            5 => 8,
            _ => 1,
        }
    }

    impl TiffBuilder {
        pub fn new() -> Self {
            TiffBuilder {
                ifd0: vec![],
                exif: vec![],
                gps: vec![],
            }
        }
        pub fn ifd0(mut self, tag: u16, v: (u16, Vec<u8>)) -> Self {
            self.ifd0.push((tag, v.0, v.1));
            self
        }
        pub fn exif(mut self, tag: u16, v: (u16, Vec<u8>)) -> Self {
            self.exif.push((tag, v.0, v.1));
            self
        }
        pub fn gps(mut self, tag: u16, v: (u16, Vec<u8>)) -> Self {
            self.gps.push((tag, v.0, v.1));
            self
        }
        pub fn build(self) -> Vec<u8> {
            // Layout: header, IFD0, Exif IFD, GPS IFD, then all out-of-line values.
            let n0 = self.ifd0.len()
                + usize::from(!self.exif.is_empty())
                + usize::from(!self.gps.is_empty());
            let ifd_len = |n: usize| 2 + n * 12 + 4;
            let ifd0_at = 8;
            let exif_at = ifd0_at + ifd_len(n0);
            let gps_at = exif_at
                + if self.exif.is_empty() {
                    0
                } else {
                    ifd_len(self.exif.len())
                };
            let data_at = gps_at
                + if self.gps.is_empty() {
                    0
                } else {
                    ifd_len(self.gps.len())
                };
            let mut out = b"MM\0*".to_vec();
            out.extend_from_slice(&(ifd0_at as u32).to_be_bytes());
            let mut data: Vec<u8> = Vec::new();
            let mut write_ifd = |out: &mut Vec<u8>, entries: &mut Vec<(u16, u16, Vec<u8>)>| {
                entries.sort_by_key(|e| e.0);
                out.extend_from_slice(&(entries.len() as u16).to_be_bytes());
                for (tag, ty, val) in entries.iter() {
                    out.extend_from_slice(&tag.to_be_bytes());
                    out.extend_from_slice(&ty.to_be_bytes());
                    out.extend_from_slice(&((val.len() / unit(*ty)) as u32).to_be_bytes());
                    if val.len() <= 4 {
                        let mut v = val.clone();
                        v.resize(4, 0);
                        out.extend_from_slice(&v);
                    } else {
                        out.extend_from_slice(&((data_at + data.len()) as u32).to_be_bytes());
                        data.extend_from_slice(val);
                        if data.len() % 2 == 1 {
                            data.push(0);
                        }
                    }
                }
                out.extend_from_slice(&0u32.to_be_bytes());
            };
            let mut ifd0 = self.ifd0.clone();
            if !self.exif.is_empty() {
                ifd0.push((0x8769, 4, (exif_at as u32).to_be_bytes().to_vec()));
            }
            if !self.gps.is_empty() {
                ifd0.push((0x8825, 4, (gps_at as u32).to_be_bytes().to_vec()));
            }
            write_ifd(&mut out, &mut ifd0);
            if !self.exif.is_empty() {
                write_ifd(&mut out, &mut self.exif.clone());
            }
            if !self.gps.is_empty() {
                write_ifd(&mut out, &mut self.gps.clone());
            }
            out.extend_from_slice(&data);
            out
        }
    }

    pub fn apple_makernote(id: &str) -> Vec<u8> {
        let mut mn = b"Apple iOS\0\0\x01MM".to_vec();
        mn.extend_from_slice(&2u16.to_be_bytes());
        // tag 1: version (SLONG 1), tag 0x11: ContentIdentifier (ASCII, at 16+24+4).
        mn.extend_from_slice(&[0, 1, 0, 9, 0, 0, 0, 1, 0, 0, 0, 12]);
        mn.extend_from_slice(&[0, 0x11, 0, 2]);
        mn.extend_from_slice(&((id.len() + 1) as u32).to_be_bytes());
        mn.extend_from_slice(&44u32.to_be_bytes());
        mn.extend_from_slice(&[0, 0, 0, 0]);
        mn.extend_from_slice(id.as_bytes());
        mn.push(0);
        mn
    }

    #[test]
    fn dates_offsets_and_subseconds_are_read_from_their_ifds() {
        let t = TiffBuilder::new()
            .ifd0(0x0132, ascii_val("2020:05:15 10:00:00"))
            .exif(0x9003, ascii_val("2019:06:09 12:57:32"))
            .exif(0x9011, ascii_val("+02:00"))
            .exif(0x9291, ascii_val("45"))
            .exif(0x9004, ascii_val("2019:06:09 12:57:33"))
            .build();
        let f = read_tiff(t, Block::Tiff);
        assert_eq!(f.date_time_original.as_deref(), Some("2019:06:09 12:57:32"));
        assert_eq!(f.offset_original.as_deref(), Some("+02:00"));
        assert_eq!(f.subsec_original.as_deref(), Some("45"));
        assert_eq!(
            f.date_time_digitized.as_deref(),
            Some("2019:06:09 12:57:33")
        );
        assert_eq!(f.modify_date.as_deref(), Some("2020:05:15 10:00:00"));
    }

    #[test]
    fn create_date_misplaced_in_ifd0_is_read() {
        let t = TiffBuilder::new()
            .ifd0(0x9004, ascii_val("2011:07:19 11:36:38"))
            .build();
        assert_eq!(
            read_tiff(t, Block::Tiff).date_time_digitized.as_deref(),
            Some("2011:07:19 11:36:38")
        );
    }

    #[test]
    fn gps_date_and_time_are_read() {
        let t = TiffBuilder::new()
            .gps(0x001d, ascii_val("2019:06:09"))
            .gps(0x0007, rationals(&[(10, 1), (57, 1), (2945, 100)]))
            .build();
        let f = read_tiff(t, Block::Tiff);
        assert_eq!(f.gps_date.as_deref(), Some("2019:06:09"));
        assert_eq!(f.gps_time, Some(10.0 * 3600.0 + 57.0 * 60.0 + 29.45));
    }

    #[test]
    fn cr3_style_blocks_map_ifd0_tags_to_their_ifd() {
        let exif_block = TiffBuilder::new()
            .ifd0(0x9003, ascii_val("2025:09:06 20:24:47"))
            .build();
        assert_eq!(
            read_tiff(exif_block, Block::ExifIfd)
                .date_time_original
                .as_deref(),
            Some("2025:09:06 20:24:47")
        );
        let gps_block = TiffBuilder::new()
            .ifd0(0x001d, ascii_val("2025:09:07"))
            .build();
        assert_eq!(
            read_tiff(gps_block, Block::GpsIfd).gps_date.as_deref(),
            Some("2025:09:07")
        );
    }

    #[test]
    fn apple_content_identifier_is_read_from_the_makernote() {
        let id = "E905E6C6-C747-4805-942F-9904A0281F02";
        assert_eq!(
            apple_content_identifier(&apple_makernote(id)).as_deref(),
            Some(id)
        );
        let t = TiffBuilder::new()
            .exif(0x927c, (7, apple_makernote(id)))
            .build();
        assert_eq!(
            read_tiff(t, Block::Tiff).content_identifier.as_deref(),
            Some(id)
        );
        assert_eq!(apple_content_identifier(b"Canon\0\0\0\0\0\0\0MM"), None);
        // An offset pointing outside the MakerNote is ignored.
        let mut bad = apple_makernote(id);
        bad[16 + 12 + 8..16 + 12 + 12].copy_from_slice(&0xFFFF_FF00u32.to_be_bytes());
        assert_eq!(apple_content_identifier(&bad), None);
    }

    #[test]
    fn a_broken_gps_ifd_does_not_hide_the_dates() {
        let mut t = TiffBuilder::new()
            .exif(0x9003, ascii_val("2014:09:21 15:51:22"))
            .gps(0x001d, ascii_val("2014:09:21"))
            .build();
        // Point the GPS IFD pointer (last IFD0 entry) past the end.
        let n = u16::from_be_bytes([t[8], t[9]]) as usize;
        let last = 10 + (n - 1) * 12;
        assert_eq!(&t[last..last + 2], &[0x88, 0x25]);
        t[last + 8..last + 12].copy_from_slice(&0x00FF_FFFFu32.to_be_bytes());
        let f = read_tiff(t, Block::Tiff);
        assert_eq!(f.date_time_original.as_deref(), Some("2014:09:21 15:51:22"));
        assert!(f.gps_date.is_none());
        assert!(!f.problems.is_empty());
    }

    #[test]
    fn garbage_is_a_problem_not_a_panic() {
        assert!(!read_tiff(b"II*\0\xff\xff\xff\xff".to_vec(), Block::Tiff)
            .problems
            .is_empty());
        assert!(!read_tiff(vec![], Block::Tiff).problems.is_empty());
    }
}
