//! Stage 1, **scan**: list the source (names, sizes, mtimes; nothing is
//! read). What cannot even be listed is reported as failed.

use super::summary::ExportSummary;
use crate::ops::Failed;
use crate::progress::Progress;
use crate::source::{Source, SourceError, SourceItem};

/// Lists `source`, noting the skipped and unlistable entries in `summary`.
pub(super) fn scan(
    source: &dyn Source,
    summary: &mut ExportSummary,
    progress: &dyn Progress,
) -> Result<Vec<SourceItem>, SourceError> {
    progress.phase("Scanning", 0, 0);
    let scan = source.scan()?;
    crate::faults::pause("CAMROLL_TEST_PAUSE_AFTER_SCAN_MS");
    summary.scanned = scan.items.len() as u64;
    summary.skipped = scan.skipped;
    summary
        .failed
        .extend(scan.failed.into_iter().map(|(path, error)| Failed {
            path,
            error,
            destination: None,
        }));
    Ok(scan.items)
}
