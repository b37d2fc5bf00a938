//! Streaming generation with per-token log-prob and top-k alternatives, stop strings, a token
//! limit and cancellation between tokens.

use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Result;

use super::forward::log_softmax;
use super::sample::{sample, top_k, Rng, SamplingParams};
use super::{KvCache, Model};

#[derive(Debug, Clone)]
pub struct GenerateParams {
    pub max_tokens: usize,
    pub sampling: SamplingParams,
    pub stop: Vec<String>,
    /// Alternatives kept per generated token.
    pub top_k: usize,
    /// Stop once the line holding the final answer (`\boxed{…}`, `#### …`) is finished: what a
    /// small model writes after it (a justification, the instruction echoed) is no solution.
    pub stop_at_answer: bool,
}

impl GenerateParams {
    /// The parameters of sample `n` of several: the seed moves on by `n`.
    pub fn for_sample(&self, n: usize) -> GenerateParams {
        let mut p = self.clone();
        p.sampling.seed = self.sampling.seed.wrapping_add(n as u64);
        p
    }
}

impl Default for GenerateParams {
    fn default() -> Self {
        GenerateParams {
            max_tokens: 256,
            sampling: SamplingParams::default(),
            stop: Vec::new(),
            top_k: 20,
            stop_at_answer: false,
        }
    }
}

/// One generated token as it streams out.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratedToken {
    pub id: u32,
    pub text: String,
    pub logprob: f64,
    /// Byte offset of the token's text in the generated text.
    pub offset: usize,
    pub top: Vec<(String, f64)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    Eos,
    StopString,
    /// The line with the final answer ended (`GenerateParams::stop_at_answer`).
    Answer,
    MaxTokens,
    ContextFull,
    Cancelled,
}

#[derive(Debug, Clone)]
pub struct Generation {
    pub text: String,
    pub tokens: Vec<GeneratedToken>,
    pub stop: StopReason,
    pub prompt_tokens: usize,
}

/// Where the final answer's line ends, once it has: the newline after the first complete
/// `\boxed{…}` or after a `#### …` line. `None` while no such line is finished.
pub fn answer_end(text: &str) -> Option<usize> {
    let after_box = text.find("\\boxed{").and_then(|at| crate::latex::boxed_body(text, at)).map(|body| body.end + 1);
    let after_hashes =
        text.match_indices("####").map(|(k, _)| k + 4).find(|&k| k == 4 || text[..k - 4].ends_with('\n'));
    let from = [after_box, after_hashes].into_iter().flatten().min()?;
    text[from..].find('\n').map(|k| from + k)
}

/// One continuation of a batch: the tokens to feed after what `cache` holds, then generation
/// with `params`.
pub struct BatchJob<'a> {
    pub cache: &'a mut KvCache,
    pub feed: &'a [u32],
    pub params: &'a GenerateParams,
}

/// A sequence being generated: its sampler and what it has produced so far.
struct Stream<'p> {
    params: &'p GenerateParams,
    rng: Rng,
    ids: Vec<u32>,
    text: String,
    tokens: Vec<GeneratedToken>,
    stop: Option<StopReason>,
}

impl<'p> Stream<'p> {
    fn new(params: &'p GenerateParams) -> Stream<'p> {
        Stream {
            params,
            rng: Rng::new(params.sampling.seed),
            ids: Vec::new(),
            text: String::new(),
            tokens: Vec::new(),
            stop: None,
        }
    }

    /// Takes the next token from the log-probs `lp`; the token to feed next, or None once the
    /// sequence has stopped (`self.stop` says why). A new token goes to `on_token` first.
    fn take(&mut self, model: &Model, lp: &[f32], on_token: &mut dyn FnMut(&GeneratedToken)) -> Result<Option<u32>> {
        let params = self.params;
        if self.tokens.len() >= params.max_tokens {
            return Ok(self.end(StopReason::MaxTokens));
        }
        let id = sample(lp, &params.sampling, &mut self.rng);
        if model.eos_ids.contains(&id) {
            return Ok(self.end(StopReason::Eos));
        }
        self.ids.push(id);
        let full = model.decode(&self.ids)?;
        let piece = if full.starts_with(&self.text) { full[self.text.len()..].to_string() } else { full.clone() };
        let top = top_k(lp, params.top_k)
            .into_iter()
            .map(|(t, l)| (model.decode(&[t]).unwrap_or_default(), l as f64))
            .collect();
        let token = GeneratedToken { id, text: piece, logprob: lp[id as usize] as f64, offset: self.text.len(), top };
        on_token(&token);
        self.tokens.push(token);
        self.text = full;
        if let Some(at) = params.stop.iter().filter_map(|s| self.text.find(s.as_str())).min() {
            self.text.truncate(at);
            return Ok(self.end(StopReason::StopString));
        }
        if let Some(at) = params.stop_at_answer.then(|| answer_end(&self.text)).flatten() {
            self.text.truncate(at);
            return Ok(self.end(StopReason::Answer));
        }
        Ok(Some(id))
    }

    fn end(&mut self, why: StopReason) -> Option<u32> {
        self.stop = Some(why);
        None
    }
}

impl Model {
    /// Generates after `prompt`, calling `on_token` for each token. The cache is left holding the
    /// prompt and the generated tokens, so a caller can fork it.
    pub fn generate(
        &self,
        prompt: &[u32],
        cache: &mut KvCache,
        params: &GenerateParams,
        cancel: &AtomicBool,
        on_token: &mut dyn FnMut(&GeneratedToken),
    ) -> Result<Generation> {
        let mut jobs = [BatchJob { cache, feed: prompt, params }];
        let mut out = self.generate_batch(&mut jobs, cancel, &mut |_, t| on_token(t))?;
        Ok(out.remove(0))
    }

    /// Several continuations at once, each after its own cache and with its own parameters
    /// (seed, limits, stops): every step is one forward pass over the sequences still running,
    /// so the weights are read once per step for all of them. A sequence's tokens are those
    /// `generate` gives it alone (same kernels, same sums, its own sampler). `on_token(i, t)`
    /// reports token `t` of job `i`; each cache is left holding its sequence.
    pub fn generate_batch(
        &self,
        jobs: &mut [BatchJob],
        cancel: &AtomicBool,
        on_token: &mut dyn FnMut(usize, &GeneratedToken),
    ) -> Result<Vec<Generation>> {
        let mut streams: Vec<Stream> = jobs.iter().map(|j| Stream::new(j.params)).collect();
        // (job, tokens to feed) for the sequences still running.
        let mut live: Vec<(usize, Vec<u32>)> = jobs.iter().enumerate().map(|(i, j)| (i, j.feed.to_vec())).collect();
        while !live.is_empty() {
            let lps = self.next_log_probs(jobs, &live)?;
            if cancel.load(Ordering::Relaxed) {
                for (i, _) in &live {
                    streams[*i].stop = Some(StopReason::Cancelled);
                }
                break;
            }
            let mut next = Vec::with_capacity(live.len());
            for ((i, _), lp) in live.iter().zip(&lps) {
                let i = *i;
                let Some(id) = streams[i].take(self, lp, &mut |t| on_token(i, t))? else { continue };
                if jobs[i].cache.len() >= jobs[i].cache.max_len() {
                    streams[i].stop = Some(StopReason::ContextFull);
                    continue;
                }
                next.push((i, vec![id]));
            }
            live = next;
        }
        Ok(streams
            .into_iter()
            .zip(jobs.iter())
            .map(|(s, j)| Generation {
                text: s.text,
                tokens: s.tokens,
                stop: s.stop.unwrap_or(StopReason::MaxTokens),
                prompt_tokens: j.feed.len(),
            })
            .collect())
    }

    /// Feeds each live sequence its tokens in one pass; the log-probs after its last token.
    fn next_log_probs(&self, jobs: &mut [BatchJob], live: &[(usize, Vec<u32>)]) -> Result<Vec<Vec<f32>>> {
        let feeds: Vec<&[u32]> = live.iter().map(|(_, f)| f.as_slice()).collect();
        let mut caches: Vec<&mut KvCache> = Vec::with_capacity(live.len());
        let mut wanted = live.iter().map(|(i, _)| *i).peekable();
        for (i, job) in jobs.iter_mut().enumerate() {
            if wanted.next_if_eq(&i).is_some() {
                caches.push(&mut *job.cache);
            }
        }
        let hidden = self.transformer.forward_hidden_batch(&feeds, &mut caches)?;
        // Only each sequence's last row goes through the LM head.
        let mut last = Vec::with_capacity(feeds.len());
        let mut end = 0u32;
        for f in &feeds {
            end += f.len() as u32;
            last.push(end - 1);
        }
        let rows = hidden.index_select(&candle_core::Tensor::new(last.as_slice(), hidden.device())?, 0)?;
        Ok(log_softmax(&self.transformer.logits(&rows)?)?.to_vec2::<f32>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::answer_end;

    #[test]
    fn the_answer_line_ends_the_solution() {
        let text = "So 4 × 6 = 24.\n\nThe answer is \\boxed{24}.\n\nJustification: step 2 was wrong.";
        assert_eq!(&text[..answer_end(text).unwrap()], "So 4 × 6 = 24.\n\nThe answer is \\boxed{24}.");
        // Not before the line is finished, nor inside nested braces.
        assert_eq!(answer_end("The answer is \\boxed{24}"), None);
        assert_eq!(answer_end("\\boxed{\\frac{1}{2}\n"), None);
        let nested = "$\\boxed{\\frac{1}{2}}$\nmore";
        assert_eq!(&nested[..answer_end(nested).unwrap()], "$\\boxed{\\frac{1}{2}}$");
        assert_eq!(answer_end("Total 5.\n#### 5\nextra"), Some(15));
        assert_eq!(answer_end("no answer yet\n"), None);
    }
}
