//! `camroll check --from device` against the simulated iPhone: the phone's
//! library (cloud-only originals, Recently Deleted) and not-yet-exported items
//! each get the right verdict. The real binaries (`camroll sim` + `camroll`).

mod support;

use std::fs;

use support::*;

#[test]
fn check_against_the_phone_gives_each_item_and_library_asset_its_verdict() {
    let t = tempfile::tempdir().unwrap();
    let media = generate(t.path(), 150, 7);
    let assets = assets(&media);
    let want_cloud = asset_uuids(&assets, "cloud_only");
    let want_trashed: Vec<&serde_json::Value> =
        assets.iter().filter(|a| a["trashed"] == true).collect();
    assert!(!want_cloud.is_empty() && !want_trashed.is_empty());
    let sim = SimProc::start(&media, &[]);
    let (a, b) = (t.path().join("a"), t.path().join("b"));
    fs::create_dir_all(&a).unwrap();
    fs::create_dir_all(&b).unwrap();

    // Nothing exported yet: nothing is safe, and the library view is there.
    let (code, v, err) = with_sim(
        &sim,
        t.path(),
        &["check", "--from", "device", &s(&a), &s(&b)],
    );
    assert_eq!(code, 1, "{err}");
    let items = v["counts"]["items"].as_u64().unwrap();
    assert!(items > 0);
    assert_eq!(
        v["counts"]["not_archived"],
        items - v["counts"]["ignored"].as_u64().unwrap()
    );
    assert_eq!(uuids(&v["library"]["cloud_only"]), want_cloud);
    assert_eq!(
        uuids(&v["library"]["recently_deleted"]),
        want_trashed
            .iter()
            .map(|a| a["uuid"].as_str().unwrap().to_string())
            .collect()
    );
    assert_eq!(v["library"]["assets"], assets.len());

    // Exported to both archives; then a new photo appears on the phone.
    let (code, json, err) = with_sim(
        &sim,
        t.path(),
        &["export", "--from", "device", "--to", &s(&a), "--to", &s(&b)],
    );
    assert_eq!(code, 0, "{json}\n{err}");
    write(
        &media.join("DCIM/100APPLE/IMG_9999.JPG"),
        &iphone_jpeg(9999, dt(2024, 8, 8, 8, 8, 8), 2),
    );
    let (code, v, err) = with_sim(
        &sim,
        t.path(),
        &["check", "--from", "device", &s(&a), &s(&b)],
    );
    assert_eq!(code, 1, "{err}");
    assert_eq!(v["all_safe"], false);
    let list = v["items"].as_array().unwrap();
    let new = list
        .iter()
        .find(|i| i["path"] == "DCIM/100APPLE/IMG_9999.JPG")
        .expect("the new photo is listed");
    assert_eq!(new["verdict"], "not_archived");
    // Every exported item is safe: two verified copies, found by the device's source records.
    for i in list
        .iter()
        .filter(|i| i["path"] != "DCIM/100APPLE/IMG_9999.JPG")
    {
        assert_eq!(i["verdict"], "safe", "{i}");
        assert_eq!(i["copies"][0]["found_by"], "source_record", "{i}");
    }
    // Items in Recently Deleted are safe, and marked.
    for a in &want_trashed {
        let Some(path) = a["path"].as_str() else {
            continue;
        };
        let i = list
            .iter()
            .find(|i| i["path"].as_str().unwrap().eq_ignore_ascii_case(path))
            .unwrap_or_else(|| panic!("{path} not checked"));
        assert_eq!(i["notes"][0], "in Recently Deleted on the phone", "{i}");
    }
    // Cloud-only originals keep the verdict from "all safe", with what to do.
    assert_eq!(uuids(&v["library"]["cloud_only"]), want_cloud);
    let out = device_camroll(&sim.addr, t.path())
        .args(["check", "--from", "device"])
        .arg(&a)
        .arg(&b)
        .output()
        .unwrap();
    let (code, stdout, _) = decode(out);
    assert_eq!(code, 1);
    assert!(stdout.contains("CLOUD ONLY"), "{stdout}");
    assert!(stdout.contains("Download and Keep Originals"), "{stdout}");
    assert!(
        stdout.contains("NOT ARCHIVED DCIM/100APPLE/IMG_9999.JPG"),
        "{stdout}"
    );
}

#[test]
fn an_unreadable_placeholder_on_the_phone_is_unreadable_not_safe() {
    let t = tempfile::tempdir().unwrap();
    let media = generate(t.path(), 20, 3);
    let victim = lone_dcim_photo(&media);
    let name = victim.rsplit('/').next().unwrap().to_string();
    let sim = SimProc::start(&media, &["--io-error", &format!("**/{name}")]);
    let a = t.path().join("a");
    fs::create_dir_all(&a).unwrap();
    let (code, v, _) = with_sim(
        &sim,
        t.path(),
        &["check", "--copies", "1", "--from", "device", &s(&a)],
    );
    assert_eq!(code, 1);
    let i = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["path"] == victim.as_str())
        .unwrap();
    assert_eq!(i["verdict"], "unreadable", "{i}");
    assert!(i["reason"].as_str().unwrap().contains("iCloud"), "{i}");
}
