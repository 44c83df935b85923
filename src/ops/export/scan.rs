//! Stage 1, **scan**: list the source (names, sizes, mtimes; nothing is
//! read). What cannot even be listed is reported as failed.

use super::summary::ExportSummary;
use crate::archive::layout::checked_rel_path;
use crate::ops::Failed;
use crate::progress::Progress;
use crate::source::{Source, SourceError, SourceItem};

/// Lists `source`, noting the skipped and unlistable entries in `summary`.
/// `early` gets files as they are listed, where the source can (see
/// [`Source::scan_early`]), already checked like the others.
pub(super) fn scan(
    source: &dyn Source,
    summary: &mut ExportSummary,
    progress: &dyn Progress,
    early: &mut dyn FnMut(&SourceItem),
) -> Result<Vec<SourceItem>, SourceError> {
    progress.phase("Scanning", 0, 0);
    let scan = source.scan_early(&mut |i: &SourceItem| {
        if is_safe(i) {
            early(i)
        }
    })?;
    #[cfg(feature = "fault-injection")]
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
    // Names from the phone or a folder are checked like any path read from
    // disk: one that could leave a folder is reported and never acted on.
    // In place: a second list as long as the first would double the
    // scan's memory for a moment.
    let mut items = scan.items;
    let mut bad: Vec<SourceItem> = Vec::new();
    items.retain(|i| {
        let ok = is_safe(i);
        if !ok {
            bad.push(i.clone());
        }
        ok
    });
    items.shrink_to_fit();
    give_back_freed_memory();
    for i in bad {
        let why = checked_rel_path(&i.rel_path)
            .and_then(|_| checked_rel_path(&i.name))
            .err()
            .map(|e| e.why)
            .unwrap_or("a name with `/`");
        summary.failed.push(Failed {
            path: i.rel_path.clone(),
            error: format!(
                "the source names this file with a path camroll refuses ({why}): not archived"
            ),
            destination: None,
        });
    }
    Ok(items)
}

/// A path and name camroll acts on (see `checked_rel_path`).
fn is_safe(i: &SourceItem) -> bool {
    checked_rel_path(&i.rel_path).is_ok()
        && checked_rel_path(&i.name).is_ok()
        && !i.name.contains('/')
}

/// Hands the memory the listing freed back to the system. Listing a phone
/// builds and drops per-folder name lists, per-reply buffers and the
/// library's rows on several threads; glibc keeps freed chunks in each
/// thread's arena, so at 100,000 files tens of MiB stayed resident beside
/// the plan's maps, the run's peak. One call after the scan, not per file.
fn give_back_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free heap pages to the kernel; it
    // touches no live allocation.
    unsafe {
        libc::malloc_trim(0);
    }
}
