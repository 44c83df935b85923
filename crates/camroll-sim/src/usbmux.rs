//! usbmuxd's plist protocol (version 1): a 16-byte little-endian header
//! (length, version, message, tag) and an XML plist body. Replies echo the tag.
//! A successful `Connect` turns the same socket into a byte pipe to a device port,
//! so requests are read with exact-length reads: nothing past a message is consumed.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use plist::{Dictionary, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::device::{dict, BoxStream, Device, Event, Link, LOCKDOWN_PORT};

const MSG_RESULT: u32 = 1;
const MSG_PLIST: u32 = 8;
const RESULT_OK: u64 = 0;
const RESULT_BADCOMMAND: u64 = 1;
const RESULT_BADDEV: u64 = 2;
const RESULT_CONNREFUSED: u64 = 3;
const RESULT_BADVERSION: u64 = 6;
/// usbmuxd answers pair-record requests with errno values.
const ENOENT: u64 = 2;
const EINVAL: u64 = 22;

pub(crate) async fn serve(dev: Arc<Device>, mut s: BoxStream) {
    loop {
        let mut hdr = [0u8; 16];
        if s.read_exact(&mut hdr).await.is_err() {
            return;
        }
        let word = |i: usize| u32::from_le_bytes([hdr[i], hdr[i + 1], hdr[i + 2], hdr[i + 3]]);
        let (len, version, message, tag) = (word(0), word(4), word(8), word(12));
        if !(16..=1 << 20).contains(&len) {
            return;
        }
        let mut body = vec![0u8; len as usize - 16];
        if s.read_exact(&mut body).await.is_err() {
            return;
        }
        if version != 1 || message != MSG_PLIST {
            // Only the plist protocol is spoken; the binary protocol's result message
            // carries BADVERSION, which makes libusbmuxd retry with plists.
            let mut out = Vec::with_capacity(20);
            for w in [20u32, version, MSG_RESULT, tag, RESULT_BADVERSION as u32] {
                out.extend_from_slice(&w.to_le_bytes());
            }
            if s.write_all(&out).await.is_err() {
                return;
            }
            continue;
        }
        let Ok(Value::Dictionary(req)) = plist::from_bytes::<Value>(&body) else {
            return;
        };
        // The real daemon drops a client that sends no MessageType.
        let Some(kind) = req.get("MessageType").and_then(Value::as_string) else {
            return;
        };
        let reply = match kind {
            "ListDevices" => {
                let list: Vec<Value> = dev
                    .attached()
                    .into_iter()
                    .map(|(id, link)| Value::Dictionary(attached(&dev, id, link)))
                    .collect();
                dict([("DeviceList", Value::Array(list))])
            }
            "ReadBUID" => dict([("BUID", dev.id.system_buid.clone().into())]),
            "ReadPairRecord" => match req.get("PairRecordID").and_then(Value::as_string) {
                None => result(EINVAL),
                Some(udid) => match dev.pair_record(udid) {
                    Some(data) => dict([("PairRecordData", Value::Data(data))]),
                    None => result(ENOENT),
                },
            },
            "SavePairRecord" => {
                let id = req.get("PairRecordID").and_then(Value::as_string);
                let data = req.get("PairRecordData").and_then(Value::as_data);
                match (id, data) {
                    (Some(id), Some(data)) => {
                        dev.save_pair_record(id, data.to_vec());
                        if let Some(n) = dev.attached_id() {
                            let _ = dev.events.send(Event::Paired(n));
                        }
                        result(RESULT_OK)
                    }
                    _ => result(EINVAL),
                }
            }
            "DeletePairRecord" => match req.get("PairRecordID").and_then(Value::as_string) {
                Some(id) => {
                    dev.delete_pair_record(id);
                    result(RESULT_OK)
                }
                None => result(EINVAL),
            },
            "ListListeners" => dict([("ListenerList", Value::Array(vec![]))]),
            "Listen" => {
                listen(&dev, s, tag).await;
                return;
            }
            "Connect" => {
                let id = req.get("DeviceID").and_then(uint);
                let port = req.get("PortNumber").and_then(uint);
                let code = match (id, port) {
                    (None, _) => RESULT_BADDEV,
                    (_, None) => RESULT_BADCOMMAND,
                    (Some(id), Some(p)) => {
                        // Clients send htons(port) as a plist integer.
                        let port = (p as u16).swap_bytes();
                        let link = u32::try_from(id).ok().and_then(|id| dev.link_of(id));
                        if link.is_none() {
                            RESULT_BADDEV
                        } else if port == LOCKDOWN_PORT || dev.is_service_port(port) {
                            if send(&mut s, tag, &result(RESULT_OK)).await.is_err() {
                                return;
                            }
                            device_connection(dev, s, port, link == Some(Link::Usb)).await;
                            return;
                        } else {
                            RESULT_CONNREFUSED
                        }
                    }
                };
                result(code)
            }
            _ => result(RESULT_BADCOMMAND),
        };
        if send(&mut s, tag, &reply).await.is_err() {
            return;
        }
    }
}

/// Runs a device-side service on a connected socket until it ends or, for a connection
/// over the cable, the cable is pulled (Wi-Fi connections outlive the cable).
async fn device_connection(dev: Arc<Device>, s: BoxStream, port: u16, over_usb: bool) {
    let mut gen = dev.generation.subscribe();
    let is_service = port != LOCKDOWN_PORT;
    let work = async {
        if is_service {
            let _ = crate::afc::serve(dev.clone(), s, over_usb).await;
        } else {
            let _ = crate::lockdown::serve(dev.clone(), s).await;
        }
    };
    tokio::select! {
        _ = work => {}
        _ = gen.changed(), if over_usb => {}
    }
    if is_service {
        // The service StartService counted has ended.
        let _ = dev
            .live_services
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
    }
}

async fn listen(dev: &Arc<Device>, mut s: BoxStream, tag: u32) {
    let mut rx = dev.events.subscribe();
    if send(&mut s, tag, &result(RESULT_OK)).await.is_err() {
        return;
    }
    for (id, link) in dev.attached() {
        if send(&mut s, 0, &attached(dev, id, link)).await.is_err() {
            return;
        }
    }
    let mut buf = [0u8; 256];
    loop {
        tokio::select! {
            ev = rx.recv() => {
                let msg = match ev {
                    Ok(Event::Attached(id)) => attached(dev, id, dev.link_of(id).unwrap_or(Link::Usb)),
                    Ok(Event::Detached(id)) => dict([("MessageType", "Detached".into()), ("DeviceID", id.into())]),
                    Ok(Event::Paired(id)) => dict([("MessageType", "Paired".into()), ("DeviceID", id.into())]),
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(_) => return,
                };
                if send(&mut s, 0, &msg).await.is_err() {
                    return;
                }
            }
            n = s.read(&mut buf) => {
                // A listener never speaks again; EOF means it went away.
                if !matches!(n, Ok(k) if k > 0) {
                    return;
                }
            }
        }
    }
}

/// The `Attached` dictionary exactly as Linux usbmuxd builds it (with `MessageType`, which
/// pymobiledevice3 needs even inside `DeviceList`). A Wi-Fi entry carries what macOS
/// usbmuxd sends for a network device instead of the USB properties (see [`network_props`]).
fn attached(dev: &Device, id: u32, link: Link) -> Dictionary {
    let props = match link {
        Link::Usb => usb_props(dev, id),
        Link::Network => network_props(dev, id),
    };
    dict([
        ("DeviceID", id.into()),
        ("MessageType", "Attached".into()),
        ("Properties", Value::Dictionary(props)),
    ])
}

fn usb_props(dev: &Device, id: u32) -> Dictionary {
    dict([
        ("ConnectionSpeed", 480_000_000u64.into()),
        ("ConnectionType", "USB".into()),
        ("DeviceID", id.into()),
        ("LocationID", 339_881_984u64.into()),
        ("ProductID", 0x12A8u64.into()),
        ("SerialNumber", dev.id.udid.clone().into()),
    ])
}

/// The phone's address on the simulated Wi-Fi (never dialled: clients reach it through
/// usbmuxd `Connect`, as on macOS).
const WIFI_IPV4: [u8; 4] = [192, 168, 1, 42];
/// The interface index macOS reports for a Wi-Fi device (expo's UsbmuxdClient example).
const WIFI_INTERFACE_INDEX: u64 = 5;

/// A network device's properties as macOS usbmuxd reports them (field list and example
/// values: expo `UsbmuxdClient.ts` `UsbmuxdDeviceProperties`; encoding of `NetworkAddress`:
/// libimobiledevice `idevice.c` reads byte 1 as the BSD address family, the `idevice`
/// crate's `usbmuxd/des.rs` accepts the BSD `sa_len, sa_family` layout; netmuxd sends a
/// 128-byte `sockaddr_storage`). libusbmuxd drops a Network entry without `NetworkAddress`.
fn network_props(dev: &Device, id: u32) -> Dictionary {
    // struct sockaddr_in, BSD layout: sa_len 16, AF_INET 2, port 0, address, zero padding.
    let mut addr = vec![0u8; 128];
    addr[0] = 0x10;
    addr[1] = 0x02;
    addr[4..8].copy_from_slice(&WIFI_IPV4);
    let mac = dev.id.wifi_address.to_ascii_lowercase();
    dict([
        ("ConnectionType", "Network".into()),
        ("DeviceID", id.into()),
        (
            "EscapedFullServiceName",
            format!(
                "{mac}@{}-supportsRP._apple-mobdev2._tcp.local.",
                link_local(&mac)
            )
            .into(),
        ),
        ("InterfaceIndex", WIFI_INTERFACE_INDEX.into()),
        ("NetworkAddress", Value::Data(addr)),
        ("SerialNumber", dev.id.udid.clone().into()),
    ])
}

/// The IPv6 link-local address (EUI-64) Bonjour names the phone by, from its Wi-Fi MAC.
fn link_local(mac: &str) -> String {
    let b: Vec<u8> = mac
        .split(':')
        .filter_map(|h| u8::from_str_radix(h, 16).ok())
        .collect();
    if b.len() != 6 {
        return "fe80::1".into();
    }
    let g = [
        u16::from_be_bytes([b[0] ^ 0x02, b[1]]),
        u16::from_be_bytes([b[2], 0xff]),
        u16::from_be_bytes([0xfe, b[3]]),
        u16::from_be_bytes([b[4], b[5]]),
    ];
    format!("fe80::{:x}:{:x}:{:x}:{:x}", g[0], g[1], g[2], g[3])
}

fn uint(v: &Value) -> Option<u64> {
    v.as_unsigned_integer()
        .or_else(|| v.as_signed_integer().and_then(|i| u64::try_from(i).ok()))
}

fn result(n: u64) -> Dictionary {
    dict([("MessageType", "Result".into()), ("Number", n.into())])
}

async fn send(s: &mut BoxStream, tag: u32, d: &Dictionary) -> std::io::Result<()> {
    let mut body = Vec::new();
    plist::to_writer_xml(&mut body, d).map_err(std::io::Error::other)?;
    let mut out = Vec::with_capacity(16 + body.len());
    for w in [16 + body.len() as u32, 1, MSG_PLIST, tag] {
        out.extend_from_slice(&w.to_le_bytes());
    }
    out.extend_from_slice(&body);
    s.write_all(&out).await?;
    s.flush().await
}
