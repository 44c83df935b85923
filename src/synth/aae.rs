//! `.AAE` sidecars: the XML property list Photos writes next to an edited
//! original. `adjustmentData` is, as on a phone, a raw-DEFLATE stream of a
//! binary plist describing the edits (here a stored, uncompressed block).

use std::time::SystemTime;

use plist::{Dictionary, Value};

use super::{AaeSpec, Mix};

/// An `.AAE` XML plist for `spec`.
pub fn aae(spec: &AaeSpec) -> Vec<u8> {
    let mut m = Mix::new(spec.seed);
    let mut crop = Dictionary::new();
    crop.insert("identifier".into(), Value::String("Crop".into()));
    crop.insert("formatVersion".into(), Value::Integer(4.into()));
    let mut settings = Dictionary::new();
    for k in ["cropLeft", "cropTop", "cropWidth", "cropHeight"] {
        settings.insert(
            k.into(),
            Value::Integer(((m.next() % 400) as i64 + 10).into()),
        );
    }
    settings.insert(
        "straightenAngle".into(),
        Value::Real((m.next() % 90) as f64 / 10.0 - 4.5),
    );
    crop.insert("settings".into(), Value::Dictionary(settings));
    let mut edits = Dictionary::new();
    edits.insert(
        "adjustments".into(),
        Value::Array(vec![Value::Dictionary(crop)]),
    );
    edits.insert("formatVersion".into(), Value::Integer(1.into()));
    let mut meta = Dictionary::new();
    meta.insert("masterWidth".into(), Value::Integer(4032.into()));
    meta.insert("masterHeight".into(), Value::Integer(3024.into()));
    meta.insert("orientation".into(), Value::Integer(1.into()));
    edits.insert("metadata".into(), Value::Dictionary(meta));
    edits.insert(
        "versionInfo".into(),
        Value::Dictionary(Dictionary::from_iter([(
            "buildNumber".to_string(),
            Value::String("21B101".into()),
        )])),
    );
    let mut inner = Vec::new();
    // Serialising an in-memory dictionary into a Vec cannot fail for I/O reasons;
    // an (impossible) error just leaves adjustmentData empty.
    let _ = plist::to_writer_binary(&mut inner, &Value::Dictionary(edits));

    let mut d = Dictionary::new();
    d.insert("adjustmentBaseVersion".into(), Value::Integer(0.into()));
    d.insert("adjustmentData".into(), Value::Data(deflate_stored(&inner)));
    d.insert(
        "adjustmentEditorBundleID".into(),
        Value::String("com.apple.mobileslideshow".into()),
    );
    d.insert(
        "adjustmentFormatIdentifier".into(),
        Value::String(spec.format_identifier.clone()),
    );
    d.insert(
        "adjustmentFormatVersion".into(),
        Value::String(spec.format_version.clone()),
    );
    d.insert("adjustmentRenderTypes".into(), Value::Integer(0.into()));
    d.insert(
        "adjustmentTimestamp".into(),
        Value::Date(plist::Date::from(SystemTime::from(spec.timestamp))),
    );
    let mut out = Vec::new();
    let _ = plist::to_writer_xml(&mut out, &Value::Dictionary(d));
    out.push(b'\n');
    out
}

/// Raw DEFLATE (RFC 1951) made of stored blocks: valid for any inflater, no
/// compressor needed.
fn deflate_stored(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 5 * (data.len() / 65535 + 1));
    let mut chunks = data.chunks(65535).peekable();
    if chunks.peek().is_none() {
        out.extend_from_slice(&[1, 0, 0, 0xFF, 0xFF]);
    }
    while let Some(c) = chunks.next() {
        out.push(u8::from(chunks.peek().is_none())); // BFINAL on the last block, BTYPE 00
        let len = c.len() as u16;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(c);
    }
    out
}
