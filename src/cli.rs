//! The command line. Each flag's doc comment is its `--help` text.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::error::EXIT_FATAL;

/// Get every original photo and video off an iPhone (or out of a folder) into
/// archives you control, and prove they are complete.
#[derive(Debug, Parser)]
#[command(name = "camroll", version, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show what camroll reads from files: kind, capture time and its source, and the folder it would be filed in.
    Inspect(crate::media::inspect::InspectArgs),
    /// Serve a simulated iPhone (usbmuxd + lockdownd + AFC) over a media folder, or generate one.
    Sim(crate::sim::SimArgs),
}

/// Parses the command line, runs the command, and maps the outcome to an exit status.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_FATAL } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let result = match cli.command {
        Command::Inspect(a) => crate::media::inspect::run(a),
        Command::Sim(a) => crate::sim::run(a),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("camroll: {e:#}");
            ExitCode::from(EXIT_FATAL)
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_command_line_definition_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
