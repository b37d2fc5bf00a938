//! Regexes compiled once.

use std::sync::OnceLock;

use regex::Regex;

/// The regex in `cell`, compiled from `pattern` on first use.
pub fn re(cell: &'static OnceLock<Regex>, pattern: &str) -> &'static Regex {
    cell.get_or_init(|| Regex::new(pattern).expect("valid regex"))
}
