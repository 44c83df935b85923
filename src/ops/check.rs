//! `camroll check --from SOURCE ARCHIVE…`: the answer to "can I delete these
//! from my phone?", with evidence.
//!
//! For every item on the source: in which archives it is (by the archive's
//! source record for this source, path, size and mtime; else by content hash,
//! hashing the source item when needed) and whether that copy has been
//! verified (read back with its hash, and nothing found wrong since). Items
//! present and verified in at least `--copies` archives (default 2) are "safe
//! to delete from the phone"; every other item is listed with the reason and
//! what to do. camroll itself never deletes anything from the phone.
//!
//! The source is any [`Source`]; a device source adds the phone's own library
//! view ([`LibraryView`], from Photos.sqlite): originals only in iCloud,
//! Recently Deleted, assets without a file. Cloud-only and file-less assets
//! can never be archived from the phone, so they keep the verdict from "all safe".

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::Serialize;

use crate::archive::catalog::{Catalog, FileRow, SourceRecord, VerifyProblem, CATALOG_FILE};
use crate::archive::{sums, CAMROLL_DIR};
use crate::hash;
use crate::media;
use crate::ops::{human_bytes, Outcome};
use crate::progress::Progress;
use crate::source::library::LibraryReport;
use crate::source::{Source, SourceError, SourceItem};

/// The phone's own list of assets (Photos.sqlite), which a device source
/// supplies. A folder source has none.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LibraryView {
    /// Assets the library knows.
    pub assets: u64,
    /// Originals only in iCloud (Optimize iPhone Storage): not on the phone, so not archivable from it.
    pub cloud_only: Vec<LibraryAsset>,
    /// In Recently Deleted: still on the phone (for up to 30 days).
    pub recently_deleted: Vec<LibraryAsset>,
    /// The library lists an original whose file is not on the phone.
    pub without_file: Vec<LibraryAsset>,
    /// Items of shared albums and Shared with You: in the library, not the
    /// owner's originals, so never "without a file" and never needed for
    /// "safe to delete". Each says which (`reason`).
    pub in_shared_albums: Vec<LibraryAsset>,
    /// Why there is no full library view (Photos.sqlite missing or unreadable).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

impl From<&LibraryReport> for LibraryView {
    fn from(r: &LibraryReport) -> LibraryView {
        let conv = |list: &[crate::source::library::LibraryItem]| {
            list.iter()
                .map(|i| LibraryAsset {
                    uuid: i.uuid.clone(),
                    filename: i.name.clone(),
                    rel_path: Some(i.path.clone()),
                    taken: i.captured.clone(),
                    reason: i.reason.clone(),
                })
                .collect()
        };
        LibraryView {
            assets: r.library_assets,
            cloud_only: conv(&r.cloud_only),
            recently_deleted: conv(&r.recently_deleted),
            without_file: conv(&r.not_found_on_device),
            in_shared_albums: conv(&r.in_shared_albums),
            warning: r.library_warning.clone(),
        }
    }
}

/// One asset of the phone's library.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LibraryAsset {
    /// ZASSET.ZUUID.
    pub uuid: String,
    /// The original's file name (`IMG_0001.HEIC`).
    pub filename: String,
    /// Where the file is (or should be) on the source, relative to the source root, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rel_path: Option<String>,
    /// Capture time as the library records it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub taken: Option<String>,
    /// Why it is listed (a shared item: "in a shared album, not your original").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Settings of one check.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// Verified copies needed for "safe to delete".
    pub copies: usize,
    /// Hashing threads; `None` uses one per core.
    pub jobs: Option<usize>,
}

/// The verdict on one source item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Present and verified in enough archives: safe to delete from the phone.
    Safe,
    /// In enough archives, but not every copy verified yet.
    Unverified,
    /// In some archives, fewer than needed.
    TooFewCopies,
    /// In no archive.
    NotArchived,
    /// Could not be read from the source.
    Unreadable,
    /// Not a photo or video (or empty): camroll does not archive it, and it does not count.
    Ignored,
}

/// One archive's copy of an item.
#[derive(Debug, Clone, Serialize)]
pub struct Copy {
    /// The archive, as given on the command line.
    pub archive: String,
    /// Path in the archive.
    pub path: String,
    /// `source_record` (this source, path, size and mtime recorded by an export or sync) or `content_hash`.
    pub found_by: &'static str,
    /// True when this copy was read back with its BLAKE3 and nothing has been found wrong since.
    pub verified: bool,
    /// When this copy was last read back with its BLAKE3, UTC, `YYYY-MM-DDTHH:MM:SSZ`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verified_at: Option<String>,
    /// What the last verify found wrong, if anything.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<VerifyProblem>,
}

/// What check found for one source item (an element of `items`).
#[derive(Debug, Clone, Serialize)]
pub struct ItemStatus {
    /// Relative to the source.
    pub path: String,
    /// Size in bytes on the source.
    pub size: u64,
    /// BLAKE3 of the source item, 64 lower-case hex digits, when it had to be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hash: Option<String>,
    /// Every archive copy of the item found.
    pub copies: Vec<Copy>,
    /// How many of `copies` are verified.
    pub verified_copies: usize,
    /// Whether the item is safe to delete from the phone, and if not, why not.
    pub verdict: Verdict,
    /// Why, and what to do (empty when safe).
    pub reason: String,
    /// E.g. "in Recently Deleted on the phone".
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// The item as the source listed it (for previews).
    #[serde(skip)]
    pub source_item: Option<SourceItem>,
}

/// One archive as check saw it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ArchiveView {
    /// The archive, as given on the command line.
    pub path: String,
    /// Files the archive's catalog lists.
    pub files: u64,
    /// When the last `camroll verify` of it ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_verify: Option<String>,
    /// Why this archive could not be read fully (then it holds nothing verified).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// How many source items got each verdict (`counts` in the JSON).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Counts {
    /// Source items checked, ignored ones included.
    pub items: u64,
    /// Items with the verdict `safe`.
    pub safe: u64,
    /// Items with the verdict `unverified`.
    pub unverified: u64,
    /// Items with the verdict `too_few_copies`.
    pub too_few_copies: u64,
    /// Items with the verdict `not_archived`.
    pub not_archived: u64,
    /// Items with the verdict `unreadable`.
    pub unreadable: u64,
    /// Items with the verdict `ignored` (not photos or videos).
    pub ignored: u64,
    /// Bytes of the items safe to delete.
    pub safe_bytes: u64,
}

/// What `camroll check` found: the one JSON object `--json` prints.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    /// The source's identity, e.g. `folder:/media/sd/DCIM` or `device:<UDID>`.
    pub source: String,
    /// Verified copies an item needs to be safe (`--copies`).
    pub copies_required: usize,
    /// Each archive checked against, in command-line order.
    pub archives: Vec<ArchiveView>,
    /// How many items got each verdict.
    pub counts: Counts,
    /// Every source item with its copies and verdict.
    pub items: Vec<ItemStatus>,
    /// The phone's library view (device sources only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub library: Option<LibraryView>,
    /// Items that could not even be listed on the source: (path, error).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unlisted_on_source: Vec<(String, String)>,
    /// True when every item is safe and the library has nothing outstanding.
    pub all_safe: bool,
    /// `safe` or `not_safe`.
    pub outcome: Outcome,
}

/// An archive's records, loaded once.
struct Loaded {
    view: ArchiveView,
    /// This source's records: relative path → record.
    records: HashMap<String, SourceRecord>,
    /// hash → the first file with it.
    by_hash: HashMap<String, FileRow>,
    /// The latest finished verify run: (started, ended).
    last_run: Option<(String, String)>,
}

fn load_archive(root: &Path, source_id: &str) -> Loaded {
    let mut l = Loaded {
        view: ArchiveView {
            path: root.display().to_string(),
            ..Default::default()
        },
        records: HashMap::new(),
        by_hash: HashMap::new(),
        last_run: None,
    };
    if let Some(text) = root
        .to_str()
        .filter(|t| crate::archive::bucket::BucketUrl::is_bucket_url(t))
    {
        // A bucket archive: its manifest and the last verify's record.
        match crate::ops::verify::bucket::load_records(text, source_id) {
            Ok(b) => {
                l.view.files = b.rows.len() as u64;
                l.records = b.records;
                for r in b.rows {
                    l.by_hash.entry(r.record.hash.clone()).or_insert(r);
                }
            }
            Err(e) => l.view.problem = Some(e.to_string()),
        }
        return l;
    }
    if !root.join(CAMROLL_DIR).join(CATALOG_FILE).is_file() {
        l.view.problem = Some(format!(
            "no catalog: nothing here counts as verified. Run `camroll rebuild {}`",
            root.display()
        ));
        // BLAKE3SUMS still says what is there, unverified.
        if let Ok(read) = sums::read(root) {
            for e in read.entries {
                l.by_hash
                    .entry(e.hash.clone())
                    .or_insert_with(|| unverified_row(e.path, e.hash));
            }
        }
        l.view.files = l.by_hash.len() as u64;
        return l;
    }
    let loaded = Catalog::open_read_only(root).and_then(|c| {
        Ok((
            c.file_rows()?,
            c.source_items(source_id)?,
            c.last_finished_run("verify")?,
        ))
    });
    match loaded {
        Ok((rows, records, last)) => {
            l.view.files = rows.len() as u64;
            l.view.last_verify = last.as_ref().map(|(_, ended)| ended.clone());
            l.last_run = last;
            l.records = records;
            for r in rows {
                l.by_hash.entry(r.record.hash.clone()).or_insert(r);
            }
        }
        Err(e) if e.kind() == crate::archive::catalog::Unreadable::Busy => {
            l.view.problem = Some(
                "the catalog is in use by another camroll run: run check again when it has finished"
                    .into(),
            );
        }
        Err(e) => {
            l.view.problem = Some(e.to_string());
        }
    }
    l
}

fn unverified_row(path: String, hash: String) -> FileRow {
    FileRow {
        record: crate::archive::catalog::FileRecord {
            path: path.clone(),
            hash,
            size: 0,
            kind: None,
            capture: None,
            original_name: path.clone(),
            source: String::new(),
            source_path: path,
            role: None,
        },
        added_run: None,
        added_at: String::new(),
        verified_at: None,
        verify_problem: None,
    }
}

/// What reading a source item found.
enum Read_ {
    Hashed(String),
    NotMedia(String),
    Failed(String),
}

/// Hashes a source item (and checks it is media at all).
fn hash_item(source: &dyn Source, item: &SourceItem) -> Read_ {
    let mut r = match source.open(item) {
        Ok(r) => r,
        Err(e) => return Read_::Failed(e.to_string()),
    };
    let mut buf = Vec::new();
    let head = match hash::fill(&mut r, &mut buf, media::SNIFF_LEN) {
        Ok(n) => n,
        Err(e) => return Read_::Failed(format!("read error: {e}")),
    };
    if head == 0 {
        return Read_::NotMedia("empty file (0 bytes)".into());
    }
    let ext = item.name.rsplit_once('.').map(|(_, e)| e);
    // As export: unrecognised content under a photo's or video's name is
    // archived as is, so it is looked for in the archives too.
    if media::sniff(&buf[..head.min(media::SNIFF_LEN)], ext).is_none()
        && ext.and_then(media::kind::kind_by_extension).is_none()
    {
        return Read_::NotMedia("not a photo or video (content not recognised)".into());
    }
    match hash::stream(&mut r, &mut buf, head, |_| Ok::<(), ()>(())) {
        Ok(d) => Read_::Hashed(d.hash),
        Err(hash::StreamError::Read(e)) => Read_::Failed(format!("read error: {e}")),
        Err(hash::StreamError::Sink(())) => Read_::Failed("read error".into()),
    }
}

/// Checks every item of `source` against `archives`.
pub fn check(
    source: &dyn Source,
    library: Option<LibraryView>,
    archives: &[PathBuf],
    opts: &CheckOptions,
    progress: &dyn Progress,
) -> Result<CheckReport, SourceError> {
    let source_id = source.id();
    progress.phase("Scanning", 0, 0);
    let scan = source.scan()?;
    // A device source knows its library once it has scanned.
    let library = library.or_else(|| source.library_report().map(|r| LibraryView::from(&r)));
    let loaded: Vec<Loaded> = archives
        .iter()
        .map(|a| load_archive(a, &source_id))
        .collect();

    // The hash of each item from any archive's source record; the rest are read.
    let known = |item: &SourceItem| -> Option<String> {
        loaded.iter().find_map(|l| {
            l.records
                .get(&item.rel_path)
                .filter(|r| r.size == item.size && r.mtime_ns == item.mtime_ns())
                .map(|r| r.hash.clone())
        })
    };
    let need: Vec<usize> = scan
        .items
        .iter()
        .enumerate()
        .filter(|(_, i)| known(i).is_none())
        .map(|(n, _)| n)
        .collect();
    let bytes = need.iter().map(|n| scan.items[*n].size).sum();
    progress.phase("Hashing", need.len() as u64, bytes);
    let read_one = |n: &usize| {
        let item = &scan.items[*n];
        let r = hash_item(source, item);
        progress.advance(1, item.size);
        (*n, r)
    };
    let pool = hash::pool(opts.jobs);
    let read: HashMap<usize, Read_> =
        hash::in_pool(pool.as_ref(), || need.par_iter().map(read_one).collect());
    progress.finish();

    // Library annotations by source path.
    let mut notes: HashMap<String, Vec<String>> = HashMap::new();
    if let Some(lib) = &library {
        for a in &lib.recently_deleted {
            if let Some(p) = &a.rel_path {
                notes
                    .entry(p.to_lowercase())
                    .or_default()
                    .push("in Recently Deleted on the phone".into());
            }
        }
    }

    // How to name this source on a command line, for the advice.
    let from_hint = match source_id.split_once(':') {
        Some(("folder", path)) => path.to_string(),
        Some(("device", udid)) => format!("device:{udid}"),
        _ => "<source>".to_string(),
    };
    let mut counts = Counts::default();
    let mut items = Vec::with_capacity(scan.items.len());
    for (n, item) in scan.items.iter().enumerate() {
        let mut status = ItemStatus {
            path: item.rel_path.clone(),
            size: item.size,
            hash: None,
            copies: Vec::new(),
            verified_copies: 0,
            verdict: Verdict::NotArchived,
            reason: String::new(),
            notes: notes
                .remove(&item.rel_path.to_lowercase())
                .unwrap_or_default(),
            source_item: Some(item.clone()),
        };
        let hash = match read.get(&n) {
            None => known(item),
            Some(Read_::Hashed(h)) => Some(h.clone()),
            Some(Read_::NotMedia(why)) => {
                status.verdict = Verdict::Ignored;
                status.reason = format!("{why}: camroll does not archive it");
                None
            }
            Some(Read_::Failed(e)) => {
                status.verdict = Verdict::Unreadable;
                status.reason = format!("cannot read it on the source ({e}); it cannot be checked. If it is still in iCloud, download it on the phone, then export and check again");
                None
            }
        };
        if let Some(h) = &hash {
            for l in &loaded {
                let by_record = l
                    .records
                    .get(&item.rel_path)
                    .filter(|r| {
                        &r.hash == h && r.size == item.size && r.mtime_ns == item.mtime_ns()
                    })
                    .is_some();
                if let Some(row) = l.by_hash.get(h) {
                    status.copies.push(Copy {
                        archive: l.view.path.clone(),
                        path: row.record.path.clone(),
                        found_by: if by_record {
                            "source_record"
                        } else {
                            "content_hash"
                        },
                        verified: row.is_verified(),
                        verified_at: row.last_verified(l.last_run.as_ref()),
                        problem: row.verify_problem.clone(),
                    });
                }
            }
            status.verified_copies = status.copies.iter().filter(|c| c.verified).count();
            let (verdict, reason) = judge(&status, opts.copies, &loaded, &from_hint);
            status.verdict = verdict;
            status.reason = reason;
            status.hash = hash;
        }
        match status.verdict {
            Verdict::Safe => {
                counts.safe += 1;
                counts.safe_bytes += item.size;
            }
            Verdict::Unverified => counts.unverified += 1,
            Verdict::TooFewCopies => counts.too_few_copies += 1,
            Verdict::NotArchived => counts.not_archived += 1,
            Verdict::Unreadable => counts.unreadable += 1,
            Verdict::Ignored => counts.ignored += 1,
        }
        items.push(status);
    }
    counts.items = items.len() as u64;
    let library_clear = library
        .as_ref()
        .is_none_or(|l| l.cloud_only.is_empty() && l.without_file.is_empty());
    let all_safe = library_clear
        && scan.failed.is_empty()
        && items
            .iter()
            .all(|i| matches!(i.verdict, Verdict::Safe | Verdict::Ignored));
    Ok(CheckReport {
        source: source_id,
        copies_required: opts.copies,
        archives: loaded.into_iter().map(|l| l.view).collect(),
        counts,
        items,
        library,
        unlisted_on_source: scan.failed,
        all_safe,
        outcome: if all_safe {
            Outcome::Safe
        } else {
            Outcome::NotSafe
        },
    })
}

/// The verdict on an item whose hash is known, and what to do about it.
fn judge(s: &ItemStatus, need: usize, loaded: &[Loaded], from: &str) -> (Verdict, String) {
    let present = s.copies.len();
    let verified = s.verified_copies;
    let archives: Vec<&str> = loaded.iter().map(|l| l.view.path.as_str()).collect();
    if verified >= need {
        return (Verdict::Safe, String::new());
    }
    if present == 0 {
        return (
            Verdict::NotArchived,
            format!(
                "in no archive. Run: camroll export --from {from} {}",
                archives
                    .iter()
                    .map(|a| format!("--to {a}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
        );
    }
    if present >= need {
        let unverified: Vec<&str> = s
            .copies
            .iter()
            .filter(|c| !c.verified)
            .map(|c| c.archive.as_str())
            .collect();
        let bad: Vec<String> = s
            .copies
            .iter()
            .filter_map(|c| c.problem.as_ref().map(|p| (c, p)))
            .filter(|(_, p)| p.is_damage())
            .map(|(c, p)| format!("{} ({p})", c.archive))
            .collect();
        if !bad.is_empty() {
            return (
                Verdict::Unverified,
                format!(
                    "the last verify found the copy damaged in {}: repair it with camroll verify <archive> --repair-from <another archive>",
                    bad.join(", ")
                ),
            );
        }
        return (
            Verdict::Unverified,
            format!(
                "{verified} of {present} copies verified; run: camroll verify {}",
                unverified.join(" ")
            ),
        );
    }
    let holders: Vec<&str> = s.copies.iter().map(|c| c.archive.as_str()).collect();
    let lacking: Vec<&str> = archives
        .iter()
        .copied()
        .filter(|a| !holders.contains(a))
        .collect();
    let how = match (holders.first(), lacking.first()) {
        (Some(h), Some(l)) => format!("run: camroll sync {h} {l}"),
        _ => format!(
            "export it to {} more archive{} (camroll export --to … with a second disk)",
            need - present,
            if need - present == 1 { "" } else { "s" }
        ),
    };
    (
        Verdict::TooFewCopies,
        format!(
            "in {present} archive{}, {need} needed; {how}",
            if present == 1 { "" } else { "s" }
        ),
    )
}

impl CheckReport {
    /// The human report (stdout): counts, then every item that is not safe with what to do.
    pub fn human(&self) -> String {
        let mut s = String::new();
        let label = |v: Verdict| match v {
            Verdict::Safe => "SAFE",
            Verdict::Unverified => "UNVERIFIED",
            Verdict::TooFewCopies => "FEW COPIES",
            Verdict::NotArchived => "NOT ARCHIVED",
            Verdict::Unreadable => "UNREADABLE",
            Verdict::Ignored => "IGNORED",
        };
        for i in self
            .items
            .iter()
            .filter(|i| !matches!(i.verdict, Verdict::Safe))
        {
            let _ = writeln!(
                s,
                "{:<12} {}: {}",
                label(i.verdict),
                crate::ops::shown(&i.path),
                i.reason
            );
            for n in &i.notes {
                let _ = writeln!(s, "{:<12} {}: {n}", "", i.path);
            }
        }
        for (p, e) in &self.unlisted_on_source {
            let _ = writeln!(s, "{:<12} {p}: {e}", "UNLISTED");
        }
        if let Some(lib) = &self.library {
            for a in &lib.cloud_only {
                let _ = writeln!(
                    s,
                    "{:<12} {}: the original is only in iCloud",
                    "CLOUD ONLY", a.filename
                );
            }
            for a in &lib.without_file {
                let _ = writeln!(
                    s,
                    "{:<12} {}: the phone's library lists it but its file is not on the phone",
                    "NO FILE", a.filename
                );
            }
            for a in &lib.in_shared_albums {
                let _ = writeln!(
                    s,
                    "{:<12} {}: {}",
                    "SHARED",
                    a.filename,
                    a.reason
                        .as_deref()
                        .unwrap_or("shared with you, not your original")
                );
            }
            if !lib.in_shared_albums.is_empty() {
                let _ = writeln!(s, "{} items are in shared albums or Shared with You: not your originals, so they are neither archived nor needed before deleting", lib.in_shared_albums.len());
            }
            if !lib.cloud_only.is_empty() {
                let _ = writeln!(s, "{} originals are only in iCloud: turn on Settings › Photos › Download and Keep Originals, wait for the download, export again", lib.cloud_only.len());
            }
        }
        for a in &self.archives {
            if let Some(p) = &a.problem {
                let _ = writeln!(s, "archive {}: {p}", a.path);
            }
        }
        let c = &self.counts;
        let _ = writeln!(
            s,
            "{} items on {}: {} safe to delete from the phone ({}), {} unverified, {} in too few archives, {} not archived, {} unreadable, {} ignored (not media)",
            c.items,
            self.source,
            c.safe,
            human_bytes(c.safe_bytes),
            c.unverified,
            c.too_few_copies,
            c.not_archived,
            c.unreadable,
            c.ignored
        );
        let _ = writeln!(
            s,
            "{}",
            if self.all_safe {
                format!(
                    "Everything is safely archived ({} verified copies each): safe to delete from the phone.",
                    self.copies_required
                )
            } else {
                "Not everything is safely archived: do not delete from the phone yet (see above)."
                    .into()
            }
        );
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::export::{export, ExportOptions};
    use crate::progress::PlainProgress;
    use crate::source::folder::FolderSource;
    use crate::source::{ReadSeek, Scan};
    use camroll_sim::synth::{self, StillSpec};

    /// A folder source whose items named `*FAIL*` cannot be read (an
    /// optimised-storage placeholder on a phone), and which a device source
    /// would accompany with its library view.
    struct Flaky(FolderSource);

    impl Source for Flaky {
        fn id(&self) -> String {
            self.0.id()
        }
        fn scan(&self) -> Result<Scan, SourceError> {
            self.0.scan()
        }
        fn open(&self, item: &SourceItem) -> Result<Box<dyn ReadSeek>, SourceError> {
            if item.name.contains("FAIL") {
                return Err(SourceError::Open {
                    path: item.rel_path.clone(),
                    source: std::io::Error::other("I/O error (placeholder)"),
                });
            }
            self.0.open(item)
        }
    }

    fn photo(dir: &Path, name: &str, seed: u64) {
        let bytes = synth::jpeg(&StillSpec::iphone(
            seed,
            "iPhone 15",
            chrono::NaiveDate::from_ymd_opt(2024, 5, 6)
                .and_then(|d| d.and_hms_opt(7, 8, 9))
                .unwrap(),
            None,
        ));
        std::fs::write(dir.join(name), bytes).unwrap();
    }

    #[test]
    fn the_library_view_and_unreadable_items_keep_the_verdict_from_all_safe() {
        let t = tempfile::tempdir().unwrap();
        let src = t.path().join("src");
        std::fs::create_dir_all(&src).unwrap();
        photo(&src, "IMG_0001.JPG", 1);
        photo(&src, "IMG_0002.JPG", 2);
        let archives = vec![t.path().join("a"), t.path().join("b")];
        let folder = FolderSource::new(&src).unwrap();
        let opts = ExportOptions {
            destinations: archives.clone(),
            verify: true,
            ..Default::default()
        };
        let sum = export(&folder, &opts, &PlainProgress).unwrap();
        assert_eq!(sum.outcome, Outcome::Ok);
        let copts = CheckOptions {
            copies: 2,
            jobs: None,
        };
        // Everything archived, no library: safe.
        let r = check(&folder, None, &archives, &copts, &PlainProgress).unwrap();
        assert!(r.all_safe, "{}", r.human());
        // The phone's library knows an original only in iCloud, and one in Recently Deleted.
        let lib = LibraryView {
            assets: 3,
            cloud_only: vec![LibraryAsset {
                uuid: "U3".into(),
                filename: "IMG_0003.HEIC".into(),
                ..Default::default()
            }],
            recently_deleted: vec![LibraryAsset {
                uuid: "U2".into(),
                filename: "IMG_0002.JPG".into(),
                rel_path: Some("IMG_0002.JPG".into()),
                ..Default::default()
            }],
            without_file: vec![],
            in_shared_albums: vec![LibraryAsset {
                uuid: "U9".into(),
                filename: "IMG_0009.JPG".into(),
                reason: Some("in a shared album, not your original".into()),
                ..Default::default()
            }],
            warning: None,
        };
        let r = check(&folder, Some(lib), &archives, &copts, &PlainProgress).unwrap();
        assert!(!r.all_safe);
        assert_eq!(r.counts.safe, 2, "the items themselves are safe");
        let deleted = r.items.iter().find(|i| i.path == "IMG_0002.JPG").unwrap();
        assert_eq!(deleted.notes, vec!["in Recently Deleted on the phone"]);
        let text = r.human();
        assert!(text.contains("CLOUD ONLY   IMG_0003.HEIC"), "{text}");
        assert!(text.contains("Download and Keep Originals"), "{text}");
        assert!(
            text.contains("SHARED       IMG_0009.JPG: in a shared album, not your original"),
            "{text}"
        );
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["library"]["cloud_only"][0]["uuid"], "U3");
        assert_eq!(json["library"]["in_shared_albums"][0]["uuid"], "U9");
        // A placeholder that cannot be read is unreadable, not safe.
        photo(&src, "IMG_FAIL.JPG", 4);
        let flaky = Flaky(FolderSource::new(&src).unwrap());
        let r = check(&flaky, None, &archives, &copts, &PlainProgress).unwrap();
        assert!(!r.all_safe);
        let i = r.items.iter().find(|i| i.path == "IMG_FAIL.JPG").unwrap();
        assert_eq!(i.verdict, Verdict::Unreadable);
        assert!(i.reason.contains("placeholder"), "{}", i.reason);
    }

    #[test]
    fn an_archive_under_a_folder_named_missing_is_judged_by_the_problem_not_its_path() {
        let copy = |archive: &str, problem| Copy {
            archive: archive.into(),
            path: "2024/05/IMG_0001.JPG".into(),
            found_by: "content_hash",
            verified: false,
            verified_at: None,
            problem,
        };
        let status = ItemStatus {
            path: "IMG_0001.JPG".into(),
            size: 1,
            hash: None,
            copies: vec![
                copy(
                    "/media/missing/a",
                    Some(VerifyProblem::Undecodable("truncated".into())),
                ),
                copy("/media/corrupt/b", None),
            ],
            verified_copies: 0,
            verdict: Verdict::NotArchived,
            reason: String::new(),
            notes: vec![],
            source_item: None,
        };
        let (verdict, reason) = judge(&status, 2, &[], "folder");
        assert_eq!(verdict, Verdict::Unverified);
        assert!(reason.contains("copies verified"), "{reason}");
        let mut damaged = status.clone();
        damaged.copies[1].problem = Some(VerifyProblem::Missing);
        let (_, reason) = judge(&damaged, 2, &[], "folder");
        assert!(reason.contains("damaged in /media/corrupt/b"), "{reason}");
    }
}
