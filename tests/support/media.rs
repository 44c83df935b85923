//! Synthetic media with known metadata, and the dates that describe it.

use std::path::{Path, PathBuf};

use camroll_sim::synth::{self, StillSpec, VideoSpec};
use chrono::{FixedOffset, NaiveDate, NaiveDateTime, TimeZone};

pub fn dt(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> NaiveDateTime {
    NaiveDate::from_ymd_opt(y, mo, d)
        .unwrap()
        .and_hms_opt(h, mi, s)
        .unwrap()
}

pub fn off(hours: i32) -> FixedOffset {
    FixedOffset::east_opt(hours * 3600).unwrap()
}

/// Writes `bytes` to `path`, creating its folders; returns the path.
pub fn write(path: &Path, bytes: &[u8]) -> PathBuf {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
    path.to_path_buf()
}

/// An iPhone JPEG taken at `taken` (local) with offset `offset_h`.
pub fn iphone_jpeg(seed: u64, taken: NaiveDateTime, offset_h: i32) -> Vec<u8> {
    synth::jpeg(&StillSpec::iphone(
        seed,
        "iPhone 13",
        taken,
        Some(off(offset_h)),
    ))
}

/// An iPhone movie with `com.apple.quicktime.creationdate` at `taken` local, offset `offset_h`.
pub fn iphone_mov(seed: u64, taken: NaiveDateTime, offset_h: i32) -> Vec<u8> {
    let t = off(offset_h).from_local_datetime(&taken).unwrap();
    synth::mov(&VideoSpec::iphone(seed, "iPhone 13", t))
}

/// Deterministic, incompressible-looking bytes.
pub fn pattern(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// The BLAKE3 of a file, in hex.
pub fn b3(path: &Path) -> String {
    blake3::hash(&std::fs::read(path).unwrap())
        .to_hex()
        .to_string()
}
