//! An archive touched by something other than camroll (issue 11): catalog
//! rows and BLAKE3SUMS lines that climb out, symbolic links where camroll
//! keeps its own folders, a read-only mount, a busy catalog. Each attack is
//! reproduced and must change nothing outside the archive. The real binary
//! on temp dirs.

mod support;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use support::*;

const JPG: &str = "2023/07/IMG_0001.JPG";

fn one_archive(t: &Path) -> (PathBuf, PathBuf) {
    let src = t.join("src");
    roll(&src);
    let a = t.join("a");
    let files = exported(&src, &[&a]);
    assert!(files.contains(&JPG.to_string()), "{files:?}");
    (src, a)
}

fn sql(a: &Path, statement: &str) {
    let c = rusqlite::Connection::open(catalog_path(a)).unwrap();
    c.execute_batch(statement).unwrap();
}

fn kinds(v: &serde_json::Value) -> Vec<String> {
    findings(v).into_iter().map(|(k, _)| k).collect()
}

// ===== 1. paths that climb out =====

#[test]
fn a_catalog_row_with_dotdot_is_a_finding_and_sync_never_writes_outside() {
    let t = tempfile::tempdir().unwrap();
    let (_, a) = one_archive(t.path());
    // The attack: FROM's catalog names `../escaped.jpg`; sync used to write `B/../escaped.jpg`.
    sql(
        &a,
        &format!("UPDATE files SET path = '../escaped.jpg' WHERE path = '{JPG}'"),
    );
    let (code, v, _) = run_json(&["verify", &s(&a)]);
    assert_eq!(code, 1, "{v}");
    assert!(
        findings(&v).contains(&("bad_path".into(), "../escaped.jpg".into())),
        "{v}"
    );
    let b = t.path().join("b");
    let (code, v, err) = run_json(&["sync", &s(&a), &s(&b)]);
    assert_eq!(code, 1, "{v}\n{err}");
    assert!(!t.path().join("escaped.jpg").exists());
    assert!(v["failed"].to_string().contains("../escaped.jpg"), "{v}");
    // The rest was synced.
    assert!(!archived_files(&b).is_empty());
    // rebuild drops the row (a sound catalog needs --force).
    let (code, _, err) = run(&["rebuild", &s(&a)]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--force"), "{err}");
    let (code, v, _) = run_json(&["rebuild", "--force", &s(&a)]);
    assert_eq!(code, 1, "{v}");
    assert!(v["problems"].to_string().contains("bad_path"), "{v}");
    let (_, v, _) = run_json(&["verify", &s(&a)]);
    assert!(!kinds(&v).contains(&"bad_path".to_string()), "{v}");
}

#[test]
fn blake3sums_lines_that_climb_out_or_are_absolute_are_never_imported_or_repaired() {
    let t = tempfile::tempdir().unwrap();
    let (_, a) = one_archive(t.path());
    let b = t.path().join("b");
    let (code, _, _) = run_json(&["sync", &s(&a), &s(&b)]);
    assert_eq!(code, 0);
    let victim = t.path().join("victim.txt");
    fs::write(&victim, b"keep").unwrap();
    let abs_victim = t.path().join("abs-victim.txt");
    fs::write(&abs_victim, b"keep").unwrap();
    // The attack: rebuild imported these lines, then repair wrote to them.
    let h = b3(&a.join(JPG));
    let mut sums = fs::read_to_string(a.join("BLAKE3SUMS")).unwrap();
    sums.push_str(&format!(
        "{h}  ../victim.txt\n{h}  {}\n",
        abs_victim.display()
    ));
    fs::write(a.join("BLAKE3SUMS"), sums).unwrap();
    fs::remove_file(catalog_path(&a)).unwrap();
    let (code, v, err) = run_json(&["rebuild", &s(&a)]);
    assert_eq!(code, 0, "{v}\n{err}");
    assert_eq!(v["sums_damaged_lines"], 2, "{v}");
    let (code, v, _) = run_json(&["verify", &s(&a), "--repair-from", &s(&b)]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(fs::read(&victim).unwrap(), b"keep");
    assert_eq!(fs::read(&abs_victim).unwrap(), b"keep");
    // Verify (BLAKE3SUMS only) calls the lines damage.
    let mut sums = fs::read_to_string(a.join("BLAKE3SUMS")).unwrap();
    sums.push_str(&format!("{h}  ../victim.txt\n"));
    fs::write(a.join("BLAKE3SUMS"), sums).unwrap();
    let (code, v, _) = run_json(&["verify", &s(&a)]);
    assert_eq!(code, 1);
    assert!(
        v.to_string().contains("outside") || v.to_string().contains("`..`"),
        "{v}"
    );
}

// ===== 2. symbolic links inside the archive =====

/// A folder outside the archive holding a file that must survive.
fn bait(t: &Path) -> PathBuf {
    let out = t.join("outside");
    fs::create_dir_all(&out).unwrap();
    fs::write(out.join("precious.txt"), b"keep").unwrap();
    out
}

fn untouched(out: &Path) {
    let names: Vec<_> = fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["precious.txt"], "the outside folder changed");
    assert_eq!(fs::read(out.join("precious.txt")).unwrap(), b"keep");
}

fn refused(src: &Path, a: &Path, link: &str) {
    let (code, _, err) = run(&["export", "--from", &s(src), "--to", &s(a)]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("symbolic link") && err.contains(link), "{err}");
}

#[test]
fn a_symlinked_staging_folder_is_refused_and_nothing_is_deleted() {
    let t = tempfile::tempdir().unwrap();
    let (src, a) = one_archive(t.path());
    let out = bait(t.path());
    let staging = a.join(".camroll/staging");
    fs::remove_dir_all(&staging).unwrap();
    symlink(&out, &staging).unwrap();
    refused(&src, &a, ".camroll/staging");
    untouched(&out);
    let (code, v, _) = run_json(&["verify", &s(&a)]);
    assert_eq!(code, 1);
    assert!(
        findings(&v).contains(&("symlink".into(), ".camroll/staging".into())),
        "{v}"
    );
}

#[test]
fn a_symlinked_camroll_folder_is_refused() {
    let t = tempfile::tempdir().unwrap();
    let (src, a) = one_archive(t.path());
    let out = bait(t.path());
    let moved = t.path().join("moved-camroll");
    fs::rename(a.join(".camroll"), &moved).unwrap();
    symlink(&out, a.join(".camroll")).unwrap();
    refused(&src, &a, ".camroll");
    untouched(&out);
}

#[test]
fn a_symlinked_month_folder_receives_nothing() {
    let t = tempfile::tempdir().unwrap();
    let (src, a) = one_archive(t.path());
    let out = bait(t.path());
    // A new photo for 2023/12, where a link now points outside.
    symlink(&out, a.join("2023/12")).unwrap();
    write(
        &src.join("DCIM/100APPLE/IMG_0900.JPG"),
        &iphone_jpeg(900, dt(2023, 12, 24, 18, 0, 0), 1),
    );
    refused(&src, &a, "2023/12");
    untouched(&out);
}

#[test]
fn a_symlinked_lock_or_sums_temp_file_is_never_truncated() {
    let t = tempfile::tempdir().unwrap();
    let (src, a) = one_archive(t.path());
    let out = bait(t.path());
    let lock = a.join(".camroll/lock");
    fs::remove_file(&lock).unwrap();
    symlink(out.join("precious.txt"), &lock).unwrap();
    refused(&src, &a, ".camroll/lock");
    untouched(&out);
    fs::remove_file(&lock).unwrap();
    symlink(out.join("precious.txt"), a.join(".camroll/BLAKE3SUMS.tmp")).unwrap();
    refused(&src, &a, "BLAKE3SUMS.tmp");
    let (code, _, err) = run(&["rebuild", "--force", &s(&a)]);
    assert_eq!(code, 2, "{err}");
    untouched(&out);
}

// ===== 3. read-only means read-only =====

#[test]
fn a_healthy_archive_on_a_read_only_mount_verifies_and_checks() {
    let t = tempfile::tempdir().unwrap();
    let (src, a) = one_archive(t.path());
    let before = fs::read(catalog_path(&a)).unwrap();
    // Read-only commands create nothing, even on a writable disk.
    let (code, _, _) = run_json(&["check", "--from", &s(&src), &s(&a)]);
    assert!(code <= 1);
    assert!(
        !a.join(".camroll/catalog.sqlite-wal").exists()
            || fs::metadata(a.join(".camroll/catalog.sqlite-wal"))
                .unwrap()
                .len()
                == 0
    );
    let mnt = t.path().join("ro");
    fs::create_dir_all(&mnt).unwrap();
    let bound = is_root()
        && std::process::Command::new("mount")
            .args(["--bind"])
            .arg(&a)
            .arg(&mnt)
            .status()
            .is_ok_and(|s| s.success());
    if !skip_unless(bound, "bind-mounting needs root and mount(8)") {
        return;
    }
    let _u = Unmount(&mnt);
    let ro = std::process::Command::new("mount")
        .args(["-o", "remount,bind,ro"])
        .arg(&mnt)
        .status()
        .unwrap();
    assert!(ro.success(), "remount read-only");
    assert!(
        fs::write(mnt.join("probe"), b"x").is_err(),
        "the mount is read-only"
    );
    let (code, v, err) = run_json(&["verify", &s(&mnt)]);
    assert_eq!(code, 0, "{v}\n{err}");
    assert_eq!(
        v["archives"][0]["verified"], v["archives"][0]["files"],
        "{v}"
    );
    let (code, v, err) = run_json(&["check", "--from", &s(&src), &s(&mnt), "--copies", "1"]);
    assert!(
        v["archives"].to_string().contains("null") || !v.to_string().contains("unusable"),
        "{v}"
    );
    assert!(code <= 1, "{v}\n{err}");
    assert!(!v.to_string().contains("rebuild"), "{v}");
    assert_eq!(fs::read(catalog_path(&a)).unwrap(), before);
}

// ===== 4. running at the same time =====

#[test]
fn verify_and_check_while_an_export_holds_the_lock_and_a_write_transaction() {
    let t = tempfile::tempdir().unwrap();
    let (src, a) = one_archive(t.path());
    // What a running export holds: the archive lock and an open write transaction.
    let lock = camroll::archive::lock::ArchiveLock::acquire(&a.join(".camroll")).unwrap();
    let c = rusqlite::Connection::open(catalog_path(&a)).unwrap();
    c.execute_batch("BEGIN IMMEDIATE; UPDATE runs SET outcome = outcome;")
        .unwrap();
    let started = std::time::Instant::now();
    let (code, v, err) = run_json(&["verify", &s(&a)]);
    assert_eq!(code, 0, "{v}\n{err}");
    assert!(!v.to_string().contains("rebuild"), "{v}");
    assert!(kinds(&v).is_empty(), "{v}");
    let (_, v, err) = run_json(&["check", "--from", &s(&src), &s(&a)]);
    assert!(!v.to_string().contains("rebuild"), "{v}\n{err}");
    assert!(v["archives"][0]["problem"].is_null(), "{v}");
    // A rebuild, which writes, is refused: the archive is locked (exit 11).
    let (code, _, err) = run(&["rebuild", "--force", &s(&a)]);
    assert_eq!(code, 11, "{err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    c.execute_batch("COMMIT").unwrap();
    drop(lock);
}

#[test]
fn exit_10_when_the_archive_does_not_exist() {
    let t = tempfile::tempdir().unwrap();
    let gone = t.path().join("gone");
    for args in [
        vec!["verify", gone.to_str().unwrap()],
        vec!["rebuild", gone.to_str().unwrap()],
        vec!["albums", gone.to_str().unwrap()],
        vec![
            "sync",
            gone.to_str().unwrap(),
            t.path().join("b").to_str().unwrap(),
        ],
    ] {
        let (code, _, err) = run(&args);
        assert_eq!(code, 10, "{args:?}: {err}");
    }
    let empty = t.path().join("empty");
    fs::create_dir_all(&empty).unwrap();
    for cmd in ["verify", "albums"] {
        let (code, _, err) = run(&[cmd, empty.to_str().unwrap()]);
        assert_eq!(code, 10, "{cmd}: {err}");
    }
}
