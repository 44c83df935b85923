//! Sources that change under us, driven through the library's export with a
//! scripted source: a file that changes while read is read once more (and
//! recorded as it is now); one that keeps changing is reported and left for
//! the next run; a source that lists one size and sends another fails that
//! file with a message saying so. Nothing half-written is left behind.

mod support;

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use camroll::ops::export::ExportSummary;
use camroll::ops::export::{export, ExportOptions};
use camroll::progress::PlainProgress;
use camroll::source::{ReadSeek, Scan, Source, SourceError, SourceItem};
use support::*;

/// What the scripted file looks like at each open / listing.
#[derive(Clone, Copy)]
enum Script {
    /// Grows between the scan and the first read; stable after.
    GrowsOnce,
    /// Different at every read and every listing.
    KeepsChanging,
    /// Always listed at the same size, always sends 100 bytes more.
    LiesAboutSize,
    /// Same size, replaced in place while the first read ran (new mtime after it).
    ReplacedSameSize,
}

struct Scripted {
    script: Script,
    base: Vec<u8>,
    opens: AtomicU64,
    stats: AtomicU64,
}

fn t(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
}

impl Scripted {
    fn new(script: Script) -> Scripted {
        Scripted {
            script,
            base: iphone_jpeg(5, dt(2023, 4, 5, 6, 7, 8), 2),
            opens: AtomicU64::new(0),
            stats: AtomicU64::new(0),
        }
    }
    /// The bytes of version `v` (0 = as scanned).
    fn version(&self, v: u64) -> Vec<u8> {
        let mut b = self.base.clone();
        match self.script {
            Script::GrowsOnce => {
                if v > 0 {
                    b.extend(std::iter::repeat_n(0xAB, 5000));
                }
            }
            Script::KeepsChanging => b.extend(std::iter::repeat_n(v as u8, 1000 * v as usize)),
            Script::LiesAboutSize => b.extend([0u8; 100]),
            Script::ReplacedSameSize => {
                if v == 1 {
                    // The same length, other trailing bytes.
                    let n = b.len();
                    b[n - 10..].copy_from_slice(&[0x55; 10]);
                }
            }
        }
        b
    }
    /// The listing at the n-th restat (0 = the scan).
    fn listing(&self, n: u64) -> (u64, SystemTime) {
        match self.script {
            Script::GrowsOnce => {
                if n == 0 {
                    (self.base.len() as u64, t(0))
                } else {
                    (self.version(1).len() as u64, t(1))
                }
            }
            Script::KeepsChanging => (self.version(n).len() as u64, t(n)),
            Script::LiesAboutSize => (self.base.len() as u64, t(0)),
            Script::ReplacedSameSize => (self.base.len() as u64, if n == 0 { t(0) } else { t(1) }),
        }
    }
    fn item(&self, (size, mtime): (u64, SystemTime)) -> SourceItem {
        SourceItem {
            rel_path: "DCIM/100APPLE/IMG_0001.JPG".into(),
            dir: "DCIM/100APPLE".into(),
            name: "IMG_0001.JPG".into(),
            size,
            mtime: Some(mtime),
            locator: PathBuf::from("IMG_0001.JPG"),
            listed: None,
        }
    }
}

impl Source for Scripted {
    fn id(&self) -> String {
        "scripted:test".into()
    }
    fn scan(&self) -> Result<Scan, SourceError> {
        Ok(Scan {
            items: vec![self.item(self.listing(0))],
            ..Default::default()
        })
    }
    fn open(&self, _item: &SourceItem) -> Result<Box<dyn ReadSeek>, SourceError> {
        let n = self.opens.fetch_add(1, Ordering::SeqCst);
        let v = match self.script {
            // Grew before the first read started.
            Script::GrowsOnce => 1,
            Script::KeepsChanging => n + 1,
            Script::LiesAboutSize => 0,
            // The first read saw the old bytes; the replacement is there after.
            Script::ReplacedSameSize => n.min(1),
        };
        Ok(Box::new(Cursor::new(self.version(v))))
    }
    fn restat(&self, _item: &SourceItem, _after_read: bool) -> Option<std::io::Result<SourceItem>> {
        let n = self.stats.fetch_add(1, Ordering::SeqCst) + 1;
        Some(Ok(self.item(self.listing(n))))
    }
}

fn run(source: &Scripted, archive: &Path) -> ExportSummary {
    let opts = ExportOptions {
        destinations: vec![archive.to_path_buf()],
        verify: true,
        jobs: Some(1),
        ..Default::default()
    };
    export(source, &opts, &PlainProgress).expect("export runs")
}

fn staging_is_empty(archive: &Path) {
    let left: Vec<_> = std::fs::read_dir(archive.join(".camroll/staging"))
        .unwrap()
        .collect();
    assert!(left.is_empty(), "staging leftovers: {left:?}");
}

fn recorded(archive: &Path) -> Option<(i64, i64)> {
    let db = rusqlite::Connection::open(archive.join(".camroll/catalog.sqlite")).unwrap();
    db.query_row(
        "SELECT size, mtime_ns FROM source_items WHERE rel_path = 'DCIM/100APPLE/IMG_0001.JPG'",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .ok()
}

#[test]
fn a_file_that_changes_while_read_is_read_again_once_and_recorded_as_it_is_now() {
    let d = tempfile::tempdir().unwrap();
    let a = d.path().join("a");
    let src = Scripted::new(Script::GrowsOnce);
    let s = run(&src, &a);
    assert!(s.failed.is_empty(), "{:?}", s.failed);
    assert_eq!(s.copied, 1);
    assert_eq!(src.opens.load(Ordering::SeqCst), 2, "read exactly twice");
    let files = archived_files(&a);
    assert_eq!(std::fs::read(a.join(&files[0])).unwrap(), src.version(1));
    let (size, mtime) = recorded(&a).unwrap();
    assert_eq!(
        size as usize,
        src.version(1).len(),
        "recorded as listed now"
    );
    assert_eq!(
        mtime,
        t(1).duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as i64
    );
    staging_is_empty(&a);

    // Replaced in place with the same size (only the mtime tells): read again too.
    let b = d.path().join("b");
    let src = Scripted::new(Script::ReplacedSameSize);
    let s = run(&src, &b);
    assert!(s.failed.is_empty(), "{:?}", s.failed);
    assert_eq!(
        src.opens.load(Ordering::SeqCst),
        2,
        "read again after the replacement"
    );
    let files = archived_files(&b);
    assert_eq!(std::fs::read(b.join(&files[0])).unwrap(), src.version(1));
    staging_is_empty(&b);
}

#[test]
fn a_file_that_keeps_changing_is_reported_and_left_for_the_next_run() {
    let d = tempfile::tempdir().unwrap();
    let a = d.path().join("a");
    let src = Scripted::new(Script::KeepsChanging);
    let s = run(&src, &a);
    assert_eq!(s.copied, 0);
    assert_eq!(s.failed.len(), 1, "{:?}", s.failed);
    assert!(
        s.failed[0].error.contains("kept changing"),
        "{}",
        s.failed[0].error
    );
    assert_eq!(
        src.opens.load(Ordering::SeqCst),
        2,
        "retried once, not forever"
    );
    assert!(archived_files(&a).is_empty());
    assert!(
        recorded(&a).is_none(),
        "not recorded: the next run tries again"
    );
    staging_is_empty(&a);
    assert!(!s.is_ok());
}

#[test]
fn a_source_that_lists_one_size_and_sends_another_fails_that_file_clearly() {
    let d = tempfile::tempdir().unwrap();
    let a = d.path().join("a");
    let src = Scripted::new(Script::LiesAboutSize);
    let s = run(&src, &a);
    assert_eq!(s.copied, 0);
    assert_eq!(s.failed.len(), 1, "{:?}", s.failed);
    let e = &s.failed[0].error;
    let (listed, sent) = (src.base.len(), src.base.len() + 100);
    assert!(
        e.contains(&format!(
            "lists this file as {listed} bytes but sent {sent}"
        )),
        "{e}"
    );
    assert!(archived_files(&a).is_empty());
    staging_is_empty(&a);
}
