//! Stage 4, **ingest** (in parallel, a group at a time): read a source item
//! exactly once, streaming it through BLAKE3 while writing a staging file in
//! every destination that needs it. The first bytes decide whether it is
//! media at all. Its capture time is read from the staged copy; the staging
//! file gets the capture time as mtime. A large file is fsynced here, as it
//! finishes, so it can be placed and read back at once; small files are made
//! durable later, a batch at a time, by the place stage. Memory stays bounded
//! (one buffer per worker) whatever the file size.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::sync::{Condvar, Mutex};

use thiserror::Error;

use crate::hash;
use crate::media::{self, CaptureTime, DateOptions, Kind, Role};
use crate::progress::Progress;
use crate::source::{Source, SourceItem};

/// One destination's staging file of an item (to be written, or written).
pub struct StagedFile {
    /// Index of the destination.
    pub dest: usize,
    /// The staging file.
    pub path: PathBuf,
    /// The destination's staging folder, opened once per run beneath the
    /// archive root without following links: files are created, reopened
    /// and removed through it (one `openat` each, where a contained walk
    /// from the root would cost four), and a folder swapped for a link
    /// later in the run is never written through. `None`: by contained path.
    pub dir: Option<Arc<File>>,
    /// Read a large file back from the disk while it is written (see
    /// [`Follower`]), so its read-back is done when its transfer is.
    pub follow: bool,
    /// Set by [`stream_item`]: the file was read back from the disk as it
    /// was written and matched the source stream's hash.
    pub verified: bool,
}

impl StagedFile {
    fn name(&self) -> &str {
        self.path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
    }

    /// Creates the file, exclusively, never through a link.
    fn create(&self) -> std::io::Result<File> {
        match &self.dir {
            Some(d) => crate::archive::contain::create_new_in(d, self.name(), &self.path),
            None => crate::archive::staging::create_staged(&self.path),
        }
    }

    /// Opens the file for writing (mtime, fsync), never through a link.
    fn open_write(&self) -> std::io::Result<File> {
        match &self.dir {
            Some(d) => crate::archive::contain::open_existing_in(d, self.name(), &self.path),
            None => crate::archive::staging::open_staged(&self.path),
        }
    }

    /// Removes the file (a link in its place itself, never its target).
    pub fn remove(&self) {
        let _ = match &self.dir {
            Some(d) => crate::archive::contain::remove_in(d, self.name().as_ref()),
            None => std::fs::remove_file(&self.path),
        };
    }
}

/// An item read and staged.
pub struct Staged {
    /// BLAKE3 of the content read, 64 lower-case hex digits.
    pub hash: String,
    /// Bytes read.
    pub size: u64,
    /// The kind sniffed from the first bytes.
    pub kind: Kind,
    /// The staging file of every destination written.
    pub files: Vec<StagedFile>,
    /// Destinations whose staging write failed: (index, error).
    pub dest_errors: Vec<(usize, io::Error)>,
    /// The content was not recognised as a photo or video, but the name (or
    /// the phone's library) says it is one: archived bit-exact as is, with a
    /// warning, never left behind.
    pub unrecognised: bool,
    /// The staging files are already durable (a large file, fsynced as it
    /// finished); otherwise the place stage makes them durable with its batch.
    pub durable: bool,
}

/// Files of at least this size are fsynced on their own as they finish, so
/// they can be placed and read back at once; a flush per file costs little
/// next to their transfer. Smaller ones wait for their batch's one flush.
pub const DURABLE_ALONE: u64 = 8 << 20;

/// How far a large file's writer gets ahead of its follower before telling
/// it to read back (the follower flushes and reads whole steps).
const FOLLOW_STEP: u64 = 8 << 20;

/// Reads a large staging file back from the disk while it is still being
/// written, a step behind the writer: each step is written out to the disk
/// (`sync_file_range`, waiting for it), its cached pages dropped, then read
/// again and hashed. When the transfer ends only the last step is left, so
/// the flush and the read-back of a large file overlap its own transfer
/// (and the next files') instead of following it. The final `fsync` (for
/// the metadata) still comes from `finish_item`.
struct Follower {
    file: File,
    /// Bytes read back so far (page-aligned until the end).
    done: u64,
    hasher: blake3::Hasher,
}

impl Follower {
    /// A follower on a second handle of the staging file being written
    /// (opened for reading too). Linux only: elsewhere, or when the handle
    /// cannot be had, the file is read back after placing as before.
    fn new(writer: &File) -> io::Result<Follower> {
        if !cfg!(target_os = "linux") {
            return Err(io::Error::from(io::ErrorKind::Unsupported));
        }
        Ok(Follower {
            file: writer.try_clone()?,
            done: 0,
            hasher: blake3::Hasher::new(),
        })
    }

    /// Follows the writer's progress (bytes written; `u64::MAX` = the file
    /// is whole) and returns the hash of what it read back, or `None` when
    /// it stopped (the writer gave up, or the disk would not say).
    ///
    /// Everything written is sent to the disk at once without waiting
    /// (`SYNC_FILE_RANGE_WRITE`), and what was told a step earlier is then
    /// waited for and read back: the disk always has a step or more queued.
    /// Flushing and waiting 8 MiB at a time, as before, left it idle between
    /// steps (issue 13: the 400 MiB movie at 1.26× the fair copy).
    fn run(mut self, progress: crossbeam_channel::Receiver<u64>) -> Option<String> {
        let mut buf = vec![0u8; hash::CHUNK];
        let (mut started, mut told) = (0u64, 0u64);
        while let Ok(mut upto) = progress.recv() {
            // A follower behind its writer takes the newest progress at once.
            while upto != u64::MAX {
                match progress.try_recv() {
                    Ok(n) => upto = n,
                    Err(_) => break,
                }
            }
            let whole = upto == u64::MAX;
            // Whole pages only until the end, so every byte read was dropped
            // from the cache first and comes from the disk.
            let end = if whole {
                self.file.metadata().ok()?.len()
            } else {
                upto & !(PAGE_ALIGN - 1)
            };
            if end > started {
                start_writeback(&self.file, started, end - started);
                started = end;
            }
            self.read_back(if whole { end } else { told }, &mut buf)
                .ok()?;
            told = end;
            if whole {
                return Some(self.hasher.finalize().to_hex().to_string());
            }
        }
        // Closed without the end: the writer failed; nothing to say.
        None
    }

    /// Flushes `[done, end)` to the disk, drops it from the cache, and reads it back.
    fn read_back(&mut self, end: u64, buf: &mut [u8]) -> io::Result<()> {
        use std::os::unix::fs::FileExt;
        if end <= self.done {
            return Ok(());
        }
        flush_range(&self.file, self.done, end - self.done)?;
        let mut asked = self.done;
        while self.done < end {
            // The disk is asked for the next window or two at once (they
            // come from the disk, their cached pages just dropped), not in
            // readahead-sized pieces as the reads below come.
            if asked < (self.done + READ_WINDOW).min(end) {
                let upto = (self.done + 2 * READ_WINDOW).min(end);
                read_ahead(&self.file, asked, upto - asked);
                asked = upto;
            }
            let want = ((end - self.done) as usize).min(buf.len());
            let n = self.file.read_at(&mut buf[..want], self.done)?;
            if n == 0 {
                return Err(io::Error::from(io::ErrorKind::UnexpectedEof));
            }
            self.hasher.update(&buf[..n]);
            self.done += n as u64;
        }
        Ok(())
    }
}

/// How much of a large file's read-back is asked of the disk at a time.
const READ_WINDOW: u64 = 16 << 20;

/// Alignment of the follower's steps: a multiple of every page size Linux uses
/// for file data on the machines camroll runs on.
const PAGE_ALIGN: u64 = 64 << 10;

/// Writes `[off, off + len)` of `f` out to the disk and waits for it, then
/// drops those (now clean) pages from the cache so a read comes from the disk.
#[cfg(target_os = "linux")]
fn flush_range(f: &File, off: u64, len: u64) -> io::Result<()> {
    use std::os::unix::io::AsRawFd;
    let fd = f.as_raw_fd();
    // SAFETY: plain system calls on a valid descriptor with in-range offsets.
    let r = unsafe {
        libc::sync_file_range(
            fd,
            off as libc::off64_t,
            len as libc::off64_t,
            libc::SYNC_FILE_RANGE_WAIT_BEFORE
                | libc::SYNC_FILE_RANGE_WRITE
                | libc::SYNC_FILE_RANGE_WAIT_AFTER,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    fadvise(f, off, len, libc::POSIX_FADV_DONTNEED)
}

/// `posix_fadvise` on `[off, off + len)` of `f`.
#[cfg(target_os = "linux")]
fn fadvise(f: &File, off: u64, len: u64, advice: libc::c_int) -> io::Result<()> {
    use std::os::unix::io::AsRawFd;
    // SAFETY: advisory call on a valid descriptor.
    let r = unsafe {
        libc::posix_fadvise(
            f.as_raw_fd(),
            off as libc::off_t,
            len as libc::off_t,
            advice,
        )
    };
    if r != 0 {
        return Err(io::Error::from_raw_os_error(r));
    }
    Ok(())
}

/// Starts writing `[off, off + len)` of `f` out to the disk without waiting
/// for it (advisory: an error here shows again in [`flush_range`]).
#[cfg(target_os = "linux")]
fn start_writeback(f: &File, off: u64, len: u64) {
    use std::os::unix::io::AsRawFd;
    // SAFETY: plain system call on a valid descriptor with in-range offsets.
    unsafe {
        libc::sync_file_range(
            f.as_raw_fd(),
            off as libc::off64_t,
            len as libc::off64_t,
            libc::SYNC_FILE_RANGE_WRITE,
        );
    }
}

/// Asks the disk for `[off, off + len)` of `f` now (advisory).
#[cfg(target_os = "linux")]
fn read_ahead(f: &File, off: u64, len: u64) {
    let _ = fadvise(f, off, len, libc::POSIX_FADV_WILLNEED);
}

#[cfg(not(target_os = "linux"))]
fn start_writeback(_f: &File, _off: u64, _len: u64) {}

#[cfg(not(target_os = "linux"))]
fn read_ahead(_f: &File, _off: u64, _len: u64) {}

#[cfg(not(target_os = "linux"))]
fn flush_range(_f: &File, _off: u64, _len: u64) -> io::Result<()> {
    Err(io::Error::from(io::ErrorKind::Unsupported))
}

/// Why one source item could not be read and staged; the run goes on with the others.
#[derive(Debug, Error)]
pub enum IngestError {
    /// The content is not a photo or video camroll recognises, neither is
    /// its name, and no library lists it as an original.
    #[error(
        "not a photo or video (content not recognised, and its name is not a photo's or video's)"
    )]
    NotMedia,
    /// Known junk (`.DS_Store`, `Thumbs.db`, …), left behind on purpose.
    #[error("known junk, left behind on purpose: {0}")]
    Junk(&'static str),
    /// The file has 0 bytes.
    #[error("empty file (0 bytes): nothing to archive. If it should be a photo, copy it from the phone again")]
    Empty,
    /// Reading from the source failed.
    #[error("read error: {0}. The other files go on; run again to retry this one")]
    Read(io::Error),
    /// The source refused to open the item for a reason that may pass (the
    /// phone refuses files with extra hard links): tried again at the end of the run.
    #[error("{0}")]
    Refused(String),
    /// The size read differs from the size listed, and the listing changed too.
    #[error("changed while being read (listed as {listed} bytes, read {read}). Run again when nothing is writing to the source")]
    Changed {
        /// Size listed, in bytes.
        listed: u64,
        /// Bytes actually read.
        read: u64,
    },
    /// Two reads gave different content.
    #[error("kept changing while being read (read twice, different each time): not archived this run. Run again when nothing is writing to it")]
    StillChanging,
    /// The source sent a different number of bytes than it lists, though the listing did not change.
    #[error("{from} lists this file as {listed} bytes but sent {read} (its listing did not change): not archived. Run again; if it persists, the file may be damaged where it is stored")]
    SizeMismatch {
        /// Who listed the size (e.g. `the phone`).
        from: &'static str,
        /// Size listed, in bytes.
        listed: u64,
        /// Bytes actually read.
        read: u64,
    },
    /// Every destination's staging write failed.
    #[error("could not be written to any destination")]
    NoDestination,
}

impl IngestError {
    /// Skipped (not media) rather than failed.
    pub fn is_skip(&self) -> bool {
        matches!(self, IngestError::NotMedia | IngestError::Junk(_))
    }
}

/// Streams `item` from `source` into `targets` (none for a dry run: hash only).
pub fn stream_item(
    source: &dyn Source,
    item: &SourceItem,
    targets: Vec<StagedFile>,
    buf: &mut Vec<u8>,
) -> Result<Staged, IngestError> {
    let mut reader = source.open(item).map_err(|e| match e {
        crate::source::SourceError::Refused { message, .. } => IngestError::Refused(message),
        e => IngestError::Read(io::Error::other(e.to_string())),
    })?;
    // Fill enough for the sniff before anything is written.
    let filled = hash::fill(&mut reader, buf, media::SNIFF_LEN).map_err(IngestError::Read)?;
    if filled == 0 {
        return Err(IngestError::Empty);
    }
    let ext = item.name.rsplit_once('.').map(|(_, e)| e);
    let sniffed = media::sniff(&buf[..filled.min(media::SNIFF_LEN.max(filled))], ext);
    // Content camroll cannot parse (damaged, or a format it does not know)
    // under a photo's or video's name is archived as is: never left behind.
    let unrecognised = sniffed.is_none();
    let kind = match sniffed
        .or_else(|| ext.and_then(media::kind::kind_by_extension))
        .or_else(|| item.listed_kind())
    {
        Some(k) => k,
        None => {
            return Err(match crate::source::known_junk(&item.name) {
                Some(why) => IngestError::Junk(why),
                None => IngestError::NotMedia,
            })
        }
    };

    let want = !targets.is_empty();
    let mut files: Vec<(StagedFile, Option<File>)> = Vec::new();
    let mut dest_errors = Vec::new();
    for t in targets {
        // Exclusive, beneath the archive root, never through a link: a name
        // planted in staging, or a staging folder swapped for a link, is
        // never written through.
        match t.create() {
            Ok(f) => files.push((t, Some(f))),
            Err(e) => dest_errors.push((t.dest, e)),
        }
    }
    let cleanup = |files: &[(StagedFile, Option<File>)]| {
        for (t, _) in files {
            t.remove();
        }
    };
    // Large files are read back as they are written, one follower thread
    // each; small ones after placing (see `readback`).
    let followers: Vec<Option<Follower>> = files
        .iter()
        .map(|(t, f)| {
            f.as_ref()
                .filter(|_| t.follow && item.size >= DURABLE_ALONE)
                .and_then(|f| Follower::new(f).ok())
        })
        .collect();
    let (streamed, verdicts) = std::thread::scope(|scope| {
        let mut progress: Vec<Option<crossbeam_channel::Sender<u64>>> = Vec::new();
        let mut handles = Vec::new();
        for f in followers {
            match f {
                Some(f) => {
                    let (tx, rx) = crossbeam_channel::unbounded::<u64>();
                    progress.push(Some(tx));
                    handles.push(Some(scope.spawn(move || f.run(rx))));
                }
                None => {
                    progress.push(None);
                    handles.push(None);
                }
            }
        }
        let mut written = 0u64;
        let mut told = 0u64;
        let streamed = hash::stream(&mut reader, buf, filled, |chunk| {
            for (k, (t, file)) in files.iter_mut().enumerate() {
                if let Some(f) = file {
                    if let Err(e) = f.write_all(chunk) {
                        *file = None;
                        t.remove();
                        dest_errors.push((t.dest, e));
                        // Its follower stops at the next read error.
                        progress[k] = None;
                    } else {
                        // Crash-matrix hook (`CAMROLL_FAULT_KILL_AT`): a partly staged file.
                        crate::faults::point("stage-write");
                    }
                }
            }
            written += chunk.len() as u64;
            if written - told >= FOLLOW_STEP {
                told = written;
                for tx in progress.iter().flatten() {
                    let _ = tx.send(written);
                }
            }
            if want && files.iter().all(|(_, f)| f.is_none()) {
                return Err(IngestError::NoDestination);
            }
            Ok(())
        });
        // The end: each follower reads back the tail, then says what it read.
        let ok = streamed.as_ref().is_ok_and(|d| d.size == item.size);
        for tx in progress.iter_mut() {
            if let Some(tx) = tx.take() {
                if ok {
                    let _ = tx.send(u64::MAX);
                }
            }
        }
        let verdicts: Vec<Option<String>> = handles
            .into_iter()
            .map(|h| h.and_then(|h| h.join().ok().flatten()))
            .collect();
        (streamed, verdicts)
    });
    let digest = match streamed {
        Ok(d) => d,
        Err(e) => {
            cleanup(&files);
            return Err(match e {
                hash::StreamError::Read(e) => IngestError::Read(e),
                hash::StreamError::Sink(e) => e,
            });
        }
    };
    if digest.size != item.size {
        cleanup(&files);
        return Err(IngestError::Changed {
            listed: item.size,
            read: digest.size,
        });
    }
    let files = files
        .into_iter()
        .zip(verdicts)
        .filter_map(|((mut t, f), v)| {
            // A follower that read other bytes, or could not read, leaves
            // the file to the read-back after placing, which decides.
            t.verified = v.as_deref() == Some(digest.hash.as_str());
            f.map(|_| t)
        })
        .collect();
    Ok(Staged {
        hash: digest.hash,
        size: digest.size,
        kind,
        files,
        dest_errors,
        unrecognised,
        durable: false,
    })
}

/// Large files read while the source was still being listed (see
/// `export`): by path, the read's outcome, or `None` while it is under way.
/// Ingest takes an item's read from here instead of reading it again.
#[derive(Default)]
pub(super) struct Prefetched {
    slots: Mutex<HashMap<String, Option<PrefetchedRead>>>,
    ready: Condvar,
}

/// One read done early: the item as listed then, and the outcome.
struct PrefetchedRead {
    item: SourceItem,
    read: Result<Staged, IngestError>,
}

impl Prefetched {
    /// Notes that `item` is being read early (before handing the read out).
    pub fn announce(&self, item: &SourceItem) {
        self.lock().insert(item.rel_path.clone(), None);
    }

    /// Reads `item` into `targets` (one prefetch worker's loop body).
    pub fn read(
        &self,
        source: &dyn Source,
        item: SourceItem,
        targets: Vec<StagedFile>,
        buf: &mut Vec<u8>,
    ) {
        let read = stream_item(source, &item, targets, buf);
        self.lock()
            .insert(item.rel_path.clone(), Some(PrefetchedRead { item, read }));
        self.ready.notify_all();
    }

    /// The early read of `item` for the destinations `needs`, waiting for
    /// it if it is under way; `None` when there is none, or when it does
    /// not fit (listed otherwise now, other destinations, or it failed:
    /// then the item is read as any other, and the failure told then).
    fn take(&self, item: &SourceItem, needs: &[usize]) -> Option<Staged> {
        let mut slots = self.lock();
        if !slots.contains_key(&item.rel_path) {
            return None;
        }
        let done = loop {
            match slots.get_mut(&item.rel_path).map(Option::take) {
                Some(Some(done)) => break done,
                Some(None) => {
                    slots = self.ready.wait(slots).unwrap_or_else(|e| e.into_inner());
                }
                None => return None,
            }
        };
        slots.remove(&item.rel_path);
        drop(slots);
        let staged = done.read.ok()?;
        let dests: Vec<usize> = staged.files.iter().map(|f| f.dest).collect();
        if done.item.size != item.size
            || done.item.mtime_ns() != item.mtime_ns()
            || dests != needs
            || !staged.dest_errors.is_empty()
        {
            drop_files(&staged);
            return None;
        }
        Some(staged)
    }

    /// Removes the staging files of early reads nobody took (items the scan
    /// left out after all, or a run that stopped early).
    pub fn discard_rest(&self) {
        for (_, slot) in self.lock().drain() {
            if let Some(PrefetchedRead { read: Ok(s), .. }) = slot {
                drop_files(&s);
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Option<PrefetchedRead>>> {
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// An item's outcome after ingest, before placing.
pub(super) enum Ingested {
    /// Every destination already had it recorded: not read.
    Known,
    Staged {
        staged: Staged,
        capture: CaptureTime,
        problems: Vec<String>,
        /// Apple's ContentIdentifier, when the file carries one (Live Photo pairing).
        content_id: Option<String>,
        /// How the source lists it now, when it changed while being read.
        relisted: Option<Listing>,
    },
    Skipped(String),
    Failed(String),
}

/// One member of a group after ingest.
pub(super) struct MemberResult {
    /// Index of the item in the scan.
    pub item: usize,
    /// Its role in the group (a movie whose ContentIdentifier differs from
    /// its still's is made a primary of its own here).
    pub role: Role,
    pub outcome: Ingested,
}

/// A group after ingest, numbered in placing order.
pub(super) struct IngestedGroup {
    /// Position of the group in the work order.
    pub seq: usize,
    pub members: Vec<MemberResult>,
}

/// An item's size and mtime as the source lists it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Listing {
    pub size: u64,
    pub mtime_ns: i64,
}

/// The source refused an item for a reason that may pass (why, naming it).
pub(super) struct Refusal(String);

/// What a group's primary (its still) told ingest about the group.
#[derive(Debug, Clone)]
struct PrimaryInfo {
    capture: CaptureTime,
    content_id: Option<String>,
}

/// What ingest workers share.
pub(super) struct IngestCtx<'a> {
    pub source: &'a dyn Source,
    pub items: &'a [SourceItem],
    /// Per item, the destinations that still need it.
    pub needs: &'a [Vec<usize>],
    pub staging_dirs: Vec<PathBuf>,
    /// Each destination's staging folder, opened once (see [`StagedFile::dir`]).
    pub staging_handles: Vec<Option<Arc<File>>>,
    /// Large files read while the source was being listed.
    pub prefetched: Option<&'a Prefetched>,
    /// Per destination: large files are read back as they are written
    /// (verify on, and not a bucket's spool, which its upload checks).
    pub follow: Vec<bool>,
    /// Numbers staging files uniquely within the run.
    pub seq: AtomicU64,
    /// Destinations still taking writes (cleared on a full or failing disk).
    pub alive: Vec<AtomicBool>,
    pub dry_run: bool,
    pub date_opts: DateOptions,
    pub progress: &'a dyn Progress,
    /// Groups (by position in the work order) with a member the source refused
    /// for a reason that may pass: read again once every other group is done.
    pub deferred: Mutex<Vec<usize>>,
    /// Set for that last try: a refusal then fails the item.
    pub last_try: AtomicBool,
}

impl IngestCtx<'_> {
    /// Reads every member of a group that some destination needs, primary
    /// first. A group with a member the source refused for a reason that may
    /// pass (hard links on the phone) is put aside whole, its staged files
    /// dropped, and nothing is returned: [`IngestCtx::retry_deferred`] reads it
    /// again at the end of the run, so a Live Photo stays together.
    pub fn ingest_group(
        &self,
        seq: usize,
        group: &media::Group,
        buf: &mut Vec<u8>,
    ) -> Vec<MemberResult> {
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
                    } => Some(PrimaryInfo {
                        capture: *capture,
                        content_id: content_id.clone(),
                    }),
                    _ => None,
                });
                let o = match self.ingest_item(item, &needs, role, primary, buf) {
                    Ok(o) => o,
                    Err(Refusal(why)) if !self.last_try.load(Ordering::Relaxed) => {
                        self.defer(seq, &item.rel_path, &why, &out);
                        return Vec::new();
                    }
                    Err(Refusal(why)) => Ingested::Failed(format!(
                        "{why} (tried again at the end of the run, still refused)"
                    )),
                };
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

    /// Puts a group aside for the end of the run, says so, and drops what
    /// was staged of its members already read.
    fn defer(&self, seq: usize, path: &str, why: &str, read: &[MemberResult]) {
        for m in read {
            if let Ingested::Staged { staged, .. } = &m.outcome {
                drop_files(staged);
            }
        }
        eprintln!(
            "camroll: {path}: {why}. camroll tries it once more when everything else is done."
        );
        self.deferred
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(seq);
    }

    /// The groups put aside during the run, in work order, read once more
    /// (after the last try is set, a refusal fails its item). `send` gets
    /// each group's members with its position among the deferred ones.
    pub fn retry_deferred(
        &self,
        work: &[&media::Group],
        buf: &mut Vec<u8>,
        mut send: impl FnMut(usize, Vec<MemberResult>),
    ) {
        let mut deferred =
            std::mem::take(&mut *self.deferred.lock().unwrap_or_else(|e| e.into_inner()));
        if deferred.is_empty() {
            return;
        }
        deferred.sort_unstable();
        self.last_try.store(true, Ordering::Relaxed);
        for (k, seq) in deferred.into_iter().enumerate() {
            if let Some(group) = work.get(seq) {
                send(k, self.ingest_group(seq, group, buf));
            }
        }
    }

    fn ingest_item(
        &self,
        item: &SourceItem,
        needs: &[usize],
        role: Role,
        primary: Option<PrimaryInfo>,
        buf: &mut Vec<u8>,
    ) -> Result<Ingested, Refusal> {
        let staged = match self.stream_retrying(item, needs, buf) {
            Ok((s, None)) => s,
            Ok((s, Some(fresh))) => {
                // Read again after it changed: record what was read, as listed now.
                let r = self.finish_item(s, &fresh, role, primary);
                return Ok(match r {
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
                        relisted: Some(Listing {
                            size: fresh.size,
                            mtime_ns: fresh.mtime_ns(),
                        }),
                    },
                    other => other,
                });
            }
            Err(IngestError::Refused(why)) => return Err(Refusal(why)),
            Err(e) if e.is_skip() => return Ok(Ingested::Skipped(e.to_string())),
            Err(IngestError::NoDestination) => {
                return Ok(Ingested::Failed(IngestError::NoDestination.to_string()))
            }
            Err(e) => return Ok(Ingested::Failed(e.to_string())),
        };
        Ok(self.finish_item(staged, item, role, primary))
    }

    /// Staging paths for one read of an item (none for a dry run).
    fn targets(&self, needs: &[usize]) -> Vec<StagedFile> {
        if self.dry_run {
            return Vec::new();
        }
        staging_targets(
            needs,
            &self.staging_dirs,
            &self.staging_handles,
            &self.follow,
            &self.seq,
        )
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
        let first = match self.prefetched.and_then(|p| p.take(item, needs)) {
            Some(staged) => Ok(staged),
            None => stream_item(self.source, item, self.targets(needs), buf),
        };
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
        match stream_item(self.source, &fresh, self.targets(needs), buf) {
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
        primary: Option<PrimaryInfo>,
    ) -> Ingested {
        for (d, e) in &staged.dest_errors {
            if is_fatal_for_destination(e) {
                self.alive[*d].store(false, Ordering::Relaxed);
            }
        }
        // Capture time from the staged copy (local disk), else from the source (dry run).
        let mut info = match staged.files.first() {
            Some(f) => match std::fs::File::open(&f.path) {
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
        let hint = item.capture_hint();
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
            if let Some(p) = &primary {
                let mismatch = matches!(
                    (&p.content_id, &info.content_identifier),
                    (Some(a), Some(b)) if a != b
                );
                if !mismatch {
                    capture = media::date::localize_for_group(&p.capture, &capture);
                }
            }
        }
        // The archived file's mtime is its capture time; a large file is
        // made durable now, small ones with their batch (place stage).
        let mut staged = staged;
        staged.durable = staged.size >= DURABLE_ALONE;
        let mut failed_dests = Vec::new();
        for f in &staged.files {
            let r = f.open_write().and_then(|file| {
                file.set_modified(capture.to_system_time())?;
                if staged.durable {
                    file.sync_all()?;
                }
                Ok(())
            });
            if let Err(e) = r {
                f.remove();
                failed_dests.push(f.dest);
                if is_fatal_for_destination(&e) {
                    self.alive[f.dest].store(false, Ordering::Relaxed);
                }
                staged.dest_errors.push((f.dest, e));
            }
        }
        staged.files.retain(|f| !failed_dests.contains(&f.dest));
        Ingested::Staged {
            staged,
            capture,
            problems: info.problems,
            content_id: info.content_identifier,
            relisted: None,
        }
    }
}

/// Staging files in the destinations `needs`, uniquely numbered by `seq`.
pub(super) fn staging_targets(
    needs: &[usize],
    dirs: &[PathBuf],
    handles: &[Option<Arc<File>>],
    follow: &[bool],
    seq: &AtomicU64,
) -> Vec<StagedFile> {
    needs
        .iter()
        .map(|&d| StagedFile {
            dest: d,
            dir: handles.get(d).cloned().flatten(),
            follow: follow.get(d).copied().unwrap_or(false),
            verified: false,
            path: dirs[d].join(format!(
                "{}-{}.part",
                std::process::id(),
                seq.fetch_add(1, Ordering::Relaxed)
            )),
        })
        .collect()
}

/// Removes the staging files of a read that is thrown away.
fn drop_files(s: &Staged) {
    for f in &s.files {
        f.remove();
    }
}

/// A write error that means the destination itself is unusable (full, read-only, failing).
pub(super) fn is_fatal_for_destination(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ENOSPC)
            | Some(libc::EROFS)
            | Some(libc::EIO)
            | Some(libc::EDQUOT)
            | Some(libc::ENODEV)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rw(path: &std::path::Path) -> File {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)
            .unwrap()
    }

    #[test]
    fn a_follower_reads_back_what_was_written_step_by_step() {
        let d = tempfile::tempdir().unwrap();
        let mut w = rw(&d.path().join("f.part"));
        let data: Vec<u8> = (0..(FOLLOW_STEP * 2 + 12_345))
            .map(|i| (i % 251) as u8)
            .collect();
        let f = Follower::new(&w).unwrap();
        let (tx, rx) = crossbeam_channel::unbounded();
        let h = std::thread::spawn(move || f.run(rx));
        let mut written = 0u64;
        // Uneven pieces: steps are told at arbitrary, unaligned offsets.
        for piece in data.chunks(3_000_017) {
            w.write_all(piece).unwrap();
            written += piece.len() as u64;
            tx.send(written).unwrap();
        }
        tx.send(u64::MAX).unwrap();
        let got = h.join().unwrap();
        assert_eq!(got, Some(blake3::hash(&data).to_hex().to_string()));
    }

    #[test]
    fn a_follower_whose_writer_gives_up_says_nothing() {
        let d = tempfile::tempdir().unwrap();
        let mut w = rw(&d.path().join("f.part"));
        let f = Follower::new(&w).unwrap();
        let (tx, rx) = crossbeam_channel::unbounded();
        let h = std::thread::spawn(move || f.run(rx));
        w.write_all(&[7u8; 100_000]).unwrap();
        tx.send(100_000).unwrap();
        drop(tx);
        assert_eq!(h.join().unwrap(), None);
    }
}
