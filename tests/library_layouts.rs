//! The library checklist (library_assets, cloud_only, recently_deleted,
//! not_found_on_device) from every library layout the generator writes
//! (iOS 11, 12–13, 14–15, 16–18), against the generator's manifest; and the
//! same through a whole export from the simulated phone for iOS 11, whose
//! library cannot say which originals are only in iCloud.

mod support;

use std::collections::{HashMap, HashSet};
use std::path::Path;

use camroll::source::library::{read_library, LibraryReport};
use camroll_sim::generate::{generate, CloudShape, GenerateOptions};
use support::*;

/// Every file under the media root, relative to it (what a scan would find).
fn files_on_phone(media: &Path) -> HashSet<String> {
    walkdir::WalkDir::new(media)
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            e.path()
                .strip_prefix(media)
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|p| !p.starts_with(".sim"))
        .collect()
}

fn report_uuids(items: &[camroll::source::library::LibraryItem]) -> HashSet<String> {
    items.iter().map(|i| i.uuid.clone()).collect()
}

#[test]
fn every_library_layout_gives_the_checklist_the_manifest_gives() {
    let t = tempfile::tempdir().unwrap();
    for ios in 11..=18u32 {
        let media = t.path().join(format!("ios{ios}"));
        generate(
            &media,
            &GenerateOptions {
                items: 90,
                seed: 5,
                video_mib: None,
                cloud_only_shape: CloudShape::None,
                ios,
                shared_items: 6,
                icloud_restored: false,
                dcim_view: camroll_sim::generate::DcimView::Afc,
                aae: camroll_sim::generate::AaePlace::Beside,
                library_pad_mb: None,
            },
        )
        .unwrap_or_else(|e| panic!("iOS {ios}: {e}"));
        let assets = assets(&media);
        let want_cloud = asset_uuids(&assets, "cloud_only");
        let want_trashed = asset_uuids(&assets, "trashed");
        assert!(!want_cloud.is_empty() && !want_trashed.is_empty(), "seed");
        let want_shared: HashSet<String> = assets
            .iter()
            .filter(|a| !a["shared"].is_null())
            .map(|a| a["uuid"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(want_shared.len(), 6);
        // Shared with You (iOS 15 and later): two items, one of them with no
        // ZSAVEDASSETTYPE 12 (only its syndication columns say it), and one
        // DCIM photo saved from a conversation, which is the owner's.
        let swy = assets
            .iter()
            .filter(|a| a["shared"] == "shared_with_you")
            .count();
        assert_eq!(swy, if ios >= 15 { 2 } else { 0 }, "iOS {ios}");

        let lib = read_library(&media.join("PhotoData/Photos.sqlite"))
            .unwrap_or_else(|e| panic!("iOS {ios}: {e}"));
        assert_eq!(
            lib.table,
            if ios <= 13 { "ZGENERICASSET" } else { "ZASSET" },
            "iOS {ios}"
        );
        let r = LibraryReport::new(&lib, &files_on_phone(&media), &HashMap::new());
        // Shared-album and Shared-with-You items are counted apart, never "not found".
        assert_eq!(
            r.library_assets,
            (assets.len() - want_shared.len()) as u64,
            "iOS {ios}"
        );
        assert_eq!(report_uuids(&r.in_shared_albums), want_shared, "iOS {ios}");
        assert_eq!(report_uuids(&r.recently_deleted), want_trashed, "iOS {ios}");
        if ios == 11 {
            // No availability columns: unknown, said plainly, never zero; the
            // missing originals can only be listed as not found.
            assert!(r.cloud_only.is_empty(), "iOS 11");
            assert!(
                r.cloud_only_unknown
                    .as_deref()
                    .is_some_and(|m| m.contains("does not record")),
                "iOS 11: {:?}",
                r.cloud_only_unknown
            );
            assert_eq!(report_uuids(&r.not_found_on_device), want_cloud, "iOS 11");
        } else {
            assert_eq!(report_uuids(&r.cloud_only), want_cloud, "iOS {ios}");
            assert!(r.cloud_only_unknown.is_none(), "iOS {ios}");
            assert!(
                r.not_found_on_device.is_empty(),
                "iOS {ios}: {:?}",
                r.not_found_on_device
            );
        }
    }
}

#[test]
fn an_ios_11_phone_exports_and_says_cloud_only_is_unknown() {
    let t = tempfile::tempdir().unwrap();
    let media = t.path().join("media");
    generate_with(&media, 40, 3, &["--ios", "11"]);
    let assets = assets(&media);
    let sim = SimProc::start(&media, &[]);
    let a = t.path().join("a");
    let (code, json, stderr) = export_device(&sim.addr, t.path(), &[&a], &[]);
    assert!(code == 0 || code == 1, "{json}\n{stderr}");
    assert_eq!(json["library_assets"], assets.len(), "{json}");
    assert!(
        json["cloud_only_unknown"]
            .as_str()
            .is_some_and(|m| m.contains("iOS 11")),
        "{json}"
    );
    assert_eq!(json["cloud_only"].as_array().unwrap().len(), 0, "{json}");
    assert_eq!(
        uuids(&json["recently_deleted"]),
        asset_uuids(&assets, "trashed")
    );
}

#[test]
fn shared_album_and_shared_with_you_items_are_listed_apart_and_not_archived() {
    let t = tempfile::tempdir().unwrap();
    let media = t.path().join("media");
    generate_with(&media, 30, 4, &["--shared-items", "3"]);
    let assets = assets(&media);
    let shared: Vec<&serde_json::Value> =
        assets.iter().filter(|a| !a["shared"].is_null()).collect();
    assert_eq!(shared.len(), 3);
    let sim = SimProc::start(&media, &[]);
    let a = t.path().join("a");
    let (code, json, stderr) = export_device(&sim.addr, t.path(), &[&a], &[]);
    assert_eq!(code, 0, "{json}\n{stderr}");
    assert_eq!(json["library_assets"], assets.len() - 3, "{json}");
    assert_eq!(
        json["not_found_on_device"].as_array().unwrap().len(),
        0,
        "{json}"
    );
    let listed = json["in_shared_albums"].as_array().unwrap();
    assert_eq!(
        uuids(&json["in_shared_albums"]),
        shared
            .iter()
            .map(|a| a["uuid"].as_str().unwrap().to_string())
            .collect::<HashSet<_>>()
    );
    assert!(listed
        .iter()
        .all(|i| i["reason"].as_str().unwrap().contains("not your original")));
    // The shared album's file is someone else's: not archived.
    let archived = hashes_in(&a);
    for s in &shared {
        if let Some(p) = s["path"].as_str() {
            assert!(!archived.contains(&b3(&media.join(p))), "{p} was archived");
        }
    }
    // The human summary says it in words.
    let out = device_camroll(&sim.addr, t.path())
        .args(["export", "--from", "device", "--to"])
        .arg(t.path().join("b"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("3 in shared albums or Shared with You, not your originals"),
        "{text}"
    );
    // `check` lists them apart too, never as files missing from the phone.
    let (_, v, err) = with_sim(
        &sim,
        t.path(),
        &["check", "--copies", "1", "--from", "device", &s(&a)],
    );
    let lib = &v["library"];
    assert_eq!(
        uuids(&lib["in_shared_albums"]),
        uuids(&json["in_shared_albums"]),
        "{v}\n{err}"
    );
    assert!(lib["in_shared_albums"]
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["reason"].as_str().unwrap().contains("not your original")));
    assert!(
        uuids(&lib["without_file"]).is_disjoint(&uuids(&lib["in_shared_albums"])),
        "{v}"
    );
    let out = device_camroll(&sim.addr, t.path())
        .args(["check", "--copies", "1", "--from", "device"])
        .arg(&a)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let shared_lines = text.lines().filter(|l| l.starts_with("SHARED ")).count();
    assert_eq!(shared_lines, 3, "{text}");
    assert!(!text.contains("NO FILE"), "{text}");
    assert!(
        text.contains("3 items are in shared albums or Shared with You: not your originals"),
        "{text}"
    );
}

#[test]
fn an_icloud_restored_phone_exports_every_original_under_cplassets() {
    let t = tempfile::tempdir().unwrap();
    let media = t.path().join("media");
    generate_with(&media, 60, 8, &["--icloud-restored"]);
    let assets = assets(&media);
    let in_cpl = |k: &str| {
        assets.iter().any(|a| {
            a["kind"] == k
                && a["path"]
                    .as_str()
                    .is_some_and(|p| p.starts_with("PhotoData/CPLAssets/"))
        })
    };
    assert!(in_cpl("live_photo") && in_cpl("screenshot") && in_cpl("video"));
    let on_phone: Vec<&str> = assets
        .iter()
        .flat_map(|a| a["files"].as_array().unwrap())
        .map(|f| f.as_str().unwrap())
        .filter(|f| !f.starts_with("PhotoData/Mutations/"))
        .collect();
    let cpl = on_phone
        .iter()
        .filter(|f| f.starts_with("PhotoData/CPLAssets/"))
        .count();
    assert!(cpl * 2 > on_phone.len(), "most files under CPLAssets");
    let sim = SimProc::start(&media, &[]);
    let a = t.path().join("a");
    let (code, json, stderr) = export_device(&sim.addr, t.path(), &[&a], &[]);
    assert_eq!(code, 0, "{json}\n{stderr}");
    let archived = hashes_in(&a);
    for f in &on_phone {
        assert!(
            archived.contains(&b3(&media.join(f))),
            "{f} is not in the archive"
        );
    }
    assert_eq!(
        json["not_found_on_device"].as_array().unwrap().len(),
        0,
        "{json}"
    );
}
