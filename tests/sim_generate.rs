//! `camroll sim generate`: a phone-like media root that real decoders open, whose
//! Photos.sqlite and manifest agree with the files, deterministic per seed.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use idevice::afc::AfcClient;
use idevice::IdeviceService;
use support::*;

/// `camroll sim generate --out <out> <args…>` straight into `out`, within 5 minutes.
fn generate_into(out: &Path, args: &[&str]) {
    let o = run_limited(
        Command::new(BIN)
            .args(["sim", "generate", "--out"])
            .arg(out)
            .args(args),
        Duration::from_secs(300),
    );
    assert!(o.status.success(), "{}", text(&o));
}

/// relative path → BLAKE3 of every file under `root` (the manifest included).
fn tree(root: &Path) -> BTreeMap<String, String> {
    walkdir::WalkDir::new(root)
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let rel = e
                .path()
                .strip_prefix(root)
                .expect("inside")
                .display()
                .to_string();
            let bytes = std::fs::read(e.path()).expect("read");
            (rel, blake3::hash(&bytes).to_hex().to_string())
        })
        .collect()
}

#[test]
fn the_same_seed_writes_the_same_roll_and_another_seed_does_not() {
    let a = tempfile::tempdir().expect("tmp");
    let b = tempfile::tempdir().expect("tmp");
    let c = tempfile::tempdir().expect("tmp");
    generate_into(a.path(), &["--items", "150", "--seed", "42"]);
    generate_into(b.path(), &["--items", "150", "--seed", "42"]);
    generate_into(c.path(), &["--items", "150", "--seed", "43"]);
    // Photos.sqlite is compared through its rows below; its pages are not byte-stable.
    let strip = |mut t: BTreeMap<String, String>| {
        t.retain(|k, _| !k.starts_with("PhotoData/Photos.sqlite"));
        t
    };
    let (ta, tb, tc) = (
        strip(tree(a.path())),
        strip(tree(b.path())),
        strip(tree(c.path())),
    );
    assert!(ta.len() > 150);
    assert_eq!(ta, tb);
    assert_ne!(ta, tc);
    let rows = |p: &Path| -> Vec<(String, String, String, f64)> {
        let db = rusqlite::Connection::open(p.join("PhotoData/Photos.sqlite")).expect("db");
        let mut st = db
            .prepare("SELECT ZUUID, ZDIRECTORY, ZFILENAME, ZDATECREATED FROM ZASSET ORDER BY Z_PK")
            .expect("query");
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .expect("rows")
            .collect::<Result<_, _>>()
            .expect("rows")
    };
    assert_eq!(rows(a.path()), rows(b.path()));
}

#[test]
fn layout_follows_apples_dcim_numbering_and_month_folders() {
    let dir = tempfile::tempdir().expect("tmp");
    generate_into(
        dir.path(),
        &["--items", "4000", "--seed", "5", "--dcim-view", "ptp"],
    );
    let dcim = dir.path().join("DCIM");
    let mut folders: Vec<String> = std::fs::read_dir(&dcim)
        .expect("DCIM")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().into_string().expect("utf8"))
        .collect();
    folders.sort();
    assert_eq!(folders[0], "100APPLE");
    assert!(folders.contains(&"101APPLE".to_string()), "{folders:?}");
    assert!(
        folders.iter().any(|f| f.len() == 8 && f.ends_with("__")),
        "month folders: {folders:?}"
    );
    // Each APPLE folder starts at its window: 100 → IMG_0001, 101 → IMG_1001.
    for (folder, first) in [("100APPLE", "IMG_0001"), ("101APPLE", "IMG_1001")] {
        let mut names: Vec<String> = std::fs::read_dir(dcim.join(folder))
            .expect("folder")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().into_string().expect("utf8"))
            .collect();
        names.sort();
        let m = manifest(dir.path());
        let first_db = m["assets"]
            .as_array()
            .expect("assets")
            .iter()
            .find(|a| a["directory"] == format!("DCIM/{folder}"))
            .expect("an asset in the folder")["filename"]
            .as_str()
            .expect("name")
            .to_string();
        assert!(first_db.starts_with(first), "{folder}: {first_db}");
        assert!(names.iter().all(|n| n.starts_with("IMG_")), "{names:?}");
    }
    let plist = plist::Value::from_file(dir.path().join("PhotoData/MISC/DCIM_APPLE.plist"))
        .expect("DCIM_APPLE.plist");
    let d = plist.as_dictionary().expect("dict");
    assert!(d.contains_key("DCIMLastDirectoryNumber") && d.contains_key("DCIMLastFileNumber"));
}

#[test]
fn photos_sqlite_and_manifest_describe_every_asset_and_file() {
    let dir = tempfile::tempdir().expect("tmp");
    generate_into(dir.path(), &["--items", "600", "--seed", "9"]);
    let root = dir.path();
    let m = manifest(root);
    let assets = m["assets"].as_array().expect("assets");
    assert_eq!(assets.len(), 600);
    let db = rusqlite::Connection::open(root.join("PhotoData/Photos.sqlite")).expect("db");
    let (mut cloud, mut trashed, mut live, mut edited, mut cpl) = (0, 0, 0, 0, 0);
    for a in assets {
        let uuid = a["uuid"].as_str().expect("uuid");
        let (dir_, name, created, trash, local, tz): (String, String, f64, i64, i64, i64) = db
            .query_row(
                "SELECT a.ZDIRECTORY, a.ZFILENAME, a.ZDATECREATED, a.ZTRASHEDSTATE,
                        r.ZLOCALAVAILABILITY, x.ZTIMEZONEOFFSET
                 FROM ZASSET a
                 JOIN ZINTERNALRESOURCE r ON r.ZASSET = a.Z_PK AND r.ZDATASTORESUBTYPE = 1
                      AND r.ZRESOURCETYPE != 3
                 JOIN ZADDITIONALASSETATTRIBUTES x ON x.Z_PK = a.ZADDITIONALATTRIBUTES
                 WHERE a.ZUUID = ?1",
                [uuid],
                |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                    ))
                },
            )
            .expect("asset row");
        assert_eq!(dir_, a["directory"].as_str().expect("dir"));
        assert_eq!(name, a["filename"].as_str().expect("name"));
        let unix = a["captured_unix"].as_i64().expect("time");
        assert_eq!(created, (unix - 978_307_200) as f64);
        let captured = chrono::DateTime::parse_from_rfc3339(a["captured"].as_str().expect("c"))
            .expect("rfc3339");
        assert_eq!(i64::from(captured.offset().local_minus_utc()), tz);
        let on_disk = root.join(format!("{dir_}/{name}")).exists();
        if a["cloud_only"] == true {
            cloud += 1;
            assert_eq!(local, -1);
            assert!(!on_disk, "cloud-only {name} must have no file");
            assert!(a["path"].is_null());
        } else {
            assert_eq!(local, 1);
            assert!(on_disk, "{dir_}/{name} missing");
            let size = std::fs::metadata(root.join(format!("{dir_}/{name}")))
                .expect("meta")
                .len();
            assert_eq!(size, a["size"].as_u64().expect("size"));
        }
        for f in a["files"].as_array().expect("files") {
            assert!(root.join(f.as_str().expect("path")).is_file(), "{f}");
        }
        if a["trashed"] == true {
            trashed += 1;
            assert_eq!(trash, 1);
        }
        if a["kind"] == "live_photo" {
            live += 1;
        }
        if a["edited"] == true {
            edited += 1;
            let files: Vec<&str> = a["files"]
                .as_array()
                .expect("files")
                .iter()
                .filter_map(|f| f.as_str())
                .collect();
            assert!(files.iter().any(|f| f.starts_with("PhotoData/Mutations/")
                && f.contains("/Adjustments/FullSizeRender.")));
            assert!(files
                .iter()
                .any(|f| f.starts_with("DCIM/") && f.ends_with(".AAE")));
        }
        if a["icloud_synced"] == true {
            cpl += 1;
            assert!(dir_.starts_with("PhotoData/CPLAssets/group"), "{dir_}");
        }
    }
    assert!(cloud > 0 && trashed > 0 && live > 0 && edited > 0 && cpl > 0);
    // The iLEAPP "possible optimized assets" query finds exactly the cloud-only ones.
    let optimized: i64 = db
        .query_row(
            "SELECT COUNT(DISTINCT ZASSET) FROM ZINTERNALRESOURCE
             WHERE ZDATASTORESUBTYPE = 1 AND ZLOCALAVAILABILITY = -1 AND ZFINGERPRINT IS NOT NULL",
            [],
            |r| r.get(0),
        )
        .expect("query");
    assert_eq!(optimized, cloud);
}

#[test]
fn generated_media_opens_in_real_decoders_and_live_pairs_match() {
    let dir = tempfile::tempdir().expect("tmp");
    generate_into(dir.path(), &["--items", "120", "--seed", "3"]);
    let root = dir.path();
    let m = manifest(root);
    let lib = libheif_rs::LibHeif::new();
    let (mut heic, mut jpg, mut png) = (0, 0, 0);
    for a in m["assets"].as_array().expect("assets") {
        let Some(path) = a["path"].as_str() else {
            continue;
        };
        let bytes = std::fs::read(root.join(path)).expect("read");
        let ext = path.rsplit('.').next().unwrap_or("");
        match ext {
            "HEIC" => {
                let ctx = libheif_rs::HeifContext::read_from_bytes(&bytes).expect("libheif");
                let h = ctx.primary_image_handle().expect("primary");
                lib.decode(
                    &h,
                    libheif_rs::ColorSpace::Rgb(libheif_rs::RgbChroma::Rgb),
                    None,
                )
                .expect("HEVC decodes");
                heic += 1;
            }
            "JPG" => {
                image::load_from_memory_with_format(&bytes, image::ImageFormat::Jpeg)
                    .expect("JPEG decodes");
                jpg += 1;
            }
            "PNG" => {
                image::load_from_memory_with_format(&bytes, image::ImageFormat::Png)
                    .expect("PNG decodes");
                png += 1;
            }
            _ => {
                assert!(bytes.windows(4).any(|w| w == b"moov"), "{path} has no moov");
            }
        }
        if ext == "HEIC" || ext == "JPG" {
            // EXIF capture time equals the manifest's local time.
            let exif = exif::Reader::new()
                .read_from_container(&mut std::io::Cursor::new(&bytes))
                .expect("EXIF");
            let dto = exif
                .get_field(exif::Tag::DateTimeOriginal, exif::In::PRIMARY)
                .expect("DateTimeOriginal")
                .display_value()
                .to_string();
            let captured = a["captured"].as_str().expect("captured");
            assert_eq!(dto.replace(' ', "T"), captured[..19], "{path}");
        }
        if a["kind"] == "live_photo" {
            let mov =
                std::fs::read(root.join(a["live_video"].as_str().expect("movie"))).expect("movie");
            let id = a["content_identifier"].as_str().expect("id");
            assert!(
                bytes.windows(id.len()).any(|w| w == id.as_bytes())
                    && mov.windows(id.len()).any(|w| w == id.as_bytes()),
                "{path}: still and movie must carry the same ContentIdentifier"
            );
        }
    }
    assert!(heic > 0 && jpg > 0 && png > 0, "{heic} {jpg} {png}");
}

#[test]
fn a_large_video_is_sparse_and_exactly_sized() {
    let dir = tempfile::tempdir().expect("tmp");
    generate_into(dir.path(), &["--items", "5", "--video-mib", "256"]);
    let m = manifest(dir.path());
    let big = m["assets"]
        .as_array()
        .expect("assets")
        .iter()
        .find(|a| a["size"].as_u64() == Some(256 << 20))
        .expect("the large video is in the manifest");
    let p = dir.path().join(big["path"].as_str().expect("path"));
    let meta = std::fs::metadata(&p).expect("meta");
    assert_eq!(meta.len(), 256 << 20);
    use std::os::unix::fs::MetadataExt;
    assert!(
        meta.blocks() * 512 < 16 << 20,
        "not sparse: {} blocks",
        meta.blocks()
    );
}

#[test]
fn generate_refuses_a_folder_that_already_holds_a_roll() {
    let dir = tempfile::tempdir().expect("tmp");
    generate_into(dir.path(), &["--items", "3"]);
    let o = run_limited(
        Command::new(BIN)
            .args(["sim", "generate", "--out"])
            .arg(dir.path()),
        Duration::from_secs(60),
    );
    assert!(!o.status.success());
    assert!(
        text(&o).contains("already holds a DCIM folder"),
        "{}",
        text(&o)
    );
}

#[test]
fn a_generated_roll_is_served_over_afc_with_its_metadata_hidden() {
    let dir = tempfile::tempdir().expect("tmp");
    generate_into(dir.path(), &["--items", "40", "--seed", "11"]);
    let m = manifest(dir.path());
    let path = m["assets"]
        .as_array()
        .expect("assets")
        .iter()
        .find_map(|a| a["path"].as_str())
        .expect("a local asset")
        .to_string();
    let sim = SimProc::start(dir.path(), &[]);
    rt().block_on(within(60, async {
        let p = provider(&sim.plain_addr()).await;
        let mut afc = AfcClient::connect(&p).await.expect("AFC");
        let root = afc.list_dir("/").await.expect("ReadDir /");
        assert!(root.contains(&"DCIM".to_string()) && root.contains(&"PhotoData".to_string()));
        assert!(
            !root.contains(&".sim".to_string()),
            "the simulator's folder must be hidden"
        );
        assert!(afc.get_file_info("/.sim/manifest.json").await.is_err());
        let db = afc_read_raw(&mut afc, "/PhotoData/Photos.sqlite")
            .await
            .expect("db");
        assert_eq!(
            db,
            std::fs::read(dir.path().join("PhotoData/Photos.sqlite")).expect("db")
        );
        let f = afc_read_raw(&mut afc, &format!("/{path}"))
            .await
            .expect("asset");
        assert_eq!(f, std::fs::read(dir.path().join(&path)).expect("asset"));
    }));
}

#[test]
fn the_default_view_is_afcs_apple_folders_and_aae_files_can_live_only_in_mutations() {
    let dir = tempfile::tempdir().expect("tmp");
    let afc = dir.path().join("afc");
    generate_into(&afc, &["--items", "1200", "--seed", "5"]);
    let folders: Vec<String> = std::fs::read_dir(afc.join("DCIM"))
        .expect("DCIM")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().into_string().expect("utf8"))
        .collect();
    assert!(
        folders.iter().all(|f| f.len() == 8 && f.ends_with("APPLE")),
        "AFC shows NNNAPPLE only: {folders:?}"
    );
    let aae_in_dcim = |root: &std::path::Path| {
        walkdir::WalkDir::new(root.join("DCIM"))
            .into_iter()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".AAE"))
            .count()
    };
    assert!(aae_in_dcim(&afc) > 0, "default: .AAE beside the originals");
    let muts = dir.path().join("mutations");
    generate_into(
        &muts,
        &["--items", "300", "--seed", "5", "--aae", "mutations"],
    );
    assert_eq!(aae_in_dcim(&muts), 0);
    let m = manifest(&muts);
    assert!(m["assets"]
        .as_array()
        .expect("assets")
        .iter()
        .any(|a| a["edited"] == true));
}
