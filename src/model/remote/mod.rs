//! Models behind HTTP servers (llama.cpp's llama-server, vLLM, any OpenAI-compatible endpoint),
//! as a [`LanguageModel`] like our own runtime.
//!
//! - `http`: one server (requests, event streams, timeouts, retries, cancellation);
//! - `pool`: several servers of one model used as one (fan-out, dropping a failing server);
//! - `wire`: the token log-probs of completion responses in each server's shape;
//! - here: what each engine is asked for tokens, chat templates, scoring and generation.
//!
//! A prefix of a server model is its token ids: each request sends the whole sequence (servers
//! keep their own prompt caches), so forks and rewinds cost nothing here.

pub mod http;
pub mod pool;
pub mod sse;
pub mod wire;

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use anyhow::{anyhow, bail, Result};
use serde_json::{json, Value};

use super::generate::{GenerateParams, GeneratedToken, Generation, StopReason};
use super::lm::{LanguageModel, Prefix};
use super::score::TokenScore;
use super::Message;
pub use http::{Failure, Limits, Server, ServerError};
pub use pool::{Pool, ServerStats};

/// The model spec that means "the model the given servers serve" (`judge:server`).
pub const SERVER_SPEC: &str = "server";

/// Which servers to use and how.
#[derive(Clone, PartialEq, Default)]
pub struct RemoteOptions {
    /// Base URLs (`http://host:port`); several serve one model.
    pub servers: Vec<String>,
    /// Sent as a bearer token; never printed or stored.
    pub api_key: Option<String>,
    /// Requests in flight per server.
    pub concurrency: usize,
    pub limits: Limits,
}

impl std::fmt::Debug for RemoteOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteOptions")
            .field("servers", &self.servers)
            .field("api_key", &self.api_key.as_ref().map(|_| "…"))
            .field("concurrency", &self.concurrency)
            .field("limits", &self.limits)
            .finish()
    }
}

impl RemoteOptions {
    /// Servers from repeated and comma-separated `--server` values.
    pub fn split_servers(values: &[String]) -> Vec<String> {
        values.iter().flat_map(|v| v.split(',')).map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect()
    }
}

/// The engine behind a server decides which endpoints exist besides the OpenAI ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// llama.cpp's llama-server: `/tokenize`, `/detokenize`, `/apply-template`, `/props`; no prompt log-probs.
    LlamaCpp,
    /// vLLM: `/tokenize` (text or chat messages), `/detokenize`, `prompt_logprobs`.
    Vllm,
    /// Anything else OpenAI-compatible: generation only (no tokenizer endpoint).
    OpenAi,
}

impl Engine {
    pub fn name(self) -> &'static str {
        match self {
            Engine::LlamaCpp => "llama.cpp",
            Engine::Vllm => "vLLM",
            Engine::OpenAi => "OpenAI-compatible",
        }
    }
}

/// A model served by one or more servers.
pub struct RemoteModel {
    pool: Pool,
    engine: Engine,
    /// The served model's id (`/v1/models`), sent with every request.
    model: String,
    name: String,
    source: PathBuf,
    context: usize,
    vocab: usize,
    /// The cancel flag of the job using the model now: every request of that job watches it,
    /// so cancelling a job drops its request in flight (a stalled server never holds it).
    job_cancel: std::sync::Mutex<Option<Arc<AtomicBool>>>,
}

/// What `/v1/models` says about a server's model.
struct Served {
    id: String,
    engine: Engine,
    context: Option<usize>,
    vocab: Option<usize>,
}

fn served(server: &Server, cancel: &AtomicBool) -> Result<Served, ServerError> {
    let v = server.get("/v1/models", cancel)?;
    let malformed = |what: &str| ServerError {
        server: server.url().to_string(),
        failure: Failure::Malformed(format!("/v1/models: {what}")),
    };
    let first = v.pointer("/data/0").ok_or_else(|| malformed("no model listed in `data`"))?;
    let id = first.get("id").and_then(Value::as_str).ok_or_else(|| malformed("`data[0].id` is not a string"))?;
    let engine = match first.get("owned_by").and_then(Value::as_str) {
        Some("llamacpp") => Engine::LlamaCpp,
        Some("vllm") => Engine::Vllm,
        _ => Engine::OpenAi,
    };
    let number = |p: &str| first.pointer(p).and_then(Value::as_u64).map(|n| n as usize);
    Ok(Served {
        id: id.to_string(),
        engine,
        context: number("/max_model_len").or_else(|| number("/meta/n_ctx_train")),
        vocab: number("/meta/n_vocab"),
    })
}

impl RemoteModel {
    /// Connects to every server and checks they serve one model. A server that cannot be reached
    /// is left out with a line to `progress`; none reachable is an error naming each.
    pub fn connect(opts: &RemoteOptions, progress: &mut dyn FnMut(&str)) -> Result<RemoteModel> {
        if opts.servers.is_empty() {
            bail!("no server given (--server URL)");
        }
        let never = AtomicBool::new(false);
        let (mut servers, mut found, mut errors) = (Vec::new(), Vec::<Served>::new(), Vec::new());
        for url in &opts.servers {
            let server = Server::new(url, opts.api_key.clone(), opts.limits).map_err(|e| anyhow!(e))?;
            progress(&format!("connecting to {}", server.url()));
            match served(&server, &never) {
                Ok(s) => {
                    if let Some(first) = found.first() {
                        if first.id != s.id {
                            bail!(
                                "servers serve different models: {} has '{}', {} has '{}'",
                                servers.first().map(Server::url).unwrap_or_default(),
                                first.id,
                                server.url(),
                                s.id
                            );
                        }
                    }
                    found.push(s);
                    servers.push(server);
                }
                // A wrong key or URL is the user's to fix, not a server to skip.
                Err(e) if !e.failure.retryable() => return Err(e.into()),
                Err(e) => {
                    if opts.servers.len() > 1 {
                        progress(&format!("leaving out {e}"));
                    }
                    errors.push(e.to_string());
                }
            }
        }
        let Some(first) = found.into_iter().next() else { bail!("{}", errors.join("; ")) };
        if let Some(v) = first.vocab.filter(|&v| v > MAX_VOCAB) {
            bail!(
                "{}: /v1/models claims a vocabulary of {v} tokens, more than any tokenizer has ({MAX_VOCAB})",
                servers[0].url()
            );
        }
        let pool = Pool::new(servers, opts.concurrency.max(1));
        let mut model = RemoteModel {
            engine: first.engine,
            name: short_name(&first.id),
            source: PathBuf::from(format!("{}#{}", pool.live()[0], first.id)),
            model: first.id,
            context: first.context.unwrap_or(DEFAULT_CONTEXT),
            vocab: first.vocab.unwrap_or(0),
            pool,
            job_cancel: std::sync::Mutex::new(None),
        };
        if model.engine == Engine::LlamaCpp {
            // The context a slot really has (the training context can be larger).
            if let Ok(props) = model.pool.call(&never, &mut |s| Ok((s.get("/props", &never)?, 0))) {
                // A context of 0 says nothing (no prompt would fit): the other sources stand.
                let n_ctx = props.pointer("/default_generation_settings/n_ctx").and_then(Value::as_u64);
                if let Some(n) = n_ctx.filter(|&n| n > 0) {
                    model.context = n as usize;
                }
            }
        }
        Ok(model)
    }

    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// The served model's id.
    pub fn served_id(&self) -> &str {
        &self.model
    }

    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Makes every request watch `flag` (a job's cancel flag) until the next call.
    pub fn watch(&self, flag: Option<Arc<AtomicBool>>) {
        *self.job_cancel.lock().unwrap_or_else(|e| e.into_inner()) = flag;
    }

    /// The flag requests watch: the current job's, else one never set.
    fn job_flag(&self) -> Arc<AtomicBool> {
        let flag = self.job_cancel.lock().unwrap_or_else(|e| e.into_inner()).clone();
        flag.unwrap_or_default()
    }

    /// `POST /pooling` (vLLM's pooling runner: reward models, embeddings).
    pub fn pooling(&self, body: &Value, cancel: &AtomicBool) -> Result<Value> {
        self.call(cancel, &mut |s| Ok((s.post("/pooling", body, cancel)?, 0)))
    }

    fn cannot_score(&self) -> anyhow::Error {
        anyhow!(
            "{} at {}: this server cannot score prompts ({} returns no prompt log-probs; vLLM does, with prompt_logprobs)",
            self.model,
            self.servers(),
            self.engine.name()
        )
    }

    fn call(&self, cancel: &AtomicBool, request: &mut pool::Request<Value>) -> Result<Value> {
        Ok(self.pool.call(cancel, request)?)
    }

    fn post(&self, path: &str, body: &Value) -> Result<Value> {
        let cancel = self.job_flag();
        self.call(&cancel, &mut |s| Ok((s.post(path, body, &cancel)?, 0)))
    }

    /// The live servers, for messages.
    fn servers(&self) -> String {
        self.pool.live().join(", ")
    }

    /// vLLM's `/tokenize` of chat messages (its template, the model's own special tokens).
    fn vllm_chat_tokens(&self, messages: &[Message], add_generation_prompt: bool) -> Result<Vec<u32>> {
        let body = json!({"model": self.model, "messages": messages, "add_generation_prompt": add_generation_prompt,
            "add_special_tokens": false});
        ids(&self.post("/tokenize", &body)?, "tokens").map_err(|e| anyhow!("{}: /tokenize: {e}", self.servers()))
    }

    fn tokenize(&self, text: &str, add_special: bool) -> Result<Vec<u32>> {
        let v = match self.engine {
            Engine::LlamaCpp => {
                self.post("/tokenize", &json!({"content": text, "add_special": add_special, "parse_special": true}))?
            }
            Engine::Vllm => self
                .post("/tokenize", &json!({"model": self.model, "prompt": text, "add_special_tokens": add_special}))?,
            Engine::OpenAi => {
                bail!("{}: this server has no tokenizer endpoint (/tokenize)", self.servers())
            }
        };
        ids(&v, "tokens").map_err(|e| anyhow!("{}: /tokenize: {e}", self.servers()))
    }

    /// A completion request for `prompt` (token ids) in this engine's dialect.
    fn completion_body(&self, prompt: &[u32], max_tokens: usize, params: &GenerateParams, stream: bool) -> Value {
        let s = &params.sampling;
        let mut body = json!({
            "model": self.model,
            "prompt": prompt,
            "max_tokens": max_tokens,
            "temperature": s.temperature,
            "top_p": s.top_p,
            "seed": s.seed,
            "logprobs": params.top_k.max(1),
            "stream": stream,
        });
        if self.engine == Engine::Vllm {
            // Token ids instead of texts in the log-probs (`token_id:N`).
            body["return_tokens_as_token_ids"] = json!(true);
        }
        body
    }
}

/// Context assumed when a server does not say (an OpenAI endpoint): requests past the real
/// one fail at the server with its own message.
const DEFAULT_CONTEXT: usize = 32_768;

/// `/models/x/SmolLM2.Q4_1.gguf` → `SmolLM2.Q4_1`; `Qwen/Qwen2.5-7B` → `Qwen2.5-7B`.
fn short_name(id: &str) -> String {
    let last = id.rsplit('/').next().unwrap_or(id);
    last.strip_suffix(".gguf").unwrap_or(last).to_string()
}

fn ids(v: &Value, field: &str) -> Result<Vec<u32>, String> {
    let list = v.get(field).and_then(Value::as_array).ok_or(format!("no `{field}` list"))?;
    list.iter()
        .enumerate()
        .map(|(i, t)| {
            // llama-server gives `{id, piece}` objects when asked for pieces, numbers otherwise.
            let n = t.as_u64().or_else(|| t.get("id").and_then(Value::as_u64));
            n.and_then(|n| u32::try_from(n).ok()).ok_or(format!("`{field}[{i}]` is not a token id"))
        })
        .collect()
}

/// More entries than any tokenizer has (Gemma's is 262,144): a server that claims a larger
/// vocabulary, or sends a token id past it, is not believed, and nothing is allocated by its word.
pub const MAX_VOCAB: usize = 1 << 20;

/// A sparse log-prob row: the server's top entries, −∞ elsewhere. The row spans the vocabulary
/// (when the server said it) or up to the largest id; an id outside the vocabulary is an error
/// naming the server, never a reason to allocate.
fn sparse_row(vocab: usize, entries: &[(u32, f32)], server: &str) -> Result<Vec<f32>> {
    let bound = if vocab > 0 { vocab } else { MAX_VOCAB };
    if let Some(&(id, _)) = entries.iter().find(|&&(id, _)| id as usize >= bound) {
        bail!("{server} sent token id {id}, outside the vocabulary of {bound} tokens");
    }
    let len = entries.iter().map(|&(id, _)| id as usize + 1).max().unwrap_or(0).max(vocab);
    let mut row = vec![f32::NEG_INFINITY; len];
    for &(id, lp) in entries {
        row[id as usize] = lp;
    }
    Ok(row)
}

impl LanguageModel for RemoteModel {
    fn name(&self) -> &str {
        &self.name
    }

    fn source(&self) -> &Path {
        &self.source
    }

    fn fingerprint(&self) -> String {
        remote_fingerprint(&self.model)
    }

    fn backend(&self) -> String {
        format!("{} {}", self.engine.name(), self.pool.live().join(","))
    }

    fn arch(&self) -> String {
        "server".into()
    }

    fn context_length(&self) -> usize {
        self.context
    }

    fn render_chat(&self, messages: &[Message], add_generation_prompt: bool) -> Result<String> {
        match self.engine {
            Engine::LlamaCpp if add_generation_prompt => {
                let v = self.post("/apply-template", &json!({"messages": messages}))?;
                v.get("prompt")
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .ok_or_else(|| anyhow!("{}: /apply-template: no `prompt` string", self.servers()))
            }
            Engine::Vllm => self.decode(&self.vllm_chat_tokens(messages, add_generation_prompt)?),
            _ => {
                bail!("{} ({}): cannot render a chat without the generation prompt", self.servers(), self.engine.name())
            }
        }
    }

    fn chat_prompt(&self, messages: &[Message]) -> Result<Vec<u32>> {
        match self.engine {
            Engine::Vllm => self.vllm_chat_tokens(messages, true),
            // The template's text, then the model's own BOS rule.
            _ => self.tokenize(&self.render_chat(messages, true)?, true),
        }
    }

    fn encode(&self, text: &str) -> Result<Vec<u32>> {
        self.tokenize(text, false)
    }

    fn decode(&self, ids: &[u32]) -> Result<String> {
        let (body, field) = match self.engine {
            Engine::LlamaCpp => (json!({"tokens": ids}), "content"),
            Engine::Vllm => (json!({"model": self.model, "tokens": ids}), "prompt"),
            Engine::OpenAi => bail!("{}: this server has no /detokenize endpoint", self.servers()),
        };
        let v = self.post("/detokenize", &body)?;
        v.get(field)
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| anyhow!("/detokenize: no `{field}` string"))
    }

    fn token_id(&self, token: &str) -> Option<u32> {
        match self.tokenize(token, false).ok()?.as_slice() {
            [id] => Some(*id),
            _ => None,
        }
    }

    fn start(&self) -> Prefix {
        Prefix::ids(self.context)
    }

    fn extend(&self, prefix: &mut Prefix, ids: &[u32]) -> Result<()> {
        prefix.token_ids()?.extend_from_slice(ids);
        Ok(())
    }

    fn log_probs(&self, prefix: &mut Prefix, ids: &[u32], rows: std::ops::Range<usize>) -> Result<Vec<Vec<f32>>> {
        let held = prefix.token_ids()?;
        let start = held.len();
        held.extend_from_slice(ids);
        let full = held.clone();
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        // Row r predicts full[start + r + 1]: rows inside the sequence need prompt log-probs, the
        // row after its last token is the next token's distribution.
        let next_row = ids.len() - 1;
        let mut out = Vec::with_capacity(rows.len());
        if rows.start < next_row {
            let scored =
                self.prompt_scores(&full, start + rows.start + 1..(start + rows.end + 1).min(full.len()), 20)?;
            for s in scored {
                let mut entries: Vec<(u32, f32)> = s.top.iter().map(|&(id, lp)| (id, lp as f32)).collect();
                entries.push((s.id, s.logprob as f32));
                out.push(sparse_row(self.vocab, &entries, &self.servers())?);
            }
        }
        if rows.contains(&next_row) {
            out.push(self.next_token_row(&full)?);
        }
        Ok(out)
    }

    fn score(&self, prefix: &mut Prefix, ids: &[u32], top_k: usize) -> Result<Vec<TokenScore>> {
        let held = prefix.token_ids()?;
        let start = held.len();
        held.extend_from_slice(ids);
        if ids.len() < 2 {
            return Ok(Vec::new());
        }
        let full = held.clone();
        self.prompt_scores(&full, start + 1..full.len(), top_k)
    }

    fn generate(
        &self,
        prefix: &mut Prefix,
        ids: &[u32],
        params: &GenerateParams,
        cancel: &AtomicBool,
        on_token: &mut dyn FnMut(&GeneratedToken),
    ) -> Result<Generation> {
        let prompt_tokens = ids.len();
        prefix.token_ids()?.extend_from_slice(ids);
        let held = prefix.token_ids()?.len();
        if held >= self.context {
            bail!(
                "{}: the prompt ({held} tokens) does not fit the server's context of {} tokens",
                self.servers(),
                self.context
            );
        }
        let mut run = Run::default();
        let result = self.stream_generation(prefix.token_ids()?.clone(), params, cancel, &mut run, on_token);
        // What was generated stays in the prefix (as a local model's cache does).
        let generated: Vec<u32> = match run.tokens.iter().map(|t| t.id).collect::<Option<Vec<u32>>>() {
            Some(ids) => ids,
            None => self.encode(&run.text)?,
        };
        prefix.token_ids()?.extend_from_slice(&generated);
        run.finish(result, prompt_tokens)
    }
}

/// The body of a streamed request from the ids received so far (`None`: some token had no id)
/// and the tokens still wanted: the body (`Null` when the context is full) and the tokens it sends.
type BodyFor<'a> = dyn Fn(Option<Vec<u32>>, usize) -> Result<(Value, usize), String> + 'a;

/// A generated token before its id is known for sure (OpenAI's chat shape has none).
struct RunToken {
    id: Option<u32>,
    text: String,
    logprob: f64,
    offset: usize,
    top: Vec<(String, f64)>,
}

/// What a generation has produced so far, kept across a move to another server.
#[derive(Default)]
struct Run {
    text: String,
    tokens: Vec<RunToken>,
    stopped: Option<StopReason>,
}

impl Run {
    /// The generation a run became; a cancelled stream ends it as cancelled, other failures are errors.
    fn finish(self, result: Result<StopReason, ServerError>, prompt_tokens: usize) -> Result<Generation> {
        let stop = match result {
            Ok(stop) => stop,
            Err(e) if matches!(e.failure, Failure::Cancelled) => StopReason::Cancelled,
            Err(e) => return Err(e.into()),
        };
        let tokens = self
            .tokens
            .into_iter()
            .map(|t| GeneratedToken {
                id: t.id.unwrap_or(0),
                text: t.text,
                logprob: t.logprob,
                offset: t.offset,
                top: t.top,
            })
            .collect();
        Ok(Generation { text: self.text, tokens, stop, prompt_tokens })
    }
}

impl RemoteModel {
    /// Streams a completion of `prompt`. When a server fails mid-stream, the pool moves the request
    /// to another server, which continues after the tokens already received (so nothing is sent to
    /// `on_token` twice). Stop strings are applied here, as the local model applies them.
    fn stream_generation(
        &self,
        prompt: Vec<u32>,
        params: &GenerateParams,
        cancel: &AtomicBool,
        run: &mut Run,
        on_token: &mut dyn FnMut(&GeneratedToken),
    ) -> Result<StopReason, ServerError> {
        let request = |ids: Option<Vec<u32>>, left: usize| -> Result<(Value, usize), String> {
            let Some(ids) = ids else {
                return Err("the stream broke and the server gave no token ids to continue from".into());
            };
            let mut sent = prompt.clone();
            sent.extend(ids);
            if sent.len() >= self.context {
                return Ok((Value::Null, sent.len()));
            }
            Ok((self.completion_body(&sent, left.min(self.context - sent.len()), params, true), sent.len()))
        };
        self.stream_run("/v1/completions", &request, params, cancel, run, on_token)
    }

    /// Streams a chat completion of `messages` (`/v1/chat/completions`): for servers whose
    /// tokenizer stepscope cannot reach (the OpenAI API), tokens come without ids, so a stream
    /// that breaks cannot continue elsewhere and is an error.
    pub fn generate_chat(
        &self,
        messages: &[Message],
        params: &GenerateParams,
        cancel: &AtomicBool,
        on_token: &mut dyn FnMut(&GeneratedToken),
    ) -> Result<Generation> {
        let request = |ids: Option<Vec<u32>>, left: usize| -> Result<(Value, usize), String> {
            if ids.is_some_and(|ids| !ids.is_empty()) {
                return Err("the stream broke; a chat completion cannot continue on another server".into());
            }
            let s = &params.sampling;
            let body = json!({"model": self.model, "messages": messages, "max_tokens": left, "temperature": s.temperature,
                "top_p": s.top_p, "seed": s.seed, "logprobs": true, "top_logprobs": params.top_k.min(20), "stream": true});
            Ok((body, 0))
        };
        let mut run = Run::default();
        let result = self.stream_run("/v1/chat/completions", &request, params, cancel, &mut run, on_token);
        run.finish(result, 0)
    }

    /// One streamed generation through the pool. `request(ids so far, tokens left)` gives the
    /// body (or `Null` when the context is full) and the tokens it sends; the ids are `None`
    /// when some received token had none.
    fn stream_run(
        &self,
        path: &str,
        request: &BodyFor,
        params: &GenerateParams,
        cancel: &AtomicBool,
        run: &mut Run,
        on_token: &mut dyn FnMut(&GeneratedToken),
    ) -> Result<StopReason, ServerError> {
        self.pool.call(cancel, &mut |server| {
            let before = run.tokens.len();
            let failed = |failure| ServerError { server: server.url().into(), failure };
            let left = params.max_tokens.saturating_sub(run.tokens.len());
            if left == 0 {
                return Ok((StopReason::MaxTokens, 0));
            }
            let ids = run.tokens.iter().map(|t| t.id).collect::<Option<Vec<u32>>>();
            let (body, sent) = request(ids, left).map_err(|e| failed(Failure::Malformed(e)))?;
            if body.is_null() {
                return Ok((StopReason::ContextFull, 0));
            }
            let mut finish: Option<String> = None;
            server.stream(path, &body, cancel, &mut |data| {
                let chunk = wire::parse_chunk(data)?;
                if chunk.finish.is_some() {
                    finish = chunk.finish.clone();
                }
                take_chunk(chunk, params, run, on_token)
            })?;
            let stop = run.stopped.unwrap_or(match finish.as_deref() {
                Some("length") if sent > 0 && sent + run.tokens.len() - before >= self.context => {
                    StopReason::ContextFull
                }
                Some("length") => StopReason::MaxTokens,
                Some(_) => StopReason::Eos,
                None if cancel.load(std::sync::atomic::Ordering::Relaxed) => StopReason::Cancelled,
                // A stream that ends without saying why was cut: the pool tries again.
                None => return Err(failed(Failure::Cut("the event stream ended before the completion did".into()))),
            });
            Ok((stop, run.tokens.len() - before))
        })
    }

    /// The distribution of the token after `full`: the server's top entries (one greedy token).
    fn next_token_row(&self, full: &[u32]) -> Result<Vec<f32>> {
        let params = GenerateParams { max_tokens: 1, top_k: 20, ..GenerateParams::default() };
        let mut body = self.completion_body(full, 1, &params, false);
        body["temperature"] = json!(0.0);
        let cancel = self.job_flag();
        let v = self.call(&cancel, &mut |s| Ok((s.post("/v1/completions", &body, &cancel)?, 1)))?;
        let chunk = wire::parse_chunk(&v.to_string()).map_err(|e| anyhow!("/v1/completions: {e}"))?;
        let token = chunk.tokens.first().ok_or_else(|| anyhow!("/v1/completions: no token log-probs in the answer"))?;
        let mut entries = Vec::new();
        for alt in token.top.iter().chain(std::iter::once(&wire::WireAlt {
            id: token.id,
            text: token.text.clone(),
            logprob: token.logprob,
        })) {
            let id = match alt.id {
                Some(id) => id,
                None => match self.tokenize(&alt.text, false)?.as_slice() {
                    [id] => *id,
                    _ => continue,
                },
            };
            entries.push((id, alt.logprob));
        }
        sparse_row(self.vocab, &entries, &self.servers())
    }

    /// Teacher-forced scores of `full[positions]` (vLLM's `prompt_logprobs`).
    fn prompt_scores(&self, full: &[u32], positions: std::ops::Range<usize>, top_k: usize) -> Result<Vec<TokenScore>> {
        if self.engine != Engine::Vllm {
            return Err(self.cannot_score());
        }
        let params = GenerateParams { max_tokens: 1, top_k: 1, ..GenerateParams::default() };
        let mut body = self.completion_body(full, 1, &params, false);
        body["prompt_logprobs"] = json!(top_k.max(1));
        let cancel = self.job_flag();
        let n = positions.len();
        let v = self.call(&cancel, &mut |s| Ok((s.post("/v1/completions", &body, &cancel)?, n)))?;
        let list = v.pointer("/choices/0/prompt_logprobs").and_then(Value::as_array).ok_or_else(|| {
            anyhow!("/v1/completions: no `choices[0].prompt_logprobs` (the server cannot score prompts)")
        })?;
        positions.map(|p| prompt_score(list, full, p, top_k)).collect()
    }
}

/// Adds one event's tokens to the run, streaming each; stops at a stop string.
fn take_chunk(
    chunk: wire::Chunk,
    params: &GenerateParams,
    run: &mut Run,
    on_token: &mut dyn FnMut(&GeneratedToken),
) -> Result<http::Flow, String> {
    if !chunk.text.is_empty() && chunk.tokens.is_empty() {
        return Err("a generated chunk carried text but no token log-probs".into());
    }
    if chunk.tokens.is_empty() && chunk.finish.is_none() {
        return Ok(http::Flow::Idle);
    }
    for t in chunk.tokens {
        if let Some(asked) = too_few_alternatives(params.top_k, t.top.len()) {
            return Err(format!(
                "the server returned {} alternatives for the token {:?}, {asked} were asked",
                t.top.len(),
                t.text
            ));
        }
        let token = RunToken {
            id: t.id,
            offset: run.text.len(),
            text: t.text,
            logprob: t.logprob as f64,
            top: t.top.iter().map(|a| (a.text.clone(), a.logprob as f64)).collect(),
        };
        run.text.push_str(&token.text);
        on_token(&GeneratedToken {
            id: token.id.unwrap_or(0),
            text: token.text.clone(),
            logprob: token.logprob,
            offset: token.offset,
            top: token.top.clone(),
        });
        run.tokens.push(token);
        if let Some(at) = params.stop.iter().filter_map(|s| run.text.find(s.as_str())).min() {
            run.text.truncate(at);
            run.stopped = Some(StopReason::StopString);
            return Ok(http::Flow::Stop);
        }
        if let Some(at) = params.stop_at_answer.then(|| crate::model::generate::answer_end(&run.text)).flatten() {
            run.text.truncate(at);
            run.stopped = Some(StopReason::Answer);
            return Ok(http::Flow::Stop);
        }
    }
    Ok(http::Flow::Continue)
}

/// Whether a token came with fewer alternatives than asked (servers cap the count at 20):
/// `Some(asked)` then.
fn too_few_alternatives(asked: usize, got: usize) -> Option<usize> {
    let asked = asked.min(20);
    (got < asked).then_some(asked)
}

/// One position of vLLM's `prompt_logprobs`: `{"<id>": {"logprob", "rank", "decoded_token"}}`,
/// the actual token included even outside the top-k.
fn prompt_score(list: &[Value], full: &[u32], p: usize, top_k: usize) -> Result<TokenScore> {
    let at = format!("prompt_logprobs[{p}]");
    let entry = list.get(p).and_then(Value::as_object).ok_or_else(|| anyhow!("/v1/completions: no `{at}`"))?;
    let mut all: Vec<(u32, f64)> = entry
        .iter()
        .map(|(k, v)| {
            let id = k.parse::<u32>().map_err(|_| anyhow!("`{at}`: key '{k}' is not a token id"))?;
            let lp = v
                .get("logprob")
                .and_then(Value::as_f64)
                .ok_or_else(|| anyhow!("`{at}[{k}].logprob` is not a number"))?;
            Ok((id, lp))
        })
        .collect::<Result<_>>()?;
    let id = full[p];
    let logprob = all
        .iter()
        .find(|(i, _)| *i == id)
        .map(|&(_, lp)| lp)
        .ok_or_else(|| anyhow!("`{at}` lacks the actual token {id}"))?;
    all.sort_by(|a, b| b.1.total_cmp(&a.1));
    let row: Vec<f32> = all.iter().map(|&(_, lp)| lp as f32).collect();
    all.truncate(top_k);
    // The entropy of what the server shows (the top-k and the actual token): a lower bound.
    Ok(TokenScore { id, logprob, entropy: super::sample::entropy(&row), top: all })
}

/// The fingerprint of a served model: its id (the weights behind an id are the server's word).
pub fn remote_fingerprint(id: &str) -> String {
    format!("server-{:016x}", super::fnv1a(super::FNV_OFFSET, id.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_lists_split_on_commas_and_repeats() {
        let v = vec!["http://a:1, http://b:2".to_string(), "http://c:3".to_string(), ",".to_string()];
        assert_eq!(RemoteOptions::split_servers(&v), ["http://a:1", "http://b:2", "http://c:3"]);
    }

    #[test]
    fn short_names_drop_folders_and_extensions() {
        assert_eq!(short_name("/root/.cache/m/SmolLM2-135M-Instruct.Q4_1.gguf"), "SmolLM2-135M-Instruct.Q4_1");
        assert_eq!(short_name("Qwen/Qwen2.5-Math-PRM-7B"), "Qwen2.5-Math-PRM-7B");
    }

    #[test]
    fn sparse_rows_hold_the_top_entries_within_the_vocabulary() {
        let row = sparse_row(8, &[(1, -0.5), (6, -1.0)], "s").unwrap();
        assert_eq!(row.len(), 8);
        assert_eq!((row[1], row[6]), (-0.5, -1.0));
        assert!(row[0].is_infinite());
        // Unknown vocabulary: as long as the largest id needs.
        assert_eq!(sparse_row(0, &[(6, -1.0)], "s").unwrap().len(), 7);
        // An id past the vocabulary (or past any vocabulary) is refused, naming the server.
        let e = sparse_row(8, &[(8, -1.0)], "http://h:1").unwrap_err().to_string();
        assert!(e.contains("http://h:1") && e.contains("token id 8"), "{e}");
        assert!(sparse_row(0, &[(u32::MAX, -1.0)], "s").is_err());
    }

    #[test]
    fn vllm_prompt_logprobs_read_the_actual_token_and_the_top() {
        let list: Vec<Value> = serde_json::from_str(
            r#"[null, {"7": {"logprob": -0.1, "rank": 1, "decoded_token": "a"}},
                {"9": {"logprob": -0.2, "rank": 1}, "3": {"logprob": -4.0, "rank": 7}}]"#,
        )
        .unwrap();
        let s = prompt_score(&list, &[1, 7, 3], 2, 1).unwrap();
        assert_eq!((s.id, s.logprob), (3, -4.0));
        assert_eq!(s.top, [(9, -0.2)]);
        assert!(prompt_score(&list, &[1, 7, 5], 2, 1).unwrap_err().to_string().contains("actual token 5"));
        assert!(prompt_score(&list, &[1, 7, 3], 0, 1).is_err());
    }
}
