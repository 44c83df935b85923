//! The catalog of a bucket archive, as objects that are only ever created or
//! replaced whole (an SQLite file cannot be edited in place on S3): one JSON
//! line per archived object, in run logs (`.camroll/log/<run-id>.jsonl`, one
//! per run that added something) folded into `.camroll/manifest.jsonl`.
//! Format: `docs/archive-format.md` ("Bucket archives").
//!
//! Everything read back is validated: line length, the path (the one
//! `checked_rel_path` rule, and never camroll's own objects), the hash.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::archive::catalog::{FileRecord, FileRow, SourceRecord};
use crate::archive::layout::checked_rel_path;

/// An archived file's local capture time as objects and the manifest carry
/// it (`YYYY-MM-DDTHH:MM:SS`), when it has one.
pub fn capture_text(r: &FileRecord) -> Option<String> {
    r.capture
        .as_ref()
        .map(|c| c.local.format("%Y-%m-%dT%H:%M:%S").to_string())
}

/// The longest manifest line camroll reads; a longer one is damage.
pub const MAX_LINE: usize = 16 * 1024;

/// One archived object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Relative to the prefix, `/`-separated (`2019/06/IMG_4120.JPG`).
    pub path: String,
    /// BLAKE3 of the content, 64 lower-case hex digits.
    pub blake3: String,
    /// Size in bytes.
    pub size: u64,
    /// Local capture time (`YYYY-MM-DDTHH:MM:SS`), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capture_time: Option<String>,
    /// Seconds east of UTC of the capture time, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capture_offset: Option<i32>,
    /// The sniffed media kind, when recognised.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Its part in its group (`primary`, `live_photo_movie`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// The name it had on its source.
    #[serde(default)]
    pub original_name: String,
    /// The source it came from (`folder:/media/sd/DCIM`, `device:<UDID>`).
    #[serde(default)]
    pub source: String,
    /// Where it was on the source.
    #[serde(default)]
    pub source_path: String,
    /// The source file's size when it was read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_size: Option<u64>,
    /// The source file's mtime when it was read, ns since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_mtime_ns: Option<i64>,
    /// The run that added it.
    #[serde(default)]
    pub run: String,
    /// When it was added, UTC.
    #[serde(default)]
    pub added_at: String,
}

/// A new run's id: UTC start time and process id (`20261201T002215Z-4242`).
pub fn run_id() -> String {
    format!(
        "{}-{}",
        chrono::Utc::now().format("%Y%m%dT%H%M%SZ"),
        std::process::id()
    )
}

impl Entry {
    /// The entry of an archived file's catalog row, with the source item it
    /// was read from (when known), added by run `run_id` now.
    pub fn from_row(row: &FileRow, src: Option<&SourceRecord>, run_id: &str) -> Entry {
        let r = &row.record;
        Entry {
            path: r.path.clone(),
            blake3: r.hash.clone(),
            size: r.size,
            capture_time: capture_text(r),
            capture_offset: r.capture.as_ref().and_then(|c| c.offset_seconds),
            kind: r.kind.clone(),
            role: r.role.clone(),
            original_name: r.original_name.clone(),
            source: r.source.clone(),
            source_path: r.source_path.clone(),
            source_size: src.map(|s| s.size),
            source_mtime_ns: src.map(|s| s.mtime_ns),
            run: run_id.to_string(),
            added_at: crate::archive::catalog::now_text(),
        }
    }

    /// The catalog record this entry stands for (the capture time stays in
    /// the bucket's metadata: the manifest keeps it only as text).
    pub fn record(&self) -> FileRecord {
        FileRecord {
            path: self.path.clone(),
            hash: self.blake3.clone(),
            size: self.size,
            kind: self.kind.clone(),
            capture: None,
            original_name: self.original_name.clone(),
            source: self.source.clone(),
            source_path: self.source_path.clone(),
            role: self.role.clone(),
        }
    }
}

/// Whether `path` names one of camroll's own objects rather than an original.
pub fn is_own_object(path: &str) -> bool {
    path == crate::archive::sums::SUMS_FILE || path == ".camroll" || path.starts_with(".camroll/")
}

fn is_hash(h: &str) -> bool {
    h.len() == 64
        && h.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Parses and validates one line; the error says what is wrong.
pub fn parse_line(line: &str) -> Result<Entry, String> {
    if line.len() > MAX_LINE {
        return Err(format!("line over {MAX_LINE} bytes"));
    }
    let e: Entry = serde_json::from_str(line).map_err(|e| format!("not a manifest line: {e}"))?;
    checked_rel_path(&e.path).map_err(|e| e.to_string())?;
    if is_own_object(&e.path) {
        return Err(format!("{:?} names camroll's own object", e.path));
    }
    if !is_hash(&e.blake3) {
        return Err(format!(
            "{:?}: blake3 is not 64 lower-case hex digits",
            e.path
        ));
    }
    Ok(e)
}

/// One line, with its newline.
pub fn to_line(e: &Entry) -> String {
    let mut s = serde_json::to_string(e).unwrap_or_default();
    s.push('\n');
    s
}

/// The entries by path, as read from the manifest and the run logs (a later
/// line for the same path wins), and the damaged lines in words.
#[derive(Debug, Default)]
pub struct Manifest {
    /// By path.
    pub entries: BTreeMap<String, Entry>,
    /// `<object>:<line>: <what is wrong>`.
    pub problems: Vec<String>,
}

impl Manifest {
    /// Adds the lines of one object (`origin` names it in problems).
    pub fn add_text(&mut self, origin: &str, text: &str) {
        for (n, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            match parse_line(line) {
                Ok(e) => {
                    self.entries.insert(e.path.clone(), e);
                }
                Err(why) => self.problems.push(format!("{origin}:{}: {why}", n + 1)),
            }
        }
    }

    /// The compacted manifest's text, sorted by path.
    pub fn to_text(&self) -> String {
        self.entries.values().map(to_line).collect()
    }

    /// `BLAKE3SUMS` for these entries, through the one b3sum-format writer.
    pub fn sums_text(&self) -> String {
        self.entries
            .values()
            .map(|e| crate::archive::sums::format_line(&e.blake3, &e.path))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str) -> Entry {
        Entry {
            path: path.into(),
            blake3: "a".repeat(64),
            size: 3,
            capture_time: None,
            capture_offset: None,
            kind: None,
            role: None,
            original_name: "x".into(),
            source: "folder:/x".into(),
            source_path: "x".into(),
            source_size: Some(3),
            source_mtime_ns: Some(1),
            run: "r".into(),
            added_at: "t".into(),
        }
    }

    #[test]
    fn round_trips_and_refuses_bad_lines() {
        let good = to_line(&entry("2020/01/A.JPG"));
        assert_eq!(parse_line(good.trim_end()).unwrap(), entry("2020/01/A.JPG"));
        for bad in ["../x", "/etc/passwd", ".camroll/lock", "BLAKE3SUMS", "a//b"] {
            assert!(
                parse_line(to_line(&entry(bad)).trim_end()).is_err(),
                "{bad}"
            );
        }
        let mut e = entry("a");
        e.blake3 = "A".repeat(64);
        assert!(parse_line(to_line(&e).trim_end()).is_err());
        assert!(parse_line(&"x".repeat(MAX_LINE + 1)).is_err());
        let mut m = Manifest::default();
        m.add_text("m", &format!("{good}garbage\n"));
        assert_eq!(m.entries.len(), 1);
        assert_eq!(
            m.problems,
            vec!["m:2: not a manifest line: expected value at line 1 column 1"]
        );
        assert_eq!(
            m.sums_text(),
            format!("{}  2020/01/A.JPG\n", "a".repeat(64))
        );
    }
}
