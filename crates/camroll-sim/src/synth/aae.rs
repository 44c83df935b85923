//! `.AAE` sidecars: the XML property list Photos writes next to an edited
//! original. `adjustmentData` is, as on a phone, a raw-DEFLATE stream of a
//! JSON description of the edits (here in stored, uncompressed blocks).

use std::time::SystemTime;

use plist::{Dictionary, Value};

use super::{AaeSpec, Mix};

/// Edits Photos applies, one picked per seed.
const EFFECTS: [&str; 4] = ["3DVivid", "3DDramatic", "3DNoir", "3DSilverplate"];

/// An `.AAE` XML plist for `spec`.
pub fn aae(spec: &AaeSpec) -> Vec<u8> {
    let mut m = Mix::new(spec.seed);
    let effect = EFFECTS[(m.next() % EFFECTS.len() as u64) as usize];
    let light = (m.next() % 1000) as f64 / 1000.0 - 0.5;
    let edits = serde_json::json!({
        "metadata": {"masterHeight": 3024, "masterWidth": 4032, "orientation": 1},
        "formatVersion": 1,
        "versionInfo": {"buildNumber": "21B101", "appVersion": "1", "schemaRevision": 0, "platform": "iOS"},
        "adjustments": [
            {"formatVersion": 1, "enabled": true, "settings": {"effectVersion": 1, "effectName": effect}, "identifier": "Effect"},
            {"formatVersion": 1, "enabled": true, "settings": {"inputLight": light, "offsetExposure": 0}, "identifier": "SmartTone"},
        ],
    });
    let inner = edits.to_string().into_bytes();

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
