//! JPEG stills: a seed-derived picture encoded by the `image` crate, with our
//! EXIF inserted as the APP1 segment right after SOI (where the Exif spec puts it).

use image::codecs::jpeg::JpegEncoder;
use image::ExtendedColorType;

use super::{exif::exif_tiff, pattern_rgb, StillSpec, SynthError};

/// Largest side we encode: synthetic stills are small on purpose.
const MAX_SIDE: u32 = 4096;

/// A decodable JPEG for `spec` (picture size clamped to 1..=4096 per side).
pub fn jpeg(spec: &StillSpec) -> Vec<u8> {
    // The encoder only fails on sizes the clamp rules out; fall back to a tiny
    // picture rather than panic, so callers get a valid file whatever the spec.
    try_jpeg(spec)
        .or_else(|_| {
            try_jpeg(&StillSpec {
                width: 8,
                height: 8,
                ..spec.clone()
            })
        })
        .unwrap_or_default()
}

fn try_jpeg(spec: &StillSpec) -> Result<Vec<u8>, SynthError> {
    let w = spec.width.clamp(1, MAX_SIDE);
    let h = spec.height.clamp(1, MAX_SIDE);
    let pixels = pattern_rgb(spec.seed, w, h);
    let mut encoded = Vec::with_capacity((w * h) as usize / 2 + 1024);
    JpegEncoder::new_with_quality(&mut encoded, 85)
        .encode(&pixels, w, h, ExtendedColorType::Rgb8)
        .map_err(|e| SynthError::Image(e.to_string()))?;
    // The EXIF pixel size is the encoded (clamped) one.
    let sized = StillSpec {
        width: w,
        height: h,
        ..spec.clone()
    };
    Ok(padded(with_exif(encoded, &sized), spec))
}

/// Largest APPn payload: the 16-bit length counts itself.
const MAX_SEGMENT_PAYLOAD: usize = 65533;

/// Grows the JPEG to `spec.size_target` with APP15 segments of noise, right
/// after SOI (decoders skip APPn segments they do not know).
fn padded(jpeg: Vec<u8>, spec: &StillSpec) -> Vec<u8> {
    let Some(target) = spec.size_target else {
        return jpeg;
    };
    let Ok(target) = usize::try_from(target) else {
        return jpeg;
    };
    if jpeg.len() < 2 || target < jpeg.len() + 16 {
        return jpeg;
    }
    let mut rest = target - jpeg.len();
    let filler = super::noise(spec.seed, rest);
    let mut out = Vec::with_capacity(target);
    out.extend_from_slice(&jpeg[..2]);
    let mut at = 0;
    while rest > 0 {
        // Each segment is 4 header bytes + payload; never leave a remainder under 4.
        let mut seg = rest.min(MAX_SEGMENT_PAYLOAD + 4);
        if rest - seg > 0 && rest - seg < 4 {
            seg -= 4;
        }
        let payload = seg - 4;
        out.extend_from_slice(&[0xFF, 0xEF]);
        out.extend_from_slice(&((payload + 2) as u16).to_be_bytes());
        out.extend_from_slice(&filler[at..at + payload]);
        at += payload;
        rest -= seg;
    }
    out.extend_from_slice(&jpeg[2..]);
    out
}

/// Inserts an APP1 Exif segment after SOI when the spec has metadata.
pub(crate) fn with_exif(encoded: Vec<u8>, spec: &StillSpec) -> Vec<u8> {
    let Some(tiff) = exif_tiff(spec) else {
        return encoded;
    };
    // APP1 length counts itself (2 bytes) + "Exif\0\0" (6) + the TIFF; it must fit in u16.
    let seg_len = 2 + 6 + tiff.len();
    if seg_len > u16::MAX as usize || encoded.len() < 2 {
        return encoded;
    }
    let mut out = Vec::with_capacity(encoded.len() + seg_len + 2);
    out.extend_from_slice(&encoded[..2]); // SOI
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&(seg_len as u16).to_be_bytes());
    out.extend_from_slice(b"Exif\0\0");
    out.extend_from_slice(&tiff);
    out.extend_from_slice(&encoded[2..]);
    out
}
