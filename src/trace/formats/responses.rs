//! OpenAI Responses API results (`{"object": "response", "output": [items]}`): `reasoning` items
//! are the trace's thinking part (their `content` of `reasoning_text`, as open models served by
//! vLLM return it, else their `summary` texts), `message` items' `output_text` its answer. The
//! problem is `input` (a string, or the last user message of a list) when the record carries
//! the request, else `problem`.

use serde_json::{Map, Value};

use super::{FieldError, RecordContext};
use crate::trace::model::Trace;

pub fn looks_like(o: &Map<String, Value>) -> bool {
    o.get("object").and_then(Value::as_str) == Some("response")
        || o.get("output").and_then(Value::as_array).is_some_and(|items| {
            items.iter().any(|i| matches!(i.get("type").and_then(Value::as_str), Some("reasoning" | "message")))
        })
}

/// The texts of an item's parts of the given types.
fn texts<'a>(parts: Option<&'a Value>, types: &[&str]) -> Vec<&'a str> {
    parts
        .and_then(Value::as_array)
        .map(|ps| {
            ps.iter()
                .filter(|p| p.get("type").and_then(Value::as_str).is_some_and(|t| types.contains(&t)))
                .filter_map(|p| p.get("text")?.as_str())
                .collect()
        })
        .unwrap_or_default()
}

pub fn read(o: Map<String, Value>, ctx: &RecordContext) -> Result<Trace, FieldError> {
    let items = o
        .get("output")
        .and_then(Value::as_array)
        .ok_or_else(|| FieldError::field("output", "missing or not a list"))?;
    let (mut thinking, mut answer) = (Vec::new(), Vec::new());
    for item in items {
        match item.get("type").and_then(Value::as_str) {
            Some("reasoning") => {
                let full = texts(item.get("content"), &["reasoning_text"]);
                thinking.extend(if full.is_empty() { texts(item.get("summary"), &["summary_text"]) } else { full });
            }
            Some("message") => answer.extend(texts(item.get("content"), &["output_text"])),
            _ => {}
        }
    }
    let (thinking, answer) = (thinking.join("\n\n"), answer.join("\n\n"));
    if thinking.trim().is_empty() && answer.trim().is_empty() {
        return Err(FieldError::field("output", "no reasoning or message text"));
    }
    super::reply_trace(&o, ctx, "output", (&thinking, &answer), problem(&o))
}

/// `input` as a string, or the last user message of an `input` list (its text or its
/// `input_text` parts), else `problem`.
fn problem(o: &Map<String, Value>) -> Option<String> {
    match o.get("input") {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Array(msgs)) => {
            let user = msgs.iter().rev().find(|m| m.get("role").and_then(Value::as_str) == Some("user"))?;
            match user.get("content")? {
                Value::String(s) => Some(s.clone()),
                parts => Some(texts(Some(parts), &["input_text"]).join("\n\n")),
            }
        }
        _ => o.get("problem").and_then(Value::as_str).map(str::to_string),
    }
}
