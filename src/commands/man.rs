//! `camroll man [SUBCOMMAND]`: roff man pages generated from the
//! command-line definition itself (`camroll.1`, `camroll-export.1`, …).

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, CommandFactory};

use crate::cli::{Cli, EXIT_OK};

/// `camroll man [SUBCOMMAND] [--out-dir DIR]`
#[derive(Debug, Args)]
pub struct ManArgs {
    /// The subcommand whose page to print (`camroll man export` is camroll-export(1)).
    #[arg(value_name = "SUBCOMMAND")]
    pub subcommand: Option<String>,
    /// Write every page (camroll.1 and one camroll-<subcommand>.1 each) into this folder instead.
    #[arg(long, value_name = "DIR", conflicts_with = "subcommand")]
    pub out_dir: Option<PathBuf>,
}

/// The page of `camroll` or of one of its subcommands, named `camroll-<sub>`.
fn page(sub: Option<&str>) -> anyhow::Result<clap::Command> {
    let mut cmd = Cli::command();
    cmd.build();
    let Some(name) = sub else { return Ok(cmd) };
    let names: Vec<String> = cmd
        .get_subcommands()
        .filter(|c| c.get_name() != "help")
        .map(|c| c.get_name().to_string())
        .collect();
    let found = cmd.find_subcommand(name).cloned().with_context(|| {
        format!(
            "no subcommand {name:?}; man pages exist for: {}",
            names.join(", ")
        )
    })?;
    let full = format!("camroll-{}", found.get_name());
    Ok(found
        .name(full.clone())
        .bin_name(full)
        .version(cmd.get_version().unwrap_or_default().to_string()))
}

fn render(cmd: clap::Command, out: &mut dyn std::io::Write) -> anyhow::Result<()> {
    clap_mangen::Man::new(cmd).render(out)?;
    Ok(())
}

/// Prints one page on stdout, or writes them all into `--out-dir`.
pub fn run(a: ManArgs) -> anyhow::Result<u8> {
    let Some(dir) = a.out_dir else {
        let mut out = std::io::stdout().lock();
        render(page(a.subcommand.as_deref())?, &mut out)?;
        return Ok(EXIT_OK);
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let subs: Vec<String> = Cli::command()
        .get_subcommands()
        .filter(|c| !c.is_hide_set())
        .map(|c| c.get_name().to_string())
        .collect();
    for sub in std::iter::once(None).chain(subs.iter().map(|s| Some(s.as_str()))) {
        let cmd = page(sub)?;
        let file = dir.join(format!("{}.1", cmd.get_name()));
        let mut buf = Vec::new();
        render(cmd, &mut buf)?;
        std::fs::write(&file, buf).with_context(|| format!("writing {}", file.display()))?;
        println!("{}", file.display());
    }
    Ok(EXIT_OK)
}
