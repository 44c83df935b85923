//! AFC replies as the device source reads them: the bytes stand for what a
//! phone (or something posing as one) sends back, fed to camroll's AFC codec
//! (`src/source/afc_wire.rs`) over the `idevice` connection, through the requests the device source makes
//! (ReadDir, GetFileInfo, FileRefOpen, FileRefRead) and camroll's own reading
//! of their answers (sizes, mtimes, handles). No panic, hang or runaway
//! allocation on any reply.
#![no_main]
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use camroll_fuzz::afc_wire;
use idevice::afc::opcode::AfcOpcode;
use idevice::afc::AfcClient;
use idevice::Idevice;
use libfuzzer_sys::fuzz_target;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A "phone" that answers with the fuzz input and swallows requests.
#[derive(Debug)]
struct Phone {
    replies: Vec<u8>,
    at: usize,
}

impl AsyncRead for Phone {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let n = buf.remaining().min(self.replies.len() - self.at);
        let at = self.at;
        buf.put_slice(&self.replies[at..at + n]);
        self.at += n;
        Poll::Ready(Ok(())) // 0 bytes at the end: EOF, like an unplug
    }
}

impl AsyncWrite for Phone {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, b: &[u8]) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(b.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

fuzz_target!(|data: &[u8]| {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let phone = Phone {
            replies: data.to_vec(),
            at: 0,
        };
        let mut c = AfcClient::new(Idevice::new(Box::new(phone), "fuzz"));
        if let Ok(names) = afc_wire::read_dir(&mut c, "DCIM").await {
            for n in names.iter().take(4) {
                let _ = n.starts_with('.');
            }
        }
        if let Ok(kv) = afc_wire::file_info(&mut c, "DCIM/100APPLE/IMG_0001.JPG").await {
            // What the device source does with a listing.
            let _size: u64 = kv.get("st_size").and_then(|s| s.parse().ok()).unwrap_or(0);
            let _mtime: Option<u64> = kv.get("st_mtime").and_then(|s| s.parse().ok());
            let _ = kv.get("st_ifmt").map(String::as_str) == Some("S_IFREG");
        }
        let mut header = 1u64.to_le_bytes().to_vec();
        header.extend(b"DCIM/100APPLE/IMG_0001.JPG");
        if let Ok(res) = afc_wire::request(&mut c, AfcOpcode::FileOpen, header, Vec::new()).await {
            let fd = res
                .header_payload
                .get(..8)
                .and_then(|b| b.try_into().ok())
                .map(u64::from_le_bytes);
            if let Some(fd) = fd {
                let h = [fd.to_le_bytes(), (4u64 << 20).to_le_bytes()].concat();
                let _ = afc_wire::request(&mut c, AfcOpcode::Read, h, Vec::new()).await;
            }
        }
    });
});
