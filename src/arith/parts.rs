//! A step's text cut into display blocks, inline math and prose, and the places in prose where a
//! new case starts.

use std::sync::OnceLock;

use regex::Regex;

use super::expr::{lex, Tok};

/// One piece of a step's text.
#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    Display(String),
    Inline(String),
    Prose(String),
}

/// Cuts text at `\[…\]`, `$$…$$`, `\begin{…}…\end{…}` (display) and `\(…\)`, `$…$` (inline).
/// A lone `$` is money unless the pair encloses LaTeX (`$2 \cdot 7 = 14$`).
pub fn parts(text: &str) -> Vec<Part> {
    static OPEN: OnceLock<Regex> = OnceLock::new();
    let open = OPEN.get_or_init(|| {
        Regex::new(r"\\\[|\$\$|\\begin\{(?:equation|align|gather|multline|eqnarray)\*?\}|\\\(|\$").expect("valid regex")
    });
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(m) = open.find(rest) {
        let (close, display) = match m.as_str() {
            r"\[" => (r"\]", true),
            "$$" => ("$$", true),
            r"\(" => (r"\)", false),
            "$" => ("$", false),
            _ => (r"\end{", true),
        };
        let body_start = m.end();
        let found = rest[body_start..].find(close);
        if found.is_none() && m.as_str() == "$" {
            // A lone `$` is money.
            push_prose(&mut out, &rest[..m.end()]);
            rest = &rest[m.end()..];
            continue;
        }
        let Some(len) = found else {
            // Unclosed: the rest is math of that kind.
            push_prose(&mut out, &rest[..m.start()]);
            let body = &rest[body_start..];
            out.push(if display { Part::Display(body.into()) } else { Part::Inline(body.into()) });
            return out;
        };
        let body = &rest[body_start..body_start + len];
        let mut after = body_start + len + close.len();
        if close == r"\end{" {
            after = rest[after..].find('}').map_or(rest.len(), |k| after + k + 1);
        }
        let escaped = m.start() > 0 && rest.as_bytes()[m.start() - 1] == b'\\';
        if m.as_str() == "$" && (escaped || !is_inline_latex(body)) {
            // Money: keep the `$` in the prose and go on after it.
            push_prose(&mut out, &rest[..m.end()]);
            rest = &rest[m.end()..];
            continue;
        }
        push_prose(&mut out, &rest[..m.start()]);
        match out.last_mut() {
            // Display blocks with nothing but space between them read as one aligned block.
            Some(Part::Display(prev)) if display => {
                prev.push_str(" \\\\ ");
                prev.push_str(body);
            }
            _ => out.push(if display { Part::Display(body.into()) } else { Part::Inline(body.into()) }),
        }
        rest = &rest[after..];
    }
    push_prose(&mut out, rest);
    out
}

fn push_prose(out: &mut Vec<Part>, s: &str) {
    if s.trim().is_empty() && matches!(out.last(), Some(Part::Display(_))) || s.is_empty() {
        return;
    }
    if let Some(Part::Prose(p)) = out.last_mut() {
        p.push_str(s);
    } else {
        out.push(Part::Prose(s.into()));
    }
}

fn is_inline_latex(body: &str) -> bool {
    !body.is_empty()
        && !body.ends_with('\\')
        && !body.contains("\\[")
        && !body.contains('\n')
        && !body.starts_with(char::is_whitespace)
        && !body.ends_with(char::is_whitespace)
        && body.contains(['\\', '^', '_', '{'])
}

/// Whether inline math states something (has a relation) rather than naming a value.
pub fn states(body: &str) -> bool {
    lex(body).iter().any(|t| matches!(t, Tok::Rel(_)))
}

/// Byte offsets where a new case starts in prose: "If", "When", "Case 2", "Let", "for x = 3",
/// "First, … Second, …"…
pub fn case_starts(prose: &str) -> Vec<usize> {
    static CASE: OnceLock<Regex> = OnceLock::new();
    let re = CASE.get_or_init(|| {
        Regex::new(
            r"(?i)\b(?:if|when|whenever|suppose|assume|assuming|case|otherwise|alternatively|testing|test|try|trying|let)\b|\b(?:for|at|with|or)\s+(?:\\\(\s*|\$)?[A-Za-z]\s*=|(?-i:\b(?:First|Second|Third|Fourth)\b)",
        )
        .expect("valid regex")
    });
    re.find_iter(prose).map(|m| m.start()).filter(|&s| s > 0).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_tell_math_from_money() {
        let money = parts("He pays $15 + $20 = $35 for it.");
        assert_eq!(money, vec![Part::Prose("He pays $15 + $20 = $35 for it.".into())]);
        let math = parts(r"So $2 \cdot 7 = 14$. Then \(x = 2\) and \[ a \] \[ b \] done");
        assert_eq!(
            math,
            vec![
                Part::Prose("So ".into()),
                Part::Inline(r"2 \cdot 7 = 14".into()),
                Part::Prose(". Then ".into()),
                Part::Inline("x = 2".into()),
                Part::Prose(" and ".into()),
                Part::Display(r" a  \\  b ".into()),
                Part::Prose(" done".into()),
            ]
        );
        assert_eq!(parts(r"\[ 1 + 1 = 2"), vec![Part::Display(" 1 + 1 = 2".into())]);
        let aligned = parts(r"\begin{align*} a &= 1 \\ &= 1 \end{align*} end");
        assert_eq!(aligned[0], Part::Display(r" a &= 1 \\ &= 1 ".into()));
    }

    #[test]
    fn cases_start_new_scopes() {
        let text = r"Here \(x = 1\). If \(x = 2\) then. For \(k = 3\), and for each apple, at x = 4.";
        let starts: Vec<&str> = case_starts(text).iter().map(|&k| &text[k..k + 3]).collect();
        assert_eq!(starts, vec!["If ", "For", "at "]);
    }
}
