//! The simulated phone as a running server: shared device state (identity, trust,
//! lock, cable), the usbmuxd listener, and the in-process [`Simulator`] handle.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU16, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{broadcast, oneshot, watch};

use super::pairing::{self, Identity};
use super::SimError;

/// Where the simulated usbmuxd listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listen {
    /// A TCP address; port 0 picks a free port.
    Tcp(SocketAddr),
    /// A UNIX stream socket at this path (replaced if it exists).
    Unix(PathBuf),
}

/// The address a started simulator's usbmuxd actually listens on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UsbmuxAddress {
    Tcp(SocketAddr),
    Unix(PathBuf),
}

impl UsbmuxAddress {
    /// The `USBMUXD_SOCKET_ADDRESS` value libusbmuxd (libimobiledevice tools, ifuse)
    /// understands: `host:port`, or `UNIX:/path` (libusbmuxd ignores a bare path).
    pub fn env_value(&self) -> String {
        match self {
            UsbmuxAddress::Tcp(a) => a.to_string(),
            UsbmuxAddress::Unix(p) => format!("UNIX:{}", p.display()),
        }
    }

    /// The form pymobiledevice3 (`--usbmux`) and the `idevice` crate expect:
    /// `host:port`, or a bare socket path.
    pub fn plain(&self) -> String {
        match self {
            UsbmuxAddress::Tcp(a) => a.to_string(),
            UsbmuxAddress::Unix(p) => p.display().to_string(),
        }
    }

    /// The same address as the `idevice` crate's client type.
    pub fn to_idevice(&self) -> idevice::usbmuxd::UsbmuxdAddr {
        match self {
            UsbmuxAddress::Tcp(a) => idevice::usbmuxd::UsbmuxdAddr::TcpSocket(*a),
            UsbmuxAddress::Unix(p) => {
                idevice::usbmuxd::UsbmuxdAddr::UnixSocket(p.display().to_string())
            }
        }
    }
}

impl std::fmt::Display for UsbmuxAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.env_value())
    }
}

/// Phone states and transport faults, one field per `camroll sim` flag.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// The phone is passcode-locked: StartService and Pair answer `PasswordProtected`.
    pub locked: bool,
    /// With `locked`: the user unlocks the phone this long after start.
    pub unlock_after: Option<Duration>,
    /// This host is not trusted: no pairing record, StartSession answers `InvalidHostID`,
    /// Pair answers `PairingDialogResponsePending`.
    pub untrusted: bool,
    /// With `untrusted`: the user taps "Trust" this long after start.
    pub trust_after: Option<Duration>,
    /// AFC read throughput cap in megabytes (10^6 bytes) per second, shared by all connections.
    pub rate_mbps: Option<f64>,
    /// Added before every AFC reply.
    pub latency: Option<Duration>,
    /// After this many AFC file bytes have been served, the cable is pulled: every device
    /// connection drops and usbmuxd reports `Detached` (once).
    pub unplug_after_bytes: Option<u64>,
    /// With `unplug_after_bytes`: the phone is attached again (new DeviceID) after this long.
    pub replug_after: Option<Duration>,
    /// Globs (relative to the media root, e.g. `DCIM/*/IMG_0003.HEIC` or `**/*.MOV`): reads of
    /// matching files fail with READ_ERROR, as optimised iCloud placeholders do.
    pub io_error: Vec<String>,
    /// At most this many open AFC file handles across all connections; FileRefOpen beyond it
    /// answers NO_RESOURCES.
    pub max_open_files: Option<usize>,
}

/// Everything needed to start a simulated iPhone.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// The phone's media partition (`/var/mobile/Media`), the AFC root.
    pub media: PathBuf,
    pub listen: Listen,
    /// Override the UDID stored in `<media>/.sim/identity.plist`.
    pub udid: Option<String>,
    pub name: String,
    /// ProductVersion, e.g. "17.5.1".
    pub ios: String,
    /// Allow AFC writes (otherwise PERM_DENIED, like a read-only mount).
    pub writable: bool,
    pub faults: Faults,
}

impl SimConfig {
    /// Defaults: a free port on 127.0.0.1, "Camroll's iPhone", iOS 17.5.1, read-only, no faults.
    pub fn new(media: impl Into<PathBuf>) -> Self {
        SimConfig {
            media: media.into(),
            listen: Listen::Tcp(SocketAddr::from(([127, 0, 0, 1], 0))),
            udid: None,
            name: "Camroll's iPhone".into(),
            ios: "17.5.1".into(),
            writable: false,
            faults: Faults::default(),
        }
    }
}

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

struct Plug {
    attached: bool,
    device_id: u32,
    unplugged_once: bool,
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
    pub open_files: AtomicUsize,
    services: Mutex<HashSet<u16>>,
    next_port: AtomicU16,
    next_free: tokio::sync::Mutex<Instant>,
    io_error: Vec<glob::Pattern>,
    session_counter: AtomicU64,
}

pub(crate) const LOCKDOWN_PORT: u16 = 62078;

impl Device {
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    pub fn is_locked(&self) -> bool {
        let f = &self.cfg.faults;
        f.locked && f.unlock_after.is_none_or(|d| self.elapsed() < d)
    }

    pub fn is_trusted(&self) -> bool {
        let f = &self.cfg.faults;
        !f.untrusted || f.trust_after.is_some_and(|d| self.elapsed() >= d)
    }

    /// The DeviceID usbmuxd currently reports, or None while unplugged.
    pub fn attached_id(&self) -> Option<u32> {
        let p = self.plug.lock().unwrap_or_else(|e| e.into_inner());
        p.attached.then_some(p.device_id)
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

    pub fn io_error_matches(&self, rel: &str) -> bool {
        glob_matches(&self.io_error, rel)
    }

    /// Waits as long as `--rate` demands for `n` more bytes (one shared "USB link").
    pub async fn throttle(&self, n: usize) {
        let Some(rate) = self.cfg.faults.rate_mbps.filter(|r| *r > 0.0) else {
            return;
        };
        let cost = Duration::from_secs_f64(n as f64 / (rate * 1e6));
        let until = {
            let mut next = self.next_free.lock().await;
            let start = (*next).max(Instant::now());
            *next = start + cost;
            *next
        };
        tokio::time::sleep_until(until.into()).await;
    }

    /// Accounts `n` served bytes. Returns false when they would cross `--unplug-after-bytes`:
    /// the cable is pulled before they go out.
    pub fn account(self: &Arc<Self>, n: u64) -> bool {
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
                    p.device_id += 1;
                    p.attached = true;
                    p.device_id
                };
                let _ = dev.events.send(Event::Attached(id));
            });
        }
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

fn build_device(cfg: SimConfig) -> Result<Arc<Device>, SimError> {
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
    let (generation, _) = watch::channel(0);
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
            attached: true,
            device_id: 1,
            unplugged_once: false,
        }),
        generation,
        events,
        bytes_served: AtomicU64::new(0),
        open_files: AtomicUsize::new(0),
        services: Mutex::new(HashSet::new()),
        next_port: AtomicU16::new(0),
        next_free: tokio::sync::Mutex::new(Instant::now()),
        io_error,
        session_counter: AtomicU64::new(1),
    }))
}

/// A running simulated iPhone. Dropping it (or [`Simulator::stop`]) shuts it down.
pub struct Simulator {
    address: UsbmuxAddress,
    udid: String,
    name: String,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Simulator {
    /// Creates (or loads) the phone's identity in `<media>/.sim/`, binds the usbmuxd
    /// listener and serves it on a background thread with its own tokio runtime, so it
    /// works from synchronous code and from inside another runtime alike.
    pub fn start(cfg: SimConfig) -> Result<Simulator, SimError> {
        let listen = cfg.listen.clone();
        let dev = build_device(cfg)?;
        let udid = dev.id.udid.clone();
        let name = dev.cfg.name.clone();
        let (tx, rx) = oneshot::channel::<()>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<UsbmuxAddress, SimError>>();
        // Everything async happens on the server thread: calling `block_on` here would
        // panic when the caller is itself inside a tokio runtime (e.g. a #[tokio::test]).
        let thread = std::thread::Builder::new()
            .name("camroll-sim".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .thread_name("camroll-sim")
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(SimError::Runtime(e.to_string())));
                        return;
                    }
                };
                let bound = rt.block_on(async {
                    let l = Listener::bind(&listen).await?;
                    let a = l.address()?;
                    Ok::<_, SimError>((l, a))
                });
                let (listener, address) = match bound {
                    Ok(x) => x,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                let unix_path = match &address {
                    UsbmuxAddress::Unix(p) => Some(p.clone()),
                    UsbmuxAddress::Tcp(_) => None,
                };
                let _ = ready_tx.send(Ok(address));
                rt.block_on(async move {
                    // Trusting later is the user tapping "Trust": announce it like usbmuxd does.
                    if let Some(after) = dev
                        .cfg
                        .faults
                        .trust_after
                        .filter(|_| dev.cfg.faults.untrusted)
                    {
                        let d = dev.clone();
                        tokio::spawn(async move {
                            tokio::time::sleep(after).await;
                            if let Some(id) = d.attached_id() {
                                let _ = d.events.send(Event::Paired(id));
                            }
                        });
                    }
                    tokio::select! {
                        _ = listener.serve(dev) => {}
                        _ = rx => {}
                    }
                });
                rt.shutdown_timeout(Duration::from_millis(200));
                if let Some(p) = unix_path {
                    let _ = std::fs::remove_file(p);
                }
            })
            .map_err(|e| SimError::Runtime(e.to_string()))?;
        let address = match ready_rx.recv() {
            Ok(Ok(a)) => a,
            Ok(Err(e)) => {
                let _ = thread.join();
                return Err(e);
            }
            Err(_) => {
                let _ = thread.join();
                return Err(SimError::Runtime("the server thread ended early".into()));
            }
        };
        Ok(Simulator {
            address,
            udid,
            name,
            shutdown: Some(tx),
            thread: Some(thread),
        })
    }

    /// Where the simulated usbmuxd listens.
    pub fn usbmux_address(&self) -> &UsbmuxAddress {
        &self.address
    }

    /// The phone's UDID (hyphenated, as usbmuxd reports it).
    pub fn udid(&self) -> &str {
        &self.udid
    }

    /// The phone's DeviceName.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Stops serving and waits for the server thread; open connections are dropped.
    pub fn stop(mut self) {
        self.shutdown_now();
    }

    fn shutdown_now(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.shutdown_now();
    }
}

enum Listener {
    Tcp(tokio::net::TcpListener),
    Unix(tokio::net::UnixListener, PathBuf),
}

impl Listener {
    async fn bind(l: &Listen) -> Result<Listener, SimError> {
        match l {
            Listen::Tcp(a) => tokio::net::TcpListener::bind(a)
                .await
                .map(Listener::Tcp)
                .map_err(|e| SimError::Bind {
                    address: a.to_string(),
                    source: e,
                }),
            Listen::Unix(p) => {
                // A stale socket from a killed run would make bind fail.
                if std::fs::symlink_metadata(p).is_ok_and(|m| {
                    use std::os::unix::fs::FileTypeExt;
                    m.file_type().is_socket()
                }) {
                    let _ = std::fs::remove_file(p);
                }
                let l = tokio::net::UnixListener::bind(p).map_err(|e| SimError::Bind {
                    address: p.display().to_string(),
                    source: e,
                })?;
                // Real usbmuxd makes its socket world-accessible.
                use std::os::unix::fs::PermissionsExt;
                let _ = std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o666));
                Ok(Listener::Unix(l, p.clone()))
            }
        }
    }

    fn address(&self) -> Result<UsbmuxAddress, SimError> {
        match self {
            Listener::Tcp(l) => {
                l.local_addr()
                    .map(UsbmuxAddress::Tcp)
                    .map_err(|e| SimError::Bind {
                        address: "tcp".into(),
                        source: e,
                    })
            }
            Listener::Unix(_, p) => Ok(UsbmuxAddress::Unix(absolute(p))),
        }
    }

    async fn serve(self, dev: Arc<Device>) {
        loop {
            let stream: BoxStream = match &self {
                Listener::Tcp(l) => match l.accept().await {
                    Ok((s, _)) => {
                        // Replies are written as header + payload; don't let Nagle delay them.
                        let _ = s.set_nodelay(true);
                        Box::new(s)
                    }
                    Err(_) => {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                },
                Listener::Unix(l, _) => match l.accept().await {
                    Ok((s, _)) => Box::new(s),
                    Err(_) => {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                },
            };
            tokio::spawn(super::usbmux::serve(dev.clone(), stream));
        }
    }
}

fn absolute(p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(p))
            .unwrap_or_else(|_| p.to_path_buf())
    }
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
