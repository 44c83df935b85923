//! `camroll inspect`: what camroll reads from each file, and why it would be
//! filed where it would.

use std::path::PathBuf;

use clap::Args;

/// `camroll inspect FILE…`
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Files to inspect.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Print one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

pub fn run(_args: InspectArgs) -> anyhow::Result<u8> {
    anyhow::bail!("inspect is not built yet")
}
