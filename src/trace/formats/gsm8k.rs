//! GSM8K: the test split (`question`/`answer` with `<<a=b>>` and `#### N`) and the example model
//! solutions (one record, one trace per model entry, solutions end with `A: N`).

use serde_json::{Map, Value};

use super::{kind, take_str, FieldError, RecordContext};
use crate::trace::model::{Step, Trace};
use crate::trace::segment::Segmentation;

/// A reference solution from the test split.
pub fn read_test(mut o: Map<String, Value>, ctx: &RecordContext) -> Result<Trace, FieldError> {
    let question = take_str(&mut o, "question")?;
    let answer = take_str(&mut o, "answer")?;
    let (solution, final_answer) =
        split_final_line(&answer, "####").ok_or_else(|| FieldError::field("answer", "no final '#### N' line"))?;
    let mut trace = line_trace(&format!("gsm8k-test-{}", ctx.index), &question, solution);
    trace.reference_answer = Some(final_answer.clone());
    trace.final_answer = Some(final_answer);
    trace.generator = Some("reference".into());
    trace.extra = o;
    Ok(trace)
}

/// The model entries of one example-solutions record, each as its own trace.
pub fn read_solutions(mut o: Map<String, Value>, ctx: &RecordContext) -> Result<Vec<Trace>, FieldError> {
    let question = take_str(&mut o, "question")?;
    let ground_truth = take_str(&mut o, "ground_truth")?;
    let reference = split_final_line(&ground_truth, "A:").map(|(_, a)| a);
    let mut traces = Vec::new();
    for (model, entry) in o.iter() {
        let Value::Object(entry) = entry else { continue };
        if !entry.contains_key("solution") {
            continue;
        }
        let field = |name: &str| format!("{model}.{name}");
        let solution = match entry.get("solution") {
            Some(Value::String(s)) => s,
            Some(v) => {
                return Err(FieldError::field(&field("solution"), format!("expected a string, found {}", kind(v))))
            }
            None => unreachable!(),
        };
        let is_correct = match entry.get("is_correct") {
            Some(Value::Bool(b)) => Some(*b),
            None | Some(Value::Null) => None,
            Some(v) => {
                return Err(FieldError::field(
                    &field("is_correct"),
                    format!("expected true or false, found {}", kind(v)),
                ))
            }
        };
        let (body, final_answer) = match split_final_line(solution, "A:") {
            Some((body, a)) => (body, Some(a)),
            None => (solution.as_str(), None),
        };
        let mut trace = line_trace(&format!("gsm8k-{}-{model}", ctx.index), &question, body);
        trace.generator = Some(model.clone());
        trace.final_answer = final_answer;
        trace.reference_answer = reference.clone();
        trace.final_answer_correct = is_correct;
        if trace.steps.is_empty() {
            return Err(FieldError::field(&field("solution"), "no steps"));
        }
        traces.push(trace);
    }
    if traces.is_empty() {
        return Err(FieldError {
            field: None,
            message: "no model solutions (objects with `solution`) in this record".into(),
        });
    }
    Ok(traces)
}

/// A trace with one step per line of `solution`.
fn line_trace(id: &str, problem: &str, solution: &str) -> Trace {
    let steps: Vec<Step> = Segmentation::Line.split(solution);
    Trace {
        id: id.to_string(),
        problem: problem.to_string(),
        solution: solution.to_string(),
        steps,
        segmentation: Segmentation::Line,
        ..Trace::default()
    }
}

/// Splits off a last line starting with `marker`; returns (text before it, answer without commas).
fn split_final_line<'a>(text: &'a str, marker: &str) -> Option<(&'a str, String)> {
    let trimmed = text.trim_end();
    let cut = trimmed.rfind('\n').map_or(0, |n| n + 1);
    let last = trimmed[cut..].trim();
    let answer = last.strip_prefix(marker)?.trim().replace(',', "");
    Some((trimmed[..cut].trim_end(), answer))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn final_line_split() {
        let (body, a) = split_final_line("x = <<1+1=2>>2\nso 2,000\n#### 2,000\n", "####").unwrap();
        assert_eq!(body, "x = <<1+1=2>>2\nso 2,000");
        assert_eq!(a, "2000");
        assert!(split_final_line("no answer", "####").is_none());
    }
}
