//! Finding the EXIF and XMP blocks inside each still-image container, reading
//! only the metadata segments (never the image data).
//!
//! kamadak-exif's own `read_from_container` is not used for the containers:
//! it reads whole TIFF files and whole PNG chunks, stops at the first damaged
//! segment (a JPEG cut short after its EXIF segment yields nothing), and does
//! not return XMP. These walkers are small, bounded, and hand their TIFF
//! blocks to kamadak-exif.

use std::io::{BufReader, Read, Seek, SeekFrom};

use super::bmff;
use super::exif_read::{read_tiff, Block, ExifFacts, MAX_TIFF};
use super::xmp::MAX_XMP;
use super::Kind;

/// The metadata blocks of one still.
#[derive(Debug, Default, Clone)]
pub struct StillMeta {
    /// What the EXIF blocks say.
    pub exif: ExifFacts,
    /// The XMP packet, from the container or from TIFF tag 700.
    pub xmp: Option<Vec<u8>>,
    /// What was damaged or missing while reading, for `inspect` and warnings.
    pub problems: Vec<String>,
}

impl StillMeta {
    fn add_tiff(&mut self, tiff: Vec<u8>, block: Block) {
        let facts = read_tiff(tiff, block);
        self.exif.merge(facts);
    }

    fn finish(mut self) -> StillMeta {
        if self.xmp.is_none() {
            self.xmp = self.exif.xmp.take();
        }
        let p = std::mem::take(&mut self.exif.problems);
        self.problems.extend(p);
        self
    }
}

/// Reads the EXIF/XMP of a still of the given kind.
pub fn read_still<R: Read + Seek>(r: &mut R, kind: Kind) -> StillMeta {
    let mut m = StillMeta::default();
    if let Err(e) = r.seek(SeekFrom::Start(0)) {
        m.problems.push(format!("cannot read: {e}"));
        return m;
    }
    match kind {
        // Segments are skipped within the buffer (`seek_relative`): a plain
        // seek drops it, so a JPEG cost a 16 KiB read and an lseek per
        // segment (14 system calls a photo, issue 13).
        Kind::Jpeg => jpeg(&mut BufReader::with_capacity(16 << 10, r), &mut m),
        Kind::Png => png(&mut BufReader::with_capacity(16 << 10, r), &mut m),
        Kind::Webp => webp(&mut BufReader::with_capacity(16 << 10, r), &mut m),
        Kind::Tiff => tiff(r, &mut m),
        Kind::Heif => {
            let h = bmff::read_heif(r);
            m.problems.extend(h.problems);
            if let Some(t) = h.exif {
                m.add_tiff(t, Block::Tiff);
            }
            m.xmp = h.xmp;
        }
        Kind::Raw => {
            let (blocks, problems) = bmff::read_cr3(r);
            m.problems.extend(problems);
            for (name, data) in blocks {
                let block = match &name {
                    b"CMT2" => Block::ExifIfd,
                    b"CMT4" => Block::GpsIfd,
                    // CMT3 is Canon's MakerNote, not dates we use.
                    b"CMT3" => continue,
                    _ => Block::Tiff,
                };
                m.add_tiff(data, block);
            }
        }
        // GIF carries no EXIF; movies and sidecars are read elsewhere.
        Kind::Gif | Kind::QuickTime | Kind::Mp4 | Kind::Aae => {}
    }
    m.finish()
}

const JPEG_XMP: &[u8] = b"http://ns.adobe.com/xap/1.0/\0";

/// JPEG: segments up to the start of scan; APP1 `Exif\0\0` and APP1 XMP.
fn jpeg<R: Read + Seek>(r: &mut BufReader<R>, m: &mut StillMeta) {
    let mut b = [0u8; 4];
    if r.read_exact(&mut b[..2]).is_err() || b[..2] != [0xFF, 0xD8] {
        m.problems.push("JPEG: no start-of-image marker".into());
        return;
    }
    for _ in 0..4096 {
        if r.read_exact(&mut b[..2]).is_err() {
            m.problems
                .push("JPEG: ends inside the header segments".into());
            return;
        }
        if b[0] != 0xFF {
            // Stray bytes between segments (seen after APP1 in some Samsung
            // files): resynchronise on the next 0xFF, within a bound.
            m.problems.push("JPEG: stray bytes between segments".into());
            let mut skipped = 0;
            let mut c = [b[1]];
            while c[0] != 0xFF {
                skipped += 1;
                if skipped > 4096 || r.read_exact(&mut c).is_err() {
                    return;
                }
            }
            b[1] = match r.read_exact(&mut c) {
                Ok(()) => c[0],
                Err(_) => return,
            };
        }
        let mut marker = b[1];
        // Fill bytes: 0xFF repeated before a marker.
        while marker == 0xFF {
            if r.read_exact(&mut b[..1]).is_err() {
                return;
            }
            marker = b[0];
        }
        match marker {
            0xD8 | 0x01 | 0xD0..=0xD7 => continue,
            0xDA | 0xD9 => return, // image data (or the end) follows: metadata is over.
            _ => {}
        }
        if r.read_exact(&mut b[..2]).is_err() {
            m.problems.push("JPEG: ends inside a segment header".into());
            return;
        }
        let len = u16::from_be_bytes([b[0], b[1]]) as usize;
        if len < 2 {
            m.problems.push("JPEG: bad segment length".into());
            return;
        }
        let body = len - 2;
        if marker == 0xE1 && (m.exif.date_time_original.is_none() || m.xmp.is_none()) {
            let mut data = vec![0u8; body];
            if let Err(e) = r.read_exact(&mut data) {
                m.problems
                    .push(format!("JPEG: APP1 segment cut short ({e})"));
                return;
            }
            if let Some(t) = data.strip_prefix(b"Exif\0\0") {
                if m.exif == ExifFacts::default() {
                    m.add_tiff(t.to_vec(), Block::Tiff);
                }
            } else if let Some(x) = data.strip_prefix(JPEG_XMP) {
                if m.xmp.is_none() {
                    m.xmp = Some(x.to_vec());
                }
            }
        } else if r.seek_relative(body as i64).is_err() {
            return;
        }
    }
}

/// The most bytes kept for a metadata chunk of this type.
fn cap_for(ty: &[u8; 4]) -> u64 {
    match ty {
        b"iTXt" | b"XMP " => MAX_XMP as u64,
        _ => MAX_TIFF as u64,
    }
}

/// Reads exactly `len` bytes, growing the buffer as bytes arrive, so a chunk
/// that claims more than the file holds allocates only what is there.
fn read_exactly<R: Read>(r: &mut R, len: u64) -> Option<Vec<u8>> {
    let mut data = Vec::new();
    r.take(len).read_to_end(&mut data).ok()?;
    (data.len() as u64 == len).then_some(data)
}

/// PNG: `eXIf` and the `iTXt` XMP chunk; other chunks (image data) are skipped.
fn png<R: Read + Seek>(r: &mut BufReader<R>, m: &mut StillMeta) {
    let mut sig = [0u8; 8];
    if r.read_exact(&mut sig).is_err() {
        return;
    }
    for _ in 0..100_000 {
        let mut h = [0u8; 8];
        if r.read_exact(&mut h).is_err() {
            return; // a missing IEND is common and harmless here
        }
        let len = u32::from_be_bytes([h[0], h[1], h[2], h[3]]) as u64;
        let ty = [h[4], h[5], h[6], h[7]];
        match &ty {
            b"IEND" => return,
            b"eXIf" | b"iTXt" if len <= cap_for(&ty) => {
                let Some(data) = read_exactly(r, len) else {
                    m.problems
                        .push(format!("PNG: '{}' chunk cut short", bmff::fourcc(&ty)));
                    return;
                };
                if &ty == b"eXIf" {
                    // Some writers keep the JPEG-style "Exif\0\0" prefix.
                    let t = data.strip_prefix(b"Exif\0\0").unwrap_or(&data).to_vec();
                    m.add_tiff(t, Block::Tiff);
                } else if let Some(x) = itxt_xmp(&data, m) {
                    m.xmp = Some(x);
                }
                let _ = r.seek_relative(4); // CRC
            }
            _ => {
                if r.seek_relative(len as i64 + 4).is_err() {
                    return;
                }
            }
        }
    }
}

/// `iTXt` with keyword `XML:com.adobe.xmp`: keyword NUL, compression flag,
/// method, language NUL, translated keyword NUL, text.
fn itxt_xmp(d: &[u8], m: &mut StillMeta) -> Option<Vec<u8>> {
    let rest = d.strip_prefix(b"XML:com.adobe.xmp\0")?;
    let (&flag, rest) = rest.split_first()?;
    let rest = rest.get(1..)?;
    let lang_end = rest.iter().position(|&b| b == 0)?;
    let rest = &rest[lang_end + 1..];
    let tr_end = rest.iter().position(|&b| b == 0)?;
    let text = &rest[tr_end + 1..];
    if flag != 0 {
        m.problems.push("PNG: compressed XMP is not read".into());
        return None;
    }
    Some(text.to_vec())
}

/// WebP (RIFF): `EXIF` and `XMP ` chunks.
fn webp<R: Read + Seek>(r: &mut BufReader<R>, m: &mut StillMeta) {
    let mut h = [0u8; 12];
    if r.read_exact(&mut h).is_err() {
        return;
    }
    for _ in 0..10_000 {
        let mut c = [0u8; 8];
        if r.read_exact(&mut c).is_err() {
            return;
        }
        let len = u32::from_le_bytes([c[4], c[5], c[6], c[7]]) as u64;
        let padded = len + (len & 1);
        let ty = [c[0], c[1], c[2], c[3]];
        if (&ty == b"EXIF" || &ty == b"XMP ") && len <= cap_for(&ty) {
            let Some(data) = read_exactly(r, len) else {
                m.problems
                    .push(format!("WebP: '{}' chunk cut short", bmff::fourcc(&ty)));
                return;
            };
            if &ty == b"EXIF" {
                let t = data.strip_prefix(b"Exif\0\0").unwrap_or(&data).to_vec();
                m.add_tiff(t, Block::Tiff);
            } else {
                m.xmp = Some(data);
            }
            if padded > len && r.seek_relative(1).is_err() {
                return;
            }
        } else if r.seek_relative(padded as i64).is_err() {
            return;
        }
    }
}

/// TIFF/DNG and TIFF-based RAW: the file *is* the TIFF structure. The IFDs
/// usually sit in the first few hundred KiB, so that much is read first; the
/// whole file (up to a cap) only when the dates were not found there.
fn tiff<R: Read + Seek>(r: &mut R, m: &mut StillMeta) {
    const HEAD: u64 = 1 << 20;
    let len = match bmff::stream_len(r) {
        Ok(l) => l,
        Err(e) => {
            m.problems.push(format!("TIFF: {e}"));
            return;
        }
    };
    let first = len.min(HEAD);
    let Ok(head) = bmff::read_range(r, 0, first, HEAD) else {
        m.problems.push("TIFF: cannot read the header".into());
        return;
    };
    let facts = read_tiff(head, Block::Tiff);
    let found = facts.date_time_original.is_some() || facts.date_time_digitized.is_some();
    if found || len <= HEAD {
        m.exif.merge(facts);
        return;
    }
    match bmff::read_range(r, 0, len, MAX_TIFF as u64) {
        Ok(all) => m.add_tiff(all, Block::Tiff),
        Err(e) => {
            m.problems.push(format!("TIFF: {e}"));
            m.exif.merge(facts);
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::super::exif_read::tests::{ascii_val, TiffBuilder};
    use super::*;
    use std::io::Cursor;

    fn tiff_dto(d: &str) -> Vec<u8> {
        TiffBuilder::new().exif(0x9003, ascii_val(d)).build()
    }

    pub fn jpeg_with(tiff: &[u8], xmp: Option<&[u8]>, tail: &[u8]) -> Vec<u8> {
        let mut f = vec![0xFF, 0xD8];
        f.extend_from_slice(&[0xFF, 0xE0, 0, 16]);
        f.extend_from_slice(b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0");
        let app1 = [&b"Exif\0\0"[..], tiff].concat();
        f.extend_from_slice(&[0xFF, 0xE1]);
        f.extend_from_slice(&((app1.len() + 2) as u16).to_be_bytes());
        f.extend_from_slice(&app1);
        if let Some(x) = xmp {
            let app1 = [JPEG_XMP, x].concat();
            f.extend_from_slice(&[0xFF, 0xE1]);
            f.extend_from_slice(&((app1.len() + 2) as u16).to_be_bytes());
            f.extend_from_slice(&app1);
        }
        f.extend_from_slice(tail);
        f
    }

    #[test]
    fn jpeg_exif_and_xmp_segments_are_found() {
        let f = jpeg_with(
            &tiff_dto("2019:06:09 12:57:32"),
            Some(b"<x/>"),
            &[0xFF, 0xDA, 0, 2, 1, 2, 3],
        );
        let m = read_still(&mut Cursor::new(f), Kind::Jpeg);
        assert_eq!(
            m.exif.date_time_original.as_deref(),
            Some("2019:06:09 12:57:32")
        );
        assert_eq!(m.xmp.as_deref(), Some(&b"<x/>"[..]));
    }

    #[test]
    fn a_jpeg_cut_after_its_exif_segment_still_gives_the_date() {
        // The file ends 3 bytes into the next segment (vivo X90 Pro+ case).
        let f = jpeg_with(&tiff_dto("2023:07:09 20:36:33"), None, &[0xFF, 0xE2, 0x10]);
        let m = read_still(&mut Cursor::new(f), Kind::Jpeg);
        assert_eq!(
            m.exif.date_time_original.as_deref(),
            Some("2023:07:09 20:36:33")
        );
        assert!(!m.problems.is_empty());
    }

    #[test]
    fn png_exif_and_itxt_xmp_chunks_are_read() {
        let chunk = |ty: &[u8; 4], d: &[u8]| {
            [&(d.len() as u32).to_be_bytes()[..], ty, d, &[0, 0, 0, 0]].concat()
        };
        let mut f = b"\x89PNG\r\n\x1a\n".to_vec();
        f.extend(chunk(b"IHDR", &[0; 13]));
        f.extend(chunk(b"IDAT", &[0; 100]));
        f.extend(chunk(
            b"iTXt",
            b"XML:com.adobe.xmp\0\0\0\0\0<xmp:CreateDate>2020-01-01</xmp:CreateDate>",
        ));
        f.extend(chunk(b"eXIf", &tiff_dto("2020:01:01 10:00:00")));
        f.extend(chunk(b"IEND", b""));
        let m = read_still(&mut Cursor::new(f), Kind::Png);
        assert_eq!(
            m.exif.date_time_original.as_deref(),
            Some("2020:01:01 10:00:00")
        );
        assert!(m.xmp.unwrap().starts_with(b"<xmp:CreateDate>"));
    }

    #[test]
    fn a_chunk_claiming_more_than_the_file_holds_is_cut_short_not_allocated() {
        let mut f = b"\x89PNG\r\n\x1a\n".to_vec();
        f.extend_from_slice(&(60u32 << 20).to_be_bytes());
        f.extend_from_slice(b"eXIfII*\0");
        let m = read_still(&mut Cursor::new(f), Kind::Png);
        assert!(
            m.problems.iter().any(|p| p.contains("cut short")),
            "{:?}",
            m.problems
        );
        assert_eq!(read_exactly(&mut Cursor::new(vec![1, 2, 3]), 1 << 40), None);
        assert_eq!(
            read_exactly(&mut Cursor::new(vec![1, 2, 3]), 2),
            Some(vec![1, 2])
        );
    }

    #[test]
    fn webp_exif_and_xmp_chunks_are_read() {
        let chunk = |ty: &[u8; 4], d: &[u8]| {
            let mut c = [&ty[..], &(d.len() as u32).to_le_bytes()[..], d].concat();
            if d.len() % 2 == 1 {
                c.push(0);
            }
            c
        };
        let body = [
            chunk(b"VP8X", &[0; 10]),
            chunk(b"EXIF", &tiff_dto("2021:02:03 04:05:06")),
            chunk(b"XMP ", b"<x/>"),
        ]
        .concat();
        let f = [
            &b"RIFF"[..],
            &((body.len() + 4) as u32).to_le_bytes(),
            b"WEBP",
            &body,
        ]
        .concat();
        let m = read_still(&mut Cursor::new(f), Kind::Webp);
        assert_eq!(
            m.exif.date_time_original.as_deref(),
            Some("2021:02:03 04:05:06")
        );
        assert_eq!(m.xmp.as_deref(), Some(&b"<x/>"[..]));
    }

    #[test]
    fn tiff_files_are_read_directly() {
        let m = read_still(
            &mut Cursor::new(tiff_dto("2020:12:29 14:24:45")),
            Kind::Tiff,
        );
        assert_eq!(
            m.exif.date_time_original.as_deref(),
            Some("2020:12:29 14:24:45")
        );
    }

    #[test]
    fn heif_exif_and_xmp_items_reach_the_facts() {
        let f = super::super::bmff::tests::heif(&tiff_dto("2023:02:21 14:33:08"), b"<x/>");
        let m = read_still(&mut Cursor::new(f), Kind::Heif);
        assert_eq!(
            m.exif.date_time_original.as_deref(),
            Some("2023:02:21 14:33:08")
        );
        assert_eq!(m.xmp.as_deref(), Some(&b"<x/>"[..]));
    }
}
