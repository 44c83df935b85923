//! `camroll export`: copy originals from a source into archives.

use std::path::PathBuf;

use clap::Args;

use crate::cli::args::{JobsArg, OutputArgs, SourceArgs, TimezoneArg};
use crate::cli::{exit_code, print_json, settings};
use camroll::ops::export::{self, ExportOptions};
use camroll::report::html;

/// `camroll export`
#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// An archive folder to file into (created if missing). Repeat for several archives: the source is read once.
    /// Default: the config file's `archives`.
    #[arg(long = "to", value_name = "ARCHIVE")]
    pub to: Vec<PathBuf>,
    /// Print the plan (what goes where, duplicates, renames) and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Skip reading every written file back to check its hash.
    #[arg(long)]
    pub no_verify: bool,
    #[command(flatten)]
    pub timezone: TimezoneArg,
    #[command(flatten)]
    pub jobs: JobsArg,
    #[command(flatten)]
    pub output: OutputArgs,
    /// Write a self-contained HTML report (counts, months, thumbnails of what was added, problems) to this file.
    #[arg(long, value_name = "FILE.html")]
    pub report: Option<PathBuf>,
}

/// Exit 0 when everything was archived and verified, 1 when some items
/// failed, 2 when nothing could be archived.
pub fn run(a: ExportArgs) -> anyhow::Result<u8> {
    let cfg = settings::load()?;
    let destinations = settings::archives(a.to, &cfg, "add --to <ARCHIVE>")?;
    let progress = a.output.progress();
    let source = a.source.open(&cfg)?;
    let opts = ExportOptions {
        destinations,
        dry_run: a.dry_run,
        verify: !a.no_verify,
        timezone: a.timezone.timezone.or(cfg.timezone),
        jobs: a.jobs.jobs.or(cfg.jobs),
    };
    let summary = export::export(source.as_ref(), &opts, progress.as_ref())?;
    if let Some(path) = &a.report {
        html::write(path, &html::for_export(&summary))?;
    }
    if a.output.json() {
        print_json(&summary)?;
    } else {
        print!("{}", summary.human());
    }
    Ok(exit_code(summary.outcome))
}
