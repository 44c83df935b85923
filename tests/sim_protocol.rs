//! Wire details of the simulated iPhone that silently break real clients when wrong
//! (docs/simulator.md, "checklist"): usbmuxd framing, the Connect port byte order,
//! lockdownd replies and errors, AFC reply layout, path handling, concurrency, and the
//! in-process API.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use camroll_sim::{Listen, SimConfig, Simulator, UsbmuxAddress};
use idevice::afc::errors::AfcError;
use idevice::afc::opcode::AfcOpcode;
use idevice::afc::AfcClient;
use idevice::{IdeviceError, IdeviceService};
use plist::{Dictionary, Value};
use support::*;

fn connect(addr: &str) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect to usbmuxd");
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    s
}

fn dict(items: &[(&str, Value)]) -> Dictionary {
    items
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

/// Sends one usbmuxd plist message; returns the reply header words and body.
fn mux(s: &mut TcpStream, tag: u32, d: &Dictionary) -> ([u32; 4], Vec<u8>) {
    let mut body = Vec::new();
    plist::to_writer_xml(&mut body, d).expect("xml");
    let mut out = Vec::new();
    for w in [16 + body.len() as u32, 1, 8, tag] {
        out.extend_from_slice(&w.to_le_bytes());
    }
    out.extend_from_slice(&body);
    s.write_all(&out).expect("send");
    let mut h = [0u8; 16];
    s.read_exact(&mut h).expect("reply header");
    let w = |i: usize| u32::from_le_bytes(h[i..i + 4].try_into().expect("4"));
    let hdr = [w(0), w(4), w(8), w(12)];
    let mut b = vec![0u8; hdr[0] as usize - 16];
    s.read_exact(&mut b).expect("reply body");
    (hdr, b)
}

fn parse(b: &[u8]) -> Dictionary {
    plist::from_bytes::<Value>(b)
        .expect("plist")
        .into_dictionary()
        .expect("dict")
}

/// One lockdown exchange on an already-connected socket: BE u32 length + XML.
fn lockdown(s: &mut TcpStream, d: &Dictionary) -> (Vec<u8>, Dictionary) {
    let mut body = Vec::new();
    plist::to_writer_xml(&mut body, d).expect("xml");
    s.write_all(&(body.len() as u32).to_be_bytes())
        .expect("len");
    s.write_all(&body).expect("body");
    let mut l = [0u8; 4];
    s.read_exact(&mut l).expect("reply length");
    let mut b = vec![0u8; u32::from_be_bytes(l) as usize];
    s.read_exact(&mut b).expect("reply");
    let d = parse(&b);
    (b, d)
}

#[test]
fn usbmuxd_replies_are_xml_plists_that_echo_the_tag() {
    let media = media_fixture();
    let sim = SimProc::start(media.path(), &[]);
    let mut s = connect(&sim.addr);
    let (h, b) = mux(&mut s, 7, &dict(&[("MessageType", "ReadBUID".into())]));
    assert_eq!(h[1..], [1, 8, 7], "version 1, plist message, same tag");
    assert!(b.starts_with(b"<?xml"));
    assert!(parse(&b)["BUID"].as_string().is_some());

    let (h, b) = mux(&mut s, 8, &dict(&[("MessageType", "ListDevices".into())]));
    assert_eq!(h[3], 8);
    let d = parse(&b);
    let list = d["DeviceList"].as_array().expect("DeviceList");
    assert_eq!(list.len(), 1);
    let dev = list[0].as_dictionary().expect("entry");
    assert_eq!(dev["MessageType"].as_string(), Some("Attached"));
    assert!(
        dev["DeviceID"].as_unsigned_integer().is_some(),
        "integer DeviceID"
    );
    let props = dev["Properties"].as_dictionary().expect("Properties");
    assert_eq!(props["ProductID"].as_unsigned_integer(), Some(4776));
    assert_eq!(props["ConnectionType"].as_string(), Some("USB"));
    assert_eq!(props["SerialNumber"].as_string(), Some(sim.udid.as_str()));

    let (_, b) = mux(&mut s, 9, &dict(&[("MessageType", "Bogus".into())]));
    assert_eq!(
        parse(&b)["Number"].as_unsigned_integer(),
        Some(1),
        "BADCOMMAND"
    );
    let (_, b) = mux(
        &mut s,
        10,
        &dict(&[
            ("MessageType", "ReadPairRecord".into()),
            ("PairRecordID", "no-such-phone".into()),
        ]),
    );
    assert_eq!(parse(&b)["Number"].as_unsigned_integer(), Some(2), "ENOENT");
}

#[test]
fn connect_takes_the_port_in_network_byte_order_and_lockdownd_answers() {
    let media = media_fixture();
    let sim = SimProc::start(media.path(), &[]);
    let connect_to = |id: u64, wire_port: u64| {
        let mut s = connect(&sim.addr);
        let (_, b) = mux(
            &mut s,
            1,
            &dict(&[
                ("MessageType", "Connect".into()),
                ("DeviceID", id.into()),
                ("PortNumber", wire_port.into()),
            ]),
        );
        (s, parse(&b)["Number"].as_unsigned_integer())
    };
    assert_eq!(
        connect_to(1, 62078).1,
        Some(3),
        "unswapped port is another port"
    );
    assert_eq!(connect_to(99, 32498).1, Some(2), "unknown device");
    let (mut s, n) = connect_to(1, 32498);
    assert_eq!(n, Some(0), "htons(62078) = 32498");

    let (raw, d) = lockdown(
        &mut s,
        &dict(&[("Label", "t".into()), ("Request", "QueryType".into())]),
    );
    assert!(raw.starts_with(b"<?xml"), "libimobiledevice needs <?xml");
    assert_eq!(d["Request"].as_string(), Some("QueryType"));
    assert_eq!(d["Type"].as_string(), Some("com.apple.mobile.lockdown"));

    let (_, d) = lockdown(
        &mut s,
        &dict(&[("Request", "GetValue".into()), ("Key", "NoSuchKey".into())]),
    );
    assert_eq!(d["Error"].as_string(), Some("MissingValue"));
    let (_, d) = lockdown(&mut s, &dict(&[("Request", "GetValue".into())]));
    let all = d["Value"]
        .as_dictionary()
        .expect("whole dictionary before a session");
    for k in [
        "ProductVersion",
        "DeviceName",
        "DeviceClass",
        "UniqueDeviceID",
        "DevicePublicKey",
    ] {
        assert!(all.contains_key(k), "{k}");
    }
    let (_, d) = lockdown(
        &mut s,
        &dict(&[
            ("Request", "StartService".into()),
            ("Service", "com.apple.afc".into()),
        ]),
    );
    assert_eq!(d["Error"].as_string(), Some("SessionInactive"));
    let (_, d) = lockdown(
        &mut s,
        &dict(&[
            ("Request", "StartSession".into()),
            ("HostID", "00000000-0000-4000-8000-000000000000".into()),
            ("SystemBUID", "x".into()),
        ]),
    );
    assert_eq!(d["Error"].as_string(), Some("InvalidHostID"));
}

#[test]
fn afc_replies_are_laid_out_like_a_real_phones() {
    let media = media_fixture();
    let sim = SimProc::start(media.path(), &[]);
    rt().block_on(within(60, async {
        let p = provider(&sim.plain_addr()).await;
        let mut afc = AfcClient::connect(&p).await.expect("AFC");
        // FileRefOpen: handle (non-zero) in the header area.
        let mut hp = 1u64.to_le_bytes().to_vec();
        hp.extend_from_slice(b"/DCIM/100APPLE/IMG_0001.JPG\0");
        let open = afc
            .send_op(AfcOpcode::FileOpen, hp, vec![])
            .await
            .expect("open");
        assert_eq!(open.header.operation, AfcOpcode::FileOpenRes);
        assert_eq!(open.header.header_payload_len, 48);
        assert_eq!(open.header.entire_len, 48);
        let h = u64::from_le_bytes(open.header_payload[..8].try_into().expect("8"));
        assert_ne!(h, 0);
        // FileRefRead: DATA in the payload area, echoing the packet number.
        let mut hp = h.to_le_bytes().to_vec();
        hp.extend_from_slice(&100u64.to_le_bytes());
        let read = afc
            .send_op(AfcOpcode::Read, hp, vec![])
            .await
            .expect("read");
        assert_eq!(read.header.operation, AfcOpcode::Data);
        assert_eq!(read.header.header_payload_len, 40);
        assert_eq!(read.header.entire_len, 140);
        assert_eq!(read.header.packet_num, 1, "second request of this client");
        assert_eq!(read.payload, pattern(3_000_000, 1)[..100]);
        // FileRefSeek + FileRefTell: position in the header area.
        let mut hp = h.to_le_bytes().to_vec();
        hp.extend_from_slice(&2u64.to_le_bytes());
        hp.extend_from_slice(&(-10i64).to_le_bytes());
        afc.send_op(AfcOpcode::FileSeek, hp, vec![])
            .await
            .expect("seek");
        let tell = afc
            .send_op(AfcOpcode::FileTell, h.to_le_bytes().to_vec(), vec![])
            .await
            .expect("tell");
        assert_eq!(tell.header.operation, AfcOpcode::FileTellRes);
        assert_eq!(tell.header_payload[..8], (3_000_000u64 - 10).to_le_bytes());
        // Reads past the end return what is left, then nothing.
        let mut hp = h.to_le_bytes().to_vec();
        hp.extend_from_slice(&(1u64 << 20).to_le_bytes());
        let tail = afc
            .send_op(AfcOpcode::Read, hp.clone(), vec![])
            .await
            .expect("tail");
        assert_eq!(tail.payload.len(), 10);
        let end = afc.send_op(AfcOpcode::Read, hp, vec![]).await.expect("eof");
        assert!(end.payload.is_empty());
        afc.send_op(AfcOpcode::FileClose, h.to_le_bytes().to_vec(), vec![])
            .await
            .expect("close");
        // Unknown handles are INVALID_ARG.
        let mut hp = 77u64.to_le_bytes().to_vec();
        hp.extend_from_slice(&10u64.to_le_bytes());
        let e = afc
            .send_op(AfcOpcode::Read, hp, vec![])
            .await
            .expect_err("bad handle");
        assert!(
            matches!(e, IdeviceError::Afc(AfcError::InvalidArg)),
            "{e:?}"
        );
        // GetFileInfo: the keys in a real phone's order, times in nanoseconds.
        let info = afc
            .send_op(
                AfcOpcode::GetFileInfo,
                b"/DCIM/100APPLE/IMG_0001.JPG".to_vec(),
                vec![],
            )
            .await
            .expect("stat");
        let parts: Vec<&[u8]> = info.payload.split(|&c| c == 0).collect();
        let keys: Vec<&str> = parts
            .iter()
            .step_by(2)
            .filter(|k| !k.is_empty())
            .map(|k| std::str::from_utf8(k).expect("utf8"))
            .collect();
        assert_eq!(
            keys,
            [
                "st_size",
                "st_blocks",
                "st_nlink",
                "st_ifmt",
                "st_mtime",
                "st_birthtime"
            ]
        );
        assert_eq!(parts[1], b"3000000");
        assert_eq!(parts[7], b"S_IFREG");
        assert!(parts[9].len() >= 18, "st_mtime in ns");
        // GetDeviceInfo has what idevice and ifuse need.
        let di = afc.get_device_info().await.expect("device info");
        assert!(di.total_bytes >= di.free_bytes && di.block_size == 4096);
    }));
}

#[test]
fn afc_paths_are_normalised_and_never_leave_the_media_root() {
    let media = media_fixture();
    std::os::unix::fs::symlink("/etc", media.path().join("Escape")).expect("symlink");
    // A link inside the media folder to the simulator's own keys.
    std::os::unix::fs::symlink(".sim", media.path().join("Keys")).expect("symlink");
    std::os::unix::fs::symlink(
        "../../.sim/identity.plist",
        media.path().join("DCIM/100APPLE/KEY.JPG"),
    )
    .expect("symlink");
    let sim = SimProc::start(media.path(), &[]);
    rt().block_on(within(60, async {
        let p = provider(&sim.plain_addr()).await;
        let mut afc = AfcClient::connect(&p).await.expect("AFC");
        let want = afc.list_dir("/DCIM/100APPLE").await.expect("plain");
        assert_eq!(want[..2], [".".to_string(), "..".to_string()]);
        for alias in [
            "DCIM/100APPLE",
            "/DCIM/100APPLE/",
            "/a/../DCIM/./100APPLE",
            "/../../DCIM/100APPLE",
        ] {
            assert_eq!(afc.list_dir(alias).await.expect(alias), want, "{alias}");
        }
        let err = |e: IdeviceError| match e {
            IdeviceError::Afc(a) => a,
            other => panic!("{other:?}"),
        };
        for outside in [
            "/../../../etc/passwd",
            "/Escape/passwd",
            "/.sim/identity.plist",
            "/Keys/identity.plist",
        ] {
            let e = err(afc.get_file_info(outside).await.expect_err(outside));
            assert_eq!(e, AfcError::ObjectNotFound, "{outside}");
        }
        // The links themselves may be listed (as links), never followed to `.sim`.
        assert!(afc.list_dir("/Keys").await.is_err());
        assert!(afc_read_raw(&mut afc, "/DCIM/100APPLE/KEY.JPG")
            .await
            .is_err());
        assert!(afc_read_raw(&mut afc, "/Keys/identity.plist")
            .await
            .is_err());
        assert!(afc_read_raw(&mut afc, "/Escape/hostname").await.is_err());
        let e = err(afc
            .list_dir("/DCIM/100APPLE/IMG_0001.JPG")
            .await
            .expect_err("file"));
        assert_eq!(e, AfcError::ReadError, "ReadDir on a file");
        let e = err(afc.list_dir("/Nope").await.expect_err("missing"));
        assert_eq!(e, AfcError::ObjectNotFound);
        let e = err(afc
            .get_file_info("/DCIM/100APPLE/IMG_0001.JPG/sub")
            .await
            .expect_err("through a file"));
        assert!(
            matches!(e, AfcError::ObjectNotFound | AfcError::ReadError),
            "{e:?}"
        );
    }));
}

#[test]
fn many_clients_read_at_once() {
    let media = media_fixture();
    let sim = SimProc::start(media.path(), &[]);
    let want = pattern(3_000_000, 1);
    rt().block_on(within(120, async {
        let mut tasks = Vec::new();
        for _ in 0..6 {
            let addr = sim.plain_addr();
            tasks.push(tokio::spawn(async move {
                let p = provider(&addr).await;
                let mut afc = AfcClient::connect(&p).await.expect("AFC");
                afc_read_raw(&mut afc, "/DCIM/100APPLE/IMG_0001.JPG")
                    .await
                    .expect("read")
            }));
        }
        for t in tasks {
            assert!(t.await.expect("task") == want);
        }
    }));
}

#[test]
fn the_in_process_api_serves_until_stopped() {
    let media = media_fixture();
    let sim = Simulator::start(SimConfig::new(media.path())).expect("start");
    let UsbmuxAddress::Tcp(addr) = sim.usbmux_address().clone() else {
        panic!("TCP by default");
    };
    assert_eq!(sim.usbmux_address().env_value(), addr.to_string());
    let udid = sim.udid().to_string();
    let idv = sim.usbmux_address().to_idevice();
    rt().block_on(within(60, async {
        let mut mux = idv.connect(1).await.expect("usbmuxd");
        let devs = mux.get_devices().await.expect("list");
        assert_eq!(devs[0].udid, udid);
        let p = devs[0].to_provider(idv.clone(), "in-process");
        let mut afc = AfcClient::connect(&p).await.expect("AFC");
        let b = afc_read_raw(&mut afc, "/DCIM/100APPLE/IMG_0003.PNG")
            .await
            .expect("read");
        assert_eq!(b, pattern(1000, 3));
    }));
    sim.stop();
    assert!(
        TcpStream::connect(addr).is_err(),
        "stopped simulator still listening"
    );

    // A UNIX socket: libusbmuxd wants the UNIX: prefix, the others the bare path.
    let sock = media.path().join("mux.sock");
    let mut cfg = SimConfig::new(media.path());
    cfg.listen = Listen::Unix(sock.clone());
    let sim = Simulator::start(cfg).expect("start on a socket");
    assert_eq!(
        sim.usbmux_address().env_value(),
        format!("UNIX:{}", sock.display())
    );
    assert_eq!(sim.udid(), udid, "identity kept in .sim across starts");
    // Only this user may connect to the simulated phone.
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&sock)
            .expect("socket")
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    rt().block_on(within(60, async {
        let mut mux = sim
            .usbmux_address()
            .to_idevice()
            .connect(1)
            .await
            .expect("usbmuxd");
        assert_eq!(mux.get_devices().await.expect("list").len(), 1);
    }));
    drop(sim);
    assert!(!sock.exists(), "socket file removed on stop");

    // Starting and stopping from inside a tokio runtime (as async tests do) works too.
    rt().block_on(async {
        let sim = Simulator::start(SimConfig::new(media.path())).expect("start in async code");
        let mut mux = sim
            .usbmux_address()
            .to_idevice()
            .connect(1)
            .await
            .expect("usbmuxd");
        assert_eq!(mux.get_devices().await.expect("list").len(), 1);
        sim.stop();
    });
    let mut bad = SimConfig::new(media.path());
    bad.faults.io_error = vec!["[".into()];
    assert!(
        Simulator::start(bad).is_err(),
        "a bad glob is an error, not a panic"
    );
}

#[test]
fn listen_flag_binds_the_given_address() {
    let media = media_fixture();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("probe")
        .local_addr()
        .expect("addr")
        .port();
    let want = format!("127.0.0.1:{port}");
    let sim = SimProc::start(media.path(), &["--listen", &want]);
    assert_eq!(sim.addr, want);
    let mut s = connect(&sim.addr);
    let (h, _) = mux(&mut s, 3, &dict(&[("MessageType", "ListDevices".into())]));
    assert_eq!(h[3], 3);
}

#[test]
fn pair_records_can_be_saved_read_and_deleted_through_usbmuxd() {
    let media = media_fixture();
    let sim = SimProc::start(media.path(), &["--untrusted"]);
    let mut s = connect(&sim.addr);
    let read = |s: &mut TcpStream| {
        let (_, b) = mux(
            s,
            2,
            &dict(&[
                ("MessageType", "ReadPairRecord".into()),
                ("PairRecordID", sim.udid.clone().into()),
            ]),
        );
        parse(&b)
    };
    assert_eq!(
        read(&mut s)["Number"].as_unsigned_integer(),
        Some(2),
        "untrusted: none"
    );
    let (_, b) = mux(
        &mut s,
        3,
        &dict(&[
            ("MessageType", "SavePairRecord".into()),
            ("PairRecordID", sim.udid.clone().into()),
            ("PairRecordData", Value::Data(b"saved by a host".to_vec())),
            ("DeviceID", 1u64.into()),
        ]),
    );
    assert_eq!(parse(&b)["Number"].as_unsigned_integer(), Some(0));
    assert_eq!(
        read(&mut s)["PairRecordData"].as_data(),
        Some(&b"saved by a host"[..])
    );
    let (_, b) = mux(
        &mut s,
        4,
        &dict(&[
            ("MessageType", "DeletePairRecord".into()),
            ("PairRecordID", sim.udid.clone().into()),
        ]),
    );
    assert_eq!(parse(&b)["Number"].as_unsigned_integer(), Some(0));
    assert_eq!(read(&mut s)["Number"].as_unsigned_integer(), Some(2));
}

#[test]
fn garbage_from_one_client_does_not_disturb_the_others() {
    let media = media_fixture();
    let sim = SimProc::start(media.path(), &[]);
    // Junk instead of a usbmuxd header, an absurd length, and a half message.
    for junk in [
        pattern(5000, 9),
        [
            u32::MAX.to_le_bytes(),
            1u32.to_le_bytes(),
            8u32.to_le_bytes(),
            0u32.to_le_bytes(),
        ]
        .concat(),
        b"\x40\x00\x00\x00\x01\x00\x00\x00\x08\x00\x00\x00\x01\x00\x00\x00<?xml".to_vec(),
    ] {
        let mut s = connect(&sim.addr);
        let _ = s.write_all(&junk);
    }
    // Junk on lockdownd and on AFC after a proper Connect.
    let mut s = connect(&sim.addr);
    let (_, b) = mux(
        &mut s,
        1,
        &dict(&[
            ("MessageType", "Connect".into()),
            ("DeviceID", 1u64.into()),
            ("PortNumber", 32498u64.into()),
        ]),
    );
    assert_eq!(parse(&b)["Number"].as_unsigned_integer(), Some(0));
    let _ = s.write_all(&[0xFF, 0xFF, 0xFF, 0xFF, 1, 2, 3]);
    drop(s);
    rt().block_on(within(60, async {
        let p = provider(&sim.plain_addr()).await;
        let mut afc = AfcClient::connect(&p).await.expect("AFC");
        let mut bad = b"CFA6LPAA".to_vec();
        bad.extend_from_slice(&[0xFF; 32]);
        let _ = afc.send_op(AfcOpcode::ReadDir, bad, vec![]).await;
        let p = provider(&sim.plain_addr()).await;
        let mut afc = AfcClient::connect(&p).await.expect("AFC after junk");
        let got = afc_read_raw(&mut afc, "/DCIM/100APPLE/IMG_0003.PNG")
            .await
            .expect("read");
        assert_eq!(got, pattern(1000, 3));
    }));
}
