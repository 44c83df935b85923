//! `camroll check`: can I delete these from my phone?

use std::path::PathBuf;

use clap::Args;

use crate::cli::args::{require_archive_dirs, JobsArg, OutputArgs, ReportArg, SourceArgs};
use crate::cli::{exit_code, print_json, settings};
use camroll::ops::check::{self, CheckOptions};
use camroll::report::html;

/// `camroll check`
#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// Archives that should hold every item: folders, or buckets `s3://BUCKET/PREFIX`, which count
    /// once `camroll verify` has read their objects back (default: the config file's `archives`).
    #[arg(value_name = "ARCHIVE")]
    pub archives: Vec<PathBuf>,
    /// Verified copies an item needs before it is safe to delete from the phone.
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub copies: usize,
    #[command(flatten)]
    pub report: ReportArg,
    #[command(flatten)]
    pub jobs: JobsArg,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// Exit 0 only when everything is safely archived.
pub fn run(a: CheckArgs) -> anyhow::Result<u8> {
    let cfg = settings::load()?;
    let archives = settings::archives(a.archives, &cfg, "name them: camroll check ARCHIVE…")?;
    let progress = a.output.progress();
    // Buckets (`s3://…`) are read over the network, not checked as folders.
    require_archive_dirs(archives.iter().map(PathBuf::as_path).filter(|p| {
        !p.to_str()
            .is_some_and(camroll::archive::bucket::BucketUrl::is_bucket_url)
    }))?;
    if a.copies == 0 {
        anyhow::bail!("--copies must be at least 1");
    }
    let source = a.source.open(&cfg)?;
    let opts = CheckOptions {
        copies: a.copies,
        jobs: a.jobs.jobs.or(cfg.jobs),
    };
    let report = check::check(source.as_ref(), None, &archives, &opts, progress.as_ref())?;
    if let Some(path) = &a.report.report {
        html::write(path, &html::for_check(&report, Some(source.as_ref())))?;
    }
    if a.output.json() {
        print_json(&report)?;
    } else {
        print!("{}", camroll::ops::shown_lines(&report.human()));
    }
    Ok(exit_code(report.outcome))
}
