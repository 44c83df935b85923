//! `camroll config show`: the effective settings and where each came from
//! (a flag, the config file, or camroll's default).

use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde::Serialize;

use crate::cli::args::{JobsArg, JsonArg, TimezoneArg};
use crate::cli::settings::{self, pick, Origin};
use crate::cli::{print_json, EXIT_OK};
use camroll::config::{self, Phone};

/// `camroll config …`
#[derive(Debug, Args)]
pub struct ConfigArgs {
    #[command(subcommand)]
    pub command: ConfigCommand,
}

/// What `camroll config` does.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the effective settings and where each came from; give flags to see how they override the file.
    Show(ShowArgs),
    /// Print the path of the config file in use (or where one would be read from).
    Path,
}

/// `camroll config show`
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// An archive, as export's --to would give it (repeatable).
    #[arg(long = "to", value_name = "ARCHIVE")]
    pub to: Vec<PathBuf>,
    #[command(flatten)]
    pub timezone: TimezoneArg,
    #[command(flatten)]
    pub jobs: JobsArg,
    #[command(flatten)]
    pub format: JsonArg,
}

#[derive(Serialize)]
struct Setting<T: Serialize> {
    value: T,
    from: Origin,
}

#[derive(Serialize)]
struct Shown<'a> {
    config_file: Option<PathBuf>,
    config_file_exists: bool,
    archives: Setting<Vec<PathBuf>>,
    timezone: Setting<String>,
    jobs: Setting<usize>,
    sidecars: Setting<Option<String>>,
    phones: &'a std::collections::BTreeMap<String, Phone>,
}

/// Exit 0; a bad config file is an error (exit 2) naming its line.
pub fn run(a: ConfigArgs) -> anyhow::Result<u8> {
    let a = match a.command {
        ConfigCommand::Path => {
            println!("{}", config::location()?.display());
            return Ok(EXIT_OK);
        }
        ConfigCommand::Show(s) => s,
    };
    let cfg = settings::load()?;
    let to = (!a.to.is_empty()).then_some(a.to);
    let file_archives = (!cfg.archives.is_empty()).then(|| cfg.archives.clone());
    let (archives, archives_from) = pick(to, file_archives);
    let (tz, tz_from) = pick(a.timezone.timezone, cfg.timezone);
    let (jobs, jobs_from) = pick(a.jobs.jobs, cfg.jobs);
    let machine_zone = chrono::Local::now().format("%:z").to_string();
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let shown = Shown {
        config_file: config::location().ok(),
        config_file_exists: cfg.path.is_some(),
        archives: Setting {
            value: archives.unwrap_or_default(),
            from: archives_from,
        },
        timezone: Setting {
            value: tz.map_or(format!("this machine's zone ({machine_zone})"), |z| {
                z.to_string()
            }),
            from: tz_from,
        },
        jobs: Setting {
            value: jobs.unwrap_or(cpus),
            from: jobs_from,
        },
        sidecars: Setting {
            value: cfg.sidecars.clone(),
            from: if cfg.sidecars.is_some() {
                Origin::ConfigFile
            } else {
                Origin::Default
            },
        },
        phones: &cfg.phones,
    };
    if a.format.json {
        print_json(&shown)?;
        return Ok(EXIT_OK);
    }
    match (&shown.config_file, shown.config_file_exists) {
        (Some(p), true) => println!("config file: {}", p.display()),
        (Some(p), false) => println!(
            "config file: {} (none there: built-in defaults)",
            p.display()
        ),
        (None, _) => println!("config file: none (no HOME)"),
    }
    let archives = if shown.archives.value.is_empty() {
        "(none: give them on the command line)".to_string()
    } else {
        let v: Vec<String> = shown
            .archives
            .value
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        v.join(", ")
    };
    let line = |k: &str, v: &str, o: Origin| println!("{k:<10} {v}  [{}]", o.text(&cfg));
    line("archives", &archives, shown.archives.from);
    line("timezone", &shown.timezone.value, shown.timezone.from);
    let jobs = match shown.jobs.from {
        Origin::Default => format!("{} (the number of CPUs)", shown.jobs.value),
        _ => shown.jobs.value.to_string(),
    };
    line("jobs", &jobs, shown.jobs.from);
    line(
        "sidecars",
        shown.sidecars.value.as_deref().unwrap_or("(not set)"),
        shown.sidecars.from,
    );
    if cfg.phones.is_empty() {
        println!("phones     (none; enrol one with camroll watch --enroll <UDID or name>)");
    }
    for (udid, p) in &cfg.phones {
        println!(
            "phone      {udid}  {}  {}",
            p.name.as_deref().unwrap_or("(no name)"),
            if p.watch { "watched" } else { "not watched" }
        );
    }
    Ok(EXIT_OK)
}
