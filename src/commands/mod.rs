//! One file per subcommand: its flags, the call into the library, the
//! printing (results on stdout, diagnostics on stderr) and the exit status.

pub mod albums;
pub mod check;
pub mod completions;
pub mod config;
pub mod demo;
pub mod devices;
pub mod export;
pub mod inspect;
pub mod man;
pub mod rebuild;
pub mod sim;
pub mod sync;
pub mod verify;
pub mod watch;

/// Caps glibc's malloc arenas at two for this process. glibc gives each
/// thread that allocates its own arena (up to 8 per core), and memory freed
/// in one arena is not reused by another: a phone export's listing, library
/// copy and readers each left their arena's free chunks resident (~18 MiB
/// of a 100,000-asset re-run's peak). An export moves data through buffers
/// it reuses, so shared arenas cost it no measurable time
/// (docs/benchmarks.md, issue 13, goal 4); `verify`, whose many small
/// hashing jobs allocate on every thread at once, ran ~10 % slower with
/// them and keeps glibc's count. Called before the run starts its threads;
/// a `MALLOC_ARENA_MAX` in the environment is left to glibc.
pub fn share_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: a malloc tuning call; it changes no allocation.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
    }
}
