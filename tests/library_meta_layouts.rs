//! The sidecar facts read from every library layout (iOS 12–18 table and
//! column names), against what plain SQL on the same library says.

use std::collections::BTreeSet;

use camroll::source::library_meta::{read_library_meta, MetaMatch};
use camroll_sim::library_meta::{write_library_meta, MetaLayout, HOSTILE_TITLE, RTL_CAPTION};
use rusqlite::Connection;

fn library(ios: u32, dir: &std::path::Path) -> (std::path::PathBuf, MetaLayout) {
    let layout = MetaLayout::for_ios(ios);
    let p = dir.join(format!("Photos-{ios}.sqlite"));
    let c = Connection::open(&p).unwrap();
    let at = layout.asset_table;
    c.execute_batch(&format!(
        "CREATE TABLE Z_PRIMARYKEY (Z_ENT INTEGER PRIMARY KEY, Z_NAME VARCHAR, Z_SUPER INTEGER, Z_MAX INTEGER);
         CREATE TABLE {at} (Z_PK INTEGER PRIMARY KEY, ZUUID VARCHAR, ZDIRECTORY VARCHAR, ZFILENAME VARCHAR,
           ZKIND INTEGER, ZDATECREATED TIMESTAMP);
         CREATE TABLE ZADDITIONALASSETATTRIBUTES (Z_PK INTEGER PRIMARY KEY, Z_ENT INTEGER, Z_OPT INTEGER,
           ZASSET INTEGER, ZTIMEZONEOFFSET INTEGER);"
    ))
    .unwrap();
    for i in 1..=24 {
        let dir = if ios <= 12 {
            "100APPLE"
        } else {
            "DCIM/100APPLE"
        };
        c.execute(
            &format!("INSERT INTO {at} VALUES (?1, ?2, ?3, ?4, ?5, ?6)"),
            rusqlite::params![
                i,
                format!("UUID-{i:04}"),
                dir,
                format!("IMG_{i:04}.{}", if i % 7 == 0 { "MOV" } else { "HEIC" }),
                i64::from(i % 7 == 0),
                700_000_000.0 + f64::from(i) * 1000.0
            ],
        )
        .unwrap();
        c.execute(
            "INSERT INTO ZADDITIONALASSETATTRIBUTES (Z_PK, Z_ENT, Z_OPT, ZASSET, ZTIMEZONEOFFSET) VALUES (?1, 1, 1, ?1, 7200)",
            [i],
        )
        .unwrap();
    }
    write_library_meta(&c, &layout, u64::from(ios)).unwrap();
    (p, layout)
}

#[test]
fn every_layout_gives_the_facts_sql_gives() {
    let d = tempfile::tempdir().unwrap();
    for ios in [12, 13, 14, 15, 16, 17, 18] {
        let (p, l) = library(ios, d.path());
        let meta = read_library_meta(&p).unwrap_or_else(|e| panic!("iOS {ios}: {e}"));
        assert_eq!(meta.len(), 24, "iOS {ios}");
        let c = Connection::open(&p).unwrap();
        let at = l.asset_table;
        let (album, ae, kw) = (l.album_ent, l.asset_ent, l.keyword_ent);
        let (fa, fp) = (l.face_asset, l.face_person);
        let mut checked_faces = 0;
        for pk in 1..=24i64 {
            let name = format!(
                "DCIM/100APPLE/IMG_{pk:04}.{}",
                if pk % 7 == 0 { "MOV" } else { "HEIC" }
            );
            let (m, how) = meta
                .lookup(&name)
                .unwrap_or_else(|| panic!("iOS {ios}: {name}"));
            assert_eq!(how, MetaMatch::Original);
            let (uuid, fav, hidden, lat, lon, title): (String, i64, i64, f64, f64, Option<String>) = c
                .query_row(
                    &format!(
                        "SELECT a.ZUUID, a.ZFAVORITE, a.ZHIDDEN, a.ZLATITUDE, a.ZLONGITUDE, aa.ZTITLE
                         FROM {at} a JOIN ZADDITIONALASSETATTRIBUTES aa ON aa.Z_PK = a.ZADDITIONALATTRIBUTES WHERE a.Z_PK = ?1"
                    ),
                    [pk],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)),
                )
                .unwrap();
            assert_eq!(m.uuid, uuid);
            assert_eq!(m.favorite, fav == 1, "iOS {ios} {name}");
            assert_eq!(m.hidden, hidden == 1);
            assert_eq!(m.title, title);
            if lat == -180.0 {
                assert_eq!(m.location, None);
            } else {
                assert_eq!(m.location, Some((lat, lon)));
            }
            let caption: Option<String> = c
                .query_row(
                    "SELECT d.ZLONGDESCRIPTION FROM ZADDITIONALASSETATTRIBUTES aa JOIN ZASSETDESCRIPTION d ON d.Z_PK = aa.ZASSETDESCRIPTION WHERE aa.ZASSET = ?1",
                    [pk],
                    |r| r.get(0),
                )
                .ok();
            assert_eq!(m.caption, caption);
            let kws: BTreeSet<String> = c
                .prepare(&format!(
                    "SELECT k.ZTITLE FROM Z_1KEYWORDS j JOIN ZKEYWORD k ON k.Z_PK = j.Z_{kw}KEYWORDS WHERE j.Z_1ASSETATTRIBUTES = ?1"
                ))
                .unwrap()
                .query_map([pk], |r| r.get(0))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            assert_eq!(m.keywords.iter().cloned().collect::<BTreeSet<_>>(), kws);
            // User albums not trashed, with their folder path.
            let albums: BTreeSet<Vec<String>> = c
                .prepare(&format!(
                    "SELECT g.Z_PK FROM Z_{album}ASSETS j JOIN ZGENERICALBUM g ON g.Z_PK = j.Z_{album}ALBUMS
                     WHERE j.Z_{ae}ASSETS = ?1 AND g.ZKIND = 2 AND g.ZTRASHEDSTATE = 0"
                ))
                .unwrap()
                .query_map([pk], |r| r.get::<_, i64>(0))
                .unwrap()
                .map(Result::unwrap)
                .filter_map(|mut g| {
                    let mut path = Vec::new();
                    loop {
                        let (kind, parent, title, trashed): (i64, Option<i64>, Option<String>, i64) = c
                            .query_row(
                                "SELECT ZKIND, ZPARENTFOLDER, ZTITLE, ZTRASHEDSTATE FROM ZGENERICALBUM WHERE Z_PK = ?1",
                                [g],
                                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                            )
                            .unwrap();
                        if trashed == 1 {
                            return None;
                        }
                        if kind == 3999 {
                            break;
                        }
                        path.insert(0, title.unwrap());
                        match parent {
                            Some(p) => g = p,
                            None => break,
                        }
                    }
                    Some(path)
                })
                .collect();
            assert_eq!(
                m.albums.iter().cloned().collect::<BTreeSet<_>>(),
                albums,
                "iOS {ios} {name}"
            );
            let people: BTreeSet<String> = c
                .prepare(&format!(
                    "SELECT p.ZFULLNAME FROM ZDETECTEDFACE f JOIN ZPERSON p ON p.Z_PK = f.{fp}
                     WHERE f.{fa} = ?1 AND p.ZFULLNAME != ''"
                ))
                .unwrap()
                .query_map([pk], |r| r.get(0))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            assert_eq!(m.people.iter().cloned().collect::<BTreeSet<_>>(), people);
            for f in &m.faces {
                let (cx, cy, size): (f64, f64, f64) = c
                    .query_row(
                        &format!(
                            "SELECT f.ZCENTERX, f.ZCENTERY, f.ZSIZE FROM ZDETECTEDFACE f JOIN ZPERSON p ON p.Z_PK = f.{fp}
                             WHERE f.{fa} = ?1 AND p.ZFULLNAME = ?2"
                        ),
                        rusqlite::params![pk, f.name],
                        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                    )
                    .unwrap();
                // 4032 × 3024, upright: y flips, sizes scale by the long side.
                assert!((f.x - cx).abs() < 1e-9 && (f.y - (1.0 - cy)).abs() < 1e-9);
                assert!((f.w - size).abs() < 1e-9 && (f.h - size * 4032.0 / 3024.0).abs() < 1e-9);
                checked_faces += 1;
            }
        }
        assert!(
            checked_faces >= 2,
            "iOS {ios}: faces checked {checked_faces}"
        );
        let (first, _) = meta.lookup("DCIM/100APPLE/IMG_0001.HEIC").unwrap();
        assert_eq!(first.title.as_deref(), Some(HOSTILE_TITLE));
        assert_eq!(first.caption.as_deref(), Some(RTL_CAPTION));
        assert!(first.favorite);
        assert_eq!(first.albums.len(), 2, "iOS {ios}: {:?}", first.albums);
        assert_eq!(first.created.as_deref(), Some("2023-03-08T22:43:20+02:00"));
    }
}
