//! XMP: any bytes as an XMP packet, and every value found through the
//! tolerant date parser; any text through the EXIF date/offset parsers.
#![no_main]
use camroll_fuzz::media::{timefmt, xmp};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for (_, v) in xmp::date_properties(data) {
        let _ = timefmt::parse_loose(&v);
    }
    let text = String::from_utf8_lossy(data);
    let _ = timefmt::parse_loose(&text);
    let _ = timefmt::parse_exif_datetime(&text);
    let _ = timefmt::parse_offset(&text);
    let _ = timefmt::parse_subsec(&text);
    let _ = camroll_fuzz::media::date::date_from_name(&text);
});
