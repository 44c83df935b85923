//! `camroll inspect` on synthetic files: what it prints, its JSON, grouping,
//! and its exit statuses.

mod support;

use serde_json::Value;
use support::*;

/// A big-endian TIFF with an Exif IFD holding ASCII tags.
fn tiff(exif: &[(u16, &str)]) -> Vec<u8> {
    let mut out = b"MM\0*\0\0\0\x08".to_vec();
    // IFD0: one entry, the Exif IFD pointer.
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&[0x87, 0x69, 0, 4, 0, 0, 0, 1]);
    out.extend_from_slice(&26u32.to_be_bytes());
    out.extend_from_slice(&0u32.to_be_bytes());
    let data_at = 26 + 2 + exif.len() * 12 + 4;
    let mut data = Vec::new();
    let mut ifd = (exif.len() as u16).to_be_bytes().to_vec();
    for (tag, v) in exif {
        let mut bytes = v.as_bytes().to_vec();
        bytes.push(0);
        ifd.extend_from_slice(&tag.to_be_bytes());
        ifd.extend_from_slice(&2u16.to_be_bytes());
        ifd.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
        ifd.extend_from_slice(&((data_at + data.len()) as u32).to_be_bytes());
        data.extend_from_slice(&bytes);
    }
    ifd.extend_from_slice(&0u32.to_be_bytes());
    out.extend(ifd);
    out.extend(data);
    out
}

fn jpeg(exif: &[(u16, &str)]) -> Vec<u8> {
    let app1 = [&b"Exif\0\0"[..], &tiff(exif)].concat();
    let mut f = vec![0xFF, 0xD8, 0xFF, 0xE1];
    f.extend_from_slice(&((app1.len() + 2) as u16).to_be_bytes());
    f.extend(app1);
    f.extend_from_slice(&[0xFF, 0xDA, 0, 2, 0xFF, 0xD9]);
    f
}

fn bx(kind: &[u8; 4], payload: &[u8]) -> Vec<u8> {
    [
        &((payload.len() + 8) as u32).to_be_bytes()[..],
        kind,
        payload,
    ]
    .concat()
}

/// A Live Photo movie pulled over AFC: no `ftyp`, `moov` after `mdat`, only mvhd.
fn movie_mvhd_only(utc_unix: i64) -> Vec<u8> {
    let secs = (utc_unix + 2_082_844_800) as u32;
    let mvhd = [
        &[0u8, 0, 0, 0][..],
        &secs.to_be_bytes(),
        &secs.to_be_bytes(),
        &[0; 88],
    ]
    .concat();
    [
        bx(b"wide", b""),
        bx(b"mdat", &[7; 256]),
        bx(b"moov", &bx(b"mvhd", &mvhd)),
    ]
    .concat()
}

#[test]
fn text_output_names_kind_time_source_and_folder() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(
        d.path().join("a.jpg"),
        jpeg(&[(0x9003, "2019:12:31 23:30:00"), (0x9011, "-05:00")]),
    )
    .unwrap();
    let out = output_in(&["inspect", "a.jpg"], d.path());
    assert_eq!(out.status.code(), Some(0));
    let s = String::from_utf8_lossy(&out.stdout);
    for want in [
        "kind:        jpeg (still)",
        "2019-12-31T23:30:00-05:00",
        "EXIF DateTimeOriginal",
        "recorded in the file",
        "folder:      2019/12",
    ] {
        assert!(s.contains(want), "missing {want:?} in:\n{s}");
    }
}

#[test]
fn json_groups_a_live_photo_and_localises_its_utc_movie() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(
        d.path().join("IMG_0007.JPG"),
        jpeg(&[(0x9003, "2023:07:12 12:17:10"), (0x9011, "+01:00")]),
    )
    .unwrap();
    // 2023-07-12T11:17:12Z
    std::fs::write(
        d.path().join("IMG_0007.MOV"),
        movie_mvhd_only(1_689_160_632),
    )
    .unwrap();
    std::fs::write(
        d.path().join("IMG_0007.AAE"),
        b"<?xml version=\"1.0\"?><plist version=\"1.0\"><dict/></plist>",
    )
    .unwrap();
    let out = output_in(
        &[
            "inspect",
            "--json",
            "--timezone",
            "-10:00",
            "IMG_0007.MOV",
            "IMG_0007.JPG",
            "IMG_0007.AAE",
        ],
        d.path(),
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let files = v["files"].as_array().unwrap();
    let by = |name: &str| files.iter().find(|f| f["path"] == name).unwrap().clone();
    let mov = by("IMG_0007.MOV");
    assert_eq!(mov["kind"], "quicktime");
    assert_eq!(mov["role"], "live_photo_movie");
    assert_eq!(mov["filed_with"], "IMG_0007.JPG");
    assert_eq!(mov["capture_text"], "2023-07-12T12:17:12+01:00");
    assert_eq!(mov["capture"]["offset_source"], "group");
    assert_eq!(mov["folder"], "2023/07");
    let aae = by("IMG_0007.AAE");
    assert_eq!(
        (aae["kind"].as_str(), aae["role"].as_str()),
        (Some("aae"), Some("sidecar"))
    );
    assert_eq!(aae["capture"]["source"], "group_primary");
}

#[test]
fn a_lone_utc_movie_uses_the_timezone_option() {
    let d = tempfile::tempdir().unwrap();
    // 2023-12-31T23:30:00Z: with +02:00 it is already January.
    std::fs::write(d.path().join("clip.mov"), movie_mvhd_only(1_704_065_400)).unwrap();
    let out = output_in(
        &["inspect", "--json", "--timezone", "+02:00", "clip.mov"],
        d.path(),
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["files"][0]["folder"], "2024/01");
    assert_eq!(v["files"][0]["capture"]["offset_source"], "assumed");
}

/// The folder and offset `inspect --timezone <zone>` gives a UTC-only movie taken at `unix`.
fn placed_with(zone_args: &[&str], unix: i64) -> (String, i64) {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("clip.mov"), movie_mvhd_only(unix)).unwrap();
    let mut args = vec!["inspect", "--json"];
    args.extend_from_slice(zone_args);
    args.push("clip.mov");
    let out = output_in(&args, d.path());
    assert_eq!(out.status.code(), Some(0), "{zone_args:?}: {}", text(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let f = &v["files"][0];
    (
        f["folder"].as_str().unwrap().to_string(),
        f["capture"]["offset_seconds"].as_i64().unwrap(),
    )
}

#[test]
fn every_time_zone_form_is_accepted_by_one_parser() {
    // 2023-12-31T23:30:00Z: east of UTC it is already January.
    let t = 1_704_065_400;
    for (args, folder, off) in [
        (&["--timezone", "UTC"][..], "2023/12", 0),
        (&["--timezone", "Z"][..], "2023/12", 0),
        (&["--timezone", "+05:30"][..], "2024/01", 19800),
        (&["--timezone", "+0530"][..], "2024/01", 19800),
        // A negative offset as the next argument, not taken for a flag.
        (&["--timezone", "-05:00"][..], "2023/12", -18000),
        (&["--timezone=-05:00"][..], "2023/12", -18000),
        (&["--timezone", "Europe/Paris"][..], "2024/01", 3600),
        (&["--timezone", "america/new_york"][..], "2023/12", -18000),
    ] {
        assert_eq!(placed_with(args, t), (folder.to_string(), off), "{args:?}");
    }
}

#[test]
fn an_iana_zone_follows_daylight_saving_time_per_capture_date() {
    // New York springs forward at 2024-03-10 07:00 UTC (-05:00 → -04:00).
    let ny = ["--timezone", "America/New_York"];
    let (_, before) = placed_with(&ny, 1_710_052_200); // 06:30 UTC
    let (_, after) = placed_with(&ny, 1_710_055_800); // 07:30 UTC
    assert_eq!((before, after), (-5 * 3600, -4 * 3600));
    // Sydney in January is on daylight time (+11), in July not (+10).
    let syd = ["--timezone", "Australia/Sydney"];
    assert_eq!(placed_with(&syd, 1_704_067_200).1, 11 * 3600);
    assert_eq!(placed_with(&syd, 1_719_792_000).1, 10 * 3600);
}

#[test]
fn unknown_content_is_reported_and_skipped_not_guessed() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(
        d.path().join("fake.jpg"),
        b"this is not a photo at all, whatever the name says",
    )
    .unwrap();
    let out = output_in(&["inspect", "--json", "fake.jpg"], d.path());
    assert_eq!(out.status.code(), Some(0));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["files"][0]["kind"], Value::Null);
    assert_eq!(v["files"][0]["folder"], Value::Null);
    assert!(v["files"][0]["problems"][0]
        .as_str()
        .unwrap()
        .contains("skipped"));
}

#[test]
fn an_unreadable_file_gives_exit_1_and_the_others_are_still_shown() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(
        d.path().join("a.jpg"),
        jpeg(&[(0x9003, "2020:01:01 10:00:00")]),
    )
    .unwrap();
    let out = output_in(&["inspect", "missing.jpg", "a.jpg"], d.path());
    assert_eq!(out.status.code(), Some(1));
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(s.contains("cannot open"), "{s}");
    assert!(s.contains("folder:      2020/01"), "{s}");
}

#[test]
fn a_bad_timezone_is_a_usage_error() {
    let d = tempfile::tempdir().unwrap();
    let out = output_in(
        &["inspect", "--timezone", "Mars/Olympus", "x.jpg"],
        d.path(),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--timezone"));
}

#[test]
fn a_photo_without_dates_falls_back_to_its_name_then_its_file_time() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(
        d.path().join("Screenshot 2019-05-21 at 10.45.52.jpg"),
        jpeg(&[]),
    )
    .unwrap();
    std::fs::write(d.path().join("plain.jpg"), jpeg(&[])).unwrap();
    let out = output_in(
        &[
            "inspect",
            "--json",
            "Screenshot 2019-05-21 at 10.45.52.jpg",
            "plain.jpg",
        ],
        d.path(),
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["files"][0]["folder"], "2019/05");
    assert_eq!(v["files"][0]["capture"]["source"], "file_name");
    assert_eq!(v["files"][0]["fallback"], true);
    assert_eq!(v["files"][1]["capture"]["source"], "file_mtime");
    assert_eq!(v["files"][1]["fallback"], true);
}
