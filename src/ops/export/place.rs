//! Stage 5, **place** (one thread per run, groups in scan order whatever
//! order their reads finish in, so names are deterministic): per destination,
//! duplicates by hash are dropped, free names are chosen (`~N` for
//! collisions, one suffix per group), and then, a batch at a time: the
//! batch's small staging files are made durable with one flush (`syncfs`),
//! renamed into `YYYY/MM/` (never over a file), each touched folder is
//! fsynced once, and the catalog rows are committed. Large files were
//! fsynced as they finished (ingest) and are renamed at once, so their
//! read-back starts early; their rows commit with the batch.

use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::dest::{Dest, Written};
use super::ingest::{is_fatal_for_destination, IngestCtx, Ingested, Listing, MemberResult, Staged};
use super::readback::ReadBackJob;
use super::summary::{Duplicate, ExportSummary, Planned};
use crate::archive::catalog::{FileRecord, SourceRecord};
use crate::archive::layout::{fold, safe_file_name, split_ext, NameChoice, NameRequest};
use crate::hash;
use crate::media::{self, DateSource, Role};
use crate::ops::{Failed, Warning};
use crate::progress::Progress;
use crate::source::{Skipped, SourceItem};

/// A batch (one flush of its staged files, one fsync per touched folder,
/// one catalog commit) ends after this many files, this many bytes of small
/// files waiting for their flush, or this long, whichever comes first. 256
/// files keep the flushes at ≤ 1 per 64 small files even though a batch
/// also fsyncs its folders and the catalog's log (about 3 calls a batch).
/// The byte and time bounds limit the dirty data a flush waits for, the
/// read-back left after the last batch, and the work a crash throws away.
pub(super) const BATCH_FILES: usize = 256;
const BATCH_BYTES: u64 = 256 << 20;
const BATCH_TIME: Duration = Duration::from_secs(10);

/// The single-threaded placing stage.
pub(super) struct Placer<'a> {
    pub items: &'a [SourceItem],
    pub source_id: &'a str,
    pub dry_run: bool,
    pub summary: &'a mut ExportSummary,
    /// Files placed, waiting to be placed, or recorded since the last commit.
    pub pending: usize,
    /// Small files staged but not yet durable, waiting for their batch's flush.
    pub batch: Vec<Placing>,
    /// Their bytes.
    pub batch_bytes: u64,
    /// Items counted as copied (to any destination), so each counts once.
    pub counted: HashSet<usize>,
    /// Per destination: still taking writes (cleared on a full or failing disk).
    pub alive: &'a [AtomicBool],
    pub last_commit: Instant,
    pub progress: &'a dyn Progress,
    /// Placed files go here to be read back while the copy goes on.
    pub verify_tx: Option<crossbeam_channel::Sender<ReadBackJob>>,
    /// Stills without a Live Photo movie, by ContentIdentifier: per destination,
    /// where they were filed.
    pub stills_by_cid: HashMap<String, HashMap<usize, FiledStill>>,
}

/// Where a still was filed in one destination: a movie with its
/// ContentIdentifier but another name goes next to it, under its stem.
#[derive(Debug, Clone)]
pub(super) struct FiledStill {
    folder: String,
    stem: String,
}

/// A staged file with its name chosen and reserved, to be renamed into one
/// destination (or adopted there) and recorded.
pub(super) struct Placing {
    /// Index of the destination.
    dest: usize,
    /// Index of the item in the scan.
    item: usize,
    staging: PathBuf,
    folder: String,
    name: String,
    /// The same file is already in place, left by a killed run.
    adopt: bool,
    /// The staging file was read back from the disk as it was written.
    verified: bool,
    record: FileRecord,
    source_record: SourceRecord,
}

/// One member of a group to be put into one destination.
struct Placement {
    /// Index into the group's members.
    member: usize,
    folder: String,
    /// The safe form of the name it should have.
    name: String,
}

/// Which members ended up copied somewhere, or only found as duplicates.
#[derive(Default)]
struct GroupTally {
    copied_any: HashSet<usize>,
    dup_only: HashSet<usize>,
}

/// A member that shares the group's folder and stem, or one split off from
/// the group (role Primary) that gets a name of its own.
fn is_split_off(members: &[MemberResult], p: &Placement) -> bool {
    p.member != 0 && members[p.member].role == Role::Primary
}

fn staged_of(m: &MemberResult) -> Option<&Staged> {
    match &m.outcome {
        Ingested::Staged { staged, .. } => Some(staged),
        _ => None,
    }
}

impl Placer<'_> {
    /// Places one group in every destination; see the module docs.
    pub fn place_group(
        &mut self,
        dests: &mut [Dest],
        ctx: &IngestCtx<'_>,
        members: Vec<MemberResult>,
    ) {
        self.note_item_outcomes(&members);
        let primary = &members[0];
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
        let mut tally = GroupTally::default();
        for (di, dest) in dests.iter_mut().enumerate() {
            let wanted = self.plan_destination(
                di,
                dest,
                ctx,
                &members,
                lone_movie_cid.as_deref(),
                &mut tally,
            );
            if wanted.is_empty() {
                continue;
            }
            for (p, choice) in self.choose_names(dest, &members, wanted) {
                self.put_in_place(di, dest, &members[p.member], &p.folder, choice, &mut tally);
            }
        }
        self.remember_still(dests, &members, lone_movie_cid.as_deref());
        for m in &members {
            // Copied items are counted once placed (see `count_copied`).
            if !tally.copied_any.contains(&m.item) && tally.dup_only.contains(&m.item) {
                self.summary.duplicates += 1;
            }
        }
        self.flush(dests, false);
    }

    /// Item-level outcomes, which do not depend on the destination: skipped,
    /// failed, and warnings about metadata.
    fn note_item_outcomes(&mut self, members: &[MemberResult]) {
        for m in members {
            let item = &self.items[m.item];
            match &m.outcome {
                Ingested::Skipped(reason) => {
                    // A file read and found to be neither media nor known junk
                    // is left behind: the exit status says so.
                    if crate::source::known_junk(&item.name).is_none() {
                        self.summary.left_behind += 1;
                        self.progress.message(&format!(
                            "camroll: {}: left behind: {reason}",
                            item.rel_path
                        ));
                    }
                    self.summary.skipped.push(Skipped {
                        path: item.rel_path.clone(),
                        reason: reason.clone(),
                    })
                }
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
                    problems,
                    capture,
                    staged,
                    ..
                } => {
                    if staged.unrecognised {
                        self.summary.unrecognised += 1;
                        self.summary.warnings.push(Warning {
                            path: item.rel_path.clone(),
                            warning: format!(
                                "content not recognised as a {} (damaged, or a format camroll does not know): archived bit-exact as it is, filed by {}",
                                staged.kind.name(),
                                if capture.source == DateSource::FileMtime { "its file time" } else { "the date the source gave" }
                            ),
                        });
                    }
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
    }

    /// What of the group goes into destination `di`, and in which folder:
    /// members that failed to stage there are reported, duplicates by hash
    /// are recorded as such, a lone movie joins its still by ContentIdentifier.
    fn plan_destination(
        &mut self,
        di: usize,
        dest: &mut Dest,
        ctx: &IngestCtx<'_>,
        members: &[MemberResult],
        lone_movie_cid: Option<&str>,
        tally: &mut GroupTally,
    ) -> Vec<Placement> {
        let primary = &members[0];
        let primary_item = &self.items[primary.item];
        let primary_failed = matches!(primary.outcome, Ingested::Failed(_) | Ingested::Skipped(_));
        // The group's folder in this destination: where its primary already is, or its capture month.
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
        let mut wanted = Vec::new();
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
            let in_dest = staged.files.iter().any(|f| f.dest == di)
                || (self.dry_run && ctx.needs[m.item].contains(&di));
            if !in_dest {
                continue;
            }
            if let Some(existing) = dest.archive.by_hash.get(&staged.hash).cloned() {
                self.record_duplicate(dest, di, m, staged, &existing);
                tally.dup_only.insert(m.item);
                continue;
            }
            // A lone movie whose ContentIdentifier matches a still filed
            // earlier goes next to it, under its stem.
            let joined = lone_movie_cid
                .and_then(|cid| self.stills_by_cid.get(cid))
                .and_then(|per_dest| per_dest.get(&di))
                .cloned();
            if let Some(still) = joined {
                let ext = split_ext(&item.name).1;
                wanted.push(Placement {
                    member: mi,
                    folder: still.folder,
                    name: safe_file_name(OsStr::new(&format!("{}{ext}", still.stem))),
                });
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
            wanted.push(Placement {
                member: mi,
                folder,
                name: safe_file_name(OsStr::new(&item.name)),
            });
        }
        wanted
    }

    /// Names for the group's new files in one destination: the group shares
    /// one suffix; members split off from it, and members whose names fold
    /// to one name (`IMG_0001.JPG` and `img_0001.jpg` group by stem), get
    /// names of their own. A name held by an unlisted file with the same
    /// content is adopted (a killed run's work).
    fn choose_names(
        &self,
        dest: &mut Dest,
        members: &[MemberResult],
        wanted: Vec<Placement>,
    ) -> Vec<(Placement, NameChoice)> {
        let (mut own, shared): (Vec<_>, Vec<_>) =
            wanted.into_iter().partition(|p| is_split_off(members, p));
        // Names that fold to one can never share a suffix: no `~k` would separate them.
        let mut seen = HashSet::new();
        let (shared, clash): (Vec<_>, Vec<_>) = shared
            .into_iter()
            .partition(|p| seen.insert((p.folder.clone(), fold(&p.name))));
        own.extend(clash);
        let root = dest.archive.root.clone();
        let mut out = Vec::new();
        for batch in std::iter::once(shared).chain(own.into_iter().map(|p| vec![p])) {
            if batch.is_empty() {
                continue;
            }
            let requests: Vec<NameRequest> = batch
                .iter()
                .map(|p| NameRequest::new(&p.folder, &p.name))
                .collect();
            let chosen = dest
                .archive
                .planner
                .allocate(&root, &requests, |i, on_disk| {
                    let want = staged_of(&members[batch[i].member]).map_or("", |s| s.hash.as_str());
                    hash::hash_file(on_disk, false).is_ok_and(|d| d.hash == want)
                });
            out.extend(batch.into_iter().zip(chosen));
        }
        out
    }

    /// Reserves the chosen name and the hash of one staged member, then
    /// places it now (a large file, already durable, or one to adopt) or
    /// adds it to the batch that is made durable with one flush.
    #[allow(clippy::too_many_arguments)]
    fn put_in_place(
        &mut self,
        di: usize,
        dest: &mut Dest,
        m: &MemberResult,
        folder: &str,
        choice: NameChoice,
        tally: &mut GroupTally,
    ) {
        let Ingested::Staged {
            staged,
            capture,
            relisted,
            ..
        } = &m.outcome
        else {
            return;
        };
        let NameChoice { name, adopt } = choice;
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
            tally.copied_any.insert(m.item);
            self.count_copied(m.item, staged.size);
            return;
        }
        let Some(file) = staged.files.iter().find(|f| f.dest == di) else {
            return;
        };
        let (staging, verified) = (&file.path, file.verified);
        // Reserved now, so later groups (in this batch too) see the name
        // taken and the content archived; released if placing fails.
        dest.archive.planner.take(folder, &name);
        dest.archive
            .by_hash
            .insert(staged.hash.clone(), path.clone());
        tally.copied_any.insert(m.item);
        self.pending += 1;
        let placing = Placing {
            dest: di,
            item: m.item,
            staging: staging.clone(),
            folder: folder.to_string(),
            name,
            adopt,
            verified,
            record: FileRecord {
                path,
                hash: staged.hash.clone(),
                size: staged.size,
                kind: Some(staged.kind.name().to_string()),
                capture: Some(*capture),
                original_name: item.name.clone(),
                source: self.source_id.to_string(),
                source_path: item.rel_path.clone(),
                role: Some(role_name(m.role).to_string()),
            },
            source_record: source_record(item, *relisted, &staged.hash),
        };
        if adopt || staged.durable {
            self.complete(dest, placing);
        } else {
            self.batch_bytes += staged.size;
            self.batch.push(placing);
        }
    }

    /// Counts an item as copied, once whatever the number of destinations.
    fn count_copied(&mut self, item: usize, size: u64) {
        if self.counted.insert(item) {
            self.summary.copied += 1;
            self.summary.bytes_copied += size;
        }
    }

    /// Gives back what [`Self::put_in_place`] reserved for a file that was
    /// not placed, and counts it as failed there.
    fn unreserve(&mut self, dest: &mut Dest, p: &Placing, error: String) {
        if !p.adopt {
            dest.archive.planner.release(&p.folder, &p.name);
            dest.archive.by_hash.remove(&p.record.hash);
        }
        dest.summary.failed += 1;
        self.summary.failed.push(Failed {
            path: p.record.source_path.clone(),
            error,
            destination: Some(dest.summary.path.clone()),
        });
    }

    /// Renames one durable staged file into place (or adopts the file
    /// already there), records it, and queues it for reading back.
    fn complete(&mut self, dest: &mut Dest, p: Placing) {
        let di = p.dest;
        let path = p.record.path.clone();
        let placed = if p.adopt {
            // A killed run left this very file in place before recording it.
            std::fs::remove_file(&p.staging).map(|_| ())
        } else {
            dest.archive.place(&p.staging, &p.folder, &p.name)
        };
        if let Err(e) = placed {
            let _ = std::fs::remove_file(&p.staging);
            if is_fatal_for_destination(&e) && dest.summary.error.is_none() {
                dest.summary.error = Some(format!("{e}; nothing more is written here this run"));
                self.alive[di].store(false, Ordering::Relaxed);
            }
            self.unreserve(dest, &p, format!("cannot place as {path}: {e}"));
            return;
        }
        let recorded = dest
            .archive
            .catalog
            .insert_file(&p.record, dest.run)
            .and_then(|_| {
                dest.archive.catalog.record_source_item(
                    self.source_id,
                    &p.record.source_path,
                    &p.source_record,
                    dest.run,
                )
            });
        if let Err(e) = recorded {
            // Not recorded: do not leave it in the archive unlisted.
            if !p.adopt {
                let _ = std::fs::remove_file(dest.archive.root.join(&path));
            }
            self.unreserve(dest, &p, e.to_string());
            return;
        }
        let written = Written {
            path,
            hash: p.record.hash.clone(),
        };
        if !p.adopt {
            dest.uncommitted.push(written.clone());
        }
        crate::faults::corrupt_placed(&dest.archive.root.join(&written.path), &p.name);
        if let Some(tx) = &self.verify_tx {
            let _ = tx.send(ReadBackJob {
                dest: di,
                full_path: dest.archive.root.join(&written.path),
                path: written.path.clone(),
                hash: written.hash.clone(),
                // An adopted file was not the one read back.
                verified: p.verified && !p.adopt,
            });
        }
        dest.written.push(written);
        dest.changed = true;
        dest.summary.copied += 1;
        dest.summary.bytes_copied += p.record.size;
        self.count_copied(p.item, p.record.size);
    }

    /// Places the batch: per destination, its staged files are made durable
    /// with one flush, then renamed into place and recorded (uncommitted).
    /// A destination whose flush fails takes none of them, and nothing more.
    fn place_batch(&mut self, dests: &mut [Dest]) {
        let mut batch = std::mem::take(&mut self.batch);
        self.batch_bytes = 0;
        for (di, dest) in dests.iter_mut().enumerate() {
            let (mine, rest): (Vec<Placing>, Vec<Placing>) =
                batch.into_iter().partition(|p| p.dest == di);
            batch = rest;
            if mine.is_empty() {
                continue;
            }
            let files: Vec<&Path> = mine.iter().map(|p| p.staging.as_path()).collect();
            let synced = dest
                .archive
                .sync_staged(&files, dest.fs.syncfs_flushes_all());
            // Crash-matrix hook: the batch is durable in staging, nothing renamed.
            crate::faults::point("batch-synced");
            if let Err(e) = synced {
                if dest.summary.error.is_none() {
                    dest.summary.error = Some(format!(
                        "cannot flush the staged files to the disk: {e}; nothing more is written here this run"
                    ));
                }
                self.alive[di].store(false, Ordering::Relaxed);
                for p in mine {
                    let _ = std::fs::remove_file(&p.staging);
                    self.unreserve(dest, &p, format!("cannot make the copy durable: {e}"));
                }
                continue;
            }
            for p in mine {
                self.complete(dest, p);
            }
            // Crash-matrix hook: the batch renamed, folders not yet fsynced.
            crate::faults::point("batch-placed");
        }
    }

    /// Remembers a still without a Live Photo movie for a movie with its
    /// ContentIdentifier but another name; a lone movie takes its still.
    fn remember_still(
        &mut self,
        dests: &[Dest],
        members: &[MemberResult],
        lone_movie_cid: Option<&str>,
    ) {
        let primary = &members[0];
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
            if !media::group::is_video_name(&self.items[primary.item].name) {
                for (di, dest) in dests.iter().enumerate() {
                    if let Some(p) = dest.archive.by_hash.get(&staged.hash) {
                        let (folder, name) = p.rsplit_once('/').unwrap_or(("", p));
                        self.stills_by_cid.entry(cid.clone()).or_default().insert(
                            di,
                            FiledStill {
                                folder: folder.to_string(),
                                stem: split_ext(name).0.to_string(),
                            },
                        );
                    }
                }
            }
        }
        if let Some(cid) = lone_movie_cid {
            // Each still takes at most one movie.
            self.stills_by_cid.remove(cid);
        }
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
        let rec = source_record(item, relisted, &staged.hash);
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
        for f in &staged.files {
            if f.dest == di {
                f.remove();
            }
        }
    }

    /// Bytes of destination `di`'s files in the open batch (still in staging).
    pub fn batched_bytes(&self, di: usize) -> u64 {
        self.batch
            .iter()
            .filter(|p| p.dest == di)
            .map(|p| p.record.size)
            .sum()
    }

    /// Ends a batch: places its small files (one flush per destination),
    /// fsyncs each touched folder once, then commits the catalog rows.
    /// With `force` (end of the run) the open transaction always ends, even
    /// with nothing pending, so later statements run in autocommit mode.
    pub fn flush(&mut self, dests: &mut [Dest], force: bool) {
        if self.dry_run {
            return;
        }
        if !force
            && (self.pending == 0
                || (self.pending < BATCH_FILES
                    && self.batch_bytes < BATCH_BYTES
                    && self.last_commit.elapsed() < BATCH_TIME))
        {
            return;
        }
        self.place_batch(dests);
        for d in dests.iter_mut() {
            let r = d
                .archive
                .sync_dirs_batched(d.fs.syncfs_flushes_all())
                .map_err(|e| e.to_string())
                .and_then(|_| {
                    // Crash-matrix hook: files renamed and durable, rows not committed.
                    crate::faults::point("catalog-commit");
                    d.archive.catalog.commit().map_err(|e| e.to_string())
                });
            if let Err(e) = r {
                // The rows are lost (disk full, failing disk): take their
                // files out again, so nothing unlisted stays in the archive;
                // the next run copies them.
                let _ = d.archive.catalog.rollback();
                let undone = std::mem::take(&mut d.uncommitted);
                for w in &undone {
                    let _ = std::fs::remove_file(d.archive.root.join(&w.path));
                    let (folder, name) = w.path.rsplit_once('/').unwrap_or(("", &w.path));
                    d.archive.planner.release(folder, name);
                    d.archive.by_hash.remove(&w.hash);
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

/// The source record of an item: its listing as read (or as listed again
/// when it changed while read) and its hash.
fn source_record(item: &SourceItem, relisted: Option<Listing>, hash: &str) -> SourceRecord {
    SourceRecord {
        size: relisted.map_or(item.size, |r| r.size),
        mtime_ns: relisted.map_or(item.mtime_ns(), |r| r.mtime_ns),
        hash: hash.to_string(),
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
