//! The simulated iPhone: usbmuxd + lockdownd (TLS, pairing) + AFC over a media
//! root, and a generator of realistic camera rolls.

use clap::Args;

/// `camroll sim`: serve a simulated iPhone.
#[derive(Debug, Args)]
pub struct SimArgs {}

pub fn run(_args: SimArgs) -> anyhow::Result<u8> {
    anyhow::bail!("the simulated iPhone is not built yet")
}
