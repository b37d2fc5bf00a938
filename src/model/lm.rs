//! The two doors through which the rest of stepscope uses a model, so a remote backend can stand
//! in for our candle runtime: [`LanguageModel`] (chat prompts, tokens, scoring, generation,
//! forking at a prefix) and [`HiddenStates`] (the last hidden layer, for reward heads).

use std::path::Path;
use std::sync::atomic::AtomicBool;

use anyhow::Result;
use candle_core::Tensor;

use super::generate::{GenerateParams, GeneratedToken, Generation};
use super::score::TokenScore;
use super::{KvCache, Message, Model};

/// What a model has already read: a prefix that can be extended, cut back or forked. For the
/// local runtime it holds the KV cache.
pub struct Prefix {
    pub(in crate::model) cache: KvCache,
}

impl Prefix {
    /// Tokens read so far.
    pub fn len(&self) -> usize {
        self.cache.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cache.is_empty()
    }

    /// The most tokens the model can hold (its context).
    pub fn max_len(&self) -> usize {
        self.cache.max_len()
    }

    /// Forgets everything after the first `len` tokens.
    pub fn truncate(&mut self, len: usize) {
        self.cache.truncate(len)
    }

    /// An independent copy, to continue in several ways from one shared prefix.
    pub fn fork(&self) -> Result<Prefix> {
        Ok(Prefix { cache: self.cache.fork()? })
    }
}

/// A causal language model as verifiers, signals and generation use it.
pub trait LanguageModel: Send + Sync {
    /// Short name (the spec's name, or the file stem).
    fn name(&self) -> &str;
    /// The file or folder the weights came from (provenance).
    fn source(&self) -> &Path;
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
    /// positions `rows` of `ids` (row r predicts `ids[r + 1]`).
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

    fn context_length(&self) -> usize {
        self.transformer.config.context_length
    }

    fn render_chat(&self, messages: &[Message], add_generation_prompt: bool) -> Result<String> {
        self.chat.render(messages, add_generation_prompt)
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
        Prefix { cache: self.new_cache() }
    }

    fn extend(&self, prefix: &mut Prefix, ids: &[u32]) -> Result<()> {
        if !ids.is_empty() {
            self.transformer.forward_hidden(ids, &mut prefix.cache)?;
        }
        Ok(())
    }

    fn log_probs(&self, prefix: &mut Prefix, ids: &[u32], rows: std::ops::Range<usize>) -> Result<Vec<Vec<f32>>> {
        let hidden = self.transformer.forward_hidden_exact(ids, &mut prefix.cache)?;
        // Only the rows asked for go through the LM head.
        let picked = hidden.narrow(0, rows.start, rows.len())?;
        Ok(super::forward::log_softmax(&self.transformer.logits_exact(&picked)?)?.to_vec2::<f32>()?)
    }

    fn score(&self, prefix: &mut Prefix, ids: &[u32], top_k: usize) -> Result<Vec<TokenScore>> {
        Model::score(self, ids, &mut prefix.cache, top_k)
    }

    fn generate(
        &self,
        prefix: &mut Prefix,
        ids: &[u32],
        params: &GenerateParams,
        cancel: &AtomicBool,
        on_token: &mut dyn FnMut(&GeneratedToken),
    ) -> Result<Generation> {
        Model::generate(self, ids, &mut prefix.cache, params, cancel, on_token)
    }
}

impl HiddenStates for Model {
    fn hidden_states(&self, prefix: &mut Prefix, ids: &[u32]) -> Result<Tensor> {
        self.transformer.forward_hidden_exact(ids, &mut prefix.cache)
    }

    fn lm_head(&self, hidden: &Tensor) -> Result<Tensor> {
        self.transformer.logits_exact(hidden)
    }
}
