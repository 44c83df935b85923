//! The XMP writer against ExifTool: every mapped field reads back with the
//! value written, hostile strings included (`<`, `&`, NUL, very long text,
//! right-to-left text).

mod support;

use std::path::Path;
use std::process::Command;

use camroll::media::sidecar::{render_json, render_xmp, AssetMeta, Burst, FaceRegion, LivePair};
use support::*;

/// ExifTool's structured view of a sidecar, values unconverted (`-n`).
fn exiftool(path: &Path) -> serde_json::Value {
    let out = Command::new("exiftool")
        .args(["-j", "-struct", "-n", "-G1", "-charset", "UTF8"])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v[0].clone()
}

fn list(v: &serde_json::Value) -> Vec<String> {
    match v {
        serde_json::Value::Array(a) => a.iter().map(|x| x.as_str().unwrap().to_string()).collect(),
        serde_json::Value::String(s) => vec![s.clone()],
        serde_json::Value::Null => vec![],
        other => vec![other.to_string()],
    }
}

pub fn sample() -> AssetMeta {
    AssetMeta {
        uuid: "6D1A7F4C-3B1E-4E0B-9A55-0C8F2D7C1E11".into(),
        favorite: true,
        hidden: true,
        title: Some("Tom & Jerry <3 \u{0}end".into()),
        caption: Some("שלום עולם — مرحبا\r\nline two".into()),
        keywords: vec![
            "beach".into(),
            "<script>".into(),
            "a&b".into(),
            "k".repeat(20_000),
        ],
        albums: vec![
            vec!["Trips".into(), "2023".into(), "Rome".into()],
            vec!["Loose".into()],
        ],
        people: vec!["Ada Lovelace".into(), "Émile".into()],
        faces: vec![FaceRegion {
            name: "Ada Lovelace".into(),
            x: 0.25,
            y: 0.4,
            w: 0.1,
            h: 0.133333,
        }],
        dimensions: Some((4032, 3024)),
        location: Some((48.8583701, -2.2944813)),
        created: Some("2023-06-01T12:34:56+02:00".into()),
        burst: Some(Burst {
            uuid: "B-1".into(),
            picked: true,
        }),
        live_photo: Some(LivePair {
            still: "IMG_0001.HEIC".into(),
            movie: "IMG_0001.MOV".into(),
        }),
    }
}

#[test]
fn exiftool_reads_back_every_mapped_field_with_hostile_strings() {
    if !have("exiftool") {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("IMG_0001.HEIC.xmp");
    let meta = sample();
    std::fs::write(&p, render_xmp(&meta)).unwrap();
    let x = exiftool(&p);
    assert!(x.get("ExifTool:Warning").is_none(), "{x:#}");
    assert!(x.get("ExifTool:Error").is_none(), "{x:#}");
    assert_eq!(x["XMP-xmp:Rating"], 5);
    assert_eq!(x["XMP-dc:Title"], "Tom & Jerry <3 \u{FFFD}end");
    assert_eq!(x["XMP-dc:Description"], "שלום עולם — مرحبا\r\nline two");
    let mut kw = list(&x["XMP-dc:Subject"]);
    kw.sort();
    let mut want = meta.keywords.clone();
    want.sort();
    assert_eq!(kw, want);
    assert_eq!(
        list(&x["XMP-lr:HierarchicalSubject"]),
        ["Albums|Loose", "Albums|Trips|2023|Rome"]
    );
    assert_eq!(
        list(&x["XMP-iptcExt:PersonInImage"]),
        ["Ada Lovelace", "Émile"]
    );
    let r = &x["XMP-mwg-rs:RegionInfo"];
    assert_eq!(r["AppliedToDimensions"]["W"], 4032);
    assert_eq!(r["AppliedToDimensions"]["H"], 3024);
    let face = &r["RegionList"][0];
    assert_eq!(face["Name"], "Ada Lovelace");
    assert_eq!(face["Type"], "Face");
    assert_eq!(face["Area"]["X"], 0.25);
    assert_eq!(face["Area"]["Y"], 0.4);
    assert_eq!(face["Area"]["W"], 0.1);
    assert_eq!(face["Area"]["H"], 0.133333);
    assert_eq!(face["Area"]["Unit"], "normalized");
    let lat = x["XMP-exif:GPSLatitude"].as_f64().unwrap();
    let lon = x["XMP-exif:GPSLongitude"].as_f64().unwrap();
    assert!((lat - 48.8583701).abs() < 1e-6, "{lat}");
    assert!((lon + 2.2944813).abs() < 1e-6, "{lon}");
    assert_eq!(x["XMP-xmp:CreateDate"], "2023:06:01 12:34:56+02:00");
    assert_eq!(x["XMP-photoshop:DateCreated"], "2023:06:01 12:34:56+02:00");
    assert_eq!(x["XMP-camroll:AssetUUID"], meta.uuid);
    assert_eq!(x["XMP-camroll:Hidden"], true);
    assert_eq!(x["XMP-camroll:BurstUUID"], "B-1");
    assert_eq!(x["XMP-camroll:BurstPick"], true);
    assert_eq!(x["XMP-camroll:LivePhotoStill"], "IMG_0001.HEIC");
    assert_eq!(x["XMP-camroll:LivePhotoMovie"], "IMG_0001.MOV");
}

#[test]
fn a_plain_asset_has_no_rating_and_no_optional_fields() {
    if !have("exiftool") {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("IMG_0002.JPG.xmp");
    let meta = AssetMeta {
        uuid: "U2".into(),
        ..Default::default()
    };
    std::fs::write(&p, render_xmp(&meta)).unwrap();
    let x = exiftool(&p);
    assert!(x.get("XMP-xmp:Rating").is_none(), "{x:#}");
    assert!(x.get("XMP-dc:Title").is_none());
    assert!(x.get("XMP-camroll:Hidden").is_none());
    assert_eq!(x["XMP-camroll:AssetUUID"], "U2");
}

#[test]
fn the_json_variant_keeps_strings_exactly() {
    let meta = sample();
    let j: serde_json::Value = serde_json::from_slice(&render_json(&meta)).unwrap();
    assert_eq!(j["title"], "Tom & Jerry <3 \u{0}end");
    assert_eq!(j["favorite"], true);
    assert_eq!(j["albums"][1][2], "Rome");
    assert_eq!(j["location"][0], 48.8583701);
    assert_eq!(j["faces"][0]["name"], "Ada Lovelace");
}
