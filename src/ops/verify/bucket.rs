//! `camroll verify s3://BUCKET/PREFIX`: every object the manifest lists is
//! streamed and re-hashed, and compared with the manifest and `BLAKE3SUMS`.
//! Findings are the disk's (missing, corrupt, unlisted, sums disagree), plus
//! *replaced*: an object whose content and own `blake3` metadata both differ
//! from the manifest, so something wrote a new object over it.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::{ArchiveReport, FindingKind};
use crate::archive::bucket::manifest::is_own_object;
use crate::archive::bucket::{
    Bucket, BucketError, BucketUrl, Listed, PutOutcome, UploadMeta, MANIFEST_OBJECT,
};
use crate::archive::catalog::{FileRow, SourceRecord};
use crate::archive::sums::{self, SUMS_FILE};
use crate::progress::Progress;

/// The longest `BLAKE3SUMS` camroll reads from a bucket.
const MAX_SUMS: u64 = 1 << 30;
/// When each object was last streamed back with its hash: one JSON line per
/// object, rewritten whole by every verify (what `check` counts).
pub const VERIFIED_OBJECT: &str = ".camroll/verified.jsonl";

/// A line of [`VERIFIED_OBJECT`].
#[derive(Debug, Clone, Serialize, Deserialize)]
struct VerifiedLine {
    path: String,
    blake3: String,
    verified_at: String,
}

/// path → (blake3, verified_at) from [`VERIFIED_OBJECT`]; bad lines are ignored
/// (it only ever makes a copy count as verified when its hash matches too).
fn read_verified(bucket: &Bucket) -> Result<HashMap<String, (String, String)>, BucketError> {
    let text = bucket
        .read_text(VERIFIED_OBJECT, MAX_SUMS)?
        .unwrap_or_default();
    Ok(text
        .lines()
        .filter(|l| l.len() <= crate::archive::bucket::manifest::MAX_LINE)
        .filter_map(|l| serde_json::from_str::<VerifiedLine>(l).ok())
        .map(|v| (v.path, (v.blake3, v.verified_at)))
        .collect())
}

/// What `check` needs of a bucket archive: its files as catalog rows (with
/// `verified_at` from the last verify that streamed each object back), this
/// source's records, and the listing's problems in words.
pub struct BucketRecords {
    /// One row per manifest entry.
    pub rows: Vec<FileRow>,
    /// `source_path` → record, for the source asked about.
    pub records: HashMap<String, SourceRecord>,
}

/// Loads a bucket archive's records for `check`.
pub fn load_records(text: &str, source_id: &str) -> Result<BucketRecords, BucketError> {
    let url = BucketUrl::parse(text)?;
    let bucket = Bucket::open(&url)?;
    bucket.check_access()?;
    let listed: Vec<Listed> = bucket.list()?;
    let manifest = bucket.read_manifest(&listed)?;
    let verified = read_verified(&bucket)?;
    let mut out = BucketRecords {
        rows: Vec::new(),
        records: HashMap::new(),
    };
    for e in manifest.entries.values() {
        if e.source == source_id {
            if let (Some(size), Some(mtime_ns)) = (e.source_size, e.source_mtime_ns) {
                out.records.insert(
                    e.source_path.clone(),
                    SourceRecord {
                        size,
                        mtime_ns,
                        hash: e.blake3.clone(),
                    },
                );
            }
        }
        out.rows.push(FileRow {
            record: e.record(),
            added_run: None,
            added_at: e.added_at.clone(),
            verified_at: verified
                .get(&e.path)
                .filter(|(h, _)| *h == e.blake3)
                .map(|(_, at)| at.clone()),
            verify_problem: None,
        });
    }
    Ok(out)
}

/// Verifies the bucket archive at `text`. Errors that stop every request
/// (no bucket, denied) or say there is no archive there are returned.
///
/// With `subset` (a percentage), only that share of the objects is streamed
/// back, those verified longest ago (or never) first, as restic's
/// `--read-data-subset` does: nightly runs of `--subset 4` read every
/// object within a month. Missing and unlisted objects and `BLAKE3SUMS` are
/// always checked in full (they need only the listing).
pub fn verify_bucket(
    text: &str,
    subset: Option<f64>,
    progress: &dyn Progress,
) -> Result<ArchiveReport, BucketError> {
    let url = BucketUrl::parse(text)?;
    let bucket = Bucket::open(&url)?;
    bucket.check_access()?;
    let listed = bucket.list()?;
    let manifest = bucket.read_manifest(&listed)?;
    let sums_text = bucket.read_text(SUMS_FILE, MAX_SUMS)?;
    let has_manifest = listed.iter().any(|l| l.rel == MANIFEST_OBJECT);
    if !has_manifest && sums_text.is_none() {
        return Err(BucketError::NotAnArchive {
            url: url.to_string(),
        });
    }
    let mut report = ArchiveReport {
        archive: url.to_string(),
        ..Default::default()
    };
    for p in &manifest.problems {
        report.push(FindingKind::CatalogUnreadable, MANIFEST_OBJECT, p.clone());
    }
    if !has_manifest {
        report.push(
            FindingKind::CatalogUnreadable,
            MANIFEST_OBJECT,
            "missing: only BLAKE3SUMS is checked",
        );
    }
    // BLAKE3SUMS against the manifest.
    let mut sums_map: BTreeMap<String, String> = BTreeMap::new();
    match &sums_text {
        None => report.push(FindingKind::SumsUnreadable, SUMS_FILE, "missing"),
        Some(t) => {
            for (n, line) in t.lines().enumerate() {
                match sums::parse_line(line) {
                    Ok((hash, path)) => {
                        sums_map.insert(path, hash);
                    }
                    Err(why) => report.push(
                        FindingKind::SumsUnreadable,
                        SUMS_FILE,
                        format!("line {}: {why}", n + 1),
                    ),
                }
            }
        }
    }
    if has_manifest && sums_text.is_some() {
        for (path, e) in &manifest.entries {
            match sums_map.get(path) {
                None => report.push(
                    FindingKind::SumsDisagree,
                    path,
                    "in the manifest, not in BLAKE3SUMS",
                ),
                Some(h) if *h != e.blake3 => report.push(
                    FindingKind::SumsDisagree,
                    path,
                    format!("BLAKE3SUMS says {h}, the manifest {}", e.blake3),
                ),
                Some(_) => {}
            }
        }
        for path in sums_map
            .keys()
            .filter(|p| !manifest.entries.contains_key(*p))
        {
            report.push(
                FindingKind::SumsDisagree,
                path,
                "in BLAKE3SUMS, not in the manifest",
            );
        }
    }
    // What to check: the manifest's entries, else (no manifest) BLAKE3SUMS's lines.
    let expected: BTreeMap<String, String> = if has_manifest {
        manifest
            .entries
            .iter()
            .map(|(p, e)| (p.clone(), e.blake3.clone()))
            .collect()
    } else {
        sums_map
            .into_iter()
            .filter(|(p, _)| {
                crate::archive::layout::checked_rel_path(p).is_ok() && !is_own_object(p)
            })
            .collect()
    };
    let sizes: BTreeMap<&str, u64> = listed.iter().map(|l| (l.rel.as_str(), l.size)).collect();
    report.files = expected.len() as u64;
    let ok_at = crate::archive::catalog::now_text();
    // Which objects to stream back: all, or the share verified longest ago.
    let chosen: std::collections::HashSet<&str> = match subset {
        None => expected.keys().map(String::as_str).collect(),
        Some(pct) => {
            let before = read_verified(&bucket)?;
            let mut order: Vec<(&str, &str)> = expected
                .iter()
                .map(|(p, h)| {
                    let at = before
                        .get(p)
                        .filter(|(vh, _)| vh == h)
                        .map(|(_, at)| at.as_str())
                        .unwrap_or("");
                    (at, p.as_str())
                })
                .collect();
            order.sort();
            let n = ((expected.len() as f64) * pct / 100.0).ceil() as usize;
            order.into_iter().take(n).map(|(_, p)| p).collect()
        }
    };
    let total: u64 = chosen.iter().filter_map(|p| sizes.get(p)).sum();
    progress.phase("Verifying", chosen.len() as u64, total);
    for (path, hash) in &expected {
        let Some(&size) = sizes.get(path.as_str()) else {
            report.push_with_hash(
                FindingKind::Missing,
                path,
                "listed, not in the bucket",
                Some(hash.clone()),
            );
            progress.advance(1, 0);
            continue;
        };
        if !chosen.contains(path.as_str()) {
            continue;
        }
        match bucket.hash_object(path) {
            Ok(Some(d)) if d.hash == *hash => {
                report.verified += 1;
                report.bytes += d.size;
            }
            Ok(Some(d)) => {
                let meta = bucket.head(path)?.and_then(|h| h.blake3);
                let (kind, detail) = if meta.as_deref() == Some(hash.as_str()) {
                    (
                        FindingKind::Corrupt,
                        format!("the object hashes to {}", d.hash),
                    )
                } else {
                    (
                        FindingKind::Replaced,
                        format!(
                            "another object was written over it (it hashes to {}, its metadata says {})",
                            d.hash,
                            meta.as_deref().unwrap_or("nothing")
                        ),
                    )
                };
                report.push_with_hash(kind, path, detail, Some(hash.clone()));
            }
            Ok(None) => report.push_with_hash(
                FindingKind::Missing,
                path,
                "listed, not in the bucket",
                Some(hash.clone()),
            ),
            Err(e) if e.is_fatal() => return Err(e),
            Err(e) => report.push_with_hash(
                FindingKind::Corrupt,
                path,
                format!("unreadable: {e}"),
                Some(hash.clone()),
            ),
        }
        progress.advance(1, size);
    }
    for l in &listed {
        if !is_own_object(&l.rel) && !expected.contains_key(&l.rel) {
            report.push(
                FindingKind::Unlisted,
                &l.rel,
                "in the bucket but in no record",
            );
        }
    }
    progress.finish();
    report.recorded = record(&bucket, &expected, &chosen, &report, ok_at).is_ok();
    Ok(report)
}

/// Rewrites [`VERIFIED_OBJECT`]: the objects streamed back whole now get
/// `at`, those with a finding lose their line, the rest keep theirs.
fn record(
    bucket: &Bucket,
    expected: &BTreeMap<String, String>,
    streamed: &std::collections::HashSet<&str>,
    report: &ArchiveReport,
    at: String,
) -> Result<(), BucketError> {
    let mut verified = read_verified(bucket)?;
    let bad: std::collections::HashSet<&str> =
        report.findings.iter().map(|f| f.path.as_str()).collect();
    verified.retain(|p, (h, _)| expected.get(p) == Some(h) && !bad.contains(p.as_str()));
    for (p, h) in expected {
        if streamed.contains(p.as_str()) && !bad.contains(p.as_str()) {
            verified.insert(p.clone(), (h.clone(), at.clone()));
        }
    }
    let mut lines: Vec<String> = verified
        .into_iter()
        .map(|(path, (blake3, verified_at))| {
            serde_json::to_string(&VerifiedLine {
                path,
                blake3,
                verified_at,
            })
            .unwrap_or_default()
        })
        .collect();
    lines.sort();
    let mut text = lines.join("\n");
    text.push('\n');
    bucket.put_bytes(VERIFIED_OBJECT, text.into_bytes(), false)?;
    Ok(())
}

/// `verify DISK --repair-from s3://…`: the disk's missing and corrupt files
/// are restored from the bucket's objects with the same hash, each streamed
/// into staging, fsynced, read back and hash-checked before it is put in place.
pub fn repair_disk_from_bucket(
    root: &std::path::Path,
    report: &mut ArchiveReport,
    from: &str,
    progress: &dyn Progress,
) -> Result<(), super::repair::RepairError> {
    let opened = BucketUrl::parse(from).and_then(|u| {
        let b = Bucket::open(&u)?;
        b.check_access()?;
        let listed = b.list()?;
        let m = b.read_manifest(&listed)?;
        Ok((b, m))
    });
    let (bucket, index) = match opened {
        Ok((b, m)) => {
            let index: HashMap<String, String> = m
                .entries
                .into_values()
                .map(|e| (e.blake3, e.path))
                .collect();
            (Some(b), index)
        }
        Err(e) => {
            let why = e.to_string();
            return super::repair::repair_with(root, report, progress, |_, _| Err(why.clone()));
        }
    };
    let bucket = bucket.expect("opened");
    super::repair::repair_with(root, report, progress, |hash, staged| {
        let Some(rel) = index.get(hash) else {
            return Err(format!("{from} holds no object with hash {hash}"));
        };
        bucket
            .download_verified(rel, staged, hash)
            .map(|_| format!("{}/{rel}", bucket.url))
            .map_err(|e| e.to_string())
    })
}

/// `verify s3://… --repair-from DISK`: objects found missing are uploaded
/// again (create-only); objects found corrupt or replaced are put back with a
/// conditional PUT that only replaces the very object verify saw (its ETag).
/// The copy comes from the disk archive's file with the same hash, checked first.
pub fn repair_bucket_from_disk(
    report: &mut ArchiveReport,
    other: &std::path::Path,
    progress: &dyn Progress,
) -> Result<(), BucketError> {
    let todo: Vec<usize> = report
        .findings
        .iter()
        .enumerate()
        .filter(|(_, f)| {
            matches!(
                f.kind,
                FindingKind::Missing | FindingKind::Corrupt | FindingKind::Replaced
            ) && f.expected_hash.is_some()
        })
        .map(|(i, _)| i)
        .collect();
    if todo.is_empty() {
        return Ok(());
    }
    let url = BucketUrl::parse(&report.archive)?;
    let bucket = Bucket::open(&url)?;
    let holder = serde_json::json!({
        "run": crate::archive::bucket::manifest::run_id(), "pid": std::process::id(),
        "host": crate::archive::bucket::host_name(), "started": crate::archive::catalog::now_text(),
    });
    bucket.lock(&holder.to_string())?;
    let index = super::repair::index_by_hash(other);
    progress.phase("Repairing", todo.len() as u64, 0);
    for i in todo {
        let f = &report.findings[i];
        let (path, hash, kind) = (
            f.path.clone(),
            f.expected_hash.clone().unwrap_or_default(),
            f.kind,
        );
        let outcome: Result<String, String> =
            (|| {
                let src_rel = index
                    .get(&hash)
                    .ok_or_else(|| format!("{} holds no file with hash {hash}", other.display()))?;
                let src = other.join(src_rel);
                match crate::hash::hash_path(&src) {
                    Ok(d) if d.hash == hash => {}
                    Ok(d) => {
                        return Err(format!(
                            "{}: hashes to {}, not {hash}",
                            src.display(),
                            d.hash
                        ))
                    }
                    Err(e) => return Err(format!("{}: {e}", src.display())),
                }
                let meta = UploadMeta {
                    blake3: hash.clone(),
                    capture_time: None,
                };
                if kind == FindingKind::Missing {
                    match bucket
                        .put_file(&path, &src, &meta)
                        .map_err(|e| e.to_string())?
                    {
                        PutOutcome::Created => {}
                        PutOutcome::Exists => return Err(
                            "an object appeared at the name meanwhile: not replaced; verify again"
                                .into(),
                        ),
                    }
                } else {
                    let head = bucket.head(&path).map_err(|e| e.to_string())?;
                    let e_tag = head.and_then(|h| h.e_tag);
                    bucket
                        .replace_file(&path, &src, &meta, e_tag)
                        .map_err(|e| e.to_string())?;
                }
                Ok(format!("{}/{src_rel}", other.display()))
            })();
        progress.advance(1, 0);
        let repair = match outcome {
            Ok(from) => {
                report.findings[i].repaired = true;
                report.verified += 1;
                super::repair::Repair {
                    path,
                    hash,
                    repaired: true,
                    from: Some(from),
                    detail: "hash-checked at the source, uploaded with a server-verified checksum"
                        .into(),
                }
            }
            Err(detail) => super::repair::Repair {
                path,
                hash,
                repaired: false,
                from: None,
                detail,
            },
        };
        report.repairs.push(repair);
    }
    progress.finish();
    Ok(())
}
