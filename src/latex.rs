//! LaTeX groups in plain text (the ground floor: imports nothing of ours): where the brace that
//! closes a group is, so `\boxed{…}` with nested braces is read the same way by the generator's
//! answer stop, the answer reader and the TUI's rendering.

/// Byte index of the `}` that closes a group whose `{` came just before `s`.
pub fn closing_brace(s: &str) -> Option<usize> {
    let mut depth = 1usize;
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 1 => return Some(i),
            '}' => depth -= 1,
            _ => {}
        }
    }
    None
}

/// Byte range of the body of the `\boxed{…}` that starts at byte `at` of `text` (which must
/// point at `\boxed{`); None when it never closes.
pub fn boxed_body(text: &str, at: usize) -> Option<std::ops::Range<usize>> {
    let start = at + "\\boxed{".len();
    let end = start + closing_brace(text.get(start..)?)?;
    Some(start..end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_groups_close_at_their_own_brace() {
        assert_eq!(closing_brace("a}b"), Some(1));
        assert_eq!(closing_brace(r"\frac{1}{2}} rest"), Some(11));
        assert_eq!(closing_brace("{never"), None);
        let text = r"so \boxed{\frac{3}{4}} done";
        let body = boxed_body(text, text.find("\\boxed{").unwrap()).unwrap();
        assert_eq!(&text[body], r"\frac{3}{4}");
        assert_eq!(boxed_body(r"\boxed{12", 0), None);
    }
}
