//! Reasoning models think before they answer. A trace keeps their thinking as its first steps
//! (`Trace::thinking_steps` of them) and the answer after it, so labels, verifiers and refinement
//! work on every unit while the app and the final-answer rule tell the two parts apart.
//!
//! The thinking comes either inside the text (`<think>…</think>`, as Qwen3 and DeepSeek-R1 write
//! it; the opening tag may be in the prompt, so a lone `</think>` closes thinking that began at
//! the start) or in a field of its own (`reasoning_content`, Anthropic's thinking blocks, the
//! Responses API's reasoning items): then the solution is the thinking, a blank line, and the
//! answer.

use std::ops::Range;

use regex::Regex;

use super::segment::{Segmentation, Step};

/// The byte ranges of the thinking and of the answer in a text holding a `<think>` block (the
/// tags left out), or None when it has none.
pub fn split_think(text: &str) -> Option<(Range<usize>, Range<usize>)> {
    static OPEN: std::sync::OnceLock<Regex> = std::sync::OnceLock::new();
    static CLOSE: std::sync::OnceLock<Regex> = std::sync::OnceLock::new();
    let open = OPEN.get_or_init(|| Regex::new(r"<think(?:ing)?>").unwrap());
    let close = CLOSE.get_or_init(|| Regex::new(r"</think(?:ing)?>").unwrap());
    let start = match open.find(text) {
        // Only a block at the start is thinking (a tag quoted later in an answer is text).
        Some(m) if text[..m.start()].trim().is_empty() => m.end(),
        Some(_) => return None,
        None => 0,
    };
    match close.find_at(text, start) {
        Some(m) => Some((start..m.start(), m.end()..text.len())),
        // Opened and never closed: the generation stopped while thinking.
        None if start > 0 => Some((start..text.len(), text.len()..text.len())),
        None => None,
    }
}

/// How thinking is cut into units: the segmentation asked for, else paragraphs and reflection
/// markers ("Wait", "Hmm", …), so each change of mind is a unit of its own.
pub fn thinking_segmentation(asked: Option<&Segmentation>) -> Segmentation {
    asked.cloned().unwrap_or_else(|| Segmentation::Reflection(super::segment::REFLECTION_MARKERS.into()))
}

/// Steps of a solution whose thinking and answer are segmented apart (a unit never spans the
/// two; the thinking cut by `thinking_seg`), with the number of thinking steps; a solution
/// without a `<think>` block is segmented whole by `seg`, with none.
pub fn segment(solution: &str, seg: &Segmentation, thinking_seg: &Segmentation) -> (Vec<Step>, usize) {
    let Some((thinking, answer)) = split_think(solution) else { return (seg.split(solution), 0) };
    let mut steps = split_range(solution, thinking, thinking_seg);
    let n = steps.len();
    steps.extend(split_range(solution, answer, seg));
    (steps, n)
}

/// A solution made of a thinking text and an answer text from separate fields: the thinking, a
/// blank line, the answer. Returns it with its steps, the number of thinking steps and where the
/// answer starts in it.
pub fn join(
    thinking: &str,
    answer: &str,
    seg: &Segmentation,
    thinking_seg: &Segmentation,
) -> (String, Vec<Step>, usize, usize) {
    let solution = format!("{thinking}\n\n{answer}");
    let at = thinking.len() + 2;
    let mut steps = split_range(&solution, 0..thinking.len(), thinking_seg);
    let n = steps.len();
    steps.extend(split_range(&solution, at..solution.len(), seg));
    (solution, steps, n, at)
}

/// Phrases that start a new approach: a thinking unit that opens with one starts a section.
pub const SHIFT_MARKERS: &str =
    "Alternatively|Another approach|Another way|Let me try|Let's try|Let me start over|Let me think again|Maybe I should|Instead";

/// Whether a unit opens with one of the `|`-separated markers (as a word: "Waiting" is no "Wait").
pub fn opens_with(text: &str, markers: &str) -> bool {
    let text = text.trim_start_matches(['*', '_', ' ', '\n']);
    markers
        .split('|')
        .filter(|m| !m.is_empty())
        .any(|m| text.strip_prefix(m).is_some_and(|rest| !rest.starts_with(|c: char| c.is_alphanumeric())))
}

/// Whether a unit is a reflection: it opens with a reflection marker ("Wait", "Hmm", …).
pub fn is_reflection(text: &str) -> bool {
    opens_with(text, super::segment::REFLECTION_MARKERS)
}

/// The sections of a trace, as ranges of steps: in the thinking a new section starts at each
/// unit that opens a new approach ("Alternatively", "Let me try", …) and the answer is a
/// section of its own; a trace without thinking is one section.
pub fn sections(t: &super::model::Trace) -> Vec<Range<usize>> {
    let (n, thinking) = (t.steps.len(), t.thinking_steps.min(t.steps.len()));
    let mut starts = vec![0];
    starts.extend((1..thinking).filter(|&i| opens_with(&t.steps[i].text, SHIFT_MARKERS)));
    if thinking > 0 && thinking < n {
        starts.push(thinking);
    }
    starts
        .iter()
        .enumerate()
        .map(|(k, &s)| s..starts.get(k + 1).copied().unwrap_or(n))
        .filter(|r| !r.is_empty())
        .collect()
}

/// The steps of one part of `text`, with spans into the whole text.
fn split_range(text: &str, range: Range<usize>, seg: &Segmentation) -> Vec<Step> {
    let offset = range.start;
    seg.split(&text[range])
        .into_iter()
        .map(|s| Step { text: s.text, start: s.start + offset, end: s.end + offset })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(steps: &[Step]) -> Vec<&str> {
        steps.iter().map(|s| s.text.as_str()).collect()
    }

    #[test]
    fn think_blocks_split_thinking_from_the_answer() {
        let text = "<think>\nLet x be 3.\n\nWait, x is 4.\n</think>\n\nThe answer is \\boxed{4}.";
        let (steps, n) = segment(text, &Segmentation::BlankLine, &Segmentation::BlankLine);
        assert_eq!(texts(&steps), ["Let x be 3.", "Wait, x is 4.", "The answer is \\boxed{4}."]);
        assert_eq!(n, 2);
        for s in &steps {
            assert_eq!(&text[s.start..s.end], s.text, "spans point into the text");
        }
        // The template opened the block: a lone closing tag.
        let (steps, n) = segment("Hmm.\n\nOK.</think>Done: 5.", &Segmentation::BlankLine, &Segmentation::BlankLine);
        assert_eq!((texts(&steps), n), (vec!["Hmm.", "OK.", "Done: 5."], 2));
        // Stopped while thinking: everything is thinking.
        let (steps, n) = segment("<think>a\n\nb", &Segmentation::BlankLine, &Segmentation::BlankLine);
        assert_eq!((steps.len(), n), (2, 2));
        // A tag quoted inside an answer is text.
        let (_, n) = segment("Use <think> tags like this.", &Segmentation::BlankLine, &Segmentation::BlankLine);
        assert_eq!(n, 0);
        assert_eq!(segment("No thinking here.\n\nAt all.", &Segmentation::BlankLine, &Segmentation::BlankLine).1, 0);
    }

    #[test]
    fn sections_start_at_new_approaches_and_the_answer() {
        let text = "<think>\nTry 2 + 2 = 5.\n\nWait, it is 4.\n\nAlternatively, count: 1, 2, 3, 4.\n\nWaiting over.\n</think>\n\nIt is 4.\n\nThe answer is 4.";
        let mut t = super::super::model::Trace { solution: text.into(), ..Default::default() };
        (t.steps, t.thinking_steps) = segment(text, &Segmentation::BlankLine, &Segmentation::BlankLine);
        assert_eq!(sections(&t), [0..2, 2..4, 4..6]);
        assert!(is_reflection(&t.steps[1].text) && !is_reflection(&t.steps[3].text), "Waiting is no Wait");
        t.thinking_steps = 0;
        assert_eq!(sections(&t), vec![Range { start: 0, end: 6 }], "no thinking: one section");
    }

    #[test]
    fn joined_parts_keep_their_spans() {
        let (solution, steps, n, at) =
            join("First idea.\n\nSecond idea.", "It is 7.", &Segmentation::BlankLine, &Segmentation::BlankLine);
        assert_eq!(n, 2);
        assert_eq!(&solution[at..], "It is 7.");
        assert_eq!(texts(&steps), ["First idea.", "Second idea.", "It is 7."]);
        assert!(steps.iter().all(|s| solution[s.start..s.end] == s.text));
    }
}
