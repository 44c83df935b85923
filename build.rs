//! Sets `CAMROLL_VERSION` for `camroll --version`: the crate version, plus the
//! git commit (and its date) when built from a git checkout. Without git, or
//! outside a checkout (a crates.io download), it is the crate version alone.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (!s.is_empty()).then_some(s)
}

fn main() {
    let version = env!("CARGO_PKG_VERSION");
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
    // Only a checkout of this very crate counts (not some enclosing repository).
    let top = git(&["-C", &dir, "rev-parse", "--show-toplevel"]);
    let ours =
        top.is_some_and(|t| std::fs::canonicalize(t).ok() == std::fs::canonicalize(&dir).ok());
    let commit = ours
        .then(|| git(&["-C", &dir, "log", "-1", "--format=%h %cs"]))
        .flatten();
    match commit.as_deref().and_then(|c| c.split_once(' ')) {
        Some((hash, date)) => {
            println!("cargo:rustc-env=CAMROLL_VERSION={version} (commit {hash}, {date})")
        }
        None => println!("cargo:rustc-env=CAMROLL_VERSION={version}"),
    }
    // Rebuild when HEAD moves: HEAD itself (a branch switch) and the branch it names.
    for path in ["HEAD", "packed-refs"] {
        if let Some(p) = git(&["-C", &dir, "rev-parse", "--git-path", path]) {
            watch(&abs(&dir, &p));
        }
    }
    if let Some(r) = git(&["-C", &dir, "symbolic-ref", "-q", "HEAD"]) {
        if let Some(p) = git(&["-C", &dir, "rev-parse", "--git-path", &r]) {
            watch(&abs(&dir, &p));
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
}

/// A path that does not exist would make cargo rerun this script on every build.
fn watch(p: &str) {
    if std::path::Path::new(p).exists() {
        println!("cargo:rerun-if-changed={p}");
    }
}

/// git prints paths relative to the folder it ran in.
fn abs(dir: &str, p: &str) -> String {
    let path = std::path::Path::new(p);
    if path.is_absolute() {
        p.to_string()
    } else {
        std::path::Path::new(dir).join(path).display().to_string()
    }
}
