//! The one simulated phone's shared state ([`Device`]: identity, trust, lock, cable,
//! open services) and the pieces every protocol server uses: the boxed byte stream,
//! usbmuxd events, the lockdownd port and plist dictionary building. The protocol
//! servers (usbmux, lockdown, afc) import this module; `server` starts them.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU16, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use plist::{Dictionary, Value};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{broadcast, watch};

use crate::config::SimConfig;
use crate::pairing::{self, Identity};
use crate::SimError;

/// usbmuxd events broadcast to `Listen` clients.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Event {
    Attached(u32),
    Detached(u32),
    Paired(u32),
}

pub(crate) trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}
pub(crate) type BoxStream = Box<dyn Stream>;

/// How a usbmuxd DeviceID reaches the phone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Link {
    Usb,
    Network,
}

struct Plug {
    /// The cable is in (only ever true when the phone is attached over USB).
    attached: bool,
    /// The USB DeviceID (a new one after every re-plug, as usbmuxd counts up).
    device_id: u32,
    unplugged_once: bool,
    /// The Wi-Fi twin's DeviceID; pulling the cable leaves it attached.
    network_id: Option<u32>,
    next_id: u32,
}

/// Shared state of the one simulated phone.
pub(crate) struct Device {
    pub root: PathBuf,
    pub cfg: SimConfig,
    pub id: Identity,
    pub tls: Arc<rustls::ServerConfig>,
    started: Instant,
    trusted_hosts: Mutex<HashSet<String>>,
    saved_records: Mutex<HashMap<String, Vec<u8>>>,
    plug: Mutex<Plug>,
    /// Bumped on every unplug; device connections watch it and hang up.
    pub generation: watch::Sender<u64>,
    pub events: broadcast::Sender<Event>,
    bytes_served: AtomicU64,
    lock_bytes: AtomicU64,
    pub open_files: AtomicUsize,
    services: Mutex<HashSet<u16>>,
    next_port: AtomicU16,
    /// The shared USB link's clock, for `--rate`.
    link: Mutex<crate::link::LinkClock>,
    io_error: Vec<glob::Pattern>,
    /// Files the generator made unopenable (cloud-only originals, shape `unreadable`).
    pub unreadable: HashSet<String>,
    session_counter: AtomicU64,
    /// When `--lock-after-bytes` locked the phone.
    locked_at: Mutex<Option<Instant>>,
    /// Services started and not yet ended (for `--service-limit`).
    pub live_services: AtomicUsize,
    /// Library-file opens seen (for `--library-churn`).
    pub library_opens: AtomicUsize,
    /// Files refused for their extra hard links, and the bytes served since the first
    /// refusal (for `--hard-links-heal-after-bytes`).
    refused_links: Mutex<Vec<PathBuf>>,
    heal_bytes: AtomicU64,
    /// What has been served (`--stats`).
    served: Served,
}

/// Counters behind `--stats`.
#[derive(Default)]
struct Served {
    usb: AtomicU64,
    network: AtomicU64,
    library: AtomicU64,
    library_opens: AtomicU64,
    /// One writer of the stats file at a time.
    writing: Mutex<()>,
}

pub(crate) const LOCKDOWN_PORT: u16 = 62078;

impl Device {
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    pub fn is_locked(&self) -> bool {
        let f = &self.cfg.faults;
        if f.locked && f.unlock_after.is_none_or(|d| self.elapsed() < d) {
            return true;
        }
        let at = *self.locked_at.lock().unwrap_or_else(|e| e.into_inner());
        at.is_some_and(|t| f.unlock_after.is_none_or(|d| t.elapsed() < d))
    }

    pub fn is_trusted(&self) -> bool {
        let f = &self.cfg.faults;
        !f.untrusted || f.trust_after.is_some_and(|d| self.elapsed() >= d)
    }

    /// The DeviceID usbmuxd reports first (USB before Wi-Fi), or None while unreachable.
    pub fn attached_id(&self) -> Option<u32> {
        self.attached().first().map(|(id, _)| *id)
    }

    /// Every DeviceID under which usbmuxd lists the phone now, USB first.
    pub fn attached(&self) -> Vec<(u32, Link)> {
        let p = self.plug.lock().unwrap_or_else(|e| e.into_inner());
        let mut v = Vec::new();
        if p.attached {
            v.push((p.device_id, Link::Usb));
        }
        if let Some(n) = p.network_id {
            v.push((n, Link::Network));
        }
        v
    }

    /// How `id` reaches the phone, if usbmuxd lists it now.
    pub fn link_of(&self, id: u32) -> Option<Link> {
        self.attached()
            .into_iter()
            .find(|(i, _)| *i == id)
            .map(|(_, l)| l)
    }

    pub fn host_allowed(&self, host_id: &str) -> bool {
        (self.is_trusted() && host_id.eq_ignore_ascii_case(&self.id.host_id))
            || self
                .trusted_hosts
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .contains(&host_id.to_ascii_uppercase())
    }

    pub fn trust_host(&self, host_id: &str) {
        self.trusted_hosts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(host_id.to_ascii_uppercase());
    }

    /// usbmuxd's stored record for `udid`: one a client saved, else the simulator's own
    /// once the host is trusted.
    pub fn pair_record(&self, udid: &str) -> Option<Vec<u8>> {
        let norm = |s: &str| s.replace('-', "").to_ascii_uppercase();
        if norm(udid) != norm(&self.id.udid) {
            return None;
        }
        if let Some(r) = self
            .saved_records
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&norm(udid))
        {
            return Some(r.clone());
        }
        self.is_trusted().then(|| self.id.pair_record_xml())
    }

    pub fn save_pair_record(&self, udid: &str, data: Vec<u8>) {
        let key = udid.replace('-', "").to_ascii_uppercase();
        self.saved_records
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, data);
    }

    pub fn delete_pair_record(&self, udid: &str) {
        let key = udid.replace('-', "").to_ascii_uppercase();
        self.saved_records
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&key);
    }

    pub fn new_session_id(&self) -> String {
        let n = self.session_counter.fetch_add(1, Ordering::Relaxed);
        format!("{:08X}-5E55-4000-8000-{:012X}", std::process::id(), n)
    }

    /// Allocates a port for a started service, as lockdownd does (ephemeral ports).
    pub fn open_service_port(&self) -> u16 {
        let n = self.next_port.fetch_add(1, Ordering::Relaxed);
        let port = 49152 + (n % 16000);
        self.services
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(port);
        port
    }

    pub fn is_service_port(&self, port: u16) -> bool {
        self.services
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&port)
    }

    /// `--library-churn`: the phone writes to its library while a client reads it. The
    /// first two opens of a library file each append a page to `Photos.sqlite-wal`
    /// (SQLite ignores frames whose salt does not match the WAL header, so the library
    /// stays readable); later opens see a quiet library, so a careful copier settles.
    pub fn library_write_while_read(&self, root: &std::path::Path) {
        if !self.cfg.faults.library_churn {
            return;
        }
        if self.library_opens.fetch_add(1, Ordering::SeqCst) >= 2 {
            return;
        }
        use std::io::Write;
        let wal = root.join("PhotoData/Photos.sqlite-wal");
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&wal)
        {
            let _ = f.write_all(&[0u8; 4096]);
        }
    }

    /// Notes a file refused for its extra hard links (`--hard-links-heal-after-bytes`).
    pub fn refused_for_links(&self, path: &std::path::Path) {
        if self.cfg.faults.hard_links_heal_after_bytes.is_some() {
            let path = &path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
            let mut r = self.refused_links.lock().unwrap_or_else(|e| e.into_inner());
            if !r.iter().any(|p| p == path) {
                r.push(path.to_path_buf());
            }
        }
    }

    /// Counts `n` served bytes towards `--hard-links-heal-after-bytes`; once they are
    /// reached, every other name of each refused file is removed from the media root.
    fn heal_links_after(&self, n: u64) {
        let Some(limit) = self.cfg.faults.hard_links_heal_after_bytes else {
            return;
        };
        let refused = {
            let mut r = self.refused_links.lock().unwrap_or_else(|e| e.into_inner());
            if r.is_empty() {
                return;
            }
            let before = self.heal_bytes.fetch_add(n, Ordering::SeqCst);
            if before + n < limit {
                return;
            }
            self.heal_bytes.store(0, Ordering::SeqCst);
            std::mem::take(&mut *r)
        };
        use std::os::unix::fs::MetadataExt;
        let inodes: Vec<(PathBuf, u64, u64)> = refused
            .into_iter()
            .filter_map(|p| std::fs::metadata(&p).ok().map(|m| (p, m.dev(), m.ino())))
            .collect();
        let mut dirs = vec![self.root.clone()];
        while let Some(d) = dirs.pop() {
            let Ok(entries) = std::fs::read_dir(&d) else {
                continue;
            };
            for e in entries.flatten() {
                let path = e.path();
                let Ok(m) = std::fs::symlink_metadata(&path) else {
                    continue;
                };
                if m.is_dir() {
                    dirs.push(path);
                } else if inodes
                    .iter()
                    .any(|(keep, dev, ino)| *dev == m.dev() && *ino == m.ino() && *keep != path)
                {
                    let _ = std::fs::remove_file(&path);
                }
            }
        }
    }

    /// Counts `n` file bytes served over the cable or Wi-Fi, of the library or not.
    pub fn count_served(&self, n: u64, over_usb: bool, library: bool) {
        let s = &self.served;
        if over_usb { &s.usb } else { &s.network }.fetch_add(n, Ordering::Relaxed);
        if library {
            s.library.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// Counts an open of a library file (`--stats`).
    pub fn count_library_open(&self) {
        self.served.library_opens.fetch_add(1, Ordering::Relaxed);
    }

    /// Rewrites the `--stats` file (write to a temporary name, then rename, so a
    /// reader never sees half of it).
    pub fn write_stats(&self) {
        let Some(path) = &self.cfg.stats else {
            return;
        };
        let s = &self.served;
        let _one = s.writing.lock().unwrap_or_else(|e| e.into_inner());
        let (usb, net) = (
            s.usb.load(Ordering::Relaxed),
            s.network.load(Ordering::Relaxed),
        );
        let json = format!(
            "{{\"file_bytes\": {}, \"file_bytes_usb\": {usb}, \"file_bytes_network\": {net}, \"library_bytes\": {}, \"library_opens\": {}}}\n",
            usb + net,
            s.library.load(Ordering::Relaxed),
            s.library_opens.load(Ordering::Relaxed)
        );
        let tmp = path.with_extension("tmp");
        if std::fs::write(&tmp, json).is_ok() {
            let _ = std::fs::rename(&tmp, path);
        }
    }

    pub fn io_error_matches(&self, rel: &str) -> bool {
        glob_matches(&self.io_error, rel)
    }

    /// Waits as long as `--rate` demands for `n` more bytes (one shared "USB link").
    pub async fn throttle(&self, n: usize) {
        let Some(rate) = self.cfg.faults.rate_mbps.filter(|r| *r > 0.0) else {
            return;
        };
        let until = self.link.lock().unwrap_or_else(|e| e.into_inner()).book(
            Instant::now(),
            n as u64,
            crate::link::bytes_per_sec(rate),
        );
        crate::link::sleep_until(until).await;
    }

    /// Accounts `n` served bytes. Returns false when they would cross `--unplug-after-bytes`:
    /// the cable is pulled before they go out.
    pub fn account(self: &Arc<Self>, n: u64) -> bool {
        self.heal_links_after(n);
        if let Some(lock) = self.cfg.faults.lock_after_bytes {
            let before = self.lock_bytes.fetch_add(n, Ordering::SeqCst);
            if before < lock && before + n >= lock {
                *self.locked_at.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
            }
        }
        let Some(limit) = self.cfg.faults.unplug_after_bytes else {
            return true;
        };
        {
            let p = self.plug.lock().unwrap_or_else(|e| e.into_inner());
            if p.unplugged_once {
                return true;
            }
        }
        let before = self.bytes_served.fetch_add(n, Ordering::SeqCst);
        if before + n <= limit {
            return true;
        }
        self.unplug();
        false
    }

    fn unplug(self: &Arc<Self>) {
        let old = {
            let mut p = self.plug.lock().unwrap_or_else(|e| e.into_inner());
            if p.unplugged_once {
                return;
            }
            p.unplugged_once = true;
            p.attached = false;
            p.device_id
        };
        self.generation.send_modify(|g| *g += 1);
        let _ = self.events.send(Event::Detached(old));
        if let Some(after) = self.cfg.faults.replug_after {
            let dev = self.clone();
            tokio::spawn(async move {
                tokio::time::sleep(after).await;
                let id = {
                    let mut p = dev.plug.lock().unwrap_or_else(|e| e.into_inner());
                    p.device_id = p.next_id;
                    p.next_id += 1;
                    p.attached = true;
                    p.device_id
                };
                let _ = dev.events.send(Event::Attached(id));
            });
        }
    }
}

impl Device {
    /// The user pulls the cable (a control, not a fault: `--unplug-after-bytes` is
    /// unaffected). Connections drop and usbmuxd reports `Detached`.
    pub fn pull_cable(&self) {
        let old = {
            let mut p = self.plug.lock().unwrap_or_else(|e| e.into_inner());
            if !p.attached {
                return;
            }
            p.attached = false;
            p.device_id
        };
        self.generation.send_modify(|g| *g += 1);
        let _ = self.events.send(Event::Detached(old));
    }

    /// The user plugs the cable back in: `Attached` with a new DeviceID, as usbmuxd does.
    pub fn plug_in(&self) {
        let id = {
            let mut p = self.plug.lock().unwrap_or_else(|e| e.into_inner());
            if p.attached {
                return;
            }
            p.device_id += 1;
            p.attached = true;
            p.device_id
        };
        let _ = self.events.send(Event::Attached(id));
    }
}

/// `--io-error` matching: `*` stays inside one folder, `**` crosses folders, case matters
/// (iOS file systems are case-sensitive for AFC clients).
fn glob_matches(patterns: &[glob::Pattern], rel: &str) -> bool {
    let opts = glob::MatchOptions {
        case_sensitive: true,
        require_literal_separator: true,
        require_literal_leading_dot: false,
    };
    patterns.iter().any(|p| p.matches_with(rel, opts))
}

/// Builds the TLS server side lockdownd uses after `StartSession`: the device certificate,
/// TLS 1.2 and 1.3, and no client-certificate request (libimobiledevice presents the root CA
/// certificate, the others the host certificate; a real phone accepts both).
fn tls_config(id: &Identity) -> Result<rustls::ServerConfig, SimError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let bad = |e: &dyn std::fmt::Display| SimError::Tls(e.to_string());
    let cert =
        CertificateDer::from_pem_slice(id.device_certificate.as_bytes()).map_err(|e| bad(&e))?;
    let key =
        PrivateKeyDer::from_pem_slice(id.device_private_key.as_bytes()).map_err(|e| bad(&e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| bad(&e))?
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .map_err(|e| bad(&e))
}

/// Loads or creates the identity in `<media>/.sim/` and sets up the state the servers share.
pub(crate) fn build_device(cfg: SimConfig) -> Result<Arc<Device>, SimError> {
    let root = cfg.media.canonicalize().map_err(|e| SimError::Io {
        path: cfg.media.clone(),
        source: e,
    })?;
    if !root.is_dir() {
        return Err(SimError::NotADirectory(cfg.media.clone()));
    }
    let id = pairing::load_or_create(&root, cfg.udid.as_deref())?;
    let tls = Arc::new(tls_config(&id)?);
    let mut io_error = Vec::new();
    for g in &cfg.faults.io_error {
        io_error.push(glob::Pattern::new(g).map_err(|e| SimError::BadGlob {
            glob: g.clone(),
            message: e.to_string(),
        })?);
    }
    // `camroll sim generate --cloud-only-shape unreadable` lists these: cloud-only
    // originals that AFC lists but will not open (ifuse#54).
    let unreadable: HashSet<String> = std::fs::read_to_string(root.join(".sim/unreadable.txt"))
        .map(|t| {
            t.lines()
                .filter(|l| !l.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let (generation, _) = watch::channel(0);
    use crate::config::Attach;
    let usb = cfg.attach != Attach::Network;
    let network_id = match cfg.attach {
        Attach::Usb => None,
        Attach::Network => Some(1),
        Attach::Both => Some(2),
    };
    let (events, _) = broadcast::channel(64);
    Ok(Arc::new(Device {
        root,
        cfg,
        id,
        tls,
        started: Instant::now(),
        trusted_hosts: Mutex::new(HashSet::new()),
        saved_records: Mutex::new(HashMap::new()),
        plug: Mutex::new(Plug {
            attached: usb,
            device_id: 1,
            // A phone on Wi-Fi only has no cable to pull.
            unplugged_once: !usb,
            network_id,
            next_id: 3,
        }),
        generation,
        events,
        bytes_served: AtomicU64::new(0),
        lock_bytes: AtomicU64::new(0),
        open_files: AtomicUsize::new(0),
        services: Mutex::new(HashSet::new()),
        next_port: AtomicU16::new(0),
        link: Mutex::new(crate::link::LinkClock::new(Instant::now())),
        io_error,
        unreadable,
        session_counter: AtomicU64::new(1),
        locked_at: Mutex::new(None),
        live_services: AtomicUsize::new(0),
        library_opens: AtomicUsize::new(0),
        refused_links: Mutex::new(Vec::new()),
        heal_bytes: AtomicU64::new(0),
        served: Served::default(),
    }))
}

/// A plist dictionary from key/value pairs, as every usbmuxd and lockdownd reply is built.
pub(crate) fn dict<const N: usize>(items: [(&str, Value); N]) -> Dictionary {
    items.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

#[cfg(test)]
mod tests {
    use super::glob_matches;

    #[test]
    fn io_error_globs_match_paths_relative_to_the_media_root() {
        let pats = |g: &[&str]| -> Vec<glob::Pattern> {
            g.iter()
                .filter_map(|p| glob::Pattern::new(p).ok())
                .collect()
        };
        let p = pats(&["DCIM/*/IMG_0002.*"]);
        assert!(glob_matches(&p, "DCIM/100APPLE/IMG_0002.MOV"));
        assert!(!glob_matches(&p, "DCIM/100APPLE/sub/IMG_0002.MOV"));
        assert!(!glob_matches(&p, "DCIM/100APPLE/IMG_0003.MOV"));
        let p = pats(&["DCIM/**/*.MOV"]);
        assert!(glob_matches(&p, "DCIM/100APPLE/IMG_0002.MOV"));
        assert!(glob_matches(&p, "DCIM/a/b/c.MOV"));
        assert!(!glob_matches(&p, "DCIM/100APPLE/IMG_0002.mov"));
        assert!(!glob_matches(&[], "DCIM/100APPLE/IMG_0002.MOV"));
    }
}
