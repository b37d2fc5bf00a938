//! Model-free arithmetic check: finds the arithmetic claims of a step and checks them with exact
//! rational arithmetic (floats only for irrational results).
//!
//! Math in LaTeX (display and inline) goes through the expression front end (`expr`) and the
//! scope rules (`scope`). Prose keeps the GSM8K rules: calculator annotations `<<a=b>>`, money,
//! units and remarks stripped, and a claim read around each `=` where it needs an operator on
//! its left side and plain numbers on both; named quantities must agree (`linear`).
//!
//! Built for precision: anything ambiguous (words inside the expression, dates, ranges, notation
//! the front end does not read) is no evidence rather than an error. Tolerance lives in
//! `accepts`: half a unit in the stated value's last decimal; an integer may be the floor or
//! ceiling of a non-integer result (whole items); `≈` within 1%.

use std::sync::OnceLock;

use regex::Regex;

use super::expr::{lex, readings, Env, Expr, Rel, Value};
use super::rational::Ratio;
use super::{hypothesis, scope};

/// One arithmetic claim found in a step.
#[derive(Debug, Clone, PartialEq)]
pub struct Claim {
    /// The claim as read, e.g. `2*3 = 5`.
    pub text: String,
    pub computed: Value,
    pub stated: Value,
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

/// All claims of one step, in order: calculator annotations, then each scope's claims (see
/// `scope`): display blocks on their own, prose with its inline math up to the next case.
/// Sentences that are hypotheses (tested and rejected, questions, said to be false; see
/// `hypothesis`) give no claims and bind no names.
pub fn check_step(text: &str) -> Vec<Claim> {
    let mut claims = annotation_claims(text);
    let text = strip_annotations(text);
    let mut prose = String::new();
    let mut sources: Vec<String> = Vec::new();
    let flush = |prose: &mut String, sources: &mut Vec<String>, claims: &mut Vec<Claim>| {
        let refs: Vec<&str> = sources.iter().map(String::as_str).collect();
        let alternatives = hypothesis::lists_alternatives(prose);
        claims.extend(scope::claims(&refs, alternatives));
        claims.extend(equation_claims(&normalize(prose)));
        claims.extend(super::linear::claims(prose));
        prose.clear();
        sources.clear();
    };
    let sentences = hypothesis::sentences(&text);
    let hypotheses = hypothesis::hypotheses(&sentences);
    for (sentence, hypothetical) in sentences.into_iter().zip(hypotheses) {
        if sentence.opens_scope {
            flush(&mut prose, &mut sources, &mut claims);
        }
        if hypothetical {
            continue;
        }
        for part in sentence.parts {
            match part {
                scope::Part::Display(body) => {
                    flush(&mut prose, &mut sources, &mut claims);
                    claims.extend(scope::claims(&[&body], false));
                }
                scope::Part::Inline(body) if scope::states(&body) => {
                    sources.push(body);
                    prose.push_str(" ; ");
                }
                scope::Part::Inline(body) => {
                    prose.push(' ');
                    prose.push_str(&body);
                    prose.push(' ');
                }
                scope::Part::Prose(p) => prose.push_str(&p),
            }
        }
    }
    flush(&mut prose, &mut sources, &mut claims);
    claims
}

/// The first wrong claim of a step, if any.
pub fn first_wrong(text: &str) -> Option<Claim> {
    check_step(text).into_iter().find(|c| !c.ok)
}

pub(super) fn re(cell: &'static OnceLock<Regex>, pattern: &str) -> &'static Regex {
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

/// Whether some reading of the computed side stands in `rel` to some reading of the stated side,
/// within the rounding the stated side's digits allow. `running_total`: prose like
/// "6*4 = 24 + 3 = 27" goes on computing after the result, so its first number may be the result.
pub(super) fn accepts(rel: Rel, computed: &[Value], stated: &[Value], stated_expr: &Expr, running_total: bool) -> bool {
    computed.iter().any(|&c| stated.iter().any(|&s| accepts_one(rel, c, s, stated_expr, running_total)))
}

fn accepts_one(rel: Rel, c: Value, s: Value, stated_expr: &Expr, running_total: bool) -> bool {
    let (x, y) = (c.to_f64(), s.to_f64());
    let slack = 1e-9 * x.abs().max(y.abs()).max(1.0);
    match rel {
        Rel::Eq => match stated_expr.literal() {
            Some((lit, percent)) => {
                // "0.7 * 100 = 70%" writes a percentage as its number.
                close_enough(c, s, lit, percent) || percent && close_enough(c, scale(s, 100), lit, false)
            }
            None => {
                same(c, s)
                    || running_total
                        && leftmost(stated_expr).is_some_and(|(v, lit)| close_enough(c, Value::Exact(v), lit, false))
            }
        },
        Rel::Approx => {
            let near = (x - y).abs() <= 0.01 * x.abs().max(y.abs()) + slack;
            near || stated_expr.literal().is_some_and(|(lit, pct)| close_enough(c, s, lit, pct))
        }
        Rel::Ne => !matches!((c, s), (Value::Exact(a), Value::Exact(b)) if a == b),
        Rel::Lt => x < y + slack,
        Rel::Gt => x > y - slack,
        Rel::Le => x <= y + slack,
        Rel::Ge => x >= y - slack,
    }
}

fn scale(v: Value, k: i128) -> Value {
    match v {
        Value::Exact(r) => r.times(Ratio::int(k)).map_or(Value::Approx(r.to_f64() * k as f64), Value::Exact),
        Value::Approx(x) => Value::Approx(x * k as f64),
    }
}

fn same(a: Value, b: Value) -> bool {
    match (a, b) {
        (Value::Exact(x), Value::Exact(y)) => x == y,
        _ => (a.to_f64() - b.to_f64()).abs() <= 1e-9 * a.to_f64().abs().max(b.to_f64().abs()).max(1e-12),
    }
}

/// The first number of an expression written as the stated side.
fn leftmost(e: &Expr) -> Option<(Ratio, &str)> {
    match e {
        Expr::Bin(_, a, _) | Expr::Juxt(a, _) => leftmost(a),
        Expr::Num(v, s) => Some((*v, s.as_str())),
        _ => None,
    }
}

/// Whether `computed` rounds to `stated` as written in `literal`: half a unit in its last decimal
/// place; a calculator's float noise; an integer may be the floor or ceiling (whole items).
fn close_enough(computed: Value, stated: Value, literal: &str, percent: bool) -> bool {
    if same(computed, stated) {
        return true;
    }
    let decimals = literal.rsplit_once('.').map_or(0, |(_, f)| f.chars().take_while(char::is_ascii_digit).count());
    let mut half_unit = 0.5 * 10f64.powi(-(decimals as i32));
    if percent {
        half_unit /= 100.0;
    }
    let diff = match (computed, stated) {
        (Value::Exact(c), Value::Exact(s)) => match c.minus(s) {
            Some(d) => d.abs().to_f64(),
            None => return true, // overflow: no evidence against
        },
        _ => (computed.to_f64() - stated.to_f64()).abs(),
    };
    if diff <= half_unit * (1.0 + 1e-12) {
        return true;
    }
    let c = computed.to_f64();
    // A calculator's float noise ("99.00000000000001", "14.999999999999998") is not a claim.
    if decimals >= 12 && diff <= 1e-9 * c.abs().max(1.0) {
        return true;
    }
    // Whole items: an integer result may be rounded down or up.
    let stated_int = matches!(stated, Value::Exact(s) if s.is_integer());
    let computed_int = matches!(computed, Value::Exact(r) if r.is_integer());
    decimals == 0
        && !percent
        && stated_int
        && !computed_int
        && (c.floor() == stated.to_f64() || c.floor() + 1.0 == stated.to_f64())
}

/// Exact value of a plain expression (`+ - * / ^ ( ) %`, LaTeX too); None when it has no single
/// exact reading (names, notation we do not read, overflow, irrational results).
pub fn eval(expr: &str) -> Option<Ratio> {
    match readings(&lex(expr), &Env::new())?.1.as_slice() {
        [Value::Exact(r)] => Some(*r),
        _ => None,
    }
}
