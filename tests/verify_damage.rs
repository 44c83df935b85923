//! `camroll verify`, `--repair-from` and `camroll rebuild` on deliberately
//! damaged archives: each damage is detected with its path, and repaired where
//! a repair applies. The real binary on temp dirs.

mod support;

use std::fs;
use std::path::Path;

use support::*;

const JPG: &str = "2023/07/IMG_0001.JPG";
const MOV: &str = "2024/01/IMG_0002.MOV";
const HEIC: &str = "2024/01/IMG_0002.HEIC";

/// Two archives of the same roll.
fn two_archives(t: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let src = t.join("src");
    roll(&src);
    let a = t.join("a");
    let b = t.join("b");
    let files = exported(&src, &[&a, &b]);
    assert!(files.contains(&JPG.to_string()), "{files:?}");
    assert!(files.contains(&MOV.to_string()), "{files:?}");
    (a, b)
}

/// Every archived file's bytes and mtime (camroll's own folder aside).
fn snapshot(a: &Path) -> Vec<(String, Vec<u8>, std::time::SystemTime)> {
    archived_files(a)
        .into_iter()
        .map(|p| {
            let full = a.join(&p);
            let m = fs::metadata(&full).unwrap().modified().unwrap();
            (p, fs::read(&full).unwrap(), m)
        })
        .collect()
}

#[test]
fn a_whole_archive_verifies_deep_without_changing_a_file_and_records_it() {
    let t = tempfile::tempdir().unwrap();
    let (a, _) = two_archives(t.path());
    let before = snapshot(&a);
    let (code, v, err) = run_json(&["verify", "--deep", &s(&a)]);
    assert_eq!(code, 0, "{v}\n{err}");
    assert_eq!(v["outcome"], "ok");
    let r = &v["archives"][0];
    assert_eq!(r["files"], 6);
    assert_eq!(r["verified"], 6);
    assert_eq!(r["deep_checked"], 6, "{r}");
    assert_eq!(r["recorded"], true);
    assert_eq!(snapshot(&a), before, "verify changed an archived file");
    let cat = camroll::archive::catalog::Catalog::open(&a, false).unwrap();
    assert!(cat.file_rows().unwrap().iter().all(|r| r.is_verified()));
    assert!(cat.last_run_end("verify").unwrap().is_some());
    // The human form says so too.
    let (code, out, _) = run(&["verify", &s(&a)]);
    assert_eq!(code, 0);
    assert!(out.contains("6 of 6 files verified"), "{out}");
    assert!(out.contains("0 problems"), "{out}");
}

#[test]
fn a_flipped_byte_is_corrupt_with_its_path_and_repaired_from_the_other_copy() {
    let t = tempfile::tempdir().unwrap();
    let (a, b) = two_archives(t.path());
    let good = fs::read(a.join(JPG)).unwrap();
    let mtime = fs::metadata(a.join(JPG)).unwrap().modified().unwrap();
    flip_byte(&a.join(JPG));
    let (code, v, _) = run_json(&["verify", &s(&a)]);
    assert_eq!(code, 1);
    assert_eq!(findings(&v), vec![("corrupt".into(), JPG.into())]);
    let f = &v["archives"][0]["findings"][0];
    assert!(f["todo"].as_str().unwrap().contains("--repair-from"), "{f}");
    // Human output names the file and says what to do.
    let (code, out, _) = run(&["verify", &s(&a)]);
    assert_eq!(code, 1);
    assert!(out.contains(&format!("CORRUPT   {JPG}: hash is")), "{out}");
    assert!(out.contains("What to do:"), "{out}");
    // The catalog remembers the last verification found it corrupt.
    let cat = camroll::archive::catalog::Catalog::open(&a, false).unwrap();
    let row = cat
        .file_rows()
        .unwrap()
        .into_iter()
        .find(|r| r.record.path == JPG)
        .unwrap();
    assert_eq!(
        row.verify_problem.as_ref().map(|p| p.to_text()).as_deref(),
        Some("corrupt")
    );
    assert!(!row.is_verified());
    drop(cat);

    let (code, v, err) = run_json(&["verify", &s(&a), "--repair-from", &s(&b)]);
    assert_eq!(code, 0, "{v}\n{err}");
    let rep = &v["archives"][0]["repairs"][0];
    assert_eq!(rep["path"], JPG);
    assert_eq!(rep["repaired"], true);
    assert_eq!(fs::read(a.join(JPG)).unwrap(), good);
    assert_eq!(
        fs::metadata(a.join(JPG)).unwrap().modified().unwrap(),
        mtime,
        "the repaired copy keeps the capture time as mtime"
    );
    let (code, _, _) = run_json(&["verify", &s(&a)]);
    assert_eq!(code, 0);
    assert!(
        fs::read_dir(a.join(".camroll/staging"))
            .unwrap()
            .next()
            .is_none(),
        "no staging leftovers"
    );
}

#[test]
fn a_truncated_movie_is_corrupt_and_repaired() {
    let t = tempfile::tempdir().unwrap();
    let (a, b) = two_archives(t.path());
    truncate(&a.join(MOV), 500);
    let (code, v, _) = run_json(&["verify", &s(&a)]);
    assert_eq!(code, 1);
    assert_eq!(findings(&v), vec![("corrupt".into(), MOV.into())]);
    let (code, _, err) = run_json(&["verify", &s(&a), "--repair-from", &s(&b)]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        fs::read(a.join(MOV)).unwrap(),
        fs::read(b.join(MOV)).unwrap()
    );
}

#[test]
fn a_deleted_file_is_missing_and_repaired() {
    let t = tempfile::tempdir().unwrap();
    let (a, b) = two_archives(t.path());
    fs::remove_file(a.join(HEIC)).unwrap();
    let (code, v, _) = run_json(&["verify", &s(&a)]);
    assert_eq!(code, 1);
    assert_eq!(findings(&v), vec![("missing".into(), HEIC.into())]);
    let (code, v, err) = run_json(&["verify", &s(&a), "--repair-from", &s(&b)]);
    assert_eq!(code, 0, "{v}\n{err}");
    assert_eq!(v["archives"][0]["findings"][0]["repaired"], true);
    assert_eq!(
        fs::read(a.join(HEIC)).unwrap(),
        fs::read(b.join(HEIC)).unwrap()
    );
}

#[test]
fn what_the_other_archive_cannot_supply_is_reported_as_not_repaired() {
    let t = tempfile::tempdir().unwrap();
    let (a, b) = two_archives(t.path());
    fs::remove_file(a.join(HEIC)).unwrap();
    flip_byte(&a.join(JPG));
    // The other copy of the JPEG is damaged too, and its HEIC is gone.
    flip_byte(&b.join(JPG));
    fs::remove_file(b.join(HEIC)).unwrap();
    let (code, v, _) = run_json(&["verify", &s(&a), "--repair-from", &s(&b)]);
    assert_eq!(code, 1);
    let repairs = v["archives"][0]["repairs"].as_array().unwrap();
    assert_eq!(repairs.len(), 2);
    assert!(repairs.iter().all(|r| r["repaired"] == false), "{v}");
    let jpg = repairs.iter().find(|r| r["path"] == JPG).unwrap();
    assert!(
        jpg["detail"].as_str().unwrap().contains("damaged too"),
        "{jpg}"
    );
    // Nothing was put in place and nothing was left in staging.
    assert!(!a.join(HEIC).exists());
    assert!(fs::read_dir(a.join(".camroll/staging"))
        .unwrap()
        .next()
        .is_none());
    let (_, out, _) = run(&["verify", &s(&a), "--repair-from", &s(&b)]);
    assert!(out.contains(&format!("NOT REPAIRED {HEIC}")), "{out}");
}

#[test]
fn an_extra_file_is_unlisted_and_rebuild_records_it_when_it_is_media() {
    let t = tempfile::tempdir().unwrap();
    let (a, _) = two_archives(t.path());
    write(
        &a.join("2022/02/IMG_9000.JPG"),
        &iphone_jpeg(90, dt(2022, 2, 2, 2, 2, 2), 0),
    );
    write(&a.join("2022/02/readme.txt"), b"hello");
    let (code, v, _) = run_json(&["verify", &s(&a)]);
    assert_eq!(code, 1);
    assert_eq!(
        findings(&v),
        vec![
            ("unlisted".into(), "2022/02/IMG_9000.JPG".into()),
            ("unlisted".into(), "2022/02/readme.txt".into())
        ]
    );
    // The catalog is sound: rebuild needs --force to record the extra file.
    let (code, _, err) = run(&["rebuild", &s(&a)]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--force"), "{err}");
    let (code, v, err) = run_json(&["rebuild", "--force", &s(&a)]);
    assert_eq!(code, 1, "the text file is still a problem: {v}\n{err}");
    assert_eq!(v["added"], serde_json::json!(["2022/02/IMG_9000.JPG"]));
    assert_eq!(v["problems"][0]["kind"], "not_media");
    assert_eq!(v["problems"][0]["path"], "2022/02/readme.txt");
    let (code, v, _) = run_json(&["verify", &s(&a)]);
    assert_eq!(code, 1);
    assert_eq!(
        findings(&v),
        vec![("unlisted".into(), "2022/02/readme.txt".into())]
    );
    fs::remove_file(a.join("2022/02/readme.txt")).unwrap();
    let (code, _, _) = run_json(&["verify", &s(&a)]);
    assert_eq!(code, 0);
}

#[test]
fn a_deleted_catalog_is_found_and_rebuilt_from_the_files_and_blake3sums() {
    let t = tempfile::tempdir().unwrap();
    let (a, _) = two_archives(t.path());
    fs::remove_file(catalog_path(&a)).unwrap();
    let (code, v, _) = run_json(&["verify", &s(&a)]);
    assert_eq!(code, 1);
    assert_eq!(
        findings(&v),
        vec![(
            "catalog_unreadable".into(),
            ".camroll/catalog.sqlite".into()
        )]
    );
    // The files are still checked against BLAKE3SUMS.
    assert_eq!(v["archives"][0]["verified"], 6);
    let (code, v, err) = run_json(&["rebuild", &s(&a)]);
    assert_eq!(code, 0, "{v}\n{err}");
    assert_eq!(v["files"], 6);
    assert_eq!(v["verified"], 6);
    let (code, _, _) = run_json(&["verify", &s(&a)]);
    assert_eq!(code, 0);
    // Capture times are read again from the files.
    let cat = camroll::archive::catalog::Catalog::open(&a, false).unwrap();
    let rows = cat.file_rows().unwrap();
    let jpg = rows.iter().find(|r| r.record.path == JPG).unwrap();
    assert_eq!(
        jpg.record.capture.unwrap().display(),
        "2023-07-14T18:22:05+02:00"
    );
    assert_eq!(jpg.record.kind.as_deref(), Some("jpeg"));
}

#[test]
fn a_corrupted_catalog_is_found_kept_aside_and_rebuilt() {
    let t = tempfile::tempdir().unwrap();
    let (a, _) = two_archives(t.path());
    let cat = catalog_path(&a);
    let mut bytes = fs::read(&cat).unwrap();
    for b in bytes.iter_mut().take(100) {
        *b = 0x5A;
    }
    fs::write(&cat, &bytes).unwrap();
    let (code, v, _) = run_json(&["verify", &s(&a)]);
    assert_eq!(code, 1);
    assert_eq!(
        findings(&v),
        vec![(
            "catalog_unreadable".into(),
            ".camroll/catalog.sqlite".into()
        )]
    );
    let (code, v, err) = run_json(&["rebuild", &s(&a)]);
    assert_eq!(code, 0, "{v}\n{err}");
    let kept = v["old_catalog_kept_as"].as_str().unwrap();
    assert!(a.join(kept).is_file(), "{kept}");
    let (code, _, _) = run_json(&["verify", &s(&a)]);
    assert_eq!(code, 0);
}

#[test]
fn a_truncated_blake3sums_names_the_lost_lines_and_rebuild_restores_it() {
    let t = tempfile::tempdir().unwrap();
    let (a, _) = two_archives(t.path());
    let sums = a.join("BLAKE3SUMS");
    let full = fs::read_to_string(&sums).unwrap();
    // Cut in the middle of the third line: lines 3.. are lost.
    let cut = full.match_indices('\n').nth(1).unwrap().0 + 20;
    fs::write(&sums, &full[..cut]).unwrap();
    let lost: Vec<String> = full.lines().skip(2).map(|l| l[66..].to_string()).collect();
    let (code, v, _) = run_json(&["verify", &s(&a)]);
    assert_eq!(code, 1);
    let f = findings(&v);
    assert!(
        f.contains(&("sums_unreadable".into(), "BLAKE3SUMS".into())),
        "{f:?}"
    );
    for p in &lost {
        assert!(
            f.contains(&("sums_disagree".into(), p.clone())),
            "{p} not named: {f:?}"
        );
    }
    let (code, _, err) = run_json(&["rebuild", "--force", &s(&a)]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(fs::read_to_string(&sums).unwrap(), full);
    let (code, _, _) = run_json(&["verify", &s(&a)]);
    assert_eq!(code, 0);
}

#[test]
fn rebuild_keeps_corrupt_and_missing_files_recorded_so_they_can_still_be_repaired() {
    let t = tempfile::tempdir().unwrap();
    let (a, b) = two_archives(t.path());
    fs::remove_file(catalog_path(&a)).unwrap();
    flip_byte(&a.join(JPG));
    fs::remove_file(a.join(MOV)).unwrap();
    let (code, v, _) = run_json(&["rebuild", &s(&a)]);
    assert_eq!(code, 1);
    let kinds = pairs(&v["problems"], "kind", "path");
    assert_eq!(
        kinds,
        vec![
            ("corrupt".into(), JPG.into()),
            ("missing".into(), MOV.into())
        ]
    );
    // BLAKE3SUMS still holds the true hashes, so b3sum would still flag them,
    // and the repair from the other copy works.
    let (code, _, err) = run_json(&["verify", &s(&a), "--repair-from", &s(&b)]);
    assert_eq!(code, 0, "{err}");
    let (code, _, _) = run_json(&["verify", &s(&a)]);
    assert_eq!(code, 0);
}

#[test]
fn staging_leftovers_are_reported() {
    let t = tempfile::tempdir().unwrap();
    let (a, _) = two_archives(t.path());
    write(&a.join(".camroll/staging/123-4.part"), b"partial");
    let (code, v, _) = run_json(&["verify", &s(&a)]);
    assert_eq!(code, 1);
    assert_eq!(
        findings(&v),
        vec![(
            "staging_leftover".into(),
            ".camroll/staging/123-4.part".into()
        )]
    );
}

#[test]
fn deep_verify_finds_a_photo_that_was_already_cut_short_when_it_was_archived() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    let jpeg = iphone_jpeg(7, dt(2021, 3, 3, 3, 3, 3), 0);
    write(&src.join("IMG_0100.JPG"), &jpeg[..jpeg.len() * 3 / 4]);
    let mov = iphone_mov(8, dt(2021, 3, 4, 3, 3, 3), 0);
    // A movie that lost its moov box on the phone (the icloudpd#1311 case).
    let moov = mov.windows(4).rposition(|w| w == b"moov").unwrap() - 4;
    write(&src.join("IMG_0101.MOV"), &mov[..moov]);
    let a = t.path().join("a");
    let (code, json, _) = export_json(&src, &[&a], &[]);
    assert_eq!(code, 0, "{json}");
    // The hashes match what was copied…
    let (code, _, _) = run_json(&["verify", &s(&a)]);
    assert_eq!(code, 0);
    // …but the content is damaged.
    let (code, v, _) = run_json(&["verify", "--deep", &s(&a)]);
    assert_eq!(code, 1);
    let f = findings(&v);
    assert_eq!(f.len(), 2, "{v}");
    assert!(f.iter().all(|(k, _)| k == "undecodable"), "{f:?}");
    let detail = v["archives"][0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["path"].as_str().unwrap().ends_with("IMG_0101.MOV"))
        .unwrap()["detail"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(detail.contains("no 'moov'"), "{detail}");
    let (_, out, _) = run(&["verify", "--deep", &s(&a)]);
    assert!(out.contains("DAMAGED"), "{out}");
    // A plain verify (hashes only) does not forget what --deep found.
    let (code, _, _) = run_json(&["verify", &s(&a)]);
    assert_eq!(code, 0);
    let cat = camroll::archive::catalog::Catalog::open(&a, false).unwrap();
    let damaged = cat
        .file_rows()
        .unwrap()
        .into_iter()
        .filter(|r| {
            r.verify_problem
                .as_ref()
                .is_some_and(|p| p.to_text().starts_with("undecodable"))
        })
        .count();
    assert_eq!(damaged, 2);
}

#[test]
fn verifying_several_archives_reports_each_and_a_missing_path_exits_2() {
    let t = tempfile::tempdir().unwrap();
    let (a, b) = two_archives(t.path());
    fs::remove_file(b.join(JPG)).unwrap();
    let (code, v, _) = run_json(&["verify", &s(&a), &s(&b)]);
    assert_eq!(code, 1);
    assert_eq!(v["archives"][0]["findings"].as_array().unwrap().len(), 0);
    assert_eq!(v["archives"][1]["findings"][0]["path"], JPG);
    assert_eq!(v["problems"], 1);
    // Exit 10: the archive does not exist.
    let (code, _, err) = run(&["verify", &s(&t.path().join("nope"))]);
    assert_eq!(code, 10);
    assert!(err.contains("no such archive folder"), "{err}");
}

#[test]
fn b3sum_agrees_with_verify_after_a_repair() {
    let t = tempfile::tempdir().unwrap();
    let (a, b) = two_archives(t.path());
    flip_byte(&a.join(MOV));
    let Some(st) = b3sum_check(&a) else { return };
    assert!(!st.status.success());
    let (code, _, _) = run_json(&["verify", &s(&a), "--repair-from", &s(&b)]);
    assert_eq!(code, 0);
    let st = b3sum_check(&a).expect("b3sum was found above");
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stdout)
    );
}

#[test]
fn a_repair_refuses_a_locked_archive_and_changes_nothing() {
    let t = tempfile::tempdir().unwrap();
    let (a, b) = two_archives(t.path());
    fs::remove_file(a.join(JPG)).unwrap();
    let lock = camroll::archive::lock::ArchiveLock::acquire(&a.join(".camroll")).unwrap();
    // Verifying alone needs no lock…
    let (code, _, _) = run_json(&["verify", &s(&a)]);
    assert_eq!(code, 1);
    // …repairing does.
    let (code, _, err) = run(&["verify", &s(&a), "--repair-from", &s(&b)]);
    assert_eq!(code, 11);
    assert!(err.contains("in use by another camroll run"), "{err}");
    assert!(!a.join(JPG).exists());
    drop(lock);
    let (code, _, _) = run_json(&["verify", &s(&a), "--repair-from", &s(&b)]);
    assert_eq!(code, 0);
}
