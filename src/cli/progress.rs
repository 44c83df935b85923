//! Progress bars on stderr (indicatif), only when stderr is a terminal.

use std::io::IsTerminal;
use std::time::Duration;

use camroll::progress::{PlainProgress, Progress};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Items, bytes, MB/s and ETA on stderr.
pub struct BarProgress {
    bar: ProgressBar,
    items_total: std::sync::atomic::AtomicU64,
    items_done: std::sync::atomic::AtomicU64,
}

impl Progress for BarProgress {
    fn phase(&self, name: &str, items: u64, bytes: u64) {
        use std::sync::atomic::Ordering::Relaxed;
        self.bar.reset();
        self.bar.set_prefix(name.to_string());
        // Unknown totals (scanning): a spinner; known bytes: a bar with rate and ETA.
        self.bar.set_style(if bytes == 0 {
            spinner_style()
        } else {
            bar_style()
        });
        self.bar.set_length(bytes.max(1));
        self.bar.set_position(0);
        self.items_total.store(items, Relaxed);
        self.items_done.store(0, Relaxed);
        self.bar.set_message(if items == 0 {
            String::new()
        } else {
            format!("0/{items} items")
        });
    }
    fn advance(&self, items: u64, bytes: u64) {
        use std::sync::atomic::Ordering::Relaxed;
        let done = self.items_done.fetch_add(items, Relaxed) + items;
        self.bar.inc(bytes);
        self.bar
            .set_message(format!("{done}/{} items", self.items_total.load(Relaxed)));
    }
    fn message(&self, line: &str) {
        self.bar
            .suspend(|| eprintln!("{}", camroll::ops::shown_lines(line)));
    }
    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl BarProgress {
    fn new() -> BarProgress {
        let bar = ProgressBar::with_draw_target(Some(1), ProgressDrawTarget::stderr());
        bar.set_style(spinner_style());
        bar.enable_steady_tick(Duration::from_millis(200));
        BarProgress {
            bar,
            items_total: Default::default(),
            items_done: Default::default(),
        }
    }
}

fn bar_style() -> ProgressStyle {
    ProgressStyle::with_template(
        "{prefix:>10} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta} {msg}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ")
}

fn spinner_style() -> ProgressStyle {
    ProgressStyle::with_template("{prefix:>10} {spinner} {elapsed} {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner())
}

/// Bars when stderr is a terminal and `quiet` is off; plain diagnostics otherwise.
pub fn for_stderr(quiet: bool) -> Box<dyn Progress> {
    if !quiet && std::io::stderr().is_terminal() {
        Box::new(BarProgress::new())
    } else {
        Box::new(PlainProgress)
    }
}
