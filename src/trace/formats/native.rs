//! stepscope's own JSONL schema (documented in README.md). Unknown keys are kept and written
//! back, so a round trip drops nothing.

use serde_json::{json, Map, Value};

use super::{kind, take_id, take_label, take_opt_bool, take_opt_str, take_str, FieldError, RecordContext};
use crate::trace::model::{join_steps, ChatTurn, Replay, Step, TokenInfo, TopToken, Trace};
use crate::trace::provenance::Provenance;
use crate::trace::segment::Segmentation;

/// Schema version written in the `stepscope` key.
pub const SCHEMA_VERSION: u64 = 1;

pub fn read(mut o: Map<String, Value>, ctx: &RecordContext) -> Result<Trace, FieldError> {
    if let Some(v) = o.remove("stepscope") {
        if v.as_u64().is_none_or(|n| n > SCHEMA_VERSION) {
            return Err(FieldError::field("stepscope", format!("unsupported schema version {v} (this build reads 1)")));
        }
    }
    let id = take_id(&mut o)?.unwrap_or_else(|| format!("{}-{}", ctx.file_stem(), ctx.index));
    let problem = take_str(&mut o, "problem")?;
    let solution = take_opt_str(&mut o, "solution")?;
    let seg_name = take_opt_str(&mut o, "segmentation")?;
    let seg = match seg_name {
        Some(name) => Some(Segmentation::parse(&name).map_err(|m| FieldError::field("segmentation", m))?),
        None => None,
    };
    let (solution, steps, segmentation, thinking) = steps(o.remove("steps"), solution, seg, ctx)?;
    let thinking_steps = match o.remove("thinking_steps") {
        None | Some(Value::Null) => thinking,
        Some(v) => v
            .as_u64()
            .map(|n| n as usize)
            .ok_or_else(|| FieldError::field("thinking_steps", format!("expected a step count, found {}", kind(&v))))?,
    };
    let mut trace = Trace { id, problem, solution, steps, thinking_steps, segmentation, ..Trace::default() };
    trace.final_answer = take_opt_str(&mut o, "final_answer")?;
    trace.reference_answer = take_opt_str(&mut o, "reference_answer")?;
    trace.final_answer_correct = take_opt_bool(&mut o, "final_answer_correct")?;
    trace.generator = take_opt_str(&mut o, "generator")?;
    trace.label = take_label(&mut o, "label")?;
    trace.tokens = match o.remove("tokens") {
        None | Some(Value::Null) => None,
        Some(v) => Some(read_tokens(v)?),
    };
    trace.replay = read_replay(o.remove("chat"), o.remove("token_ids"))?;
    trace.stop_reason = take_opt_str(&mut o, "stop_reason")?;
    trace.refinement = match o.remove("refinement") {
        None | Some(Value::Null) => None,
        Some(v) => Some(Provenance::from_value(v).map_err(|m| FieldError::field("refinement", m))?),
    };
    trace.extra = o;
    Ok(trace)
}

/// `chat` (a list of `{role, content}`) and `token_ids` (a list of token ids), both optional.
fn read_replay(chat: Option<Value>, ids: Option<Value>) -> Result<Option<Replay>, FieldError> {
    let chat = match chat {
        None | Some(Value::Null) => None,
        Some(Value::Array(turns)) => Some(
            turns
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    let text = |k: &str| t.get(k).and_then(Value::as_str).map(str::to_string);
                    match (text("role"), text("content")) {
                        (Some(role), Some(content)) => Ok(ChatTurn { role, content }),
                        _ => Err(FieldError::field("chat", format!("turn {i} needs string `role` and `content`"))),
                    }
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
        Some(v) => return Err(FieldError::field("chat", format!("expected a list of turns, got {}", kind(&v)))),
    };
    let token_ids = match ids {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) => Some(
            items
                .iter()
                .map(|x| x.as_u64().and_then(|n| u32::try_from(n).ok()))
                .collect::<Option<Vec<u32>>>()
                .ok_or_else(|| FieldError::field("token_ids", "expected a list of token ids (integers)"))?,
        ),
        Some(v) => return Err(FieldError::field("token_ids", format!("expected a list, got {}", kind(&v)))),
    };
    if chat.is_none() && token_ids.is_none() {
        return Ok(None);
    }
    Ok(Some(Replay { chat: chat.unwrap_or_default(), token_ids: token_ids.unwrap_or_default() }))
}

/// The replay keys of a trace, as `generate` writes them.
pub(crate) fn replay_keys(r: &Replay) -> [(&'static str, Value); 2] {
    let chat: Vec<Value> = r.chat.iter().map(|t| json!({"role": t.role, "content": t.content})).collect();
    [("chat", Value::Array(chat)), ("token_ids", json!(r.token_ids))]
}

/// The solution, its steps, how they were cut, and how many are thinking.
type Steps = (String, Vec<Step>, Segmentation, usize);

fn steps(
    raw: Option<Value>,
    solution: Option<String>,
    seg: Option<Segmentation>,
    ctx: &RecordContext,
) -> Result<Steps, FieldError> {
    let items = match raw {
        None | Some(Value::Null) => {
            let solution =
                solution.ok_or_else(|| FieldError::field("steps", "missing (and no `solution` to segment)"))?;
            let seg = ctx.options.segmentation.clone().or(seg).unwrap_or(Segmentation::BlankLine);
            let thinking_seg = crate::trace::thinking::thinking_segmentation(ctx.options.segmentation.as_ref());
            // A `<think>` block is segmented apart from the answer.
            let (steps, thinking) = crate::trace::thinking::segment(&solution, &seg, &thinking_seg);
            return Ok((solution, steps, seg, thinking));
        }
        // An empty list is only a trace when a (blank) solution says the generation produced nothing.
        Some(Value::Array(items)) if items.is_empty() && solution.is_none() => {
            return Err(FieldError::field("steps", "no steps"))
        }
        Some(Value::Array(items)) => items,
        Some(other) => return Err(FieldError::field("steps", format!("expected an array, found {}", kind(&other)))),
    };
    let seg = seg.unwrap_or(Segmentation::Given);
    let mut texts = Vec::with_capacity(items.len());
    let mut spans = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let field = format!("steps[{i}]");
        match item {
            Value::String(s) => texts.push(s),
            Value::Object(mut step) => {
                let text = match step.remove("text") {
                    Some(Value::String(s)) => s,
                    _ => return Err(FieldError::field(&format!("{field}.text"), "missing or not a string")),
                };
                let start = step.get("start").and_then(Value::as_u64);
                let end = step.get("end").and_then(Value::as_u64);
                if let (Some(s), Some(e)) = (start, end) {
                    spans.push((s as usize, e as usize));
                }
                texts.push(text);
            }
            other => {
                return Err(FieldError::field(
                    &field,
                    format!("expected a string or an object, found {}", kind(&other)),
                ))
            }
        }
    }
    let Some(solution) = solution else {
        let (solution, steps) = join_steps(&texts, "\n\n");
        return Ok((solution, steps, seg, 0));
    };
    let steps = if spans.len() == texts.len() {
        texts.into_iter().zip(spans).map(|(text, (start, end))| Step { text, start, end }).collect()
    } else {
        locate(&solution, texts)?
    };
    Ok((solution, steps, seg, 0))
}

/// Finds each step text in order inside the solution.
fn locate(solution: &str, texts: Vec<String>) -> Result<Vec<Step>, FieldError> {
    let mut from = 0;
    let mut steps = Vec::with_capacity(texts.len());
    for (i, text) in texts.into_iter().enumerate() {
        let at = solution[from..].find(text.as_str()).ok_or_else(|| {
            FieldError::field(&format!("steps[{i}]"), "text not found in `solution` (give start/end spans)")
        })?;
        let start = from + at;
        from = start + text.len();
        steps.push(Step { text, start, end: from });
    }
    Ok(steps)
}

fn read_tokens(v: Value) -> Result<Vec<TokenInfo>, FieldError> {
    let Value::Array(items) = v else {
        return Err(FieldError::field("tokens", format!("expected an array, found {}", kind(&v))));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let bad = |m: &str| FieldError::field(&format!("tokens[{i}]"), m.to_string());
            let token = t.get("token").and_then(Value::as_str).ok_or_else(|| bad("missing `token`"))?;
            let logprob = t.get("logprob").and_then(Value::as_f64).ok_or_else(|| bad("missing `logprob`"))?;
            let offset = t.get("offset").and_then(Value::as_u64).ok_or_else(|| bad("missing `offset`"))? as usize;
            let top = t
                .get("top")
                .and_then(Value::as_array)
                .map(|alts| {
                    alts.iter()
                        .filter_map(|a| {
                            Some(TopToken { token: a.get(0)?.as_str()?.to_string(), logprob: a.get(1)?.as_f64()? })
                        })
                        .collect()
                })
                .unwrap_or_default();
            Ok(TokenInfo { token: token.to_string(), logprob, offset, top })
        })
        .collect()
}

/// The native JSON object for a trace, with `label` taken from the caller (dataset or human).
pub fn to_value(t: &Trace, label: Option<crate::trace::model::Label>) -> Value {
    let mut o = Map::new();
    o.insert("stepscope".into(), json!(SCHEMA_VERSION));
    o.insert("id".into(), json!(t.id));
    o.insert("problem".into(), json!(t.problem));
    o.insert("solution".into(), json!(t.solution));
    let steps: Vec<Value> = t.steps.iter().map(|s| json!({"text": s.text, "start": s.start, "end": s.end})).collect();
    o.insert("steps".into(), Value::Array(steps));
    o.insert("segmentation".into(), json!(t.segmentation.name()));
    if t.thinking_steps > 0 {
        o.insert("thinking_steps".into(), json!(t.thinking_steps));
    }
    let optional = [
        ("final_answer", t.final_answer.as_ref().map(|v| json!(v))),
        ("reference_answer", t.reference_answer.as_ref().map(|v| json!(v))),
        ("final_answer_correct", t.final_answer_correct.map(|v| json!(v))),
        ("generator", t.generator.as_ref().map(|v| json!(v))),
        ("label", label.map(|l| json!(l.to_index()))),
        ("stop_reason", t.stop_reason.as_ref().map(|v| json!(v))),
    ];
    for (key, value) in optional {
        if let Some(v) = value {
            o.insert(key.into(), v);
        }
    }
    if let Some(tokens) = &t.tokens {
        let tokens: Vec<Value> = tokens
            .iter()
            .map(|tk| {
                let top: Vec<Value> = tk.top.iter().map(|a| json!([a.token, a.logprob])).collect();
                json!({"token": tk.token, "logprob": tk.logprob, "offset": tk.offset, "top": top})
            })
            .collect();
        o.insert("tokens".into(), Value::Array(tokens));
    }
    if let Some(r) = &t.replay {
        for (k, v) in replay_keys(r) {
            o.insert(k.into(), v);
        }
    }
    if let Some(p) = &t.refinement {
        o.insert("refinement".into(), p.to_value());
    }
    // Keys the source had that mean something else here (PRM800K's `label` object).
    super::put_extra(&mut o, &t.extra, &NATIVE_KEYS);
    Value::Object(o)
}

/// The keys of the native schema.
const NATIVE_KEYS: [&str; 16] = [
    "stepscope",
    "id",
    "problem",
    "solution",
    "steps",
    "segmentation",
    "final_answer",
    "reference_answer",
    "final_answer_correct",
    "generator",
    "label",
    "tokens",
    "chat",
    "token_ids",
    "refinement",
    "stop_reason",
];
