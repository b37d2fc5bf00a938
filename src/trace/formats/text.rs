//! Plain text: one trace per file. A first paragraph starting `Problem:` or `Question:` is the
//! problem; the rest is segmented (`Step k:` headers, else blank lines, else lines).

use super::{FieldError, RecordContext};
use crate::trace::model::Trace;
use crate::trace::segment::Segmentation;

pub fn read(text: &str, ctx: &RecordContext) -> Result<Trace, FieldError> {
    let (problem, solution) = split_problem(text);
    let seg = ctx.options.segmentation.clone().unwrap_or_else(|| guess_segmentation(solution));
    let thinking_seg = crate::trace::thinking::thinking_segmentation(ctx.options.segmentation.as_ref());
    let (steps, thinking_steps) = crate::trace::thinking::segment(solution, &seg, &thinking_seg);
    if steps.is_empty() {
        return Err(FieldError { field: None, message: "no steps: the text is empty after the problem".into() });
    }
    let mut t = Trace {
        id: ctx.file_stem(),
        problem: problem.to_string(),
        solution: solution.to_string(),
        steps,
        thinking_steps,
        segmentation: seg,
        ..Trace::default()
    };
    t.read_final_answer();
    Ok(t)
}

fn split_problem(text: &str) -> (&str, &str) {
    let trimmed = text.trim_start();
    for prefix in ["Problem:", "Question:", "problem:", "question:"] {
        if let Some(rest) = trimmed.strip_prefix(prefix) {
            let end = rest.find("\n\n").unwrap_or(rest.len());
            return (rest[..end].trim(), &rest[end..]);
        }
    }
    ("", text)
}

fn guess_segmentation(solution: &str) -> Segmentation {
    let headers = Segmentation::StepHeaders.split(solution);
    if headers.len() > 1
        && headers.iter().skip(1).all(|s| s.text.to_lowercase().trim_start_matches(['*', '#', ' ']).starts_with("step"))
    {
        Segmentation::StepHeaders
    } else if solution.trim().contains("\n\n") {
        Segmentation::BlankLine
    } else {
        Segmentation::Line
    }
}
