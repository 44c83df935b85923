//! camroll's metadata readers, compiled from the main crate's own source
//! files (`../src/media/*.rs`) so that fuzzing exercises exactly that code
//! while building only kamadak-exif, chrono and serde (the main crate pulls
//! in libheif's C++, SQLite and tokio, which fuzzing does not need and which
//! would make every instrumented build take many minutes).
//!
//! The modules sit at this crate's root, where `super::` in those files
//! resolves the way `crate::media` does in camroll.

#![allow(dead_code)]

#[path = "../../src/media/bmff.rs"]
pub mod bmff;
#[path = "../../src/media/container.rs"]
pub mod container;
#[path = "../../src/media/date.rs"]
pub mod date;
#[path = "../../src/media/exif_read.rs"]
pub mod exif_read;
#[path = "../../src/media/kind.rs"]
pub mod kind;
#[path = "../../src/media/timefmt.rs"]
pub mod timefmt;
#[path = "../../src/media/xmp.rs"]
pub mod xmp;

/// The device source's AFC codec (bounded replies), fed hostile replies by `afc_replies`.
#[path = "../../src/source/afc_wire.rs"]
pub mod afc_wire;

pub use date::{read_media_info, DateOptions};
pub use kind::{sniff, Kind};

/// The same paths camroll uses (`camroll::media::…`).
pub mod media {
    pub use super::{bmff, date, exif_read, kind, timefmt, xmp};
    pub use super::{read_media_info, sniff, DateOptions, Kind};
}
