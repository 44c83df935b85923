//! `camroll sync FROM TO`: the second copy brought up to date without the
//! phone: same layout, verified copies, FROM's records kept so `check` counts
//! TO. The real binary on temp dirs.

mod support;

use std::fs;

use support::*;

#[test]
fn sync_copies_everything_into_the_same_layout_and_check_counts_both() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    roll(&src);
    let (a, b) = (t.path().join("a"), t.path().join("offsite"));
    let files = exported(&src, &[&a]);
    let (code, v, err) = run_json(&["sync", &s(&a), &s(&b)]);
    assert_eq!(code, 0, "{v}\n{err}");
    assert_eq!(v["copied"], 6);
    assert_eq!(v["verified"], 6);
    assert_eq!(v["source_records_added"], 6);
    assert_eq!(archived_files(&b), files);
    for f in &files {
        assert_eq!(fs::read(a.join(f)).unwrap(), fs::read(b.join(f)).unwrap());
        assert_eq!(
            fs::metadata(a.join(f)).unwrap().modified().unwrap(),
            fs::metadata(b.join(f)).unwrap().modified().unwrap(),
            "{f}: mtime (capture time) kept"
        );
    }
    assert_eq!(
        fs::read_to_string(a.join("BLAKE3SUMS")).unwrap(),
        fs::read_to_string(b.join("BLAKE3SUMS")).unwrap()
    );
    // The catalog rows keep FROM's metadata.
    let cat = camroll::archive::catalog::Catalog::open(&b, false).unwrap();
    let rows = cat.file_rows().unwrap();
    let heic = rows
        .iter()
        .find(|r| r.record.path == "2024/01/IMG_0002.HEIC")
        .unwrap();
    assert_eq!(heic.record.source_path, "DCIM/100APPLE/IMG_0002.HEIC");
    assert_eq!(
        heic.record.capture.unwrap().display(),
        "2024-01-03T09:00:00+01:00"
    );
    assert!(heic.is_verified());
    drop(cat);
    let (code, _, _) = run_json(&["verify", &s(&b)]);
    assert_eq!(code, 0);
    // check finds TO's copies by source record.
    let (code, v, err) = run_json(&["check", "--from", &s(&src), &s(&a), &s(&b)]);
    assert_eq!(code, 0, "{v}\n{err}");
    for i in v["items"].as_array().unwrap() {
        if i["verdict"] == "ignored" {
            continue;
        }
        assert_eq!(i["copies"][1]["found_by"], "source_record", "{i}");
    }
    // A second sync has nothing to do.
    let (code, v, _) = run_json(&["sync", &s(&a), &s(&b)]);
    assert_eq!(code, 0);
    assert_eq!(v["copied"], 0);
    assert_eq!(v["already"], 6);
    assert_eq!(v["source_records_added"], 0);
}

#[test]
fn sync_copies_only_what_is_new() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    roll(&src);
    let (a, b) = (t.path().join("a"), t.path().join("b"));
    exported(&src, &[&a]);
    assert_eq!(run_json(&["sync", &s(&a), &s(&b)]).0, 0);
    write(
        &src.join("DCIM/100APPLE/IMG_0005.JPG"),
        &iphone_jpeg(55, dt(2024, 6, 1, 10, 0, 0), 2),
    );
    exported(&src, &[&a]);
    let (code, v, _) = run_json(&["sync", &s(&a), &s(&b)]);
    assert_eq!(code, 0);
    assert_eq!(v["copied"], 1);
    assert_eq!(v["already"], 6);
    assert!(b.join("2024/06/IMG_0005.JPG").is_file());
}

#[test]
fn a_taken_name_in_to_gets_the_collision_suffix_and_a_group_keeps_one_stem() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    roll(&src);
    let (a, b) = (t.path().join("a"), t.path().join("b"));
    exported(&src, &[&a]);
    // TO already holds a different IMG_0002.HEIC in January 2024 (another phone).
    let other = t.path().join("other-phone");
    write(
        &other.join("IMG_0002.HEIC"),
        &camroll_sim::synth::heic(&camroll_sim::synth::StillSpec::iphone(
            999,
            "iPhone 12",
            dt(2024, 1, 20, 12, 0, 0),
            Some(off(1)),
        )),
    );
    exported(&other, &[&b]);
    let (code, v, err) = run_json(&["sync", &s(&a), &s(&b)]);
    assert_eq!(code, 0, "{v}\n{err}");
    let renamed = pairs(&v["renamed"], "path", "to");
    assert_eq!(
        renamed,
        vec![
            (
                "2024/01/IMG_0002.AAE".into(),
                "2024/01/IMG_0002~2.AAE".into()
            ),
            (
                "2024/01/IMG_0002.HEIC".into(),
                "2024/01/IMG_0002~2.HEIC".into()
            ),
            (
                "2024/01/IMG_0002.MOV".into(),
                "2024/01/IMG_0002~2.MOV".into()
            ),
        ]
    );
    assert_eq!(
        fs::read(b.join("2024/01/IMG_0002~2.HEIC")).unwrap(),
        fs::read(a.join("2024/01/IMG_0002.HEIC")).unwrap()
    );
    let (code, _, _) = run_json(&["verify", &s(&b)]);
    assert_eq!(code, 0);
}

#[test]
fn a_damaged_file_in_from_is_not_copied_and_is_reported() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    roll(&src);
    let (a, b) = (t.path().join("a"), t.path().join("b"));
    exported(&src, &[&a]);
    flip_byte(&a.join("2023/07/IMG_0001.JPG"));
    let (code, v, _) = run_json(&["sync", &s(&a), &s(&b)]);
    assert_eq!(code, 1);
    assert_eq!(v["copied"], 5);
    assert_eq!(v["failed"][0]["path"], "2023/07/IMG_0001.JPG");
    assert!(v["failed"][0]["error"]
        .as_str()
        .unwrap()
        .contains("damaged too"));
    assert!(!b.join("2023/07/IMG_0001.JPG").exists());
    assert!(fs::read_dir(b.join(".camroll/staging"))
        .unwrap()
        .next()
        .is_none());
    let (code, _, _) = run_json(&["verify", &s(&b)]);
    assert_eq!(code, 0, "what was copied is whole");
}

#[test]
fn from_without_a_catalog_or_the_same_archive_twice_exits_2_with_guidance() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    roll(&src);
    let (a, b) = (t.path().join("a"), t.path().join("b"));
    exported(&src, &[&a]);
    let (code, _, err) = run(&["sync", &s(&a), &s(&a)]);
    assert_eq!(code, 2);
    assert!(err.contains("same archive"), "{err}");
    fs::remove_file(catalog_path(&a)).unwrap();
    let (code, _, err) = run(&["sync", &s(&a), &s(&b)]);
    assert_eq!(code, 2);
    assert!(err.contains("camroll rebuild"), "{err}");
}
