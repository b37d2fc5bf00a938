//! ProcessBench metrics (methods.md §4.2): acc_err, acc_corr, F1, the confusion of predicted vs
//! labelled first errors, averages across files, and agreement between annotators.

use serde::Serialize;

/// Counts of how predictions relate to labels (None = no error).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Confusion {
    /// Predicted error before the labelled first error.
    pub early: usize,
    pub exact: usize,
    /// Predicted error after the labelled first error.
    pub late: usize,
    /// Labelled error, no error predicted.
    pub missed: usize,
    /// No labelled error, error predicted.
    pub false_alarm: usize,
    /// No labelled error, none predicted.
    pub correct_clean: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scores {
    pub n: usize,
    pub acc_err: f64,
    pub acc_corr: f64,
    pub f1: f64,
    pub confusion: Confusion,
}

impl Scores {
    /// acc_err, acc_corr and F1 where they are defined: acc_err needs labelled errors, acc_corr
    /// labelled clean traces, F1 both. Pairs without labelled traces define none of them.
    pub fn defined(&self) -> (Option<f64>, Option<f64>, Option<f64>) {
        let c = &self.confusion;
        let errors = c.early + c.exact + c.late + c.missed;
        let clean = c.false_alarm + c.correct_clean;
        let acc_err = (errors > 0).then_some(self.acc_err);
        let acc_corr = (clean > 0).then_some(self.acc_corr);
        (acc_err, acc_corr, acc_err.and(acc_corr).map(|_| self.f1))
    }
}

/// F1 of two accuracies in percent (0 when both are 0).
pub fn f1(acc_err: f64, acc_corr: f64) -> f64 {
    if acc_err + acc_corr == 0.0 {
        0.0
    } else {
        2.0 * acc_err * acc_corr / (acc_err + acc_corr)
    }
}

/// Scores predictions against labels, pairwise.
pub fn score(pairs: &[(Option<usize>, Option<usize>)]) -> Scores {
    let mut c = Confusion::default();
    let (mut err_n, mut err_hit, mut corr_n, mut corr_hit) = (0, 0, 0, 0);
    for &(pred, label) in pairs {
        match (label, pred) {
            (Some(l), Some(p)) => {
                err_n += 1;
                match p.cmp(&l) {
                    std::cmp::Ordering::Less => c.early += 1,
                    std::cmp::Ordering::Equal => {
                        c.exact += 1;
                        err_hit += 1;
                    }
                    std::cmp::Ordering::Greater => c.late += 1,
                }
            }
            (Some(_), None) => {
                err_n += 1;
                c.missed += 1;
            }
            (None, Some(_)) => {
                corr_n += 1;
                c.false_alarm += 1;
            }
            (None, None) => {
                corr_n += 1;
                corr_hit += 1;
                c.correct_clean += 1;
            }
        }
    }
    let pct = |hit: usize, n: usize| if n == 0 { 0.0 } else { 100.0 * hit as f64 / n as f64 };
    let (acc_err, acc_corr) = (pct(err_hit, err_n), pct(corr_hit, corr_n));
    Scores { n: pairs.len(), acc_err, acc_corr, f1: f1(acc_err, acc_corr), confusion: c }
}

/// (unweighted mean of F1 — the paper's "Average", size-weighted mean of F1).
pub fn averages(files: &[(usize, f64)]) -> (f64, f64) {
    if files.is_empty() {
        return (0.0, 0.0);
    }
    let unweighted = files.iter().map(|(_, f)| f).sum::<f64>() / files.len() as f64;
    let total: usize = files.iter().map(|(n, _)| n).sum();
    let weighted = files.iter().map(|(n, f)| *n as f64 * f).sum::<f64>() / total.max(1) as f64;
    (unweighted, weighted)
}

/// Agreement between two label sets on the same traces: (exact share, within ±1 step share), in
/// percent. "No error" only matches "no error".
pub fn agreement(pairs: &[(Option<usize>, Option<usize>)]) -> (f64, f64) {
    if pairs.is_empty() {
        return (0.0, 0.0);
    }
    let exact = pairs.iter().filter(|(a, b)| a == b).count();
    let near = pairs
        .iter()
        .filter(|(a, b)| match (a, b) {
            (Some(x), Some(y)) => x.abs_diff(*y) <= 1,
            (None, None) => true,
            _ => false,
        })
        .count();
    let n = pairs.len() as f64;
    (100.0 * exact as f64 / n, 100.0 * near as f64 / n)
}
