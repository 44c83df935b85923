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
        eprintln!("{}", shown_lines(line));
    }
    fn finish(&self) {}
}

/// Text from disk or the wire (a file name, a catalog row) made safe to show
/// on a terminal: every control character is escaped (`\n`, `\r`, `\t`,
/// otherwise `\u{1b}`), so a hostile name cannot move the cursor, recolour
/// the screen or forge a line of the report.
pub fn shown(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Report text for a terminal: [`shown`], line by line (the report's own
/// line breaks are kept; any other control character is escaped).
pub fn shown_lines(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&shown(line));
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn control_characters_are_escaped_for_the_terminal() {
        assert_eq!(super::shown("IMG_0001.JPG"), "IMG_0001.JPG");
        assert_eq!(
            super::shown("a\u{1b}[2Jb\rc\nd\u{9b}e"),
            "a\\u{1b}[2Jb\\rc\\nd\\u{9b}e"
        );
        assert_eq!(super::shown_lines("x\u{7}\ny\n"), "x\\u{7}\ny\n");
    }
}
