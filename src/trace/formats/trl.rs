//! TRL stepwise supervision rows: `{prompt, completions[], labels[]}` (what `export --to trl`
//! writes). The first step labelled false is the first error; all true means no error.

use serde_json::{Map, Value};

use super::{kind, take_id, take_str, take_str_list, FieldError, RecordContext};
use crate::trace::answer;
use crate::trace::model::{Label, Trace};

pub fn read(mut o: Map<String, Value>, ctx: &RecordContext) -> Result<Trace, FieldError> {
    let id = take_id(&mut o)?.unwrap_or_else(|| format!("{}-{}", ctx.file_stem(), ctx.index));
    if o.get("prompt").is_some_and(Value::is_array) {
        return Err(FieldError::field("prompt", "conversational prompts (a list of messages) are not supported"));
    }
    let prompt = take_str(&mut o, "prompt")?;
    let steps = take_str_list(&mut o, "completions")?;
    let labels = match o.remove("labels") {
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, v)| {
                v.as_bool().ok_or_else(|| {
                    FieldError::field(&format!("labels[{i}]"), format!("expected true or false, found {}", kind(v)))
                })
            })
            .collect::<Result<Vec<bool>, _>>()?,
        Some(v) => return Err(FieldError::field("labels", format!("expected an array, found {}", kind(&v)))),
        None => return Err(FieldError::field("labels", "missing")),
    };
    if labels.len() != steps.len() {
        return Err(FieldError::field(
            "labels",
            format!("{} labels for {} completions (one per step expected)", labels.len(), steps.len()),
        ));
    }
    let mut trace = Trace::from_step_texts(&id, &prompt, &steps);
    trace.label = Some(labels.iter().position(|ok| !ok).map_or(Label::NoError, Label::FirstError));
    trace.final_answer = steps.last().and_then(|s| answer::extract_marked(s));
    trace.extra = o;
    Ok(trace)
}
