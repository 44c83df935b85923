//! `camroll demo`: the whole job with no iPhone. Generates a small, realistic
//! camera roll, serves it as a simulated iPhone (the `camroll-sim` program, over the
//! real usbmuxd / lockdownd / AFC protocols), exports it through the device source,
//! verifies the archive and says where to look.

use std::path::PathBuf;

use clap::Args;

use crate::cli::sim_process::{self, SimProcess};
use crate::cli::{EXIT_OK, EXIT_PARTIAL};
use camroll::ops::export::{self, ExportOptions};
use camroll::ops::verify;
use camroll::source::device::{DeviceOptions, DeviceSource};

/// `camroll demo [ARCHIVE]`
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Archive folder to export into.
    #[arg(default_value = "./camroll-demo/archive")]
    pub archive: PathBuf,
    /// Assets on the simulated iPhone.
    #[arg(long, default_value_t = 60)]
    pub items: usize,
}

/// Exit 0 when the demo archive is complete and verified.
pub fn run(a: DemoArgs) -> anyhow::Result<u8> {
    let base = a
        .archive
        .parent()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    let phone = base.join("simulated-iphone");
    if !phone.join("DCIM").is_dir() {
        eprintln!(
            "camroll demo: writing a camera roll of {} assets into {}",
            a.items,
            phone.display()
        );
        sim_process::generate(&phone, a.items, 1)?;
    }
    let sim = SimProcess::spawn(&phone)?;
    let addr = sim.address().to_string();
    eprintln!("camroll demo: a simulated iPhone is serving it at USBMUXD_SOCKET_ADDRESS={addr}");
    let source = DeviceSource::connect(DeviceOptions {
        usbmux: Some(addr),
        cache_dir: Some(base.join("cache")),
        ..DeviceOptions::default()
    })?;
    eprintln!(
        "camroll demo: exporting from {} ({}, iOS {}) into {}",
        source.info.name,
        source.info.model,
        source.info.ios,
        a.archive.display()
    );
    let progress = crate::cli::progress::for_stderr(false);
    let opts = ExportOptions {
        destinations: vec![a.archive.clone()],
        verify: true,
        ..Default::default()
    };
    let summary = export::export(&source, &opts, progress.as_ref())?;
    print!("{}", camroll::ops::shown_lines(&summary.human()));
    let report = verify::verify_archive(
        &a.archive,
        &verify::VerifyOptions::default(),
        progress.as_ref(),
    );
    print!("{}", camroll::ops::shown_lines(&report.human()));
    sim.stop();
    println!(
        "\nLook inside {}: originals in YYYY/MM folders by local capture time, BLAKE3SUMS \
         (check it without camroll: cd {} && b3sum --check BLAKE3SUMS), and .camroll/catalog.sqlite.\n\
         Run `camroll demo` again: nothing new is copied.",
        a.archive.display(),
        a.archive.display()
    );
    Ok(if summary.is_ok() && report.findings.is_empty() {
        EXIT_OK
    } else {
        EXIT_PARTIAL
    })
}
