//! How one `Photos.sqlite` names its tables and columns: resolved once, from
//! `sqlite_master`, `PRAGMA table_info` and `Z_PRIMARYKEY`, and shared by the
//! library checklist (`library.rs`) and the sidecar facts (`library_meta.rs`).
//!
//! Facts used (osxphotos `_constants.py` `_DB_TABLE_NAMES`; iLEAPP's and
//! Scott Koenig's Photos.sqlite queries for iOS 11–18):
//! - the asset table is `ZASSET` (iOS 14+) or `ZGENERICASSET` (iOS 11–13);
//! - `ZADDITIONALASSETATTRIBUTES` joins through the asset's
//!   `ZADDITIONALATTRIBUTES`, or (older) through its own `ZASSET`;
//! - `ZINTERNALRESOURCE` (`ZDATASTORESUBTYPE = 1` is the original,
//!   `ZLOCALAVAILABILITY = -1` not on the phone) is missing on iOS 11, so
//!   there cloud-only state is unknown;
//! - join tables carry Core Data entity numbers that change with the version
//!   (`Z_26ASSETS`, `Z_27ASSETS`, `Z_28ASSETS` for albums, `Z_1KEYWORDS` with
//!   `Z_<n>KEYWORDS`): found in `sqlite_master`, preferring the numbers
//!   `Z_PRIMARYKEY` gives, never hard-coded.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use rusqlite::Connection;

/// Seconds from the Unix epoch to Core Data's (2001-01-01T00:00:00Z).
pub const CORE_DATA_EPOCH: i64 = 978_307_200;

/// A Core Data timestamp (seconds since 2001-01-01 UTC) as a UTC time;
/// None for NaN, infinities and values beyond any plausible date.
pub fn core_data_utc(seconds: f64) -> Option<DateTime<Utc>> {
    if !seconds.is_finite() || seconds.abs() >= 1e11 {
        return None;
    }
    DateTime::from_timestamp(CORE_DATA_EPOCH + seconds.floor() as i64, 0)
}

/// The tables and columns of one library, as resolved.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LibrarySchema {
    /// Every table in the database.
    pub tables: HashSet<String>,
    /// `ZASSET` or `ZGENERICASSET`.
    pub asset_table: String,
    /// The asset table's columns.
    pub asset_columns: HashSet<String>,
    /// `ZADDITIONALASSETATTRIBUTES`' columns (empty when the table is missing).
    pub attribute_columns: HashSet<String>,
    /// `ZINTERNALRESOURCE`'s columns (empty when the table is missing).
    pub resource_columns: HashSet<String>,
    /// Album join table with its album and asset columns, e.g. (`Z_28ASSETS`, `Z_28ALBUMS`, `Z_3ASSETS`).
    pub album_join: Option<(String, String, String)>,
    /// Keyword join table with its attributes and keyword columns, e.g. (`Z_1KEYWORDS`, `Z_1ASSETATTRIBUTES`, `Z_40KEYWORDS`).
    pub keyword_join: Option<(String, String, String)>,
    /// `ZDETECTEDFACE`'s asset and person columns.
    pub face_columns: Option<(String, String)>,
}

impl LibrarySchema {
    /// `a.<column>` of the asset table (aliased `a`), or `fallback` when the
    /// layout lacks it.
    pub fn asset_col(&self, column: &str, fallback: &str) -> String {
        if self.asset_columns.contains(column) {
            format!("a.{column}")
        } else {
            fallback.to_string()
        }
    }

    /// `aa.<column>` of `ZADDITIONALASSETATTRIBUTES` (aliased `aa`, joined by
    /// [`Self::attributes_join`]), or `fallback`.
    pub fn attr_col(&self, column: &str, fallback: &str) -> String {
        if self.attribute_columns.contains(column) {
            format!("aa.{column}")
        } else {
            fallback.to_string()
        }
    }

    /// The `LEFT JOIN` of `ZADDITIONALASSETATTRIBUTES aa` onto the asset
    /// table `a`, or nothing when the library has no such table.
    pub fn attributes_join(&self) -> String {
        if self.attribute_columns.is_empty() {
            return String::new();
        }
        let on = if self.asset_columns.contains("ZADDITIONALATTRIBUTES") {
            "aa.Z_PK = a.ZADDITIONALATTRIBUTES"
        } else {
            "aa.ZASSET = a.Z_PK"
        };
        format!("LEFT JOIN ZADDITIONALASSETATTRIBUTES aa ON {on}")
    }

    /// Whether `ZINTERNALRESOURCE` has all these columns.
    pub fn resource_has(&self, columns: &[&str]) -> bool {
        columns.iter().all(|c| self.resource_columns.contains(*c))
    }

    /// The library records which originals are on the phone
    /// (`ZINTERNALRESOURCE.ZLOCALAVAILABILITY` on the original resource).
    pub fn cloud_state_known(&self) -> bool {
        self.resource_has(&["ZASSET", "ZDATASTORESUBTYPE", "ZLOCALAVAILABILITY"])
    }
}

/// Why a database is not a Photos library this module can read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemaError {
    /// SQLite could not list the tables (not a database, or damaged).
    NotSqlite(String),
    /// No asset table.
    NoAssetTable,
    /// The asset table lacks a column every layout has.
    MissingColumn {
        /// The asset table.
        table: String,
        /// The missing column.
        column: &'static str,
    },
}

impl std::fmt::Display for SchemaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SchemaError::NotSqlite(e) => write!(f, "not a SQLite database ({e})"),
            SchemaError::NoAssetTable => {
                write!(f, "no ZASSET or ZGENERICASSET table: not a Photos library")
            }
            SchemaError::MissingColumn { table, column } => {
                write!(f, "{table} has no {column} column")
            }
        }
    }
}

fn tables(conn: &Connection) -> rusqlite::Result<HashSet<String>> {
    conn.prepare("SELECT name FROM sqlite_master WHERE type = 'table'")?
        .query_map([], |r| r.get::<_, String>(0))?
        .collect()
}

/// A table's column names (empty when it does not exist).
pub fn columns(conn: &Connection, table: &str) -> HashSet<String> {
    conn.prepare("SELECT name FROM pragma_table_info(?1)")
        .and_then(|mut s| s.query_map([table], |r| r.get::<_, String>(0))?.collect())
        .unwrap_or_default()
}

/// `Z_PRIMARYKEY`: entity name → number.
fn entities(conn: &Connection) -> HashMap<String, i64> {
    conn.prepare("SELECT Z_NAME, Z_ENT FROM Z_PRIMARYKEY")
        .and_then(|mut s| {
            s.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?
                .collect()
        })
        .unwrap_or_default()
}

/// `Z_<n><SUFFIX>` → n.
fn entity_number(name: &str, suffix: &str) -> Option<i64> {
    name.strip_prefix("Z_")?.strip_suffix(suffix)?.parse().ok()
}

/// Resolves the asset table, its companions and the join tables.
pub fn resolve(conn: &Connection) -> Result<LibrarySchema, SchemaError> {
    let all = tables(conn).map_err(|e| SchemaError::NotSqlite(e.to_string()))?;
    let asset_table = if all.contains("ZASSET") {
        "ZASSET"
    } else if all.contains("ZGENERICASSET") {
        "ZGENERICASSET"
    } else {
        return Err(SchemaError::NoAssetTable);
    };
    let asset_columns = columns(conn, asset_table);
    for column in ["Z_PK", "ZDIRECTORY", "ZFILENAME"] {
        if !asset_columns.contains(column) {
            return Err(SchemaError::MissingColumn {
                table: asset_table.to_string(),
                column,
            });
        }
    }
    let optional = |t: &str| {
        if all.contains(t) {
            columns(conn, t)
        } else {
            HashSet::new()
        }
    };
    let attribute_columns = optional("ZADDITIONALASSETATTRIBUTES");
    let resource_columns = optional("ZINTERNALRESOURCE");
    let ents = entities(conn);
    let mut sorted: Vec<&String> = all.iter().collect();
    sorted.sort();
    let album_join = album_join(conn, &sorted, &ents);
    let keyword_join = keyword_join(conn, &sorted, &ents);
    let face_columns = all
        .contains("ZDETECTEDFACE")
        .then(|| {
            let cols = columns(conn, "ZDETECTEDFACE");
            let pick = |new: &str, old: &str| {
                [new, old]
                    .into_iter()
                    .find(|c| cols.contains(*c))
                    .map(str::to_string)
            };
            pick("ZASSETFORFACE", "ZASSET").zip(pick("ZPERSONFORFACE", "ZPERSON"))
        })
        .flatten();
    Ok(LibrarySchema {
        asset_table: asset_table.to_string(),
        asset_columns,
        attribute_columns,
        resource_columns,
        album_join,
        keyword_join,
        face_columns,
        tables: all,
    })
}

/// Albums: `Z_<n>ASSETS` with a `Z_<n>ALBUMS` column and a `Z_<m>ASSETS`
/// column, preferring n an album entity and m the asset entity.
fn album_join(
    conn: &Connection,
    sorted: &[&String],
    ents: &HashMap<String, i64>,
) -> Option<(String, String, String)> {
    let asset_ents: HashSet<i64> = ["Asset", "GenericAsset", "ManagedAsset"]
        .iter()
        .filter_map(|n| ents.get(*n).copied())
        .collect();
    let album_ents: HashSet<i64> = ents
        .iter()
        .filter(|(n, _)| n.contains("Album"))
        .map(|(_, e)| *e)
        .collect();
    let mut found = None;
    for t in sorted {
        let Some(n) = entity_number(t, "ASSETS") else {
            continue;
        };
        let cols = columns(conn, t);
        let album_col = format!("Z_{n}ALBUMS");
        if !cols.contains(&album_col) {
            continue;
        }
        let mut asset_cols: Vec<&String> = cols
            .iter()
            .filter(|c| entity_number(c, "ASSETS").is_some())
            .collect();
        asset_cols.sort();
        let preferred = asset_cols
            .iter()
            .find(|c| entity_number(c, "ASSETS").is_some_and(|m| asset_ents.contains(&m)))
            .or(asset_cols.first());
        if let Some(asset_col) = preferred {
            let fits = album_ents.is_empty() || album_ents.contains(&n);
            if found.is_none() || fits {
                found = Some((t.to_string(), album_col, asset_col.to_string()));
                if fits {
                    break;
                }
            }
        }
    }
    found
}

/// Keywords: `Z_<a>KEYWORDS` with `Z_<a>ASSETATTRIBUTES` and `Z_<k>KEYWORDS`.
fn keyword_join(
    conn: &Connection,
    sorted: &[&String],
    ents: &HashMap<String, i64>,
) -> Option<(String, String, String)> {
    let kw_ent = ents.get("Keyword").copied();
    for t in sorted {
        let Some(a) = entity_number(t, "KEYWORDS") else {
            continue;
        };
        let cols = columns(conn, t);
        let attr_col = format!("Z_{a}ASSETATTRIBUTES");
        if !cols.contains(&attr_col) {
            continue;
        }
        let mut kw_cols: Vec<&String> = cols
            .iter()
            .filter(|c| entity_number(c, "KEYWORDS").is_some())
            .collect();
        kw_cols.sort();
        let preferred = kw_cols
            .iter()
            .find(|c| kw_ent.is_some_and(|k| entity_number(c, "KEYWORDS") == Some(k)))
            .or(kw_cols.first());
        if let Some(k) = preferred {
            return Some((t.to_string(), attr_col, k.to_string()));
        }
    }
    None
}
