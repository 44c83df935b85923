//! Writes the project's fixture camera roll (see docs/fixtures.md):
//!
//!     cargo run --example make_fixtures -- fixtures/camera-roll

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(root) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: make_fixtures <OUTPUT DIR>   (e.g. fixtures/camera-roll)");
        return ExitCode::from(2);
    };
    match camroll_sim::synth::roll::write_roll(&root) {
        Ok(files) => {
            let bytes: usize = files.iter().map(|f| f.bytes.len()).sum();
            println!(
                "wrote {} files ({bytes} bytes) under {}",
                files.len(),
                root.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("make_fixtures: {e}");
            ExitCode::FAILURE
        }
    }
}
