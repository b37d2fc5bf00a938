//! Teacher-forced scoring: per-token log-prob of the actual token, full-distribution entropy and
//! top-k alternatives; and perplexity computed the way llama.cpp's `llama-perplexity` does.

use anyhow::{bail, Result};
use candle_core::Tensor;

use super::forward::log_softmax;
use super::sample::{entropy, top_k};
use super::{KvCache, Model};

/// What the model thought at one position, about the token that actually came next.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenScore {
    pub id: u32,
    pub logprob: f64,
    /// Entropy (nats) of the whole predicted distribution at this position.
    pub entropy: f64,
    pub top: Vec<(u32, f64)>,
}

/// How surprising a token was: its log-prob given the tokens before it, and the entropy (nats)
/// of that prediction.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Surprise {
    pub log_prob: f32,
    pub entropy: f32,
}

/// Positions scored per forward call (bounds the memory of the logits).
const CHUNK: usize = 256;

impl Model {
    /// `layer_states`, and from the same pass each token's surprise (the first token, predicted
    /// by nothing, gets zeros).
    pub fn layer_states_and_surprise(&self, ids: &[u32], layers: &[usize]) -> Result<(Vec<Tensor>, Vec<Surprise>)> {
        let (states, hidden) = self.transformer.layer_states_and_hidden(ids, layers)?;
        let mut surprise = vec![Surprise::default(); ids.len()];
        let predicting = ids.len().saturating_sub(1);
        for start in (0..predicting).step_by(CHUNK) {
            let n = CHUNK.min(predicting - start);
            let logits = self.transformer.logits_exact(&hidden.narrow(0, start, n)?)?;
            for (i, row) in rows(&log_softmax(&logits)?)?.iter().enumerate() {
                let next = ids[start + i + 1] as usize;
                surprise[start + i + 1] = Surprise { log_prob: row[next], entropy: entropy(row) as f32 };
            }
        }
        Ok((states, surprise))
    }

    /// Scores `tokens[1..]` given their prefixes, continuing `cache` (which may already hold a
    /// shared prefix). Returns one score per token after the first.
    pub fn score(&self, tokens: &[u32], cache: &mut KvCache, k: usize) -> Result<Vec<TokenScore>> {
        if tokens.len() < 2 {
            return Ok(Vec::new());
        }
        self.transformer.check_ids(tokens)?;
        if cache.len() + tokens.len() > cache.max_len() {
            bail!("{} tokens do not fit the model context of {} tokens", cache.len() + tokens.len(), cache.max_len());
        }
        let mut out = Vec::with_capacity(tokens.len() - 1);
        for start in (0..tokens.len() - 1).step_by(CHUNK) {
            let end = (start + CHUNK).min(tokens.len() - 1);
            let hidden = self.transformer.forward_hidden_exact(&tokens[start..end], cache)?;
            let logits = self.transformer.logits_exact(&hidden)?;
            let lp = rows(&log_softmax(&logits)?)?;
            for (i, row) in lp.iter().enumerate() {
                let next = tokens[start + i + 1];
                let top = top_k(row, k).into_iter().map(|(id, l)| (id, l as f64)).collect();
                out.push(TokenScore { id: next, logprob: row[next as usize] as f64, entropy: entropy(row), top });
            }
        }
        Ok(out)
    }

    /// Perplexity over non-overlapping windows of `n_ctx` tokens, scoring only the second half of
    /// each window, with BOS at the window start when the model wants one (llama-perplexity's
    /// method). Returns (perplexity, windows).
    pub fn perplexity(&self, tokens: &[u32], n_ctx: usize) -> Result<Perplexity> {
        // The second half of each window is scored: a window needs at least 3 tokens.
        if n_ctx < 3 {
            bail!("a perplexity window needs at least 3 tokens, got {n_ctx}");
        }
        let windows = tokens.len() / n_ctx;
        if windows == 0 {
            bail!("need at least {n_ctx} tokens for one window, have {}", tokens.len());
        }
        let first = n_ctx / 2;
        let (mut nll, mut count) = (0.0f64, 0usize);
        for w in 0..windows {
            let mut chunk = tokens[w * n_ctx..(w + 1) * n_ctx].to_vec();
            if self.add_bos {
                if let Some(b) = self.bos_id {
                    chunk[0] = b;
                }
            }
            let mut cache = self.new_cache();
            let logits = self.transformer.forward(&chunk, &mut cache)?;
            let lp = rows(&log_softmax(&logits.narrow(0, first, n_ctx - 1 - first)?)?)?;
            for (i, row) in lp.iter().enumerate() {
                nll -= row[chunk[first + i + 1] as usize] as f64;
                count += 1;
            }
        }
        Ok(Perplexity { value: (nll / count as f64).exp(), windows, scored: count })
    }
}

/// Windowed perplexity the way llama.cpp's llama-perplexity computes it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Perplexity {
    pub value: f64,
    /// Windows of n_ctx tokens.
    pub windows: usize,
    /// Tokens scored: the second half of each window but its last (n_ctx/2 - 1 each).
    pub scored: usize,
}

fn rows(t: &Tensor) -> Result<Vec<Vec<f32>>> {
    Ok(t.to_vec2::<f32>()?)
}
