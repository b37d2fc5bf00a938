//! PRM800K JSONL: `question.{problem, pre_generated_steps, …}` and `label.steps[].completions[]`
//! with ratings −1/0/+1. The trajectory follows the chosen completion of each step; the first
//! error is the first step whose followed completion is rated −1.

use serde_json::{Map, Value};

use super::{kind, FieldError, RecordContext};
use crate::trace::answer;
use crate::trace::model::{join_steps, Label, Trace};
use crate::trace::segment::Segmentation;

pub fn read(mut o: Map<String, Value>, ctx: &RecordContext) -> Result<Trace, FieldError> {
    let question = match o.remove("question") {
        Some(Value::Object(q)) => q,
        Some(v) => return Err(FieldError::field("question", format!("expected an object, found {}", kind(&v)))),
        None => return Err(FieldError::field("question", "missing")),
    };
    let problem = question
        .get("problem")
        .and_then(Value::as_str)
        .ok_or_else(|| FieldError::field("question.problem", "missing or not a string"))?
        .to_string();
    let label = o.remove("label");
    let (steps, first_error, finish) = match &label {
        Some(Value::Object(l)) if l.get("steps").is_some_and(Value::is_array) => followed_steps(l)?,
        _ => (pre_generated(&question)?, None, None),
    };
    let (solution, spans) = join_steps(&steps, "\n");
    let mut trace = Trace {
        id: format!("prm800k-{}", ctx.index),
        problem,
        solution,
        steps: spans,
        segmentation: Segmentation::Line,
        ..Trace::default()
    };
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

fn pre_generated(q: &Map<String, Value>) -> Result<Vec<String>, FieldError> {
    let steps = q
        .get("pre_generated_steps")
        .and_then(Value::as_array)
        .ok_or_else(|| FieldError::field("label.steps", "missing (and no question.pre_generated_steps)"))?;
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

/// The followed trajectory: per step the chosen completion, else the human one, else a −1 rated
/// one (the rater stopped there), else the first.
/// Step texts, the first error, and the rater's finish reason.
type Followed = (Vec<String>, Option<usize>, Option<String>);

fn followed_steps(label: &Map<String, Value>) -> Result<Followed, FieldError> {
    let finish = label.get("finish_reason").and_then(Value::as_str).map(str::to_string);
    let mut texts = Vec::new();
    let mut first_error = None;
    for (i, step) in label["steps"].as_array().into_iter().flatten().enumerate() {
        let field = format!("label.steps[{i}]");
        let completions = step.get("completions").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
        let chosen = step.get("chosen_completion").and_then(Value::as_u64).and_then(|c| completions.get(c as usize));
        let human = step.get("human_completion").filter(|h| h.is_object());
        let rated_bad = completions.iter().find(|c| rating(c) == Some(-1));
        let Some(taken) = chosen.or(human).or(rated_bad).or(completions.first()) else {
            return Err(FieldError::field(&field, "no completions"));
        };
        let text = taken
            .get("text")
            .and_then(Value::as_str)
            .ok_or_else(|| FieldError::field(&format!("{field}.completions"), "completion without text"))?;
        if first_error.is_none() && rating(taken) == Some(-1) {
            first_error = Some(i);
        }
        texts.push(text.to_string());
    }
    if texts.is_empty() {
        return Err(FieldError::field("label.steps", "no steps"));
    }
    Ok((texts, first_error, finish))
}

fn rating(completion: &Value) -> Option<i64> {
    completion.get("rating").and_then(Value::as_i64)
}
