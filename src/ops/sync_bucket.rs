//! `camroll sync A s3://…` and `camroll sync s3://… B`: a bucket archive
//! brought up to date from a disk archive, and a disk archive restored from a
//! bucket, with the same rules as `sync` between disks: what TO lacks (by
//! BLAKE3) is copied into the same folder under the same name (the collision
//! rule when taken), every copy hash-checked, FROM's records kept so `check`
//! counts TO. FROM is only read.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use super::sync::{groups, requests, Renamed, SyncError, SyncSummary};
use crate::archive::bucket::manifest::{self, Entry};
use crate::archive::bucket::{Bucket, BucketError, BucketUrl, PutOutcome, UploadMeta, LOG_DIR};
use crate::archive::catalog::{FileRecord, SourceRecord};
use crate::archive::layout::{checked_rel_path, NamePlanner};
use crate::archive::{Archive, ArchiveError};
use crate::ops::{Failed, Outcome};
use crate::progress::Progress;

/// Whether `p` is a bucket address.
pub fn is_bucket(p: &Path) -> bool {
    p.to_str().is_some_and(BucketUrl::is_bucket_url)
}

fn bucket_err(e: BucketError) -> SyncError {
    SyncError::Bucket(e)
}

/// Copies into the bucket `to` every file of the disk archive `from` it lacks.
pub fn sync_to_bucket(
    from: &Path,
    to: &str,
    progress: &dyn Progress,
) -> Result<SyncSummary, SyncError> {
    let (rows, sources) = super::sync::read_from(from)?;
    let sources: HashMap<(String, String), SourceRecord> =
        sources.into_iter().map(|(s, p, r)| ((s, p), r)).collect();

    let url = BucketUrl::parse(to).map_err(bucket_err)?;
    let bucket = Bucket::open(&url).map_err(bucket_err)?;
    bucket.check_access().map_err(bucket_err)?;
    let run_id = manifest::run_id();
    let holder = serde_json::json!({
        "run": run_id, "pid": std::process::id(),
        "host": crate::archive::bucket::host_name(), "started": crate::archive::catalog::now_text(),
    });
    bucket.lock(&holder.to_string()).map_err(bucket_err)?;
    let listed = bucket.list().map_err(bucket_err)?;
    let mut m = bucket.read_manifest(&listed).map_err(bucket_err)?;
    let logs: Vec<String> = listed
        .iter()
        .filter(|l| l.rel.starts_with(LOG_DIR))
        .map(|l| l.rel.clone())
        .collect();
    let mut planner = NamePlanner::default();
    for l in &listed {
        if !manifest::is_own_object(&l.rel) {
            planner.add_listed(&l.rel);
        }
    }
    let mut have: HashSet<String> = HashSet::new();
    for e in m.entries.values() {
        planner.add_listed(&e.path);
        have.insert(e.blake3.clone());
    }
    let mut summary = SyncSummary {
        from: from.display().to_string(),
        to: url.to_string(),
        files: rows.len() as u64,
        ..Default::default()
    };
    let fail = |summary: &mut SyncSummary, path: &str, error: String| {
        summary.failed.push(Failed {
            path: path.to_string(),
            error,
            destination: Some(url.to_string()),
        })
    };
    let todo: Vec<_> = rows
        .iter()
        .filter(|r| checked_rel_path(&r.record.path).is_ok() && have.insert(r.record.hash.clone()))
        .collect();
    summary.already = rows.len() as u64 - todo.len() as u64;
    progress.phase(
        "Uploading",
        todo.len() as u64,
        todo.iter().map(|r| r.record.size).sum(),
    );
    let mut new: Vec<Entry> = Vec::new();
    let nowhere = PathBuf::from("/nonexistent/camroll-bucket");
    'groups: for ((folder, _), members) in groups(
        todo.iter()
            .enumerate()
            .map(|(i, r)| (i, r.record.path.as_str())),
    ) {
        let paths: Vec<&str> = members
            .iter()
            .map(|&i| todo[i].record.path.as_str())
            .collect();
        let chosen = planner.allocate(&nowhere, &requests(&folder, &paths), |_, _| false);
        for (&i, choice) in members.iter().zip(chosen) {
            let row = todo[i];
            let local = from.join(&row.record.path);
            let path = if folder.is_empty() {
                choice.name.clone()
            } else {
                format!("{folder}/{}", choice.name)
            };
            // put_file streams FROM's file through BLAKE3 as it sends it, and
            // completes the upload only if it is still what its catalog says.
            let meta = UploadMeta::of(&row.record);
            let ok = match bucket.put_file(&path, &local, &meta) {
                Ok(PutOutcome::Created) => true,
                Ok(PutOutcome::Exists) => bucket
                    .hash_object(&path)
                    .map_err(bucket_err)?
                    .is_some_and(|d| d.hash == row.record.hash),
                Err(e) if e.is_fatal() => {
                    fail(&mut summary, &row.record.path, e.to_string());
                    break 'groups;
                }
                Err(e) => {
                    fail(&mut summary, &row.record.path, e.to_string());
                    continue;
                }
            };
            if !ok {
                fail(
                    &mut summary,
                    &row.record.path,
                    format!("{url}/{path}: another object already has this name: not replaced"),
                );
                continue;
            }
            progress.advance(1, row.record.size);
            let src = sources.get(&(row.record.source.clone(), row.record.source_path.clone()));
            let mut e = Entry::from_row(row, src, &run_id);
            e.path = path.clone();
            if path != row.record.path {
                summary.renamed.push(Renamed {
                    path: row.record.path.clone(),
                    to: path.clone(),
                });
            }
            m.entries.insert(path, e.clone());
            new.push(e);
            summary.copied += 1;
            summary.bytes_copied += row.record.size;
        }
    }
    progress.finish();
    // Server-verified on upload (SHA-256), and hash-checked at the source.
    summary.verified = summary.copied;
    summary.source_records_added = new.iter().filter(|e| e.source_size.is_some()).count() as u64;
    let index_missing = !listed
        .iter()
        .any(|l| l.rel == crate::archive::bucket::MANIFEST_OBJECT);
    if !new.is_empty() || index_missing || !logs.is_empty() {
        if let Err(e) = bucket.commit_run(&m, &new, &logs, &run_id) {
            fail(&mut summary, "manifest", e.to_string());
        }
    }
    summary.outcome = outcome(&summary);
    Ok(summary)
}

fn outcome(s: &SyncSummary) -> Outcome {
    if s.failed.is_empty() {
        Outcome::Ok
    } else if s.copied == 0 && s.already == 0 {
        Outcome::Failed
    } else {
        Outcome::Partial
    }
}

/// Restores into the disk archive `to` (created if missing) every object of
/// the bucket `from` it lacks.
pub fn sync_from_bucket(
    from: &str,
    to: &Path,
    progress: &dyn Progress,
) -> Result<SyncSummary, SyncError> {
    let url = BucketUrl::parse(from).map_err(bucket_err)?;
    let bucket = Bucket::open(&url).map_err(bucket_err)?;
    bucket.check_access().map_err(bucket_err)?;
    let listed = bucket.list().map_err(bucket_err)?;
    if !listed
        .iter()
        .any(|l| l.rel == crate::archive::bucket::MANIFEST_OBJECT)
    {
        return Err(bucket_err(BucketError::NotAnArchive {
            url: url.to_string(),
        }));
    }
    let m = bucket.read_manifest(&listed).map_err(bucket_err)?;
    let from_id = format!("archive:{url}");
    let mut dest = Archive::open_for_export(to, &from_id, false)?;
    let run = dest
        .catalog
        .start_run("sync", Some(&from_id))
        .map_err(ArchiveError::from)?;
    let mut summary = SyncSummary {
        from: url.to_string(),
        to: to.display().to_string(),
        files: m.entries.len() as u64,
        ..Default::default()
    };
    for p in &m.problems {
        summary.failed.push(Failed {
            path: crate::archive::bucket::MANIFEST_OBJECT.into(),
            error: p.clone(),
            destination: Some(summary.to.clone()),
        });
    }
    let mut wanted: HashSet<&str> = HashSet::new();
    let todo: Vec<&Entry> = m
        .entries
        .values()
        .filter(|e| !dest.by_hash.contains_key(&e.blake3) && wanted.insert(e.blake3.as_str()))
        .collect();
    summary.already = m.entries.len() as u64 - todo.len() as u64;
    progress.phase(
        "Downloading",
        todo.len() as u64,
        todo.iter().map(|e| e.size).sum(),
    );
    let staging = dest.staging_dir();
    if let Err(e) = dest.catalog.begin() {
        summary.failed.push(Failed {
            path: "catalog".into(),
            error: e.to_string(),
            destination: Some(summary.to.clone()),
        });
    }
    let mut placed = Vec::new();
    let mut n = 0usize;
    for ((folder, _), members) in groups(todo.iter().enumerate().map(|(i, e)| (i, e.path.as_str())))
    {
        let mut ok: Vec<(usize, PathBuf, u64)> = Vec::new();
        for i in members {
            n += 1;
            let staged = staging.join(format!("{}-restore-{n}.part", std::process::id()));
            match bucket.download_verified(&todo[i].path, &staged, &todo[i].blake3) {
                Ok(size) => ok.push((i, staged, size)),
                Err(e) => summary.failed.push(Failed {
                    path: todo[i].path.clone(),
                    error: e.to_string(),
                    destination: Some(summary.to.clone()),
                }),
            }
            progress.advance(1, todo[i].size);
        }
        if ok.is_empty() {
            continue;
        }
        let paths: Vec<&str> = ok.iter().map(|(i, _, _)| todo[*i].path.as_str()).collect();
        let root = dest.root.clone();
        let chosen = dest
            .planner
            .allocate(&root, &requests(&folder, &paths), |_, _| false);
        for ((i, staged, size), choice) in ok.into_iter().zip(chosen) {
            let e = todo[i];
            let path = if folder.is_empty() {
                choice.name.clone()
            } else {
                format!("{folder}/{}", choice.name)
            };
            if let Err(err) = dest.place(&staged, &folder, &choice.name) {
                let _ = std::fs::remove_file(&staged);
                summary.failed.push(Failed {
                    path: e.path.clone(),
                    error: format!("cannot put in place as {path}: {err}"),
                    destination: Some(summary.to.clone()),
                });
                continue;
            }
            dest.planner.take(&folder, &choice.name);
            dest.by_hash.insert(e.blake3.clone(), path.clone());
            if path != e.path {
                summary.renamed.push(Renamed {
                    path: e.path.clone(),
                    to: path.clone(),
                });
            }
            let rec = FileRecord {
                path: path.clone(),
                ..e.record()
            };
            if let Err(err) = dest.catalog.insert_file(&rec, run) {
                summary.failed.push(Failed {
                    path: e.path.clone(),
                    error: err.to_string(),
                    destination: Some(summary.to.clone()),
                });
                continue;
            }
            summary.copied += 1;
            summary.bytes_copied += size;
            placed.push(path);
        }
    }
    progress.finish();
    super::sync::make_durable(&mut dest, &mut summary);
    if dest.catalog.mark_verified(&placed).is_ok() {
        summary.verified = placed.len() as u64;
    }
    // The source records the manifest carries, so `check` counts TO too.
    let known: HashSet<(String, String)> = dest
        .catalog
        .all_source_items()
        .map(|v| v.into_iter().map(|(s, p, _)| (s, p)).collect())
        .unwrap_or_default();
    for e in m.entries.values() {
        let (Some(size), Some(mtime_ns)) = (e.source_size, e.source_mtime_ns) else {
            continue;
        };
        if e.source.is_empty()
            || !dest.by_hash.contains_key(&e.blake3)
            || known.contains(&(e.source.clone(), e.source_path.clone()))
            || checked_rel_path(&e.source_path).is_err()
        {
            continue;
        }
        let rec = SourceRecord {
            size,
            mtime_ns,
            hash: e.blake3.clone(),
        };
        if dest
            .catalog
            .record_source_item(&e.source, &e.source_path, &rec, run)
            .is_ok()
        {
            summary.source_records_added += 1;
        }
    }
    if summary.copied > 0 || !to.join(crate::archive::sums::SUMS_FILE).exists() {
        if let Err(e) = dest.write_sums() {
            summary.failed.push(Failed {
                path: "BLAKE3SUMS".into(),
                error: e.to_string(),
                destination: Some(summary.to.clone()),
            });
        }
    }
    summary.outcome = outcome(&summary);
    super::sync::finish_run(&dest.catalog, run, &summary);
    Ok(summary)
}
