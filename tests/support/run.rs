//! Running the real `camroll` binary (and other programs) and decoding what it prints.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The real binary cargo built for these tests.
pub const BIN: &str = env!("CARGO_BIN_EXE_camroll");

/// A config file path that never exists: tests see camroll's built-in defaults,
/// never the config file of the developer running them.
pub const NO_CONFIG: &str = "/nonexistent/camroll-tests/config.toml";

/// The camroll binary, without the test-only pause a developer's shell may have set,
/// and without any user config file (tests that want one set `CAMROLL_CONFIG`).
pub fn camroll() -> Command {
    let mut c = Command::new(BIN);
    c.env_remove("CAMROLL_TEST_PAUSE_AFTER_SCAN_MS");
    c.env("CAMROLL_CONFIG", NO_CONFIG);
    c
}

/// Runs camroll with `args`, returning (exit code, stdout, stderr).
pub fn run(args: &[&str]) -> (i32, String, String) {
    let out = camroll().args(args).output().expect("camroll runs");
    decode(out)
}

/// Runs camroll with `args` in the working folder `dir` (for relative paths).
pub fn output_in(args: &[&str], dir: &Path) -> Output {
    camroll()
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run camroll")
}

/// (exit code, stdout, stderr) of a finished process; -1 when a signal ended it.
pub fn decode(out: Output) -> (i32, String, String) {
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs `cmd` and parses its stdout as JSON: (exit code, JSON, stderr).
pub fn output_json(cmd: &mut Command) -> (i32, serde_json::Value, String) {
    let (code, stdout, stderr) = decode(cmd.output().expect("camroll runs"));
    let json = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("bad JSON ({e}) from {cmd:?}: {stdout}\nstderr: {stderr}"));
    (code, json, stderr)
}

/// Runs camroll with `args` and parses its `--json` stdout.
pub fn run_json(args: &[&str]) -> (i32, serde_json::Value, String) {
    output_json(camroll().args(args).arg("--json"))
}

/// `camroll export --json --from src --to d… extra…`, not yet run (to add variables or spawn it).
pub fn export_command(src: &Path, dests: &[&Path], extra: &[&str]) -> Command {
    let mut cmd = camroll();
    cmd.args(["export", "--json", "--from"]).arg(src);
    for d in dests {
        cmd.arg("--to").arg(d);
    }
    cmd.args(extra);
    cmd
}

/// `camroll export --json --from src --to d…`, parsed.
pub fn export_json(
    src: &Path,
    dests: &[&Path],
    extra: &[&str],
) -> (i32, serde_json::Value, String) {
    output_json(&mut export_command(src, dests, extra))
}

/// A path as an argument.
pub fn s(p: &Path) -> String {
    p.display().to_string()
}

/// stdout then stderr, for assertion messages.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Runs a command with a time limit; panics (after killing it) when exceeded.
pub fn run_limited(cmd: &mut Command, limit: Duration) -> Output {
    let (out, timed_out) = run_for(cmd, limit);
    assert!(
        !timed_out,
        "{cmd:?} did not finish within {limit:?}\n{}",
        text(&out)
    );
    out
}

/// Runs a command for at most `limit`; returns its output and whether it had to be killed.
pub fn run_for(cmd: &mut Command, limit: Duration) -> (Output, bool) {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("tool starts");
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let t_out = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let t_err = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let start = Instant::now();
    let mut timed_out = false;
    let status = loop {
        if let Ok(Some(s)) = child.try_wait() {
            break s;
        }
        if start.elapsed() > limit {
            timed_out = true;
            let _ = child.kill();
            break child.wait().expect("wait");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = Output {
        status,
        stdout: t_out.join().unwrap_or_default(),
        stderr: t_err.join().unwrap_or_default(),
    };
    (out, timed_out)
}

/// Pairs of string fields (`a`, `b`) from a JSON array of objects, sorted:
/// the shape of findings, verdicts, problems and renames in camroll's answers.
pub fn pairs(v: &serde_json::Value, a: &str, b: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = v
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|f| {
            (
                f[a].as_str().unwrap().to_string(),
                f[b].as_str().unwrap().to_string(),
            )
        })
        .collect();
    out.sort();
    out
}
