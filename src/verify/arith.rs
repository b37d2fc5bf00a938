//! The model-free arithmetic verifier: 1.0 for a step whose claims all check, 0.0 for a step with
//! a wrong claim, no evidence for a step without claims.

use anyhow::Result;

use super::{StepScore, Verifier};
use crate::signals::arith::check_step;
use crate::trace::Trace;

pub struct ArithVerifier;

impl Verifier for ArithVerifier {
    fn spec(&self) -> String {
        "arith".into()
    }

    fn default_threshold(&self) -> f64 {
        0.5
    }

    fn score(&mut self, trace: &Trace) -> Result<Vec<StepScore>> {
        Ok(trace
            .steps
            .iter()
            .map(|s| {
                let claims = check_step(&s.text);
                match claims.iter().find(|c| !c.ok) {
                    Some(bad) => StepScore { score: Some(0.0), detail: bad.describe() },
                    None if claims.is_empty() => StepScore { score: None, detail: "no arithmetic claim".into() },
                    None => StepScore {
                        score: Some(1.0),
                        detail: claims.iter().map(|c| c.describe()).collect::<Vec<_>>().join("; "),
                    },
                }
            })
            .collect())
    }
}
