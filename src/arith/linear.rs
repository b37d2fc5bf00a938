//! Consistency of the equations inside one step. A step that writes `150 + x = 500` and then
//! `x = 350 - 150`, or `S = 165 × 6/11` then `S = 54`, or `Total time = 20 + 23` then
//! `Total time = 45`, contradicts itself: each equation is solved for its one unknown (a single
//! letter used as algebra, or a short name written before `=`) and the solutions must agree.
//!
//! Only linear equations in one unknown count; anything else in a chain (two unknowns, powers of
//! the unknown, prose) is no evidence. Solutions agree within half a unit of the finest decimal
//! written in either equation (or 0.1%), or when one is the other rounded to a whole number.

use std::collections::HashMap;
use std::sync::OnceLock;

use regex::Regex;

use super::claim::Claim;
use super::expr::Value;
use super::prose::normalize;
use super::rational::Ratio;

/// c0 + c1·v for the unknown v (c1 = 0: a constant).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Linear {
    pub c0: Ratio,
    pub c1: Ratio,
}

impl Linear {
    fn constant(c: Ratio) -> Linear {
        Linear { c0: c, c1: Ratio::int(0) }
    }
    pub fn is_constant(&self) -> bool {
        self.c1 == Ratio::int(0)
    }
    fn plus(self, o: Linear) -> Option<Linear> {
        Some(Linear { c0: self.c0.plus(o.c0)?, c1: self.c1.plus(o.c1)? })
    }
    fn negate(self) -> Linear {
        Linear { c0: self.c0.negate(), c1: self.c1.negate() }
    }
    fn scale(self, k: Ratio) -> Option<Linear> {
        Some(Linear { c0: self.c0.times(k)?, c1: self.c1.times(k)? })
    }
    fn times(self, o: Linear) -> Option<Linear> {
        match (self.is_constant(), o.is_constant()) {
            (_, true) => self.scale(o.c0),
            (true, false) => o.scale(self.c0),
            (false, false) => None, // not linear
        }
    }
    fn over(self, o: Linear) -> Option<Linear> {
        if !o.is_constant() {
            return None;
        }
        self.scale(Ratio::int(1).over(o.c0)?)
    }
}

/// One side of an equation: its linear form and the unknown's name, if any.
#[derive(Debug, Clone)]
struct Side {
    text: String,
    form: Linear,
    unknown: Option<String>,
}

/// Claims from solving each step equation; a wrong one contradicts an earlier solution.
pub fn claims(text: &str) -> Vec<Claim> {
    let mut solved: HashMap<String, (Ratio, String)> = HashMap::new();
    let mut out = Vec::new();
    for piece in pieces(text) {
        let plain = normalize(&piece);
        for (unknown, value, eq) in solve_chain(&plain) {
            match solved.get(&unknown) {
                None => {
                    solved.insert(unknown, (value, eq));
                }
                Some((earlier, earlier_eq)) => {
                    let ok = agree(*earlier, value, decimals(&eq).max(decimals(earlier_eq)));
                    out.push(Claim {
                        text: format!("{eq} (earlier {earlier_eq})"),
                        computed: Value::Exact(*earlier),
                        stated: Value::Exact(value),
                        ok,
                    });
                }
            }
        }
    }
    out
}

/// Statements of a step: display and inline math, lines and sentences are separate.
fn pieces(text: &str) -> Vec<String> {
    static SINGLE: OnceLock<Regex> = OnceLock::new();
    static SPLIT: OnceLock<Regex> = OnceLock::new();
    // `\( x \) = 350 - 150` keeps the unknown with its equation.
    let single = SINGLE.get_or_init(|| Regex::new(r"\\\(\s*([A-Za-z])\s*\\\)").expect("valid regex"));
    let text = single.replace_all(text, " $1 ");
    let split = SPLIT.get_or_init(|| Regex::new(r"\\\[|\\\]|\\\(|\\\)|\$\$|\n|;|\.\s+").expect("valid regex"));
    split.split(&text).map(str::to_string).filter(|p| p.contains('=')).collect()
}

/// Most decimals of any number written in `s` (`26.67` → 2).
fn decimals(s: &str) -> u32 {
    static DEC: OnceLock<Regex> = OnceLock::new();
    let dec = DEC.get_or_init(|| Regex::new(r"\d\.(\d+)").expect("valid regex"));
    dec.captures_iter(s).map(|c| c[1].len() as u32).max().unwrap_or(0)
}

/// Solutions agree when equal up to half a unit in the last written decimal place (or 0.1%).
fn agree(a: Ratio, b: Ratio, decimals: u32) -> bool {
    if a == b {
        return true;
    }
    let (x, y) = (a.to_f64(), b.to_f64());
    let half_unit = if decimals > 0 { 0.5 * 10f64.powi(-(decimals as i32)) } else { 0.0 };
    if (x - y).abs() <= half_unit.max(0.001 * x.abs().max(y.abs())) + 1e-12 {
        return true;
    }
    // "8/3 … round up to 3": a whole number next to a non-whole solution.
    let whole = |w: Ratio, f: Ratio| {
        w.is_integer() && !f.is_integer() && (w.floor() == f.floor() || w.floor() == f.floor() + 1)
    };
    whole(a, b) || whole(b, a)
}

/// Splits at each plain `=`; sides with `<`, `>`, `≈` or `!` next to it are not equations.
fn split_sides(s: &str) -> Vec<&str> {
    let bytes = s.as_bytes();
    let mut parts = Vec::new();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if b != b'=' {
            continue;
        }
        let prev = if i > 0 { bytes[i - 1] } else { b' ' };
        let next = bytes.get(i + 1).copied().unwrap_or(b' ');
        if b"=<>!~".contains(&prev) || next == b'=' || s[..i].ends_with('≈') {
            return Vec::new();
        }
        parts.push(&s[start..i]);
        start = i + 1;
    }
    parts.push(&s[start..]);
    parts
}

/// Solutions (unknown, value, equation text) of the equations of one `a = b = c` chain.
fn solve_chain(s: &str) -> Vec<(String, Ratio, String)> {
    let parts = split_sides(s);
    if parts.len() < 2 {
        return Vec::new();
    }
    let algebra = algebra_letters(s);
    let last = parts.len() - 1;
    let sides: Vec<Option<Side>> = parts
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let span = match i {
                0 => trailing_expression(p),
                i if i == last => leading_expression(p),
                _ => p.trim().to_string(),
            };
            match parse_side(&span, &algebra) {
                Some(side) => Some(side),
                None if i == 0 => name_side(p),
                None => None,
            }
        })
        .collect();
    let mut out = Vec::new();
    for pair in sides.windows(2) {
        let (Some(a), Some(b)) = (&pair[0], &pair[1]) else { continue };
        let unknown = match (&a.unknown, &b.unknown) {
            (Some(x), Some(y)) if x != y => continue,
            (Some(x), _) | (_, Some(x)) => x.clone(),
            (None, None) => continue, // plain arithmetic: the arithmetic check's job
        };
        // "Interest = 2%" names a rate; the same name later holds the amount it yields.
        let named = unknown.chars().count() > 1;
        if named && (a.text.contains('%') || b.text.contains('%')) {
            continue;
        }
        // a0 + a1·v = b0 + b1·v  ⇒  v = (b0 − a0) / (a1 − b1)
        let Some(den) = a.form.c1.minus(b.form.c1) else { continue };
        if den == Ratio::int(0) {
            continue;
        }
        let Some(value) = b.form.c0.minus(a.form.c0).and_then(|n| n.over(den)) else { continue };
        out.push((unknown, value, format!("{} = {}", a.text, b.text)));
    }
    out
}

/// Letters used as algebra in this statement: glued to a number (`3x`, `0.99B`) or next to an
/// operator or `=` (`x + 4`, `= y`). A letter after a number and a space (`5 m`) is a unit.
fn algebra_letters(s: &str) -> Vec<char> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    for (i, &c) in chars.iter().enumerate() {
        if !is_unknown_letter(&chars, i) {
            continue;
        }
        let before = chars[..i].iter().rev().find(|c| **c != ' ');
        let after = chars[i + 1..].iter().find(|c| **c != ' ');
        let glued = i > 0 && (chars[i - 1].is_ascii_digit() || chars[i - 1] == ')');
        let by_op = |o: Option<&char>| o.is_some_and(|c| "+-*/=".contains(*c));
        if (glued || by_op(before) || by_op(after)) && !out.contains(&c) {
            out.push(c);
        }
    }
    out
}

/// A single ASCII letter standing alone (not part of a word); `a` and `I` are English.
fn is_unknown_letter(chars: &[char], i: usize) -> bool {
    let c = chars[i];
    c.is_ascii_alphabetic()
        && !matches!(c, 'a' | 'A' | 'I')
        && (i == 0 || !chars[i - 1].is_alphabetic())
        && chars.get(i + 1).is_none_or(|n| !n.is_alphanumeric() && *n != '_' && *n != '\'')
        && (i == 0 || chars[i - 1] != '_')
}

fn math_char(c: char) -> bool {
    c.is_ascii_digit() || " .+-*/^()%".contains(c)
}

/// The expression at the end of a first side (`we get: 150 + x` → `150 + x`).
fn trailing_expression(p: &str) -> String {
    let chars: Vec<char> = p.chars().collect();
    let mut start = chars.len();
    while start > 0 && (math_char(chars[start - 1]) || is_unknown_letter(&chars, start - 1)) {
        start -= 1;
    }
    chars[start..].iter().collect::<String>().trim().to_string()
}

/// The expression at the start of a last side (`350 - 150 apples` → `350 - 150`).
fn leading_expression(p: &str) -> String {
    let chars: Vec<char> = p.chars().collect();
    let mut end = 0;
    while end < chars.len() && (math_char(chars[end]) || is_unknown_letter(&chars, end)) {
        end += 1;
    }
    let s: String = chars[..end].iter().collect();
    s.trim().trim_end_matches('.').trim().to_string()
}

/// A first side that is a short name (`Total time`), the unknown of its chain.
fn name_side(p: &str) -> Option<Side> {
    let tail = p.rsplit([':', ',', '-', '(']).next()?.trim();
    let words: Vec<&str> = tail.split_whitespace().collect();
    let plain = |w: &&str| w.chars().all(|c| c.is_alphabetic() || c == '\'');
    if words.is_empty() || words.len() > 5 || !words.iter().all(plain) {
        return None;
    }
    let name = words.join(" ").to_lowercase();
    Some(Side { text: words.join(" "), form: Linear { c0: Ratio::int(0), c1: Ratio::int(1) }, unknown: Some(name) })
}

fn parse_side(span: &str, algebra: &[char]) -> Option<Side> {
    if span.is_empty() {
        return None;
    }
    let tokens = tokenize(span, algebra)?;
    let mut unknown = None;
    for t in &tokens {
        if let Tok::Var(c) = t {
            match unknown {
                None => unknown = Some(*c),
                Some(u) if u == *c => {}
                Some(_) => return None, // two unknowns
            }
        }
    }
    let form = parse_tokens(tokens)?;
    Some(Side { text: span.to_string(), form, unknown: unknown.map(String::from) })
}

/// Parses an expression whose only unknowns are the `algebra` letters (all read as one unknown;
/// `parse_side` refuses two different ones). With no letters it is exact arithmetic.
pub fn parse_expression(s: &str, algebra: &[char]) -> Option<Linear> {
    parse_tokens(tokenize(s, algebra)?)
}

fn parse_tokens(tokens: Vec<Tok>) -> Option<Linear> {
    // The parser recurses per bracket and sign: bound it, so no input can exhaust the stack.
    if tokens.len() > 400 {
        return None;
    }
    let mut p = Parser { tokens, pos: 0 };
    let v = p.sum()?;
    (p.pos == p.tokens.len()).then_some(v)
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Tok {
    Num(Ratio),
    Var(char),
    Op(char),
    Open,
    Close,
}

fn tokenize(s: &str, algebra: &[char]) -> Option<Vec<Tok>> {
    let chars: Vec<char> = s.chars().collect();
    let mut out: Vec<Tok> = Vec::new();
    let mut i = 0;
    // A value followed by a value or `(` multiplies (`3x`, `2(x + 1)`, `(2/3)x`).
    let implicit = |out: &mut Vec<Tok>| {
        if matches!(out.last(), Some(Tok::Num(_) | Tok::Var(_) | Tok::Close)) {
            out.push(Tok::Op('*'));
        }
    };
    while i < chars.len() {
        let c = chars[i];
        if c == ' ' {
            i += 1;
        } else if c.is_ascii_digit() || c == '.' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                i += 1;
            }
            let lit: String = chars[start..i].iter().collect();
            let mut v = Ratio::parse_decimal(lit.trim_end_matches('.'))?;
            if chars.get(i) == Some(&'%') {
                v = v.over(Ratio::int(100))?;
                i += 1;
            }
            if matches!(out.last(), Some(Tok::Num(_) | Tok::Var(_) | Tok::Close)) {
                return None; // "3 4" or "x 4" is not an expression
            }
            out.push(Tok::Num(v));
        } else if algebra.contains(&c) {
            implicit(&mut out);
            out.push(Tok::Var(c));
            i += 1;
        } else if "+-*/^".contains(c) {
            out.push(Tok::Op(c));
            i += 1;
        } else if c == '(' {
            implicit(&mut out);
            out.push(Tok::Open);
            i += 1;
        } else if c == ')' {
            out.push(Tok::Close);
            i += 1;
        } else {
            return None;
        }
    }
    Some(out)
}

struct Parser {
    tokens: Vec<Tok>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<Tok> {
        self.tokens.get(self.pos).copied()
    }

    fn sum(&mut self) -> Option<Linear> {
        let mut v = self.product()?;
        while let Some(Tok::Op(op @ ('+' | '-'))) = self.peek() {
            self.pos += 1;
            let r = self.product()?;
            v = if op == '+' { v.plus(r)? } else { v.plus(r.negate())? };
        }
        Some(v)
    }

    fn product(&mut self) -> Option<Linear> {
        let mut v = self.power()?;
        while let Some(Tok::Op(op @ ('*' | '/'))) = self.peek() {
            self.pos += 1;
            let r = self.power()?;
            v = if op == '*' { v.times(r)? } else { v.over(r)? };
        }
        Some(v)
    }

    /// `a ^ b`, right-associative; only constants have powers (anything else is not linear).
    fn power(&mut self) -> Option<Linear> {
        let base = self.unary()?;
        if let Some(Tok::Op('^')) = self.peek() {
            self.pos += 1;
            let e = self.power()?;
            if !base.is_constant() || !e.is_constant() {
                return None;
            }
            return Some(Linear::constant(base.c0.pow(e.c0)?));
        }
        Some(base)
    }

    fn unary(&mut self) -> Option<Linear> {
        match self.peek()? {
            Tok::Op('-') => {
                self.pos += 1;
                Some(self.unary()?.negate())
            }
            Tok::Num(v) => {
                self.pos += 1;
                Some(Linear::constant(v))
            }
            Tok::Var(_) => {
                self.pos += 1;
                Some(Linear { c0: Ratio::int(0), c1: Ratio::int(1) })
            }
            Tok::Open => {
                self.pos += 1;
                let v = self.sum()?;
                (self.peek() == Some(Tok::Close)).then(|| self.pos += 1)?;
                Some(v)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wrong(text: &str) -> bool {
        claims(text).iter().any(|c| !c.ok)
    }

    #[test]
    fn contradicting_solutions_are_found() {
        assert!(wrong(r"we get: 150 + \( x \) = 500. Subtracting, \( x \) = 350 - 150. Therefore, \( x \) = 200."));
        assert!(wrong(r"\[ S = 165 \times \frac{6}{11} \] \[ S = 9 \times 6 \] \[ S = 54 \]"));
        assert!(wrong("0.99B + 1.01B + B = 4500. Combine like terms: 3.01B = 4500."));
        assert!(wrong("((J + 10) + J) + 2J + 10 = 100. This simplifies to 5J + 20 = 100."));
        assert!(wrong("Total time = 20 + 23. Total time = 45 minutes."));
    }

    #[test]
    fn consistent_steps_pass() {
        assert!(!wrong(r"\[2B + 4 + B + 2 = 28\] \[3B + 6 = 28\] \[3B = 22\] \[B = \frac{22}{3}\]"));
        assert!(!wrong("x = 9 × (3/5) = 27/5 = 5.4 (approximately)."));
        assert!(!wrong("Total time = 20 + 23. Total time = 43 minutes."));
        assert!(!wrong("x = 40 / 1.5. x = 26.67 meters (approximately)."));
        assert!(!wrong("Let 5 m = 500 cm. Then 2 m = 200 cm."));
        assert!(!wrong("Step 2 = 10 apples. Step 2 = 12 pears."));
        assert!(!wrong("x + y = 10. x = 4."));
        assert!(!wrong("Interest = 2%. Interest = (2/100) * 300 = 6."));
        assert!(!wrong("8 ÷ 3 = y, so y = 2.67 and we round up: y = 3."));
    }
}
