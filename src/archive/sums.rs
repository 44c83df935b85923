//! `ARCHIVE/BLAKE3SUMS`: every archived file as `<hash>  <path>`, in b3sum's
//! exact check-file format, so `cd ARCHIVE && b3sum --check BLAKE3SUMS`
//! verifies the archive without camroll.
//!
//! Format (b3sum's, see its `what_does_check_do.md`): one line per file,
//! 64 lowercase hex digits, two spaces, the path relative to the archive with
//! `/` separators, `\n`. A path containing `\` or a newline is escaped
//! (`\` → `\\`, newline → `\n`, carriage return → `\r`) and its line starts
//! with a single `\`. Lines are sorted by path so the file diffs well.
//! camroll's own names never contain control characters (see `layout`), so
//! escaping only ever applies to `\`.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use thiserror::Error;

/// File name of the check-file at the archive root.
pub const SUMS_FILE: &str = "BLAKE3SUMS";
/// The temporary check-file in `.camroll/`, renamed over [`SUMS_FILE`].
pub const TMP_FILE: &str = "BLAKE3SUMS.tmp";

/// Why `BLAKE3SUMS` could not be written.
#[derive(Debug, Error)]
pub enum SumsError {
    /// Writing, syncing or renaming the file failed.
    #[error("{path}: cannot write: {source}. Check the archive disk is mounted and writable")]
    Write {
        /// The file being written.
        path: PathBuf,
        /// What the OS reported.
        source: std::io::Error,
    },
}

/// One check-file line for `path` (relative, `/`-separated).
pub fn format_line(hash_hex: &str, path: &str) -> String {
    if path.contains(['\\', '\n', '\r']) {
        let escaped = path
            .replace('\\', "\\\\")
            .replace('\n', "\\n")
            .replace('\r', "\\r");
        format!("\\{hash_hex}  {escaped}\n")
    } else {
        format!("{hash_hex}  {path}\n")
    }
}

/// Parses one line (without its trailing newline) into (hash, path).
pub fn parse_line(line: &str) -> Result<(String, String), &'static str> {
    let (escaped, rest) = match line.strip_prefix('\\') {
        Some(r) => (true, r),
        None => (false, line),
    };
    let hash = rest.get(..64).ok_or("too short")?;
    if !hash
        .bytes()
        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    {
        return Err("hash is not 64 lowercase hex digits");
    }
    let path = rest[64..]
        .strip_prefix("  ")
        .ok_or("no two spaces after the hash")?;
    if path.is_empty() {
        return Err("empty path");
    }
    if !escaped {
        crate::archive::layout::checked_rel_path(path).map_err(|e| e.why)?;
        return Ok((hash.to_string(), path.to_string()));
    }
    let mut out = String::with_capacity(path.len());
    let mut chars = path.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            _ => return Err("bad escape"),
        }
    }
    crate::archive::layout::checked_rel_path(&out).map_err(|e| e.why)?;
    Ok((hash.to_string(), out))
}

/// Rewrites the check-file atomically (temp file, fsync, rename, fsync dir).
/// The entries are written sorted by path.
pub fn write(root: &Path, mut entries: Vec<SumsEntry>) -> Result<(), SumsError> {
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    let path = root.join(SUMS_FILE);
    let err = |source| SumsError::Write {
        path: path.clone(),
        source,
    };
    // The temporary file and the rename go through folder handles opened
    // without following links (see `contain`).
    let root_dir = super::contain::open_root(root).map_err(err)?;
    let camroll = super::contain::open_dir(root, super::CAMROLL_DIR, false).map_err(err)?;
    let tmp_path = root.join(super::CAMROLL_DIR).join(TMP_FILE);
    let file = super::contain::open_file_in(&camroll, TMP_FILE, true, &tmp_path).map_err(err)?;
    let mut w = BufWriter::new(file);
    for (i, e) in entries.iter().enumerate() {
        w.write_all(format_line(&e.hash, &e.path).as_bytes())
            .map_err(err)?;
        if i == entries.len() / 2 {
            // Crash-matrix hook: a run killed here leaves a half-written temp file.
            let _ = w.flush();
            crate::faults::point("sums-write");
        }
    }
    let file = w.into_inner().map_err(|e| err(e.into_error()))?;
    file.sync_all().map_err(err)?;
    super::contain::rename_in(&camroll, TMP_FILE, &root_dir, SUMS_FILE, true).map_err(err)?;
    root_dir.sync_all().map_err(err)?;
    Ok(())
}

/// What [`read`] found: the whole lines, and the damaged ones in words.
#[derive(Debug, Default)]
pub struct SumsRead {
    /// Every line that parsed, in file order.
    pub entries: Vec<SumsEntry>,
    /// One sentence per damaged line (`line 7 is damaged (…)`).
    pub damaged: Vec<String>,
}

/// One check-file line: a file's hash and its path in the archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SumsEntry {
    /// 64 lower-case hex digits.
    pub hash: String,
    /// Relative to the archive, `/`-separated.
    pub path: String,
}

/// The longest line [`read`] accepts: a hash, two spaces and a path of
/// PATH_MAX (4096) bytes, every byte escaped. A longer line is damage, and is
/// skipped without being held in memory.
pub const MAX_LINE: usize = 1 + 64 + 2 + 2 * 4096 + 1;

/// Reads the check-file line by line, so one damaged line (a cut-short file)
/// does not hide the others. A line whose path could leave the archive
/// (`..`, absolute, NUL: see `layout::checked_rel_path`) is reported damaged
/// and never returned. Fails only when the file cannot be read at all.
pub fn read(root: &Path) -> std::io::Result<SumsRead> {
    let file = File::open(root.join(SUMS_FILE))?;
    let mut reader = BufReader::new(file);
    let mut out = SumsRead::default();
    let mut line = Vec::new();
    let mut n = 0;
    loop {
        line.clear();
        if (&mut reader)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut line)?
            == 0
        {
            break;
        }
        n += 1;
        if line.len() > MAX_LINE {
            // Skip the rest of the over-long line in bounded steps.
            loop {
                line.clear();
                let got = (&mut reader).take(64 * 1024).read_until(b'\n', &mut line)?;
                if got == 0 || line.last() == Some(&b'\n') {
                    break;
                }
            }
            out.damaged.push(format!(
                "line {n} is damaged (longer than {MAX_LINE} bytes)"
            ));
            continue;
        }
        let complete = line.last() == Some(&b'\n');
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches('\n');
        if text.is_empty() {
            continue;
        }
        if !complete {
            out.damaged.push(format!(
                "line {n} has no line end: the file was cut short, lines after it are lost"
            ));
        }
        match parse_line(text) {
            Ok((hash, path)) if complete => out.entries.push(SumsEntry { hash, path }),
            Ok(_) => {}
            Err(why) => out.damaged.push(format!("line {n} is damaged ({why})")),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: &str = "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262";

    // ===== Success cases =====
    #[test]
    fn plain_paths_are_written_as_b3sum_does() {
        assert_eq!(
            format_line(H, "2023/01/IMG_0001.JPG"),
            format!("{H}  2023/01/IMG_0001.JPG\n")
        );
    }

    #[test]
    fn backslashes_and_newlines_are_escaped_with_a_leading_backslash() {
        let line = format_line(H, "2023/01/a\\b\nc.jpg");
        assert_eq!(line, format!("\\{H}  2023/01/a\\\\b\\nc.jpg\n"));
        assert_eq!(
            parse_line(line.trim_end_matches('\n')).unwrap(),
            (H.to_string(), "2023/01/a\\b\nc.jpg".to_string())
        );
    }

    #[test]
    fn spaces_in_names_survive_a_round_trip() {
        let line = format_line(H, "2019/05/Screenshot 2019-05-21 at 10.45.52.png");
        assert_eq!(
            parse_line(line.trim_end()).unwrap().1,
            "2019/05/Screenshot 2019-05-21 at 10.45.52.png"
        );
    }

    // ===== Failure cases =====
    #[test]
    fn lines_whose_path_leaves_the_archive_are_damaged() {
        for p in [
            "../victim.txt",
            "2023/../../x",
            "/tmp/victim",
            "a//b",
            "./a",
        ] {
            assert!(parse_line(&format!("{H}  {p}")).is_err(), "{p}");
        }
        // Escaped lines are checked after unescaping.
        assert!(parse_line(&format!("\\{H}  ../a\\nb")).is_err());
        let d = tempfile::tempdir().unwrap();
        let long = "x".repeat(MAX_LINE + 10);
        std::fs::write(
            d.path().join(SUMS_FILE),
            format!("{H}  ../../victim.txt\n{H}  /etc/passwd\n{H}  {long}\n{H}  2023/01/a.jpg\n"),
        )
        .unwrap();
        let read = read(d.path()).unwrap();
        assert_eq!(read.entries.len(), 1, "{:?}", read.entries);
        assert_eq!(read.entries[0].path, "2023/01/a.jpg");
        assert_eq!(read.damaged.len(), 3, "{:?}", read.damaged);
        assert!(
            read.damaged[2].contains("longer than"),
            "{:?}",
            read.damaged
        );
    }

    #[test]
    fn damaged_lines_are_rejected() {
        assert!(parse_line("abc  x").is_err());
        assert!(parse_line(&format!("{H} x")).is_err());
        assert!(parse_line(&format!("{}  x", H.to_uppercase())).is_err());
        assert!(parse_line(&format!("\\{H}  a\\qb")).is_err());
    }

    #[test]
    fn a_cut_short_blake3sums_keeps_its_whole_lines_and_names_the_damage() {
        let d = tempfile::tempdir().unwrap();
        let h = "a".repeat(64);
        let text = format!("{h}  2020/01/a.jpg\n{h}  2020/01/b.jpg\n{h}  2020/0");
        std::fs::write(d.path().join(SUMS_FILE), text).unwrap();
        let read = read(d.path()).unwrap();
        assert_eq!(read.entries.len(), 2);
        assert_eq!(read.damaged.len(), 1);
        assert!(read.damaged[0].contains("line 3"), "{:?}", read.damaged);
    }
}
