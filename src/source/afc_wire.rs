//! AFC requests and replies for the device source, with bounded replies.
//!
//! Written by hand on top of the `idevice` crate's connection (usbmuxd,
//! lockdown, TLS and StartService stay with the crate) because the crate's
//! own AFC reader allocates whatever length a reply header claims: fuzzing
//! (`fuzz/fuzz_targets/afc_replies.rs`) showed a broken or hostile phone can
//! make it ask for exabytes and abort the process. Here a reply is checked
//! (magic, lengths, a size limit) before anything is allocated, and an AFC
//! error status becomes `IdeviceError::Afc` as the crate reports it.
//!
//! Wire format (protocol.md §4): a 40-byte header `CFA6LPAA` magic,
//! `entire_len`, `this_len` (header + header payload), `packet_num`,
//! `operation`, all u64 little-endian; then the header payload (status codes,
//! handles, arguments), then the data payload.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use idevice::afc::errors::AfcError;
use idevice::afc::opcode::AfcOpcode;
use idevice::afc::AfcClient;
use idevice::IdeviceError;

const MAGIC: &[u8; 8] = b"CFA6LPAA";
const HEADER_LEN: u64 = 40;
/// Largest reply accepted: a 4 MiB read plus room for big directory listings.
pub const MAX_REPLY: u64 = 64 << 20;
const STATUS: u64 = 1;

/// Packet numbers only need to differ; the phone echoes them back.
static NEXT_PACKET: AtomicU64 = AtomicU64::new(1);

/// One AFC reply.
#[derive(Debug)]
pub struct Reply {
    /// The AFC operation code of the reply (status, data, file info, …).
    pub operation: u64,
    /// Status codes, handles, positions.
    pub header_payload: Vec<u8>,
    /// Data: file bytes, NUL-separated names or key/value pairs.
    pub payload: Vec<u8>,
}

fn malformed(why: &str) -> IdeviceError {
    IdeviceError::UnexpectedResponse(format!("malformed AFC reply: {why}"))
}

/// Checks a reply header; returns (header payload length, data length).
pub fn parse_header(h: &[u8]) -> Result<(u64, u64, u64), IdeviceError> {
    if h.len() < HEADER_LEN as usize || &h[..8] != MAGIC {
        return Err(malformed("bad magic"));
    }
    let field = |i: usize| u64::from_le_bytes(h[i..i + 8].try_into().unwrap_or([0; 8]));
    let (entire, this, operation) = (field(8), field(16), field(32));
    if this < HEADER_LEN || entire < this {
        return Err(malformed("inconsistent lengths"));
    }
    if entire > MAX_REPLY {
        return Err(malformed("reply larger than any request asks for"));
    }
    Ok((this - HEADER_LEN, entire - this, operation))
}

/// Sends one request and reads its reply; an AFC error status is an `Err`.
pub async fn request(
    c: &mut AfcClient,
    op: AfcOpcode,
    header_payload: Vec<u8>,
    payload: Vec<u8>,
) -> Result<Reply, IdeviceError> {
    send(c, op, header_payload, payload).await?;
    read_reply(c).await
}

/// Sends a request without waiting for its reply (replies come in order, so
/// a reader can keep one read in flight while it handles the previous one).
pub async fn send(
    c: &mut AfcClient,
    op: AfcOpcode,
    header_payload: Vec<u8>,
    payload: Vec<u8>,
) -> Result<(), IdeviceError> {
    let mut packet = Vec::with_capacity(HEADER_LEN as usize + header_payload.len() + payload.len());
    encode(&mut packet, op, &header_payload, &payload);
    c.idevice.send_raw(&packet).await
}

/// Appends one request packet to `out`: several can then go out in one
/// write (one TLS record, one system call) instead of one each.
pub fn encode(out: &mut Vec<u8>, op: AfcOpcode, header_payload: &[u8], payload: &[u8]) {
    let this = HEADER_LEN + header_payload.len() as u64;
    out.extend_from_slice(MAGIC);
    out.extend((this + payload.len() as u64).to_le_bytes());
    out.extend(this.to_le_bytes());
    out.extend(NEXT_PACKET.fetch_add(1, Ordering::Relaxed).to_le_bytes());
    out.extend((op as u64).to_le_bytes());
    out.extend_from_slice(header_payload);
    out.extend_from_slice(payload);
}

/// Appends a GetFileInfo (`stat`) or ReadDir (`!stat`) request for `path`
/// to `out` (see [`encode`]).
pub fn encode_path_query(out: &mut Vec<u8>, stat: bool, path: &str) {
    let op = if stat {
        AfcOpcode::GetFileInfo
    } else {
        AfcOpcode::ReadDir
    };
    encode(out, op, &path_arg(path), &[]);
}

/// Sends requests encoded with [`encode`] in one write.
pub async fn send_encoded(c: &mut AfcClient, packets: &[u8]) -> Result<(), IdeviceError> {
    c.idevice.send_raw(packets).await
}

/// Reads the next reply; an AFC error status is an `Err`.
pub async fn read_reply(c: &mut AfcClient) -> Result<Reply, IdeviceError> {
    let header = c.idevice.read_raw(HEADER_LEN as usize).await?;
    let (hp_len, data_len, operation) = parse_header(&header)?;
    let header_payload = if hp_len > 0 {
        c.idevice.read_raw(hp_len as usize).await?
    } else {
        Vec::new()
    };
    let payload = if data_len > 0 {
        c.idevice.read_raw(data_len as usize).await?
    } else {
        Vec::new()
    };
    if operation == STATUS {
        let code = header_payload
            .get(..8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes)
            .ok_or_else(|| malformed("status without a code"))?;
        if code != 0 {
            return Err(IdeviceError::Afc(AfcError::from(code)));
        }
    }
    Ok(Reply {
        operation,
        header_payload,
        payload,
    })
}

/// A path argument: the bytes and a NUL, as libimobiledevice sends them.
fn path_arg(path: &str) -> Vec<u8> {
    let mut v = path.as_bytes().to_vec();
    v.push(0);
    v
}

/// NUL-separated strings of a payload.
fn strings(payload: &[u8]) -> Vec<String> {
    payload
        .split(|b| *b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect()
}

/// ReadDir, without `.` and `..`.
pub async fn read_dir(c: &mut AfcClient, path: &str) -> Result<Vec<String>, IdeviceError> {
    send_read_dir(c, path).await?;
    Ok(dir_names(&read_reply(c).await?))
}

/// Sends a ReadDir without waiting for its reply (see [`dir_names`]).
pub async fn send_read_dir(c: &mut AfcClient, path: &str) -> Result<(), IdeviceError> {
    send(c, AfcOpcode::ReadDir, path_arg(path), Vec::new()).await
}

/// The names of a ReadDir reply, without `.` and `..`.
pub fn dir_names(reply: &Reply) -> Vec<String> {
    strings(&reply.payload)
        .into_iter()
        .filter(|n| n != "." && n != "..")
        .collect()
}

/// GetFileInfo: `st_size`, `st_mtime`, `st_ifmt`… as text.
pub async fn file_info(
    c: &mut AfcClient,
    path: &str,
) -> Result<HashMap<String, String>, IdeviceError> {
    send_file_info(c, path).await?;
    Ok(info_pairs(&read_reply(c).await?))
}

/// Sends a GetFileInfo without waiting for its reply (see [`info_pairs`]).
pub async fn send_file_info(c: &mut AfcClient, path: &str) -> Result<(), IdeviceError> {
    send(c, AfcOpcode::GetFileInfo, path_arg(path), Vec::new()).await
}

/// What camroll keeps of a GetFileInfo reply: parsed straight from the
/// reply's bytes, with no map or string per key (a listing of 100,000
/// files would otherwise hold 100,000 maps).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    /// `st_size`, when present and a number.
    pub size: Option<u64>,
    /// `st_mtime` in nanoseconds since the Unix epoch, when present and a number.
    pub mtime_ns: Option<u64>,
    /// `st_ifmt`.
    pub ifmt: Ifmt,
}

/// The `st_ifmt` of a GetFileInfo reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ifmt {
    /// `S_IFREG`.
    File,
    /// `S_IFDIR`.
    Dir,
    /// `S_IFLNK`.
    Link,
    /// Anything else, as sent (`None` when the reply has no `st_ifmt`).
    Other(Option<String>),
}

/// Parses a GetFileInfo reply into a [`FileInfo`].
pub fn file_info_of(reply: &Reply) -> FileInfo {
    let mut info = FileInfo {
        size: None,
        mtime_ns: None,
        ifmt: Ifmt::Other(None),
    };
    let mut parts = reply.payload.split(|b| *b == 0).filter(|s| !s.is_empty());
    while let (Some(k), Some(v)) = (parts.next(), parts.next()) {
        let number = || std::str::from_utf8(v).ok()?.parse::<u64>().ok();
        match k {
            b"st_size" => info.size = number(),
            b"st_mtime" => info.mtime_ns = number(),
            b"st_ifmt" => {
                info.ifmt = match v {
                    b"S_IFREG" => Ifmt::File,
                    b"S_IFDIR" => Ifmt::Dir,
                    b"S_IFLNK" => Ifmt::Link,
                    other => Ifmt::Other(Some(String::from_utf8_lossy(other).into_owned())),
                }
            }
            _ => {}
        }
    }
    info
}

/// The key/value pairs of a GetFileInfo reply.
pub fn info_pairs(reply: &Reply) -> HashMap<String, String> {
    strings(&reply.payload)
        .chunks_exact(2)
        .map(|kv| (kv[0].clone(), kv[1].clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(entire: u64, this: u64, op: u64) -> Vec<u8> {
        let mut h = MAGIC.to_vec();
        for v in [entire, this, 7, op] {
            h.extend(v.to_le_bytes());
        }
        h
    }

    #[test]
    fn a_reply_claiming_more_than_the_limit_is_refused_before_allocating() {
        assert!(parse_header(&header(u64::MAX, 40, 2)).is_err());
        assert!(parse_header(&header(MAX_REPLY + 1, 40, 2)).is_err());
        assert_eq!(
            parse_header(&header(48 + 4096, 48, 2)).unwrap(),
            (8, 4096, 2)
        );
    }

    #[test]
    fn inconsistent_or_foreign_headers_are_refused() {
        assert!(parse_header(&header(40, 48, 2)).is_err());
        assert!(parse_header(&header(40, 39, 2)).is_err());
        let mut h = header(40, 40, 1);
        h[0] = b'X';
        assert!(parse_header(&h).is_err());
        assert!(parse_header(&h[..20]).is_err());
    }

    #[test]
    fn names_and_pairs_split_on_nul() {
        assert_eq!(
            strings(b".\0..\0IMG_0001.HEIC\0"),
            vec![".", "..", "IMG_0001.HEIC"]
        );
        assert_eq!(strings(b"st_size\x0012\0st_ifmt\0S_IFREG\0").len(), 4);
    }

    #[test]
    fn file_info_keeps_size_mtime_and_type() {
        let reply = |p: &[u8]| Reply {
            operation: 2,
            header_payload: Vec::new(),
            payload: p.to_vec(),
        };
        let i = file_info_of(&reply(
            b"st_size\x0012\0st_blocks\x008\0st_mtime\x001700000000000000000\0st_ifmt\0S_IFREG\0",
        ));
        assert_eq!(
            i,
            FileInfo {
                size: Some(12),
                mtime_ns: Some(1_700_000_000_000_000_000),
                ifmt: Ifmt::File
            }
        );
        let odd = file_info_of(&reply(b"st_size\0x\0st_ifmt\0S_IFIFO\0"));
        assert_eq!(odd.size, None);
        assert_eq!(odd.ifmt, Ifmt::Other(Some("S_IFIFO".into())));
        assert_eq!(file_info_of(&reply(b"")).ifmt, Ifmt::Other(None));
    }
}
