//! Anthropic Messages with extended thinking: a response (`{"type": "message", "content":
//! [blocks]}`) or a conversation (`{"messages": [...]}` whose last assistant turn has blocks).
//! `thinking` blocks are the trace's thinking part, `text` blocks its answer; `redacted_thinking`
//! (encrypted) is counted in `redacted_thinking_blocks`, never shown. The problem is the last
//! user turn before the answer (of `messages`, or of `request.messages`), else `problem`.

use serde_json::{Map, Value};

use super::{kind, FieldError, RecordContext};
use crate::trace::model::Trace;

/// Whether a record has this shape: content blocks with a `type`, at the top or in the last
/// assistant turn of `messages`.
pub fn looks_like(o: &Map<String, Value>) -> bool {
    let blocks = |v: Option<&Value>| {
        v.and_then(Value::as_array).is_some_and(|b| !b.is_empty() && b.iter().all(|x| x.get("type").is_some()))
    };
    if blocks(o.get("content")) && o.get("role").and_then(Value::as_str) == Some("assistant") {
        return true;
    }
    last_assistant(o).is_some_and(|m| blocks(m.get("content")) && has_thinking(m))
}

fn has_thinking(m: &Value) -> bool {
    m.get("content").and_then(Value::as_array).is_some_and(|b| {
        b.iter().any(|x| matches!(x.get("type").and_then(Value::as_str), Some("thinking" | "redacted_thinking")))
    })
}

fn last_assistant(o: &Map<String, Value>) -> Option<&Value> {
    let msgs = o.get("messages")?.as_array()?;
    msgs.iter().rev().find(|m| m.get("role").and_then(Value::as_str) == Some("assistant"))
}

pub fn read(o: Map<String, Value>, ctx: &RecordContext) -> Result<Trace, FieldError> {
    let (reply, field) = match o.get("content") {
        Some(Value::Array(_)) => (&Value::Object(o.clone()), "content".to_string()),
        _ => {
            let msgs =
                o.get("messages").and_then(Value::as_array).ok_or_else(|| FieldError::field("content", "missing"))?;
            let at = msgs
                .iter()
                .rposition(|m| m.get("role").and_then(Value::as_str) == Some("assistant"))
                .ok_or_else(|| FieldError::field("messages", "no assistant turn"))?;
            (&msgs[at], format!("messages[{at}].content"))
        }
    };
    let blocks = reply
        .get("content")
        .and_then(Value::as_array)
        .ok_or_else(|| FieldError::field(&field, "not a list of blocks"))?;
    let (mut thinking, mut answer, mut redacted) = (Vec::new(), Vec::new(), 0);
    for (i, b) in blocks.iter().enumerate() {
        let text = |key: &str| {
            b.get(key).and_then(Value::as_str).ok_or_else(|| {
                let found = b.get(key).map_or("nothing", kind);
                FieldError::field(&format!("{field}[{i}].{key}"), format!("expected a string, found {found}"))
            })
        };
        match b.get("type").and_then(Value::as_str) {
            Some("thinking") => thinking.push(text("thinking")?),
            Some("text") => answer.push(text("text")?),
            Some("redacted_thinking") => redacted += 1,
            // Tool calls and other blocks are not reasoning text.
            _ => {}
        }
    }
    let (thinking, answer) = (thinking.join("\n\n"), answer.join("\n\n"));
    if thinking.trim().is_empty() && answer.trim().is_empty() {
        return Err(FieldError::field(&field, "no thinking or text block"));
    }
    let mut t = super::reply_trace(&o, ctx, "content", (&thinking, &answer), problem(&o))?;
    if redacted > 0 {
        t.extra.insert("redacted_thinking_blocks".into(), Value::from(redacted));
    }
    Ok(t)
}

/// The last user turn's text (a string, or its text blocks joined), else `problem`.
fn problem(o: &Map<String, Value>) -> Option<String> {
    let request = o.get("request").and_then(Value::as_object).unwrap_or(o);
    if let Some(msgs) = request.get("messages").and_then(Value::as_array) {
        let user = msgs.iter().rev().find(|m| m.get("role").and_then(Value::as_str) == Some("user"))?;
        return match user.get("content")? {
            Value::String(s) => Some(s.clone()),
            Value::Array(blocks) => {
                let texts: Vec<&str> = blocks.iter().filter_map(|b| b.get("text")?.as_str()).collect();
                Some(texts.join("\n\n"))
            }
            _ => None,
        };
    }
    o.get("problem").and_then(Value::as_str).map(str::to_string)
}
