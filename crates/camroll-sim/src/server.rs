//! The simulated phone as a running server: shared device state (identity, trust,
//! lock, cable), the usbmuxd listener, and the in-process [`Simulator`] handle.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;

use crate::config::{Listen, SimConfig};
use crate::device::{build_device, BoxStream, Device, Event};
use crate::SimError;

/// The address a started simulator's usbmuxd actually listens on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UsbmuxAddress {
    /// A TCP address (`host:port`).
    Tcp(SocketAddr),
    /// A UNIX socket path.
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

/// A running simulated iPhone. Dropping it (or [`Simulator::stop`]) shuts it down.
pub struct Simulator {
    address: UsbmuxAddress,
    udid: String,
    name: String,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    dev: Arc<Device>,
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
        let handle = dev.clone();
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
            dev: handle,
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

    /// Pulls the cable: every device connection drops and usbmuxd reports `Detached`.
    pub fn unplug(&self) {
        self.dev.pull_cable();
    }

    /// Plugs the cable back in: usbmuxd reports `Attached` with a new DeviceID.
    pub fn plug(&self) {
        self.dev.plug_in();
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
                // Only this user may talk to the simulated phone (real usbmuxd
                // serves every local user, but a test phone holds no one else's data).
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o600)).map_err(
                    |e| SimError::Bind {
                        address: p.display().to_string(),
                        source: e,
                    },
                )?;
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
            tokio::spawn(crate::usbmux::serve(dev.clone(), stream));
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
