//! Fault injection for the crash-and-fault matrix (`scripts/faults`) and the
//! tests: each hook is one environment lookup that is unset in normal use.
//! They live here, apart from the pipeline, so the stages read as what they do.
//!
//! Only with the cargo feature `fault-injection` (scripts/test and
//! scripts/faults turn it on). Without it every hook is an empty function,
//! so the binary users install reads no `CAMROLL_FAULT_*` or `CAMROLL_TEST_*`
//! variable at all: the variable names are not even in it.

/// Whether this build has the fault-injection hooks.
pub const ENABLED: bool = cfg!(feature = "fault-injection");

/// Fault injection for the crash matrix (`scripts/faults`, tests/faults_*):
/// with `CAMROLL_FAULT_KILL_AT=<point>:<n>` the process kills itself with
/// SIGKILL (no destructors, no flush: exactly a `kill -9`) the n-th time it
/// reaches `point`. Points: `stage-write` (a chunk written to a staging file),
/// `before-rename`, `after-rename` (file in place, row not committed),
/// `batch-synced` (a batch's staged files flushed, none renamed yet),
/// `batch-placed` (a batch renamed, its folders not yet fsynced),
/// `catalog-commit` (folders fsynced, commit not yet run), `sums-write`
/// (temporary BLAKE3SUMS half written). Unset in normal use: one env lookup.
#[cfg(not(feature = "fault-injection"))]
pub fn point(_point: &str) {}

/// See the feature-less [`point`].
#[cfg(feature = "fault-injection")]
pub fn point(point: &str) {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::OnceLock;
    static TARGET: OnceLock<Option<(String, u64)>> = OnceLock::new();
    static SEEN: AtomicU64 = AtomicU64::new(0);
    let target = TARGET.get_or_init(|| {
        let v = std::env::var("CAMROLL_FAULT_KILL_AT").ok()?;
        let (p, n) = v.rsplit_once(':')?;
        Some((p.to_string(), n.parse().ok()?))
    });
    let Some((p, n)) = target else { return };
    if p != point || SEEN.fetch_add(1, Ordering::SeqCst) + 1 != *n {
        return;
    }
    eprintln!("camroll: fault injection: killed at {point}:{n}");
    #[cfg(unix)]
    // SAFETY: signalling our own pid; SIGKILL cannot be caught, so this never returns.
    unsafe {
        libc::kill(libc::getpid(), libc::SIGKILL);
    }
    std::process::abort();
}

/// Fault-injection hook for tests: flips a byte of a just-placed file whose
/// name is `CAMROLL_FAULT_CORRUPT_PLACED`, as a failing disk or cable would, so
/// the read-back verification can be shown to catch it. Unset in normal use.
#[cfg(not(feature = "fault-injection"))]
pub fn corrupt_placed(_path: &std::path::Path, _name: &str) {}

/// See the feature-less [`corrupt_placed`].
#[cfg(feature = "fault-injection")]
pub fn corrupt_placed(path: &std::path::Path, name: &str) {
    if std::env::var("CAMROLL_FAULT_CORRUPT_PLACED").is_ok_and(|n| n == name) {
        if let Ok(mut bytes) = std::fs::read(path) {
            if let Some(b) = bytes.last_mut() {
                *b ^= 0xFF;
                let _ = std::fs::write(path, &bytes);
            }
        }
    }
}

/// Fault-injection hook for tests: sleeps for the milliseconds named by `var`
/// (so a test can change the source between stages). Unset in normal use.
/// Only in builds with the feature; its one caller is compiled only there
/// too, so the variable's name is not in the binary users install.
#[cfg(feature = "fault-injection")]
pub fn pause(var: &str) {
    if let Some(ms) = std::env::var(var).ok().and_then(|v| v.parse::<u64>().ok()) {
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
}

/// `CAMROLL_TEST_FS`: the filesystem name(s) tests inject (see
/// `archive::filesystem::detect`); `None` without the feature.
#[cfg(feature = "fault-injection")]
pub fn injected_fs() -> Option<String> {
    std::env::var("CAMROLL_TEST_FS").ok()
}

/// See the feature-enabled `injected_fs`: nothing is injected in this build.
#[cfg(not(feature = "fault-injection"))]
pub fn injected_fs() -> Option<String> {
    None
}

/// Fault-injection hook for tests: the bytes of the file named by
/// `CAMROLL_FAULT_RACE_OBJECT`, which a bucket upload puts at the name of a
/// multipart upload between its last look (HEAD) and its completion, as
/// another writer would. Only in builds with the feature.
#[cfg(feature = "fault-injection")]
pub fn racing_object() -> Option<Vec<u8>> {
    std::fs::read(std::env::var_os("CAMROLL_FAULT_RACE_OBJECT")?).ok()
}
