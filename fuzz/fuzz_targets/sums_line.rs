//! BLAKE3SUMS lines (what `verify` and `rebuild` read): any text parses to
//! an entry or a reason, never a panic, and a parsed entry written back out
//! (`format_line`) parses to the same entry.
#![no_main]
use libfuzzer_sys::fuzz_target;

// Compiled straight from camroll's source, like the metadata readers, at the
// same module paths (`crate::archive::…`) the file uses.
#[path = "../../src/archive"]
mod archive {
    #[allow(dead_code)]
    pub mod layout;
    #[allow(dead_code)]
    pub mod sums;

    pub const CAMROLL_DIR: &str = ".camroll";

    /// `sums::write`'s contained file operations; the fuzzer only parses.
    #[allow(dead_code)]
    pub mod contain {
        use std::fs::File;
        use std::io;
        use std::path::Path;

        fn unused() -> io::Error {
            io::Error::other("not in the fuzzer")
        }
        pub fn open_root(_: &Path) -> io::Result<File> {
            Err(unused())
        }
        pub fn open_dir(_: &Path, _: &str, _: bool) -> io::Result<File> {
            Err(unused())
        }
        pub fn open_file_in(_: &File, _: &str, _: bool, _: &Path) -> io::Result<File> {
            Err(unused())
        }
        pub fn rename_in(_: &File, _: &str, _: &File, _: &str, _: bool) -> io::Result<()> {
            Err(unused())
        }
    }
}
use archive::sums;

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
