//! What a simulated iPhone is started with: where usbmuxd listens, the phone's
//! identity overrides, and the faults it plays (one field per `camroll-sim` flag).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Where the simulated usbmuxd listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listen {
    /// A TCP address; port 0 picks a free port.
    Tcp(SocketAddr),
    /// A UNIX stream socket at this path (replaced if it exists).
    Unix(PathBuf),
}

/// How the phone appears in usbmuxd.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Attach {
    /// Over the cable only (`ConnectionType: USB`).
    #[default]
    Usb,
    /// Over Wi-Fi only (`ConnectionType: Network`): Wi-Fi sync on, no cable.
    Network,
    /// Both at once, two DeviceIDs with the same UDID: a cabled phone that has Wi-Fi sync on.
    Both,
}

/// Phone states and transport faults, one field per `camroll sim` flag.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// The phone is passcode-locked: StartService and Pair answer `PasswordProtected`.
    pub locked: bool,
    /// The user unlocks the phone this long after it locked (after start with `locked`,
    /// after the lock with `lock_after_bytes`).
    pub unlock_after: Option<Duration>,
    /// After this many AFC file bytes have been served the phone locks (once): new
    /// StartService calls answer `PasswordProtected` until `unlock_after` has passed.
    pub lock_after_bytes: Option<u64>,
    /// At most this many services (AFC connections) at once; StartService beyond it
    /// answers `ServiceLimit`.
    pub service_limit: Option<usize>,
    /// Photos.sqlite changes while it is copied: the first opens of the library files
    /// append to `Photos.sqlite-wal`, as the phone's own writers do.
    pub library_churn: bool,
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
    /// This many AFC file bytes after the phone first refuses a file for its extra hard
    /// links, the other names of every refused file are removed, so it opens again.
    pub hard_links_heal_after_bytes: Option<u64>,
}

/// Everything needed to start a simulated iPhone.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// The phone's media partition (`/var/mobile/Media`), the AFC root.
    pub media: PathBuf,
    /// Where the simulated usbmuxd listens.
    pub listen: Listen,
    /// Override the UDID stored in `<media>/.sim/identity.plist`.
    pub udid: Option<String>,
    /// The phone's name (`DeviceName`).
    pub name: String,
    /// ProductVersion, e.g. "17.5.1".
    pub ios: String,
    /// Allow AFC writes (otherwise PERM_DENIED, like a read-only mount).
    pub writable: bool,
    /// USB, Wi-Fi, or both.
    pub attach: Attach,
    /// Faults to inject (slow reads, I/O errors, handle limits).
    pub faults: Faults,
    /// Where to keep a JSON file of what has been served (`--stats`), rewritten at
    /// every file close: file bytes in all, over USB, over Wi-Fi, and of the library.
    pub stats: Option<PathBuf>,
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
            attach: Attach::Usb,
            faults: Faults::default(),
            stats: None,
        }
    }
}
