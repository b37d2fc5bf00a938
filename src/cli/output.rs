//! Printing for the commands. A closed pipe on standard output (`stepscope stats | head -1`) is
//! a normal end: the process exits 0 without a word, like other command-line tools. Any other
//! write error (a full disk) is an error with exit code 2. Standard error never panics.

use std::fmt;
use std::io::{self, Write};

/// Writes to standard output, ending the process on a write error (see the module notes).
pub fn write_out(args: fmt::Arguments) {
    if let Err(e) = io::stdout().lock().write_fmt(args) {
        fail(e)
    }
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
    let _ = io::stderr().lock().write_fmt(args);
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
