//! Signals that may need a model: instability (from a trace's stored top-k log-probs, or by
//! teacher-forcing the trace through a local model) and answer conditional entropy per step.

use std::sync::Arc;

use anyhow::{anyhow, bail, Result};

use crate::model::sample::entropy;
use crate::model::{LanguageModel, Message};
use crate::signals::steps::{instability_summary, AnswerEntropy, Instability};
use crate::trace::store::{now_rfc3339, SignalData, SignalRecord};
use crate::trace::Trace;

/// Per-token top-k lists: (token text, log-prob).
pub type Tops = Vec<Vec<(String, f64)>>;

/// Top-k kept per position when teacher-forcing (the generation default).
pub const TOP_K: usize = 20;
/// What follows the steps before the answer is teacher-forced (methods.md §6, [U]).
pub const ANSWER_CUE: &str = "\nThe final answer is: ";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignalKind {
    Instability,
    AnswerEntropy,
}

impl SignalKind {
    pub fn parse(s: &str) -> Result<SignalKind> {
        match s.trim() {
            "instability" => Ok(SignalKind::Instability),
            "answer-entropy" => Ok(SignalKind::AnswerEntropy),
            other => bail!("unknown signal '{other}' (expected instability or answer-entropy)"),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            SignalKind::Instability => "instability",
            SignalKind::AnswerEntropy => "answer-entropy",
        }
    }
}

/// A loader of language models by spec (the caller's model door: it caches and reports).
pub type Loader<'a> = dyn FnMut(&str) -> Result<Arc<dyn LanguageModel>> + 'a;

/// Computes signals; the model (`spec`) is asked of the loader only when a signal needs one.
pub struct SignalRunner {
    spec: String,
    lambda: f64,
}

impl SignalRunner {
    pub fn new(spec: &str, lambda: f64) -> SignalRunner {
        SignalRunner { spec: spec.to_string(), lambda }
    }

    /// The model signals are teacher-forced through.
    pub fn model_spec(&self) -> &str {
        &self.spec
    }

    pub fn compute(&self, kind: SignalKind, trace: &Trace, load: &mut Loader) -> Result<SignalRecord> {
        self.compute_with(kind, trace, load, false)
    }

    /// `teacher_force`: run instability through the model even when the trace stored its
    /// generator's own top-k (to compare models on the same traces).
    pub fn compute_with(
        &self,
        kind: SignalKind,
        trace: &Trace,
        load: &mut Loader,
        teacher_force: bool,
    ) -> Result<SignalRecord> {
        if trace.steps.is_empty() {
            bail!("trace {} has no steps", trace.id);
        }
        let (source, data): (String, SignalData) = match kind {
            SignalKind::Instability => match stored_tops(trace).filter(|_| !teacher_force) {
                Some((tops, offsets)) => ("stored top-k".to_string(), self.summary(trace, &tops, &offsets).into()),
                None => {
                    let m = load(&self.spec)?;
                    let (tops, offsets, window) = teacher_forced_tops(m.as_ref(), trace)?;
                    let source = match window {
                        None => format!("teacher-forced:{}", m.name()),
                        Some(w) => format!("teacher-forced:{} (sliding window of {w} tokens)", m.name()),
                    };
                    (source, self.summary(trace, &tops, &offsets).into())
                }
            },
            SignalKind::AnswerEntropy => {
                let m = load(&self.spec)?;
                (format!("teacher-forced:{}", m.name()), answer_entropy(m.as_ref(), trace)?.into())
            }
        };
        Ok(SignalRecord { trace: trace.id.clone(), signal: kind.name().into(), source, data, ts: now_rfc3339() })
    }

    fn summary(&self, trace: &Trace, tops: &[Vec<(String, f64)>], offsets: &[usize]) -> Instability {
        let starts: Vec<usize> = trace.steps.iter().map(|s| s.start).collect();
        instability_summary(tops, offsets, &starts, self.lambda)
    }
}

/// Whether the trace stored per-token top-k lists (without copying them).
pub fn has_stored_tops(trace: &Trace) -> bool {
    trace.tokens.as_ref().is_some_and(|t| !t.is_empty() && t.iter().all(|x| !x.top.is_empty()))
}

/// The per-token top-k lists and offsets a generated trace stored, if it has them.
pub fn stored_tops(trace: &Trace) -> Option<(Tops, Vec<usize>)> {
    let tokens = trace.tokens.as_ref().filter(|_| has_stored_tops(trace))?;
    let tops = tokens.iter().map(|t| t.top.iter().map(|x| (x.token.clone(), x.logprob)).collect()).collect();
    Some((tops, tokens.iter().map(|t| t.offset).collect()))
}

/// The prompt a trace was generated from (stored by `generate`), else the problem as one user turn.
fn prompt_messages(trace: &Trace) -> Vec<Message> {
    match &trace.replay {
        Some(r) if !r.chat.is_empty() => r.chat.iter().map(|t| Message::new(&t.role, &t.content)).collect(),
        _ => vec![Message::new("user", &trace.problem)],
    }
}

/// Solution token ids: the generated ids when stored, else the tokenized solution; with the
/// byte offset of each token in the solution.
fn solution_tokens(m: &dyn LanguageModel, trace: &Trace) -> Result<(Vec<u32>, Vec<usize>)> {
    // The generated ids replay exactly, but only through the generator's own vocabulary: for
    // another model (they do not decode to the solution) the text is tokenized again.
    let ids = match &trace.replay {
        Some(r) if !r.token_ids.is_empty() && m.decode(&r.token_ids).is_ok_and(|t| t == trace.solution) => {
            r.token_ids.clone()
        }
        _ => m.encode(&trace.solution)?,
    };
    let offsets = token_offsets(m, &ids)?;
    Ok((ids, offsets))
}

/// The byte offset of each token in the decoded text: `decode(ids[..j]).len()` for token j.
/// Decoding every prefix would cost the square of a 30k-token trace, so tokens are decoded in
/// chunks after a point where decoding is additive (the text so far ends at a character
/// boundary); a chunk where it is not is decoded prefix by prefix, as before.
fn token_offsets(m: &dyn LanguageModel, ids: &[u32]) -> Result<Vec<usize>> {
    const CHUNK: usize = 64;
    let mut offsets = Vec::with_capacity(ids.len());
    let mut base = 0;
    for c in (0..ids.len()).step_by(CHUNK) {
        let end = (c + CHUNK).min(ids.len());
        let whole = m.decode(&ids[..end])?.len();
        if base + m.decode(&ids[c..end])?.len() == whole {
            for j in c..end {
                offsets.push(base + m.decode(&ids[c..j])?.len());
            }
        } else {
            for j in c..end {
                offsets.push(m.decode(&ids[..j])?.len());
            }
        }
        base = whole;
    }
    Ok(offsets)
}

/// Top-k lists the model gives at each solution token when the trace is teacher-forced after
/// its prompt, with token offsets, and the sliding window used (None: the whole trace fit).
///
/// A trace longer than the model's context is read in a sliding window: each pass holds the
/// prompt and the last `window` solution tokens and keeps the lists of its newer half, so every
/// token is predicted from at least half a window of the solution before it (the record says
/// so). A context too small for a useful window is an error, as before.
pub fn teacher_forced_tops(m: &dyn LanguageModel, trace: &Trace) -> Result<(Tops, Vec<usize>, Option<usize>)> {
    teacher_forced_tops_within(m, trace, m.context_length())
}

/// [`teacher_forced_tops`] as if the model's context were `context` tokens (at most its own).
pub fn teacher_forced_tops_within(
    m: &dyn LanguageModel,
    trace: &Trace,
    context: usize,
) -> Result<(Tops, Vec<usize>, Option<usize>)> {
    let context = context.min(m.context_length());
    let prompt = m.chat_prompt(&prompt_messages(trace))?;
    let prompt_len = prompt.len();
    let (sol, offsets) = solution_tokens(m, trace)?;
    let window = context.saturating_sub(prompt_len + 1);
    let top_list = |s: &crate::model::score::TokenScore| -> Vec<(String, f64)> {
        s.top.iter().map(|(id, lp)| (m.decode(&[*id]).unwrap_or_default(), *lp)).collect()
    };
    if sol.len() <= window {
        let ids: Vec<u32> = prompt.iter().chain(&sol).copied().collect();
        let scores = m.score(&mut m.start(), &ids, TOP_K)?;
        return Ok((scores[prompt_len - 1..].iter().map(top_list).collect(), offsets, None));
    }
    if window < MIN_WINDOW {
        bail!(
            "trace {}: prompt + solution is {} tokens, and the model context of {context} leaves {window} \
             for a sliding window (at least {MIN_WINDOW} needed); instability would be truncated",
            trace.id,
            prompt_len + sol.len()
        );
    }
    // Each pass predicts solution tokens [from, to) from the prompt and sol[to - window .. to).
    let mut tops: Tops = Vec::with_capacity(sol.len() + 1);
    let mut from = 0;
    while from < sol.len() {
        let to = if from == 0 { window } else { (from + window / 2).min(sol.len()) };
        let start = to.saturating_sub(window);
        let ids: Vec<u32> = prompt.iter().chain(&sol[start..to]).copied().collect();
        let scores = m.score(&mut m.start(), &ids, TOP_K)?;
        // The list at ids[i] predicts ids[i + 1]: sol[j] is predicted at prompt_len + (j - start) - 1.
        tops.extend((from..to).map(|j| top_list(&scores[prompt_len + (j - start) - 1])));
        from = to;
    }
    Ok((tops, offsets, Some(window)))
}

/// The smallest sliding window (solution tokens) instability is read through.
pub const MIN_WINDOW: usize = 64;

/// H(Y|C_k) for k = 0..n steps: mean full-vocabulary entropy of the answer tokens teacher-forced
/// after the problem and the first k steps. Consecutive contexts share their prefix in the cache.
pub fn answer_entropy(m: &dyn LanguageModel, trace: &Trace) -> Result<AnswerEntropy> {
    let (answer, source) = match (&trace.reference_answer, &trace.final_answer) {
        (Some(r), _) => (r.clone(), "reference"),
        (None, Some(f)) => (f.clone(), "self"),
        (None, None) => bail!("trace {} has neither a reference nor a final answer to score", trace.id),
    };
    let prompt = m.chat_prompt(&[Message::new("user", &trace.problem)])?;
    let y = m.encode(&answer)?;
    if y.is_empty() {
        bail!("trace {}: the answer `{answer}` has no tokens", trace.id);
    }
    let mut cache = m.start();
    let mut cached: Vec<u32> = Vec::new();
    let mut h = Vec::new();
    for k in 0..=trace.steps.len() {
        let steps: Vec<&str> = trace.steps[..k].iter().map(|s| s.text.trim()).collect();
        let mut ids = prompt.clone();
        ids.extend(m.encode(&format!("{}{ANSWER_CUE}", steps.join("\n\n")))?);
        let answer_at = ids.len();
        ids.extend(&y);
        if ids.len() > cache.max_len() {
            return Err(anyhow!(
                "trace {}: context after step {k} is {} tokens, more than the model context of {}",
                trace.id,
                ids.len(),
                cache.max_len()
            ));
        }
        let keep = cached.iter().zip(&ids).take_while(|(a, b)| a == b).count().min(answer_at - 1);
        cache.truncate(keep);
        // Row r predicts ids[keep + r + 1]; answer token j sits at answer_at + j. Only those
        // rows go through the LM head.
        let first = answer_at - 1 - keep;
        let rows = m.log_probs(&mut cache, &ids[keep..], first..first + y.len())?;
        h.push(rows.iter().map(|r| entropy(r)).sum::<f64>() / y.len() as f64);
        cached = ids;
    }
    Ok(AnswerEntropy::from_series(answer, source, h))
}
