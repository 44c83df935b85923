//! The simulated iPhone: usbmuxd + lockdownd (TLS, pairing) + AFC over a media
//! root, a generator of realistic camera rolls, and the synthetic-media writers
//! ([`synth`]) behind both.
//!
//! Real clients (libimobiledevice, pymobiledevice3, the `idevice` crate) talk to it
//! unmodified; every wire detail follows `docs/simulator.md`. It is a crate of its
//! own so the `camroll` binary users install does not link RSA key generation:
//! `camroll sim` and `camroll demo` run the `camroll-sim` binary instead. Embed it with
//! [`Simulator::start`]:
//!
//! ```no_run
//! let sim = camroll_sim::Simulator::start(camroll_sim::SimConfig::new("/tmp/roll"))?;
//! println!("USBMUXD_SOCKET_ADDRESS={}", sim.usbmux_address());
//! sim.stop();
//! # Ok::<(), camroll_sim::SimError>(())
//! ```

mod afc;
pub mod bench;
pub mod cli;
mod config;
mod device;
pub mod generate;
mod lockdown;
mod pairing;
mod server;
pub mod synth;
mod usbmux;

use std::path::PathBuf;

pub use config::{Attach, Faults, Listen, SimConfig};
pub use pairing::Identity;
pub use server::{Simulator, UsbmuxAddress};

/// Why the simulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}: not a directory; --media must be the phone's media folder")]
    NotADirectory(PathBuf),
    #[error("{path}: {message}")]
    Identity { path: PathBuf, message: String },
    #[error("cannot set up TLS with the device certificate: {0}")]
    Tls(String),
    #[error("cannot listen on {address}: {source} (is another simulator or usbmuxd using it?)")]
    Bind {
        address: String,
        source: std::io::Error,
    },
    #[error("--io-error {glob:?} is not a valid glob: {message}")]
    BadGlob { glob: String, message: String },
    #[error("cannot start the simulator's runtime: {0}")]
    Runtime(String),
}
