//! Final-answer extraction and normalisation shared by readers, stats and (later) verifiers.

use regex::Regex;
use std::sync::OnceLock;

/// Extracts a final answer from solution text: `\boxed{…}`, `#### N`, `A: N`, `The answer is N`.
/// Returns `None` when none of these markers is present.
pub fn extract_marked(text: &str) -> Option<String> {
    if let Some(b) = last_boxed(text) {
        return Some(b);
    }
    static MARKERS: OnceLock<Regex> = OnceLock::new();
    let re = MARKERS.get_or_init(|| {
        Regex::new(r"(?mi)(?:^####\s*|^A:\s*|the (?:final )?answer is:?\s*)\$?\s*([^\n]+?)\s*\.?\s*$").unwrap()
    });
    re.captures_iter(text).last().map(|c| c[1].trim().to_string())
}

/// The content of the last `\boxed{…}`, with nested braces balanced.
pub fn last_boxed(text: &str) -> Option<String> {
    let body = crate::latex::boxed_body(text, text.rfind("\\boxed{")?)?;
    Some(text[body].trim().to_string())
}

/// Canonical text of an answer: no `$`, thousands separators, surrounding spaces or final period;
/// numbers printed in lowest form (`18.00` → `18`, `\frac{1}{2}` → `1/2`).
pub fn normalize(answer: &str) -> String {
    let answer = answer.trim();
    // A whole answer in `\boxed{…}` is its content.
    let answer = match last_boxed(answer) {
        Some(inner) if answer.starts_with("\\boxed{") && answer.ends_with('}') => inner,
        _ => answer.to_string(),
    };
    let mut s = answer.trim().trim_end_matches('.').trim().to_string();
    for junk in ["\\$", "$", "\\%", "%", "\\!", "\\,", "{,}"] {
        s = s.replace(junk, "");
    }
    if let Some(inner) = s.strip_prefix("\\text{").and_then(|r| r.strip_suffix('}')) {
        s = inner.to_string();
    }
    let s = s.trim();
    match parse_number(s).or_else(|| parse_number(number_before_unit(s)?)) {
        Some((num, den)) => format_fraction(num, den),
        None => s.to_lowercase(),
    }
}

/// The number of an answer written with a unit after it (`18 dollars`, `5 eggs per day`,
/// `18 cm`): only when everything after the number is words, so `18 dollars and 50 cents` or
/// `3 + 4` stay as they are.
fn number_before_unit(s: &str) -> Option<&str> {
    static UNIT: OnceLock<Regex> = OnceLock::new();
    let re = UNIT.get_or_init(|| Regex::new(r"^(-?\d[\d,]*(?:\.\d+)?)\s*([A-Za-z][A-Za-z ./]*)$").unwrap());
    let c = re.captures(s)?;
    let unit = c.get(2)?.as_str();
    // A second quantity ("and 50 cents") is not a unit.
    if unit.split_whitespace().any(|w| w == "and" || w == "plus") {
        return None;
    }
    Some(c.get(1)?.as_str())
}

/// True when two answers are the same after normalisation (numbers compared exactly).
pub fn same_answer(a: &str, b: &str) -> bool {
    normalize(a) == normalize(b)
}

/// Parses `-1,234.50`, `3/4`, `\frac{3}{4}` into a reduced fraction (numerator, denominator).
fn parse_number(s: &str) -> Option<(i128, i128)> {
    static FRAC: OnceLock<Regex> = OnceLock::new();
    let frac = FRAC.get_or_init(|| Regex::new(r"^\\d?frac\{([^{}]+)\}\{([^{}]+)\}$").unwrap());
    if let Some(c) = frac.captures(s) {
        return divide(parse_decimal(&c[1])?, parse_decimal(&c[2])?);
    }
    if let Some((a, b)) = s.split_once('/') {
        return divide(parse_decimal(a)?, parse_decimal(b)?);
    }
    parse_decimal(s)
}

fn divide(a: (i128, i128), b: (i128, i128)) -> Option<(i128, i128)> {
    if b.0 == 0 {
        return None;
    }
    Some(reduce(a.0 * b.1, a.1 * b.0))
}

fn parse_decimal(s: &str) -> Option<(i128, i128)> {
    let s = s.trim().replace(',', "");
    let (neg, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest.to_string()),
        None => (false, s.clone()),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((&digits, ""));
    if int.is_empty() && frac.is_empty() || !int.chars().chain(frac.chars()).all(|c| c.is_ascii_digit()) {
        return None;
    }
    if int.len() + frac.len() > 30 {
        return None;
    }
    let den = 10i128.pow(frac.len() as u32);
    let num: i128 = format!("{int}{frac}").parse().ok()?;
    Some(reduce(if neg { -num } else { num }, den))
}

fn reduce(num: i128, den: i128) -> (i128, i128) {
    let g = gcd(num.abs(), den.abs()).max(1);
    let sign = if den < 0 { -1 } else { 1 };
    (sign * num / g, sign * den / g)
}

fn gcd(a: i128, b: i128) -> i128 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

fn format_fraction(num: i128, den: i128) -> String {
    if den == 1 {
        num.to_string()
    } else {
        format!("{num}/{den}")
    }
}

/// A final answer for grading: a marked one (`\boxed{}`, `####`, `A:`, "the answer is"), else
/// the last number in the text (commas and `$` dropped).
pub fn extract_answer(text: &str) -> Option<String> {
    if let Some(a) = extract_marked(text) {
        return Some(a);
    }
    static NUMBER: OnceLock<Regex> = OnceLock::new();
    let re = NUMBER.get_or_init(|| Regex::new(r"-?\$?\d[\d,]*(?:\.\d+)?").unwrap());
    re.find_iter(text).last().map(|m| m.as_str().replace([',', '$'], ""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extracts_markers() {
        assert_eq!(extract_marked("so \\boxed{\\frac{1}{2}} ok").as_deref(), Some("\\frac{1}{2}"));
        assert_eq!(extract_marked("a\n#### 1,234").as_deref(), Some("1,234"));
        assert_eq!(extract_marked("x\nA: 18").as_deref(), Some("18"));
        assert_eq!(extract_marked("The answer is $42.").as_deref(), Some("42"));
        assert_eq!(extract_marked("no marker 5"), None);
    }

    #[test]
    fn normalizes_numbers() {
        assert!(same_answer("$1,234.00", "1234"));
        assert!(same_answer("\\frac{3}{4}", "0.75"));
        assert!(same_answer("6/8", "3/4"));
        assert!(same_answer("-5", "-5.0"));
        assert!(!same_answer("18", "17"));
        assert!(same_answer("Yes", "yes."));
        assert_eq!(normalize("10%"), "10");
    }
}
