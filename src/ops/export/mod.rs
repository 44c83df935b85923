//! `camroll export`: the whole pipeline, in named stages, each in its own file.
//!
//! 1. `scan`: list the source (names, sizes, mtimes; nothing is read).
//! 2. `plan::group`: stills with their Live Photo movies, sidecars and renders.
//! 3. `plan::plan`: skip items every destination already recorded (same
//!    source, path, size, mtime), so a no-change re-run reads nothing.
//! 4. `ingest`: groups in parallel, large files first; each item is read
//!    once, hashed while it is written to a staging file in every
//!    destination that needs it (a large file is also read back as it is
//!    written). From a phone, large files start during the scan.
//! 5. `place`: one thread, in scan order; names chosen, staging files
//!    renamed into `YYYY/MM/`, folders fsynced, then catalog rows committed.
//! 6. `readback`: every file written is read back from the disk and its
//!    hash compared with the one taken from the source stream.
//! 7. `sidecars`: `<name>.xmp` (or `.json`) beside each original of an
//!    asset the phone's library knows, replaced when its facts changed.
//! 8. `record`: `BLAKE3SUMS` is rewritten and the run recorded.
//!
//! `dest` is one destination archive through all of them; `summary` is
//! what the run returns.

mod bucket;
mod dest;
pub mod ingest;
mod place;
mod plan;
mod readback;
mod record;
mod scan;
pub mod sidecars;
pub mod summary;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::Mutex;
use std::time::Instant;

use thiserror::Error;

use crate::archive::ArchiveError;
use crate::media::date::Zone;
use crate::media::DateOptions;
use crate::progress::Progress;
use crate::source::{Source, SourceError, SourceItem};
use dest::Dest;
use ingest::{IngestCtx, IngestedGroup, MemberResult};
use place::Placer;
use readback::{ReadBackJob, ReadBackResult};

pub use summary::{DestinationSummary, Duplicate, ExportSummary, Planned};

/// Settings of one export.
#[derive(Debug, Clone, Default)]
pub struct ExportOptions {
    /// The archives to file into.
    pub destinations: Vec<PathBuf>,
    /// Plan only: read and hash, write nothing.
    pub dry_run: bool,
    /// Read every written file back and compare hashes (default on).
    pub verify: bool,
    /// Zone for video times stored only in UTC; `None` = the machine's zone.
    pub timezone: Option<Zone>,
    /// Parallel readers (default: number of CPUs, at least 4).
    pub jobs: Option<usize>,
    /// Which sidecars to write beside the originals (`--sidecars`).
    pub sidecars: sidecars::SidecarChoice,
    /// A copy of Photos.sqlite to read the sidecars' facts from (`--sidecars-from`).
    pub sidecars_from: Option<PathBuf>,
    /// Buckets: S3 Object Lock retention for new objects, in days (`--object-lock-days`).
    pub object_lock_days: Option<u32>,
}

/// Errors that stop the whole run (exit 2).
#[derive(Debug, Error)]
pub enum ExportError {
    /// The source could not be listed.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// A destination could not be opened.
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    /// The only destination, a bucket, could not be used.
    #[error(transparent)]
    Bucket(#[from] crate::archive::bucket::BucketError),
    /// No `--to`.
    #[error("no destination given: add --to <ARCHIVE>")]
    NoDestination,
}

impl ExportError {
    /// Whether the export was refused because a destination is locked.
    pub fn refusal(&self) -> Option<crate::archive::Refusal> {
        match self {
            ExportError::Archive(a) => a.refusal(),
            ExportError::Bucket(crate::archive::bucket::BucketError::Locked { .. }) => {
                Some(crate::archive::Refusal::Locked)
            }
            _ => None,
        }
    }
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
    let read_back = opts.verify && !opts.dry_run;
    // A source that lists slowly (the phone) hands out files as it lists
    // them: the destinations are opened first, and large files a destination
    // needs are read at once, beside the listing (see `ingest::Prefetched`).
    let early = source.lists_early() && !opts.dry_run;
    let prefetched = ingest::Prefetched::default();
    let seq = AtomicU64::new(0);
    let source_fs = source.filesystem();
    std::thread::scope(|scope| {
        let mut opened = if early {
            Some(bucket::open_all(opts, &source_id, progress)?)
        } else {
            None
        };
        let staging_of =
            |dests: &[Dest]| -> (Vec<PathBuf>, Vec<Option<std::sync::Arc<std::fs::File>>>) {
                (
                    dests.iter().map(|d| d.archive.staging_dir()).collect(),
                    dests
                        .iter()
                        .map(|d| {
                            // Not for a dry run (nothing is staged); a folder that cannot
                            // be opened now falls back to the contained walk per file.
                            (!opts.dry_run)
                                .then(|| d.archive.open_staging().ok())
                                .flatten()
                        })
                        .collect(),
                )
            };
        // Per destination: large files are read back as they are written,
        // except into a bucket's spool (its upload checks them).
        let follow_of = |o: &bucket::Opened| -> Vec<bool> {
            (0..o.dests.len())
                .map(|i| read_back && !o.buckets.iter().any(|b| b.index == i))
                .collect()
        };
        let early_staging = opened
            .as_ref()
            .map(|o| (staging_of(&o.dests), follow_of(o)));
        let (ptx, prx) = crossbeam_channel::unbounded::<(SourceItem, Vec<ingest::StagedFile>)>();
        let worker = early.then(|| {
            let prefetched = &prefetched;
            scope.spawn(move || {
                let mut buf = Vec::new();
                for (item, targets) in prx.iter() {
                    prefetched.read(source, item, targets, &mut buf);
                }
            })
        });
        let scanned = scan::scan(source, &mut summary, progress, &mut |item| {
            let (Some(o), Some(((dirs, handles), follow))) = (&opened, &early_staging) else {
                return;
            };
            if item.size < ingest::DURABLE_ALONE {
                return;
            }
            let needs: Vec<usize> = o
                .dests
                .iter()
                .enumerate()
                .filter(|(_, d)| {
                    !plan::known(d, item, source_fs.as_ref())
                        && d.fs.refuses_size(item.size).is_none()
                        && d.summary.error.is_none()
                })
                .map(|(i, _)| i)
                .collect();
            if needs.is_empty() {
                return;
            }
            prefetched.announce(item);
            let targets = ingest::staging_targets(&needs, dirs, handles, follow, &seq);
            let _ = ptx.send((item.clone(), targets));
        });
        drop(ptx);
        let items = match scanned {
            Ok(items) => items,
            Err(e) => {
                if let Some(w) = worker {
                    let _ = w.join();
                }
                prefetched.discard_rest();
                return Err(e.into());
            }
        };
        // Buckets get a local spool archive among `dests` (see `bucket`).
        let bucket::Opened {
            mut dests,
            mut buckets,
            lost,
        } = match opened.take() {
            Some(o) => o,
            None => bucket::open_all(opts, &source_id, progress)?,
        };
        // The catalog's maps, now that the listing (and the phone's library)
        // is done with: the two never share the run's memory (see `Archive`).
        for d in dests.iter_mut() {
            if let Err(e) = d.archive.load_index() {
                d.summary.error.get_or_insert(e.to_string());
            }
        }
        let mut groups = Vec::new();
        let plan = plan::plan(
            &items,
            &mut groups,
            &mut dests,
            source_fs.as_ref(),
            &mut summary,
            progress,
        );
        // Names are only allocated when something is placed; a bucket's spool
        // has its names from the bucket already (`bucket::open_all`).
        // The same for the duplicate index.
        if plan.items > 0 {
            for (i, d) in dests.iter_mut().enumerate() {
                if let Err(e) = d.archive.load_duplicates() {
                    d.summary.error.get_or_insert(e.to_string());
                }
                if !buckets.iter().any(|b| b.index == i) {
                    if let Err(e) = d.archive.fill_planner() {
                        d.summary.error.get_or_insert(e.to_string());
                    }
                }
            }
        }
        progress.phase(
            if opts.dry_run { "Reading" } else { "Copying" },
            plan.items,
            plan.bytes,
        );
        let ((staging_dirs, staging_handles), _) = match early_staging {
            Some(s) => s,
            None => (staging_of(&dests), Vec::new()),
        };
        // A bucket's spool files are checked by their upload instead (see `readback`).
        let uploaded: Vec<bool> = (0..dests.len())
            .map(|i| buckets.iter().any(|b| b.index == i))
            .collect();
        let ctx = IngestCtx {
            source,
            items: &items,
            needs: &plan.needs,
            staging_dirs,
            staging_handles,
            prefetched: early.then_some(&prefetched),
            follow: uploaded.iter().map(|u| read_back && !u).collect(),
            seq: AtomicU64::new(seq.load(std::sync::atomic::Ordering::Relaxed)),
            alive: dests.iter().map(|_| AtomicBool::new(true)).collect(),
            dry_run: opts.dry_run,
            date_opts: DateOptions {
                timezone: opts.timezone,
            },
            progress,
            deferred: Mutex::default(),
            last_try: AtomicBool::new(false),
        };
        let background = ingest_and_place(
            &ctx,
            &plan,
            (&mut dests, &mut buckets),
            &mut summary,
            opts,
            (read_back, &uploaded),
        );
        // Early reads nobody took (the scan left the item out after all).
        if let Some(w) = worker {
            let _ = w.join();
        }
        prefetched.discard_rest();
        if read_back {
            // What the background readers did not get to is read back now.
            readback::finish(&mut dests, &uploaded, background, &mut summary, progress);
        }
        if let Some(plan) = sidecars::prepare(
            source,
            opts.sidecars,
            opts.sidecars_from.as_ref(),
            &mut summary,
        ) {
            sidecars::write(&mut dests, &source_id, &plan, &mut summary, opts.dry_run);
        }
        record::record(&mut dests, &mut summary, opts.dry_run);
        bucket::finish_all(
            &mut buckets,
            &mut dests,
            &mut summary,
            opts.dry_run,
            progress,
        );
        progress.finish();
        summary.library = source.library_report();
        summary.destinations = dests.into_iter().map(|d| d.summary).collect();
        for l in lost {
            summary.failed.push(crate::ops::Failed {
                path: l.path.clone(),
                error: l.error.clone().unwrap_or_default(),
                destination: Some(l.path.clone()),
            });
            summary.destinations.push(l);
        }
        summary.outcome = record::outcome(&summary);
        Ok(summary)
    })
}

/// The order groups are read in: those with a large file (≥
/// [`ingest::DURABLE_ALONE`]) first, largest first, then the rest in
/// placing order. A large movie then crosses the link beside the small
/// files instead of alone after them, so the link is busy from the start
/// while the small files' per-file round trips are paid, and its flush and
/// read-back (done as it is written) finish with the last small files.
/// Placing keeps its own order: a group read early waits in staging.
fn read_order(work: &[&crate::media::Group], items: &[crate::source::SourceItem]) -> Vec<usize> {
    let bytes =
        |g: &crate::media::Group| -> u64 { g.members.iter().map(|(i, _)| items[*i].size).sum() };
    let large = |g: &crate::media::Group| {
        g.members
            .iter()
            .any(|(i, _)| items[*i].size >= ingest::DURABLE_ALONE)
    };
    let (mut first, rest): (Vec<usize>, Vec<usize>) =
        (0..work.len()).partition(|&k| large(work[k]));
    first.sort_by_key(|&k| std::cmp::Reverse(bytes(work[k])));
    first.extend(rest);
    first
}

/// Stages 4 to 6 running together: readers ingest groups in parallel, the
/// placer files them in scan order as they arrive, and (with `read_back`)
/// two background readers read placed files back while later ones copy.
/// Buckets upload their spooled files as they go (`upload_during`), so a
/// spool never holds the whole run. Returns the background readers' verdicts.
fn ingest_and_place(
    ctx: &IngestCtx<'_>,
    plan: &plan::Plan<'_>,
    (dests, buckets): (&mut [Dest], &mut [bucket::BucketDest]),
    summary: &mut ExportSummary,
    opts: &ExportOptions,
    (read_back, uploaded): (bool, &[bool]),
) -> Vec<ReadBackResult> {
    // Readers spend most of their time waiting on I/O (fsync, the phone), so
    // more of them than cores keeps the disks busy.
    // A phone's readers wait mostly on round trips (three a file, at about
    // a millisecond each over USB): three times as many keep its link busy
    // with small files. Their connections are bounded by the phone's
    // service limit (readers share the pool beyond it).
    let jobs = opts
        .jobs
        .unwrap_or_else(|| {
            let n = std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
                .max(4);
            if ctx.source.round_trip_bound() {
                n * 3
            } else {
                n
            }
        })
        .max(1);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs)
        .build()
        .ok();
    // Room for a whole batch (place::BATCH_FILES) of small groups: while the
    // placer flushes a batch, readers stage the next one instead of waiting.
    // A group waiting here is a few hundred bytes; its data is on disk.
    let (tx, rx) = crossbeam_channel::bounded::<IngestedGroup>((jobs * 4).max(place::BATCH_FILES));
    let (vtx, vrx) = crossbeam_channel::unbounded::<ReadBackJob>();
    let verified: Mutex<Vec<ReadBackResult>> = Mutex::default();
    let source_id = ctx.source.id();
    let mut placer = Placer {
        items: ctx.items,
        source_id: &source_id,
        dry_run: opts.dry_run,
        summary,
        pending: 0,
        last_commit: Instant::now(),
        progress: ctx.progress,
        verify_tx: read_back.then_some(vtx),
        stills_by_cid: HashMap::new(),
        batch: Vec::new(),
        batch_bytes: 0,
        counted: Default::default(),
        alive: &ctx.alive,
    };
    for d in dests.iter_mut() {
        if !opts.dry_run {
            if let Err(e) = d.archive.catalog.begin() {
                d.summary.error = Some(e.to_string());
            }
        }
    }
    let work = &plan.work;
    std::thread::scope(|scope| {
        if read_back {
            for _ in 0..2 {
                let vrx = vrx.clone();
                let verified = &verified;
                scope.spawn(move || readback::read_placed(vrx, uploaded, verified));
            }
        }
        drop(vrx);
        scope.spawn(move || {
            // Every reader takes the next group in reading order (large
            // files first, see `read_order`) until none is left.
            let order = read_order(work, ctx.items);
            let next = std::sync::atomic::AtomicUsize::new(0);
            let read = |_: rayon::BroadcastContext<'_>| {
                let mut buf = Vec::new();
                loop {
                    let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(&seq) = order.get(k) else { break };
                    let _ = tx.send(IngestedGroup {
                        seq,
                        members: ctx.ingest_group(seq, work[seq], &mut buf),
                    });
                }
            };
            match pool.as_ref() {
                Some(p) => {
                    p.broadcast(read);
                }
                None => {
                    rayon::broadcast(read);
                }
            }
            // Files the source refused for a reason that may pass (hard links
            // on the phone) get one more try now that everything else is read;
            // they are placed after every other group.
            ctx.retry_deferred(work, &mut Vec::new(), |k, members| {
                let _ = tx.send(IngestedGroup {
                    seq: work.len() + k,
                    members,
                });
            });
            drop(tx);
        });
        // Place in scan order whatever order reads finish in, so names
        // (collision suffixes) are deterministic. Early arrivals wait as
        // staging files on the destination disk, not in memory.
        let mut waiting: BTreeMap<usize, Vec<MemberResult>> = BTreeMap::new();
        let mut next = 0usize;
        for group in rx.iter() {
            waiting.insert(group.seq, group.members);
            while let Some(members) = waiting.remove(&next) {
                // Empty: a group put aside for the end of the run.
                if !members.is_empty() {
                    placer.place_group(dests, ctx, members);
                    // Files of the open batch are still in staging: they
                    // count towards the bound too.
                    let full: Vec<usize> = (0..buckets.len())
                        .filter(|&i| {
                            let b = &mut buckets[i];
                            let pending = placer.batched_bytes(b.index);
                            dests.get(b.index).is_some_and(|d| b.spool_full(d, pending))
                        })
                        .collect();
                    if !full.is_empty() {
                        // Uploads only follow committed catalog rows: place
                        // the batch and commit now, then go on.
                        placer.flush(dests, true);
                        for d in dests.iter_mut() {
                            let _ = d.archive.catalog.begin();
                        }
                        for i in full {
                            let b = &mut buckets[i];
                            if let Some(d) = dests.get(b.index) {
                                // Note what the batch just placed, then upload.
                                b.spool_full(d, 0);
                                b.upload_during(d);
                            }
                        }
                    }
                }
                next += 1;
            }
        }
        // The last batch, so its files go to the background readers too;
        // then there is nothing more to read back: let them finish.
        placer.flush(dests, true);
        placer.verify_tx = None;
    });
    verified.into_inner().unwrap_or_else(|e| e.into_inner())
}
