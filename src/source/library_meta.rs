//! What people put into Photos beyond the files, read from a local copy of
//! `Photos.sqlite` for the sidecars: favorites, hidden, titles, captions,
//! keywords, user albums with their folder paths, named people and their face
//! rectangles, locations, capture times, bursts and asset UUIDs.
//!
//! Facts used (osxphotos `_constants.py` `_DB_TABLE_NAMES` and
//! `photosdb.py`; iLEAPP's and Scott Koenig's Photos.sqlite queries):
//! - the asset table is `ZASSET` (iOS 14+) or `ZGENERICASSET`;
//! - albums are `ZGENERICALBUM` rows: `ZKIND` 2 user album, 4000 folder, 3999
//!   the root folder (others: shared albums 1505, import sessions 1506,
//!   projects 1508, smart albums); `ZPARENTFOLDER` links to the folder;
//!   `ZTRASHEDSTATE = 1` is trashed. They join assets through a table whose
//!   name and columns carry Core Data entity numbers that change with the
//!   version (`Z_26ASSETS(Z_26ALBUMS, Z_34ASSETS)` on iOS 13, `Z_3ASSETS` from
//!   iOS 14, `Z_27ASSETS` on 15, `Z_28ASSETS` from 16): resolved here from
//!   `Z_PRIMARYKEY` and `sqlite_master` by `library_schema`, never hard-coded;
//! - keywords are `ZKEYWORD.ZTITLE` joined through
//!   `Z_1KEYWORDS(Z_1ASSETATTRIBUTES, Z_<n>KEYWORDS)` to
//!   `ZADDITIONALASSETATTRIBUTES`, which also holds `ZTITLE` and points to
//!   `ZASSETDESCRIPTION` (`ZLONGDESCRIPTION`, the caption);
//! - faces are `ZDETECTEDFACE` rows with `ZASSET`/`ZPERSON`, or
//!   `ZASSETFORFACE`/`ZPERSONFORFACE` on newer libraries, a centre
//!   (`ZCENTERX`, `ZCENTERY`: 0–1, origin at the bottom left of the stored
//!   image) and a size (`ZSIZE`: a fraction of the longer side); the person's
//!   name is `ZPERSON.ZFULLNAME` (empty for unnamed clusters), else
//!   `ZDISPLAYNAME`;
//! - `ZLATITUDE`/`ZLONGITUDE` hold the location with the user's corrections,
//!   `-180` meaning none; `ZAVALANCHEUUID`/`ZAVALANCHEPICKTYPE` mark bursts
//!   (pick bits: 8 selected by the user, 16 the key photo).
//!
//! Everything read is bounded and validated: the library comes from the phone.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use rusqlite::Connection;

use super::library::{media_path, LibraryError};
use super::library_schema::{self, columns, core_data_utc, LibrarySchema};
use crate::media::sidecar::{AssetMeta, Burst, FaceRegion};

/// Deepest folder nesting followed (a loop in `ZPARENTFOLDER` must end).
const MAX_FOLDER_DEPTH: usize = 64;
/// Most rows read from any one metadata table.
const MAX_ROWS: usize = 5_000_000;

/// Which file of an asset a source item is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetaMatch {
    /// The asset's original itself.
    Original,
    /// The Live Photo movie beside a still (same folder and stem).
    LivePhotoMovie,
}

/// The facts of every asset, by where its original lives on the phone.
#[derive(Debug, Clone, Default)]
pub struct LibraryMeta {
    /// Lower-case media path (`dcim/100apple/img_0001.heic`) → facts.
    assets: HashMap<String, AssetMeta>,
    /// (lower-case folder, lower-case stem) of stills → their key in `assets`.
    still_stems: HashMap<(String, String), String>,
    /// How the library's tables were resolved.
    pub schema: LibrarySchema,
}

impl LibraryMeta {
    /// How many assets the library describes.
    pub fn len(&self) -> usize {
        self.assets.len()
    }

    /// Whether the library describes no asset.
    pub fn is_empty(&self) -> bool {
        self.assets.is_empty()
    }

    /// The facts for a source item, by its path relative to the source: the
    /// media root for the phone; for a folder (an ifuse mount, a copied DCIM)
    /// the path may lack the leading folders, so shorter and `DCIM/`-prefixed
    /// forms are tried too.
    pub fn lookup(&self, rel_path: &str) -> Option<(&AssetMeta, MetaMatch)> {
        let lower = rel_path.to_lowercase();
        let mut candidates = vec![lower.clone(), format!("dcim/{lower}")];
        let mut rest = lower.as_str();
        while let Some((_, tail)) = rest.split_once('/') {
            candidates.push(tail.to_string());
            rest = tail;
        }
        for c in &candidates {
            if let Some(m) = self.assets.get(c) {
                return Some((m, MetaMatch::Original));
            }
        }
        if !crate::media::group::is_video_name(rel_path) {
            return None;
        }
        for c in &candidates {
            let (dir, name) = c.rsplit_once('/').unwrap_or(("", c));
            let stem = name.rsplit_once('.').map_or(name, |(s, _)| s);
            if let Some(key) = self.still_stems.get(&(dir.to_string(), stem.to_string())) {
                return self.assets.get(key).map(|m| (m, MetaMatch::LivePhotoMovie));
            }
        }
        None
    }
}

/// One asset row with what the sidecar needs from it.
struct Row {
    pk: i64,
    attrs: Option<i64>,
    path: String,
    kind: i64,
    width: Option<i64>,
    height: Option<i64>,
    orientation: Option<i64>,
    meta: AssetMeta,
}

/// Reads the sidecar facts of every asset from a local copy of Photos.sqlite.
pub fn read_library_meta(db: &Path) -> Result<LibraryMeta, LibraryError> {
    let err = |reason: String| LibraryError {
        path: db.to_path_buf(),
        reason,
    };
    // The same guards as the library report: the file comes from the phone.
    let conn = super::library::open_guarded(db, &super::library::Budget::default())
        .map_err(|e| err(super::library::guard_words(e)))?;
    let schema = library_schema::resolve(&conn).map_err(|e| err(e.to_string()))?;
    let all = schema.tables.clone();
    let mut rows = read_assets(&conn, &schema).map_err(|e| err(e.to_string()))?;
    let by_pk: HashMap<i64, usize> = rows.iter().enumerate().map(|(i, r)| (r.pk, i)).collect();
    let by_attrs: HashMap<i64, usize> = rows
        .iter()
        .enumerate()
        .filter_map(|(i, r)| r.attrs.map(|a| (a, i)))
        .collect();
    // Optional tables: a library without them, or with an unexpected shape,
    // still gives the asset facts.
    if let Err(e) = read_captions(&conn, &all, &by_attrs, &mut rows) {
        return Err(err(format!("reading captions: {e}")));
    }
    if let Some(j) = &schema.keyword_join {
        read_keywords(&conn, j, &by_attrs, &mut rows)
            .map_err(|e| err(format!("reading keywords: {e}")))?;
    }
    if let Some(j) = &schema.album_join {
        if all.contains("ZGENERICALBUM") {
            read_albums(&conn, j, &by_pk, &mut rows)
                .map_err(|e| err(format!("reading albums: {e}")))?;
        }
    }
    if let Some(cols) = &schema.face_columns {
        if all.contains("ZPERSON") {
            read_faces(&conn, cols, &by_pk, &mut rows)
                .map_err(|e| err(format!("reading faces: {e}")))?;
        }
    }
    let mut out = LibraryMeta {
        schema,
        ..Default::default()
    };
    for r in rows {
        let key = r.path.to_lowercase();
        if r.kind == 0 {
            let (dir, name) = key.rsplit_once('/').unwrap_or(("", &key));
            let stem = name.rsplit_once('.').map_or(name, |(s, _)| s);
            out.still_stems
                .insert((dir.to_string(), stem.to_string()), key.clone());
        }
        let mut meta = r.meta;
        meta.normalize();
        out.assets.insert(key, meta);
    }
    Ok(out)
}

fn read_assets(conn: &Connection, schema: &LibrarySchema) -> rusqlite::Result<Vec<Row>> {
    let t = &schema.asset_table;
    let col = |c: &str, fallback: &str| schema.asset_col(c, fallback);
    let join = schema.attributes_join();
    let attrs = schema.attr_col("Z_PK", "NULL");
    let tz = schema.attr_col("ZTIMEZONEOFFSET", "NULL");
    let title = schema.attr_col("ZTITLE", "NULL");
    let sql = format!(
        "SELECT a.Z_PK, {uuid}, a.ZDIRECTORY, a.ZFILENAME, {fav}, {hidden}, {lat}, {lon},
                {w}, {h}, {orient}, {burst}, {pick}, {created}, {tz}, {title}, {attrs}, {kind}
         FROM {t} a {join} ORDER BY a.Z_PK",
        uuid = col("ZUUID", "''"),
        fav = col("ZFAVORITE", "0"),
        hidden = col("ZHIDDEN", "0"),
        lat = col("ZLATITUDE", "NULL"),
        lon = col("ZLONGITUDE", "NULL"),
        w = col("ZWIDTH", "NULL"),
        h = col("ZHEIGHT", "NULL"),
        orient = col("ZORIENTATION", "NULL"),
        burst = col("ZAVALANCHEUUID", "NULL"),
        pick = col("ZAVALANCHEPICKTYPE", "NULL"),
        created = col("ZDATECREATED", "NULL"),
        kind = col("ZKIND", "0"),
    );
    let mut stmt = conn.prepare(&sql)?;
    let mut out = Vec::new();
    let mut q = stmt.query([])?;
    while let Some(r) = q.next()? {
        if out.len() >= MAX_ROWS {
            break;
        }
        let text = |i: usize| r.get::<_, Option<String>>(i).ok().flatten();
        let int = |i: usize| r.get::<_, Option<i64>>(i).ok().flatten();
        let float = |i: usize| r.get::<_, Option<f64>>(i).ok().flatten();
        let (Some(dir), Some(file)) = (text(2), text(3)) else {
            continue;
        };
        if file.is_empty() {
            continue;
        }
        let location = match (float(6), float(7)) {
            (Some(lat), Some(lon)) if !(lat == -180.0 && lon == -180.0) => Some((lat, lon)),
            _ => None,
        };
        let created = float(13).and_then(|c| {
            let offset = int(14).and_then(|o| i32::try_from(o).ok());
            Some(super::library::library_capture(core_data_utc(c)?, offset).display())
        });
        let burst = text(11).filter(|u| !u.is_empty()).map(|uuid| Burst {
            uuid,
            picked: int(12).unwrap_or(0) & (8 | 16) != 0,
        });
        out.push(Row {
            pk: r.get(0)?,
            attrs: int(16),
            path: media_path(&dir, &file),
            kind: int(17).unwrap_or(0),
            width: int(8),
            height: int(9),
            orientation: int(10),
            meta: AssetMeta {
                uuid: text(1).unwrap_or_default(),
                favorite: int(4) == Some(1),
                hidden: int(5) == Some(1),
                title: text(15),
                location,
                created,
                burst,
                ..Default::default()
            },
        });
    }
    Ok(out)
}

fn read_captions(
    conn: &Connection,
    all: &HashSet<String>,
    by_attrs: &HashMap<i64, usize>,
    rows: &mut [Row],
) -> rusqlite::Result<()> {
    if !all.contains("ZASSETDESCRIPTION") {
        return Ok(());
    }
    let d_cols = columns(conn, "ZASSETDESCRIPTION");
    if !d_cols.contains("ZLONGDESCRIPTION") {
        return Ok(());
    }
    let aa_cols = columns(conn, "ZADDITIONALASSETATTRIBUTES");
    let sql = if aa_cols.contains("ZASSETDESCRIPTION") {
        "SELECT aa.Z_PK, d.ZLONGDESCRIPTION FROM ZADDITIONALASSETATTRIBUTES aa
         JOIN ZASSETDESCRIPTION d ON d.Z_PK = aa.ZASSETDESCRIPTION"
    } else if d_cols.contains("ZASSETATTRIBUTES") {
        "SELECT d.ZASSETATTRIBUTES, d.ZLONGDESCRIPTION FROM ZASSETDESCRIPTION d"
    } else {
        return Ok(());
    };
    for_each_row(conn, sql, |r| {
        let (Ok(Some(a)), Ok(Some(text))) =
            (r.get::<_, Option<i64>>(0), r.get::<_, Option<String>>(1))
        else {
            return;
        };
        if let Some(&i) = by_attrs.get(&a) {
            rows[i].meta.caption = Some(text);
        }
    })
}

/// Runs `sql` and hands each row to `each`, at most `MAX_ROWS` of them: the
/// library comes from the phone, so a table may be any size.
fn for_each_row(
    conn: &Connection,
    sql: &str,
    mut each: impl FnMut(&rusqlite::Row<'_>),
) -> rusqlite::Result<()> {
    let mut stmt = conn.prepare(sql)?;
    let mut q = stmt.query([])?;
    let mut n = 0;
    while let Some(r) = q.next()? {
        n += 1;
        if n > MAX_ROWS {
            break;
        }
        each(r);
    }
    Ok(())
}

fn read_keywords(
    conn: &Connection,
    (table, attr_col, kw_col): &(String, String, String),
    by_attrs: &HashMap<i64, usize>,
    rows: &mut [Row],
) -> rusqlite::Result<()> {
    let sql = format!(
        "SELECT j.\"{attr_col}\", k.ZTITLE FROM \"{table}\" j JOIN ZKEYWORD k ON k.Z_PK = j.\"{kw_col}\""
    );
    for_each_row(conn, &sql, |r| {
        let (Ok(Some(a)), Ok(Some(title))) =
            (r.get::<_, Option<i64>>(0), r.get::<_, Option<String>>(1))
        else {
            return;
        };
        if let Some(&i) = by_attrs.get(&a) {
            rows[i].meta.keywords.push(title);
        }
    })
}

/// Album kinds (`ZGENERICALBUM.ZKIND`).
const USER_ALBUM: i64 = 2;
const FOLDER: i64 = 4000;
const ROOT_FOLDER: i64 = 3999;

fn read_albums(
    conn: &Connection,
    (table, album_col, asset_col): &(String, String, String),
    by_pk: &HashMap<i64, usize>,
    rows: &mut [Row],
) -> rusqlite::Result<()> {
    let g_cols = columns(conn, "ZGENERICALBUM");
    let col = |c: &str, fallback: &str| {
        if g_cols.contains(c) {
            c.to_string()
        } else {
            fallback.to_string()
        }
    };
    let sql = format!(
        "SELECT Z_PK, {kind}, {parent}, {title}, {trashed} FROM ZGENERICALBUM",
        kind = col("ZKIND", "NULL"),
        parent = col("ZPARENTFOLDER", "NULL"),
        title = col("ZTITLE", "NULL"),
        trashed = col("ZTRASHEDSTATE", "0"),
    );
    // pk → (kind, parent, title, trashed)
    let mut albums: HashMap<i64, (i64, Option<i64>, String, bool)> = HashMap::new();
    {
        let mut stmt = conn.prepare(&sql)?;
        let mut q = stmt.query([])?;
        while let Some(r) = q.next()? {
            if albums.len() >= MAX_ROWS {
                break;
            }
            albums.insert(
                r.get(0)?,
                (
                    r.get::<_, Option<i64>>(1).ok().flatten().unwrap_or(-1),
                    r.get::<_, Option<i64>>(2).ok().flatten(),
                    r.get::<_, Option<String>>(3)
                        .ok()
                        .flatten()
                        .unwrap_or_default(),
                    r.get::<_, Option<i64>>(4).ok().flatten() == Some(1),
                ),
            );
        }
    }
    // The folder path of each user album that is not trashed and not in a
    // trashed folder; None for everything else.
    let mut paths: HashMap<i64, Option<Vec<String>>> = HashMap::new();
    for (&pk, (kind, parent, title, trashed)) in &albums {
        if *kind != USER_ALBUM || *trashed {
            paths.insert(pk, None);
            continue;
        }
        let mut path = vec![title.clone()];
        let mut at = *parent;
        let mut ok = true;
        let mut depth = 0;
        while let Some(p) = at {
            depth += 1;
            let Some((k, up, t, tr)) = albums.get(&p) else {
                break;
            };
            if depth > MAX_FOLDER_DEPTH || *tr || (*k != FOLDER && *k != ROOT_FOLDER) {
                ok = false;
                break;
            }
            if *k == ROOT_FOLDER {
                break;
            }
            path.push(t.clone());
            at = *up;
        }
        path.reverse();
        paths.insert(pk, ok.then_some(path));
    }
    let sql = format!("SELECT \"{album_col}\", \"{asset_col}\" FROM \"{table}\"");
    for_each_row(conn, &sql, |r| {
        let (Ok(Some(album)), Ok(Some(asset))) =
            (r.get::<_, Option<i64>>(0), r.get::<_, Option<i64>>(1))
        else {
            return;
        };
        if let (Some(Some(path)), Some(&i)) = (paths.get(&album), by_pk.get(&asset)) {
            rows[i].meta.albums.push(path.clone());
        }
    })
}

/// An MWG area: centre x, centre y, width, height (0–1).
type Area = (f64, f64, f64, f64);

/// A face centre and size from Photos' frame (stored image, origin bottom
/// left, size relative to the longer side) to an MWG area in the displayed
/// image (origin top left), and the displayed dimensions. Orientation as in
/// EXIF (1–8); the point mapping per orientation follows osxphotos'
/// `FaceInfo._fix_orientation`.
fn face_area(
    cx: f64,
    cy: f64,
    size: f64,
    width: i64,
    height: i64,
    orientation: i64,
) -> Option<(Area, (u32, u32))> {
    if width <= 0 || height <= 0 {
        return None;
    }
    let (wf, hf) = (width as f64, height as f64);
    let long = wf.max(hf);
    let (x, y) = match orientation {
        2 => (1.0 - cx, 1.0 - cy),
        3 => (1.0 - cx, cy),
        4 => (cx, cy),
        5 => (1.0 - cy, cx),
        6 => (1.0 - cy, 1.0 - cx),
        7 => (cy, 1.0 - cx),
        8 => (cy, cx),
        _ => (cx, 1.0 - cy),
    };
    let rotated = (5..=8).contains(&orientation);
    let (dw, dh) = if rotated { (hf, wf) } else { (wf, hf) };
    let dims = (
        u32::try_from(dw as i64).ok()?,
        u32::try_from(dh as i64).ok()?,
    );
    Some(((x, y, size * long / dw, size * long / dh), dims))
}

fn read_faces(
    conn: &Connection,
    (asset_col, person_col): &(String, String),
    by_pk: &HashMap<i64, usize>,
    rows: &mut [Row],
) -> rusqlite::Result<()> {
    let f_cols = columns(conn, "ZDETECTEDFACE");
    let p_cols = columns(conn, "ZPERSON");
    let fcol = |c: &str| {
        if f_cols.contains(c) {
            format!("f.{c}")
        } else {
            "NULL".into()
        }
    };
    let pcol = |c: &str| {
        if p_cols.contains(c) {
            format!("p.{c}")
        } else {
            "NULL".into()
        }
    };
    let sql = format!(
        "SELECT f.\"{asset_col}\", {full}, {display}, {cx}, {cy}, {size}
         FROM ZDETECTEDFACE f JOIN ZPERSON p ON p.Z_PK = f.\"{person_col}\" ORDER BY f.Z_PK",
        full = pcol("ZFULLNAME"),
        display = pcol("ZDISPLAYNAME"),
        cx = fcol("ZCENTERX"),
        cy = fcol("ZCENTERY"),
        size = fcol("ZSIZE"),
    );
    for_each_row(conn, &sql, |r| {
        let Ok(Some(asset)) = r.get::<_, Option<i64>>(0) else {
            return;
        };
        let Some(&i) = by_pk.get(&asset) else {
            return;
        };
        let text = |k: usize| {
            r.get::<_, Option<String>>(k)
                .ok()
                .flatten()
                .filter(|s| !s.trim().is_empty())
        };
        let Some(name) = text(1).or_else(|| text(2)) else {
            return; // an unnamed face
        };
        let float = |k: usize| r.get::<_, Option<f64>>(k).ok().flatten();
        let row = &mut rows[i];
        row.meta.people.push(name.clone());
        if let (Some(cx), Some(cy), Some(size), Some(w), Some(h)) =
            (float(3), float(4), float(5), row.width, row.height)
        {
            if let Some(((x, y, fw, fh), dims)) =
                face_area(cx, cy, size, w, h, row.orientation.unwrap_or(1))
            {
                row.meta.faces.push(FaceRegion {
                    name,
                    x,
                    y,
                    w: fw,
                    h: fh,
                });
                row.meta.dimensions = Some(dims);
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_upright_face_flips_its_vertical_axis_and_scales_by_the_long_side() {
        let ((x, y, w, h), dims) = face_area(0.25, 0.75, 0.1, 4000, 3000, 1).unwrap();
        assert_eq!((x, y), (0.25, 0.25));
        assert!((w - 0.1).abs() < 1e-12 && (h - 0.4 / 3.0).abs() < 1e-12);
        assert_eq!(dims, (4000, 3000));
        let (_, dims) = face_area(0.25, 0.75, 0.1, 4000, 3000, 6).unwrap();
        assert_eq!(dims, (3000, 4000));
        assert!(face_area(0.5, 0.5, 0.1, 0, 3000, 1).is_none());
    }

    #[test]
    fn every_exif_orientation_maps_the_face_centre_as_osxphotos_does() {
        // Expected centres: osxphotos' FaceInfo._fix_orientation (itself
        // from phace's draw.go), checked against real libraries there; a
        // face at Photos' (0.2, 0.7) in a 4000x3000 stored image.
        let expect = [
            (1, (0.2, 0.3)),
            (2, (0.8, 0.3)),
            (3, (0.8, 0.7)),
            (4, (0.2, 0.7)),
            (5, (0.3, 0.2)),
            (6, (0.3, 0.8)),
            (7, (0.7, 0.8)),
            (8, (0.7, 0.2)),
        ];
        for (o, (ex, ey)) in expect {
            let ((x, y, w, h), dims) = face_area(0.2, 0.7, 0.1, 4000, 3000, o).unwrap();
            assert!(
                (x - ex).abs() < 1e-12 && (y - ey).abs() < 1e-12,
                "orientation {o}: ({x}, {y})"
            );
            // Quarter turns swap the displayed sides; the face's size in
            // pixels (0.1 of the long side) stays the same either way.
            let rotated = o >= 5;
            assert_eq!(dims, if rotated { (3000, 4000) } else { (4000, 3000) });
            assert!((w * f64::from(dims.0) - 400.0).abs() < 1e-9, "{o}: w {w}");
            assert!((h * f64::from(dims.1) - 400.0).abs() < 1e-9, "{o}: h {h}");
            // The centre of the image stays the centre.
            let ((cx, cy, _, _), _) = face_area(0.5, 0.5, 0.1, 4000, 3000, o).unwrap();
            assert!((cx - 0.5).abs() < 1e-12 && (cy - 0.5).abs() < 1e-12);
        }
        // Unknown orientations are treated as upright, never refused.
        assert_eq!(
            face_area(0.2, 0.7, 0.1, 4000, 3000, 0).unwrap(),
            face_area(0.2, 0.7, 0.1, 4000, 3000, 1).unwrap()
        );
    }

    #[test]
    fn folder_paths_leave_out_trashed_and_non_user_albums() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("Photos.sqlite");
        let c = Connection::open(&p).unwrap();
        c.execute_batch(
            "CREATE TABLE Z_PRIMARYKEY (Z_ENT INTEGER PRIMARY KEY, Z_NAME VARCHAR, Z_SUPER INTEGER, Z_MAX INTEGER);
             INSERT INTO Z_PRIMARYKEY VALUES (3, 'Asset', 0, 0), (28, 'Album', 27, 0), (27, 'GenericAlbum', 0, 0);
             CREATE TABLE ZASSET (Z_PK INTEGER PRIMARY KEY, ZUUID TEXT, ZDIRECTORY TEXT, ZFILENAME TEXT, ZKIND INTEGER);
             INSERT INTO ZASSET VALUES (1, 'U1', 'DCIM/100APPLE', 'IMG_0001.HEIC', 0);
             CREATE TABLE ZGENERICALBUM (Z_PK INTEGER PRIMARY KEY, ZKIND INTEGER, ZPARENTFOLDER INTEGER, ZTITLE TEXT, ZTRASHEDSTATE INTEGER);
             INSERT INTO ZGENERICALBUM VALUES (1, 3999, NULL, NULL, 0), (2, 4000, 1, 'Trips', 0), (3, 2, 2, 'Rome', 0),
               (4, 2, 1, 'Gone', 1), (5, 1506, 1, 'Import', 0), (6, 4000, 1, 'Old', 1), (7, 2, 6, 'In old', 0), (8, 2, 8, 'Loop', 0);
             CREATE TABLE Z_28ASSETS (Z_28ALBUMS INTEGER, Z_3ASSETS INTEGER);
             INSERT INTO Z_28ASSETS VALUES (3, 1), (4, 1), (5, 1), (7, 1), (8, 1);",
        )
        .unwrap();
        drop(c);
        let m = read_library_meta(&p).unwrap();
        assert_eq!(
            m.schema.album_join,
            Some(("Z_28ASSETS".into(), "Z_28ALBUMS".into(), "Z_3ASSETS".into()))
        );
        let (a, how) = m.lookup("DCIM/100APPLE/IMG_0001.HEIC").unwrap();
        assert_eq!(how, MetaMatch::Original);
        assert_eq!(
            a.albums,
            vec![vec!["Trips".to_string(), "Rome".to_string()]]
        );
        let (_, how) = m.lookup("100APPLE/img_0001.mov").unwrap();
        assert_eq!(how, MetaMatch::LivePhotoMovie);
        assert!(m.lookup("100APPLE/IMG_0001.AAE").is_none());
    }
}
