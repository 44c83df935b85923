//! `camroll sim ARGS…`: the simulated iPhone. Everything after `sim`,
//! `--help` included, goes untouched to the `camroll-sim` program (a crate
//! of its own, so the binary users install does not carry the simulator).

use clap::Args;

use crate::cli::sim_process;

/// `camroll sim ARGS…`
#[derive(Debug, Args)]
pub struct SimArgs {
    /// camroll-sim's arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0..)]
    pub args: Vec<std::ffi::OsString>,
}

/// Replaces this process with camroll-sim; returns only when that fails.
pub fn run(a: SimArgs) -> anyhow::Result<u8> {
    Err(sim_process::exec_sim(&a.args).into())
}
