//! The two doors through which the rest of stepscope uses a model, so a remote backend can stand
//! in for our candle runtime: [`LanguageModel`] (chat prompts, tokens, scoring, generation,
//! forking at a prefix) and [`HiddenStates`] (the last hidden layer, for reward heads).

use std::path::Path;
use std::sync::atomic::AtomicBool;

use anyhow::Result;
use candle_core::Tensor;

use super::generate::{GenerateParams, GeneratedToken, Generation};
use super::score::{Surprise, TokenScore};
use super::{KvCache, Message, Model};

/// What a model has already read: a prefix that can be extended, cut back or forked. For the
/// local runtime it holds the KV cache; for a server, the token ids (servers keep no state we
/// can address, so the whole prefix is sent with each request).
pub struct Prefix {
    pub(in crate::model) held: Held,
}

pub(in crate::model) enum Held {
    Cache(KvCache),
    Ids { ids: Vec<u32>, max_len: usize },
}

impl Prefix {
    pub(in crate::model) fn ids(max_len: usize) -> Prefix {
        Prefix { held: Held::Ids { ids: Vec::new(), max_len } }
    }

    /// Tokens read so far.
    pub fn len(&self) -> usize {
        match &self.held {
            Held::Cache(c) => c.len(),
            Held::Ids { ids, .. } => ids.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most tokens the model can hold (its context).
    pub fn max_len(&self) -> usize {
        match &self.held {
            Held::Cache(c) => c.max_len(),
            Held::Ids { max_len, .. } => *max_len,
        }
    }

    /// Forgets everything after the first `len` tokens.
    pub fn truncate(&mut self, len: usize) {
        match &mut self.held {
            Held::Cache(c) => c.truncate(len),
            Held::Ids { ids, .. } => ids.truncate(len),
        }
    }

    /// An independent copy, to continue in several ways from one shared prefix.
    pub fn fork(&self) -> Result<Prefix> {
        let held = match &self.held {
            Held::Cache(c) => Held::Cache(c.fork()?),
            Held::Ids { ids, max_len } => Held::Ids { ids: ids.clone(), max_len: *max_len },
        };
        Ok(Prefix { held })
    }

    /// The KV cache of a local model's prefix.
    pub(in crate::model) fn cache(&mut self) -> Result<&mut KvCache> {
        match &mut self.held {
            Held::Cache(c) => Ok(c),
            Held::Ids { .. } => anyhow::bail!("a server's prefix was given to a local model"),
        }
    }

    /// The token ids of a server model's prefix.
    pub(in crate::model) fn token_ids(&mut self) -> Result<&mut Vec<u32>> {
        match &mut self.held {
            Held::Ids { ids, .. } => Ok(ids),
            Held::Cache(_) => anyhow::bail!("a local model's prefix was given to a server model"),
        }
    }
}

/// A causal language model as verifiers, signals and generation use it.
pub trait LanguageModel: Send + Sync {
    /// Short name (the spec's name, or the file stem).
    fn name(&self) -> &str;
    /// The file or folder the weights came from (provenance).
    fn source(&self) -> &Path;
    /// The residual stream after each of `layers` (1-based) for `ids` read from the start, one
    /// f32 tensor (len, hidden) per layer: what a probe reads. Only a local model has them.
    fn layer_states(&self, ids: &[u32], layers: &[usize]) -> Result<Vec<Tensor>> {
        let _ = (ids, layers);
        anyhow::bail!("{}: a probe reads hidden states, which only a local model gives", self.name())
    }
    /// `layer_states`, and from the same pass each token's surprise (log-prob and entropy of
    /// its prediction; the first token gets zeros): what a probe with token features reads.
    fn layer_states_and_surprise(&self, ids: &[u32], layers: &[usize]) -> Result<(Vec<Tensor>, Vec<Surprise>)> {
        let _ = (ids, layers);
        anyhow::bail!("{}: a probe reads hidden states, which only a local model gives", self.name())
    }
    /// How many layers `layer_states` can tap (None: it has no hidden states to give).
    fn num_layers(&self) -> Option<usize> {
        None
    }
    /// A fingerprint of the weights, for provenance and result reuse.
    fn fingerprint(&self) -> String {
        super::fingerprint(self.source())
    }
    /// Where the model runs: `cpu`, `cuda`, or the server engine and URLs.
    fn backend(&self) -> String;
    /// The architecture (`llama`, `qwen2`), or `server`.
    fn arch(&self) -> String;
    /// Most tokens one sequence may hold.
    fn context_length(&self) -> usize;
    /// The chat template applied to `messages` (as text).
    fn render_chat(&self, messages: &[Message], add_generation_prompt: bool) -> Result<String>;
    /// Tokens of a chat prompt ready for the assistant's answer (BOS added when the model wants it).
    fn chat_prompt(&self, messages: &[Message]) -> Result<Vec<u32>>;
    /// Token ids of plain text (no special tokens added).
    fn encode(&self, text: &str) -> Result<Vec<u32>>;
    fn decode(&self, ids: &[u32]) -> Result<String>;
    /// The id of one vocabulary entry, if the vocabulary has it.
    fn token_id(&self, token: &str) -> Option<u32>;
    /// An empty prefix.
    fn start(&self) -> Prefix;
    /// Reads `ids` after the prefix.
    fn extend(&self, prefix: &mut Prefix, ids: &[u32]) -> Result<()>;
    /// Reads `ids` after the prefix and returns the full-vocabulary log-probs predicted at the
    /// positions `rows` of `ids` (row r predicts `ids[r + 1]`). A server's rows hold only its
    /// top entries (−∞ elsewhere) and may end before the vocabulary does: index them with `get`.
    fn log_probs(&self, prefix: &mut Prefix, ids: &[u32], rows: std::ops::Range<usize>) -> Result<Vec<Vec<f32>>>;
    /// Scores `ids[1..]` given their prefixes: log-prob, entropy and top-k of each.
    fn score(&self, prefix: &mut Prefix, ids: &[u32], top_k: usize) -> Result<Vec<TokenScore>>;
    /// Generates after `ids` (read after the prefix), streaming each token to `on_token`; the
    /// prefix is left holding everything read and generated.
    fn generate(
        &self,
        prefix: &mut Prefix,
        ids: &[u32],
        params: &GenerateParams,
        cancel: &AtomicBool,
        on_token: &mut dyn FnMut(&GeneratedToken),
    ) -> Result<Generation>;
    /// Several continuations, `jobs[i]` after its own prefix with its own parameters, each
    /// token reported as `on_token(i, token)`. The local runtime decodes them together, one
    /// forward pass per step for all (each sequence gets the tokens `generate` would give it);
    /// by default they run one after another.
    fn generate_batch(
        &self,
        jobs: &mut [GenJob],
        cancel: &AtomicBool,
        on_token: &mut dyn FnMut(usize, &GeneratedToken),
    ) -> Result<Vec<Generation>> {
        generate_each(self, jobs, cancel, on_token)
    }
}

/// The jobs of a batch one after another (what a batch does where it cannot run together, and
/// the reference the batched path is compared with).
pub fn generate_each<M: LanguageModel + ?Sized>(
    m: &M,
    jobs: &mut [GenJob],
    cancel: &AtomicBool,
    on_token: &mut dyn FnMut(usize, &GeneratedToken),
) -> Result<Vec<Generation>> {
    let mut out = Vec::with_capacity(jobs.len());
    for (i, j) in jobs.iter_mut().enumerate() {
        out.push(m.generate(j.prefix, j.ids, j.params, cancel, &mut |t| on_token(i, t))?);
    }
    Ok(out)
}

/// One continuation per `params` from forks of `base`, each reading `ids` first (the last
/// prompt token, typically): decoded together, or one after another when `sequential`.
pub fn sample_from<M: LanguageModel + ?Sized>(
    m: &M,
    base: &Prefix,
    ids: &[u32],
    params: &[GenerateParams],
    sequential: bool,
    cancel: &AtomicBool,
    on_token: &mut dyn FnMut(usize, &GeneratedToken),
) -> Result<Vec<Generation>> {
    let mut forks = params.iter().map(|_| base.fork()).collect::<Result<Vec<_>>>()?;
    let mut jobs: Vec<GenJob> =
        forks.iter_mut().zip(params).map(|(prefix, params)| GenJob { prefix, ids, params }).collect();
    if sequential {
        generate_each(m, &mut jobs, cancel, on_token)
    } else {
        m.generate_batch(&mut jobs, cancel, on_token)
    }
}

/// One continuation of [`LanguageModel::generate_batch`].
pub struct GenJob<'a> {
    pub prefix: &'a mut Prefix,
    /// Read after the prefix before generating.
    pub ids: &'a [u32],
    pub params: &'a GenerateParams,
}

/// The last hidden layer of a local model, for reward heads on top of it.
pub trait HiddenStates {
    /// Hidden states (one row per id) after reading `ids` after the prefix, in full precision.
    fn hidden_states(&self, prefix: &mut Prefix, ids: &[u32]) -> Result<Tensor>;
    /// The language-model head applied to hidden rows.
    fn lm_head(&self, hidden: &Tensor) -> Result<Tensor>;
}

impl LanguageModel for Model {
    fn name(&self) -> &str {
        &self.name
    }

    fn source(&self) -> &Path {
        &self.path
    }

    fn backend(&self) -> String {
        self.device_name()
    }

    fn arch(&self) -> String {
        self.arch_name().into()
    }

    fn context_length(&self) -> usize {
        self.transformer.config.context_length
    }

    fn render_chat(&self, messages: &[Message], add_generation_prompt: bool) -> Result<String> {
        self.chat.render(messages, add_generation_prompt)
    }

    fn layer_states(&self, ids: &[u32], layers: &[usize]) -> Result<Vec<Tensor>> {
        Model::layer_states(self, ids, layers)
    }

    fn layer_states_and_surprise(&self, ids: &[u32], layers: &[usize]) -> Result<(Vec<Tensor>, Vec<Surprise>)> {
        Model::layer_states_and_surprise(self, ids, layers)
    }

    fn num_layers(&self) -> Option<usize> {
        Some(Model::num_layers(self))
    }

    fn chat_prompt(&self, messages: &[Message]) -> Result<Vec<u32>> {
        Model::chat_prompt(self, messages)
    }

    fn encode(&self, text: &str) -> Result<Vec<u32>> {
        Model::encode(self, text)
    }

    fn decode(&self, ids: &[u32]) -> Result<String> {
        Model::decode(self, ids)
    }

    fn token_id(&self, token: &str) -> Option<u32> {
        self.tokenizer.token_to_id(token)
    }

    fn start(&self) -> Prefix {
        Prefix { held: Held::Cache(self.new_cache()) }
    }

    fn extend(&self, prefix: &mut Prefix, ids: &[u32]) -> Result<()> {
        if !ids.is_empty() {
            self.transformer.forward_hidden(ids, prefix.cache()?)?;
        }
        Ok(())
    }

    fn log_probs(&self, prefix: &mut Prefix, ids: &[u32], rows: std::ops::Range<usize>) -> Result<Vec<Vec<f32>>> {
        let hidden = self.transformer.forward_hidden_exact(ids, prefix.cache()?)?;
        // Only the rows asked for go through the LM head.
        let picked = hidden.narrow(0, rows.start, rows.len())?;
        Ok(super::forward::log_softmax(&self.transformer.logits_exact(&picked)?)?.to_vec2::<f32>()?)
    }

    fn score(&self, prefix: &mut Prefix, ids: &[u32], top_k: usize) -> Result<Vec<TokenScore>> {
        Model::score(self, ids, prefix.cache()?, top_k)
    }

    fn generate(
        &self,
        prefix: &mut Prefix,
        ids: &[u32],
        params: &GenerateParams,
        cancel: &AtomicBool,
        on_token: &mut dyn FnMut(&GeneratedToken),
    ) -> Result<Generation> {
        Model::generate(self, ids, prefix.cache()?, params, cancel, on_token)
    }

    fn generate_batch(
        &self,
        jobs: &mut [GenJob],
        cancel: &AtomicBool,
        on_token: &mut dyn FnMut(usize, &GeneratedToken),
    ) -> Result<Vec<Generation>> {
        let mut batch = Vec::with_capacity(jobs.len());
        for j in jobs.iter_mut() {
            batch.push(super::generate::BatchJob { cache: j.prefix.cache()?, feed: j.ids, params: j.params });
        }
        Model::generate_batch(self, &mut batch, cancel, on_token)
    }
}

impl HiddenStates for Model {
    fn hidden_states(&self, prefix: &mut Prefix, ids: &[u32]) -> Result<Tensor> {
        self.transformer.forward_hidden_exact(ids, prefix.cache()?)
    }

    fn lm_head(&self, hidden: &Tensor) -> Result<Tensor> {
        self.transformer.logits_exact(hidden)
    }
}
