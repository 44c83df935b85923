//! The command line: the top-level parser, the flags several commands share
//! ([`args`]), progress bars ([`progress`]) and the exit statuses.
//! Each flag's doc comment is its `--help` text.

pub mod args;
pub mod progress;
pub mod settings;
pub mod sim_process;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::commands;
use camroll::ops::Outcome;

/// Everything done and verified.
pub const EXIT_OK: u8 = 0;
/// Something failed or was found wrong; the rest was done.
pub const EXIT_PARTIAL: u8 = 1;
/// A usage error, or nothing could be done.
pub const EXIT_FATAL: u8 = 2;
/// The archive does not exist (no folder, or no camroll archive in it).
pub const EXIT_NO_ARCHIVE: u8 = 10;
/// The archive is locked by another live camroll run.
pub const EXIT_LOCKED: u8 = 11;

/// The exit status for an error that stopped a command: 10 or 11 when the
/// library's typed error says the archive does not exist or is locked
/// (found by downcasting the error chain, never by reading its text), else 2.
pub fn error_exit_code(e: &anyhow::Error) -> u8 {
    use camroll::archive::{lock::LockError, ArchiveError, Refusal};
    use camroll::ops::{
        albums::AlbumsError, export::ExportError, rebuild::RebuildError, sync::SyncError,
        verify::repair::RepairError,
    };
    let refusal = e.chain().find_map(|c| {
        c.downcast_ref::<ArchiveError>()
            .and_then(ArchiveError::refusal)
            .or_else(|| c.downcast_ref::<LockError>().and_then(LockError::refusal))
            .or_else(|| c.downcast_ref::<SyncError>().and_then(SyncError::refusal))
            .or_else(|| {
                c.downcast_ref::<RebuildError>()
                    .and_then(RebuildError::refusal)
            })
            .or_else(|| {
                c.downcast_ref::<RepairError>()
                    .and_then(RepairError::refusal)
            })
            .or_else(|| {
                c.downcast_ref::<ExportError>()
                    .and_then(ExportError::refusal)
            })
            .or_else(|| {
                c.downcast_ref::<AlbumsError>()
                    .and_then(AlbumsError::refusal)
            })
            .or_else(|| {
                c.downcast_ref::<camroll::archive::bucket::BucketError>()
                    .and_then(camroll::archive::bucket::BucketError::refusal)
            })
    });
    match refusal {
        Some(Refusal::NoArchive) => EXIT_NO_ARCHIVE,
        Some(Refusal::Locked) => EXIT_LOCKED,
        None => EXIT_FATAL,
    }
}

/// The exit status for an operation's outcome.
pub fn exit_code(outcome: Outcome) -> u8 {
    match outcome {
        Outcome::Ok | Outcome::Safe => EXIT_OK,
        Outcome::Partial | Outcome::Problems | Outcome::NotSafe => EXIT_PARTIAL,
        Outcome::Failed => EXIT_FATAL,
    }
}

/// Prints `value` as one pretty JSON object on stdout.
pub fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Get every original photo and video off an iPhone (or out of a folder) into
/// archives you control, and prove they are complete.
#[derive(Debug, Parser)]
#[command(name = "camroll", version = env!("CAMROLL_VERSION"), propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Copy originals from a source into one or more archives, filed by capture date, deduplicated and verified.
    Export(commands::export::ExportArgs),
    /// Re-hash every file of one or more archives and report what is missing, corrupt or unlisted.
    Verify(commands::verify::VerifyArgs),
    /// For every item on a source: in which archives, verified or not; safe to delete from the phone?
    Check(commands::check::CheckArgs),
    /// Copy into a second archive (say, the offsite disk) every file of the first that it lacks.
    Sync(commands::sync::SyncArgs),
    /// Recreate an archive's catalog and BLAKE3SUMS from its files (re-hashing them).
    Rebuild(commands::rebuild::RebuildArgs),
    /// List the phone's albums as the archive's sidecars record them; --album-links writes folders of links.
    Albums(commands::albums::AlbumsArgs),
    /// List the connected iPhones: UDID, name, model, iOS version, connection, trusted, locked.
    Devices(commands::devices::DevicesArgs),
    /// Try camroll with no iPhone: export a simulated iPhone's camera roll into ./camroll-demo/archive and verify it.
    Demo(commands::demo::DemoArgs),
    /// Show what camroll reads from files: kind, capture time and its source, and the folder it would be filed in.
    Inspect(commands::inspect::InspectArgs),
    /// Archive enrolled iPhones whenever they are plugged in: export, then check, into the configured archives.
    Watch(commands::watch::WatchArgs),
    /// Show the settings in effect (flags, config file, defaults) and where each came from.
    Config(commands::config::ConfigArgs),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish).
    Completions(commands::completions::CompletionsArgs),
    /// Print the man page of camroll, or of one subcommand (`camroll man export`).
    Man(commands::man::ManArgs),
    /// Serve a simulated iPhone (usbmuxd + lockdownd + AFC) over a media folder, or generate one.
    #[command(disable_help_flag = true, disable_version_flag = true)]
    Sim(commands::sim::SimArgs),
}

/// Parses the command line, runs the command, and maps the outcome to an exit status.
pub fn main() -> ExitCode {
    // `camroll help sim …` is camroll-sim's help, which only camroll-sim knows.
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if argv.get(1).is_some_and(|a| a == "help") && argv.get(2).is_some_and(|a| a == "sim") {
        let help = std::iter::once("help".into()).chain(argv[3..].iter().cloned());
        let e = sim_process::exec_sim(&help.collect::<Vec<_>>());
        eprintln!("camroll: {e}");
        return ExitCode::from(EXIT_FATAL);
    }
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_FATAL } else { EXIT_OK };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let result = match cli.command {
        Command::Export(a) => commands::export::run(a),
        Command::Verify(a) => commands::verify::run(a),
        Command::Check(a) => commands::check::run(a),
        Command::Sync(a) => commands::sync::run(a),
        Command::Rebuild(a) => commands::rebuild::run(a),
        Command::Albums(a) => commands::albums::run(a),
        Command::Devices(a) => commands::devices::run(a),
        Command::Demo(a) => commands::demo::run(a),
        Command::Inspect(a) => commands::inspect::run(a),
        Command::Watch(a) => commands::watch::run(a),
        Command::Config(a) => commands::config::run(a),
        Command::Completions(a) => commands::completions::run(a),
        Command::Man(a) => commands::man::run(a),
        Command::Sim(a) => commands::sim::run(a),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("camroll: {e:#}");
            ExitCode::from(error_exit_code(&e))
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
