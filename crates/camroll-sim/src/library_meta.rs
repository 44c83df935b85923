//! What people put into Photos beyond the files, written into a generated
//! `Photos.sqlite`: albums nested in folders (and the kinds that are not user
//! albums: a trashed album, an import session, a shared album), favorites,
//! hidden items, titles, captions, keywords, people with face rectangles,
//! corrected locations and bursts, for each library layout.
//!
//! Table and column names per layout follow osxphotos' `_DB_TABLE_NAMES`
//! (Photos 5 = iOS 13, 6 = iOS 14, 7 = iOS 15, 8 = iOS 16, 9 = iOS 17; the
//! iOS 12 model 12310) and its readers: albums are `ZGENERICALBUM` rows
//! (`ZKIND` 2 user album, 4000 folder, 3999 root folder, 1505 shared album,
//! 1506 import session; `ZPARENTFOLDER`, `ZTRASHEDSTATE`), joined to assets
//! through `Z_<album entity>ASSETS(Z_<album entity>ALBUMS, Z_<asset
//! entity>ASSETS)`; keywords are `ZKEYWORD.ZTITLE` joined through
//! `Z_1KEYWORDS(Z_1ASSETATTRIBUTES, Z_<keyword entity>KEYWORDS)`; captions
//! are `ZASSETDESCRIPTION.ZLONGDESCRIPTION` (`ZADDITIONALASSETATTRIBUTES.
//! ZASSETDESCRIPTION`); faces are `ZDETECTEDFACE` rows (`ZCENTERX`,
//! `ZCENTERY`, `ZSIZE`) pointing at `ZPERSON` (`ZFULLNAME`) through
//! `ZASSET`/`ZPERSON`, or `ZASSETFORFACE`/`ZPERSONFORFACE` from iOS 17.
//! Entity numbers are registered in `Z_PRIMARYKEY`, where readers resolve them.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rusqlite::{params, Connection};

/// Table and column names of one library layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaLayout {
    /// `ZASSET` (iOS 14+) or `ZGENERICASSET`.
    pub asset_table: &'static str,
    /// The asset entity number (the `3` of `Z_3ASSETS`).
    pub asset_ent: u32,
    /// The album entity number (the `28` of `Z_28ASSETS`).
    pub album_ent: u32,
    /// The keyword entity number (the `40` of `Z_40KEYWORDS`).
    pub keyword_ent: u32,
    /// `ZDETECTEDFACE`'s asset column.
    pub face_asset: &'static str,
    /// `ZDETECTEDFACE`'s person column.
    pub face_person: &'static str,
}

impl MetaLayout {
    /// The layout of an iOS version's library (11–18).
    pub fn for_ios(ios: u32) -> MetaLayout {
        let (asset_table, asset_ent, album_ent, keyword_ent) = match ios {
            0..=12 => ("ZGENERICASSET", 30, 23, 34),
            13 => ("ZGENERICASSET", 34, 26, 37),
            14 => ("ZASSET", 3, 26, 36),
            15 => ("ZASSET", 3, 27, 38),
            _ => ("ZASSET", 3, 28, 40),
        };
        let (face_asset, face_person) = if ios >= 17 {
            ("ZASSETFORFACE", "ZPERSONFORFACE")
        } else {
            ("ZASSET", "ZPERSON")
        };
        MetaLayout {
            asset_table,
            asset_ent,
            album_ent,
            keyword_ent,
            face_asset,
            face_person,
        }
    }
}

/// Strings a careless exporter would break: markup, entities, a NUL, a
/// carriage return, right-to-left text.
pub const HOSTILE_TITLE: &str = "Tom & Jerry <b>bold</b> \u{0}\r\n";
/// A right-to-left caption.
pub const RTL_CAPTION: &str = "שלום עולם — مرحبا بالعالم";

fn add_column(conn: &Connection, table: &str, col: &str, ty: &str) -> rusqlite::Result<()> {
    let has: bool = conn
        .prepare(&format!(
            "SELECT 1 FROM pragma_table_info('{table}') WHERE name = ?1"
        ))?
        .exists([col])?;
    if !has {
        conn.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {col} {ty}"))?;
    }
    Ok(())
}

/// Writes the metadata tables for the assets already in `layout.asset_table`
/// (each with a `ZADDITIONALASSETATTRIBUTES` row, added where missing).
/// Deterministic for a given `seed`. The first assets get everything (so a
/// small roll covers every field); the rest get a random share.
pub fn write_library_meta(
    conn: &Connection,
    layout: &MetaLayout,
    seed: u64,
) -> rusqlite::Result<()> {
    let at = layout.asset_table;
    let (album, kw) = (layout.album_ent, layout.keyword_ent);
    let ae = layout.asset_ent;
    for (col, ty) in [
        ("ZFAVORITE", "INTEGER"),
        ("ZHIDDEN", "INTEGER"),
        ("ZKIND", "INTEGER"),
        ("ZLATITUDE", "FLOAT"),
        ("ZLONGITUDE", "FLOAT"),
        ("ZWIDTH", "INTEGER"),
        ("ZHEIGHT", "INTEGER"),
        ("ZORIENTATION", "INTEGER"),
        ("ZAVALANCHEUUID", "VARCHAR"),
        ("ZAVALANCHEPICKTYPE", "INTEGER"),
        ("ZADDITIONALATTRIBUTES", "INTEGER"),
    ] {
        add_column(conn, at, col, ty)?;
    }
    conn.execute_batch(&format!(
        "CREATE TABLE IF NOT EXISTS ZADDITIONALASSETATTRIBUTES (Z_PK INTEGER PRIMARY KEY, Z_ENT INTEGER, Z_OPT INTEGER, ZASSET INTEGER);
         INSERT INTO ZADDITIONALASSETATTRIBUTES (Z_ENT, Z_OPT, ZASSET)
           SELECT 1, 1, a.Z_PK FROM {at} a WHERE NOT EXISTS (SELECT 1 FROM ZADDITIONALASSETATTRIBUTES x WHERE x.ZASSET = a.Z_PK);
         UPDATE {at} SET ZADDITIONALATTRIBUTES = (SELECT x.Z_PK FROM ZADDITIONALASSETATTRIBUTES x WHERE x.ZASSET = {at}.Z_PK)
           WHERE ZADDITIONALATTRIBUTES IS NULL;
         UPDATE {at} SET ZORIENTATION = 1 WHERE ZORIENTATION IS NULL;
         UPDATE {at} SET ZWIDTH = 4032, ZHEIGHT = 3024 WHERE ZWIDTH IS NULL OR ZHEIGHT IS NULL;
         UPDATE {at} SET ZKIND = 0 WHERE ZKIND IS NULL;
         UPDATE {at} SET ZFAVORITE = 0 WHERE ZFAVORITE IS NULL;
         UPDATE {at} SET ZHIDDEN = 0 WHERE ZHIDDEN IS NULL;"
    ))?;
    add_column(conn, "ZADDITIONALASSETATTRIBUTES", "ZTITLE", "VARCHAR")?;
    add_column(
        conn,
        "ZADDITIONALASSETATTRIBUTES",
        "ZASSETDESCRIPTION",
        "INTEGER",
    )?;
    let fa = layout.face_asset;
    let fp = layout.face_person;
    conn.execute_batch(&format!(
        "CREATE TABLE ZGENERICALBUM (Z_PK INTEGER PRIMARY KEY, Z_ENT INTEGER, Z_OPT INTEGER,
           ZKIND INTEGER, ZTRASHEDSTATE INTEGER, ZPARENTFOLDER INTEGER, ZTITLE VARCHAR, ZUUID VARCHAR,
           ZCLOUDLOCALSTATE INTEGER, ZCREATIONDATE TIMESTAMP);
         CREATE TABLE Z_{album}ASSETS (Z_{album}ALBUMS INTEGER, Z_{ae}ASSETS INTEGER, Z_FOK_{ae}ASSETS INTEGER,
           PRIMARY KEY (Z_{album}ALBUMS, Z_{ae}ASSETS));
         CREATE TABLE ZKEYWORD (Z_PK INTEGER PRIMARY KEY, Z_ENT INTEGER, Z_OPT INTEGER, ZTITLE VARCHAR, ZUUID VARCHAR);
         CREATE TABLE Z_1KEYWORDS (Z_1ASSETATTRIBUTES INTEGER, Z_{kw}KEYWORDS INTEGER,
           PRIMARY KEY (Z_1ASSETATTRIBUTES, Z_{kw}KEYWORDS));
         CREATE TABLE ZASSETDESCRIPTION (Z_PK INTEGER PRIMARY KEY, Z_ENT INTEGER, Z_OPT INTEGER,
           ZASSETATTRIBUTES INTEGER, ZLONGDESCRIPTION VARCHAR);
         CREATE TABLE ZPERSON (Z_PK INTEGER PRIMARY KEY, Z_ENT INTEGER, Z_OPT INTEGER, ZPERSONUUID VARCHAR,
           ZFULLNAME VARCHAR, ZDISPLAYNAME VARCHAR, ZFACECOUNT INTEGER);
         CREATE TABLE ZDETECTEDFACE (Z_PK INTEGER PRIMARY KEY, Z_ENT INTEGER, Z_OPT INTEGER, ZUUID VARCHAR,
           {fa} INTEGER, {fp} INTEGER, ZCENTERX FLOAT, ZCENTERY FLOAT, ZSIZE FLOAT,
           ZSOURCEWIDTH INTEGER, ZSOURCEHEIGHT INTEGER, ZHIDDEN INTEGER, ZMANUAL INTEGER);"
    ))?;
    // Entity numbers, where readers resolve the join tables' names.
    let mut reg = conn.prepare(
        "INSERT OR REPLACE INTO Z_PRIMARYKEY (Z_ENT, Z_NAME, Z_SUPER, Z_MAX) VALUES (?1, ?2, ?3, 0)",
    )?;
    let ents: [(u32, &str, u32); 8] = [
        (1, "AdditionalAssetAttributes", 0),
        (ae, "Asset", 0),
        (album - 1, "GenericAlbum", 0),
        (album, "Album", album - 1),
        (kw, "Keyword", 0),
        (kw - 8, "Person", 0),
        (kw - 20, "DetectedFace", 0),
        (kw - 21, "AssetDescription", 0),
    ];
    for (e, n, s) in ents {
        reg.execute(params![e, n, s])?;
    }

    // Folders and albums: Trips ▸ 2023 ▸ Rome, Trips ▸ Beach, a top-level
    // album, a trashed album, an import session, a shared album.
    let albums: [(i64, i64, i64, &str, i64); 10] = [
        // (pk, kind, parent, title, trashed)
        (1, 3999, 0, "", 0),
        (2, 4000, 1, "Trips", 0),
        (3, 4000, 2, "2023", 0),
        (4, 2, 3, "Rome & <Vatican>", 0),
        (5, 2, 2, "Beach", 0),
        (6, 2, 1, "Family", 0),
        (7, 2, 1, "Deleted album", 1),
        (8, 1506, 1, "Import 2023-06-01", 0),
        (9, 1505, 1, "Shared with friends", 0),
        (10, 4000, 1, "Old folder (trashed)", 1),
    ];
    {
        let mut ins = conn.prepare(
            "INSERT INTO ZGENERICALBUM (Z_PK, Z_ENT, Z_OPT, ZKIND, ZTRASHEDSTATE, ZPARENTFOLDER, ZTITLE, ZUUID)
             VALUES (?1, ?2, 1, ?3, ?4, ?5, ?6, ?7)",
        )?;
        for (pk, kind, parent, title, trashed) in albums {
            ins.execute(params![
                pk,
                album,
                kind,
                trashed,
                (parent != 0).then_some(parent),
                (kind != 3999).then_some(title),
                format!("ALBUM-{pk:04}")
            ])?;
        }
        // An album in the trashed folder: left out with its folder.
        ins.execute(params![
            11,
            album,
            2,
            0,
            10,
            "In trashed folder",
            "ALBUM-0011"
        ])?;
    }
    let keywords = ["beach", "sunset", "<&> \"quoted\"", "family", "עברית"];
    for (i, k) in keywords.iter().enumerate() {
        conn.execute(
            "INSERT INTO ZKEYWORD (Z_PK, Z_ENT, Z_OPT, ZTITLE, ZUUID) VALUES (?1, ?2, 1, ?3, ?4)",
            params![i as i64 + 1, kw, k, format!("KW-{i}")],
        )?;
    }
    let people = [
        ("Ada Lovelace", "Ada"),
        ("Émile Zola", "Émile"),
        ("", ""), // an unnamed face cluster: left out
    ];
    for (i, (full, display)) in people.iter().enumerate() {
        conn.execute(
            "INSERT INTO ZPERSON (Z_PK, Z_ENT, Z_OPT, ZPERSONUUID, ZFULLNAME, ZDISPLAYNAME, ZFACECOUNT)
             VALUES (?1, ?2, 1, ?3, ?4, ?5, 1)",
            params![i as i64 + 1, kw - 8, format!("PERSON-{i}"), full, display],
        )?;
    }

    let assets: Vec<(i64, i64, i64, i64)> = conn
        .prepare(&format!(
            "SELECT a.Z_PK, a.ZKIND, a.ZADDITIONALATTRIBUTES, COALESCE(a.ZKINDSUBTYPE, 0)
             FROM {at} a ORDER BY a.Z_PK"
        ))
        .or_else(|_| {
            conn.prepare(&format!(
                "SELECT a.Z_PK, a.ZKIND, a.ZADDITIONALATTRIBUTES, 0 FROM {at} a ORDER BY a.Z_PK"
            ))
        })?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
        .collect::<Result<_, _>>()?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x4D45_5441);
    let mut face_pk = 0i64;
    let mut desc_pk = 0i64;
    let mut burst_left = 0;
    let mut burst_n = 0;
    for (i, &(pk, kind, aa, _subtype)) in assets.iter().enumerate() {
        let rich = i == 0;
        let second = i == 1;
        let r = |rng: &mut ChaCha8Rng, p: f64| rng.gen_bool(p);
        // Albums.
        let mut in_albums = Vec::new();
        if rich {
            in_albums.extend([4, 6, 8]);
        } else if second {
            in_albums.extend([5, 7, 9, 11]);
        } else {
            for a in [4, 5, 6, 7, 8] {
                if r(&mut rng, 0.12) {
                    in_albums.push(a);
                }
            }
        }
        for a in in_albums {
            conn.execute(
                &format!("INSERT INTO Z_{album}ASSETS (Z_{album}ALBUMS, Z_{ae}ASSETS, Z_FOK_{ae}ASSETS) VALUES (?1, ?2, ?3)"),
                params![a, pk, 1024 * (i as i64 + 1)],
            )?;
        }
        // Keywords.
        for (k, _) in keywords.iter().enumerate() {
            if (rich && k < 3) || (second && k == 4) || (!rich && !second && r(&mut rng, 0.1)) {
                conn.execute(
                    &format!("INSERT INTO Z_1KEYWORDS (Z_1ASSETATTRIBUTES, Z_{kw}KEYWORDS) VALUES (?1, ?2)"),
                    params![aa, k as i64 + 1],
                )?;
            }
        }
        // Title and caption.
        let title = if rich {
            Some(HOSTILE_TITLE.to_string())
        } else if second || r(&mut rng, 0.1) {
            Some(format!("Title {}", i + 1))
        } else {
            None
        };
        conn.execute(
            "UPDATE ZADDITIONALASSETATTRIBUTES SET ZTITLE = ?1 WHERE Z_PK = ?2",
            params![title, aa],
        )?;
        let caption = if rich {
            Some(RTL_CAPTION.to_string())
        } else if r(&mut rng, 0.1) {
            Some(format!("Caption of {}\nwith a second line", i + 1))
        } else {
            None
        };
        if let Some(c) = caption {
            desc_pk += 1;
            conn.execute(
                "INSERT INTO ZASSETDESCRIPTION (Z_PK, Z_ENT, Z_OPT, ZASSETATTRIBUTES, ZLONGDESCRIPTION) VALUES (?1, ?2, 1, ?3, ?4)",
                params![desc_pk, kw - 21, aa, c],
            )?;
            conn.execute(
                "UPDATE ZADDITIONALASSETATTRIBUTES SET ZASSETDESCRIPTION = ?1 WHERE Z_PK = ?2",
                params![desc_pk, aa],
            )?;
        }
        // Favorite and hidden (the generator may have set them already).
        if rich {
            conn.execute(
                &format!("UPDATE {at} SET ZFAVORITE = 1, ZHIDDEN = 0 WHERE Z_PK = ?1"),
                [pk],
            )?;
        } else if second {
            conn.execute(
                &format!("UPDATE {at} SET ZFAVORITE = 0, ZHIDDEN = 1 WHERE Z_PK = ?1"),
                [pk],
            )?;
        }
        // Location: most have one (some corrected by the user, which is what the
        // library stores); some have none (-180, -180).
        let (lat, lon) = if second || (!rich && r(&mut rng, 0.2)) {
            (-180.0, -180.0)
        } else {
            (
                (rng.gen_range(-60.0..70.0f64) * 1e6).round() / 1e6,
                (rng.gen_range(-179.0..179.0f64) * 1e6).round() / 1e6,
            )
        };
        conn.execute(
            &format!("UPDATE {at} SET ZLATITUDE = ?1, ZLONGITUDE = ?2 WHERE Z_PK = ?3"),
            params![lat, lon, pk],
        )?;
        // Faces: named people on photos (and an unnamed face on the second asset).
        let mut faces: Vec<i64> = Vec::new();
        if rich {
            faces.extend([1, 2]);
        } else if second {
            faces.push(3);
        } else if kind == 0 && r(&mut rng, 0.1) {
            faces.push(rng.gen_range(1..=3));
        }
        for person in faces {
            face_pk += 1;
            let cx = (rng.gen_range(0.2..0.8f64) * 1e4).round() / 1e4;
            let cy = (rng.gen_range(0.2..0.8f64) * 1e4).round() / 1e4;
            let size = (rng.gen_range(0.05..0.2f64) * 1e4).round() / 1e4;
            conn.execute(
                &format!(
                    "INSERT INTO ZDETECTEDFACE (Z_PK, Z_ENT, Z_OPT, ZUUID, {fa}, {fp}, ZCENTERX, ZCENTERY, ZSIZE, ZHIDDEN, ZMANUAL)
                     VALUES (?1, ?2, 1, ?3, ?4, ?5, ?6, ?7, ?8, 0, 0)"
                ),
                params![face_pk, kw - 20, format!("FACE-{face_pk}"), pk, person, cx, cy, size],
            )?;
        }
        // Bursts: three consecutive stills now and then; the middle one picked.
        if burst_left == 0 && kind == 0 && !rich && !second && r(&mut rng, 0.05) {
            burst_left = 3;
            burst_n += 1;
        }
        if burst_left > 0 && kind == 0 {
            let pick = match burst_left {
                3 => 2,
                2 => 8 | 2,
                _ => 16 | 4 | 32,
            };
            conn.execute(
                &format!(
                    "UPDATE {at} SET ZAVALANCHEUUID = ?1, ZAVALANCHEPICKTYPE = ?2 WHERE Z_PK = ?3"
                ),
                params![format!("BURST-{burst_n:04}"), pick, pk],
            )?;
            burst_left -= 1;
        } else {
            burst_left = 0;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_name_their_join_tables_by_version() {
        let l = MetaLayout::for_ios(13);
        assert_eq!(
            (l.asset_table, l.album_ent, l.asset_ent, l.keyword_ent),
            ("ZGENERICASSET", 26, 34, 37)
        );
        assert_eq!(MetaLayout::for_ios(14).album_ent, 26);
        assert_eq!(MetaLayout::for_ios(15).album_ent, 27);
        assert_eq!(MetaLayout::for_ios(16).face_person, "ZPERSON");
        assert_eq!(MetaLayout::for_ios(17).face_person, "ZPERSONFORFACE");
    }

    #[test]
    fn writes_into_a_bare_asset_table() {
        let c = Connection::open_in_memory().unwrap();
        c.execute_batch(
            "CREATE TABLE Z_PRIMARYKEY (Z_ENT INTEGER PRIMARY KEY, Z_NAME VARCHAR, Z_SUPER INTEGER, Z_MAX INTEGER);
             CREATE TABLE ZGENERICASSET (Z_PK INTEGER PRIMARY KEY, ZUUID VARCHAR, ZDIRECTORY VARCHAR, ZFILENAME VARCHAR);
             INSERT INTO ZGENERICASSET VALUES (1, 'A', 'DCIM/100APPLE', 'IMG_0001.JPG'), (2, 'B', 'DCIM/100APPLE', 'IMG_0002.JPG');",
        )
        .unwrap();
        write_library_meta(&c, &MetaLayout::for_ios(13), 7).unwrap();
        let n: i64 = c
            .query_row(
                "SELECT COUNT(*) FROM Z_26ASSETS WHERE Z_34ASSETS = 1",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 3);
        let t: String = c
            .query_row(
                "SELECT ZTITLE FROM ZADDITIONALASSETATTRIBUTES WHERE ZASSET = 1",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(t, HOSTILE_TITLE);
    }
}
