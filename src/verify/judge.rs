//! `judge:MODEL`: per-step P(correct) from an instruct model's next-token probabilities of
//! "Yes" against "No", asked after each step. Consecutive prompts share everything up to the
//! step just added, so the KV cache is rewound to the longest common token prefix instead of
//! recomputing it.

use std::sync::Arc;

use anyhow::Result;

use super::{model_info, Ctx, ModelInfo, Scored, StepScore, Verifier};
use crate::model::{LanguageModel, Message};
use crate::trace::Trace;

pub struct JudgeVerifier {
    model: Arc<dyn LanguageModel>,
    name: String,
    yes: Vec<u32>,
    no: Vec<u32>,
}

/// The user message asking about step `k` (0-based) given the steps before it.
pub fn judge_prompt(problem: &str, steps: &[&str], k: usize) -> String {
    let mut s = format!("Check a math solution one step at a time.\n\nProblem:\n{problem}\n\nSolution steps so far:\n");
    for (i, step) in steps[..=k].iter().enumerate() {
        s.push_str(&format!("Step {}: {}\n", i + 1, step.trim()));
    }
    s.push_str(&format!("\nIs Step {} correct, given the problem and the steps before it? Answer Yes or No.", k + 1));
    s
}

/// First token ids of the spellings of a word a model may start its answer with (a token that
/// is only whitespace would count for both words, so it is skipped).
fn first_ids(model: &dyn LanguageModel, spellings: &[&str]) -> Vec<u32> {
    let word_start = |w: &&str| -> Option<u32> {
        let ids = model.encode(w).ok()?;
        ids.into_iter().find(|&id| model.decode(&[id]).is_ok_and(|t| !t.trim().is_empty()))
    };
    let mut ids: Vec<u32> = spellings.iter().filter_map(word_start).collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

impl JudgeVerifier {
    pub fn new(model: Arc<dyn LanguageModel>, name: &str) -> JudgeVerifier {
        let yes = first_ids(model.as_ref(), &["Yes", " Yes", "yes"]);
        let no = first_ids(model.as_ref(), &["No", " No", "no"]);
        JudgeVerifier { model, name: name.to_string(), yes, no }
    }
}

fn common_prefix(a: &[u32], b: &[u32]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

impl Verifier for JudgeVerifier {
    fn spec(&self) -> String {
        format!("judge:{}", self.name)
    }

    fn model(&self) -> Option<ModelInfo> {
        Some(model_info(self.model.as_ref()))
    }

    fn default_threshold(&self) -> f64 {
        0.5
    }

    fn score(&mut self, trace: &Trace, ctx: &mut Ctx) -> Result<Scored> {
        let m = &self.model;
        let steps = trace.step_texts();
        let mut cache = m.start();
        let mut cached: Vec<u32> = Vec::new();
        let mut out = Vec::new();
        let mut truncated = None;
        let mut passes = 0;
        for k in 0..steps.len() {
            ctx.check_cancel()?;
            (ctx.progress)(&format!("{}: judging step {}/{}", trace.id, k + 1, steps.len()));
            let ids = m.chat_prompt(&[Message::new("user", &judge_prompt(&trace.problem, &steps, k))])?;
            if ids.len() > cache.max_len() {
                truncated = Some(format!(
                    "steps {}–{} not scored: the prompt for step {} has {} tokens, the model context {}",
                    k + 1,
                    steps.len(),
                    k + 1,
                    ids.len(),
                    cache.max_len()
                ));
                break;
            }
            // Keep the shared prefix in the cache; at least the last token is recomputed for its logits.
            let keep = common_prefix(&cached, &ids).min(ids.len() - 1);
            cache.truncate(keep);
            // Only the last position's logits are needed: the LM head runs on that row alone.
            let fresh = ids.len() - keep;
            let lp = m.log_probs(&mut cache, &ids[keep..], fresh - 1..fresh)?.remove(0);
            passes += 1;
            // A server's row holds only its top entries (and may end before an id): absent is 0.
            let mass =
                |ids: &[u32]| ids.iter().filter_map(|&i| lp.get(i as usize)).map(|&l| (l as f64).exp()).sum::<f64>();
            let (yes, no) = (mass(&self.yes), mass(&self.no));
            let p = if yes + no > 0.0 { yes / (yes + no) } else { 0.5 };
            out.push(StepScore::new(
                p,
                format!("P(Yes) {p:.3} (Yes+No mass {:.3}, reused {keep} cached tokens)", yes + no),
            ));
            cached = ids;
        }
        while out.len() < steps.len() {
            out.push(StepScore::none("beyond the model context"));
        }
        Ok(Scored { steps: out, truncated, forward_passes: passes })
    }
}
