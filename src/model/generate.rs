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
        let mut rng = Rng::new(params.sampling.seed);
        let mut logits = self.transformer.forward(prompt, cache)?;
        let mut ids: Vec<u32> = Vec::new();
        let mut text = String::new();
        let mut tokens = Vec::new();
        let stop = loop {
            if cancel.load(Ordering::Relaxed) {
                break StopReason::Cancelled;
            }
            if tokens.len() >= params.max_tokens {
                break StopReason::MaxTokens;
            }
            let last = logits.dim(0)? - 1;
            let lp: Vec<f32> = log_softmax(&logits.narrow(0, last, 1)?)?.squeeze(0)?.to_vec1()?;
            let id = sample(&lp, &params.sampling, &mut rng);
            if self.eos_ids.contains(&id) {
                break StopReason::Eos;
            }
            ids.push(id);
            let full = self.decode(&ids)?;
            let piece = if full.starts_with(&text) { full[text.len()..].to_string() } else { full.clone() };
            let top = top_k(&lp, params.top_k)
                .into_iter()
                .map(|(t, l)| (self.decode(&[t]).unwrap_or_default(), l as f64))
                .collect();
            let token = GeneratedToken { id, text: piece, logprob: lp[id as usize] as f64, offset: text.len(), top };
            on_token(&token);
            tokens.push(token);
            text = full;
            if let Some(at) = params.stop.iter().filter_map(|s| text.find(s.as_str())).min() {
                text.truncate(at);
                break StopReason::StopString;
            }
            if let Some(at) = params.stop_at_answer.then(|| answer_end(&text)).flatten() {
                text.truncate(at);
                break StopReason::Answer;
            }
            if cache.len() >= cache.max_len() {
                break StopReason::ContextFull;
            }
            logits = self.transformer.forward(&[id], cache)?;
        };
        Ok(Generation { text, tokens, stop, prompt_tokens: prompt.len() })
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
