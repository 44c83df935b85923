//! `camroll verify`: re-hash every file of archives and report what is wrong.

use std::path::PathBuf;

use clap::Args;

use crate::cli::args::{require_archive_dirs, JobsArg, OutputArgs, ReportArg};
use crate::cli::{exit_code, print_json, settings};
use camroll::archive::bucket::BucketUrl;
use camroll::archive::{sums, CAMROLL_DIR};
use camroll::ops::verify::{self, VerifyOptions};
use camroll::report::html;

/// `camroll verify`
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Archives to verify: folders, or buckets `s3://BUCKET/PREFIX` (default: the config file's `archives`).
    #[arg(value_name = "ARCHIVE")]
    pub archives: Vec<PathBuf>,
    /// Also decode every image (HEIC/HEIF, JPEG, PNG, GIF, WebP, TIFF) and check every movie's
    /// box structure, to find files that were already damaged when they were archived.
    #[arg(long)]
    pub deep: bool,
    /// Replace missing or corrupt files with verified copies from this other archive (matched by hash):
    /// a folder, or for a folder archive a bucket `s3://BUCKET/PREFIX`.
    #[arg(long, value_name = "OTHER_ARCHIVE")]
    pub repair_from: Option<PathBuf>,
    /// Buckets only: stream back this share of the objects (a percentage, e.g. 5), those
    /// verified longest ago first, so nightly runs cover a large bucket over a month.
    #[arg(long, value_name = "PERCENT", value_parser = parse_percent)]
    pub subset: Option<f64>,
    #[command(flatten)]
    pub report: ReportArg,
    #[command(flatten)]
    pub jobs: JobsArg,
    #[command(flatten)]
    pub output: OutputArgs,
}

fn parse_percent(text: &str) -> Result<f64, String> {
    let t = text.trim_end_matches('%');
    match t.parse::<f64>() {
        Ok(p) if p > 0.0 && p <= 100.0 => Ok(p),
        _ => Err(format!(
            "{text:?} is not a percentage over 0 and at most 100 (e.g. 5 or 12.5%)"
        )),
    }
}

/// Exit 0 when every archive is whole, 1 on any finding left.
pub fn run(a: VerifyArgs) -> anyhow::Result<u8> {
    let cfg = settings::load()?;
    let archives = settings::archives(a.archives, &cfg, "name them: camroll verify ARCHIVE…")?;
    let progress = a.output.progress();
    // Buckets (`s3://…`) are verified by streaming their objects, and can be
    // repaired from a disk archive, or repair one.
    let is_bucket = |p: &PathBuf| p.to_str().is_some_and(BucketUrl::is_bucket_url);
    let (buckets, archives): (Vec<PathBuf>, Vec<PathBuf>) =
        archives.into_iter().partition(is_bucket);
    let repair_bucket = a.repair_from.as_ref().filter(|p| is_bucket(p));
    if !buckets.is_empty() && a.deep {
        anyhow::bail!("--deep does not work on buckets yet: verify the bucket without it");
    }
    if !buckets.is_empty() && repair_bucket.is_some() {
        anyhow::bail!(
            "--repair-from a bucket works for disk archives only: sync one bucket to a disk first"
        );
    }
    if a.subset.is_some() && !archives.is_empty() {
        anyhow::bail!("--subset works on buckets only so far: verify disk archives without it");
    }
    let disk_repair_from = a.repair_from.as_ref().filter(|p| !is_bucket(p));
    let all = archives.iter().chain(disk_repair_from);
    require_archive_dirs(all.clone().map(PathBuf::as_path))?;
    for p in all {
        if !p.join(CAMROLL_DIR).is_dir() && !p.join(sums::SUMS_FILE).is_file() {
            return Err(camroll::archive::ArchiveError::NotAnArchive { path: p.clone() }.into());
        }
    }
    let mut bucket_reports = Vec::new();
    for b in &buckets {
        let text = b.to_str().unwrap_or_default();
        let mut r = verify::bucket::verify_bucket(text, a.subset, progress.as_ref())?;
        if let Some(other) = disk_repair_from {
            verify::bucket::repair_bucket_from_disk(&mut r, other, progress.as_ref())?;
        }
        bucket_reports.push(r);
    }
    let opts = VerifyOptions {
        deep: a.deep,
        jobs: a.jobs.jobs.or(cfg.jobs),
    };
    let mut summary = verify::verify_and_repair(
        &archives,
        &opts,
        disk_repair_from.map(PathBuf::as_path),
        progress.as_ref(),
    )?;
    if let Some(from) = repair_bucket {
        let from = from.to_str().unwrap_or_default();
        for r in summary.archives.iter_mut() {
            let root = PathBuf::from(&r.archive);
            verify::bucket::repair_disk_from_bucket(&root, r, from, progress.as_ref())?;
        }
    }
    summary.archives.splice(0..0, bucket_reports);
    summary.problems = summary.archives.iter().map(|r| r.problems()).sum();
    summary.outcome = if summary.problems > 0 {
        camroll::ops::Outcome::Problems
    } else {
        camroll::ops::Outcome::Ok
    };
    if let Some(path) = &a.report.report {
        html::write(path, &html::for_verify(&summary.archives))?;
    }
    if a.output.json() {
        print_json(&summary)?;
    } else {
        for r in &summary.archives {
            print!("{}", camroll::ops::shown_lines(&r.human()));
        }
    }
    Ok(exit_code(summary.outcome))
}
