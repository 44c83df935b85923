//! `camroll demo`: the whole job against an in-process simulated iPhone.

mod support;

use support::*;

#[test]
fn demo_exports_the_simulated_iphone_verifies_and_a_second_run_copies_nothing() {
    let t = tempfile::tempdir().unwrap();
    let archive = t.path().join("camroll-demo/archive");
    let (code, stdout, stderr) = run(&["demo", archive.to_str().unwrap(), "--items", "25"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("0 problems"), "{stdout}");
    assert!(stdout.contains("b3sum --check BLAKE3SUMS"), "{stdout}");
    assert!(!archived_files(&archive).is_empty());
    assert!(t.path().join("camroll-demo/simulated-iphone/DCIM").is_dir());
    let (code, stdout, _) = run(&["demo", archive.to_str().unwrap(), "--items", "25"]);
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains(" 0 copied"), "{stdout}");
    assert!(!stdout.contains("Warnings"), "{stdout}");
}
