//! One destination archive during an export: opened (locked, leftovers of
//! killed runs removed, catalog loaded) before anything is read, and carried
//! through the stages.

use std::collections::HashMap;
use std::path::Path;

use super::summary::DestinationSummary;
use crate::archive::filesystem::{self, FsInfo};
use crate::archive::{Archive, ArchiveError};

/// One destination during a run.
pub(super) struct Dest {
    pub archive: Archive,
    pub summary: DestinationSummary,
    /// The catalog's id of this run (0 for a dry run).
    pub run: i64,
    /// Files written this run, for the read-back stage.
    pub written: Vec<Written>,
    /// Something was added: BLAKE3SUMS is rewritten.
    pub changed: bool,
    /// What the destination's filesystem can hold (FAT32: no file over 4 GiB).
    pub fs: FsInfo,
    /// Files placed (and written this run) since the last catalog commit: if
    /// the commit fails (disk full), they are taken out again, so the archive
    /// never holds files its catalog does not list.
    pub uncommitted: Vec<Written>,
    /// Sidecars a bucket holds (path → BLAKE3) while its spool does not: the
    /// sidecars stage counts them as present. Empty for disks.
    pub held_sidecars: HashMap<String, String>,
    /// A bucket's spool: what the bucket holds comes from its manifest
    /// (`archive.source_items`, `archive.by_hash`, `held_sidecars`), as the
    /// spool's catalog knows only what this machine spooled.
    pub in_bucket: bool,
}

/// A file this run put into an archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Written {
    /// Relative to the archive.
    pub path: String,
    /// The hash taken from the source stream.
    pub hash: String,
}

impl Dest {
    /// Opens the archive at `path` for an export from `source_id` and starts
    /// its run in the catalog (not for a dry run).
    pub fn open(path: &Path, source_id: &str, dry_run: bool) -> Result<Dest, ArchiveError> {
        // The name allocator is filled once the plan has something to place.
        let archive = Archive::open_for_export_unplanned(path, source_id, dry_run)?;
        let run = if dry_run {
            0
        } else {
            archive
                .catalog
                .start_run("export", Some(source_id))
                .map_err(ArchiveError::from)?
        };
        let summary = DestinationSummary {
            path: path.display().to_string(),
            staging_leftovers_removed: archive.leftovers_removed,
            ..Default::default()
        };
        Ok(Dest {
            archive,
            summary,
            run,
            written: Vec::new(),
            changed: false,
            fs: filesystem::detect(path),
            uncommitted: Vec::new(),
            held_sidecars: HashMap::new(),
            in_bucket: false,
        })
    }
}
