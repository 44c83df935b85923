//! Shared helpers for the simulator's integration tests: start the real `camroll sim`
//! binary, run external tools with a time limit, and skip (or fail, under
//! CAMROLL_REQUIRE_TOOLS=1) when a tool is missing.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_camroll");

/// A running `camroll sim` child process, killed on drop.
pub struct SimProc {
    child: Child,
    /// The `USBMUXD_SOCKET_ADDRESS` value it printed.
    pub addr: String,
    pub udid: String,
}

impl SimProc {
    /// Starts `camroll sim --media <media> <extra…>` and reads its first stdout line.
    pub fn start(media: &Path, extra: &[&str]) -> SimProc {
        let mut child = Command::new(BIN)
            .arg("sim")
            .arg("--media")
            .arg(media)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("camroll binary starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let mut r = BufReader::new(stdout);
            let _ = r.read_line(&mut line);
            let _ = tx.send(line);
            // Keep draining so the child never blocks on a full pipe.
            let mut sink = Vec::new();
            let _ = r.read_to_end(&mut sink);
        });
        let line = match rx.recv_timeout(Duration::from_secs(120)) {
            Ok(l) => l,
            Err(_) => {
                let _ = child.kill();
                panic!("camroll sim printed no address within 120 s");
            }
        };
        let Some(addr) = line.trim().strip_prefix("USBMUXD_SOCKET_ADDRESS=") else {
            let _ = child.kill();
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            panic!("unexpected first line {line:?}; stderr: {err}");
        };
        let addr = addr.to_string();
        // The UDID is in the identity file written before the address is printed.
        let udid = std::fs::read_dir(media.join(".sim"))
            .expect(".sim exists")
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .find(|n| n.starts_with("0000") && n.ends_with(".plist"))
            .map(|n| n.trim_end_matches(".plist").to_string())
            .expect("pair record file named by UDID");
        SimProc { child, addr, udid }
    }

    /// The address as pymobiledevice3 and the idevice crate want it (no `UNIX:` prefix).
    pub fn plain_addr(&self) -> String {
        self.addr
            .strip_prefix("UNIX:")
            .unwrap_or(&self.addr)
            .to_string()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for SimProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A small media root: DCIM/100APPLE with a 3 MB "photo", a video, a PNG, and PhotoData.
pub fn media_fixture() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().join("DCIM/100APPLE");
    std::fs::create_dir_all(&d).expect("mkdir");
    std::fs::create_dir_all(dir.path().join("PhotoData")).expect("mkdir");
    std::fs::write(d.join("IMG_0001.JPG"), pattern(3_000_000, 1)).expect("write");
    std::fs::write(d.join("IMG_0002.MOV"), pattern(1_500_000, 2)).expect("write");
    std::fs::write(d.join("IMG_0003.PNG"), pattern(1000, 3)).expect("write");
    std::fs::write(dir.path().join("PhotoData/Photos.sqlite"), b"not really").expect("write");
    dir
}

/// Deterministic, incompressible-looking bytes.
pub fn pattern(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

pub fn require_tools() -> bool {
    std::env::var("CAMROLL_REQUIRE_TOOLS").is_ok_and(|v| v == "1")
}

/// Finds an external tool on PATH; None (test skipped) when absent, unless tools are required.
pub fn tool(name: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join(name))
            .find(|c| c.is_file())
    });
    if found.is_none() {
        skip_or_fail(name, "install libimobiledevice-utils (scripts/setup test)");
    }
    found
}

/// pymobiledevice3 from CAMROLL_PYMOBILEDEVICE3, the scripts/setup venv, or PATH.
pub fn pymobiledevice3() -> Option<PathBuf> {
    let mut cands = Vec::new();
    if let Some(p) = std::env::var_os("CAMROLL_PYMOBILEDEVICE3") {
        cands.push(PathBuf::from(p));
    }
    if let Some(h) = std::env::var_os("HOME") {
        cands.push(PathBuf::from(h).join(".cache/camroll/venv/bin/pymobiledevice3"));
    }
    if let Some(p) = std::env::var_os("PATH") {
        cands.extend(std::env::split_paths(&p).map(|d| d.join("pymobiledevice3")));
    }
    let found = cands.into_iter().find(|c| c.is_file());
    if found.is_none() {
        skip_or_fail(
            "pymobiledevice3",
            "run scripts/setup test (a venv with pymobiledevice3)",
        );
    }
    found
}

fn skip_or_fail(name: &str, how: &str) {
    if require_tools() {
        panic!("{name} is required (CAMROLL_REQUIRE_TOOLS=1) but not found: {how}");
    }
    eprintln!("SKIPPED: {name} not found; {how}");
}

/// Runs a command with a time limit; panics (after killing it) when exceeded.
pub fn run(cmd: &mut Command, limit: Duration) -> Output {
    let (out, timed_out) = run_for(cmd, limit);
    assert!(
        !timed_out,
        "{cmd:?} did not finish within {limit:?}\n{}",
        text(&out)
    );
    out
}

/// Runs a command for at most `limit`; returns its output and whether it had to be killed.
pub fn run_for(cmd: &mut Command, limit: Duration) -> (Output, bool) {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("tool starts");
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let t_out = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let t_err = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let start = Instant::now();
    let mut timed_out = false;
    let status = loop {
        if let Ok(Some(s)) = child.try_wait() {
            break s;
        }
        if start.elapsed() > limit {
            timed_out = true;
            let _ = child.kill();
            break child.wait().expect("wait");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = Output {
        status,
        stdout: t_out.join().unwrap_or_default(),
        stderr: t_err.join().unwrap_or_default(),
    };
    (out, timed_out)
}

pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A tokio runtime for tests that drive the `idevice` crate.
pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// The `idevice` crate's view of a usbmuxd address string (`host:port` or a socket path).
pub fn idevice_addr(plain: &str) -> idevice::usbmuxd::UsbmuxdAddr {
    match plain.parse::<std::net::SocketAddr>() {
        Ok(a) => idevice::usbmuxd::UsbmuxdAddr::TcpSocket(a),
        Err(_) => idevice::usbmuxd::UsbmuxdAddr::UnixSocket(plain.to_string()),
    }
}

/// Connects to the simulator's usbmuxd and returns a provider for its only device.
pub async fn provider(plain: &str) -> idevice::provider::UsbmuxdProvider {
    let addr = idevice_addr(plain);
    let mut mux = addr.connect(1).await.expect("usbmuxd connection");
    let devs = mux.get_devices().await.expect("ListDevices");
    assert_eq!(devs.len(), 1, "one simulated phone");
    devs[0].to_provider(addr, "camroll-test")
}

/// Bounds an async test step in time.
pub async fn within<T>(secs: u64, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), f)
        .await
        .expect("step finished in time")
}

/// Opens, reads (1 MiB requests) and closes a file with raw AFC operations, so a
/// connection dropped mid-way is just an error (the crate's file type asserts on that).
pub async fn afc_read_raw(
    afc: &mut idevice::afc::AfcClient,
    path: &str,
) -> Result<Vec<u8>, idevice::IdeviceError> {
    use idevice::afc::opcode::AfcOpcode;
    let mut hp = 1u64.to_le_bytes().to_vec();
    hp.extend_from_slice(path.as_bytes());
    let res = afc.send_op(AfcOpcode::FileOpen, hp, vec![]).await?;
    let handle = u64::from_le_bytes(res.header_payload[..8].try_into().expect("8 bytes"));
    let mut out = Vec::new();
    let result = loop {
        let mut hp = handle.to_le_bytes().to_vec();
        hp.extend_from_slice(&(1u64 << 20).to_le_bytes());
        match afc.send_op(AfcOpcode::Read, hp, vec![]).await {
            Ok(p) if p.payload.is_empty() => break Ok(()),
            Ok(p) => out.extend_from_slice(&p.payload),
            Err(e) => break Err(e),
        }
    };
    let closed = afc
        .send_op(AfcOpcode::FileClose, handle.to_le_bytes().to_vec(), vec![])
        .await;
    result?;
    closed?;
    Ok(out)
}
