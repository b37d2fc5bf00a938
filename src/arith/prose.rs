//! The GSM8K prose rules: calculator annotations `<<a=b>>`, notation rewritten into plain
//! arithmetic (money, units and remarks stripped), and a claim read around each `=` where it
//! needs an operator on its left side and plain numbers on both.

use std::sync::OnceLock;

use regex::Regex;

use super::claim::{accepts, Claim};
use super::expr::{lex, readings, Env, Rel};
use super::pattern::re;

/// GSM8K calculator annotations `<<expr=result>>`.
pub fn annotation_claims(text: &str) -> Vec<Claim> {
    static ANN: OnceLock<Regex> = OnceLock::new();
    re(&ANN, r"<<([^<>=]+)=([^<>=]+)>>")
        .captures_iter(text)
        .filter_map(|c| compare(&normalize(&c[1]), &normalize(&c[2])))
        .collect()
}

pub fn strip_annotations(text: &str) -> String {
    static ANN: OnceLock<Regex> = OnceLock::new();
    re(&ANN, r"<<[^<>]*>>").replace_all(text, "").into_owned()
}

/// Rewrites notation into plain `+ - * / ^ ( ) %` arithmetic.
pub fn normalize(text: &str) -> String {
    static FRAC: OnceLock<Regex> = OnceLock::new();
    static THOUSANDS: OnceLock<Regex> = OnceLock::new();
    static TIMES_X: OnceLock<Regex> = OnceLock::new();
    static TEXT: OnceLock<Regex> = OnceLock::new();
    let mut s = text.to_string();
    let frac = re(&FRAC, r"\\[dt]?frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}");
    while frac.is_match(&s) {
        s = frac.replace_all(&s, "(($1)/($2))").into_owned();
    }
    s = re(&TEXT, r"\\(?:text|mathrm|textbf|mbox)\s*\{([^{}]*)\}").replace_all(&s, " $1 ").into_owned();
    s = s.replace("\\boxed", "");
    for (from, to) in [
        ("\\times", "*"),
        ("\\cdot", "*"),
        ("\\div", "/"),
        ("×", "*"),
        ("·", "*"),
        ("∗", "*"),
        ("÷", "/"),
        ("−", "-"),
        ("–", "-"),
        ("\\left", ""),
        ("\\right", ""),
        ("\\%", "%"),
        ("\\$", ""),
        ("$", ""),
        ("\\(", " "),
        ("\\)", " "),
        ("\\[", " "),
        ("\\]", " "),
        ("\\!", ""),
        ("\\,", ""),
        ("\\ ", " "),
        ("{", "("),
        ("}", ")"),
    ] {
        s = s.replace(from, to);
    }
    s = re(&THOUSANDS, r"\b(\d{1,3})((?:,\d{3})+)\b(?:[^,\d]|$)")
        .replace_all(&s, |c: &regex::Captures| {
            let whole = &c[0];
            let tail = &whole[c[1].len() + c[2].len()..];
            format!("{}{}{}", &c[1], c[2].replace(',', ""), tail)
        })
        .into_owned();
    s = strip_units(&s);
    re(&TIMES_X, r"(\d|\))\s+[xX]\s+(\d|\()").replace_all(&s, "$1 * $2").into_owned()
}

/// Drops what only labels a number inside arithmetic: per-units (`$15/student`), unit words
/// between a number and an operator (`2 books × 3`), and remarks in parentheses
/// (`6 (by her brother) + 1`). Words elsewhere stay, so a sentence never turns into arithmetic.
fn strip_units(s: &str) -> String {
    static REMARK: OnceLock<Regex> = OnceLock::new();
    static PER_UNIT: OnceLock<Regex> = OnceLock::new();
    static UNIT: OnceLock<Regex> = OnceLock::new();
    let s = re(&REMARK, r"(\d%?)\s*\([^()]*[A-Za-z][^()]*\)").replace_all(s, "$1 ");
    let s = re(&PER_UNIT, r"(\d)\s*/\s*[A-Za-z]{2,}(?:\s*/\s*[A-Za-z]{2,})*").replace_all(&s, "$1");
    // A unit is a word of two or more letters after a space: `6B` or `2 y` are algebra.
    let unit = re(&UNIT, r"(\d%?)[ \t]+(?:[A-Za-z][A-Za-z'.-]+[ \t]*){1,3}([-+*/=)])");
    let mut s = s.into_owned();
    // Repeat: one pass cannot see overlapping matches like `2 books * 3 pounds = 6`.
    for _ in 0..4 {
        let next = unit.replace_all(&s, |c: &regex::Captures| {
            let words = &c[0][c[1].len()..c[0].len() - c[2].len()];
            // "3 countries is -48 + 21": a sign glued to the next number starts new arithmetic.
            let end = c.get(0).map_or(0, |m| m.end());
            let signed = &c[2] == "-" && words.ends_with(' ') && s[end..].starts_with(|ch: char| ch.is_ascii_digit());
            if signed {
                return c[0].to_string();
            }
            // `2 x 3` is multiplication, not a unit.
            if words.trim().eq_ignore_ascii_case("x") {
                c[0].to_string()
            } else {
                format!("{} {}", &c[1], &c[2])
            }
        });
        if next == s {
            break;
        }
        s = next.into_owned();
    }
    s
}

fn is_math(c: char) -> bool {
    c.is_ascii_digit() || " .+-*/^()%".contains(c)
}

/// Claims around each `=` (not `==`, `<=`, `>=`, `!=`).
pub fn equation_claims(s: &str) -> Vec<Claim> {
    let chars: Vec<char> = s.chars().collect();
    let eqs: Vec<usize> = (0..chars.len())
        .filter(|&i| chars[i] == '=' && chars.get(i + 1) != Some(&'=') && (i == 0 || !"=<>!≈~".contains(chars[i - 1])))
        .collect();
    let mut claims = Vec::new();
    for &eq in &eqs {
        let Some(lhs) = left_span(&chars, eq) else { continue };
        let Some(rhs) = right_span(&chars, eq) else { continue };
        if let Some(c) = compare(&lhs, &rhs) {
            claims.push(c);
        }
    }
    claims
}

/// The arithmetic just before `=`, or None when it is not a clean expression with an operator.
fn left_span(chars: &[char], eq: usize) -> Option<String> {
    let mut start = eq;
    while start > 0 && is_math(chars[start - 1]) {
        start -= 1;
    }
    while start < eq && chars[start] == ' ' {
        start += 1;
    }
    // Glued to a word or symbol (x2 + 3, a_1 - 4, 5:30): not plain arithmetic.
    if start > 0 && (chars[start - 1].is_alphanumeric() || "_:'\\".contains(chars[start - 1])) {
        return None;
    }
    let span: String = chars[start..eq].iter().collect();
    // Starting with an operator means the left side began with something that is not a number
    // (a variable, a word): the real left side is unknown.
    if span.starts_with(['+', '*', '/', '^', '%', ')']) || span.starts_with("- ") {
        return None;
    }
    let span = trim_expr(&span);
    has_operator(&span).then_some(span)
}

/// The arithmetic just after `=`.
fn right_span(chars: &[char], eq: usize) -> Option<String> {
    let mut end = eq + 1;
    while end < chars.len() && is_math(chars[end]) {
        // "= 5. 2 more arrive": a period and a space end the sentence.
        if chars[end] == '.' && chars.get(end + 1).is_some_and(|c| c.is_whitespace()) {
            break;
        }
        end += 1;
    }
    let span: String = chars[eq + 1..end].iter().collect();
    // Ending with an operator means the right side goes on into words or variables.
    if end < chars.len() && span.trim_end().ends_with(['+', '-', '*', '/', '^', '(']) {
        return None;
    }
    let span = trim_expr(span.trim_end_matches(|c: char| c == ' ' || "+-*/^(".contains(c)));
    // 7x, 5th, 3rd: a number glued to a word is not a plain result.
    if end < chars.len() && chars[end].is_alphabetic() && !span.ends_with(' ') && chars[end - 1].is_ascii_digit() {
        return None;
    }
    (!span.trim().is_empty()).then_some(span.trim().to_string())
}

/// Drops sentence periods and unbalanced outer parentheses.
fn trim_expr(s: &str) -> String {
    let mut s = s.trim().trim_end_matches('.').trim().to_string();
    loop {
        let open = s.matches('(').count();
        let close = s.matches(')').count();
        if open > close && s.starts_with('(') {
            s = s[1..].trim().to_string();
        } else if close > open && s.ends_with(')') {
            s = s[..s.len() - 1].trim().trim_end_matches('.').to_string();
        } else {
            return s;
        }
    }
}

fn has_operator(s: &str) -> bool {
    let t = s.trim();
    let body = t.strip_prefix('-').unwrap_or(t);
    body.contains(['+', '*', '/', '^']) || body.trim_start_matches(['(', ' ']).contains('-')
}

/// Evaluates both sides of a prose equation and compares them.
fn compare(lhs: &str, rhs: &str) -> Option<Claim> {
    let (_, computed) = readings(&lex(lhs), &Env::new())?;
    let (stated_expr, stated) = readings(&lex(rhs), &Env::new())?;
    if computed.is_empty() || stated.is_empty() {
        return None;
    }
    let ok = accepts(Rel::Eq, &computed, &stated, &stated_expr, true);
    Some(Claim { text: format!("{} = {}", lhs.trim(), rhs.trim()), computed: computed[0], stated: stated[0], ok })
}
