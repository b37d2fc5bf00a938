//! Pure math on scores and distributions: entropy, JSD, instability, ProcessBench metrics,
//! agreement, thresholds. (The arithmetic checker is its own room, `src/arith/`.)

pub mod agreement;
pub mod diagnostics;
pub mod instability;
pub mod metrics;
pub mod steps;

/// Where a verifier of per-step P(right) puts the first error, as a distribution over "step k
/// is the first error" (k = 0..n) and "no error" (last entry): P(first = k) = Π_{j<k} p_j ·
/// (1 − p_k). A step without a score counts as certain (p = 1).
pub fn first_error_distribution(p: &[Option<f64>]) -> Vec<f64> {
    let mut out = Vec::with_capacity(p.len() + 1);
    let mut clean_so_far = 1.0;
    for s in p {
        let right = s.unwrap_or(1.0).clamp(0.0, 1.0);
        out.push(clean_so_far * (1.0 - right));
        clean_so_far *= right;
    }
    out.push(clean_so_far);
    out
}

/// The entropy (nats) of [`first_error_distribution`]: how unsure the verifier is about where
/// the first error is (0 when it is sure).
pub fn first_error_entropy(p: &[Option<f64>]) -> f64 {
    first_error_distribution(p).iter().filter(|&&q| q > 0.0).map(|q| -q * q.ln()).sum()
}

/// First step whose score is below τ (scores: higher = more likely correct); None = no error.
/// Scores may be `f64` or `Option<f64>`: a step without evidence never counts.
pub fn first_below<S: Copy + Into<Option<f64>>>(scores: &[S], tau: f64) -> Option<usize> {
    scores.iter().position(|&s| s.into().is_some_and(|v| v < tau))
}

/// A first error by two thresholds: the trace is flagged only when some step scores below
/// `flag`, and its first error is then its first step below `locate` (at least `flag`). With
/// `flag` below `locate` a verifier can be slow to call a trace wrong and still point early in
/// it. Equal thresholds are [`first_below`].
pub fn first_flagged<S: Copy + Into<Option<f64>>>(scores: &[S], flag: f64, locate: f64) -> Option<usize> {
    first_below(scores, flag).and_then(|_| first_below(scores, locate.max(flag)))
}
