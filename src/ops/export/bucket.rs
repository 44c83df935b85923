//! A bucket destination (`--to s3://BUCKET/PREFIX`) through the export.
//!
//! The pipeline stays the one disks use: a bucket is given a local *spool*
//! archive (`~/.cache/camroll/spool/<hash of endpoint, bucket, prefix>/`),
//! into which the item is staged, named (NamePlanner, with the bucket's
//! manifest as the names taken), placed and read back like on any disk.
//! Spooled files are uploaded create-only to `PREFIX/YYYY/MM/<name>` by an
//! uploader thread during the run (`upload_during`), and after the record
//! stage whatever the manifest does not list yet; each spool copy is removed
//! once uploaded, and the run's log, the manifest and `BLAKE3SUMS` written.
//!
//! A run killed at any point leaves spooled files (uploaded by the next
//! run), or objects the manifest does not list yet but the spool catalog
//! does: the next run adopts them after hashing them in the bucket, or
//! forgets them so the item is read again.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::dest::Dest;
use super::summary::{BucketSummary, DestinationSummary, ExportSummary};
use super::ExportError;
use crate::archive::bucket::manifest::{self, Entry, Manifest};
use crate::archive::bucket::{
    Bucket, BucketError, BucketUrl, PutOutcome, UploadMeta, LOG_DIR, MANIFEST_OBJECT,
    SINGLE_PUT_MAX,
};
use crate::archive::catalog::{FileRow, SourceRecord};
use crate::archive::layout::NamePlanner;
use crate::archive::sums::SUMS_FILE;
use crate::ops::Failed;
use crate::progress::Progress;

/// One bucket destination: its client and what it holds (`Core`, lent to
/// the uploader thread during the run), and the index of its spool archive
/// among the run's destinations.
pub(super) struct BucketDest {
    pub index: usize,
    /// `None` while the uploader thread has it (or if that thread died).
    core: Option<Core>,
    uploader: Option<Uploader>,
    spool: PathBuf,
    /// How far into the spool's `written` list the run has looked (see `upload_during`).
    cursor: usize,
    /// Committed spooled files not yet handed to the uploader, with their sizes.
    waiting: Vec<(String, u64)>,
    waiting_bytes: u64,
    /// A mid-run upload hit an error that stops the bucket: the rest waits for `finish`.
    stalled: Arc<AtomicBool>,
}

/// The bucket's client, its manifest and what this run uploaded.
struct Core {
    bucket: Bucket,
    manifest: Manifest,
    /// Run logs read at the start, folded into the manifest at the end.
    logs: Vec<String>,
    /// Objects uploaded or adopted this run: the run's log.
    new_entries: Vec<Entry>,
    spool: PathBuf,
    run_id: String,
    /// The manifest or BLAKE3SUMS object is missing: written even if nothing is new.
    index_missing: bool,
    /// Run-log parts written during the run (`upload_during`).
    parts: usize,
    /// Shared with [`BucketDest::stalled`].
    stalled: Arc<AtomicBool>,
    /// Mid-run failures that `finish` will not meet again (a damaged spool copy, removed).
    failed_during: Vec<Failed>,
    /// Spool catalog changes the uploads call for, made by the thread that
    /// owns the catalog (`apply_fixes`).
    fixes: Vec<Fix>,
}

/// A change to the spool's catalog an upload calls for.
enum Fix {
    /// The file's row goes (its spool copy is gone and the bucket lacks it, or it was damaged).
    Remove(String),
    /// The source items of this hash go, so they are read again.
    Forget(String),
}

/// Spooled files handed to the uploader thread: committed rows and the source records.
struct Batch {
    rows: Vec<FileRow>,
    sources: Sources,
}

type Sources = HashMap<(String, String), SourceRecord>;

/// The thread uploading spooled files during the run, so uploads overlap
/// reading and placing. A rendezvous channel: the placer hands a batch over
/// only when the thread is free, so one batch uploads while the next fills
/// the spool (each under half the bound, see `spool_full`).
struct Uploader {
    tx: crossbeam_channel::Sender<Batch>,
    handle: std::thread::JoinHandle<Core>,
}

/// About how many bytes of committed files a spool holds during the run:
/// batches of half this are handed to the uploader thread, one uploading
/// while the next fills (`CAMROLL_SPOOL_MAX_BYTES` overrides it, for tests).
pub const SPOOL_MAX_BYTES: u64 = 1 << 30;

fn spool_max_bytes() -> u64 {
    std::env::var("CAMROLL_SPOOL_MAX_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(SPOOL_MAX_BYTES)
}

/// Every destination of a run, opened.
pub(super) struct Opened {
    pub dests: Vec<Dest>,
    pub buckets: Vec<BucketDest>,
    /// Buckets that could not be opened while other destinations could.
    pub lost: Vec<DestinationSummary>,
}

/// The bucket address in `path`, if it is one.
pub(super) fn as_bucket(path: &Path) -> Option<&str> {
    path.to_str().filter(|t| BucketUrl::is_bucket_url(t))
}

/// Opens every destination. A bucket that cannot be used (missing, denied,
/// locked) is reported and left out while another destination can go on;
/// alone, it stops the run.
pub(super) fn open_all(
    opts: &super::ExportOptions,
    source_id: &str,
    progress: &dyn Progress,
) -> Result<Opened, ExportError> {
    let (paths, dry_run) = (&opts.destinations, opts.dry_run);
    let mut opened = Opened {
        dests: Vec::new(),
        buckets: Vec::new(),
        lost: Vec::new(),
    };
    let mut first_err = None;
    for path in paths {
        let Some(text) = as_bucket(path) else {
            opened.dests.push(Dest::open(path, source_id, dry_run)?);
            continue;
        };
        match BucketDest::open(text, source_id, opts, opened.dests.len(), progress) {
            Ok((b, d)) => {
                opened.buckets.push(b);
                opened.dests.push(d);
            }
            Err(e) => {
                opened.lost.push(DestinationSummary {
                    path: text.to_string(),
                    error: Some(e.to_string()),
                    ..Default::default()
                });
                first_err.get_or_insert(e);
            }
        }
    }
    match first_err {
        Some(e) if opened.dests.is_empty() => Err(e),
        _ => Ok(opened),
    }
}

/// The spool folder of a bucket: under `$XDG_CACHE_HOME` (else `~/.cache`),
/// named by a hash of endpoint, bucket and prefix, so two buckets never share one.
pub fn spool_dir(bucket: &Bucket) -> PathBuf {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    let id = blake3::hash(
        format!(
            "{}\n{}\n{}",
            bucket.endpoint, bucket.url.bucket, bucket.url.prefix
        )
        .as_bytes(),
    );
    cache
        .join("camroll")
        .join("spool")
        .join(&id.to_hex().as_str()[..16])
}

impl BucketDest {
    fn open(
        text: &str,
        source_id: &str,
        opts: &super::ExportOptions,
        index: usize,
        progress: &dyn Progress,
    ) -> Result<(BucketDest, Dest), ExportError> {
        let dry_run = opts.dry_run;
        let url = BucketUrl::parse(text)?;
        let mut bucket = Bucket::open(&url)?;
        if let Some(days) = opts.object_lock_days {
            bucket.with_object_lock(days)?;
        }
        bucket.check_access()?;
        let run_id = manifest::run_id();
        if !dry_run {
            let holder = serde_json::json!({
                "run": run_id,
                "pid": std::process::id(),
                "host": crate::archive::bucket::host_name(),
                "started": crate::archive::catalog::now_text(),
            });
            bucket.lock(&holder.to_string())?;
        }
        let listed = bucket.list()?;
        let manifest = bucket.read_manifest(&listed)?;
        let index_missing = !listed.iter().any(|l| l.rel == MANIFEST_OBJECT)
            || !listed.iter().any(|l| l.rel == SUMS_FILE);
        let spool = spool_dir(&bucket);
        let mut dest = Dest::open(&spool, source_id, dry_run)?;
        dest.summary.path = url.to_string();
        let stalled = Arc::new(AtomicBool::new(false));
        let mut b = Core {
            bucket,
            manifest,
            logs: listed
                .iter()
                .filter(|l| l.rel.starts_with(LOG_DIR))
                .map(|l| l.rel.clone())
                .collect(),
            new_entries: Vec::new(),
            spool: spool.clone(),
            run_id,
            index_missing,
            parts: 0,
            stalled: Arc::clone(&stalled),
            failed_during: Vec::new(),
            fixes: Vec::new(),
        };
        if !dry_run {
            // What a killed run left: uploaded now, before anything new.
            let mut failed = Vec::new();
            b.upload_pending(&mut dest, &mut failed, progress)?;
            if let Some(f) = failed.first() {
                dest.summary.error = Some(f.error.clone());
            }
        }
        // The bucket is the truth: what is archived, its names, and which
        // source items were read, come from its manifest.
        let a = &mut dest.archive;
        a.by_hash.clear();
        a.planner = NamePlanner::default();
        a.source_items.clear();
        a.set_indexed();
        for l in &listed {
            if !manifest::is_own_object(&l.rel) {
                a.planner.add_listed(&l.rel);
            }
        }
        // Files still waiting in the spool (an upload that failed) keep their
        // names and count as held: the next successful run uploads them.
        let waiting: Vec<_> = a
            .catalog
            .file_rows()
            .unwrap_or_default()
            .into_iter()
            .filter(|r| {
                !b.manifest.entries.contains_key(&r.record.path)
                    && crate::archive::layout::checked_rel_path(&r.record.path).is_ok()
                    && b.spool.join(&r.record.path).is_file()
            })
            .collect();
        let waiting_sources = a.catalog.source_items(source_id).unwrap_or_default();
        for r in &waiting {
            a.by_hash
                .insert(r.record.hash.clone(), r.record.path.clone());
            a.planner.add_listed(&r.record.path);
        }
        for (rel, rec) in waiting_sources {
            if waiting.iter().any(|r| r.record.hash == rec.hash) {
                a.source_items.insert(rel, rec);
            }
        }
        dest.in_bucket = true;
        for e in b.manifest.entries.values() {
            let sidecar = e.role.as_deref() == Some(crate::archive::sidecar::ROLE);
            if sidecar {
                dest.held_sidecars.insert(e.path.clone(), e.blake3.clone());
            }
            let a = &mut dest.archive;
            a.by_hash.insert(e.blake3.clone(), e.path.clone());
            a.planner.add_listed(&e.path);
            // A sidecar's entry names its original's source item (and its
            // size and time): the item's record is the original's, not the sidecar's.
            if e.source == source_id && !sidecar {
                if let (Some(size), Some(mtime_ns)) = (e.source_size, e.source_mtime_ns) {
                    a.source_items.insert(
                        e.source_path.clone(),
                        SourceRecord {
                            size,
                            mtime_ns,
                            hash: e.blake3.clone(),
                        },
                    );
                }
            }
        }
        Ok((
            BucketDest {
                index,
                core: Some(b),
                uploader: None,
                spool,
                cursor: 0,
                waiting: Vec::new(),
                waiting_bytes: 0,
                stalled,
            },
            dest,
        ))
    }

    /// During the placing stage, after each group: notes the files spooled
    /// since the last call and says whether they hold more than half of
    /// [`SPOOL_MAX_BYTES`]. If so the caller commits the catalog and calls
    /// `upload_during`, which hands them to the uploader thread; that one
    /// uploads them, removes their spool copies and writes a run-log part
    /// listing them, while the placer goes on. One batch uploads while the
    /// next fills, so the spool holds about the bound plus one file (and the
    /// staging files in flight), not the whole run.
    ///
    /// A run killed after a part is written loses nothing: the next run folds
    /// the part into the manifest. Killed between an upload and its part, the
    /// next run finds the catalog row without its spool file and adopts the
    /// object after hashing it in the bucket. A file that fails here stays in
    /// the spool and is tried again, and reported, by `finish`.
    ///
    /// Spooled files are not read back from the spool (see `readback`): the
    /// upload streams each through BLAKE3 and completes only if it matches.
    pub(super) fn spool_full(&mut self, dest: &Dest, batched: u64) -> bool {
        if self.stalled.load(Ordering::Relaxed) || dest.run == 0 {
            return false;
        }
        self.cursor = self.cursor.min(dest.written.len());
        for w in &dest.written[self.cursor..] {
            let size = std::fs::metadata(self.spool.join(&w.path)).map_or(0, |m| m.len());
            self.waiting.push((w.path.clone(), size));
            self.waiting_bytes += size;
        }
        self.cursor = dest.written.len();
        self.waiting_bytes + batched > spool_max_bytes() / 2
    }

    /// Hands what `spool_full` noted to the uploader thread (started on the
    /// first call); the caller has committed the catalog, so every row handed
    /// over is durable. Waits while the thread still uploads the last batch.
    pub(super) fn upload_during(&mut self, dest: &Dest) {
        let want: HashSet<String> = self.waiting.drain(..).map(|(p, _)| p).collect();
        self.waiting_bytes = 0;
        let catalog = &dest.archive.catalog;
        let rows: Vec<_> = catalog
            .file_rows()
            .unwrap_or_default()
            .into_iter()
            .filter(|r| want.contains(&r.record.path))
            .collect();
        if rows.is_empty() {
            return;
        }
        let batch = Batch {
            rows,
            sources: sources(catalog),
        };
        if self.uploader.is_none() {
            let Some(core) = self.core.take() else {
                return;
            };
            let (tx, rx) = crossbeam_channel::bounded::<Batch>(0);
            let spawned = std::thread::Builder::new()
                .name("camroll-upload".into())
                .spawn(move || {
                    let mut core = core;
                    for batch in rx {
                        if !core.stalled.load(Ordering::Relaxed) {
                            core.upload_batch(batch);
                        }
                    }
                    core
                });
            match spawned {
                Ok(handle) => self.uploader = Some(Uploader { tx, handle }),
                Err(_) => {
                    // No thread to be had: the files wait for `finish`.
                    self.stalled.store(true, Ordering::Relaxed);
                    return;
                }
            }
        }
        if let Some(u) = &self.uploader {
            if u.tx.send(batch).is_err() {
                self.stalled.store(true, Ordering::Relaxed);
            }
        }
    }

    /// The core, back from the uploader thread once it has uploaded what it
    /// was handed; `None` only if that thread died.
    fn core(&mut self) -> Option<&mut Core> {
        if let Some(u) = self.uploader.take() {
            drop(u.tx);
            if let Ok(core) = u.handle.join() {
                self.core = Some(core);
            }
        }
        self.core.as_mut()
    }

    /// After the record stage: upload what the run spooled, write the index.
    fn finish(
        &mut self,
        dest: &mut Dest,
        summary: &mut ExportSummary,
        dry_run: bool,
        progress: &dyn Progress,
    ) {
        let url = dest.summary.path.clone();
        let Some(core) = self.core() else {
            let error = format!("{url}: the upload thread stopped unexpectedly; what is spooled is uploaded by the next run");
            dest.summary.error.get_or_insert_with(|| error.clone());
            dest.summary.failed += 1;
            summary.failed.push(Failed {
                path: url.clone(),
                error,
                destination: Some(url),
            });
            return;
        };
        core.apply_fixes(dest);
        core.finish(dest, summary, dry_run, progress);
    }
}

impl Drop for BucketDest {
    /// A run that ends early still waits for the uploader thread (its
    /// uploads and run-log part) before the lock object is released.
    fn drop(&mut self) {
        let _ = self.core();
    }
}

/// The spool catalog's source records, by (source, path).
fn sources(catalog: &crate::archive::catalog::Catalog) -> Sources {
    catalog
        .all_source_items()
        .unwrap_or_default()
        .into_iter()
        .map(|(s, p, r)| ((s, p), r))
        .collect()
}

impl Core {
    /// Makes the catalog changes the uploads called for.
    fn apply_fixes(&mut self, dest: &Dest) {
        let catalog = &dest.archive.catalog;
        for f in self.fixes.drain(..) {
            let _ = match f {
                Fix::Remove(path) => catalog.remove_file(&path),
                Fix::Forget(hash) => catalog.forget_source_items_with_hash(&hash),
            };
        }
    }

    /// Uploads every file the spool catalog has and the manifest does not:
    /// create-only; an object already at the name is adopted when its content
    /// hashes the same. A row whose spool file is gone and whose object is not
    /// in the bucket is forgotten, so its item is read again next time. A
    /// sidecar camroll rewrote (its facts changed) replaces its object (see
    /// `replace_sidecar`). Stops at the first error that stops the whole bucket.
    fn upload_pending(
        &mut self,
        dest: &mut Dest,
        failed: &mut Vec<Failed>,
        progress: &dyn Progress,
    ) -> Result<(), BucketError> {
        let rows = dest.archive.catalog.file_rows().unwrap_or_default();
        // A spool copy of what the bucket already holds (same name, same
        // content) is not needed: removed, never left behind.
        for r in &rows {
            let local = self.spool.join(&r.record.path);
            if self
                .manifest
                .entries
                .get(&r.record.path)
                .is_some_and(|e| e.blake3 == r.record.hash)
                && crate::archive::layout::checked_rel_path(&r.record.path).is_ok()
                && local.is_file()
            {
                let _ = std::fs::remove_file(local);
            }
        }
        let pending: Vec<_> = rows.into_iter().filter(|r| self.is_pending(r)).collect();
        if pending.is_empty() {
            return Ok(());
        }
        progress.phase(
            "Uploading",
            pending.len() as u64,
            pending.iter().map(|r| r.record.size).sum(),
        );
        let sources = sources(&dest.archive.catalog);
        let r = self.upload_rows(pending, &sources, failed, Some(progress));
        self.apply_fixes(dest);
        r
    }

    /// Whether the spool catalog's `row` still has to go to the bucket.
    fn is_pending(&self, row: &FileRow) -> bool {
        let path = &row.record.path;
        if crate::archive::layout::checked_rel_path(path).is_err() || manifest::is_own_object(path)
        {
            return false;
        }
        match self.manifest.entries.get(path) {
            None => true,
            // A sidecar rewritten because its facts changed (in the spool, or
            // replaced by a run killed before its manifest).
            Some(e) => {
                e.blake3 != row.record.hash
                    && row.record.role.as_deref() == Some(crate::archive::sidecar::ROLE)
            }
        }
    }

    /// On the uploader thread: uploads a batch `spool_full` noted (those
    /// still pending), then writes a run-log part listing what went up.
    fn upload_batch(&mut self, batch: Batch) {
        let rows: Vec<_> = batch
            .rows
            .into_iter()
            .filter(|r| self.is_pending(r))
            .collect();
        let before = self.new_entries.len();
        // Failures wait in the spool for `finish`, which tries them again and
        // reports them; those whose spool copy is gone are reported as they are.
        let mut failed = Vec::new();
        if self
            .upload_rows(rows, &batch.sources, &mut failed, None)
            .is_err()
        {
            self.stalled.store(true, Ordering::Relaxed);
        }
        let spool = &self.spool;
        self.failed_during
            .extend(failed.into_iter().filter(|f| !spool.join(&f.path).exists()));
        let new = &self.new_entries[before..];
        if new.is_empty() {
            return;
        }
        self.parts += 1;
        let name = format!("{LOG_DIR}/{}.{:06}.jsonl", self.run_id, self.parts);
        let text: String = new.iter().map(manifest::to_line).collect();
        match self.bucket.put_bytes(&name, text.into_bytes(), true) {
            // Folded (deleted) with the others when the run's index is written.
            Ok(_) => self.logs.push(name),
            Err(_) => self.stalled.store(true, Ordering::Relaxed),
        }
        // Crash-matrix hook: a batch uploaded and its log part written.
        crate::faults::point("bucket-spool-batch");
    }

    /// Uploads (or adopts, or forgets) each of `rows`; see `upload_pending`.
    fn upload_rows(
        &mut self,
        rows: Vec<FileRow>,
        sources: &Sources,
        failed: &mut Vec<Failed>,
        progress: Option<&dyn Progress>,
    ) -> Result<(), BucketError> {
        let url = self.bucket.url.to_string();
        let mut sent = self.put_small_new_files(&rows);
        for (k, row) in rows.into_iter().enumerate() {
            if let Some(p) = progress {
                p.advance(1, row.record.size);
            }
            let path = &row.record.path;
            let local = self.spool.join(path);
            let hash = &row.record.hash;
            let meta = UploadMeta::of(&row.record);
            if let Some(old) = self.manifest.entries.get(path) {
                let old = old.blake3.clone();
                if !local.exists() {
                    // A run killed after replacing the object, before its
                    // manifest: adopted if the object is the new sidecar; else
                    // the row goes, so the sidecars stage writes it again.
                    let head = self.bucket.head(path)?;
                    if head.and_then(|h| h.blake3).as_deref() == Some(hash.as_str()) {
                        self.adopt(&row, sources, &local);
                    } else {
                        self.fixes.push(Fix::Remove(path.clone()));
                    }
                    continue;
                }
                match self.replace_sidecar(path, &local, &meta, &old) {
                    Ok(()) => {}
                    Err(e) if e.is_fatal() => return Err(e),
                    Err(e) => {
                        failed.push(Failed {
                            path: path.clone(),
                            error: format!(
                                "{url}/{path}: the sidecar's facts changed but the object was not replaced ({e}); the new sidecar stays in {} and is tried again next run",
                                local.display()
                            ),
                            destination: Some(url.clone()),
                        });
                        continue;
                    }
                }
                self.adopt(&row, sources, &local);
                continue;
            }
            let adopt = if local.exists() {
                let put = match sent.remove(&k) {
                    Some(put) => put,
                    None => self.bucket.put_file(path, &local, &meta),
                };
                match put {
                    Ok(PutOutcome::Created) => true,
                    Ok(PutOutcome::Exists) => self
                        .bucket
                        .hash_object(path)?
                        .is_some_and(|d| &d.hash == hash),
                    Err(e) if e.is_fatal() => return Err(e),
                    Err(e) => {
                        let error = match crate::hash::hash_file(&local, true) {
                            // The upload is the spool copy's read back: a
                            // damaged copy is removed with its records, as a
                            // disk's would be, so the next run reads the item again.
                            Ok(d) if &d.hash != hash => {
                                let _ = std::fs::remove_file(&local);
                                self.fixes.push(Fix::Remove(path.clone()));
                                self.fixes.push(Fix::Forget(hash.clone()));
                                format!(
                                    "the spool copy {} read back with hash {}, expected {hash}: not uploaded, removed; run again to copy it again",
                                    local.display(),
                                    d.hash
                                )
                            }
                            _ => e.to_string(),
                        };
                        failed.push(Failed {
                            path: path.clone(),
                            error,
                            destination: Some(url.clone()),
                        });
                        continue;
                    }
                }
            } else {
                self.bucket
                    .hash_object(path)?
                    .is_some_and(|d| &d.hash == hash)
            };
            if adopt {
                self.adopt(&row, sources, &local);
            } else if local.exists() {
                failed.push(Failed {
                    path: path.clone(),
                    error: format!(
                        "{url}/{path}: another object already has this name; the copy stays in {} and is not uploaded. Run `camroll verify {url}`",
                        local.display()
                    ),
                    destination: Some(url.clone()),
                });
            } else {
                self.fixes.push(Fix::Remove(path.clone()));
                self.fixes.push(Fix::Forget(hash.clone()));
            }
        }
        Ok(())
    }

    /// Puts the new small files among `rows` (not in the manifest, a single
    /// PUT each, spool copy present) [`PARALLEL_PUTS`] at a time, and returns
    /// each one's outcome by its index in `rows`, for `upload_rows` to act on
    /// in order. One request at a time left the connection idle while the
    /// server stored each object: 3,000 photos took 1.2× `aws s3 cp`, which
    /// sends ten at a time. Large files stay one at a time (their parts are
    /// already sent 4 at a time), so memory stays bounded by
    /// `PARALLEL_PUTS` × [`SINGLE_PUT_MAX`].
    fn put_small_new_files(
        &self,
        rows: &[FileRow],
    ) -> HashMap<usize, Result<PutOutcome, BucketError>> {
        let todo: Vec<usize> = rows
            .iter()
            .enumerate()
            .filter(|(_, r)| {
                r.record.size <= SINGLE_PUT_MAX
                    && !self.manifest.entries.contains_key(&r.record.path)
            })
            .map(|(k, _)| k)
            .collect();
        if todo.len() < 2 {
            return HashMap::new();
        }
        let next = std::sync::atomic::AtomicUsize::new(0);
        let done = std::sync::Mutex::new(HashMap::new());
        std::thread::scope(|scope| {
            for _ in 0..PARALLEL_PUTS.min(todo.len()) {
                scope.spawn(|| {
                    while let Some(&k) = todo.get(next.fetch_add(1, Ordering::Relaxed)) {
                        let row = &rows[k];
                        let local = self.spool.join(&row.record.path);
                        if !local.exists() {
                            continue;
                        }
                        let put = self.bucket.put_file(
                            &row.record.path,
                            &local,
                            &UploadMeta::of(&row.record),
                        );
                        let fatal = matches!(&put, Err(e) if e.is_fatal());
                        done.lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .insert(k, put);
                        if fatal {
                            // The whole bucket stops: the others stop asking.
                            next.store(todo.len(), Ordering::Relaxed);
                        }
                    }
                });
            }
        });
        done.into_inner().unwrap_or_else(|e| e.into_inner())
    }

    /// `row` is in the bucket: listed in the manifest and the run's log, its spool copy removed.
    fn adopt(&mut self, row: &FileRow, sources: &Sources, local: &Path) {
        let src = sources.get(&(row.record.source.clone(), row.record.source_path.clone()));
        let e = Entry::from_row(row, src, &self.run_id);
        self.manifest
            .entries
            .insert(row.record.path.clone(), e.clone());
        self.new_entries.push(e);
        let _ = std::fs::remove_file(local);
    }

    /// Puts a rewritten sidecar over its object. Objects are never replaced,
    /// except camroll's own derived files: a sidecar is one (disks replace it
    /// too). The PUT is conditional on the object's ETag (`If-Match`) and done
    /// only when the object still carries the hash camroll wrote
    /// (`old_hash`), so nobody else's object is ever written over; a missing
    /// object is created.
    fn replace_sidecar(
        &self,
        path: &str,
        local: &Path,
        meta: &UploadMeta,
        old_hash: &str,
    ) -> Result<(), BucketError> {
        match self.bucket.head(path)? {
            None => match self.bucket.put_file(path, local, meta)? {
                PutOutcome::Created => Ok(()),
                PutOutcome::Exists => Err(self.not_ours(path)),
            },
            Some(h) if h.blake3.as_deref() == Some(old_hash) => {
                self.bucket.replace_file(path, local, meta, h.e_tag)
            }
            Some(_) => Err(self.not_ours(path)),
        }
    }

    fn not_ours(&self, path: &str) -> BucketError {
        BucketError::Request {
            url: self.bucket.url.to_string(),
            what: format!("replacing {path}"),
            message: format!(
                "the object is not the sidecar camroll wrote: left alone. Run `camroll verify {}`",
                self.bucket.url
            ),
        }
    }

    /// Writes the run log, the compacted manifest and `BLAKE3SUMS`, and
    /// folds the logs read at the start.
    fn write_index(&mut self) -> Result<(), BucketError> {
        if self.new_entries.is_empty() && !self.index_missing && self.logs.is_empty() {
            return Ok(());
        }
        self.bucket
            .commit_run(&self.manifest, &self.new_entries, &self.logs, &self.run_id)?;
        self.logs.clear();
        Ok(())
    }

    /// After the record stage: upload what the run spooled, write the index.
    fn finish(
        &mut self,
        dest: &mut Dest,
        summary: &mut ExportSummary,
        dry_run: bool,
        progress: &dyn Progress,
    ) {
        // The spool is a local folder: when its disk fills, say which and what to do.
        if let Some(e) = &dest.summary.error {
            if e.contains("os error 28") || e.contains("os error 122") {
                dest.summary.error = Some(format!(
                    "the spool folder {} is full ({e}): free space there or set XDG_CACHE_HOME to a folder on a disk with room, then run again; what was spooled is uploaded now, the rest next run",
                    self.spool.display()
                ));
            }
        }
        if !dry_run {
            let mut failed = std::mem::take(&mut self.failed_during);
            let r = self
                .upload_pending(dest, &mut failed, progress)
                .and_then(|()| self.write_index());
            if let Err(e) = r {
                failed.push(Failed {
                    path: self.bucket.url.to_string(),
                    error: e.to_string(),
                    destination: Some(self.bucket.url.to_string()),
                });
            }
            if let Some(f) = failed.first() {
                dest.summary.error.get_or_insert_with(|| f.error.clone());
            }
            dest.summary.failed += failed.len() as u64;
            summary.failed.extend(failed);
        }
        // Damaged manifest lines were not acted on: say so (verify lists them too).
        for p in &self.manifest.problems {
            summary.warnings.push(crate::ops::Warning {
                path: self.bucket.url.to_string(),
                warning: format!(
                    "manifest line ignored: {p}. Run `camroll verify {}`",
                    self.bucket.url
                ),
            });
        }
        dest.summary.bucket = Some(BucketSummary {
            uploaded: self.new_entries.len() as u64,
            bytes_uploaded: self.bucket.bytes_uploaded(),
            requests: self.bucket.requests(),
        });
    }
}

/// New small files uploaded at once (see `Core::put_small_new_files`).
const PARALLEL_PUTS: usize = 4;

/// After the record stage, for every bucket destination.
pub(super) fn finish_all(
    buckets: &mut [BucketDest],
    dests: &mut [Dest],
    summary: &mut ExportSummary,
    dry_run: bool,
    progress: &dyn Progress,
) {
    for b in buckets.iter_mut() {
        if let Some(d) = dests.get_mut(b.index) {
            b.finish(d, summary, dry_run, progress);
        }
    }
}
