//! Watch: archive enrolled phones whenever they are plugged in.
//!
//! Listens to usbmuxd ([`MuxListener`]). When an enrolled phone attaches, one
//! job for it runs on a thread of its own: export into the archives, then
//! check against them, giving a [`PhoneResult`]. Rules:
//! - one job per phone at a time, and one per plug-in: a phone is archived
//!   again only after it has left (every attachment of it detached: a phone
//!   on USB and Wi-Fi at once counts once);
//! - phones not enrolled are reported ([`WatchEvent::Ignored`]) and left alone;
//! - when usbmuxd goes away (restart, sleep) the loop reconnects with backoff
//!   (1 s doubling to 30 s). Phones that were archived and are listed again
//!   right after the reconnect are taken as still plugged in, not archived twice.
//!
//! Everything is reported as typed [`WatchEvent`]s; nothing is printed here.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use thiserror::Error;

use crate::ops::check::{self, CheckOptions, Counts};
use crate::ops::export::{self, ExportOptions, ExportSummary};
use crate::ops::{human_bytes, Outcome};
use crate::progress::Progress;
use crate::source::device::{list_devices, usbmux_addr, DeviceError, DeviceOptions, DeviceSource};
use crate::source::usbmux_listen::{self, MuxEvent, MuxListener};

/// What to watch for and what to do.
#[derive(Debug, Clone)]
pub struct WatchOptions {
    /// usbmuxd address; `None` = `USBMUXD_SOCKET_ADDRESS`, then the system's.
    pub usbmux: Option<String>,
    /// UDIDs of the phones to archive (hyphens and case ignored).
    pub enrolled: Vec<String>,
    /// Friendly names by UDID (from the config file), used in results.
    pub names: HashMap<String, String>,
    /// The export (its destinations are also the archives checked).
    pub export: ExportOptions,
    /// Verified copies for "safe to delete" (usually the number of archives).
    pub copies: usize,
    /// How long a job waits for Trust, unlock or a re-plugged phone.
    pub wait: Duration,
    /// Stop after this many finished jobs.
    pub exit_after: Option<usize>,
    /// Where copies of Photos.sqlite are kept between runs.
    pub cache_dir: Option<PathBuf>,
}

/// What happened, as it happens.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum WatchEvent {
    /// Listening to usbmuxd at this address.
    Listening {
        /// The usbmuxd address.
        usbmux: String,
    },
    /// usbmuxd cannot be reached (or went away); trying again after `retry_in`.
    UsbmuxUnavailable {
        /// Why.
        error: String,
        /// Seconds until the next try.
        retry_in_secs: u64,
    },
    /// A phone that is not enrolled attached; it is left alone.
    Ignored {
        /// Its UDID.
        udid: String,
        /// Its name, when it could be asked.
        name: Option<String>,
    },
    /// A job for an enrolled phone started.
    Started {
        /// Its UDID.
        udid: String,
        /// `USB` or `network (…)`.
        connection: String,
    },
    /// The phone attached again while its job runs: nothing more is started.
    AlreadyRunning {
        /// Its UDID.
        udid: String,
    },
    /// Every attachment of an enrolled phone is gone.
    Left {
        /// Its UDID.
        udid: String,
    },
    /// A job finished.
    Finished(PhoneResult),
}

/// The result of one job: export then check.
#[derive(Debug, Clone, Serialize)]
pub struct PhoneResult {
    /// The phone's UDID.
    pub udid: String,
    /// Its name (the config file's, else the phone's own).
    pub name: String,
    /// The archives written and checked.
    pub archives: Vec<PathBuf>,
    /// Verified copies required for "safe to delete".
    pub copies_required: usize,
    /// Originals newly copied (into at least one archive).
    pub copied: u64,
    /// Bytes copied.
    pub bytes_copied: u64,
    /// Items already in the archives.
    pub already_archived: u64,
    /// Items that failed to export.
    pub failed: u64,
    /// The check's counts.
    pub counts: Option<Counts>,
    /// Every original is in `copies_required` verified copies.
    pub all_safe: bool,
    /// Originals the phone's library knows but that could not be read from it
    /// (only in iCloud, file missing, unlistable): they keep `all_safe` false.
    pub outstanding: u64,
    /// Why the job stopped, when it did.
    pub error: Option<String>,
    /// `ok` (archived and safe), `partial`, or `failed`.
    pub outcome: Outcome,
}

impl PhoneResult {
    /// The one-line result.
    pub fn line(&self) -> String {
        if let Some(e) = &self.error {
            return format!("{}: not archived: {e}", self.name);
        }
        let mut s = format!(
            "{}: {} new ({}), {} already archived",
            self.name,
            self.copied,
            human_bytes(self.bytes_copied),
            self.already_archived
        );
        if self.failed > 0 {
            s.push_str(&format!(", {} FAILED", self.failed));
        }
        let c = self.counts.clone().unwrap_or_default();
        let n = self.copies_required;
        let copies = if n == 1 { "copy" } else { "copies" };
        if self.all_safe {
            s.push_str(&format!(
                "; all {} originals are in {n} verified {copies}: safe to delete from the phone",
                c.items
            ));
        } else if c.safe == c.items && self.outstanding > 0 {
            s.push_str(&format!(
                "; the {} originals read are in {n} verified {copies}, but {} more are not on the phone \
                 (only in iCloud) or could not be listed: NOT everything is archived (run camroll check)",
                c.items, self.outstanding
            ));
        } else {
            let short = c.items.saturating_sub(c.safe);
            s.push_str(&format!(
                "; NOT safe to delete: {short} of {} originals are in fewer than {n} verified {copies} (run camroll check for the list)",
                c.items
            ));
        }
        s
    }
}

/// What a watch did before it stopped.
#[derive(Debug, Clone, Default, Serialize)]
pub struct WatchSummary {
    /// Jobs finished.
    pub jobs: usize,
    /// Jobs whose outcome was not `ok`.
    pub not_ok: usize,
}

/// Errors that stop the watch before it starts.
#[derive(Debug, Error)]
pub enum WatchError {
    /// A bad usbmuxd address.
    #[error(transparent)]
    Device(#[from] DeviceError),
    /// No archive to write to.
    #[error("no archive given")]
    NoArchive,
}

fn same_udid(a: &str, b: &str) -> bool {
    a.replace('-', "").eq_ignore_ascii_case(&b.replace('-', ""))
}

const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Phones listed this soon after a reconnect were there before it.
const RESYNC: Duration = Duration::from_secs(2);

struct Loop<'a> {
    opts: &'a WatchOptions,
    progress: Arc<dyn Progress>,
    on: &'a mut dyn FnMut(WatchEvent),
    /// usbmuxd's attachment id → UDID.
    present: HashMap<u32, String>,
    /// Phones archived (or being archived) during their current plug-in.
    handled: HashSet<String>,
    running: HashSet<String>,
    done_tx: mpsc::Sender<PhoneResult>,
    done_rx: mpsc::Receiver<PhoneResult>,
    summary: WatchSummary,
}

impl Loop<'_> {
    fn finished(&self) -> bool {
        self.opts
            .exit_after
            .is_some_and(|n| self.summary.jobs >= n && self.running.is_empty())
    }

    /// Reports finished jobs; waits up to `wait` for one.
    fn collect(&mut self, wait: Duration) {
        let first = if wait.is_zero() {
            self.done_rx.try_recv().ok()
        } else {
            self.done_rx.recv_timeout(wait).ok()
        };
        let mut next = first;
        while let Some(r) = next {
            self.running.retain(|u| u != &r.udid);
            self.summary.jobs += 1;
            if r.outcome != Outcome::Ok {
                self.summary.not_ok += 1;
            }
            (self.on)(WatchEvent::Finished(r));
            next = self.done_rx.try_recv().ok();
        }
    }

    fn attached(
        &mut self,
        udid: String,
        device_id: u32,
        connection: String,
        stale: &mut HashSet<String>,
    ) {
        self.present.insert(device_id, udid.clone());
        if !self.opts.enrolled.iter().any(|e| same_udid(e, &udid)) {
            let first_attachment = self.present.values().filter(|u| **u == udid).count() == 1;
            if first_attachment {
                let name = usbmux_addr(self.opts.usbmux.as_deref())
                    .ok()
                    .and_then(|a| list_devices(&a).ok())
                    .and_then(|l| l.into_iter().find(|p| p.udid == udid))
                    .map(|p| p.name);
                (self.on)(WatchEvent::Ignored { udid, name });
            }
            return;
        }
        if self.running.contains(&udid) {
            (self.on)(WatchEvent::AlreadyRunning { udid });
            return;
        }
        if self.handled.contains(&udid) {
            return;
        }
        if stale.remove(&udid) {
            self.handled.insert(udid);
            return;
        }
        let started = self.summary.jobs + self.running.len();
        if self.opts.exit_after.is_some_and(|n| started >= n) {
            return;
        }
        self.handled.insert(udid.clone());
        self.running.insert(udid.clone());
        (self.on)(WatchEvent::Started {
            udid: udid.clone(),
            connection,
        });
        let opts = self.opts.clone();
        let progress = self.progress.clone();
        let tx = self.done_tx.clone();
        std::thread::spawn(move || {
            let _ = tx.send(job(&opts, &udid, progress.as_ref()));
        });
    }

    fn detached(&mut self, device_id: u32) {
        let Some(udid) = self.present.remove(&device_id) else {
            return;
        };
        if self.present.values().any(|u| *u == udid) {
            return;
        }
        self.handled.remove(&udid);
        if self.opts.enrolled.iter().any(|e| same_udid(e, &udid)) {
            (self.on)(WatchEvent::Left { udid });
        }
    }
}

/// Watches until `exit_after` jobs have finished (forever without it).
pub fn watch(
    opts: &WatchOptions,
    progress: Arc<dyn Progress>,
    on: &mut dyn FnMut(WatchEvent),
) -> Result<WatchSummary, WatchError> {
    if opts.export.destinations.is_empty() {
        return Err(WatchError::NoArchive);
    }
    let addr = usbmux_addr(opts.usbmux.as_deref())?;
    let (done_tx, done_rx) = mpsc::channel();
    let mut l = Loop {
        opts,
        progress,
        on,
        present: HashMap::new(),
        handled: HashSet::new(),
        running: HashSet::new(),
        done_tx,
        done_rx,
        summary: WatchSummary::default(),
    };
    let mut backoff = FIRST_BACKOFF;
    loop {
        if l.finished() {
            return Ok(l.summary);
        }
        let mut listener = match MuxListener::open(&addr) {
            Ok(m) => m,
            Err(e) => {
                (l.on)(WatchEvent::UsbmuxUnavailable {
                    error: e.to_string(),
                    retry_in_secs: backoff.as_secs(),
                });
                let until = Instant::now() + backoff;
                while Instant::now() < until && !l.finished() {
                    l.collect(Duration::from_millis(200));
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        backoff = FIRST_BACKOFF;
        (l.on)(WatchEvent::Listening {
            usbmux: usbmux_listen::text(&addr),
        });
        // Attachment ids do not survive a usbmuxd restart; phones listed again
        // within RESYNC of the reconnect were there all along.
        l.present.clear();
        let mut stale: HashSet<String> = std::mem::take(&mut l.handled)
            .into_iter()
            .filter(|u| !l.running.contains(u))
            .collect();
        l.handled.extend(l.running.iter().cloned());
        let resync_until = Instant::now() + RESYNC;
        loop {
            l.collect(Duration::ZERO);
            if l.finished() {
                return Ok(l.summary);
            }
            if !stale.is_empty() && Instant::now() >= resync_until {
                stale.clear();
            }
            match listener.next(Duration::from_millis(200)) {
                Ok(None) => {}
                Ok(Some(MuxEvent::Attached {
                    udid,
                    device_id,
                    connection,
                })) => l.attached(udid, device_id, connection, &mut stale),
                Ok(Some(MuxEvent::Detached { device_id })) => l.detached(device_id),
                Err(e) => {
                    (l.on)(WatchEvent::UsbmuxUnavailable {
                        error: e.to_string(),
                        retry_in_secs: backoff.as_secs(),
                    });
                    l.collect(backoff);
                    break;
                }
            }
        }
    }
}

/// One phone: connect, export, check.
fn job(opts: &WatchOptions, udid: &str, progress: &dyn Progress) -> PhoneResult {
    let archives = opts.export.destinations.clone();
    let mut r = PhoneResult {
        udid: udid.to_string(),
        name: opts
            .names
            .iter()
            .find(|(u, _)| same_udid(u, udid))
            .map(|(_, n)| n.clone())
            .unwrap_or_else(|| udid.to_string()),
        archives: archives.clone(),
        copies_required: opts.copies,
        copied: 0,
        bytes_copied: 0,
        already_archived: 0,
        failed: 0,
        counts: None,
        all_safe: false,
        outstanding: 0,
        error: None,
        outcome: Outcome::Failed,
    };
    let source = match DeviceSource::connect(DeviceOptions {
        usbmux: opts.usbmux.clone(),
        select: Some(udid.to_string()),
        wait: opts.wait,
        cache_dir: opts.cache_dir.clone(),
        ..DeviceOptions::default()
    }) {
        Ok(s) => s,
        Err(e) => {
            r.error = Some(e.to_string());
            return r;
        }
    };
    if !opts.names.keys().any(|u| same_udid(u, udid)) {
        r.name = source.info.name.clone();
    }
    let summary: ExportSummary = match export::export(&source, &opts.export, progress) {
        Ok(s) => s,
        Err(e) => {
            r.error = Some(e.to_string());
            return r;
        }
    };
    progress.finish();
    r.copied = summary.copied;
    r.bytes_copied = summary.bytes_copied;
    r.already_archived = summary.already_archived;
    r.failed = summary.failed.len() as u64;
    let check_opts = CheckOptions {
        copies: opts.copies,
        jobs: opts.export.jobs,
    };
    match check::check(&source, None, &archives, &check_opts, progress) {
        Ok(report) => {
            progress.finish();
            r.counts = Some(report.counts);
            r.all_safe = report.all_safe;
            r.outstanding = report.unlisted_on_source.len() as u64
                + report
                    .library
                    .as_ref()
                    .map_or(0, |l| (l.cloud_only.len() + l.without_file.len()) as u64);
            r.outcome = if summary.is_ok() && report.all_safe {
                Outcome::Ok
            } else {
                Outcome::Partial
            };
        }
        Err(e) => {
            r.error = Some(format!("checking: {e}"));
            r.outcome = Outcome::Partial;
        }
    }
    r
}
