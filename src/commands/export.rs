//! `camroll export`: copy originals from a source into archives.

use std::path::PathBuf;

use clap::Args;

use crate::cli::args::{JobsArg, OutputArgs, ReportArg, SourceArgs, TimezoneArg};
use crate::cli::{exit_code, print_json, settings};
use camroll::media::sidecar::SidecarFormat;
use camroll::ops::export::sidecars::SidecarChoice;
use camroll::ops::export::{self, ExportOptions};
use camroll::report::html;

/// `camroll export`
#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// An archive folder to file into (created if missing), or a bucket `s3://BUCKET/PREFIX`
    /// (docs/object-storage.md). Repeat for several archives: the source is read once.
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
    #[command(flatten)]
    pub report: ReportArg,
    /// Sidecars beside each original with what Photos knows (favorite, albums, people, …):
    /// xmp (default when the phone's library was read), json, or none.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub sidecars: Option<SidecarArg>,
    /// Read the sidecars' facts from this copy of Photos.sqlite (for a folder source).
    #[arg(long, value_name = "LIBRARY")]
    pub sidecars_from: Option<PathBuf>,
    /// Buckets (`--to s3://…`) only: new objects get S3 Object Lock retention (COMPLIANCE mode)
    /// for N days, so nobody, not even someone holding your keys, can delete or overwrite them
    /// before then. Refused when the bucket was not created with Object Lock.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=36500))]
    pub object_lock_days: Option<u32>,
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

impl SidecarArg {
    fn choice(self) -> SidecarChoice {
        match self {
            SidecarArg::Xmp => SidecarChoice::Format(SidecarFormat::Xmp),
            SidecarArg::Json => SidecarChoice::Format(SidecarFormat::Json),
            SidecarArg::None => SidecarChoice::None,
        }
    }
}

/// Exit 0 when everything was archived and verified, 1 when some items
/// failed, 2 when nothing could be archived.
pub fn run(a: ExportArgs) -> anyhow::Result<u8> {
    super::share_malloc_arenas();
    let cfg = settings::load()?;
    let destinations = settings::archives(a.to, &cfg, "add --to <ARCHIVE>")?;
    if a.object_lock_days.is_some()
        && !destinations.iter().any(|d| {
            d.to_str()
                .is_some_and(camroll::archive::bucket::BucketUrl::is_bucket_url)
        })
    {
        anyhow::bail!("--object-lock-days applies to buckets: add --to s3://BUCKET/PREFIX");
    }
    let progress = a.output.progress();
    let source = a.source.open(&cfg)?;
    let opts = ExportOptions {
        destinations,
        dry_run: a.dry_run,
        verify: !a.no_verify,
        timezone: a.timezone.timezone.or(cfg.timezone),
        jobs: a.jobs.jobs.or(cfg.jobs),
        sidecars: match a.sidecars {
            Some(s) => s.choice(),
            // The config file's `sidecars` when no flag says otherwise.
            None => match cfg.sidecars.as_deref() {
                None => SidecarChoice::Auto,
                Some(v) => <SidecarArg as clap::ValueEnum>::from_str(v, true)
                    .map(SidecarArg::choice)
                    .map_err(|_| {
                        anyhow::anyhow!(
                            "config: sidecars = \"{v}\" is not one of xmp, json or none; fix it in your config.toml (camroll config show says where)"
                        )
                    })?,
            },
        },
        sidecars_from: a.sidecars_from,
        object_lock_days: a.object_lock_days,
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
