//! `camroll export`: copy originals from a source into archives.

use std::path::PathBuf;

use clap::Args;

use crate::cli::args::{JobsArg, OutputArgs, ReportArg, SourceArgs, TimezoneArg};
use crate::cli::{exit_code, print_json};
use camroll::media::sidecar::SidecarFormat;
use camroll::ops::export::sidecars::SidecarChoice;
use camroll::ops::export::{self, ExportOptions};
use camroll::report::html;

/// `camroll export`
#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// An archive folder to file into (created if missing). Repeat for several archives: the source is read once.
    #[arg(long = "to", value_name = "ARCHIVE", required = true)]
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
    #[command(flatten)]
    pub report: ReportArg,
    /// Sidecars beside each original with what Photos knows (favorite, albums, people, …):
    /// xmp (default when the phone's library was read), json, or none.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub sidecars: Option<SidecarArg>,
    /// Read the sidecars' facts from this copy of Photos.sqlite (for a folder source).
    #[arg(long, value_name = "LIBRARY")]
    pub sidecars_from: Option<PathBuf>,
}

/// `--sidecars` values.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum SidecarArg {
    /// `<name>.xmp`, for photo tools.
    Xmp,
    /// `<name>.json`, for scripts.
    Json,
    /// No sidecars.
    None,
}

/// Exit 0 when everything was archived and verified, 1 when some items
/// failed, 2 when nothing could be archived.
pub fn run(a: ExportArgs) -> anyhow::Result<u8> {
    let progress = a.output.progress();
    let source = a.source.open()?;
    let opts = ExportOptions {
        destinations: a.to,
        dry_run: a.dry_run,
        verify: !a.no_verify,
        timezone: a.timezone.timezone,
        jobs: a.jobs.jobs,
        sidecars: match a.sidecars {
            None => SidecarChoice::Auto,
            Some(SidecarArg::Xmp) => SidecarChoice::Format(SidecarFormat::Xmp),
            Some(SidecarArg::Json) => SidecarChoice::Format(SidecarFormat::Json),
            Some(SidecarArg::None) => SidecarChoice::None,
        },
        sidecars_from: a.sidecars_from,
    };
    let summary = export::export(source.as_ref(), &opts, progress.as_ref())?;
    if let Some(path) = &a.report.report {
        html::write(path, &html::for_export(&summary))?;
    }
    if a.output.json() {
        print_json(&summary)?;
    } else {
        print!("{}", camroll::ops::shown_lines(&summary.human()));
    }
    Ok(exit_code(summary.outcome))
}
