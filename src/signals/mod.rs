//! Pure math on scores and distributions: entropy, JSD, instability, ProcessBench metrics,
//! agreement, thresholds. (The arithmetic checker is its own room, `src/arith/`.)

pub mod agreement;
pub mod diagnostics;
pub mod instability;
pub mod metrics;
pub mod steps;

/// First step whose score is below τ (scores: higher = more likely correct); None = no error.
/// Scores may be `f64` or `Option<f64>`: a step without evidence never counts.
pub fn first_below<S: Copy + Into<Option<f64>>>(scores: &[S], tau: f64) -> Option<usize> {
    scores.iter().position(|&s| s.into().is_some_and(|v| v < tau))
}
