//! The `camroll` binary: the command layer over the `camroll` library.
//!
//! [`cli`] parses the command line (flags shared by several commands are
//! defined once there); [`commands`] holds one file per subcommand with its
//! own flags, the call into the library's operations, the printing and the
//! exit status. Nothing below this layer parses arguments or prints results.

mod cli;
mod commands;

fn main() -> std::process::ExitCode {
    // Like other Unix tools, end quietly when the reader of our output goes
    // away (`camroll … | head`) instead of failing to print.
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    // glibc gives each thread that allocates its own arena (up to 8 per
    // core), and memory freed in one arena is not reused by another: a phone
    // export's listing, library copy and readers each left their arena's
    // free chunks resident (~20 MiB at 100,000 assets). Camroll's threads
    // move data through buffers they reuse, so a few shared arenas cost no
    // measurable time (docs/benchmarks.md, issue 13, goal 4). A
    // MALLOC_ARENA_MAX the user set is left to glibc.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: a malloc tuning call before any thread starts; it changes no allocation.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
    }
    cli::main()
}
