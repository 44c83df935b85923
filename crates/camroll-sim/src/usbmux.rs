//! usbmuxd's plist protocol (version 1): a 16-byte little-endian header
//! (length, version, message, tag) and an XML plist body. Replies echo the tag.
//! A successful `Connect` turns the same socket into a byte pipe to a device port,
//! so requests are read with exact-length reads: nothing past a message is consumed.

use std::sync::Arc;

use plist::{Dictionary, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::device::{dict, BoxStream, Device, Event, LOCKDOWN_PORT};

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
                    .attached_id()
                    .map(|id| Value::Dictionary(attached(&dev, id)))
                    .into_iter()
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
                        if dev.attached_id() != Some(id as u32) {
                            RESULT_BADDEV
                        } else if port == LOCKDOWN_PORT || dev.is_service_port(port) {
                            if send(&mut s, tag, &result(RESULT_OK)).await.is_err() {
                                return;
                            }
                            device_connection(dev, s, port).await;
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

/// Runs a device-side service on a connected socket until it ends or the cable is pulled.
async fn device_connection(dev: Arc<Device>, s: BoxStream, port: u16) {
    let mut gen = dev.generation.subscribe();
    let work = async {
        if port == LOCKDOWN_PORT {
            let _ = crate::lockdown::serve(dev.clone(), s).await;
        } else {
            let _ = crate::afc::serve(dev.clone(), s).await;
        }
    };
    tokio::select! {
        _ = work => {}
        _ = gen.changed() => {}
    }
}

async fn listen(dev: &Arc<Device>, mut s: BoxStream, tag: u32) {
    let mut rx = dev.events.subscribe();
    if send(&mut s, tag, &result(RESULT_OK)).await.is_err() {
        return;
    }
    if let Some(id) = dev.attached_id() {
        if send(&mut s, 0, &attached(dev, id)).await.is_err() {
            return;
        }
    }
    let mut buf = [0u8; 256];
    loop {
        tokio::select! {
            ev = rx.recv() => {
                let msg = match ev {
                    Ok(Event::Attached(id)) => attached(dev, id),
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
/// pymobiledevice3 needs even inside `DeviceList`).
fn attached(dev: &Device, id: u32) -> Dictionary {
    let props = dict([
        ("ConnectionSpeed", 480_000_000u64.into()),
        ("ConnectionType", "USB".into()),
        ("DeviceID", id.into()),
        ("LocationID", 339_881_984u64.into()),
        ("ProductID", 0x12A8u64.into()),
        ("SerialNumber", dev.id.udid.clone().into()),
    ]);
    dict([
        ("DeviceID", id.into()),
        ("MessageType", "Attached".into()),
        ("Properties", Value::Dictionary(props)),
    ])
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
