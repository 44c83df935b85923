//! `cargo install --locked --path .` installs a working camroll. Installed
//! into a temporary root with the debug profile and this build's target
//! folder, so it reuses what the tests compiled instead of a release build.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::*;

#[test]
fn cargo_install_puts_a_working_camroll_in_a_fresh_root() {
    let root = tempfile::tempdir().unwrap();
    // BIN is <target>/debug/camroll.
    let target: PathBuf = Path::new(BIN).ancestors().nth(2).unwrap().into();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args([
        "install",
        "--locked",
        "--offline",
        "--debug",
        "--quiet",
        "--path",
    ])
    .arg(env!("CARGO_MANIFEST_DIR"));
    // The install builds in the shared target folder (its dependencies are
    // already compiled there) and so replaces <target>/debug/camroll, the
    // binary every later test runs: built with the same features as this
    // test, it stays the binary they expect (with the fault hooks under
    // scripts/test). The binary users build is checked by fault_hooks_off.
    if cfg!(feature = "fault-injection") {
        cmd.args(["--features", "fault-injection"]);
    }
    let out = cmd
        .arg("--root")
        .arg(root.path())
        .env("CARGO_TARGET_DIR", &target)
        .env_remove("RUSTFLAGS")
        .output()
        .unwrap();
    assert!(out.status.success(), "cargo install failed: {}", text(&out));
    let bin = root.path().join("bin/camroll");
    assert!(bin.is_file(), "{} not installed", bin.display());
    // Only camroll: the simulator is a separate package, installed on purpose.
    assert!(!root.path().join("bin/camroll-sim").exists());

    let run_installed = |args: &[&str]| {
        let o = Command::new(&bin)
            .args(args)
            .env("CAMROLL_CONFIG", NO_CONFIG)
            // No camroll-sim from the developer's PATH either.
            .env("PATH", "/usr/bin:/bin")
            .current_dir(root.path())
            .output()
            .unwrap();
        (o.status.code(), text(&o))
    };
    let (code, v) = run_installed(&["--version"]);
    assert_eq!(code, Some(0));
    assert!(
        v.starts_with(&format!("camroll {}", env!("CARGO_PKG_VERSION"))),
        "{v}"
    );
    let (code, c) = run_installed(&["completions", "bash"]);
    assert_eq!(code, Some(0));
    assert!(c.contains("_camroll"), "{c}");
    // The demo needs the simulator and says how to get it.
    let (code, e) = run_installed(&["demo"]);
    assert_eq!(code, Some(2), "{e}");
    assert!(e.contains("cargo install --path crates/camroll-sim"), "{e}");
}
