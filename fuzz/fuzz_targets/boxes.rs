//! The QuickTime/ISO-BMFF box walker: any bytes as a movie, a HEIF still and
//! a Canon CR3.
#![no_main]
use std::io::Cursor;

use camroll_fuzz::media::bmff;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = bmff::read_movie(&mut Cursor::new(data));
    let _ = bmff::read_heif(&mut Cursor::new(data));
    let _ = bmff::read_cr3(&mut Cursor::new(data));
    let _ = bmff::children(data);
    let _ = bmff::keys_from_meta(data);
});
