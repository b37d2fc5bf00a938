//! PRM800K JSONL: `question.{problem, pre_generated_steps, …}` and `label.steps[].completions[]`
//! with ratings −1/0/+1. The trajectory follows the chosen completion of each step (else the
//! human one, else a −1 rated one: the rater stopped there, else the first); the first error is
//! the first followed step rated −1. Every field is checked for the shape the dataset has, so a
//! row of the wrong shape is a problem with its field named, never a silent guess.

use serde_json::{Map, Value};

use super::{kind, FieldError, RecordContext};
use crate::trace::answer;
use crate::trace::model::{join_steps, Label, Trace};
use crate::trace::segment::Segmentation;

const FINISH_REASONS: [&str; 4] = ["solution", "found_error", "give_up", "bad_problem"];

pub fn read(mut o: Map<String, Value>, ctx: &RecordContext) -> Result<Trace, FieldError> {
    let question = match o.remove("question") {
        Some(Value::Object(q)) => q,
        Some(v) => return Err(FieldError::field("question", format!("expected an object, found {}", kind(&v)))),
        None => return Err(FieldError::field("question", "missing")),
    };
    let problem = match question.get("problem") {
        Some(Value::String(p)) => p.clone(),
        Some(v) => return Err(FieldError::field("question.problem", format!("expected a string, found {}", kind(v)))),
        None => return Err(FieldError::field("question.problem", "missing")),
    };
    let label = o.remove("label");
    let (steps, first_error, finish) = match &label {
        None | Some(Value::Null) => (pre_generated(&question)?, None, None),
        Some(Value::Object(l)) => {
            let finish = finish_reason(l)?;
            let rows = match l.get("steps") {
                Some(Value::Array(a)) => a.as_slice(),
                None | Some(Value::Null) => &[],
                Some(v) => {
                    return Err(FieldError::field("label.steps", format!("expected an array, found {}", kind(v))))
                }
            };
            if rows.is_empty() {
                // A rater who stopped at once (bad_problem) leaves the pre-generated solution unlabelled.
                (pre_generated(&question)?, None, finish)
            } else {
                let (texts, first_error) = followed_steps(rows)?;
                (texts, first_error, finish)
            }
        }
        Some(v) => return Err(FieldError::field("label", format!("expected an object, found {}", kind(v)))),
    };
    let (solution, spans) = join_steps(&steps, "\n");
    // `export --to prm800k` keeps the trace id here; the dataset itself has none.
    let id = match o.remove("stepscope_id") {
        Some(Value::String(id)) => id,
        Some(v) => return Err(FieldError::field("stepscope_id", format!("expected a string, found {}", kind(&v)))),
        None => format!("prm800k-{}", ctx.index),
    };
    let mut trace = Trace { id, problem, solution, steps: spans, segmentation: Segmentation::Line, ..Trace::default() };
    trace.label = match (first_error, finish.as_deref()) {
        (Some(k), _) => Some(Label::FirstError(k)),
        (None, Some("solution")) => Some(Label::NoError),
        _ => None,
    };
    trace.reference_answer = question.get("ground_truth_answer").and_then(Value::as_str).map(str::to_string);
    trace.final_answer = question
        .get("pre_generated_answer")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| steps.last().and_then(|s| answer::extract_marked(s)));
    if let Some(v) = o.get("generation").and_then(Value::as_i64) {
        trace.generator = Some(format!("prm800k-generation-{v}"));
    }
    trace.extra = o;
    trace.extra.insert("question".into(), Value::Object(question));
    if let Some(l) = label {
        trace.extra.insert("label".into(), l);
    }
    Ok(trace)
}

fn finish_reason(label: &Map<String, Value>) -> Result<Option<String>, FieldError> {
    match label.get("finish_reason") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if FINISH_REASONS.contains(&s.as_str()) => Ok(Some(s.clone())),
        Some(v) => Err(FieldError::field(
            "label.finish_reason",
            format!("is {v}, expected one of {}", FINISH_REASONS.join(", ")),
        )),
    }
}

fn pre_generated(q: &Map<String, Value>) -> Result<Vec<String>, FieldError> {
    let steps = match q.get("pre_generated_steps") {
        Some(Value::Array(a)) if !a.is_empty() => a,
        _ => return Err(FieldError::field("label.steps", "missing (and no question.pre_generated_steps)")),
    };
    steps
        .iter()
        .enumerate()
        .map(|(i, s)| {
            s.as_str()
                .map(str::to_string)
                .ok_or_else(|| FieldError::field(&format!("question.pre_generated_steps[{i}]"), "not a string"))
        })
        .collect()
}

/// One completion: its text and rating (−1, 0, +1 or none).
#[derive(Clone)]
struct Completion {
    text: String,
    rating: Option<i64>,
}

fn completion(v: &Value, field: &str) -> Result<Completion, FieldError> {
    let Value::Object(c) = v else {
        return Err(FieldError::field(field, format!("expected an object, found {}", kind(v))));
    };
    let text = match c.get("text") {
        Some(Value::String(t)) => t.clone(),
        Some(v) => {
            return Err(FieldError::field(&format!("{field}.text"), format!("expected a string, found {}", kind(v))))
        }
        None => return Err(FieldError::field(&format!("{field}.text"), "missing")),
    };
    let rating = match c.get("rating") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) if n.as_i64().is_some_and(|r| (-1..=1).contains(&r)) => n.as_i64(),
        Some(v) => {
            return Err(FieldError::field(&format!("{field}.rating"), format!("is {v}, expected -1, 0, 1 or null")))
        }
    };
    Ok(Completion { text, rating })
}

/// The followed trajectory's step texts and its first step rated −1.
fn followed_steps(rows: &[Value]) -> Result<(Vec<String>, Option<usize>), FieldError> {
    let mut texts = Vec::new();
    let mut first_error = None;
    for (i, step) in rows.iter().enumerate() {
        let field = format!("label.steps[{i}]");
        let Value::Object(step) = step else {
            return Err(FieldError::field(&field, format!("expected an object, found {}", kind(step))));
        };
        let completions = match step.get("completions") {
            Some(Value::Array(a)) => a
                .iter()
                .enumerate()
                .map(|(j, c)| completion(c, &format!("{field}.completions[{j}]")))
                .collect::<Result<Vec<_>, _>>()?,
            None | Some(Value::Null) => Vec::new(),
            Some(v) => {
                return Err(FieldError::field(
                    &format!("{field}.completions"),
                    format!("expected an array, found {}", kind(v)),
                ))
            }
        };
        let chosen = match step.get("chosen_completion") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) if n.as_u64().is_some_and(|c| (c as usize) < completions.len()) => {
                n.as_u64().map(|c| c as usize)
            }
            Some(v) => {
                return Err(FieldError::field(
                    &format!("{field}.chosen_completion"),
                    format!("is {v}, expected null or an index below {} (the step's completions)", completions.len()),
                ))
            }
        };
        let human = match step.get("human_completion") {
            None | Some(Value::Null) => None,
            Some(v) => Some(completion(v, &format!("{field}.human_completion"))?),
        };
        let rated_bad = completions.iter().position(|c| c.rating == Some(-1));
        let taken = match (chosen, human) {
            (Some(c), _) => completions[c].clone(),
            (None, Some(h)) => h,
            (None, None) => match rated_bad.or((!completions.is_empty()).then_some(0)) {
                Some(c) => completions[c].clone(),
                None => return Err(FieldError::field(&format!("{field}.completions"), "no completions to follow")),
            },
        };
        if first_error.is_none() && taken.rating == Some(-1) {
            first_error = Some(i);
        }
        texts.push(taken.text);
    }
    Ok((texts, first_error))
}
