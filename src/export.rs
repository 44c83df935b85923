//! `camroll export`: the whole pipeline, in named stages.
//!
//! 1. **Scan** the source (names, sizes, mtimes; nothing is read).
//! 2. **Group** stills with their Live Photo movies, sidecars and renders.
//! 3. **Skip** items every destination already recorded (same source, path,
//!    size, mtime): a no-change re-run reads nothing.
//! 4. **Ingest** groups in parallel: each item is read once, hashed while it is
//!    written to a staging file in every destination that needs it; its capture
//!    time is read from the staged copy; the staging file gets the capture time
//!    as mtime and is fsynced.
//! 5. **Place** (one thread per run, in order): per destination, duplicates by
//!    hash are dropped, free names are chosen (`~N` for collisions, one suffix
//!    per group), staging files are renamed into `YYYY/MM/`, folders fsynced,
//!    then catalog rows committed.
//! 6. **Verify**: every file written is read back from the disk and its hash
//!    compared with the one taken from the source stream.
//! 7. **Record**: `BLAKE3SUMS` is rewritten and the run recorded.

use std::collections::{HashMap, HashSet};
use std::fs::OpenOptions;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::FixedOffset;
use rayon::prelude::*;
use thiserror::Error;

use crate::archive::catalog::{FileRecord, RunCounts, SourceRecord};
use crate::archive::layout::{safe_file_name, with_suffix, Candidate};
use crate::archive::{Archive, ArchiveError};
use crate::ingest::{self, IngestError, StageTarget, Staged};
use crate::media::{self, CaptureTime, DateOptions, DateSource, Role};
use crate::progress::Progress;
use crate::report::{DestinationSummary, Duplicate, ExportSummary, Failed, Planned, Warning};
use crate::source::{Skipped, Source, SourceError, SourceItem};

/// Settings of one export.
#[derive(Debug, Clone, Default)]
pub struct ExportOptions {
    pub destinations: Vec<PathBuf>,
    pub dry_run: bool,
    /// Read every written file back and compare hashes (default on).
    pub verify: bool,
    /// Zone for video times stored only in UTC; `None` = the machine's zone.
    pub timezone: Option<FixedOffset>,
    /// Parallel readers (default: number of CPUs).
    pub jobs: Option<usize>,
}

/// Errors that stop the whole run (exit 2).
#[derive(Debug, Error)]
pub enum ExportError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    #[error("no destination given: add --to <ARCHIVE>")]
    NoDestination,
}

/// Commit catalog rows (after fsyncing folders) at least this often.
const BATCH_FILES: usize = 256;
const BATCH_TIME: Duration = Duration::from_secs(2);

/// One destination during a run.
struct Dest {
    archive: Archive,
    summary: DestinationSummary,
    run: i64,
    /// Files written this run: (path, hash), for the verification pass.
    written: Vec<(String, String)>,
    changed: bool,
    /// What the destination's filesystem can hold (FAT32: no file over 4 GiB).
    fs: crate::archive::filesystem::FsInfo,
    /// Files placed (and written this run) since the last catalog commit: if
    /// the commit fails (disk full), they are taken out again, so the archive
    /// never holds files its catalog does not list.
    uncommitted: Vec<(String, String)>,
}

/// An item's outcome after ingest, before placing.
enum Ingested {
    /// Every destination already had it recorded: not read.
    Known,
    Staged {
        staged: Staged,
        capture: CaptureTime,
        problems: Vec<String>,
        /// Apple's ContentIdentifier, when the file carries one (Live Photo pairing).
        content_id: Option<String>,
        /// (size, mtime ns) as listed again after the item changed while read.
        relisted: Option<(u64, i64)>,
    },
    Skipped(String),
    Failed(String),
}

struct MemberResult {
    item: usize,
    role: Role,
    outcome: Ingested,
}

/// Runs an export from `source` to every destination in `opts`.
pub fn export(
    source: &dyn Source,
    opts: &ExportOptions,
    progress: &dyn Progress,
) -> Result<ExportSummary, ExportError> {
    if opts.destinations.is_empty() {
        return Err(ExportError::NoDestination);
    }
    let source_id = source.id();
    let mut summary = ExportSummary {
        source: source_id.clone(),
        dry_run: opts.dry_run,
        timezone: match opts.timezone {
            Some(tz) => tz.to_string(),
            None => format!("machine ({})", chrono::Local::now().format("%:z")),
        },
        ..Default::default()
    };

    // Stage 1: scan.
    progress.phase("Scanning", 0, 0);
    let scan = source.scan()?;
    test_pause("CAMROLL_TEST_PAUSE_AFTER_SCAN_MS");
    let items = scan.items;
    summary.scanned = items.len() as u64;
    summary.skipped = scan.skipped;
    summary
        .failed
        .extend(scan.failed.into_iter().map(|(path, error)| Failed {
            path,
            error,
            destination: None,
        }));

    let mut dests = Vec::new();
    for path in &opts.destinations {
        let archive = Archive::open_for_export(path, &source_id, opts.dry_run)?;
        let run = if opts.dry_run {
            0
        } else {
            archive
                .catalog
                .start_run("export", Some(&source_id))
                .map_err(ArchiveError::from)?
        };
        let summary = DestinationSummary {
            path: path.display().to_string(),
            staging_leftovers_removed: archive.leftovers_removed,
            ..Default::default()
        };
        dests.push(Dest {
            archive,
            summary,
            run,
            written: Vec::new(),
            changed: false,
            fs: crate::archive::filesystem::detect(path),
            uncommitted: Vec::new(),
        });
    }

    // Stage 2: groups.
    let names: Vec<(&str, &str)> = items
        .iter()
        .map(|i| (i.dir.as_str(), i.name.as_str()))
        .collect();
    let groups = media::group_by_name(&names);

    // Stage 3: what each item still needs. Mtimes compare with the source
    // filesystem's granularity (FAT: 2 s), so a re-run reads nothing new.
    let source_fs = source.filesystem();
    let needs: Vec<Vec<usize>> = items
        .iter()
        .map(|item| {
            dests
                .iter()
                .enumerate()
                .filter(|(_, d)| !known(d, item, source_fs.as_ref()))
                .map(|(i, _)| i)
                .collect()
        })
        .collect();
    summary.already_archived = needs.iter().filter(|n| n.is_empty()).count() as u64;
    for (i, d) in dests.iter_mut().enumerate() {
        d.summary.already_archived = needs.iter().filter(|n| !n.contains(&i)).count() as u64;
    }
    // A file the destination's filesystem cannot hold (over 4 GiB on FAT32)
    // is refused up front, before anything is read: never a truncated copy.
    let mut needs = needs;
    for (item, need) in items.iter().zip(needs.iter_mut()) {
        need.retain(|&di| {
            let d = &mut dests[di];
            let Some(why) = d.fs.refuses_size(item.size) else {
                return true;
            };
            d.summary.failed += 1;
            progress.message(&format!("camroll: {}: {why}", item.rel_path));
            summary.failed.push(Failed {
                path: item.rel_path.clone(),
                error: why,
                destination: Some(d.summary.path.clone()),
            });
            false
        });
    }
    // Movies standing alone go last: one whose ContentIdentifier matches a
    // still placed earlier joins that still as its Live Photo movie, whatever
    // its name (AirDropped and renamed pairs).
    let is_lone_movie = |g: &&media::Group| {
        g.members.len() == 1 && media::group::is_video_name(&items[g.members[0].0].name)
    };
    let (mut work, lone_movies): (Vec<&media::Group>, Vec<&media::Group>) = groups
        .iter()
        .filter(|g| g.members.iter().any(|(i, _)| !needs[*i].is_empty()))
        .partition(|g| !is_lone_movie(g));
    work.extend(lone_movies);

    // Stage 4 + 5: ingest in parallel, place in order.
    let total_bytes: u64 = work
        .iter()
        .flat_map(|g| &g.members)
        .filter(|(i, _)| !needs[*i].is_empty())
        .map(|(i, _)| items[*i].size)
        .sum();
    let total_items = work
        .iter()
        .flat_map(|g| &g.members)
        .filter(|(i, _)| !needs[*i].is_empty())
        .count() as u64;
    progress.phase(
        if opts.dry_run { "Reading" } else { "Copying" },
        total_items,
        total_bytes,
    );
    let ctx = IngestCtx {
        source,
        items: &items,
        needs: &needs,
        staging_dirs: dests.iter().map(|d| d.archive.staging_dir()).collect(),
        seq: AtomicU64::new(0),
        alive: dests.iter().map(|_| AtomicBool::new(true)).collect(),
        dry_run: opts.dry_run,
        date_opts: DateOptions {
            timezone: opts.timezone,
        },
        progress,
    };
    // Readers spend most of their time waiting on I/O (fsync, the phone), so
    // more of them than cores keeps the disks busy.
    let jobs = opts
        .jobs
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
                .max(4)
        })
        .max(1);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs)
        .build()
        .ok();
    let (tx, rx) = crossbeam_channel::bounded::<(usize, Vec<MemberResult>)>(jobs * 4);
    // Stage 6 runs alongside: each file is read back as soon as it is in
    // place, while later files are still being copied.
    let background_verify = opts.verify && !opts.dry_run;
    let (vtx, vrx) = crossbeam_channel::unbounded::<(usize, PathBuf, String, String)>();
    let verified: std::sync::Mutex<Vec<HashMapEntry>> = Default::default();
    let mut placer = Placer {
        items: &items,
        source_id: &source_id,
        dry_run: opts.dry_run,
        summary: &mut summary,
        pending: 0,
        last_commit: Instant::now(),
        progress,
        verify_tx: background_verify.then_some(vtx),
        stills_by_cid: HashMap::new(),
    };
    for d in dests.iter_mut() {
        if !opts.dry_run {
            if let Err(e) = d.archive.catalog.begin() {
                d.summary.error = Some(e.to_string());
            }
        }
    }
    std::thread::scope(|scope| {
        let ctx = &ctx;
        let work = &work;
        if background_verify {
            for _ in 0..2 {
                let vrx = vrx.clone();
                let verified = &verified;
                scope.spawn(move || {
                    for (dest, full, rel, hash) in vrx.iter() {
                        let r = read_back(&full, &hash).map(|_| ());
                        verified
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .push((dest, rel, r));
                    }
                });
            }
        }
        drop(vrx);
        scope.spawn(move || {
            let run = || {
                work.par_iter().enumerate().for_each_init(
                    || (tx.clone(), Vec::new()),
                    |(tx, buf), (n, group)| {
                        let _ = tx.send((n, ctx.ingest_group(group, buf)));
                    },
                )
            };
            match &pool {
                Some(p) => p.install(run),
                None => run(),
            }
            drop(tx);
        });
        // Place in scan order whatever order reads finish in, so names
        // (collision suffixes) are deterministic. Early arrivals wait as
        // staging files on the destination disk, not in memory.
        let mut waiting: std::collections::BTreeMap<usize, Vec<MemberResult>> = Default::default();
        let mut next = 0usize;
        for (n, results) in rx.iter() {
            waiting.insert(n, results);
            while let Some(results) = waiting.remove(&next) {
                placer.place_group(&mut dests, ctx, results);
                next += 1;
            }
        }
        // No more files to read back: let the verifiers finish.
        placer.verify_tx = None;
    });
    placer.flush(&mut dests, true);

    // Stage 6: verify what was written (most of it was read back during the copy).
    if background_verify {
        let mut done: Vec<std::collections::HashMap<String, Result<(), String>>> =
            dests.iter().map(|_| Default::default()).collect();
        for (dest, rel, r) in verified.into_inner().unwrap_or_else(|e| e.into_inner()) {
            done[dest].insert(rel, r);
        }
        let left: u64 = dests
            .iter()
            .zip(&done)
            .map(|(d, m)| d.written.iter().filter(|(p, _)| !m.contains_key(p)).count() as u64)
            .sum();
        progress.phase("Verifying", left, 0);
        for (d, pre) in dests.iter_mut().zip(done) {
            verify_written(d, &pre, &mut summary, progress);
        }
    }

    // Stage 7: record.
    for d in dests.iter_mut() {
        summary.verified += d.summary.verified;
        summary.verify_failed += d.summary.verify_failed;
        if opts.dry_run {
            continue;
        }
        let sums_missing = !d
            .archive
            .root
            .join(crate::archive::sums::SUMS_FILE)
            .exists();
        if d.changed || sums_missing {
            if let Err(e) = d.archive.write_sums() {
                summary.failed.push(Failed {
                    path: "BLAKE3SUMS".into(),
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
                "ok"
            } else {
                "partial"
            };
        if let Err(e) = d.archive.catalog.finish_run(d.run, &counts, outcome) {
            summary.warnings.push(Warning {
                path: d.summary.path.clone(),
                warning: e.to_string(),
            });
        }
    }
    progress.finish();
    summary.library = source.library_report();
    summary.destinations = dests.into_iter().map(|d| d.summary).collect();
    summary.outcome = if summary.is_ok() {
        "ok"
    } else if summary.copied == 0
        && summary.duplicates == 0
        && summary.already_archived == 0
        && !summary.failed.is_empty()
    {
        "failed"
    } else {
        "partial"
    };
    Ok(summary)
}

/// The item is recorded in this destination with the same size and mtime
/// (the same stored time on the source's filesystem, see `archive::fs`).
fn known(
    d: &Dest,
    item: &SourceItem,
    source_fs: Option<&crate::archive::filesystem::FsInfo>,
) -> bool {
    d.archive.source_items.get(&item.rel_path).is_some_and(|r| {
        let mtime = item.mtime_ns();
        r.size == item.size
            && source_fs.map_or(r.mtime_ns == mtime, |f| f.same_mtime(r.mtime_ns, mtime))
            && d.archive.by_hash.contains_key(&r.hash)
    })
}

/// What ingest workers share.
struct IngestCtx<'a> {
    source: &'a dyn Source,
    items: &'a [SourceItem],
    needs: &'a [Vec<usize>],
    staging_dirs: Vec<PathBuf>,
    seq: AtomicU64,
    /// Destinations still taking writes (cleared on a full or failing disk).
    alive: Vec<AtomicBool>,
    dry_run: bool,
    date_opts: DateOptions,
    progress: &'a dyn Progress,
}

impl IngestCtx<'_> {
    /// Reads every member of a group that some destination needs, primary first.
    fn ingest_group(&self, group: &media::Group, buf: &mut Vec<u8>) -> Vec<MemberResult> {
        let mut out: Vec<MemberResult> = Vec::with_capacity(group.members.len());
        for &(i, role) in &group.members {
            let item = &self.items[i];
            let needs: Vec<usize> = self.needs[i]
                .iter()
                .copied()
                .filter(|d| self.alive[*d].load(Ordering::Relaxed))
                .collect();
            let outcome = if self.needs[i].is_empty() {
                Ingested::Known
            } else if needs.is_empty() {
                Ingested::Failed(
                    "no destination left to write to (see the destinations' errors)".into(),
                )
            } else {
                let primary = out.first().and_then(|m| match &m.outcome {
                    Ingested::Staged {
                        capture,
                        content_id,
                        ..
                    } => Some((*capture, content_id.clone())),
                    _ => None,
                });
                let o = self.ingest_item(item, &needs, role, primary, buf);
                self.progress.advance(1, item.size);
                o
            };
            // A movie paired by name whose ContentIdentifier differs from its
            // still's is not that still's motion part: it stands on its own.
            let mut role = role;
            if let (
                Role::LivePhotoMovie,
                Some(first),
                Ingested::Staged {
                    content_id: Some(mine),
                    ..
                },
            ) = (role, out.first(), &outcome)
            {
                if let Ingested::Staged {
                    content_id: Some(theirs),
                    ..
                } = &first.outcome
                {
                    if theirs != mine {
                        role = Role::Primary;
                    }
                }
            }
            out.push(MemberResult {
                item: i,
                role,
                outcome,
            });
        }
        out
    }

    fn ingest_item(
        &self,
        item: &SourceItem,
        needs: &[usize],
        role: Role,
        primary: Option<(CaptureTime, Option<String>)>,
        buf: &mut Vec<u8>,
    ) -> Ingested {
        let staged = match self.stream_retrying(item, needs, buf) {
            Ok((s, None)) => s,
            Ok((s, Some(fresh))) => {
                // Read again after it changed: record what was read, as listed now.
                let r = self.finish_item(s, &fresh, role, primary);
                return match r {
                    Ingested::Staged {
                        staged,
                        capture,
                        problems,
                        content_id,
                        ..
                    } => Ingested::Staged {
                        staged,
                        capture,
                        problems,
                        content_id,
                        relisted: Some((fresh.size, fresh.mtime_ns())),
                    },
                    other => other,
                };
            }
            Err(e) if e.is_skip() => return Ingested::Skipped(e.to_string()),
            Err(IngestError::NoDestination) => {
                return Ingested::Failed(IngestError::NoDestination.to_string())
            }
            Err(e) => return Ingested::Failed(e.to_string()),
        };
        self.finish_item(staged, item, role, primary)
    }

    /// Staging paths for one read of an item (none for a dry run).
    fn targets(&self, needs: &[usize]) -> Vec<StageTarget> {
        if self.dry_run {
            return Vec::new();
        }
        needs
            .iter()
            .map(|&d| StageTarget {
                dest: d,
                path: self.staging_dirs[d].join(format!(
                    "{}-{}.part",
                    std::process::id(),
                    self.seq.fetch_add(1, Ordering::Relaxed)
                )),
            })
            .collect()
    }

    /// Reads an item; when it changed while being read (its size, or its
    /// listing after the read, differs from the scan), reads it once more as
    /// listed now. Returns the fresh listing when the second read was used.
    /// Still changing, or a source that lists one size and sends another,
    /// fails the item with a message saying which; the next run retries it.
    fn stream_retrying(
        &self,
        item: &SourceItem,
        needs: &[usize],
        buf: &mut Vec<u8>,
    ) -> Result<(Staged, Option<SourceItem>), IngestError> {
        let first = ingest::stream_item(self.source, item, self.targets(needs), buf);
        let (listed, read) = match first {
            Ok(s) => match self.source.restat(item, true) {
                // Same size but touched while read (replaced in place): read again.
                Some(Ok(now)) if now.mtime_ns() != item.mtime_ns() || now.size != item.size => {
                    drop_files(&s);
                    (item.size, s.size)
                }
                _ => return Ok((s, None)),
            },
            Err(IngestError::Changed { listed, read }) => (listed, read),
            Err(e) => return Err(e),
        };
        let fresh = match self.source.restat(item, false) {
            Some(Ok(f)) => f,
            Some(Err(e)) => return Err(IngestError::Read(e)),
            None => return Err(IngestError::Changed { listed, read }),
        };
        if fresh.size == item.size && fresh.mtime_ns() == item.mtime_ns() && read != listed {
            // The listing did not change, yet the bytes sent differ from it.
            return Err(IngestError::SizeMismatch {
                from: self.source.kind_name(),
                listed,
                read,
            });
        }
        match ingest::stream_item(self.source, &fresh, self.targets(needs), buf) {
            Ok(s) => match self.source.restat(&fresh, true) {
                Some(Ok(now)) if now.mtime_ns() != fresh.mtime_ns() || now.size != fresh.size => {
                    drop_files(&s);
                    Err(IngestError::StillChanging)
                }
                _ => Ok((s, Some(fresh))),
            },
            Err(IngestError::Changed { .. }) => Err(IngestError::StillChanging),
            Err(e) => Err(e),
        }
    }

    /// Capture time and durable staging files for a read item.
    fn finish_item(
        &self,
        staged: Staged,
        item: &SourceItem,
        role: Role,
        primary: Option<(CaptureTime, Option<String>)>,
    ) -> Ingested {
        for (d, e) in &staged.dest_errors {
            if is_fatal_for_destination(e) {
                self.alive[*d].store(false, Ordering::Relaxed);
            }
        }
        // Capture time from the staged copy (local disk), else from the source (dry run).
        let mut info = match staged.files.first() {
            Some((_, p)) => match std::fs::File::open(p) {
                Ok(mut f) => media::read_media_info(&mut f, staged.kind, &self.date_opts),
                Err(e) => media::MediaInfo {
                    capture: None,
                    content_identifier: None,
                    problems: vec![e.to_string()],
                },
            },
            None => match self.source.open(item) {
                Ok(mut r) => media::read_media_info(&mut r, staged.kind, &self.date_opts),
                Err(e) => media::MediaInfo {
                    capture: None,
                    content_identifier: None,
                    problems: vec![e.to_string()],
                },
            },
        };
        // No date in the file: what the source knows (the phone's library), else the file's time.
        let hint = self.source.capture_hint(item);
        let mut capture = match (info.capture.take(), hint) {
            (Some(c), Some(h)) if c.source.is_utc() => match h.offset_seconds {
                // A UTC-only video time: localise it with the zone the library recorded.
                Some(off) if h.offset_source == media::OffsetSource::Recorded => c.relocalize(off),
                _ => c,
            },
            (Some(c), _) => c,
            (None, Some(h)) => h,
            (None, None) => media::date::fallback_for(&item.name, item.mtime),
        };
        // A Live Photo movie dated only in UTC takes its still's zone.
        if role == Role::LivePhotoMovie {
            if let Some((p, p_id)) = &primary {
                let mismatch =
                    matches!((p_id, &info.content_identifier), (Some(a), Some(b)) if a != b);
                if !mismatch {
                    capture = media::date::localize_for_group(p, &capture);
                }
            }
        }
        // The archived file's mtime is its capture time; then make it durable.
        let mut staged = staged;
        let mut failed_dests = Vec::new();
        for (d, p) in &staged.files {
            let r = OpenOptions::new().write(true).open(p).and_then(|f| {
                f.set_modified(capture.to_system_time())?;
                f.sync_all()
            });
            if let Err(e) = r {
                let _ = std::fs::remove_file(p);
                failed_dests.push(*d);
                if is_fatal_for_destination(&e) {
                    self.alive[*d].store(false, Ordering::Relaxed);
                }
                staged.dest_errors.push((*d, e));
            }
        }
        staged.files.retain(|(d, _)| !failed_dests.contains(d));
        Ingested::Staged {
            staged,
            capture,
            problems: info.problems,
            content_id: info.content_identifier,
            relisted: None,
        }
    }
}

/// Removes the staging files of a read that is thrown away.
fn drop_files(s: &Staged) {
    for (_, p) in &s.files {
        let _ = std::fs::remove_file(p);
    }
}

/// A write error that means the destination itself is unusable (full, read-only, failing).
fn is_fatal_for_destination(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ENOSPC)
            | Some(libc::EROFS)
            | Some(libc::EIO)
            | Some(libc::EDQUOT)
            | Some(libc::ENODEV)
    )
}

/// The single-threaded placing stage.
struct Placer<'a> {
    items: &'a [SourceItem],
    source_id: &'a str,
    dry_run: bool,
    summary: &'a mut ExportSummary,
    pending: usize,
    last_commit: Instant,
    progress: &'a dyn Progress,
    /// Placed files go here to be read back while the copy goes on.
    verify_tx: Option<crossbeam_channel::Sender<(usize, PathBuf, String, String)>>,
    /// Stills without a Live Photo movie, by ContentIdentifier: per destination,
    /// the folder and stem they were filed under.
    stills_by_cid: HashMap<String, HashMap<usize, (String, String)>>,
}

impl Placer<'_> {
    fn place_group(&mut self, dests: &mut [Dest], ctx: &IngestCtx<'_>, members: Vec<MemberResult>) {
        // Item-level outcomes first (they do not depend on the destination).
        let mut copied_any: HashSet<usize> = HashSet::new();
        let mut dup_only: HashSet<usize> = HashSet::new();
        for m in &members {
            let item = &self.items[m.item];
            match &m.outcome {
                Ingested::Skipped(reason) => self.summary.skipped.push(Skipped {
                    path: item.rel_path.clone(),
                    reason: reason.clone(),
                }),
                Ingested::Failed(error) => {
                    self.progress
                        .message(&format!("camroll: {}: {error}", item.rel_path));
                    self.summary.failed.push(Failed {
                        path: item.rel_path.clone(),
                        error: error.clone(),
                        destination: None,
                    });
                }
                Ingested::Staged {
                    problems, capture, ..
                } => {
                    for p in problems {
                        self.summary.warnings.push(Warning {
                            path: item.rel_path.clone(),
                            warning: format!("metadata: {p}"),
                        });
                    }
                    if capture.source == DateSource::FileMtime && m.role == Role::Primary {
                        self.summary.warnings.push(Warning {
                            path: item.rel_path.clone(),
                            warning: "no capture date in the file: filed by its modification time"
                                .into(),
                        });
                    }
                }
                Ingested::Known => {}
            }
        }
        let primary = &members[0];
        let primary_failed = matches!(primary.outcome, Ingested::Failed(_) | Ingested::Skipped(_));
        let primary_name = &self.items[primary.item].name;
        let lone_movie_cid = match &primary.outcome {
            Ingested::Staged {
                content_id: Some(cid),
                ..
            } if members.len() == 1 && media::group::is_video_name(primary_name) => {
                Some(cid.clone())
            }
            _ => None,
        };
        for (di, dest) in dests.iter_mut().enumerate() {
            // The group's folder in this destination.
            let primary_item = &self.items[primary.item];
            let existing_primary_path = match &primary.outcome {
                Ingested::Staged { staged, .. } => dest.archive.by_hash.get(&staged.hash).cloned(),
                Ingested::Known => dest
                    .archive
                    .source_items
                    .get(&primary_item.rel_path)
                    .and_then(|r| dest.archive.by_hash.get(&r.hash).cloned()),
                _ => None,
            };
            let group_folder = match (&existing_primary_path, &primary.outcome) {
                (Some(p), _) => Some(
                    p.rsplit_once('/')
                        .map(|(f, _)| f.to_string())
                        .unwrap_or_default(),
                ),
                (None, Ingested::Staged { capture, .. }) => Some(capture.folder()),
                _ => None,
            };
            // The suffix the primary got in this destination, so the group keeps one stem.
            let mut to_place: Vec<(usize, String, String)> = Vec::new(); // (member index, folder, safe name)
            for (mi, m) in members.iter().enumerate() {
                let Ingested::Staged {
                    staged, capture, ..
                } = &m.outcome
                else {
                    continue;
                };
                let item = &self.items[m.item];
                if let Some((_, e)) = staged.dest_errors.iter().find(|(d, _)| *d == di) {
                    dest.summary.failed += 1;
                    if dest.summary.error.is_none() && is_fatal_for_destination(e) {
                        dest.summary.error =
                            Some(format!("{e}; nothing more is written here this run"));
                    }
                    self.summary.failed.push(Failed {
                        path: item.rel_path.clone(),
                        error: format!("cannot write: {e}"),
                        destination: Some(dest.summary.path.clone()),
                    });
                    continue;
                }
                let in_dest = staged.files.iter().any(|(d, _)| *d == di)
                    || (self.dry_run && ctx.needs[m.item].contains(&di));
                if !in_dest {
                    continue;
                }
                if let Some(existing) = dest.archive.by_hash.get(&staged.hash).cloned() {
                    self.record_duplicate(dest, di, m, staged, &existing);
                    dup_only.insert(m.item);
                    continue;
                }
                // A lone movie whose ContentIdentifier matches a still filed
                // earlier goes next to it, under its stem.
                let joined = lone_movie_cid
                    .as_ref()
                    .and_then(|cid| self.stills_by_cid.get(cid))
                    .and_then(|per_dest| per_dest.get(&di))
                    .cloned();
                if let Some((folder, stem)) = joined {
                    let ext = crate::archive::layout::split_ext(&item.name).1;
                    to_place.push((
                        mi,
                        folder,
                        safe_file_name(std::ffi::OsStr::new(&format!("{stem}{ext}"))),
                    ));
                    continue;
                }
                let folder = if mi == 0 || m.role == Role::Primary {
                    capture.folder()
                } else if let Some(f) = &group_folder {
                    f.clone()
                } else if primary_failed {
                    // Its still failed: do not file it apart from it; the next run files them together.
                    self.drop_staged(staged, di);
                    dest.summary.failed += 1;
                    self.summary.failed.push(Failed {
                        path: item.rel_path.clone(),
                        error: format!(
                            "not archived because {}, the photo it belongs with, could not be archived; run again",
                            primary_item.rel_path
                        ),
                        destination: Some(dest.summary.path.clone()),
                    });
                    continue;
                } else {
                    capture.folder()
                };
                to_place.push((mi, folder, safe_file_name(std::ffi::OsStr::new(&item.name))));
            }
            if to_place.is_empty() {
                continue;
            }
            // Members split off from the group (role Primary) get names of their own.
            let (mut own, shared): (Vec<_>, Vec<_>) = to_place
                .into_iter()
                .partition(|(mi, _, _)| *mi != 0 && members[*mi].role == Role::Primary);
            // Members whose names are one name once case and normalisation are
            // folded (`IMG_0001.JPG` and `img_0001.jpg` group by stem) can never
            // share one suffix: no `~k` would separate them, and `allocate`
            // would loop forever. They get names of their own.
            let mut seen = HashSet::new();
            let (shared, clash): (Vec<_>, Vec<_>) = shared
                .into_iter()
                .partition(|(_, f, n)| seen.insert((f.clone(), crate::archive::layout::fold(n))));
            own.extend(clash);
            let mut to_place = Vec::new();
            let mut names = Vec::new();
            for batch in std::iter::once(shared).chain(own.into_iter().map(|p| vec![p])) {
                if batch.is_empty() {
                    continue;
                }
                let chosen = self.allocate(dest, &members, &batch);
                // Reserve them now, so the next batch of this group cannot pick
                // the same name (a failed placement only leaves a `~k` gap).
                for ((_, folder, _), (name, _)) in batch.iter().zip(&chosen) {
                    dest.archive.planner.take(folder, name);
                }
                names.extend(chosen);
                to_place.extend(batch);
            }
            for ((mi, folder, _), choice) in to_place.iter().zip(names) {
                let m = &members[*mi];
                let Ingested::Staged {
                    staged,
                    capture,
                    relisted,
                    ..
                } = &m.outcome
                else {
                    continue;
                };
                let (name, adopt) = choice;
                let path = if folder.is_empty() {
                    name.clone()
                } else {
                    format!("{folder}/{name}")
                };
                let item = &self.items[m.item];
                if self.dry_run {
                    dest.archive.planner.take(folder, &name);
                    dest.archive
                        .by_hash
                        .insert(staged.hash.clone(), path.clone());
                    self.summary.planned.push(Planned {
                        path: item.rel_path.clone(),
                        to: path,
                        action: if adopt { "adopt" } else { "copy" },
                        destination: dest.summary.path.clone(),
                    });
                    dest.summary.copied += 1;
                    dest.summary.bytes_copied += staged.size;
                    copied_any.insert(m.item);
                    continue;
                }
                let Some((_, staging)) = staged.files.iter().find(|(d, _)| *d == di) else {
                    continue;
                };
                let placed = if adopt {
                    // A killed run left this very file in place before recording it.
                    std::fs::remove_file(staging).map(|_| ())
                } else {
                    dest.archive.place(staging, folder, &name)
                };
                if let Err(e) = placed {
                    let _ = std::fs::remove_file(staging);
                    dest.summary.failed += 1;
                    if is_fatal_for_destination(&e) && dest.summary.error.is_none() {
                        dest.summary.error =
                            Some(format!("{e}; nothing more is written here this run"));
                        ctx.alive[di].store(false, Ordering::Relaxed);
                    }
                    self.summary.failed.push(Failed {
                        path: item.rel_path.clone(),
                        error: format!("cannot place as {path}: {e}"),
                        destination: Some(dest.summary.path.clone()),
                    });
                    continue;
                }
                dest.archive.planner.take(folder, &name);
                dest.archive
                    .by_hash
                    .insert(staged.hash.clone(), path.clone());
                let rec = FileRecord {
                    path: path.clone(),
                    hash: staged.hash.clone(),
                    size: staged.size,
                    kind: Some(staged.kind.name().to_string()),
                    capture: Some(*capture),
                    original_name: item.name.clone(),
                    source: self.source_id.to_string(),
                    source_path: item.rel_path.clone(),
                    role: Some(role_name(m.role).to_string()),
                };
                let recorded = dest
                    .archive
                    .catalog
                    .insert_file(&rec, dest.run)
                    .and_then(|_| {
                        dest.archive.catalog.record_source_item(
                            self.source_id,
                            &item.rel_path,
                            &SourceRecord {
                                size: relisted.map_or(item.size, |r| r.0),
                                mtime_ns: relisted.map_or(item.mtime_ns(), |r| r.1),
                                hash: staged.hash.clone(),
                            },
                            dest.run,
                        )
                    });
                if let Err(e) = recorded {
                    // Not recorded: do not leave it in the archive unlisted.
                    if !adopt {
                        let _ = std::fs::remove_file(dest.archive.root.join(&path));
                        dest.archive.planner.release(folder, &name);
                        dest.archive.by_hash.remove(&staged.hash);
                    }
                    self.summary.failed.push(Failed {
                        path: item.rel_path.clone(),
                        error: e.to_string(),
                        destination: Some(dest.summary.path.clone()),
                    });
                    dest.summary.failed += 1;
                    continue;
                }
                if !adopt {
                    dest.uncommitted.push((path.clone(), staged.hash.clone()));
                }
                fault_corrupt_placed(&dest.archive.root.join(&path), &name);
                if let Some(tx) = &self.verify_tx {
                    let _ = tx.send((
                        di,
                        dest.archive.root.join(&path),
                        path.clone(),
                        staged.hash.clone(),
                    ));
                }
                dest.written.push((path, staged.hash.clone()));
                dest.changed = true;
                dest.summary.copied += 1;
                dest.summary.bytes_copied += staged.size;
                copied_any.insert(m.item);
                self.pending += 1;
            }
        }
        // Remember this still for a movie with its ContentIdentifier but another name.
        let has_movie = members.iter().any(|m| m.role == Role::LivePhotoMovie);
        if let (
            Ingested::Staged {
                staged,
                content_id: Some(cid),
                ..
            },
            false,
        ) = (&primary.outcome, has_movie)
        {
            if !media::group::is_video_name(primary_name) {
                for (di, dest) in dests.iter().enumerate() {
                    if let Some(p) = dest.archive.by_hash.get(&staged.hash) {
                        let (folder, name) = p.rsplit_once('/').unwrap_or(("", p));
                        let stem = crate::archive::layout::split_ext(name).0.to_string();
                        self.stills_by_cid
                            .entry(cid.clone())
                            .or_default()
                            .insert(di, (folder.to_string(), stem));
                    }
                }
            }
        }
        if let Some(cid) = &lone_movie_cid {
            // Each still takes at most one movie.
            self.stills_by_cid.remove(cid);
        }
        for m in &members {
            if copied_any.contains(&m.item) {
                self.summary.copied += 1;
                if let Ingested::Staged { staged, .. } = &m.outcome {
                    self.summary.bytes_copied += staged.size;
                }
            } else if dup_only.contains(&m.item) {
                self.summary.duplicates += 1;
            }
        }
        self.flush(dests, false);
    }

    fn record_duplicate(
        &mut self,
        dest: &mut Dest,
        di: usize,
        m: &MemberResult,
        staged: &Staged,
        existing: &str,
    ) {
        let item = &self.items[m.item];
        self.drop_staged(staged, di);
        dest.summary.duplicates += 1;
        self.summary.duplicate_files.push(Duplicate {
            path: item.rel_path.clone(),
            archived_as: existing.to_string(),
            destination: dest.summary.path.clone(),
        });
        if self.dry_run {
            self.summary.planned.push(Planned {
                path: item.rel_path.clone(),
                to: existing.to_string(),
                action: "duplicate",
                destination: dest.summary.path.clone(),
            });
            return;
        }
        let relisted = match &m.outcome {
            Ingested::Staged { relisted, .. } => *relisted,
            _ => None,
        };
        let rec = SourceRecord {
            size: relisted.map_or(item.size, |r| r.0),
            mtime_ns: relisted.map_or(item.mtime_ns(), |r| r.1),
            hash: staged.hash.clone(),
        };
        if let Err(e) =
            dest.archive
                .catalog
                .record_source_item(self.source_id, &item.rel_path, &rec, dest.run)
        {
            self.summary.warnings.push(Warning {
                path: item.rel_path.clone(),
                warning: e.to_string(),
            });
        }
        self.pending += 1;
    }

    fn drop_staged(&self, staged: &Staged, di: usize) {
        for (d, p) in &staged.files {
            if *d == di {
                let _ = std::fs::remove_file(p);
            }
        }
    }

    /// Chooses names for a group's new files in one destination: the original
    /// names when free, else the same `~k` suffix for every member. A name held
    /// by an unlisted file with the same content is adopted (a killed run's work).
    fn allocate(
        &self,
        dest: &mut Dest,
        members: &[MemberResult],
        to_place: &[(usize, String, String)],
    ) -> Vec<(String, bool)> {
        let root = dest.archive.root.clone();
        for (_, folder, _) in to_place {
            dest.archive.planner.load_folder(&root, folder);
        }
        let mut k = 1u32;
        loop {
            let mut choice = Vec::with_capacity(to_place.len());
            let mut ok = true;
            let mut batch: HashSet<(String, String)> = HashSet::new();
            for (mi, folder, name) in to_place {
                let candidate = with_suffix(name, k);
                let key = (folder.clone(), crate::archive::layout::fold(&candidate));
                if !batch.insert(key) {
                    ok = false;
                    break;
                }
                let hash = match &members[*mi].outcome {
                    Ingested::Staged { staged, .. } => staged.hash.as_str(),
                    _ => "",
                };
                match dest.archive.planner.check(folder, &candidate) {
                    Candidate::Free => choice.push((candidate, false)),
                    Candidate::Unlisted(on_disk) => {
                        let p = root.join(folder).join(on_disk);
                        let same = on_disk == candidate
                            && ingest::hash_file(&p, false)
                                .map(|(h, _)| h == hash)
                                .unwrap_or(false);
                        if same {
                            choice.push((candidate, true));
                        } else {
                            ok = false;
                            break;
                        }
                    }
                    Candidate::Taken => {
                        ok = false;
                        break;
                    }
                }
            }
            if ok {
                return choice;
            }
            k += 1;
        }
    }

    /// Makes placed files durable, then commits their catalog rows.
    /// With `force` (end of the run) the open transaction always ends, even
    /// with nothing pending, so later statements run in autocommit mode.
    fn flush(&mut self, dests: &mut [Dest], force: bool) {
        if self.dry_run {
            return;
        }
        if !force
            && (self.pending == 0
                || (self.pending < BATCH_FILES && self.last_commit.elapsed() < BATCH_TIME))
        {
            return;
        }
        for d in dests.iter_mut() {
            let r = d
                .archive
                .sync_dirs()
                .map_err(|e| e.to_string())
                .and_then(|_| {
                    // Crash-matrix hook: files renamed and durable, rows not committed.
                    crate::archive::fault_point("catalog-commit");
                    d.archive.catalog.commit().map_err(|e| e.to_string())
                });
            if let Err(e) = r {
                // The rows are lost (disk full, failing disk): take their
                // files out again, so nothing unlisted stays in the archive;
                // the next run copies them.
                let _ = d.archive.catalog.rollback();
                let undone = std::mem::take(&mut d.uncommitted);
                for (path, hash) in &undone {
                    let _ = std::fs::remove_file(d.archive.root.join(path));
                    let (folder, name) = path.rsplit_once('/').unwrap_or(("", path));
                    d.archive.planner.release(folder, name);
                    d.archive.by_hash.remove(hash);
                }
                d.written.retain(|w| !undone.contains(w));
                d.summary.copied = d.summary.copied.saturating_sub(undone.len() as u64);
                d.summary.failed += undone.len() as u64;
                if d.summary.error.is_none() {
                    d.summary.error = Some(format!(
                        "cannot record in the catalog: {e}; the {} files placed since the last record were taken out again, run again to copy them",
                        undone.len()
                    ));
                }
                self.summary.failed.push(Failed {
                    path: "catalog".into(),
                    error: e,
                    destination: Some(d.summary.path.clone()),
                });
            }
            d.uncommitted.clear();
            if !force {
                let _ = d.archive.catalog.begin();
            }
        }
        self.pending = 0;
        self.last_commit = Instant::now();
    }
}

fn role_name(r: Role) -> &'static str {
    match r {
        Role::Primary => "primary",
        Role::LivePhotoMovie => "live_photo_movie",
        Role::Sidecar => "sidecar",
        Role::EditedRender => "edited_render",
        Role::Companion => "companion",
    }
}

/// Reads back every file this run wrote to `d` (from the disk where the OS
/// allows) and compares hashes. A mismatch removes the bad copy and its
/// records so the next run copies the item again.
fn verify_written(
    d: &mut Dest,
    pre: &std::collections::HashMap<String, Result<(), String>>,
    summary: &mut ExportSummary,
    progress: &dyn Progress,
) {
    let root = d.archive.root.clone();
    let results: Vec<(String, String, Result<(), String>)> = d
        .written
        .par_iter()
        .map(|(path, hash)| {
            let r = match pre.get(path) {
                Some(r) => r.clone(),
                None => {
                    let r = read_back(&root.join(path), hash);
                    progress.advance(1, *r.as_ref().unwrap_or(&0));
                    r.map(|_| ())
                }
            };
            (path.clone(), hash.clone(), r)
        })
        .collect();
    let mut good = Vec::new();
    for (path, _hash, r) in results {
        match r {
            Ok(()) => good.push(path),
            Err(error) => {
                d.summary.verify_failed += 1;
                let _ = std::fs::remove_file(root.join(&path));
                let _ = d.archive.catalog.remove_file(&path);
                let _ = d.archive.catalog.forget_source_items_with_hash(&_hash);
                progress.message(&format!(
                    "camroll: {}: {error}; removed from the archive, run again to copy it again",
                    path
                ));
                summary.failed.push(Failed {
                    path,
                    error,
                    destination: Some(d.summary.path.clone()),
                });
            }
        }
    }
    d.summary.verified = good.len() as u64;
    if let Err(e) = d.archive.catalog.mark_verified(&good) {
        summary.warnings.push(Warning {
            path: d.summary.path.clone(),
            warning: e.to_string(),
        });
    }
}

/// A verification result from the background readers: (destination, path, outcome).
type HashMapEntry = (usize, String, Result<(), String>);

/// Reads a placed file back from the disk (where the OS allows) and compares
/// its hash with the one taken from the source stream; returns its size.
fn read_back(path: &std::path::Path, hash: &str) -> Result<u64, String> {
    match ingest::hash_file(path, true) {
        Ok((h, size)) if h == hash => Ok(size),
        Ok((h, _)) => Err(format!(
            "read back with hash {h}, expected {hash}: the copy is damaged (failing disk or cable?)"
        )),
        Err(e) => Err(format!("cannot read back: {e}")),
    }
}

/// Fault-injection hook for tests: flips a byte of a just-placed file whose
/// name is `CAMROLL_FAULT_CORRUPT_PLACED`, as a failing disk or cable would, so
/// the read-back verification can be shown to catch it. Unset in normal use.
fn fault_corrupt_placed(path: &std::path::Path, name: &str) {
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
fn test_pause(var: &str) {
    if let Some(ms) = std::env::var(var).ok().and_then(|v| v.parse::<u64>().ok()) {
        std::thread::sleep(Duration::from_millis(ms));
    }
}
