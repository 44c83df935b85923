//! Name sanitising (`archive::layout::safe_file_name`) on any bytes a folder
//! or a phone can hand over: the result is a single, non-empty path component
//! of at most 255 bytes that every archive filesystem accepts, stable when
//! sanitised again, and its `~k` collision variants stay within the limit.
#![no_main]
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use libfuzzer_sys::fuzz_target;

#[path = "../../src/archive/layout.rs"]
#[allow(dead_code)]
mod layout;

fn check(name: &str) {
    assert!(!name.is_empty());
    assert!(name.len() <= 255, "{} bytes", name.len());
    assert!(name != "." && name != "..");
    assert!(
        !name
            .chars()
            .any(|c| c.is_control() || "/\\:*?\"<>|".contains(c)),
        "{name:?}"
    );
    assert!(
        !name.starts_with([' ', '.']) && !name.ends_with([' ', '.']),
        "{name:?}"
    );
}

fuzz_target!(|data: &[u8]| {
    let safe = layout::safe_file_name(OsStr::from_bytes(data));
    check(&safe);
    assert_eq!(
        layout::safe_file_name(OsStr::new(&safe)),
        safe,
        "idempotent"
    );
    for k in [2, 10, 4_000_000_000] {
        let s = layout::with_suffix(&safe, k);
        assert!(s.len() <= 255, "{s:?}");
        assert_ne!(layout::fold(&s), layout::fold(&safe));
    }
});
