//! `camroll albums ARCHIVE`: the phone's albums as the archive's sidecars record them.

use std::path::PathBuf;

use clap::Args;

use crate::cli::args::OutputArgs;
use crate::cli::print_json;
use camroll::ops::albums;

/// `camroll albums`
#[derive(Debug, Args)]
pub struct AlbumsArgs {
    /// The archive whose albums to list.
    #[arg(value_name = "ARCHIVE")]
    pub archive: PathBuf,
    /// Also write Albums/<Folder>/<Album>/ folders of relative links to the originals
    /// (on filesystems that hold symbolic links).
    #[arg(long)]
    pub album_links: bool,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// Exit 0 when listed (and linked), 1 when some links could not be written,
/// 10 when there is no archive to read.
pub fn run(a: AlbumsArgs) -> anyhow::Result<u8> {
    let report = albums::albums(&a.archive, a.album_links)?;
    if a.output.json() {
        print_json(&report)?;
    } else {
        print!("{}", report.human());
    }
    Ok(if report.link_problems.is_empty() {
        0
    } else {
        1
    })
}
