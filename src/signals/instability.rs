//! Per-token instability from top-k log-probs (methods.md §5): renormalised top-k distributions,
//! entropy H_t, consecutive Jensen–Shannon divergence D_t on the union support, and
//! I_t = D_t + λ·H_t. Natural logs.

use std::collections::HashMap;

/// A top-k distribution renormalised over its candidates: token → probability.
pub fn renormalize(top: &[(String, f64)]) -> HashMap<String, f64> {
    let max = top.iter().map(|(_, l)| *l).fold(f64::NEG_INFINITY, f64::max);
    let z: f64 = top.iter().map(|(_, l)| (l - max).exp()).sum();
    top.iter().map(|(t, l)| (t.clone(), (l - max).exp() / z)).collect()
}

/// Entropy in nats, with 0·log 0 = 0.
pub fn entropy(p: &HashMap<String, f64>) -> f64 {
    p.values().filter(|&&x| x > 0.0).map(|&x| -x * x.ln()).sum()
}

/// Jensen–Shannon divergence on the union support, zero-filled; in [0, ln 2].
pub fn jsd(p: &HashMap<String, f64>, q: &HashMap<String, f64>) -> f64 {
    let mut kl_p = 0.0;
    let mut kl_q = 0.0;
    for key in p.keys().chain(q.keys().filter(|k| !p.contains_key(*k))) {
        let a = p.get(key).copied().unwrap_or(0.0);
        let b = q.get(key).copied().unwrap_or(0.0);
        let m = 0.5 * (a + b);
        if a > 0.0 {
            kl_p += a * (a / m).ln();
        }
        if b > 0.0 {
            kl_q += b * (b / m).ln();
        }
    }
    0.5 * kl_p + 0.5 * kl_q
}

/// Per-token series of one trace.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub entropy: Vec<f64>,
    pub jsd: Vec<f64>,
    pub instability: Vec<f64>,
}

/// H_t, D_t (D_1 = 0) and I_t = D_t + λ·H_t for a sequence of top-k lists.
pub fn series(tops: &[Vec<(String, f64)>], lambda: f64) -> Series {
    let dists: Vec<HashMap<String, f64>> = tops.iter().map(|t| renormalize(t)).collect();
    let entropy: Vec<f64> = dists.iter().map(entropy).collect();
    let jsd: Vec<f64> = (0..dists.len()).map(|t| if t == 0 { 0.0 } else { jsd(&dists[t - 1], &dists[t]) }).collect();
    let instability = entropy.iter().zip(&jsd).map(|(h, d)| d + lambda * h).collect();
    Series { entropy, jsd, instability }
}

/// Peak instability S, its token index t*, and relative position r = t*/T.
pub fn peak(instability: &[f64]) -> Option<(f64, usize, f64)> {
    let (t, s) = instability.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1))?;
    Some((*s, t, (t + 1) as f64 / instability.len() as f64))
}
