//! Run summaries: the JSON object `--json` prints on stdout, and the short
//! human summary printed otherwise.
//!
//! JSON (`camroll export --json`), one object:
//! `source`, `dry_run`, `timezone`, `scanned`, `copied`, `duplicates`,
//! `already_archived`, `skipped` (list of `{path, reason}`), `failed` (list of
//! `{path, error, destination?}`), `bytes_copied`, `verified`,
//! `verify_failed`, `duplicate_files` (list of `{path, archived_as, destination}`),
//! `warnings` (list of `{path, warning}`), `planned` (dry run: list of
//! `{path, to, action, destination}`), `destinations` (one object per archive)
//! and `outcome` (`ok`, `partial`, `failed`).

use std::fmt::Write as _;

use serde::Serialize;

use crate::ops::{human_bytes, shown, Failed, Outcome, Warning};
use crate::source::Skipped;

#[derive(Debug, Clone, Serialize)]
pub struct Duplicate {
    pub path: String,
    pub archived_as: String,
    pub destination: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Planned {
    pub path: String,
    pub to: String,
    /// `copy`, `duplicate` or `adopt` (a file already in place from an interrupted run).
    pub action: &'static str,
    pub destination: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct DestinationSummary {
    pub path: String,
    pub copied: u64,
    pub duplicates: u64,
    pub already_archived: u64,
    pub failed: u64,
    pub verified: u64,
    pub verify_failed: u64,
    pub bytes_copied: u64,
    /// Partial files of killed runs found in staging and removed.
    pub staging_leftovers_removed: u64,
    /// Set when the destination stopped (disk full, removed…).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ExportSummary {
    pub source: String,
    pub dry_run: bool,
    pub timezone: String,
    pub scanned: u64,
    pub copied: u64,
    pub duplicates: u64,
    pub already_archived: u64,
    pub skipped: Vec<Skipped>,
    /// Files read and found to be neither a photo or video nor known junk
    /// (`source::known_junk`): not archived. Any makes the exit status 1.
    /// (Symbolic links and special files in `skipped` are not files of the
    /// source: a link's target is archived where it lies, if in the source.)
    pub left_behind: u64,
    /// Files archived although their content was not recognised as a photo
    /// or video (damaged, or a format camroll does not know): each has a warning.
    pub unrecognised: u64,
    pub failed: Vec<Failed>,
    pub bytes_copied: u64,
    pub verified: u64,
    pub verify_failed: u64,
    pub duplicate_files: Vec<Duplicate>,
    pub warnings: Vec<Warning>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub planned: Vec<Planned>,
    pub destinations: Vec<DestinationSummary>,
    /// The phone's library view (device sources): `library_assets`,
    /// `cloud_only`, `recently_deleted`, `not_found_on_device`.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub library: Option<crate::source::library::LibraryReport>,
    pub outcome: Outcome,
}

impl ExportSummary {
    /// Exit status 0 ("What exit 0 promises", docs/reliability.md): every
    /// file the source listed is archived and verified in every destination,
    /// or was already, or is known junk; nothing failed; nothing else was left behind.
    pub fn is_ok(&self) -> bool {
        self.failed.is_empty()
            && self.left_behind == 0
            && self.verify_failed == 0
            && self.destinations.iter().all(|d| d.error.is_none())
    }

    /// The short human summary (stdout).
    pub fn human(&self) -> String {
        let mut s = String::new();
        let verb = if self.dry_run { "would copy" } else { "copied" };
        let _ = writeln!(
            s,
            "{} scanned, {} {verb} ({}), {} duplicates, {} already archived, {} skipped, {} failed",
            self.scanned,
            self.copied,
            human_bytes(self.bytes_copied),
            self.duplicates,
            self.already_archived,
            self.skipped.len(),
            self.failed.len()
        );
        for d in &self.destinations {
            let _ = write!(
                s,
                "  {}: {} {verb}, {} duplicates, {} already archived",
                d.path, d.copied, d.duplicates, d.already_archived
            );
            if !self.dry_run {
                let _ = write!(s, ", {} verified", d.verified);
            }
            if d.verify_failed > 0 {
                let _ = write!(s, ", {} FAILED verification", d.verify_failed);
            }
            if let Some(e) = &d.error {
                let _ = write!(s, ", stopped: {e}");
            }
            s.push('\n');
        }
        if !self.planned.is_empty() {
            s.push_str("Plan:\n");
            for p in &self.planned {
                let _ = writeln!(
                    s,
                    "  {:<9} {} -> {} ({})",
                    p.action, p.path, p.to, p.destination
                );
            }
        }
        if !self.duplicate_files.is_empty() {
            s.push_str("Duplicates (not written again):\n");
            for d in &self.duplicate_files {
                let _ = writeln!(s, "  {} = {} ({})", d.path, d.archived_as, d.destination);
            }
        }
        if self.left_behind > 0 {
            let _ = writeln!(
                s,
                "{} file{} left behind (not archived; see Skipped): exit status 1",
                self.left_behind,
                if self.left_behind == 1 { "" } else { "s" }
            );
        }
        if !self.skipped.is_empty() {
            s.push_str("Skipped:\n");
            for k in &self.skipped {
                let _ = writeln!(s, "  {}: {}", shown(&k.path), k.reason);
            }
        }
        if !self.warnings.is_empty() {
            s.push_str("Warnings:\n");
            for w in &self.warnings {
                let _ = writeln!(s, "  {}: {}", shown(&w.path), shown(&w.warning));
            }
        }
        if let Some(lib) = &self.library {
            if let Some(w) = &lib.library_warning {
                let _ = writeln!(s, "Photos library: {w}");
            } else {
                let _ = writeln!(
                    s,
                    "Photos library: {} assets, {} only in iCloud, {} in Recently Deleted, {} not found on the phone",
                    lib.library_assets,
                    lib.cloud_only.len(),
                    lib.recently_deleted.len(),
                    lib.not_found_on_device.len()
                );
            }
            if let Some(advice) = lib.cloud_only_advice() {
                let _ = writeln!(s, "  {advice}:");
                for c in &lib.cloud_only {
                    let _ = writeln!(s, "    {} ({})", c.name, c.path);
                }
            }
            if !lib.recently_deleted.is_empty() {
                s.push_str("  In Recently Deleted (archived like the others):\n");
                for c in &lib.recently_deleted {
                    let _ = writeln!(s, "    {} ({})", c.name, c.path);
                }
            }
            if !lib.not_found_on_device.is_empty() {
                s.push_str("  Listed by Photos but not found on the phone:\n");
                for c in &lib.not_found_on_device {
                    let _ = writeln!(s, "    {} ({})", c.name, c.path);
                }
            }
        }
        if !self.failed.is_empty() {
            s.push_str("Failed:\n");
            for f in &self.failed {
                match &f.destination {
                    Some(d) => {
                        let _ = writeln!(s, "  {}: {} ({})", shown(&f.path), shown(&f.error), d);
                    }
                    None => {
                        let _ = writeln!(s, "  {}: {}", shown(&f.path), shown(&f.error));
                    }
                }
            }
            s.push_str("Run the same command again to retry what failed; what is archived stays archived.\n");
        }
        s
    }
}
