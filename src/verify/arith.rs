//! The model-free arithmetic verifier: 1.0 for a step whose claims all check, 0.0 for a step with
//! a wrong claim, no evidence for a step without claims.

use anyhow::Result;

use super::{Ctx, Scored, StepScore, Verifier};
use crate::arith::check_step;
use crate::trace::Trace;

pub struct ArithVerifier;

impl Verifier for ArithVerifier {
    fn spec(&self) -> String {
        "arith".into()
    }

    fn default_threshold(&self) -> f64 {
        0.5
    }

    fn score(&mut self, trace: &Trace, _ctx: &mut Ctx) -> Result<Scored> {
        Ok(Scored::new(trace.steps.iter().map(|s| step_score(&s.text)).collect()))
    }
}

/// One step's score: 1 when every claim checks, 0 at the first wrong one, none without claims.
pub fn step_score(text: &str) -> StepScore {
    let claims = check_step(text);
    match claims.iter().find(|c| !c.ok) {
        Some(bad) => StepScore::new(0.0, bad.describe()),
        None if claims.is_empty() => StepScore::none("no arithmetic claim"),
        None => StepScore::new(1.0, claims.iter().map(|c| c.describe()).collect::<Vec<_>>().join("; ")),
    }
}
