//! Verifiers: per-step scores in [0, 1] (higher = more likely correct) with detail text, and a
//! first-error rule with a threshold. Adapters are chosen with a spec string `KIND[:MODEL]`.

pub mod arith;

use anyhow::{bail, Result};

use crate::trace::Trace;

/// A verifier's view of one step. `score == None` means no evidence either way.
#[derive(Debug, Clone, PartialEq)]
pub struct StepScore {
    pub score: Option<f64>,
    pub detail: String,
}

pub trait Verifier {
    /// The spec string that recreates this verifier (provenance).
    fn spec(&self) -> String;
    /// Default first-error threshold τ: a step scoring below it is an error.
    fn default_threshold(&self) -> f64;
    fn score(&mut self, trace: &Trace) -> Result<Vec<StepScore>>;
}

/// First step scoring below τ; steps without evidence never count.
pub fn first_error(scores: &[StepScore], tau: f64) -> Option<usize> {
    scores.iter().position(|s| s.score.is_some_and(|v| v < tau))
}

const KINDS: &str = "arith, prm:PATH, critic:MODEL, judge:MODEL, rollout:MODEL";

/// Builds a verifier from `KIND[:MODEL]`.
pub fn from_spec(spec: &str) -> Result<Box<dyn Verifier>> {
    let (kind, arg) = spec.split_once(':').map_or((spec, None), |(k, a)| (k, Some(a)));
    match (kind, arg) {
        ("arith", None) => Ok(Box::new(arith::ArithVerifier)),
        ("arith", Some(_)) => bail!("verifier 'arith' takes no model (got '{spec}')"),
        ("prm" | "critic" | "judge" | "rollout", None) => bail!("verifier '{kind}' needs a model: {kind}:MODEL"),
        ("prm" | "critic" | "judge" | "rollout", Some(_)) => {
            bail!("verifier '{kind}' is not available in this build yet (available: arith)")
        }
        _ => bail!("unknown verifier '{spec}' (expected one of {KINDS})"),
    }
}
