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
    cli::main()
}
