//! OpenAI-compatible completion responses with log-probs (chat `logprobs.content[]` with
//! `top_logprobs`, or legacy completions `tokens`/`token_logprobs`/`top_logprobs`). One trace per
//! choice; the problem comes from `messages`/`prompt` when the record carries the request too.
//! A reasoning model's thinking (`message.reasoning_content` as DeepSeek's API and vLLM's
//! reasoning parsers return it, or `message.reasoning`; or a `<think>` block in the content) is
//! the trace's thinking part.

use serde_json::{Map, Value};

use super::{FieldError, RecordContext};
use crate::trace::model::{TokenInfo, TopToken, Trace};
use crate::trace::segment::Segmentation;

pub fn read(mut o: Map<String, Value>, ctx: &RecordContext) -> Result<Vec<Trace>, FieldError> {
    let problem = find_problem(&o).unwrap_or_default();
    let choices = match o.remove("choices") {
        Some(Value::Array(c)) if !c.is_empty() => c,
        _ => return Err(FieldError::field("choices", "missing or empty")),
    };
    let base_id = o
        .get("id")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| format!("{}-{}", ctx.file_stem(), ctx.index));
    super::check_id(Some(&base_id))?;
    let generator = o.get("model").and_then(Value::as_str).map(str::to_string);
    let seg = ctx.options.segmentation.clone().unwrap_or(Segmentation::BlankLine);
    let thinking_seg = crate::trace::thinking::thinking_segmentation(ctx.options.segmentation.as_ref());
    let many = choices.len() > 1;
    let mut traces = Vec::new();
    for (i, choice) in choices.iter().enumerate() {
        let field = format!("choices[{i}]");
        let content = choice
            .pointer("/message/content")
            .or_else(|| choice.get("text"))
            .and_then(Value::as_str)
            .ok_or_else(|| FieldError::field(&field, "no message.content or text"))?;
        let mut tokens = choice.get("logprobs").filter(|l| !l.is_null()).map(|l| tokens(l, &field)).transpose()?;
        let reasoning = ["reasoning_content", "reasoning"]
            .iter()
            .find_map(|k| choice.pointer(&format!("/message/{k}")).and_then(Value::as_str))
            .filter(|r| !r.trim().is_empty());
        let (solution, steps, thinking_steps) = match reasoning {
            Some(thinking) => {
                let (solution, steps, n, at) = crate::trace::thinking::join(thinking, content, &seg, &thinking_seg);
                // The log-probs are the content's: they move to where the content now starts.
                tokens.iter_mut().flatten().for_each(|t| t.offset += at);
                (solution, steps, n)
            }
            None => {
                let (steps, n) = crate::trace::thinking::segment(content, &seg, &thinking_seg);
                (content.to_string(), steps, n)
            }
        };
        let mut trace = Trace {
            id: if many { format!("{base_id}-{i}") } else { base_id.clone() },
            problem: problem.clone(),
            solution,
            steps,
            thinking_steps,
            segmentation: seg.clone(),
            generator: generator.clone(),
            tokens,
            ..Trace::default()
        };
        trace.read_final_answer();
        trace.extra = o.clone();
        trace.extra.insert("choice_index".into(), Value::from(i));
        traces.push(trace);
    }
    Ok(traces)
}

/// The last user message of `messages` (top level or under `request`), else `prompt`.
fn find_problem(o: &Map<String, Value>) -> Option<String> {
    let request = o.get("request").and_then(Value::as_object).unwrap_or(o);
    if let Some(msgs) = request.get("messages").and_then(Value::as_array) {
        let user = msgs.iter().rev().find(|m| m.get("role").and_then(Value::as_str) == Some("user"))?;
        return user.get("content").and_then(Value::as_str).map(str::to_string);
    }
    request.get("prompt").and_then(Value::as_str).map(str::to_string)
}

fn tokens(logprobs: &Value, field: &str) -> Result<Vec<TokenInfo>, FieldError> {
    let bad = |m: &str| FieldError::field(&format!("{field}.logprobs"), m.to_string());
    if let Some(content) = logprobs.get("content").and_then(Value::as_array) {
        let mut offset = 0;
        let mut out = Vec::with_capacity(content.len());
        for t in content {
            let token = t.get("token").and_then(Value::as_str).ok_or_else(|| bad("token without text"))?;
            let logprob = t.get("logprob").and_then(Value::as_f64).ok_or_else(|| bad("token without logprob"))?;
            let top = t
                .get("top_logprobs")
                .and_then(Value::as_array)
                .map(|alts| {
                    alts.iter()
                        .filter_map(|a| {
                            Some(TopToken {
                                token: a.get("token")?.as_str()?.to_string(),
                                logprob: a.get("logprob")?.as_f64()?,
                            })
                        })
                        .collect()
                })
                .unwrap_or_default();
            let len = t.get("bytes").and_then(Value::as_array).map_or(token.len(), Vec::len);
            out.push(TokenInfo { token: token.to_string(), logprob, offset, top });
            offset += len;
        }
        return Ok(out);
    }
    legacy_tokens(logprobs).ok_or_else(|| bad("expected `content` (chat) or `tokens`/`token_logprobs` (completions)"))
}

/// Completions API: parallel arrays, `top_logprobs` as objects token → logprob.
fn legacy_tokens(l: &Value) -> Option<Vec<TokenInfo>> {
    let tokens = l.get("tokens")?.as_array()?;
    let lps = l.get("token_logprobs")?.as_array()?;
    let offsets = l.get("text_offset").and_then(Value::as_array);
    let tops = l.get("top_logprobs").and_then(Value::as_array);
    let mut offset = 0;
    let mut out = Vec::with_capacity(tokens.len());
    for (i, t) in tokens.iter().enumerate() {
        let token = t.as_str()?.to_string();
        let at = offsets.and_then(|o| o.get(i)?.as_u64()).map_or(offset, |v| v as usize);
        let top = tops
            .and_then(|t| t.get(i)?.as_object())
            .map(|m| m.iter().filter_map(|(k, v)| Some(TopToken { token: k.clone(), logprob: v.as_f64()? })).collect())
            .unwrap_or_default();
        offset = at + token.len();
        out.push(TokenInfo { token, logprob: lps.get(i)?.as_f64().unwrap_or(0.0), offset: at, top });
    }
    Some(out)
}
