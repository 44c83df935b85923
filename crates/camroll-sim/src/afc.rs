//! AFC (`com.apple.afc`) over the media root. Packets: "CFA6LPAA", then little-endian
//! u64 entire_length, this_length, packet_num, operation; header data up to
//! this_length, payload after it. Replies echo packet_num; STATUS / handle / position
//! go in the header area, DATA in the payload area, exactly as real phones lay them out.

use std::collections::HashMap;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};

use crate::device::{BoxStream, Device};

const MAGIC: &[u8; 8] = b"CFA6LPAA";
const HDR: usize = 40;

// Operations (libimobiledevice afc.h, pymobiledevice3 AfcOpcode).
const OP_STATUS: u64 = 0x01;
const OP_DATA: u64 = 0x02;
const OP_READ_DIR: u64 = 0x03;
const OP_TRUNCATE: u64 = 0x07;
const OP_REMOVE_PATH: u64 = 0x08;
const OP_MAKE_DIR: u64 = 0x09;
const OP_GET_FILE_INFO: u64 = 0x0A;
const OP_GET_DEVINFO: u64 = 0x0B;
const OP_FILE_OPEN: u64 = 0x0D;
const OP_FILE_OPEN_RES: u64 = 0x0E;
const OP_FILE_READ: u64 = 0x0F;
const OP_FILE_WRITE: u64 = 0x10;
const OP_FILE_SEEK: u64 = 0x11;
const OP_FILE_TELL: u64 = 0x12;
const OP_FILE_TELL_RES: u64 = 0x13;
const OP_FILE_CLOSE: u64 = 0x14;
const OP_FILE_SET_SIZE: u64 = 0x15;
const OP_GET_CON_INFO: u64 = 0x16;
const OP_SET_CON_OPTIONS: u64 = 0x17;
const OP_RENAME_PATH: u64 = 0x18;
const OP_SET_FS_BS: u64 = 0x19;
const OP_SET_SOCKET_BS: u64 = 0x1A;
const OP_FILE_LOCK: u64 = 0x1B;
const OP_MAKE_LINK: u64 = 0x1C;
const OP_SET_FILE_TIME: u64 = 0x1E;
const OP_REMOVE_PATH_AND_CONTENTS: u64 = 0x22;

// Status codes.
pub(crate) const E_SUCCESS: u64 = 0;
pub(crate) const E_UNKNOWN: u64 = 1;
pub(crate) const E_NO_RESOURCES: u64 = 3;
pub(crate) const E_READ_ERROR: u64 = 4;
pub(crate) const E_WRITE_ERROR: u64 = 5;
pub(crate) const E_UNKNOWN_PACKET_TYPE: u64 = 6;
pub(crate) const E_INVALID_ARG: u64 = 7;
pub(crate) const E_OBJECT_NOT_FOUND: u64 = 8;
pub(crate) const E_OBJECT_IS_DIR: u64 = 9;
pub(crate) const E_PERM_DENIED: u64 = 10;
pub(crate) const E_OP_NOT_SUPPORTED: u64 = 15;
pub(crate) const E_OBJECT_EXISTS: u64 = 16;
pub(crate) const E_DIR_NOT_EMPTY: u64 = 33;

/// Largest FileRefRead served in one DATA packet. Clients ask for 1 MiB (idevice) or 4 MiB
/// (pymobiledevice3); anything shorter than asked is read as EOF by FUSE, so be generous.
const MAX_READ: u64 = 64 << 20;
/// Largest request accepted (pymobiledevice3 writes up to 1 GiB per packet).
const MAX_PACKET: u64 = (1 << 30) + 4096;

enum Reply {
    Status(u64),
    /// Bytes with HDR zero bytes reserved in front, so the header is written in place.
    Data(Vec<u8>),
    Handle(u64),
    Tell(u64),
    /// The cable was pulled mid-transfer.
    Hangup,
}

struct Handle {
    file: Arc<std::fs::File>,
    rel: String,
    pos: u64,
    write: bool,
    append: bool,
}

struct Conn {
    dev: Arc<Device>,
    handles: HashMap<u64, Handle>,
    next_handle: u64,
    /// Reached through the USB DeviceID (else the Wi-Fi one), for `--stats`.
    over_usb: bool,
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.dev.write_stats();
        // Give back the device-wide file slots of handles the client never closed.
        self.dev
            .open_files
            .fetch_sub(self.handles.len(), Ordering::SeqCst);
    }
}

/// Replies smaller than this wait in one buffer while more requests are
/// already here, and go out with one write once none is (see [`serve`]).
const COALESCE: usize = 64 << 10;

/// Serves one AFC connection. Requests are read through a buffer: a client
/// that pipelines (sends several requests in one write) has them all read
/// with one system call, and their small replies go out together, in order,
/// in one write once no more requests are waiting: the same bytes, in fewer
/// system calls. `--latency-ms` is a link's: each reply leaves no earlier
/// than that long after its request arrived, so requests that arrived
/// together wait together (one after another, each waits the whole
/// latency); a real link does not serialise the time in flight.
pub(crate) async fn serve(dev: Arc<Device>, s: BoxStream, over_usb: bool) -> std::io::Result<()> {
    let mut conn = Conn {
        dev,
        handles: HashMap::new(),
        next_handle: 1,
        over_usb,
    };
    let (rd, mut wr) = tokio::io::split(s);
    let mut rd = tokio::io::BufReader::with_capacity(COALESCE, rd);
    let mut out: Vec<u8> = Vec::new();
    let mut arrived = std::time::Instant::now();
    loop {
        if rd.buffer().is_empty() {
            // Nothing more is waiting: send what was answered, then wait.
            flush(&mut wr, &mut out).await?;
            match rd.fill_buf().await {
                Ok([]) => return Ok(()),
                Ok(_) => arrived = std::time::Instant::now(),
                Err(e) => return Err(e),
            }
        }
        if rd.buffer().len() < HDR {
            // Only part of a request is here: what was answered goes out
            // before waiting for the rest.
            flush(&mut wr, &mut out).await?;
        }
        let mut hdr = [0u8; HDR];
        match rd.read_exact(&mut hdr).await {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e),
        }
        if &hdr[..8] != MAGIC {
            return Err(std::io::Error::other("bad AFC magic"));
        }
        let entire = le64(&hdr[8..16]);
        let this = le64(&hdr[16..24]);
        let packet_num = le64(&hdr[24..32]);
        let op = le64(&hdr[32..40]);
        if this < HDR as u64 || entire < this || entire > MAX_PACKET {
            return Err(std::io::Error::other("bad AFC lengths"));
        }
        if (rd.buffer().len() as u64) < entire - HDR as u64 {
            flush(&mut wr, &mut out).await?;
        }
        let mut header_data = vec![0u8; (this - HDR as u64) as usize];
        rd.read_exact(&mut header_data).await?;
        let mut payload = vec![0u8; (entire - this) as usize];
        rd.read_exact(&mut payload).await?;
        if let Some(l) = conn.dev.cfg.faults.latency {
            let due = arrived + l;
            if due > std::time::Instant::now() {
                crate::link::sleep_until(due).await;
            }
        }
        let reply = conn.handle(op, &header_data, payload).await;
        match reply {
            Reply::Hangup => {
                // What was answered before the cable was pulled got out.
                if !out.is_empty() {
                    let _ = wr.write_all(&out).await;
                    let _ = wr.flush().await;
                }
                return Ok(());
            }
            Reply::Status(code) => out.extend_from_slice(&packet(packet_num, OP_STATUS, code)),
            Reply::Handle(h) => out.extend_from_slice(&packet(packet_num, OP_FILE_OPEN_RES, h)),
            Reply::Tell(p) => out.extend_from_slice(&packet(packet_num, OP_FILE_TELL_RES, p)),
            Reply::Data(mut buf) => {
                let total = buf.len() as u64;
                buf[..8].copy_from_slice(MAGIC);
                buf[8..16].copy_from_slice(&total.to_le_bytes());
                buf[16..24].copy_from_slice(&(HDR as u64).to_le_bytes());
                buf[24..32].copy_from_slice(&packet_num.to_le_bytes());
                buf[32..40].copy_from_slice(&OP_DATA.to_le_bytes());
                if out.len() + buf.len() <= COALESCE {
                    out.extend_from_slice(&buf);
                } else {
                    // File data goes out as it is, behind what was answered before it.
                    if !out.is_empty() {
                        wr.write_all(&out).await?;
                        out.clear();
                    }
                    wr.write_all(&buf).await?;
                    wr.flush().await?;
                }
            }
        }
        if out.len() >= COALESCE {
            wr.write_all(&out).await?;
            wr.flush().await?;
            out.clear();
        }
    }
}

/// Sends the replies waiting in `out`, if any.
async fn flush(
    wr: &mut (impl tokio::io::AsyncWrite + Unpin),
    out: &mut Vec<u8>,
) -> std::io::Result<()> {
    if !out.is_empty() {
        wr.write_all(out).await?;
        wr.flush().await?;
        out.clear();
    }
    Ok(())
}

/// A reply with one u64 in the header area (`this_length = entire_length = 48`).
fn packet(packet_num: u64, op: u64, value: u64) -> Vec<u8> {
    let mut b = Vec::with_capacity(HDR + 8);
    b.extend_from_slice(MAGIC);
    for w in [48u64, 48, packet_num, op, value] {
        b.extend_from_slice(&w.to_le_bytes());
    }
    b
}

fn le64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    let n = b.len().min(8);
    a[..n].copy_from_slice(&b[..n]);
    u64::from_le_bytes(a)
}

fn data(bytes: &[u8]) -> Reply {
    let mut v = vec![0u8; HDR];
    v.extend_from_slice(bytes);
    Reply::Data(v)
}

fn kv(pairs: &[(&str, String)]) -> Reply {
    let mut out = Vec::new();
    for (k, v) in pairs {
        out.extend_from_slice(k.as_bytes());
        out.push(0);
        out.extend_from_slice(v.as_bytes());
        out.push(0);
    }
    data(&out)
}

/// A request path made safe: NUL-terminated or not, `.`/`..` resolved without ever
/// leaving the root, trailing `/` dropped. The simulator's own `.sim` folder is invisible.
struct Target {
    rel: String,
    abs: PathBuf,
}

fn c_string(b: &[u8]) -> &[u8] {
    match b.iter().position(|&c| c == 0) {
        Some(i) => &b[..i],
        None => b,
    }
}

fn resolve(root: &Path, raw: &[u8]) -> Result<Target, u64> {
    let s = std::str::from_utf8(c_string(raw)).map_err(|_| E_INVALID_ARG)?;
    let mut parts: Vec<&str> = Vec::new();
    for p in s.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    if parts.first() == Some(&".sim") {
        return Err(E_OBJECT_NOT_FOUND);
    }
    let rel = parts.join("/");
    let mut abs = root.to_path_buf();
    for p in &parts {
        abs.push(p);
    }
    Ok(Target { rel, abs })
}

impl Target {
    /// The object itself, following symlinks only when they stay inside the
    /// root and out of the simulator's own `.sim` folder (its keys).
    fn contained(&self, root: &Path) -> Result<PathBuf, u64> {
        match self.abs.canonicalize() {
            Ok(c) if c.starts_with(root.join(".sim")) => Err(E_OBJECT_NOT_FOUND),
            Ok(c) if c.starts_with(root) => Ok(c),
            Ok(_) => Err(E_OBJECT_NOT_FOUND),
            Err(e) => Err(io_code(&e)),
        }
    }

    /// For creating things: the parent must exist inside the root.
    fn parent_contained(&self, root: &Path) -> Result<PathBuf, u64> {
        let parent = self.abs.parent().ok_or(E_INVALID_ARG)?;
        let name = self.abs.file_name().ok_or(E_INVALID_ARG)?;
        match parent.canonicalize() {
            Ok(c) if c.starts_with(root.join(".sim")) => Err(E_OBJECT_NOT_FOUND),
            Ok(c) if c.starts_with(root) => Ok(c.join(name)),
            Ok(_) => Err(E_OBJECT_NOT_FOUND),
            Err(e) => Err(io_code(&e)),
        }
    }
}

fn io_code(e: &std::io::Error) -> u64 {
    use std::io::ErrorKind::*;
    match e.kind() {
        NotFound => E_OBJECT_NOT_FOUND,
        PermissionDenied => E_PERM_DENIED,
        AlreadyExists => E_OBJECT_EXISTS,
        IsADirectory => E_OBJECT_IS_DIR,
        NotADirectory => E_OBJECT_NOT_FOUND,
        DirectoryNotEmpty => E_DIR_NOT_EMPTY,
        _ => match e.raw_os_error() {
            Some(libc::ENOTDIR) => E_OBJECT_NOT_FOUND,
            Some(libc::ENOTEMPTY) => E_DIR_NOT_EMPTY,
            _ => E_UNKNOWN,
        },
    }
}

/// (total bytes, free bytes, block size) of the file system holding `root`.
pub(crate) fn fs_stats(root: &Path) -> (u64, u64, u64) {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(root.as_os_str().as_bytes()) else {
        return (0, 0, 4096);
    };
    // SAFETY: statvfs only writes into the zeroed struct we pass; the path is NUL-terminated.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return (0, 0, 4096);
    }
    let frsize = st.f_frsize as u64;
    (
        st.f_blocks as u64 * frsize,
        st.f_bavail as u64 * frsize,
        4096,
    )
}

fn ns(t: std::io::Result<std::time::SystemTime>) -> Option<u128> {
    t.ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_nanos())
}

impl Conn {
    fn writable(&self) -> bool {
        self.dev.cfg.writable
    }

    async fn handle(&mut self, op: u64, hd: &[u8], payload: Vec<u8>) -> Reply {
        let root = self.dev.root.clone();
        match op {
            OP_READ_DIR => {
                let t = match resolve(&root, hd) {
                    Ok(t) => t,
                    Err(c) => return Reply::Status(c),
                };
                let dir = match t.contained(&root) {
                    Ok(d) => d,
                    Err(c) => return Reply::Status(c),
                };
                let listing = tokio::task::spawn_blocking(move || -> Result<Vec<u8>, u64> {
                    let meta = std::fs::metadata(&dir).map_err(|e| io_code(&e))?;
                    if !meta.is_dir() {
                        // What a real phone answers for ReadDir on a file.
                        return Err(E_READ_ERROR);
                    }
                    let mut names: Vec<String> = std::fs::read_dir(&dir)
                        .map_err(|e| io_code(&e))?
                        .filter_map(|e| e.ok())
                        .filter_map(|e| e.file_name().into_string().ok())
                        .filter(|n| !(t.rel.is_empty() && n == ".sim"))
                        .collect();
                    names.sort();
                    let mut out = b".\0..\0".to_vec();
                    for n in names {
                        out.extend_from_slice(n.as_bytes());
                        out.push(0);
                    }
                    Ok(out)
                })
                .await;
                match listing {
                    Ok(Ok(b)) => data(&b),
                    Ok(Err(c)) => Reply::Status(c),
                    Err(_) => Reply::Status(E_UNKNOWN),
                }
            }
            OP_GET_FILE_INFO => {
                let t = match resolve(&root, hd) {
                    Ok(t) => t,
                    Err(c) => return Reply::Status(c),
                };
                let abs = if t.rel.is_empty() {
                    root.clone()
                } else {
                    match t.parent_contained(&root) {
                        Ok(p) => p,
                        Err(c) => return Reply::Status(c),
                    }
                };
                let meta = match std::fs::symlink_metadata(&abs) {
                    Ok(m) => m,
                    Err(e) => return Reply::Status(io_code(&e)),
                };
                let ft = meta.file_type();
                let ifmt = if ft.is_dir() {
                    "S_IFDIR"
                } else if ft.is_symlink() {
                    "S_IFLNK"
                } else if ft.is_file() {
                    "S_IFREG"
                } else {
                    use std::os::unix::fs::FileTypeExt;
                    if ft.is_fifo() {
                        "S_IFIFO"
                    } else if ft.is_socket() {
                        "S_IFSOCK"
                    } else if ft.is_block_device() {
                        "S_IFBLK"
                    } else {
                        "S_IFCHR"
                    }
                };
                let size = meta.len();
                // APFS allocates 4 KiB blocks; st_blocks counts 512-byte units.
                let blocks = if ft.is_file() {
                    size.div_ceil(4096) * 8
                } else {
                    0
                };
                let mtime = ns(meta.modified()).unwrap_or(0);
                let birth = ns(meta.created()).unwrap_or(mtime);
                let mut pairs = vec![
                    ("st_size", size.to_string()),
                    ("st_blocks", blocks.to_string()),
                    ("st_nlink", meta.nlink().to_string()),
                    ("st_ifmt", ifmt.to_string()),
                    ("st_mtime", mtime.to_string()),
                    ("st_birthtime", birth.to_string()),
                ];
                if ft.is_symlink() {
                    if let Ok(target) = std::fs::read_link(&abs) {
                        pairs.push(("LinkTarget", target.display().to_string()));
                    }
                }
                kv(&pairs)
            }
            OP_GET_DEVINFO => {
                let (total, free, bs) = fs_stats(&root);
                kv(&[
                    ("Model", "iPhone15,2".to_string()),
                    ("FSTotalBytes", total.to_string()),
                    ("FSFreeBytes", free.to_string()),
                    ("FSBlockSize", bs.to_string()),
                ])
            }
            OP_GET_CON_INFO => data(&[]),
            OP_SET_CON_OPTIONS | OP_SET_FS_BS | OP_SET_SOCKET_BS => Reply::Status(E_SUCCESS),
            OP_FILE_OPEN => self.open(hd).await,
            OP_FILE_READ => self.read(hd).await,
            OP_FILE_WRITE => self.write(hd, payload).await,
            OP_FILE_SEEK => {
                let h = le64(hd);
                let whence = le64(hd.get(8..).unwrap_or(&[]));
                let off = le64(hd.get(16..).unwrap_or(&[])) as i64;
                let Some(handle) = self.handles.get_mut(&h) else {
                    return Reply::Status(E_INVALID_ARG);
                };
                let base = match whence {
                    0 => 0i128,
                    1 => handle.pos as i128,
                    2 => match handle.file.metadata() {
                        Ok(m) => m.len() as i128,
                        Err(_) => return Reply::Status(E_UNKNOWN),
                    },
                    _ => return Reply::Status(E_INVALID_ARG),
                };
                let new = base + off as i128;
                if new < 0 || new > u64::MAX as i128 {
                    return Reply::Status(E_INVALID_ARG);
                }
                handle.pos = new as u64;
                Reply::Status(E_SUCCESS)
            }
            OP_FILE_TELL => match self.handles.get(&le64(hd)) {
                Some(h) => Reply::Tell(h.pos),
                None => Reply::Status(E_INVALID_ARG),
            },
            OP_FILE_CLOSE => match self.handles.remove(&le64(hd)) {
                Some(_) => {
                    self.dev.open_files.fetch_sub(1, Ordering::SeqCst);
                    self.dev.write_stats();
                    Reply::Status(E_SUCCESS)
                }
                None => Reply::Status(E_INVALID_ARG),
            },
            OP_FILE_LOCK => match self.handles.contains_key(&le64(hd)) {
                true => Reply::Status(E_SUCCESS),
                false => Reply::Status(E_INVALID_ARG),
            },
            OP_FILE_SET_SIZE => {
                let Some(h) = self.handles.get(&le64(hd)) else {
                    return Reply::Status(E_INVALID_ARG);
                };
                if !h.write {
                    return Reply::Status(E_PERM_DENIED);
                }
                match h.file.set_len(le64(hd.get(8..).unwrap_or(&[]))) {
                    Ok(()) => Reply::Status(E_SUCCESS),
                    Err(e) => Reply::Status(io_code(&e)),
                }
            }
            OP_TRUNCATE
            | OP_REMOVE_PATH
            | OP_MAKE_DIR
            | OP_RENAME_PATH
            | OP_MAKE_LINK
            | OP_SET_FILE_TIME
            | OP_REMOVE_PATH_AND_CONTENTS => {
                if !self.writable() {
                    return Reply::Status(E_PERM_DENIED);
                }
                let code = tokio::task::spawn_blocking({
                    let hd = hd.to_vec();
                    move || modify(&root, op, &hd)
                })
                .await
                .unwrap_or(E_UNKNOWN);
                Reply::Status(code)
            }
            // Known operations this phone does not implement (hashes, legacy reads…).
            0x04..=0x06 | 0x0C | 0x1D | 0x1F..=0x28 => Reply::Status(E_OP_NOT_SUPPORTED),
            _ => Reply::Status(E_UNKNOWN_PACKET_TYPE),
        }
    }

    async fn open(&mut self, hd: &[u8]) -> Reply {
        let root = self.dev.root.clone();
        let mode = le64(hd);
        let t = match resolve(&root, hd.get(8..).unwrap_or(&[])) {
            Ok(t) => t,
            Err(c) => return Reply::Status(c),
        };
        if !(1..=6).contains(&mode) {
            return Reply::Status(E_INVALID_ARG);
        }
        let write = mode != 1;
        if write && !self.writable() {
            return Reply::Status(E_PERM_DENIED);
        }
        if let Some(max) = self.dev.cfg.faults.max_open_files {
            // Reserve a slot first so concurrent opens cannot overshoot the limit.
            let prev = self.dev.open_files.fetch_add(1, Ordering::SeqCst);
            if prev >= max {
                self.dev.open_files.fetch_sub(1, Ordering::SeqCst);
                return Reply::Status(E_NO_RESOURCES);
            }
        } else {
            self.dev.open_files.fetch_add(1, Ordering::SeqCst);
        }
        let path = if write {
            t.parent_contained(&root)
                .and_then(|p| match p.canonicalize() {
                    Ok(c) if !c.starts_with(&root) => Err(E_OBJECT_NOT_FOUND),
                    _ => Ok(p),
                })
        } else {
            t.contained(&root)
        };
        if !write && self.dev.unreadable.contains(&t.rel) {
            // An original only in iCloud that AFC still lists: the open fails.
            self.dev.open_files.fetch_sub(1, Ordering::SeqCst);
            return Reply::Status(E_READ_ERROR);
        }
        if !write && t.rel.starts_with("PhotoData/Photos.sqlite") {
            self.dev.count_library_open();
            self.dev.library_write_while_read(&root);
        }
        let opened = path.and_then(|p| {
            if p.is_dir() {
                return Err(E_OBJECT_IS_DIR);
            }
            // afcd refuses to open a file that has other hard links ("Failed open
            // operation as there are additional hard links", ifuse#54). The status code it
            // answers is not public; PERM_DENIED is the closest AFC has.
            if !write && std::fs::metadata(&p).is_ok_and(|m| m.nlink() > 1) {
                self.dev.refused_for_links(&p);
                return Err(E_PERM_DENIED);
            }
            let mut o = std::fs::OpenOptions::new();
            match mode {
                1 => o.read(true),
                2 => o.read(true).write(true).create(true),
                3 => o.write(true).create(true).truncate(true),
                4 => o.read(true).write(true).create(true).truncate(true),
                5 => o.append(true).create(true),
                _ => o.read(true).append(true).create(true),
            };
            o.open(&p).map_err(|e| io_code(&e))
        });
        match opened {
            Ok(f) => {
                let h = self.next_handle;
                self.next_handle += 1;
                self.handles.insert(
                    h,
                    Handle {
                        file: Arc::new(f),
                        rel: t.rel,
                        pos: 0,
                        write,
                        append: mode == 5 || mode == 6,
                    },
                );
                Reply::Handle(h)
            }
            Err(c) => {
                self.dev.open_files.fetch_sub(1, Ordering::SeqCst);
                Reply::Status(c)
            }
        }
    }

    async fn read(&mut self, hd: &[u8]) -> Reply {
        let h = le64(hd);
        let want = le64(hd.get(8..).unwrap_or(&[])).min(MAX_READ) as usize;
        let Some(handle) = self.handles.get_mut(&h) else {
            return Reply::Status(E_INVALID_ARG);
        };
        if self.dev.io_error_matches(&handle.rel) {
            return Reply::Status(E_READ_ERROR);
        }
        let file = handle.file.clone();
        let pos = handle.pos;
        let got = tokio::task::spawn_blocking(move || -> std::io::Result<Vec<u8>> {
            // Size the buffer by what is left, not by what was asked (clients ask 4 MiB
            // for 3 kB files); a file growing meanwhile is read on the next request.
            let left = file.metadata()?.len().saturating_sub(pos);
            let want = want.min(usize::try_from(left).unwrap_or(usize::MAX));
            let mut buf = vec![0u8; HDR + want];
            let mut n = 0;
            while n < want {
                match file.read_at(&mut buf[HDR + n..], pos + n as u64) {
                    Ok(0) => break,
                    Ok(k) => n += k,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            buf.truncate(HDR + n);
            Ok(buf)
        })
        .await;
        let buf = match got {
            Ok(Ok(b)) => b,
            _ => return Reply::Status(E_READ_ERROR),
        };
        let n = buf.len() - HDR;
        handle.pos += n as u64;
        if !self.dev.account(n as u64) {
            return Reply::Hangup;
        }
        let library = handle.rel.starts_with("PhotoData/Photos.sqlite");
        self.dev.count_served(n as u64, self.over_usb, library);
        self.dev.throttle(n).await;
        Reply::Data(buf)
    }

    async fn write(&mut self, hd: &[u8], payload: Vec<u8>) -> Reply {
        let Some(handle) = self.handles.get_mut(&le64(hd)) else {
            return Reply::Status(E_INVALID_ARG);
        };
        if !handle.write {
            return Reply::Status(E_PERM_DENIED);
        }
        let file = handle.file.clone();
        let append = handle.append;
        let pos = handle.pos;
        let n = payload.len() as u64;
        let res = tokio::task::spawn_blocking(move || {
            if append {
                use std::io::Write;
                (&*file).write_all(&payload)
            } else {
                file.write_all_at(&payload, pos)
            }
        })
        .await;
        match res {
            Ok(Ok(())) => {
                handle.pos += n;
                Reply::Status(E_SUCCESS)
            }
            _ => Reply::Status(E_WRITE_ERROR),
        }
    }
}

/// Path-changing operations, only with `--writable`.
fn modify(root: &Path, op: u64, hd: &[u8]) -> u64 {
    let r = |raw: &[u8]| {
        resolve(root, raw).and_then(|t| {
            if t.rel.is_empty() {
                Err(E_PERM_DENIED)
            } else {
                Ok(t)
            }
        })
    };
    let result: Result<(), u64> = (|| match op {
        OP_TRUNCATE => {
            let t = r(hd.get(8..).unwrap_or(&[]))?;
            let p = t.contained(root)?;
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(&p)
                .map_err(|e| io_code(&e))?;
            f.set_len(le64(hd)).map_err(|e| io_code(&e))
        }
        OP_REMOVE_PATH => {
            let t = r(hd)?;
            let p = t.parent_contained(root)?;
            let m = std::fs::symlink_metadata(&p).map_err(|e| io_code(&e))?;
            if m.is_dir() {
                std::fs::remove_dir(&p).map_err(|e| io_code(&e))
            } else {
                std::fs::remove_file(&p).map_err(|e| io_code(&e))
            }
        }
        OP_REMOVE_PATH_AND_CONTENTS => {
            let t = r(hd)?;
            let p = t.parent_contained(root)?;
            let m = std::fs::symlink_metadata(&p).map_err(|e| io_code(&e))?;
            if m.is_dir() {
                std::fs::remove_dir_all(&p).map_err(|e| io_code(&e))
            } else {
                std::fs::remove_file(&p).map_err(|e| io_code(&e))
            }
        }
        OP_MAKE_DIR => {
            // `mkdir -p` semantics, as pymobiledevice3's makedirs relies on.
            let t = r(hd)?;
            let mut cur = root.to_path_buf();
            for part in t.rel.split('/') {
                cur.push(part);
                match std::fs::symlink_metadata(&cur) {
                    Ok(m) if m.is_dir() => {}
                    Ok(_) => return Err(E_OBJECT_EXISTS),
                    Err(_) => std::fs::create_dir(&cur).map_err(|e| io_code(&e))?,
                }
            }
            Ok(())
        }
        OP_RENAME_PATH => {
            let mut it = hd.split(|&c| c == 0);
            let from = r(it.next().unwrap_or(&[]))?;
            let to = r(it.next().unwrap_or(&[]))?;
            let src = from.parent_contained(root)?;
            let dst = to.parent_contained(root)?;
            std::fs::rename(src, dst).map_err(|e| io_code(&e))
        }
        OP_MAKE_LINK => {
            let kind = le64(hd);
            let rest = hd.get(8..).unwrap_or(&[]);
            let mut it = rest.split(|&c| c == 0);
            let target = it.next().unwrap_or(&[]);
            let link = r(it.next().unwrap_or(&[]))?;
            let dst = link.parent_contained(root)?;
            if kind == 1 {
                let src = r(target)?.contained(root)?;
                std::fs::hard_link(src, dst).map_err(|e| io_code(&e))
            } else {
                let target = std::str::from_utf8(target).map_err(|_| E_INVALID_ARG)?;
                std::os::unix::fs::symlink(target, dst).map_err(|e| io_code(&e))
            }
        }
        OP_SET_FILE_TIME => {
            let ns = le64(hd);
            let t = r(hd.get(8..).unwrap_or(&[]))?;
            let p = t.contained(root)?;
            let ft = filetime::FileTime::from_unix_time(
                (ns / 1_000_000_000) as i64,
                (ns % 1_000_000_000) as u32,
            );
            filetime::set_file_mtime(p, ft).map_err(|e| io_code(&e))
        }
        _ => Err(E_OP_NOT_SUPPORTED),
    })();
    match result {
        Ok(()) => E_SUCCESS,
        Err(c) => c,
    }
}
