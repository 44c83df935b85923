//! Durability in batches (issue 13): small files are made durable with one
//! flush per batch, not one fsync each. Counted on the real binary with
//! `strace -f -c`, so the figure is what the kernel was asked to do.

mod support;

use std::process::Command;

use support::*;

/// Small photos exported: four full batches' worth of the 1-per-64 budget.
const PHOTOS: u64 = 256;

/// fsync-class calls a run makes whatever its number of files, measured
/// with `strace -f -y` on this test (256 photos into a new archive): the
/// catalog 19 (creating it: SQLite's rollback journal, `.camroll` twice, the
/// database and its WAL, then 8 commits of schema, migrations and the run's
/// start; at the end the `verified` marks and the run's record, 2 commits,
/// and the checkpoint on close, 3) and `BLAKE3SUMS` 2 (the new file, then
/// the archive folder after its rename). A batch of up to 256 small files
/// costs 3 more: one `syncfs` before its renames, one after them (its
/// folders; one `fsync` each when it touched at most two) and one commit.
const PER_RUN: u64 = 21;

/// Sums the `calls` column of `strace -c`'s table for the fsync-class calls.
fn sync_calls(table: &str) -> (u64, Vec<(String, u64)>) {
    let mut per = Vec::new();
    for line in table.lines() {
        let cols: Vec<&str> = line.split_whitespace().collect();
        let Some(name) = cols.last() else { continue };
        if ["fsync", "fdatasync", "syncfs", "sync_file_range"].contains(name) && cols.len() >= 5 {
            if let Ok(n) = cols[3].parse::<u64>() {
                per.push((name.to_string(), n));
            }
        }
    }
    (per.iter().map(|(_, n)| n).sum(), per)
}

/// strace, if it is installed and can trace here (it needs ptrace, which
/// some containers forbid); `None` after saying why (a failure under
/// `CAMROLL_REQUIRE_TOOLS=1`).
fn working_strace() -> Option<std::path::PathBuf> {
    let strace = tool("strace")?;
    let works = Command::new(&strace)
        .args(["-f", "-c", "-o", "/dev/null", "true"])
        .status()
        .is_ok_and(|s| s.success());
    skip_unless(works, "strace cannot trace here (ptrace not permitted)").then_some(strace)
}

#[test]
fn small_photos_cost_at_most_one_flush_per_64_files() {
    let Some(strace) = working_strace() else {
        return;
    };
    let t = Roll::new();
    for i in 0..PHOTOS {
        let month = 1 + (i % 2) as u32;
        t.photo(
            format!("DCIM/100APPLE/IMG_{:04}.JPG", i + 1),
            i + 1,
            dt(2023, month, 1 + (i % 28) as u32, 12, 0, 0),
            1,
        );
    }
    let a = t.at("a");
    let table = t.at("strace.txt");
    let out = Command::new(&strace)
        .args(["-f", "-c", "-o"])
        .arg(&table)
        .args(["-e", "trace=fsync,fdatasync,syncfs,sync_file_range", "--"])
        .arg(env!("CARGO_BIN_EXE_camroll"))
        .args(["export", "--quiet", "--json", "--from"])
        .arg(&t.src)
        .arg("--to")
        .arg(&a)
        .output()
        .unwrap();
    let (code, stdout, stderr) = decode(out);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["copied"], PHOTOS, "{json}");
    assert_eq!(json["destinations"][0]["verified"], PHOTOS, "{json}");
    assert_eq!(archived_files(&a).len() as u64, PHOTOS);
    let table = std::fs::read_to_string(&table).unwrap();
    let (total, per) = sync_calls(&table);
    let budget = PHOTOS / 64 + PER_RUN;
    assert!(
        total <= budget,
        "{total} fsync-class calls for {PHOTOS} small photos, budget {budget} (1 per 64 + {PER_RUN}): {per:?}\n{table}"
    );
    // The batch was flushed with syncfs, not file by file.
    assert!(
        per.iter().any(|(n, c)| n == "syncfs" && *c >= 1),
        "no syncfs: {per:?}"
    );
    eprintln!("{total} fsync-class calls for {PHOTOS} photos: {per:?}");
    // And the archive is sound.
    if let Some(check) = b3sum_check(&a) {
        assert!(check.status.success(), "{}", text(&check));
    }
}

/// Sidecars are made durable a batch at a time too: on a first export each
/// used to get its own `fsync` (2,000 sidecars: ~2.3 s of flushes on this
/// disk, issue 13). Counted on the real binary with `strace -f -y`, which
/// names the file of every flush.
#[test]
fn sidecars_are_flushed_in_batches_not_one_by_one() {
    let Some(strace) = working_strace() else {
        return;
    };
    let t = tempfile::tempdir().unwrap();
    let media = generate(t.path(), 60, 13);
    let sim = SimProc::start(&media, &[]);
    let a = t.path().join("a");
    let trace = t.path().join("strace.txt");
    let mut cmd = Command::new(&strace);
    cmd.args(["-f", "-y", "-o"])
        .arg(&trace)
        .args(["-e", "trace=fsync,fdatasync,syncfs", "--"])
        .arg(env!("CARGO_BIN_EXE_camroll"))
        .env("USBMUXD_SOCKET_ADDRESS", &sim.addr)
        .env("XDG_CACHE_HOME", t.path().join("cache"))
        .args(["export", "--quiet", "--json", "--to"])
        .arg(&a);
    let (code, stdout, stderr) = decode(cmd.output().unwrap());
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let written = json["sidecars"]["written"].as_u64().unwrap_or(0);
    assert!(written >= 50, "{json}");
    assert_eq!(json["sidecars"]["failed"], 0, "{json}");
    let trace = std::fs::read_to_string(&trace).unwrap();
    let one_by_one = trace
        .lines()
        .filter(|l| l.contains("fsync(") && l.contains("/sidecar-"))
        .count();
    assert_eq!(
        one_by_one, 0,
        "{one_by_one} sidecars fsynced one by one ({written} written)"
    );
    // Every sidecar in the archive is durable, recorded and reads back right.
    if let Some(check) = b3sum_check(&a) {
        assert!(check.status.success(), "{}", text(&check));
    }
}
