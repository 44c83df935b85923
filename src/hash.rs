//! Content hashing: the one place camroll reads bytes through BLAKE3.
//!
//! Every hash camroll records or compares (ingest, read-back, verify, check,
//! sync, rebuild) comes from here, so they all agree on the format (64
//! lower-case hex digits, as `b3sum` prints) and all read in bounded chunks:
//! memory stays at one [`CHUNK`] per reader whatever the file size.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

/// Read size: large enough for full-speed sequential reads (and AFC requests).
pub const CHUNK: usize = 1 << 20;

/// A finished hash: the content's BLAKE3 in hex and how many bytes it covered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digest {
    /// 64 lower-case hex digits.
    pub hash: String,
    /// Bytes hashed.
    pub size: u64,
}

/// Why a streamed read stopped before its end.
#[derive(Debug)]
pub enum StreamError<E> {
    /// Reading the input failed.
    Read(io::Error),
    /// The sink refused a chunk.
    Sink(E),
}

/// Streams `input` to its end through BLAKE3, handing every chunk to `sink`
/// (which may write it elsewhere, or check it). `buf` is the caller's, so a
/// worker reuses one buffer for all its files; `prefix` is the start of the
/// input the caller already read into `buf[..prefix]` (for sniffing).
pub fn stream<R: Read + ?Sized, E>(
    input: &mut R,
    buf: &mut Vec<u8>,
    prefix: usize,
    mut sink: impl FnMut(&[u8]) -> Result<(), E>,
) -> Result<Digest, StreamError<E>> {
    if buf.len() < CHUNK {
        buf.resize(CHUNK, 0);
    }
    let mut hasher = blake3::Hasher::new();
    let mut size = 0u64;
    let mut n = prefix.min(buf.len());
    loop {
        if n > 0 {
            let chunk = &buf[..n];
            hasher.update(chunk);
            size += n as u64;
            sink(chunk).map_err(StreamError::Sink)?;
        }
        n = match input.read(buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => 0,
            Err(e) => return Err(StreamError::Read(e)),
        };
    }
    Ok(Digest {
        hash: hasher.finalize().to_hex().to_string(),
        size,
    })
}

/// Reads into `buf` until it holds `want` bytes or the input ends; returns
/// how many it holds (it may read more than `want`, up to a [`CHUNK`]). For
/// looking at a file's first bytes before streaming it on.
pub fn fill<R: Read + ?Sized>(input: &mut R, buf: &mut Vec<u8>, want: usize) -> io::Result<usize> {
    if buf.len() < CHUNK.max(want) {
        buf.resize(CHUNK.max(want), 0);
    }
    let mut filled = 0;
    while filled < want {
        match read_full(input, &mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

/// Reads until `buf` is full or the input ends (retrying interrupted reads);
/// returns how many bytes it holds. A file's head for sniffing, a box header.
pub fn read_full<R: Read + ?Sized>(input: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match input.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Hashes everything `input` yields.
///
/// The [`CHUNK`] buffer is kept per thread: a fresh one per call cost a
/// 1 MiB allocation (mapped and unmapped by malloc at that size) and its
/// zeroing for every file read back, more than reading a 60 KB photo itself
/// (`perf` of 2,000 photos: 9.5 % in `memset`, issue 13).
pub fn hash_reader<R: Read + ?Sized>(input: &mut R) -> io::Result<Digest> {
    thread_local! {
        static BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    let mut run = |buf: &mut Vec<u8>| {
        stream(input, buf, 0, |_| Ok::<(), io::Error>(())).map_err(|e| match e {
            StreamError::Read(e) | StreamError::Sink(e) => e,
        })
    };
    BUF.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => run(&mut buf),
        // Only if a reader's own read hashed another (none does): its own buffer.
        Err(_) => run(&mut Vec::new()),
    })
}

/// Hashes a file on disk in bounded chunks. With `from_disk`, the file's
/// cached pages are dropped first, so the bytes come from the disk itself
/// (read-back after a copy), where the OS allows.
pub fn hash_file(path: &Path, from_disk: bool) -> io::Result<Digest> {
    let mut f = File::open(path)?;
    if from_disk {
        advise_dontneed(&f);
    }
    hash_reader(&mut f)
}

/// Hashes a whole file as fast as the machine allows: memory-mapped and
/// multi-threaded for large files, as `b3sum` does (verify, rebuild).
///
/// A small file (most photos' sidecars, a tiny-file archive) is read whole
/// into a per-thread buffer instead: blake3's own path zeroes a 64 KiB buffer
/// per call and probes the file, which on 20,000 tiny files cost more than
/// the hashing (issue 13, verify vs `b3sum --check`).
pub fn hash_path(path: &Path) -> io::Result<Digest> {
    thread_local! {
        static SMALL: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    let small = SMALL.with(|cell| -> io::Result<Option<Digest>> {
        let mut buf = cell.borrow_mut();
        if buf.len() < SMALL_FILE {
            buf.resize(SMALL_FILE, 0);
        }
        let mut f = File::open(path)?;
        // A full buffer means the file may be larger: it is hashed the fast
        // way below, from the start.
        let n = read_full(&mut f, &mut buf[..SMALL_FILE])?;
        if n == SMALL_FILE {
            return Ok(None);
        }
        Ok(Some(Digest {
            hash: blake3::hash(&buf[..n]).to_hex().to_string(),
            size: n as u64,
        }))
    })?;
    if let Some(d) = small {
        return Ok(d);
    }
    let mut hasher = blake3::Hasher::new();
    hasher.update_mmap_rayon(path)?;
    Ok(Digest {
        hash: hasher.finalize().to_hex().to_string(),
        size: hasher.count(),
    })
}

/// Files shorter than this are hashed from one read into a reused buffer
/// ([`hash_path`]); blake3 itself only memory-maps files of 16 KiB or more.
const SMALL_FILE: usize = 128 * 1024;

/// Asks the OS to drop a file's cached pages so the next read comes from the
/// disk (after fsync the pages are clean, so they can be dropped).
pub fn advise_dontneed(f: &File) {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::io::AsRawFd;
        // SAFETY: advisory call on a valid descriptor; failure is harmless.
        unsafe {
            libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED);
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = f;
}

/// A rayon pool of `jobs` threads for hashing, or `None` for the global pool.
pub fn pool(jobs: Option<usize>) -> Option<rayon::ThreadPool> {
    jobs.and_then(|n| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n.max(1))
            .build()
            .ok()
    })
}

/// Runs `work` in `pool` when there is one, else on rayon's global pool.
pub fn in_pool<T: Send>(pool: Option<&rayon::ThreadPool>, work: impl FnOnce() -> T + Send) -> T {
    match pool {
        Some(p) => p.install(work),
        None => work(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reader_agrees_with_b3sum_format() {
        let data: Vec<u8> = (0..3 * CHUNK + 17).map(|i| (i % 251) as u8).collect();
        let expect = blake3::hash(&data).to_hex().to_string();
        let d = hash_reader(&mut &data[..]).unwrap();
        assert_eq!(d.hash, expect);
        assert_eq!(d.size, data.len() as u64);
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, &data).unwrap();
        assert_eq!(hash_file(&p, true).unwrap(), d);
        assert_eq!(hash_path(&p).unwrap(), d);
    }

    #[test]
    fn a_prefix_already_read_is_hashed_first_and_the_sink_sees_every_byte() {
        let data: Vec<u8> = (0..CHUNK + 5).map(|i| (i % 7) as u8).collect();
        let mut input = &data[..];
        let mut buf = Vec::new();
        let n = fill(&mut input, &mut buf, 10).unwrap();
        assert!(n >= 10, "fill stops only at its goal or the end");
        let mut seen = Vec::new();
        let d = stream(&mut input, &mut buf, n, |c| {
            seen.extend_from_slice(c);
            Ok::<(), ()>(())
        })
        .unwrap();
        assert_eq!(seen, data);
        assert_eq!(d.hash, blake3::hash(&data).to_hex().to_string());
    }
}
