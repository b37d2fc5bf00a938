//! Per-step summaries of token-level signals (methods.md §5.4–5.5, §6): instability peak and
//! mean per reasoning step, the trace peak with its timing tag, and the answer-entropy trend.

use serde::{Deserialize, Serialize};

use super::instability::{peak, series};

/// The trace's highest instability: where it is and when (relative position r in [0, 1]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Peak {
    pub value: f64,
    pub token: usize,
    pub r: f64,
    pub step: usize,
    /// `corrective?`, `middle` or `destructive?` (tertiles of r).
    pub tag: String,
}

/// Instability of one trace (the `instability` signal's data, stored in journals as this JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Instability {
    pub lambda: f64,
    pub tokens: usize,
    /// I_t per token.
    pub per_token: Vec<f64>,
    pub step_peak: Vec<Option<f64>>,
    pub step_mean: Vec<Option<f64>>,
    pub step_jsd_peak: Vec<Option<f64>>,
    pub step_entropy_mean: Vec<Option<f64>>,
    pub peak: Option<Peak>,
    /// τ_I: the 90th percentile of I_t over the trace.
    pub p90: Option<f64>,
}

/// H(Y|C_k) of the answer after k = 0..n steps (the `answer-entropy` signal's data).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnswerEntropy {
    pub answer: String,
    /// `reference` or `self` (the trace's own final answer).
    pub answer_source: String,
    pub h: Vec<f64>,
    /// ΔH_k = H_{k-1} − H_k.
    pub delta: Vec<f64>,
    pub slope: f64,
    /// `decreasing`, `flat` or `increasing`.
    pub trend: String,
    pub violations: usize,
}

impl AnswerEntropy {
    /// Builds the summary from the entropy series.
    pub fn from_series(answer: String, answer_source: &str, h: Vec<f64>) -> AnswerEntropy {
        let delta = h.windows(2).map(|w| w[0] - w[1]).collect();
        let (slope, trend, violations) = entropy_trend(&h);
        AnswerEntropy { answer, answer_source: answer_source.into(), h, delta, slope, trend: trend.into(), violations }
    }
}

/// Step index of every token: the step whose span holds the token's first byte; a separator
/// belongs to the step before it, and tokens before the first step to the first.
pub fn token_steps(offsets: &[usize], step_starts: &[usize]) -> Vec<usize> {
    offsets.iter().map(|&o| step_starts.iter().rposition(|&s| s <= o).unwrap_or(0)).collect()
}

/// Timing tag of a peak at relative position r (tertiles).
pub fn peak_tag(r: f64) -> &'static str {
    if r < 1.0 / 3.0 {
        "corrective?"
    } else if r >= 2.0 / 3.0 {
        "destructive?"
    } else {
        "middle"
    }
}

/// Instability of one trace from per-token top-k lists: per-token series, per-step peak/mean,
/// and the trace peak. `steps` = number of reasoning steps.
pub fn instability_summary(
    tops: &[Vec<(String, f64)>],
    offsets: &[usize],
    step_starts: &[usize],
    lambda: f64,
) -> Instability {
    let s = series(tops, lambda);
    let owner = token_steps(offsets, step_starts);
    let n = step_starts.len();
    let mut step_peak = vec![None::<f64>; n];
    let mut sums = vec![(0.0f64, 0usize); n];
    let mut ent = vec![(0.0f64, 0usize); n];
    let mut jsd_peak = vec![None::<f64>; n];
    for (t, &i) in owner.iter().enumerate() {
        let v = s.instability[t];
        step_peak[i] = Some(step_peak[i].map_or(v, |p: f64| p.max(v)));
        jsd_peak[i] = Some(jsd_peak[i].map_or(s.jsd[t], |p: f64| p.max(s.jsd[t])));
        sums[i].0 += v;
        sums[i].1 += 1;
        ent[i].0 += s.entropy[t];
        ent[i].1 += 1;
    }
    let mean = |(sum, c): (f64, usize)| (c > 0).then(|| sum / c as f64);
    // τ_I default (methods §5.5): the 90th percentile of I_t over the trace.
    let mut sorted = s.instability.clone();
    sorted.sort_by(f64::total_cmp);
    let p90 = sorted.get(((sorted.len().max(1) - 1) as f64 * 0.9).round() as usize).copied();
    let trace_peak = peak(&s.instability).map(|(value, token, r)| Peak {
        value,
        token,
        r,
        step: owner[token],
        tag: peak_tag(r).into(),
    });
    Instability {
        lambda,
        tokens: s.instability.len(),
        step_peak,
        step_mean: sums.into_iter().map(mean).collect(),
        step_jsd_peak: jsd_peak,
        step_entropy_mean: ent.into_iter().map(mean).collect(),
        peak: trace_peak,
        p90,
        per_token: s.instability,
    }
}

/// Trend of H(Y|C_k) over k = 0..n: OLS slope β, class (ε = 0.01 nats/step) and the number of
/// steps that raised the entropy.
pub fn entropy_trend(h: &[f64]) -> (f64, &'static str, usize) {
    let n = h.len() as f64;
    if h.len() < 2 {
        return (0.0, "flat", 0);
    }
    let mean_k = (n - 1.0) / 2.0;
    let mean_h = h.iter().sum::<f64>() / n;
    let cov: f64 = h.iter().enumerate().map(|(k, v)| (k as f64 - mean_k) * (v - mean_h)).sum();
    let var: f64 = (0..h.len()).map(|k| (k as f64 - mean_k).powi(2)).sum();
    let beta = cov / var;
    let class = if beta < -0.01 {
        "decreasing"
    } else if beta <= 0.01 {
        "flat"
    } else {
        "increasing"
    };
    let violations = h.windows(2).filter(|w| w[0] - w[1] < 0.0).count();
    (beta, class, violations)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_map_to_steps_with_separators_before() {
        // steps start at bytes 0, 10, 25; a token at 9 (the separator) belongs to step 0
        assert_eq!(token_steps(&[0, 5, 9, 10, 24, 25, 40], &[0, 10, 25]), vec![0, 0, 0, 1, 1, 2, 2]);
    }

    #[test]
    fn trend_classes() {
        assert_eq!(entropy_trend(&[2.0, 1.5, 1.0, 0.5]).1, "decreasing");
        assert_eq!(entropy_trend(&[1.0, 1.0, 1.0]).1, "flat");
        let (b, c, v) = entropy_trend(&[0.5, 1.0, 0.8, 1.5]);
        assert!(b > 0.0 && c == "increasing" && v == 2);
    }

    #[test]
    fn peak_tags_are_tertiles() {
        assert_eq!(peak_tag(0.1), "corrective?");
        assert_eq!(peak_tag(0.5), "middle");
        assert_eq!(peak_tag(0.9), "destructive?");
    }
}
