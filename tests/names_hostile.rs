//! Hostile names, through the folder source and through the simulated iPhone
//! (AFC ReadDir entries and S_IFLNK symlinks): every name maps
//! deterministically to a safe one, the same on every destination, the
//! catalog records the original, and nothing is written outside the archive.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::fs;
use std::os::unix::ffi::OsStringExt;
use std::path::Path;

use camroll::archive::layout::{fold, os_to_key, safe_file_name};
use support::*;

/// Names a camera, a sync tool or a hostile phone could hand over (UTF-8).
fn hostile_utf8() -> Vec<String> {
    let mut v: Vec<String> = [
        "back\\slash.JPG",
        "a:b*c?d\"e<f>g|h.JPG",
        "new\nline.JPG",
        "tab\there\r.JPG",
        "\u{1}ctl\u{7f}.JPG",
        " lead space.JPG",
        "trail space.JPG ",
        "trail dot.JPG.",
        // ("." and ".." cannot be names on disk; dotfiles are hidden and left out.)
        "x...",
        "CON.JPG",
        "nul.jpg",
        "COM1.JPG",
        "lpt9.jpeg",
        "CONIN$.JPG",
        // Collide only once made safe, by case, or by Unicode normalisation.
        "a_b.JPG",
        "a:b.JPG",
        "IMG_0001.JPG",
        "img_0001.jpg",
        "Caf\u{e9}.JPG",
        "Cafe\u{301}.JPG",
        // A literal escape that collides with the escape of a non-UTF-8 byte below.
        "%FF.JPG",
        // Names of the maximum length that then collide (the ~2 suffix must still fit).
        format!("{}.JPG", "x".repeat(251)).leak(),
        format!("{}.JPG", "X".repeat(251)).leak(),
        // 254 bytes of two-byte characters: a cut must fall on a character boundary.
        format!("{}.JPG", "\u{e9}".repeat(125)).leak(),
        format!("{}.JPG", "\u{c9}".repeat(125)).leak(),
        "emoji \u{1F600}\u{200D}.HEIC",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.push(format!("{}.JPG", "\u{e9}".repeat(123)) + "\u{1F600}");
    v
}

/// Every file name under `root` (relative, `/`-joined, lossy), with `.camroll/` left out.
fn tree(root: &Path) -> BTreeSet<String> {
    walkdir::WalkDir::new(root)
        .follow_links(false)
        .into_iter()
        .flatten()
        .map(|e| {
            e.path()
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect()
}

/// (source_path, original_name, path) of every file the catalog lists.
fn catalog(archive: &Path) -> Vec<(String, String, String)> {
    let db = rusqlite::Connection::open(archive.join(".camroll/catalog.sqlite")).unwrap();
    let mut st = db
        .prepare("SELECT source_path, original_name, path FROM files ORDER BY path")
        .unwrap();
    let rows = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    rows
}

/// Checks one archive: every path is a safe, recorded name; returns source path → path.
/// `originals`: the source paths (as text) expected in the catalog.
fn check_archive(archive: &Path, originals: &BTreeSet<String>) -> BTreeMap<String, String> {
    // Nothing but plain folders and files inside (no symlink was created or followed).
    for e in walkdir::WalkDir::new(archive).follow_links(false) {
        let e = e.unwrap();
        let ft = e.file_type();
        assert!(ft.is_dir() || ft.is_file(), "{}", e.path().display());
    }
    let rows = catalog(archive);
    let mut map = BTreeMap::new();
    for (source_path, orig, path) in &rows {
        // The record key spells a literal `%XX` as `%25XX` (layout::os_to_key).
        assert_eq!(
            source_path.rsplit('/').next().unwrap().replace("%25", "%"),
            *orig,
            "original name recorded"
        );
        let (_folder, name) = path.rsplit_once('/').unwrap();
        let safe = safe_file_name(std::ffi::OsStr::new(orig));
        // The archived name is the safe name, or it with a ~N collision suffix.
        let suffixed = name == safe
            || (2..100).any(|k| camroll::archive::layout::with_suffix(&safe, k) == name);
        assert!(
            suffixed,
            "{orig:?} archived as {name:?}, safe name {safe:?}"
        );
        assert!(name.len() <= 255, "{name:?} is {} bytes", name.len());
        assert!(
            !name
                .chars()
                .any(|c| c.is_control() || "/\\:*?\"<>|".contains(c)),
            "{name:?}"
        );
        assert!(
            !name.starts_with([' ', '.']) && !name.ends_with([' ', '.']),
            "{name:?}"
        );
        let upper = name.split('.').next().unwrap().to_ascii_uppercase();
        assert!(
            !["CON", "PRN", "AUX", "NUL", "COM1", "LPT9", "CONIN$"].contains(&upper.as_str()),
            "{name:?}"
        );
        assert!(archive.join(path).is_file(), "{path}");
        map.insert(source_path.clone(), path.clone());
    }
    let recorded: BTreeSet<String> = map.keys().cloned().collect();
    assert_eq!(&recorded, originals, "every original name is recorded");
    // No two archived names are the same on a case/normalisation-insensitive disk.
    let folded: BTreeSet<String> = map.values().map(|p| fold(p)).collect();
    assert_eq!(
        folded.len(),
        map.len(),
        "names collide once folded: {map:?}"
    );
    map
}

fn b3sum_check(archive: &Path) {
    let Some(out) = support::b3sum_check(archive) else {
        return;
    };
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn hostile_names_from_a_folder_are_made_safe_deterministically_and_recorded() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    let dcim = src.join("DCIM/100APPLE");
    fs::create_dir_all(&dcim).unwrap();
    let mut names: Vec<OsString> = hostile_utf8().into_iter().map(OsString::from).collect();
    names.push(OsString::from_vec(b"IMG_\xc3(\xfe.JPG".to_vec()));
    for (i, n) in names.iter().enumerate() {
        let bytes = iphone_jpeg(
            1000 + i as u64,
            dt(2023, 3, 1 + (i % 20) as u32, 12, 0, 0),
            1,
        );
        fs::write(dcim.join(n), bytes).unwrap();
    }
    // A non-UTF-8 byte is written `%FF`, like the literal `%FF.JPG` above: in
    // another source folder (same archive folder) they must still not collide.
    let other = src.join("DCIM/101APPLE");
    fs::create_dir_all(&other).unwrap();
    fs::write(
        other.join(OsString::from_vec(b"\xff.JPG".to_vec())),
        iphone_jpeg(999, dt(2023, 3, 5, 12, 0, 0), 1),
    )
    .unwrap();
    // …and in the same folder: the source records must differ too (`%25FF`
    // is the literal's key, `%FF` the byte's; layout::os_to_key).
    fs::write(
        dcim.join(OsString::from_vec(b"\xff.JPG".to_vec())),
        iphone_jpeg(998, dt(2023, 3, 6, 12, 0, 0), 1),
    )
    .unwrap();
    // Symlinks, inside and pointing out of the tree: never followed.
    let outside = t.path().join("outside.jpg");
    fs::write(&outside, iphone_jpeg(7, dt(2023, 3, 1, 1, 0, 0), 1)).unwrap();
    std::os::unix::fs::symlink(&outside, dcim.join("link_out.JPG")).unwrap();
    std::os::unix::fs::symlink("CON.JPG", dcim.join("link_in.JPG")).unwrap();
    std::os::unix::fs::symlink("../..", dcim.join("up")).unwrap();
    std::os::unix::fs::symlink("/", dcim.join("root")).unwrap();
    let mut originals: BTreeSet<String> = names
        .iter()
        .map(|n| format!("DCIM/100APPLE/{}", os_to_key(n)))
        .collect();
    originals.insert("DCIM/101APPLE/%FF.JPG".into());
    originals.insert("DCIM/100APPLE/%FF.JPG".into());

    let before = tree(t.path());
    let out = t.path().join("out");
    let (a, b) = (out.join("a"), out.join("b"));
    let (code, json, stderr) = export_json(&src, &[&a, &b], &[]);
    assert_eq!(code, 0, "{json}\n{stderr}");
    assert_eq!(
        json["copied"].as_u64().unwrap() as usize,
        names.len() + 2,
        "{json}"
    );
    let skipped: Vec<&str> = json["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["path"].as_str().unwrap())
        .collect();
    for l in ["link_out.JPG", "link_in.JPG", "up", "root"] {
        assert!(
            skipped.iter().any(|p| p.ends_with(l)),
            "{l} not skipped: {json}"
        );
    }
    // Nothing written outside the archives.
    let after = tree(t.path());
    for p in after.difference(&before) {
        assert!(p.starts_with("out"), "written outside the archive: {p}");
    }
    assert_eq!(
        fs::read(&outside).unwrap(),
        iphone_jpeg(7, dt(2023, 3, 1, 1, 0, 0), 1)
    );
    // Same names on every destination, recorded with the original.
    let ma = check_archive(&a, &originals);
    let mb = check_archive(&b, &originals);
    assert_eq!(ma, mb);
    // And again from scratch: the mapping is deterministic.
    let c = out.join("c");
    let (code, _, _) = export_json(&src, &[&c], &[]);
    assert_eq!(code, 0);
    assert_eq!(check_archive(&c, &originals), ma);
    // Collisions got suffixes, not overwrites (distinct folded names are checked above).
    let p = |n: &str| ma[&format!("DCIM/100APPLE/{n}")].clone();
    assert_ne!(p("IMG_0001.JPG"), p("img_0001.jpg"));
    assert_ne!(p("Caf\u{e9}.JPG"), p("Cafe\u{301}.JPG"));
    assert_ne!(p("a_b.JPG"), p("a:b.JPG"));
    assert_ne!(p("%25FF.JPG"), ma["DCIM/101APPLE/%FF.JPG"]);
    assert_ne!(p("%25FF.JPG"), p("%FF.JPG"));
    b3sum_check(&a);
    let (code, stdout, _) = run(&["verify", a.to_str().unwrap()]);
    assert_eq!(code, 0, "{stdout}");
    // The bytes in the archive are the source's.
    for n in &names {
        let path = &ma[&format!("DCIM/100APPLE/{}", os_to_key(n))];
        assert_eq!(
            fs::read(dcim.join(n)).unwrap(),
            fs::read(a.join(path)).unwrap(),
            "{n:?}"
        );
    }
}

#[test]
fn hostile_names_and_symlinks_from_the_phone_stay_inside_the_archive() {
    let t = tempfile::tempdir().unwrap();
    let media = t.path().join("media");
    let dcim = media.join("DCIM/100APPLE");
    fs::create_dir_all(&dcim).unwrap();
    fs::create_dir_all(media.join("PhotoData")).unwrap();
    let names = hostile_utf8();
    for (i, n) in names.iter().enumerate() {
        let bytes = iphone_jpeg(
            2000 + i as u64,
            dt(2024, 7, 1 + (i % 20) as u32, 9, 0, 0),
            2,
        );
        fs::write(dcim.join(n), bytes).unwrap();
    }
    // S_IFLNK entries: out of the media root, into it, a loop, a folder link.
    let secret = t.path().join("secret.jpg");
    fs::write(&secret, iphone_jpeg(9, dt(2024, 1, 1, 0, 0, 0), 0)).unwrap();
    std::os::unix::fs::symlink(&secret, dcim.join("IMG_6666.JPG")).unwrap();
    std::os::unix::fs::symlink("CON.JPG", dcim.join("IMG_7777.JPG")).unwrap();
    std::os::unix::fs::symlink("loop", dcim.join("loop")).unwrap();
    std::os::unix::fs::symlink("/", media.join("DCIM/101APPLE")).unwrap();
    std::os::unix::fs::symlink("../../..", dcim.join("up")).unwrap();
    let originals: BTreeSet<String> = names.iter().map(|n| format!("DCIM/100APPLE/{n}")).collect();

    let sim = SimProc::start(&media, &[]);
    let before = tree(t.path());
    let out = t.path().join("out");
    let (a, b) = (out.join("a"), out.join("b"));
    let run_export =
        |dests: &[&Path]| export_device(&sim.addr, &t.path().join("cache"), dests, &[]);
    let (code, json, stderr) = run_export(&[&a, &b]);
    assert_eq!(code, 0, "{json}\n{stderr}");
    assert_eq!(
        json["copied"].as_u64().unwrap() as usize,
        names.len(),
        "{json}"
    );
    let skipped: Vec<String> = json["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            format!(
                "{} ({})",
                s["path"].as_str().unwrap(),
                s["reason"].as_str().unwrap()
            )
        })
        .collect();
    for l in [
        "IMG_6666.JPG",
        "IMG_7777.JPG",
        "loop",
        "DCIM/101APPLE",
        "up",
    ] {
        assert!(
            skipped
                .iter()
                .any(|p| p.contains(l) && p.contains("symbolic link")),
            "{l} not skipped as a link: {skipped:?}"
        );
    }
    let after = tree(t.path());
    for p in after.difference(&before) {
        assert!(
            p.starts_with("out") || p.starts_with("cache"),
            "written outside the archive: {p}"
        );
    }
    let ma = check_archive(&a, &originals);
    assert_eq!(ma, check_archive(&b, &originals));
    let c = out.join("c");
    let (code, _, _) = run_export(&[&c]);
    assert_eq!(code, 0);
    assert_eq!(check_archive(&c, &originals), ma, "deterministic");
    // The secret behind the symlink never reached the archive.
    let secret_hash = blake3::hash(&fs::read(&secret).unwrap())
        .to_hex()
        .to_string();
    assert!(!fs::read_to_string(a.join("BLAKE3SUMS"))
        .unwrap()
        .contains(&secret_hash));
    b3sum_check(&a);
}
