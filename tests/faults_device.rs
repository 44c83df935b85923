//! The phone misbehaving on the wire: AFC reads that stall (the phone stops
//! answering, the connection stays open) are timed out, the connection is
//! re-established and the read resumes at the same offset.
//!
//! The stall is made by a byte-counting TCP relay in front of the simulator's
//! usbmuxd: once N bytes have gone to camroll, the connection carrying them
//! stops forwarding (but stays open), once. Nothing in the simulator changes.
//!
//! A phone unplugged while it is still being listed (a large file already
//! crossing the link beside the listing) is waited for like one unplugged
//! during the transfers: the same phone back resumes both; another phone on
//! the same usbmuxd is not taken for it.

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

/// A phone at `media` with a photo and a 12 MiB movie in `DCIM/100APPLE`;
/// returns the movie's path.
fn photo_and_movie(media: &std::path::Path) -> std::path::PathBuf {
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
    big
}

#[test]
fn a_stalled_afc_read_times_out_reconnects_and_resumes() {
    let t = tempfile::tempdir().unwrap();
    let media = t.path().join("media");
    let big = photo_and_movie(&media);
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

/// A phone whose listing takes a while after its large movie started: the
/// movie (12 MiB, read as soon as it is listed) in `DCIM/100APPLE` with a
/// photo, and a photo at the bottom of a 20-folder-deep tree in
/// `DCIM/101APPLE` (each level costs the listing two round trips). Returns
/// (media root, movie, deep photo).
fn slow_listing_phone(
    root: &std::path::Path,
) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let media = root.join("media");
    let big = photo_and_movie(&media);
    let mut deep = media.join("DCIM/101APPLE");
    for i in 0..20 {
        deep = deep.join(format!("d{i}"));
    }
    let photo = deep.join("IMG_0003.JPG");
    write(&photo, &iphone_jpeg(3, dt(2024, 2, 3, 4, 7, 0), 1));
    (media, big, photo)
}

/// Sim flags for [`slow_listing_phone`]: 20 ms a round trip and 8 MB/s,
/// so the movie's first 2 MiB (where the cable is pulled, ~0.3 s in) cross
/// while the deep tree (~40 round trips, ~0.8 s) is still being listed.
const SLOW_LISTING: [&str; 6] = [
    "--latency-ms",
    "20",
    "--rate",
    "8",
    "--unplug-after-bytes",
    "2097152",
];

#[test]
fn an_unplug_during_the_listing_with_a_large_file_in_flight_is_resumed_when_the_phone_is_back() {
    let t = tempfile::tempdir().unwrap();
    let (media, big, deep) = slow_listing_phone(t.path());
    let mut flags = SLOW_LISTING.to_vec();
    flags.extend(["--replug-after", "1"]);
    let sim = SimProc::start(&media, &flags);
    let a = t.path().join("a");
    let out = run_limited(
        device_camroll(&sim.addr, &t.path().join("cache"))
            .args([
                "export", "--json", "--wait", "30", "--from", "device", "--to",
            ])
            .arg(&a),
        Duration::from_secs(300),
    );
    let (code, stdout, stderr) = decode(out);
    // Before: the listing's requests failed with the cable and the deep
    // folders were reported as unlistable (exit 1).
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stderr.contains("disconnected. Plug it back in"), "{stderr}");
    assert!(stderr.contains("is back"), "{stderr}");
    let sums = std::fs::read_to_string(a.join("BLAKE3SUMS")).unwrap();
    for f in [&big, &deep] {
        assert!(
            sums.contains(&b3(f)),
            "{} is not archived: {sums}",
            f.display()
        );
    }
    assert_eq!(sums.lines().count(), 3, "{sums}");
    let (code, report, _) = run(&["verify", a.to_str().unwrap()]);
    assert_eq!(code, 0, "{report}");
}

/// Runs an export (`--wait 5`) from a simulated phone over `media` started
/// with `flags`; when camroll says the phone is gone, that phone leaves for
/// good and another one (same files, its own identity and UDID) appears on
/// the same usbmuxd socket. Returns (exit code, JSON report or null, stderr).
fn replugged_as_another_phone(
    t: &std::path::Path,
    media: &std::path::Path,
    flags: &[&str],
) -> (Option<i32>, serde_json::Value, String) {
    use std::io::BufRead;
    let sock = t.join("usbmuxd.sock");
    let mut flags = flags.to_vec();
    flags.extend(["--socket", sock.to_str().unwrap()]);
    let first = SimProc::start(media, &flags);
    let other = t.join("other");
    let copied = std::process::Command::new("cp")
        .arg("-r")
        .arg(media)
        .arg(&other)
        .status()
        .unwrap();
    assert!(copied.success());
    std::fs::remove_dir_all(other.join(".sim")).unwrap();
    let mut child = device_camroll(&first.addr, &t.join("cache"))
        .args([
            "export", "--json", "--wait", "5", "--from", "device", "--to",
        ])
        .arg(t.join("a"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let stdout = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let (tx, rx) = std::sync::mpsc::channel();
    let err = child.stderr.take().unwrap();
    let stderr = std::thread::spawn(move || {
        let mut all = String::new();
        for line in std::io::BufReader::new(err).lines().map_while(Result::ok) {
            if line.contains("disconnected") {
                let _ = tx.send(());
            }
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    rx.recv_timeout(Duration::from_secs(120))
        .expect("camroll notices the unplug");
    drop(first);
    let _second = SimProc::start(
        &other,
        &[
            "--socket",
            sock.to_str().unwrap(),
            "--udid",
            "00008101-000A1B2C3D4E5F60",
            "--name",
            "Someone else's iPhone",
        ],
    );
    let status = child.wait().unwrap();
    let (stdout, stderr) = (stdout.join().unwrap(), stderr.join().unwrap());
    // A run that could list nothing prints no report (its error is on stderr).
    let json = serde_json::from_str(&stdout).unwrap_or(serde_json::Value::Null);
    (status.code(), json, stderr)
}

#[test]
fn another_phone_plugged_in_during_the_listing_is_not_taken_for_the_first() {
    let t = tempfile::tempdir().unwrap();
    let (media, _, _) = slow_listing_phone(t.path());
    let (code, json, stderr) = replugged_as_another_phone(t.path(), &media, &SLOW_LISTING);
    // Before: the listing ended in "internal error", or files failed at once
    // without waiting for the phone.
    assert!(!stderr.contains("internal error"), "{stderr}");
    assert!(!stderr.contains("is back"), "{stderr}");
    assert!(stderr.contains("did not come back within 5 s"), "{stderr}");
    // Nothing could be copied: the movie was cut, the photos come after the listing.
    assert_eq!(code, Some(2), "{json}\n{stderr}");
    assert_eq!(json["copied"], 0, "{json}");
    // Every file listed, and the folder not listed, is named as left behind, saying why.
    let failed = json["failed"].as_array().unwrap();
    for path in [
        "DCIM/100APPLE/IMG_0001.JPG",
        "DCIM/100APPLE/IMG_0002.MOV",
        "DCIM/101APPLE/",
    ] {
        let f = failed
            .iter()
            .find(|f| f["path"].as_str().unwrap().starts_with(path))
            .unwrap_or_else(|| panic!("{path} is not named as left behind: {json}"));
        assert!(
            f["error"].as_str().unwrap().contains("did not come back"),
            "{f}"
        );
    }
    // Nothing was placed, and nothing is left in staging.
    let a = t.path().join("a");
    let staging = a.join(".camroll/staging");
    let left: Vec<_> = std::fs::read_dir(&staging)
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "staging leftovers: {left:?}");
}

#[test]
fn another_phone_plugged_in_while_the_library_is_copied_ends_the_run_saying_so() {
    let t = tempfile::tempdir().unwrap();
    let media = generate(t.path(), 20, 21);
    // The cable is pulled on the first bytes: those of Photos.sqlite.
    let (code, json, stderr) =
        replugged_as_another_phone(t.path(), &media, &["--unplug-after-bytes", "1"]);
    // Before: "Camroll's iPhone: internal error" from the DCIM listing.
    assert!(!stderr.contains("internal error"), "{stderr}");
    assert!(!stderr.contains("is back"), "{stderr}");
    assert_eq!(code, Some(2), "{json}\n{stderr}");
    let said = json.to_string() + &stderr;
    assert!(
        said.contains("did not come back within 5 s; plug it in and run again"),
        "{said}"
    );
    // DCIM is listed beside the library copy: when it was listed before the
    // cable went, every file in it is named as left behind; otherwise the
    // one error says nothing could be listed.
    if json.is_null() {
        assert!(said.contains("Nothing was listed or copied"), "{said}");
    } else {
        assert_eq!(json["copied"], 0, "{json}");
        let failed = json["failed"].as_array().unwrap();
        for f in walkdir::WalkDir::new(media.join("DCIM"))
            .into_iter()
            .flatten()
            .filter(|e| e.file_type().is_file())
        {
            let rel = f.path().strip_prefix(&media).unwrap().to_str().unwrap();
            assert!(
                failed.iter().any(|x| {
                    let p = x["path"].as_str().unwrap();
                    rel == p || rel.starts_with(&format!("{}/", p.trim_end_matches('/')))
                }),
                "{rel} is not named as left behind: {json}"
            );
        }
    }
}
