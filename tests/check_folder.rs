//! `camroll check --from FOLDER ARCHIVE…`: the verdict for every item, with
//! evidence, and exit 0 only when everything is safely archived. The real
//! binary on temp dirs.

mod support;

use std::fs;

use support::*;

/// (verdict, found_by of each copy) of an item in a `check --json` answer.
fn item<'a>(v: &'a serde_json::Value, path: &str) -> &'a serde_json::Value {
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["path"] == path)
        .unwrap_or_else(|| panic!("{path} not in {v}"))
}

/// (path, verdict) of every item in a `check --json` answer, sorted.
fn verdicts(v: &serde_json::Value) -> Vec<(String, String)> {
    pairs(&v["items"], "path", "verdict")
}

#[test]
fn items_in_two_verified_archives_are_safe_to_delete_and_exit_0() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    let media = roll(&src);
    let (a, b) = (t.path().join("a"), t.path().join("b"));
    exported(&src, &[&a, &b]);
    let (code, v, err) = run_json(&["check", "--from", &s(&src), &s(&a), &s(&b)]);
    assert_eq!(code, 0, "{v}\n{err}");
    assert_eq!(v["all_safe"], true);
    assert_eq!(v["counts"]["safe"], 6);
    assert_eq!(v["counts"]["ignored"], 1);
    for m in &media {
        let i = item(&v, m);
        assert_eq!(i["verdict"], "safe", "{i}");
        assert_eq!(i["verified_copies"], 2);
        for c in i["copies"].as_array().unwrap() {
            assert_eq!(c["found_by"], "source_record");
            assert_eq!(c["verified"], true);
            assert!(c["verified_at"].is_string());
        }
    }
    assert_eq!(item(&v, "DCIM/100APPLE/Thumbs.db")["verdict"], "ignored");
    let (code, out, _) = run(&["check", "--from", &s(&src), &s(&a), &s(&b)]);
    assert_eq!(code, 0);
    assert!(out.contains("safe to delete from the phone"), "{out}");
}

#[test]
fn one_archive_is_too_few_and_a_new_photo_is_not_archived() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    roll(&src);
    let (a, b) = (t.path().join("a"), t.path().join("b"));
    exported(&src, &[&a]);
    fs::create_dir_all(&b).unwrap();
    write(
        &src.join("DCIM/100APPLE/IMG_0009.JPG"),
        &iphone_jpeg(9, dt(2024, 2, 2, 2, 2, 2), 0),
    );
    let (code, v, _) = run_json(&["check", "--from", &s(&src), &s(&a), &s(&b)]);
    assert_eq!(code, 1);
    assert_eq!(v["all_safe"], false);
    let new = item(&v, "DCIM/100APPLE/IMG_0009.JPG");
    assert_eq!(new["verdict"], "not_archived");
    assert!(new["reason"].as_str().unwrap().contains("camroll export"));
    let old = item(&v, "DCIM/100APPLE/IMG_0001.JPG");
    assert_eq!(old["verdict"], "too_few_copies");
    assert!(
        old["reason"]
            .as_str()
            .unwrap()
            .contains(&format!("camroll sync {} {}", s(&a), s(&b))),
        "{old}"
    );
    assert_eq!(v["counts"]["too_few_copies"], 6);
    assert_eq!(v["counts"]["not_archived"], 1);
    assert!(v["archives"][1]["problem"]
        .as_str()
        .unwrap()
        .contains("no catalog"));
    // With one copy required, only the new photo stands in the way.
    let (code, v, _) = run_json(&["check", "--copies", "1", "--from", &s(&src), &s(&a)]);
    assert_eq!(code, 1);
    assert_eq!(v["counts"]["safe"], 6);
    assert_eq!(v["counts"]["not_archived"], 1);
    let (_, out, _) = run(&["check", "--from", &s(&src), &s(&a), &s(&b)]);
    assert!(
        out.contains("NOT ARCHIVED DCIM/100APPLE/IMG_0009.JPG"),
        "{out}"
    );
    assert!(out.contains("do not delete from the phone"), "{out}");
}

#[test]
fn another_copy_of_the_source_is_matched_by_content_hash() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    roll(&src);
    let (a, b) = (t.path().join("a"), t.path().join("b"));
    exported(&src, &[&a, &b]);
    // The same photos seen through another path (say, a second mount): no source record.
    let other = t.path().join("sd-card");
    roll(&other);
    let (code, v, err) = run_json(&["check", "--from", &s(&other), &s(&a), &s(&b)]);
    assert_eq!(code, 0, "{v}\n{err}");
    let i = item(&v, "DCIM/100APPLE/IMG_0002.HEIC");
    for c in i["copies"].as_array().unwrap() {
        assert_eq!(c["found_by"], "content_hash");
        assert_eq!(c["path"], "2024/01/IMG_0002.HEIC");
    }
}

#[test]
fn a_copy_found_damaged_by_verify_no_longer_counts_until_it_is_repaired() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    roll(&src);
    let (a, b) = (t.path().join("a"), t.path().join("b"));
    exported(&src, &[&a, &b]);
    flip_byte(&a.join("2023/07/IMG_0001.JPG"));
    let (code, _, _) = run_json(&["verify", &s(&a)]);
    assert_eq!(code, 1);
    let (code, v, _) = run_json(&["check", "--from", &s(&src), &s(&a), &s(&b)]);
    assert_eq!(code, 1);
    let i = item(&v, "DCIM/100APPLE/IMG_0001.JPG");
    assert_eq!(i["verdict"], "unverified", "{i}");
    assert_eq!(i["verified_copies"], 1);
    assert!(
        i["reason"].as_str().unwrap().contains("--repair-from"),
        "{i}"
    );
    let (code, _, _) = run_json(&["verify", &s(&a), "--repair-from", &s(&b)]);
    assert_eq!(code, 0);
    let (code, _, _) = run_json(&["check", "--from", &s(&src), &s(&a), &s(&b)]);
    assert_eq!(code, 0);
}

#[test]
fn copies_never_verified_are_unverified_until_verify_runs() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    roll(&src);
    let (a, b) = (t.path().join("a"), t.path().join("b"));
    let (code, _, _) = export_json(&src, &[&a, &b], &["--no-verify"]);
    assert_eq!(code, 0);
    let (code, v, _) = run_json(&["check", "--from", &s(&src), &s(&a), &s(&b)]);
    assert_eq!(code, 1);
    assert!(
        verdicts(&v)
            .iter()
            .all(|(p, verdict)| verdict == "unverified" || p.ends_with("Thumbs.db")),
        "{v}"
    );
    let i = item(&v, "DCIM/100APPLE/IMG_0001.JPG");
    assert!(i["reason"].as_str().unwrap().contains("camroll verify"));
    let (code, _, _) = run_json(&["verify", &s(&a), &s(&b)]);
    assert_eq!(code, 0);
    let (code, _, _) = run_json(&["check", "--from", &s(&src), &s(&a), &s(&b)]);
    assert_eq!(code, 0);
}

#[test]
fn an_unreadable_source_item_is_reported_and_blocks_the_verdict() {
    use std::os::unix::fs::PermissionsExt;
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    roll(&src);
    let (a, b) = (t.path().join("a"), t.path().join("b"));
    exported(&src, &[&a, &b]);
    let p = src.join("DCIM/100APPLE/IMG_0010.JPG");
    write(&p, &iphone_jpeg(10, dt(2024, 3, 3, 3, 3, 3), 0));
    fs::set_permissions(&p, fs::Permissions::from_mode(0o000)).unwrap();
    // Root reads any file: as root, check runs as nobody, who owns the tree.
    let Some(mut check) = unprivileged_camroll(t.path()) else {
        return;
    };
    let (code, v, _) =
        output_json(check.args(["check", "--from", &s(&src), &s(&a), &s(&b), "--json"]));
    assert_eq!(code, 1);
    assert_eq!(
        item(&v, "DCIM/100APPLE/IMG_0010.JPG")["verdict"],
        "unreadable"
    );
}

#[test]
fn a_missing_source_exits_2_and_a_missing_archive_10() {
    let t = tempfile::tempdir().unwrap();
    let a = t.path().join("a");
    fs::create_dir_all(&a).unwrap();
    let (code, _, err) = run(&["check", "--from", &s(&t.path().join("nope")), &s(&a)]);
    assert_eq!(code, 2);
    assert!(err.contains("nope"), "{err}");
    let (code, _, err) = run(&["check", "--from", &s(&a), &s(&t.path().join("gone"))]);
    assert_eq!(code, 10);
    assert!(err.contains("no such archive folder"), "{err}");
}
