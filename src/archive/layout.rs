//! Where a file goes in the archive: `YYYY/MM/<original file name>`, made
//! safe for every filesystem an archive may live on, with a deterministic
//! `~N` suffix when a different file already has the name.

use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::path::Path;

use thiserror::Error;
use unicode_normalization::UnicodeNormalization;

/// A relative path read from disk or the wire (a catalog row, a BLAKE3SUMS
/// line, a source record, a name from the phone) that camroll refuses to act
/// on, because joined to a folder it could name something outside it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{path:?} is not a path inside the archive ({why}): camroll never acts on it. Remove or correct the entry")]
pub struct BadPath {
    /// The path as read (control characters escaped when printed).
    pub path: String,
    /// What is wrong with it.
    pub why: &'static str,
}

/// The one check every relative path read from disk or the wire passes before
/// it is joined to a folder: non-empty, relative, `/`-separated components
/// none of which is empty, `.` or `..`, and no NUL byte. Returns the path.
pub fn checked_rel_path(path: &str) -> Result<&str, BadPath> {
    let bad = |why| {
        Err(BadPath {
            path: path.to_string(),
            why,
        })
    };
    if path.is_empty() {
        return bad("empty");
    }
    if path.contains('\0') {
        return bad("contains a NUL byte");
    }
    if path.starts_with('/') {
        return bad("absolute");
    }
    for c in path.split('/') {
        match c {
            "" => return bad("has an empty component"),
            "." => return bad("has a `.` component"),
            ".." => return bad("climbs out with `..`"),
            _ => {}
        }
    }
    Ok(path)
}

/// The longest file name (in bytes) that every common filesystem accepts.
const MAX_NAME_BYTES: usize = 255;

/// Makes a source file name safe for any archive filesystem (ext4, APFS,
/// exFAT, FAT32, NTFS) while keeping it recognisable. Deterministic, so every
/// destination gets the same name.
///
/// - bytes that are not UTF-8 become `%XX`;
/// - `/ \ : * ? " < > |`, NUL and control characters become `_`;
/// - leading/trailing spaces and dots are trimmed (Windows drops them);
/// - `.`/`..`/empty become `_`; Windows device names (`CON`, `COM1`…) get a `_` prefix;
/// - over 255 bytes, the stem is shortened (on a character boundary), keeping the extension.
pub fn safe_file_name(raw: &OsStr) -> String {
    let text = os_to_text(raw);
    let mut name: String = text
        .chars()
        .map(|c| {
            if c.is_control() || "/\\:*?\"<>|".contains(c) {
                '_'
            } else {
                c
            }
        })
        .collect();
    name = name.trim_matches(|c| c == ' ' || c == '.').to_string();
    if name.is_empty() {
        name = "_".into();
    }
    let stem_upper = name
        .split('.')
        .next()
        .unwrap_or("")
        .trim_end()
        .to_ascii_uppercase();
    const RESERVED: &[&str] = &["CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"];
    let numbered = (stem_upper.starts_with("COM") || stem_upper.starts_with("LPT"))
        && stem_upper.len() == 4
        && stem_upper.as_bytes()[3].is_ascii_digit();
    if RESERVED.contains(&stem_upper.as_str()) || numbered {
        name.insert(0, '_');
    }
    if name.len() > MAX_NAME_BYTES {
        let (stem, ext) = split_short_ext(&name);
        name = format!("{}{}", cut_stem(stem, MAX_NAME_BYTES - ext.len()), ext);
    }
    name
}

/// Longest "extension" kept when a name is shortened: beyond this the text
/// after the last dot is not an extension (`,.%91%91…`) and shortening must
/// cut it too, or the name could stay over 255 bytes (found by fuzzing).
const MAX_EXT_BYTES: usize = 32;

/// [`split_ext`], but a long tail is part of the stem.
fn split_short_ext(name: &str) -> (&str, &str) {
    match split_ext(name) {
        (stem, ext) if ext.len() <= MAX_EXT_BYTES => (stem, ext),
        _ => (name, ""),
    }
}

/// `stem` cut to at most `max` bytes on a character boundary, without the
/// trailing spaces and dots Windows would drop; never empty.
fn cut_stem(stem: &str, max: usize) -> &str {
    let mut cut = max.min(stem.len());
    while !stem.is_char_boundary(cut) {
        cut -= 1;
    }
    let s = stem[..cut].trim_end_matches([' ', '.']);
    if s.is_empty() {
        "_"
    } else {
        s
    }
}

/// A name as text: UTF-8 as is, other bytes as `%XX`.
pub fn os_to_text(raw: &OsStr) -> String {
    if let Some(s) = raw.to_str() {
        return s.to_string();
    }
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let bytes = raw.as_bytes();
        let mut out = String::new();
        let mut rest = bytes;
        while !rest.is_empty() {
            match std::str::from_utf8(rest) {
                Ok(s) => {
                    out.push_str(s);
                    break;
                }
                Err(e) => {
                    let (good, bad) = rest.split_at(e.valid_up_to());
                    out.push_str(std::str::from_utf8(good).unwrap_or_default());
                    let n = e.error_len().unwrap_or(bad.len()).max(1);
                    for b in &bad[..n] {
                        out.push_str(&format!("%{b:02X}"));
                    }
                    rest = &bad[n..];
                }
            }
        }
        out
    }
    #[cfg(not(unix))]
    {
        raw.to_string_lossy().into_owned()
    }
}

/// A name as a record key that tells every name apart: [`os_to_text`], but
/// a `%` followed by two hex digits in the name itself becomes `%25`, so a
/// byte `\xFF` (`%FF`) and a literal `%FF` (`%25FF`) in one folder never get
/// the same source record. Names without such a `%` are unchanged.
pub fn os_to_key(raw: &OsStr) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let bytes = raw.as_bytes();
        let mut out = String::with_capacity(bytes.len());
        let mut rest = bytes;
        let hex = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_hexdigit());
        while !rest.is_empty() {
            let (good, bad) = match std::str::from_utf8(rest) {
                Ok(s) => (s, &[][..]),
                Err(e) => {
                    let (g, b) = rest.split_at(e.valid_up_to());
                    (std::str::from_utf8(g).unwrap_or_default(), b)
                }
            };
            for (i, c) in good.char_indices() {
                // The two bytes after a `%` may lie in the invalid part: look at the original.
                let after = &rest[i + 1..];
                if c == '%' && hex(after.first()) && hex(after.get(1)) {
                    out.push_str("%25");
                } else {
                    out.push(c);
                }
            }
            if bad.is_empty() {
                break;
            }
            out.push_str(&format!("%{:02X}", bad[0]));
            rest = &bad[1..];
        }
        out
    }
    #[cfg(not(unix))]
    {
        os_to_text(raw).replace('%', "%25")
    }
}

/// `p` relative to `root` as a source record key (see [`os_to_key`]).
pub fn rel_key(root: &Path, p: &Path) -> String {
    let r = p.strip_prefix(root).unwrap_or(p);
    r.components()
        .map(|c| os_to_key(c.as_os_str()))
        .collect::<Vec<_>>()
        .join("/")
}

/// `p` relative to `root`, `/`-separated, non-UTF-8 bytes as `%XX`.
pub fn rel_text(root: &Path, p: &Path) -> String {
    let r = p.strip_prefix(root).unwrap_or(p);
    r.components()
        .map(|c| os_to_text(c.as_os_str()))
        .collect::<Vec<_>>()
        .join("/")
}

/// (`IMG_0001`, `.JPG`); a name without a dot (or only a leading one) has no extension.
pub fn split_ext(name: &str) -> (&str, &str) {
    match name.rfind('.') {
        Some(i) if i > 0 => (&name[..i], &name[i..]),
        _ => (name, ""),
    }
}

/// The name with the collision suffix `~k` (k ≥ 2) before the extension.
pub fn with_suffix(name: &str, k: u32) -> String {
    if k <= 1 {
        return name.to_string();
    }
    let (stem, ext) = split_short_ext(name);
    let suffix = format!("~{k}");
    // A name already at the 255-byte limit must stay under it with the
    // suffix: shorten the stem (on a character boundary) to make room.
    if stem.len() + suffix.len() + ext.len() <= MAX_NAME_BYTES {
        return format!("{stem}{suffix}{ext}");
    }
    let room = MAX_NAME_BYTES - suffix.len() - ext.len();
    format!("{}{suffix}{ext}", cut_stem(stem, room.max(1)))
}

/// The key two names collide on: case-insensitive and Unicode-normalised,
/// because exFAT, APFS and NTFS treat `IMG_0001.JPG` and `img_0001.jpg` (and
/// NFC/NFD spellings) as one name. Applied on every destination so archives
/// stay copyable to any of them.
pub fn fold(name: &str) -> String {
    name.nfc().collect::<String>().to_lowercase()
}

/// Tracks which names are taken in each archive folder (by the catalog, by
/// files on disk, and by this run's plan) and hands out free ones.
#[derive(Debug, Default)]
pub struct NamePlanner {
    /// folder → folded name → the actual name and whether the catalog lists it.
    folders: HashMap<String, HashMap<String, Taken>>,
    /// Folders whose on-disk names have been read.
    loaded: HashSet<String>,
}

/// A name in use in an archive folder.
#[derive(Debug, Clone)]
struct Taken {
    /// The name as it is on disk (or planned), before case and Unicode folding.
    pub name: String,
    /// Listed in the catalog (else: found on disk only, or planned this run).
    pub listed: bool,
}

/// One file of a group to be named in an archive folder.
#[derive(Debug, Clone)]
pub struct NameRequest {
    /// The archive folder (`YYYY/MM`).
    pub folder: String,
    /// The name wanted when it is free.
    pub first: String,
    /// The name the collision rule suffixes (`first` without a `~k` it may carry).
    pub base: String,
}

impl NameRequest {
    /// A request for `name` in `folder`, suffixed as it is when taken.
    pub fn new(folder: &str, name: &str) -> NameRequest {
        NameRequest {
            folder: folder.to_string(),
            first: name.to_string(),
            base: name.to_string(),
        }
    }
}

/// The name [`NamePlanner::allocate`] chose for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameChoice {
    /// The file name in the folder.
    pub name: String,
    /// A file on disk that no record lists already holds this content under
    /// this name: record it instead of placing a copy.
    pub adopt: bool,
}

/// `IMG_0001~2.JPG` → `IMG_0001.JPG`: the name before the collision rule.
pub fn strip_suffix(name: &str) -> String {
    let (stem, ext) = split_ext(name);
    match stem.rsplit_once('~') {
        Some((base, n)) if !base.is_empty() && n.parse::<u32>().is_ok_and(|k| k >= 2) => {
            format!("{base}{ext}")
        }
        _ => name.to_string(),
    }
}

/// What to do with one name candidate.
enum Candidate<'a> {
    /// No file has this name (case- and Unicode-insensitively).
    Free,
    /// Taken by a file on disk that the catalog does not list: it may be this
    /// very file, left by a run that was killed between rename and record.
    Unlisted(&'a str),
    /// A catalogued file, or one planned this run, has this name.
    Taken,
}

impl NamePlanner {
    /// Registers a catalogued path (`YYYY/MM/name`).
    pub fn add_listed(&mut self, path: &str) {
        let (folder, name) = path.rsplit_once('/').unwrap_or(("", path));
        self.folders.entry(folder.to_string()).or_default().insert(
            fold(name),
            Taken {
                name: name.to_string(),
                listed: true,
            },
        );
    }

    /// Loads a folder's on-disk names the first time it is planned into.
    pub fn load_folder(&mut self, root: &Path, folder: &str) {
        if !self.loaded.insert(folder.to_string()) {
            return;
        }
        let entry = self.folders.entry(folder.to_string()).or_default();
        if let Ok(rd) = std::fs::read_dir(root.join(folder)) {
            for e in rd.flatten() {
                let name = os_to_text(&e.file_name());
                entry.entry(fold(&name)).or_insert(Taken {
                    name,
                    listed: false,
                });
            }
        }
    }

    /// Whether `name` is free in `folder`, compared as the file system would (case- and Unicode-insensitively).
    fn check(&self, folder: &str, name: &str) -> Candidate<'_> {
        match self.folders.get(folder).and_then(|f| f.get(&fold(name))) {
            None => Candidate::Free,
            Some(t) if !t.listed => Candidate::Unlisted(&t.name),
            Some(_) => Candidate::Taken,
        }
    }

    /// Marks a name as used (placed or adopted in this run).
    pub fn take(&mut self, folder: &str, name: &str) {
        self.folders.entry(folder.to_string()).or_default().insert(
            fold(name),
            Taken {
                name: name.to_string(),
                listed: true,
            },
        );
    }

    /// Chooses names for a group of files (a still with its Live Photo movie
    /// and sidecars) so the group keeps one stem: every `first` name when all
    /// are free, else the collision rule on the `base` names, `NAME~k.EXT`
    /// with the same k ≥ 2 for the whole group. A name held by a file on disk
    /// that no record lists is taken over (`adopt`) when `same_file` says it
    /// holds this very content (a killed run's work). The chosen names are
    /// reserved. Members whose names fold to one name (`a.JPG`, `A.jpg`) can
    /// never share a suffix, so each of those is named on its own afterwards;
    /// that is what bounds the search.
    pub fn allocate(
        &mut self,
        root: &Path,
        batch: &[NameRequest],
        mut same_file: impl FnMut(usize, &Path) -> bool,
    ) -> Vec<NameChoice> {
        let mut seen = HashSet::new();
        let (shared, alone): (Vec<usize>, Vec<usize>) = (0..batch.len())
            .partition(|&i| seen.insert((batch[i].folder.as_str(), fold(&batch[i].base))));
        let mut out: Vec<Option<NameChoice>> = (0..batch.len()).map(|_| None).collect();
        for part in std::iter::once(shared).chain(alone.into_iter().map(|i| vec![i])) {
            if part.is_empty() {
                continue;
            }
            for &i in &part {
                self.load_folder(root, &batch[i].folder);
            }
            let chosen = self.allocate_part(root, batch, &part, &mut same_file);
            for (&i, c) in part.iter().zip(chosen) {
                self.take(&batch[i].folder, &c.name);
                out[i] = Some(c);
            }
        }
        out.into_iter().flatten().collect()
    }

    /// One suffix for every member of `part` (whose base names never fold together).
    fn allocate_part(
        &self,
        root: &Path,
        batch: &[NameRequest],
        part: &[usize],
        same_file: &mut impl FnMut(usize, &Path) -> bool,
    ) -> Vec<NameChoice> {
        let mut k = 1u32;
        'next: loop {
            let mut chosen = Vec::with_capacity(part.len());
            let mut in_group = HashSet::new();
            for &i in part {
                let r = &batch[i];
                let name = if k == 1 {
                    r.first.clone()
                } else {
                    with_suffix(&r.base, k)
                };
                if !in_group.insert((r.folder.as_str(), fold(&name))) {
                    k += 1;
                    continue 'next;
                }
                let adopt = match self.check(&r.folder, &name) {
                    Candidate::Free => false,
                    Candidate::Unlisted(on_disk)
                        if on_disk == name && same_file(i, &root.join(&r.folder).join(on_disk)) =>
                    {
                        true
                    }
                    Candidate::Unlisted(_) | Candidate::Taken => {
                        k += 1;
                        continue 'next;
                    }
                };
                chosen.push(NameChoice { name, adopt });
            }
            return chosen;
        }
    }

    /// Forgets a name (a placed file that failed verification was removed).
    pub fn release(&mut self, folder: &str, name: &str) {
        if let Some(f) = self.folders.get_mut(folder) {
            f.remove(&fold(name));
        }
    }
}

/// Folds the names of a set so a group's members never collide with each other.
pub fn distinct_folded(names: &[String]) -> bool {
    let mut seen = HashSet::new();
    names.iter().all(|n| seen.insert(fold(n)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_contained_relative_paths_pass_the_check() {
        for ok in [
            "2023/01/IMG_0001.JPG",
            "a",
            "a/b..c/.hidden",
            "x/...",
            "2023/01/a b.jpg",
        ] {
            assert_eq!(checked_rel_path(ok), Ok(ok), "{ok}");
        }
        for (bad, why) in [
            ("", "empty"),
            ("../x.jpg", "`..`"),
            ("2023/../../x", "`..`"),
            ("2023/01/..", "`..`"),
            ("/tmp/x", "absolute"),
            ("a//b", "empty component"),
            ("a/b/", "empty component"),
            ("./a", "`.`"),
            ("a/./b", "`.`"),
            ("a\0b", "NUL"),
        ] {
            let e = checked_rel_path(bad).unwrap_err();
            assert!(e.why.contains(why), "{bad:?}: {e}");
        }
    }

    #[test]
    fn ordinary_names_are_kept() {
        assert_eq!(safe_file_name(OsStr::new("IMG_0001.HEIC")), "IMG_0001.HEIC");
        assert_eq!(
            safe_file_name(OsStr::new("Screenshot 2019-05-21 at 10.45.52.png")),
            "Screenshot 2019-05-21 at 10.45.52.png"
        );
    }

    #[test]
    fn hostile_names_are_made_safe_and_recognisable() {
        assert_eq!(safe_file_name(OsStr::new("a:b*c?.jpg")), "a_b_c_.jpg");
        assert_eq!(safe_file_name(OsStr::new("..")), "_");
        assert_eq!(safe_file_name(OsStr::new(" photo.jpg. ")), "photo.jpg");
        assert_eq!(safe_file_name(OsStr::new("CON.jpg")), "_CON.jpg");
        assert_eq!(safe_file_name(OsStr::new("com1")), "_com1");
        assert_eq!(safe_file_name(OsStr::new("a\nb.jpg")), "a_b.jpg");
        let long = format!("{}.JPG", "é".repeat(200));
        let safe = safe_file_name(OsStr::new(&long));
        assert!(safe.len() <= 255 && safe.ends_with(".JPG"));
    }

    #[cfg(unix)]
    #[test]
    fn non_utf8_bytes_become_percent_escapes() {
        use std::os::unix::ffi::OsStrExt;
        assert_eq!(
            safe_file_name(OsStr::from_bytes(b"IMG_\xff01.JPG")),
            "IMG_%FF01.JPG"
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_raw_byte_and_a_literal_percent_escape_get_distinct_keys() {
        use std::os::unix::ffi::OsStrExt;
        let raw = os_to_key(OsStr::from_bytes(b"IMG_\xff.JPG"));
        let literal = os_to_key(OsStr::new("IMG_%FF.JPG"));
        assert_eq!(raw, "IMG_%FF.JPG");
        assert_eq!(literal, "IMG_%25FF.JPG");
        assert_eq!(os_to_key(OsStr::new("100%.jpg")), "100%.jpg");
        assert_eq!(os_to_key(OsStr::new("IMG_0001.JPG")), "IMG_0001.JPG");
        // `%` then hex that is itself an escape, and `%` then a raw byte.
        assert_eq!(os_to_key(OsStr::from_bytes(b"%\xff")), "%%FF");
        assert_eq!(os_to_key(OsStr::from_bytes(b"%2\xff")), "%2%FF");
        assert_ne!(
            os_to_key(OsStr::from_bytes(b"a%25")),
            os_to_key(OsStr::from_bytes(b"a%"))
        );
    }

    #[test]
    fn a_suffixed_name_stays_within_255_bytes() {
        let long = format!("{}.JPG", "x".repeat(251));
        let s = with_suffix(&long, 2);
        assert_eq!(s.len(), 255);
        assert!(s.ends_with("x~2.JPG"));
        let wide = format!("{}.JPG", "\u{e9}".repeat(125));
        let s = with_suffix(&wide, 10);
        assert!(s.len() <= 255 && s.ends_with("\u{e9}~10.JPG"), "{s}");
    }

    #[test]
    fn a_long_tail_after_the_last_dot_is_cut_too() {
        // Found by fuzzing: `,.<250 bytes>` kept its "extension" whole.
        let raw = format!(",.{}__", "%AC".repeat(90));
        let s = with_suffix(&safe_file_name(OsStr::new(&raw)), 4_000_000_000);
        assert!(s.len() <= 255, "{} bytes", s.len());
        let long = format!("a.{}", "b".repeat(400));
        let s = safe_file_name(OsStr::new(&long));
        assert!(s.len() <= 255 && !s.ends_with('.'), "{s}");
        assert_eq!(safe_file_name(OsStr::new(&s)), s);
    }

    #[test]
    fn suffix_goes_before_the_extension() {
        assert_eq!(with_suffix("IMG_0001.JPG", 2), "IMG_0001~2.JPG");
        assert_eq!(with_suffix("IMG_0001.JPG", 1), "IMG_0001.JPG");
        assert_eq!(with_suffix("README", 3), "README~3");
    }

    #[test]
    fn names_collide_regardless_of_case_and_normalisation() {
        let mut p = NamePlanner::default();
        p.add_listed("2023/01/IMG_0001.JPG");
        assert!(matches!(
            p.check("2023/01", "img_0001.jpg"),
            Candidate::Taken
        ));
        p.add_listed("2023/01/Caf\u{e9}.jpg");
        assert!(matches!(
            p.check("2023/01", "Cafe\u{301}.JPG"),
            Candidate::Taken
        ));
        assert!(matches!(
            p.check("2023/02", "IMG_0001.JPG"),
            Candidate::Free
        ));
    }

    #[test]
    fn a_group_keeps_one_suffix_and_a_clash_inside_it_still_ends() {
        let dir = tempfile::tempdir().unwrap();
        let mut p = NamePlanner::default();
        p.add_listed("2023/01/IMG_0001.HEIC");
        let batch = [
            NameRequest::new("2023/01", "IMG_0001.HEIC"),
            NameRequest::new("2023/01", "IMG_0001.MOV"),
            // Folds to the movie's name: it is named on its own.
            NameRequest::new("2023/01", "img_0001.mov"),
        ];
        let names: Vec<String> = p
            .allocate(dir.path(), &batch, |_, _| false)
            .into_iter()
            .map(|c| c.name)
            .collect();
        assert_eq!(names, ["IMG_0001~2.HEIC", "IMG_0001~2.MOV", "img_0001.mov"]);
    }

    #[test]
    fn collision_suffixes_are_stripped_back_to_the_original_name() {
        assert_eq!(strip_suffix("IMG_0001~2.JPG"), "IMG_0001.JPG");
        assert_eq!(strip_suffix("IMG_0001~13.HEIC"), "IMG_0001.HEIC");
        assert_eq!(strip_suffix("IMG~x.JPG"), "IMG~x.JPG");
        assert_eq!(strip_suffix("~2.JPG"), "~2.JPG");
    }
}
