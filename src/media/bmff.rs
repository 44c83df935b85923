//! ISO-BMFF / QuickTime box walking: just enough to read dates and
//! identifiers from movies (MOV/MP4/3GP), HEIF stills and Canon CR3.
//!
//! Written by hand because no maintained crate reads QuickTime `keys`/`ilst`,
//! Sony `MTDT`, HEIF `iinf`/`iloc` items and the CR3 `CMT*` TIFF blocks while
//! *seeking* past `mdat` (a Live Photo movie or a 4 GiB video is never read
//! whole). Every read is bounded: box payloads we keep in memory are capped,
//! and walks stop after a fixed number of boxes, so hostile input cannot make
//! us allocate or loop without bound.

use std::io::{Read, Seek, SeekFrom};

/// Largest box payload read into memory (a `meta` or `moov/meta` box; real ones
/// are a few KiB to a few MiB).
pub const MAX_IN_MEMORY: u64 = 16 << 20;
/// Largest EXIF or XMP item read out of a HEIF file.
pub const MAX_ITEM: u64 = 8 << 20;
/// Most boxes visited at one level; real files have a few dozen.
const MAX_BOXES_PER_LEVEL: usize = 4096;

/// One box header found in a file: where it is, what it is, how big.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BoxHeader {
    /// The box type, e.g. `moov`.
    pub kind: [u8; 4],
    /// Offset of the box's payload (after size, type and any 64-bit size).
    pub payload: u64,
    /// Length of the payload in bytes.
    pub len: u64,
}

/// The boxes between `start` and `end` of a seekable stream. A box that claims
/// to run past `end` is kept, clipped to `end`, and ends the walk: a truncated
/// file keeps its earlier boxes and a cut-off box is read as far as it goes.
pub fn walk<R: Read + Seek>(r: &mut R, start: u64, end: u64) -> std::io::Result<Vec<BoxHeader>> {
    let mut out = Vec::new();
    let mut pos = start;
    while pos.saturating_add(8) <= end && out.len() < MAX_BOXES_PER_LEVEL {
        r.seek(SeekFrom::Start(pos))?;
        let mut h = [0u8; 16];
        if read_fully(r, &mut h[..8])? < 8 {
            break;
        }
        let size32 = u32::from_be_bytes([h[0], h[1], h[2], h[3]]) as u64;
        let kind = [h[4], h[5], h[6], h[7]];
        let (size, header) = match size32 {
            1 => {
                if pos.saturating_add(16) > end || read_fully(r, &mut h[8..16])? < 8 {
                    break;
                }
                (
                    u64::from_be_bytes([h[8], h[9], h[10], h[11], h[12], h[13], h[14], h[15]]),
                    16,
                )
            }
            0 => (end - pos, 8),
            s => (s, 8),
        };
        if size < header {
            break;
        }
        let box_end = pos.saturating_add(size);
        if box_end > end {
            // Truncated: keep what is there so the caller can still use a
            // `moov` or `meta` that precedes the cut.
            out.push(BoxHeader {
                kind,
                payload: pos + header,
                len: end - (pos + header),
            });
            break;
        }
        out.push(BoxHeader {
            kind,
            payload: pos + header,
            len: size - header,
        });
        pos = box_end;
    }
    Ok(out)
}

/// Reads as much of `buf` as the stream has; returns how many bytes were read.
fn read_fully<R: Read>(r: &mut R, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Reads a box payload into memory, refusing payloads over `cap`.
pub fn read_payload<R: Read + Seek>(r: &mut R, b: &BoxHeader, cap: u64) -> Result<Vec<u8>, String> {
    read_range(r, b.payload, b.len, cap).map_err(|e| format!("'{}' box: {e}", fourcc(&b.kind)))
}

/// Reads `len` bytes at `offset`, refusing more than `cap`.
pub fn read_range<R: Read + Seek>(
    r: &mut R,
    offset: u64,
    len: u64,
    cap: u64,
) -> Result<Vec<u8>, String> {
    if len > cap {
        return Err(format!("{len} bytes is more than the {cap}-byte limit"));
    }
    // Claims beyond the end of the stream are refused before allocating, so a
    // hostile length costs nothing; `len <= cap` bounds the rest.
    let end = r.seek(SeekFrom::End(0)).map_err(|e| e.to_string())?;
    if offset.checked_add(len).is_none_or(|e| e > end) {
        return Err(format!(
            "truncated ({len} bytes claimed at {offset}, the file has {end})"
        ));
    }
    r.seek(SeekFrom::Start(offset)).map_err(|e| e.to_string())?;
    let mut data = vec![0u8; len as usize];
    let n = read_fully(r, &mut data).map_err(|e| e.to_string())?;
    if n < data.len() {
        return Err(format!("truncated ({n} of {len} bytes)"));
    }
    Ok(data)
}

/// A box type as text for messages, non-printable bytes as `.`.
pub fn fourcc(k: &[u8; 4]) -> String {
    k.iter()
        .map(|&c| {
            if c.is_ascii_graphic() || c == b' ' {
                c as char
            } else {
                '.'
            }
        })
        .collect()
}

/// Child boxes of an in-memory payload: (type, payload). Stops at the first
/// malformed box.
pub fn children(data: &[u8]) -> Vec<([u8; 4], &[u8])> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    while pos.saturating_add(8) <= data.len() && out.len() < MAX_BOXES_PER_LEVEL {
        let size = be32(data, pos).unwrap_or(0) as usize;
        let ty = [data[pos + 4], data[pos + 5], data[pos + 6], data[pos + 7]];
        let (size, header) = match size {
            1 => match be64(data, pos + 8) {
                Some(s) => (usize::try_from(s).unwrap_or(usize::MAX), 16),
                None => break,
            },
            0 => (data.len() - pos, 8),
            s => (s, 8),
        };
        if size < header || pos.saturating_add(size) > data.len() {
            break;
        }
        out.push((ty, &data[pos + header..pos + size]));
        pos += size;
    }
    out
}

fn child<'a>(data: &'a [u8], kind: &[u8; 4]) -> Option<&'a [u8]> {
    children(data)
        .into_iter()
        .find(|(t, _)| t == kind)
        .map(|(_, p)| p)
}

/// The big-endian `u16` at `at` in `d`, or `None` when `d` is too short.
pub fn be16(d: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(
        d.get(at..at.checked_add(2)?)?.try_into().ok()?,
    ))
}
/// The big-endian `u32` at `at` in `d`, or `None` when `d` is too short.
pub fn be32(d: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(
        d.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}
/// The big-endian `u64` at `at` in `d`, or `None` when `d` is too short.
pub fn be64(d: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(
        d.get(at..at.checked_add(8)?)?.try_into().ok()?,
    ))
}
/// Big-endian unsigned integer of 0, 4 or 8 bytes (HEIF `iloc` fields).
fn be_n(d: &[u8], at: usize, n: usize) -> Option<u64> {
    match n {
        0 => Some(0),
        4 => be32(d, at).map(u64::from),
        8 => be64(d, at),
        _ => None,
    }
}

/// The stream's length, leaving the position at the start.
pub fn stream_len<R: Seek>(r: &mut R) -> std::io::Result<u64> {
    let end = r.seek(SeekFrom::End(0))?;
    r.seek(SeekFrom::Start(0))?;
    Ok(end)
}

// --- Movies ------------------------------------------------------------------

/// Date-related metadata of a QuickTime/MP4 movie.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MovieMeta {
    /// `keys`/`ilst` string items (`com.apple.quicktime.creationdate`, …).
    pub keys: Vec<(String, String)>,
    /// Creation times in seconds since 1904-01-01 UTC (0 = unknown).
    pub mvhd: Option<u64>,
    /// Each track's `tkhd` creation time, seconds since 1904-01-01 UTC (0 = unknown).
    pub tkhd: Vec<u64>,
    /// Each track's media (`mdhd`) creation time, seconds since 1904-01-01 UTC (0 = unknown).
    pub mdhd: Vec<u64>,
    /// Sony `MTDT` TimeZone (minutes east of UTC) at the movie level.
    pub sony_tz_minutes: Option<i16>,
    /// What was damaged or out of bounds while reading, for `inspect` and warnings.
    pub problems: Vec<String>,
}

impl MovieMeta {
    /// The value of the `keys`/`ilst` item `name`, if the movie has one.
    pub fn key(&self, name: &str) -> Option<&str> {
        self.keys
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The key under which a classic `udta/©day` date is listed in [`MovieMeta::keys`].
pub const DAY_KEY: &str = "udta.\u{a9}day";

const SONY_USMT: [u8; 16] = [
    0x55, 0x53, 0x4d, 0x54, 0x21, 0xd2, 0x4f, 0xce, 0xbb, 0x88, 0x69, 0x5c, 0xfa, 0xc9, 0xc7, 0x40,
];

/// Reads a movie's metadata: finds `moov` among the top-level boxes (seeking
/// over `mdat`, wherever `moov` sits), then reads only the small boxes inside
/// it, never the sample tables.
pub fn read_movie<R: Read + Seek>(r: &mut R) -> MovieMeta {
    let mut m = MovieMeta::default();
    let end = match stream_len(r) {
        Ok(e) => e,
        Err(e) => {
            m.problems.push(format!("QuickTime: {e}"));
            return m;
        }
    };
    let top = match walk(r, 0, end) {
        Ok(t) => t,
        Err(e) => {
            m.problems.push(format!("QuickTime: {e}"));
            return m;
        }
    };
    let Some(moov) = top.iter().find(|b| &b.kind == b"moov") else {
        m.problems
            .push("QuickTime: no 'moov' box (the movie's index is missing)".into());
        return m;
    };
    let kids = match walk(r, moov.payload, moov.payload + moov.len) {
        Ok(k) => k,
        Err(e) => {
            m.problems.push(format!("QuickTime moov: {e}"));
            return m;
        }
    };
    for b in &kids {
        match &b.kind {
            b"mvhd" => match read_payload(r, b, 4096) {
                Ok(p) => m.mvhd = full_box_time(&p),
                Err(e) => m.problems.push(format!("QuickTime: {e}")),
            },
            b"meta" => match read_payload(r, b, MAX_IN_MEMORY) {
                Ok(p) => m.keys.extend(keys_from_meta(&p)),
                Err(e) => m.problems.push(format!("QuickTime: {e}")),
            },
            b"udta" => match read_payload(r, b, MAX_IN_MEMORY) {
                Ok(p) => {
                    for (t, item) in children(&p) {
                        if &t == b"meta" {
                            m.keys.extend(keys_from_meta(item));
                        } else if &t == b"\xA9day" {
                            // Classic user data: (u16 length, u16 language, text).
                            let len = be16(item, 0).unwrap_or(0) as usize;
                            if let Some(text) = item.get(4..4 + len) {
                                m.keys.push((
                                    DAY_KEY.into(),
                                    String::from_utf8_lossy(text).into_owned(),
                                ));
                            }
                        }
                    }
                }
                Err(e) => m.problems.push(format!("QuickTime: {e}")),
            },
            b"uuid" if b.len >= 16 && b.len <= 4096 => {
                if let Ok(p) = read_payload(r, b, 4096) {
                    if p[..16] == SONY_USMT {
                        m.sony_tz_minutes = m.sony_tz_minutes.or_else(|| sony_timezone(&p[16..]));
                    }
                }
            }
            b"trak" => {
                let trak = match walk(r, b.payload, b.payload + b.len) {
                    Ok(t) => t,
                    Err(_) => continue,
                };
                for t in &trak {
                    if &t.kind == b"tkhd" {
                        if let Some(s) = read_payload(r, t, 4096)
                            .ok()
                            .and_then(|p| full_box_time(&p))
                        {
                            m.tkhd.push(s);
                        }
                    } else if &t.kind == b"mdia" {
                        let mdia = walk(r, t.payload, t.payload + t.len).unwrap_or_default();
                        if let Some(h) = mdia.iter().find(|x| &x.kind == b"mdhd") {
                            if let Some(s) = read_payload(r, h, 4096)
                                .ok()
                                .and_then(|p| full_box_time(&p))
                            {
                                m.mdhd.push(s);
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }
    m
}

/// Creation time of `mvhd`/`tkhd`/`mdhd` (version 0: 32-bit, 1: 64-bit).
pub fn full_box_time(p: &[u8]) -> Option<u64> {
    match *p.first()? {
        0 => be32(p, 4).map(u64::from),
        1 => be64(p, 4),
        _ => None,
    }
}

/// Sony `MTDT` inside the `USMT` uuid box: a count, then entries of
/// (u16 size, u32 tag, u16 language, u16 type, data). Tag 0x0B is the time
/// zone, a signed 16-bit number of minutes.
fn sony_timezone(p: &[u8]) -> Option<i16> {
    let mtdt = child(p, b"MTDT")?;
    let count = be16(mtdt, 0)? as usize;
    let mut pos = 2usize;
    for _ in 0..count.min(64) {
        let size = be16(mtdt, pos)? as usize;
        if size < 10 {
            return None;
        }
        let tag = be32(mtdt, pos + 2)?;
        if tag == 0x0b && size >= 12 {
            return Some(be16(mtdt, pos + 10)? as i16);
        }
        pos = pos.checked_add(size)?;
    }
    None
}

/// The QuickTime `meta` → `keys` + `ilst` UTF-8 string items.
pub fn keys_from_meta(meta: &[u8]) -> Vec<(String, String)> {
    // QuickTime `meta` has no version/flags; ISO `meta` has 4 bytes of them.
    let kids = {
        let k = children(meta);
        if k.iter()
            .any(|(t, _)| t == b"hdlr" || t == b"keys" || t == b"ilst")
        {
            k
        } else {
            children(meta.get(4..).unwrap_or(&[]))
        }
    };
    let mut names: Vec<String> = Vec::new();
    if let Some((_, p)) = kids.iter().find(|(t, _)| t == b"keys") {
        // version/flags (4) + entry count (4), then (size, namespace, name) entries.
        let mut pos = 8usize;
        while let Some(sz) = be32(p, pos) {
            let sz = sz as usize;
            if sz < 8 || pos.saturating_add(sz) > p.len() || names.len() >= MAX_BOXES_PER_LEVEL {
                break;
            }
            names.push(String::from_utf8_lossy(&p[pos + 8..pos + sz]).into_owned());
            pos += sz;
        }
    }
    let mut out = Vec::new();
    let Some((_, ilst)) = kids.iter().find(|(t, _)| t == b"ilst") else {
        return out;
    };
    for (t, item) in children(ilst) {
        let idx = u32::from_be_bytes(t) as usize;
        let Some(name) = idx.checked_sub(1).and_then(|i| names.get(i)) else {
            continue;
        };
        for (dt, d) in children(item) {
            // `data`: type indicator (1 = UTF-8), locale, then the value.
            if let (b"data", Some(1), Some(text)) = (&dt, be32(d, 0), d.get(8..)) {
                out.push((name.clone(), String::from_utf8_lossy(text).into_owned()));
                break;
            }
        }
    }
    out
}

// --- HEIF ------------------------------------------------------------------

/// The metadata items of a HEIF/AVIF still.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct HeifItems {
    /// The TIFF structure of the `Exif` item (past its header offset).
    pub exif: Option<Vec<u8>>,
    /// The XMP packet (`mime` item of type `application/rdf+xml`).
    pub xmp: Option<Vec<u8>>,
    /// What was damaged or missing while reading, for `inspect` and warnings.
    pub problems: Vec<String>,
}

/// Reads the `Exif` and XMP items of a HEIF file from its top-level `meta`
/// box, reading only those items' bytes (never the image data).
pub fn read_heif<R: Read + Seek>(r: &mut R) -> HeifItems {
    let mut out = HeifItems::default();
    let end = match stream_len(r) {
        Ok(e) => e,
        Err(e) => {
            out.problems.push(format!("HEIF: {e}"));
            return out;
        }
    };
    let top = walk(r, 0, end).unwrap_or_default();
    let Some(meta) = top.iter().find(|b| &b.kind == b"meta") else {
        out.problems.push("HEIF: no 'meta' box".into());
        return out;
    };
    let meta = match read_payload(r, meta, MAX_IN_MEMORY) {
        Ok(m) => m,
        Err(e) => {
            out.problems.push(format!("HEIF: {e}"));
            return out;
        }
    };
    let (exif_id, xmp_id) = heif_item_ids(&meta);
    let locations = heif_locations(&meta);
    let idat = child(meta.get(4..).unwrap_or(&[]), b"idat");
    let mut fetch = |id: u32, what: &str, out: &mut HeifItems| -> Option<Vec<u8>> {
        let loc = locations.iter().find(|l| l.id == id);
        let Some(loc) = loc else {
            out.problems
                .push(format!("HEIF: {what} item has no location"));
            return None;
        };
        let total: u64 = loc
            .extents
            .iter()
            .map(|e| e.1)
            .fold(0u64, |a, b| a.saturating_add(b));
        if total > MAX_ITEM {
            out.problems.push(format!(
                "HEIF: {what} item of {total} bytes is over the limit"
            ));
            return None;
        }
        let mut data = Vec::with_capacity(total as usize);
        for &(off, len) in &loc.extents {
            let part = if loc.method == 1 {
                // Construction method 1: offsets into the `idat` box.
                let idat = idat?;
                let s = usize::try_from(off).ok()?;
                let e = s.checked_add(usize::try_from(len).ok()?)?;
                idat.get(s..e)
                    .map(|b| b.to_vec())
                    .ok_or_else(|| "outside idat".to_string())
            } else if loc.method == 0 {
                read_range(r, off, len, MAX_ITEM)
            } else {
                Err("unsupported construction method".into())
            };
            match part {
                Ok(p) => data.extend_from_slice(&p),
                Err(e) => {
                    out.problems.push(format!("HEIF: {what} item: {e}"));
                    return None;
                }
            }
        }
        Some(data)
    };
    if let Some(id) = exif_id {
        if let Some(d) = fetch(id, "Exif", &mut out) {
            // The item starts with the offset of the TIFF header past these 4 bytes.
            let skip = be32(&d, 0).map(|o| o as usize + 4);
            let tiff = skip
                .and_then(|s| d.get(s..))
                .filter(|t| is_tiff(t))
                .map(|t| t.to_vec());
            // Some writers get the offset wrong; look for the TIFF header nearby.
            let tiff = tiff.or_else(|| {
                let at = (0..d.len().min(64)).find(|&i| is_tiff(&d[i..]))?;
                Some(d[at..].to_vec())
            });
            match tiff {
                Some(t) => out.exif = Some(t),
                None => out
                    .problems
                    .push("HEIF: Exif item holds no TIFF header".into()),
            }
        }
    }
    if let Some(id) = xmp_id {
        out.xmp = fetch(id, "XMP", &mut out);
    }
    out
}

/// True when `d` starts with a TIFF header (`II*\0` or `MM\0*`).
pub fn is_tiff(d: &[u8]) -> bool {
    d.starts_with(b"II*\0") || d.starts_with(b"MM\0*")
}

/// (Exif item id, XMP item id) from `meta`/`iinf`.
fn heif_item_ids(meta: &[u8]) -> (Option<u32>, Option<u32>) {
    let (mut exif, mut xmp) = (None, None);
    let Some(iinf) = child(meta.get(4..).unwrap_or(&[]), b"iinf") else {
        return (None, None);
    };
    let version = iinf.first().copied().unwrap_or(0);
    let entries_at = if version == 0 { 6 } else { 8 };
    for (t, infe) in children(iinf.get(entries_at..).unwrap_or(&[])) {
        if &t != b"infe" {
            continue;
        }
        let v = infe.first().copied().unwrap_or(0);
        if v < 2 {
            continue;
        }
        let (id, rest) = if v == 2 {
            (be16(infe, 4).map(u32::from), 6)
        } else {
            (be32(infe, 4), 8)
        };
        let Some(id) = id else { continue };
        // protection index (2), item type (4), then NUL-terminated name.
        let Some(item_type) = infe.get(rest + 2..rest + 6) else {
            continue;
        };
        match item_type {
            b"Exif" => exif = exif.or(Some(id)),
            b"mime" => {
                let tail = &infe[rest + 6..];
                let name_end = tail
                    .iter()
                    .position(|&b| b == 0)
                    .map(|i| i + 1)
                    .unwrap_or(tail.len());
                let ct = &tail[name_end..];
                let ct = &ct[..ct.iter().position(|&b| b == 0).unwrap_or(ct.len())];
                if ct == b"application/rdf+xml" {
                    xmp = xmp.or(Some(id));
                }
            }
            _ => {}
        }
    }
    (exif, xmp)
}

struct ItemLocation {
    id: u32,
    method: u8,
    /// (absolute offset, length)
    extents: Vec<(u64, u64)>,
}

/// Item locations from `meta`/`iloc` (ISO/IEC 23008-12, 14496-12 §8.11.3).
fn heif_locations(meta: &[u8]) -> Vec<ItemLocation> {
    let mut out = Vec::new();
    let Some(iloc) = child(meta.get(4..).unwrap_or(&[]), b"iloc") else {
        return out;
    };
    let Some(&version) = iloc.first() else {
        return out;
    };
    let (Some(&a), Some(&b)) = (iloc.get(4), iloc.get(5)) else {
        return out;
    };
    let (off_size, len_size, base_size) = ((a >> 4) as usize, (a & 15) as usize, (b >> 4) as usize);
    let index_size = if version == 1 || version == 2 {
        (b & 15) as usize
    } else {
        0
    };
    let (count, mut pos) = if version < 2 {
        (be16(iloc, 6).map(u32::from), 8)
    } else {
        (be32(iloc, 6), 10)
    };
    let Some(count) = count else { return out };
    for _ in 0..count.min(65_536) {
        let id = if version < 2 {
            be16(iloc, pos).map(u32::from)
        } else {
            be32(iloc, pos)
        };
        let Some(id) = id else { break };
        pos += if version < 2 { 2 } else { 4 };
        let mut method = 0u8;
        if version == 1 || version == 2 {
            let Some(m) = be16(iloc, pos) else { break };
            method = (m & 15) as u8;
            pos += 2;
        }
        pos += 2; // data_reference_index
        let Some(base) = be_n(iloc, pos, base_size) else {
            break;
        };
        pos += base_size;
        let Some(n) = be16(iloc, pos) else { break };
        pos += 2;
        let mut extents = Vec::new();
        for _ in 0..n {
            pos += index_size;
            let (Some(o), Some(l)) = (
                be_n(iloc, pos, off_size),
                be_n(iloc, pos + off_size, len_size),
            ) else {
                return out;
            };
            pos += off_size + len_size;
            extents.push((base.saturating_add(o), l));
        }
        out.push(ItemLocation {
            id,
            method,
            extents,
        });
    }
    out
}

// --- Canon CR3 -----------------------------------------------------------------

const CANON_UUID: [u8; 16] = [
    0x85, 0xc0, 0xb6, 0x87, 0x82, 0x0f, 0x11, 0xe0, 0x81, 0x11, 0xf4, 0xce, 0x46, 0x2b, 0x6a, 0x48,
];

/// The TIFF blocks of a Canon CR3 (`moov/uuid(Canon)/CMT1..CMT4`: IFD0, Exif
/// IFD, MakerNote, GPS IFD), in that order.
/// Named TIFF blocks (`CMT1`…) and the problems met finding them.
pub type Cr3Blocks = (Vec<([u8; 4], Vec<u8>)>, Vec<String>);

/// Reads the TIFF blocks of a Canon CR3 (reading only those boxes, never the image data).
pub fn read_cr3<R: Read + Seek>(r: &mut R) -> Cr3Blocks {
    let mut problems = Vec::new();
    let mut out = Vec::new();
    let Ok(end) = stream_len(r) else {
        return (out, problems);
    };
    let top = walk(r, 0, end).unwrap_or_default();
    let Some(moov) = top.iter().find(|b| &b.kind == b"moov") else {
        problems.push("CR3: no 'moov' box".into());
        return (out, problems);
    };
    let kids = walk(r, moov.payload, moov.payload + moov.len).unwrap_or_default();
    for b in kids.iter().filter(|b| &b.kind == b"uuid" && b.len >= 16) {
        let Ok(id) = read_range(r, b.payload, 16, 16) else {
            continue;
        };
        if id != CANON_UUID {
            continue;
        }
        let inner = walk(r, b.payload + 16, b.payload + b.len).unwrap_or_default();
        for c in inner.iter().filter(|c| c.kind.starts_with(b"CMT")) {
            match read_payload(r, c, MAX_ITEM) {
                Ok(p) => out.push((c.kind, p)),
                Err(e) => problems.push(format!("CR3: {e}")),
            }
        }
    }
    if out.is_empty() {
        problems.push("CR3: no Canon metadata boxes".into());
    }
    (out, problems)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::Cursor;

    /// A box: size, type, payload.
    pub fn bx(kind: &[u8; 4], payload: &[u8]) -> Vec<u8> {
        let mut v = ((payload.len() + 8) as u32).to_be_bytes().to_vec();
        v.extend_from_slice(kind);
        v.extend_from_slice(payload);
        v
    }

    /// A full box: version/flags then payload.
    pub fn full(kind: &[u8; 4], version: u8, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![version, 0, 0, 0];
        p.extend_from_slice(payload);
        bx(kind, &p)
    }

    pub fn mvhd(secs: u32) -> Vec<u8> {
        let mut p = secs.to_be_bytes().to_vec();
        p.extend_from_slice(&secs.to_be_bytes());
        p.extend_from_slice(&[0; 88]);
        full(b"mvhd", 0, &p)
    }

    /// `meta` with `hdlr`, `keys`, `ilst` for string items.
    pub fn keys_meta(items: &[(&str, &str)]) -> Vec<u8> {
        let mut keys = vec![0, 0, 0, 0];
        keys.extend_from_slice(&(items.len() as u32).to_be_bytes());
        let mut ilst = Vec::new();
        for (i, (k, v)) in items.iter().enumerate() {
            keys.extend_from_slice(&((k.len() + 8) as u32).to_be_bytes());
            keys.extend_from_slice(b"mdta");
            keys.extend_from_slice(k.as_bytes());
            let mut data = vec![0, 0, 0, 1, 0, 0, 0, 0];
            data.extend_from_slice(v.as_bytes());
            ilst.extend(bx(&((i + 1) as u32).to_be_bytes(), &bx(b"data", &data)));
        }
        let mut meta = bx(b"hdlr", &[0; 24]);
        meta.extend(bx(b"keys", &keys));
        meta.extend(bx(b"ilst", &ilst));
        bx(b"meta", &meta)
    }

    #[test]
    fn moov_after_mdat_is_found_by_seeking() {
        let mut f = bx(b"ftyp", b"qt  \0\0\0\0qt  ");
        f.extend(bx(b"wide", b""));
        f.extend(bx(b"mdat", &vec![0xAB; 10_000]));
        let mut moov = mvhd(3_000_000_000);
        moov.extend(keys_meta(&[(
            "com.apple.quicktime.creationdate",
            "2021-04-10T11:43:59+0100",
        )]));
        f.extend(bx(b"moov", &moov));
        let m = read_movie(&mut Cursor::new(f));
        assert_eq!(m.mvhd, Some(3_000_000_000));
        assert_eq!(
            m.key("com.apple.quicktime.creationdate"),
            Some("2021-04-10T11:43:59+0100")
        );
    }

    #[test]
    fn tkhd_and_mdhd_are_read_from_tracks() {
        let mut tkhd = vec![0, 0, 0, 0];
        tkhd.extend_from_slice(&7u32.to_be_bytes());
        let mut mdhd = vec![1, 0, 0, 0];
        mdhd.extend_from_slice(&9u64.to_be_bytes());
        let trak = [bx(b"tkhd", &tkhd), bx(b"mdia", &bx(b"mdhd", &mdhd))].concat();
        let f = bx(b"moov", &bx(b"trak", &trak));
        let m = read_movie(&mut Cursor::new(f));
        assert_eq!((m.mvhd, m.tkhd, m.mdhd), (None, vec![7], vec![9]));
    }

    #[test]
    fn classic_udta_day_is_read() {
        let mut day = 24u16.to_be_bytes().to_vec();
        day.extend_from_slice(&[0x15, 0xc7]);
        day.extend_from_slice(b"2015-01-19T12:45:11-0800");
        let f = bx(b"moov", &bx(b"udta", &bx(b"\xA9day", &day)));
        assert_eq!(
            read_movie(&mut Cursor::new(f)).key(DAY_KEY),
            Some("2015-01-19T12:45:11-0800")
        );
    }

    #[test]
    fn sony_mtdt_time_zone_is_read() {
        let mut mtdt = 1u16.to_be_bytes().to_vec();
        mtdt.extend_from_slice(&[0, 12, 0, 0, 0, 0x0b, 0xd5, 0xc4, 0, 0, 0xff, 0xc4]); // -60 min
        let mut uuid = SONY_USMT.to_vec();
        uuid.extend(bx(b"MTDT", &mtdt));
        let f = bx(b"moov", &bx(b"uuid", &uuid));
        assert_eq!(read_movie(&mut Cursor::new(f)).sony_tz_minutes, Some(-60));
    }

    #[test]
    fn a_box_larger_than_the_file_does_not_allocate_its_size() {
        // moov claims 4 GiB; only its real bytes are considered.
        let mut f = 0xFFFF_FFF0u32.to_be_bytes().to_vec();
        f.extend_from_slice(b"moov");
        f.extend(mvhd(5));
        let m = read_movie(&mut Cursor::new(f));
        assert_eq!(m.mvhd, Some(5));
        // And a meta claiming far more than the cap is refused, not read.
        let mut g = 1u32.to_be_bytes().to_vec();
        g.extend_from_slice(b"meta");
        g.extend_from_slice(&(1u64 << 40).to_be_bytes());
        let h = read_heif(&mut Cursor::new(g));
        assert!(h.exif.is_none());
    }

    #[test]
    fn a_data_box_shorter_than_its_header_is_ignored() {
        // keys: one key; ilst item 1 holds a 4-byte `data` box (type 1, no locale).
        let mut keys = vec![0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 9];
        keys.extend_from_slice(b"mdtak");
        let meta = [
            bx(b"keys", &keys),
            bx(
                b"ilst",
                &bx(&1u32.to_be_bytes(), &bx(b"data", &[0, 0, 0, 1])),
            ),
        ]
        .concat();
        assert!(keys_from_meta(&meta).is_empty());
    }

    #[test]
    fn no_moov_is_a_problem_not_a_panic() {
        let m = read_movie(&mut Cursor::new(bx(b"mdat", b"xyz")));
        assert!(m.problems[0].contains("moov"));
    }

    /// A HEIF file with an Exif item stored at a file offset and an XMP item in `idat`.
    pub fn heif(tiff: &[u8], xmp: &[u8]) -> Vec<u8> {
        let ftyp = bx(b"ftyp", b"heic\0\0\0\0mif1heic");
        let mut infe_exif = vec![0, 1, 0, 0];
        infe_exif.extend_from_slice(b"Exif\0");
        let mut infe_xmp = vec![0, 2, 0, 0];
        infe_xmp.extend_from_slice(b"mime\0application/rdf+xml\0");
        let mut iinf = 2u16.to_be_bytes().to_vec();
        iinf.extend(full(b"infe", 2, &infe_exif));
        iinf.extend(full(b"infe", 2, &infe_xmp));
        let iinf = full(b"iinf", 0, &iinf);
        let exif_item = [&[0u8, 0, 0, 0][..], tiff].concat();
        let idat = bx(b"idat", xmp);
        // iloc v1: offset 4, length 4, base 0; two items.
        let build = |exif_off: u32| {
            let mut p = vec![0x44, 0x00, 0, 2];
            p.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 1]);
            p.extend_from_slice(&exif_off.to_be_bytes());
            p.extend_from_slice(&(exif_item.len() as u32).to_be_bytes());
            p.extend_from_slice(&[0, 2, 0, 1, 0, 0, 0, 1]);
            p.extend_from_slice(&0u32.to_be_bytes());
            p.extend_from_slice(&(xmp.len() as u32).to_be_bytes());
            let iloc = full(b"iloc", 1, &p);
            let body = [bx(b"hdlr", &[0; 24]), iinf.clone(), iloc, idat.clone()].concat();
            full(b"meta", 0, &body)
        };
        let meta_len = build(0).len();
        let exif_off = (ftyp.len() + meta_len + 8) as u32;
        [ftyp, build(exif_off), bx(b"mdat", &exif_item)].concat()
    }

    #[test]
    fn heif_exif_and_xmp_items_are_read_from_iloc_and_idat() {
        let h = read_heif(&mut Cursor::new(heif(
            b"MM\0*\0\0\0\x08rest",
            b"<x:xmpmeta/>",
        )));
        assert_eq!(h.exif.as_deref(), Some(&b"MM\0*\0\0\0\x08rest"[..]));
        assert_eq!(h.xmp.as_deref(), Some(&b"<x:xmpmeta/>"[..]));
        assert!(h.problems.is_empty(), "{:?}", h.problems);
    }

    #[test]
    fn cr3_cmt_boxes_are_found() {
        let mut uuid = CANON_UUID.to_vec();
        uuid.extend(bx(b"CNCV", b"CanonCR3"));
        uuid.extend(bx(b"CMT1", b"II*\0one"));
        uuid.extend(bx(b"CMT2", b"II*\0two"));
        let f = [
            bx(b"ftyp", b"crx \0\0\0\0"),
            bx(b"moov", &bx(b"uuid", &uuid)),
        ]
        .concat();
        let (blocks, _) = read_cr3(&mut Cursor::new(f));
        assert_eq!(blocks.len(), 2);
        assert_eq!(&blocks[1].0, b"CMT2");
    }
}
