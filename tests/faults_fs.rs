//! Destination (and source) filesystem awareness: FAT32 cannot hold a file
//! over 4 GiB, so such a file is refused up front with a clear message
//! (never a truncated copy, nothing read); mtimes on a FAT disk (2 s steps)
//! compare with that granularity, so a re-run reads nothing. The filesystem
//! is injected with CAMROLL_TEST_FS; `a_real_fat32_image…` uses a real one
//! when this machine can mount it.

mod support;

use std::fs;
use std::path::Path;
use std::time::Duration;

use support::*;

/// `camroll export --json` with the filesystem of each path injected (CAMROLL_TEST_FS).
fn export_with_fs(fs_env: &str, src: &Path, dests: &[&Path]) -> (i32, serde_json::Value, String) {
    output_json(export_command(src, dests, &[]).env("CAMROLL_TEST_FS", fs_env))
}

/// A sparse file just over 4 GiB named like a video (its content is never read).
fn big_video(dir: &Path) -> std::path::PathBuf {
    let p = dir.join("IMG_0002.MOV");
    let f = fs::File::create(&p).unwrap();
    f.set_len((4u64 << 30) + 1).unwrap();
    p
}

#[test]
fn a_file_over_4_gib_bound_for_fat32_is_refused_up_front() {
    if !fault_hooks() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    fs::create_dir_all(&src).unwrap();
    write(
        &src.join("IMG_0001.JPG"),
        &iphone_jpeg(1, dt(2022, 8, 9, 10, 0, 0), 2),
    );
    big_video(&src);
    let (a, b) = (t.path().join("usb-a"), t.path().join("usb-b"));
    let env = format!("{}=vfat,{}=vfat", a.display(), b.display());
    let (code, json, stderr) = export_with_fs(&env, &src, &[&a, &b]);
    assert_eq!(code, 1, "{json}\n{stderr}");
    let failed = json["failed"].as_array().unwrap();
    assert_eq!(failed.len(), 2, "once per destination: {json}");
    for f in failed {
        assert_eq!(f["path"], "IMG_0002.MOV");
        let e = f["error"].as_str().unwrap();
        assert!(
            e.contains("4294967297 bytes") && e.contains("VFAT") && e.contains("exFAT"),
            "{e}"
        );
    }
    assert!(
        stderr.contains("IMG_0002.MOV"),
        "said on stderr too: {stderr}"
    );
    // Never read: not sniffed (it would be skipped as not media), nothing staged.
    assert!(json["skipped"].as_array().unwrap().is_empty(), "{json}");
    for d in [&a, &b] {
        assert_eq!(archived_files(d), vec!["2022/08/IMG_0001.JPG"]);
        assert_eq!(fs::read_dir(d.join(".camroll/staging")).unwrap().count(), 0);
    }
    // The same file bound for exFAT is not refused up front.
    let c = t.path().join("exfat");
    let (_, json, _) = export_with_fs(&format!("{}=exfat", c.display()), &src, &[&c]);
    assert!(
        !json.to_string().contains("cannot hold files over"),
        "{json}"
    );
}

#[test]
fn mtimes_on_a_fat_source_compare_with_2_s_granularity() {
    if !fault_hooks() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("sd");
    for i in 0..3 {
        write(
            &src.join(format!("DCIM/100CANON/IMG_000{i}.JPG")),
            &iphone_jpeg(10 + i, dt(2021, 1, 2, 3, 4, i as u32), 0),
        );
    }
    let src = src.canonicalize().unwrap();
    let a = t.path().join("a");
    let fat = format!("{}=vfat", src.display());
    let (code, json, _) = export_with_fs(&fat, &src, &[&a]);
    assert_eq!(code, 0, "{json}");
    assert_eq!(json["copied"], 3);
    // The same files, their mtimes 1 s off (what a FAT disk read elsewhere, or copied, reports).
    let shift = |secs: u64| {
        for e in walkdir::WalkDir::new(&src).into_iter().flatten() {
            if e.file_type().is_file() {
                let m = e.metadata().unwrap().modified().unwrap();
                let f = fs::File::options().write(true).open(e.path()).unwrap();
                f.set_modified(m + Duration::from_secs(secs)).unwrap();
            }
        }
    };
    shift(1);
    let (code, json, _) = export_with_fs(&fat, &src, &[&a]);
    assert_eq!(code, 0, "{json}");
    assert_eq!(
        json["already_archived"], 3,
        "nothing read again on FAT: {json}"
    );
    assert_eq!(json["duplicates"], 0, "{json}");
    // On a nanosecond filesystem the same shift is a change: read again (and found duplicate).
    let (code, json, _) = export_with_fs(&format!("{}=ext4", src.display()), &src, &[&a]);
    assert_eq!(code, 0, "{json}");
    assert_eq!(json["already_archived"], 0, "{json}");
    assert_eq!(json["duplicates"], 3, "{json}");
    // Two whole FAT steps later, it is a change on FAT too.
    shift(2);
    let (_, json, _) = export_with_fs(&fat, &src, &[&a]);
    assert_eq!(json["already_archived"], 0, "{json}");
}

/// A real FAT32 image, loop-mounted, when this machine allows it (root, vfat
/// driver, mkfs.vfat); otherwise skipped with the reason.
#[test]
fn a_real_fat32_image_is_detected_and_refuses_a_5_gib_file() {
    let mkfs = ["/usr/sbin/mkfs.vfat", "/sbin/mkfs.vfat"]
        .iter()
        .find(|p| Path::new(p).exists());
    if !skip_unless(
        mkfs.is_some(),
        "mkfs.vfat not installed (apt-get install dosfstools)",
    ) {
        return;
    }
    let mkfs = mkfs.unwrap();
    let t = tempfile::tempdir().unwrap();
    let img = t.path().join("fat.img");
    fs::File::create(&img).unwrap().set_len(64 << 20).unwrap();
    let ok = std::process::Command::new(mkfs)
        .args(["-F", "32"])
        .arg(&img)
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(ok, "mkfs.vfat failed");
    let mnt = t.path().join("mnt");
    fs::create_dir(&mnt).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-o", "loop"])
        .arg(&img)
        .arg(&mnt)
        .output();
    let loop_ok = matches!(&mounted, Ok(o) if o.status.success());
    if !loop_ok {
        // No vfat driver in this kernel (containers): the FUSE driver, when installed.
        let fuse = std::process::Command::new("fusefat")
            .args(["-o", "rw+"])
            .arg(&img)
            .arg(&mnt)
            .output();
        if !matches!(&fuse, Ok(o) if o.status.success()) {
            skip(format!(
                "cannot mount a FAT32 image here (loop: {:?}; fusefat: {:?})",
                mounted.map(|o| String::from_utf8_lossy(&o.stderr).trim().to_string()),
                fuse.map(|o| String::from_utf8_lossy(&o.stderr).trim().to_string())
            ));
            return;
        }
    }
    let _u = Unmount(&mnt);
    assert_eq!(camroll::archive::filesystem::detect(&mnt).name, "vfat");
    let src = t.path().join("src");
    fs::create_dir_all(&src).unwrap();
    write(
        &src.join("IMG_0001.JPG"),
        &iphone_jpeg(1, dt(2022, 8, 9, 10, 0, 0), 2),
    );
    write(
        &src.join("img_0001.jpg"),
        &iphone_jpeg(2, dt(2022, 8, 9, 10, 0, 1), 2),
    );
    fs::File::create(src.join("IMG_0002.MOV"))
        .unwrap()
        .set_len(5 << 30)
        .unwrap();
    let a = mnt.join("archive");
    let (code, json, stderr) = export_json(&src, &[&a], &[]);
    assert_eq!(code, 1, "{json}\n{stderr}");
    assert!(
        json.to_string().contains("cannot hold files over"),
        "{json}"
    );
    // Names differing only by case: both archived, under two names the disk can hold.
    let files = archived_files(&a);
    assert_eq!(files.len(), 2, "{files:?}");
    let (code, stdout, _) = run(&["verify", a.to_str().unwrap()]);
    assert_eq!(code, 0, "{stdout}");
    // A re-run reads nothing (FAT mtimes have 2 s steps; the source is not on FAT, but the
    // archive's own files kept their capture times to the FAT step).
    let (code, json, _) = export_json(&src, &[&a], &[]);
    assert_eq!(code, 1);
    assert_eq!(json["already_archived"], 2, "{json}");
}
