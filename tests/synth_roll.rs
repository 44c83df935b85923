//! The fixture camera roll: the committed copy is what the generator makes,
//! every file is what `EXPECTED.tsv` says (kind, capture time, group role),
//! opens in a real decoder, and an export by the real binary files it exactly
//! as `EXPECTED.tsv` lists.

mod support;

use std::collections::BTreeSet;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::process::Command;

use camroll::media::{group_by_name, read_media_info, sniff, DateOptions};
use camroll_sim::synth::roll::{expected_tsv, fixture_roll, write_roll, RollFile, Status};
use chrono::{DateTime, FixedOffset};
use support::*;

fn committed_roll() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/camera-roll")
}

fn files_under(root: &Path) -> BTreeSet<String> {
    walkdir::WalkDir::new(root)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            e.path()
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/")
        })
        .collect()
}

#[test]
fn committed_fixture_roll_is_what_the_generator_makes() {
    let root = committed_roll();
    let roll = fixture_roll();
    let want: BTreeSet<String> = roll.iter().map(|f| f.path.to_string()).collect();
    assert_eq!(
        files_under(&root),
        want,
        "run: cargo run --example make_fixtures -- fixtures/camera-roll"
    );
    let mut total = 0;
    for f in &roll {
        let on_disk = std::fs::read(root.join(f.path)).unwrap();
        total += on_disk.len();
        if f.path == "EXPECTED.tsv" {
            assert_eq!(String::from_utf8(on_disk).unwrap(), expected_tsv(&roll));
        } else {
            assert!(
                on_disk == f.bytes,
                "{} differs from the generator's output: regenerate the roll",
                f.path
            );
        }
    }
    assert!(
        total < 2 << 20,
        "the fixture roll must stay well under 2 MB ({total} bytes)"
    );
}

#[test]
fn generator_is_deterministic() {
    let a = fixture_roll();
    let b = fixture_roll();
    assert!(a
        .iter()
        .zip(&b)
        .all(|(x, y)| x.bytes == y.bytes && x.path == y.path));
}

fn parse_capture(s: &str) -> DateTime<FixedOffset> {
    DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%:z").unwrap_or_else(|e| panic!("{s}: {e}"))
}

#[test]
fn every_file_reads_back_as_expected_tsv_says() {
    let dir = tempfile::tempdir().unwrap();
    let roll = write_roll(dir.path()).unwrap();
    let utc = DateOptions {
        timezone: Some(camroll::media::date::Zone::UTC),
    };
    for f in &roll {
        let path = dir.path().join(f.path);
        let bytes = std::fs::read(&path).unwrap();
        let ext = f.path.rsplit('.').next();
        let kind = sniff(&bytes[..bytes.len().min(64)], ext);
        assert_eq!(kind.map(|k| k.name()), f.kind, "{}: kind", f.path);
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(
            DateTime::<chrono::Utc>::from(meta.modified().unwrap()),
            f.mtime,
            "{}: mtime",
            f.path
        );
        let Some(kind) = kind else { continue };
        let info = read_media_info(&mut Cursor::new(&bytes), kind, &utc);
        match f.date_source {
            Some("file_mtime") => {
                assert!(info.capture.is_none(), "{}: has no date of its own", f.path);
                assert_eq!(
                    parse_capture(f.capture.as_deref().unwrap()),
                    f.mtime,
                    "{}",
                    f.path
                );
            }
            Some(src) => {
                let c = info
                    .capture
                    .unwrap_or_else(|| panic!("{}: no capture time", f.path));
                assert_eq!(Some(c.display()), f.capture, "{}: capture", f.path);
                assert_eq!(
                    serde_json::to_value(c.source).unwrap(),
                    src,
                    "{}: date source",
                    f.path
                );
            }
            None => {}
        }
        if f.role == Some("live_photo_movie") {
            let still = roll
                .iter()
                .find(|s| s.path == f.path.replace(".MOV", ".HEIC"))
                .unwrap();
            let id = info.content_identifier.expect("movie content identifier");
            let sinfo = read_media_info(
                &mut Cursor::new(&still.bytes),
                camroll::media::Kind::Heif,
                &utc,
            );
            assert_eq!(
                sinfo.content_identifier.as_deref(),
                Some(id.as_str()),
                "{}: pairing",
                f.path
            );
        }
    }
    // Group roles as camroll's grouping sees them.
    let media: Vec<&RollFile> = roll.iter().filter(|f| f.role.is_some()).collect();
    let items: Vec<(&str, &str)> = media
        .iter()
        .map(|f| f.path.rsplit_once('/').unwrap())
        .collect();
    for g in group_by_name(&items) {
        for (i, role) in g.members {
            assert_eq!(
                Some(serde_json::to_value(role).unwrap()),
                media[i].role.map(serde_json::Value::from),
                "{}: role",
                media[i].path
            );
        }
    }
}

#[test]
fn every_file_opens_in_a_real_decoder() {
    let ffprobe = have("ffprobe");
    let dir = tempfile::tempdir().unwrap();
    let roll = write_roll(dir.path()).unwrap();
    let lib = libheif_rs::LibHeif::new();
    for f in &roll {
        match f.kind {
            Some("jpeg") | Some("png") => {
                image::load_from_memory(&f.bytes).unwrap_or_else(|e| panic!("{}: {e}", f.path));
            }
            Some("heif") => {
                let ctx = libheif_rs::HeifContext::read_from_bytes(&f.bytes).unwrap();
                let h = ctx.primary_image_handle().unwrap();
                lib.decode(
                    &h,
                    libheif_rs::ColorSpace::Rgb(libheif_rs::RgbChroma::Rgb),
                    None,
                )
                .unwrap_or_else(|e| panic!("{}: {e}", f.path));
            }
            Some("quicktime") | Some("mp4") if ffprobe => {
                let out = Command::new("ffmpeg")
                    .args(["-v", "error", "-nostdin", "-i"])
                    .arg(dir.path().join(f.path))
                    .args(["-f", "null", "-"])
                    .output()
                    .unwrap();
                assert!(
                    out.status.success() && out.stderr.is_empty(),
                    "{}: {}",
                    f.path,
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            Some("aae") => {
                plist::Value::from_reader_xml(Cursor::new(&f.bytes)).unwrap();
            }
            _ => {}
        }
    }
}

#[test]
fn export_files_the_roll_exactly_as_expected_tsv_lists() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("roll");
    let roll = write_roll(&src).unwrap();
    let archive = dir.path().join("archive");
    let out = camroll()
        .env("TZ", "UTC")
        .arg("export")
        .arg("--from")
        .arg(&src)
        .arg("--to")
        .arg(&archive)
        .arg("--json")
        .output()
        .unwrap();
    // The roll's non-media files (`notes.txt`, `EXPECTED.tsv`) are neither
    // photos nor known junk: left behind, and the exit status says so (1).
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let skipped = roll.iter().filter(|f| f.status == Status::Skipped).count();
    assert_eq!(summary["left_behind"], skipped as u64, "{summary}");
    assert!(
        summary["failed"].as_array().unwrap().is_empty(),
        "{summary}"
    );

    let want: BTreeSet<String> = roll
        .iter()
        .filter(|f| f.status == Status::Copied)
        .filter_map(|f| f.archive.clone())
        .chain(["BLAKE3SUMS".to_string()])
        .collect();
    let got: BTreeSet<String> = files_under(&archive)
        .into_iter()
        .filter(|p| !p.starts_with(".camroll/"))
        .collect();
    assert_eq!(got, want);
    for f in roll.iter().filter(|f| f.status == Status::Copied) {
        let p = archive.join(f.archive.as_deref().unwrap());
        assert!(
            std::fs::read(&p).unwrap() == f.bytes,
            "{}: archived bytes differ",
            f.path
        );
        let mtime =
            DateTime::<chrono::Utc>::from(std::fs::metadata(&p).unwrap().modified().unwrap());
        // Whole seconds: EXIF sub-seconds may refine the mtime below the capture column's precision.
        assert_eq!(
            mtime.timestamp(),
            parse_capture(f.capture.as_deref().unwrap()).timestamp(),
            "{}: archived mtime is its capture time",
            f.path
        );
    }
    let dups: Vec<(String, String)> = summary["duplicate_files"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|d| {
                    (
                        d["path"].as_str().unwrap_or("").to_string(),
                        d["archived_as"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let want_dups: Vec<(String, String)> = roll
        .iter()
        .filter(|f| f.status == Status::Duplicate)
        .map(|f| (f.path.to_string(), f.archive.clone().unwrap()))
        .collect();
    assert_eq!(dups, want_dups);
    let skipped: BTreeSet<&str> = summary["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["path"].as_str())
        .collect();
    let want_skipped: BTreeSet<&str> = roll
        .iter()
        .filter(|f| f.status == Status::Skipped)
        .map(|f| f.path)
        .collect();
    assert_eq!(skipped, want_skipped);
}
