//! PNG stills (screenshots): a seed-derived picture encoded by the `image`
//! crate, then our `eXIf` and `iTXt` (XMP) chunks inserted after IHDR.

use image::codecs::png::PngEncoder;
use image::{ExtendedColorType, ImageEncoder};

use super::{exif::exif_tiff, pattern_rgb, PngSpec};

/// A decodable PNG for `spec` (picture size clamped to 1..=4096 per side).
pub fn png(spec: &PngSpec) -> Vec<u8> {
    let w = spec.width.clamp(1, 4096);
    let h = spec.height.clamp(1, 4096);
    let pixels = pattern_rgb(spec.seed, w, h);
    let mut encoded = Vec::new();
    if PngEncoder::new(&mut encoded)
        .write_image(&pixels, w, h, ExtendedColorType::Rgb8)
        .is_err()
    {
        // Only reachable on sizes the clamp rules out; an empty PNG would be worse than none.
        return Vec::new();
    }
    let mut extra = Vec::new();
    // The EXIF pixel size is the PNG's.
    let sized = spec.exif.as_ref().map(|e| super::StillSpec {
        width: w,
        height: h,
        ..e.clone()
    });
    if let Some(tiff) = sized.as_ref().and_then(exif_tiff) {
        chunk(&mut extra, b"eXIf", &tiff);
    }
    if let Some(d) = spec.xmp_date {
        let iso = d.format("%Y-%m-%dT%H:%M:%S%:z").to_string();
        let xmp = format!(
            "<?xpacket begin=\"\u{feff}\" id=\"W5M0MpCehiHzreSzNTczkc9d\"?>\n\
             <x:xmpmeta xmlns:x=\"adobe:ns:meta/\" x:xmptk=\"XMP Core 6.0.0\">\n\
             <rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\">\n\
             <rdf:Description rdf:about=\"\"\n \
             xmlns:photoshop=\"http://ns.adobe.com/photoshop/1.0/\"\n \
             xmlns:xmp=\"http://ns.adobe.com/xap/1.0/\"\n \
             xmlns:exif=\"http://ns.adobe.com/exif/1.0/\">\n\
             <photoshop:DateCreated>{iso}</photoshop:DateCreated>\n\
             <xmp:CreateDate>{iso}</xmp:CreateDate>\n\
             <exif:UserComment>\n<rdf:Alt>\n<rdf:li xml:lang=\"x-default\">Screenshot</rdf:li>\n</rdf:Alt>\n</exif:UserComment>\n\
             </rdf:Description>\n</rdf:RDF>\n</x:xmpmeta>\n<?xpacket end=\"w\"?>"
        );
        // iTXt: keyword, NUL, compression flag 0, method 0, empty language, NUL, empty translated keyword, NUL, text.
        let mut data = b"XML:com.adobe.xmp\0\0\0\0\0".to_vec();
        data.extend_from_slice(xmp.as_bytes());
        chunk(&mut extra, b"iTXt", &data);
    }
    // After the signature (8) and IHDR (8 + 13 + 4), before IDAT.
    const AFTER_IHDR: usize = 8 + 25;
    if extra.is_empty() || encoded.len() < AFTER_IHDR {
        return encoded;
    }
    let mut out = Vec::with_capacity(encoded.len() + extra.len());
    out.extend_from_slice(&encoded[..AFTER_IHDR]);
    out.extend_from_slice(&extra);
    out.extend_from_slice(&encoded[AFTER_IHDR..]);
    out
}

fn chunk(out: &mut Vec<u8>, ty: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let start = out.len();
    out.extend_from_slice(ty);
    out.extend_from_slice(data);
    let crc = crc32(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

/// PNG's CRC-32 (ISO 3309). A dozen lines; not worth a dependency.
fn crc32(bytes: &[u8]) -> u32 {
    let mut c = 0xFFFF_FFFFu32;
    for &b in bytes {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
        }
    }
    !c
}
