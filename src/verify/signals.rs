//! Signals that may need a model: instability (from a trace's stored top-k log-probs, or by
//! teacher-forcing the trace through a local model) and answer conditional entropy per step.

use std::sync::Arc;

use anyhow::{anyhow, bail, Result};
use serde_json::json;

use crate::model::forward::log_softmax;
use crate::model::sample::entropy;
use crate::model::{LoadOptions, Message, Model};
use crate::signals::steps::{entropy_trend, instability_summary};
use crate::trace::store::{now_rfc3339, SignalRecord};
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

/// Computes signals, loading the model on first need.
pub struct SignalRunner {
    spec: String,
    load: LoadOptions,
    lambda: f64,
    model: Option<Arc<Model>>,
}

impl SignalRunner {
    pub fn new(spec: &str, load: LoadOptions, lambda: f64) -> SignalRunner {
        SignalRunner { spec: spec.to_string(), load, lambda, model: None }
    }

    pub fn with_model(model: Arc<Model>, spec: &str, lambda: f64) -> SignalRunner {
        SignalRunner { spec: spec.to_string(), load: LoadOptions::default(), lambda, model: Some(model) }
    }

    fn model(&mut self) -> Result<Arc<Model>> {
        if self.model.is_none() {
            let m = crate::model::load(&self.spec, self.load, &mut |l| {
                use std::io::Write;
                let _ = writeln!(std::io::stderr(), "{l}");
            })?;
            self.model = Some(Arc::new(m));
        }
        Ok(self.model.clone().expect("loaded"))
    }

    pub fn compute(&mut self, kind: SignalKind, trace: &Trace) -> Result<SignalRecord> {
        if trace.steps.is_empty() {
            bail!("trace {} has no steps", trace.id);
        }
        let (source, data) = match kind {
            SignalKind::Instability => match stored_tops(trace) {
                Some((tops, offsets)) => ("stored top-k".to_string(), self.summary(trace, &tops, &offsets)),
                None => {
                    let m = self.model()?;
                    let (tops, offsets) = teacher_forced_tops(&m, trace)?;
                    (format!("teacher-forced:{}", m.name), self.summary(trace, &tops, &offsets))
                }
            },
            SignalKind::AnswerEntropy => {
                let m = self.model()?;
                (format!("teacher-forced:{}", m.name), answer_entropy(&m, trace)?)
            }
        };
        Ok(SignalRecord { trace: trace.id.clone(), signal: kind.name().into(), source, data, ts: now_rfc3339() })
    }

    fn summary(&self, trace: &Trace, tops: &[Vec<(String, f64)>], offsets: &[usize]) -> serde_json::Value {
        let starts: Vec<usize> = trace.steps.iter().map(|s| s.start).collect();
        instability_summary(tops, offsets, &starts, self.lambda)
    }
}

/// The per-token top-k lists and offsets a generated trace stored, if it has them.
pub fn stored_tops(trace: &Trace) -> Option<(Tops, Vec<usize>)> {
    let tokens = trace.tokens.as_ref().filter(|t| !t.is_empty() && t.iter().all(|x| !x.top.is_empty()))?;
    let tops = tokens.iter().map(|t| t.top.iter().map(|x| (x.token.clone(), x.logprob)).collect()).collect();
    Some((tops, tokens.iter().map(|t| t.offset).collect()))
}

/// The prompt a trace was generated from (stored by `generate`), else the problem as one user turn.
fn prompt_messages(trace: &Trace) -> Vec<Message> {
    let stored = trace.extra.get("chat").and_then(|c| c.as_array()).map(|turns| {
        turns
            .iter()
            .filter_map(|t| Some(Message::new(t.get("role")?.as_str()?, t.get("content")?.as_str()?)))
            .collect::<Vec<_>>()
    });
    stored.filter(|m| !m.is_empty()).unwrap_or_else(|| vec![Message::new("user", &trace.problem)])
}

/// Solution token ids: the generated ids when stored, else the tokenized solution; with the
/// byte offset of each token in the solution.
fn solution_tokens(m: &Model, trace: &Trace) -> Result<(Vec<u32>, Vec<usize>)> {
    let stored: Option<Vec<u32>> = trace
        .extra
        .get("token_ids")
        .and_then(|v| v.as_array())
        .map(|a| a.iter().filter_map(|x| x.as_u64().map(|n| n as u32)).collect());
    let ids = match stored {
        Some(ids) if !ids.is_empty() => ids,
        _ => m.encode(&trace.solution)?,
    };
    let mut offsets = Vec::with_capacity(ids.len());
    let mut text_len = 0;
    for j in 0..ids.len() {
        offsets.push(text_len);
        text_len = m.decode(&ids[..=j])?.len();
    }
    Ok((ids, offsets))
}

/// Top-k lists the model gives at each solution token when the trace is teacher-forced after
/// its prompt, with token offsets. Reports truncation as an error: a partial series would hide
/// the end of the trace.
pub fn teacher_forced_tops(m: &Model, trace: &Trace) -> Result<(Tops, Vec<usize>)> {
    let mut ids = m.chat_prompt(&prompt_messages(trace))?;
    let prompt_len = ids.len();
    let (sol, offsets) = solution_tokens(m, trace)?;
    ids.extend(&sol);
    let context = m.transformer.config.context_length;
    if ids.len() > context {
        bail!(
            "trace {}: prompt + solution is {} tokens, more than the model context of {context}; \
             instability would be truncated",
            trace.id,
            ids.len()
        );
    }
    let mut cache = m.new_cache();
    let scores = m.score(&ids, &mut cache, TOP_K)?;
    let tops = scores[prompt_len - 1..]
        .iter()
        .map(|s| s.top.iter().map(|(id, lp)| (m.decode(&[*id]).unwrap_or_default(), *lp)).collect())
        .collect();
    Ok((tops, offsets))
}

/// H(Y|C_k) for k = 0..n steps: mean full-vocabulary entropy of the answer tokens teacher-forced
/// after the problem and the first k steps. Consecutive contexts share their prefix in the cache.
pub fn answer_entropy(m: &Model, trace: &Trace) -> Result<serde_json::Value> {
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
    let mut cache = m.new_cache();
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
        let hidden = m.transformer.forward_hidden_exact(&ids[keep..], &mut cache)?;
        // Row r predicts ids[keep + r + 1]; answer token j sits at answer_at + j. Only those
        // rows go through the LM head.
        let answer_rows = hidden.narrow(0, answer_at - 1 - keep, y.len())?;
        let rows = log_softmax(&m.transformer.logits_exact(&answer_rows)?)?.to_vec2::<f32>()?;
        h.push(rows.iter().map(|r| entropy(r)).sum::<f64>() / y.len() as f64);
        cached = ids;
    }
    let delta: Vec<f64> = h.windows(2).map(|w| w[0] - w[1]).collect();
    let (slope, trend, violations) = entropy_trend(&h);
    Ok(json!({
        "answer": answer, "answer_source": source, "h": h, "delta": delta,
        "slope": slope, "trend": trend, "violations": violations,
    }))
}
