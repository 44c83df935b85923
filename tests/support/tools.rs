//! External tools and machine abilities a test may need (b3sum, chromium,
//! root, a FAT32 mount…). A test that cannot run says why on stderr and
//! returns; under `CAMROLL_REQUIRE_TOOLS=1` (set by scripts/test, so in CI) it
//! panics instead, so no test passes there without having run.

use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Whether every test must run (scripts/test) rather than skip when the machine lacks something.
pub fn tools_required() -> bool {
    std::env::var("CAMROLL_REQUIRE_TOOLS").is_ok_and(|v| v == "1")
}

/// `true` when the test can go on. Otherwise prints why it is skipped and
/// returns `false`, or panics under `CAMROLL_REQUIRE_TOOLS=1`.
#[track_caller]
pub fn skip_unless(can_run: bool, why: impl Display) -> bool {
    if !can_run {
        assert!(
            !tools_required(),
            "cannot run this test (CAMROLL_REQUIRE_TOOLS=1): {why}"
        );
        eprintln!("SKIPPED: {why}");
    }
    can_run
}

/// Skips the calling test (the caller returns next): prints why, or panics
/// under `CAMROLL_REQUIRE_TOOLS=1`.
#[track_caller]
pub fn skip(why: impl Display) {
    skip_unless(false, why);
}

/// `name` on PATH, without any skip message.
pub fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
    })
}

/// `Some(path)` of a tool on PATH; `None` (the test skips, or fails when required) when absent.
#[track_caller]
pub fn tool(name: &str) -> Option<PathBuf> {
    tool_any(&[name])
}

/// The first of `names` on PATH (one tool, packaged under several names).
#[track_caller]
pub fn tool_any(names: &[&str]) -> Option<PathBuf> {
    let found = names.iter().find_map(|n| on_path(n));
    skip_unless(
        found.is_some(),
        format!(
            "{} is not installed (scripts/setup test installs it)",
            names.join(" or ")
        ),
    );
    found
}

/// Whether an external tool answers its version flag; panics when it is
/// missing and CAMROLL_REQUIRE_TOOLS=1 (CI), otherwise says why the check is skipped.
#[track_caller]
pub fn have(tool: &str) -> bool {
    let ok = Command::new(tool)
        // exiftool's version flag is -ver (-version exits 1: "No file specified").
        .arg(if tool == "exiftool" {
            "-ver"
        } else {
            "-version"
        })
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    skip_unless(ok, format!("{tool} checks: {tool} not installed"))
}

/// pymobiledevice3 from CAMROLL_PYMOBILEDEVICE3, the scripts/setup venv, or PATH.
#[track_caller]
pub fn pymobiledevice3() -> Option<PathBuf> {
    let mut cands = Vec::new();
    if let Some(p) = std::env::var_os("CAMROLL_PYMOBILEDEVICE3") {
        cands.push(PathBuf::from(p));
    }
    if let Some(h) = std::env::var_os("HOME") {
        cands.push(PathBuf::from(h).join(".cache/camroll/venv/bin/pymobiledevice3"));
    }
    if let Some(p) = std::env::var_os("PATH") {
        cands.extend(std::env::split_paths(&p).map(|d| d.join("pymobiledevice3")));
    }
    let found = cands.into_iter().find(|c| c.is_file());
    skip_unless(
        found.is_some(),
        "pymobiledevice3 not found: run scripts/setup test (a venv with pymobiledevice3)",
    );
    found
}

/// Whether camroll was built with its fault-injection hooks (the
/// `fault-injection` feature: `cargo test --features fault-injection`, as
/// scripts/test runs it). A test that injects faults skips without them (and
/// fails under CAMROLL_REQUIRE_TOOLS=1), saying how to turn them on.
#[track_caller]
pub fn fault_hooks() -> bool {
    skip_unless(
        cfg!(feature = "fault-injection"),
        "this test injects faults (CAMROLL_FAULT_*/CAMROLL_TEST_*), which only a build with \
         the `fault-injection` feature reads: run `cargo test --features fault-injection` (scripts/test does)",
    )
}

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// The uid and gid of `nobody`, which the permission tests run as when started as root.
pub const NOBODY: u32 = 65534;

/// A command that runs the camroll binary as an unprivileged user, so file
/// permissions apply: as root (CI), `setpriv` to `nobody`, after handing it
/// `tree` (every file keeps its mode, so a mode-000 file stays unreadable);
/// otherwise camroll as this user. `None` (skipped) as root without setpriv.
#[track_caller]
pub fn unprivileged_camroll(tree: &Path) -> Option<Command> {
    if !is_root() {
        return Some(crate::support::camroll());
    }
    let setpriv = tool("setpriv")?;
    for e in walkdir::WalkDir::new(tree).follow_links(false) {
        let e = e.expect("walk the test tree");
        std::os::unix::fs::lchown(e.path(), Some(NOBODY), Some(NOBODY))
            .expect("hand the test tree to nobody");
    }
    let mut c = Command::new(setpriv);
    c.arg(format!("--reuid={NOBODY}"))
        .arg(format!("--regid={NOBODY}"))
        .arg("--clear-groups")
        .arg(env!("CARGO_BIN_EXE_camroll"))
        .env_remove("CAMROLL_TEST_PAUSE_AFTER_SCAN_MS");
    Some(c)
}

/// Unmounts a test mount when dropped, so a failing test leaves no mount behind.
pub struct Unmount<'a>(pub &'a Path);

impl Drop for Unmount<'_> {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0).status();
    }
}
