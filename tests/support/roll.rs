//! Camera rolls on disk and the archives camroll makes of them: a fixture
//! folder for export tests, a standard roll with every kind camroll archives,
//! and readers for what an archive holds.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use camroll_sim::synth::{self, AaeSpec, PngSpec, StillSpec, VideoSpec};
use chrono::{NaiveDateTime, TimeZone};

use super::media::*;
use super::run::*;
use super::tools::tool;

/// A temp folder holding a source (`src/`) and the archives written beside it.
/// Each export still runs the real binary.
pub struct Roll {
    dir: tempfile::TempDir,
    /// The source folder exports read (`<tmp>/src`).
    pub src: PathBuf,
}

impl Roll {
    pub fn new() -> Roll {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        Roll { dir, src }
    }

    /// The temp folder's root.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `<tmp>/<name>`: an archive (or any other folder) beside the source.
    pub fn at(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes `bytes` at `rel` under the source; returns its path.
    pub fn file(&self, rel: impl AsRef<Path>, bytes: &[u8]) -> PathBuf {
        write(&self.src.join(rel), bytes)
    }

    /// An iPhone JPEG at `rel` under the source (see [`iphone_jpeg`]).
    pub fn photo(
        &self,
        rel: impl AsRef<Path>,
        seed: u64,
        taken: NaiveDateTime,
        offset_h: i32,
    ) -> PathBuf {
        self.file(rel, &iphone_jpeg(seed, taken, offset_h))
    }

    /// An iPhone movie at `rel` under the source (see [`iphone_mov`]).
    pub fn movie(
        &self,
        rel: impl AsRef<Path>,
        seed: u64,
        taken: NaiveDateTime,
        offset_h: i32,
    ) -> PathBuf {
        self.file(rel, &iphone_mov(seed, taken, offset_h))
    }

    /// `camroll export --json --from <src> --to d… extra…`, parsed.
    pub fn export(&self, dests: &[&Path], extra: &[&str]) -> (i32, serde_json::Value, String) {
        export_json(&self.src, dests, extra)
    }

    /// The same export, not yet run (to set variables or spawn it).
    pub fn export_command(&self, dests: &[&Path]) -> Command {
        export_command(&self.src, dests, &[])
    }
}

/// Writes a camera roll under `src`: a JPEG and a PNG screenshot (July 2023),
/// a Live Photo (HEIC + MOV + AAE) and an MP4 (January 2024), and a
/// `Thumbs.db` camroll leaves alone (known junk). Returns the media files' relative paths.
pub fn roll(src: &Path) -> Vec<&'static str> {
    let d = src.join("DCIM/100APPLE");
    write(
        &d.join("IMG_0001.JPG"),
        &iphone_jpeg(1, dt(2023, 7, 14, 18, 22, 5), 2),
    );
    write(
        &d.join("IMG_0002.HEIC"),
        &synth::heic(&StillSpec::iphone(
            2,
            "iPhone 15",
            dt(2024, 1, 3, 9, 0, 0),
            Some(off(1)),
        )),
    );
    write(
        &d.join("IMG_0002.MOV"),
        &iphone_mov(3, dt(2024, 1, 3, 9, 0, 1), 1),
    );
    write(
        &d.join("IMG_0002.AAE"),
        &synth::aae(&AaeSpec::new(
            4,
            chrono::Utc.with_ymd_and_hms(2024, 1, 4, 10, 0, 0).unwrap(),
        )),
    );
    write(
        &d.join("IMG_0003.PNG"),
        &synth::png(&PngSpec {
            xmp_date: Some(off(2).with_ymd_and_hms(2023, 7, 20, 12, 0, 0).unwrap()),
            ..PngSpec::bare(5)
        }),
    );
    let t = off(1).with_ymd_and_hms(2024, 1, 5, 8, 0, 0).unwrap();
    write(
        &d.join("IMG_0004.MP4"),
        &synth::mp4(&VideoSpec::iphone(6, "iPhone 15", t)),
    );
    // Known junk (source::known_junk): left behind, and the exit status stays 0.
    write(&d.join("Thumbs.db"), b"not a photo");
    vec![
        "DCIM/100APPLE/IMG_0001.JPG",
        "DCIM/100APPLE/IMG_0002.AAE",
        "DCIM/100APPLE/IMG_0002.HEIC",
        "DCIM/100APPLE/IMG_0002.MOV",
        "DCIM/100APPLE/IMG_0003.PNG",
        "DCIM/100APPLE/IMG_0004.MP4",
    ]
}

/// The roll exported (and verified) into each archive; returns the archives' archived paths.
pub fn exported(src: &Path, archives: &[&Path]) -> Vec<String> {
    let (code, json, stderr) = export_json(src, archives, &[]);
    assert_eq!(code, 0, "{json}\n{stderr}");
    archived_files(archives[0])
}

/// Every regular file under `root` except camroll's own, as sorted relative paths.
pub fn archived_files(root: &Path) -> Vec<String> {
    let mut v: Vec<String> = walkdir::WalkDir::new(root)
        .into_iter()
        .filter_entry(|e| e.file_name() != ".camroll")
        .flatten()
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            e.path()
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/")
        })
        .filter(|p| p != "BLAKE3SUMS")
        .collect();
    v.sort();
    v
}

/// The hashes BLAKE3SUMS lists.
pub fn hashes_in(archive: &Path) -> HashSet<String> {
    std::fs::read_to_string(archive.join("BLAKE3SUMS"))
        .unwrap()
        .lines()
        .map(|l| l[..64].to_string())
        .collect()
}

/// Lines in an archive's BLAKE3SUMS.
pub fn sums_lines(archive: &Path) -> usize {
    std::fs::read_to_string(archive.join("BLAKE3SUMS"))
        .unwrap()
        .lines()
        .count()
}

/// Files left in an archive's staging folder.
pub fn staged(archive: &Path) -> usize {
    std::fs::read_dir(archive.join(".camroll/staging"))
        .unwrap()
        .count()
}

/// `b3sum --check BLAKE3SUMS` in `archive`, independent of camroll; `None` when skipped.
#[track_caller]
pub fn b3sum_check(archive: &Path) -> Option<Output> {
    let b3sum = tool("b3sum")?;
    Some(
        Command::new(b3sum)
            .args(["--check", "BLAKE3SUMS"])
            .current_dir(archive)
            .output()
            .unwrap(),
    )
}

/// The findings of the first archive of a `verify --json` answer: (kind, path).
pub fn findings(v: &serde_json::Value) -> Vec<(String, String)> {
    pairs(&v["archives"][0]["findings"], "kind", "path")
}

/// Flips one byte in the middle of a file.
pub fn flip_byte(p: &Path) {
    let mut b = std::fs::read(p).unwrap();
    let i = b.len() / 2;
    b[i] ^= 0xFF;
    std::fs::write(p, b).unwrap();
}

/// Cuts a file to `keep` of its length (in per mille).
pub fn truncate(p: &Path, per_mille: u64) {
    let len = std::fs::metadata(p).unwrap().len();
    let f = std::fs::OpenOptions::new().write(true).open(p).unwrap();
    f.set_len(len * per_mille / 1000).unwrap();
}

pub fn catalog_path(a: &Path) -> PathBuf {
    a.join(".camroll/catalog.sqlite")
}
