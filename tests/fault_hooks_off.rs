//! The binary users build (`cargo build --release`, no `fault-injection`
//! feature) ignores every fault-injection variable: with
//! `CAMROLL_FAULT_CORRUPT_PLACED`, `CAMROLL_FAULT_KILL_AT` and
//! `CAMROLL_TEST_FS` set, an export completes with every file intact, and the
//! variables' names are not even in the binary.
//!
//! Which binary: the one this test was built with when the feature is off
//! (plain `cargo test`), else `CAMROLL_PLAIN_BIN`, which scripts/test builds
//! without the feature (a dev build of the same code: features, not the
//! profile, decide what is compiled in).

mod support;

use std::path::PathBuf;
use std::process::Command;

use support::*;

fn plain_binary() -> Option<PathBuf> {
    if !cfg!(feature = "fault-injection") {
        return Some(PathBuf::from(env!("CARGO_BIN_EXE_camroll")));
    }
    let p = std::env::var_os("CAMROLL_PLAIN_BIN").map(PathBuf::from);
    skip_unless(
        p.as_ref().is_some_and(|p| p.is_file()),
        "this build has the fault hooks; set CAMROLL_PLAIN_BIN to a camroll built without \
         the `fault-injection` feature (scripts/test does)",
    )
    .then_some(p?)
}

#[test]
fn a_build_without_the_feature_ignores_every_fault_variable() {
    let Some(bin) = plain_binary() else { return };
    for name in [
        "CAMROLL_FAULT_KILL_AT",
        "CAMROLL_FAULT_CORRUPT_PLACED",
        "CAMROLL_TEST_FS",
        "CAMROLL_TEST_PAUSE_AFTER_SCAN_MS",
    ] {
        // grep -a: a byte search over a debug binary (fast where the test code is not).
        let found = Command::new("grep")
            .args(["-q", "-a", "-F", name])
            .arg(&bin)
            .status()
            .unwrap();
        assert_eq!(found.code(), Some(1), "{} mentions {name}", bin.display());
    }
    let t = Roll::new();
    t.photo("IMG_0001.JPG", 1, dt(2023, 7, 1, 9, 0, 0), 2);
    t.photo("IMG_0002.JPG", 2, dt(2023, 7, 1, 9, 0, 0), 2);
    let a = t.at("a");
    let out = Command::new(&bin)
        .args(["export", "--json", "--from", &s(&t.src), "--to", &s(&a)])
        .env("CAMROLL_FAULT_CORRUPT_PLACED", "IMG_0002.JPG")
        .env("CAMROLL_FAULT_KILL_AT", "before-rename:1")
        .env("CAMROLL_TEST_FS", "vfat")
        .env("CAMROLL_TEST_PAUSE_AFTER_SCAN_MS", "60000")
        .output()
        .unwrap();
    let (code, stdout, stderr) = decode(out);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["copied"], 2, "{json}");
    let out = Command::new(&bin)
        .args(["verify", &s(&a)])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}
