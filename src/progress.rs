//! Progress reporting behind a trait, so the operations never touch the
//! terminal: the binary draws bars on stderr when it is a terminal
//! (`src/cli/progress.rs`); [`PlainProgress`] only passes diagnostics on.

/// What an operation reports while it runs.
pub trait Progress: Send + Sync {
    /// A new phase ("Copying", "Verifying") with its totals (0 = unknown).
    fn phase(&self, name: &str, items: u64, bytes: u64);
    /// Work done since the last call.
    fn advance(&self, items: u64, bytes: u64);
    /// A diagnostic line on stderr that does not garble the bar.
    fn message(&self, line: &str);
    /// The operation is done: clear whatever was drawn.
    fn finish(&self);
}

/// Prints diagnostics, draws nothing (stderr is not a terminal).
pub struct PlainProgress;

impl Progress for PlainProgress {
    fn phase(&self, _: &str, _: u64, _: u64) {}
    fn advance(&self, _: u64, _: u64) {}
    fn message(&self, line: &str) {
        eprintln!("{}", crate::ops::shown_lines(line));
    }
    fn finish(&self) {}
}
