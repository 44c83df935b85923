//! The messy real iPhone (issue 12), against the simulated phone: one phone
//! listed over USB and Wi-Fi at once, Wi-Fi only, a cable pulled while Wi-Fi
//! stays, lockdownd's service limit, a phone that locks mid-run, files afcd
//! will not open (hard links), cloud-only stand-ins, and a library that
//! changes while it is copied.

mod support;

use std::fs;

use support::*;

fn devices_json(sim: &SimProc) -> serde_json::Value {
    let (code, json, err) = output_json(
        camroll()
            .env("USBMUXD_SOCKET_ADDRESS", &sim.addr)
            .args(["devices", "--json"]),
    );
    assert_eq!(code, 0, "{err}");
    json
}

// ===== One phone, several connections =====

#[test]
fn a_phone_on_usb_and_wifi_is_listed_once_with_both_connections() {
    let t = tempfile::tempdir().unwrap();
    let media = generate(t.path(), 5, 1);
    let sim = SimProc::start(&media, &["--also-network", "--name", "Twin"]);
    let json = devices_json(&sim);
    let list = json["devices"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{json}");
    assert_eq!(list[0]["udid"], sim.udid.as_str());
    assert_eq!(list[0]["name"], "Twin");
    assert_eq!(
        list[0]["connections"],
        serde_json::json!(["usb", "network"])
    );
    assert_eq!(list[0]["connection"], "USB and Wi-Fi");
    let out = camroll()
        .env("USBMUXD_SOCKET_ADDRESS", &sim.addr)
        .arg("devices")
        .output()
        .unwrap();
    let (code, stdout, _) = decode(out);
    assert_eq!(code, 0);
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(stdout.contains("USB and Wi-Fi"), "{stdout}");

    drop(sim);
    let sim = SimProc::start(&media, &["--network"]);
    let json = devices_json(&sim);
    assert_eq!(
        json["devices"][0]["connections"],
        serde_json::json!(["network"])
    );
    assert_eq!(json["devices"][0]["connection"], "Wi-Fi");
    assert_eq!(json["devices"][0]["trusted"], true);
}

#[test]
fn export_and_check_of_a_phone_on_usb_and_wifi_never_ask_which_phone() {
    let t = tempfile::tempdir().unwrap();
    let media = generate(t.path(), 20, 2);
    let sim = SimProc::start(&media, &["--also-network", "--name", "Twin"]);
    let a = t.path().join("a");
    let (code, json, stderr) = export_device(&sim.addr, t.path(), &[&a], &[]);
    assert_eq!(code, 0, "{json}\n{stderr}");
    assert!(json["copied"].as_u64().unwrap() > 0);
    assert!(!stderr.contains("several iPhones"), "{stderr}");
    // Chosen by UDID (with or without hyphens) and by name: never ambiguous.
    for from in [
        format!("device:{}", sim.udid),
        format!("device:{}", sim.udid.replace('-', "")),
        "device:Twin".to_string(),
    ] {
        let (code, json, stderr) = output_json(
            device_camroll(&sim.addr, t.path())
                .args(["export", "--json", "--from", &from, "--to"])
                .arg(&a),
        );
        assert_eq!(code, 0, "{from}: {json}\n{stderr}");
        assert_eq!(json["copied"], 0, "{from}: everything was archived already");
    }
    let (code, v, err) = with_sim(
        &sim,
        t.path(),
        &["check", "--copies", "1", "--from", "device", &s(&a)],
    );
    // Exit 1 only because one original is only in iCloud; every file is safe.
    assert_eq!(code, 1, "{err}");
    assert_eq!(v["source"], format!("device:{}", sim.udid));
    assert_eq!(v["counts"]["safe"], v["counts"]["items"], "{err}");
}

#[test]
fn export_over_wifi_alone_works() {
    let t = tempfile::tempdir().unwrap();
    let media = generate(t.path(), 20, 3);
    let sim = SimProc::start(&media, &["--network"]);
    let a = t.path().join("a");
    let (code, json, stderr) = export_device(&sim.addr, t.path(), &[&a], &[]);
    assert_eq!(code, 0, "{json}\n{stderr}");
    assert!(stderr.contains("over Wi-Fi only"), "{stderr}");
    let on_phone = assets(&media)
        .iter()
        .filter(|a| a["path"].as_str().is_some_and(|p| p.starts_with("DCIM/")))
        .count() as u64;
    assert!(json["copied"].as_u64().unwrap() >= on_phone, "{json}");
    let (code, stdout, _) = run(&["verify", a.to_str().unwrap()]);
    assert_eq!(code, 0, "{stdout}");
}

#[test]
fn pulling_the_cable_of_a_phone_also_on_wifi_continues_over_wifi() {
    let t = tempfile::tempdir().unwrap();
    let media = generate(t.path(), 40, 4);
    let total: u64 = dcim_bytes(&media);
    // The cable is pulled half-way and never put back; Wi-Fi stays.
    let sim = SimProc::start(
        &media,
        &[
            "--also-network",
            "--unplug-after-bytes",
            &(total / 2).to_string(),
        ],
    );
    let a = t.path().join("a");
    let (code, json, stderr) =
        export_device(&sim.addr, t.path(), &[&a], &["--jobs", "1", "--wait", "20"]);
    assert_eq!(code, 0, "{json}\n{stderr}");
    assert!(stderr.contains("back over Wi-Fi"), "{stderr}");
    assert_eq!(json["failed"].as_array().unwrap().len(), 0, "{json}");
    let (code, stdout, _) = run(&["verify", a.to_str().unwrap()]);
    assert_eq!(code, 0, "{stdout}");
}

#[test]
fn a_phone_on_wifi_whose_cable_comes_back_returns_to_usb() {
    let t = tempfile::tempdir().unwrap();
    let media = generate(t.path(), 60, 12);
    let library: u64 = ["", "-wal", "-shm"]
        .iter()
        .filter_map(|x| fs::metadata(media.join(format!("PhotoData/Photos.sqlite{x}"))).ok())
        .map(|m| m.len())
        .sum();
    // A quarter of the way through the photos the cable is pulled; it is back two
    // seconds later while Wi-Fi stays. Every AFC reply takes 25 ms, so the run
    // lasts a few seconds and goes on well after the cable is back.
    let unplug_at = library + dcim_bytes(&media) / 4;
    let stats = t.path().join("served.json");
    let sim = SimProc::start(
        &media,
        &[
            "--also-network",
            "--unplug-after-bytes",
            &unplug_at.to_string(),
            "--replug-after",
            "2",
            "--latency-ms",
            "25",
            "--stats",
            stats.to_str().unwrap(),
        ],
    );
    let a = t.path().join("a");
    let (code, json, stderr) =
        export_device(&sim.addr, t.path(), &[&a], &["--jobs", "1", "--wait", "20"]);
    assert_eq!(code, 0, "{json}\n{stderr}");
    assert_eq!(json["failed"].as_array().unwrap().len(), 0, "{json}");
    let wifi = stderr
        .find("back over Wi-Fi")
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(
        stderr[wifi..].contains("back over USB; continuing over the cable"),
        "returned to the cable: {stderr}"
    );
    // Bytes went over Wi-Fi while the cable was out, and over USB again after it came back.
    let served: serde_json::Value = serde_json::from_slice(&fs::read(&stats).unwrap()).unwrap();
    assert!(
        served["file_bytes_network"].as_u64().unwrap() > 0,
        "{served}"
    );
    assert!(
        served["file_bytes_usb"].as_u64().unwrap() > unplug_at,
        "USB served more after the replug: {served}"
    );
    let (code, stdout, _) = run(&["verify", a.to_str().unwrap()]);
    assert_eq!(code, 0, "{stdout}");
}

// ===== Cloud-only originals: no file, unreadable, stand-in =====

/// `camroll sim generate` with `--cloud-only-shape <shape>`.
fn generate_shaped(
    dir: &std::path::Path,
    items: usize,
    seed: u64,
    shape: &str,
) -> std::path::PathBuf {
    let media = dir.join("media");
    generate_with(&media, items, seed, &["--cloud-only-shape", shape]);
    media
}

#[test]
fn a_stand_in_or_unreadable_cloud_only_original_is_never_archived_and_is_reported_with_why() {
    let t = tempfile::tempdir().unwrap();
    let media = generate_shaped(t.path(), 150, 7, "mix");
    let assets = assets(&media);
    let shape = |s: &str| -> Vec<&serde_json::Value> {
        assets.iter().filter(|a| a["cloud_shape"] == s).collect()
    };
    let (standins, unreadable) = (shape("standin"), shape("unreadable"));
    assert!(!standins.is_empty() && !unreadable.is_empty() && !shape("none").is_empty());
    let sim = SimProc::start(&media, &[]);
    let a = t.path().join("a");
    let (code, json, stderr) = export_device(&sim.addr, t.path(), &[&a], &[]);
    assert_eq!(code, 0, "{json}\n{stderr}");
    assert_eq!(json["failed"].as_array().unwrap().len(), 0, "{json}");
    let lib = &json;
    assert_eq!(
        uuids(&lib["cloud_only"]),
        asset_uuids(&assets, "cloud_only")
    );
    assert_eq!(
        lib["not_found_on_device"].as_array().unwrap().len(),
        0,
        "{}",
        lib["not_found_on_device"]
    );
    let archived = hashes_in(&a);
    let reason = |uuid: &serde_json::Value| -> String {
        lib["cloud_only"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["uuid"] == *uuid)
            .and_then(|c| c["reason"].as_str())
            .unwrap_or("")
            .to_string()
    };
    for s in &standins {
        let f = media
            .join(s["directory"].as_str().unwrap())
            .join(s["filename"].as_str().unwrap());
        assert!(
            !archived.contains(&b3(&f)),
            "stand-in {} archived",
            f.display()
        );
        assert!(
            reason(&s["uuid"]).contains("stand-in"),
            "{}",
            lib["cloud_only"]
        );
    }
    for u in &unreadable {
        let f = media
            .join(u["directory"].as_str().unwrap())
            .join(u["filename"].as_str().unwrap());
        assert!(
            !archived.contains(&b3(&f)),
            "unreadable {} archived",
            f.display()
        );
        assert!(
            reason(&u["uuid"]).contains("cannot be read"),
            "{}",
            lib["cloud_only"]
        );
    }
    // The text summary gives the reason and the advice.
    let out = device_camroll(&sim.addr, t.path())
        .args(["export", "--from", "device", "--to"])
        .arg(&a)
        .output()
        .unwrap();
    let (code, stdout, _) = decode(out);
    assert_eq!(code, 0);
    assert!(
        stdout.contains("Download and Keep Originals") && stdout.contains("stand-in"),
        "{stdout}"
    );
}

#[test]
fn a_cloud_only_original_of_the_right_size_is_archived_with_a_warning() {
    let t = tempfile::tempdir().unwrap();
    let media = generate_shaped(t.path(), 150, 7, "standin");
    let assets = assets(&media);
    let s = assets
        .iter()
        .find(|a| {
            a["cloud_shape"] == "standin" && a["filename"].as_str().unwrap().ends_with(".HEIC")
        })
        .expect("a HEIC stand-in");
    // The phone holds a photo exactly the original's size: the library may be stale.
    let f = media
        .join(s["directory"].as_str().unwrap())
        .join(s["filename"].as_str().unwrap());
    let mut spec = camroll_sim::synth::StillSpec::iphone(
        5,
        "iPhone 15",
        chrono::NaiveDate::from_ymd_opt(2021, 3, 4)
            .unwrap()
            .and_hms_opt(10, 0, 0)
            .unwrap(),
        None,
    );
    spec.size_target = s["size"].as_u64();
    let bytes = camroll_sim::synth::heic(&spec);
    assert_eq!(Some(bytes.len() as u64), s["size"].as_u64());
    fs::write(&f, bytes).unwrap();
    let sim = SimProc::start(&media, &[]);
    let a = t.path().join("a");
    let (code, json, stderr) = export_device(&sim.addr, t.path(), &[&a], &[]);
    assert_eq!(code, 0, "{json}\n{stderr}");
    assert!(
        hashes_in(&a).contains(&b3(&f)),
        "the full-size file is archived: {json}"
    );
    let lib = &json;
    let warned = uuids(&lib["not_local_but_present"]);
    assert!(warned.contains(s["uuid"].as_str().unwrap()), "{lib}");
    assert!(!uuids(&lib["cloud_only"]).contains(s["uuid"].as_str().unwrap()));
}

// ===== lockdownd's service limit, a phone that locks mid-run, hard links =====

#[test]
fn a_phone_that_limits_services_is_exported_with_the_connections_it_grants() {
    let t = tempfile::tempdir().unwrap();
    let media = generate(t.path(), 60, 5);
    let sim = SimProc::start(&media, &["--service-limit", "3"]);
    let a = t.path().join("a");
    let (code, json, stderr) = export_device(&sim.addr, t.path(), &[&a], &["--jobs", "6"]);
    assert_eq!(code, 0, "{json}\n{stderr}");
    assert_eq!(json["failed"].as_array().unwrap().len(), 0, "{json}");
    assert!(stderr.contains("allows 3 connections"), "{stderr}");
    let (code, stdout, _) = run(&["verify", a.to_str().unwrap()]);
    assert_eq!(code, 0, "{stdout}");
}

#[test]
fn a_phone_that_locks_mid_run_is_waited_for_and_no_file_fails() {
    let t = tempfile::tempdir().unwrap();
    let media = generate(t.path(), 40, 6);
    let total: u64 = dcim_bytes(&media);
    // Half-way the phone locks, and the cable is re-seated a moment later: every
    // new connection meets a locked phone until the user unlocks it (3 s).
    let half = (total / 2).to_string();
    let sim = SimProc::start(
        &media,
        &[
            "--lock-after-bytes",
            &half,
            "--unplug-after-bytes",
            &(total / 2 + 1).to_string(),
            "--replug-after",
            "0.5",
            "--unlock-after",
            "3",
        ],
    );
    let a = t.path().join("a");
    let (code, json, stderr) =
        export_device(&sim.addr, t.path(), &[&a], &["--jobs", "1", "--wait", "30"]);
    assert_eq!(code, 0, "{json}\n{stderr}");
    assert!(stderr.contains("is locked. Unlock it"), "{stderr}");
    assert!(stderr.contains("unlocked; continuing"), "{stderr}");
    assert_eq!(json["failed"].as_array().unwrap().len(), 0, "{json}");
}

/// A DCIM photo with no movie or sidecar, given a second name outside what
/// camroll lists, so afcd refuses to open it.
fn hard_link_a_photo(media: &std::path::Path) -> String {
    let victim = lone_dcim_photo(media);
    fs::create_dir_all(media.join("PhotoData/Links")).unwrap();
    fs::hard_link(media.join(&victim), media.join("PhotoData/Links/extra")).unwrap();
    victim
}

#[test]
fn a_file_the_phone_refuses_for_its_hard_links_is_retried_at_the_end_then_fails_alone() {
    let t = tempfile::tempdir().unwrap();
    let media = generate(t.path(), 30, 9);
    let victim = hard_link_a_photo(&media);
    let sim = SimProc::start(&media, &[]);
    let a = t.path().join("a");
    let (code, json, stderr) = export_device(&sim.addr, t.path(), &[&a], &["--jobs", "1"]);
    assert_eq!(code, 1, "{json}\n{stderr}");
    let failed = json["failed"].as_array().unwrap();
    assert_eq!(failed.len(), 1, "{json}");
    assert_eq!(failed[0]["path"], victim.as_str());
    let error = failed[0]["error"].as_str().unwrap();
    assert!(
        error.contains("hard links")
            && error.contains("tried again at the end of the run")
            && error.contains("Duplicate the photo"),
        "{error}"
    );
    // Named at once, with why and what happens next; tried again only after every other file.
    let told = stderr
        .find(&format!("{victim}: the iPhone refused to open"))
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(stderr[told..].contains("tries it once more when everything else is done"));
    assert!(json["copied"].as_u64().unwrap() > 10);
}

#[test]
fn a_file_whose_extra_hard_link_goes_away_during_the_run_is_archived_at_the_end() {
    let t = tempfile::tempdir().unwrap();
    let media = generate(t.path(), 30, 9);
    let victim = hard_link_a_photo(&media);
    // The phone drops the extra name once one more byte has been served after the refusal.
    let sim = SimProc::start(&media, &["--hard-links-heal-after-bytes", "1"]);
    let a = t.path().join("a");
    let (code, json, stderr) = export_device(&sim.addr, t.path(), &[&a], &["--jobs", "1"]);
    assert_eq!(code, 0, "{json}\n{stderr}");
    assert!(
        stderr.contains(&format!("{victim}: the iPhone refused to open")),
        "the first try was refused: {stderr}"
    );
    assert_eq!(json["failed"].as_array().unwrap().len(), 0, "{json}");
    assert!(!media.join("PhotoData/Links/extra").exists());
    // The photo is in the archive, bit-exact.
    let want = fs::read(media.join(&victim)).unwrap();
    let found = walkdir::WalkDir::new(&a)
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
        .any(|e| fs::read(e.path()).is_ok_and(|b| b == want));
    assert!(found, "{victim} archived");
    let (code, stdout, _) = run(&["verify", a.to_str().unwrap()]);
    assert_eq!(code, 0, "{stdout}");
}

// ===== A consistent library snapshot =====

#[test]
fn a_library_that_changes_while_copied_is_copied_again_until_it_holds_still() {
    let t = tempfile::tempdir().unwrap();
    let media = generate(t.path(), 30, 10);
    let sim = SimProc::start(&media, &["--library-churn"]);
    let a = t.path().join("a");
    let (code, json, stderr) = export_device(&sim.addr, t.path(), &[&a], &[]);
    assert_eq!(code, 0, "{json}\n{stderr}");
    assert!(stderr.contains("changed while it was copied"), "{stderr}");
    assert!(json.get("library_warning").is_none(), "{json}");
    assert_eq!(json["library_assets"], 30);
    // The phone's WAL grew while it was read; the copy camroll kept matches the last look.
    assert!(media.join("PhotoData/Photos.sqlite-wal").is_file());
    let cached = t.path().join("camroll/devices").join(&sim.udid);
    assert_eq!(
        fs::metadata(cached.join("Photos.sqlite-wal"))
            .unwrap()
            .len(),
        fs::metadata(media.join("PhotoData/Photos.sqlite-wal"))
            .unwrap()
            .len()
    );
}

/// The simulator's `--stats` file: what it has served so far.
fn served(stats: &std::path::Path) -> serde_json::Value {
    serde_json::from_slice(&fs::read(stats).unwrap()).unwrap()
}

#[test]
fn a_library_of_realistic_size_is_copied_once_and_not_again_on_a_no_change_run() {
    use std::os::unix::fs::MetadataExt;
    let t = tempfile::tempdir().unwrap();
    let media = t.path().join("media");
    generate_with(&media, 20, 11, &["--library-pad-mb", "120"]);
    let db = media.join("PhotoData/Photos.sqlite");
    let m = fs::metadata(&db).unwrap();
    assert_eq!(m.len(), 120_000_000);
    assert!(
        m.blocks() * 512 < 16 << 20,
        "padded sparsely: {} blocks",
        m.blocks()
    );
    let stats = t.path().join("served.json");
    let sim = SimProc::start(&media, &["--stats", stats.to_str().unwrap()]);
    let a = t.path().join("a");
    let (code, json, stderr) = export_device(&sim.addr, t.path(), &[&a], &[]);
    assert_eq!(code, 0, "{json}\n{stderr}");
    assert_eq!(json["library_assets"], 20, "the padded library reads");
    let first = served(&stats);
    assert!(
        first["library_bytes"].as_u64().unwrap() >= 120_000_000,
        "{first}"
    );
    // Nothing changed on the phone: neither the library nor any file is read again.
    let (code, json, stderr) = export_device(&sim.addr, t.path(), &[&a], &[]);
    assert_eq!(code, 0, "{json}\n{stderr}");
    assert_eq!(json["copied"], 0, "{json}");
    assert_eq!(json["library_assets"], 20, "the cached copy still answers");
    let second = served(&stats);
    assert_eq!(second["library_bytes"], first["library_bytes"], "{second}");
    assert_eq!(second["file_bytes"], first["file_bytes"], "{second}");
}
