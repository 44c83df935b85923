//! lockdownd on device port 62078: big-endian u32 length + plist messages,
//! replies echo `Request`, failures carry `Error`. `StartSession` is answered in
//! plaintext and then the phone becomes the TLS server on the same socket.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use plist::{Dictionary, Value};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::device::{dict, BoxStream, Device};

enum Next {
    Close,
    StartTls(String),
    StopTls,
}

pub(crate) async fn serve(dev: Arc<Device>, s: BoxStream) -> std::io::Result<()> {
    let mut plain = s;
    loop {
        let session = match conversation(&dev, &mut plain, None).await? {
            Next::StartTls(id) => id,
            Next::Close | Next::StopTls => return Ok(()),
        };
        let acceptor = tokio_rustls::TlsAcceptor::from(dev.tls.clone());
        let mut tls = acceptor.accept(plain).await?;
        match conversation(&dev, &mut tls, Some(session)).await {
            Ok(Next::StopTls) => {}
            // Clients drop the socket without close_notify (idevice, pymobiledevice3).
            _ => return Ok(()),
        }
        // After StopSession libimobiledevice sends close_notify and may continue in
        // plaintext; answer with ours and read until its close_notify (EOF) arrives.
        tls.get_mut().1.send_close_notify();
        let _ = tls.flush().await;
        let mut buf = [0u8; 512];
        while let Ok(n) = tls.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
        plain = tls.into_inner().0;
    }
}

async fn conversation<S: AsyncRead + AsyncWrite + Unpin>(
    dev: &Arc<Device>,
    s: &mut S,
    session: Option<String>,
) -> std::io::Result<Next> {
    loop {
        let Some(req) = read_message(s).await? else {
            return Ok(Next::Close);
        };
        let (reply, next) = handle(dev, &req, session.as_deref());
        write_message(s, &reply).await?;
        if let Some(n) = next {
            return Ok(n);
        }
    }
}

async fn read_message<S: AsyncRead + Unpin>(s: &mut S) -> std::io::Result<Option<Dictionary>> {
    let mut len = [0u8; 4];
    match s.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_be_bytes(len) as usize;
    if len > 4 << 20 {
        return Err(std::io::Error::other("lockdown message too large"));
    }
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).await?;
    match plist::from_bytes::<Value>(&body) {
        Ok(Value::Dictionary(d)) => Ok(Some(d)),
        _ => Err(std::io::Error::other(
            "lockdown message is not a plist dictionary",
        )),
    }
}

async fn write_message<S: AsyncWrite + Unpin>(s: &mut S, d: &Dictionary) -> std::io::Result<()> {
    // XML starting with "<?xml": libimobiledevice 1.3.0 accepts nothing else but bplist.
    let mut body = Vec::new();
    plist::to_writer_xml(&mut body, d).map_err(std::io::Error::other)?;
    let mut out = Vec::with_capacity(4 + body.len());
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(&body);
    s.write_all(&out).await?;
    s.flush().await
}

fn error(request: &str, name: &str) -> Dictionary {
    dict([("Request", request.into()), ("Error", name.into())])
}

fn handle(
    dev: &Arc<Device>,
    req: &Dictionary,
    session: Option<&str>,
) -> (Dictionary, Option<Next>) {
    let request = req.get("Request").and_then(Value::as_string).unwrap_or("");
    match request {
        "QueryType" => (
            dict([
                ("Request", request.into()),
                ("Type", "com.apple.mobile.lockdown".into()),
            ]),
            None,
        ),
        "GetValue" => (get_value(dev, req), None),
        "SetValue" => (error(request, "SetProhibited"), None),
        "RemoveValue" => (error(request, "RemoveProhibited"), None),
        "ValidatePair" => {
            let host = pair_host_id(req);
            if host.is_some_and(|h| dev.host_allowed(&h)) {
                (dict([("Request", request.into())]), None)
            } else {
                (error(request, "InvalidHostID"), None)
            }
        }
        "StartSession" => {
            if session.is_some() {
                return (error(request, "SessionActive"), None);
            }
            let Some(host) = req.get("HostID").and_then(Value::as_string) else {
                return (error(request, "MissingHostID"), None);
            };
            if !dev.host_allowed(host) {
                return (error(request, "InvalidHostID"), None);
            }
            let id = dev.new_session_id();
            (
                dict([
                    ("Request", request.into()),
                    ("EnableSessionSSL", true.into()),
                    ("SessionID", id.clone().into()),
                ]),
                Some(Next::StartTls(id)),
            )
        }
        "StopSession" => match session {
            None => (error(request, "SessionInactive"), None),
            Some(_) => (dict([("Request", request.into())]), Some(Next::StopTls)),
        },
        "StartService" => {
            if session.is_none() {
                return (error(request, "SessionInactive"), None);
            }
            let service = req.get("Service").and_then(Value::as_string).unwrap_or("");
            if service.is_empty() {
                return (error(request, "MissingService"), None);
            }
            if service != "com.apple.afc" {
                return (error(request, "InvalidService"), None);
            }
            if dev.is_locked() {
                return (error(request, "PasswordProtected"), None);
            }
            if let Some(limit) = dev.cfg.faults.service_limit {
                let admitted = dev
                    .live_services
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                        (n < limit).then_some(n + 1)
                    })
                    .is_ok();
                if !admitted {
                    // libimobiledevice maps this to LOCKDOWN_E_SERVICE_LIMIT.
                    return (error(request, "ServiceLimit"), None);
                }
            } else {
                dev.live_services.fetch_add(1, Ordering::SeqCst);
            }
            let port = dev.open_service_port();
            (
                dict([
                    ("Request", request.into()),
                    ("Service", service.into()),
                    ("Port", u64::from(port).into()),
                ]),
                None,
            )
        }
        "Pair" => {
            if dev.is_locked() {
                return (error(request, "PasswordProtected"), None);
            }
            if !dev.is_trusted() {
                return (error(request, "PairingDialogResponsePending"), None);
            }
            let Some(host) = pair_host_id(req) else {
                return (error(request, "InvalidPairRecord"), None);
            };
            dev.trust_host(&host);
            (
                dict([
                    ("Request", request.into()),
                    ("EscrowBag", Value::Data(dev.id.escrow_bag.clone().into())),
                ]),
                None,
            )
        }
        "Unpair" => (dict([("Request", request.into())]), None),
        "Goodbye" => (dict([("Request", request.into())]), Some(Next::Close)),
        _ => (error(request, "InvalidRequest"), None),
    }
}

fn pair_host_id(req: &Dictionary) -> Option<String> {
    req.get("PairRecord")
        .and_then(Value::as_dictionary)
        .and_then(|d| d.get("HostID"))
        .and_then(Value::as_string)
        .map(str::to_string)
}

fn get_value(dev: &Device, req: &Dictionary) -> Dictionary {
    let domain = req.get("Domain").and_then(Value::as_string);
    let key = req.get("Key").and_then(Value::as_string);
    let values = match domain {
        None => Some(device_values(dev)),
        Some(d) => domain_values(dev, d),
    };
    let mut reply = dict([("Request", "GetValue".into())]);
    if let Some(d) = domain {
        reply.insert("Domain".into(), d.into());
    }
    if let Some(k) = key {
        reply.insert("Key".into(), k.into());
    }
    let value = match (values, key) {
        (Some(v), None) => Some(Value::Dictionary(v)),
        (Some(v), Some(k)) => v.get(k).cloned(),
        (None, _) => None,
    };
    match value {
        Some(v) => {
            reply.insert("Value".into(), v);
        }
        None => {
            reply.insert("Error".into(), "MissingValue".into());
        }
    }
    reply
}

/// Maps the simulated iOS version to a plausible build number (only ever displayed).
fn build_version(ios: &str) -> &'static str {
    match ios {
        "17.5.1" => "21F90",
        "17.0" => "21A329",
        "16.7.8" => "20H343",
        "18.0" => "22A3354",
        "18.5" => "22F76",
        "15.8" => "19H370",
        _ => "21F90",
    }
}

fn device_values(dev: &Device) -> Dictionary {
    let id = &dev.id;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    dict([
        ("ActivationState", "Activated".into()),
        ("BasebandVersion", "2.60.02".into()),
        ("BluetoothAddress", id.bluetooth_address.clone().into()),
        ("BoardId", 12u64.into()),
        ("BuildVersion", build_version(&dev.cfg.ios).into()),
        ("CPUArchitecture", "arm64e".into()),
        ("ChipID", 33040u64.into()),
        ("DeviceClass", "iPhone".into()),
        ("DeviceColor", "1".into()),
        ("DeviceName", dev.cfg.name.clone().into()),
        (
            "DevicePublicKey",
            Value::Data(id.device_public_key.as_bytes().to_vec()),
        ),
        ("FirmwareVersion", "iBoot-10151.122.1".into()),
        ("HardwareModel", "D73AP".into()),
        ("HardwarePlatform", "t8120".into()),
        ("HostAttached", true.into()),
        (
            "HumanReadableProductVersionString",
            dev.cfg.ios.clone().into(),
        ),
        ("ModelNumber", "MQ9T3".into()),
        ("PasswordProtected", dev.is_locked().into()),
        ("ProductName", "iPhone OS".into()),
        ("ProductType", "iPhone15,2".into()),
        ("ProductVersion", dev.cfg.ios.clone().into()),
        ("ProtocolVersion", "2".into()),
        ("RegionInfo", "LL/A".into()),
        ("SerialNumber", id.serial_number.clone().into()),
        ("TelephonyCapability", true.into()),
        ("TimeIntervalSince1970", now.into()),
        ("TimeZone", "Europe/Berlin".into()),
        ("TimeZoneOffsetFromUTC", 3600.0.into()),
        ("TrustedHostAttached", dev.is_trusted().into()),
        ("UniqueChipID", id.unique_chip_id.into()),
        ("UniqueDeviceID", id.udid.clone().into()),
        ("UseRaptorCerts", true.into()),
        ("Uses24HourClock", true.into()),
        ("WiFiAddress", id.wifi_address.clone().into()),
    ])
}

fn domain_values(dev: &Device, domain: &str) -> Option<Dictionary> {
    Some(match domain {
        "com.apple.international" => dict([
            ("Language", "en".into()),
            ("Locale", "en_US".into()),
            (
                "SupportedLanguages",
                Value::Array(vec!["en".into(), "de".into()]),
            ),
        ]),
        "com.apple.security.mac.amfi" => dict([("DeveloperModeStatus", false.into())]),
        "com.apple.disk_usage" | "com.apple.disk_usage.factory" => {
            let (total, free, _) = crate::afc::fs_stats(&dev.root);
            dict([
                ("TotalDiskCapacity", total.into()),
                ("TotalDataCapacity", total.into()),
                ("TotalDataAvailable", free.into()),
                ("AmountDataAvailable", free.into()),
            ])
        }
        "com.apple.mobile.battery" => dict([
            ("BatteryCurrentCapacity", 87u64.into()),
            ("BatteryIsCharging", true.into()),
            ("ExternalChargeCapable", true.into()),
            ("ExternalConnected", true.into()),
            ("FullyCharged", false.into()),
        ]),
        "com.apple.PurpleBuddy" => dict([("SetupState", "SetupDone".into())]),
        "com.apple.mobile.wireless_lockdown" => dict([("EnableWifiConnections", false.into())]),
        _ => return None,
    })
}
