//! `ARCHIVE/.camroll/catalog.sqlite`: every archived file, every source item
//! seen, every run. The catalog speeds camroll up and explains the archive,
//! but the archive never depends on it: the files and `BLAKE3SUMS` are enough
//! to rebuild it.
//!
//! A `files` row is committed only after its file is renamed into place and
//! its folder fsynced, so the catalog never lists a file that is not there.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use thiserror::Error;

use crate::media::CaptureTime;

/// File name of the catalog inside `ARCHIVE/.camroll/`.
pub const CATALOG_FILE: &str = "catalog.sqlite";
const SCHEMA_VERSION: i64 = 2;
/// The catalog's tables (version [`SCHEMA_VERSION`] after [`Catalog::migrate`]):
/// one definition for archives on disk and the in-memory catalog of dry runs.
const TABLES: &str = "
    CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS files(
        path TEXT PRIMARY KEY,
        hash TEXT NOT NULL,
        size INTEGER NOT NULL,
        kind TEXT,
        capture_local TEXT,
        capture_offset INTEGER,
        offset_source TEXT,
        date_source TEXT,
        original_name TEXT NOT NULL,
        source TEXT NOT NULL,
        source_path TEXT NOT NULL,
        role TEXT,
        added_run INTEGER,
        added_at TEXT NOT NULL,
        verified_at TEXT);
    CREATE INDEX IF NOT EXISTS files_hash ON files(hash);
    CREATE TABLE IF NOT EXISTS source_items(
        source TEXT NOT NULL,
        rel_path TEXT NOT NULL,
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        hash TEXT NOT NULL,
        run INTEGER,
        seen_at TEXT NOT NULL,
        PRIMARY KEY(source, rel_path));
    CREATE TABLE IF NOT EXISTS runs(
        id INTEGER PRIMARY KEY,
        command TEXT NOT NULL,
        source TEXT,
        started TEXT NOT NULL,
        ended TEXT,
        scanned INTEGER, copied INTEGER, duplicates INTEGER, already_archived INTEGER,
        skipped INTEGER, failed INTEGER, bytes_copied INTEGER,
        outcome TEXT);";

/// A catalog read or write that failed.
#[derive(Debug, Error)]
#[error("{path}: catalog error: {source}. If the catalog is damaged, `camroll rebuild` recreates it from the files and BLAKE3SUMS")]
pub struct CatalogError {
    /// The catalog file.
    pub path: PathBuf,
    /// What SQLite reported.
    #[source]
    pub source: rusqlite::Error,
}

/// An archived file as the catalog records it.
#[derive(Debug, Clone)]
pub struct FileRecord {
    /// Relative to the archive root, `/`-separated.
    pub path: String,
    /// BLAKE3 of the content, 64 lower-case hex digits.
    pub hash: String,
    /// Size in bytes.
    pub size: u64,
    /// The sniffed media kind (`jpeg`, `heif`, `mov`, …), when recognised.
    pub kind: Option<String>,
    /// The capture time read from the original, when it has one.
    pub capture: Option<CaptureTime>,
    /// The name the file had on its source.
    pub original_name: String,
    /// The identity of the source it came from, e.g. `folder:/media/sd/DCIM` or `device:<UDID>`.
    pub source: String,
    /// Where it was on that source, relative to the source, `/`-separated.
    pub source_path: String,
    /// Its part in its group: `primary`, `live_photo_movie`, `sidecar`, `edited_render` or `companion`.
    pub role: Option<String>,
}

/// A source item seen before: (source, relative path) with size and mtime → hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceRecord {
    /// Size in bytes when it was read.
    pub size: u64,
    /// Modification time when it was read, nanoseconds since the Unix epoch (0 when unknown).
    pub mtime_ns: i64,
    /// BLAKE3 of its content, 64 lower-case hex digits.
    pub hash: String,
}

/// An open `catalog.sqlite` of one archive.
pub struct Catalog {
    conn: Connection,
    path: PathBuf,
    /// A version 1 catalog opened read-only: no `files.verify_problem`
    /// column, and it is not added (read-only commands migrate nothing).
    legacy: bool,
}

/// Whether the filesystem holding `path` is mounted read-only.
pub fn on_read_only_fs(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: statvfs writes only into the zeroed struct; the path is NUL-terminated.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    (unsafe { libc::statvfs(c.as_ptr(), &mut st) }) == 0 && st.f_flag & libc::ST_RDONLY != 0
}

/// A `file:` URI for SQLite: every byte but unreserved ones percent-encoded.
fn file_uri(path: &Path, query: &str) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut s = String::from("file:");
    for &b in path.as_os_str().as_bytes() {
        if b.is_ascii_alphanumeric() || b"/._-~".contains(&b) {
            s.push(b as char);
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    s.push('?');
    s.push_str(query);
    s
}

/// Why a catalog could not be read, as read-only commands report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unreadable {
    /// Another process holds it (a running export): not damage.
    Busy,
    /// Anything else: missing, not a database, damaged.
    Other,
}

impl CatalogError {
    /// Whether SQLite refused because another connection holds the database
    /// (`SQLITE_BUSY`/`SQLITE_LOCKED`), which says nothing about damage.
    pub fn kind(&self) -> Unreadable {
        match self.source.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DatabaseBusy) | Some(rusqlite::ErrorCode::DatabaseLocked) => {
                Unreadable::Busy
            }
            _ => Unreadable::Other,
        }
    }
}

impl Catalog {
    /// Opens (creating when `create`) the catalog in `ARCHIVE/.camroll/`.
    pub fn open(archive_root: &Path, create: bool) -> Result<Catalog, CatalogError> {
        let path = archive_root.join(".camroll").join(CATALOG_FILE);
        let flags = if create {
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE
        } else {
            OpenFlags::SQLITE_OPEN_READ_WRITE
        };
        let err = |source| CatalogError {
            path: path.clone(),
            source,
        };
        let conn = Connection::open_with_flags(&path, flags).map_err(err)?;
        // WAL keeps its index in shared memory (an mmap of `-shm`), which FUSE
        // and network filesystems may not provide (fusefat fails in xShmMap).
        // In EXCLUSIVE locking mode SQLite keeps that index in the process
        // instead; the archive lock already makes camroll the only writer.
        if super::filesystem::detect(archive_root).no_shared_memory {
            conn.execute_batch("PRAGMA locking_mode=EXCLUSIVE;")
                .map_err(err)?;
        }
        // WAL + FULL: a committed row survives a crash or power loss.
        conn.execute_batch(&format!(
            "PRAGMA journal_mode=WAL;
             PRAGMA synchronous=FULL;
             PRAGMA busy_timeout=5000;
             {TABLES}"
        ))
        .map_err(err)?;
        conn.execute(
            "INSERT OR IGNORE INTO meta(key, value) VALUES('schema_version', ?1)",
            params![SCHEMA_VERSION.to_string()],
        )
        .map_err(err)?;
        let cat = Catalog {
            conn,
            path,
            legacy: false,
        };
        cat.migrate()?;
        Ok(cat)
    }

    /// Opens an existing catalog only to read it (verify, check, inspect,
    /// dry runs, sync's FROM, reports): `SQLITE_OPEN_READ_ONLY`, nothing
    /// created, migrated or written, `query_only` on top. WAL readers see the
    /// last committed state while an export writes. On a read-only filesystem
    /// (or a folder this user cannot write, where SQLite cannot make the WAL
    /// index) it is opened `immutable=1`: nothing can change it there.
    pub fn open_read_only(archive_root: &Path) -> Result<Catalog, CatalogError> {
        let path = archive_root.join(".camroll").join(CATALOG_FILE);
        let err = |source| CatalogError {
            path: path.clone(),
            source,
        };
        if !path.is_file() {
            return Err(err(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN),
                Some("no catalog file".into()),
            )));
        }
        let no_shm = super::filesystem::detect(archive_root).no_shared_memory;
        let open_as = |immutable: bool, read_write: bool| -> Result<Catalog, rusqlite::Error> {
            let flags = if read_write {
                OpenFlags::SQLITE_OPEN_READ_WRITE
            } else {
                OpenFlags::SQLITE_OPEN_READ_ONLY
            } | OpenFlags::SQLITE_OPEN_URI
                | OpenFlags::SQLITE_OPEN_NO_MUTEX;
            let query = match (immutable, read_write) {
                (true, _) => "mode=ro&immutable=1",
                (false, false) => "mode=ro",
                (false, true) => "mode=rw",
            };
            let conn = Connection::open_with_flags(file_uri(&path, query), flags)?;
            if !immutable && no_shm {
                conn.execute_batch("PRAGMA locking_mode=EXCLUSIVE;")?;
            }
            // A page cache of up to 32 MiB (filled only as pages are read):
            // verify scans the files table, then quick_check reads every
            // page, and with SQLite's default 2 MiB each pass went back to
            // the disk (8,500 reads for a 20,000-file catalog of 13 MiB).
            conn.execute_batch(
                "PRAGMA query_only=ON; PRAGMA busy_timeout=5000; PRAGMA cache_size=-32768;",
            )?;
            // The first read: a file that is not a catalog fails here.
            let legacy = !conn
                .prepare("SELECT 1 FROM pragma_table_info('files') WHERE name = 'verify_problem'")?
                .exists([])?;
            let has_files = conn
                .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'files'")?
                .exists([])?;
            if !has_files {
                return Err(rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CORRUPT),
                    Some("no files table".into()),
                ));
            }
            Ok(Catalog {
                conn,
                path: path.clone(),
                legacy,
            })
        };
        let open = |immutable| open_as(immutable, false);
        let dir_writable = {
            use std::os::unix::ffi::OsStrExt;
            let dir = archive_root.join(".camroll");
            std::ffi::CString::new(dir.as_os_str().as_bytes())
                // SAFETY: a NUL-terminated path; access only reads it.
                .map(|c| unsafe { libc::access(c.as_ptr(), libc::W_OK) } == 0)
                .unwrap_or(false)
        };
        if on_read_only_fs(&path) {
            return open(true).map_err(err);
        }
        match open(false) {
            Ok(c) => Ok(c),
            // A FUSE disk gives SQLite no shared memory, and a read-only
            // handle cannot keep the WAL index in the process instead: there
            // the catalog is opened read-write, but `query_only` (set above)
            // refuses every write, and nothing is created or migrated.
            Err(e)
                if no_shm
                    && dir_writable
                    && e.sqlite_error_code() != Some(rusqlite::ErrorCode::DatabaseBusy) =>
            {
                open_as(false, true).map_err(err)
            }
            // Without write access SQLite cannot create the WAL index: with no
            // writer possible either, the file cannot change under us.
            Err(e)
                if !dir_writable
                    && e.sqlite_error_code() != Some(rusqlite::ErrorCode::DatabaseBusy) =>
            {
                open(true).map_err(err)
            }
            Err(e) => Err(err(e)),
        }
    }

    /// Opens an existing, current catalog to note something in it (verify's
    /// results): read-write, nothing created or migrated, and a short wait
    /// for a busy catalog.
    pub fn open_existing(archive_root: &Path) -> Result<Catalog, CatalogError> {
        let path = archive_root.join(".camroll").join(CATALOG_FILE);
        let err = |source| CatalogError {
            path: path.clone(),
            source,
        };
        let conn =
            Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_WRITE).map_err(err)?;
        if super::filesystem::detect(archive_root).no_shared_memory {
            conn.execute_batch("PRAGMA locking_mode=EXCLUSIVE;")
                .map_err(err)?;
        }
        conn.execute_batch("PRAGMA synchronous=FULL; PRAGMA busy_timeout=2000;")
            .map_err(err)?;
        Ok(Catalog {
            conn,
            path,
            legacy: false,
        })
    }

    /// The schema version recorded in `meta`, read without writing.
    pub fn schema_version(&self) -> Result<Option<i64>, CatalogError> {
        self.conn
            .query_row(
                "SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'schema_version'",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Whether this catalog was written by an older camroll and opened
    /// read-only (so it was not migrated).
    pub fn is_legacy(&self) -> bool {
        self.legacy
    }

    fn err(&self, source: rusqlite::Error) -> CatalogError {
        CatalogError {
            path: self.path.clone(),
            source,
        }
    }

    /// All archived files: hash → path (the first path when a hash appears twice).
    pub fn files_by_hash(&self) -> Result<HashMap<String, String>, CatalogError> {
        self.files_by_hash_except("")
    }

    /// [`Catalog::files_by_hash`] without the files recorded with `role`
    /// (an export's duplicate index leaves out camroll's own sidecars: half
    /// the rows of a phone's archive, and never the bytes of a photo).
    pub fn files_by_hash_except(
        &self,
        role: &str,
    ) -> Result<HashMap<String, String>, CatalogError> {
        // In table order, keeping the least path per hash: the same map as
        // reading in path order and keeping the first, without walking the
        // path index, which reads the rows in random order (1–1.5 s instead
        // of 0.3 s at 230,000 files).
        let mut out: HashMap<String, String> = HashMap::new();
        self.for_each_file_except(role, |h, p| match out.entry(h) {
            std::collections::hash_map::Entry::Occupied(mut e) => {
                if p < *e.get() {
                    e.insert(p);
                }
            }
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(p);
            }
        })?;
        Ok(out)
    }

    /// Calls `f(hash, path)` for every archived file, leaving out those
    /// recorded with `role` ("": none left out), in table order (see
    /// [`Catalog::files_by_hash_except`]), without holding the rows.
    pub fn for_each_file_except(
        &self,
        role: &str,
        mut f: impl FnMut(String, String),
    ) -> Result<(), CatalogError> {
        let mut stmt = self
            .conn
            .prepare("SELECT hash, path FROM files WHERE ?1 = '' OR role IS NOT ?1")
            .map_err(|e| self.err(e))?;
        let mut rows = stmt.query(params![role]).map_err(|e| self.err(e))?;
        while let Some(r) = rows.next().map_err(|e| self.err(e))? {
            let hash = r.get(0).map_err(|e| self.err(e))?;
            f(hash, r.get(1).map_err(|e| self.err(e))?);
        }
        Ok(())
    }

    /// The paths of the files with content `hash`, leaving out those recorded
    /// with `role` ("": none left out): one row of
    /// [`Catalog::files_by_hash_except`] without loading the map.
    pub fn paths_with_hash_except(
        &self,
        hash: &str,
        role: &str,
    ) -> Result<Vec<String>, CatalogError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT path FROM files WHERE hash = ?1 AND (?2 = '' OR role IS NOT ?2)",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![hash, role], |r| r.get::<_, String>(0))
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }

    /// What the catalog recorded of one source item: one row of
    /// [`Catalog::source_items`] without loading the map.
    pub fn source_item(
        &self,
        source: &str,
        rel_path: &str,
    ) -> Result<Option<SourceRecord>, CatalogError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT size, mtime_ns, hash FROM source_items WHERE source = ?1 AND rel_path = ?2",
            )
            .map_err(|e| self.err(e))?;
        stmt.query_row(params![source, rel_path], |r| {
            Ok(SourceRecord {
                size: r.get::<_, i64>(0)? as u64,
                mtime_ns: r.get(1)?,
                hash: r.get(2)?,
            })
        })
        .optional()
        .map_err(|e| self.err(e))
    }

    /// Every archived file's (hash, path, size), ordered by path.
    pub fn all_files(&self) -> Result<Vec<(String, String, u64)>, CatalogError> {
        let mut stmt = self
            .conn
            .prepare("SELECT hash, path, size FROM files ORDER BY path")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)? as u64))
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }

    /// The source items recorded for one source: relative path → record.
    pub fn source_items(
        &self,
        source: &str,
    ) -> Result<HashMap<String, SourceRecord>, CatalogError> {
        let mut stmt = self
            .conn
            // `+source`: one pass over the table, not the (source, rel_path)
            // index and a random row read per item (0.35 s instead of 0.55 s
            // at 120,000 items).
            .prepare("SELECT rel_path, size, mtime_ns, hash FROM source_items WHERE +source = ?1")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![source], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    SourceRecord {
                        size: r.get::<_, i64>(1)? as u64,
                        mtime_ns: r.get(2)?,
                        hash: r.get(3)?,
                    },
                ))
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<HashMap<_, _>, _>>()
            .map_err(|e| self.err(e))
    }

    /// Starts a write transaction (taking SQLite's write lock now, not at the first write).
    pub fn begin(&mut self) -> Result<(), CatalogError> {
        self.conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(|e| self.err(e))
    }

    /// Commits the open transaction, if any.
    pub fn commit(&mut self) -> Result<(), CatalogError> {
        if self.conn.is_autocommit() {
            return Ok(());
        }
        self.conn.execute_batch("COMMIT").map_err(|e| self.err(e))
    }

    /// Abandons the open transaction (after a failed commit), if any.
    pub fn rollback(&mut self) -> Result<(), CatalogError> {
        if self.conn.is_autocommit() {
            return Ok(());
        }
        self.conn.execute_batch("ROLLBACK").map_err(|e| self.err(e))
    }

    /// Records an archived file (replacing a row with the same path), added by run `run`.
    pub fn insert_file(&self, f: &FileRecord, run: i64) -> Result<(), CatalogError> {
        let c = f.capture.as_ref();
        self.conn
            .execute(
                "INSERT OR REPLACE INTO files(path, hash, size, kind, capture_local, capture_offset, offset_source,
                   date_source, original_name, source, source_path, role, added_run, added_at)
                 VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
                params![
                    f.path,
                    f.hash,
                    f.size as i64,
                    f.kind,
                    c.map(|c| c.local.format("%Y-%m-%dT%H:%M:%S%.f").to_string()),
                    c.and_then(|c| c.offset_seconds),
                    c.map(|c| enum_text(&c.offset_source)),
                    c.map(|c| c.source.as_str()),
                    f.original_name,
                    f.source,
                    f.source_path,
                    f.role,
                    run,
                    now_text(),
                ],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Forgets the archived file at `path` (relative to the archive).
    pub fn remove_file(&self, path: &str) -> Result<(), CatalogError> {
        self.conn
            .execute("DELETE FROM files WHERE path = ?1", params![path])
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Forgets the source items that led to `hash`, so the next run reads them again.
    pub fn forget_source_items_with_hash(&self, hash: &str) -> Result<(), CatalogError> {
        self.conn
            .execute("DELETE FROM source_items WHERE hash = ?1", params![hash])
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Remembers what a source item was (size, mtime, hash), so the next run from the same source need not read it again.
    pub fn record_source_item(
        &self,
        source: &str,
        rel_path: &str,
        rec: &SourceRecord,
        run: i64,
    ) -> Result<(), CatalogError> {
        self.conn
            .execute(
                "INSERT OR REPLACE INTO source_items(source, rel_path, size, mtime_ns, hash, run, seen_at)
                 VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![source, rel_path, rec.size as i64, rec.mtime_ns, rec.hash, run, now_text()],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Notes that these files were read back and matched their hash now.
    pub fn mark_verified(&mut self, paths: &[String]) -> Result<(), CatalogError> {
        let now = now_text();
        let tx = self.conn.transaction().map_err(|e| CatalogError {
            path: self.path.clone(),
            source: e,
        })?;
        {
            let mut stmt = tx
                .prepare("UPDATE files SET verified_at = ?1 WHERE path = ?2")
                .map_err(|e| CatalogError {
                    path: self.path.clone(),
                    source: e,
                })?;
            for p in paths {
                stmt.execute(params![now, p]).map_err(|e| CatalogError {
                    path: self.path.clone(),
                    source: e,
                })?;
            }
        }
        tx.commit().map_err(|e| CatalogError {
            path: self.path.clone(),
            source: e,
        })
    }

    /// Records the start of a run (`export`, `sync`, `rebuild`, …) and returns its id.
    pub fn start_run(&self, command: &str, source: Option<&str>) -> Result<i64, CatalogError> {
        self.conn
            .execute(
                "INSERT INTO runs(command, source, started) VALUES(?1, ?2, ?3)",
                params![command, source, now_text()],
            )
            .map_err(|e| self.err(e))?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Records how run `run` ended: its counts and outcome (`ok`, `partial`, …).
    #[allow(clippy::too_many_arguments)]
    pub fn finish_run(
        &self,
        run: i64,
        counts: &RunCounts,
        outcome: &str,
    ) -> Result<(), CatalogError> {
        self.conn
            .execute(
                "UPDATE runs SET ended = ?2, scanned = ?3, copied = ?4, duplicates = ?5, already_archived = ?6,
                   skipped = ?7, failed = ?8, bytes_copied = ?9, outcome = ?10 WHERE id = ?1",
                params![
                    run,
                    now_text(),
                    counts.scanned as i64,
                    counts.copied as i64,
                    counts.duplicates as i64,
                    counts.already_archived as i64,
                    counts.skipped as i64,
                    counts.failed as i64,
                    counts.bytes_copied as i64,
                    outcome
                ],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }
}

/// Counts stored with each run.
#[derive(Debug, Default, Clone)]
pub struct RunCounts {
    /// Files the source listed.
    pub scanned: u64,
    /// Files newly written to the archive.
    pub copied: u64,
    /// Files not written because the archive already held their content.
    pub duplicates: u64,
    /// Files recorded from an earlier run of the same source.
    pub already_archived: u64,
    /// Files left out on purpose (not media, …).
    pub skipped: u64,
    /// Files that could not be archived.
    pub failed: u64,
    /// Bytes newly written.
    pub bytes_copied: u64,
}

fn enum_text<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// Now, UTC, as the catalog stores times: `YYYY-MM-DDTHH:MM:SSZ`.
pub fn now_text() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

impl Catalog {
    /// An empty catalog in memory (dry runs against an archive that does not exist yet).
    pub fn open_in_memory() -> Result<Catalog, CatalogError> {
        let dir = PathBuf::from(":memory:");
        let conn = Connection::open_in_memory().map_err(|source| CatalogError {
            path: dir.clone(),
            source,
        })?;
        let cat = Catalog {
            conn,
            path: dir,
            legacy: false,
        };
        // The same tables as on disk, so every query works in a dry run.
        cat.conn.execute_batch(TABLES).map_err(|e| cat.err(e))?;
        cat.conn
            .execute(
                "INSERT INTO meta(key, value) VALUES('schema_version', ?1)",
                params![SCHEMA_VERSION.to_string()],
            )
            .map_err(|e| cat.err(e))?;
        cat.migrate()?;
        Ok(cat)
    }
}

// ---------------------------------------------------------------------------
// Schema migration and the queries of verify, check, sync and rebuild.

/// An archived file with everything the catalog knows about it.
#[derive(Debug, Clone)]
pub struct FileRow {
    /// What was recorded when the file was archived.
    pub record: FileRecord,
    /// The id of the run that archived it (`runs.id`), when known.
    pub added_run: Option<i64>,
    /// When it was recorded, UTC, `YYYY-MM-DDTHH:MM:SSZ`.
    pub added_at: String,
    /// When the file was last read back and matched its hash.
    pub verified_at: Option<String>,
    /// What the last `verify` found wrong with it; `None` when nothing.
    pub verify_problem: Option<VerifyProblem>,
}

/// What a `verify` found wrong with an archived file, as `files.verify_problem`
/// stores it: `missing`, `corrupt`, `corrupt: unreadable: <error>` or
/// `undecodable: <why>` (see `docs/archive-format.md`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyProblem {
    /// Listed, not on disk.
    Missing,
    /// On disk with another hash.
    Corrupt,
    /// On disk but could not be read.
    Unreadable(String),
    /// The hash matches but the content does not decode (`verify --deep`):
    /// damaged before it was archived.
    Undecodable(String),
    /// A value this version does not know (a newer camroll wrote it).
    Other(String),
}

impl VerifyProblem {
    /// The text stored in the catalog.
    pub fn to_text(&self) -> String {
        match self {
            VerifyProblem::Missing => "missing".into(),
            VerifyProblem::Corrupt => "corrupt".into(),
            VerifyProblem::Unreadable(e) => format!("corrupt: unreadable: {e}"),
            VerifyProblem::Undecodable(why) => format!("undecodable: {why}"),
            VerifyProblem::Other(t) => t.clone(),
        }
    }

    /// Reads the stored text back.
    pub fn parse(text: &str) -> VerifyProblem {
        if text == "missing" {
            VerifyProblem::Missing
        } else if text == "corrupt" {
            VerifyProblem::Corrupt
        } else if let Some(e) = text.strip_prefix("corrupt: unreadable: ") {
            VerifyProblem::Unreadable(e.to_string())
        } else if let Some(why) = text.strip_prefix("undecodable: ") {
            VerifyProblem::Undecodable(why.to_string())
        } else {
            VerifyProblem::Other(text.to_string())
        }
    }

    /// The archived copy itself is gone or damaged (so it does not count as a
    /// verified copy, and another archive can repair it).
    pub fn is_damage(&self) -> bool {
        match self {
            VerifyProblem::Missing | VerifyProblem::Corrupt | VerifyProblem::Unreadable(_) => true,
            VerifyProblem::Undecodable(_) => false,
            // Older and newer spellings of damage start with these words.
            VerifyProblem::Other(t) => t.starts_with("missing") || t.starts_with("corrupt"),
        }
    }
}

impl std::fmt::Display for VerifyProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_text())
    }
}

impl serde::Serialize for VerifyProblem {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_text())
    }
}

impl FileRow {
    /// Read back and matched its hash, and nothing found wrong since.
    pub fn is_verified(&self) -> bool {
        self.verified_at.is_some() && !self.verify_problem.as_ref().is_some_and(|p| p.is_damage())
    }

    /// When the file was last read back with its hash: its own `verified_at`,
    /// or the end of `last_verify` (the latest finished verify run: started,
    /// ended) when that run started after the file was added and found nothing
    /// wrong with it.
    pub fn last_verified(&self, last_verify: Option<&(String, String)>) -> Option<String> {
        let own = self.verified_at.clone();
        match last_verify {
            Some((started, ended))
                if self.is_verified()
                    && self.added_at.as_str() < started.as_str()
                    && own.as_deref().is_none_or(|v| v < ended.as_str()) =>
            {
                Some(ended.clone())
            }
            _ => own,
        }
    }
}

impl Catalog {
    /// Brings a catalog written by an older camroll up to [`SCHEMA_VERSION`].
    /// Version 2 adds `files.verify_problem`.
    fn migrate(&self) -> Result<(), CatalogError> {
        let has_column = self
            .conn
            .prepare("SELECT 1 FROM pragma_table_info('files') WHERE name = 'verify_problem'")
            .and_then(|mut s| s.exists([]))
            .map_err(|e| self.err(e))?;
        if !has_column {
            self.conn
                .execute_batch("ALTER TABLE files ADD COLUMN verify_problem TEXT")
                .map_err(|e| self.err(e))?;
        }
        self.conn
            .execute(
                "UPDATE meta SET value = ?1 WHERE key = 'schema_version' AND CAST(value AS INTEGER) < ?2",
                params![SCHEMA_VERSION.to_string(), SCHEMA_VERSION],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// `PRAGMA quick_check`: `None` when the database is sound, else SQLite's complaint.
    pub fn integrity_problem(&self) -> Result<Option<String>, CatalogError> {
        let mut stmt = self
            .conn
            .prepare("PRAGMA quick_check")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(|e| self.err(e))?;
        let lines = rows
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.err(e))?;
        Ok(if lines.len() == 1 && lines[0] == "ok" {
            None
        } else {
            Some(lines.join("; "))
        })
    }

    /// Every archived file with all its columns, ordered by path.
    pub fn file_rows(&self) -> Result<Vec<FileRow>, CatalogError> {
        let problem = if self.legacy {
            "NULL"
        } else {
            "verify_problem"
        };
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT path, hash, size, kind, capture_local, capture_offset, offset_source, date_source,
                        original_name, source, source_path, role, added_run, added_at, verified_at,
                        {problem}
                 FROM files ORDER BY path"
            ))
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                let local: Option<String> = r.get(4)?;
                let offset: Option<i32> = r.get(5)?;
                let offset_source: Option<String> = r.get(6)?;
                let date_source: Option<String> = r.get(7)?;
                let capture = local.and_then(|l| {
                    parse_capture(&l, offset, offset_source.as_deref(), date_source.as_deref())
                });
                Ok(FileRow {
                    record: FileRecord {
                        path: r.get(0)?,
                        hash: r.get(1)?,
                        size: r.get::<_, i64>(2)?.max(0) as u64,
                        kind: r.get(3)?,
                        capture,
                        original_name: r.get(8)?,
                        source: r.get(9)?,
                        source_path: r.get(10)?,
                        role: r.get(11)?,
                    },
                    added_run: r.get(12)?,
                    added_at: r.get(13)?,
                    verified_at: r.get(14)?,
                    verify_problem: r
                        .get::<_, Option<String>>(15)?
                        .map(|t| VerifyProblem::parse(&t)),
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }

    /// Records the outcome of a `verify`: `ok` paths matched their hash now
    /// (verified_at = now, problem cleared); `problems` are (path, what is wrong).
    pub fn record_verification(
        &mut self,
        ok: &[String],
        problems: &[(String, VerifyProblem)],
    ) -> Result<(), CatalogError> {
        let now = now_text();
        let path = self.path.clone();
        let err = |source| CatalogError {
            path: path.clone(),
            source,
        };
        // A savepoint, so this also works inside a caller's transaction.
        let tx = self.conn.savepoint().map_err(err)?;
        {
            let mut good = tx
                // Content damage found by `--deep` stays: the bytes (and so the
                // damage) are the same whenever the hash matches.
                .prepare(
                    "UPDATE files SET verified_at = ?1,
                       verify_problem = CASE WHEN verify_problem LIKE 'undecodable%' THEN verify_problem END
                     WHERE path = ?2",
                )
                .map_err(err)?;
            for p in ok {
                good.execute(params![now, p]).map_err(err)?;
            }
            let mut bad = tx
                .prepare("UPDATE files SET verify_problem = ?1 WHERE path = ?2")
                .map_err(err)?;
            for (p, what) in problems {
                bad.execute(params![what.to_text(), p]).map_err(err)?;
            }
        }
        tx.commit().map_err(err)
    }

    /// A digest of everything the sidecar stage reads from the catalog for
    /// `source`: every file's (path, hash, role) and the source's items'
    /// (path, hash). Streamed row by row, so it costs no memory whatever the
    /// archive's size; equal digests mean the stage would see the same rows.
    /// Rows are read in table order and each is hashed alone; the row
    /// hashes are summed (lane by lane, wrapping), which no row order
    /// changes. Each table's rows are unique (their primary key is among
    /// the columns), so the sum is a digest of the set. Sorting by path
    /// instead walked the path index and read the rows in random order:
    /// 1.5–2 s of a 100,000-asset re-run.
    pub fn sidecar_inputs_digest(&self, source: &str) -> Result<String, CatalogError> {
        // Every text column of every row, each length-prefixed, so no two
        // different rows hash alike.
        let feed = |sql: &str, args: &[&dyn rusqlite::ToSql]| -> Result<[u64; 4], CatalogError> {
            let mut stmt = self.conn.prepare(sql).map_err(|e| self.err(e))?;
            let columns = stmt.column_count();
            let mut rows = stmt.query(args).map_err(|e| self.err(e))?;
            let mut sum = [0u64; 4];
            let mut row = Vec::new();
            while let Some(r) = rows.next().map_err(|e| self.err(e))? {
                row.clear();
                for i in 0..columns {
                    let t = r
                        .get_ref(i)
                        .ok()
                        .and_then(|v| v.as_str().ok())
                        .unwrap_or("");
                    row.extend_from_slice(&(t.len() as u64).to_le_bytes());
                    row.extend_from_slice(t.as_bytes());
                }
                let h = blake3::hash(&row);
                for (lane, b) in sum.iter_mut().zip(h.as_bytes().chunks_exact(8)) {
                    let mut w = [0u8; 8];
                    w.copy_from_slice(b);
                    *lane = lane.wrapping_add(u64::from_le_bytes(w));
                }
            }
            Ok(sum)
        };
        let files = feed("SELECT path, hash, COALESCE(role, '') FROM files", &[])?;
        let items = feed(
            "SELECT rel_path, hash FROM source_items WHERE +source = ?1",
            params![source],
        )?;
        let mut h = blake3::Hasher::new();
        h.update(b"files\0");
        for lane in files {
            h.update(&lane.to_le_bytes());
        }
        h.update(b"\0source_items\0");
        for lane in items {
            h.update(&lane.to_le_bytes());
        }
        Ok(h.finalize().to_hex().to_string())
    }

    /// Two maps from one pass over the files: hash → path of the first file
    /// (by path) whose role is not `role`, and path → hash of the files
    /// whose role is `role` (the sidecar stage: originals and sidecars).
    #[allow(clippy::type_complexity)]
    pub fn originals_and_role(
        &self,
        role: &str,
    ) -> Result<(HashMap<String, String>, HashMap<String, String>), CatalogError> {
        let mut stmt = self
            .conn
            .prepare("SELECT path, hash, role FROM files ORDER BY path")
            .map_err(|e| self.err(e))?;
        let mut rows = stmt.query([]).map_err(|e| self.err(e))?;
        let (mut others, mut with_role) = (HashMap::new(), HashMap::new());
        while let Some(r) = rows.next().map_err(|e| self.err(e))? {
            let path: String = r.get(0).map_err(|e| self.err(e))?;
            let hash: String = r.get(1).map_err(|e| self.err(e))?;
            let r_role: Option<String> = r.get(2).map_err(|e| self.err(e))?;
            if r_role.as_deref() == Some(role) {
                with_role.insert(path, hash);
            } else {
                others.entry(hash).or_insert(path);
            }
        }
        Ok((others, with_role))
    }

    /// Calls `f` with the path of every file recorded with `role` for
    /// `source`, streamed; stops early (returning `false`) when `f` does.
    pub fn each_path_with_role(
        &self,
        source: &str,
        role: &str,
        mut f: impl FnMut(&str) -> bool,
    ) -> Result<bool, CatalogError> {
        let mut stmt = self
            .conn
            .prepare("SELECT path FROM files WHERE role = ?1 AND source = ?2")
            .map_err(|e| self.err(e))?;
        let mut rows = stmt.query(params![role, source]).map_err(|e| self.err(e))?;
        while let Some(r) = rows.next().map_err(|e| self.err(e))? {
            let path = r
                .get_ref(0)
                .ok()
                .and_then(|v| v.as_str().ok())
                .unwrap_or("");
            if !f(path) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// A value of the catalog's `meta` table (`None` when unset).
    pub fn meta_value(&self, key: &str) -> Result<Option<String>, CatalogError> {
        self.conn
            .query_row("SELECT value FROM meta WHERE key = ?1", params![key], |r| {
                r.get(0)
            })
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Sets a value of the catalog's `meta` table.
    pub fn set_meta_value(&self, key: &str, value: &str) -> Result<(), CatalogError> {
        self.conn
            .execute(
                "INSERT INTO meta(key, value) VALUES(?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// Every source item recorded, for every source: (source, relative path, record).
    pub fn all_source_items(&self) -> Result<Vec<(String, String, SourceRecord)>, CatalogError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT source, rel_path, size, mtime_ns, hash FROM source_items ORDER BY source, rel_path",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    SourceRecord {
                        size: r.get::<_, i64>(2)?.max(0) as u64,
                        mtime_ns: r.get(3)?,
                        hash: r.get(4)?,
                    },
                ))
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }

    /// The id of the latest run of `command` (e.g. `export`), if any.
    pub fn last_run(&self, command: &str) -> Result<Option<i64>, CatalogError> {
        self.conn
            .query_row(
                "SELECT max(id) FROM runs WHERE command = ?1",
                params![command],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))
    }

    /// When the latest run of `command` ended, if one did.
    pub fn last_run_end(&self, command: &str) -> Result<Option<String>, CatalogError> {
        self.conn
            .query_row(
                "SELECT max(ended) FROM runs WHERE command = ?1",
                params![command],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))
    }

    /// Records a whole run at its end, with the time it `started` (a run that
    /// writes nothing until it is done, like `verify`).
    pub fn insert_finished_run(
        &self,
        command: &str,
        started: &str,
        counts: &RunCounts,
        outcome: &str,
    ) -> Result<i64, CatalogError> {
        self.conn
            .execute(
                "INSERT INTO runs(command, started) VALUES(?1, ?2)",
                params![command, started],
            )
            .map_err(|e| self.err(e))?;
        let id = self.conn.last_insert_rowid();
        self.finish_run(id, counts, outcome)?;
        Ok(id)
    }

    /// The latest finished run of `command`: (started, ended).
    pub fn last_finished_run(
        &self,
        command: &str,
    ) -> Result<Option<(String, String)>, CatalogError> {
        self.conn
            .query_row(
                "SELECT started, ended FROM runs WHERE command = ?1 AND ended IS NOT NULL
                 ORDER BY id DESC LIMIT 1",
                params![command],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Files whose verification state a clean read-back would change: never
    /// verified, or with a problem on record.
    pub fn paths_not_verified(&self) -> Result<std::collections::HashSet<String>, CatalogError> {
        let mut stmt = self
            .conn
            .prepare(if self.legacy {
                "SELECT path FROM files WHERE verified_at IS NULL"
            } else {
                "SELECT path FROM files WHERE verified_at IS NULL OR verify_problem IS NOT NULL"
            })
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Changes the hash a file is recorded with (rebuild: BLAKE3SUMS and the
    /// file agree, the catalog does not).
    pub fn set_file_hash(&self, path: &str, hash: &str, size: u64) -> Result<(), CatalogError> {
        self.conn
            .execute(
                "UPDATE files SET hash = ?2, size = ?3 WHERE path = ?1",
                params![path, hash, size as i64],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }
}

/// The inverse of how [`Catalog::insert_file`] stores a capture time.
fn parse_capture(
    local: &str,
    offset: Option<i32>,
    offset_source: Option<&str>,
    date_source: Option<&str>,
) -> Option<CaptureTime> {
    use crate::media::{DateSource, OffsetSource};
    let local = chrono::NaiveDateTime::parse_from_str(local, "%Y-%m-%dT%H:%M:%S%.f").ok()?;
    let offset_source = match offset_source {
        Some("recorded") => OffsetSource::Recorded,
        Some("assumed") => OffsetSource::Assumed,
        _ => OffsetSource::Unknown,
    };
    let source = [
        DateSource::ExifDateTimeOriginal,
        DateSource::QuickTimeCreationDate,
        DateSource::QuickTimeMvhd,
        DateSource::GroupPrimary,
        DateSource::FileMtime,
    ]
    .into_iter()
    .find(|s| Some(s.as_str()) == date_source)
    .unwrap_or(DateSource::FileMtime);
    Some(CaptureTime {
        local,
        offset_seconds: offset,
        offset_source,
        source,
    })
}

#[cfg(test)]
mod prove_tests {
    use super::*;

    #[test]
    fn a_version_1_catalog_gains_verify_problem_and_keeps_its_rows() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(".camroll")).unwrap();
        let db = dir.path().join(".camroll").join(CATALOG_FILE);
        let conn = Connection::open(&db).unwrap();
        // The version 1 schema, as the first camroll wrote it.
        conn.execute_batch(
            "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
             INSERT INTO meta VALUES('schema_version', '1');
             CREATE TABLE files(path TEXT PRIMARY KEY, hash TEXT NOT NULL, size INTEGER NOT NULL,
                 kind TEXT, capture_local TEXT, capture_offset INTEGER, offset_source TEXT,
                 date_source TEXT, original_name TEXT NOT NULL, source TEXT NOT NULL,
                 source_path TEXT NOT NULL, role TEXT, added_run INTEGER, added_at TEXT NOT NULL,
                 verified_at TEXT);
             INSERT INTO files(path, hash, size, original_name, source, source_path, added_at, capture_local, capture_offset, offset_source, date_source)
               VALUES('2020/01/a.jpg', 'h', 3, 'a.jpg', 's', 'a.jpg', 'now', '2020-01-02T03:04:05', 3600, 'recorded', 'EXIF DateTimeOriginal');",
        )
        .unwrap();
        drop(conn);
        let mut cat = Catalog::open(dir.path(), false).unwrap();
        let rows = cat.file_rows().unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].verify_problem, None);
        let c = rows[0].record.capture.unwrap();
        assert_eq!(c.display(), "2020-01-02T03:04:05+01:00");
        assert_eq!(c.source, crate::media::DateSource::ExifDateTimeOriginal);
        cat.record_verification(&[], &[("2020/01/a.jpg".into(), VerifyProblem::Corrupt)])
            .unwrap();
        assert!(!cat.file_rows().unwrap()[0].is_verified());
        cat.record_verification(&["2020/01/a.jpg".into()], &[])
            .unwrap();
        assert!(cat.file_rows().unwrap()[0].is_verified());
        let v: String = cat
            .conn
            .query_row(
                "SELECT value FROM meta WHERE key='schema_version'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(v, "2");
        assert_eq!(cat.integrity_problem().unwrap(), None);
    }

    #[test]
    fn a_file_was_last_verified_by_the_latest_verify_run_that_started_after_it_was_added() {
        let row = |added: &str, verified: Option<&str>, problem: Option<&str>| FileRow {
            record: FileRecord {
                path: "p".into(),
                hash: "h".into(),
                size: 1,
                kind: None,
                capture: None,
                original_name: "p".into(),
                source: "s".into(),
                source_path: "p".into(),
                role: None,
            },
            added_run: None,
            added_at: added.into(),
            verified_at: verified.map(Into::into),
            verify_problem: problem.map(VerifyProblem::parse),
        };
        let run = (
            "2024-01-02T00:00:00Z".to_string(),
            "2024-01-02T00:10:00Z".to_string(),
        );
        let old = row("2024-01-01T00:00:00Z", Some("2024-01-01T00:00:05Z"), None);
        assert_eq!(
            old.last_verified(Some(&run)).as_deref(),
            Some("2024-01-02T00:10:00Z")
        );
        assert_eq!(
            old.last_verified(None).as_deref(),
            Some("2024-01-01T00:00:05Z")
        );
        // Added after the run started: the run did not read it.
        let new = row("2024-01-02T00:05:00Z", Some("2024-01-02T00:05:01Z"), None);
        assert_eq!(
            new.last_verified(Some(&run)).as_deref(),
            Some("2024-01-02T00:05:01Z")
        );
        // Found corrupt: its last good verification stays what it was.
        let bad = row(
            "2024-01-01T00:00:00Z",
            Some("2024-01-01T00:00:05Z"),
            Some("corrupt"),
        );
        assert_eq!(
            bad.last_verified(Some(&run)).as_deref(),
            Some("2024-01-01T00:00:05Z")
        );
        // Never verified at all.
        let never = row("2024-01-01T00:00:00Z", None, None);
        assert_eq!(never.last_verified(Some(&run)), None);
    }

    #[test]
    fn verify_problems_keep_their_stored_text_and_only_damage_unverifies() {
        for text in [
            "missing",
            "corrupt",
            "corrupt: unreadable: EIO",
            "undecodable: truncated",
        ] {
            assert_eq!(VerifyProblem::parse(text).to_text(), text);
        }
        assert!(VerifyProblem::parse("corrupt: unreadable: EIO").is_damage());
        // The words of the detail never decide: only the kind does.
        assert!(!VerifyProblem::parse("undecodable: missing end of image").is_damage());
    }
}
