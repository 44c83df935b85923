//! EXIF: any bytes as a TIFF block (normal, CR3 Exif-IFD or GPS-IFD block),
//! and as an Apple MakerNote.
#![no_main]
use camroll_fuzz::media::exif_read::{apple_content_identifier, read_tiff, Block};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let block = match sel % 3 {
        0 => Block::Tiff,
        1 => Block::ExifIfd,
        _ => Block::GpsIfd,
    };
    let _ = read_tiff(rest.to_vec(), block);
    let _ = apple_content_identifier(rest);
});
