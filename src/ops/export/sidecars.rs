//! The **sidecars** stage: after the originals are placed and read back,
//! before `BLAKE3SUMS` is written, every archived original of an asset the
//! phone's library knows gets `<archived name>.xmp` (or `.json`) beside it
//! with what Photos knows (`docs/sidecars.md`). Sidecars are staged, made
//! durable and placed like originals, recorded with role
//! [`ROLE`](crate::archive::sidecar::ROLE). A sidecar whose facts changed on
//! the phone is replaced atomically; one whose bytes are the same is left
//! alone, so a no-change run writes nothing.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::dest::Dest;
use super::summary::{ExportSummary, SidecarSummary};
use crate::archive::catalog::FileRecord;
use crate::archive::sidecar::ROLE;
use crate::media::sidecar::{LivePair, SidecarFormat};
use crate::ops::{Failed, Warning};
use crate::source::library_meta::{read_library_meta, LibraryMeta, MetaMatch};
use crate::source::Source;

/// Which sidecars to write (`--sidecars`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SidecarChoice {
    /// XMP when the phone's library was read (or `--sidecars-from` names one), else none.
    #[default]
    Auto,
    /// Always a format (a warning when there is no library to read).
    Format(SidecarFormat),
    /// No sidecars.
    None,
}

/// The facts to write and in which format.
pub(super) struct SidecarPlan {
    format: SidecarFormat,
    /// Read on first need: a run whose inputs match the last complete
    /// stage's (see [`Stamp`]) never reads the library at all.
    meta: std::cell::OnceCell<Result<LibraryMeta, String>>,
    library: PathBuf,
    /// BLAKE3 of the library's content (`Photos.sqlite` and its `-wal`),
    /// `None` when it cannot be read whole.
    library_digest: Option<String>,
}

impl SidecarPlan {
    fn meta(&self) -> Result<&LibraryMeta, &String> {
        self.meta
            .get_or_init(|| read_library_meta(&self.library).map_err(|e| e.to_string()))
            .as_ref()
    }
}

/// What a sidecar stage produced, kept in the catalog's `meta` table per
/// source: the digest of all its inputs (format, camroll's version, the
/// library's bytes, the catalog's file and source rows, see
/// [`Catalog::sidecar_inputs_digest`]) right after a stage that left
/// nothing undone, and how many sidecars were then up to date. A later
/// run whose inputs have the same digest, and whose recorded sidecars are
/// all still on disk, would render exactly the same bytes: it skips
/// reading the library and rendering (a no-change re-run of 100,000 assets
/// would otherwise load every asset's facts and render 100,000 sidecars).
///
/// [`Catalog::sidecar_inputs_digest`]: crate::archive::catalog::Catalog::sidecar_inputs_digest
struct Stamp;

impl Stamp {
    fn key(source_id: &str) -> String {
        format!("sidecars_stamp:{source_id}")
    }

    /// The digest of the stage's inputs now, `None` when one cannot be read.
    fn digest(d: &Dest, source_id: &str, plan: &SidecarPlan) -> Option<String> {
        let library = plan.library_digest.as_ref()?;
        let rows = d.archive.catalog.sidecar_inputs_digest(source_id).ok()?;
        Some(format!(
            "{} {} {library} {rows}",
            env!("CARGO_PKG_VERSION"),
            plan.format.extension()
        ))
    }

    /// How many sidecars are up to date, when the inputs match the last
    /// complete stage's and every sidecar it recorded is still in place.
    fn unchanged(d: &Dest, source_id: &str, plan: &SidecarPlan) -> Option<u64> {
        // A bucket's sidecars live in the bucket, not in the spool.
        if d.in_bucket {
            return None;
        }
        let saved = d.archive.catalog.meta_value(&Self::key(source_id)).ok()??;
        let (count, digest) = saved.split_once(' ')?;
        if Self::digest(d, source_id, plan)? != digest {
            return None;
        }
        let root = &d.archive.root;
        let all_there = d
            .archive
            .catalog
            .each_path_with_role(source_id, ROLE, |p| {
                crate::archive::layout::checked_rel_path(p).is_ok()
                    && root.join(p).symlink_metadata().is_ok()
            })
            .ok()?;
        all_there.then(|| count.parse().ok()).flatten()
    }

    /// Records the inputs after a stage that left nothing undone.
    fn save(d: &Dest, source_id: &str, plan: &SidecarPlan, unchanged: u64) {
        if let Some(digest) = Self::digest(d, source_id, plan) {
            let _ = d
                .archive
                .catalog
                .set_meta_value(&Self::key(source_id), &format!("{unchanged} {digest}"));
        }
    }
}

/// BLAKE3 of a library copy (`Photos.sqlite` then its `-wal`), streamed.
fn library_digest(db: &std::path::Path) -> Option<String> {
    let mut h = blake3::Hasher::new();
    h.update_reader(std::fs::File::open(db).ok()?).ok()?;
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    h.update(b"\0wal\0");
    if let Ok(f) = std::fs::File::open(&wal) {
        h.update_reader(f).ok()?;
    }
    Some(h.finalize().to_hex().to_string())
}

/// Decides whether this run writes sidecars, and reads the library if so.
/// A library that cannot be read is a warning: the originals are archived
/// all the same.
pub(super) fn prepare(
    source: &dyn Source,
    choice: SidecarChoice,
    from: Option<&PathBuf>,
    summary: &mut ExportSummary,
) -> Option<SidecarPlan> {
    let format = match choice {
        SidecarChoice::None => return None,
        SidecarChoice::Format(f) => f,
        SidecarChoice::Auto => SidecarFormat::Xmp,
    };
    let library = from.cloned().or_else(|| source.library_db());
    let Some(library) = library else {
        if choice != SidecarChoice::Auto {
            summary.warnings.push(Warning {
                path: "sidecars".into(),
                warning: format!(
                    "no sidecars: this {} has no Photos library; give a copy of Photos.sqlite with --sidecars-from",
                    source.kind_name()
                ),
            });
        }
        return None;
    };
    Some(SidecarPlan {
        format,
        meta: std::cell::OnceCell::new(),
        library_digest: library_digest(&library),
        library,
    })
}

/// One archived original of an asset.
struct Member {
    how: MetaMatch,
    archived: String,
    rel_path: String,
}

/// A sidecar to write.
struct Work {
    path: String,
    rel_path: String,
    /// Put over the file at `path` in the archive.
    replace: bool,
    /// A sidecar the archive held is replaced (counted as updated).
    updates: bool,
    bytes: Vec<u8>,
    hash: String,
}

/// Writes (or replaces) the sidecars in every destination.
pub(super) fn write(
    dests: &mut [Dest],
    source_id: &str,
    plan: &SidecarPlan,
    summary: &mut ExportSummary,
    dry_run: bool,
) {
    let mut s = SidecarSummary {
        format: match plan.format {
            SidecarFormat::Xmp => "xmp",
            SidecarFormat::Json => "json",
        }
        .into(),
        library: plan.library.display().to_string(),
        ..Default::default()
    };
    // Archives whose sidecars are known to be up to date are done without
    // reading the library; the others need it.
    let mut up_to_date = Vec::with_capacity(dests.len());
    for d in dests.iter() {
        let planned_new = dry_run
            && summary
                .planned
                .iter()
                .any(|p| p.destination == d.summary.path && matches!(p.action, "copy" | "adopt"));
        up_to_date.push(if d.summary.error.is_some() || planned_new {
            None
        } else {
            Stamp::unchanged(d, source_id, plan)
        });
    }
    let needs_library = dests
        .iter()
        .zip(&up_to_date)
        .any(|(d, u)| d.summary.error.is_none() && u.is_none());
    if needs_library {
        if let Err(e) = plan.meta() {
            summary.warnings.push(Warning {
                path: plan.library.display().to_string(),
                warning: format!("no sidecars: {e}"),
            });
            return;
        }
    }
    for (d, up_to_date) in dests.iter_mut().zip(up_to_date) {
        if d.summary.error.is_some() {
            continue;
        }
        if let Some(n) = up_to_date {
            s.unchanged += n;
            continue;
        }
        let before = (s.unchanged, s.skipped, s.failed, s.written + s.updated);
        let failed_before = summary.failed.len();
        let r = write_one(d, source_id, plan, summary, &mut s, dry_run);
        if r.is_ok()
            && !dry_run
            && s.skipped == before.1
            && s.failed == before.2
            && summary.failed.len() == failed_before
        {
            // Everything is now up to date: the next run with the same
            // inputs needs no library. (Written and updated ones count as
            // up to date next time.)
            let now = s.unchanged - before.0 + (s.written + s.updated - before.3);
            Stamp::save(d, source_id, plan, now);
        }
        if let Err(e) = r {
            summary.failed.push(Failed {
                path: "sidecars".into(),
                error: e,
                destination: Some(d.summary.path.clone()),
            });
        }
    }
    summary.sidecars = Some(s);
}

/// Stages every sidecar of `work` that is to be written (not one already
/// there: adopted or left alone), then makes them durable with one flush
/// ([`crate::archive::Archive::sync_staged`]) and reads each back. Per
/// item: `None` when none was staged for it, else the staged path or why it
/// could not be written. A failed flush fails them all and leaves nothing
/// in staging.
/// Sidecars staged and flushed together (the originals' batches are
/// `place::BATCH_FILES`).
const STAGE_BATCH: usize = 256;

fn stage_all(d: &Dest, work: &[Work]) -> Vec<Option<Result<PathBuf, String>>> {
    let mut out: Vec<Option<Result<PathBuf, String>>> = work
        .iter()
        .map(|w| {
            let there = d.archive.root.join(&w.path).symlink_metadata().is_ok();
            (w.replace || !there).then(|| {
                d.archive
                    .stage_bytes_unsynced(&w.bytes)
                    .map_err(|e| format!("cannot write the sidecar {}: {e}", w.path))
            })
        })
        .collect();
    let files: Vec<&std::path::Path> = out
        .iter()
        .filter_map(|o| o.as_ref()?.as_ref().ok().map(|p| p.as_path()))
        .collect();
    if files.is_empty() {
        return out;
    }
    let synced = d
        .archive
        .sync_staged(&files, d.fs.syncfs_flushes_all())
        .map_err(|e| format!("cannot make the sidecars durable: {e}"));
    for (o, w) in out.iter_mut().zip(work) {
        let Some(Ok(p)) = o else { continue };
        // Read back as before (a disk that fails on write is caught here).
        let checked = synced.clone().and_then(|_| match std::fs::read(&*p) {
            Ok(b) if b == w.bytes => Ok(()),
            Ok(_) => Err(format!(
                "cannot write the sidecar {}: it read back differently from what was written: the disk is failing",
                w.path
            )),
            Err(e) => Err(format!("cannot write the sidecar {}: {e}", w.path)),
        });
        if let Err(e) = checked {
            let _ = std::fs::remove_file(&*p);
            *o = Some(Err(e));
        }
    }
    out
}

fn write_one(
    d: &mut Dest,
    source_id: &str,
    plan: &SidecarPlan,
    summary: &mut ExportSummary,
    s: &mut SidecarSummary,
    dry_run: bool,
) -> Result<(), String> {
    let meta = plan.meta().map_err(|e| e.clone())?;
    let cat = &d.archive.catalog;
    let mut items = cat.source_items(source_id).map_err(|e| e.to_string())?;
    // Only the columns this stage reads (every row whole would be several
    // hundred bytes a file).
    let (mut original_by_hash, mut sidecar_hash) =
        cat.originals_and_role(ROLE).map_err(|e| e.to_string())?;
    if d.in_bucket {
        // What the bucket's manifest holds, which the spool's catalog may
        // not know (a fresh machine's knows nothing): its originals get
        // their sidecars checked too.
        for (rel, rec) in &d.archive.source_items {
            items.entry(rel.clone()).or_insert_with(|| rec.clone());
        }
        for (path, hash) in &d.held_sidecars {
            sidecar_hash
                .entry(path.clone())
                .or_insert_with(|| hash.clone());
        }
        for (hash, path) in &d.archive.by_hash {
            if !sidecar_hash.contains_key(path.as_str()) {
                original_by_hash
                    .entry(hash.clone())
                    .or_insert_with(|| path.clone());
            }
        }
    }
    // Archived originals by asset, in a stable order.
    let mut by_asset: BTreeMap<String, Vec<Member>> = BTreeMap::new();
    let mut items: Vec<_> = items.into_iter().collect();
    items.sort_by(|a, b| a.0.cmp(&b.0));
    for (rel_path, rec) in items {
        let Some((meta, how)) = meta.lookup(&rel_path) else {
            continue;
        };
        let Some(archived) = original_by_hash.get(&rec.hash) else {
            continue;
        };
        let members = by_asset.entry(meta.uuid.clone()).or_default();
        if !members.iter().any(|m| m.archived == *archived) {
            members.push(Member {
                how,
                archived: archived.to_string(),
                rel_path,
            });
        }
    }
    let mut work = Vec::new();
    for members in by_asset.values() {
        let Some((meta, _)) = meta.lookup(&members[0].rel_path) else {
            continue;
        };
        let mut meta = meta.clone();
        let name = |m: &Member| {
            m.archived
                .rsplit('/')
                .next()
                .unwrap_or(&m.archived)
                .to_string()
        };
        let still = members.iter().find(|m| m.how == MetaMatch::Original);
        let movie = members.iter().find(|m| m.how == MetaMatch::LivePhotoMovie);
        if let (Some(st), Some(mv)) = (still, movie) {
            meta.live_photo = Some(LivePair {
                still: name(st),
                movie: name(mv),
            });
        }
        let bytes = plan.format.render(&meta);
        let hash = blake3::hash(&bytes).to_hex().to_string();
        for m in members {
            let path = format!("{}{}", m.archived, plan.format.extension());
            // A recorded sidecar someone deleted is written again.
            let present = || d.archive.root.join(&path).symlink_metadata().is_ok();
            match sidecar_hash.get(&path) {
                Some(h) if *h == hash && present() => s.unchanged += 1,
                // In a bucket, as it is now (its spool copy uploaded and removed).
                _ if d.held_sidecars.get(&path) == Some(&hash) => s.unchanged += 1,
                old => {
                    let replace = old.is_some() && present();
                    work.push(Work {
                        // A bucket's sidecar is replaced by the upload; in
                        // its spool the new one is a new file.
                        updates: replace || d.held_sidecars.contains_key(&path),
                        path,
                        rel_path: m.rel_path.clone(),
                        replace,
                        bytes: bytes.clone(),
                        hash: hash.clone(),
                    })
                }
            }
        }
    }
    if dry_run {
        for w in &work {
            if w.updates {
                s.updated += 1;
            } else {
                s.written += 1;
            }
        }
        // Originals this run would newly file are not in the catalog yet:
        // each the library knows would get its sidecar too.
        s.written += summary
            .planned
            .iter()
            .filter(|p| p.destination == d.summary.path)
            .filter(|p| matches!(p.action, "copy" | "adopt"))
            .filter(|p| meta.lookup(&p.path).is_some())
            .count() as u64;
        return Ok(());
    }
    if work.is_empty() {
        return Ok(());
    }
    d.archive.catalog.begin().map_err(|e| e.to_string())?;
    // Staged a batch at a time, made durable with one flush (not one fsync per
    // sidecar: thousands of them kept the run going seconds after the last
    // original), then placed one by one, their folders flushed once.
    // In batches of `STAGE_BATCH`, which bounds what a killed run leaves in
    // staging for the next run to clear.
    let mut placed_new = Vec::new();
    let mut work = work.into_iter().peekable();
    while work.peek().is_some() {
        let batch: Vec<Work> = work.by_ref().take(STAGE_BATCH).collect();
        let staged = stage_all(d, &batch);
        for (
            Work {
                path,
                rel_path,
                replace,
                updates,
                bytes,
                hash,
            },
            staged,
        ) in batch.into_iter().zip(staged)
        {
            let (folder, name) = path.rsplit_once('/').unwrap_or(("", &path));
            let on_disk = d.archive.root.join(&path);
            let r = if let Some(Err(e)) = staged {
                Err(e)
            } else if !replace && on_disk.symlink_metadata().is_ok() {
                // Appeared since it was staged: as if it had been there.
                if let Some(Ok(p)) = &staged {
                    let _ = std::fs::remove_file(p);
                }
                // Not recorded, yet there: a killed run's (same bytes: adopt it),
                // or somebody else's file (left alone).
                if std::fs::read(&on_disk).is_ok_and(|b| b == bytes) {
                    Ok(false)
                } else {
                    // Say so, but it is not a failure: nothing was lost.
                    s.skipped += 1;
                    summary.warnings.push(Warning {
                    path: path.clone(),
                    warning: "a file camroll did not write has this sidecar's name: left alone, no sidecar written".into(),
                });
                    continue;
                }
            } else {
                match staged {
                    Some(Ok(staged)) => d
                        .archive
                        .place_sidecar(&staged, folder, name, replace)
                        .inspect_err(|_| {
                            let _ = std::fs::remove_file(&staged);
                        })
                        .map(|_| true)
                        .map_err(|e| format!("cannot write the sidecar {path}: {e}")),
                    _ => Err(format!("cannot write the sidecar {path}: not staged")),
                }
            };
            match r {
                Ok(wrote) => {
                    let rec = FileRecord {
                        path: path.clone(),
                        hash,
                        size: bytes.len() as u64,
                        kind: Some(plan.format.extension().trim_start_matches('.').to_string()),
                        capture: None,
                        original_name: name.to_string(),
                        source: source_id.to_string(),
                        source_path: rel_path.clone(),
                        role: Some(ROLE.to_string()),
                    };
                    if let Err(e) = d.archive.catalog.insert_file(&rec, d.run) {
                        s.failed += 1;
                        summary.failed.push(Failed {
                            path: rel_path,
                            error: e.to_string(),
                            destination: Some(d.summary.path.clone()),
                        });
                        continue;
                    }
                    if wrote && !replace {
                        placed_new.push(path.clone());
                        d.archive.planner.take(folder, name);
                    }
                    if updates {
                        s.updated += 1;
                    } else {
                        s.written += 1;
                    }
                    d.changed = true;
                }
                Err(e) => {
                    s.failed += 1;
                    summary.failed.push(Failed {
                        path: rel_path,
                        error: e,
                        destination: Some(d.summary.path.clone()),
                    });
                }
            }
        }
    }
    let committed = d
        .archive
        .sync_dirs_batched(d.fs.syncfs_flushes_all())
        .map_err(|e| e.to_string())
        .and_then(|_| d.archive.catalog.commit().map_err(|e| e.to_string()));
    if let Err(e) = committed {
        // Rows lost: take the new sidecars out again (replaced ones stay; the
        // next run sees their hash differ from the catalog and writes them again).
        let _ = d.archive.catalog.rollback();
        for p in &placed_new {
            let _ = std::fs::remove_file(d.archive.root.join(p));
        }
        return Err(format!("cannot record the sidecars in the catalog: {e}"));
    }
    Ok(())
}
