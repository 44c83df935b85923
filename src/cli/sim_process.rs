//! The simulated iPhone as a separate program. The simulator lives in its own crate
//! and binary (`camroll-sim`, crates/camroll-sim) so the `camroll` users install
//! does not link RSA key generation; `camroll sim` and `camroll demo` reach it here,
//! as an executable next to this one (or on `PATH`).

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The simulator's executable.
pub const SIM_BINARY: &str = "camroll-sim";

/// The `argv[0]` camroll-sim is started with: it then names itself `camroll sim` in
/// usage lines and prefixes its errors with `camroll:`, as when it was built in.
const SIM_ARG0: &str = "camroll sim";

/// How long a stopped simulator gets to remove its socket and exit before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// Most of the simulator's stderr kept for error messages.
const STDERR_KEEP: u64 = 64 * 1024;

/// Why the simulator program could not be run.
#[derive(Debug, thiserror::Error)]
pub enum SimProcessError {
    /// No camroll-sim beside this executable or on `PATH`.
    #[error(
        "{SIM_BINARY} (the simulated iPhone) is neither in {folder}, next to camroll, nor on \
         PATH; build the whole workspace (`cargo build` in camroll's repository) or install it \
         with `cargo install --path crates/camroll-sim`"
    )]
    NotFound {
        /// The folder of the running camroll, where it was looked for first.
        folder: String,
    },
    /// Starting or waiting for it failed.
    #[error("{}: {source}", program.display())]
    Run {
        /// The executable.
        program: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// It ran and failed; the message is its own (what it printed on stderr).
    #[error("{0}")]
    Failed(String),
}

/// Finds camroll-sim: beside the running executable (a workspace build or
/// `cargo install` puts both there), else on `PATH`.
pub fn sim_binary() -> Result<PathBuf, SimProcessError> {
    let folder = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(Path::to_path_buf));
    if let Some(p) = folder
        .as_ref()
        .map(|d| d.join(SIM_BINARY))
        .filter(|p| p.is_file())
    {
        return Ok(p);
    }
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    if let Some(p) = on_path
        .into_iter()
        .map(|d| d.join(SIM_BINARY))
        .find(|p| p.is_file())
    {
        return Ok(p);
    }
    Err(SimProcessError::NotFound {
        folder: folder.map_or_else(
            || "camroll's folder".to_string(),
            |d| d.display().to_string(),
        ),
    })
}

/// Replaces this process with `camroll-sim ARGS…`, so its stdout, stderr, exit status
/// and signal handling are the command's own. Returns only when that is impossible.
pub fn exec_sim(args: &[OsString]) -> SimProcessError {
    let program = match sim_binary() {
        Ok(p) => p,
        Err(e) => return e,
    };
    let source = Command::new(&program).arg0(SIM_ARG0).args(args).exec();
    SimProcessError::Run { program, source }
}

/// Writes a camera roll into `out` with `camroll-sim generate` (its summary is not shown).
pub fn generate(out: &Path, items: usize, seed: u64) -> Result<(), SimProcessError> {
    let program = sim_binary()?;
    let output = Command::new(&program)
        .arg0(SIM_ARG0)
        .arg("generate")
        .arg("--out")
        .arg(out)
        .args(["--items", &items.to_string(), "--seed", &seed.to_string()])
        .stdin(Stdio::null())
        .output()
        .map_err(|source| SimProcessError::Run {
            program: program.clone(),
            source,
        })?;
    if output.status.success() {
        Ok(())
    } else {
        Err(failure(&program, &output.stderr, Some(output.status)))
    }
}

/// A running `camroll-sim --media DIR`. Dropping it (or [`SimProcess::stop`]) stops
/// the simulator with SIGTERM and waits for it, on every exit path of the caller.
pub struct SimProcess {
    program: PathBuf,
    child: Child,
    address: String,
    /// Held open: the simulator must not see a closed stdout while it serves.
    _stdout: Option<BufReader<ChildStdout>>,
    stderr: Option<JoinHandle<Vec<u8>>>,
    stopped: bool,
}

impl SimProcess {
    /// Starts a simulated iPhone serving `media` on a free local port and waits for
    /// the usbmuxd address it prints on its first stdout line.
    pub fn spawn(media: &Path) -> Result<SimProcess, SimProcessError> {
        let program = sim_binary()?;
        let mut child = Command::new(&program)
            .arg0(SIM_ARG0)
            .arg("--media")
            .arg(media)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| SimProcessError::Run {
                program: program.clone(),
                source,
            })?;
        // Drained on a thread so a chatty simulator never blocks on a full pipe.
        let stderr = child.stderr.take().map(|e| {
            std::thread::spawn(move || {
                let mut e = e;
                let mut kept = Vec::new();
                let _ = (&mut e).take(STDERR_KEEP).read_to_end(&mut kept);
                let _ = std::io::copy(&mut e, &mut std::io::sink());
                kept
            })
        });
        let stdout = child.stdout.take().map(BufReader::new);
        let mut sim = SimProcess {
            program,
            child,
            address: String::new(),
            _stdout: None,
            stderr,
            stopped: false,
        };
        let mut line = String::new();
        let mut stdout = stdout;
        if let Some(out) = stdout.as_mut() {
            // A read error is reported like an early exit: without the address.
            let _ = out.take(4096).read_line(&mut line);
        }
        match line.trim_end().strip_prefix("USBMUXD_SOCKET_ADDRESS=") {
            Some(a) if !a.is_empty() => {
                sim.address = a.to_string();
                sim._stdout = stdout;
                Ok(sim)
            }
            _ => {
                let (status, stderr) = sim.shutdown();
                Err(failure(&sim.program, &stderr, status))
            }
        }
    }

    /// The `USBMUXD_SOCKET_ADDRESS` value of the simulated usbmuxd (`host:port`).
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Stops the simulator (SIGTERM, then waits; killed if it lingers).
    pub fn stop(mut self) {
        self.shutdown();
    }

    /// Stops the child once; returns its exit status (when known) and stderr.
    fn shutdown(&mut self) -> (Option<ExitStatus>, Vec<u8>) {
        let mut status = None;
        if !self.stopped {
            self.stopped = true;
            status = self.terminate();
        }
        let stderr = self
            .stderr
            .take()
            .and_then(|t| t.join().ok())
            .unwrap_or_default();
        (status, stderr)
    }

    fn terminate(&mut self) -> Option<ExitStatus> {
        if let Ok(Some(s)) = self.child.try_wait() {
            return Some(s);
        }
        match libc::pid_t::try_from(self.child.id()) {
            // SAFETY: kill(2) on our own child, which has not been waited for yet, so its
            // pid cannot have been reused.
            Ok(pid) => unsafe {
                libc::kill(pid, libc::SIGTERM);
            },
            Err(_) => {
                let _ = self.child.kill();
            }
        }
        let deadline = Instant::now() + STOP_GRACE;
        while Instant::now() < deadline {
            match self.child.try_wait() {
                Ok(Some(s)) => return Some(s),
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                Err(_) => break,
            }
        }
        let _ = self.child.kill();
        self.child.wait().ok()
    }
}

impl Drop for SimProcess {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The simulator's own error message (what it printed, without the `camroll:` it
/// prefixes its errors with), else what is known about how it ended.
fn failure(program: &Path, stderr: &[u8], status: Option<ExitStatus>) -> SimProcessError {
    let text = String::from_utf8_lossy(stderr);
    let text = text.trim();
    if !text.is_empty() {
        return SimProcessError::Failed(text.strip_prefix("camroll: ").unwrap_or(text).to_string());
    }
    SimProcessError::Failed(match status {
        Some(s) => format!("{}: ended ({s}) without starting", program.display()),
        None => format!("{}: did not print its usbmuxd address", program.display()),
    })
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::ExitStatusExt;
    use std::path::Path;
    use std::process::ExitStatus;

    use super::failure;

    #[test]
    fn the_simulators_own_message_is_passed_on_without_its_prefix() {
        let e = failure(
            Path::new("camroll-sim"),
            b"camroll: /x: already holds a DCIM folder\n",
            Some(ExitStatus::from_raw(2 << 8)),
        );
        assert_eq!(e.to_string(), "/x: already holds a DCIM folder");
    }

    #[test]
    fn a_silent_failure_says_how_it_ended() {
        let e = failure(
            Path::new("/bin/camroll-sim"),
            b"",
            Some(ExitStatus::from_raw(9)),
        );
        assert!(
            e.to_string().starts_with("/bin/camroll-sim: ended ("),
            "{e}"
        );
        let e = failure(Path::new("/bin/camroll-sim"), b"  \n", None);
        assert_eq!(
            e.to_string(),
            "/bin/camroll-sim: did not print its usbmuxd address"
        );
    }
}
