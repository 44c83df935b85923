//! camroll: get every original photo and video off an iPhone (or out of a folder)
//! into one or more archives you control, and prove those archives are complete.
//!
//! The pipeline is visible in the module layout:
//! a [`source`] (a folder, or the iPhone over AFC) yields items →
//! [`ingest`] streams, hashes and identifies them ([`media`] sniffs kinds and capture times) →
//! [`archive`] places, records and lists them →
//! [`verify`] reads them back.
//! [`sim_process`] runs the simulated iPhone (the `camroll-sim` program of the
//! crates/camroll-sim workspace member) for `camroll sim` and `camroll demo`.

pub mod archive;
pub mod check;
pub mod cli;
pub mod demo;
pub mod error;
pub mod export;
pub mod html_report;
pub mod ingest;
pub mod media;
pub mod progress;
pub mod rebuild;
pub mod report;
pub mod sim_process;
pub mod source;
pub mod sync;
pub mod verify;
