//! The phone misbehaving on the wire: AFC reads that stall (the phone stops
//! answering, the connection stays open) are timed out, the connection is
//! re-established and the read resumes at the same offset.
//!
//! The stall is made by a byte-counting TCP relay in front of the simulator's
//! usbmuxd: once N bytes have gone to camroll, the connection carrying them
//! stops forwarding (but stays open), once. Nothing in the simulator changes.

mod support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use support::*;

/// Relays `127.0.0.1:<port>` to `upstream`; after `stall_after` bytes downstream
/// in total, the connection that crosses it goes silent (once). Returns the address.
fn stalling_relay(upstream: String, stall_after: u64) -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let sent = Arc::new(AtomicU64::new(0));
    let stalled = Arc::new(AtomicBool::new(false));
    std::thread::spawn(move || {
        for client in l.incoming().flatten() {
            let Ok(server) = TcpStream::connect(&upstream) else {
                continue;
            };
            let (mut c_in, mut s_out) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            std::thread::spawn(move || {
                let mut buf = [0u8; 16384];
                while let Ok(n) = c_in.read(&mut buf) {
                    if n == 0 || s_out.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            });
            let (sent, stalled) = (sent.clone(), stalled.clone());
            let (mut s_in, mut c_out) = (server, client);
            std::thread::spawn(move || {
                let mut buf = [0u8; 16384];
                while let Ok(n) = s_in.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    let before = sent.fetch_add(n as u64, Ordering::SeqCst);
                    if before + n as u64 > stall_after && !stalled.swap(true, Ordering::SeqCst) {
                        // The phone stops answering: keep both sockets open, send nothing more.
                        let _keep = (&s_in, &c_out);
                        loop {
                            std::thread::sleep(Duration::from_secs(3600));
                        }
                    }
                    if c_out.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

#[test]
fn a_stalled_afc_read_times_out_reconnects_and_resumes() {
    let t = tempfile::tempdir().unwrap();
    let media = t.path().join("media");
    let dcim = media.join("DCIM/100APPLE");
    std::fs::create_dir_all(&dcim).unwrap();
    std::fs::create_dir_all(media.join("PhotoData")).unwrap();
    write(
        &dcim.join("IMG_0001.JPG"),
        &iphone_jpeg(1, dt(2024, 2, 3, 4, 5, 6), 1),
    );
    let mut spec = camroll_sim::synth::VideoSpec::iphone(
        7,
        "iPhone 15",
        chrono::TimeZone::with_ymd_and_hms(&off(1), 2024, 2, 3, 4, 6, 0).unwrap(),
    );
    spec.size_target = Some(12 << 20);
    let big = dcim.join("IMG_0002.MOV");
    write(&big, &camroll_sim::synth::mov(&spec));
    let sim = SimProc::start(&media, &[]);
    let relay = stalling_relay(sim.addr.clone(), 5 << 20);
    let a = t.path().join("a");
    // A bound on the whole run (not a speed check): without the stall timeout
    // the export would wait forever, and this fails instead of hanging.
    let out = run_limited(
        device_camroll(&relay, &t.path().join("cache"))
            .env("CAMROLL_AFC_TIMEOUT_MS", "1500")
            .args([
                "export", "--json", "--jobs", "1", "--wait", "20", "--from", "device", "--to",
            ])
            .arg(&a),
        Duration::from_secs(300),
    );
    let (code, stdout, stderr) = decode(out);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stderr.contains("stopped answering"), "{stderr}");
    let sums = std::fs::read_to_string(a.join("BLAKE3SUMS")).unwrap();
    assert!(
        sums.contains(&b3(&big)),
        "the stalled file arrived whole: {sums}"
    );
    let (code, report, _) = run(&["verify", a.to_str().unwrap()]);
    assert_eq!(code, 0, "{report}");
}
