//! `verify --deep`: is the content itself whole, whatever its hash says?
//!
//! A hash proves the archived bytes are the bytes that were copied; it cannot
//! tell that a photo was already cut short on the phone (icloudpd#1311: videos
//! silently saved without their `moov`). So `--deep` decodes every image
//! (libheif for HEIC/HEIF, the `image` crate for JPEG, PNG, GIF, WebP, TIFF)
//! and walks every movie's ISO-BMFF/QuickTime box structure.
//!
//! The box walk is written here because no maintained crate validates a
//! QuickTime file's structure without also demuxing it; it needs only box
//! headers and the `stco`/`co64` chunk-offset tables.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use crate::media::{self, Kind};

/// The `moov` box is read into memory to walk its sample tables; anything
/// larger than this is not a real movie header.
const MAX_MOOV: u64 = 256 << 20;

/// What a deep check concluded about one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deep {
    /// Decoded (image) or structurally whole (movie).
    Whole(Kind),
    /// Damaged: in words, what is wrong.
    Damaged(String),
    /// Not a kind camroll can check (unknown content).
    Unchecked(String),
}

/// Checks one file's content.
pub fn check(path: &Path) -> Deep {
    let mut f = match File::open(path) {
        Ok(f) => f,
        Err(e) => return Deep::Damaged(format!("cannot open: {e}")),
    };
    let len = match f.metadata() {
        Ok(m) => m.len(),
        Err(e) => return Deep::Damaged(format!("cannot read file information: {e}")),
    };
    let mut head = [0u8; media::SNIFF_LEN];
    let n = match crate::hash::read_full(&mut f, &mut head) {
        Ok(n) => n,
        Err(e) => return Deep::Damaged(format!("cannot read: {e}")),
    };
    if n == 0 {
        return Deep::Damaged("empty file (0 bytes)".into());
    }
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_string);
    let Some(kind) = media::sniff(&head[..n], ext.as_deref()) else {
        return Deep::Unchecked("content not recognised as a photo or video".into());
    };
    let r = match kind {
        Kind::QuickTime | Kind::Mp4 | Kind::Raw => check_bmff(&mut f, len),
        Kind::Heif => check_heif(path),
        Kind::Aae => check_plist(path),
        Kind::Jpeg | Kind::Png | Kind::Gif | Kind::Webp | Kind::Tiff => check_image(path, kind),
    };
    match r {
        Ok(()) => Deep::Whole(kind),
        Err(why) => Deep::Damaged(format!("{} {why}", kind_label(kind))),
    }
}

fn kind_label(k: Kind) -> &'static str {
    match k {
        Kind::Jpeg => "JPEG:",
        Kind::Heif => "HEIF:",
        Kind::Png => "PNG:",
        Kind::Gif => "GIF:",
        Kind::Webp => "WebP:",
        Kind::Tiff => "TIFF:",
        Kind::Raw => "RAW (ISO-BMFF):",
        Kind::QuickTime => "QuickTime movie:",
        Kind::Mp4 => "MP4 movie:",
        Kind::Aae => "AAE sidecar:",
    }
}

/// Decodes a JPEG/PNG/GIF/WebP/TIFF fully. JPEG decoders conceal a missing
/// tail (grey rows), so a JPEG's marker structure must also reach its
/// end-of-image marker.
fn check_image(path: &Path, kind: Kind) -> Result<(), String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read: {e}"))?;
    if kind == Kind::Jpeg {
        jpeg_reaches_eoi(&bytes)?;
    }
    let format = match kind {
        Kind::Jpeg => image::ImageFormat::Jpeg,
        Kind::Png => image::ImageFormat::Png,
        Kind::Gif => image::ImageFormat::Gif,
        Kind::Webp => image::ImageFormat::WebP,
        _ => image::ImageFormat::Tiff,
    };
    let mut reader = image::ImageReader::with_format(std::io::Cursor::new(&bytes), format);
    // Camera RAW is TIFF-based but not decodable as a TIFF image: check its header only.
    if kind == Kind::Tiff && is_raw_name(path) {
        return reader
            .into_dimensions()
            .map(|_| ())
            .map_err(|e| format!("unreadable header: {e}"));
    }
    reader.no_limits();
    reader
        .decode()
        .map(|_| ())
        .map_err(|e| format!("does not decode: {e}"))
}

/// Walks a JPEG's markers from SOI: segments by their lengths, entropy-coded
/// data up to the next marker (`FF 00` stuffing and `RSTn` are data), until
/// EOI. Bytes after EOI (maker trailers) are allowed; reaching the end of the
/// file first means it was cut short. Written here because decoders do not
/// report a missing tail.
fn jpeg_reaches_eoi(b: &[u8]) -> Result<(), String> {
    let cut = || {
        Err(
            "the image data stops before its end-of-image marker: the file is cut short"
                .to_string(),
        )
    };
    let mut p = 2; // after SOI
    loop {
        // Next marker (fill bytes 0xFF may repeat).
        while p < b.len() && b[p] != 0xFF {
            p += 1;
        }
        while p < b.len() && b[p] == 0xFF {
            p += 1;
        }
        let Some(&m) = b.get(p) else { return cut() };
        p += 1;
        match m {
            0xD9 => return Ok(()),
            0x01 | 0xD0..=0xD7 => {}
            0xDA => {
                // SOS header, then entropy-coded data until a real marker.
                let len = b
                    .get(p..p + 2)
                    .map(|l| usize::from(l[0]) << 8 | usize::from(l[1]));
                let Some(len) = len else { return cut() };
                p += len;
                loop {
                    while p < b.len() && b[p] != 0xFF {
                        p += 1;
                    }
                    match b.get(p + 1) {
                        None => return cut(),
                        Some(0x00) | Some(0xD0..=0xD7) | Some(0xFF) => p += 1,
                        Some(_) => break,
                    }
                }
            }
            _ => {
                let len = b
                    .get(p..p + 2)
                    .map(|l| usize::from(l[0]) << 8 | usize::from(l[1]));
                let Some(len) = len else { return cut() };
                if len < 2 {
                    return Err(format!(
                        "a marker segment at offset {p} has an impossible length"
                    ));
                }
                p += len;
            }
        }
    }
}

fn is_raw_name(path: &Path) -> bool {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    matches!(
        ext.as_str(),
        "dng" | "cr2" | "nef" | "arw" | "raf" | "orf" | "rw2"
    )
}

fn check_heif(path: &Path) -> Result<(), String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read: {e}"))?;
    let ctx = libheif_rs::HeifContext::read_from_bytes(&bytes)
        .map_err(|e| format!("does not parse: {e}"))?;
    let handle = ctx
        .primary_image_handle()
        .map_err(|e| format!("no primary image: {e}"))?;
    let lib = libheif_rs::LibHeif::new();
    lib.decode(
        &handle,
        libheif_rs::ColorSpace::Rgb(libheif_rs::RgbChroma::Rgb),
        None,
    )
    .map(|_| ())
    .map_err(|e| format!("does not decode: {e}"))
}

fn check_plist(path: &Path) -> Result<(), String> {
    plist::Value::from_file(path)
        .map(|_| ())
        .map_err(|e| format!("not a readable property list: {e}"))
}

/// One box header: type, where its body starts, where it ends.
struct BoxHead {
    ty: [u8; 4],
    body: u64,
    end: u64,
}

/// Reads the box header at `pos` of a file of `len` bytes.
fn read_head(f: &mut File, pos: u64, len: u64) -> Result<BoxHead, String> {
    let mut h = [0u8; 16];
    f.seek(SeekFrom::Start(pos))
        .map_err(|e| format!("cannot seek: {e}"))?;
    let avail = (len - pos).min(16) as usize;
    let n = crate::hash::read_full(f, &mut h[..avail]).map_err(|e| format!("cannot read: {e}"))?;
    if n < 8 {
        return Err(format!(
            "{} stray bytes at offset {pos} after the last box: the file is cut short or has garbage appended",
            len - pos
        ));
    }
    let size32 = u32::from_be_bytes([h[0], h[1], h[2], h[3]]);
    let ty = [h[4], h[5], h[6], h[7]];
    let (size, header) = match size32 {
        0 => (len - pos, 8),
        1 => {
            if n < 16 {
                return Err(format!(
                    "box '{}' at offset {pos}: 64-bit size cut off",
                    ty_text(&ty)
                ));
            }
            let mut b = [0u8; 8];
            b.copy_from_slice(&h[8..16]);
            (u64::from_be_bytes(b), 16)
        }
        s => (u64::from(s), 8),
    };
    check_box_type(&ty, pos)?;
    if size < header {
        return Err(format!(
            "box '{}' at offset {pos} has an impossible size ({size} bytes)",
            ty_text(&ty)
        ));
    }
    let end = pos.saturating_add(size);
    if end > len {
        return Err(format!(
            "box '{}' at offset {pos} claims {size} bytes but the file ends {} bytes later: the file is cut short",
            ty_text(&ty),
            len - pos
        ));
    }
    Ok(BoxHead {
        ty,
        body: pos + header,
        end,
    })
}

/// Top-level box types are four printable ASCII characters in every real
/// file; anything else means the walk has landed in damaged or foreign bytes.
fn check_box_type(ty: &[u8; 4], pos: u64) -> Result<(), String> {
    if ty.iter().all(|b| (0x20..0x7f).contains(b) || *b == 0xA9) {
        Ok(())
    } else {
        Err(format!(
            "unreadable box type {:02x?} at offset {pos}: the structure is damaged",
            ty
        ))
    }
}

fn ty_text(ty: &[u8; 4]) -> String {
    String::from_utf8_lossy(ty).into_owned()
}

/// Walks the top-level boxes, then the `moov` box's tracks: sizes must nest,
/// a `moov` must exist, and every chunk offset of every track must point into
/// the file's media data.
fn check_bmff(f: &mut File, len: u64) -> Result<(), String> {
    let mut pos = 0;
    let mut moov: Option<BoxHead> = None;
    let mut mdats: Vec<(u64, u64)> = Vec::new();
    while pos < len {
        let b = read_head(f, pos, len)?;
        pos = b.end;
        match &b.ty {
            b"moov" => {
                if moov.is_some() {
                    return Err("two 'moov' boxes".into());
                }
                moov = Some(b);
            }
            b"mdat" => mdats.push((b.body, b.end)),
            _ => {}
        }
    }
    let Some(moov) = moov else {
        return Err("no 'moov' box (movie header): the file is cut short or was never finished; players cannot open it".into());
    };
    let size = moov.end - moov.body;
    if size > MAX_MOOV {
        return Err(format!("'moov' box of {size} bytes is implausibly large"));
    }
    let mut body = vec![0u8; size as usize];
    f.seek(SeekFrom::Start(moov.body))
        .and_then(|_| f.read_exact(&mut body))
        .map_err(|e| format!("cannot read the movie header: {e}"))?;
    let mut state = MoovState {
        file_len: len,
        mdats,
        tracks: 0,
        mvhd: false,
        offsets: 0,
    };
    walk_moov(&body, 0, body.len(), moov.body, 0, &mut state)?;
    if !state.mvhd {
        return Err("the movie header has no 'mvhd'".into());
    }
    if state.tracks == 0 {
        return Err("the movie header lists no tracks".into());
    }
    Ok(())
}

struct MoovState {
    file_len: u64,
    mdats: Vec<(u64, u64)>,
    tracks: u32,
    mvhd: bool,
    offsets: u64,
}

/// Walks the boxes in `buf[start..end]` (file offset of `buf[0]` is `base`).
fn walk_moov(
    buf: &[u8],
    start: usize,
    end: usize,
    base: u64,
    depth: u32,
    st: &mut MoovState,
) -> Result<(), String> {
    if depth > 16 {
        return Err("boxes nested too deeply".into());
    }
    let mut p = start;
    while p < end {
        if end - p < 8 {
            return Err(format!(
                "{} stray bytes inside the movie header at offset {}",
                end - p,
                base + p as u64
            ));
        }
        let size32 = be32(buf, p).unwrap_or(0) as u64;
        let ty = [buf[p + 4], buf[p + 5], buf[p + 6], buf[p + 7]];
        let (size, header) = match size32 {
            0 => ((end - p) as u64, 8usize),
            1 => match be64(buf, p + 8) {
                Some(s) => (s, 16),
                None => return Err("a 64-bit box size is cut off in the movie header".into()),
            },
            s => (s, 8),
        };
        if size < header as u64 || size > (end - p) as u64 {
            return Err(format!(
                "box '{}' at offset {} claims {size} bytes, more than its parent holds: the movie header is damaged",
                ty_text(&ty),
                base + p as u64
            ));
        }
        let b_end = p + size as usize;
        let body = p + header;
        match &ty {
            b"trak" => {
                st.tracks += 1;
                walk_moov(buf, body, b_end, base, depth + 1, st)?;
            }
            b"mdia" | b"minf" | b"stbl" | b"edts" => {
                walk_moov(buf, body, b_end, base, depth + 1, st)?
            }
            b"mvhd" => st.mvhd = true,
            b"stco" | b"co64" => check_offsets(buf, body, b_end, &ty == b"co64", st)?,
            _ => {}
        }
        p = b_end;
    }
    Ok(())
}

fn check_offsets(
    buf: &[u8],
    body: usize,
    end: usize,
    wide: bool,
    st: &mut MoovState,
) -> Result<(), String> {
    let name = if wide { "co64" } else { "stco" };
    let n = be32(buf, body + 4).ok_or_else(|| format!("'{name}' box cut off"))? as usize;
    let w = if wide { 8 } else { 4 };
    if body + 8 + n.saturating_mul(w) > end {
        return Err(format!(
            "'{name}' lists {n} chunks but holds fewer: the sample table is damaged"
        ));
    }
    for i in 0..n {
        let at = body + 8 + i * w;
        let off = if wide {
            be64(buf, at)
        } else {
            be32(buf, at).map(u64::from)
        }
        .unwrap_or(u64::MAX);
        let inside = if st.mdats.is_empty() {
            off < st.file_len
        } else {
            st.mdats.iter().any(|(s, e)| off >= *s && off < *e)
        };
        if !inside {
            return Err(format!(
                "chunk {} of a track starts at offset {off}, outside the media data (file is {} bytes): the samples are missing or cut short",
                i + 1,
                st.file_len
            ));
        }
        st.offsets += 1;
    }
    Ok(())
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn be64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use camroll_sim::synth::{self, StillSpec, VideoSpec};

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    // ===== Success cases =====
    #[test]
    fn whole_synthetic_media_passes() {
        let d = tempfile::tempdir().unwrap();
        let cases = [
            ("a.jpg", synth::jpeg(&StillSpec::bare(1)), Kind::Jpeg),
            ("a.heic", synth::heic(&StillSpec::bare(2)), Kind::Heif),
            ("a.png", synth::png(&synth::PngSpec::bare(3)), Kind::Png),
            ("a.mov", synth::mov(&VideoSpec::bare(4)), Kind::QuickTime),
            ("a.mp4", synth::mp4(&VideoSpec::bare(5)), Kind::Mp4),
        ];
        for (name, bytes, kind) in cases {
            let p = write(d.path(), name, &bytes);
            assert_eq!(check(&p), Deep::Whole(kind), "{name}");
        }
        // Bytes after the end-of-image marker (maker trailers) are fine.
        let mut trailer = synth::jpeg(&StillSpec::bare(7));
        trailer.extend(std::iter::repeat_n(0xAB, 10_000));
        assert_eq!(
            check(&write(d.path(), "t.jpg", &trailer)),
            Deep::Whole(Kind::Jpeg)
        );
        let live = synth::mov(&VideoSpec {
            lead: synth::MovieLead::Mdat,
            ..VideoSpec::bare(6)
        });
        assert!(matches!(
            check(&write(d.path(), "l.mov", &live)),
            Deep::Whole(_)
        ));
    }

    // ===== Failure cases =====
    #[test]
    fn cut_short_media_is_damaged() {
        let d = tempfile::tempdir().unwrap();
        for (name, bytes) in [
            ("a.jpg", synth::jpeg(&StillSpec::bare(1))),
            ("a.heic", synth::heic(&StillSpec::bare(2))),
            ("a.png", synth::png(&synth::PngSpec::bare(3))),
            ("a.mov", synth::mov(&VideoSpec::bare(4))),
        ] {
            let cut = &bytes[..bytes.len() * 2 / 3];
            let p = write(d.path(), name, cut);
            assert!(
                matches!(check(&p), Deep::Damaged(_)),
                "{name}: {:?}",
                check(&p)
            );
        }
    }

    #[test]
    fn a_movie_without_moov_or_with_wild_chunk_offsets_is_damaged() {
        let d = tempfile::tempdir().unwrap();
        let mov = synth::mov(&VideoSpec::bare(4));
        // Drop the trailing moov box entirely (what icloudpd#1311 left behind).
        let moov_at = mov.windows(4).rposition(|w| w == b"moov").unwrap() - 4;
        let p = write(d.path(), "nomoov.mov", &mov[..moov_at]);
        match check(&p) {
            Deep::Damaged(why) => assert!(why.contains("no 'moov'"), "{why}"),
            other => panic!("{other:?}"),
        }
        // Point the first chunk offset past the end of the file.
        let mut bad = mov.clone();
        let stco = bad.windows(4).position(|w| w == b"stco").unwrap();
        bad[stco + 12..stco + 16].copy_from_slice(&0x7fff_0000u32.to_be_bytes());
        let p = write(d.path(), "wild.mov", &bad);
        match check(&p) {
            Deep::Damaged(why) => assert!(why.contains("outside the media data"), "{why}"),
            other => panic!("{other:?}"),
        }
    }
}
