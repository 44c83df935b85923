//! Real, unmodified iOS clients against a running `camroll sim`: libimobiledevice's
//! tools, pymobiledevice3 and the `idevice` crate. A client failing here is a
//! simulator bug. Tools that are absent skip the test, unless CAMROLL_REQUIRE_TOOLS=1.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use idevice::afc::opcode::AfcFopenMode;
use idevice::afc::AfcClient;
use idevice::lockdown::LockdownClient;
use idevice::provider::IdeviceProvider;
use idevice::{IdeviceError, IdeviceService};
use support::*;

const LIMIT: Duration = Duration::from_secs(60);

fn libimobiledevice(tool_name: &str, sim: &SimProc, args: &[&str]) -> Option<std::process::Output> {
    let t = tool(tool_name)?;
    Some(run_limited(
        Command::new(t)
            .args(args)
            .env("USBMUXD_SOCKET_ADDRESS", &sim.addr),
        LIMIT,
    ))
}

/// pymobiledevice3 with its home in a scratch folder, so no pairing record of the
/// developer's leaks in or out.
fn pmd3(home: &Path) -> Option<Command> {
    let p = pymobiledevice3()?;
    let mut c = Command::new(p);
    c.env("HOME", home)
        .env_remove("PYMOBILEDEVICE3_USBMUX")
        .env_remove("USBMUXD_SOCKET_ADDRESS");
    Some(c)
}

// ===== libimobiledevice (Debian's libimobiledevice-utils, via libusbmuxd) =====

#[test]
fn idevice_id_lists_the_simulated_phone() {
    let media = media_fixture();
    let sim = SimProc::start(media.path(), &[]);
    let Some(out) = libimobiledevice("idevice_id", &sim, &["-l"]) else {
        return;
    };
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), sim.udid);
}

#[test]
fn idevice_id_sees_a_wifi_twin_as_a_network_device() {
    // libusbmuxd drops a Network entry without a usable NetworkAddress, so
    // `idevice_id -n` listing the phone shows the simulated properties parse.
    let media = media_fixture();
    let sim = SimProc::start(media.path(), &["--also-network"]);
    let Some(usb) = libimobiledevice("idevice_id", &sim, &["-l"]) else {
        return;
    };
    assert!(usb.status.success(), "{}", text(&usb));
    assert_eq!(String::from_utf8_lossy(&usb.stdout).trim(), sim.udid);
    let net = libimobiledevice("idevice_id", &sim, &["-n"]).expect("tool");
    assert!(net.status.success(), "{}", text(&net));
    assert_eq!(String::from_utf8_lossy(&net.stdout).trim(), sim.udid);
}

#[test]
fn ideviceinfo_reads_the_whole_dictionary_and_single_keys() {
    let media = media_fixture();
    let sim = SimProc::start(
        media.path(),
        &[
            "--name",
            "Test Phone",
            "--ios",
            "16.7.8",
            "--udid",
            "00008110-000A1234567890AB",
        ],
    );
    assert_eq!(sim.udid, "00008110-000A1234567890AB");
    let Some(out) = libimobiledevice("ideviceinfo", &sim, &[]) else {
        return;
    };
    assert!(out.status.success(), "{}", text(&out));
    let all = String::from_utf8_lossy(&out.stdout);
    for line in [
        "UniqueDeviceID: 00008110-000A1234567890AB",
        "DeviceName: Test Phone",
        "ProductVersion: 16.7.8",
        "DeviceClass: iPhone",
        "ProductType: iPhone15,2",
    ] {
        assert!(
            all.lines().any(|l| l == line),
            "missing {line:?} in:\n{all}"
        );
    }
    let out = libimobiledevice("ideviceinfo", &sim, &["-k", "ProductVersion"]).expect("tool");
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "16.7.8");
    let out = libimobiledevice(
        "ideviceinfo",
        &sim,
        &["-q", "com.apple.international", "-k", "Locale"],
    )
    .expect("tool");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "en_US",
        "{}",
        text(&out)
    );
}

#[test]
fn ideviceinfo_over_a_unix_socket() {
    let media = media_fixture();
    let sock = media.path().join("usbmuxd.sock");
    let sim = SimProc::start(media.path(), &["--socket", sock.to_str().expect("utf8")]);
    assert_eq!(sim.addr, format!("UNIX:{}", sock.display()));
    let Some(out) = libimobiledevice("ideviceinfo", &sim, &["-k", "UniqueDeviceID"]) else {
        return;
    };
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), sim.udid);
}

#[test]
fn ideviceinfo_on_a_locked_phone_still_answers_and_says_it_is_locked() {
    let media = media_fixture();
    let sim = SimProc::start(media.path(), &["--locked"]);
    let Some(out) = libimobiledevice("ideviceinfo", &sim, &["-k", "PasswordProtected"]) else {
        return;
    };
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "true");
}

#[test]
fn ideviceinfo_on_an_untrusted_phone_waits_for_the_pairing_dialog() {
    let media = media_fixture();
    let sim = SimProc::start(media.path(), &["--untrusted"]);
    let Some(out) = libimobiledevice("ideviceinfo", &sim, &["-k", "ProductVersion"]) else {
        return;
    };
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("Pairing dialog response pending"),
        "{}",
        text(&out)
    );
}

// ===== pymobiledevice3 =====

#[test]
fn pymobiledevice3_lists_reads_lockdown_and_pulls_over_afc() {
    let media = media_fixture();
    let home = tempfile::tempdir().expect("tempdir");
    let sim = SimProc::start(media.path(), &[]);
    let addr = sim.plain_addr();
    let Some(mut c) = pmd3(home.path()) else {
        return;
    };

    let out = run_limited(c.args(["usbmux", "list", "--usbmux", &addr]), LIMIT);
    assert!(out.status.success(), "{}", text(&out));
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON device list");
    assert_eq!(list[0]["UniqueDeviceID"], sim.udid.as_str(), "{list}");
    assert_eq!(list[0]["ConnectionType"], "USB");

    let mut c = pmd3(home.path()).expect("tool");
    let out = run_limited(c.args(["lockdown", "info", "--usbmux", &addr]), LIMIT);
    assert!(out.status.success(), "{}", text(&out));
    let info: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON values");
    assert_eq!(info["ProductVersion"], "17.5.1");
    assert_eq!(info["UniqueDeviceID"], sim.udid.as_str());

    let mut c = pmd3(home.path()).expect("tool");
    let out = run_limited(
        c.args(["afc", "ls", "/DCIM/100APPLE", "--usbmux", &addr]),
        LIMIT,
    );
    assert!(out.status.success(), "{}", text(&out));
    let ls = String::from_utf8_lossy(&out.stdout);
    for f in ["IMG_0001.JPG", "IMG_0002.MOV", "IMG_0003.PNG"] {
        assert!(ls.lines().any(|l| l.ends_with(f)), "{f} not listed:\n{ls}");
    }

    let dest = tempfile::tempdir().expect("tempdir");
    let mut c = pmd3(home.path()).expect("tool");
    let out = run_limited(
        c.args(["afc", "pull", "/DCIM/100APPLE/IMG_0001.JPG"])
            .arg(dest.path())
            .args(["--usbmux", &addr]),
        LIMIT,
    );
    assert!(out.status.success(), "{}", text(&out));
    let pulled = std::fs::read(dest.path().join("IMG_0001.JPG")).expect("pulled file");
    let source = std::fs::read(media.path().join("DCIM/100APPLE/IMG_0001.JPG")).expect("source");
    assert!(pulled == source, "pulled bytes differ from the source");
}

#[test]
fn pymobiledevice3_lists_both_connections_of_a_phone_on_usb_and_wifi() {
    let media = media_fixture();
    let home = tempfile::tempdir().expect("tempdir");
    let sim = SimProc::start(media.path(), &["--also-network"]);
    let addr = sim.plain_addr();
    let Some(mut c) = pmd3(home.path()) else {
        return;
    };
    // Unmodified `usbmux list` connects to lockdownd over each entry.
    let out = run_limited(c.args(["usbmux", "list", "--usbmux", &addr]), LIMIT);
    assert!(out.status.success(), "{}", text(&out));
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON device list");
    let kinds: Vec<&str> = list
        .as_array()
        .expect("array")
        .iter()
        .inspect(|d| assert_eq!(d["UniqueDeviceID"], sim.udid.as_str(), "{list}"))
        .map(|d| d["ConnectionType"].as_str().expect("type"))
        .collect();
    assert_eq!(kinds, ["USB", "Network"], "{list}");
    let mut c = pmd3(home.path()).expect("tool");
    let out = run_limited(
        c.args(["usbmux", "list", "--network", "--usbmux", &addr]),
        LIMIT,
    );
    assert!(out.status.success(), "{}", text(&out));
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON device list");
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    assert_eq!(list[0]["ConnectionType"], "Network");
}

#[test]
fn pymobiledevice3_pulls_a_whole_folder() {
    let media = media_fixture();
    let home = tempfile::tempdir().expect("tempdir");
    let sim = SimProc::start(media.path(), &[]);
    let Some(mut c) = pmd3(home.path()) else {
        return;
    };
    let dest = tempfile::tempdir().expect("tempdir");
    let out = run_limited(
        c.args(["afc", "pull", "/DCIM"])
            .arg(dest.path())
            .args(["--usbmux", &sim.plain_addr()]),
        LIMIT,
    );
    assert!(out.status.success(), "{}", text(&out));
    for f in ["IMG_0001.JPG", "IMG_0002.MOV", "IMG_0003.PNG"] {
        let a = std::fs::read(dest.path().join("DCIM/100APPLE").join(f)).expect("pulled");
        let b = std::fs::read(media.path().join("DCIM/100APPLE").join(f)).expect("source");
        assert!(a == b, "{f} differs");
    }
}

#[test]
fn pymobiledevice3_on_a_locked_phone_is_told_to_unlock() {
    let media = media_fixture();
    let home = tempfile::tempdir().expect("tempdir");
    let sim = SimProc::start(media.path(), &["--locked"]);
    let Some(mut c) = pmd3(home.path()) else {
        return;
    };
    let out = run_limited(
        c.args(["afc", "ls", "/", "--usbmux", &sim.plain_addr()]),
        LIMIT,
    );
    assert!(
        text(&out).contains("password protected"),
        "expected the locked-phone error:\n{}",
        text(&out)
    );
}

#[test]
fn pymobiledevice3_on_an_untrusted_phone_waits_then_pairs_after_the_trust_tap() {
    let media = media_fixture();
    let home = tempfile::tempdir().expect("tempdir");
    // Untrusted for good: pymobiledevice3 keeps waiting for the dialog, as with a real phone.
    {
        let sim = SimProc::start(media.path(), &["--untrusted"]);
        let Some(mut c) = pmd3(home.path()) else {
            return;
        };
        let (out, timed_out) = run_for(
            c.args(["lockdown", "info", "--usbmux", &sim.plain_addr()]),
            Duration::from_secs(10),
        );
        assert!(
            timed_out || !out.status.success(),
            "an untrusted phone must not answer:\n{}",
            text(&out)
        );
        assert!(text(&out).contains("pairing dialog"), "{}", text(&out));
    }
    // Trusted two seconds in: pymobiledevice3 pairs and reads the values. (Its pairing
    // path reconnects through USBMUXD_SOCKET_ADDRESS, ignoring --usbmux.)
    let sim = SimProc::start(media.path(), &["--untrusted", "--trust-after", "2"]);
    let mut c = pmd3(home.path()).expect("tool");
    let out = run_limited(
        c.args(["lockdown", "info"])
            .env("USBMUXD_SOCKET_ADDRESS", sim.plain_addr()),
        LIMIT,
    );
    assert!(out.status.success(), "{}", text(&out));
    let info: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON values");
    assert_eq!(info["UniqueDeviceID"], sim.udid.as_str());
}

// ===== the idevice crate =====

#[test]
fn idevice_crate_lists_pairs_starts_a_session_and_reads_over_afc() {
    let media = media_fixture();
    let sim = SimProc::start(media.path(), &[]);
    let source = std::fs::read(media.path().join("DCIM/100APPLE/IMG_0001.JPG")).expect("source");
    rt().block_on(within(60, async {
        let addr = idevice_addr(&sim.plain_addr());
        let mut mux = addr.connect(1).await.expect("usbmuxd");
        let devs = mux.get_devices().await.expect("ListDevices");
        assert_eq!(devs.len(), 1);
        assert_eq!(devs[0].udid, sim.udid);
        let record = mux.get_pair_record(&sim.udid).await.expect("pair record");
        let buid = mux.get_buid().await.expect("BUID");
        assert_eq!(record.system_buid, buid);

        let provider = devs[0].to_provider(addr, "camroll-test");
        let mut lockdown = LockdownClient::connect(&provider).await.expect("lockdown");
        let pf = provider.get_pairing_file().await.expect("pairing file");
        lockdown.start_session(&pf).await.expect("TLS session");
        let v = lockdown
            .get_value(Some("UniqueDeviceID"), None)
            .await
            .expect("GetValue in session");
        assert_eq!(v.as_string(), Some(sim.udid.as_str()));

        let mut afc = AfcClient::connect(&provider).await.expect("AFC service");
        let names = afc.list_dir("/DCIM/100APPLE").await.expect("ReadDir");
        assert_eq!(&names[..2], &[".".to_string(), "..".to_string()]);
        assert!(names.contains(&"IMG_0001.JPG".to_string()));
        let info = afc.get_device_info().await.expect("GetDeviceInfo");
        assert!(info.model.starts_with("iPhone"));
        let fi = afc
            .get_file_info("/DCIM/100APPLE/IMG_0001.JPG")
            .await
            .expect("stat");
        assert_eq!(fi.size, source.len());
        let mut f = afc
            .open("/DCIM/100APPLE/IMG_0001.JPG", AfcFopenMode::RdOnly)
            .await
            .expect("open");
        let bytes = f.read_entire().await.expect("read");
        f.close().await.expect("close");
        assert!(bytes == source, "AFC bytes differ from the source");
    }));
}

#[test]
fn idevice_crate_on_a_locked_phone_gets_password_protected() {
    let media = media_fixture();
    let sim = SimProc::start(media.path(), &["--locked"]);
    rt().block_on(within(60, async {
        let provider = provider(&sim.plain_addr()).await;
        match AfcClient::connect(&provider).await {
            Err(IdeviceError::PasswordProtected) => {}
            Err(e) => panic!("expected PasswordProtected, got {e:?}"),
            Ok(_) => panic!("a locked phone started AFC"),
        }
    }));
}

#[test]
fn idevice_crate_on_an_untrusted_phone_finds_no_pair_record() {
    let media = media_fixture();
    let sim = SimProc::start(media.path(), &["--untrusted"]);
    rt().block_on(within(60, async {
        let mut mux = idevice_addr(&sim.plain_addr())
            .connect(1)
            .await
            .expect("usbmuxd");
        assert!(mux.get_pair_record(&sim.udid).await.is_err());
        // A record from elsewhere (the simulator's own) is refused by lockdownd too.
        let provider = provider(&sim.plain_addr()).await;
        let own = idevice::pairing_file::PairingFile::from_bytes(
            &std::fs::read(
                media
                    .path()
                    .join(".sim")
                    .join(format!("{}.plist", sim.udid)),
            )
            .expect("record file"),
        )
        .expect("parse");
        let mut lockdown = LockdownClient::connect(&provider).await.expect("lockdown");
        match lockdown.start_session(&own).await {
            Err(IdeviceError::InvalidHostID) => {}
            other => panic!("expected InvalidHostID, got {other:?}"),
        }
    }));
}

// ===== ifuse (libimobiledevice's FUSE file system, Debian's ifuse) =====

/// ifuse needs FUSE as well as the tool; both depend on the machine, so this test skips
/// when either is missing, unless CAMROLL_REQUIRE_TOOLS=1.
#[test]
fn ifuse_mounts_the_phone_and_reads_files_through_the_kernel() {
    let Some(ifuse) = tool("ifuse") else { return };
    if !skip_unless(
        Path::new("/dev/fuse").exists(),
        "ifuse needs /dev/fuse, which this machine lacks",
    ) {
        return;
    }
    let media = media_fixture();
    let sim = SimProc::start(media.path(), &[]);
    let mnt = tempfile::tempdir().expect("mountpoint");
    let mut child = Command::new(ifuse)
        .arg(mnt.path())
        .args(["-u", &sim.udid, "-f"])
        .env("USBMUXD_SOCKET_ADDRESS", &sim.addr)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("ifuse starts");
    struct Unmount<'a>(&'a Path, std::process::Child);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = Command::new("fusermount").arg("-u").arg(self.0).status();
            let _ = self.1.kill();
            let _ = self.1.wait();
        }
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !mnt.path().join("DCIM").exists() {
        if let Ok(Some(status)) = child.try_wait() {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut e, &mut err);
            }
            panic!("ifuse exited ({status}) before mounting: {err}");
        }
        assert!(
            std::time::Instant::now() < deadline,
            "ifuse did not mount in 30 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let guard = Unmount(mnt.path(), child);
    let dir = mnt.path().join("DCIM/100APPLE");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("readdir through FUSE")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["IMG_0001.JPG", "IMG_0002.MOV", "IMG_0003.PNG"]);
    for n in &names {
        let via_fuse = std::fs::read(dir.join(n)).expect("read through FUSE");
        let source = std::fs::read(media.path().join("DCIM/100APPLE").join(n)).expect("source");
        assert!(via_fuse == source, "{n} differs through ifuse");
    }
    let meta = std::fs::metadata(dir.join("IMG_0001.JPG")).expect("stat");
    assert_eq!(meta.len(), 3_000_000);
    assert!(
        std::fs::write(mnt.path().join("DCIM/new.txt"), b"x").is_err(),
        "a read-only phone refuses writes"
    );
    drop(guard);
}
