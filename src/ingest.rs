//! Ingest: read a source item exactly once, streaming it through BLAKE3 while
//! writing a staging file in every destination that needs it. The first
//! bytes decide whether it is media at all. Memory stays bounded (one buffer
//! per worker) whatever the file size.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::PathBuf;

use thiserror::Error;

use crate::media::{self, Kind};
use crate::source::{Source, SourceItem};

/// Read size: large enough for full-speed sequential reads (and AFC requests).
pub const CHUNK: usize = 1 << 20;

/// A staging file being written for one destination.
pub struct StageTarget {
    pub dest: usize,
    pub path: PathBuf,
}

/// An item read and staged.
pub struct Staged {
    pub hash: String,
    pub size: u64,
    pub kind: Kind,
    /// (destination index, staging path) for every destination written.
    pub files: Vec<(usize, PathBuf)>,
    /// Destinations whose staging write failed: (index, error).
    pub dest_errors: Vec<(usize, io::Error)>,
}

#[derive(Debug, Error)]
pub enum IngestError {
    #[error("not a photo or video (content not recognised)")]
    NotMedia,
    #[error("empty file (0 bytes): nothing to archive. If it should be a photo, copy it from the phone again")]
    Empty,
    #[error("read error: {0}. The other files go on; run again to retry this one")]
    Read(io::Error),
    #[error("changed while being read (listed as {listed} bytes, read {read}). Run again when nothing is writing to the source")]
    Changed { listed: u64, read: u64 },
    #[error("kept changing while being read (read twice, different each time): not archived this run. Run again when nothing is writing to it")]
    StillChanging,
    #[error("{from} lists this file as {listed} bytes but sent {read} (its listing did not change): not archived. Run again; if it persists, the file may be damaged where it is stored")]
    SizeMismatch {
        from: &'static str,
        listed: u64,
        read: u64,
    },
    #[error("could not be written to any destination")]
    NoDestination,
}

impl IngestError {
    /// Skipped (not media) rather than failed.
    pub fn is_skip(&self) -> bool {
        matches!(self, IngestError::NotMedia)
    }
}

/// Streams `item` from `source` into `targets` (none for a dry run: hash only).
pub fn stream_item(
    source: &dyn Source,
    item: &SourceItem,
    targets: Vec<StageTarget>,
    buf: &mut Vec<u8>,
) -> Result<Staged, IngestError> {
    let mut reader = source
        .open(item)
        .map_err(|e| IngestError::Read(io::Error::other(e.to_string())))?;
    buf.resize(CHUNK, 0);
    // Fill enough for the sniff before anything is written.
    let mut filled = 0;
    while filled < media::SNIFF_LEN {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(IngestError::Read(e)),
        }
    }
    if filled == 0 {
        return Err(IngestError::Empty);
    }
    let ext = item.name.rsplit_once('.').map(|(_, e)| e);
    let kind = media::sniff(&buf[..filled.min(media::SNIFF_LEN.max(filled))], ext)
        .ok_or(IngestError::NotMedia)?;

    let want = !targets.is_empty();
    let mut files: Vec<(usize, PathBuf, Option<File>)> = Vec::new();
    let mut dest_errors = Vec::new();
    for t in targets {
        match File::create(&t.path) {
            Ok(f) => files.push((t.dest, t.path, Some(f))),
            Err(e) => dest_errors.push((t.dest, e)),
        }
    }
    let cleanup = |files: &[(usize, PathBuf, Option<File>)]| {
        for (_, p, _) in files {
            let _ = std::fs::remove_file(p);
        }
    };
    let mut hasher = blake3::Hasher::new();
    let mut total: u64 = 0;
    let mut chunk_len = filled;
    loop {
        let chunk = &buf[..chunk_len];
        hasher.update(chunk);
        total += chunk_len as u64;
        for (dest, path, file) in files.iter_mut() {
            if let Some(f) = file {
                if let Err(e) = f.write_all(chunk) {
                    *file = None;
                    let _ = std::fs::remove_file(&*path);
                    dest_errors.push((*dest, e));
                } else {
                    // Crash-matrix hook (`CAMROLL_FAULT_KILL_AT`): a partly staged file.
                    crate::archive::fault_point("stage-write");
                }
            }
        }
        if want && files.iter().all(|(_, _, f)| f.is_none()) {
            cleanup(&files);
            return Err(IngestError::NoDestination);
        }
        chunk_len = loop {
            match reader.read(buf) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    cleanup(&files);
                    return Err(IngestError::Read(e));
                }
            }
        };
        if chunk_len == 0 {
            break;
        }
    }
    if total != item.size {
        cleanup(&files);
        return Err(IngestError::Changed {
            listed: item.size,
            read: total,
        });
    }
    let files = files
        .into_iter()
        .filter_map(|(d, p, f)| f.map(|_| (d, p)))
        .collect();
    Ok(Staged {
        hash: hasher.finalize().to_hex().to_string(),
        size: total,
        kind,
        files,
        dest_errors,
    })
}

/// Hashes a file on disk (verification, adoption of unlisted files).
pub fn hash_file(path: &std::path::Path, drop_cache: bool) -> io::Result<(String, u64)> {
    let mut f = File::open(path)?;
    if drop_cache {
        advise_dontneed(&f);
    }
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0u8; CHUNK];
    let mut total = 0u64;
    loop {
        let n = match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        total += n as u64;
    }
    Ok((hasher.finalize().to_hex().to_string(), total))
}

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
