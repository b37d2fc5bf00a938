//! The token log-probs a completion response carries, in the shapes servers send them.
//!
//! Three shapes, one result ([`Chunk`]):
//! - chat style, `choices[0].logprobs.content[]` of `{token, logprob, bytes, top_logprobs[]}`:
//!   OpenAI's and vLLM's `/v1/chat/completions`, and llama-server's `/v1/completions` and
//!   `/v1/chat/completions` alike (llama-server adds each token's `id`);
//! - legacy completions, `choices[0].logprobs` of parallel arrays `tokens`, `token_logprobs`,
//!   `top_logprobs` (a map per token): OpenAI's and vLLM's `/v1/completions`. With vLLM's
//!   `return_tokens_as_token_ids` a token reads `token_id:1234`, which gives its id;
//! - the text: `choices[0].text` (completions) or `choices[0].delta.content` (chat chunks).
//!
//! A streamed response is one such object per server-sent event; a plain response is one
//! object for the whole completion.

use serde_json::Value;

/// One token as the server reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct WireToken {
    /// The vocabulary id, when the server gives it (llama-server; vLLM's `token_id:N`).
    pub id: Option<u32>,
    /// The token's text as the server writes it.
    pub text: String,
    pub logprob: f32,
    /// The most likely alternatives at this position, most likely first.
    pub top: Vec<WireAlt>,
}

/// One alternative at a position.
#[derive(Debug, Clone, PartialEq)]
pub struct WireAlt {
    pub id: Option<u32>,
    pub text: String,
    pub logprob: f32,
}

/// What one response object (or one streamed event) adds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Chunk {
    pub text: String,
    pub tokens: Vec<WireToken>,
    /// Why generation ended, in the event that ends it (`stop`, `length`, …).
    pub finish: Option<String>,
}

/// Parses one completion or chat-completion object (a whole response or one streamed event).
/// The error names the field that is missing or malformed.
pub fn parse_chunk(json: &str) -> Result<Chunk, String> {
    let v: Value = serde_json::from_str(json).map_err(|e| format!("not JSON: {e}"))?;
    if let Some(err) = v.get("error") {
        let msg = err.get("message").and_then(Value::as_str).map(str::to_string);
        return Err(format!("server error: {}", msg.unwrap_or_else(|| err.to_string())));
    }
    let choice = v.pointer("/choices/0").ok_or("no `choices[0]`")?;
    let text = match choice.get("text") {
        Some(t) => t.as_str().ok_or("`choices[0].text` is not a string")?.to_string(),
        None => choice.pointer("/delta/content").and_then(Value::as_str).unwrap_or_default().to_string(),
    };
    let finish = choice.get("finish_reason").and_then(Value::as_str).map(str::to_string);
    let tokens = match choice.get("logprobs") {
        None | Some(Value::Null) => Vec::new(),
        Some(lp) if lp.get("content").is_some() => chat_tokens(lp)?,
        Some(lp) => legacy_tokens(lp)?,
    };
    Ok(Chunk { text, tokens, finish })
}

/// `logprobs.content[]` (chat style).
fn chat_tokens(lp: &Value) -> Result<Vec<WireToken>, String> {
    let Some(items) = lp.get("content").and_then(Value::as_array) else {
        // `content: null` carries no tokens (a role-only chunk).
        return Ok(Vec::new());
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let alt = |a: &Value, at: &str| -> Result<WireAlt, String> {
                let text = a.get("token").and_then(Value::as_str).ok_or(format!("{at}: no `token`"))?.to_string();
                let logprob = number(a.get("logprob"), &format!("{at}.logprob"))?;
                let id =
                    a.get("id").and_then(Value::as_u64).and_then(|n| u32::try_from(n).ok()).or_else(|| token_id(&text));
                Ok(WireAlt { id, text, logprob })
            };
            let at = format!("logprobs.content[{i}]");
            let me = alt(item, &at)?;
            let top = match item.get("top_logprobs").and_then(Value::as_array) {
                Some(top) => top
                    .iter()
                    .enumerate()
                    .map(|(j, a)| alt(a, &format!("{at}.top_logprobs[{j}]")))
                    .collect::<Result<_, _>>()?,
                None => Vec::new(),
            };
            Ok(WireToken { id: me.id, text: me.text, logprob: me.logprob, top })
        })
        .collect()
}

/// `logprobs.{tokens, token_logprobs, top_logprobs}` (legacy completions).
fn legacy_tokens(lp: &Value) -> Result<Vec<WireToken>, String> {
    let list = |k: &str| lp.get(k).and_then(Value::as_array).ok_or(format!("no `logprobs.{k}` list"));
    let (tokens, logprobs) = (list("tokens")?, list("token_logprobs")?);
    if logprobs.len() != tokens.len() {
        return Err(format!("`logprobs.tokens` has {} entries, `token_logprobs` {}", tokens.len(), logprobs.len()));
    }
    let tops = lp.get("top_logprobs").and_then(Value::as_array);
    tokens
        .iter()
        .zip(logprobs)
        .enumerate()
        .map(|(i, (t, l))| {
            let text = t.as_str().ok_or(format!("`logprobs.tokens[{i}]` is not a string"))?.to_string();
            let logprob = number(Some(l), &format!("logprobs.token_logprobs[{i}]"))?;
            let mut top: Vec<WireAlt> = match tops.and_then(|t| t.get(i)).and_then(Value::as_object) {
                Some(map) => map
                    .iter()
                    .map(|(k, v)| {
                        let logprob = number(Some(v), &format!("logprobs.top_logprobs[{i}][{k:?}]"))?;
                        Ok(WireAlt { id: token_id(k), text: k.clone(), logprob })
                    })
                    .collect::<Result<_, String>>()?,
                None => Vec::new(),
            };
            // A map has no order: most likely first, as the chat shape gives them.
            top.sort_by(|a, b| b.logprob.total_cmp(&a.logprob));
            Ok(WireToken { id: token_id(&text), text, logprob, top })
        })
        .collect()
}

fn number(v: Option<&Value>, at: &str) -> Result<f32, String> {
    v.and_then(Value::as_f64).map(|x| x as f32).ok_or(format!("`{at}` is not a number"))
}

/// vLLM's `token_id:1234` (with `return_tokens_as_token_ids`).
fn token_id(text: &str) -> Option<u32> {
    text.strip_prefix("token_id:")?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One streamed event of llama-server's `/v1/completions` (llama.cpp from llama-cpp-python
    /// 0.3.36, SmolLM2, `logprobs: 2`), as it came.
    const LLAMA_SERVER: &str = r#"{"choices":[{"text":"\n","index":0,"logprobs":{"content":[{"id":198,"token":"\n","bytes":[10],"logprob":-1.645384430885315,"top_logprobs":[{"id":198,"token":"\n","bytes":[10],"logprob":-1.645384430885315},{"id":339,"token":" I","bytes":[32,73],"logprob":-2.403292179107666}]}]},"finish_reason":null}],"created":1795782550,"model":"SmolLM2-135M-Instruct.Q4_1.gguf","object":"text_completion"}"#;

    #[test]
    fn llama_server_events_give_ids_and_alternatives() {
        let c = parse_chunk(LLAMA_SERVER).unwrap();
        assert_eq!(c.text, "\n");
        assert_eq!(c.finish, None);
        assert_eq!(c.tokens.len(), 1);
        let t = &c.tokens[0];
        assert_eq!((t.id, t.text.as_str()), (Some(198), "\n"));
        assert!((t.logprob + 1.645_384_4).abs() < 1e-6);
        assert_eq!(t.top.iter().map(|a| a.id).collect::<Vec<_>>(), [Some(198), Some(339)]);
    }

    #[test]
    fn chat_chunks_read_the_delta() {
        let role_only = r#"{"choices":[{"finish_reason":null,"index":0,"delta":{"role":"assistant","content":null}}]}"#;
        assert_eq!(parse_chunk(role_only).unwrap(), Chunk::default());
        let last = r#"{"choices":[{"finish_reason":"length","index":0,"delta":{"content":"!"},"logprobs":{"content":[{"token":"!","logprob":-0.5,"top_logprobs":[]}]}}]}"#;
        let c = parse_chunk(last).unwrap();
        assert_eq!((c.text.as_str(), c.finish.as_deref()), ("!", Some("length")));
        assert_eq!(c.tokens[0].id, None, "OpenAI's chat shape carries no ids");
    }

    /// OpenAI's legacy completions shape (vLLM's `/v1/completions`), with token ids asked for.
    #[test]
    fn legacy_arrays_sort_alternatives_and_read_ids() {
        let json = r#"{"choices":[{"text":" 4","index":0,"finish_reason":"stop","logprobs":{"text_offset":[0],"tokens":["token_id:220"],"token_logprobs":[-0.25],"top_logprobs":[{"token_id:18":-3.0,"token_id:220":-0.25}]}}]}"#;
        let c = parse_chunk(json).unwrap();
        let t = &c.tokens[0];
        assert_eq!((t.id, t.logprob), (Some(220), -0.25));
        assert_eq!(t.top.iter().map(|a| a.id).collect::<Vec<_>>(), [Some(220), Some(18)]);
        assert_eq!(c.finish.as_deref(), Some("stop"));
    }

    #[test]
    fn malformed_objects_name_the_field() {
        let cases = [
            ("{", "not JSON"),
            (r#"{"choices":[]}"#, "choices[0]"),
            (r#"{"error":{"message":"model not found"}}"#, "model not found"),
            (r#"{"choices":[{"text":"a","logprobs":{"content":[{"token":"a"}]}}]}"#, "logprobs.content[0].logprob"),
            (
                r#"{"choices":[{"text":"a","logprobs":{"tokens":["a","b"],"token_logprobs":[-1.0]}}]}"#,
                "`token_logprobs` 1",
            ),
            (
                r#"{"choices":[{"text":"a","logprobs":{"tokens":["a"],"token_logprobs":[-1.0],"top_logprobs":[{"a":"x"}]}}]}"#,
                "top_logprobs[0][\"a\"]",
            ),
        ];
        for (json, want) in cases {
            let err = parse_chunk(json).unwrap_err();
            assert!(err.contains(want), "{json}: {err}");
        }
    }
}
