//! camroll: get every original photo and video off an iPhone (or out of a folder)
//! into one or more archives you control, and prove those archives are complete.
//!
//! The pipeline is visible in the module layout:
//! a [`source`] (a folder, or the iPhone over AFC) yields items →
//! [`ingest`] streams, hashes and identifies them ([`media`] sniffs kinds and capture times) →
//! [`archive`] places, records and lists them →
//! [`verify`] reads them back.
//! [`sim`] is a simulated iPhone speaking the real wire protocols, for tests and demos.

pub mod archive;
pub mod check;
pub mod cli;
pub mod demo;
pub mod error;
pub mod export;
pub mod html_report;
pub mod ids;
pub mod ingest;
pub mod media;
pub mod progress;
pub mod rebuild;
pub mod report;
pub mod sim;
pub mod source;
pub mod sync;
pub mod synth;
pub mod verify;
