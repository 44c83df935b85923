//! `--report FILE.html` on export, verify and check: one self-contained page,
//! rendered in headless Chromium to prove it loads, decodes its embedded
//! thumbnails and shows the counts. Skips (with a message) when Chromium is
//! not installed, unless CAMROLL_REQUIRE_TOOLS=1.

mod support;

use std::fs;
use std::path::Path;
use std::process::Command;

use support::*;

/// The DOM after the page loaded in headless Chromium, or `None` when Chromium is absent.
fn render(page: &Path) -> Option<String> {
    // Debian names it chromium; some systems chromium-browser.
    let chromium = tool_any(&["chromium", "chromium-browser"])?;
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium runs");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The text of the element with `id` in `html` (ids are unique and hold plain text).
fn text_of(html: &str, id: &str) -> String {
    let key = format!("id=\"{id}\"");
    let at = html
        .find(&key)
        .unwrap_or_else(|| panic!("no #{id} in page"));
    let start = at + html[at..].find('>').unwrap() + 1;
    let end = start + html[start..].find('<').unwrap();
    html[start..end].to_string()
}

/// What every report must be: one file, nothing fetched from anywhere.
fn assert_self_contained(html: &str) {
    for bad in [
        "src=\"http",
        "href=\"http",
        "src=\"//",
        "@import",
        "url(http",
    ] {
        assert!(!html.contains(bad), "external reference {bad}");
    }
    assert!(html.starts_with("<!DOCTYPE html>"));
}

#[test]
fn export_report_shows_counts_months_and_decodable_thumbnails_of_what_was_added() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    roll(&src);
    let (a, b) = (t.path().join("a"), t.path().join("b"));
    let page = t.path().join("export.html");
    let (code, json, err) = export_json(&src, &[&a, &b], &["--report", page.to_str().unwrap()]);
    assert_eq!(code, 0, "{json}\n{err}");
    let html = fs::read_to_string(&page).unwrap();
    assert_self_contained(&html);
    assert_eq!(text_of(&html, "count-copied"), "6");
    assert_eq!(text_of(&html, "count-skipped"), "1");
    // JPEG, HEIC and PNG are shown; the movies and the sidecar are tiles.
    assert_eq!(html.matches("src=\"data:image/jpeg;base64,").count(), 3);
    // The Live Photo group and the MP4 in January 2024; totals per archive.
    assert!(
        html.contains("<td>2024-01</td><td>4</td>"),
        "per-month counts"
    );
    assert_eq!(html.matches("<tr><th>Total</th><th>6</th>").count(), 2);
    assert!(html.contains("Thumbs.db"), "the skipped file is listed");
    let Some(dom) = render(&page) else { return };
    assert!(
        dom.contains("data-rendered=\"yes\""),
        "the page's script ran"
    );
    assert_eq!(text_of(&dom, "count-copied"), "6");
    assert_eq!(
        text_of(&dom, "thumbs-decoded"),
        "3",
        "the browser decoded every embedded thumbnail"
    );
}

#[test]
fn verify_report_lists_problems_with_what_to_do() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    roll(&src);
    let (a, b) = (t.path().join("a"), t.path().join("b"));
    exported(&src, &[&a, &b]);
    fs::remove_file(a.join("2023/07/IMG_0001.JPG")).unwrap();
    flip_byte(&a.join("2024/01/IMG_0002.MOV"));
    let page = t.path().join("verify.html");
    let (code, _, _) = run_json(&["verify", &s(&a), "--report", page.to_str().unwrap()]);
    assert_eq!(code, 1);
    let html = fs::read_to_string(&page).unwrap();
    assert_self_contained(&html);
    assert_eq!(text_of(&html, "count-missing"), "1");
    assert_eq!(text_of(&html, "count-corrupt"), "1");
    assert!(html.contains("id=\"problems-missing\""));
    assert!(html.contains("<code>2023/07/IMG_0001.JPG</code>"));
    assert!(html.contains("--repair-from"));
    // After the repair: nothing left, and the repaired photo is shown.
    let (code, _, _) = run_json(&[
        "verify",
        &s(&a),
        "--repair-from",
        &s(&b),
        "--report",
        page.to_str().unwrap(),
    ]);
    assert_eq!(code, 0);
    let html = fs::read_to_string(&page).unwrap();
    assert_eq!(text_of(&html, "count-repaired"), "2");
    assert_eq!(text_of(&html, "count-problems"), "0");
    let Some(dom) = render(&page) else { return };
    assert_eq!(text_of(&dom, "count-verified"), "6");
    assert_eq!(text_of(&dom, "thumbs-decoded"), "1");
}

#[test]
fn check_report_gives_the_verdict_and_previews_what_is_not_safe() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    roll(&src);
    let (a, b) = (t.path().join("a"), t.path().join("b"));
    exported(&src, &[&a, &b]);
    write(
        &src.join("DCIM/100APPLE/IMG_0009.JPG"),
        &iphone_jpeg(9, dt(2024, 2, 2, 2, 2, 2), 0),
    );
    let page = t.path().join("check.html");
    let (code, _, _) = run_json(&[
        "check",
        "--from",
        &s(&src),
        &s(&a),
        &s(&b),
        "--report",
        page.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    let html = fs::read_to_string(&page).unwrap();
    assert_self_contained(&html);
    assert_eq!(text_of(&html, "count-safe"), "6");
    assert_eq!(text_of(&html, "count-not-archived"), "1");
    assert!(html.contains("class=\"verdict bad\""));
    assert!(html.contains("<code>DCIM/100APPLE/IMG_0009.JPG</code>"));
    let Some(dom) = render(&page) else { return };
    assert_eq!(text_of(&dom, "count-items"), "8");
    assert_eq!(text_of(&dom, "thumbs-decoded"), "1");
}
