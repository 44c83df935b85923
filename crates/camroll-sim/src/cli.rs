//! The `camroll-sim` command line, which `camroll sim` hands its arguments to.
//! Each flag's doc comment is its `--help` text.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::{bench, generate, Attach, Faults, Listen, SimConfig, Simulator};

/// The program name `camroll sim` runs this binary under (its `argv[0]`), so usage
/// lines and error messages read as they did when the simulator was built into camroll.
pub const CAMROLL_SIM_ARG0: &str = "camroll sim";

const EXIT_OK: u8 = 0;
/// The exit status of a failure, as camroll's (`camroll::error::EXIT_FATAL`).
const EXIT_FATAL: u8 = 2;

/// Serve a simulated iPhone (usbmuxd + lockdownd + AFC) over a media folder, or generate one.
#[derive(Debug, Parser)]
#[command(
    name = "camroll-sim",
    version,
    propagate_version = true,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
pub struct SimArgs {
    /// A subcommand run instead of serving.
    #[command(subcommand)]
    pub command: Option<SimCommand>,
    // Boxed: the serve flags are large and would bloat the top-level Command enum.
    /// The serving flags, used when no subcommand is given.
    #[command(flatten)]
    pub serve: Box<ServeArgs>,
}

/// The flags of `camroll-sim` itself (serving).
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The phone's media folder (what AFC serves as /var/mobile/Media).
    #[arg(long, value_name = "DIR", required = true)]
    pub media: Option<PathBuf>,
    /// Serve usbmuxd on this TCP address (default: a free port on 127.0.0.1).
    #[arg(long, value_name = "ADDR:PORT", conflicts_with = "socket")]
    pub listen: Option<SocketAddr>,
    /// Serve usbmuxd on this UNIX socket instead of TCP.
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// The phone's UDID (default: the one created on first start, kept in <DIR>/.sim/).
    #[arg(long, value_name = "UDID")]
    pub udid: Option<String>,
    /// The phone's name (lockdown DeviceName).
    #[arg(long, value_name = "NAME", default_value = "Camroll's iPhone")]
    pub name: String,
    /// The iOS version the phone reports (ProductVersion; at least 10.0 for modern TLS).
    #[arg(long = "ios", value_name = "VERSION", default_value = "17.5.1")]
    pub ios: String,
    /// Accept AFC writes (otherwise they fail with PERM_DENIED).
    #[arg(long)]
    pub writable: bool,
    /// The phone is passcode-locked: starting services and pairing answer PasswordProtected.
    #[arg(long)]
    pub locked: bool,
    /// The phone is unlocked this many seconds after it locked (with --locked: after start;
    /// with --lock-after-bytes: after that lock).
    #[arg(long, value_name = "SECS")]
    pub unlock_after: Option<f64>,
    /// The phone locks once this many AFC file bytes have been served: new StartService
    /// calls answer PasswordProtected (connections already open keep working).
    #[arg(long, value_name = "N")]
    pub lock_after_bytes: Option<u64>,
    /// At most N services at once: StartService beyond N open AFC connections answers ServiceLimit.
    #[arg(long, value_name = "N")]
    pub service_limit: Option<usize>,
    /// Photos.sqlite changes while a client copies it: the first opens of the library
    /// files append to Photos.sqlite-wal.
    #[arg(long)]
    pub library_churn: bool,
    /// Attach the phone over Wi-Fi only (ConnectionType Network, as with Wi-Fi sync and no cable).
    #[arg(long, conflicts_with = "also_network")]
    pub network: bool,
    /// Attach the phone over USB and Wi-Fi at once: two usbmuxd entries with the same UDID.
    #[arg(long)]
    pub also_network: bool,
    /// This computer is not trusted: no pairing record until the user taps "Trust".
    #[arg(long)]
    pub untrusted: bool,
    /// With --untrusted: the user taps "Trust" this many seconds after start.
    #[arg(long, value_name = "SECS", requires = "untrusted")]
    pub trust_after: Option<f64>,
    /// Throttle AFC reads to this many megabytes per second (35 is a USB 2 Lightning iPhone).
    #[arg(long, value_name = "MBPS")]
    pub rate: Option<f64>,
    /// Add this many milliseconds before every AFC reply.
    #[arg(long, value_name = "MS")]
    pub latency_ms: Option<f64>,
    /// Pull the cable after this many AFC file bytes: every connection drops, usbmuxd reports Detached.
    #[arg(long, value_name = "N")]
    pub unplug_after_bytes: Option<u64>,
    /// With --unplug-after-bytes: plug the phone back in this many seconds later.
    #[arg(long, value_name = "SECS", requires = "unplug_after_bytes")]
    pub replug_after: Option<f64>,
    /// Reads of files matching this glob (relative to the media folder, e.g. 'DCIM/**/*.MOV')
    /// fail with READ_ERROR, like optimised iCloud placeholders. Repeatable.
    #[arg(long, value_name = "GLOB")]
    pub io_error: Vec<String>,
    /// At most N AFC file handles open at once; more answer NO_RESOURCES ("No file slots").
    #[arg(long, value_name = "N")]
    pub max_open_files: Option<usize>,
    /// This many AFC file bytes after the phone first refuses a file for its extra hard
    /// links, the other names of every refused file go away (as when Photos rewrites the
    /// asset), so it opens again.
    #[arg(long, value_name = "N")]
    pub hard_links_heal_after_bytes: Option<u64>,
    /// Keep a JSON file of what has been served, rewritten at every file close:
    /// `file_bytes`, `file_bytes_usb`, `file_bytes_network`, `library_bytes`
    /// (Photos.sqlite and its -wal/-shm), `library_opens`.
    #[arg(long, value_name = "FILE")]
    pub stats: Option<PathBuf>,
}

/// What `camroll-sim` does instead of serving.
#[derive(Debug, Subcommand)]
pub enum SimCommand {
    /// Write a realistic camera roll (DCIM, PhotoData/Photos.sqlite, edits, iCloud-only assets).
    Generate(generate::GenerateArgs),
    /// Read a tree over AFC as fast as possible (the benchmark client of scripts/bench-sim).
    #[command(hide = true)]
    BenchRead(bench::BenchReadArgs),
}

fn secs(s: Option<f64>) -> Option<Duration> {
    s.filter(|v| v.is_finite() && *v >= 0.0)
        .map(Duration::from_secs_f64)
}

impl ServeArgs {
    /// The in-process configuration these flags describe.
    pub fn config(&self) -> anyhow::Result<SimConfig> {
        let Some(media) = self.media.clone() else {
            anyhow::bail!("--media <DIR> is required");
        };
        let mut cfg = SimConfig::new(media);
        if let Some(p) = &self.socket {
            cfg.listen = Listen::Unix(p.clone());
        } else if let Some(a) = self.listen {
            cfg.listen = Listen::Tcp(a);
        }
        cfg.udid = self.udid.clone();
        cfg.name = self.name.clone();
        cfg.ios = self.ios.clone();
        cfg.writable = self.writable;
        cfg.stats = self.stats.clone();
        cfg.attach = if self.network {
            Attach::Network
        } else if self.also_network {
            Attach::Both
        } else {
            Attach::Usb
        };
        if self.unlock_after.is_some() && !self.locked && self.lock_after_bytes.is_none() {
            anyhow::bail!("--unlock-after needs --locked or --lock-after-bytes");
        }
        cfg.faults = Faults {
            locked: self.locked,
            unlock_after: secs(self.unlock_after),
            lock_after_bytes: self.lock_after_bytes,
            service_limit: self.service_limit,
            library_churn: self.library_churn,
            untrusted: self.untrusted,
            trust_after: secs(self.trust_after),
            rate_mbps: self.rate,
            latency: self
                .latency_ms
                .filter(|ms| ms.is_finite() && *ms > 0.0)
                .map(|ms| Duration::from_secs_f64(ms / 1000.0)),
            unplug_after_bytes: self.unplug_after_bytes,
            replug_after: secs(self.replug_after),
            io_error: self.io_error.clone(),
            max_open_files: self.max_open_files,
            hard_links_heal_after_bytes: self.hard_links_heal_after_bytes,
        };
        Ok(cfg)
    }
}

/// Parses the command line, runs it, and maps the outcome to an exit status:
/// what `camroll sim` did before it became a separate binary.
pub fn main() -> ExitCode {
    let from_camroll = std::env::args_os()
        .next()
        .is_some_and(|a| a == CAMROLL_SIM_ARG0);
    let args = match SimArgs::try_parse() {
        Ok(a) => a,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_FATAL } else { EXIT_OK };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match run(args) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            let me = if from_camroll {
                "camroll"
            } else {
                "camroll-sim"
            };
            eprintln!("{me}: {e:#}");
            ExitCode::from(EXIT_FATAL)
        }
    }
}

/// Runs the parsed command: serve until SIGINT/SIGTERM, generate, or bench-read.
pub fn run(args: SimArgs) -> anyhow::Result<u8> {
    match args.command {
        Some(SimCommand::Generate(g)) => return generate::run(g),
        Some(SimCommand::BenchRead(b)) => return bench::run(b),
        None => {}
    }
    let cfg = args.serve.config()?;
    let major = cfg
        .ios
        .split('.')
        .next()
        .and_then(|m| m.parse::<u32>().ok());
    if major.is_none_or(|m| m < 10) {
        // libimobiledevice caps TLS at 1.0 below iOS 10, which rustls cannot serve.
        eprintln!(
            "camroll sim: warning: --ios {} is below 10.0; libimobiledevice will ask for TLS 1.0, which the simulator does not speak",
            cfg.ios
        );
    }
    let sim = Simulator::start(cfg)?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "USBMUXD_SOCKET_ADDRESS={}", sim.usbmux_address())?;
        out.flush()?;
    }
    eprintln!(
        "camroll sim: serving {} ({}) over usbmuxd at {}; pymobiledevice3 --usbmux {}; stop with Ctrl-C",
        sim.name(),
        sim.udid(),
        sim.usbmux_address(),
        sim.usbmux_address().plain()
    );
    // Serve until killed; on SIGINT/SIGTERM stop cleanly so a UNIX socket file is removed.
    // SIGUSR1 pulls the cable and SIGUSR2 plugs it back in (scripts and tests drive
    // plug-in cycles with `kill -USR1`/`-USR2`).
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        let mut usr1 = signal(SignalKind::user_defined1())?;
        let mut usr2 = signal(SignalKind::user_defined2())?;
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => break,
                _ = term.recv() => break,
                _ = usr1.recv() => {
                    eprintln!("camroll sim: cable pulled (SIGUSR1)");
                    sim.unplug();
                }
                _ = usr2.recv() => {
                    eprintln!("camroll sim: cable plugged in (SIGUSR2)");
                    sim.plug();
                }
            }
        }
        anyhow::Ok(())
    })?;
    sim.stop();
    Ok(EXIT_OK)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory;
        super::SimArgs::command().debug_assert();
    }
}
