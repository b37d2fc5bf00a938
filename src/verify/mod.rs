//! Verifiers: per-step scores in [0, 1] (higher = more likely correct) with detail text, a
//! first-error rule with a threshold, and provenance. Adapters are chosen with a spec string
//! `KIND[:MODEL][@N]` ([`VerifierSpec`]): `arith`, `prm:PATH`, `judge:MODEL`, `critic:MODEL[@VOTES]`,
//! `rollout:MODEL[@ROLLOUTS]`.

pub mod arith;
pub mod critic;
pub mod judge;
pub mod prm;
pub mod prm_remote;
pub mod probe;
pub mod rollout;
pub mod spec;
pub mod uncertainty;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Result};

use crate::model::remote::{RemoteModel, RemoteOptions, SERVER_SPEC};
use crate::model::{LanguageModel, LoadOptions};
use crate::trace::store::VerifyRecord;
use crate::trace::Trace;

/// A verifier's view of one step. `score == None` means no evidence either way.
#[derive(Debug, Clone, PartialEq)]
pub struct StepScore {
    pub score: Option<f64>,
    pub detail: String,
}

impl StepScore {
    pub fn new(score: f64, detail: impl Into<String>) -> StepScore {
        StepScore { score: Some(score), detail: detail.into() }
    }
    pub fn none(detail: impl Into<String>) -> StepScore {
        StepScore { score: None, detail: detail.into() }
    }
}

/// The scores of one trace, with what limited them.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    pub steps: Vec<StepScore>,
    /// Set when the input did not fit the model: says which steps were left unscored.
    pub truncated: Option<String>,
    /// Model forward calls used (a PRM scores every step in one).
    pub forward_passes: usize,
}

impl Scored {
    pub fn new(steps: Vec<StepScore>) -> Scored {
        Scored { steps, truncated: None, forward_passes: 0 }
    }
}

/// What a running verifier may look at: a cancel flag (checked between model calls) and a
/// progress line.
pub struct Ctx<'a> {
    pub cancel: &'a AtomicBool,
    pub progress: &'a mut dyn FnMut(&str),
}

impl Ctx<'_> {
    pub fn check_cancel(&self) -> Result<()> {
        if self.cancel.load(Ordering::Relaxed) {
            bail!("cancelled");
        }
        Ok(())
    }
}

/// Where a verifier's model came from: path and a content fingerprint.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelInfo {
    pub path: String,
    pub hash: String,
}

pub trait Verifier {
    /// The spec string that recreates this verifier.
    fn spec(&self) -> String;
    /// The model behind it, if any (provenance).
    fn model(&self) -> Option<ModelInfo> {
        None
    }
    /// Default first-error threshold τ: a step scoring below it is an error.
    fn default_threshold(&self) -> f64;
    /// With the default τ: a trace has a first error only when some step scores below this
    /// lower threshold ([`crate::signals::first_flagged`]); None: τ alone decides.
    fn flag_threshold(&self) -> Option<f64> {
        None
    }
    /// Scores every step of a trace (the trace has at least one step).
    fn score(&mut self, trace: &Trace, ctx: &mut Ctx) -> Result<Scored>;
}

/// First step scoring below τ, in a trace with a step below `flag` (≤ τ; τ itself for one
/// threshold); steps without evidence never count.
pub fn first_error(scores: &[StepScore], flag: f64, tau: f64) -> Option<usize> {
    crate::signals::first_flagged(&scores.iter().map(|s| s.score).collect::<Vec<_>>(), flag, tau)
}

/// Options of the model-based verifiers.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    pub load: LoadOptions,
    /// Critic: samples for the majority vote (1 = greedy).
    pub votes: usize,
    /// Rollout: continuations per step prefix.
    pub rollouts: usize,
    /// Critic and rollout: most tokens generated per sample.
    pub max_tokens: usize,
    pub seed: u64,
    /// Rollout and critic: decode the samples one after another rather than together (same
    /// tokens; the reference the batched path is timed and checked against).
    pub sequential: bool,
    /// PRM: the input/head format when detection cannot tell (`--prm-format`).
    pub prm_format: Option<String>,
    /// The servers behind the model spec `server` (`--server`).
    pub remote: RemoteOptions,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            load: LoadOptions::default(),
            votes: 1,
            rollouts: 4,
            max_tokens: 256,
            seed: 42,
            sequential: false,
            prm_format: None,
            remote: RemoteOptions::default(),
        }
    }
}

pub use spec::VerifierSpec;

/// A model verifier named without its model (`judge`, `critic`, `rollout`, `prm`) gets `model`
/// (with `--server`: the servers' model); any other spec is returned as it is. The one place
/// this rule lives, for every command.
pub fn with_default_model(spec: &str, model: &str) -> String {
    if ["prm", "judge", "critic", "rollout"].contains(&spec) {
        format!("{spec}:{model}")
    } else {
        spec.to_string()
    }
}

/// Parses a spec string, checking the kind and whether it takes a model.
pub fn parse_spec(spec: &str) -> Result<VerifierSpec> {
    VerifierSpec::parse(spec).map_err(anyhow::Error::msg)
}

/// Where verifiers get their models: the caller's one cache (the model door), which loads each
/// model once and reports progress its own way.
pub trait ModelSource {
    fn language_model(&mut self, spec: &str) -> Result<Arc<dyn LanguageModel>>;
    fn prm(&mut self, path: &str, opts: &Options) -> Result<Arc<prm::PrmVerifier>>;
    /// The model of the servers given with `--server` (spec `server`).
    fn served(&mut self) -> Result<Arc<RemoteModel>>;
}

/// Builds a verifier from its spec, its models from `models`. A count in the spec
/// (`critic:M@5`, `rollout:M@4`) overrides the options' votes or rollouts.
pub fn from_spec(spec: &VerifierSpec, opts: &Options, models: &mut dyn ModelSource) -> Result<Box<dyn Verifier>> {
    Ok(match spec {
        VerifierSpec::Arith => Box::new(arith::ArithVerifier),
        VerifierSpec::Prm { path } if path == SERVER_SPEC => {
            Box::new(prm_remote::RemotePrmVerifier::new(models.served()?))
        }
        VerifierSpec::Prm { path } => Box::new(models.prm(path, opts)?),
        VerifierSpec::Probe { path } => {
            let head = probe::ProbeHead::read(std::path::Path::new(path))?;
            let model = models.language_model(&head.model)?;
            Box::new(probe::ProbeVerifier::new(path, head, model)?)
        }
        VerifierSpec::Judge { model } => Box::new(judge::JudgeVerifier::new(models.language_model(model)?, model)),
        VerifierSpec::Critic { model, votes } => {
            let opts = Options { votes: votes.unwrap_or(opts.votes), ..opts.clone() };
            Box::new(critic::CriticVerifier::new(models.language_model(model)?, model, &opts))
        }
        VerifierSpec::Rollout { model, rollouts } => {
            let opts = Options { rollouts: rollouts.unwrap_or(opts.rollouts), ..opts.clone() };
            Box::new(rollout::RolloutVerifier::new(models.language_model(model)?, model, &opts))
        }
    })
}

/// Scores a trace and wraps the result with its provenance as a store record.
pub fn run(v: &mut dyn Verifier, trace: &Trace, tau: Option<f64>, ctx: &mut Ctx) -> Result<VerifyRecord> {
    if trace.steps.is_empty() {
        bail!("trace {} has no steps to verify", trace.id);
    }
    let started = Instant::now();
    let scored = v.score(trace, ctx)?;
    if scored.steps.len() != trace.steps.len() {
        bail!("verifier {} returned {} scores for {} steps", v.spec(), scored.steps.len(), trace.steps.len());
    }
    let threshold = tau.unwrap_or_else(|| v.default_threshold());
    // A τ given by the user is one threshold; the verifier's flagging one goes with its own τ.
    let flag = tau.map_or_else(|| v.flag_threshold(), |_| None).unwrap_or(threshold);
    if !threshold.is_finite() {
        bail!("threshold {threshold} is not a number");
    }
    let mut scored = scored;
    for s in &mut scored.steps {
        if s.score.is_some_and(|x| !x.is_finite()) {
            s.score = None;
            s.detail = format!("non-finite score: no evidence ({})", s.detail);
        }
    }
    let model = v.model();
    Ok(VerifyRecord {
        trace: trace.id.clone(),
        spec: v.spec(),
        model: model.as_ref().map(|m| m.path.clone()),
        model_hash: model.map(|m| m.hash),
        threshold,
        segmentation: trace.segmentation.name(),
        first_error: first_error(&scored.steps, flag, threshold),
        scores: scored.steps.iter().map(|s| s.score).collect(),
        details: scored.steps.into_iter().map(|s| s.detail).collect(),
        truncated: scored.truncated,
        forward_passes: scored.forward_passes,
        seconds: started.elapsed().as_secs_f64(),
        ts: crate::trace::store::now_rfc3339(),
    })
}

/// Model info for a loaded model.
pub fn model_info(m: &dyn LanguageModel) -> ModelInfo {
    ModelInfo { path: m.source().display().to_string(), hash: m.fingerprint() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_model_verifier_without_a_model_takes_the_default() {
        assert_eq!(with_default_model("judge", "server"), "judge:server");
        assert_eq!(with_default_model("prm", "server"), "prm:server");
        assert_eq!(with_default_model("judge:smollm2", "server"), "judge:smollm2");
        assert_eq!(with_default_model("arith", "server"), "arith");
    }
}
