//! usbmuxd's `Listen` stream: phones attaching and leaving, as `camroll
//! watch` needs them. After `Listen`, usbmuxd first reports every phone already
//! attached, then each change, on the same connection until it closes
//! (`/work/shared/briefs/protocol.md`; the `idevice` crate parses the messages).
//!
//! Kept apart from [`super::device`] (which reads a phone): this only watches.

use std::time::Duration;

use futures::StreamExt;
use idevice::usbmuxd::{Connection, UsbmuxdAddr, UsbmuxdListenEvent};
use tokio::sync::mpsc;

use super::device::DeviceError;

/// A change usbmuxd reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MuxEvent {
    /// A phone attached (or was already attached when listening began).
    Attached {
        /// The phone's UDID.
        udid: String,
        /// usbmuxd's id for this attachment (a new one on every plug).
        device_id: u32,
        /// `USB` or `network (<ip>)`.
        connection: String,
    },
    /// The attachment with this id is gone (unplugged, or left the network).
    Detached {
        /// usbmuxd's id of the attachment.
        device_id: u32,
    },
}

/// An open `Listen` connection to usbmuxd, read from synchronous code.
pub struct MuxListener {
    rt: tokio::runtime::Runtime,
    /// The listen stream is not `Send`: its task runs on this set, driven by `next`.
    local: tokio::task::LocalSet,
    rx: mpsc::UnboundedReceiver<Result<MuxEvent, String>>,
    addr: String,
}

impl MuxListener {
    /// Connects to usbmuxd at `addr` and starts listening.
    pub fn open(addr: &UsbmuxdAddr) -> Result<MuxListener, DeviceError> {
        let addr_text = &text(addr);
        let gone = |error: String| DeviceError::NoUsbmuxd {
            addr: addr_text.to_string(),
            error,
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| gone(e.to_string()))?;
        let (tx, rx) = mpsc::unbounded_channel();
        let addr2 = addr.clone();
        // The listen stream borrows its connection, so both live in one task that
        // forwards events; the channel closes when usbmuxd hangs up.
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<Result<(), String>>();
        let local = tokio::task::LocalSet::new();
        local.spawn_local(async move {
            let mut conn = match addr2.connect(0).await {
                Ok(c) => c,
                Err(e) => {
                    let _ = ready_tx.send(Err(e.to_string()));
                    return;
                }
            };
            let mut stream = match conn.listen().await {
                Ok(s) => s,
                Err(e) => {
                    let _ = ready_tx.send(Err(e.to_string()));
                    return;
                }
            };
            let _ = ready_tx.send(Ok(()));
            while let Some(ev) = stream.next().await {
                let msg = ev.map(to_event).map_err(|e| e.to_string());
                let failed = msg.is_err();
                if tx.send(msg).is_err() || failed {
                    return;
                }
            }
        });
        let ready = local.block_on(&rt, async {
            tokio::time::timeout(Duration::from_secs(10), ready_rx).await
        });
        match ready {
            Ok(Ok(Ok(()))) => Ok(MuxListener {
                rt,
                local,
                rx,
                addr: addr_text.to_string(),
            }),
            Ok(Ok(Err(e))) => Err(gone(e)),
            Ok(Err(_)) => Err(gone("the listener stopped".into())),
            Err(_) => Err(gone("no answer to Listen within 10 s".into())),
        }
    }

    /// The next event, or `Ok(None)` when none came within `timeout`. An error
    /// means usbmuxd went away (restarted, stopped): open a new listener.
    pub fn next(&mut self, timeout: Duration) -> Result<Option<MuxEvent>, DeviceError> {
        let rx = &mut self.rx;
        let got = self.local.block_on(&self.rt, async {
            tokio::time::timeout(timeout, rx.recv()).await
        });
        match got {
            Err(_) => Ok(None),
            Ok(Some(Ok(ev))) => Ok(Some(ev)),
            Ok(Some(Err(error))) => Err(DeviceError::NoUsbmuxd {
                addr: self.addr.clone(),
                error,
            }),
            Ok(None) => Err(DeviceError::NoUsbmuxd {
                addr: self.addr.clone(),
                error: "usbmuxd closed the connection".into(),
            }),
        }
    }
}

/// The address as `--usbmux` takes it.
pub fn text(a: &UsbmuxdAddr) -> String {
    match a {
        #[cfg(unix)]
        UsbmuxdAddr::UnixSocket(p) => format!("UNIX:{p}"),
        UsbmuxdAddr::TcpSocket(s) => s.to_string(),
    }
}

fn to_event(e: UsbmuxdListenEvent) -> MuxEvent {
    match e {
        UsbmuxdListenEvent::Connected(d) => MuxEvent::Attached {
            udid: d.udid,
            device_id: d.device_id,
            connection: match d.connection_type {
                Connection::Usb => "USB".into(),
                Connection::Network(ip) => format!("network ({ip})"),
                Connection::Unknown(s) => s,
            },
        },
        UsbmuxdListenEvent::Disconnected(id) => MuxEvent::Detached { device_id: id },
    }
}
