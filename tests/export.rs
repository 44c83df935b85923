//! `camroll export` end to end: the real binary on temp dirs.

mod support;

use std::fs;
use std::process::Stdio;
use std::time::{Duration, SystemTime};

use support::*;

#[test]
fn files_go_into_local_capture_month_with_their_original_names() {
    let t = Roll::new();
    // New Year's Eve in Tokyo: 2022-12-31 23:30 local is 14:30 UTC; the folder is the local month.
    t.photo(
        "DCIM/100APPLE/IMG_0001.JPG",
        1,
        dt(2022, 12, 31, 23, 30, 0),
        9,
    );
    // A movie whose local creationdate says 2023-01-01 00:10 (+01:00), i.e. 2022 in UTC.
    t.movie("DCIM/100APPLE/IMG_0002.MOV", 2, dt(2023, 1, 1, 0, 10, 0), 1);
    let a = t.at("a");
    let (code, json, stderr) = t.export(&[&a], &[]);
    assert_eq!(code, 0, "{json}\n{stderr}");
    assert_eq!(
        archived_files(&a),
        vec!["2022/12/IMG_0001.JPG", "2023/01/IMG_0002.MOV"]
    );
    assert_eq!(json["copied"], 2);
    assert_eq!(json["verified"], 2);
    // Bit-exact copies.
    assert_eq!(
        fs::read(a.join("2022/12/IMG_0001.JPG")).unwrap(),
        fs::read(t.src.join("DCIM/100APPLE/IMG_0001.JPG")).unwrap()
    );
}

#[test]
fn the_archived_file_mtime_is_its_capture_time() {
    let t = Roll::new();
    t.photo("IMG_0001.JPG", 1, dt(2021, 6, 5, 14, 0, 0), 2);
    let a = t.at("a");
    let (code, _, _) = t.export(&[&a], &[]);
    assert_eq!(code, 0);
    let mtime = fs::metadata(a.join("2021/06/IMG_0001.JPG"))
        .unwrap()
        .modified()
        .unwrap();
    // 14:00 at +02:00 is 12:00 UTC; the synthetic iPhone writes SubSecTimeOriginal "001" for seed 1.
    let expected = SystemTime::UNIX_EPOCH
        + Duration::from_secs(dt(2021, 6, 5, 12, 0, 0).and_utc().timestamp() as u64)
        + Duration::from_millis(1);
    assert_eq!(mtime, expected);
}

#[test]
fn a_live_photo_movie_and_sidecar_follow_their_still_into_its_month() {
    let t = Roll::new();
    t.photo(
        "DCIM/100APPLE/IMG_0100.JPG",
        1,
        dt(2023, 1, 31, 23, 59, 58),
        1,
    );
    // The movie's own date is in February.
    t.movie("DCIM/100APPLE/IMG_0100.MOV", 2, dt(2023, 2, 1, 0, 0, 1), 1);
    t.file(
        "DCIM/100APPLE/IMG_0100.AAE",
        &camroll_sim::synth::aae(&camroll_sim::synth::AaeSpec::new(
            3,
            dt(2023, 3, 1, 10, 0, 0).and_utc(),
        )),
    );
    let a = t.at("a");
    let (code, json, _) = t.export(&[&a], &[]);
    assert_eq!(code, 0, "{json}");
    assert_eq!(
        archived_files(&a),
        vec![
            "2023/01/IMG_0100.AAE",
            "2023/01/IMG_0100.JPG",
            "2023/01/IMG_0100.MOV"
        ]
    );
}

#[test]
fn duplicates_are_not_written_again_and_the_summary_names_the_archived_file() {
    let t = Roll::new();
    let jpeg = iphone_jpeg(7, dt(2020, 5, 1, 12, 0, 0), 0);
    let src1 = t.at("phone1");
    write(&src1.join("IMG_0007.JPG"), &jpeg);
    let a = t.at("a");
    assert_eq!(export_json(&src1, &[&a], &[]).0, 0);
    // The same content from another source under another name, plus a copy within that source.
    let src2 = t.at("card");
    write(&src2.join("DSC_1234.JPG"), &jpeg);
    write(&src2.join("sub/copy of it.jpg"), &jpeg);
    let (code, json, _) = export_json(&src2, &[&a], &[]);
    assert_eq!(code, 0, "{json}");
    assert_eq!(json["copied"], 0);
    assert_eq!(json["duplicates"], 2);
    let dups = json["duplicate_files"].as_array().unwrap();
    assert!(
        dups.iter()
            .all(|d| d["archived_as"] == "2020/05/IMG_0007.JPG"),
        "{json}"
    );
    assert_eq!(archived_files(&a), vec!["2020/05/IMG_0007.JPG"]);
}

#[test]
fn a_different_file_with_a_taken_name_gets_a_tilde_suffix_and_groups_keep_one_stem() {
    let t = Roll::new();
    t.photo("100APPLE/IMG_0001.JPG", 1, dt(2023, 7, 1, 9, 0, 0), 2);
    t.photo("200APPLE/IMG_0001.JPG", 2, dt(2023, 7, 2, 9, 0, 0), 2);
    t.movie("200APPLE/IMG_0001.MOV", 3, dt(2023, 7, 2, 9, 0, 0), 2);
    // Differs only by case from a taken name: the same name on exFAT/APFS/NTFS.
    t.photo("300APPLE/img_0001.jpg", 4, dt(2023, 7, 3, 9, 0, 0), 2);
    let a = t.at("a");
    let (code, json, _) = t.export(&[&a], &[]);
    assert_eq!(code, 0, "{json}");
    assert_eq!(
        archived_files(&a),
        vec![
            "2023/07/IMG_0001.JPG",
            "2023/07/IMG_0001~2.JPG",
            "2023/07/IMG_0001~2.MOV",
            "2023/07/img_0001~3.jpg"
        ]
    );
    // Deterministic: a fresh archive gets the same names.
    let b = t.at("b");
    t.export(&[&b], &[]);
    assert_eq!(archived_files(&a), archived_files(&b));
}

#[test]
fn a_rerun_skips_recorded_items_without_reading_them() {
    let t = Roll::new();
    let f = t.photo("IMG_0001.JPG", 1, dt(2023, 7, 1, 9, 0, 0), 2);
    let a = t.at("a");
    assert_eq!(t.export(&[&a], &[]).0, 0);
    // Change the bytes but keep size and mtime: only a run that reads the file would notice.
    let mtime = fs::metadata(&f).unwrap().modified().unwrap();
    let mut bytes = fs::read(&f).unwrap();
    let n = bytes.len();
    bytes[n - 3] ^= 0xFF;
    fs::write(&f, &bytes).unwrap();
    fs::File::options()
        .write(true)
        .open(&f)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    let (code, json, _) = t.export(&[&a], &[]);
    assert_eq!(code, 0);
    assert_eq!(json["already_archived"], 1);
    assert_eq!(json["copied"], 0);
    assert_eq!(json["bytes_copied"], 0);
}

#[test]
fn several_destinations_are_each_complete_and_independent() {
    let t = Roll::new();
    t.photo("IMG_0001.JPG", 1, dt(2023, 7, 1, 9, 0, 0), 2);
    t.movie("IMG_0002.MOV", 2, dt(2023, 8, 1, 9, 0, 0), 2);
    let (a, b) = (t.at("a"), t.at("b"));
    let (code, json, _) = t.export(&[&a, &b], &[]);
    assert_eq!(code, 0, "{json}");
    assert_eq!(json["destinations"].as_array().unwrap().len(), 2);
    for d in [&a, &b] {
        assert_eq!(
            archived_files(d),
            vec!["2023/07/IMG_0001.JPG", "2023/08/IMG_0002.MOV"]
        );
        assert!(d.join(".camroll/catalog.sqlite").is_file());
        assert_eq!(sums_lines(d), 2);
    }
    // A destination added later gets everything; the first one is not touched again.
    let c = t.at("c");
    let (code, json, _) = t.export(&[&a, &c], &[]);
    assert_eq!(code, 0);
    assert_eq!(json["destinations"][0]["copied"], 0);
    assert_eq!(json["destinations"][1]["copied"], 2);
}

#[test]
fn blake3sums_passes_b3sum_check_without_camroll() {
    let t = Roll::new();
    t.photo("IMG_0001.JPG", 1, dt(2023, 7, 1, 9, 0, 0), 2);
    t.photo(
        "Screenshot 2019-05-21 at 10.45.52.JPG",
        2,
        dt(2019, 5, 21, 10, 45, 52),
        2,
    );
    t.photo("back\\slash.jpg", 3, dt(2019, 5, 21, 10, 45, 52), 2);
    t.photo("Cafe\u{301}.jpg", 4, dt(2019, 5, 21, 10, 45, 52), 2);
    let a = t.at("a");
    assert_eq!(t.export(&[&a], &[]).0, 0);
    let Some(out) = b3sum_check(&a) else { return };
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout.lines().filter(|l| l.ends_with(": OK")).count(),
        4,
        "{stdout}"
    );
}

#[test]
fn dry_run_prints_the_plan_and_writes_nothing() {
    let t = Roll::new();
    t.photo("a/IMG_0001.JPG", 1, dt(2023, 7, 1, 9, 0, 0), 2);
    t.photo("b/IMG_0001.JPG", 2, dt(2023, 7, 1, 9, 0, 0), 2);
    t.photo("c/copy.JPG", 2, dt(2023, 7, 1, 9, 0, 0), 2);
    let a = t.at("a");
    let (code, stdout, _) = run(&[
        "export",
        "--dry-run",
        "--from",
        t.src.to_str().unwrap(),
        "--to",
        a.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stdout}");
    assert!(!a.exists(), "dry run created the archive");
    assert!(
        stdout.contains("a/IMG_0001.JPG -> 2023/07/IMG_0001.JPG"),
        "{stdout}"
    );
    assert!(
        stdout.contains("b/IMG_0001.JPG -> 2023/07/IMG_0001~2.JPG"),
        "{stdout}"
    );
    assert!(
        stdout.contains("duplicate c/copy.JPG -> 2023/07/IMG_0001~2.JPG"),
        "{stdout}"
    );
}

#[test]
fn json_summary_has_every_documented_key() {
    let t = Roll::new();
    t.photo("IMG_0001.JPG", 1, dt(2023, 7, 1, 9, 0, 0), 2);
    t.file("Thumbs.db", b"not a photo");
    let (code, json, _) = t.export(&[&t.at("a")], &[]);
    assert_eq!(code, 0);
    for key in [
        "scanned",
        "copied",
        "duplicates",
        "already_archived",
        "skipped",
        "left_behind",
        "unrecognised",
        "failed",
        "bytes_copied",
        "verified",
        "destinations",
    ] {
        assert!(json.get(key).is_some(), "missing {key}: {json}");
    }
    assert_eq!(json["skipped"][0]["path"], "Thumbs.db");
    assert_eq!(
        json["skipped"][0]["reason"],
        "known junk, left behind on purpose: Windows thumbnail cache (Thumbs.db)"
    );
    assert_eq!(json["left_behind"], 0);
    assert_eq!(json["scanned"], 2);
}

#[test]
fn content_decides_the_kind_and_hidden_files_and_symlinks_are_left_out() {
    let t = Roll::new();
    t.photo("IMG_0001.HEIC", 1, dt(2023, 7, 1, 9, 0, 0), 2); // a JPEG named .HEIC
    t.file("notes.txt", b"plain text");
    t.photo(".hidden.jpg", 2, dt(2023, 7, 1, 9, 0, 0), 2);
    t.file(".camroll/catalog.sqlite", b"x");
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(t.src.join("IMG_0001.HEIC"), t.src.join("link.jpg")).unwrap();
        std::os::unix::fs::symlink(&t.src, t.src.join("loop")).unwrap();
    }
    let a = t.at("a");
    let (code, json, _) = t.export(&[&a], &[]);
    // A file that is neither media nor known junk is left behind: exit 1.
    assert_eq!(code, 1, "{json}");
    assert_eq!(json["left_behind"], 1, "{json}");
    assert_eq!(archived_files(&a), vec!["2023/07/IMG_0001.HEIC"]);
    let skipped: Vec<String> = json["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            format!(
                "{}: {}",
                s["path"].as_str().unwrap(),
                s["reason"].as_str().unwrap()
            )
        })
        .collect();
    assert!(
        skipped.contains(&"notes.txt: not a photo or video (content not recognised, and its name is not a photo's or video's)".to_string()),
        "{skipped:?}"
    );
    #[cfg(unix)]
    {
        assert!(
            skipped.contains(&"link.jpg: symbolic link (not followed)".to_string()),
            "{skipped:?}"
        );
        assert!(
            skipped.contains(&"loop: symbolic link (not followed)".to_string()),
            "{skipped:?}"
        );
    }
}

#[test]
fn an_empty_file_fails_with_guidance_and_the_rest_go_through() {
    let t = Roll::new();
    t.photo("IMG_0001.JPG", 1, dt(2023, 7, 1, 9, 0, 0), 2);
    t.file("IMG_0002.JPG", b"");
    let a = t.at("a");
    let (code, json, stderr) = t.export(&[&a], &[]);
    assert_eq!(code, 1);
    assert_eq!(json["failed"][0]["path"], "IMG_0002.JPG");
    assert!(
        json["failed"][0]["error"]
            .as_str()
            .unwrap()
            .contains("empty file"),
        "{json}"
    );
    assert!(stderr.contains("IMG_0002.JPG"), "{stderr}");
    assert_eq!(archived_files(&a), vec!["2023/07/IMG_0001.JPG"]);
}

#[test]
fn truncated_media_is_archived_bit_exact_with_a_warning() {
    let t = Roll::new();
    let full = iphone_mov(1, dt(2023, 7, 1, 9, 0, 0), 2);
    // Cut inside the movie's moov box (its index and dates).
    let moov = full.windows(4).position(|w| w == b"moov").unwrap();
    let cut = &full[..moov + 12];
    t.file("IMG_0001.MOV", cut);
    let a = t.at("a");
    let (code, json, _) = t.export(&[&a], &[]);
    assert_eq!(code, 0, "{json}");
    let files = archived_files(&a);
    assert_eq!(files.len(), 1);
    assert_eq!(fs::read(a.join(&files[0])).unwrap(), cut);
    assert!(
        json["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["path"] == "IMG_0001.MOV"),
        "{json}"
    );
}

#[test]
fn names_that_are_not_utf8_or_are_nfd_are_archived_recognisably() {
    let t = Roll::new();
    t.photo("Cafe\u{301}.jpg", 1, dt(2023, 7, 1, 9, 0, 0), 2);
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let name = std::ffi::OsStr::from_bytes(b"IMG_\xff01.JPG");
        t.photo(name, 2, dt(2023, 7, 1, 9, 0, 0), 2);
    }
    let a = t.at("a");
    let (code, json, _) = t.export(&[&a], &[]);
    assert_eq!(code, 0, "{json}");
    let files = archived_files(&a);
    assert!(
        files.contains(&"2023/07/Cafe\u{301}.jpg".to_string()),
        "{files:?}"
    );
    #[cfg(unix)]
    assert!(
        files.contains(&"2023/07/IMG_%FF01.JPG".to_string()),
        "{files:?}"
    );
}

#[test]
fn a_destination_that_is_a_file_or_a_missing_source_exits_2() {
    let t = Roll::new();
    t.photo("IMG_0001.JPG", 1, dt(2023, 7, 1, 9, 0, 0), 2);
    let file = write(&t.path().join("not-a-dir"), b"x");
    let (code, _, stderr) = run(&[
        "export",
        "--from",
        t.src.to_str().unwrap(),
        "--to",
        file.to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    assert!(stderr.contains("is a file, not a folder"), "{stderr}");
    let (code, _, stderr) = run(&[
        "export",
        "--from",
        t.path().join("nope").to_str().unwrap(),
        "--to",
        t.at("a").to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    assert!(stderr.contains("nope"), "{stderr}");
    let (code, _, _) = run(&["export", "--from", t.src.to_str().unwrap()]);
    assert_eq!(code, 2, "missing --to is a usage error");
}

#[test]
fn a_locked_archive_is_refused_with_a_clear_message() {
    let Some(flock) = tool("flock") else { return };
    let t = Roll::new();
    t.photo("IMG_0001.JPG", 1, dt(2023, 7, 1, 9, 0, 0), 2);
    let a = t.at("a");
    fs::create_dir_all(a.join(".camroll")).unwrap();
    let mut holder = std::process::Command::new(flock)
        .arg("--close")
        .arg(a.join(".camroll/lock"))
        .args(["sleep", "30"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let (code, _, stderr) = run(&[
        "export",
        "--from",
        t.src.to_str().unwrap(),
        "--to",
        a.to_str().unwrap(),
    ]);
    holder.kill().unwrap();
    holder.wait().unwrap();
    // Exit 11: the archive is locked by a live run (README, "Exit statuses").
    assert_eq!(code, 11);
    assert!(stderr.contains("in use by another camroll run"), "{stderr}");
    // Once released (as after a kill -9), the next run takes it.
    assert_eq!(t.export(&[&a], &[]).0, 0);
}

#[test]
fn a_file_that_grows_is_read_again_and_one_that_vanishes_fails_cleanly_while_the_rest_go_through() {
    if !fault_hooks() {
        return;
    }
    let t = Roll::new();
    t.photo("IMG_0001.JPG", 1, dt(2023, 7, 1, 9, 0, 0), 2);
    let grows = t.photo("IMG_0002.JPG", 2, dt(2023, 7, 1, 9, 0, 0), 2);
    let vanishes = t.photo("IMG_0003.JPG", 3, dt(2023, 7, 1, 9, 0, 0), 2);
    let a = t.at("a");
    let child = t
        .export_command(&[&a])
        .env("CAMROLL_TEST_PAUSE_AFTER_SCAN_MS", "1500")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    let mut f = fs::OpenOptions::new().append(true).open(&grows).unwrap();
    std::io::Write::write_all(&mut f, b"more bytes").unwrap();
    fs::remove_file(&vanishes).unwrap();
    let (code, stdout, _) = decode(child.wait_with_output().unwrap());
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(code, 1, "{json}");
    let failed: Vec<(&str, &str)> = json["failed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["path"].as_str().unwrap(), f["error"].as_str().unwrap()))
        .collect();
    // Grown after the scan: read once more, as it is now, and archived (issue 7).
    assert!(
        !failed.iter().any(|(p, _)| *p == "IMG_0002.JPG"),
        "{failed:?}"
    );
    assert!(
        failed.iter().any(|(p, _)| *p == "IMG_0003.JPG"),
        "{failed:?}"
    );
    assert_eq!(
        archived_files(&a),
        vec!["2023/07/IMG_0001.JPG", "2023/07/IMG_0002.JPG"]
    );
    assert_eq!(staged(&a), 0, "no staging leftovers");
    // The next run completes the work.
    let (code, json, _) = t.export(&[&a], &[]);
    assert_eq!(code, 0, "{json}");
    assert_eq!(
        archived_files(&a),
        vec!["2023/07/IMG_0001.JPG", "2023/07/IMG_0002.JPG"]
    );
}

#[test]
fn an_unreadable_file_is_reported_and_the_rest_go_through() {
    use std::os::unix::fs::PermissionsExt;
    let t = Roll::new();
    fs::set_permissions(t.path(), fs::Permissions::from_mode(0o777)).unwrap();
    let src = &t.src;
    t.photo("IMG_0001.JPG", 1, dt(2023, 7, 1, 9, 0, 0), 2);
    let locked = t.photo("IMG_0002.JPG", 2, dt(2023, 7, 1, 9, 0, 0), 2);
    fs::set_permissions(src, fs::Permissions::from_mode(0o755)).unwrap();
    fs::set_permissions(src.join("IMG_0001.JPG"), fs::Permissions::from_mode(0o644)).unwrap();
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o000)).unwrap();
    let a = t.at("a");
    // Root reads anything; run as an unprivileged user so permissions apply.
    let Some(mut cmd) = unprivileged_camroll(t.path()) else {
        return;
    };
    let out = cmd
        .args([
            "export",
            "--json",
            "--from",
            src.to_str().unwrap(),
            "--to",
            a.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let (code, stdout, stderr) = decode(out);
    assert_eq!(code, 1, "{stdout}{stderr}");
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["failed"][0]["path"], "IMG_0002.JPG", "{json}");
    assert!(stderr.contains("IMG_0002.JPG"), "{stderr}");
    assert_eq!(archived_files(&a), vec!["2023/07/IMG_0001.JPG"]);
}

#[test]
fn a_full_destination_stops_cleanly_while_the_other_completes() {
    if !skip_unless(is_root(), "mounting a small tmpfs needs root") {
        return;
    }
    let t = Roll::new();
    let small = t.at("small");
    fs::create_dir_all(&small).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=2m", "tmpfs"])
        .arg(&small)
        .status()
        .unwrap();
    if !skip_unless(
        mounted.success(),
        "cannot mount a tmpfs for the ENOSPC test",
    ) {
        return;
    }
    let _guard = Unmount(&small);
    for i in 0..6u64 {
        let mut spec = camroll_sim::synth::VideoSpec::iphone(
            i,
            "iPhone 13",
            off(2)
                .from_local_datetime(&dt(2023, 7, 1, 9, 0, i as u32))
                .unwrap(),
        );
        spec.size_target = Some(700 * 1024);
        t.file(format!("IMG_000{i}.MOV"), &camroll_sim::synth::mov(&spec));
    }
    let big = t.at("big");
    let (code, json, _) = t.export(&[&small, &big], &["--jobs", "1"]);
    assert_eq!(code, 1, "{json}");
    assert!(
        json["destinations"][0]["error"]
            .as_str()
            .unwrap()
            .contains("No space left"),
        "{json}"
    );
    assert_eq!(
        archived_files(&big).len(),
        6,
        "the other destination completes"
    );
    // Nothing half-written in the full one: everything there verifies.
    let (code, stdout, _) = run(&["verify", small.to_str().unwrap()]);
    assert_eq!(code, 0, "{stdout}");
    assert_eq!(staged(&small), 0);
}

use chrono::TimeZone;

#[test]
fn an_export_killed_at_any_point_is_completed_by_the_next_run() {
    let t = Roll::new();
    let mut n = 0;
    for i in 0..120u64 {
        let taken = dt(2023, 1 + (i % 12) as u32, 1 + (i % 28) as u32, 9, 0, 0);
        let mut spec = camroll_sim::synth::StillSpec::iphone(i, "iPhone 13", taken, Some(off(2)));
        spec.width = 512;
        spec.height = 384;
        t.file(
            format!("DCIM/{}APPLE/IMG_{:04}.JPG", 100 + i / 50, i),
            &camroll_sim::synth::jpeg(&spec),
        );
        n += 1;
    }
    for i in 0..3u64 {
        let mut spec = camroll_sim::synth::VideoSpec::iphone(
            1000 + i,
            "iPhone 13",
            off(2)
                .from_local_datetime(&dt(2023, 6, 1, 9, 0, i as u32))
                .unwrap(),
        );
        spec.size_target = Some(24 << 20);
        t.file(
            format!("DCIM/100APPLE/IMG_9{i:03}.MOV"),
            &camroll_sim::synth::mov(&spec),
        );
        n += 1;
    }
    let (a, b) = (t.at("a"), t.at("b"));
    for delay_ms in [30u64, 90, 200, 400, 700, 1100] {
        let mut child = camroll()
            .args([
                "export",
                "--quiet",
                "--from",
                t.src.to_str().unwrap(),
                "--to",
                a.to_str().unwrap(),
                "--to",
                b.to_str().unwrap(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
    }
    let (code, json, _) = t.export(&[&a, &b], &[]);
    assert_eq!(code, 0, "{json}");
    for d in [&a, &b] {
        let files = archived_files(d);
        assert_eq!(files.len(), n, "every item exactly once in {}", d.display());
        assert!(
            files.iter().all(|f| !f.contains('~')),
            "no item archived twice: {files:?}"
        );
        assert_eq!(staged(d), 0);
        let (code, stdout, _) = run(&["verify", d.to_str().unwrap()]);
        assert_eq!(code, 0, "{stdout}");
        assert_eq!(sums_lines(d), n);
    }
}

#[test]
fn a_movie_whose_content_identifier_differs_from_its_namesake_still_is_filed_on_its_own() {
    use camroll_sim::synth::{jpeg, mov, StillSpec, VideoSpec};
    let t = Roll::new();
    let mut still = StillSpec::iphone(1, "iPhone 13", dt(2023, 1, 31, 23, 0, 0), Some(off(1)));
    still.content_identifier = Some("AAAAAAAA-1111-2222-3333-444444444444".into());
    let mut movie = VideoSpec::iphone(
        2,
        "iPhone 13",
        off(1)
            .from_local_datetime(&dt(2023, 3, 5, 10, 0, 0))
            .unwrap(),
    );
    movie.content_identifier = Some("BBBBBBBB-1111-2222-3333-444444444444".into());
    t.file("IMG_0100.JPG", &jpeg(&still));
    t.file("IMG_0100.MOV", &mov(&movie));
    // A real pair, matching identifiers, movie dated in the next month.
    let mut still2 = StillSpec::iphone(3, "iPhone 13", dt(2023, 1, 31, 23, 59, 59), Some(off(1)));
    still2.content_identifier = Some("CCCCCCCC-1111-2222-3333-444444444444".into());
    let mut movie2 = VideoSpec::iphone(
        4,
        "iPhone 13",
        off(1)
            .from_local_datetime(&dt(2023, 2, 1, 0, 0, 1))
            .unwrap(),
    );
    movie2.content_identifier = still2.content_identifier.clone();
    t.file("IMG_0200.JPG", &jpeg(&still2));
    t.file("IMG_0200.MOV", &mov(&movie2));
    let a = t.at("a");
    let (code, json, _) = t.export(&[&a], &[]);
    assert_eq!(code, 0, "{json}");
    assert_eq!(
        archived_files(&a),
        vec![
            "2023/01/IMG_0100.JPG",
            "2023/01/IMG_0200.JPG",
            "2023/01/IMG_0200.MOV",
            "2023/03/IMG_0100.MOV"
        ]
    );
}

#[test]
fn every_run_is_recorded_and_written_files_carry_their_verification_time() {
    let t = Roll::new();
    t.photo("IMG_0001.JPG", 1, dt(2023, 7, 1, 9, 0, 0), 2);
    let a = t.at("a");
    assert_eq!(t.export(&[&a], &[]).0, 0);
    assert_eq!(t.export(&[&a], &[]).0, 0, "a no-change run");
    let db = rusqlite::Connection::open(a.join(".camroll/catalog.sqlite")).unwrap();
    let runs: Vec<(String, String)> = db
        .prepare("SELECT outcome, ended FROM runs ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert!(runs.iter().all(|(o, _)| o == "ok"));
    let verified: Option<String> = db
        .query_row("SELECT verified_at FROM files", [], |r| r.get(0))
        .unwrap();
    assert!(verified.is_some());
    let (copied, already): (i64, i64) = db
        .query_row(
            "SELECT copied, already_archived FROM runs WHERE id = 2",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((copied, already), (0, 1));
}

#[test]
fn a_copy_that_reads_back_wrong_is_removed_reported_and_copied_again_next_run() {
    if !fault_hooks() {
        return;
    }
    let t = Roll::new();
    t.photo("IMG_0001.JPG", 1, dt(2023, 7, 1, 9, 0, 0), 2);
    t.photo("IMG_0002.JPG", 2, dt(2023, 7, 1, 9, 0, 0), 2);
    let a = t.at("a");
    let out = t
        .export_command(&[&a])
        .env("CAMROLL_FAULT_CORRUPT_PLACED", "IMG_0002.JPG")
        .output()
        .unwrap();
    let (code, stdout, stderr) = decode(out);
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["verify_failed"], 1);
    assert_eq!(json["verified"], 1);
    assert!(
        json["failed"][0]["error"]
            .as_str()
            .unwrap()
            .contains("read back with hash"),
        "{json}"
    );
    assert_eq!(
        archived_files(&a),
        vec!["2023/07/IMG_0001.JPG"],
        "the bad copy is removed"
    );
    let (code, stdout, _) = run(&["verify", a.to_str().unwrap()]);
    assert_eq!(code, 0, "{stdout}");
    // The next run copies it again.
    let (code, json, _) = t.export(&[&a], &[]);
    assert_eq!(code, 0, "{json}");
    assert_eq!(json["copied"], 1);
    assert_eq!(
        archived_files(&a),
        vec!["2023/07/IMG_0001.JPG", "2023/07/IMG_0002.JPG"]
    );
}

#[test]
fn a_movie_with_another_name_but_its_stills_content_identifier_is_filed_as_its_live_photo() {
    use camroll_sim::synth::{jpeg, mov, StillSpec, VideoSpec};
    let t = Roll::new();
    let cid = "DDDDDDDD-1111-2222-3333-444444444444";
    let mut still = StillSpec::iphone(1, "iPhone 13", dt(2023, 1, 31, 23, 0, 0), Some(off(1)));
    still.content_identifier = Some(cid.into());
    // AirDropped pairs arrive with unrelated names; the movie's own date is in March.
    let mut movie = VideoSpec::iphone(
        2,
        "iPhone 13",
        off(1)
            .from_local_datetime(&dt(2023, 3, 5, 10, 0, 0))
            .unwrap(),
    );
    movie.content_identifier = Some(cid.into());
    let mut stranger = VideoSpec::iphone(
        3,
        "iPhone 13",
        off(1)
            .from_local_datetime(&dt(2023, 4, 5, 10, 0, 0))
            .unwrap(),
    );
    stranger.content_identifier = Some("EEEEEEEE-1111-2222-3333-444444444444".into());
    t.file("a/IMG_0100.JPG", &jpeg(&still));
    t.file("b/FullSizeRender.MOV", &mov(&movie));
    t.file("b/other.MOV", &mov(&stranger));
    let a = t.at("a");
    let (code, json, _) = t.export(&[&a], &[]);
    assert_eq!(code, 0, "{json}");
    assert_eq!(
        archived_files(&a),
        vec![
            "2023/01/IMG_0100.JPG",
            "2023/01/IMG_0100.MOV",
            "2023/04/other.MOV"
        ]
    );
}

#[test]
fn an_unparseable_movie_is_archived_bit_exact_with_a_warning_never_left_behind() {
    let t = Roll::new();
    t.photo("IMG_0001.JPG", 1, dt(2023, 7, 1, 9, 0, 0), 2);
    // Damaged, or a format camroll does not know: it used to be skipped with exit 0.
    let bytes = pattern(100_000, 300);
    let mov = t.file("IMG_0300.MOV", &bytes);
    let mtime = std::time::UNIX_EPOCH + Duration::from_secs(1_600_000_000); // 2020-09-13
    fs::File::options()
        .write(true)
        .open(&mov)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    t.file("Thumbs.db", b"junk");
    let a = t.at("a");
    let (code, json, stderr) = t.export(&[&a], &[]);
    assert_eq!(code, 0, "{json}\n{stderr}");
    assert_eq!(json["copied"], 2, "{json}");
    assert_eq!(json["unrecognised"], 1, "{json}");
    assert_eq!(json["left_behind"], 0, "{json}");
    let warning = json["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["path"] == "IMG_0300.MOV")
        .unwrap_or_else(|| panic!("no warning names IMG_0300.MOV: {json}"));
    assert!(
        warning["warning"]
            .as_str()
            .unwrap()
            .contains("not recognised"),
        "{warning}"
    );
    // Filed by its file time, bit-exact.
    let archived = a.join("2020/09/IMG_0300.MOV");
    assert_eq!(fs::read(&archived).unwrap(), bytes);
    let (code, _, _) = run(&["verify", &s(&a)]);
    assert_eq!(code, 0);
    // A re-run reads nothing new and still exits 0.
    let (code, json, _) = t.export(&[&a], &[]);
    assert_eq!(code, 0, "{json}");
    assert_eq!(json["already_archived"], 2, "{json}");
}
