//! `camroll sim bench-read` (hidden): the minimal AFC client scripts/bench-sim measures
//! the simulator with. One AFC connection, a depth-first walk, FileRefRead requests of a
//! fixed size; optionally writes the files like a pull. It is the ceiling a device export
//! over this transport can reach.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use idevice::afc::opcode::AfcOpcode;
use idevice::afc::AfcClient;
use idevice::IdeviceService;

/// `camroll-sim bench-read`: read a tree over AFC as fast as possible (the benchmark client of scripts/bench-sim).
#[derive(Debug, Args)]
pub struct BenchReadArgs {
    /// The usbmuxd address: host:port, or a UNIX socket path.
    #[arg(long, value_name = "ADDR")]
    pub usbmux: String,
    /// The folder (or file) on the phone to read.
    #[arg(long, default_value = "/DCIM")]
    pub path: String,
    /// Bytes asked for per FileRefRead, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = 4)]
    pub read_mib: u64,
    /// Also write what is read below this folder (like `pymobiledevice3 afc pull`).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// Runs `bench-read`; returns the exit status.
pub fn run(args: BenchReadArgs) -> anyhow::Result<u8> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let addr = match args.usbmux.parse::<std::net::SocketAddr>() {
            Ok(a) => idevice::usbmuxd::UsbmuxdAddr::TcpSocket(a),
            Err(_) => idevice::usbmuxd::UsbmuxdAddr::UnixSocket(args.usbmux.clone()),
        };
        let mut mux = addr
            .connect(1)
            .await
            .map_err(|e| anyhow::anyhow!("usbmuxd at {}: {e}", args.usbmux))?;
        let devs = mux.get_devices().await.map_err(|e| anyhow::anyhow!("{e}"))?;
        let Some(dev) = devs.first() else {
            anyhow::bail!("no device attached at {}", args.usbmux);
        };
        let provider = dev.to_provider(addr.clone(), "camroll-bench");
        let mut afc = AfcClient::connect(&provider)
            .await
            .map_err(|e| anyhow::anyhow!("AFC: {e}"))?;
        let t = Instant::now();
        let (mut files, mut bytes) = (0u64, 0u64);
        let mut stack = vec![args.path.clone()];
        let chunk = args.read_mib.max(1) << 20;
        while let Some(p) = stack.pop() {
            let info = afc
                .get_file_info_raw(p.clone())
                .await
                .map_err(|e| anyhow::anyhow!("{p}: {e}"))?;
            if info.get("st_ifmt").map(String::as_str) == Some("S_IFDIR") {
                let names = afc
                    .list_dir(p.clone())
                    .await
                    .map_err(|e| anyhow::anyhow!("{p}: {e}"))?;
                for n in names.iter().filter(|n| *n != "." && *n != "..").rev() {
                    stack.push(format!("{}/{n}", p.trim_end_matches('/')));
                }
                continue;
            }
            let mut out = match &args.out {
                Some(dir) => {
                    let dest = dir.join(p.trim_start_matches('/'));
                    if let Some(parent) = dest.parent() {
                        std::fs::create_dir_all(parent)?;
                    }
                    Some(std::io::BufWriter::new(std::fs::File::create(dest)?))
                }
                None => None,
            };
            let mut hp = 1u64.to_le_bytes().to_vec();
            hp.extend_from_slice(p.as_bytes());
            let open = afc
                .send_op(AfcOpcode::FileOpen, hp, Vec::new())
                .await
                .map_err(|e| anyhow::anyhow!("{p}: {e}"))?;
            let Some(h) = open.header_payload.get(..8) else {
                anyhow::bail!("{p}: FileRefOpen reply without a handle");
            };
            let h = h.to_vec();
            loop {
                let mut req = h.clone();
                req.extend_from_slice(&chunk.to_le_bytes());
                let data = afc
                    .send_op(AfcOpcode::Read, req, Vec::new())
                    .await
                    .map_err(|e| anyhow::anyhow!("{p}: {e}"))?;
                if data.payload.is_empty() {
                    break;
                }
                bytes += data.payload.len() as u64;
                if let Some(o) = out.as_mut() {
                    o.write_all(&data.payload)?;
                }
            }
            afc.send_op(AfcOpcode::FileClose, h, Vec::new())
                .await
                .map_err(|e| anyhow::anyhow!("{p}: {e}"))?;
            if let Some(mut o) = out {
                o.flush()?;
            }
            files += 1;
        }
        let secs = t.elapsed().as_secs_f64();
        println!(
            "{{\"files\": {files}, \"bytes\": {bytes}, \"seconds\": {secs:.3}, \"mb_per_s\": {:.1}}}",
            bytes as f64 / 1e6 / secs.max(1e-9)
        );
        Ok(0)
    })
}
