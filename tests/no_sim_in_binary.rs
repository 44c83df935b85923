//! The simulated iPhone stays out of the `camroll` binary users install: it lives in
//! crates/camroll-sim, which camroll uses only as a dev-dependency and runs as a
//! separate program, so its crypto (rcgen certificates, its own RSA key generation,
//! rand_chacha) is not linked.
//!
//! `rsa` (and, below it, `rand_chacha`) is still in camroll's tree for one reason:
//! idevice's `pair` feature, which generates the host key when camroll pairs with a
//! real, untrusted iPhone. The test pins that down so nothing else brings them back.

use std::process::Command;

/// `cargo tree` for the camroll package's normal and build dependencies, one
/// `name version` per line.
fn tree(extra: &[&str]) -> Vec<String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .args(["tree", "--offline", "--locked", "-p", "camroll"])
        .args([
            "-e",
            "normal,build",
            "--prefix",
            "none",
            "--charset",
            "ascii",
        ])
        .args([
            "--manifest-path",
            concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"),
        ])
        .args(extra)
        .output()
        .expect("run cargo tree");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "cargo tree {extra:?} failed: {stderr}"
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

#[test]
fn camroll_does_not_link_the_simulator_or_its_crypto() {
    let all = tree(&[]);
    assert!(
        all.iter().any(|c| c == "camroll"),
        "unexpected output: {all:?}"
    );
    for banned in ["camroll-sim", "rcgen", "glob"] {
        assert!(
            !all.iter().any(|c| c == banned),
            "camroll depends on {banned}: {all:?}"
        );
    }
    let direct = tree(&["--depth", "1"]);
    for banned in ["rsa", "rand", "rand_chacha"] {
        assert!(
            !direct.iter().any(|c| c == banned),
            "camroll depends on {banned} directly: {direct:?}"
        );
    }
}

#[test]
fn rsa_is_only_there_for_pairing_with_real_iphones() {
    if !tree(&[]).iter().any(|c| c == "rsa") {
        return;
    }
    let users = tree(&["--invert", "rsa", "--depth", "1"]);
    let users: Vec<&String> = users.iter().filter(|c| *c != "rsa").collect();
    assert!(
        users == [&"idevice".to_string()],
        "rsa is used by more than idevice's pairing: {users:?}"
    );
}
