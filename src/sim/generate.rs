//! `camroll sim generate`: a realistic camera roll.

use std::path::PathBuf;

use clap::Args;

/// `camroll sim generate`: write a media folder like an iPhone's.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// The media folder to create.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// How many assets.
    #[arg(long, default_value_t = 40)]
    pub items: usize,
    /// Seed: the same seed writes the same roll.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Also write one large sparse video of this many MiB.
    #[arg(long, value_name = "M")]
    pub video_mib: Option<u64>,
}

pub fn run(_args: GenerateArgs) -> anyhow::Result<u8> {
    anyhow::bail!("camroll sim generate is not built yet")
}
