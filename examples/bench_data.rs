//! Writes benchmark data sets (never committed):
//!
//! `cargo run --release --example bench_data -- mixed DIR [JPEGS] [VIDEOS] [VIDEO_MIB]`
//!   JPEGs of ~250 KiB with EXIF dates (a real synthetic JPEG padded with
//!   random bytes after its end marker) and a few movies of random content.
//! `… -- tiny DIR COUNT`   COUNT small JPEGs (no-change re-run benchmark).
//! `… -- big FILE MIB`     one movie of MIB MiB of random content (peak RSS).
//! `… -- photos DIR COUNT` COUNT JPEGs of ~60 KiB (ExifTool comparison).

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::Path;

use camroll_sim::synth::{self, StillSpec, VideoSpec};
use chrono::{FixedOffset, NaiveDate, TimeZone};

/// splitmix64: fast reproducible filler (content must not compress or be sparse).
struct Rng(u64);
impl Rng {
    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            chunk.copy_from_slice(&z.to_le_bytes()[..chunk.len()]);
        }
    }
}

fn jpeg(i: u64, pad: usize, rng: &mut Rng) -> Vec<u8> {
    let day = NaiveDate::from_ymd_opt(2015, 1, 1).unwrap() + chrono::Days::new(i % 3000);
    let taken = day
        .and_hms_opt((i % 24) as u32, (i % 60) as u32, 0)
        .unwrap();
    let mut v = synth::jpeg(&StillSpec::iphone(
        i,
        "iPhone 13",
        taken,
        FixedOffset::east_opt(3600),
    ));
    let start = v.len();
    v.resize(start + pad, 0);
    rng.fill(&mut v[start..]);
    v
}

fn movie(path: &Path, seed: u64, mib: u64, rng: &mut Rng) -> std::io::Result<()> {
    let taken = FixedOffset::east_opt(7200)
        .unwrap()
        .with_ymd_and_hms(2023, 7, 14, 18, 0, seed as u32 % 60)
        .unwrap();
    let head = synth::mov(&VideoSpec::iphone(seed, "iPhone 13", taken));
    let mut w = BufWriter::with_capacity(1 << 20, File::create(path)?);
    // A valid movie header, then an `mdat`-sized random tail: real-looking I/O, no sparse holes.
    w.write_all(&head)?;
    let mut buf = vec![0u8; 1 << 20];
    for _ in 0..mib {
        rng.fill(&mut buf);
        w.write_all(&buf)?;
    }
    w.flush()
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map(String::as_str).unwrap_or("");
    let out = Path::new(args.get(2).map(String::as_str).unwrap_or("bench-data"));
    let num = |i: usize, d: u64| args.get(i).and_then(|s| s.parse().ok()).unwrap_or(d);
    let mut rng = Rng(42);
    match mode {
        "mixed" | "tiny" | "photos" => {
            let (count, pad) = match mode {
                "mixed" => (num(3, 3000), 250 * 1024),
                "tiny" => (num(3, 100_000), 0),
                _ => (num(3, 2000), 60 * 1024),
            };
            for i in 0..count {
                let dir = out.join(format!("DCIM/{}APPLE", 100 + i / 1000));
                if i % 1000 == 0 {
                    fs::create_dir_all(&dir)?;
                }
                fs::write(
                    dir.join(format!("IMG_{:04}.JPG", i % 10000)),
                    jpeg(i, pad, &mut rng),
                )?;
            }
            if mode == "mixed" {
                let dir = out.join("DCIM/100APPLE");
                for v in 0..num(4, 3) {
                    movie(
                        &dir.join(format!("IMG_9{v:03}.MOV")),
                        10_000 + v,
                        num(5, 120),
                        &mut rng,
                    )?;
                }
            }
        }
        "big" => movie(out, 1, num(3, 4096), &mut rng)?,
        _ => {
            eprintln!("usage: bench_data mixed|tiny|photos DIR [COUNT…] | big FILE MIB");
            std::process::exit(2);
        }
    }
    Ok(())
}
