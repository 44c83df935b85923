//! BLAKE3SUMS lines (what `verify` and `rebuild` read): any text parses to
//! an entry or a reason, never a panic, and a parsed entry written back out
//! (`format_line`) parses to the same entry.
#![no_main]
use libfuzzer_sys::fuzz_target;

// Compiled straight from camroll's source, like the metadata readers.
#[path = "../../src/archive/sums.rs"]
#[allow(dead_code)]
mod sums;

/// `sums::write` calls the crash-matrix hook `crate::faults::point`; a no-op here.
#[allow(dead_code)]
mod faults {
    pub fn point(_: &str) {}
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for line in text.split('\n') {
        if let Ok((hash, path)) = sums::parse_line(line) {
            assert_eq!(hash.len(), 64);
            let again = sums::format_line(&hash, &path);
            assert!(again.ends_with('\n') && again.matches('\n').count() == 1);
            assert_eq!(
                sums::parse_line(&again[..again.len() - 1]),
                Ok((hash, path)),
                "{again:?}"
            );
        }
    }
});
