//! The simulated iPhone: start the real `camroll sim` binary, generate a
//! phone-like media root, run camroll against it, and drive it with the
//! `idevice` crate.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use super::media::pattern;
use super::run::*;

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

/// `camroll sim generate --out <dir>/media --items N --seed S`; returns the media root.
pub fn generate(dir: &Path, items: usize, seed: u64) -> PathBuf {
    let media = dir.join("media");
    generate_with(&media, items, seed, &[]);
    media
}

/// Bytes of every file under the phone's `DCIM` (to pull the cable half-way).
pub fn dcim_bytes(media: &Path) -> u64 {
    walkdir::WalkDir::new(media.join("DCIM"))
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
        .map(|e| e.metadata().unwrap().len())
        .sum()
}

/// `camroll sim generate --out <media> --items N --seed S <extra…>` (a layout,
/// a cloud-only shape…); fails the test when it fails.
pub fn generate_with(media: &Path, items: usize, seed: u64, extra: &[&str]) {
    let (items, seed) = (items.to_string(), seed.to_string());
    let mut args = vec![
        "sim",
        "generate",
        "--out",
        media.to_str().unwrap(),
        "--items",
        &items,
        "--seed",
        &seed,
    ];
    args.extend_from_slice(extra);
    let (code, _, err) = run(&args);
    assert_eq!(code, 0, "{err}");
}

/// The generator's `.sim/manifest.json` under a media root.
pub fn manifest(media: &Path) -> serde_json::Value {
    let f = std::fs::read(media.join(".sim/manifest.json")).expect("manifest");
    serde_json::from_slice(&f).expect("manifest JSON")
}

/// The manifest's assets.
pub fn assets(media: &Path) -> Vec<serde_json::Value> {
    manifest(media)["assets"].as_array().unwrap().clone()
}

/// A DCIM photo with no Live Photo movie or sidecar (those would wait for
/// it), for the fault flags that name one file.
pub fn lone_dcim_photo(media: &Path) -> String {
    assets(media)
        .iter()
        .filter(|a| a["files"].as_array().unwrap().len() == 1)
        .find_map(|a| {
            a["path"]
                .as_str()
                .filter(|p| p.starts_with("DCIM/"))
                .map(str::to_string)
        })
        .unwrap()
}

/// The `uuid` of every entry of a JSON array (library assets in camroll's answers).
pub fn uuids(v: &serde_json::Value) -> HashSet<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|a| a["uuid"].as_str().unwrap().to_string())
        .collect()
}

/// The uuids of the manifest's assets whose `flag` is true (`cloud_only`, `trashed`…).
pub fn asset_uuids(assets: &[serde_json::Value], flag: &str) -> HashSet<String> {
    assets
        .iter()
        .filter(|a| a[flag] == true)
        .map(|a| a["uuid"].as_str().unwrap().to_string())
        .collect()
}

/// camroll talking to the usbmuxd at `addr`, with its cache (device ids, pairing) under `cache`.
pub fn device_camroll(addr: &str, cache: &Path) -> Command {
    let mut cmd = camroll();
    cmd.env("USBMUXD_SOCKET_ADDRESS", addr)
        .env("XDG_CACHE_HOME", cache);
    cmd
}

/// Runs `camroll export --json --from device --to d… extra…` against the usbmuxd at `addr`.
pub fn export_device(
    addr: &str,
    cache: &Path,
    dests: &[&Path],
    extra: &[&str],
) -> (i32, serde_json::Value, String) {
    let mut cmd = device_camroll(addr, cache);
    cmd.args(["export", "--json", "--from", "device"]);
    for d in dests {
        cmd.arg("--to").arg(d);
    }
    output_json(cmd.args(extra))
}

/// `camroll <args> --json` talking to the simulator.
pub fn with_sim(sim: &SimProc, cache: &Path, args: &[&str]) -> (i32, serde_json::Value, String) {
    output_json(device_camroll(&sim.addr, cache).args(args).arg("--json"))
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
