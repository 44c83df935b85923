//! A minimal EXIF (TIFF) writer, big-endian like Apple's.
//!
//! Written by hand because no maintained Rust crate writes EXIF: kamadak-exif
//! has only an experimental writer without MakerNote support, and
//! little_exif/img-parts do not cover the Apple MakerNote layout we need for
//! Live Photo pairing. The subset here is small and fully tested against
//! kamadak-exif and exiftool.

use chrono::{Datelike, FixedOffset, NaiveDateTime, Timelike};

use super::StillSpec;

const ASCII: u16 = 2;
const SHORT: u16 = 3;
const LONG: u16 = 4;
const RATIONAL: u16 = 5;
const UNDEFINED: u16 = 7;
const SLONG: u16 = 9;
const BYTE: u16 = 1;

struct Entry {
    tag: u16,
    typ: u16,
    count: u32,
    /// The value, already big-endian encoded (`count` × type size bytes).
    data: Vec<u8>,
}

fn ascii(tag: u16, s: &str) -> Entry {
    let mut data = s.as_bytes().to_vec();
    data.push(0);
    Entry {
        tag,
        typ: ASCII,
        count: data.len() as u32,
        data,
    }
}

fn undefined(tag: u16, bytes: &[u8]) -> Entry {
    Entry {
        tag,
        typ: UNDEFINED,
        count: bytes.len() as u32,
        data: bytes.to_vec(),
    }
}

fn long(tag: u16, v: u32) -> Entry {
    Entry {
        tag,
        typ: LONG,
        count: 1,
        data: v.to_be_bytes().to_vec(),
    }
}

fn short(tag: u16, v: u16) -> Entry {
    Entry {
        tag,
        typ: SHORT,
        count: 1,
        data: v.to_be_bytes().to_vec(),
    }
}

fn rational(tag: u16, num: u32, den: u32) -> Entry {
    let mut data = num.to_be_bytes().to_vec();
    data.extend_from_slice(&den.to_be_bytes());
    Entry {
        tag,
        typ: RATIONAL,
        count: 1,
        data,
    }
}

fn exif_datetime(d: &NaiveDateTime) -> String {
    d.format("%Y:%m:%d %H:%M:%S").to_string()
}

fn exif_offset(o: &FixedOffset) -> String {
    let s = o.local_minus_utc();
    let sign = if s < 0 { '-' } else { '+' };
    let a = s.unsigned_abs();
    format!("{sign}{:02}:{:02}", a / 3600, (a % 3600) / 60)
}

/// Bytes one IFD with `entries` takes, including its out-of-line values.
fn ifd_len(entries: &[Entry]) -> usize {
    2 + 12 * entries.len()
        + 4
        + entries
            .iter()
            .map(|e| {
                if e.data.len() > 4 {
                    pad2(e.data.len())
                } else {
                    0
                }
            })
            .sum::<usize>()
}

fn pad2(n: usize) -> usize {
    n + (n & 1)
}

/// Appends one IFD at `out.len()`; value offsets are relative to `base`
/// (the TIFF header for ordinary IFDs, the MakerNote start for Apple's).
fn write_ifd(out: &mut Vec<u8>, base: usize, mut entries: Vec<Entry>) {
    entries.sort_by_key(|e| e.tag);
    let start = out.len();
    let mut data_at = start + 2 + 12 * entries.len() + 4;
    let mut data = Vec::new();
    out.extend_from_slice(&(entries.len() as u16).to_be_bytes());
    for e in &entries {
        out.extend_from_slice(&e.tag.to_be_bytes());
        out.extend_from_slice(&e.typ.to_be_bytes());
        out.extend_from_slice(&e.count.to_be_bytes());
        if e.data.len() <= 4 {
            let mut v = [0u8; 4];
            v[..e.data.len()].copy_from_slice(&e.data);
            out.extend_from_slice(&v);
        } else {
            out.extend_from_slice(&((data_at - base) as u32).to_be_bytes());
            data.extend_from_slice(&e.data);
            if e.data.len() & 1 == 1 {
                data.push(0);
            }
            data_at += pad2(e.data.len());
        }
    }
    out.extend_from_slice(&0u32.to_be_bytes()); // no next IFD
    out.extend_from_slice(&data);
}

/// Apple's MakerNote: `Apple iOS\0`, version 1, `MM`, then an IFD whose value
/// offsets count from the start of the MakerNote (exiftool: Base = start - 14).
fn apple_makernote(content_identifier: &str) -> Vec<u8> {
    let mut out = b"Apple iOS\0\0\x01MM".to_vec();
    let entries = vec![
        // MakerNoteVersion: iOS 17 phones write 14 or 15.
        Entry {
            tag: 0x0001,
            typ: SLONG,
            count: 1,
            data: 14i32.to_be_bytes().to_vec(),
        },
        // ContentIdentifier (exiftool ≥ 12.19 calls it MediaGroupUUID).
        ascii(0x0011, content_identifier),
    ];
    write_ifd(&mut out, 0, entries);
    out
}

/// The TIFF structure (starting `MM\0*`) holding the spec's EXIF, or `None`
/// when the spec asks for no metadata. JPEG wraps it in APP1 (`Exif\0\0`),
/// HEIF in an `Exif` item, PNG in an `eXIf` chunk.
pub fn exif_tiff(spec: &StillSpec) -> Option<Vec<u8>> {
    if !spec.has_exif() {
        return None;
    }
    let mut ifd0 = Vec::new();
    if let Some(m) = &spec.make {
        ifd0.push(ascii(0x010F, m));
    }
    if let Some(m) = &spec.model {
        ifd0.push(ascii(0x0110, m));
    }
    if let Some(s) = &spec.software {
        ifd0.push(ascii(0x0131, s));
    }
    if let Some(d) = &spec.modified {
        ifd0.push(ascii(0x0132, &exif_datetime(d)));
    }
    // Orientation top-left, 72 dpi, centred chroma: what every phone writes,
    // and what the Exif spec requires of a JPEG's IFD0 (exiftool -validate).
    ifd0.push(short(0x0112, 1));
    ifd0.push(rational(0x011A, 72, 1));
    ifd0.push(rational(0x011B, 72, 1));
    ifd0.push(short(0x0128, 2));
    ifd0.push(short(0x0213, 1));

    // ExifVersion 2.32, the Exif IFD's required tags, and the pixel size.
    let mut exif = vec![
        undefined(0x9000, b"0232"),
        undefined(0x9101, &[1, 2, 3, 0]),
        undefined(0xA000, b"0100"),
        short(0xA001, 1),
        long(0xA002, spec.width),
        long(0xA003, spec.height),
    ];
    if let Some(d) = &spec.taken {
        exif.push(ascii(0x9003, &exif_datetime(d)));
    }
    if let Some(d) = &spec.digitized {
        exif.push(ascii(0x9004, &exif_datetime(d)));
    }
    if let Some(o) = &spec.offset {
        let s = exif_offset(o);
        if spec.modified.is_some() {
            exif.push(ascii(0x9010, &s));
        }
        exif.push(ascii(0x9011, &s));
        if spec.digitized.is_some() {
            exif.push(ascii(0x9012, &s));
        }
    }
    if let Some(s) = &spec.subsec {
        exif.push(ascii(0x9291, s));
        if spec.digitized.is_some() {
            exif.push(ascii(0x9292, s));
        }
    }
    if let Some(id) = &spec.content_identifier {
        exif.push(undefined(0x927C, &apple_makernote(id)));
    }
    if let Some(id) = &spec.unique_id {
        exif.push(ascii(0xA420, id));
    }

    let gps = spec.gps_utc.map(|g| {
        let mut ts = Vec::with_capacity(24);
        for v in [g.hour(), g.minute(), g.second()] {
            ts.extend_from_slice(&v.to_be_bytes());
            ts.extend_from_slice(&1u32.to_be_bytes());
        }
        vec![
            Entry {
                tag: 0x0000,
                typ: BYTE,
                count: 4,
                data: vec![2, 2, 0, 0],
            },
            Entry {
                tag: 0x0007,
                typ: RATIONAL,
                count: 3,
                data: ts,
            },
            ascii(
                0x001D,
                &format!("{:04}:{:02}:{:02}", g.year(), g.month(), g.day()),
            ),
        ]
    });

    // Layout: header | IFD0 | Exif IFD | GPS IFD. Pointer entries are inline
    // LONGs, so every IFD's size is known before the pointers are filled in.
    let ifd0_len = ifd_len(&ifd0) + 12 * (1 + usize::from(gps.is_some()));
    let exif_at = 8 + ifd0_len;
    let gps_at = exif_at + ifd_len(&exif);
    ifd0.push(long(0x8769, exif_at as u32));
    if gps.is_some() {
        ifd0.push(long(0x8825, gps_at as u32));
    }
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(b"MM\0\x2A");
    out.extend_from_slice(&8u32.to_be_bytes());
    write_ifd(&mut out, 0, ifd0);
    debug_assert_eq!(out.len(), exif_at);
    write_ifd(&mut out, 0, exif);
    if let Some(g) = gps {
        debug_assert_eq!(out.len(), gps_at);
        write_ifd(&mut out, 0, g);
    }
    Some(out)
}
