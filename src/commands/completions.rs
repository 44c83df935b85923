//! `camroll completions SHELL`: a completion script generated from the
//! command-line definition itself, so it never falls out of date.

use clap::{Args, CommandFactory};
use clap_complete::Shell;

use crate::cli::{Cli, EXIT_OK};

/// `camroll completions bash|zsh|fish|powershell|elvish`
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: Shell,
}

/// Prints the script on stdout.
pub fn run(a: CompletionsArgs) -> anyhow::Result<u8> {
    let mut cmd = Cli::command();
    clap_complete::generate(a.shell, &mut cmd, "camroll", &mut std::io::stdout());
    Ok(EXIT_OK)
}
