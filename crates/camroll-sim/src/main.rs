//! The `camroll-sim` binary: a simulated iPhone for tests and demos (`camroll sim` runs it).
fn main() -> std::process::ExitCode {
    // Like camroll, end quietly when the reader of our output goes away.
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    camroll_sim::cli::main()
}
