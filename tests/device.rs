//! `camroll export --from device` against the simulated iPhone (`camroll sim`,
//! the real binary speaking usbmuxd / lockdownd / AFC), for every phone state
//! and fault the simulator offers.

mod support;

use std::collections::HashMap;
use std::fs;
use std::path::Path;
use std::time::Duration;

use support::*;

/// Every file under DCIM and PhotoData with its size, mtime and hash.
fn tree_digest(media: &Path) -> Vec<(String, u64, String)> {
    let mut v: Vec<_> = ["DCIM", "PhotoData"]
        .iter()
        .flat_map(|d| walkdir::WalkDir::new(media.join(d)).into_iter().flatten())
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let m = e.metadata().unwrap();
            let mtime = m
                .modified()
                .unwrap()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64;
            (e.path().display().to_string(), mtime, b3(e.path()))
        })
        .collect();
    v.sort();
    v
}

#[test]
fn every_original_on_the_phone_is_archived_bit_exact_and_the_library_is_the_checklist() {
    let t = tempfile::tempdir().unwrap();
    let media = generate(t.path(), 150, 7);
    let assets = assets(&media);
    let before = tree_digest(&media);
    let sim = SimProc::start(&media, &["--writable"]);
    let a = t.path().join("a");
    let (code, json, stderr) = export_device(&sim.addr, t.path(), &[&a], &[]);
    assert_eq!(code, 0, "{json}\n{stderr}");
    // Even on a phone that would accept writes, camroll changed nothing.
    assert_eq!(tree_digest(&media), before, "the phone's files changed");
    let archived = hashes_in(&a);
    // Every file the phone holds for every asset, DCIM and CPLAssets alike, bit-exact.
    let mut expected_files = 0;
    for asset in &assets {
        for f in asset["files"].as_array().unwrap() {
            let f = f.as_str().unwrap();
            if f.starts_with("PhotoData/Mutations/") {
                continue; // renders come with --edited
            }
            expected_files += 1;
            assert!(
                archived.contains(&b3(&media.join(f))),
                "{f} is not in the archive"
            );
        }
    }
    assert_eq!(
        json["copied"].as_u64().unwrap() + json["duplicates"].as_u64().unwrap(),
        expected_files as u64,
        "{json}"
    );
    // The library view.
    assert_eq!(json["library_assets"], assets.len());
    let cloud = uuids(&json["cloud_only"]);
    let want_cloud = asset_uuids(&assets, "cloud_only");
    assert!(
        !want_cloud.is_empty(),
        "the generated roll should have cloud-only assets"
    );
    assert_eq!(cloud, want_cloud);
    let trashed = uuids(&json["recently_deleted"]);
    let want_trashed = asset_uuids(&assets, "trashed");
    assert_eq!(trashed, want_trashed);
    assert_eq!(
        json["not_found_on_device"].as_array().unwrap().len(),
        0,
        "{json}"
    );
    // iCloud-synced originals under PhotoData/CPLAssets are filed under the name Photos knows.
    let files = archived_files(&a);
    for asset in assets
        .iter()
        .filter(|a| a["icloud_synced"] == true && a["cloud_only"] == false)
    {
        let path = asset["path"].as_str().unwrap();
        assert!(path.starts_with("PhotoData/CPLAssets/"), "{path}");
        let h = b3(&media.join(path));
        let sums = fs::read_to_string(a.join("BLAKE3SUMS")).unwrap();
        let line = sums.lines().find(|l| l.starts_with(&h)).unwrap();
        assert!(
            line.contains("/IMG_"),
            "CPL original filed under its UUID name: {line}"
        );
    }
    // The human summary tells what to do about cloud-only originals.
    let out = device_camroll(&sim.addr, t.path())
        .args(["export", "--from", "device", "--dry-run", "--to"])
        .arg(&a)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("only in iCloud: turn on Settings › Photos › Download and Keep Originals"),
        "{stdout}"
    );
    assert!(!files.is_empty());
}

#[test]
fn capture_folders_match_the_phone_and_live_photo_movies_sit_with_their_stills() {
    let t = tempfile::tempdir().unwrap();
    let media = generate(t.path(), 80, 11);
    let assets = assets(&media);
    let sim = SimProc::start(&media, &[]);
    let a = t.path().join("a");
    let (code, json, _) = export_device(&sim.addr, t.path(), &[&a], &[]);
    assert_eq!(code, 0, "{json}");
    let sums = fs::read_to_string(a.join("BLAKE3SUMS")).unwrap();
    let by_hash: HashMap<&str, &str> = sums.lines().map(|l| (&l[..64], &l[66..])).collect();
    let mut live = 0;
    for asset in assets.iter().filter(|a| a["path"].is_string()) {
        let captured = asset["captured"].as_str().unwrap();
        let folder = format!("{}/{}", &captured[..4], &captured[5..7]);
        let still = by_hash[b3(&media.join(asset["path"].as_str().unwrap())).as_str()];
        assert!(
            still.starts_with(&folder),
            "{still} not in {folder} (captured {captured})"
        );
        if let Some(mov) = asset["live_video"].as_str() {
            live += 1;
            let movie = by_hash[b3(&media.join(mov)).as_str()];
            let stem = |p: &str| p.rsplit_once('.').unwrap().0.to_string();
            assert_eq!(
                stem(movie),
                stem(still),
                "Live Photo movie {movie} apart from {still}"
            );
        }
    }
    assert!(live > 0);
}

#[test]
fn edited_renders_are_filed_next_to_their_original_with_e_names() {
    let t = tempfile::tempdir().unwrap();
    let media = generate(t.path(), 80, 3);
    let assets = assets(&media);
    let sim = SimProc::start(&media, &[]);
    let a = t.path().join("a");
    let (code, json, _) = export_device(&sim.addr, t.path(), &[&a], &["--edited"]);
    assert_eq!(code, 0, "{json}");
    let sums = fs::read_to_string(a.join("BLAKE3SUMS")).unwrap();
    let by_hash: HashMap<&str, &str> = sums.lines().map(|l| (&l[..64], &l[66..])).collect();
    let mut renders = 0;
    for asset in assets
        .iter()
        .filter(|a| a["edited"] == true && a["path"].is_string())
    {
        let original = by_hash[b3(&media.join(asset["path"].as_str().unwrap())).as_str()];
        for f in asset["files"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|f| f.as_str())
            .filter(|f| f.contains("FullSizeRender"))
        {
            renders += 1;
            let render = by_hash[b3(&media.join(f)).as_str()];
            let (folder, name) = original.rsplit_once('/').unwrap();
            let num = name.trim_start_matches("IMG_").split('.').next().unwrap();
            assert!(
                render.starts_with(&format!("{folder}/IMG_E{num}.")),
                "render {render} for {original}"
            );
        }
    }
    assert!(renders > 0, "the generated roll should have edits");
}

#[test]
fn a_rerun_with_nothing_new_downloads_nothing_and_does_not_copy_the_library_again() {
    let t = tempfile::tempdir().unwrap();
    let media = generate(t.path(), 60, 5);
    let sim = SimProc::start(&media, &[]);
    let a = t.path().join("a");
    assert_eq!(export_device(&sim.addr, t.path(), &[&a], &[]).0, 0);
    let cached = walkdir::WalkDir::new(t.path().join("camroll/devices"))
        .into_iter()
        .flatten()
        .find(|e| e.file_name() == "Photos.sqlite")
        .expect("Photos.sqlite cached")
        .into_path();
    let before = fs::metadata(&cached).unwrap().modified().unwrap();
    std::thread::sleep(Duration::from_millis(20));
    let (code, json, _) = export_device(&sim.addr, t.path(), &[&a], &[]);
    assert_eq!(code, 0);
    assert_eq!(json["bytes_copied"], 0);
    assert_eq!(json["copied"], 0);
    assert_eq!(json["already_archived"], json["scanned"]);
    assert_eq!(
        fs::metadata(&cached).unwrap().modified().unwrap(),
        before,
        "Photos.sqlite was copied again"
    );
}

/// What a re-run trusts (docs/reliability.md, "What a re-run over AFC
/// trusts"): the phone is asked for every file's size and date, even a file
/// that both the library and the catalog know. An original rewritten in
/// place behind Photos' back (same size, same library) is read again; a
/// rule that trusted the library's listing instead would miss it.
#[test]
fn a_rerun_notices_an_original_rewritten_on_the_phone_behind_the_library() {
    let t = tempfile::tempdir().unwrap();
    let media = generate(t.path(), 30, 7);
    let sim = SimProc::start(&media, &[]);
    let a = t.path().join("a");
    assert_eq!(export_device(&sim.addr, t.path(), &[&a], &[]).0, 0);
    let mut originals: Vec<_> = walkdir::WalkDir::new(media.join("DCIM"))
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .filter(|p| {
            let ext = p.extension().unwrap_or_default().to_ascii_lowercase();
            ext == "jpg" || ext == "heic"
        })
        .collect();
    originals.sort();
    let victim = originals.first().expect("a photo in DCIM").clone();
    let library = media.join("PhotoData/Photos.sqlite");
    let library_before = fs::read(&library).unwrap();
    // Same size, one byte different, written in place (same inode).
    let mut bytes = fs::read(&victim).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x5a;
    std::thread::sleep(Duration::from_millis(20));
    fs::write(&victim, &bytes).unwrap();
    let (code, json, _) = export_device(&sim.addr, t.path(), &[&a], &[]);
    assert_eq!(
        fs::read(&library).unwrap(),
        library_before,
        "the library changed"
    );
    assert_eq!(code, 0, "{json}");
    assert_eq!(
        json["copied"], 1,
        "the rewritten original was not read again: {json}"
    );
    let sums = fs::read_to_string(a.join("BLAKE3SUMS")).unwrap();
    assert!(
        sums.contains(&b3(&victim)),
        "the new content is not archived"
    );
}

#[test]
fn an_unparseable_original_the_library_lists_is_archived_whatever_its_name() {
    // A format camroll does not know, under a name without a photo or video
    // extension: the phone's library listing it as an original is enough
    // to archive it bit-exact. An unlisted file like it is left behind (exit 1).
    let t = tempfile::tempdir().unwrap();
    let media = generate(t.path(), 8, 11);
    let listed = lone_dcim_photo(&media);
    let (dir, file) = listed.rsplit_once('/').unwrap();
    let stem = file.rsplit_once('.').unwrap().0;
    let renamed = format!("{stem}.XYZ");
    let bytes = pattern(50_000, 77);
    fs::remove_file(media.join(&listed)).unwrap();
    fs::write(media.join(dir).join(&renamed), &bytes).unwrap();
    fs::write(media.join(dir).join("NOTES.BIN"), pattern(1000, 78)).unwrap();
    let db = rusqlite::Connection::open(media.join("PhotoData/Photos.sqlite")).unwrap();
    // The file carries no date: it is filed by the capture time the library
    // recorded (2011-03-15 12:00 UTC, in Core Data seconds), not by its
    // mtime (now).
    let n = db
        .execute(
            "UPDATE ZASSET SET ZFILENAME = ?1, ZDATECREATED = 321883200 WHERE ZDIRECTORY = ?2 AND ZFILENAME = ?3",
            [renamed.as_str(), dir, file],
        )
        .unwrap();
    assert_eq!(n, 1, "the generated library lists {listed}");
    drop(db);
    let sim = SimProc::start(&media, &[]);
    let a = t.path().join("a");
    let (code, json, stderr) = export_device(&sim.addr, t.path(), &[&a], &[]);
    assert_eq!(
        code, 1,
        "the unlisted file is left behind: {json}\n{stderr}"
    );
    assert_eq!(json["left_behind"], 1, "{json}");
    assert_eq!(json["unrecognised"], 1, "{json}");
    let archived = hashes_in(&a);
    assert!(
        archived.contains(&blake3::hash(&bytes).to_hex().to_string()),
        "{renamed} not archived: {json}"
    );
    let skipped = json["skipped"].to_string();
    assert!(skipped.contains("NOTES.BIN"), "{json}");
    assert!(!skipped.contains(&renamed), "{json}");
    let filed: Vec<String> = walkdir::WalkDir::new(&a)
        .into_iter()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy() == renamed)
        .map(|e| e.path().strip_prefix(&a).unwrap().display().to_string())
        .collect();
    assert_eq!(filed.len(), 1, "{filed:?}");
    assert!(
        filed[0].starts_with("2011/03/"),
        "filed by the library's capture time: {filed:?}"
    );
}

#[test]
fn devices_lists_the_phone() {
    let t = tempfile::tempdir().unwrap();
    let media = generate(t.path(), 5, 1);
    let sim = SimProc::start(&media, &["--name", "Test Phone"]);
    let out = camroll()
        .env("USBMUXD_SOCKET_ADDRESS", &sim.addr)
        .args(["devices", "--json"])
        .output()
        .unwrap();
    let (code, stdout, _) = decode(out);
    assert_eq!(code, 0);
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let d = &json["devices"][0];
    assert_eq!(d["udid"], sim.udid.as_str());
    assert_eq!(d["name"], "Test Phone");
    assert_eq!(d["trusted"], true);
    assert_eq!(d["connection"], "USB");
    assert!(d["ios"].as_str().unwrap().contains('.'));
}

#[test]
fn no_usbmuxd_or_no_phone_says_how_to_connect_and_exits_2() {
    let t = tempfile::tempdir().unwrap();
    // Nothing listens on this port.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = camroll()
        .env("USBMUXD_SOCKET_ADDRESS", format!("127.0.0.1:{port}"))
        .args(["export", "--to"])
        .arg(t.path().join("a"))
        .output()
        .unwrap();
    let (code, _, stderr) = decode(out);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("Connect the iPhone with a cable") && stderr.contains("usbmuxd"),
        "{stderr}"
    );
    assert!(!t.path().join("a").exists());
}

#[test]
fn an_untrusted_phone_is_paired_when_the_user_taps_trust() {
    let t = tempfile::tempdir().unwrap();
    let media = generate(t.path(), 10, 2);
    let sim = SimProc::start(&media, &["--untrusted", "--trust-after", "2"]);
    let a = t.path().join("a");
    let (code, json, stderr) = export_device(&sim.addr, t.path(), &[&a], &["--wait", "60"]);
    assert_eq!(code, 0, "{json}\n{stderr}");
    assert!(stderr.contains("tap Trust"), "{stderr}");
    assert!(json["copied"].as_u64().unwrap() > 0);
}

#[test]
fn a_phone_never_trusted_ends_with_guidance_and_exit_2() {
    let t = tempfile::tempdir().unwrap();
    let media = generate(t.path(), 5, 2);
    let sim = SimProc::start(&media, &["--untrusted"]);
    let out = camroll()
        .env("USBMUXD_SOCKET_ADDRESS", &sim.addr)
        .args(["export", "--wait", "2", "--to"])
        .arg(t.path().join("a"))
        .output()
        .unwrap();
    let (code, _, stderr) = decode(out);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("did not trust this computer") && stderr.contains("tap Trust"),
        "{stderr}"
    );
}

#[test]
fn a_locked_phone_is_waited_for_and_one_that_stays_locked_exits_2() {
    let t = tempfile::tempdir().unwrap();
    let media = generate(t.path(), 10, 4);
    let sim = SimProc::start(&media, &["--locked", "--unlock-after", "2"]);
    let a = t.path().join("a");
    let (code, json, stderr) = export_device(&sim.addr, t.path(), &[&a], &["--wait", "60"]);
    assert_eq!(code, 0, "{json}\n{stderr}");
    assert!(stderr.contains("Unlock your iPhone"), "{stderr}");
    drop(sim);
    let sim = SimProc::start(&media, &["--locked"]);
    let out = camroll()
        .env("USBMUXD_SOCKET_ADDRESS", &sim.addr)
        .args(["export", "--wait", "2", "--to"])
        .arg(t.path().join("b"))
        .output()
        .unwrap();
    let (code, _, stderr) = decode(out);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("stayed locked"), "{stderr}");
}

#[test]
fn an_optimized_placeholder_fails_only_that_file_by_name() {
    let t = tempfile::tempdir().unwrap();
    let media = generate(t.path(), 30, 9);
    // A photo with no Live Photo movie or sidecar (those would wait for it).
    let victim = lone_dcim_photo(&media);
    let name = victim.rsplit('/').next().unwrap().to_string();
    let sim = SimProc::start(&media, &["--io-error", &format!("**/{name}")]);
    let a = t.path().join("a");
    let (code, json, _) = export_device(&sim.addr, t.path(), &[&a], &[]);
    assert_eq!(code, 1, "{json}");
    let failed = json["failed"].as_array().unwrap();
    assert_eq!(failed.len(), 1, "{json}");
    assert_eq!(failed[0]["path"], victim.as_str());
    assert!(
        failed[0]["error"]
            .as_str()
            .unwrap()
            .contains("Download and Keep Originals"),
        "{json}"
    );
    assert!(json["copied"].as_u64().unwrap() > 10);
}

#[test]
fn a_phone_with_few_file_slots_still_exports_everything() {
    let t = tempfile::tempdir().unwrap();
    let media = generate(t.path(), 40, 12);
    let sim = SimProc::start(&media, &["--max-open-files", "1"]);
    let a = t.path().join("a");
    let (code, json, _) = export_device(&sim.addr, t.path(), &[&a], &["--jobs", "4"]);
    assert_eq!(code, 0, "{json}");
    assert_eq!(json["failed"].as_array().unwrap().len(), 0);
}

#[test]
fn an_unplug_mid_file_is_resumed_when_the_same_phone_comes_back() {
    let t = tempfile::tempdir().unwrap();
    let media = generate(t.path(), 30, 13);
    // A movie big enough to be cut in the middle.
    let big = media.join("DCIM/100APPLE/IMG_9990.MOV");
    let mut spec = camroll_sim::synth::VideoSpec::iphone(
        99,
        "iPhone 15",
        chrono::TimeZone::with_ymd_and_hms(&off(2), 2024, 5, 1, 12, 0, 0).unwrap(),
    );
    spec.size_target = Some(12 << 20);
    write(&big, &camroll_sim::synth::mov(&spec));
    let sim = SimProc::start(
        &media,
        &[
            "--unplug-after-bytes",
            &(6u64 << 20).to_string(),
            "--replug-after",
            "1",
        ],
    );
    let a = t.path().join("a");
    let (code, json, stderr) =
        export_device(&sim.addr, t.path(), &[&a], &["--jobs", "1", "--wait", "60"]);
    assert_eq!(code, 0, "{json}\n{stderr}");
    assert!(stderr.contains("disconnected"), "{stderr}");
    assert!(hashes_in(&a).contains(&b3(&big)));
    let (code, stdout, _) = run(&["verify", a.to_str().unwrap()]);
    assert_eq!(code, 0, "{stdout}");
}

#[test]
fn a_phone_that_does_not_come_back_leaves_a_verified_partial_archive_the_next_run_completes() {
    let t = tempfile::tempdir().unwrap();
    let media = generate(t.path(), 40, 14);
    let total: u64 = dcim_bytes(&media);
    // The library is copied first: the phone goes away half-way through the files after it.
    let library = fs::metadata(media.join("PhotoData/Photos.sqlite"))
        .unwrap()
        .len();
    let sim = SimProc::start(
        &media,
        &["--unplug-after-bytes", &(library + total / 2).to_string()],
    );
    let a = t.path().join("a");
    let (code, json, _) =
        export_device(&sim.addr, t.path(), &[&a], &["--jobs", "1", "--wait", "2"]);
    assert_eq!(code, 1, "{json}");
    assert!(json["copied"].as_u64().unwrap() > 0);
    let (code, stdout, _) = run(&["verify", a.to_str().unwrap()]);
    assert_eq!(code, 0, "what was archived verifies: {stdout}");
    drop(sim);
    let sim = SimProc::start(&media, &[]);
    let (code, json2, _) = export_device(&sim.addr, t.path(), &[&a], &[]);
    assert_eq!(code, 0, "{json2}");
    assert!(json2["already_archived"].as_u64().unwrap() > 0);
    assert_eq!(json2["failed"].as_array().unwrap().len(), 0);
}

#[test]
fn a_missing_or_garbage_photo_library_degrades_to_dcim_only_with_a_warning() {
    let t = tempfile::tempdir().unwrap();
    let media = generate(t.path(), 20, 15);
    fs::write(
        media.join("PhotoData/Photos.sqlite"),
        b"definitely not a database",
    )
    .unwrap();
    let _ = fs::remove_file(media.join("PhotoData/Photos.sqlite-wal"));
    let _ = fs::remove_file(media.join("PhotoData/Photos.sqlite-shm"));
    let sim = SimProc::start(&media, &[]);
    let a = t.path().join("a");
    let (code, json, stderr) = export_device(&sim.addr, t.path(), &[&a], &[]);
    assert_eq!(code, 0, "{json}\n{stderr}");
    assert!(
        stderr.contains("cannot read the iPhone's photo library"),
        "{stderr}"
    );
    assert!(json["library_warning"].is_string(), "{json}");
    assert!(json["copied"].as_u64().unwrap() > 0);
    drop(sim);
    fs::remove_file(media.join("PhotoData/Photos.sqlite")).unwrap();
    let sim = SimProc::start(&media, &[]);
    let (code, json, _) = export_device(&sim.addr, t.path(), &[&t.path().join("b")], &[]);
    assert_eq!(code, 0, "{json}");
    assert!(
        json["library_warning"]
            .as_str()
            .unwrap()
            .contains("not on the iPhone"),
        "{json}"
    );
}

#[test]
fn a_slow_phone_with_latency_and_a_rate_limit_still_exports_everything() {
    let t = tempfile::tempdir().unwrap();
    let media = generate(t.path(), 20, 16);
    let sim = SimProc::start(&media, &["--latency-ms", "3", "--rate", "20"]);
    let a = t.path().join("a");
    let (code, json, _) = export_device(&sim.addr, t.path(), &[&a], &[]);
    assert_eq!(code, 0, "{json}");
    assert_eq!(json["failed"].as_array().unwrap().len(), 0);
    let (code, stdout, _) = run(&["verify", a.to_str().unwrap()]);
    assert_eq!(code, 0, "{stdout}");
}

/// A stand-in usbmuxd that reports two phones and refuses connections to them:
/// enough to show how camroll asks the user to choose.
fn fake_usbmuxd_with_two_phones() -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut s = stream;
                loop {
                    let mut header = [0u8; 16];
                    if s.read_exact(&mut header).is_err() {
                        return;
                    }
                    let len = u32::from_le_bytes(header[0..4].try_into().unwrap()) as usize;
                    let tag = u32::from_le_bytes(header[12..16].try_into().unwrap());
                    let mut body = vec![0u8; len.saturating_sub(16)];
                    if s.read_exact(&mut body).is_err() {
                        return;
                    }
                    let req: plist::Dictionary = plist::from_bytes(&body).unwrap_or_default();
                    let device = |id: u64, udid: &str| {
                        let mut props = plist::Dictionary::new();
                        props.insert("ConnectionType".into(), "USB".into());
                        props.insert("DeviceID".into(), id.into());
                        props.insert("ProductID".into(), 4776u64.into());
                        props.insert("SerialNumber".into(), udid.into());
                        let mut d = plist::Dictionary::new();
                        d.insert("DeviceID".into(), id.into());
                        d.insert("MessageType".into(), "Attached".into());
                        d.insert("Properties".into(), plist::Value::Dictionary(props));
                        plist::Value::Dictionary(d)
                    };
                    let mut reply = plist::Dictionary::new();
                    match req.get("MessageType").and_then(|v| v.as_string()) {
                        Some("ListDevices") => {
                            reply.insert(
                                "DeviceList".into(),
                                plist::Value::Array(vec![
                                    device(1, "00008110-000A00000000000A"),
                                    device(2, "00008110-000B00000000000B"),
                                ]),
                            );
                        }
                        _ => {
                            reply.insert("MessageType".into(), "Result".into());
                            reply.insert("Number".into(), 3u64.into()); // connection refused
                        }
                    }
                    let mut xml = Vec::new();
                    plist::to_writer_xml(&mut xml, &plist::Value::Dictionary(reply)).unwrap();
                    let mut out = Vec::new();
                    out.extend(((xml.len() + 16) as u32).to_le_bytes());
                    out.extend(1u32.to_le_bytes());
                    out.extend(8u32.to_le_bytes());
                    out.extend(tag.to_le_bytes());
                    out.extend(xml);
                    if s.write_all(&out).is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

#[test]
fn several_phones_and_no_choice_lists_them_and_exits_2() {
    let addr = fake_usbmuxd_with_two_phones();
    let t = tempfile::tempdir().unwrap();
    let out = camroll()
        .env("USBMUXD_SOCKET_ADDRESS", &addr)
        .args(["export", "--to"])
        .arg(t.path().join("a"))
        .output()
        .unwrap();
    let (code, _, stderr) = decode(out);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("several iPhones are connected"), "{stderr}");
    assert!(
        stderr.contains("00008110-000A00000000000A")
            && stderr.contains("00008110-000B00000000000B"),
        "{stderr}"
    );
    assert!(stderr.contains("--from device:"), "{stderr}");
    // Naming one that is not there lists what is.
    let out = camroll()
        .env("USBMUXD_SOCKET_ADDRESS", &addr)
        .args(["export", "--from", "device:nope", "--to"])
        .arg(t.path().join("a"))
        .output()
        .unwrap();
    let (code, _, stderr) = decode(out);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("no connected iPhone matches \"nope\""),
        "{stderr}"
    );
}

#[test]
fn a_large_movie_is_read_back_from_the_disk_as_it_is_written() {
    // A movie over 8 MiB is flushed and read back in steps while it is
    // transferred (and while the photos go by it): the run ends with every
    // file verified and the movie bit-exact.
    let t = tempfile::tempdir().unwrap();
    let media = t.path().join("media");
    generate_with(&media, 6, 21, &["--video-mib", "20"]);
    let sim = SimProc::start(&media, &[]);
    let a = t.path().join("a");
    let (code, json, stderr) = export_device(&sim.addr, t.path(), &[&a], &[]);
    assert_eq!(code, 0, "{json}\n{stderr}");
    let d = &json["destinations"][0];
    assert_eq!(d["verified"], d["copied"], "{json}");
    let movie = walkdir::WalkDir::new(media.join("DCIM"))
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
        .max_by_key(|e| e.metadata().unwrap().len())
        .unwrap()
        .into_path();
    assert!(fs::metadata(&movie).unwrap().len() >= 20 << 20);
    assert!(hashes_in(&a).contains(&b3(&movie)), "{json}");
    let (code, stdout, _) = run(&["verify", a.to_str().unwrap()]);
    assert_eq!(code, 0, "{stdout}");
}

#[test]
fn a_photo_that_grows_on_the_phone_after_the_scan_is_read_again_as_it_is_now() {
    // Each file is read with one request (one byte more than listed, so the
    // reply says where it ends): a phone that sends more than it listed is
    // still noticed, and the file read again as the phone lists it now.
    if !fault_hooks() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let media = generate(t.path(), 6, 22);
    let photo = lone_dcim_photo(&media);
    let sim = SimProc::start(&media, &[]);
    let a = t.path().join("a");
    let child = device_camroll(&sim.addr, t.path())
        .args(["export", "--json", "--from", "device", "--to"])
        .arg(&a)
        .env("CAMROLL_TEST_PAUSE_AFTER_SCAN_MS", "1500")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    let mut f = fs::OpenOptions::new()
        .append(true)
        .open(media.join(&photo))
        .unwrap();
    std::io::Write::write_all(&mut f, b"more bytes").unwrap();
    drop(f);
    let out = child.wait_with_output().unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{json}\n{stderr}");
    let archived = hashes_in(&a);
    assert!(
        archived.contains(&b3(&media.join(&photo))),
        "{photo} archived as it is now: {json}"
    );
}
