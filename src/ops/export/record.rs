//! Stage 7, **record**: `BLAKE3SUMS` is rewritten where anything changed (or
//! it is missing), each destination's run is finished in its catalog, and
//! the run's outcome is decided.

use super::dest::Dest;
use super::summary::ExportSummary;
use crate::archive::catalog::RunCounts;
use crate::archive::sums::SUMS_FILE;
use crate::ops::{Failed, Outcome, Warning};

/// Records the run in every destination.
pub(super) fn record(dests: &mut [Dest], summary: &mut ExportSummary, dry_run: bool) {
    for d in dests.iter_mut() {
        summary.verified += d.summary.verified;
        summary.verify_failed += d.summary.verify_failed;
        if dry_run {
            continue;
        }
        let sums_missing = !d.archive.root.join(SUMS_FILE).exists();
        if d.changed || sums_missing {
            if let Err(e) = d.archive.write_sums() {
                summary.failed.push(Failed {
                    path: SUMS_FILE.into(),
                    error: e.to_string(),
                    destination: Some(d.summary.path.clone()),
                });
            }
        }
        let counts = RunCounts {
            scanned: summary.scanned,
            copied: d.summary.copied,
            duplicates: d.summary.duplicates,
            already_archived: d.summary.already_archived,
            skipped: summary.skipped.len() as u64,
            failed: d.summary.failed,
            bytes_copied: d.summary.bytes_copied,
        };
        let outcome =
            if d.summary.failed == 0 && d.summary.verify_failed == 0 && d.summary.error.is_none() {
                Outcome::Ok
            } else {
                Outcome::Partial
            };
        if let Err(e) = d
            .archive
            .catalog
            .finish_run(d.run, &counts, outcome.as_str())
        {
            summary.warnings.push(Warning {
                path: d.summary.path.clone(),
                warning: e.to_string(),
            });
        }
    }
}

/// The run's outcome: `ok` when everything was archived and verified,
/// `failed` when nothing was, `partial` otherwise.
pub(super) fn outcome(summary: &ExportSummary) -> Outcome {
    if summary.is_ok() {
        Outcome::Ok
    } else if summary.copied == 0
        && summary.duplicates == 0
        && summary.already_archived == 0
        && !summary.failed.is_empty()
    {
        Outcome::Failed
    } else {
        Outcome::Partial
    }
}
