//! Sidecars of a generated roll exported from the simulated iPhone: every
//! mapped field read back by ExifTool equals what SQL reads from the
//! generated Photos.sqlite; a change on the phone replaces exactly the
//! affected sidecars; a no-change run rewrites none; originals stay
//! bit-exact; verify and `b3sum --check` agree; a damaged sidecar is caught.

mod support;

use std::collections::{BTreeSet, HashMap};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use camroll_sim::library_meta::MetaLayout;
use rusqlite::Connection;
use serde_json::Value;
use support::*;

/// ExifTool's view of every sidecar in the archive: archived path → tags.
fn exiftool_all(archive: &Path) -> HashMap<String, Value> {
    let out = Command::new("exiftool")
        .args([
            "-j", "-struct", "-n", "-G1", "-charset", "UTF8", "-r", "-ext", "xmp",
        ])
        .arg(".")
        .current_dir(archive)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    v.into_iter()
        .map(|t| {
            let p = t["SourceFile"]
                .as_str()
                .unwrap()
                .trim_start_matches("./")
                .to_string();
            (p.trim_end_matches(".xmp").to_string(), t)
        })
        .collect()
}

fn list(v: &Value) -> BTreeSet<String> {
    match v {
        Value::Array(a) => a
            .iter()
            .map(|x| x.as_str().map_or(x.to_string(), str::to_string))
            .collect(),
        Value::String(s) => [s.clone()].into(),
        Value::Null => BTreeSet::new(),
        other => [other.to_string()].into(),
    }
}

/// Text as it can be in XML: control characters other than tab, LF, CR become U+FFFD.
fn xmlish(s: &str) -> String {
    s.chars()
        .map(|c| {
            if (c as u32) < 0x20 && !"\t\n\r".contains(c) {
                '\u{FFFD}'
            } else {
                c
            }
        })
        .collect()
}

/// What SQL says about one asset, in the terms the sidecar uses.
#[derive(Debug, Default)]
struct Expected {
    favorite: bool,
    hidden: bool,
    title: Option<String>,
    caption: Option<String>,
    keywords: BTreeSet<String>,
    albums: BTreeSet<String>,
    people: BTreeSet<String>,
    faces: Vec<(String, f64, f64, f64, f64)>,
    location: Option<(f64, f64)>,
    burst: Option<(String, bool)>,
}

#[allow(clippy::type_complexity)]
fn expected(c: &Connection, uuid: &str, l: &MetaLayout) -> Expected {
    let (at, album, ae, kw) = (l.asset_table, l.album_ent, l.asset_ent, l.keyword_ent);
    let (fa, fp) = (l.face_asset, l.face_person);
    let (pk, aa, fav, hidden, lat, lon, w, h, burst, pick): (i64, i64, i64, i64, f64, f64, f64, f64, Option<String>, Option<i64>) = c
        .query_row(
            &format!("SELECT Z_PK, ZADDITIONALATTRIBUTES, ZFAVORITE, ZHIDDEN, ZLATITUDE, ZLONGITUDE, ZWIDTH, ZHEIGHT,
                    ZAVALANCHEUUID, ZAVALANCHEPICKTYPE FROM {at} WHERE ZUUID = ?1"),
            [uuid],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?, r.get(8)?, r.get(9)?)),
        )
        .unwrap();
    let strings = |sql: &str, p: i64| -> BTreeSet<String> {
        c.prepare(sql)
            .unwrap()
            .query_map([p], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    let title: Option<String> = c
        .query_row(
            "SELECT ZTITLE FROM ZADDITIONALASSETATTRIBUTES WHERE Z_PK = ?1",
            [aa],
            |r| r.get(0),
        )
        .unwrap();
    let caption: Option<String> = c
        .query_row(
            "SELECT d.ZLONGDESCRIPTION FROM ZADDITIONALASSETATTRIBUTES aa JOIN ZASSETDESCRIPTION d ON d.Z_PK = aa.ZASSETDESCRIPTION WHERE aa.Z_PK = ?1",
            [aa],
            |r| r.get(0),
        )
        .ok();
    let keywords = strings(
        &format!("SELECT k.ZTITLE FROM Z_1KEYWORDS j JOIN ZKEYWORD k ON k.Z_PK = j.Z_{kw}KEYWORDS WHERE j.Z_1ASSETATTRIBUTES = ?1"),
        aa,
    );
    // User albums (ZKIND 2), not trashed, in folders (4000) up to the root (3999), none trashed.
    let mut albums = BTreeSet::new();
    let ids: Vec<i64> = c
        .prepare(&format!(
            "SELECT Z_{album}ALBUMS FROM Z_{album}ASSETS WHERE Z_{ae}ASSETS = ?1"
        ))
        .unwrap()
        .query_map([pk], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    'albums: for id in ids {
        let mut path = Vec::new();
        let mut at = Some(id);
        let mut first = true;
        while let Some(g) = at {
            let (kind, parent, title, trashed): (i64, Option<i64>, Option<String>, i64) = c
                .query_row(
                    "SELECT ZKIND, ZPARENTFOLDER, ZTITLE, ZTRASHEDSTATE FROM ZGENERICALBUM WHERE Z_PK = ?1",
                    [g],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )
                .unwrap();
            if trashed == 1 || (first && kind != 2) || (!first && kind != 4000 && kind != 3999) {
                continue 'albums;
            }
            if kind == 3999 {
                break;
            }
            path.insert(0, title.unwrap().replace('|', "/"));
            at = parent;
            first = false;
        }
        albums.insert(format!("Albums|{}", path.join("|")));
    }
    let mut people = BTreeSet::new();
    let mut faces = Vec::new();
    let mut q = c
        .prepare(&format!(
            "SELECT p.ZFULLNAME, f.ZCENTERX, f.ZCENTERY, f.ZSIZE FROM ZDETECTEDFACE f
             JOIN ZPERSON p ON p.Z_PK = f.{fp} WHERE f.{fa} = ?1 AND p.ZFULLNAME != ''"
        ))
        .unwrap();
    for r in q
        .query_map([pk], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, f64>(1)?,
                r.get::<_, f64>(2)?,
                r.get::<_, f64>(3)?,
            ))
        })
        .unwrap()
    {
        let (name, cx, cy, size) = r.unwrap();
        let long = w.max(h);
        people.insert(name.clone());
        faces.push((name, cx, 1.0 - cy, size * long / w, size * long / h));
    }
    faces.sort_by(|a, b| a.partial_cmp(b).unwrap());
    Expected {
        favorite: fav == 1,
        hidden: hidden == 1,
        title,
        caption,
        keywords,
        albums,
        people,
        faces,
        location: (lat != -180.0).then_some((lat, lon)),
        burst: burst.map(|b| (b, pick.unwrap_or(0) & 24 != 0)),
    }
}

fn check_sidecar(x: &Value, e: &Expected, uuid: &str, created: &str, what: &str) {
    assert!(x.get("ExifTool:Warning").is_none(), "{what}: {x:#}");
    assert_eq!(x["XMP-camroll:AssetUUID"], uuid, "{what}");
    assert_eq!(
        x.get("XMP-xmp:Rating") == Some(&Value::from(5)),
        e.favorite,
        "{what} rating"
    );
    assert_eq!(
        x.get("XMP-xmp:Rating").is_some(),
        e.favorite,
        "{what} rating"
    );
    assert_eq!(
        x.get("XMP-camroll:Hidden") == Some(&Value::Bool(true)),
        e.hidden,
        "{what} hidden"
    );
    assert_eq!(
        x["XMP-dc:Title"].as_str().map(str::to_string),
        e.title.as_deref().map(xmlish),
        "{what} title"
    );
    assert_eq!(
        x["XMP-dc:Description"].as_str().map(str::to_string),
        e.caption.as_deref().map(xmlish),
        "{what} caption"
    );
    assert_eq!(list(&x["XMP-dc:Subject"]), e.keywords, "{what} keywords");
    assert_eq!(
        list(&x["XMP-lr:HierarchicalSubject"]),
        e.albums,
        "{what} albums"
    );
    assert_eq!(
        list(&x["XMP-iptcExt:PersonInImage"]),
        e.people,
        "{what} people"
    );
    let regions = x["XMP-mwg-rs:RegionInfo"]["RegionList"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut got: Vec<(String, f64, f64, f64, f64)> = regions
        .iter()
        .map(|r| {
            assert_eq!(r["Type"], "Face");
            let a = &r["Area"];
            let f = |k: &str| a[k].as_f64().unwrap();
            (
                r["Name"].as_str().unwrap().to_string(),
                f("X"),
                f("Y"),
                f("W"),
                f("H"),
            )
        })
        .collect();
    got.sort_by(|a, b| a.partial_cmp(b).unwrap());
    assert_eq!(got.len(), e.faces.len(), "{what} faces");
    for (g, w) in got.iter().zip(&e.faces) {
        assert_eq!(g.0, w.0);
        for (a, b) in [(g.1, w.1), (g.2, w.2), (g.3, w.3), (g.4, w.4)] {
            assert!((a - b).abs() < 2e-6, "{what} face {g:?} vs {w:?}");
        }
    }
    match e.location {
        None => assert!(x.get("XMP-exif:GPSLatitude").is_none(), "{what} location"),
        Some((lat, lon)) => {
            assert!(
                (x["XMP-exif:GPSLatitude"].as_f64().unwrap() - lat).abs() < 1e-6,
                "{what} lat"
            );
            assert!(
                (x["XMP-exif:GPSLongitude"].as_f64().unwrap() - lon).abs() < 1e-6,
                "{what} lon"
            );
        }
    }
    match &e.burst {
        None => assert!(x.get("XMP-camroll:BurstUUID").is_none()),
        Some((b, picked)) => {
            assert_eq!(x["XMP-camroll:BurstUUID"], b.as_str());
            assert_eq!(x["XMP-camroll:BurstPick"], *picked);
        }
    }
    // "2023-06-01T12:34:56+02:00" reads back as "2023:06:01 12:34:56+02:00".
    let want = created.replacen('-', ":", 2).replacen('T', " ", 1);
    assert_eq!(x["XMP-xmp:CreateDate"], want.as_str(), "{what} created");
    assert_eq!(
        x["XMP-photoshop:DateCreated"],
        want.as_str(),
        "{what} created"
    );
}

/// Archived path of every original in the archive, by content hash.
fn by_hash(archive: &Path) -> HashMap<String, String> {
    archived_files(archive)
        .into_iter()
        .filter(|p| !p.ends_with(".xmp"))
        .map(|p| (b3(&archive.join(&p)), p))
        .collect()
}

/// Every sidecar with its inode and content hash.
fn sidecar_states(archive: &Path) -> HashMap<String, (u64, String)> {
    archived_files(archive)
        .into_iter()
        .filter(|p| p.ends_with(".xmp"))
        .map(|p| {
            let full = archive.join(&p);
            (p, (std::fs::metadata(&full).unwrap().ino(), b3(&full)))
        })
        .collect()
}

fn b3sum_ok(a: &Path) {
    if let Some(out) = b3sum_check(a) {
        assert!(
            out.status.success(),
            "b3sum --check: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}

fn verify(a: &Path) -> (i32, Value) {
    let (code, json, _) = run_json(&["verify", a.to_str().unwrap()]);
    (code, json)
}

/// Checks every archived original's sidecar against SQL; returns the
/// originals by hash and ExifTool's view.
fn check_roll(
    media: &Path,
    a: &Path,
    layout: &MetaLayout,
    written: u64,
) -> (HashMap<String, String>, HashMap<String, Value>) {
    let db = media.join("PhotoData/Photos.sqlite");
    let archived = by_hash(a);
    let x = exiftool_all(a);
    assert_eq!(x.len() as u64, written);
    let c = Connection::open(&db).unwrap();
    let mut seen_live = 0;
    let mut checked = 0;
    let mut favorites_seen = 0;
    for asset in assets(media) {
        let Some(orig) = asset["path"].as_str() else {
            continue; // cloud-only: nothing archived
        };
        let uuid = asset["uuid"].as_str().unwrap();
        let e = expected(&c, uuid, layout);
        let created = asset["captured"].as_str().unwrap();
        let still = &archived[&b3(&media.join(orig))];
        check_sidecar(&x[still], &e, uuid, created, still);
        checked += 1;
        favorites_seen += usize::from(e.favorite);
        if let Some(mov) = asset["live_video"].as_str() {
            let movie = &archived[&b3(&media.join(mov))];
            check_sidecar(&x[movie], &e, uuid, created, movie);
            // Both files of a Live Photo get the same facts, pairing included.
            let s = std::fs::read(a.join(format!("{still}.xmp"))).unwrap();
            assert_eq!(s, std::fs::read(a.join(format!("{movie}.xmp"))).unwrap());
            assert_eq!(
                x[still]["XMP-camroll:LivePhotoMovie"],
                movie.rsplit('/').next().unwrap()
            );
            seen_live += 1;
        }
    }
    assert!(
        checked >= 6 && favorites_seen > 0,
        "{checked} {seen_live} {favorites_seen}"
    );
    // The hostile title (markup, NUL, CR LF), the right-to-left caption and a nested album came through.
    assert!(
        x.values()
            .any(|v| v["XMP-dc:Title"] == "Tom & Jerry <b>bold</b> \u{FFFD}\r\n"),
        "hostile title"
    );
    assert!(x
        .values()
        .any(|v| v["XMP-dc:Description"] == camroll_sim::library_meta::RTL_CAPTION));
    assert!(x
        .values()
        .any(|v| list(&v["XMP-lr:HierarchicalSubject"])
            .contains("Albums|Trips|2023|Rome & <Vatican>")));
    (archived, x)
}

#[test]
fn every_library_layout_round_trips_through_exiftool() {
    if !have("exiftool") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    for ios in [11, 12, 13, 14, 15, 16, 18] {
        let media = t.path().join(format!("ios{ios}"));
        generate_with(&media, 10, 21, &["--ios", &ios.to_string()]);
        let a = t.path().join(format!("a{ios}"));
        let db = media.join("PhotoData/Photos.sqlite");
        let sidecars_from = ["--sidecars-from", db.to_str().unwrap()];
        // A dry run counts the sidecars of the originals it would file.
        let (code, dry, _) = export_json(
            &media.join("DCIM"),
            &[&a],
            &[&sidecars_from[..], &["--dry-run"]].concat(),
        );
        assert_eq!(code, 0, "iOS {ios}: {dry}");
        assert!(!a.join(".camroll").exists(), "a dry run wrote the archive");
        let (code, json, _) = export_json(&media.join("DCIM"), &[&a], &sidecars_from);
        assert_eq!(code, 0, "iOS {ios}: {json}");
        assert_eq!(json["sidecars"]["failed"], 0);
        let written = json["sidecars"]["written"].as_u64().unwrap();
        assert_eq!(dry["sidecars"]["written"], written, "iOS {ios}: {dry}");
        check_roll(&media, &a, &MetaLayout::for_ios(ios), written);
        b3sum_ok(&a);
    }
}

#[test]
fn a_generated_roll_gets_sidecars_exiftool_reads_back_and_changes_replace_exactly_the_affected_ones(
) {
    if !have("exiftool") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let media = generate(t.path(), 40, 11);
    let sim = SimProc::start(&media, &[]);
    let a = t.path().join("a");
    let (code, json, stderr) = export_device(&sim.addr, t.path(), &[&a], &[]);
    assert_eq!(code, 0, "{json}\n{stderr}");
    let sc = &json["sidecars"];
    assert_eq!(sc["format"], "xmp", "{json}");
    assert_eq!(sc["failed"], 0);
    let written = sc["written"].as_u64().unwrap();
    assert!(written > 30, "{sc}");

    let l17 = MetaLayout::for_ios(17);
    let (archived, x) = check_roll(&media, &a, &l17, written);
    assert!(
        x.values()
            .any(|v| v.get("XMP-camroll:LivePhotoMovie").is_some()),
        "a Live Photo"
    );
    assert!(
        x.values().any(|v| v.get("XMP-mwg-rs:RegionInfo").is_some()),
        "a face region"
    );
    assert!(
        x.values().any(|v| v.get("XMP-camroll:BurstUUID").is_some()),
        "a burst"
    );
    let db = media.join("PhotoData/Photos.sqlite");
    let c = Connection::open(&db).unwrap();
    // The hostile title, the right-to-left caption and the nested album: checked by check_roll.
    b3sum_ok(&a);
    assert_eq!(verify(&a).0, 0);

    // A change on the phone: the first favorite is no longer one, and one
    // more asset joins the album "Beach".
    let before = sidecar_states(&a);
    let originals_before = by_hash(&a);
    let list_assets = assets(&media);
    let fav = list_assets
        .iter()
        .find(|v| v["path"].is_string() && expected(&c, v["uuid"].as_str().unwrap(), &l17).favorite)
        .unwrap()
        .clone();
    let other = list_assets
        .iter()
        .find(|v| {
            v["path"].is_string()
                && v["uuid"] != fav["uuid"]
                && !expected(&c, v["uuid"].as_str().unwrap(), &l17)
                    .albums
                    .contains("Albums|Trips|Beach")
        })
        .unwrap()
        .clone();
    c.execute(
        "UPDATE ZASSET SET ZFAVORITE = 0 WHERE ZUUID = ?1",
        [fav["uuid"].as_str().unwrap()],
    )
    .unwrap();
    c.execute(
        "INSERT INTO Z_28ASSETS (Z_28ALBUMS, Z_3ASSETS, Z_FOK_3ASSETS) SELECT 5, Z_PK, 1 FROM ZASSET WHERE ZUUID = ?1",
        [other["uuid"].as_str().unwrap()],
    )
    .unwrap();
    drop(c);
    let affected: BTreeSet<String> = [&fav, &other]
        .iter()
        .flat_map(|v| {
            let mut files = vec![v["path"].as_str().unwrap().to_string()];
            if let Some(m) = v["live_video"].as_str() {
                files.push(m.to_string());
            }
            files
        })
        .map(|f| format!("{}.xmp", archived[&b3(&media.join(f))]))
        .collect();
    let (code, json, stderr) = export_device(&sim.addr, t.path(), &[&a], &[]);
    assert_eq!(code, 0, "{json}\n{stderr}");
    assert_eq!(
        json["sidecars"]["updated"].as_u64().unwrap(),
        affected.len() as u64,
        "{}",
        json["sidecars"]
    );
    assert_eq!(json["sidecars"]["written"], 0);
    let after = sidecar_states(&a);
    let changed: BTreeSet<String> = after
        .iter()
        .filter(|(p, s)| before.get(*p) != Some(*s))
        .map(|(p, _)| p.clone())
        .collect();
    assert_eq!(
        changed, affected,
        "exactly the affected sidecars were replaced"
    );
    let x = exiftool_all(&a);
    let fav_still = &archived[&b3(&media.join(fav["path"].as_str().unwrap()))];
    assert!(x[fav_still].get("XMP-xmp:Rating").is_none());
    let other_still = &archived[&b3(&media.join(other["path"].as_str().unwrap()))];
    assert!(list(&x[other_still]["XMP-lr:HierarchicalSubject"]).contains("Albums|Trips|Beach"));
    // Originals untouched, bit-exact; BLAKE3SUMS and the catalog follow the new sidecars.
    assert_eq!(by_hash(&a), originals_before);
    b3sum_ok(&a);
    assert_eq!(verify(&a).0, 0, "verify is clean after an update");

    // No change: nothing rewritten.
    let (code, json, stderr) = export_device(&sim.addr, t.path(), &[&a], &[]);
    assert_eq!(code, 0, "{json}\n{stderr}");
    assert_eq!(json["sidecars"]["updated"], 0);
    assert_eq!(json["sidecars"]["written"], 0);
    assert_eq!(
        sidecar_states(&a),
        after,
        "a no-change run rewrote a sidecar"
    );
    // Another one: the library is not read again (docs/reliability.md, "What
    // a re-run over AFC trusts"), and the counts are the same.
    let (code, json2, stderr) = export_device(&sim.addr, t.path(), &[&a], &[]);
    assert_eq!(code, 0, "{json2}\n{stderr}");
    assert_eq!(json2["sidecars"], json["sidecars"]);

    // A sidecar deleted by hand is written again, nothing else changed.
    let mut names: Vec<&String> = after.keys().filter(|p| !affected.contains(*p)).collect();
    names.sort();
    let gone = a.join(names[0]);
    std::fs::remove_file(&gone).unwrap();
    let (code, json, stderr) = export_device(&sim.addr, t.path(), &[&a], &[]);
    assert_eq!(code, 0, "{json}\n{stderr}");
    assert_eq!(
        json["sidecars"]["written"].as_u64().unwrap()
            + json["sidecars"]["updated"].as_u64().unwrap(),
        1,
        "{}",
        json["sidecars"]
    );
    assert!(gone.is_file(), "the deleted sidecar is back");
    assert_eq!(
        sidecar_states(&a).get(names[0]).map(|s| &s.1),
        after.get(names[0]).map(|s| &s.1)
    );

    // Damage is caught.
    let victim: PathBuf = a.join(affected.iter().next().unwrap());
    flip_byte(&victim);
    let (code, json) = verify(&a);
    assert_eq!(code, 1, "{json}");
    let f = findings(&json);
    assert!(f.iter().any(|(_, p)| a.join(p) == victim), "{f:?}");
}

#[test]
fn json_sidecars_and_none() {
    let t = tempfile::tempdir().unwrap();
    let media = generate(t.path(), 6, 3);
    let sim = SimProc::start(&media, &[]);
    let a = t.path().join("a");
    let (code, json, stderr) = export_device(&sim.addr, t.path(), &[&a], &["--sidecars", "json"]);
    assert_eq!(code, 0, "{json}\n{stderr}");
    let files = archived_files(&a);
    let jsons: Vec<_> = files.iter().filter(|p| p.ends_with(".json")).collect();
    assert!(!jsons.is_empty() && files.iter().all(|p| !p.ends_with(".xmp")));
    let v: Value = serde_json::from_slice(&std::fs::read(a.join(jsons[0])).unwrap()).unwrap();
    assert_eq!(v["camroll_sidecar"], 1);
    b3sum_ok(&a);
    let b = t.path().join("b");
    let (code, json, _) = export_device(&sim.addr, t.path(), &[&b], &["--sidecars", "none"]);
    assert_eq!(code, 0);
    assert!(json.get("sidecars").is_none());
    assert!(archived_files(&b)
        .iter()
        .all(|p| !p.ends_with(".xmp") && !p.ends_with(".json")));
}

#[test]
fn a_folder_source_gets_sidecars_only_from_a_library_given() {
    let t = tempfile::tempdir().unwrap();
    let media = generate(t.path(), 6, 5);
    let a = t.path().join("a");
    let dcim = media.join("DCIM");
    let (code, json, _) = export_json(&dcim, &[&a], &[]);
    assert_eq!(code, 0, "{json}");
    assert!(json.get("sidecars").is_none());
    assert!(archived_files(&a).iter().all(|p| !p.ends_with(".xmp")));
    let db = media.join("PhotoData/Photos.sqlite");
    let (code, json, _) = export_json(&dcim, &[&a], &["--sidecars-from", db.to_str().unwrap()]);
    assert_eq!(code, 0, "{json}");
    assert!(json["sidecars"]["written"].as_u64().unwrap() > 0, "{json}");
    let n = archived_files(&a)
        .iter()
        .filter(|p| p.ends_with(".xmp"))
        .count();
    assert_eq!(n as u64, json["sidecars"]["written"].as_u64().unwrap());
    b3sum_ok(&a);
}

#[test]
fn after_a_rebuild_camrolls_sidecars_are_still_its_own_and_get_updated() {
    let t = tempfile::tempdir().unwrap();
    let media = generate(t.path(), 8, 9);
    let sim = SimProc::start(&media, &[]);
    let a = t.path().join("a");
    let (code, json, stderr) = export_device(&sim.addr, t.path(), &[&a], &[]);
    assert_eq!(code, 0, "{json}\n{stderr}");
    for f in ["catalog.sqlite", "catalog.sqlite-wal", "catalog.sqlite-shm"] {
        let _ = std::fs::remove_file(a.join(".camroll").join(f));
    }
    let (code, out, err) = run(&["rebuild", a.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    let roles: i64 = Connection::open(catalog_path(&a))
        .unwrap()
        .query_row(
            "SELECT COUNT(*) FROM files WHERE role = 'metadata_sidecar'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        roles as usize,
        archived_files(&a)
            .iter()
            .filter(|p| p.ends_with(".xmp"))
            .count()
    );
    let c = Connection::open(media.join("PhotoData/Photos.sqlite")).unwrap();
    c.execute("UPDATE ZASSET SET ZFAVORITE = 1 - ZFAVORITE", [])
        .unwrap();
    drop(c);
    let (code, json, stderr) = export_device(&sim.addr, t.path(), &[&a], &[]);
    assert_eq!(code, 0, "{json}\n{stderr}");
    assert!(
        json["sidecars"]["updated"].as_u64().unwrap() > 0,
        "{}",
        json["sidecars"]
    );
    assert_eq!(json["sidecars"]["failed"], 0);
    b3sum_ok(&a);
    assert_eq!(verify(&a).0, 0);
}

#[test]
fn albums_lists_the_albums_with_counts_links_them_and_the_report_shows_them_per_month() {
    let t = tempfile::tempdir().unwrap();
    let media = generate(t.path(), 16, 4);
    let a = t.path().join("a");
    let db = media.join("PhotoData/Photos.sqlite");
    let report = t.path().join("r.html");
    let (code, json, _) = export_json(
        &media.join("DCIM"),
        &[&a],
        &[
            "--sidecars-from",
            db.to_str().unwrap(),
            "--report",
            report.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{json}");
    // What SQL says, for the archived assets.
    let c = Connection::open(&db).unwrap();
    let l = MetaLayout::for_ios(17);
    let mut want: HashMap<String, (u64, u64)> = HashMap::new();
    let mut favorites = 0;
    for asset in assets(&media).iter().filter(|v| v["path"].is_string()) {
        let e = expected(&c, asset["uuid"].as_str().unwrap(), &l);
        favorites += u64::from(e.favorite);
        for album in e.albums {
            let w = want
                .entry(album.trim_start_matches("Albums|").replace('|', " / "))
                .or_default();
            w.0 += 1;
            w.1 += u64::from(e.favorite);
        }
    }
    let (code, json, err) = run_json(&["albums", a.to_str().unwrap()]);
    assert_eq!(code, 0, "{json}{err}");
    let got: HashMap<String, (u64, u64)> = json["albums"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            let path: Vec<&str> = v["path"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_str().unwrap())
                .collect();
            (
                path.join(" / "),
                (
                    v["assets"].as_u64().unwrap(),
                    v["favorites"].as_u64().unwrap(),
                ),
            )
        })
        .collect();
    assert_eq!(got, want);
    assert!(
        got.contains_key("Trips / 2023 / Rome & <Vatican>"),
        "{got:?}"
    );
    // Links: relative, to the originals, and verify stays clean.
    let (code, json, err) = run_json(&["albums", a.to_str().unwrap(), "--album-links"]);
    assert_eq!(code, 0, "{json}{err}");
    assert!(json["links_written"].as_u64().unwrap() > 0);
    let rome = a.join("Albums/Trips/2023/Rome & _Vatican_");
    let links: Vec<_> = std::fs::read_dir(&rome).unwrap().flatten().collect();
    assert!(!links.is_empty());
    for l in &links {
        let target = std::fs::read_link(l.path()).unwrap();
        assert!(
            target.is_relative() && target.starts_with("../../../.."),
            "{target:?}"
        );
        assert!(
            std::fs::metadata(l.path()).unwrap().is_file(),
            "{:?} resolves",
            l.path()
        );
    }
    let (code, json) = verify(&a);
    assert_eq!(code, 0, "{json}");
    // Again: nothing new, nothing wrong.
    let (code, json, _) = run_json(&["albums", a.to_str().unwrap(), "--album-links"]);
    assert_eq!(code, 0);
    assert_eq!(json["links_written"], 0);
    // The report: favorites and albums per month.
    let html = std::fs::read_to_string(&report).unwrap();
    assert!(html.contains("<th>Favorites</th><th>Albums</th>"));
    assert!(
        html.contains("Trips / 2023 / Rome &amp; &lt;Vatican&gt; ("),
        "albums per month"
    );
    let shown: u64 = html
        .split("<td class=\"favorites\">")
        .skip(1)
        .map(|s| s.split('<').next().unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(shown, favorites);
}

#[test]
fn a_file_of_the_users_with_a_sidecars_name_is_left_alone() {
    let t = tempfile::tempdir().unwrap();
    let media = generate(t.path(), 4, 8);
    let a = t.path().join("a");
    let (code, json, _) = export_json(&media.join("DCIM"), &[&a], &[]);
    assert_eq!(code, 0, "{json}");
    // darktable (say) opened the archive and wrote its own sidecar beside an original.
    let original = archived_files(&a).into_iter().next().unwrap();
    let mine = a.join(format!("{original}.xmp"));
    let theirs = b"<x:xmpmeta xmlns:x=\"adobe:ns:meta/\"><!-- darktable --></x:xmpmeta>\n";
    std::fs::write(&mine, theirs).unwrap();
    let db = media.join("PhotoData/Photos.sqlite");
    let (code, json, _) = export_json(
        &media.join("DCIM"),
        &[&a],
        &["--sidecars-from", db.to_str().unwrap()],
    );
    assert_eq!(code, 0, "{json}");
    assert_eq!(json["sidecars"]["skipped"], 1, "{}", json["sidecars"]);
    assert_eq!(json["sidecars"]["failed"], 0);
    assert!(json["sidecars"]["written"].as_u64().unwrap() > 0);
    assert_eq!(
        std::fs::read(&mine).unwrap(),
        theirs,
        "the user's file is untouched"
    );
    assert!(json["warnings"].to_string().contains("left alone"));
}
