//! Turning step text into styled, wrapped lines: readable LaTeX, dimmed GSM8K annotations,
//! highlighted code blocks, and a wrapper that measures display width (CJK, emoji).

use std::sync::OnceLock;

use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use syntect::easy::HighlightLines;
use syntect::highlighting::{FontStyle, ThemeSet};
use syntect::parsing::SyntaxSet;
use unicode_width::UnicodeWidthChar;

use super::theme::{Theme, ThemeName};

/// How a piece of prose is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Normal,
    /// GSM8K `<<a=b>>` calculator annotations.
    Dim,
    /// `\boxed{…}` answers.
    Emph,
}

/// Splits prose into pieces: annotations dimmed, boxed answers emphasised, LaTeX made readable.
pub fn prose_pieces(text: &str) -> Vec<(String, Kind)> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("<<") {
        let Some(len) = rest[at..].find(">>") else { break };
        boxed_pieces(&rest[..at], &mut out);
        out.push((rest[at..at + len + 2].to_string(), Kind::Dim));
        rest = &rest[at + len + 2..];
    }
    boxed_pieces(rest, &mut out);
    out.retain(|(s, _)| !s.is_empty());
    out
}

fn boxed_pieces(text: &str, out: &mut Vec<(String, Kind)>) {
    let mut rest = text;
    while let Some(at) = rest.find("\\boxed{") {
        let body = &rest[at + 7..];
        let Some(close) = crate::latex::closing_brace(body) else { break };
        out.push((readable_latex(&rest[..at]), Kind::Normal));
        out.push((readable_latex(&body[..close]), Kind::Emph));
        rest = &body[close + 1..];
    }
    out.push((readable_latex(rest), Kind::Normal));
}

const SYMBOLS: &[(&str, &str)] = &[
    ("\\times", "×"),
    ("\\cdot", "·"),
    ("\\div", "÷"),
    ("\\leq", "≤"),
    ("\\geq", "≥"),
    ("\\le", "≤"),
    ("\\ge", "≥"),
    ("\\neq", "≠"),
    ("\\ne", "≠"),
    ("\\approx", "≈"),
    ("\\pm", "±"),
    ("\\pi", "π"),
    ("\\infty", "∞"),
    ("\\rightarrow", "→"),
    ("\\to", "→"),
    ("\\Rightarrow", "⇒"),
    ("\\implies", "⇒"),
    ("^\\circ", "°"),
    ("\\circ", "°"),
    ("\\left", ""),
    ("\\right", ""),
    ("\\%", "%"),
    ("\\$", "$"),
    ("\\,", " "),
    ("\\;", " "),
    ("\\!", ""),
    ("\\quad", "  "),
    ("\\(", ""),
    ("\\)", ""),
    ("\\[", ""),
    ("\\]", ""),
];

/// Braces nested deeper than this are not rewritten: the text is shown as it is. Each level
/// rescans its body, so the bound keeps a frame linear in the text and the recursion shallow
/// (50,000 nested `\sqrt{` overflowed the stack; 20,000 took seconds a frame).
const MAX_NESTING: usize = 32;

fn nesting(text: &str) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    for b in text.bytes() {
        match b {
            b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// Common LaTeX shown readably: `\frac{a}{b}` → a/b, `\sqrt{x}` → √x, `\text{kg}` → kg, symbols.
pub fn readable_latex(text: &str) -> String {
    if !text.contains('\\') && !text.contains('$') || nesting(text) > MAX_NESTING {
        return text.to_string();
    }
    let mut s = strip_inline_math(text);
    for cmd in ["\\dfrac{", "\\tfrac{", "\\frac{"] {
        s = replace_frac(&s, cmd);
    }
    s = replace_unary(&s, "\\sqrt{", "√", true);
    for cmd in ["\\text{", "\\mathrm{", "\\textbf{", "\\mathbf{", "\\operatorname{"] {
        s = replace_unary(&s, cmd, "", false);
    }
    for (from, to) in SYMBOLS {
        // Replace a command only when it is not the prefix of a longer command name.
        let mut out = String::with_capacity(s.len());
        let mut rest = s.as_str();
        while let Some(at) = rest.find(from) {
            let after = &rest[at + from.len()..];
            let is_prefix = from.chars().last().is_some_and(char::is_alphabetic)
                && after.chars().next().is_some_and(char::is_alphabetic);
            out.push_str(&rest[..at]);
            out.push_str(if is_prefix { from } else { to });
            rest = after;
        }
        out.push_str(rest);
        s = out;
    }
    s
}

/// Removes `$…$` math delimiters but leaves money alone: an opening `$` followed by a digit or a
/// space, or a closing one preceded by a space, is not a delimiter.
fn strip_inline_math(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut drop = vec![false; chars.len()];
    let mut i = 0;
    while i < chars.len() {
        let opens =
            chars[i] == '$' && chars.get(i + 1).is_some_and(|c| !c.is_ascii_digit() && !c.is_whitespace() && *c != '$');
        if opens {
            let close = (i + 2..chars.len())
                .find(|&j| chars[j] == '$' && !chars[j - 1].is_whitespace() && chars[j - 1] != '\\');
            if let Some(j) = close {
                drop[i] = true;
                drop[j] = true;
                i = j + 1;
                continue;
            }
        }
        i += 1;
    }
    chars.iter().zip(drop).filter(|(_, d)| !d).map(|(c, _)| c).collect()
}

fn replace_frac(s: &str, cmd: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(at) = rest.find(cmd) {
        let body = &rest[at + cmd.len()..];
        let Some(n_end) = crate::latex::closing_brace(body) else { break };
        let after_num = &body[n_end + 1..];
        let Some(d_body) = after_num.strip_prefix('{') else { break };
        let Some(d_end) = crate::latex::closing_brace(d_body) else { break };
        out.push_str(&rest[..at]);
        let (num, den) = (replace_frac(&body[..n_end], cmd), replace_frac(&d_body[..d_end], cmd));
        out.push_str(&format!("{}/{}", group(&num), group(&den)));
        rest = &d_body[d_end + 1..];
    }
    out.push_str(rest);
    out
}

/// Parenthesises a fraction part that has spaces or operators, so a/b stays unambiguous.
fn group(s: &str) -> String {
    if s.chars().all(|c| c.is_alphanumeric() || c == '.') {
        s.to_string()
    } else {
        format!("({s})")
    }
}

fn replace_unary(s: &str, cmd: &str, prefix: &str, grouped: bool) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(at) = rest.find(cmd) {
        let body = &rest[at + cmd.len()..];
        let Some(end) = crate::latex::closing_brace(body) else { break };
        out.push_str(&rest[..at]);
        out.push_str(prefix);
        let inner = replace_unary(&body[..end], cmd, prefix, grouped);
        out.push_str(&if grouped { group(&inner) } else { inner });
        rest = &body[end + 1..];
    }
    out.push_str(rest);
    out
}

/// A block of a step: prose, or a fenced code block with its language tag.
#[derive(Debug, PartialEq, Eq)]
pub enum Block<'a> {
    Prose(&'a str),
    Code { lang: &'a str, code: &'a str },
}

/// Splits text at ``` fences. An unclosed fence runs to the end.
pub fn blocks(text: &str) -> Vec<Block<'_>> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("```") {
        out.push(Block::Prose(&rest[..at]));
        let after = &rest[at + 3..];
        let lang_end = after.find('\n').unwrap_or(after.len());
        let lang = after[..lang_end].trim();
        let body = &after[(lang_end + 1).min(after.len())..];
        let end = body.find("```").unwrap_or(body.len());
        out.push(Block::Code { lang, code: body[..end].trim_end_matches('\n') });
        rest = &body[(end + 3).min(body.len())..];
    }
    out.push(Block::Prose(rest));
    out.retain(|b| !matches!(b, Block::Prose(p) if p.trim().is_empty()));
    out
}

fn syntaxes() -> &'static (SyntaxSet, ThemeSet) {
    static SETS: OnceLock<(SyntaxSet, ThemeSet)> = OnceLock::new();
    SETS.get_or_init(|| (SyntaxSet::load_defaults_newlines(), ThemeSet::load_defaults()))
}

/// Highlights a code block into styled lines (plain lines when colours are off).
pub fn highlight_code(lang: &str, code: &str, theme: &Theme) -> Vec<Vec<(String, Style)>> {
    if !theme.color {
        return code.lines().map(|l| vec![(l.to_string(), theme.base)]).collect();
    }
    let (ss, ts) = syntaxes();
    let syntax = ss
        .find_syntax_by_token(if lang.is_empty() { "txt" } else { lang })
        .unwrap_or_else(|| ss.find_syntax_plain_text());
    let name = if theme.name == ThemeName::Light { "InspiredGitHub" } else { "base16-ocean.dark" };
    let mut h = HighlightLines::new(syntax, &ts.themes[name]);
    let mut out = Vec::new();
    for line in code.split_inclusive('\n') {
        let Ok(ranges) = h.highlight_line(line, ss) else {
            out.push(vec![(line.trim_end_matches('\n').to_string(), theme.base)]);
            continue;
        };
        out.push(
            ranges
                .into_iter()
                .map(|(st, piece)| (piece.trim_end_matches('\n').to_string(), syntect_style(st)))
                .filter(|(p, _)| !p.is_empty())
                .collect(),
        );
    }
    out
}

fn syntect_style(s: syntect::highlighting::Style) -> Style {
    let mut style = Style::default();
    if s.foreground.a > 0 {
        style = style.fg(Color::Rgb(s.foreground.r, s.foreground.g, s.foreground.b));
    }
    if s.font_style.contains(FontStyle::BOLD) {
        style = style.add_modifier(Modifier::BOLD);
    }
    if s.font_style.contains(FontStyle::ITALIC) {
        style = style.add_modifier(Modifier::ITALIC);
    }
    style
}

/// Display width of a string in terminal cells.
pub fn width(s: &str) -> usize {
    s.chars().map(|c| c.width().unwrap_or(0)).sum()
}

/// Greedy word wrap of styled pieces into lines of at most `width` cells. Newlines in the text
/// break lines; words longer than a line are split by character. `first` prefixes the first line,
/// `indent` the others (both count towards the width).
pub fn wrap(pieces: &[(String, Style)], width: usize, first: Vec<Span<'static>>, indent: usize) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    let mut current: Vec<Span<'static>> = first;
    let mut used: usize = current.iter().map(|s| self::width(&s.content)).sum();
    // Room for at least one wide character after the prefix or indent.
    let width = width.max(used + 2).max(indent + 2);
    let mut flush = |current: &mut Vec<Span<'static>>, used: &mut usize| {
        lines.push(Line::from(std::mem::take(current)));
        current.push(Span::raw(" ".repeat(indent)));
        *used = indent;
    };
    for (text, style) in pieces {
        for (li, segment) in text.split('\n').enumerate() {
            if li > 0 {
                flush(&mut current, &mut used);
            }
            for word in split_keep_spaces(segment) {
                let w = self::width(word);
                if used + w > width && used > indent {
                    if word.trim().is_empty() {
                        continue; // a space at a line break is dropped
                    }
                    flush(&mut current, &mut used);
                }
                if used + w <= width {
                    current.push(Span::styled(word.to_string(), *style));
                    used += w;
                    continue;
                }
                // Longer than a whole line: split by character.
                let mut chunk = String::new();
                for c in word.chars() {
                    let cw = c.width().unwrap_or(0);
                    if used + cw > width && used > indent {
                        current.push(Span::styled(std::mem::take(&mut chunk), *style));
                        flush(&mut current, &mut used);
                    }
                    chunk.push(c);
                    used += cw;
                }
                current.push(Span::styled(chunk, *style));
            }
        }
    }
    lines.push(Line::from(current));
    lines
}

/// Words with their trailing spaces as separate items.
fn split_keep_spaces(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut in_space = false;
    for (i, c) in s.char_indices() {
        let space = c == ' ';
        if i > start && space != in_space {
            out.push(&s[start..i]);
            start = i;
        }
        in_space = space;
    }
    if start < s.len() {
        out.push(&s[start..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_nesting_is_shown_as_it_is() {
        let deep = format!("{}x{}", "\\sqrt{".repeat(50_000), "}".repeat(50_000));
        assert_eq!(readable_latex(&deep), deep);
        let shallow = format!("{}x{}", "\\sqrt{".repeat(3), "}".repeat(3));
        assert_eq!(readable_latex(&shallow), "√(√(√x))");
    }

    #[test]
    fn latex_is_readable() {
        assert_eq!(readable_latex("\\(1/3 \\times 18 = 6\\)"), "1/3 × 18 = 6");
        assert_eq!(readable_latex("\\frac{10 \\times 11}{6} \\le x"), "(10 × 11)/6 ≤ x");
        assert_eq!(readable_latex("\\dfrac{a}{\\frac{1}{2}}"), "a/(1/2)");
        assert_eq!(readable_latex("\\sqrt{16} \\text{ kg} \\leq 5\\%"), "√16  kg ≤ 5%");
        assert_eq!(readable_latex("\\left(2\\right) \\lefty"), "(2) \\lefty");
        assert_eq!(readable_latex("with $n = 10$ it costs $18 and $x^2$."), "with n = 10 it costs $18 and x^2.");
        assert_eq!(readable_latex("from $5 to $7"), "from $5 to $7");
    }

    #[test]
    fn pieces_dim_annotations_and_box_answers() {
        let p = prose_pieces("so 2*3=<<2*3=6>>6 and \\boxed{\\frac{1}{2}}.");
        assert_eq!(
            p,
            [
                ("so 2*3=".to_string(), Kind::Normal),
                ("<<2*3=6>>".to_string(), Kind::Dim),
                ("6 and ".to_string(), Kind::Normal),
                ("1/2".to_string(), Kind::Emph),
                (".".to_string(), Kind::Normal)
            ]
        );
    }

    #[test]
    fn code_fences_split() {
        let b = blocks("text\n```python\nx = 1\n```\nafter");
        assert_eq!(b, [Block::Prose("text\n"), Block::Code { lang: "python", code: "x = 1" }, Block::Prose("\nafter")]);
        assert_eq!(blocks("```\nopen").len(), 1);
    }

    #[test]
    fn wrap_respects_width_with_wide_chars() {
        let style = Style::default();
        let text = "数学の問題 emoji 🎉🎉 ".repeat(20) + &"x".repeat(300);
        for w in [1usize, 2, 5, 17, 80] {
            let lines = wrap(&[(text.clone(), style)], w, vec![Span::raw("3 ")], 2);
            for l in &lines {
                let lw: usize = l.spans.iter().map(|s| width(&s.content)).sum();
                assert!(lw <= w.max(4), "width {w}: line of {lw}");
            }
        }
    }
}
