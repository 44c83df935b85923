//! HEIC stills: a HEIF file written box by box around a template's HEVC image
//! (64x48, made once by `scripts/make-templates` with pillow-heif), with our
//! EXIF as an `Exif` item linked to the image (`iref cdsc`), as iPhones do.
//!
//! Written by hand because libheif-rs (via libheif) encodes only when built
//! with an HEVC encoder (x265), which the embedded build lacks, and encoding
//! would be far too slow for 100,000 items; assembling boxes costs microseconds.

use super::bmff::{boxes, put_box, put_full_box};
use super::exif::exif_tiff;
use super::{Mix, StillSpec};

/// (item property boxes, coded image data) of the 64x48 templates; the seed picks one.
/// The properties are hvcC, colr, ispe (64x64: HEVC codes whole 8x8 blocks), clap
/// (the 64x48 crop) and pixi, copied as the encoder wrote them.
static TEMPLATES: [(&[u8], &[u8]); 4] = [
    (
        include_bytes!("../../../../fixtures/templates/still-0.props"),
        include_bytes!("../../../../fixtures/templates/still-0.hevc"),
    ),
    (
        include_bytes!("../../../../fixtures/templates/still-1.props"),
        include_bytes!("../../../../fixtures/templates/still-1.hevc"),
    ),
    (
        include_bytes!("../../../../fixtures/templates/still-2.props"),
        include_bytes!("../../../../fixtures/templates/still-2.hevc"),
    ),
    (
        include_bytes!("../../../../fixtures/templates/still-3.props"),
        include_bytes!("../../../../fixtures/templates/still-3.hevc"),
    ),
];
const IMAGE_ID: u16 = 1;
const EXIF_ID: u16 = 2;

/// A decodable HEIC for `spec` (always 64x48 from the templates: `width`/`height` are ignored).
pub fn heic(spec: &StillSpec) -> Vec<u8> {
    let (props, image) = TEMPLATES[(spec.seed % TEMPLATES.len() as u64) as usize];
    // HEIF Exif item: a 4-byte offset to the TIFF header, then `Exif\0\0` + TIFF, as Apple writes it.
    let sized = StillSpec {
        width: 64,
        height: 48,
        ..spec.clone()
    };
    let exif = exif_tiff(&sized).map(|tiff| {
        let mut e = Vec::with_capacity(tiff.len() + 10);
        e.extend_from_slice(&6u32.to_be_bytes());
        e.extend_from_slice(b"Exif\0\0");
        e.extend_from_slice(&tiff);
        e
    });

    let mut ftyp = Vec::new();
    put_box(&mut ftyp, b"ftyp", b"heic\0\0\0\0mif1MiHEmiafheic");
    // A seed box makes items with equal metadata and template still differ in hash.
    let mut m = Mix::new(spec.seed);
    let mut seed_bytes = m.next().to_be_bytes().to_vec();
    seed_bytes.extend_from_slice(&m.next().to_be_bytes());
    let natural =
        ftyp.len() + 8 + seed_bytes.len() + 8 + image.len() + exif.as_ref().map_or(0, |e| e.len());
    let probe_meta = meta(props, image.len(), exif.as_ref().map(|e| e.len()), 0).len();
    // size_target: the same free box grows with seed noise (decoders skip `free`).
    if let Some(target) = spec.size_target.and_then(|t| usize::try_from(t).ok()) {
        let now = natural + probe_meta;
        if target >= now + 16 && target - now <= u32::MAX as usize / 2 {
            seed_bytes.extend_from_slice(&super::noise(spec.seed, target - now));
        }
    }
    let mut free = Vec::new();
    put_box(&mut free, b"free", &seed_bytes);

    // iloc offsets are fixed-width, so the meta box's size does not depend on them:
    // build it once to learn where mdat's payload lands, then for real.
    let data_at = (ftyp.len() + probe_meta + free.len() + 8) as u32;
    let meta_box = meta(props, image.len(), exif.as_ref().map(|e| e.len()), data_at);

    let exif_len = exif.as_ref().map_or(0, |e| e.len());
    let mut out = Vec::with_capacity(data_at as usize + image.len() + exif_len);
    out.extend_from_slice(&ftyp);
    out.extend_from_slice(&meta_box);
    out.extend_from_slice(&free);
    out.extend_from_slice(&((8 + image.len() + exif_len) as u32).to_be_bytes());
    out.extend_from_slice(b"mdat");
    out.extend_from_slice(image);
    if let Some(e) = &exif {
        out.extend_from_slice(e);
    }
    out
}

fn meta(props: &[u8], image_len: usize, exif_len: Option<usize>, data_at: u32) -> Vec<u8> {
    let mut body = Vec::with_capacity(512);

    let mut hdlr = vec![0u8; 4];
    hdlr.extend_from_slice(b"pict");
    hdlr.extend_from_slice(&[0; 12]);
    hdlr.push(0);
    put_full_box(&mut body, b"hdlr", 0, 0, &hdlr);

    put_full_box(&mut body, b"pitm", 0, 0, &IMAGE_ID.to_be_bytes());

    let mut iinf = Vec::new();
    let n_items: u16 = if exif_len.is_some() { 2 } else { 1 };
    iinf.extend_from_slice(&n_items.to_be_bytes());
    put_full_box(&mut iinf, b"infe", 2, 0, &infe(IMAGE_ID, b"hvc1"));
    if exif_len.is_some() {
        put_full_box(&mut iinf, b"infe", 2, 0, &infe(EXIF_ID, b"Exif"));
    }
    put_full_box(&mut body, b"iinf", 0, 0, &iinf);

    if exif_len.is_some() {
        let mut cdsc = Vec::new();
        cdsc.extend_from_slice(&EXIF_ID.to_be_bytes());
        cdsc.extend_from_slice(&1u16.to_be_bytes());
        cdsc.extend_from_slice(&IMAGE_ID.to_be_bytes());
        let mut iref = Vec::new();
        put_box(&mut iref, b"cdsc", &cdsc);
        put_full_box(&mut body, b"iref", 0, 0, &iref);
    }

    // Every template property goes to the image; the decoder configuration and
    // the transformative ones (crop, rotation, mirror) are marked essential.
    let mut ipma = 1u32.to_be_bytes().to_vec();
    ipma.extend_from_slice(&IMAGE_ID.to_be_bytes());
    let list = boxes(props, 0, props.len());
    ipma.push(list.len() as u8);
    for (i, b) in list.iter().enumerate() {
        let essential = matches!(&b.ty, b"hvcC" | b"clap" | b"irot" | b"imir");
        ipma.push(if essential { 0x80 } else { 0 } | (i as u8 + 1));
    }
    let mut iprp = Vec::new();
    put_box(&mut iprp, b"ipco", props);
    put_full_box(&mut iprp, b"ipma", 0, 0, &ipma);
    put_box(&mut body, b"iprp", &iprp);

    // iloc v0: offset_size 4, length_size 4, base_offset_size 0.
    let mut iloc = vec![0x44, 0x00];
    iloc.extend_from_slice(&n_items.to_be_bytes());
    let mut extent = |id: u16, off: u32, len: usize| {
        iloc.extend_from_slice(&id.to_be_bytes());
        iloc.extend_from_slice(&0u16.to_be_bytes()); // data_reference_index: this file
        iloc.extend_from_slice(&1u16.to_be_bytes()); // one extent
        iloc.extend_from_slice(&off.to_be_bytes());
        iloc.extend_from_slice(&(len as u32).to_be_bytes());
    };
    extent(IMAGE_ID, data_at, image_len);
    if let Some(len) = exif_len {
        extent(EXIF_ID, data_at + image_len as u32, len);
    }
    put_full_box(&mut body, b"iloc", 0, 0, &iloc);

    let mut out = Vec::new();
    put_full_box(&mut out, b"meta", 0, 0, &body);
    out
}

fn infe(id: u16, ty: &[u8; 4]) -> Vec<u8> {
    let mut v = id.to_be_bytes().to_vec();
    v.extend_from_slice(&0u16.to_be_bytes()); // protection index
    v.extend_from_slice(ty);
    v.push(0); // empty item name
    v
}
