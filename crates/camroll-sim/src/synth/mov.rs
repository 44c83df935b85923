//! QuickTime `.MOV` and `.MP4` movies: the samples and track structure of a
//! tiny template (1 s of 64x48 video made by `scripts/make-templates`),
//! rewritten around our own `moov` metadata: header times, Apple `keys`/`ilst`
//! (creation date with offset, content identifier), and optional padding.
//!
//! Layout written: `[ftyp][wide] mdat [free padding] moov`. The padding sits
//! after `mdat`, so sample offsets stay valid, and is skipped with a seek, so
//! a 4 GiB file is sparse on disk and never held in memory.

use std::io::{Cursor, Seek, SeekFrom, Write};

use chrono::{DateTime, Utc};

use super::bmff::{boxes, find, put_box, put_full_box};
use super::{Mix, SynthError, VideoSpec};

static MOV_TEMPLATE: &[u8] = include_bytes!("../../../../fixtures/templates/movie.mov");
static MP4_TEMPLATE: &[u8] = include_bytes!("../../../../fixtures/templates/movie.mp4");

/// Seconds from 1904-01-01 (QuickTime's epoch) to 1970-01-01.
const QT_EPOCH_OFFSET: i64 = 2_082_844_800;

/// How a QuickTime movie starts. Camera movies start with `ftyp`; Live Photo
/// movies pulled over AFC have been seen starting with `wide` or `mdat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MovieLead {
    /// `ftyp` first, as camera movies start.
    #[default]
    Ftyp,
    /// A `wide` box first.
    Wide,
    /// `mdat` first, no `ftyp`.
    Mdat,
}

/// Which container [`write_video`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoContainer {
    /// `ftyp qt  `, HEVC (`hvc1`) samples.
    QuickTime,
    /// `ftyp mp42` compatible with `isom`, H.264 samples; always starts with `ftyp`.
    Mp4,
}

/// A QuickTime movie for `spec`, in memory. Use [`write_video`] for large `size_target`s.
pub fn mov(spec: &VideoSpec) -> Vec<u8> {
    in_memory(VideoContainer::QuickTime, spec)
}

/// An MP4 movie for `spec`, in memory.
pub fn mp4(spec: &VideoSpec) -> Vec<u8> {
    in_memory(VideoContainer::Mp4, spec)
}

fn in_memory(container: VideoContainer, spec: &VideoSpec) -> Vec<u8> {
    let mut c = Cursor::new(Vec::new());
    // Writing into a Vec cannot fail; the templates are checked by tests.
    match write_video(&mut c, container, spec) {
        Ok(_) => c.into_inner(),
        Err(_) => Vec::new(),
    }
}

/// Writes a movie for `spec` at the writer's current position and returns the
/// number of bytes it spans. Padding (`size_target`) is skipped with a seek:
/// on a file that leaves a hole, so huge movies cost neither time nor disk.
pub fn write_video<W: Write + Seek>(
    w: &mut W,
    container: VideoContainer,
    spec: &VideoSpec,
) -> Result<u64, SynthError> {
    let template = match container {
        VideoContainer::QuickTime => MOV_TEMPLATE,
        VideoContainer::Mp4 => MP4_TEMPLATE,
    };
    let bad = |what: &str| {
        SynthError::Io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("movie template: {what}"),
        ))
    };
    let mdat = find(template, 0, template.len(), b"mdat").ok_or_else(|| bad("no mdat"))?;
    let moov = find(template, 0, template.len(), b"moov").ok_or_else(|| bad("no moov"))?;
    let samples = &template[mdat.body..mdat.end];

    let mut head = Vec::with_capacity(64);
    let lead = if container == VideoContainer::Mp4 {
        MovieLead::Ftyp
    } else {
        spec.lead
    };
    match (container, lead) {
        (VideoContainer::Mp4, _) => put_box(&mut head, b"ftyp", b"mp42\0\0\0\x01isommp42mp41"),
        (VideoContainer::QuickTime, MovieLead::Ftyp) => {
            put_box(&mut head, b"ftyp", b"qt  \0\0\0\0qt  ")
        }
        _ => {}
    }
    if container == VideoContainer::QuickTime && lead != MovieLead::Mdat {
        // Apple's placeholder so mdat can later grow a 64-bit size in place.
        put_box(&mut head, b"wide", &[]);
    }
    let new_samples_at = head.len() + 8;
    head.extend_from_slice(&((samples.len() + 8) as u32).to_be_bytes());
    head.extend_from_slice(b"mdat");

    let shift = new_samples_at as i64 - mdat.body as i64;
    let moov_box = build_moov(template, moov.body, moov.end, shift, spec);

    let natural = (head.len() + samples.len() + moov_box.len()) as u64;
    let pad = spec
        .size_target
        .filter(|t| *t >= natural + 16)
        .map(|t| t - natural);

    let start = w.stream_position()?;
    w.write_all(&head)?;
    w.write_all(samples)?;
    if let Some(pad) = pad {
        if let Ok(p32) = u32::try_from(pad) {
            w.write_all(&p32.to_be_bytes())?;
            w.write_all(b"free")?;
            w.seek(SeekFrom::Current(pad as i64 - 8))?;
        } else {
            w.write_all(&1u32.to_be_bytes())?;
            w.write_all(b"free")?;
            w.write_all(&pad.to_be_bytes())?;
            w.seek(SeekFrom::Current(pad as i64 - 16))?;
        }
    }
    w.write_all(&moov_box)?;
    Ok(w.stream_position()? - start)
}

/// The template's `moov` with times patched, chunk offsets shifted, its
/// `udta`/`meta` replaced by ours, and a seed box so items differ.
fn build_moov(t: &[u8], body: usize, end: usize, shift: i64, spec: &VideoSpec) -> Vec<u8> {
    let qt_time = spec.created_utc.map(to_qt_time).unwrap_or(0);
    let mut payload = Vec::with_capacity(end - body + 512);
    for b in boxes(t, body, end) {
        match &b.ty {
            b"udta" | b"meta" | b"free" | b"skip" => {}
            _ => {
                let at = payload.len();
                payload.extend_from_slice(&t[b.start..b.end]);
                patch(&mut payload, at, at + (b.end - b.start), qt_time, shift);
            }
        }
    }
    payload.extend_from_slice(&keys_meta(spec));
    let mut m = Mix::new(spec.seed);
    let mut seed_bytes = Vec::with_capacity(16);
    seed_bytes.extend_from_slice(&m.next().to_be_bytes());
    seed_bytes.extend_from_slice(&m.next().to_be_bytes());
    put_box(&mut payload, b"free", &seed_bytes);
    let mut out = Vec::with_capacity(payload.len() + 8);
    put_box(&mut out, b"moov", &payload);
    out
}

fn to_qt_time(d: DateTime<Utc>) -> u64 {
    (d.timestamp() + QT_EPOCH_OFFSET).max(0) as u64
}

/// Patches, within `buf[start..end]` (whole boxes), every mvhd/tkhd/mdhd
/// creation+modification time and every stco/co64 chunk offset.
fn patch(buf: &mut [u8], start: usize, end: usize, qt_time: u64, shift: i64) {
    for b in boxes(buf, start, end) {
        match &b.ty {
            b"trak" | b"mdia" | b"minf" | b"stbl" => patch(buf, b.body, b.end, qt_time, shift),
            b"mvhd" | b"tkhd" | b"mdhd" => {
                let Some(&version) = buf.get(b.body) else {
                    continue;
                };
                let p = b.body + 4;
                if version == 1 && p + 16 <= b.end {
                    buf[p..p + 8].copy_from_slice(&qt_time.to_be_bytes());
                    buf[p + 8..p + 16].copy_from_slice(&qt_time.to_be_bytes());
                } else if p + 8 <= b.end {
                    // Version 0 holds 32-bit times (good until 2040).
                    let t = u32::try_from(qt_time).unwrap_or(u32::MAX).to_be_bytes();
                    buf[p..p + 4].copy_from_slice(&t);
                    buf[p + 4..p + 8].copy_from_slice(&t);
                }
            }
            b"stco" | b"co64" => {
                let wide = &b.ty == b"co64";
                let n = read_u32(buf, b.body + 4).unwrap_or(0) as usize;
                let w = if wide { 8 } else { 4 };
                for i in 0..n {
                    let p = b.body + 8 + i * w;
                    if p + w > b.end {
                        break;
                    }
                    if wide {
                        let mut v = [0u8; 8];
                        v.copy_from_slice(&buf[p..p + 8]);
                        let nv = (u64::from_be_bytes(v) as i64 + shift) as u64;
                        buf[p..p + 8].copy_from_slice(&nv.to_be_bytes());
                    } else {
                        let ov = read_u32(buf, p).unwrap_or(0);
                        let nv = (i64::from(ov) + shift) as u32;
                        buf[p..p + 4].copy_from_slice(&nv.to_be_bytes());
                    }
                }
            }
            _ => {}
        }
    }
}

fn read_u32(buf: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(buf.get(at..at + 4)?.try_into().ok()?))
}

/// Apple's QuickTime metadata: `meta` (no version/flags) with an `mdta`
/// handler, `keys` naming each item, and `ilst` holding UTF-8 `data` atoms
/// indexed by key number. Empty when the spec has no keys.
fn keys_meta(spec: &VideoSpec) -> Vec<u8> {
    let mut items: Vec<(&str, String)> = Vec::new();
    if let Some(m) = &spec.make {
        items.push(("com.apple.quicktime.make", m.clone()));
    }
    if let Some(m) = &spec.model {
        items.push(("com.apple.quicktime.model", m.clone()));
    }
    if let Some(s) = &spec.software {
        items.push(("com.apple.quicktime.software", s.clone()));
    }
    if let Some(d) = &spec.creation_date {
        items.push((
            "com.apple.quicktime.creationdate",
            d.format("%Y-%m-%dT%H:%M:%S%z").to_string(),
        ));
    }
    if let Some(id) = &spec.content_identifier {
        items.push(("com.apple.quicktime.content.identifier", id.clone()));
    }
    if items.is_empty() {
        return Vec::new();
    }
    let mut hdlr = Vec::new();
    hdlr.extend_from_slice(&[0; 4]); // pre_defined
    hdlr.extend_from_slice(b"mdta");
    hdlr.extend_from_slice(&[0; 12]);
    hdlr.push(0); // empty name
    let mut keys = (items.len() as u32).to_be_bytes().to_vec();
    let mut ilst = Vec::new();
    for (i, (k, v)) in items.iter().enumerate() {
        keys.extend_from_slice(&((k.len() + 8) as u32).to_be_bytes());
        keys.extend_from_slice(b"mdta");
        keys.extend_from_slice(k.as_bytes());
        let mut data = Vec::with_capacity(v.len() + 8);
        data.extend_from_slice(&1u32.to_be_bytes()); // well-known type 1: UTF-8
        data.extend_from_slice(&0u32.to_be_bytes()); // default locale
        data.extend_from_slice(v.as_bytes());
        let mut item = Vec::new();
        put_box(&mut item, b"data", &data);
        put_box(&mut ilst, &(i as u32 + 1).to_be_bytes(), &item);
    }
    let mut meta = Vec::new();
    put_full_box(&mut meta, b"hdlr", 0, 0, &hdlr);
    put_full_box(&mut meta, b"keys", 0, 0, &keys);
    put_box(&mut meta, b"ilst", &ilst);
    let mut out = Vec::new();
    put_box(&mut out, b"meta", &meta);
    out
}
