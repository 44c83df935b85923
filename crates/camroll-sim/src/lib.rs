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

#![warn(missing_docs)]

mod afc;
pub mod bench;
pub mod cli;
mod config;
mod device;
pub mod generate;
pub mod library_meta;
mod link;
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
    /// A file or folder of the media root could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What the OS reported.
        source: std::io::Error,
    },
    /// `--media` is not a folder.
    #[error("{0}: not a directory; --media must be the phone's media folder")]
    NotADirectory(PathBuf),
    /// The phone's identity (keys, certificates) could not be read or made.
    #[error("{path}: {message}")]
    Identity {
        /// The identity file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The TLS configuration with the device certificate could not be built.
    #[error("cannot set up TLS with the device certificate: {0}")]
    Tls(String),
    /// The usbmuxd address could not be listened on.
    #[error("cannot listen on {address}: {source} (is another simulator or usbmuxd using it?)")]
    Bind {
        /// The address.
        address: String,
        /// What the OS reported.
        source: std::io::Error,
    },
    /// An `--io-error` pattern is not a valid glob.
    #[error("--io-error {glob:?} is not a valid glob: {message}")]
    BadGlob {
        /// The pattern.
        glob: String,
        /// What is wrong with it.
        message: String,
    },
    /// The async runtime could not be started.
    #[error("cannot start the simulator's runtime: {0}")]
    Runtime(String),
}
