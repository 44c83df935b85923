//! `camroll sim`: the simulated iPhone.

pub use camroll::sim::SimArgs;

/// Serves (or generates) a simulated iPhone.
pub fn run(a: SimArgs) -> anyhow::Result<u8> {
    camroll::sim::run(a)
}
