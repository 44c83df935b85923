//! Helpers shared by the integration tests: run the real `camroll` binary on
//! temp dirs, and write synthetic media with known metadata.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use camroll_sim::synth::{self, StillSpec, VideoSpec};
use chrono::{FixedOffset, NaiveDate, NaiveDateTime, TimeZone};

pub fn camroll() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_camroll"));
    c.env_remove("CAMROLL_TEST_PAUSE_AFTER_SCAN_MS");
    c
}

/// Runs camroll with `args`, returning (exit code, stdout, stderr).
pub fn run(args: &[&str]) -> (i32, String, String) {
    let out = camroll().args(args).output().expect("camroll runs");
    decode(out)
}

pub fn decode(out: Output) -> (i32, String, String) {
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `camroll export --json --from src --to d…`, parsed.
pub fn export_json(
    src: &Path,
    dests: &[&Path],
    extra: &[&str],
) -> (i32, serde_json::Value, String) {
    let mut args: Vec<String> = vec![
        "export".into(),
        "--json".into(),
        "--from".into(),
        src.display().to_string(),
    ];
    for d in dests {
        args.push("--to".into());
        args.push(d.display().to_string());
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    let out = camroll().args(&args).output().expect("camroll runs");
    let (code, stdout, stderr) = decode(out);
    let json = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("bad JSON ({e}): {stdout}\nstderr: {stderr}"));
    (code, json, stderr)
}

pub fn dt(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> NaiveDateTime {
    NaiveDate::from_ymd_opt(y, mo, d)
        .unwrap()
        .and_hms_opt(h, mi, s)
        .unwrap()
}

pub fn off(hours: i32) -> FixedOffset {
    FixedOffset::east_opt(hours * 3600).unwrap()
}

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

/// Every regular file under `root` except camroll's own, as sorted relative paths.
pub fn archived_files(root: &Path) -> Vec<String> {
    let mut v: Vec<String> = walkdir::WalkDir::new(root)
        .into_iter()
        .filter_entry(|e| e.file_name() != ".camroll")
        .flatten()
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            e.path()
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/")
        })
        .filter(|p| p != "BLAKE3SUMS")
        .collect();
    v.sort();
    v
}

/// Whether external tools are required (scripts/test) rather than optional.
pub fn tools_required() -> bool {
    std::env::var("CAMROLL_REQUIRE_TOOLS").is_ok_and(|v| v == "1")
}

/// `Some(path)` of a tool on PATH; panics when missing and required, else prints why the test skips.
pub fn tool(name: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        assert!(!tools_required(), "{name} is required (CAMROLL_REQUIRE_TOOLS=1) but not installed: run scripts/setup test");
        eprintln!("skipping: {name} is not installed (scripts/setup test installs it)");
    }
    found
}
