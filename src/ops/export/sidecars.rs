//! The **sidecars** stage: after the originals are placed and read back,
//! before `BLAKE3SUMS` is written, every archived original of an asset the
//! phone's library knows gets `<archived name>.xmp` (or `.json`) beside it
//! with what Photos knows (`docs/sidecars.md`). Sidecars are staged, made
//! durable and placed like originals, recorded with role
//! [`ROLE`](crate::archive::sidecar::ROLE). A sidecar whose facts changed on
//! the phone is replaced atomically; one whose bytes are the same is left
//! alone, so a no-change run writes nothing.

use std::collections::{BTreeMap, HashMap};
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
    meta: LibraryMeta,
    library: PathBuf,
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
    match read_library_meta(&library) {
        Ok(meta) => Some(SidecarPlan {
            format,
            meta,
            library,
        }),
        Err(e) => {
            summary.warnings.push(Warning {
                path: library.display().to_string(),
                warning: format!("no sidecars: {e}"),
            });
            None
        }
    }
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
    for d in dests.iter_mut() {
        if d.summary.error.is_some() {
            continue;
        }
        if let Err(e) = write_one(d, source_id, plan, summary, &mut s, dry_run) {
            summary.failed.push(Failed {
                path: "sidecars".into(),
                error: e,
                destination: Some(d.summary.path.clone()),
            });
        }
    }
    summary.sidecars = Some(s);
}

fn write_one(
    d: &mut Dest,
    source_id: &str,
    plan: &SidecarPlan,
    summary: &mut ExportSummary,
    s: &mut SidecarSummary,
    dry_run: bool,
) -> Result<(), String> {
    let cat = &d.archive.catalog;
    let mut items = cat.source_items(source_id).map_err(|e| e.to_string())?;
    let rows = cat.file_rows().map_err(|e| e.to_string())?;
    let mut original_by_hash: HashMap<&str, &str> = HashMap::new();
    let mut sidecar_hash: HashMap<&str, &str> = HashMap::new();
    for r in &rows {
        let rec = &r.record;
        if rec.role.as_deref() == Some(ROLE) {
            sidecar_hash.insert(&rec.path, &rec.hash);
        } else {
            original_by_hash.entry(&rec.hash).or_insert(&rec.path);
        }
    }
    if d.in_bucket {
        // What the bucket's manifest holds, which the spool's catalog may
        // not know (a fresh machine's knows nothing): its originals get
        // their sidecars checked too.
        for (rel, rec) in &d.archive.source_items {
            items.entry(rel.clone()).or_insert_with(|| rec.clone());
        }
        for (path, hash) in &d.held_sidecars {
            sidecar_hash.entry(path).or_insert(hash);
        }
        for (hash, path) in &d.archive.by_hash {
            if !sidecar_hash.contains_key(path.as_str()) {
                original_by_hash.entry(hash).or_insert(path);
            }
        }
    }
    // Archived originals by asset, in a stable order.
    let mut by_asset: BTreeMap<String, Vec<Member>> = BTreeMap::new();
    let mut items: Vec<_> = items.into_iter().collect();
    items.sort_by(|a, b| a.0.cmp(&b.0));
    for (rel_path, rec) in items {
        let Some((meta, how)) = plan.meta.lookup(&rel_path) else {
            continue;
        };
        let Some(archived) = original_by_hash.get(rec.hash.as_str()) else {
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
        let Some((meta, _)) = plan.meta.lookup(&members[0].rel_path) else {
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
            match sidecar_hash.get(path.as_str()) {
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
            .filter(|p| plan.meta.lookup(&p.path).is_some())
            .count() as u64;
        return Ok(());
    }
    if work.is_empty() {
        return Ok(());
    }
    d.archive.catalog.begin().map_err(|e| e.to_string())?;
    let mut placed_new = Vec::new();
    for Work {
        path,
        rel_path,
        replace,
        updates,
        bytes,
        hash,
    } in work
    {
        let (folder, name) = path.rsplit_once('/').unwrap_or(("", &path));
        let on_disk = d.archive.root.join(&path);
        let r = if !replace && on_disk.symlink_metadata().is_ok() {
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
            d.archive
                .stage_bytes(&bytes)
                .and_then(|staged| {
                    d.archive
                        .place_sidecar(&staged, folder, name, replace)
                        .inspect_err(|_| {
                            let _ = std::fs::remove_file(&staged);
                        })
                })
                .map(|_| true)
                .map_err(|e| format!("cannot write the sidecar {path}: {e}"))
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
    let committed = d
        .archive
        .sync_dirs()
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
