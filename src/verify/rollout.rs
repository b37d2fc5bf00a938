//! `rollout:MODEL`: GLoRe SORM labels by Monte Carlo (methods.md §1.2). From the prefix ending at
//! each step, K continuations are sampled; the step's value is the share that reaches the
//! reference answer, and its hard label is whether any does. Labels are then back-propagated
//! (§1.2 4a, on by default in GLoRe's design): a prefix before a recoverable one is recoverable
//! too, so a step's score is the highest share of any prefix from it on, and the default
//! threshold makes the step after the last recoverable prefix the first error (a step whose K
//! continuations all happened to miss, followed by one that recovers, is no longer flagged).
//! The raw share stays in each step's detail. The KV cache of each prefix
//! is computed once and forked for its K samples, which decode together (one forward pass per
//! token for all K on the local runtime).

use std::sync::Arc;

use anyhow::{bail, Result};

use super::{model_info, Ctx, ModelInfo, Options, Scored, StepScore, Verifier};
use crate::model::generate::GenerateParams;
use crate::model::lm::sample_from;
use crate::model::sample::SamplingParams;
use crate::model::{LanguageModel, Message};
use crate::trace::answer::{extract_answer, same_answer};
use crate::trace::{Label, Trace};

/// GLoRe's positive back-propagation (methods.md §1.2 4a) on the shares: each step's score is
/// the highest share of its own prefix and every later one, so scores never rise along a trace
/// and the first below any threshold under the lowest positive share is the step after the last
/// recoverable prefix.
pub fn back_propagated(values: &[f64]) -> Vec<f64> {
    let mut best = 0f64;
    let mut out: Vec<f64> = values
        .iter()
        .rev()
        .map(|&v| {
            best = best.max(v);
            best
        })
        .collect();
    out.reverse();
    out
}

/// The GLoRe SORM label of a trace from its stored rollout values (methods.md §1.2, steps 3
/// and 4a): a prefix is recoverable when any of its continuations reached the reference
/// (value > 0), and every prefix before a recoverable one is recoverable too, so the first error
/// is the step after the last recoverable one. None when a step was left unscored (beyond the
/// model's context) or there are no steps: such a trace does not teach.
pub fn sorm_label(values: &[Option<f64>]) -> Option<Label> {
    let values: Vec<f64> = values.iter().copied().collect::<Option<_>>()?;
    if values.is_empty() {
        return None;
    }
    // Back-propagated, the shares fall to 0 at the step after the last recoverable prefix.
    Some(match back_propagated(&values).iter().position(|&v| v <= 0.0) {
        Some(first) => Label::FirstError(first),
        None => Label::NoError,
    })
}

pub struct RolloutVerifier {
    model: Arc<dyn LanguageModel>,
    name: String,
    k: usize,
    max_tokens: usize,
    seed: u64,
    sequential: bool,
}

pub const ROLLOUT_INSTRUCTION: &str = "Solve the problem step by step. End with \"The answer is\" and the number.";

impl RolloutVerifier {
    pub fn new(model: Arc<dyn LanguageModel>, name: &str, opts: &Options) -> RolloutVerifier {
        RolloutVerifier {
            model,
            name: name.to_string(),
            k: opts.rollouts.max(1),
            max_tokens: opts.max_tokens,
            seed: opts.seed,
            sequential: opts.sequential,
        }
    }
}

impl Verifier for RolloutVerifier {
    fn spec(&self) -> String {
        super::VerifierSpec::Rollout { model: self.name.clone(), rollouts: Some(self.k) }.to_string()
    }

    fn model(&self) -> Option<ModelInfo> {
        Some(model_info(self.model.as_ref()))
    }

    /// Below one success in K: the hard SORM label.
    fn default_threshold(&self) -> f64 {
        0.5 / self.k as f64
    }

    fn score(&mut self, trace: &Trace, ctx: &mut Ctx) -> Result<Scored> {
        let Some(reference) = trace.reference_answer.clone() else {
            bail!("rollout needs a reference answer and trace {} has none", trace.id);
        };
        let m = &self.model;
        let steps = trace.step_texts();
        let question = format!("{}\n\n{ROLLOUT_INSTRUCTION}", trace.problem);
        let prompt = m.chat_prompt(&[Message::new("user", &question)])?;
        let mut base = m.start();
        // The tokens `base` holds: the prompt and the steps so far, minus the last token, which
        // each rollout feeds itself to get its first logits.
        let mut fed: Vec<u32> = Vec::new();
        let mut prefix_text = String::new();
        let mut out = Vec::new();
        let mut truncated = None;
        let mut passes = 0;
        for (i, step) in steps.iter().enumerate() {
            prefix_text.push_str(step.trim());
            prefix_text.push_str("\n\n");
            // Encode the growing assistant text whole (token boundaries can shift at the join),
            // then feed only what the cache does not hold yet.
            let mut ids = prompt.clone();
            ids.extend(m.encode(&prefix_text)?);
            if ids.len() + self.max_tokens > base.max_len() {
                truncated = Some(format!(
                    "steps {}–{} not scored: prefix of {} tokens plus {} generated exceeds the model context {}",
                    i + 1,
                    steps.len(),
                    ids.len(),
                    self.max_tokens,
                    base.max_len()
                ));
                break;
            }
            let keep = fed.iter().zip(&ids).take_while(|(a, b)| a == b).count().min(ids.len() - 1);
            base.truncate(keep);
            let pending = &ids[base.len()..ids.len() - 1];
            if !pending.is_empty() {
                m.extend(&mut base, pending)?;
                passes += 1;
            }
            fed = ids[..ids.len() - 1].to_vec();
            let last = ids[ids.len() - 1];
            ctx.check_cancel()?;
            let how = if self.sequential { "one after another" } else { "at once" };
            (ctx.progress)(&format!("{}: step {}/{} ({} rollouts {how})", trace.id, i + 1, steps.len(), self.k));
            // The K continuations decode together (one forward pass per token serves all of them),
            // unless --sequential.
            let params: Vec<GenerateParams> = (0..self.k)
                .map(|s| {
                    let sampling =
                        SamplingParams { temperature: 0.7, top_p: 0.95, seed: self.seed + (i * self.k + s) as u64 };
                    GenerateParams { max_tokens: self.max_tokens, sampling, top_k: 1, ..GenerateParams::default() }
                })
                .collect();
            let generations =
                sample_from(m.as_ref(), &base, &[last], &params, self.sequential, ctx.cancel, &mut |_, _| {})?;
            passes += self.k;
            ctx.check_cancel()?;
            let mut hits = 0;
            let mut answers = Vec::new();
            for g in generations {
                let answer = extract_answer(&format!("{prefix_text}{}", g.text));
                if answer.as_deref().is_some_and(|a| same_answer(a, &reference)) {
                    hits += 1;
                }
                answers.push(answer.unwrap_or_else(|| "?".into()));
            }
            let value = hits as f64 / self.k as f64;
            out.push(StepScore::new(
                value,
                format!("{hits}/{} rollouts reach {reference} (answers: {})", self.k, answers.join(", ")),
            ));
        }
        let shares: Vec<f64> = out.iter().filter_map(|s| s.score).collect();
        for (step, (share, kept)) in out.iter_mut().zip(shares.iter().zip(back_propagated(&shares))) {
            if kept > *share {
                step.score = Some(kept);
                step.detail.push_str(&format!(" · {kept:.2}: a later prefix still recovers (GLoRe 4a)"));
            }
        }
        while out.len() < steps.len() {
            out.push(StepScore::none("beyond the model context"));
        }
        Ok(Scored { steps: out, truncated, forward_passes: passes })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_error_follows_the_last_recoverable_step() {
        let label = |v: &[f64]| sorm_label(&v.iter().map(|&x| Some(x)).collect::<Vec<_>>());
        assert_eq!(label(&[1.0, 0.5, 0.25]), Some(Label::NoError));
        assert_eq!(label(&[1.0, 0.5, 0.0, 0.0]), Some(Label::FirstError(2)));
        // A later success makes the steps before it recoverable (positive back-propagation).
        assert_eq!(label(&[0.0, 0.25, 0.0]), Some(Label::FirstError(2)));
        assert_eq!(label(&[0.0, 0.0, 0.75]), Some(Label::NoError));
        assert_eq!(label(&[0.0, 0.0]), Some(Label::FirstError(0)));
        assert_eq!(label(&[]), None);
        assert_eq!(sorm_label(&[Some(1.0), None]), None, "a step beyond the context leaves the trace unlabelled");
    }

    /// Hand-worked: a share only rises to the best share of a later prefix; with the default
    /// threshold (half a success in K) the first error is the step after the last recoverable
    /// prefix, the same step `sorm_label` names.
    #[test]
    fn back_propagation_keeps_a_step_before_a_recovery() {
        let shares = [0.0, 0.25, 0.0, 0.5, 0.0, 0.0];
        let kept = back_propagated(&shares);
        assert_eq!(kept, [0.5, 0.5, 0.5, 0.5, 0.0, 0.0]);
        assert_eq!(crate::signals::first_below(&kept, 0.5 / 4.0), Some(4));
        assert_eq!(crate::signals::first_below(&shares, 0.5 / 4.0), Some(0), "the raw shares flag step 1");
        let label = sorm_label(&shares.iter().map(|&v| Some(v)).collect::<Vec<_>>());
        assert_eq!(label, Some(Label::FirstError(4)));
        assert_eq!(back_propagated(&[0.75, 0.25]), [0.75, 0.25], "falling shares stay as they are");
        assert!(back_propagated(&[]).is_empty());
    }
}
