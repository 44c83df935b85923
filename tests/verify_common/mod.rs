//! Helpers shared by the verify/check/sync/rebuild/report tests (each test
//! file declares `mod common; mod verify_common;`): a small camera roll with every kind camroll archives, and
//! runners for the real binary.
#![allow(dead_code)]

pub use crate::common::*;

use std::path::{Path, PathBuf};

use camroll_sim::synth::{self, AaeSpec, PngSpec, StillSpec, VideoSpec};
use chrono::TimeZone;

/// Writes a camera roll under `src`: a JPEG and a PNG screenshot (July 2023),
/// a Live Photo (HEIC + MOV + AAE) and an MP4 (January 2024), and a text file
/// camroll leaves alone. Returns the media files' relative paths.
pub fn roll(src: &Path) -> Vec<&'static str> {
    let d = src.join("DCIM/100APPLE");
    write(
        &d.join("IMG_0001.JPG"),
        &iphone_jpeg(1, dt(2023, 7, 14, 18, 22, 5), 2),
    );
    write(
        &d.join("IMG_0002.HEIC"),
        &synth::heic(&StillSpec::iphone(
            2,
            "iPhone 15",
            dt(2024, 1, 3, 9, 0, 0),
            Some(off(1)),
        )),
    );
    write(
        &d.join("IMG_0002.MOV"),
        &iphone_mov(3, dt(2024, 1, 3, 9, 0, 1), 1),
    );
    write(
        &d.join("IMG_0002.AAE"),
        &synth::aae(&AaeSpec::new(
            4,
            chrono::Utc.with_ymd_and_hms(2024, 1, 4, 10, 0, 0).unwrap(),
        )),
    );
    write(
        &d.join("IMG_0003.PNG"),
        &synth::png(&PngSpec {
            xmp_date: Some(off(2).with_ymd_and_hms(2023, 7, 20, 12, 0, 0).unwrap()),
            ..PngSpec::bare(5)
        }),
    );
    let t = off(1).with_ymd_and_hms(2024, 1, 5, 8, 0, 0).unwrap();
    write(
        &d.join("IMG_0004.MP4"),
        &synth::mp4(&VideoSpec::iphone(6, "iPhone 15", t)),
    );
    write(&d.join("notes.txt"), b"not a photo");
    vec![
        "DCIM/100APPLE/IMG_0001.JPG",
        "DCIM/100APPLE/IMG_0002.AAE",
        "DCIM/100APPLE/IMG_0002.HEIC",
        "DCIM/100APPLE/IMG_0002.MOV",
        "DCIM/100APPLE/IMG_0003.PNG",
        "DCIM/100APPLE/IMG_0004.MP4",
    ]
}

/// The roll exported (and verified) into each archive; returns the archives' archived paths.
pub fn exported(src: &Path, archives: &[&Path]) -> Vec<String> {
    let (code, json, stderr) = export_json(src, archives, &[]);
    assert_eq!(code, 0, "{json}\n{stderr}");
    archived_files(archives[0])
}

/// Runs camroll with `args` and parses its `--json` stdout.
pub fn run_json(args: &[&str]) -> (i32, serde_json::Value, String) {
    let mut all: Vec<&str> = args.to_vec();
    all.push("--json");
    let (code, out, err) = run(&all);
    let v = serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("bad JSON ({e}) from {args:?}: {out}\nstderr: {err}"));
    (code, v, err)
}

pub fn s(p: &Path) -> String {
    p.display().to_string()
}

/// The findings of the first archive of a `verify --json` answer: (kind, path).
pub fn findings(v: &serde_json::Value) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = v["archives"][0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["kind"].as_str().unwrap().to_string(),
                f["path"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

/// Flips one byte in the middle of a file.
pub fn flip_byte(p: &Path) {
    let mut b = std::fs::read(p).unwrap();
    let i = b.len() / 2;
    b[i] ^= 0xFF;
    std::fs::write(p, b).unwrap();
}

/// Cuts a file to `keep` of its length (in per mille).
pub fn truncate(p: &Path, per_mille: u64) {
    let len = std::fs::metadata(p).unwrap().len();
    let f = std::fs::OpenOptions::new().write(true).open(p).unwrap();
    f.set_len(len * per_mille / 1000).unwrap();
}

pub fn catalog_path(a: &Path) -> PathBuf {
    a.join(".camroll/catalog.sqlite")
}
