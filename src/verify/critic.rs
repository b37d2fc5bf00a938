//! `critic:MODEL`: the ProcessBench critic protocol. The model sees the problem and the solution
//! split into 0-indexed tagged paragraphs, critiques it and puts the index of the earliest wrong
//! paragraph (or -1) in `\boxed{}`. Greedy by default, or a majority vote over k samples.
//! Steps before the chosen index score 1, the chosen step 0, later steps carry no evidence
//! (correctness after the first error is ill-defined).

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::Result;

use super::{model_info, Ctx, ModelInfo, Options, Scored, StepScore, Verifier};
use crate::model::generate::GenerateParams;
use crate::model::lm::sample_from;
use crate::model::sample::SamplingParams;
use crate::model::{LanguageModel, Message};
use crate::trace::answer::last_boxed;
use crate::trace::Trace;

pub struct CriticVerifier {
    model: Arc<dyn LanguageModel>,
    name: String,
    votes: usize,
    max_tokens: usize,
    seed: u64,
    sequential: bool,
}

/// Our critic prompt (same structure as ProcessBench's: header, problem, tagged solution,
/// instruction, boxed index).
pub fn critic_prompt(problem: &str, steps: &[&str]) -> String {
    let tagged: String =
        steps.iter().enumerate().map(|(i, s)| format!("<paragraph_{i}>\n{}\n</paragraph_{i}>\n\n", s.trim())).collect();
    format!(
        "Below is a math problem and a solution split into paragraphs, numbered from 0 and wrapped in tags.\n\n\
         [Math Problem]\n\n{problem}\n\n[Solution]\n\n{}\n\n\
         Review the solution paragraph by paragraph. Find the earliest paragraph that contains an error \
         and give its index; if every paragraph is correct, give -1. Put the final index in \\boxed{{}}.",
        tagged.trim()
    )
}

/// The index in the last `\boxed{}`, if it is an integer in range (or -1).
pub fn parse_index(output: &str, steps: usize) -> Option<i64> {
    let n: i64 = last_boxed(output)?.trim().parse().ok()?;
    (n == -1 || (0..steps as i64).contains(&n)).then_some(n)
}

impl CriticVerifier {
    pub fn new(model: Arc<dyn LanguageModel>, name: &str, opts: &Options) -> CriticVerifier {
        CriticVerifier {
            model,
            name: name.to_string(),
            votes: opts.votes.max(1),
            max_tokens: opts.max_tokens,
            seed: opts.seed,
            sequential: opts.sequential,
        }
    }
}

impl Verifier for CriticVerifier {
    fn spec(&self) -> String {
        // Greedy (one vote) keeps the plain spec, as journals have always stored it.
        let votes = (self.votes > 1).then_some(self.votes);
        super::VerifierSpec::Critic { model: self.name.clone(), votes }.to_string()
    }

    fn model(&self) -> Option<ModelInfo> {
        Some(model_info(self.model.as_ref()))
    }

    fn default_threshold(&self) -> f64 {
        0.5
    }

    fn score(&mut self, trace: &Trace, ctx: &mut Ctx) -> Result<Scored> {
        let steps = trace.step_texts();
        let prompt = self.model.chat_prompt(&[Message::new("user", &critic_prompt(&trace.problem, &steps))])?;
        let n = steps.len();
        if prompt.len() >= self.model.context_length() {
            let why = format!(
                "no step scored: the critic prompt has {} tokens, the model context {}",
                prompt.len(),
                self.model.context_length()
            );
            let steps = (0..n).map(|_| StepScore::none("beyond the model context")).collect();
            return Ok(Scored { steps, truncated: Some(why), forward_passes: 0 });
        }
        ctx.check_cancel()?;
        (ctx.progress)(&format!("{}: critic, {} sample(s)", trace.id, self.votes));
        let params: Vec<GenerateParams> = (0..self.votes)
            .map(|v| {
                let sampling = if self.votes == 1 {
                    SamplingParams { temperature: 0.0, top_p: 1.0, seed: self.seed }
                } else {
                    SamplingParams { temperature: 1.0, top_p: 0.9, seed: self.seed + v as u64 }
                };
                GenerateParams { max_tokens: self.max_tokens, sampling, top_k: 1, ..GenerateParams::default() }
            })
            .collect();
        if prompt.is_empty() {
            anyhow::bail!("the critic prompt is empty");
        }
        // The prompt is read once; every vote continues a fork of it, all decoding together.
        let (head, last) = prompt.split_at(prompt.len() - 1);
        let mut base = self.model.start();
        self.model.extend(&mut base, head)?;
        let generations =
            sample_from(self.model.as_ref(), &base, last, &params, self.sequential, ctx.cancel, &mut |_, _| {})?;
        ctx.check_cancel()?;
        let mut counts: HashMap<i64, usize> = HashMap::new();
        let mut outputs = Vec::new();
        for g in generations {
            if let Some(i) = parse_index(&g.text, n) {
                *counts.entry(i).or_default() += 1;
            }
            outputs.push(g.text);
        }
        // Most votes wins; ties go to the earlier index (the more cautious answer).
        let choice = counts.iter().max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0))).map(|(i, c)| (*i, *c));
        let steps = match choice {
            None => {
                let tail: String = outputs
                    .last()
                    .map(|o| o.chars().rev().take(80).collect::<Vec<_>>().into_iter().rev().collect())
                    .unwrap_or_default();
                (0..n)
                    .map(|_| StepScore::none(format!("the critic gave no valid \\boxed{{index}} (…{})", tail.trim())))
                    .collect()
            }
            Some((-1, c)) => {
                (0..n).map(|_| StepScore::new(1.0, format!("critic: no error ({c}/{} votes)", self.votes))).collect()
            }
            Some((i, c)) => (0..n)
                .map(|k| match (k as i64).cmp(&i) {
                    std::cmp::Ordering::Less => StepScore::new(1.0, "before the critic's first error"),
                    std::cmp::Ordering::Equal => {
                        StepScore::new(0.0, format!("critic: first error here ({c}/{} votes)", self.votes))
                    }
                    std::cmp::Ordering::Greater => StepScore::none("after the critic's first error"),
                })
                .collect(),
        };
        Ok(Scored { steps, truncated: None, forward_passes: self.votes })
    }
}
