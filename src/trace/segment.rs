//! Step segmentation rules. Each trace records the rule that produced its steps so a later stage
//! (token → step mapping, verifiers) can reproduce it.

use regex::Regex;

/// One reasoning step: its text and where it sits in the trace's solution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub text: String,
    /// Byte range `[start, end)` of the step inside the solution text. A separator that follows a
    /// step is not part of it.
    pub start: usize,
    pub end: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Segmentation {
    /// Steps came as a list from the source (e.g. ProcessBench `steps`).
    #[default]
    Given,
    /// Paragraphs separated by one or more blank lines.
    BlankLine,
    /// One step per non-empty line.
    Line,
    /// `Step k:` headers start a new step.
    StepHeaders,
    /// Each match of the regex ends a step (the match belongs to the preceding step).
    Regex(String),
    /// Long chains of thought: paragraphs, and a new unit at each sentence that starts with a
    /// reflection marker ("Wait", "Hmm", "Actually", …; `|`-separated).
    Reflection(String),
}

/// The reflection markers a long chain of thought is cut at by default (`reflection`).
pub const REFLECTION_MARKERS: &str =
    "Wait|But wait|Alternatively|Hmm|Actually|Let me double-check|Let me double check|Let me check|Let me verify|On second thought";

impl Segmentation {
    /// Parses the names used in files and on the command line.
    pub fn parse(s: &str) -> Result<Segmentation, String> {
        match s {
            "given" => Ok(Segmentation::Given),
            "blank" | "blank_line" | "paragraph" => Ok(Segmentation::BlankLine),
            "line" => Ok(Segmentation::Line),
            "step" | "step_headers" => Ok(Segmentation::StepHeaders),
            "reflection" => Ok(Segmentation::Reflection(REFLECTION_MARKERS.into())),
            other => {
                if let Some(markers) = other.strip_prefix("reflection:") {
                    if markers.split('|').all(|m| m.trim().is_empty()) {
                        return Err("reflection: give at least one marker (reflection:Wait|Hmm)".into());
                    }
                    return Ok(Segmentation::Reflection(markers.to_string()));
                }
                match other.strip_prefix("regex:") {
                    Some(pat) => {
                        Regex::new(pat).map_err(|e| format!("bad segmentation regex: {e}"))?;
                        Ok(Segmentation::Regex(pat.to_string()))
                    }
                    None => Err(format!(
                        "unknown segmentation '{other}' (expected blank, line, step, reflection[:A|B], or regex:PATTERN)"
                    )),
                }
            }
        }
    }

    pub fn name(&self) -> String {
        match self {
            Segmentation::Given => "given".into(),
            Segmentation::BlankLine => "blank_line".into(),
            Segmentation::Line => "line".into(),
            Segmentation::StepHeaders => "step_headers".into(),
            Segmentation::Regex(p) => format!("regex:{p}"),
            Segmentation::Reflection(m) if m == REFLECTION_MARKERS => "reflection".into(),
            Segmentation::Reflection(m) => format!("reflection:{m}"),
        }
    }

    /// Splits `text` into steps with byte spans into `text`. `Given` behaves like `BlankLine`.
    pub fn split(&self, text: &str) -> Vec<Step> {
        match self {
            Segmentation::Given | Segmentation::BlankLine => split_on(text, blank_line_regex()),
            Segmentation::Line => split_on(text, line_regex()),
            Segmentation::StepHeaders => split_before(text, step_header_regex()),
            Segmentation::Regex(p) => match Regex::new(p) {
                Ok(re) => split_on(text, &re),
                Err(_) => split_on(text, blank_line_regex()),
            },
            Segmentation::Reflection(markers) => split_reflection(text, &marker_regex(markers)),
        }
    }
}

/// A sentence that starts with one of the markers: at a line start or after a sentence's end.
/// Group 1 is the marker (where the new unit starts).
pub fn marker_regex(markers: &str) -> Regex {
    let alternatives: Vec<String> =
        markers.split('|').map(str::trim).filter(|m| !m.is_empty()).map(regex::escape).collect();
    let pattern = format!(r#"(?m)(?:^|[.!?:;]["')\]]*[ \t]+)[*_]*((?:{})\b)"#, alternatives.join("|"));
    Regex::new(&pattern).unwrap_or_else(|_| Regex::new(r"$^").expect("an empty regex compiles"))
}

/// Paragraphs, each cut again before every sentence that starts with a marker.
fn split_reflection(text: &str, markers: &Regex) -> Vec<Step> {
    let mut steps = Vec::new();
    for p in split_on(text, blank_line_regex()) {
        let mut from = p.start;
        for c in markers.captures_iter(&text[p.start..p.end]) {
            let at = p.start + c.get(1).map_or(0, |m| m.start());
            if at > from {
                push_trimmed(text, from, at, &mut steps);
                from = at;
            }
        }
        push_trimmed(text, from, p.end, &mut steps);
    }
    steps
}

// Compiled once: segmentation runs for every record of a file.
fn blank_line_regex() -> &'static Regex {
    static RE: std::sync::OnceLock<Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| Regex::new(r"\n[ \t]*\n\s*").unwrap())
}

fn line_regex() -> &'static Regex {
    static RE: std::sync::OnceLock<Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| Regex::new(r"\n").unwrap())
}

fn step_header_regex() -> &'static Regex {
    static RE: std::sync::OnceLock<Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| Regex::new(r"(?mi)^[ \t]*(?:#+[ \t]*)?\**step[ \t]*\d+[ \t]*\**[:.)]").unwrap())
}

/// Pieces between matches of `sep`, trimmed, empty pieces dropped.
fn split_on(text: &str, sep: &Regex) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut from = 0;
    for m in sep.find_iter(text) {
        push_trimmed(text, from, m.start(), &mut steps);
        from = m.end();
    }
    push_trimmed(text, from, text.len(), &mut steps);
    steps
}

/// Pieces that start at each match of `header` (text before the first header is its own step).
fn split_before(text: &str, header: &Regex) -> Vec<Step> {
    let starts: Vec<usize> = header.find_iter(text).map(|m| m.start()).collect();
    if starts.is_empty() {
        return split_on(text, blank_line_regex());
    }
    let mut steps = Vec::new();
    let mut bounds = vec![0];
    bounds.extend(starts.iter().copied().filter(|&s| s > 0));
    bounds.push(text.len());
    for w in bounds.windows(2) {
        push_trimmed(text, w[0], w[1], &mut steps);
    }
    steps
}

fn push_trimmed(text: &str, start: usize, end: usize, out: &mut Vec<Step>) {
    let piece = &text[start..end];
    let lead = piece.len() - piece.trim_start().len();
    let trimmed = piece.trim();
    if trimmed.is_empty() {
        return;
    }
    let s = start + lead;
    out.push(Step { text: trimmed.to_string(), start: s, end: s + trimmed.len() });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(steps: &[Step]) -> Vec<&str> {
        steps.iter().map(|s| s.text.as_str()).collect()
    }

    #[test]
    fn blank_line_split_keeps_spans() {
        let t = "First.\n\nSecond line\ncontinues.\n\n\n  Third.";
        let steps = Segmentation::BlankLine.split(t);
        assert_eq!(texts(&steps), ["First.", "Second line\ncontinues.", "Third."]);
        for s in &steps {
            assert_eq!(&t[s.start..s.end], s.text);
        }
    }

    #[test]
    fn line_split_drops_empty_lines() {
        let steps = Segmentation::Line.split("a\n\nb\n c \n");
        assert_eq!(texts(&steps), ["a", "b", "c"]);
    }

    #[test]
    fn step_headers_split() {
        let t = "Let us solve.\nStep 1: add 2.\nmore\nStep 2: done ки\n**Step 3:** x";
        let steps = Segmentation::StepHeaders.split(t);
        assert_eq!(texts(&steps), ["Let us solve.", "Step 1: add 2.\nmore", "Step 2: done ки", "**Step 3:** x"]);
    }

    #[test]
    fn reflection_markers_start_new_units() {
        let t = "Let x = 3. Then 2x = 6.\nWait, x was 4. So 2x = 8. Hmm. Actually 8 is right.\n\nAlternatively: subtract.\nWaiting is not a marker.";
        let seg = Segmentation::parse("reflection").unwrap();
        let steps = seg.split(t);
        assert_eq!(
            texts(&steps),
            [
                "Let x = 3. Then 2x = 6.",
                "Wait, x was 4. So 2x = 8.",
                "Hmm.",
                "Actually 8 is right.",
                "Alternatively: subtract.\nWaiting is not a marker."
            ]
        );
        assert!(steps.iter().all(|s| t[s.start..s.end] == s.text));
        assert_eq!(seg.name(), "reflection");
        let custom = Segmentation::parse("reflection:Oops").unwrap();
        assert_eq!(texts(&custom.split("A. Oops, b. Wait, c.")), ["A.", "Oops, b. Wait, c."]);
        assert_eq!(custom.name(), "reflection:Oops");
        assert!(Segmentation::parse("reflection:|").is_err());
    }

    #[test]
    fn regex_split_and_names() {
        let seg = Segmentation::parse("regex:ки\\s*").unwrap();
        assert_eq!(texts(&seg.split("a ки b ки")), ["a", "b"]);
        assert_eq!(seg.name(), "regex:ки\\s*");
        assert!(Segmentation::parse("regex:(").is_err());
        assert!(Segmentation::parse("words").is_err());
        assert_eq!(Segmentation::parse("blank").unwrap(), Segmentation::BlankLine);
    }
}
