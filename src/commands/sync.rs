//! `camroll sync FROM TO`: bring another copy of an archive up to date.

use std::path::PathBuf;

use clap::Args;

use crate::cli::args::{JobsArg, OutputArgs};
use crate::cli::{exit_code, print_json};
use camroll::ops::sync;

/// `camroll sync`
#[derive(Debug, Args)]
pub struct SyncArgs {
    /// The archive to copy from (only read).
    #[arg(value_name = "FROM_ARCHIVE")]
    pub from: PathBuf,
    /// The archive to bring up to date (created if missing).
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
    let summary = sync::sync(&a.from, &a.to, a.jobs.jobs, progress.as_ref())?;
    if a.output.json() {
        print_json(&summary)?;
    } else {
        print!("{}", camroll::ops::shown_lines(&summary.human()));
    }
    Ok(exit_code(summary.outcome))
}
