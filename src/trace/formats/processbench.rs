//! ProcessBench rows: `{id, generator, problem, steps[], final_answer_correct, label}`.

use serde_json::{Map, Value};

use super::{take_id, take_label, take_opt_bool, take_opt_str, take_str, take_str_list, FieldError, RecordContext};
use crate::trace::answer;
use crate::trace::model::Trace;

pub fn read(mut o: Map<String, Value>, ctx: &RecordContext) -> Result<Trace, FieldError> {
    let id = take_id(&mut o)?.unwrap_or_else(|| format!("{}-{}", ctx.file_stem(), ctx.index));
    let problem = take_str(&mut o, "problem")?;
    let steps = take_str_list(&mut o, "steps")?;
    let mut trace = Trace::from_step_texts(&id, &problem, &steps);
    trace.generator = take_opt_str(&mut o, "generator")?;
    trace.final_answer_correct = take_opt_bool(&mut o, "final_answer_correct")?;
    trace.label = take_label(&mut o, "label")?;
    trace.final_answer = steps.last().and_then(|s| answer::extract_marked(s));
    trace.extra = o;
    Ok(trace)
}
