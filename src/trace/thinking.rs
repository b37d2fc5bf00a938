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

/// Steps of a solution whose thinking and answer are segmented apart (a unit never spans the
/// two), with the number of thinking steps; a solution without a `<think>` block is segmented
/// whole, with none.
pub fn segment(solution: &str, seg: &Segmentation) -> (Vec<Step>, usize) {
    let Some((thinking, answer)) = split_think(solution) else { return (seg.split(solution), 0) };
    let mut steps = split_range(solution, thinking, seg);
    let n = steps.len();
    steps.extend(split_range(solution, answer, seg));
    (steps, n)
}

/// A solution made of a thinking text and an answer text from separate fields: the thinking, a
/// blank line, the answer. Returns it with its steps, the number of thinking steps and where the
/// answer starts in it.
pub fn join(thinking: &str, answer: &str, seg: &Segmentation) -> (String, Vec<Step>, usize, usize) {
    let solution = format!("{thinking}\n\n{answer}");
    let at = thinking.len() + 2;
    let mut steps = split_range(&solution, 0..thinking.len(), seg);
    let n = steps.len();
    steps.extend(split_range(&solution, at..solution.len(), seg));
    (solution, steps, n, at)
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
        let (steps, n) = segment(text, &Segmentation::BlankLine);
        assert_eq!(texts(&steps), ["Let x be 3.", "Wait, x is 4.", "The answer is \\boxed{4}."]);
        assert_eq!(n, 2);
        for s in &steps {
            assert_eq!(&text[s.start..s.end], s.text, "spans point into the text");
        }
        // The template opened the block: a lone closing tag.
        let (steps, n) = segment("Hmm.\n\nOK.</think>Done: 5.", &Segmentation::BlankLine);
        assert_eq!((texts(&steps), n), (vec!["Hmm.", "OK.", "Done: 5."], 2));
        // Stopped while thinking: everything is thinking.
        let (steps, n) = segment("<think>a\n\nb", &Segmentation::BlankLine);
        assert_eq!((steps.len(), n), (2, 2));
        // A tag quoted inside an answer is text.
        let (_, n) = segment("Use <think> tags like this.", &Segmentation::BlankLine);
        assert_eq!(n, 0);
        assert_eq!(segment("No thinking here.\n\nAt all.", &Segmentation::BlankLine).1, 0);
    }

    #[test]
    fn joined_parts_keep_their_spans() {
        let (solution, steps, n, at) = join("First idea.\n\nSecond idea.", "It is 7.", &Segmentation::BlankLine);
        assert_eq!(n, 2);
        assert_eq!(&solution[at..], "It is 7.");
        assert_eq!(texts(&steps), ["First idea.", "Second idea.", "It is 7."]);
        assert!(steps.iter().all(|s| solution[s.start..s.end] == s.text));
    }
}
