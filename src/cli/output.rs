//! Printing for the commands. A closed pipe on standard output (`stepscope stats | head -1`) is
//! a normal end: the process exits 0 without a word, like other command-line tools. Any other
//! write error (a full disk) is an error with exit code 2. Standard error never panics.
//!
//! Text printed here comes partly from outside (trace files, journals, servers' answers, model
//! output), so every line passes through [`terminal_safe`]: no control byte from a file or a
//! server reaches the terminal (an OSC title or clipboard write, a cursor move). Fields that a
//! line is built from go through [`field`] as well, which also shows line breaks as `\n`, so
//! a name cannot start a line of its own.

use std::borrow::Cow;
use std::fmt;
use std::io::{self, Write};

/// `text` without terminal controls: C0 controls other than line feed and tab, DEL and the C1
/// range are shown as `\u{..}` escapes (visible, never acted on).
pub fn terminal_safe(text: &str) -> Cow<'_, str> {
    escape(text, |c| c == '\n' || c == '\t')
}

/// One field of a printed line (an id, an annotator's name, a category, a server's words): every
/// control character, line breaks included, is shown as an escape.
pub fn field(text: &str) -> Cow<'_, str> {
    escape(text, |_| false)
}

fn escape(text: &str, keep: impl Fn(char) -> bool) -> Cow<'_, str> {
    let unsafe_char = |c: char| (c.is_control() || ('\u{80}'..='\u{9f}').contains(&c)) && !keep(c);
    if !text.chars().any(unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' if !keep(c) => out.push_str("\\n"),
            '\r' if !keep(c) => out.push_str("\\r"),
            '\t' if !keep(c) => out.push_str("\\t"),
            c if unsafe_char(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Writes to standard output, ending the process on a write error (see the module notes).
pub fn write_out(args: fmt::Arguments) {
    let text = fmt::format(args);
    if let Err(e) = io::stdout().lock().write_all(terminal_safe(&text).as_bytes()) {
        fail(e)
    }
}

/// Writes to standard output and says whether it worked, for a caller that has more to say
/// about a failure than "cannot write output" (the text is made safe like any other).
pub fn try_write_out(args: fmt::Arguments) -> io::Result<()> {
    let text = fmt::format(args);
    let mut out = io::stdout().lock();
    out.write_all(terminal_safe(&text).as_bytes())?;
    out.flush()
}

/// Writes raw bytes to standard output (same rules).
pub fn write_out_bytes(bytes: &[u8]) {
    if let Err(e) = io::stdout().lock().write_all(bytes) {
        fail(e)
    }
}

/// Flushes standard output before exit (same rules).
pub fn flush_out() {
    if let Err(e) = io::stdout().lock().flush() {
        fail(e)
    }
}

/// Writes to standard error; errors are ignored (there is nowhere left to report them).
pub fn write_err(args: fmt::Arguments) {
    let text = fmt::format(args);
    let _ = io::stderr().lock().write_all(terminal_safe(&text).as_bytes());
}

/// Redraws the progress line on a terminal: our own escape (return, clear the line) before a
/// line whose text is made safe like any other.
pub fn redraw_err(line: &str) {
    let _ = write!(io::stderr().lock(), "\r\x1b[2K{}", field(line));
}

fn fail(e: io::Error) -> ! {
    if e.kind() == io::ErrorKind::BrokenPipe {
        std::process::exit(super::EXIT_OK);
    }
    write_err(format_args!("error: cannot write output: {e}\n"));
    std::process::exit(super::EXIT_USAGE);
}

/// `println!` for the commands (see [`write_out`]).
#[macro_export]
macro_rules! outln {
    () => { $crate::cli::output::write_out(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::cli::output::write_out(format_args!("{}\n", format_args!($($arg)*))) };
}

/// `print!` for the commands (see [`write_out`]).
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => { $crate::cli::output::write_out(format_args!($($arg)*)) };
}

/// `eprintln!` that never panics.
#[macro_export]
macro_rules! errln {
    () => { $crate::cli::output::write_err(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::cli::output::write_err(format_args!("{}\n", format_args!($($arg)*))) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_bytes_are_shown_never_sent() {
        let osc = "id\x1b]0;pwned\x07 \x1b]52;c;aGk=\x07\u{9b}2J";
        let safe = terminal_safe(osc);
        assert!(!safe.chars().any(|c| c.is_control()), "{safe:?}");
        assert!(safe.contains("\\u{1b}]0;pwned\\u{7}"), "{safe}");
        assert_eq!(terminal_safe("a\tb\nc"), "a\tb\nc");
        assert_eq!(field("alice\nbob 9 labels"), "alice\\nbob 9 labels");
        assert!(matches!(field("plain"), Cow::Borrowed(_)));
    }
}
