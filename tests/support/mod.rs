//! What the integration tests share, by concern. Each test file declares
//! `mod support;` and uses `support::*`; every helper that runs camroll runs
//! the real binary cargo built.
//!
//! - `run`: the binary, its output, JSON, time limits;
//! - `media`: synthetic photos and movies, dates;
//! - `roll`: source folders, the standard roll, what an archive holds;
//! - `sim`: the simulated iPhone;
//! - `s3`: real S3 servers (moto, s3s-fs) on 127.0.0.1;
//! - `tools`: external tools, root, and the one way a test skips.
// Each test binary uses a different part of this module.
#![allow(dead_code, unused_imports)]

pub mod media;
pub mod roll;
pub mod run;
pub mod s3;
pub mod sim;
pub mod tools;

pub use media::*;
pub use roll::*;
pub use run::*;
pub use s3::*;
pub use sim::*;
pub use tools::*;
