//! Real files from ~30 phones and cameras (`../shared/corpus/real`, outside
//! the repository for licence reasons): every file is inspected by the real
//! binary and must land in TRUTH.tsv's `expected_folder` with its
//! `expected_local` time, offset and source.

mod support;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::Value;
use support::*;

fn corpus() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/real");
    let found = dir.join("TRUTH.tsv").is_file();
    skip_unless(
        found,
        format!(
            "the real-file corpus is not at {} (it lives outside the repository)",
            dir.display()
        ),
    )
    .then_some(dir)
}

/// Files whose only date is a UTC `mvhd` and that have no still in the corpus
/// to take a zone from: TRUTH infers their offset from a sibling file, which
/// is outside what a file can say. camroll's rule for them is `--timezone`,
/// so the test gives the zone a user would give.
const USER_TIMEZONE: &[(&str, &str)] = &[
    ("ipadmini_video_exported.mp4", "+02:00"),
    ("samsung-s22plus_motionphoto_embedded.mp4", "-08:00"),
];

/// Rows where camroll knowingly differs from TRUTH.tsv, with the evidence.
/// Only the offset differs; folder and local time match.
const OFFSET_DISAGREEMENTS: &[(&str, &str, &str)] = &[(
    "vivo-x90pro+_truncated-no-tz.jpg",
    "+08:00",
    "TRUTH says 'unknown', but the EXIF has GPSDateStamp 2023:07:09 + GPSTimeStamp 12:36:33 (UTC), \
     exactly 8 h before DateTimeOriginal 20:36:33; the GPS rule infers +08:00, and TRUTH's own NOTES \
     say the complete original file had +08:00.",
)];

fn inspect(dir: &Path, files: &[String], tz: &str) -> Vec<Value> {
    let out = camroll()
        .current_dir(dir)
        .arg("inspect")
        .arg("--json")
        .arg("--timezone")
        .arg(tz)
        .args(files)
        .output()
        .expect("run camroll inspect");
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("inspect --json output is JSON");
    v["files"].as_array().expect("files array").clone()
}

/// The words `date_source` must contain for a TRUTH `best_source`.
fn expected_source(best: &str) -> &'static str {
    let b = best.to_ascii_lowercase();
    if b.starts_with("paired image") {
        "the photo it belongs with"
    } else if b.starts_with("exif datetimeoriginal") {
        "EXIF DateTimeOriginal"
    } else if b.starts_with("keys:creationdate") {
        "com.apple.quicktime.creationdate"
    } else if b.starts_with("quicktime mvhd") {
        "mvhd"
    } else if b.starts_with("ifd0 modifydate") {
        "ModifyDate"
    } else if b.starts_with("createdate") {
        "DateTimeDigitized"
    } else if b.starts_with("xmp xmp:createdate") {
        "xmp:CreateDate"
    } else if b.starts_with("iptc/xmp datecreated") {
        "photoshop:DateCreated"
    } else if b.starts_with("file name") {
        "file name"
    } else if b == "none" {
        "fallback"
    } else {
        panic!("TRUTH best_source {best:?} has no mapping in this test")
    }
}

#[test]
fn every_real_file_is_filed_where_the_truth_table_says() {
    let Some(dir) = corpus() else { return };
    let truth = std::fs::read_to_string(dir.join("TRUTH.tsv")).expect("read TRUTH.tsv");
    let mut lines = truth.lines();
    let header: Vec<&str> = lines.next().expect("header").split('\t').collect();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .unwrap_or_else(|| panic!("column {name}"))
    };
    let (c_file, c_folder, c_local, c_off, c_best) = (
        col("file"),
        col("expected_folder"),
        col("expected_local"),
        col("expected_utc_offset"),
        col("best_source"),
    );
    let rows: Vec<Vec<&str>> = lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split('\t').collect())
        .collect();
    assert!(rows.len() >= 48, "TRUTH.tsv has {} rows", rows.len());

    let tz_for: HashMap<&str, &str> = USER_TIMEZONE.iter().copied().collect();
    let main: Vec<String> = rows
        .iter()
        .map(|r| r[c_file].to_string())
        .filter(|f| !tz_for.contains_key(f.as_str()))
        .collect();
    // UTC for the rest: nothing else may depend on the zone camroll assumes.
    let mut results: HashMap<String, Value> = HashMap::new();
    for v in inspect(&dir, &main, "UTC") {
        results.insert(v["path"].as_str().unwrap_or_default().to_string(), v);
    }
    for (file, tz) in USER_TIMEZONE {
        for v in inspect(&dir, &[file.to_string()], tz) {
            results.insert(v["path"].as_str().unwrap_or_default().to_string(), v);
        }
    }

    let mut failures = Vec::new();
    for r in &rows {
        let file = r[c_file];
        let Some(got) = results.get(file) else {
            failures.push(format!("{file}: not in inspect output"));
            continue;
        };
        let folder = got["folder"].as_str().unwrap_or("");
        let local = got["capture_text"].as_str().unwrap_or("");
        let source = got["date_source"].as_str().unwrap_or("");
        let offset_source = got["offset_source"].as_str().unwrap_or("");
        let offset = got["capture"]["offset_seconds"].as_i64();
        let expected_folder = r[c_folder];
        let why = format!(
            "{file}: got folder {folder} time {local} from {source} (offset {offset_source})"
        );
        if expected_folder.starts_with("undated") {
            // No date in metadata or name: filed by the file's own time and flagged.
            if !(got["fallback"] == Value::Bool(true) && source.contains("modification time")) {
                failures.push(format!("{why}; expected undated (a flagged fallback)"));
            }
            if expected_folder.contains("without parent") && got["orphan"] != Value::Bool(true) {
                failures.push(format!("{why}; expected an orphan sidecar"));
            }
            continue;
        }
        if folder != expected_folder {
            failures.push(format!("{why}; expected folder {expected_folder}"));
        }
        if local.get(..19) != Some(r[c_local]) {
            failures.push(format!("{why}; expected local {}", r[c_local]));
        }
        let want_source = expected_source(r[c_best]);
        if !source.contains(want_source) {
            failures.push(format!("{why}; expected source containing {want_source:?}"));
        }
        let want_off = r[c_off];
        let disagreement = OFFSET_DISAGREEMENTS.iter().find(|d| d.0 == file);
        let shown = offset.map(|s| {
            let a = s.unsigned_abs();
            format!(
                "{}{:02}:{:02}",
                if s < 0 { '-' } else { '+' },
                a / 3600,
                (a % 3600) / 60
            )
        });
        if let Some((_, ours, evidence)) = disagreement {
            if shown.as_deref() != Some(*ours) {
                failures.push(format!(
                    "{why}; expected our documented offset {ours} ({evidence})"
                ));
            }
        } else if want_off.len() == 6 && (want_off.starts_with('+') || want_off.starts_with('-')) {
            if shown.as_deref() != Some(want_off) {
                failures.push(format!("{why}; expected offset {want_off}, got {shown:?}"));
            }
            if r[c_best].contains("offset from GPS") && !offset_source.contains("GPS") {
                failures.push(format!("{why}; expected a GPS-inferred offset"));
            }
        } else if want_off.contains("GPS position") {
            // A zone from a position needs a time-zone map, which camroll does
            // not carry: the offset stays unknown rather than guessed.
            if offset.is_some() {
                failures.push(format!("{why}; expected no offset (position-only zone)"));
            }
        } else if want_off.starts_with(&['+', '-'][..]) && want_off.contains("inferred") {
            // Not in the file: it must come from the user's zone or the group.
            if shown.as_deref() != want_off.get(..6) || offset_source.contains("recorded") {
                failures.push(format!("{why}; expected {want_off} from outside the file"));
            }
        } else if want_off == "unknown" && offset.is_some() {
            failures.push(format!("{why}; expected no offset"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} rows wrong:\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n")
    );
}

#[test]
fn real_groups_stay_together() {
    let Some(dir) = corpus() else { return };
    let files = [
        "IMG_4120.JPG",
        "IMG_E4120.JPG",
        "IMG_4120.AAE",
        "iphone6s_live_train.jpg",
        "iphone6s_live_train.mov",
        "iphoneSE2_live.HEIC",
        "iphoneSE2_live.mov",
        "slomo_edit.aae",
    ];
    let files: Vec<String> = files.iter().map(|s| s.to_string()).collect();
    let got: HashMap<String, Value> = inspect(&dir, &files, "UTC")
        .into_iter()
        .map(|v| (v["path"].as_str().unwrap_or("").to_string(), v))
        .collect();
    let role = |f: &str| got[f]["role"].as_str().unwrap_or("").to_string();
    let with = |f: &str| got[f]["filed_with"].as_str().unwrap_or("").to_string();
    assert_eq!(role("IMG_4120.JPG"), "primary");
    assert_eq!(
        (role("IMG_E4120.JPG"), with("IMG_E4120.JPG")),
        ("edited_render".into(), "IMG_4120.JPG".into())
    );
    assert_eq!(
        (role("IMG_4120.AAE"), with("IMG_4120.AAE")),
        ("sidecar".into(), "IMG_4120.JPG".into())
    );
    // ContentIdentifiers match: paired and confirmed.
    assert_eq!(
        got["iphone6s_live_train.jpg"]["content_identifier"],
        "E905E6C6-C747-4805-942F-9904A0281F02"
    );
    assert_eq!(
        got["iphone6s_live_train.mov"]["content_identifier"],
        "E905E6C6-C747-4805-942F-9904A0281F02"
    );
    assert_eq!(role("iphone6s_live_train.mov"), "live_photo_movie");
    // The movie's live moov has no identifier (the stale one inside mdat must
    // not be found), so the name pairing stands and the still's offset is used.
    assert_eq!(got["iphoneSE2_live.mov"]["content_identifier"], Value::Null);
    assert_eq!(
        (role("iphoneSE2_live.mov"), with("iphoneSE2_live.mov")),
        ("live_photo_movie".into(), "iphoneSE2_live.HEIC".into())
    );
    assert_eq!(
        got["iphoneSE2_live.mov"]["capture_text"],
        "2023-07-12T12:17:12+01:00"
    );
    assert_eq!(got["slomo_edit.aae"]["orphan"], true);
}
