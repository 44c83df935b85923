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

/// A source file not written again because its content is already in an archive.
#[derive(Debug, Clone, Serialize)]
pub struct Duplicate {
    /// The source file, relative to the source, `/`-separated.
    pub path: String,
    /// The archived file with the same BLAKE3, relative to the archive, `/`-separated.
    pub archived_as: String,
    /// The archive holding it, as given on the command line.
    pub destination: String,
}

/// One step a dry run would take (`planned` in the JSON).
#[derive(Debug, Clone, Serialize)]
pub struct Planned {
    /// The source file, relative to the source, `/`-separated.
    pub path: String,
    /// Where it would go (or the archived file it duplicates), relative to the archive, `/`-separated.
    pub to: String,
    /// `copy`, `duplicate` or `adopt` (a file already in place from an interrupted run).
    pub action: &'static str,
    /// The archive it would go to, as given on the command line.
    pub destination: String,
}

/// What one archive got in this run (an element of `destinations`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct DestinationSummary {
    /// The archive, as given on the command line.
    pub path: String,
    /// Originals newly written to this archive (or that a dry run would write).
    pub copied: u64,
    /// Source files whose content this archive already held under another name.
    pub duplicates: u64,
    /// Source files this archive had recorded from an earlier run of the same source.
    pub already_archived: u64,
    /// Source files that could not be placed in this archive.
    pub failed: u64,
    /// Newly written originals read back from this archive with the right BLAKE3.
    pub verified: u64,
    /// Newly written originals whose read-back BLAKE3 did not match; nonzero means exit 1.
    pub verify_failed: u64,
    /// Bytes of originals newly written to this archive.
    pub bytes_copied: u64,
    /// Partial files of killed runs found in staging and removed.
    pub staging_leftovers_removed: u64,
    /// Set when the destination stopped (disk full, removed…).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What was sent to a bucket destination (`s3://…`); omitted for disks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bucket: Option<BucketSummary>,
}

/// What an export sent to one bucket: the cost of the run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct BucketSummary {
    /// Objects uploaded (or adopted after a killed run) and recorded.
    pub uploaded: u64,
    /// Bytes sent, originals and camroll's own objects.
    pub bytes_uploaded: u64,
    /// Requests sent to the bucket.
    pub requests: u64,
}

/// What the sidecar stage did (`sidecars` in the JSON).
#[derive(Debug, Clone, Default, Serialize)]
pub struct SidecarSummary {
    /// `xmp` or `json`.
    pub format: String,
    /// The library they were read from.
    pub library: String,
    /// New sidecars written, summed over the archives.
    pub written: u64,
    /// Sidecars replaced because what Photos knows changed.
    pub updated: u64,
    /// Sidecars already up to date.
    pub unchanged: u64,
    /// Sidecars not written because another file has their name (left alone).
    pub skipped: u64,
    /// Sidecars that could not be written.
    pub failed: u64,
}

/// What `camroll export` did: the one JSON object `--json` prints.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ExportSummary {
    /// The source's identity, e.g. `folder:/media/sd/DCIM` or `device:<UDID>`.
    pub source: String,
    /// True when nothing was written (`--dry-run`); counts then say what would happen.
    pub dry_run: bool,
    /// The UTC offset capture times without one were read in, e.g. `+02:00` or `machine (+01:00)`.
    pub timezone: String,
    /// Files the source listed.
    pub scanned: u64,
    /// Source files newly written to at least one archive.
    pub copied: u64,
    /// Source files not written anywhere because every archive needing them already held the content.
    pub duplicates: u64,
    /// Source files every archive had already recorded from an earlier run (not read again).
    pub already_archived: u64,
    /// Source files left out on purpose (not media, symbolic links, …), each with the reason.
    pub skipped: Vec<Skipped>,
    /// Files read and found to be neither a photo or video nor known junk
    /// (`source::known_junk`): not archived. Any makes the exit status 1.
    /// (Symbolic links and special files in `skipped` are not files of the
    /// source: a link's target is archived where it lies, if in the source.)
    pub left_behind: u64,
    /// Files archived although their content was not recognised as a photo
    /// or video (damaged, or a format camroll does not know): each has a warning.
    pub unrecognised: u64,
    /// Source files that could not be archived, each with the error; nonempty means exit 1.
    pub failed: Vec<Failed>,
    /// Bytes of originals newly written, counted once however many archives got them.
    pub bytes_copied: u64,
    /// Newly written originals read back with the right BLAKE3, summed over the archives.
    pub verified: u64,
    /// Newly written originals whose read-back BLAKE3 did not match, summed over the archives.
    pub verify_failed: u64,
    /// Each source file not written again because its content was already archived.
    pub duplicate_files: Vec<Duplicate>,
    /// Metadata problems that did not stop archiving (e.g. no capture time found).
    pub warnings: Vec<Warning>,
    /// Dry run only: every copy or duplicate the run would make; omitted when empty.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub planned: Vec<Planned>,
    /// One summary per archive, in command-line order.
    pub destinations: Vec<DestinationSummary>,
    /// The phone's library view (device sources): `library_assets`,
    /// `cloud_only`, `recently_deleted`, `not_found_on_device`, `in_shared_albums`.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub library: Option<crate::source::library::LibraryReport>,
    /// What the sidecar stage did; omitted when no sidecars were written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sidecars: Option<SidecarSummary>,
    /// `ok`, `partial` or `failed`; the exit status follows it.
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
            if let Some(b) = &d.bucket {
                let _ = write!(
                    s,
                    ", {} uploaded ({}, {} requests)",
                    b.uploaded,
                    human_bytes(b.bytes_uploaded),
                    b.requests
                );
            }
            if let Some(e) = &d.error {
                let _ = write!(s, ", stopped: {e}");
            }
            s.push('\n');
        }
        if let Some(sc) = &self.sidecars {
            let _ = writeln!(
                s,
                "Sidecars ({}): {} {}, {} updated, {} unchanged, {} left alone, {} failed",
                sc.format,
                sc.written,
                if self.dry_run { "to write" } else { "written" },
                sc.updated,
                sc.unchanged,
                sc.skipped,
                sc.failed
            );
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
                let cloud = match &lib.cloud_only_unknown {
                    Some(_) => "cloud-only originals unknown".to_string(),
                    None => format!("{} only in iCloud", lib.cloud_only.len()),
                };
                let _ = writeln!(
                    s,
                    "Photos library: {} assets, {cloud}, {} in Recently Deleted, {} not found on the phone",
                    lib.library_assets,
                    lib.recently_deleted.len(),
                    lib.not_found_on_device.len()
                );
            }
            if let Some(note) = &lib.cloud_only_unknown {
                let _ = writeln!(s, "  Cloud-only originals: unknown; {note}");
            }
            if let Some(advice) = lib.cloud_only_advice() {
                let _ = writeln!(s, "  {advice}:");
                for c in &lib.cloud_only {
                    match &c.reason {
                        Some(r) => {
                            let _ = writeln!(s, "    {} ({}): {r}", c.name, c.path);
                        }
                        None => {
                            let _ = writeln!(s, "    {} ({})", c.name, c.path);
                        }
                    }
                }
            }
            if !lib.not_local_but_present.is_empty() {
                s.push_str("  Warning: Photos says these originals are only in iCloud, but files of the originals' sizes are on the phone; archived them (check them if in doubt):\n");
                for c in &lib.not_local_but_present {
                    let _ = writeln!(s, "    {} ({})", c.name, c.path);
                }
            }
            if !lib.recently_deleted.is_empty() {
                s.push_str("  In Recently Deleted (archived like the others):\n");
                for c in &lib.recently_deleted {
                    let _ = writeln!(s, "    {} ({})", c.name, c.path);
                }
            }
            if !lib.in_shared_albums.is_empty() {
                let _ = writeln!(
                    s,
                    "  {} in shared albums or Shared with You, not your originals (not archived):",
                    lib.in_shared_albums.len()
                );
                for c in &lib.in_shared_albums {
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
