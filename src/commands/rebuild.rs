//! `camroll rebuild ARCHIVE`: recreate the catalog and BLAKE3SUMS from the files.

use std::path::PathBuf;

use clap::Args;

use crate::cli::args::{JobsArg, OutputArgs};
use crate::cli::{exit_code, print_json};
use camroll::ops::rebuild;

/// `camroll rebuild`
#[derive(Debug, Args)]
pub struct RebuildArgs {
    /// The archive whose catalog and BLAKE3SUMS to recreate from its files.
    #[arg(value_name = "ARCHIVE")]
    pub archive: PathBuf,
    /// Rebuild even a sound catalog: re-hash every file, record unlisted
    /// photos and videos, and correct what BLAKE3SUMS and the catalog disagree on.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub jobs: JobsArg,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// Exit 0 when every recorded file is whole, 1 when some are missing or corrupt.
pub fn run(a: RebuildArgs) -> anyhow::Result<u8> {
    let progress = a.output.progress();
    let summary = rebuild::rebuild(&a.archive, a.jobs.jobs, a.force, progress.as_ref())?;
    if a.output.json() {
        print_json(&summary)?;
    } else {
        print!("{}", camroll::ops::shown_lines(&summary.human()));
    }
    Ok(exit_code(summary.outcome))
}
