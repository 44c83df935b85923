//! `--report FILE.html` on export, verify and check: one self-contained HTML
//! page (no server, no external assets) people can open and look at:
//! headline counts, per-month counts and sizes of each archive, thumbnails of
//! what the run added (decoded with libheif for HEIC/HEIF and the `image`
//! crate for the rest, scaled down and embedded as base64 JPEG), and the lists
//! of problems with what to do about each.
//!
//! The page carries a few lines of inline script that count the thumbnails the
//! browser actually decoded into `#thumbs-decoded`, so a headless-browser test
//! proves the page renders, not just that the file exists.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::Read;
use std::path::Path;

use base64::Engine as _;
use rayon::prelude::*;

use crate::archive::catalog::{Catalog, FileRow, CATALOG_FILE};
use crate::archive::CAMROLL_DIR;
use crate::media::{self, Kind};
use crate::ops::check::{CheckReport, Verdict};
use crate::ops::export::ExportSummary;
use crate::ops::human_bytes;
use crate::ops::verify::{ArchiveReport, FindingKind};
use crate::source::Source;

/// At most this many thumbnails are embedded (the rest are listed by name),
/// so a page for a 10,000-photo run stays a few megabytes.
pub const MAX_THUMBS: usize = 200;
/// Longest side of a thumbnail, in pixels.
const THUMB_PX: u32 = 160;
/// Files larger than this are not decoded for a thumbnail.
const MAX_DECODE_BYTES: u64 = 128 << 20;

/// One headline number.
#[derive(Debug, Clone)]
pub struct Count {
    /// Stable id (`count-<id>` in the page).
    pub id: String,
    /// What it counts, as the page shows it (e.g. `Copied`).
    pub label: String,
    /// The number as shown (a count, or a size like `3.2 GB`).
    pub value: String,
}

/// One month of one archive.
#[derive(Debug, Clone, Default)]
pub struct MonthRow {
    /// `YYYY-MM`, from the archive folder (`other` for files outside `YYYY/MM/`).
    pub month: String,
    /// Files the catalog lists in it.
    pub files: u64,
    /// Their total size in bytes.
    pub bytes: u64,
    /// Files this run added.
    pub added: u64,
    /// Favorites taken this month (assets, as the sidecars record them).
    pub favorites: u64,
    /// Albums holding this month's assets, with how many of them.
    pub albums: Vec<(String, u64)>,
}

/// A thumbnail (or a tile for what cannot be shown).
#[derive(Debug, Clone)]
pub struct Thumb {
    /// The file's path, relative to the archive, `/`-separated.
    pub caption: String,
    /// `data:image/jpeg;base64,…`, or `None` (a movie, or not decodable).
    pub data_uri: Option<String>,
    /// Shown instead of a picture (`movie`, `edit sidecar`, `no preview`); empty when there is one.
    pub note: String,
}

/// A list of problems and what to do about them.
#[derive(Debug, Clone)]
pub struct Section {
    /// Stable id (`problems-<id>` in the page), e.g. `failed`.
    pub id: String,
    /// The heading, e.g. `Failed`.
    pub title: String,
    /// What to do about these problems.
    pub todo: String,
    /// (path, detail)
    pub rows: Vec<(String, String)>,
}

/// Everything a page shows.
#[derive(Debug, Clone, Default)]
pub struct Page {
    /// The page title, e.g. `camroll export`.
    pub title: String,
    /// The line under it: from what, and when.
    pub subtitle: String,
    /// (good?, sentence)
    pub verdict: Option<(bool, String)>,
    /// The headline numbers, in order.
    pub counts: Vec<Count>,
    /// Per archive: its months.
    pub months: Vec<(String, Vec<MonthRow>)>,
    /// The heading over the thumbnails, e.g. `Added by this run`.
    pub thumbs_title: String,
    /// Thumbnails, at most [`MAX_THUMBS`].
    pub thumbs: Vec<Thumb>,
    /// Items not shown as thumbnails (over [`MAX_THUMBS`]).
    pub thumbs_omitted: u64,
    /// The problem lists, in order; empty when nothing is wrong.
    pub sections: Vec<Section>,
}

fn count(id: &str, label: &str, value: impl ToString) -> Count {
    Count {
        id: id.into(),
        label: label.into(),
        value: value.to_string(),
    }
}

/// The report file could not be written.
#[derive(Debug, thiserror::Error)]
#[error("{path}: cannot write the report: {source}. Check the folder exists and is writable")]
pub struct ReportError {
    /// The report file.
    pub path: std::path::PathBuf,
    /// Why.
    pub source: std::io::Error,
}

/// Writes `page` to `path` (atomically: temp file, then rename).
pub fn write(path: &Path, page: &Page) -> Result<(), ReportError> {
    let html = render(page);
    let tmp = path.with_extension("html.tmp");
    std::fs::write(&tmp, html.as_bytes())
        .and_then(|_| std::fs::rename(&tmp, path))
        .map_err(|source| ReportError {
            path: path.to_path_buf(),
            source,
        })
}

fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

const STYLE: &str = "body{font:15px/1.45 system-ui,sans-serif;margin:2em auto;max-width:70em;padding:0 1em;color:#222}
h1{margin-bottom:0}.sub{color:#666;margin-top:.2em}
.verdict{padding:.8em 1em;border-radius:6px;font-weight:600}.good{background:#e3f6e5;color:#145a1e}.bad{background:#fde8e8;color:#8a1212}
dl.counts{display:flex;flex-wrap:wrap;gap:.8em}dl.counts div{border:1px solid #ddd;border-radius:6px;padding:.5em .9em;min-width:8em}
dl.counts dt{color:#666;font-size:.85em}dl.counts dd{margin:0;font-size:1.4em;font-weight:600}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border-bottom:1px solid #eee;padding:.25em .8em;text-align:right}td:first-child,th:first-child{text-align:left}
.thumbs{display:flex;flex-wrap:wrap;gap:8px}figure{margin:0;width:164px;font-size:.75em;color:#555;word-break:break-all}
figure img{display:block;max-width:160px;max-height:160px;border-radius:3px}.tile{width:160px;height:100px;background:#eee;display:flex;align-items:center;justify-content:center;color:#777}
.todo{background:#fff8e1;padding:.5em .8em;border-left:4px solid #e0a800}ul.problems li code{font-size:.9em}";

/// The page as one HTML document.
pub fn render(p: &Page) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\
         <title>{}</title><style>{STYLE}</style></head><body>\n<h1>{}</h1><p class=\"sub\">{}</p>\n",
        esc(&p.title),
        esc(&p.title),
        esc(&p.subtitle)
    );
    if let Some((good, text)) = &p.verdict {
        let _ = writeln!(
            h,
            "<p id=\"verdict\" class=\"verdict {}\">{}</p>",
            if *good { "good" } else { "bad" },
            esc(text)
        );
    }
    h.push_str("<dl class=\"counts\">\n");
    for c in &p.counts {
        let _ = writeln!(
            h,
            "<div><dt>{}</dt><dd id=\"count-{}\">{}</dd></div>",
            esc(&c.label),
            esc(&c.id),
            esc(&c.value)
        );
    }
    h.push_str("</dl>\n");
    for s in &p.sections {
        let _ = write!(
            h,
            "<section id=\"problems-{}\"><h2>{} ({})</h2><p class=\"todo\">{}</p><ul class=\"problems\">",
            esc(&s.id),
            esc(&s.title),
            s.rows.len(),
            esc(&s.todo)
        );
        for (path, detail) in &s.rows {
            let _ = write!(h, "<li><code>{}</code>: {}</li>", esc(path), esc(detail));
        }
        h.push_str("</ul></section>\n");
    }
    if !p.thumbs.is_empty() || p.thumbs_omitted > 0 {
        let _ = write!(
            h,
            "<h2>{}</h2><p class=\"sub\"><span id=\"thumbs-decoded\">0</span> of {} thumbnails shown{}</p><div class=\"thumbs\">",
            esc(&p.thumbs_title),
            p.thumbs.iter().filter(|t| t.data_uri.is_some()).count(),
            if p.thumbs_omitted > 0 {
                format!("; {} more not shown", p.thumbs_omitted)
            } else {
                String::new()
            }
        );
        for t in &p.thumbs {
            match &t.data_uri {
                Some(uri) => {
                    let _ = write!(
                        h,
                        "<figure><img class=\"thumb\" alt=\"{0}\" src=\"{uri}\"><figcaption>{0}</figcaption></figure>",
                        esc(&t.caption)
                    );
                }
                None => {
                    let _ = write!(
                        h,
                        "<figure><div class=\"tile\">{}</div><figcaption>{}</figcaption></figure>",
                        esc(&t.note),
                        esc(&t.caption)
                    );
                }
            }
        }
        h.push_str("</div>\n");
    }
    for (archive, months) in &p.months {
        let _ = write!(
            h,
            "<h2>By month: {}</h2><table class=\"months\"><tr><th>Month</th><th>Files</th><th>Size</th><th>Added by this run</th><th>Favorites</th><th>Albums</th></tr>",
            esc(archive)
        );
        let (mut files, mut bytes, mut added) = (0, 0, 0);
        for m in months {
            files += m.files;
            bytes += m.bytes;
            added += m.added;
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"favorites\">{}</td><td class=\"albums\">{}</td></tr>",
                esc(&m.month),
                m.files,
                human_bytes(m.bytes),
                m.added,
                m.favorites,
                esc(&m
                    .albums
                    .iter()
                    .map(|(a, n)| format!("{a} ({n})"))
                    .collect::<Vec<_>>()
                    .join(", "))
            );
        }
        let _ = writeln!(
            h,
            "<tr><th>Total</th><th>{files}</th><th>{}</th><th>{added}</th><th></th><th></th></tr></table>",
            human_bytes(bytes)
        );
    }
    h.push_str(
        "<script>addEventListener('load',function(){var n=0;document.querySelectorAll('img.thumb').forEach(function(i){if(i.complete&&i.naturalWidth>0)n++});\
         var e=document.getElementById('thumbs-decoded');if(e)e.textContent=String(n);document.body.setAttribute('data-rendered','yes')});</script>\n",
    );
    h.push_str("</body></html>\n");
    h
}

/// A small JPEG of an image file as a data URI; `None` for movies, sidecars
/// and anything that does not decode.
pub fn thumbnail_of_bytes(bytes: &[u8], name: &str) -> Option<String> {
    let ext = name.rsplit_once('.').map(|(_, e)| e);
    let kind = media::sniff(&bytes[..bytes.len().min(media::SNIFF_LEN)], ext)?;
    let img = match kind {
        Kind::Heif => decode_heif(bytes)?,
        Kind::Jpeg | Kind::Png | Kind::Gif | Kind::Webp | Kind::Tiff => {
            image::load_from_memory(bytes).ok()?
        }
        _ => return None,
    };
    let small = img.thumbnail(THUMB_PX, THUMB_PX).to_rgb8();
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 75)
        .encode_image(&small)
        .ok()?;
    Some(format!(
        "data:image/jpeg;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(&out)
    ))
}

fn decode_heif(bytes: &[u8]) -> Option<image::DynamicImage> {
    let ctx = libheif_rs::HeifContext::read_from_bytes(bytes).ok()?;
    let handle = ctx.primary_image_handle().ok()?;
    let lib = libheif_rs::LibHeif::new();
    let img = lib
        .decode(
            &handle,
            libheif_rs::ColorSpace::Rgb(libheif_rs::RgbChroma::Rgb),
            None,
        )
        .ok()?;
    let plane = img.planes().interleaved?;
    let (w, h) = (plane.width, plane.height);
    let mut rgb = Vec::with_capacity((w * h * 3) as usize);
    for y in 0..h as usize {
        let row = plane
            .data
            .get(y * plane.stride..y * plane.stride + w as usize * 3)?;
        rgb.extend_from_slice(row);
    }
    image::RgbImage::from_raw(w, h, rgb).map(image::DynamicImage::ImageRgb8)
}

/// A thumbnail tile for a file on disk.
pub fn thumb_for_file(path: &Path, caption: &str) -> Thumb {
    let read = std::fs::metadata(path)
        .ok()
        .filter(|m| m.len() <= MAX_DECODE_BYTES)
        .and_then(|_| std::fs::read(path).ok());
    thumb_for_bytes(read.as_deref(), caption)
}

fn thumb_for_bytes(bytes: Option<&[u8]>, caption: &str) -> Thumb {
    let name = caption.rsplit('/').next().unwrap_or(caption);
    let uri = bytes.and_then(|b| thumbnail_of_bytes(b, name));
    let note = match bytes.and_then(|b| media::sniff(&b[..b.len().min(media::SNIFF_LEN)], None)) {
        _ if uri.is_some() => String::new(),
        Some(Kind::QuickTime) | Some(Kind::Mp4) => "movie".into(),
        Some(Kind::Aae) => "edit sidecar".into(),
        _ => "no preview".into(),
    };
    Thumb {
        caption: caption.to_string(),
        data_uri: uri,
        note,
    }
}

/// Thumbnails of `files` (archive root, relative path), at most [`MAX_THUMBS`], in parallel.
fn thumbs(files: &[(std::path::PathBuf, String)]) -> (Vec<Thumb>, u64) {
    let shown: Vec<Thumb> = files
        .par_iter()
        .take(MAX_THUMBS)
        .map(|(root, rel)| thumb_for_file(&root.join(rel), rel))
        .collect();
    (shown, files.len().saturating_sub(MAX_THUMBS) as u64)
}

fn month_of(path: &str) -> String {
    match path.split('/').collect::<Vec<_>>().as_slice() {
        [y, m, _] if y.len() == 4 && m.len() == 2 => format!("{y}-{m}"),
        _ => "other".into(),
    }
}

/// Per-month rows of an archive's catalog; `added_run` marks this run's
/// files. Favorites and albums come from the archive's sidecars.
fn months_of(root: &Path, rows: &[FileRow], added_run: Option<i64>) -> Vec<MonthRow> {
    let mut by: BTreeMap<String, MonthRow> = BTreeMap::new();
    for r in rows {
        if r.record.role.as_deref() == Some(crate::archive::sidecar::ROLE) {
            continue; // counted as what they describe, below
        }
        let month = month_of(&r.record.path);
        let e = by.entry(month.clone()).or_insert_with(|| MonthRow {
            month,
            ..Default::default()
        });
        e.files += 1;
        e.bytes += r.record.size;
        if added_run.is_some() && r.added_run == added_run {
            e.added += 1;
        }
    }
    // month → (favorite assets, album → assets)
    type Extras = (BTreeSet<String>, BTreeMap<String, BTreeSet<String>>);
    let mut extras: BTreeMap<String, Extras> = BTreeMap::new();
    for (original, f) in crate::ops::albums::sidecar_facts(root).unwrap_or_default() {
        let e = extras.entry(month_of(&original)).or_default();
        if f.favorite {
            e.0.insert(f.uuid.clone());
        }
        for a in &f.albums {
            e.1.entry(a.join(" / ")).or_default().insert(f.uuid.clone());
        }
    }
    for (month, (favs, albums)) in extras {
        if let Some(row) = by.get_mut(&month) {
            row.favorites = favs.len() as u64;
            row.albums = albums
                .into_iter()
                .map(|(a, u)| (a, u.len() as u64))
                .collect();
        }
    }
    by.into_values().collect()
}

fn catalog_rows(root: &Path) -> Option<(Vec<FileRow>, Option<i64>)> {
    if !root.join(CAMROLL_DIR).join(CATALOG_FILE).is_file() {
        return None;
    }
    let c = Catalog::open_read_only(root).ok()?;
    Some((c.file_rows().ok()?, c.last_run("export").ok().flatten()))
}

/// The page for `camroll export --report`: what the run added, per destination.
pub fn for_export(s: &ExportSummary) -> Page {
    let mut page = Page {
        title: "camroll export".into(),
        subtitle: format!(
            "from {} on {}",
            s.source,
            chrono::Local::now().format("%Y-%m-%d %H:%M")
        ),
        verdict: Some(if s.is_ok() {
            (
                true,
                format!(
                    "Every item is in every archive and verified ({} copied, {} already there).",
                    s.copied, s.already_archived
                ),
            )
        } else {
            (
                false,
                format!(
                    "{} item(s) failed: run the same command again to retry; what is archived stays archived.",
                    s.failed.len() + s.verify_failed as usize
                ),
            )
        }),
        counts: vec![
            count("scanned", "Scanned", s.scanned),
            count("copied", "Copied", s.copied),
            count("bytes", "Size copied", human_bytes(s.bytes_copied)),
            count("duplicates", "Duplicates", s.duplicates),
            count("already", "Already archived", s.already_archived),
            count("skipped", "Skipped", s.skipped.len()),
            count("failed", "Failed", s.failed.len()),
            count("verified", "Verified", s.verified),
        ],
        thumbs_title: "Added by this run".into(),
        ..Default::default()
    };
    let mut added: Vec<(std::path::PathBuf, String)> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for d in &s.destinations {
        let root = Path::new(&d.path);
        if let Some((rows, run)) = catalog_rows(root) {
            if !s.dry_run {
                let is_original =
                    |r: &&FileRow| r.record.role.as_deref() != Some(crate::archive::sidecar::ROLE);
                for r in rows
                    .iter()
                    .filter(|r| run.is_some() && r.added_run == run)
                    .filter(is_original)
                {
                    if seen.insert(r.record.hash.clone()) {
                        added.push((root.to_path_buf(), r.record.path.clone()));
                    }
                }
            }
            let this_run = if s.dry_run { None } else { run };
            page.months
                .push((d.path.clone(), months_of(root, &rows, this_run)));
        }
    }
    let (t, omitted) = thumbs(&added);
    page.thumbs = t;
    page.thumbs_omitted = omitted;
    if !s.failed.is_empty() {
        page.sections.push(Section {
            id: "failed".into(),
            title: "Failed".into(),
            todo: "Run the same command again to retry what failed; the message says why each failed (a file still in iCloud, a full disk…).".into(),
            rows: s
                .failed
                .iter()
                .map(|f| {
                    let d = match &f.destination {
                        Some(d) => format!("{} ({d})", f.error),
                        None => f.error.clone(),
                    };
                    (f.path.clone(), d)
                })
                .collect(),
        });
    }
    if !s.skipped.is_empty() {
        page.sections.push(Section {
            id: "skipped".into(),
            title: "Skipped".into(),
            todo: "Not photos or videos: camroll leaves them alone. Nothing to do unless one of them should be a photo.".into(),
            rows: s.skipped.iter().map(|k| (k.path.clone(), k.reason.clone())).collect(),
        });
    }
    if !s.warnings.is_empty() {
        page.sections.push(Section {
            id: "warnings".into(),
            title: "Warnings".into(),
            todo: "Archived, but check these: a file without a capture date is filed by its modification time.".into(),
            rows: s.warnings.iter().map(|w| (w.path.clone(), w.warning.clone())).collect(),
        });
    }
    page
}

/// The page for `camroll verify --report`.
pub fn for_verify(reports: &[ArchiveReport]) -> Page {
    let problems: usize = reports.iter().map(|r| r.problems()).sum();
    let files: u64 = reports.iter().map(|r| r.files).sum();
    let verified: u64 = reports.iter().map(|r| r.verified).sum();
    let bytes: u64 = reports.iter().map(|r| r.bytes).sum();
    let count_of = |k: FindingKind| {
        reports
            .iter()
            .flat_map(|r| &r.findings)
            .filter(|f| f.kind == k && !f.repaired)
            .count()
    };
    let mut page = Page {
        title: "camroll verify".into(),
        subtitle: format!(
            "{} on {}",
            reports
                .iter()
                .map(|r| r.archive.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            chrono::Local::now().format("%Y-%m-%d %H:%M")
        ),
        verdict: Some(if problems == 0 {
            (
                true,
                format!("All {verified} files verified: every copy matches its recorded hash."),
            )
        } else {
            (
                false,
                format!("{problems} problem(s) found: see what to do below."),
            )
        }),
        counts: vec![
            count("files", "Files", files),
            count("verified", "Verified", verified),
            count("bytes", "Size verified", human_bytes(bytes)),
            count("missing", "Missing", count_of(FindingKind::Missing)),
            count("corrupt", "Corrupt", count_of(FindingKind::Corrupt)),
            count(
                "damaged",
                "Damaged content",
                count_of(FindingKind::Undecodable),
            ),
            count("unlisted", "Unlisted", count_of(FindingKind::Unlisted)),
            count(
                "repaired",
                "Repaired",
                reports
                    .iter()
                    .flat_map(|r| &r.repairs)
                    .filter(|r| r.repaired)
                    .count(),
            ),
            count("problems", "Problems", problems),
        ],
        thumbs_title: "Repaired by this run".into(),
        ..Default::default()
    };
    let mut repaired = Vec::new();
    for r in reports {
        let root = Path::new(&r.archive);
        if let Some((rows, _)) = catalog_rows(root) {
            page.months
                .push((r.archive.clone(), months_of(root, &rows, None)));
        }
        for rep in r.repairs.iter().filter(|x| x.repaired) {
            repaired.push((root.to_path_buf(), rep.path.clone()));
        }
    }
    let (t, omitted) = thumbs(&repaired);
    page.thumbs = t;
    page.thumbs_omitted = omitted;
    let kinds = [
        (FindingKind::Missing, "missing", "Missing"),
        (FindingKind::Corrupt, "corrupt", "Corrupt"),
        (FindingKind::Undecodable, "damaged", "Damaged content"),
        (FindingKind::Unlisted, "unlisted", "Unlisted"),
        (
            FindingKind::SumsDisagree,
            "sums",
            "Catalog and BLAKE3SUMS disagree",
        ),
        (
            FindingKind::SumsUnreadable,
            "sums-file",
            "BLAKE3SUMS damaged",
        ),
        (FindingKind::CatalogUnreadable, "catalog", "Catalog damaged"),
        (
            FindingKind::StagingLeftover,
            "leftover",
            "Staging leftovers",
        ),
    ];
    for (k, id, title) in kinds {
        for r in reports {
            let rows: Vec<(String, String)> = r
                .findings
                .iter()
                .filter(|f| f.kind == k && !f.repaired)
                .map(|f| (f.path.clone(), f.detail.clone()))
                .collect();
            if rows.is_empty() {
                continue;
            }
            page.sections.push(Section {
                id: id.into(),
                title: format!("{title} in {}", r.archive),
                todo: k.todo(&r.archive),
                rows,
            });
        }
    }
    let not_repaired: Vec<(String, String)> = reports
        .iter()
        .flat_map(|r| &r.repairs)
        .filter(|r| !r.repaired)
        .map(|r| (r.path.clone(), r.detail.clone()))
        .collect();
    if !not_repaired.is_empty() {
        page.sections.push(Section {
            id: "not-repaired".into(),
            title: "Could not be repaired".into(),
            todo: "No intact copy with the right hash was found in the other archive: try another copy of the archive, or the phone.".into(),
            rows: not_repaired,
        });
    }
    page
}

/// The page for `camroll check --report`: the verdict, per-verdict lists, and
/// previews of what is not yet safely archived (read from the source).
pub fn for_check(r: &CheckReport, source: Option<&dyn Source>) -> Page {
    let c = &r.counts;
    let mut page = Page {
        title: "camroll check".into(),
        subtitle: format!(
            "{} against {} on {}",
            r.source,
            r.archives
                .iter()
                .map(|a| a.path.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            chrono::Local::now().format("%Y-%m-%d %H:%M")
        ),
        verdict: Some(if r.all_safe {
            (
                true,
                format!(
                    "Everything is safely archived ({} verified copies of each item): safe to delete from the phone.",
                    r.copies_required
                ),
            )
        } else {
            (
                false,
                "Not everything is safely archived: do not delete from the phone yet.".into(),
            )
        }),
        counts: vec![
            count("items", "Items on the source", c.items),
            count("safe", "Safe to delete", c.safe),
            count(
                "safe-bytes",
                "Size safe to delete",
                human_bytes(c.safe_bytes),
            ),
            count("unverified", "Unverified", c.unverified),
            count("too-few-copies", "In too few archives", c.too_few_copies),
            count("not-archived", "Not archived", c.not_archived),
            count("unreadable", "Unreadable", c.unreadable),
            count("ignored", "Ignored (not media)", c.ignored),
        ],
        thumbs_title: "Not yet safely archived".into(),
        ..Default::default()
    };
    if let Some(lib) = &r.library {
        page.counts
            .push(count("cloud-only", "Only in iCloud", lib.cloud_only.len()));
        page.counts.push(count(
            "recently-deleted",
            "Recently Deleted",
            lib.recently_deleted.len(),
        ));
        let mut add =
            |id: &str, title: &str, todo: &str, list: &[crate::ops::check::LibraryAsset]| {
                if !list.is_empty() {
                    page.sections.push(Section {
                        id: id.into(),
                        title: title.into(),
                        todo: todo.into(),
                        rows: list
                            .iter()
                            .map(|a| (a.filename.clone(), a.taken.clone().unwrap_or_default()))
                            .collect(),
                    });
                }
            };
        add("cloud-only", "Originals only in iCloud", "Turn on Settings › Photos › Download and Keep Originals, wait for the download, then export again.", &lib.cloud_only);
        add("shared", "In shared albums, not your originals", "Items of shared albums and Shared with You belong to someone else: nothing to archive, nothing to wait for before deleting.", &lib.in_shared_albums);
        add("no-file", "Assets without a file", "The phone's library lists these but their file is not on the phone: open them in Photos to make the phone fetch them, then export again.", &lib.without_file);
        add(
            "recently-deleted",
            "In Recently Deleted",
            "Still on the phone for up to 30 days: recover them in Photos if they should be kept.",
            &lib.recently_deleted,
        );
    }
    for a in &r.archives {
        if let Some((rows, _)) = catalog_rows(Path::new(&a.path)) {
            page.months
                .push((a.path.clone(), months_of(Path::new(&a.path), &rows, None)));
        }
    }
    let lists = [
        (Verdict::NotArchived, "not-archived", "Not archived"),
        (
            Verdict::TooFewCopies,
            "too-few-copies",
            "In too few archives",
        ),
        (Verdict::Unverified, "unverified", "Not verified"),
        (
            Verdict::Unreadable,
            "unreadable",
            "Unreadable on the source",
        ),
    ];
    for (v, id, title) in lists {
        let rows: Vec<(String, String)> = r
            .items
            .iter()
            .filter(|i| i.verdict == v)
            .map(|i| (i.path.clone(), i.reason.clone()))
            .collect();
        if !rows.is_empty() {
            let todo = match v {
                Verdict::NotArchived => "Export them: camroll export --from <source> --to <archive> (each archive).",
                Verdict::TooFewCopies => "Bring the other archive up to date: camroll sync <archive that has them> <archive that lacks them>.",
                Verdict::Unverified => "Verify the archives: camroll verify <archive>…",
                _ => "Read errors on the source: a file still in iCloud cannot be read; download it on the phone and run again.",
            };
            page.sections.push(Section {
                id: id.into(),
                title: title.into(),
                todo: todo.into(),
                rows,
            });
        }
    }
    // Previews of what is not safe, read from the source.
    if let Some(src) = source {
        let items: Vec<&crate::source::SourceItem> = r
            .items
            .iter()
            .filter(|i| !matches!(i.verdict, Verdict::Safe | Verdict::Ignored))
            .filter_map(|i| i.source_item.as_ref())
            .collect();
        page.thumbs_omitted = items.len().saturating_sub(MAX_THUMBS) as u64;
        page.thumbs = items
            .par_iter()
            .take(MAX_THUMBS)
            .map(|item| {
                let bytes = (item.size <= MAX_DECODE_BYTES)
                    .then(|| src.open(item).ok())
                    .flatten()
                    .and_then(|mut rd| {
                        let mut v = Vec::new();
                        rd.read_to_end(&mut v).ok().map(|_| v)
                    });
                thumb_for_bytes(bytes.as_deref(), &item.rel_path)
            })
            .collect();
    }
    page
}

#[cfg(test)]
mod tests {
    use super::*;
    use camroll_sim::synth::{self, StillSpec};

    #[test]
    fn heic_and_jpeg_become_embedded_jpeg_thumbnails() {
        for (name, bytes) in [
            ("a.heic", synth::heic(&StillSpec::bare(1))),
            ("a.jpg", synth::jpeg(&StillSpec::bare(2))),
        ] {
            let uri = thumbnail_of_bytes(&bytes, name).expect(name);
            assert!(uri.starts_with("data:image/jpeg;base64,/9j/"), "{name}");
        }
        assert!(thumbnail_of_bytes(b"not an image at all, no", "x.jpg").is_none());
    }

    #[test]
    fn text_is_escaped() {
        let page = Page {
            title: "<script>".into(),
            sections: vec![Section {
                id: "x".into(),
                title: "t".into(),
                todo: "d".into(),
                rows: vec![("a&b\".jpg".into(), "<b>".into())],
            }],
            ..Default::default()
        };
        let html = render(&page);
        assert!(html.contains("&lt;script&gt;"));
        assert!(html.contains("a&amp;b&quot;.jpg"));
        assert!(!html.contains("<b>"));
    }
}
