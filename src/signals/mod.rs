//! Pure math: entropy, JSD, instability, ProcessBench metrics, thresholds, arithmetic check.

pub mod agreement;
pub mod arith;
pub mod diagnostics;
pub mod expr;
pub mod hypothesis;
pub mod instability;
pub mod linear;
pub mod metrics;
pub mod rational;
pub mod scope;
pub mod steps;

/// First step whose score is below τ (scores: higher = more likely correct); None = no error.
/// Scores may be `f64` or `Option<f64>`: a step without evidence never counts.
pub fn first_below<S: Copy + Into<Option<f64>>>(scores: &[S], tau: f64) -> Option<usize> {
    scores.iter().position(|&s| s.into().is_some_and(|v| v < tau))
}
