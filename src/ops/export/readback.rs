//! Stage 6, **read back**: every file written is read back from the disk
//! (its cached pages dropped first, where the OS allows) and its hash
//! compared with the one taken from the source stream. Most of it happens
//! during the copy, on background readers fed as files are placed; what is
//! left is read at the end. A mismatch removes the bad copy and its records,
//! so the next run copies the item again.
//!
//! A bucket's spool is not read back: its files are uploaded (and removed)
//! during the run, and the upload streams each through BLAKE3 and completes
//! only if it hashes to what the source stream gave, which checks the spool
//! copy as a read back would.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rayon::prelude::*;

use super::dest::Dest;
use super::summary::ExportSummary;
use crate::hash;
use crate::ops::{Failed, Warning};
use crate::progress::Progress;

/// A placed file for a background reader.
pub(super) struct ReadBackJob {
    /// Index of the destination.
    pub dest: usize,
    pub full_path: PathBuf,
    /// Relative to the archive.
    pub path: String,
    /// The hash taken from the source stream.
    pub hash: String,
    /// Already read back from the disk while it was staged (a large file,
    /// see `ingest::Follower`): only its verdict is recorded.
    pub verified: bool,
}

/// A background reader's verdict on one file.
pub(super) struct ReadBackResult {
    dest: usize,
    path: String,
    outcome: Result<(), String>,
}

/// Background readers: each takes placed files off `jobs` until the placing
/// stage closes it, and collects the verdicts in `done`.
/// Files of destinations marked in `uploaded` (buckets' spools) are passed over.
pub(super) fn read_placed(
    jobs: crossbeam_channel::Receiver<ReadBackJob>,
    uploaded: &[bool],
    done: &Mutex<Vec<ReadBackResult>>,
) {
    for job in jobs.iter() {
        if uploaded.get(job.dest).copied().unwrap_or(false) {
            continue;
        }
        let outcome = if job.verified {
            Ok(())
        } else {
            read_back(&job.full_path, &job.hash).map(|_| ())
        };
        done.lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(ReadBackResult {
                dest: job.dest,
                path: job.path,
                outcome,
            });
    }
}

/// Reads back what the background readers did not get to, and settles every
/// destination's verified and failed counts.
pub(super) fn finish(
    dests: &mut [Dest],
    uploaded: &[bool],
    background: Vec<ReadBackResult>,
    summary: &mut ExportSummary,
    progress: &dyn Progress,
) {
    let mut done: Vec<HashMap<String, Result<(), String>>> =
        dests.iter().map(|_| HashMap::new()).collect();
    for r in background {
        done[r.dest].insert(r.path, r.outcome);
    }
    for (d, m) in dests
        .iter()
        .zip(done.iter_mut())
        .zip(uploaded)
        .filter_map(|(dm, u)| u.then_some(dm))
    {
        // Checked by the upload instead.
        m.extend(d.written.iter().map(|w| (w.path.clone(), Ok(()))));
    }
    let left: u64 = dests
        .iter()
        .zip(&done)
        .map(|(d, m)| {
            d.written
                .iter()
                .filter(|w| !m.contains_key(&w.path))
                .count() as u64
        })
        .sum();
    progress.phase("Verifying", left, 0);
    for (d, pre) in dests.iter_mut().zip(done) {
        verify_written(d, &pre, summary, progress);
    }
}

/// Reads back every file this run wrote to `d` that `pre` has no verdict on,
/// and acts on every verdict.
fn verify_written(
    d: &mut Dest,
    pre: &HashMap<String, Result<(), String>>,
    summary: &mut ExportSummary,
    progress: &dyn Progress,
) {
    let root = d.archive.root.clone();
    let results: Vec<(String, String, Result<(), String>)> = d
        .written
        .par_iter()
        .map(|w| {
            let r = match pre.get(&w.path) {
                Some(r) => r.clone(),
                None => {
                    let r = read_back(&root.join(&w.path), &w.hash);
                    progress.advance(1, *r.as_ref().unwrap_or(&0));
                    r.map(|_| ())
                }
            };
            (w.path.clone(), w.hash.clone(), r)
        })
        .collect();
    let mut good = Vec::new();
    for (path, hash, r) in results {
        match r {
            Ok(()) => good.push(path),
            Err(error) => {
                d.summary.verify_failed += 1;
                let _ = std::fs::remove_file(root.join(&path));
                let _ = d.archive.catalog.remove_file(&path);
                let _ = d.archive.catalog.forget_source_items_with_hash(&hash);
                progress.message(&format!(
                    "camroll: {}: {error}; removed from the archive, run again to copy it again",
                    path
                ));
                summary.failed.push(Failed {
                    path,
                    error,
                    destination: Some(d.summary.path.clone()),
                });
            }
        }
    }
    d.summary.verified = good.len() as u64;
    if let Err(e) = d.archive.catalog.mark_verified(&good) {
        summary.warnings.push(Warning {
            path: d.summary.path.clone(),
            warning: e.to_string(),
        });
    }
}

/// Reads a placed file back from the disk (where the OS allows) and compares
/// its hash with the one taken from the source stream; returns its size.
fn read_back(path: &Path, hash: &str) -> Result<u64, String> {
    match hash::hash_file(path, true) {
        Ok(d) if d.hash == hash => Ok(d.size),
        Ok(d) => Err(format!(
            "read back with hash {}, expected {hash}: the copy is damaged (failing disk or cable?)",
            d.hash
        )),
        Err(e) => Err(format!("cannot read back: {e}")),
    }
}
