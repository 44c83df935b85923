//! `camroll sync FROM TO`: bring another copy of an archive up to date.

use std::path::PathBuf;

use clap::Args;

use crate::cli::args::{JobsArg, OutputArgs};
use crate::cli::{exit_code, print_json};
use camroll::ops::{sync, sync_bucket};

/// `camroll sync`
#[derive(Debug, Args)]
pub struct SyncArgs {
    /// The archive to copy from (only read): a folder, or a bucket `s3://BUCKET/PREFIX`.
    #[arg(value_name = "FROM_ARCHIVE")]
    pub from: PathBuf,
    /// The archive to bring up to date (created if missing): a folder, or a bucket `s3://BUCKET/PREFIX`.
    #[arg(value_name = "TO_ARCHIVE")]
    pub to: PathBuf,
    #[command(flatten)]
    pub jobs: JobsArg,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// Exit 0 when TO holds everything FROM does, 1 when some copies failed.
pub fn run(a: SyncArgs) -> anyhow::Result<u8> {
    let progress = a.output.progress();
    // A bucket (`s3://…`) on either side: uploaded to, or restored from.
    let text = |p: &PathBuf| p.to_str().unwrap_or_default().to_string();
    let summary = match (
        sync_bucket::is_bucket(&a.from),
        sync_bucket::is_bucket(&a.to),
    ) {
        (true, true) => {
            anyhow::bail!("sync between two buckets is not supported: sync one to a disk first")
        }
        (false, true) => sync_bucket::sync_to_bucket(&a.from, &text(&a.to), progress.as_ref())?,
        (true, false) => sync_bucket::sync_from_bucket(&text(&a.from), &a.to, progress.as_ref())?,
        (false, false) => sync::sync(&a.from, &a.to, a.jobs.jobs, progress.as_ref())?,
    };
    if a.output.json() {
        print_json(&summary)?;
    } else {
        print!("{}", camroll::ops::shown_lines(&summary.human()));
    }
    Ok(exit_code(summary.outcome))
}
