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

/// P from a logit.
pub fn sigmoid(logit: f64) -> f64 {
    1.0 / (1.0 + (-logit).exp())
}

/// The chance that no step so far is wrong, step by step: the running product of each step's
/// P(right) after its logit is moved by `shift` (a head fitted with balanced classes reads
/// wrong steps as more common than they are; a positive shift undoes some of that). It never
/// rises along a trace, so a threshold on it flags a trace on the evidence of all its steps
/// together, where a threshold on the readings themselves sees only the weakest one.
pub fn survival(p: &[f64], shift: f64) -> Vec<f64> {
    let mut clean_so_far = 1.0;
    p.iter()
        .map(|&right| {
            let right = right.clamp(1e-12, 1.0 - 1e-12);
            clean_so_far *= sigmoid((right / (1.0 - right)).ln() + shift);
            clean_so_far
        })
        .collect()
}

/// The readings back from a [`survival`]: each step's chance of being right given the steps
/// before it were (S_k / S_{k-1}). A step without a score stays without one and the product
/// goes on past it; after a product of 0 every step reads 1 (nothing is left to be wrong).
pub fn from_survival(s: &[Option<f64>]) -> Vec<Option<f64>> {
    let mut before = 1.0;
    s.iter()
        .map(|v| {
            let now = (*v)?;
            let right = if before > 0.0 { (now / before).clamp(0.0, 1.0) } else { 1.0 };
            before = now;
            Some(right)
        })
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Worked by hand: P(right) 0.5 moved by ln 3 in logit is 3/4; two such steps 9/16.
    #[test]
    fn survival_multiplies_the_shifted_readings() {
        let close = |a: &[f64], b: &[f64]| a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-9);
        assert!(close(&survival(&[0.5, 0.5], 0.0), &[0.5, 0.25]));
        assert!(close(&survival(&[0.5, 0.5], 3f64.ln()), &[0.75, 0.5625]));
        assert!(close(&survival(&[0.8, 1.0, 0.5], 0.0), &[0.8, 0.8, 0.4]));
        assert!(survival(&[], 1.0).is_empty());
        // A reading of 0 or 1 stays finite.
        assert!(survival(&[0.0, 1.0], 2.0).iter().all(|s| s.is_finite() && (0.0..=1.0).contains(s)));
    }

    /// 0.8, then 0.8 · 0.5 = 0.4, a step without a score, then 0.4 · 0.25 = 0.1.
    #[test]
    fn readings_come_back_from_their_survival() {
        let back = from_survival(&[Some(0.8), Some(0.4), None, Some(0.1), Some(0.0), Some(0.0)]);
        let want = [Some(0.8), Some(0.5), None, Some(0.25), Some(0.0), Some(1.0)];
        assert_eq!(back.len(), want.len());
        for (b, w) in back.iter().zip(want) {
            assert_eq!(b.is_some(), w.is_some());
            assert!((b.unwrap_or(0.0) - w.unwrap_or(0.0)).abs() < 1e-12, "{back:?}");
        }
    }
}
