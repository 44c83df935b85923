//! The whole per-file reader: sniffing, then the container walker and the
//! date rule chain for the sniffed kind (or, when the bytes sniff as nothing,
//! for a kind chosen by the first byte, so every reader sees hostile input).
#![no_main]
use std::io::Cursor;

use camroll_fuzz::media::{read_media_info, sniff, DateOptions, Kind};
use libfuzzer_sys::fuzz_target;

const KINDS: [Kind; 10] = [
    Kind::Jpeg,
    Kind::Heif,
    Kind::Png,
    Kind::Gif,
    Kind::Webp,
    Kind::Tiff,
    Kind::Raw,
    Kind::QuickTime,
    Kind::Mp4,
    Kind::Aae,
];

fuzz_target!(|data: &[u8]| {
    let kind = sniff(&data[..data.len().min(64)], None)
        .unwrap_or_else(|| KINDS[data.first().copied().unwrap_or(0) as usize % KINDS.len()]);
    let _ = read_media_info(&mut Cursor::new(data), kind, &DateOptions::default());
});
