//! Operations: what camroll does, below the command line and above the
//! archive, source, media and hash modules.
//!
//! Each operation takes typed options and a [`Progress`](crate::progress::Progress)
//! sink and returns a typed summary; none parses arguments or prints. The
//! commands (`src/commands/`) turn a summary's [`Outcome`] into the exit status.

pub mod albums;
pub mod check;
pub mod export;
pub mod rebuild;
pub mod sync;
pub mod sync_bucket;
pub mod verify;
pub mod watch;

use serde::Serialize;

/// How an operation ended, as `--json` prints it (`"outcome"`) and as the
/// catalog records its runs. The exit status is derived from it, never from text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Everything done and verified.
    #[default]
    Ok,
    /// Some of it failed; the rest is done (export, sync).
    Partial,
    /// Nothing could be done (export: every item failed).
    Failed,
    /// Something was found wrong (verify, rebuild).
    Problems,
    /// Every item is in enough verified copies (check).
    Safe,
    /// Not every item is safely archived (check).
    NotSafe,
}

impl Outcome {
    /// The word `--json` and the catalog use.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Partial => "partial",
            Outcome::Failed => "failed",
            Outcome::Problems => "problems",
            Outcome::Safe => "safe",
            Outcome::NotSafe => "not_safe",
        }
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An item (or archive-level file) that could not be archived, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Failed {
    /// The item's path on the source (or `catalog`, `BLAKE3SUMS`).
    pub path: String,
    /// What went wrong, with what to do.
    pub error: String,
    /// The archive it failed in, when it failed in one only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination: Option<String>,
}

/// Something worth knowing that did not stop the item.
#[derive(Debug, Clone, Serialize)]
pub struct Warning {
    /// The item's path on the source (or an archive's path).
    pub path: String,
    /// What was noticed.
    pub warning: String,
}

pub use crate::progress::{shown, shown_lines};

/// A byte count in words: `512 B`, `1.5 MiB`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: &[&str] = &["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}
