//! `camroll watch`: plug the phone in and it is archived. Also `--enroll`
//! (which phones to archive, written to the config file) and
//! `--print-service` (a systemd user unit or a launchd agent that runs it).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, ValueEnum};

use crate::cli::args::{JobsArg, TimezoneArg, UsbmuxArg};
use crate::cli::{settings, EXIT_OK, EXIT_PARTIAL};
use camroll::config;
use camroll::ops::export::ExportOptions;
use camroll::ops::watch::{self, WatchEvent, WatchOptions};
use camroll::source::device::{list_devices, usbmux_addr};

/// `camroll watch`
#[derive(Debug, Args)]
pub struct WatchArgs {
    /// An archive to file into (repeatable). Default: the config file's `archives`.
    #[arg(long = "to", value_name = "ARCHIVE")]
    pub to: Vec<PathBuf>,
    /// Verified copies each original needs before the phone counts as safe to clear
    /// (default: one per archive).
    #[arg(long, value_name = "N")]
    pub copies: Option<usize>,
    /// Enrol a phone (its UDID, or the name of a connected one) for watching: written to the
    /// config file. Then exit.
    #[arg(long, value_name = "UDID|NAME", conflicts_with_all = ["print_service", "exit_after"])]
    pub enroll: Option<String>,
    /// Print a service definition that runs this watch at login (installs nothing). Then exit.
    #[arg(long, value_enum, value_name = "KIND")]
    pub print_service: Option<ServiceKind>,
    /// Stop after N finished exports (for scripts and tests).
    #[arg(long, value_name = "N")]
    pub exit_after: Option<usize>,
    /// Seconds a job waits for Trust, unlock or a re-plugged phone.
    #[arg(long, value_name = "SECS", default_value_t = 180)]
    pub wait: u64,
    #[command(flatten)]
    pub usbmux: UsbmuxArg,
    #[command(flatten)]
    pub timezone: TimezoneArg,
    #[command(flatten)]
    pub jobs: JobsArg,
    /// Print every event as one JSON object per line on stdout (results included).
    #[arg(long)]
    pub json: bool,
}

/// Which service manager to print a definition for.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ServiceKind {
    /// A systemd user unit (Linux).
    Systemd,
    /// A launchd agent (macOS).
    Launchd,
}

/// Exit 0 when every export finished archived and safe, 1 otherwise.
pub fn run(a: WatchArgs) -> anyhow::Result<u8> {
    if let Some(who) = &a.enroll {
        return enroll(who, &a.usbmux);
    }
    if let Some(kind) = a.print_service {
        print!("{}", service(kind, &a)?);
        return Ok(EXIT_OK);
    }
    super::share_malloc_arenas();
    let cfg = settings::load()?;
    let destinations = settings::archives(a.to, &cfg, "add --to <ARCHIVE>")?;
    let enrolled = cfg.watched();
    if enrolled.is_empty() {
        eprintln!(
            "camroll watch: no phone is enrolled, so every phone will be ignored. Enrol one with \
             camroll watch --enroll <UDID or name> (see camroll devices)"
        );
    }
    let copies = a.copies.unwrap_or(destinations.len()).max(1);
    let opts = WatchOptions {
        usbmux: a.usbmux.usbmux.clone(),
        enrolled,
        names: cfg
            .phones
            .iter()
            .filter_map(|(u, p)| p.name.clone().map(|n| (u.clone(), n)))
            .collect::<HashMap<_, _>>(),
        export: ExportOptions {
            destinations,
            dry_run: false,
            verify: true,
            timezone: a.timezone.timezone.or(cfg.timezone),
            jobs: a.jobs.jobs.or(cfg.jobs),
            // Sidecars as the library allows (XMP from a phone's library).
            ..ExportOptions::default()
        },
        copies,
        wait: Duration::from_secs(a.wait),
        exit_after: a.exit_after,
        cache_dir: None,
    };
    let json = a.json;
    let progress: Arc<dyn camroll::progress::Progress> = Arc::new(camroll::progress::PlainProgress);
    let summary = watch::watch(&opts, progress, &mut |ev| report(&ev, json))?;
    Ok(if summary.not_ok == 0 {
        EXIT_OK
    } else {
        EXIT_PARTIAL
    })
}

/// Results on stdout (one line each, timestamped); the rest on stderr.
fn report(ev: &WatchEvent, json: bool) {
    if json {
        if let Ok(s) = serde_json::to_string(ev) {
            println!("{s}");
        }
        return;
    }
    let now = chrono::Local::now().format("%Y-%m-%d %H:%M:%S");
    match ev {
        WatchEvent::Finished(r) => println!("{now} {}", r.line()),
        WatchEvent::Listening { usbmux } => {
            eprintln!("camroll watch: listening to usbmuxd at {usbmux}; plug in an enrolled iPhone")
        }
        WatchEvent::UsbmuxUnavailable { error, retry_in_secs } => {
            eprintln!("camroll watch: {error}; trying again in {retry_in_secs} s")
        }
        WatchEvent::Ignored { udid, name } => eprintln!(
            "camroll watch: ignoring {} ({udid}): not enrolled. To archive it when plugged in: camroll watch --enroll {udid}",
            name.as_deref().unwrap_or("a phone")
        ),
        WatchEvent::Started { udid, connection } => {
            eprintln!("camroll watch: {udid} attached ({connection}): exporting")
        }
        WatchEvent::AlreadyRunning { udid } => {
            eprintln!("camroll watch: {udid} attached again while its export runs: nothing more started")
        }
        WatchEvent::Left { udid } => eprintln!("camroll watch: {udid} left"),
    }
}

/// `--enroll`: by UDID, or by the name of a connected phone.
fn enroll(who: &str, usbmux: &UsbmuxArg) -> anyhow::Result<u8> {
    let path = config::location()?;
    let connected = usbmux_addr(usbmux.usbmux.as_deref())
        .ok()
        .and_then(|a| list_devices(&a).ok())
        .unwrap_or_default();
    let norm = |s: &str| s.replace('-', "").to_ascii_lowercase();
    let found = connected
        .iter()
        .find(|p| norm(&p.udid) == norm(who) || p.name.eq_ignore_ascii_case(who));
    let (udid, name) = match found {
        Some(p) => (p.udid.clone(), Some(p.name.clone())),
        None if looks_like_udid(who) => (who.to_string(), None),
        None => anyhow::bail!(
            "no connected iPhone is named {who:?}. Connect it (see camroll devices), or give its UDID"
        ),
    };
    config::enroll(&path, &udid, name.as_deref())?;
    println!(
        "Enrolled {}{udid} in {}: camroll watch archives it whenever it is plugged in.",
        name.map(|n| format!("{n} ")).unwrap_or_default(),
        path.display()
    );
    Ok(EXIT_OK)
}

/// iPhone UDIDs: 40 hex digits, or 8-16 hex digits joined by a hyphen.
fn looks_like_udid(s: &str) -> bool {
    let hex = s.replace('-', "");
    (24..=40).contains(&hex.len())
        && hex.chars().all(|c| c.is_ascii_hexdigit())
        && s.matches('-').count() <= 1
}

/// The command line the service runs: this very executable, `watch`, and the flags given.
fn service_argv(a: &WatchArgs) -> anyhow::Result<Vec<String>> {
    let exe = std::env::current_exe().context("finding the camroll executable")?;
    let mut argv = vec![exe.display().to_string(), "watch".into()];
    for t in &a.to {
        let abs = std::path::absolute(t).unwrap_or_else(|_| t.clone());
        argv.extend(["--to".into(), abs.display().to_string()]);
    }
    if let Some(u) = &a.usbmux.usbmux {
        argv.extend(["--usbmux".into(), u.clone()]);
    }
    if let Some(c) = a.copies {
        argv.extend(["--copies".into(), c.to_string()]);
    }
    if let Some(tz) = a.timezone.timezone {
        argv.extend(["--timezone".into(), tz.to_string()]);
    }
    Ok(argv)
}

/// systemd's ExecStart quoting: double quotes, with `\` and `"` escaped and
/// `%` / `$` doubled (specifiers and variables would be expanded otherwise).
fn systemd_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '\\' | '"' => {
                out.push('\\');
                out.push(c);
            }
            '%' => out.push_str("%%"),
            '$' => out.push_str("$$"),
            _ => out.push(c),
        }
    }
    out.push('"');
    out
}

fn service(kind: ServiceKind, a: &WatchArgs) -> anyhow::Result<String> {
    let argv = service_argv(a)?;
    Ok(match kind {
        ServiceKind::Systemd => {
            let exec: Vec<String> = argv.iter().map(|s| systemd_quote(s)).collect();
            format!(
                "# camroll watch as a systemd user service. Install and start it with:\n\
                 #   mkdir -p ~/.config/systemd/user\n\
                 #   camroll watch --print-service systemd > ~/.config/systemd/user/camroll-watch.service\n\
                 #   systemctl --user daemon-reload && systemctl --user enable --now camroll-watch.service\n\
                 # Results: journalctl --user -u camroll-watch. To run it without being logged in:\n\
                 #   loginctl enable-linger $USER\n\
                 [Unit]\n\
                 Description=camroll watch: archive enrolled iPhones when they are plugged in\n\
                 \n\
                 [Service]\n\
                 ExecStart={}\n\
                 Restart=on-failure\n\
                 RestartSec=10\n\
                 \n\
                 [Install]\n\
                 WantedBy=default.target\n",
                exec.join(" ")
            )
        }
        ServiceKind::Launchd => {
            use plist::Value;
            let home = std::env::var("HOME").unwrap_or_else(|_| "/tmp".into());
            let log = format!("{home}/Library/Logs/camroll-watch.log");
            let mut d = plist::Dictionary::new();
            d.insert("Label".into(), Value::String("org.camroll.watch".into()));
            d.insert(
                "ProgramArguments".into(),
                Value::Array(argv.into_iter().map(Value::String).collect()),
            );
            d.insert("RunAtLoad".into(), Value::Boolean(true));
            d.insert("KeepAlive".into(), Value::Boolean(true));
            d.insert("StandardOutPath".into(), Value::String(log.clone()));
            d.insert("StandardErrorPath".into(), Value::String(log));
            let mut xml = Vec::new();
            plist::to_writer_xml(&mut xml, &Value::Dictionary(d))?;
            let mut s = String::from_utf8(xml)?;
            s.push('\n');
            let note = "<!-- camroll watch as a launchd agent. Install and start it with:\n     \
                 camroll watch --print-service launchd > ~/Library/LaunchAgents/org.camroll.watch.plist\n     \
                 launchctl bootstrap gui/$(id -u) ~/Library/LaunchAgents/org.camroll.watch.plist\n     \
                 Results: ~/Library/Logs/camroll-watch.log -->\n";
            // The comment goes after the XML declaration, which must come first.
            match s.find("?>\n") {
                Some(i) => s.insert_str(i + 3, note),
                None => s.insert_str(0, note),
            }
            s
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn systemd_arguments_are_quoted() {
        assert_eq!(
            systemd_quote("/a b/100%$x\"\\"),
            "\"/a b/100%%$$x\\\"\\\\\""
        );
    }

    #[test]
    fn udids_are_told_from_names() {
        assert!(looks_like_udid("00008030-001A2B3C4D5E6F70"));
        assert!(looks_like_udid(&"a".repeat(40)));
        assert!(!looks_like_udid("Anna's iPhone"));
    }
}
