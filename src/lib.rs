//! camroll: get every original photo and video off an iPhone (or out of a folder)
//! into one or more archives you control, and prove those archives are complete.
//!
//! The library is layered; dependencies run one way, downwards
//! (`docs/architecture.md`):
//!
//! - [`ops`]: the operations (export in named stages, verify, check, sync,
//!   rebuild). Typed options in, typed summaries out; no argument parsing,
//!   no printing. [`report`] renders their summaries as HTML.
//! - The domain: a [`source`] (a folder, or the iPhone over AFC) lists and
//!   opens items; [`media`] sniffs kinds and reads capture times; [`archive`]
//!   lays out, stages, records and lists files; [`hash`] is the one BLAKE3
//!   reader. [`progress`] and [`faults`] are the hooks they report through.
//!
//! The `camroll` binary (`src/main.rs`, `src/cli/`, `src/commands/`) sits on
//! top. The simulated iPhone is a crate and program of its own
//! (`crates/camroll-sim`), so this library and the binary users install do
//! not carry it.

#![warn(missing_docs)]

pub mod archive;
pub mod config;
pub mod faults;
pub mod hash;
pub mod media;
pub mod ops;
pub mod progress;
pub mod report;
pub mod source;
