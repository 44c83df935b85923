//! `camroll devices`: the connected iPhones.

use clap::Args;

use crate::cli::args::{JsonArg, UsbmuxArg};
use crate::cli::{print_json, EXIT_OK};
use camroll::source::device::{list_devices, usbmux_addr};

/// `camroll devices`
#[derive(Debug, Args)]
pub struct DevicesArgs {
    #[command(flatten)]
    pub usbmux: UsbmuxArg,
    #[command(flatten)]
    pub format: JsonArg,
}

/// Lists the phones usbmuxd knows; exit 0 even when there are none.
pub fn run(a: DevicesArgs) -> anyhow::Result<u8> {
    let addr = usbmux_addr(a.usbmux.usbmux.as_deref())?;
    let phones = list_devices(&addr)?;
    if a.format.json {
        print_json(&serde_json::json!({ "devices": phones }))?;
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
