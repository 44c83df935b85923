//! `camroll inspect`: what camroll reads from each file, and why it would be
//! filed where it would.
//!
//! The files given are grouped exactly as an export groups them (Live Photo
//! pairs, sidecars, renders, RAW+JPEG), so the folder shown is the folder an
//! export would use.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use rayon::prelude::*;
use serde::Serialize;

use super::date::{capture_or_fallback, localize_for_group};
use super::{
    group_by_name, read_media_info, refine_by_content_id, sniff, CaptureTime, Class, DateOptions,
    DateSource, Kind, MediaInfo, Role, SNIFF_LEN,
};

/// What was read from one file, before grouping.
#[derive(Debug)]
pub struct Read1 {
    /// The file read.
    pub path: PathBuf,
    /// The kind sniffed from its content; `None` when not media.
    pub kind: Option<Kind>,
    /// Its capture time candidates and metadata, when it is media.
    pub info: Option<MediaInfo>,
    /// Its modification time.
    pub mtime: Option<SystemTime>,
    /// The file could not be opened or read.
    pub error: Option<String>,
}

/// Sniffs and reads one file.
pub fn read_one(path: &Path, opts: &DateOptions) -> Read1 {
    let mut out = Read1 {
        path: path.to_path_buf(),
        kind: None,
        info: None,
        mtime: None,
        error: None,
    };
    let mut f = match File::open(path) {
        Ok(f) => f,
        Err(e) => {
            out.error = Some(format!("cannot open: {e}"));
            return out;
        }
    };
    out.mtime = f.metadata().and_then(|m| m.modified()).ok();
    let mut head = [0u8; SNIFF_LEN];
    let mut n = 0;
    while n < head.len() {
        match f.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                out.error = Some(format!("cannot read: {e}"));
                return out;
            }
        }
    }
    let ext = path.extension().and_then(|e| e.to_str());
    out.kind = sniff(&head[..n], ext);
    if let Some(kind) = out.kind {
        out.info = Some(read_media_info(&mut f, kind, opts));
    }
    out
}

/// Where one file would go, and why.
#[derive(Debug, Serialize)]
pub struct Placement {
    /// The file, as given.
    pub path: String,
    /// The kind sniffed from its content (`jpeg`, `heif`, `quicktime`, …); `None` when not media.
    pub kind: Option<&'static str>,
    /// Still, video or sidecar.
    pub class: Option<Class>,
    /// The capture time used for this file (after group localisation).
    pub capture: Option<CaptureTime>,
    /// The capture time as text, e.g. `2019-06-09T12:57:32+02:00`.
    pub capture_text: Option<String>,
    /// Where the capture time came from, e.g. `EXIF DateTimeOriginal`.
    pub date_source: Option<&'static str>,
    /// How the UTC offset was found, e.g. `recorded in the file`.
    pub offset_source: Option<&'static str>,
    /// The date is a fallback (file name or file time), not metadata.
    pub fallback: bool,
    /// The Apple content identifier that pairs a Live Photo's still and movie.
    pub content_identifier: Option<String>,
    /// Its part in its group (primary, Live Photo movie, sidecar, …).
    pub role: Option<Role>,
    /// The group's primary, when this file is filed with another one.
    pub filed_with: Option<String>,
    /// A sidecar or render without its original.
    pub orphan: bool,
    /// `YYYY/MM`, or `None` when the file would be skipped.
    pub folder: Option<String>,
    /// What was damaged or rejected while reading its metadata.
    pub problems: Vec<String>,
    /// The file could not be opened or read.
    pub error: Option<String>,
}

/// Groups read files and decides each one's capture time and folder, the way
/// an export does: the group's folder is its primary's; a Live Photo movie
/// whose only date is UTC takes its still's offset; a sidecar without a date
/// of its own takes its primary's.
pub fn place(reads: &[Read1]) -> Vec<Placement> {
    let mut out: Vec<Placement> = reads
        .iter()
        .map(|r| Placement {
            path: r.path.display().to_string(),
            kind: r.kind.map(Kind::name),
            class: r.kind.map(Kind::class),
            capture: None,
            capture_text: None,
            date_source: None,
            offset_source: None,
            fallback: false,
            content_identifier: r.info.as_ref().and_then(|i| i.content_identifier.clone()),
            role: None,
            filed_with: None,
            orphan: false,
            folder: None,
            problems: r
                .info
                .as_ref()
                .map(|i| i.problems.clone())
                .unwrap_or_default(),
            error: r.error.clone(),
        })
        .collect();
    let media: Vec<usize> = (0..reads.len())
        .filter(|&i| reads[i].info.is_some())
        .collect();
    let dirs: Vec<String> = media
        .iter()
        .map(|&i| {
            reads[i]
                .path
                .parent()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        })
        .collect();
    let names: Vec<String> = media
        .iter()
        .map(|&i| {
            reads[i]
                .path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        })
        .collect();
    let items: Vec<(&str, &str)> = dirs
        .iter()
        .zip(&names)
        .map(|(d, n)| (d.as_str(), n.as_str()))
        .collect();
    let ids: Vec<Option<&str>> = media
        .iter()
        .map(|&i| {
            reads[i]
                .info
                .as_ref()
                .and_then(|x| x.content_identifier.as_deref())
        })
        .collect();
    let groups = refine_by_content_id(&items, group_by_name(&items), &ids);
    let own = |k: usize| -> CaptureTime {
        let r = &reads[media[k]];
        match &r.info {
            Some(info) => capture_or_fallback(info, &names[k], r.mtime),
            None => super::date::fallback_capture(r.mtime),
        }
    };
    for g in groups {
        let pk = g.primary();
        let primary = own(pk);
        for &(k, role) in &g.members {
            let i = media[k];
            let has_own = reads[i].info.as_ref().is_some_and(|x| x.capture.is_some());
            let capture = if k == pk {
                primary
            } else if has_own {
                localize_for_group(&primary, &own(k))
            } else {
                CaptureTime {
                    source: DateSource::GroupPrimary,
                    ..primary
                }
            };
            let p = &mut out[i];
            p.capture_text = Some(capture.display());
            p.date_source = Some(capture.source.as_str());
            p.offset_source = Some(capture.offset_source.as_str());
            p.fallback = capture.source.is_fallback()
                || (capture.source == DateSource::GroupPrimary && primary.source.is_fallback());
            p.capture = Some(capture);
            p.role = Some(role);
            p.orphan = g.orphan;
            p.folder = Some(primary.folder());
            if k != pk {
                p.filed_with = Some(reads[media[pk]].path.display().to_string());
            }
        }
    }
    for (p, r) in out.iter_mut().zip(reads) {
        if r.error.is_none() && r.kind.is_none() {
            p.problems.push(
                "not a photo, video or sidecar camroll knows (by content): would be skipped".into(),
            );
        }
    }
    out
}

/// Reads `files` (in parallel) and places them as an export would.
pub fn inspect(files: &[PathBuf], opts: &DateOptions) -> Vec<Placement> {
    let reads: Vec<Read1> = files.par_iter().map(|p| read_one(p, opts)).collect();
    place(&reads)
}
