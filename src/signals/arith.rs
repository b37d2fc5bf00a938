//! Model-free arithmetic check: finds arithmetic claims in a step (chains `a op b = c`, GSM8K
//! `<<a=b>>`, money, thousands separators, percent, ×/÷/\times/\div/\cdot, `\frac{a}{b}`,
//! decimals) and checks them with exact rational arithmetic.
//!
//! Built for precision: a claim needs an operator on its left side and plain numbers around the
//! `=`; anything ambiguous (variables, units inside the expression, `≈`, dates, ranges) is no
//! evidence rather than an error. Rounding tolerance: a right side written with d decimals may be
//! off by half a unit in its last place; an integer right side may be the floor or ceiling of a
//! non-integer result (counting whole items).

use std::sync::OnceLock;

use regex::Regex;

use super::rational::Ratio;

/// One arithmetic claim found in a step.
#[derive(Debug, Clone, PartialEq)]
pub struct Claim {
    /// The claim as found (after normalisation), e.g. `2*3 = 5`.
    pub text: String,
    pub computed: Ratio,
    pub stated: Ratio,
    pub ok: bool,
}

impl Claim {
    pub fn describe(&self) -> String {
        if self.ok {
            format!("{} ✓", self.text)
        } else {
            format!("{}: computes to {}, not {}", self.text, self.computed, self.stated)
        }
    }
}

/// All claims of one step, in order.
pub fn check_step(text: &str) -> Vec<Claim> {
    let mut claims = annotation_claims(text);
    let plain = normalize(&strip_annotations(text));
    claims.extend(equation_claims(&plain));
    claims.extend(super::linear::claims(&strip_annotations(text)));
    claims
}

/// The first wrong claim of a step, if any.
pub fn first_wrong(text: &str) -> Option<Claim> {
    check_step(text).into_iter().find(|c| !c.ok)
}

fn re(cell: &'static OnceLock<Regex>, pattern: &str) -> &'static Regex {
    cell.get_or_init(|| Regex::new(pattern).expect("valid regex"))
}

/// GSM8K calculator annotations `<<expr=result>>`.
fn annotation_claims(text: &str) -> Vec<Claim> {
    static ANN: OnceLock<Regex> = OnceLock::new();
    re(&ANN, r"<<([^<>=]+)=([^<>=]+)>>")
        .captures_iter(text)
        .filter_map(|c| compare(&normalize(&c[1]), &normalize(&c[2])))
        .collect()
}

fn strip_annotations(text: &str) -> String {
    static ANN: OnceLock<Regex> = OnceLock::new();
    re(&ANN, r"<<[^<>]*>>").replace_all(text, "").into_owned()
}

/// Rewrites notation into plain `+ - * / ^ ( ) %` arithmetic.
pub(super) fn normalize(text: &str) -> String {
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
fn equation_claims(s: &str) -> Vec<Claim> {
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

/// Evaluates both sides and compares them with the rounding tolerance of the stated value.
fn compare(lhs: &str, rhs: &str) -> Option<Claim> {
    let computed = eval(lhs)?;
    let stated = eval(rhs)?;
    let rhs_is_number = !has_operator(rhs);
    let ok = if rhs_is_number {
        // "0.7 * 100 = 70%" writes a percentage as its number.
        let as_written = rhs.trim_end().strip_suffix('%').and_then(eval);
        close_enough(computed, stated, rhs)
            || as_written.is_some_and(|w| close_enough(computed, w, rhs.trim_end_matches('%')))
    } else {
        // "6*4 = 24 + 3 = 27" reads as a running total: accept the first number too.
        computed == stated || first_number(rhs).is_some_and(|n| close_enough(computed, n, rhs))
    };
    Some(Claim { text: format!("{} = {}", lhs.trim(), rhs.trim()), computed, stated, ok })
}

fn first_number(s: &str) -> Option<Ratio> {
    static NUM: OnceLock<Regex> = OnceLock::new();
    let m = re(&NUM, r"\d+(?:\.\d+)?%?").find(s)?;
    eval(m.as_str())
}

fn close_enough(computed: Ratio, stated: Ratio, literal: &str) -> bool {
    if computed == stated {
        return true;
    }
    let decimals = literal.rsplit_once('.').map_or(0, |(_, f)| f.chars().take_while(char::is_ascii_digit).count());
    let percent = literal.trim_end().ends_with('%');
    let diff = computed.minus(stated).map(Ratio::abs);
    let Some(diff) = diff else { return true }; // overflow: no evidence against
    let Some(mut half_unit) = Ratio::new(5, 10i128.pow(decimals as u32 + 1)) else { return true };
    if percent {
        half_unit = half_unit.over(Ratio::int(100)).unwrap_or(half_unit);
    }
    if diff <= half_unit {
        return true;
    }
    // A calculator's float noise ("99.00000000000001", "14.999999999999998") is not a claim.
    if decimals >= 12 && diff.to_f64() <= 1e-9 * computed.to_f64().abs().max(1.0) {
        return true;
    }
    // Whole items: an integer result may be rounded down or up.
    decimals == 0
        && !percent
        && stated.is_integer()
        && !computed.is_integer()
        && (computed.floor() == stated.floor() || computed.floor() + 1 == stated.floor())
}

/// Exact evaluation of `+ - * / ^ ( ) %` with unary minus and implicit multiplication before a
/// parenthesis: the constant case of the linear-expression parser.
pub fn eval(expr: &str) -> Option<Ratio> {
    super::linear::parse_expression(expr, &[]).filter(|v| v.is_constant()).map(|v| v.c0)
}
