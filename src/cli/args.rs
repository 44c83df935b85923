//! Flags shared by several commands, each defined once and flattened into
//! the commands that take it. Each flag's doc comment is its `--help` text.

use std::path::Path;

use clap::Args;

use camroll::media::date::Zone;

use camroll::source::device::{DeviceOptions, DeviceSource};
use camroll::source::folder::FolderSource;
use camroll::source::Source;

/// `--json`.
#[derive(Debug, Args, Clone, Copy)]
pub struct JsonArg {
    /// Print one JSON object on stdout instead of the human summary.
    #[arg(long)]
    pub json: bool,
}

/// `--json` and `--quiet`: what goes to stdout and whether bars are drawn.
#[derive(Debug, Args, Clone, Copy)]
pub struct OutputArgs {
    #[command(flatten)]
    pub format: JsonArg,
    /// No progress bars.
    #[arg(long, short)]
    pub quiet: bool,
}

impl OutputArgs {
    /// True when stdout carries one JSON object.
    pub fn json(&self) -> bool {
        self.format.json
    }

    /// Progress on stderr: bars on a terminal unless quiet or printing JSON.
    pub fn progress(&self) -> Box<dyn camroll::progress::Progress> {
        super::progress::for_stderr(self.quiet || self.format.json)
    }
}

/// `--report`.
#[derive(Debug, Args, Clone)]
pub struct ReportArg {
    /// Write a self-contained HTML report (counts, months, thumbnails of what was added, problems) to this file.
    #[arg(long, value_name = "FILE.html")]
    pub report: Option<std::path::PathBuf>,
}

/// `--jobs`.
#[derive(Debug, Args, Clone, Copy)]
pub struct JobsArg {
    /// Files read in parallel (default: the number of CPUs; export uses at least 4, as its
    /// readers mostly wait on the disk or the phone).
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,
}

/// `--timezone`, with the one parser of time zones ([`Zone`]'s).
#[derive(Debug, Args, Clone, Copy)]
pub struct TimezoneArg {
    /// Zone for videos that record only UTC and have no still to take the zone from:
    /// `UTC`, `+05:30`, `-0500`, or an IANA name like `Europe/Paris` (resolved for each
    /// capture date, so daylight-saving time is right). Default: the config file's, then
    /// this machine's zone.
    #[arg(long, value_name = "ZONE", allow_hyphen_values = true, value_parser = parse_timezone)]
    pub timezone: Option<Zone>,
}

/// Parses a time zone as people write it (see [`Zone`]'s `FromStr`).
pub fn parse_timezone(s: &str) -> Result<Zone, String> {
    s.parse::<Zone>().map_err(|e| e.to_string())
}

/// `--usbmux`.
#[derive(Debug, Args, Clone)]
pub struct UsbmuxArg {
    /// usbmuxd address: `UNIX:/path/to/socket` or `host:port` (default: $USBMUXD_SOCKET_ADDRESS, then the system's usbmuxd).
    #[arg(long, value_name = "ADDR")]
    pub usbmux: Option<String>,
}

/// How to reach the iPhone (export, check).
#[derive(Debug, Args, Clone)]
pub struct DeviceArgs {
    #[command(flatten)]
    pub usbmux: UsbmuxArg,
    /// Seconds to wait for the iPhone to be trusted, unlocked or plugged back in.
    #[arg(long, value_name = "SECS", default_value_t = 180)]
    pub wait: u64,
    /// Also export edited versions (`IMG_E####`, from the iPhone's edits) next to their originals.
    #[arg(long)]
    pub edited: bool,
}

/// `--from` and the device flags: where the photos come from.
#[derive(Debug, Args, Clone)]
pub struct SourceArgs {
    /// Where the photos come from: `device` (the connected iPhone), `device:<UDID or name>`, or a
    /// folder (an ifuse mount, a copied DCIM, an SD card). Default: the iPhone, when exactly one is connected.
    #[arg(long, value_name = "SOURCE")]
    pub from: Option<String>,
    #[command(flatten)]
    pub device: DeviceArgs,
}

impl SourceArgs {
    /// Opens the source: a folder, or the iPhone (named on stderr). A phone
    /// may be chosen by the name the config file gives it.
    pub fn open(&self, cfg: &camroll::config::Config) -> anyhow::Result<Box<dyn Source>> {
        let select = match self.from.as_deref() {
            None | Some("device") => None,
            Some(s) if s.starts_with("device:") => {
                let wanted = &s["device:".len()..];
                Some(cfg.udid_named(wanted).unwrap_or(wanted).to_string())
            }
            Some(folder) => return Ok(Box::new(FolderSource::new(Path::new(folder))?)),
        };
        let source = DeviceSource::connect(DeviceOptions {
            usbmux: self.device.usbmux.usbmux.clone(),
            select,
            wait: std::time::Duration::from_secs(self.device.wait),
            edited: self.device.edited,
            ..DeviceOptions::default()
        })?;
        eprintln!(
            "camroll: reading {} ({}, iOS {}, {})",
            source.info.name, source.info.model, source.info.ios, source.info.udid
        );
        Ok(Box::new(source))
    }
}

/// Fails with the usual advice when an archive folder the command reads is absent.
pub fn require_archive_dirs<'a>(paths: impl IntoIterator<Item = &'a Path>) -> anyhow::Result<()> {
    for p in paths {
        if !p.is_dir() {
            return Err(camroll::archive::ArchiveError::Missing {
                path: p.to_path_buf(),
            }
            .into());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_timezone;

    #[test]
    fn zones_are_read_as_people_write_them() {
        let secs = |s: &str| {
            let utc = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap();
            parse_timezone(s).unwrap().offset_at(utc)
        };
        assert_eq!(secs("+05:30"), 19800);
        assert_eq!(secs("-0500"), -18000);
        assert_eq!(secs("UTC"), 0);
        assert_eq!(secs("Z"), 0);
        assert_eq!(secs("Asia/Kolkata"), 19800);
        assert!(parse_timezone("Mars/Olympus").is_err());
    }
}
