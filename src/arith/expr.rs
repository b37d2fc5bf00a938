//! The expression front end of the arithmetic checker: math as written in reasoning traces
//! (LaTeX and plain text) → tokens → an expression tree → exact values where possible.
//!
//! Lexing and operator-precedence parsing use `winnow` (a maintained parser-combinator crate: its
//! token-slice stream and Pratt `expression` parser); the grammar is ours. Anything the front end
//! cannot read (functions, subscripts, sets, absolute values, congruences) becomes a `Bad` token,
//! and an expression holding one has no value: "no claim", never a guess.
//!
//! An expression may have several readings (a mixed number `2\frac{1}{2}` is 2½ or 2·½, implicit
//! multiplication after `/` binds either way, π is itself or the 3.14 or 22/7 a writer used);
//! the checker flags a claim only when no reading accepts it.

use winnow::combinator::{alt, dispatch, expression, fail, Infix, Postfix, Prefix};
use winnow::error::{ContextError, ParserError};
use winnow::prelude::*;
use winnow::stream::TokenSlice;
use winnow::token::{any, literal};

use super::rational::Ratio;

/// A relation between two sides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rel {
    Eq,
    Ne,
    Lt,
    Gt,
    Le,
    Ge,
    Approx,
}

impl Rel {
    pub fn symbol(self) -> &'static str {
        match self {
            Rel::Eq => "=",
            Rel::Ne => "≠",
            Rel::Lt => "<",
            Rel::Gt => ">",
            Rel::Le => "≤",
            Rel::Ge => "≥",
            Rel::Approx => "≈",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tok {
    /// A number literal: its value and its digits as written (for the rounding tolerance).
    Num(Ratio, String),
    /// A one-letter name (or a Greek letter).
    Var(String),
    /// A word: prose, a unit, `\text{…}`.
    Word(String),
    /// `+ - * / ^`
    Op(char),
    Open,
    Close,
    BraceOpen,
    BraceClose,
    BracketOpen,
    BracketClose,
    Frac,
    Sqrt,
    Pi,
    Rel(Rel),
    /// Ends a statement: `;` `\quad` `\implies` `:` …
    Sep,
    /// `\\` in an aligned block: a following `&= …` goes on with the chain.
    LineBreak,
    /// A unit label after a number (`5 \text{ cm}`), kept to know the side had one.
    Unit,
    /// A comma (a separator at the top level, an argument list inside brackets).
    Comma,
    Bang,
    Percent,
    Degree,
    /// Notation that is not arithmetic we evaluate.
    Bad,
}

/// Words that open a case or a trial value: a new scope for names.
pub fn is_case_word(w: &str) -> bool {
    matches!(
        w.to_ascii_lowercase().as_str(),
        "if" | "when"
            | "whenever"
            | "suppose"
            | "assume"
            | "assuming"
            | "case"
            | "cases"
            | "otherwise"
            | "alternatively"
            | "test"
            | "testing"
            | "try"
            | "trying"
            | "let"
            | "for"
            | "at"
            | "else"
    )
}

/// Greek letters read as names.
const GREEK: &[&str] = &[
    "alpha",
    "beta",
    "gamma",
    "delta",
    "epsilon",
    "varepsilon",
    "zeta",
    "eta",
    "theta",
    "vartheta",
    "kappa",
    "lambda",
    "mu",
    "nu",
    "xi",
    "rho",
    "sigma",
    "tau",
    "phi",
    "varphi",
    "chi",
    "psi",
    "omega",
    "Gamma",
    "Delta",
    "Theta",
    "Lambda",
    "Sigma",
    "Phi",
    "Psi",
    "Omega",
];

type Lex<'s> = &'s str;

fn lex_error<'s>(i: &mut Lex<'s>) -> ContextError {
    ContextError::from_input(i)
}

/// Tokens of a math string. Never fails: what it cannot read becomes `Bad`.
pub fn lex(text: &str) -> Vec<Tok> {
    let mut input: Lex = text;
    let mut out = Vec::new();
    // Byte spans, to tell `f(3)` (a function value) from `x (3)`.
    let mut spans: Vec<(usize, usize)> = Vec::new();
    loop {
        input = input.trim_start_matches([' ', '\t', '\n', '\r', '~']);
        if input.is_empty() {
            break;
        }
        let start = text.len() - input.len();
        match token.parse_next(&mut input) {
            Ok(Some(t)) => {
                out.push(t);
                spans.push((start, text.len() - input.len()));
            }
            Ok(None) => {}
            Err(_) => {
                // Skip one character we cannot read; it poisons its side.
                let mut chars = input.chars();
                chars.next();
                input = chars.as_str();
                out.push(Tok::Bad);
                spans.push((start, text.len() - input.len()));
            }
        }
    }
    // A name glued to a bracket (`f(3)`, `P(A)`) is a function value, not a product.
    for k in 1..out.len() {
        if matches!(out[k - 1], Tok::Var(_)) && out[k] == Tok::Open && spans[k - 1].1 == spans[k].0 {
            out[k - 1] = Tok::Bad;
        }
    }
    out
}

fn token(i: &mut Lex<'_>) -> Result<Option<Tok>, ContextError> {
    dispatch! {winnow::combinator::peek(any);
        '0'..='9' => number.map(Some),
        // A period not starting a decimal (`.5`) ends a sentence.
        '.' => alt((number.map(Some), any.value(Some(Tok::Sep)))),
        '\\' => command,
        'a'..='z' | 'A'..='Z' => letters.map(Some),
        '+' => '+'.value(Some(Tok::Op('+'))),
        '-' | '−' | '–' => any.value(Some(Tok::Op('-'))),
        '*' | '×' | '·' | '∗' => any.value(Some(Tok::Op('*'))),
        '/' | '÷' => any.value(Some(Tok::Op('/'))),
        '^' => caret,
        '(' => '('.value(Some(Tok::Open)),
        ')' => ')'.value(Some(Tok::Close)),
        '{' => '{'.value(Some(Tok::BraceOpen)),
        '}' => '}'.value(Some(Tok::BraceClose)),
        '[' => '['.value(Some(Tok::BracketOpen)),
        ']' => ']'.value(Some(Tok::BracketClose)),
        '=' => '='.value(Some(Tok::Rel(Rel::Eq))),
        '<' => relation_with_eq('<', Rel::Lt, Rel::Le),
        '>' => relation_with_eq('>', Rel::Gt, Rel::Ge),
        '≤' => any.value(Some(Tok::Rel(Rel::Le))),
        '≥' => any.value(Some(Tok::Rel(Rel::Ge))),
        '≠' => any.value(Some(Tok::Rel(Rel::Ne))),
        '≈' => any.value(Some(Tok::Rel(Rel::Approx))),
        '!' => bang,
        '%' => '%'.value(Some(Tok::Percent)),
        '°' => any.value(Some(Tok::Degree)),
        'π' => any.value(Some(Tok::Pi)),
        '$' => '$'.value(None),
        '&' => '&'.value(None),
        ',' => ','.value(Some(Tok::Comma)),
        ';' | ':' | '⇒' | '→' => any.value(Some(Tok::Sep)),
        _ => any.value(Some(Tok::Bad)),
    }
    .parse_next(i)
}

fn relation_with_eq<'s>(c: char, strict: Rel, with_eq: Rel) -> impl Parser<Lex<'s>, Option<Tok>, ContextError> {
    move |i: &mut Lex<'s>| {
        literal(c).parse_next(i)?;
        Ok(Some(Tok::Rel(if i.starts_with('=') {
            *i = &i[1..];
            with_eq
        } else {
            strict
        })))
    }
}

fn bang(i: &mut Lex<'_>) -> Result<Option<Tok>, ContextError> {
    '!'.parse_next(i)?;
    if i.starts_with('=') {
        *i = &i[1..];
        return Ok(Some(Tok::Rel(Rel::Ne)));
    }
    Ok(Some(Tok::Bang))
}

/// `^` or a degree sign written as `^\circ` / `^{\circ}`.
fn caret(i: &mut Lex<'_>) -> Result<Option<Tok>, ContextError> {
    '^'.parse_next(i)?;
    for degree in ["\\circ", "{\\circ}", "{ \\circ }", "\\degree"] {
        if let Some(rest) = i.strip_prefix(degree) {
            *i = rest;
            return Ok(Some(Tok::Degree));
        }
    }
    Ok(Some(Tok::Op('^')))
}

/// `12`, `1,200` (thousands), `3.75`, `.5`; a `{,}` group separator in LaTeX too.
fn number(i: &mut Lex<'_>) -> Result<Tok, ContextError> {
    let s = *i;
    let b = s.as_bytes();
    let mut end = 0;
    let mut digits = String::new();
    while end < b.len() {
        let c = b[end];
        if c.is_ascii_digit() {
            digits.push(c as char);
            end += 1;
            continue;
        }
        // Thousands: `,ddd` or `{,}ddd` not followed by another digit, after a digit run.
        let sep = if s[end..].starts_with("{,}") {
            3
        } else if c == b',' && !digits.contains('.') {
            1
        } else {
            0
        };
        if sep > 0 && !digits.is_empty() && !digits.contains('.') {
            let rest = &b[end + sep..];
            if rest.len() >= 3
                && rest[..3].iter().all(u8::is_ascii_digit)
                && rest.get(3).is_none_or(|d| !d.is_ascii_digit())
            {
                end += sep;
                continue;
            }
        }
        if c == b'.' && !digits.contains('.') && b.get(end + 1).is_some_and(u8::is_ascii_digit) {
            digits.push('.');
            end += 1;
            continue;
        }
        break;
    }
    if end == 0 || digits == "." {
        return Err(lex_error(i));
    }
    *i = &s[end..];
    let value = Ratio::parse_decimal(&digits).ok_or_else(|| lex_error(i))?;
    Ok(Tok::Num(value, digits))
}

fn letters(i: &mut Lex<'_>) -> Result<Tok, ContextError> {
    let s = *i;
    let end = s.find(|c: char| !c.is_ascii_alphabetic()).unwrap_or(s.len());
    *i = &s[end..];
    let word = &s[..end];
    // `a_1`, `x_{n}`, `1011_2`: subscripted names are not values we know.
    if i.starts_with('_') {
        return Ok(Tok::Bad);
    }
    Ok(if end == 1 { Tok::Var(word.to_string()) } else { Tok::Word(word.to_string()) })
}

/// A backslash command.
fn command(i: &mut Lex<'_>) -> Result<Option<Tok>, ContextError> {
    '\\'.parse_next(i)?;
    let s = *i;
    let end = s.find(|c: char| !c.is_ascii_alphabetic()).unwrap_or(s.len());
    if end == 0 {
        // `\,` `\!` `\;` `\ ` spaces; `\%` `\$` `\{` `\}` `\\` symbols.
        let c = s.chars().next().ok_or_else(|| lex_error(i))?;
        *i = &s[c.len_utf8()..];
        return Ok(match c {
            ',' | '!' | ';' | ':' | ' ' | '>' => None,
            '%' => Some(Tok::Percent),
            '$' => None,
            '\\' => Some(Tok::LineBreak),
            '(' | ')' | '[' | ']' => Some(Tok::Sep),
            _ => Some(Tok::Bad),
        });
    }
    let name = &s[..end];
    *i = &s[end..];
    Ok(match name {
        "frac" | "dfrac" | "tfrac" | "cfrac" => Some(Tok::Frac),
        "sqrt" => Some(Tok::Sqrt),
        "pi" => Some(Tok::Pi),
        "times" | "cdot" | "ast" => Some(Tok::Op('*')),
        "div" => Some(Tok::Op('/')),
        "left" | "right" | "big" | "Big" | "bigg" | "Bigg" | "bigl" | "bigr" | "Bigl" | "Bigr" | "displaystyle"
        | "boxed" => {
            // `\left.` is an invisible bracket.
            if i.starts_with('.') {
                *i = &i[1..];
            }
            None
        }
        "quad" | "qquad" | "implies" | "Rightarrow" | "Longrightarrow" | "rightarrow" | "to" | "iff"
        | "Leftrightarrow" | "therefore" | "because" | "colon" | "newline" | "hline" => Some(Tok::Sep),
        "approx" | "simeq" | "thickapprox" => Some(Tok::Rel(Rel::Approx)),
        "neq" | "ne" => Some(Tok::Rel(Rel::Ne)),
        "le" | "leq" | "leqslant" => Some(Tok::Rel(Rel::Le)),
        "ge" | "geq" | "geqslant" => Some(Tok::Rel(Rel::Ge)),
        "lt" => Some(Tok::Rel(Rel::Lt)),
        "gt" => Some(Tok::Rel(Rel::Gt)),
        "circ" | "degree" => Some(Tok::Degree),
        "text" | "textbf" | "textit" | "mathrm" | "mbox" | "textrm" | "operatorname" | "mathbf" | "mathit" => {
            Some(text_group(i))
        }
        "begin" | "end" => {
            skip_group(i);
            Some(Tok::Sep)
        }
        n if GREEK.contains(&n) => Some(if i.starts_with('_') { Tok::Bad } else { Tok::Var(n.to_string()) }),
        // \ln \log \sin \gcd \binom \pmod \equiv \in \cup \lfloor |…| and the rest: not evaluated.
        _ => Some(Tok::Bad),
    })
}

/// `\text{ cm}` → a word (a unit or prose); `\text{ if }` → a case word; empty text → nothing.
fn text_group(i: &mut Lex<'_>) -> Tok {
    let s = i.trim_start();
    let Some(body) = s.strip_prefix('{') else { return Tok::Bad };
    let Some(close) = body.find('}') else { return Tok::Bad };
    *i = &body[close + 1..];
    let content = body[..close].trim();
    if content.is_empty() {
        return Tok::Sep;
    }
    if content.chars().any(|c| c.is_ascii_digit() || "=+*/^".contains(c)) {
        return Tok::Bad;
    }
    Tok::Word(content.to_string())
}

fn skip_group(i: &mut Lex<'_>) {
    if let Some(body) = i.strip_prefix('{') {
        if let Some(close) = body.find('}') {
            *i = &body[close + 1..];
        }
    }
}

/// An expression tree.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Num(Ratio, String),
    Var(String),
    Pi,
    Neg(Box<Expr>),
    Bin(char, Box<Expr>, Box<Expr>),
    /// Juxtaposition (`2x`, `3(4)`, `2\sqrt{2}`).
    Juxt(Box<Expr>, Box<Expr>),
    /// `2\frac{1}{2}`: a mixed number or a product.
    Mixed(Box<Expr>, Box<Expr>),
    Root(Box<Expr>, Box<Expr>),
    Percent(Box<Expr>),
    Factorial(Box<Expr>),
    /// `40^\circ`: the number itself.
    Degrees(Box<Expr>),
    Group(Box<Expr>),
}

type Toks<'t> = TokenSlice<'t, Tok>;

/// The longest side we parse (real sides are far shorter).
const MAX_TOKENS: usize = 400;

/// Parses a whole token run as one expression; `implicit_tight` makes juxtaposition bind tighter
/// than `/` (`1/2x` = 1/(2x)) instead of as tight (= (1/2)x).
pub fn parse(tokens: &[Tok], implicit_tight: bool) -> Option<Expr> {
    if tokens.is_empty()
        || tokens
            .iter()
            .any(|t| matches!(t, Tok::Bad | Tok::Word(_) | Tok::Comma | Tok::Sep | Tok::LineBreak | Tok::Unit))
    {
        return None;
    }
    // The parser recurses per bracket and operator: bound it, so no input can exhaust the stack.
    if tokens.len() > MAX_TOKENS {
        return None;
    }
    let mut input = Toks::new(tokens);
    let e = sum(implicit_tight).parse_next(&mut input).ok()?;
    input.is_empty().then_some(e)
}

fn sum<'t>(tight: bool) -> impl Parser<Toks<'t>, Expr, ContextError> {
    move |i: &mut Toks<'t>| {
        expression(operand(tight))
            .prefix(dispatch! {any;
                &Tok::Op('-') => winnow::combinator::empty.value(Prefix(9, |_, a: Expr| Ok(Expr::Neg(Box::new(a))))),
                &Tok::Op('+') => winnow::combinator::empty.value(Prefix(9, |_, a: Expr| Ok(a))),
                _ => fail,
            })
            .postfix(dispatch! {any;
                &Tok::Bang => winnow::combinator::empty.value(Postfix(13, |_, a: Expr| Ok(Expr::Factorial(Box::new(a))))),
                &Tok::Percent => winnow::combinator::empty.value(Postfix(13, |_, a: Expr| Ok(Expr::Percent(Box::new(a))))),
                &Tok::Degree => winnow::combinator::empty.value(Postfix(13, |_, a: Expr| Ok(Expr::Degrees(Box::new(a))))),
                _ => fail,
            })
            .infix(infix(tight))
            .parse_next(i)
    }
}

fn bin(op: char) -> fn(&mut Toks<'_>, Expr, Expr) -> Result<Expr, ContextError> {
    match op {
        '+' => |_, a, b| Ok(Expr::Bin('+', Box::new(a), Box::new(b))),
        '-' => |_, a, b| Ok(Expr::Bin('-', Box::new(a), Box::new(b))),
        '*' => |_, a, b| Ok(Expr::Bin('*', Box::new(a), Box::new(b))),
        '/' => |_, a, b| Ok(Expr::Bin('/', Box::new(a), Box::new(b))),
        _ => |_, a, b| Ok(Expr::Bin('^', Box::new(a), Box::new(b))),
    }
}

fn infix<'t>(tight: bool) -> impl Parser<Toks<'t>, Infix<Toks<'t>, Expr, ContextError>, ContextError> {
    move |i: &mut Toks<'t>| {
        let next = i.first().cloned().ok_or_else(|| ContextError::from_input(i))?;
        match next {
            Tok::Op(op @ ('+' | '-')) => {
                any.parse_next(i)?;
                Ok(Infix::Left(5, bin(op)))
            }
            Tok::Op(op @ ('*' | '/')) => {
                any.parse_next(i)?;
                Ok(Infix::Left(7, bin(op)))
            }
            Tok::Op('^') => {
                any.parse_next(i)?;
                Ok(Infix::Right(11, bin('^')))
            }
            // Juxtaposition: consumes nothing, the right operand follows.
            Tok::Num(..) | Tok::Var(_) | Tok::Pi | Tok::Open | Tok::BraceOpen | Tok::Frac | Tok::Sqrt => {
                Ok(Infix::Left(if tight { 8 } else { 7 }, juxt))
            }
            _ => fail.parse_next(i),
        }
    }
}

/// `3 4` is two numbers, not a product; `2\frac{1}{2}` is a mixed number (or a product).
fn juxt(i: &mut Toks<'_>, a: Expr, b: Expr) -> Result<Expr, ContextError> {
    if matches!(b, Expr::Num(..) | Expr::Neg(_)) && ends_in_number(&a) {
        return Err(ContextError::from_input(i));
    }
    if let (Expr::Num(n, _), Expr::Bin('/', p, q)) = (&a, &b) {
        let int = |e: &Expr| matches!(e, Expr::Num(v, _) if v.is_integer());
        if n.is_integer() && int(p) && int(q) {
            return Ok(Expr::Mixed(Box::new(a), Box::new(b)));
        }
    }
    Ok(Expr::Juxt(Box::new(a), Box::new(b)))
}

fn ends_in_number(e: &Expr) -> bool {
    match e {
        Expr::Num(..) => true,
        Expr::Bin(_, _, r) | Expr::Juxt(_, r) => ends_in_number(r),
        Expr::Neg(a) => ends_in_number(a),
        _ => false,
    }
}

fn operand<'t>(tight: bool) -> impl Parser<Toks<'t>, Expr, ContextError> {
    move |i: &mut Toks<'t>| {
        let t: Tok = any.parse_next(i).cloned()?;
        match t {
            Tok::Num(v, s) => Ok(Expr::Num(v, s)),
            Tok::Var(n) => Ok(Expr::Var(n)),
            Tok::Pi => Ok(Expr::Pi),
            Tok::Open => {
                let e = sum(tight).parse_next(i)?;
                literal(Tok::Close).parse_next(i)?;
                Ok(Expr::Group(Box::new(e)))
            }
            Tok::BraceOpen => {
                let e = sum(tight).parse_next(i)?;
                literal(Tok::BraceClose).parse_next(i)?;
                Ok(Expr::Group(Box::new(e)))
            }
            Tok::Frac => {
                let a = argument(tight).parse_next(i)?;
                let b = argument(tight).parse_next(i)?;
                Ok(Expr::Bin('/', Box::new(a), Box::new(b)))
            }
            Tok::Sqrt => {
                let index = if i.first() == Some(&Tok::BracketOpen) {
                    any.parse_next(i)?;
                    let e = sum(tight).parse_next(i)?;
                    literal(Tok::BracketClose).parse_next(i)?;
                    e
                } else {
                    Expr::Num(Ratio::int(2), "2".into())
                };
                let radicand = argument(tight).parse_next(i)?;
                Ok(Expr::Root(Box::new(index), Box::new(radicand)))
            }
            _ => fail.parse_next(i),
        }
    }
}

/// A `\frac`/`\sqrt` argument: a `{…}` group, or one digit or name (`\frac12`, `\sqrt2`).
fn argument<'t>(tight: bool) -> impl Parser<Toks<'t>, Expr, ContextError> {
    move |i: &mut Toks<'t>| match i.first().cloned() {
        Some(Tok::BraceOpen) => {
            any.parse_next(i)?;
            let e = sum(tight).parse_next(i)?;
            literal(Tok::BraceClose).parse_next(i)?;
            Ok(e)
        }
        Some(Tok::Num(v, s)) if s.len() == 1 => {
            any.parse_next(i)?;
            Ok(Expr::Num(v, s))
        }
        Some(Tok::Var(n)) => {
            any.parse_next(i)?;
            Ok(Expr::Var(n))
        }
        _ => fail.parse_next(i),
    }
}

/// A value: exact when every step was rational, else a float.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value {
    Exact(Ratio),
    Approx(f64),
}

impl Value {
    pub fn to_f64(self) -> f64 {
        match self {
            Value::Exact(r) => r.to_f64(),
            Value::Approx(x) => x,
        }
    }

    fn approx(x: f64) -> Option<Value> {
        x.is_finite().then_some(Value::Approx(x))
    }

    fn arith(self, op: char, o: Value) -> Option<Value> {
        if let (Value::Exact(a), Value::Exact(b)) = (self, o) {
            let exact = match op {
                '+' => a.plus(b),
                '-' => a.minus(b),
                '*' => a.times(b),
                '/' => {
                    if b == Ratio::int(0) {
                        return None;
                    }
                    a.over(b)
                }
                _ => return pow(a, b),
            };
            // Overflow of i128: fall back to a float.
            return exact.map(Value::Exact).or_else(|| self.float_op(op, o));
        }
        self.float_op(op, o)
    }

    fn float_op(self, op: char, o: Value) -> Option<Value> {
        let (a, b) = (self.to_f64(), o.to_f64());
        Value::approx(match op {
            '+' => a + b,
            '-' => a - b,
            '*' => a * b,
            '/' if b != 0.0 => a / b,
            '^' if a >= 0.0 || b.fract() == 0.0 => a.powf(b),
            _ => return None,
        })
    }
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Exact(r) => write!(f, "{r}"),
            Value::Approx(x) => write!(f, "≈{}", (x * 1e6).round() / 1e6),
        }
    }
}

/// `a^b` exactly where it can be (integer powers, perfect roots), else as a float.
fn pow(a: Ratio, b: Ratio) -> Option<Value> {
    if b.is_integer() {
        if a == Ratio::int(0) && b < Ratio::int(0) {
            return None;
        }
        if let Some(r) = a.pow(b) {
            return Some(Value::Exact(r));
        }
        return Value::approx(a.to_f64().powf(b.to_f64()));
    }
    let (p, q) = (b.numer(), b.denom());
    if q <= 12 {
        if let Some(root) = a.root(q as u32) {
            return pow(root, Ratio::int(p));
        }
    }
    let x = a.to_f64();
    if x < 0.0 {
        // An odd root of a negative number is real.
        return (q % 2 == 1).then(|| Value::approx(-(-x).powf(b.to_f64()))).flatten();
    }
    Value::approx(x.powf(b.to_f64()))
}

/// The most readings an expression keeps.
const MAX_READINGS: usize = 8;

/// Values of names known in a scope.
pub type Env = std::collections::HashMap<String, Value>;

impl Expr {
    /// Every value the expression may have (empty: unreadable or unknown names).
    pub fn values(&self, env: &Env) -> Vec<Value> {
        let mut out = Vec::new();
        match self {
            Expr::Num(v, _) => out.push(Value::Exact(*v)),
            Expr::Var(n) => out.extend(env.get(n).copied()),
            Expr::Pi => {
                out.push(Value::Approx(std::f64::consts::PI));
                out.push(Value::Exact(Ratio::new(314, 100).expect("nonzero")));
                out.push(Value::Exact(Ratio::new(22, 7).expect("nonzero")));
            }
            Expr::Neg(a) => {
                out.extend(a.values(env).into_iter().filter_map(|v| Value::Exact(Ratio::int(0)).arith('-', v)))
            }
            Expr::Group(a) | Expr::Degrees(a) => out = a.values(env),
            Expr::Percent(a) => {
                out.extend(a.values(env).into_iter().filter_map(|v| v.arith('/', Value::Exact(Ratio::int(100)))))
            }
            Expr::Factorial(a) => out.extend(a.values(env).into_iter().filter_map(factorial)),
            Expr::Bin(op, a, b) => out = combine(a, b, env, |x, y| x.arith(*op, y)),
            Expr::Juxt(a, b) => out = combine(a, b, env, |x, y| x.arith('*', y)),
            Expr::Mixed(a, b) => {
                out = combine(a, b, env, |x, y| x.arith('+', y));
                out.extend(combine(a, b, env, |x, y| x.arith('*', y)));
            }
            Expr::Root(n, x) => {
                out = combine(x, n, env, |x, n| x.arith('^', Value::Exact(Ratio::int(1)).arith('/', n)?))
            }
        }
        dedup(out)
    }

    /// Whether the expression does any arithmetic (a bare number or name does none).
    pub fn has_operation(&self) -> bool {
        match self {
            Expr::Num(..) | Expr::Var(_) | Expr::Pi => false,
            Expr::Group(a) | Expr::Degrees(a) => a.has_operation(),
            Expr::Neg(a) | Expr::Percent(a) => a.has_operation(),
            _ => true,
        }
    }

    /// Names used.
    pub fn names(&self, out: &mut Vec<String>) {
        match self {
            Expr::Var(n) => {
                if !out.contains(n) {
                    out.push(n.clone())
                }
            }
            Expr::Num(..) | Expr::Pi => {}
            Expr::Neg(a) | Expr::Group(a) | Expr::Degrees(a) | Expr::Percent(a) | Expr::Factorial(a) => a.names(out),
            Expr::Bin(_, a, b) | Expr::Juxt(a, b) | Expr::Mixed(a, b) | Expr::Root(a, b) => {
                a.names(out);
                b.names(out)
            }
        }
    }

    /// The literal of a plain stated number (`-4`, `12.5`, `75\%`, `70^\circ`), for its rounding.
    pub fn literal(&self) -> Option<(&str, bool)> {
        match self {
            Expr::Num(_, s) => Some((s, false)),
            Expr::Neg(a) | Expr::Group(a) | Expr::Degrees(a) => a.literal(),
            Expr::Percent(a) => a.literal().map(|(s, _)| (s, true)),
            _ => None,
        }
    }

    /// c0 + c1·v when the expression is linear in `v` with exact coefficients (names in `env`
    /// are substituted).
    pub fn linear(&self, v: &str, env: &Env) -> Option<(Ratio, Ratio)> {
        let zero = Ratio::int(0);
        let constant = |e: &Expr| -> Option<Ratio> {
            match e.values(env).as_slice() {
                [Value::Exact(r)] => Some(*r),
                _ => None,
            }
        };
        let mut names = Vec::new();
        self.names(&mut names);
        if !names.iter().any(|n| n == v) {
            return constant(self).map(|c| (c, zero));
        }
        match self {
            Expr::Var(n) if n == v => Some((zero, Ratio::int(1))),
            Expr::Group(a) => a.linear(v, env),
            Expr::Neg(a) => a.linear(v, env).map(|(c0, c1)| (c0.negate(), c1.negate())),
            Expr::Bin(op @ ('+' | '-'), a, b) => {
                let (a0, a1) = a.linear(v, env)?;
                let (b0, b1) = b.linear(v, env)?;
                if *op == '+' {
                    Some((a0.plus(b0)?, a1.plus(b1)?))
                } else {
                    Some((a0.minus(b0)?, a1.minus(b1)?))
                }
            }
            Expr::Bin('*', a, b) | Expr::Juxt(a, b) => {
                let (a0, a1) = a.linear(v, env)?;
                let (b0, b1) = b.linear(v, env)?;
                match (a1 == zero, b1 == zero) {
                    (true, _) => Some((b0.times(a0)?, b1.times(a0)?)),
                    (_, true) => Some((a0.times(b0)?, a1.times(b0)?)),
                    _ => None,
                }
            }
            Expr::Bin('/', a, b) => {
                let (a0, a1) = a.linear(v, env)?;
                let d = constant(b)?;
                if d == zero {
                    return None;
                }
                Some((a0.over(d)?, a1.over(d)?))
            }
            _ => None,
        }
    }
}

fn combine(a: &Expr, b: &Expr, env: &Env, f: impl Fn(Value, Value) -> Option<Value>) -> Vec<Value> {
    let (xs, ys) = (a.values(env), b.values(env));
    let mut out = Vec::new();
    for x in &xs {
        for y in &ys {
            out.extend(f(*x, *y));
            if out.len() >= MAX_READINGS {
                return out;
            }
        }
    }
    out
}

fn dedup(values: Vec<Value>) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    for v in values {
        if !out.contains(&v) && out.len() < MAX_READINGS {
            out.push(v);
        }
    }
    out
}

fn factorial(v: Value) -> Option<Value> {
    let Value::Exact(r) = v else { return None };
    if !r.is_integer() || r < Ratio::int(0) || r > Ratio::int(33) {
        return None;
    }
    let n = r.floor();
    Some(Value::Exact(Ratio::int((1..=n).product())))
}

/// Every reading of a token run: both bindings of juxtaposition, each with its own readings.
pub fn readings(tokens: &[Tok], env: &Env) -> Option<(Expr, Vec<Value>)> {
    let loose = parse(tokens, false)?;
    let mut values = loose.values(env);
    if let Some(tight) = parse(tokens, true) {
        if tight != loose {
            values.extend(tight.values(env));
        }
    }
    Some((loose, dedup(values)))
}

impl std::fmt::Display for Expr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let atom = |e: &Expr| matches!(e, Expr::Num(..) | Expr::Var(_) | Expr::Pi | Expr::Group(_));
        match self {
            Expr::Num(_, s) => write!(f, "{s}"),
            Expr::Var(n) => write!(f, "{n}"),
            Expr::Pi => write!(f, "π"),
            Expr::Neg(a) => write!(f, "-{a}"),
            Expr::Bin(op @ ('/' | '^'), a, b) => {
                let wrap = |e: &Expr| if atom(e) { format!("{e}") } else { format!("({e})") };
                write!(f, "{}{op}{}", wrap(a), wrap(b))
            }
            Expr::Bin(op, a, b) => write!(f, "{a} {op} {b}"),
            Expr::Juxt(a, b) | Expr::Mixed(a, b) => {
                if matches!(**b, Expr::Group(_) | Expr::Var(_)) {
                    write!(f, "{a}{b}")
                } else {
                    write!(f, "{a}·{b}")
                }
            }
            Expr::Root(n, x) => match n.literal() {
                Some(("2", _)) => write!(f, "√({x})"),
                Some(("3", _)) => write!(f, "∛({x})"),
                _ => write!(f, "root[{n}]({x})"),
            },
            Expr::Percent(a) => write!(f, "{a}%"),
            Expr::Factorial(a) => write!(f, "{a}!"),
            Expr::Degrees(a) => write!(f, "{a}°"),
            Expr::Group(a) => write!(f, "({a})"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(s: &str) -> Vec<f64> {
        readings(&lex(s), &Env::new()).map(|(_, v)| v.iter().map(|x| x.to_f64()).collect()).unwrap_or_default()
    }

    #[test]
    fn latex_and_plain_arithmetic() {
        assert_eq!(value(r"2(4)^2 - 10(4) + 3"), vec![-5.0]);
        assert_eq!(value(r"\frac{3}{4} \times 100"), vec![75.0]);
        assert_eq!(value(r"\left(\frac{2}{3}\right)^{2}"), vec![4.0 / 9.0]);
        assert_eq!(value("1,200 + 300"), vec![1500.0]);
        assert_eq!(value(r"1{,}000 \div 8"), vec![125.0]);
        assert_eq!(value(r"4^{3/2}"), vec![8.0]);
        assert_eq!(value(r"\sqrt[3]{27}"), vec![3.0]);
        assert_eq!(value(r"-3^2"), vec![-9.0]);
        assert_eq!(value(r"\frac{5!}{2!\,3!}"), vec![10.0]);
        assert_eq!(value(r"50\%"), vec![0.5]);
        assert_eq!(value(r"180^\circ - 50^{\circ}"), vec![130.0]);
        assert_eq!(value(r"2\frac{1}{2}"), vec![2.5, 1.0]);
        assert!((value(r"\sqrt{2}")[0] - 2f64.sqrt()).abs() < 1e-12);
    }

    #[test]
    fn notation_is_unreadable() {
        for s in [r"\gcd(6^2, 6)", r"\ln 3", "0.101_2", "f(-1)", "3 4", r"|x|", r"\binom{5}{2}", "x_1 + 2", "[2, 5)"] {
            assert!(value(s).is_empty(), "{s}: {:?}", value(s));
        }
    }
}
