//! The iPhone as a source: usbmuxd → lockdownd (TLS, pairing) → AFC, through
//! the `idevice` crate.
//!
//! What is listed: every original under `DCIM/` (`NNNAPPLE` and `YYYYMM__`
//! folders) with Live Photo movies and `.AAE` sidecars; originals synced from
//! other devices under `PhotoData/CPLAssets/` (filed under the name Photos
//! recorded for them); with `--edited`, the edited renders under
//! `PhotoData/Mutations/…/Adjustments/FullSizeRender.*`, named `IMG_E####`
//! next to their original. `PhotoData/Photos.sqlite` is copied (once; a
//! no-change run reuses the copy) and read as a checklist.
//!
//! camroll sends the phone no write and no delete, ever: the only AFC
//! operations used are ReadDir, GetFileInfo, FileRefOpen (read-only),
//! FileRefRead, FileRefSeek and FileRefClose.
//!
//! Transfers: reads of 4 MiB, one ahead, the last asking one byte past the
//! listed size (so a small file is one FileRefRead, and a phone that sends
//! more than it listed is noticed); one AFC connection per parallel reader
//! (every handle closed after its file, so only a few are open at once);
//! files under `DCIM` are handed to the export as they are listed
//! ([`Source::scan_early`]), DCIM being listed while Photos.sqlite is
//! copied, so large ones start before the listing (and the library copy)
//! ends; a dropped connection (unplug, idle timeout) is re-established and the
//! read, or the listing, resumes once the same phone (same UDID) is back.

use std::collections::HashMap;
use std::io::{self, Read, Seek, SeekFrom};
use std::net::ToSocketAddrs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use idevice::afc::opcode::{AfcFopenMode, AfcOpcode};
use idevice::afc::AfcClient;
use idevice::lockdown::LockdownClient;
use idevice::pairing_file::PairingFile;
use idevice::provider::UsbmuxdProvider;
use idevice::usbmuxd::{UsbmuxdAddr, UsbmuxdConnection, UsbmuxdDevice};
use idevice::{IdeviceError, IdeviceService};
use serde::Serialize;
use thiserror::Error;

use super::afc_wire::{self, FileInfo, Ifmt};
use super::library::{self, Library, LibraryReport};
use super::{Listed, ReadSeek, Scan, Skipped, Source, SourceError, SourceItem};

/// Bytes asked for per AFC read: large requests keep the link busy (a 35 MB/s
/// link moves 4 MiB in ~120 ms, so per-request latency costs ~1%).
const READ_CHUNK: u64 = 4 << 20;
/// Bytes asked for per read while other files are being read too: a reply
/// crosses the link whole, so a small file asked for behind a 4 MiB reply
/// waits ~120 ms at 35 MB/s; behind 256 KiB, ~7 ms. A large file read
/// beside the small ones (it starts during the listing) then lets them by,
/// and takes 4 MiB reads again once it is alone.
const SHARED_READ_CHUNK: u64 = 256 << 10;
const LABEL: &str = "camroll";
/// A phone that answers no AFC request for this long is treated as a dropped
/// connection: reconnect and resume at the same offset (a stalled read would
/// otherwise hang the run forever, as ifuse does).
const AFC_STALL: Duration = Duration::from_secs(30);

/// [`AFC_STALL`], or `CAMROLL_AFC_TIMEOUT_MS` (tests shorten it).
fn afc_stall() -> Duration {
    std::env::var("CAMROLL_AFC_TIMEOUT_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map(Duration::from_millis)
        .unwrap_or(AFC_STALL)
}

/// One AFC request, bounded by [`afc_stall`]: a stall becomes `Timeout`,
/// which [`is_transport`] treats like an unplug.
async fn send_bounded(
    c: &mut AfcClient,
    op: AfcOpcode,
    header: Vec<u8>,
    payload: Vec<u8>,
) -> Result<afc_wire::Reply, IdeviceError> {
    match tokio::time::timeout(afc_stall(), afc_wire::request(c, op, header, payload)).await {
        Ok(r) => r,
        Err(_) => Err(IdeviceError::Timeout),
    }
}

/// The next AFC reply, bounded by [`afc_stall`] like [`send_bounded`].
async fn read_bounded(c: &mut AfcClient) -> Result<afc_wire::Reply, IdeviceError> {
    match tokio::time::timeout(afc_stall(), afc_wire::read_reply(c)).await {
        Ok(r) => r,
        Err(_) => Err(IdeviceError::Timeout),
    }
}

/// Why the phone could not be reached or used; each message says what to do.
#[derive(Debug, Error)]
pub enum DeviceError {
    /// usbmuxd could not be reached.
    #[error("cannot reach usbmuxd at {addr}: {error}. Connect the iPhone with a cable; on Linux, make sure usbmuxd is installed and running (sudo systemctl start usbmuxd)")]
    NoUsbmuxd {
        /// The address tried.
        addr: String,
        /// Why it failed.
        error: String,
    },
    /// The usbmuxd address given is neither `UNIX:/path` nor `host:port`.
    #[error("{0:?} is not a usbmuxd address: use UNIX:/path/to/socket or host:port")]
    BadAddress(String),
    /// usbmuxd lists no phone.
    #[error("no iPhone is connected. Connect it with a cable, unlock it and tap Trust; on Linux, make sure usbmuxd is running")]
    NoDevice,
    /// Several phones are connected and none was chosen; holds their list, one per line.
    #[error("several iPhones are connected:\n{0}\nChoose one with --from device:<UDID or name>")]
    Several(String),
    /// No connected phone has the UDID or name asked for.
    #[error("no connected iPhone matches {wanted:?}. Connected:\n{list}")]
    NotFound {
        /// The UDID or name given.
        wanted: String,
        /// The connected phones, one per line.
        list: String,
    },
    /// The phone did not trust this computer in time.
    #[error("{name} did not trust this computer within {secs} s. Unlock the iPhone, tap Trust on the \"Trust This Computer?\" prompt, and run again")]
    NotTrusted {
        /// The phone's name.
        name: String,
        /// How long camroll waited, in seconds.
        secs: u64,
    },
    /// The phone stayed locked.
    #[error("{name} stayed locked for {secs} s. Unlock the iPhone and run again")]
    Locked {
        /// The phone's name.
        name: String,
        /// How long camroll waited, in seconds.
        secs: u64,
    },
    /// A lockdownd or AFC exchange with the phone failed.
    #[error("{name}: {what}: {error}")]
    Protocol {
        /// The phone's name.
        name: String,
        /// What camroll was doing, e.g. `starting the file service (AFC)`.
        what: &'static str,
        /// The error, with its causes.
        error: String,
    },
}

/// How to reach and use the phone.
#[derive(Debug, Clone)]
pub struct DeviceOptions {
    /// usbmuxd address (`UNIX:/path` or `host:port`); default: `USBMUXD_SOCKET_ADDRESS`, then the platform's.
    pub usbmux: Option<String>,
    /// `UDID` or device name; `None` = the only connected phone.
    pub select: Option<String>,
    /// How long to wait for Trust, unlock or a re-plugged phone.
    pub wait: Duration,
    /// Also export edited renders.
    pub edited: bool,
    /// AFC connections for listing.
    pub connections: usize,
    /// Where copies of Photos.sqlite are kept between runs.
    pub cache_dir: Option<PathBuf>,
}

impl Default for DeviceOptions {
    fn default() -> Self {
        DeviceOptions {
            usbmux: None,
            select: None,
            wait: Duration::from_secs(180),
            edited: false,
            connections: 16,
            cache_dir: None,
        }
    }
}

/// A connected phone, as `camroll devices` shows it: one per UDID, however many
/// usbmuxd entries reach it (a phone with Wi-Fi sync on is listed over USB and
/// over the network at once, with the same UDID: libimobiledevice#487, #556).
#[derive(Debug, Clone, Serialize)]
pub struct PhoneInfo {
    /// The phone's UDID, as usbmuxd reports it.
    pub udid: String,
    /// The name set on the phone (`DeviceName`; `iPhone` when it cannot be read).
    pub name: String,
    /// The model identifier (`ProductType`, e.g. `iPhone14,2`); empty when it cannot be read.
    pub model: String,
    /// The iOS version (`ProductVersion`, e.g. `17.5.1`); empty when it cannot be read.
    pub ios: String,
    /// How it is reached, for people: "USB", "Wi-Fi" or "USB and Wi-Fi".
    pub connection: String,
    /// How it is reached, for programs: `usb` and/or `network`, preferred first.
    pub connections: Vec<String>,
    /// True when usbmuxd holds a pairing record for it (the phone trusted a computer here).
    pub trusted: bool,
    /// `None` when it cannot be told (not trusted yet).
    pub locked: Option<bool>,
}

impl PhoneInfo {
    fn line(&self) -> String {
        format!(
            "  {}  {} ({}, iOS {}, {})",
            self.udid, self.name, self.model, self.ios, self.connection
        )
    }
}

/// Resolves the usbmuxd address: `--usbmux`, then `USBMUXD_SOCKET_ADDRESS`
/// (libimobiledevice's convention: `UNIX:/path` or `host:port`), then the platform default.
pub fn usbmux_addr(explicit: Option<&str>) -> Result<UsbmuxdAddr, DeviceError> {
    let value = explicit
        .map(str::to_string)
        .or_else(|| std::env::var("USBMUXD_SOCKET_ADDRESS").ok());
    let Some(v) = value.filter(|v| !v.is_empty()) else {
        #[cfg(unix)]
        return Ok(UsbmuxdAddr::UnixSocket(
            UsbmuxdAddr::SOCKET_FILE.to_string(),
        ));
        #[cfg(not(unix))]
        return Ok(UsbmuxdAddr::TcpSocket(
            ([127, 0, 0, 1], UsbmuxdAddr::DEFAULT_PORT).into(),
        ));
    };
    #[cfg(unix)]
    {
        if let Some(path) = v.strip_prefix("UNIX:") {
            return Ok(UsbmuxdAddr::UnixSocket(path.to_string()));
        }
        if v.starts_with('/') {
            return Ok(UsbmuxdAddr::UnixSocket(v));
        }
    }
    // host:port, resolved (so `localhost:27015` works too).
    v.to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .map(UsbmuxdAddr::TcpSocket)
        .ok_or(DeviceError::BadAddress(v))
}

fn addr_text(a: &UsbmuxdAddr) -> String {
    match a {
        #[cfg(unix)]
        UsbmuxdAddr::UnixSocket(p) => format!("UNIX:{p}"),
        UsbmuxdAddr::TcpSocket(s) => s.to_string(),
    }
}

fn runtime() -> io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
}

async fn mux(addr: &UsbmuxdAddr) -> Result<UsbmuxdConnection, DeviceError> {
    addr.connect(1)
        .await
        .map_err(|source| DeviceError::NoUsbmuxd {
            addr: addr_text(addr),
            error: chain(&source),
        })
}

/// The connected phones, one per UDID, with name, model, iOS version, how
/// they are connected, trust and lock state.
pub fn list_devices(addr: &UsbmuxdAddr) -> Result<Vec<PhoneInfo>, DeviceError> {
    let rt = runtime().map_err(|e| DeviceError::NoUsbmuxd {
        addr: addr_text(addr),
        error: e.to_string(),
    })?;
    Ok(rt
        .block_on(phones(addr))?
        .into_iter()
        .map(|(info, _)| info)
        .collect())
}

/// Every phone usbmuxd lists, once per UDID, with its entries (USB first).
async fn phones(addr: &UsbmuxdAddr) -> Result<Vec<(PhoneInfo, Vec<UsbmuxdDevice>)>, DeviceError> {
    let devices =
        mux(addr)
            .await?
            .get_devices()
            .await
            .map_err(|source| DeviceError::NoUsbmuxd {
                addr: addr_text(addr),
                error: chain(&source),
            })?;
    let mut out = Vec::new();
    for links in by_udid(devices) {
        // The preferred entry answers for the phone: over USB when there is one.
        let mut info = describe(addr, &links[0]).await;
        info.connections = links.iter().map(|d| link_key(d).to_string()).collect();
        info.connections.dedup();
        info.connection = connection_text(&info.connections);
        out.push((info, links));
    }
    Ok(out)
}

/// usbmuxd's entries grouped by phone (UDIDs compared without hyphens, as
/// pymobiledevice3 does), each group ordered USB, then network, then others,
/// in the order the phones were first listed.
fn by_udid(devices: Vec<UsbmuxdDevice>) -> Vec<Vec<UsbmuxdDevice>> {
    let mut groups: Vec<Vec<UsbmuxdDevice>> = Vec::new();
    for d in devices {
        match groups.iter_mut().find(|g| same_udid(&g[0].udid, &d.udid)) {
            Some(g) => g.push(d),
            None => groups.push(vec![d]),
        }
    }
    for g in &mut groups {
        // Stable: among equals, usbmuxd's order stands.
        g.sort_by_key(link_rank);
    }
    groups
}

/// USB before the network: faster, and what pymobiledevice3's `select_device`
/// and libusbmuxd's `usbmuxd_get_device` pick when a phone is listed both ways.
fn link_rank(d: &UsbmuxdDevice) -> u8 {
    match d.connection_type {
        idevice::usbmuxd::Connection::Usb => 0,
        idevice::usbmuxd::Connection::Network(_) => 1,
        idevice::usbmuxd::Connection::Unknown(_) => 2,
    }
}

fn link_key(d: &UsbmuxdDevice) -> &'static str {
    match d.connection_type {
        idevice::usbmuxd::Connection::Usb => "usb",
        idevice::usbmuxd::Connection::Network(_) => "network",
        idevice::usbmuxd::Connection::Unknown(_) => "other",
    }
}

fn link_name(key: &str) -> &'static str {
    match key {
        "usb" => "USB",
        "network" => "Wi-Fi",
        _ => "another link",
    }
}

/// "USB", "Wi-Fi", "USB and Wi-Fi".
fn connection_text(keys: &[String]) -> String {
    let names: Vec<&str> = keys.iter().map(|k| link_name(k)).collect();
    match names.as_slice() {
        [] => String::new(),
        [one] => one.to_string(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

async fn describe(addr: &UsbmuxdAddr, d: &UsbmuxdDevice) -> PhoneInfo {
    let provider = d.to_provider(addr.clone(), LABEL);
    let key = link_key(d).to_string();
    let mut info = PhoneInfo {
        udid: d.udid.clone(),
        name: String::new(),
        model: String::new(),
        ios: String::new(),
        connection: link_name(&key).to_string(),
        connections: vec![key],
        trusted: false,
        locked: None,
    };
    if let Ok(mut lockdown) = LockdownClient::connect(&provider).await {
        // Before a session lockdownd answers these basic keys.
        for (key, slot) in [
            ("DeviceName", &mut info.name),
            ("ProductType", &mut info.model),
            ("ProductVersion", &mut info.ios),
        ] {
            if let Ok(v) = lockdown.get_value(Some(key), None).await {
                if let Some(s) = v.as_string() {
                    *slot = s.to_string();
                }
            }
        }
        if let Ok(v) = lockdown.get_value(Some("PasswordProtected"), None).await {
            info.locked = v.as_boolean();
        }
    }
    if let Ok(mut m) = mux(addr).await {
        info.trusted = m.get_pair_record(&d.udid).await.is_ok();
    }
    if info.name.is_empty() {
        info.name = "iPhone".into();
    }
    info
}

/// State shared by the source and its open readers.
struct Shared {
    rt: tokio::runtime::Runtime,
    addr: UsbmuxdAddr,
    udid: String,
    device_id: AtomicU32,
    /// `usb` or `network`: how `device_id` reaches the phone.
    link: Mutex<&'static str>,
    /// How many AFC connections the phone grants at once, once it has answered
    /// `ServiceLimit` (lockdownd caps the services a host holds).
    service_cap: AtomicUsize,
    /// The user was asked to unlock the phone (say it once per lock).
    told_locked: AtomicBool,
    name: String,
    pairing: PairingFile,
    /// Idle AFC connections, reused by readers.
    pool: Mutex<Vec<AfcClient>>,
    /// Files open for reading at this moment (see [`SHARED_READ_CHUNK`]).
    readers: AtomicUsize,
    /// Connections listing rounds hold at this moment (the library's and
    /// DCIM's run side by side): counted when learning the service limit.
    listing: AtomicUsize,
    wait: Duration,
    /// Set, once, when the phone left and did not come back in time (or
    /// stayed locked): why, the message every later request fails with at
    /// once, so a file opened after the wait says the same as the one that
    /// waited.
    gone: std::sync::OnceLock<String>,
    /// One reconnect at a time; others wait for its outcome.
    reconnecting: Mutex<()>,
    /// When usbmuxd was last asked whether the phone is cabled again (while
    /// it is reached over Wi-Fi).
    usb_looked: Mutex<Instant>,
}

/// How often, while the phone is reached over Wi-Fi, usbmuxd is asked whether
/// it is cabled too (one local `ListDevices`).
const USB_LOOK_EVERY: Duration = Duration::from_secs(1);

impl Shared {
    fn provider(&self) -> UsbmuxdProvider {
        let id = self.device_id.load(Ordering::Relaxed);
        UsbmuxdProvider {
            addr: self.addr.clone(),
            tag: id,
            udid: self.udid.clone(),
            device_id: id,
            label: LABEL.into(),
        }
    }

    /// A new AFC connection: lockdown session (TLS), StartService, TLS on the service.
    async fn connect_afc(&self) -> Result<AfcClient, IdeviceError> {
        let provider = self.provider();
        let mut lockdown = LockdownClient::connect(&provider).await?;
        lockdown.start_session(&self.pairing).await?;
        let (port, ssl) = lockdown.start_service("com.apple.afc").await?;
        let mut idevice = idevice::provider::IdeviceProvider::connect(&provider, port).await?;
        if ssl {
            idevice.start_session(&self.pairing, false).await?;
        }
        Ok(AfcClient::new(idevice))
    }

    /// A new AFC connection, waiting (bounded by `--wait`) while the phone is
    /// locked: lockdownd answers StartService with `PasswordProtected` then, and
    /// a phone can lock in the middle of a run.
    fn connect_unlocked(&self) -> Result<AfcClient, IdeviceError> {
        let deadline = Instant::now() + self.wait;
        loop {
            match self.rt.block_on(self.connect_afc()) {
                Err(IdeviceError::PasswordProtected) if Instant::now() < deadline => {
                    if !self.told_locked.swap(true, Ordering::Relaxed) {
                        eprintln!(
                            "camroll: {} is locked. Unlock it to continue (waiting up to {} s)…",
                            self.name,
                            self.wait.as_secs()
                        );
                    }
                    std::thread::sleep(Duration::from_millis(300));
                }
                Ok(c) => {
                    if self.told_locked.swap(false, Ordering::Relaxed) {
                        eprintln!("camroll: {} is unlocked; continuing.", self.name);
                    }
                    return Ok(c);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// While the phone is reached over Wi-Fi: when usbmuxd lists it over USB
    /// too (the cable is back, or was plugged in during the run), new
    /// connections go over the cable, which is faster and what every client
    /// prefers; idle Wi-Fi connections are dropped. If the cable does not
    /// answer, Wi-Fi stays.
    fn prefer_usb(&self) {
        if *self.link.lock().unwrap_or_else(|e| e.into_inner()) != "network" {
            return;
        }
        {
            let mut last = self.usb_looked.lock().unwrap_or_else(|e| e.into_inner());
            if last.elapsed() < USB_LOOK_EVERY {
                return;
            }
            *last = Instant::now();
        }
        let usb = self.rt.block_on(async {
            let mut m = self.addr.connect(1).await.ok()?;
            let devices = m.get_devices().await.ok()?;
            devices.into_iter().find(|d| {
                same_udid(&d.udid, &self.udid)
                    && matches!(d.connection_type, idevice::usbmuxd::Connection::Usb)
            })
        });
        let Some(d) = usb else { return };
        let wifi_id = self.device_id.swap(d.device_id, Ordering::Relaxed);
        match self.rt.block_on(self.connect_afc()) {
            Ok(c) => {
                *self.link.lock().unwrap_or_else(|e| e.into_inner()) = "usb";
                let mut pool = self.pool.lock().unwrap_or_else(|e| e.into_inner());
                pool.clear();
                pool.push(c);
                eprintln!(
                    "camroll: {} is back over USB; continuing over the cable.",
                    self.name
                );
            }
            Err(_) => self.device_id.store(wifi_id, Ordering::Relaxed),
        }
    }

    /// An idle pooled connection, else a new one; never waits for the pool.
    fn try_take(&self) -> Result<AfcClient, IdeviceError> {
        self.prefer_usb();
        if let Some(c) = self.pool.lock().unwrap_or_else(|e| e.into_inner()).pop() {
            return Ok(c);
        }
        self.connect_unlocked()
    }

    /// Like [`Shared::try_take`], but when the phone grants no more services
    /// (`ServiceLimit`) waits for a connection another reader gives back.
    fn take(&self) -> Result<AfcClient, IdeviceError> {
        match self.try_take() {
            Err(e) if is_service_limit(&e) => {
                let deadline = Instant::now() + self.wait;
                let mut next_try = Instant::now() + Duration::from_secs(1);
                while Instant::now() < deadline {
                    if let Some(c) = self.pool.lock().unwrap_or_else(|e| e.into_inner()).pop() {
                        return Ok(c);
                    }
                    if Instant::now() >= next_try {
                        match self.rt.block_on(self.connect_afc()) {
                            Ok(c) => return Ok(c),
                            Err(e) if is_service_limit(&e) => {}
                            Err(e) => return Err(e),
                        }
                        next_try = Instant::now() + Duration::from_secs(1);
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e)
            }
            other => other,
        }
    }

    fn give(&self, c: AfcClient) {
        self.pool.lock().unwrap_or_else(|e| e.into_inner()).push(c);
    }

    /// After a transport error: waits (bounded) for the same phone to be back,
    /// then returns a fresh connection.
    fn reconnect(&self) -> Result<AfcClient, io::Error> {
        let _one = self.reconnecting.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = self.gone_error() {
            return Err(e);
        }
        // Connections in the pool share the fate of the one that failed.
        self.pool.lock().unwrap_or_else(|e| e.into_inner()).clear();
        if let Ok(c) = self.connect_unlocked() {
            return Ok(c);
        }
        eprintln!(
            "camroll: {} disconnected. Plug it back in (waiting up to {} s)…",
            self.name,
            self.wait.as_secs()
        );
        let deadline = Instant::now() + self.wait;
        while Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(500));
            // The same phone (same UDID), over USB when it is cabled again,
            // else over Wi-Fi if it has Wi-Fi sync on.
            let found = self.rt.block_on(async {
                let mut m = self.addr.connect(1).await.ok()?;
                let devices = m.get_devices().await.ok()?;
                by_udid(devices)
                    .into_iter()
                    .find(|g| same_udid(&g[0].udid, &self.udid))
                    .map(|mut g| g.swap_remove(0))
            });
            let Some(d) = found else { continue };
            self.device_id.store(d.device_id, Ordering::Relaxed);
            let was = std::mem::replace(
                &mut *self.link.lock().unwrap_or_else(|e| e.into_inner()),
                link_key(&d),
            );
            match self.connect_unlocked() {
                Ok(c) => {
                    if was != link_key(&d) {
                        eprintln!(
                            "camroll: {} is back over {}; continuing.",
                            self.name,
                            link_name(link_key(&d))
                        );
                    } else {
                        eprintln!("camroll: {} is back; continuing.", self.name);
                    }
                    return Ok(c);
                }
                Err(IdeviceError::PasswordProtected) => {
                    return Err(self.set_gone(self.locked_message()));
                }
                Err(_) => {}
            }
        }
        Err(self.set_gone(format!(
            "{} was disconnected and did not come back within {} s; plug it in and run again to finish",
            self.name,
            self.wait.as_secs()
        )))
    }

    /// Notes that the phone is gone for the rest of the run, and why.
    fn set_gone(&self, why: String) -> io::Error {
        // The first reason stays: later ones are its consequences.
        let why = self.gone.get_or_init(|| why);
        io::Error::new(io::ErrorKind::NotConnected, why.clone())
    }

    /// Once the phone is gone: the error every request fails with at once.
    fn gone_error(&self) -> Option<io::Error> {
        let why = self.gone.get()?;
        Some(io::Error::new(io::ErrorKind::NotConnected, why.clone()))
    }

    /// What a phone that stayed locked through the wait is told.
    fn locked_message(&self) -> String {
        format!(
            "{} stayed locked for {} s; unlock it and run again to finish",
            self.name,
            self.wait.as_secs()
        )
    }

    /// A connection for a new request (a file to open, a batch to list):
    /// pooled or new. When the phone cannot be reached (unplugged; or,
    /// under its old DeviceID, another phone that does not know this
    /// computer), waits for the same phone to be back like a transfer cut
    /// in the middle does ([`Shared::reconnect`]), rather than failing the
    /// request at once. A phone that stays locked, or grants no more
    /// connections, is not waited for twice.
    fn take_or_wait(&self) -> io::Result<AfcClient> {
        if let Some(e) = self.gone_error() {
            return Err(e);
        }
        match self.take() {
            Ok(c) => Ok(c),
            Err(IdeviceError::PasswordProtected) => Err(io::Error::other(self.locked_message())),
            Err(e) if is_service_limit(&e) => Err(io::Error::other(format!("{}: {e}", self.name))),
            Err(_) => self.reconnect(),
        }
    }
}

/// An error with its causes, `a: b: c` (idevice's own messages hide the I/O cause).
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// A copy of an I/O error (kind and message) for each request it ends.
fn clone_io(e: &io::Error) -> io::Error {
    io::Error::new(e.kind(), e.to_string())
}

/// The phone went away (as opposed to refusing one file).
fn is_disconnect(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotConnected
}

/// lockdownd's `ServiceLimit`: the host holds as many services as the phone allows.
fn is_service_limit(e: &IdeviceError) -> bool {
    matches!(e, IdeviceError::UnknownErrorType(s) if s.starts_with("ServiceLimit"))
}

fn same_udid(a: &str, b: &str) -> bool {
    a.replace('-', "").eq_ignore_ascii_case(&b.replace('-', ""))
}

/// A transport failure (connection gone), as opposed to an AFC error about one file.
fn is_transport(e: &IdeviceError) -> bool {
    matches!(
        e,
        IdeviceError::Socket(_)
            | IdeviceError::Rustls(_)
            | IdeviceError::Timeout
            | IdeviceError::NoEstablishedConnection
    ) || matches!(
        e,
        IdeviceError::Afc(idevice::afc::errors::AfcError::MuxError)
    ) || matches!(
        // usbmuxd no longer knows the DeviceID: unplugged, or back under a new one.
        e,
        IdeviceError::Usbmuxd(
            idevice::usbmuxd::errors::UsbmuxdError::BadDevice
                | idevice::usbmuxd::errors::UsbmuxdError::ConnectionRefused
        )
    )
}

fn afc_io_error(e: IdeviceError, path: &str) -> io::Error {
    use idevice::afc::errors::AfcError;
    match e {
        IdeviceError::Afc(AfcError::ReadError | AfcError::IoError) => io::Error::other(format!(
            "the iPhone could not read {path} (an optimized original that is only in iCloud reads like this: turn on Settings › Photos › Download and Keep Originals)"
        )),
        IdeviceError::Afc(AfcError::ObjectNotFound) => io::Error::new(io::ErrorKind::NotFound, format!("{path} is no longer on the iPhone")),
        // afcd refuses to open a file that has other hard links ("Failed open
        // operation as there are additional hard links", ifuse#54).
        IdeviceError::Afc(AfcError::PermDenied) => io::Error::new(io::ErrorKind::PermissionDenied, format!(
            "the iPhone refused to open {path} (its file service refuses files that have other hard links on the phone, a state left by some restores and sync tools). Duplicate the photo in the Photos app, or import it with Image Capture or the Windows Photos app, then run again"
        )),
        other => io::Error::other(format!("{path}: {other}")),
    }
}

/// The AFC requests [`DeviceSource::afc_many`] spreads over connections.
#[derive(Debug, Clone, Copy)]
enum Query {
    Stat,
    List,
}

/// Requests kept in flight on one AFC connection while listing: the phone
/// answers in order (protocol.md: pymobiledevice3 keeps several in flight),
/// so each round trip's wait overlaps the next ones.
const PIPELINE: usize = 16;

/// Requests sent in one write once that many replies are in: one TLS record
/// and one system call on each side per batch, not per file.
const REFILL: usize = 8;

/// One kind of request for every path of `paths` on one connection, up to
/// [`PIPELINE`] in flight. Returns the answers (an AFC error status is an
/// answer), and the paths left unanswered when the connection broke (a
/// transport error or a stall: replies cannot be matched to requests any
/// more), with the error that broke it. A broken connection is not reused.
async fn pipelined(client: &mut AfcClient, paths: Vec<String>, query: Query) -> Pipelined {
    let mut out = Pipelined {
        answered: Vec::with_capacity(paths.len()),
        cut: Vec::new(),
        broke: None,
    };
    let mut todo = paths.into_iter();
    let mut in_flight = std::collections::VecDeque::new();
    let mut batch = Vec::new();
    loop {
        if in_flight.len() <= PIPELINE - REFILL {
            batch.clear();
            while in_flight.len() < PIPELINE {
                let Some(p) = todo.next() else { break };
                afc_wire::encode_path_query(&mut batch, matches!(query, Query::Stat), &p);
                in_flight.push_back(p);
            }
            if !batch.is_empty() {
                if let Err(e) = afc_wire::send_encoded(client, &batch).await {
                    out.broke = Some(e);
                    break;
                }
            }
        }
        let Some(p) = in_flight.pop_front() else {
            break;
        };
        let reply = tokio::time::timeout(afc_stall(), afc_wire::read_reply(client))
            .await
            .unwrap_or(Err(IdeviceError::Timeout));
        match reply {
            Ok(r) => out.answered.push((
                p,
                Ok(match query {
                    Query::Stat => Answer::Stat(afc_wire::file_info_of(&r)),
                    Query::List => Answer::List(afc_wire::dir_names(&r)),
                }),
            )),
            // An AFC error status is a whole reply: still in step.
            Err(IdeviceError::Afc(e)) => out.answered.push((p, Err(IdeviceError::Afc(e)))),
            Err(e) => {
                in_flight.push_front(p);
                out.broke = Some(e);
                break;
            }
        }
    }
    if out.broke.is_some() {
        out.cut.extend(in_flight);
        out.cut.extend(todo);
    }
    out
}

/// What [`pipelined`] got through one connection.
struct Pipelined {
    answered: Vec<(String, Result<Answer, IdeviceError>)>,
    /// Paths not answered because the connection broke.
    cut: Vec<String>,
    /// What broke it.
    broke: Option<IdeviceError>,
}

/// Why a listing request got no answer: the phone's own error about that
/// path, or the phone went away and did not come back in time.
#[derive(Debug)]
enum ListError {
    Device(IdeviceError),
    Gone(io::Error),
}

impl std::fmt::Display for ListError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ListError::Device(e) => write!(f, "{}", chain(e)),
            ListError::Gone(e) => write!(f, "{e}"),
        }
    }
}

enum Answer {
    Stat(FileInfo),
    List(Vec<String>),
}

impl Answer {
    fn stat(self) -> StatResult {
        match self {
            Answer::Stat(kv) => Ok(kv),
            Answer::List(_) => Err(ListError::Device(IdeviceError::InternalError(
                "unexpected listing".into(),
            ))),
        }
    }
    fn list(self) -> Result<Vec<String>, ListError> {
        match self {
            Answer::List(v) => Ok(v),
            Answer::Stat(_) => Err(ListError::Device(IdeviceError::InternalError(
                "unexpected file information".into(),
            ))),
        }
    }
}

/// AFC GetFileInfo: size, mtime and type.
type StatResult = Result<FileInfo, ListError>;

/// The iPhone as a [`Source`].
pub struct DeviceSource {
    shared: Arc<Shared>,
    /// The phone this source reads from.
    pub info: PhoneInfo,
    opts: DeviceOptions,
    /// The local copy of the phone's library read during the scan.
    library_db: Mutex<Option<PathBuf>>,
    library_report: Mutex<Option<LibraryReport>>,
}

impl DeviceSource {
    /// Finds the phone, pairs with it when needed (the user taps Trust), waits
    /// while it is locked, and opens a first AFC connection.
    pub fn connect(opts: DeviceOptions) -> Result<DeviceSource, DeviceError> {
        let addr = usbmux_addr(opts.usbmux.as_deref())?;
        let rt = runtime().map_err(|e| DeviceError::NoUsbmuxd {
            addr: addr_text(&addr),
            error: e.to_string(),
        })?;
        let phones = rt.block_on(phones(&addr))?;
        let list = || {
            phones
                .iter()
                .map(|(p, _)| p.line())
                .collect::<Vec<_>>()
                .join("\n")
        };
        let (info, links) = match &opts.select {
            None => match phones.len() {
                0 => return Err(DeviceError::NoDevice),
                1 => phones[0].clone(),
                _ => return Err(DeviceError::Several(list())),
            },
            Some(want) => phones
                .iter()
                .find(|(p, _)| same_udid(&p.udid, want) || p.name == *want)
                .cloned()
                .ok_or_else(|| DeviceError::NotFound {
                    wanted: want.clone(),
                    list: list(),
                })?,
        };
        let name = info.name.clone();
        // USB when the phone is cabled; Wi-Fi when that is all there is.
        let device = links[0].clone();
        if link_rank(&device) == 1 {
            eprintln!("camroll: {name} is connected over Wi-Fi only; transfers are slower than over a cable.");
        }
        let pairing = rt.block_on(pair_record(&addr, &device, &name, opts.wait))?;
        let shared = Arc::new(Shared {
            rt,
            addr,
            udid: device.udid.clone(),
            device_id: AtomicU32::new(device.device_id),
            link: Mutex::new(link_key(&device)),
            service_cap: AtomicUsize::new(usize::MAX),
            told_locked: AtomicBool::new(false),
            name: name.clone(),
            pairing,
            pool: Mutex::new(Vec::new()),
            readers: AtomicUsize::new(0),
            listing: AtomicUsize::new(0),
            wait: opts.wait,
            gone: std::sync::OnceLock::new(),
            reconnecting: Mutex::new(()),
            usb_looked: Mutex::new(Instant::now()),
        });
        // The first AFC connection: waits while the phone is locked.
        let deadline = Instant::now() + opts.wait;
        let mut told = false;
        let first = loop {
            match shared.rt.block_on(shared.connect_afc()) {
                Ok(c) => break c,
                Err(IdeviceError::PasswordProtected) if Instant::now() < deadline => {
                    if !told {
                        eprintln!("camroll: Unlock your iPhone ({name}) to continue (waiting up to {} s)…", opts.wait.as_secs());
                        told = true;
                    }
                    std::thread::sleep(Duration::from_millis(500));
                }
                Err(IdeviceError::PasswordProtected) => {
                    return Err(DeviceError::Locked {
                        name,
                        secs: opts.wait.as_secs(),
                    })
                }
                Err(e) => {
                    return Err(DeviceError::Protocol {
                        name,
                        what: "starting the file service (AFC)",
                        error: chain(&e),
                    })
                }
            }
        };
        shared.give(first);
        let info = PhoneInfo {
            trusted: true,
            locked: Some(false),
            ..info
        };
        Ok(DeviceSource {
            shared,
            info,
            opts,
            library_db: Mutex::new(None),
            library_report: Mutex::new(None),
        })
    }

    /// The library view of the last scan (Photos.sqlite against the files found).
    pub fn library_report(&self) -> Option<LibraryReport> {
        self.library_report
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// GetFileInfo for many paths over several connections at once.
    fn stat_many(&self, paths: Vec<String>) -> Vec<(String, StatResult)> {
        self.afc_many(paths, Query::Stat)
            .into_iter()
            .map(|(p, r)| (p, r.and_then(Answer::stat)))
            .collect()
    }

    /// ReadDir for many folders over several connections at once.
    fn list_many(&self, dirs: Vec<String>) -> Vec<(String, Result<Vec<String>, ListError>)> {
        self.afc_many(dirs, Query::List)
            .into_iter()
            .map(|(p, r)| (p, r.and_then(Answer::list)))
            .collect()
    }

    /// One kind of request for many paths, spread over up to `connections`
    /// AFC connections: round trips, not bytes, dominate listing a phone.
    /// When the phone goes away meanwhile (unplugged, or a stall), waits
    /// for the same phone to be back as a transfer does
    /// ([`Shared::reconnect`]: same messages, same `--wait`) and asks again
    /// what was left unanswered; once it is gone, that fails with the reason.
    fn afc_many(
        &self,
        paths: Vec<String>,
        query: Query,
    ) -> Vec<(String, Result<Answer, ListError>)> {
        let mut out = Vec::with_capacity(paths.len());
        let mut todo = paths;
        // Rounds in a row that got no answer at all: a phone that comes back
        // and breaks again on the same request is not asked forever.
        let mut fruitless = 0;
        while !todo.is_empty() {
            let asked = todo.len();
            let Pipelined {
                answered,
                cut,
                broke,
            } = match self.shared.take_or_wait() {
                Ok(first) => {
                    // Counted from now on (see `Shared::listing`), the others as opened.
                    self.shared.listing.fetch_add(1, Ordering::Relaxed);
                    self.afc_round(first, std::mem::take(&mut todo), query)
                }
                Err(e) => {
                    out.extend(
                        todo.drain(..)
                            .map(|p| (p, Err(ListError::Gone(clone_io(&e))))),
                    );
                    break;
                }
            };
            out.extend(
                answered
                    .into_iter()
                    .map(|(p, r)| (p, r.map_err(ListError::Device))),
            );
            if cut.is_empty() {
                break;
            }
            fruitless = if cut.len() == asked { fruitless + 1 } else { 0 };
            let retry = match &broke {
                Some(e) if fruitless >= 3 => Err(io::Error::other(format!(
                    "{}: {}",
                    self.shared.name,
                    chain(e)
                ))),
                _ => self.shared.reconnect().map(|c| self.shared.give(c)),
            };
            match retry {
                Ok(()) => todo = cut,
                Err(e) => {
                    out.extend(
                        cut.into_iter()
                            .map(|p| (p, Err(ListError::Gone(clone_io(&e))))),
                    );
                    break;
                }
            }
        }
        out
    }

    /// One round of [`DeviceSource::afc_many`]: `first` and up to
    /// `connections` - 1 more connections, each with a share of `paths`.
    fn afc_round(&self, first: AfcClient, paths: Vec<String>, query: Query) -> Pipelined {
        let cap = self.shared.service_cap.load(Ordering::Relaxed);
        let n = self.opts.connections.clamp(1, 32).min(paths.len()).min(cap);
        // The first connection as any reader gets one (waiting while the
        // phone is locked or at its service limit); then idle pooled ones.
        let mut clients = vec![first];
        while clients.len() < n {
            match self
                .shared
                .pool
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .pop()
            {
                Some(c) => clients.push(c),
                None => break,
            }
        }
        // The rest are opened all at once: each costs a lockdown session
        // and two TLS handshakes, and opened one after another they took
        // longer than the listing itself (16 × ~40 ms).
        let more = n - clients.len();
        if more > 0 {
            let opened = self.shared.rt.block_on(async {
                let mut set = tokio::task::JoinSet::new();
                for _ in 0..more {
                    let shared = self.shared.clone();
                    set.spawn(async move { shared.connect_afc().await });
                }
                let mut all = Vec::new();
                while let Some(r) = set.join_next().await {
                    if let Ok(r) = r {
                        all.push(r);
                    }
                }
                all
            });
            let mut limited = false;
            for r in opened {
                match r {
                    Ok(c) => clients.push(c),
                    Err(e) if is_service_limit(&e) => limited = true,
                    // A locked phone or a failing link: list with fewer.
                    Err(_) => {}
                }
            }
            // Back off to the connections granted, and remember how many the
            // phone allows: these, and those held elsewhere meanwhile (open
            // files, another listing beside this one, idle in the pool).
            // (`listing` counts the first of these already.)
            let cap = clients.len() - 1
                + self.shared.readers.load(Ordering::Relaxed)
                + self.shared.listing.load(Ordering::Relaxed)
                + self
                    .shared
                    .pool
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .len();
            if limited && self.shared.service_cap.swap(cap, Ordering::Relaxed) == usize::MAX {
                eprintln!(
                    "camroll: {} allows {cap} connections at once (ServiceLimit); continuing with those.",
                    self.shared.name,
                );
            }
        }
        let held = clients.len();
        self.shared.listing.fetch_add(held - 1, Ordering::Relaxed);
        let per = paths.len().div_ceil(clients.len());
        let chunks: Vec<Vec<String>> = paths.chunks(per).map(|c| c.to_vec()).collect();
        let results = self.shared.rt.block_on(async {
            let mut set = tokio::task::JoinSet::new();
            for (mut client, chunk) in clients.into_iter().zip(chunks) {
                set.spawn(async move {
                    let out = pipelined(&mut client, chunk, query).await;
                    (out.broke.is_none().then_some(client), out)
                });
            }
            let mut all = Vec::new();
            while let Some(r) = set.join_next().await {
                if let Ok(r) = r {
                    all.push(r);
                }
            }
            all
        });
        self.shared.listing.fetch_sub(held, Ordering::Relaxed);
        let mut all = Pipelined {
            answered: Vec::new(),
            cut: Vec::new(),
            broke: None,
        };
        for (client, r) in results {
            // A connection whose replies fell out of step is dropped, not reused.
            if let Some(client) = client {
                self.shared.give(client);
            }
            all.answered.extend(r.answered);
            all.cut.extend(r.cut);
            all.broke = all.broke.or(r.broke);
        }
        all
    }

    /// Lists the trees under `roots` breadth-first, level by level: every
    /// folder of a level is listed, then every entry stat-ed, each batch
    /// spread over several connections. Files go to `files`; each is also
    /// handed to `early` as soon as it is listed, when given. A missing
    /// root is skipped, except `DCIM`: it not being listable is the error.
    fn list_trees(
        &self,
        roots: Vec<String>,
        scan: &mut Scan,
        files: &mut Vec<(String, FileInfo)>,
        mut early: Option<&mut dyn FnMut(&SourceItem)>,
    ) -> Result<(), ListError> {
        let mut level: Vec<String> = roots;
        let mut first = true;
        while !level.is_empty() {
            let mut paths = Vec::new();
            for (dir, listed) in self.list_many(std::mem::take(&mut level)) {
                let names = match listed {
                    Ok(n) => n,
                    Err(ListError::Device(IdeviceError::Afc(
                        idevice::afc::errors::AfcError::ObjectNotFound,
                    ))) if !first || dir != "DCIM" => continue,
                    Err(e) if first && dir == "DCIM" => return Err(e),
                    Err(e) => {
                        scan.failed.push((dir.clone(), format!("cannot list: {e}")));
                        continue;
                    }
                };
                paths.extend(
                    names
                        .iter()
                        .filter(|n| !n.starts_with('.'))
                        .map(|n| format!("{dir}/{n}")),
                );
            }
            first = false;
            for (path, r) in self.stat_many(paths) {
                match r {
                    Err(e) => scan
                        .failed
                        .push((path, format!("cannot read file information: {e}"))),
                    Ok(info) => match info.ifmt {
                        Ifmt::Dir => level.push(path),
                        Ifmt::File => {
                            if let (Some(early), Some((dir, name))) =
                                (early.as_mut(), path.rsplit_once('/'))
                            {
                                early(&SourceItem {
                                    rel_path: path.clone(),
                                    dir: dir.to_string(),
                                    name: name.to_string(),
                                    size: info.size.unwrap_or(0),
                                    mtime: ns_to_time(info.mtime_ns),
                                    locator: PathBuf::new(),
                                    // Not known until the library is read.
                                    listed: None,
                                });
                            }
                            files.push((path, info))
                        }
                        Ifmt::Link => scan.skipped.push(Skipped {
                            path,
                            reason: "symbolic link (not followed)".into(),
                        }),
                        Ifmt::Other(other) => scan.skipped.push(Skipped {
                            path,
                            reason: format!(
                                "not a regular file ({})",
                                other.as_deref().unwrap_or("unknown type")
                            ),
                        }),
                    },
                }
            }
            level.sort();
        }
        Ok(())
    }

    /// Copies Photos.sqlite (+ `-wal`, `-shm`) into the cache, unless the
    /// cached copy has the same sizes and mtimes: the library can be hundreds
    /// of MB, and a no-change run must not copy it again.
    fn fetch_library(&self) -> Result<Library, String> {
        let cache = self
            .opts
            .cache_dir
            .clone()
            .unwrap_or_else(default_cache_dir)
            .join("devices")
            .join(self.shared.udid.replace(['/', '\\'], "_"));
        std::fs::create_dir_all(&cache).map_err(|e| format!("{}: {e}", cache.display()))?;
        let names = ["Photos.sqlite", "Photos.sqlite-wal", "Photos.sqlite-shm"];
        let stamp_file = cache.join("stamp");
        let db = cache.join("Photos.sqlite");
        // The phone writes to its library all the time, and the three files are
        // copied one after another: a copy is only used if none of them changed
        // meanwhile (osxphotos#1743: "database disk image is malformed").
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (stamp, present) = self.library_stamp(&names);
            if !present.iter().any(|p| p.ends_with("Photos.sqlite")) {
                return Err("PhotoData/Photos.sqlite is not on the iPhone".into());
            }
            let fresh =
                std::fs::read_to_string(&stamp_file).is_ok_and(|s| s == stamp) && db.is_file();
            if fresh {
                break;
            }
            let _ = std::fs::remove_file(&stamp_file);
            for n in names {
                let _ = std::fs::remove_file(cache.join(n));
            }
            for path in &present {
                let name = path.rsplit('/').next().unwrap_or(path);
                self.copy_file(path, &cache.join(name))
                    .map_err(|e| format!("copying {path}: {e}"))?;
            }
            let (after, _) = self.library_stamp(&names);
            if after == stamp {
                quick_check(&db)?;
                std::fs::write(&stamp_file, &stamp).map_err(|e| e.to_string())?;
                break;
            }
            if attempt >= LIBRARY_COPY_ATTEMPTS {
                return Err(format!(
                    "Photos.sqlite kept changing while it was copied ({attempt} tries); close the Photos app and let the phone finish syncing, then run again"
                ));
            }
            eprintln!("camroll: the iPhone's photo library changed while it was copied; copying it again…");
        }
        library::read_library(&db).map_err(|e| e.to_string())
    }

    /// Size and mtime of each library file present, as one comparable text,
    /// and the paths present.
    fn library_stamp(&self, names: &[&str]) -> (String, Vec<String>) {
        let stats = self.stat_many(names.iter().map(|n| format!("PhotoData/{n}")).collect());
        let mut stats: Vec<_> = stats
            .into_iter()
            .filter_map(|(p, r)| Some((p, r.ok()?)))
            .collect();
        stats.sort_by(|a, b| a.0.cmp(&b.0));
        let mut stamp = String::new();
        let mut present = Vec::new();
        let text = |n: Option<u64>| n.map(|n| n.to_string()).unwrap_or_default();
        for (path, info) in stats {
            stamp.push_str(&format!(
                "{path} {} {}\n",
                text(info.size),
                text(info.mtime_ns)
            ));
            present.push(path);
        }
        (stamp, present)
    }

    fn copy_file(&self, afc_path: &str, to: &Path) -> io::Result<()> {
        let size = self
            .stat_many(vec![afc_path.to_string()])
            .pop()
            .and_then(|(_, r)| r.ok())
            .and_then(|info| info.size)
            .unwrap_or(0);
        let mut reader = AfcReader::open(self.shared.clone(), afc_path.to_string(), size)?;
        let mut out = std::fs::File::create(to)?;
        io::copy(&mut reader, &mut out)?;
        Ok(())
    }
}

/// Copies of the library taken before giving up on a library that keeps changing.
const LIBRARY_COPY_ATTEMPTS: u32 = 4;

/// SQLite's own consistency check on the local copy, opened read-only: a copy
/// stitched from files of different moments reads as "malformed".
fn quick_check(db: &Path) -> Result<(), String> {
    let conn = rusqlite::Connection::open_with_flags(
        db,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| format!("the copy of Photos.sqlite does not open ({e})"))?;
    let verdict: String = conn
        .query_row("PRAGMA quick_check", [], |r| r.get(0))
        .map_err(|e| format!("the copy of Photos.sqlite is damaged ({e})"))?;
    if verdict == "ok" {
        Ok(())
    } else {
        Err(format!("the copy of Photos.sqlite is damaged ({verdict})"))
    }
}

fn default_cache_dir() -> PathBuf {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir)
        .join("camroll")
}

/// The pair record usbmuxd holds for this phone; when there is none, pairs
/// (the user must unlock the phone and tap Trust) and saves it with usbmuxd.
async fn pair_record(
    addr: &UsbmuxdAddr,
    d: &UsbmuxdDevice,
    name: &str,
    wait: Duration,
) -> Result<PairingFile, DeviceError> {
    if let Ok(p) = mux(addr).await?.get_pair_record(&d.udid).await {
        return Ok(p);
    }
    let proto = |what, source| DeviceError::Protocol {
        name: name.to_string(),
        what,
        error: chain(&source),
    };
    let buid = mux(addr)
        .await?
        .get_buid()
        .await
        .map_err(|e| proto("reading the system BUID", e))?;
    let host_id = random_uuid();
    let provider = d.to_provider(addr.clone(), LABEL);
    eprintln!(
        "camroll: {name} does not trust this computer yet. Unlock it and tap Trust on the \"Trust This Computer?\" prompt (waiting up to {} s)…",
        wait.as_secs()
    );
    let deadline = Instant::now() + wait;
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(DeviceError::NotTrusted {
                name: name.into(),
                secs: wait.as_secs(),
            });
        }
        let mut lockdown = LockdownClient::connect(&provider)
            .await
            .map_err(|e| proto("connecting to lockdownd", e))?;
        // idevice's pair() retries while the dialog is pending; bound it by our wait.
        match tokio::time::timeout(
            remaining,
            lockdown.pair(host_id.clone(), buid.clone(), Some("camroll")),
        )
        .await
        {
            Err(_) => {
                return Err(DeviceError::NotTrusted {
                    name: name.into(),
                    secs: wait.as_secs(),
                })
            }
            Ok(Ok(mut pairing)) => {
                pairing.udid = Some(d.udid.clone());
                let bytes = pairing
                    .clone()
                    .serialize()
                    .map_err(|e| proto("encoding the pair record", e))?;
                mux(addr)
                    .await?
                    .save_pair_record(&d.udid, bytes)
                    .await
                    .map_err(|e| proto("saving the pair record with usbmuxd", e))?;
                eprintln!("camroll: {name} trusts this computer now.");
                return Ok(pairing);
            }
            Ok(Err(IdeviceError::PasswordProtected)) => {
                tokio::time::sleep(Duration::from_millis(500)).await
            }
            Ok(Err(e)) => return Err(proto("pairing", e)),
        }
    }
}

/// A random (v4) UUID in upper case, as Apple's HostIDs are.
fn random_uuid() -> String {
    uuid_text(uuid::Uuid::new_v4())
}

/// Apple's `8-4-4-4-12` upper-case form.
fn uuid_text(u: uuid::Uuid) -> String {
    format!("{:X}", u.hyphenated())
}

fn ns_to_time(ns: Option<u64>) -> Option<SystemTime> {
    let ns = ns?;
    Some(SystemTime::UNIX_EPOCH + Duration::from_nanos(ns))
}

impl Source for DeviceSource {
    fn id(&self) -> String {
        format!("device:{}", self.shared.udid)
    }

    fn scan(&self) -> Result<Scan, SourceError> {
        self.scan_early(&mut |_| {})
    }

    fn lists_early(&self) -> bool {
        true
    }

    fn round_trip_bound(&self) -> bool {
        true
    }

    fn scan_early(&self, early: &mut dyn FnMut(&SourceItem)) -> Result<Scan, SourceError> {
        let mut scan = Scan::default();
        let unreadable = |e: ListError| match e {
            ListError::Gone(e) => SourceError::Gone {
                message: format!("{e}. Nothing was listed or copied"),
            },
            ListError::Device(e) => SourceError::Unreadable {
                path: PathBuf::from("DCIM"),
                source: io::Error::other(format!("{}: {}", self.shared.name, chain(&e))),
            },
        };
        // DCIM is listed while the library is copied, and its files are
        // handed out as they are listed: the first large transfers cross the
        // link beside the library copy instead of after it. A file the
        // library later calls cloud-only (a stand-in under the original's
        // name) may be read early for nothing: the scan leaves it out, and
        // the export drops what it read.
        let mut files: Vec<(String, FileInfo)> = Vec::new();
        let (library, dcim) = std::thread::scope(|s| {
            let library = s.spawn(|| self.fetch_library());
            let dcim = self.list_trees(vec!["DCIM".into()], &mut scan, &mut files, Some(early));
            let library = library
                .join()
                .unwrap_or_else(|_| Err("the library reader stopped".into()));
            (library, dcim)
        });
        // Gone while copying the library or listing DCIM and not back in
        // time: nothing more can be listed.
        if let Some(e) = self.shared.gone_error() {
            if files.is_empty() {
                return Err(unreadable(ListError::Gone(e)));
            }
        }
        dcim.map_err(unreadable)?;
        // Where originals live (scan roots), names for iCloud-synced
        // originals, capture hints, the checklist.
        let library = match library {
            Ok(l) => Some(l),
            Err(reason) => {
                eprintln!("camroll: warning: cannot read the iPhone's photo library ({reason}); exporting the files found in DCIM without the library checklist");
                *self
                    .library_report
                    .lock()
                    .unwrap_or_else(|e| e.into_inner()) = Some(LibraryReport::unavailable(
                    format!("{reason}: exported without the library checklist"),
                ));
                None
            }
        };
        // Then every other folder the library names (iCloud restores keep
        // most originals under PhotoData/CPLAssets).
        let mut roots: Vec<String> = library::scan_roots(library.as_ref())
            .into_iter()
            .filter(|r| r != "DCIM")
            .collect();
        if self.opts.edited {
            roots.push("PhotoData/Mutations".to_string());
        }
        // Only DCIM's own folder must exist: the others are optional.
        let _ = self.list_trees(roots, &mut scan, &mut files, None);
        // Each listed file's asset: when two rows name one path, the last.
        let index = library.as_ref().map(library::PathIndex::new);
        let asset_of = |path: &str| {
            let (l, index) = (library.as_ref()?, index.as_ref()?);
            index.matches(l, path).last().map(|i| &l.assets[i])
        };
        // iCloud-synced originals are stored under UUID names; the Live Photo
        // movie beside one shares its UUID stem but has no library row.
        let cpl_stems: HashMap<(String, String), String> = library
            .iter()
            .flat_map(|l| &l.assets)
            .filter(|a| a.directory.starts_with("PhotoData/CPLAssets"))
            .filter_map(|a| {
                let orig = a.original_filename.as_ref()?;
                let stem = a
                    .filename
                    .rsplit_once('.')
                    .map(|(s, _)| s)
                    .unwrap_or(&a.filename);
                let orig_stem = orig.rsplit_once('.').map(|(s, _)| s).unwrap_or(orig);
                Some((
                    (a.directory.to_lowercase(), stem.to_lowercase()),
                    orig_stem.to_string(),
                ))
            })
            .collect();
        let mut why_not: HashMap<String, String> = HashMap::new();
        let mut probe: Vec<String> = Vec::new();
        scan.items.reserve(files.len());
        for (path, info) in files {
            let size = info.size.unwrap_or(0);
            let mtime = ns_to_time(info.mtime_ns);
            let (mut dir, file) = match path.rsplit_once('/') {
                Some((d, n)) => (d.to_string(), n.to_string()),
                None => (String::new(), path.clone()),
            };
            let mut name = file.clone();
            if let Some(rest) = path.strip_prefix("PhotoData/Mutations/") {
                // …/Mutations/DCIM/100APPLE/IMG_0001/Adjustments/FullSizeRender.jpg → IMG_E0001.jpg beside DCIM/100APPLE/IMG_0001.*
                let parts: Vec<&str> = rest.split('/').collect();
                let is_render = file.starts_with("FullSizeRender.")
                    && parts.len() >= 3
                    && parts[parts.len() - 2] == "Adjustments";
                if !is_render {
                    continue;
                }
                let stem = parts[parts.len() - 3];
                let ext = file.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
                name = match stem.strip_prefix("IMG_") {
                    Some(num) => format!("IMG_E{num}.{ext}"),
                    None => format!("{stem}_edited.{ext}"),
                };
                dir = parts[..parts.len() - 3].join("/");
            } else if path.starts_with("PhotoData/CPLAssets/") {
                // Filed under the name Photos recorded, not the store's UUID name.
                let (stem, ext) = file.rsplit_once('.').unwrap_or((&file, ""));
                if let Some(orig_stem) = cpl_stems.get(&(dir.to_lowercase(), stem.to_lowercase())) {
                    name = if ext.is_empty() {
                        orig_stem.clone()
                    } else {
                        format!("{orig_stem}.{ext}")
                    };
                }
            } else if file.starts_with('.') {
                continue;
            }
            let asset = asset_of(&path);
            if let Some(a) = asset {
                // "Optimize iPhone Storage": the library says the original is not
                // here. A file of another size under its name is a stand-in, never
                // the original; one of the original's size is checked below.
                if a.cloud_only {
                    match a.original_size {
                        Some(orig) if orig != size => {
                            why_not.insert(
                                path.to_lowercase(),
                                format!("only a {size}-byte stand-in is on the phone under its name (the original is {orig} bytes); not archived"),
                            );
                            continue;
                        }
                        _ => probe.push(path.clone()),
                    }
                }
            }
            scan.items.push(SourceItem {
                rel_path: path,
                dir,
                name,
                size,
                mtime,
                // A phone's files are opened by `rel_path`.
                locator: PathBuf::new(),
                listed: asset.map(|a| Listed {
                    capture: a.capture(),
                    is_video: a.is_video,
                }),
            });
        }
        // Cloud-only by the library, original's size on the phone: archive it
        // only if it can be read (afcd may list an optimized original it will
        // not open, ifuse#54).
        for path in probe {
            let item = scan.items.iter().find(|i| i.rel_path == path);
            let Some(size) = item.map(|i| i.size) else {
                continue;
            };
            let readable =
                AfcReader::open(self.shared.clone(), path.clone(), size).and_then(|mut r| {
                    let mut b = [0u8; 1];
                    if size > 0 {
                        r.read_exact(&mut b)?;
                    }
                    Ok(())
                });
            if let Err(e) = readable {
                if !is_disconnect(&e) {
                    why_not.insert(
                        path.to_lowercase(),
                        format!("listed on the phone but it cannot be read ({e}); not archived"),
                    );
                    scan.items.retain(|i| i.rel_path != path);
                }
            }
        }
        scan.items.sort_by(|a, b| a.rel_path.cmp(&b.rel_path));
        if let (Some(l), Some(index)) = (&library, &index) {
            // Which assets' originals the scan kept.
            let mut found = vec![false; l.assets.len()];
            for item in &scan.items {
                for i in index.matches(l, &item.rel_path) {
                    found[i] = true;
                }
            }
            *self
                .library_report
                .lock()
                .unwrap_or_else(|e| e.into_inner()) =
                Some(LibraryReport::with_found(l, &found, &why_not));
        }
        // Only where the library copy is (for the sidecars): its rows are
        // not needed after the scan, and a large library is tens of MB.
        *self.library_db.lock().unwrap_or_else(|e| e.into_inner()) = library.map(|l| l.db);
        Ok(scan)
    }

    fn open(&self, item: &SourceItem) -> Result<Box<dyn ReadSeek>, SourceError> {
        let r = AfcReader::open(self.shared.clone(), item.rel_path.clone(), item.size).map_err(
            |source| match source.kind() {
                // afcd's hard-link refusal (see `afc_io_error`): the export tries it again at the end.
                io::ErrorKind::PermissionDenied => SourceError::Refused {
                    path: item.rel_path.clone(),
                    message: source.to_string(),
                },
                _ => SourceError::Open {
                    path: item.rel_path.clone(),
                    source,
                },
            },
        )?;
        Ok(Box::new(r))
    }

    fn library_report(&self) -> Option<LibraryReport> {
        DeviceSource::library_report(self)
    }

    fn library_db(&self) -> Option<PathBuf> {
        self.library_db
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn restat(&self, item: &SourceItem, after_read: bool) -> Option<io::Result<SourceItem>> {
        if after_read {
            // A round trip per file would cost a no-change-free export dearly;
            // sizes are still checked against the bytes received.
            return None;
        }
        let (_, r) = self.stat_many(vec![item.rel_path.clone()]).pop()?;
        Some(
            r.map(|info| SourceItem {
                size: info.size.unwrap_or(0),
                mtime: ns_to_time(info.mtime_ns),
                ..item.clone()
            })
            .map_err(|e| match e {
                ListError::Device(e) => afc_io_error(e, &item.rel_path),
                ListError::Gone(e) => e,
            }),
        )
    }

    fn kind_name(&self) -> &'static str {
        "the iPhone"
    }
}

/// A file on the phone, read through one AFC connection with large reads.
/// Closes its handle and returns the connection when dropped.
struct AfcReader {
    shared: Arc<Shared>,
    client: Option<AfcClient>,
    fd: u64,
    path: String,
    size: u64,
    /// Where the next read() starts.
    pos: u64,
    /// Where the phone's file position is (after any read in flight).
    dev_pos: u64,
    buf: Vec<u8>,
    buf_start: u64,
    /// A read sent ahead and not yet answered: (offset, length). One read in
    /// flight keeps the link busy while the previous chunk is hashed and written.
    ahead: Option<(u64, u64)>,
    /// Where the phone's file ended, once a read at or past the listed size
    /// came back short: the last read of a file asks for one byte more than
    /// listed, so a phone that sends more is noticed without one more round
    /// trip per file (a small photo is one read, and a round trip costs as
    /// much as moving it).
    eof_at: Option<u64>,
}

impl AfcReader {
    fn open(shared: Arc<Shared>, path: String, size: u64) -> io::Result<AfcReader> {
        if let Some(e) = shared.gone_error() {
            return Err(e);
        }
        // Counted until dropped (see `Drop`), a failed open included.
        shared.readers.fetch_add(1, Ordering::Relaxed);
        let mut r = AfcReader {
            shared,
            client: None,
            fd: 0,
            path,
            size,
            pos: 0,
            dev_pos: 0,
            buf: Vec::new(),
            buf_start: 0,
            ahead: None,
            eof_at: None,
        };
        r.reopen(false)?;
        Ok(r)
    }

    /// Opens the file on a pooled (or fresh) connection; `after_error` reconnects first.
    fn reopen(&mut self, after_error: bool) -> io::Result<()> {
        let mut client = if after_error {
            self.shared.reconnect()?
        } else {
            self.shared.take_or_wait()?
        };
        let mut header = (AfcFopenMode::RdOnly as u64).to_le_bytes().to_vec();
        header.extend(self.path.as_bytes());
        // "No file slots": the phone limits open handles; wait for one to free up.
        let started = Instant::now();
        let fd = loop {
            match self.shared.rt.block_on(send_bounded(
                &mut client,
                AfcOpcode::FileOpen,
                header.clone(),
                Vec::new(),
            )) {
                Ok(res) => match res
                    .header_payload
                    .get(..8)
                    .and_then(|b| b.try_into().ok())
                    .map(u64::from_le_bytes)
                {
                    Some(fd) if fd != 0 => break fd,
                    _ => {
                        return Err(io::Error::other(format!(
                            "{}: the iPhone sent no file handle",
                            self.path
                        )))
                    }
                },
                Err(IdeviceError::Afc(idevice::afc::errors::AfcError::NoResources))
                    if started.elapsed() < Duration::from_secs(30) =>
                {
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) if is_transport(&e) && !after_error => return self.reopen(true),
                Err(e) => {
                    self.shared.give(client);
                    return Err(afc_io_error(e, &self.path));
                }
            }
        };
        self.client = Some(client);
        self.fd = fd;
        self.dev_pos = 0;
        self.ahead = None;
        Ok(())
    }

    /// Bytes to ask for next: smaller while other files are read too.
    fn chunk(&self) -> u64 {
        if self.shared.readers.load(Ordering::Relaxed) > 1 {
            SHARED_READ_CHUNK
        } else {
            READ_CHUNK
        }
    }

    fn fetch(&mut self) -> io::Result<()> {
        // One byte past the listed size, so the reply also says whether the
        // file ends there (see `eof_at`).
        let want = self.chunk().min(self.size.saturating_sub(self.pos) + 1);
        let mut retried = false;
        loop {
            let r = self.fetch_once(want);
            match r {
                Ok(()) => return Ok(()),
                Err(e) if is_transport(&e) && !retried => {
                    retried = true;
                    if matches!(e, IdeviceError::Timeout) {
                        eprintln!(
                            "camroll: {} stopped answering while sending {} ({} s); reconnecting…",
                            self.shared.name,
                            self.path,
                            afc_stall().as_secs_f32()
                        );
                    }
                    // Drop the dead connection; reconnect and reopen at the same offset.
                    self.client = None;
                    self.reopen(true)?;
                }
                Err(e) => return Err(afc_io_error(e, &self.path)),
            }
        }
    }

    fn fetch_once(&mut self, want: u64) -> Result<(), IdeviceError> {
        let chunk = self.chunk();
        let client = self
            .client
            .as_mut()
            .ok_or(IdeviceError::NoEstablishedConnection)?;
        let rt = &self.shared.rt;
        let mut data = None;
        let mut asked = want;
        if let Some((off, len)) = self.ahead.take() {
            // The answer to the read sent ahead: use it, or drain it before a seek.
            let reply = rt.block_on(read_bounded(client))?;
            self.dev_pos = off + reply.payload.len() as u64;
            if off == self.pos {
                data = Some(reply.payload);
                asked = len;
            }
        }
        let data = match data {
            Some(d) => d,
            None => {
                if self.dev_pos != self.pos {
                    let header = [
                        self.fd.to_le_bytes(),
                        0u64.to_le_bytes(),
                        self.pos.to_le_bytes(),
                    ]
                    .concat();
                    rt.block_on(send_bounded(
                        client,
                        AfcOpcode::FileSeek,
                        header,
                        Vec::new(),
                    ))?;
                    self.dev_pos = self.pos;
                }
                let header = [self.fd.to_le_bytes(), want.to_le_bytes()].concat();
                let res = rt.block_on(send_bounded(client, AfcOpcode::Read, header, Vec::new()))?;
                self.dev_pos += res.payload.len() as u64;
                res.payload
            }
        };
        let got = data.len() as u64;
        // A short reply at or past the listed size: the file ends there.
        if got < asked && self.pos + got >= self.size {
            self.eof_at = Some(self.pos + got);
        }
        self.buf = data;
        self.buf_start = self.pos;
        // Ask for the next chunk now, while this one is being handled.
        let next = self.pos + got;
        if got > 0 && next < self.size {
            let len = chunk.min(self.size - next + 1);
            let header = [self.fd.to_le_bytes(), len.to_le_bytes()].concat();
            // The timeout is made inside the runtime (block_on's argument is built outside it).
            rt.block_on(async {
                match tokio::time::timeout(
                    afc_stall(),
                    afc_wire::send(client, AfcOpcode::Read, header, Vec::new()),
                )
                .await
                {
                    Ok(r) => r,
                    Err(_) => Err(IdeviceError::Timeout),
                }
            })?;
            self.ahead = Some((next, len));
            self.dev_pos = next + len;
        }
        Ok(())
    }
}

impl Read for AfcReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        let in_buf =
            self.pos >= self.buf_start && self.pos < self.buf_start + self.buf.len() as u64;
        if !in_buf {
            if self.eof_at == Some(self.pos) {
                return Ok(0);
            }
            if self.pos >= self.size {
                // Past the listed size: ask once more (unless the last reply
                // already said where the file ends), so a phone that sends
                // more than it listed is noticed (the caller compares sizes).
                if self.pos > self.size {
                    return Ok(0);
                }
            }
            self.fetch()?;
            if self.buf.is_empty() {
                return Ok(0);
            }
        }
        let off = (self.pos - self.buf_start) as usize;
        let n = out.len().min(self.buf.len() - off);
        out[..n].copy_from_slice(&self.buf[off..off + n]);
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for AfcReader {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let new = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
            SeekFrom::End(d) => self.size.checked_add_signed(d),
        };
        self.pos = new.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek before the start of the file",
            )
        })?;
        Ok(self.pos)
    }
}

impl Drop for AfcReader {
    fn drop(&mut self) {
        self.shared.readers.fetch_sub(1, Ordering::Relaxed);
        if let Some(mut c) = self.client.take() {
            // A read still in flight is answered before the close.
            if self.ahead.take().is_some() && self.shared.rt.block_on(read_bounded(&mut c)).is_err()
            {
                return;
            }
            let closed = self.shared.rt.block_on(send_bounded(
                &mut c,
                AfcOpcode::FileClose,
                self.fd.to_le_bytes().to_vec(),
                Vec::new(),
            ));
            if closed.is_ok() {
                self.shared.give(c);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use idevice::usbmuxd::{Connection, UsbmuxdDevice};

    fn dev(id: u32, udid: &str, c: Connection) -> UsbmuxdDevice {
        UsbmuxdDevice {
            connection_type: c,
            udid: udid.into(),
            device_id: id,
        }
    }

    #[test]
    fn twins_are_one_phone_with_usb_first() {
        let ip = Connection::Network([192, 168, 1, 2].into());
        let groups = super::by_udid(vec![
            dev(7, "00008110-000A", ip.clone()),
            dev(3, "00008110000B", Connection::Usb),
            dev(9, "00008110000A", Connection::Usb),
        ]);
        assert_eq!(groups.len(), 2);
        let ids: Vec<u32> = groups[0].iter().map(|d| d.device_id).collect();
        assert_eq!(ids, [9, 7], "USB before Wi-Fi, hyphens ignored");
        assert_eq!(groups[1][0].device_id, 3);
        let keys: Vec<String> = groups[0]
            .iter()
            .map(|d| super::link_key(d).to_string())
            .collect();
        assert_eq!(super::connection_text(&keys), "USB and Wi-Fi");
        assert_eq!(super::connection_text(&keys[1..]), "Wi-Fi");
    }

    #[test]
    fn host_ids_are_version_4_uuids_in_upper_case() {
        // The text camroll wrote before using the uuid crate, for the same bytes.
        let all_ones = uuid::Builder::from_random_bytes([0xFF; 16]).into_uuid();
        assert_eq!(
            super::uuid_text(all_ones),
            "FFFFFFFF-FFFF-4FFF-BFFF-FFFFFFFFFFFF"
        );
        let id = super::random_uuid();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert!(matches!(&id[19..20], "8" | "9" | "A" | "B"), "{id}");
        assert!(
            id.chars()
                .all(|c| c == '-' || c.is_ascii_digit() || c.is_ascii_uppercase()),
            "{id}"
        );
    }
}
