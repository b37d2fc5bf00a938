//! A probe: a small head trained here (`stepscope train`) on the generator's own hidden states
//! at the token that ends each step. The head file is JSON: the weights, the standardisation,
//! and what it takes to trust it (base model fingerprint, layer, label sources, hashes of the
//! training problems, the threshold and the cross-validated metrics).
//!
//! The input is the model's chat prompt with the problem as the user's turn, then the steps as
//! the assistant writes them, each followed by a blank line; a step's row is the hidden state at
//! the last token of its blank line (the step is complete there, and nothing after it is seen).

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use std::sync::Arc;

use super::{Ctx, ModelInfo, Scored, StepScore, Verifier};
use crate::model::{LanguageModel, Message};
use crate::trace::Trace;

/// What the head is, beside its weights: enough to refuse a wrong model and to see leakage.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProbeHead {
    /// The format's version (1).
    pub probe: u32,
    /// The base model as it was named (`qwen2.5-coder-0.5b`, a path), and its fingerprint.
    pub model: String,
    pub model_fingerprint: String,
    /// The residual stream after this layer (1-based).
    pub layer: usize,
    /// What it predicts: `prm` (P(step is right | steps so far)) or `orm` (P(the final answer
    /// will be right | steps so far)).
    pub target: String,
    /// Standardisation of each feature before the linear head.
    pub mean: Vec<f32>,
    pub scale: Vec<f32>,
    pub weights: Vec<f32>,
    pub bias: f32,
    /// First-error threshold τ on P(step right), chosen on the training folds.
    pub threshold: f64,
    /// Where its labels came from: `dataset:FILE@fingerprint` with counts.
    pub sources: Vec<String>,
    /// Hashes of the training problems' text (`eval` says when a file shares problems).
    pub problems: Vec<String>,
    /// Cross-validated metrics, as `train --json` printed them.
    pub metrics: serde_json::Value,
}

impl ProbeHead {
    pub fn read(path: &std::path::Path) -> Result<ProbeHead> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("{}: cannot read the probe head", path.display()))?;
        let head: ProbeHead =
            serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("{}: not a probe head: {e}", path.display()))?;
        let n = head.weights.len();
        if head.probe != 1 || n == 0 || head.mean.len() != n || head.scale.len() != n {
            bail!("{}: not a probe head of format 1 with matching weights and standardisation", path.display());
        }
        Ok(head)
    }

    /// P(step right) of each row of features (one row per step).
    pub fn score_rows(&self, rows: &[Vec<f32>]) -> Vec<f64> {
        let linear = Linear { mean: &self.mean, scale: &self.scale, weights: &self.weights, bias: self.bias };
        rows.iter().map(|r| linear.prob(r)).collect()
    }
}

/// A logistic head on standardised features: what training fits and a head file holds.
pub struct Linear<'a> {
    pub mean: &'a [f32],
    pub scale: &'a [f32],
    pub weights: &'a [f32],
    pub bias: f32,
}

impl Linear<'_> {
    /// sigmoid(bias + Σ w·(x − mean)/scale).
    pub fn prob(&self, row: &[f32]) -> f64 {
        let z = row.iter().zip(self.mean).zip(self.scale).map(|((x, m), s)| (x - m) / s);
        let logit = f64::from(self.bias) + z.zip(self.weights).map(|(z, w)| f64::from(z * w)).sum::<f64>();
        1.0 / (1.0 + (-logit).exp())
    }
}

/// The token ids a probe reads for a problem and its steps, and the row of each step.
pub fn probe_input(model: &dyn LanguageModel, problem: &str, steps: &[&str]) -> Result<(Vec<u32>, Vec<usize>)> {
    let mut ids = model.chat_prompt(&[Message::new("user", problem)])?;
    let separator = model.encode("\n\n")?;
    let mut positions = Vec::with_capacity(steps.len());
    for s in steps {
        ids.extend(model.encode(s.trim())?);
        ids.extend(&separator);
        positions.push(ids.len() - 1);
    }
    Ok((ids, positions))
}

/// Each step's hidden state after each of `layers`: `[layer][step][feature]`. One forward pass.
pub fn step_features(
    model: &dyn LanguageModel,
    problem: &str,
    steps: &[&str],
    layers: &[usize],
) -> Result<Vec<Vec<Vec<f32>>>> {
    if steps.is_empty() {
        bail!("a trace without steps has nothing to probe");
    }
    let (ids, positions) = probe_input(model, problem, steps)?;
    let states = model.layer_states(&ids, layers)?;
    let at = candle_core::Tensor::new(
        positions.iter().map(|&p| p as u32).collect::<Vec<_>>().as_slice(),
        states[0].device(),
    )?;
    states.iter().map(|s| Ok(s.index_select(&at, 0)?.to_vec2::<f32>()?)).collect()
}

/// `probe:HEAD`: the head's P(step right) for every step, from one forward pass of its base
/// model (refused when the model's weights are not the ones it was trained on).
pub struct ProbeVerifier {
    path: String,
    head: ProbeHead,
    info: ModelInfo,
    model: Arc<dyn LanguageModel>,
}

impl ProbeVerifier {
    /// The head at `path` on `model` (the one its file names, loaded by the caller).
    pub fn new(path: &str, head: ProbeHead, model: Arc<dyn LanguageModel>) -> Result<ProbeVerifier> {
        let now = model.fingerprint();
        if now != head.model_fingerprint {
            bail!(
                "{path}: the probe was trained on {} with fingerprint {}, but that model now has {now}; train it again",
                head.model,
                head.model_fingerprint
            );
        }
        let info = ModelInfo { path: path.to_string(), hash: crate::model::fingerprint(std::path::Path::new(path)) };
        Ok(ProbeVerifier { path: path.to_string(), head, info, model })
    }
}

impl Verifier for ProbeVerifier {
    fn spec(&self) -> String {
        format!("probe:{}", self.path)
    }

    fn model(&self) -> Option<ModelInfo> {
        Some(self.info.clone())
    }

    fn default_threshold(&self) -> f64 {
        self.head.threshold
    }

    fn score(&mut self, trace: &Trace, _ctx: &mut Ctx) -> Result<Scored> {
        let rows = step_features(self.model.as_ref(), &trace.problem, &trace.step_texts(), &[self.head.layer])?;
        let layer = format!("layer {} of {}", self.head.layer, self.head.model);
        let what = if self.head.target == "orm" { "P(answer right)" } else { "P(right)" };
        let steps = self
            .head
            .score_rows(&rows[0])
            .into_iter()
            .map(|p| StepScore::new(p, format!("{what} {p:.3} · {layer}")))
            .collect();
        Ok(Scored { steps, truncated: None, forward_passes: 1 })
    }
}

/// Five layers spread over the model's depth, for `--layer auto` (the middle third is where
/// probes usually read best; the last layer is kept as a reference).
pub fn candidate_layers(num_layers: usize) -> Vec<usize> {
    let mut v: Vec<usize> = [0.33, 0.5, 0.66, 0.8, 1.0]
        .iter()
        .map(|f| ((num_layers as f64 * f).round() as usize).clamp(1, num_layers))
        .collect();
    v.dedup();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_standardises_then_weighs() {
        let head = ProbeHead {
            probe: 1,
            mean: vec![1.0, 0.0],
            scale: vec![2.0, 1.0],
            weights: vec![1.0, -1.0],
            bias: 0.5,
            ..ProbeHead::default()
        };
        // z = (1.5, 2) → 0.5 + 1.5 − 2 = 0.0 → 0.5.
        let p = head.score_rows(&[vec![4.0, 2.0]]);
        assert!((p[0] - 0.5).abs() < 1e-9, "{p:?}");
        assert_eq!(candidate_layers(24), [8, 12, 16, 19, 24]);
        assert_eq!(candidate_layers(2), [1, 2]);
    }
}
