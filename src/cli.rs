//! The command line. Each flag's doc comment is its `--help` text.

use std::process::ExitCode;

use std::path::PathBuf;

use chrono::FixedOffset;
use clap::{Args, Parser, Subcommand};

use crate::error::{EXIT_FATAL, EXIT_OK, EXIT_PARTIAL};
use crate::export::{self, ExportOptions};
use crate::progress;
use crate::source::device::{list_devices, usbmux_addr, DeviceOptions, DeviceSource};
use crate::source::folder::FolderSource;
use crate::source::Source;

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
    /// Copy originals from a source into one or more archives, filed by capture date, deduplicated and verified.
    Export(ExportArgs),
    /// Re-hash every file of one or more archives and report what is missing, corrupt or unlisted.
    Verify(crate::verify::VerifyArgs),
    /// For every item on a source: in which archives, verified or not; safe to delete from the phone?
    Check(crate::check::CheckArgs),
    /// Copy into a second archive (say, the offsite disk) every file of the first that it lacks.
    Sync(crate::sync::SyncArgs),
    /// Recreate an archive's catalog and BLAKE3SUMS from its files (re-hashing them).
    Rebuild(crate::rebuild::RebuildArgs),
    /// List the connected iPhones: UDID, name, model, iOS version, connection, trusted, locked.
    Devices(DevicesArgs),
    /// Try camroll with no iPhone: export a simulated iPhone's camera roll into ./camroll-demo/archive and verify it.
    Demo(crate::demo::DemoArgs),
    /// Show what camroll reads from files: kind, capture time and its source, and the folder it would be filed in.
    Inspect(crate::media::inspect::InspectArgs),
    /// Serve a simulated iPhone (usbmuxd + lockdownd + AFC) over a media folder, or generate one.
    #[command(disable_help_flag = true, disable_version_flag = true)]
    Sim(SimArgs),
}

/// Parses the command line, runs the command, and maps the outcome to an exit status.
pub fn main() -> ExitCode {
    // `camroll help sim …` is camroll-sim's help, which only camroll-sim knows.
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if argv.get(1).is_some_and(|a| a == "help") && argv.get(2).is_some_and(|a| a == "sim") {
        let help = std::iter::once("help".into()).chain(argv[3..].iter().cloned());
        let e = crate::sim_process::exec_sim(&help.collect::<Vec<_>>());
        eprintln!("camroll: {e}");
        return ExitCode::from(EXIT_FATAL);
    }
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_FATAL } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let result = match cli.command {
        Command::Export(a) => run_export(a),
        Command::Verify(a) => crate::verify::run(a),
        Command::Check(a) => crate::check::run(a),
        Command::Sync(a) => crate::sync::run(a),
        Command::Rebuild(a) => crate::rebuild::run(a),
        Command::Devices(a) => run_devices(a),
        Command::Demo(a) => crate::demo::run(a),
        Command::Inspect(a) => crate::media::inspect::run(a),
        Command::Sim(a) => Err(crate::sim_process::exec_sim(&a.args).into()),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("camroll: {e:#}");
            ExitCode::from(EXIT_FATAL)
        }
    }
}

/// `camroll sim ARGS…`: everything after `sim`, --help included, goes to the
/// `camroll-sim` program untouched (it owns those flags and their help).
#[derive(Debug, Args)]
pub struct SimArgs {
    /// camroll-sim's arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0..)]
    pub args: Vec<std::ffi::OsString>,
}

/// `camroll export`
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Where the photos come from: `device` (the connected iPhone), `device:<UDID or name>`, or a
    /// folder (an ifuse mount, a copied DCIM, an SD card). Default: the iPhone, when exactly one is connected.
    #[arg(long, value_name = "SOURCE")]
    pub from: Option<String>,
    #[command(flatten)]
    pub device: DeviceArgs,
    /// An archive folder to file into (created if missing). Repeat for several archives: the source is read once.
    #[arg(long = "to", value_name = "ARCHIVE", required = true)]
    pub to: Vec<PathBuf>,
    /// Print the plan (what goes where, duplicates, renames) and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Skip reading every written file back to check its hash.
    #[arg(long)]
    pub no_verify: bool,
    /// Time zone for videos that record only UTC, e.g. +02:00 (default: this machine's).
    #[arg(long, value_name = "OFFSET", value_parser = parse_timezone)]
    pub timezone: Option<FixedOffset>,
    /// Files read in parallel (default: the number of CPUs, at least 4: readers mostly wait on I/O).
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Print one JSON object on stdout instead of the human summary.
    #[arg(long)]
    pub json: bool,
    /// No progress bars.
    #[arg(long, short)]
    pub quiet: bool,
    /// Write a self-contained HTML report (counts, months, thumbnails of what was added, problems) to this file.
    #[arg(long, value_name = "FILE.html")]
    pub report: Option<PathBuf>,
}

fn parse_timezone(s: &str) -> Result<FixedOffset, String> {
    crate::media::date::parse_offset(s)
        .and_then(FixedOffset::east_opt)
        .ok_or_else(|| format!("'{s}' is not a UTC offset like +02:00 or -05:30"))
}

/// How to reach the iPhone (shared by export, check and devices).
#[derive(Debug, Args, Clone)]
pub struct DeviceArgs {
    /// usbmuxd address: `UNIX:/path/to/socket` or `host:port` (default: $USBMUXD_SOCKET_ADDRESS, then the system's usbmuxd).
    #[arg(long, value_name = "ADDR")]
    pub usbmux: Option<String>,
    /// Seconds to wait for the iPhone to be trusted, unlocked or plugged back in.
    #[arg(long, value_name = "SECS", default_value_t = 180)]
    pub wait: u64,
    /// Also export edited versions (`IMG_E####`, from the iPhone's edits) next to their originals.
    #[arg(long)]
    pub edited: bool,
}

impl DeviceArgs {
    pub fn options(&self, select: Option<String>) -> DeviceOptions {
        DeviceOptions {
            usbmux: self.usbmux.clone(),
            select,
            wait: std::time::Duration::from_secs(self.wait),
            edited: self.edited,
            ..DeviceOptions::default()
        }
    }
}

/// `camroll devices`
#[derive(Debug, Args)]
pub struct DevicesArgs {
    /// usbmuxd address: `UNIX:/path/to/socket` or `host:port` (default: $USBMUXD_SOCKET_ADDRESS, then the system's usbmuxd).
    #[arg(long, value_name = "ADDR")]
    pub usbmux: Option<String>,
    /// Print one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Opens the source named by `--from`: a folder, or the iPhone.
pub fn open_source(from: Option<&str>, device: &DeviceArgs) -> anyhow::Result<Box<dyn Source>> {
    let select = match from {
        None | Some("device") => None,
        Some(s) if s.starts_with("device:") => Some(s["device:".len()..].to_string()),
        Some(folder) => return Ok(Box::new(FolderSource::new(std::path::Path::new(folder))?)),
    };
    let source = DeviceSource::connect(device.options(select))?;
    eprintln!(
        "camroll: reading {} ({}, iOS {}, {})",
        source.info.name, source.info.model, source.info.ios, source.info.udid
    );
    Ok(Box::new(source))
}

fn run_devices(a: DevicesArgs) -> anyhow::Result<u8> {
    let addr = usbmux_addr(a.usbmux.as_deref())?;
    let phones = list_devices(&addr)?;
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "devices": phones }))?
        );
    } else if phones.is_empty() {
        println!("No iPhone connected. Connect it with a cable, unlock it and tap Trust; on Linux, make sure usbmuxd is running.");
    } else {
        for p in &phones {
            let locked = match p.locked {
                Some(true) => "locked",
                Some(false) => "unlocked",
                None => "lock state unknown",
            };
            println!(
                "{}  {}  {}  iOS {}  {}  {}  {}",
                p.udid,
                p.name,
                p.model,
                p.ios,
                p.connection,
                if p.trusted { "trusted" } else { "not trusted" },
                locked
            );
        }
    }
    Ok(EXIT_OK)
}

fn run_export(a: ExportArgs) -> anyhow::Result<u8> {
    let progress = progress::for_stderr(a.quiet || a.json);
    let source = open_source(a.from.as_deref(), &a.device)?;
    let source = source.as_ref();
    let opts = ExportOptions {
        destinations: a.to,
        dry_run: a.dry_run,
        verify: !a.no_verify,
        timezone: a.timezone,
        jobs: a.jobs,
    };
    let summary = export::export(source, &opts, progress.as_ref())?;
    if let Some(path) = &a.report {
        crate::html_report::write(path, &crate::html_report::for_export(&summary))?;
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print!("{}", summary.human());
    }
    Ok(match summary.outcome {
        "ok" => EXIT_OK,
        "failed" => EXIT_FATAL,
        _ => EXIT_PARTIAL,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_command_line_definition_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
