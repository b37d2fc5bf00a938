//! Pure math: entropy, JSD, instability, ProcessBench metrics, thresholds, arithmetic check.

pub mod arith;
pub mod instability;
pub mod linear;
pub mod metrics;
pub mod rational;
pub mod steps;

/// First step whose score is below τ (scores: higher = more likely correct); None = no error.
pub fn first_below(scores: &[f64], tau: f64) -> Option<usize> {
    scores.iter().position(|&s| s < tau)
}
