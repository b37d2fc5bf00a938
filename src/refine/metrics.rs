//! How refinement changed correctness (docs/methods.md §9): the 2×2 transitions from draft to
//! refined answer, fix and harm rates, confidence level CL = P(right after | right before),
//! critique score CS = P(right after | wrong before), and the relative self-correction score RSS.
//! Pure arithmetic; `None` where a rate has no cases to divide by.

/// Counts of draft → refined correctness.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Transitions {
    /// ✓ → ✓
    pub confident: usize,
    /// ✓ → ✗ (harm)
    pub unconfident: usize,
    /// ✗ → ✓ (fix)
    pub critical: usize,
    /// ✗ → ✗
    pub stubborn: usize,
}

fn ratio(num: usize, den: usize) -> Option<f64> {
    (den > 0).then(|| num as f64 / den as f64)
}

impl Transitions {
    /// From (draft right, refined right) pairs.
    pub fn from_pairs(pairs: &[(bool, bool)]) -> Transitions {
        let mut t = Transitions::default();
        for &(before, after) in pairs {
            match (before, after) {
                (true, true) => t.confident += 1,
                (true, false) => t.unconfident += 1,
                (false, true) => t.critical += 1,
                (false, false) => t.stubborn += 1,
            }
        }
        t
    }

    pub fn total(&self) -> usize {
        self.confident + self.unconfident + self.critical + self.stubborn
    }

    /// Accuracy of the drafts.
    pub fn acc_before(&self) -> Option<f64> {
        ratio(self.confident + self.unconfident, self.total())
    }

    /// Accuracy after refinement.
    pub fn acc_after(&self) -> Option<f64> {
        ratio(self.confident + self.critical, self.total())
    }

    /// Share of wrong drafts that became right.
    pub fn fix_rate(&self) -> Option<f64> {
        ratio(self.critical, self.critical + self.stubborn)
    }

    /// Share of right drafts that became wrong.
    pub fn harm_rate(&self) -> Option<f64> {
        ratio(self.unconfident, self.confident + self.unconfident)
    }

    /// CL = P(right after | right before).
    pub fn cl(&self) -> Option<f64> {
        ratio(self.confident, self.confident + self.unconfident)
    }

    /// CS = P(right after | wrong before).
    pub fn cs(&self) -> Option<f64> {
        ratio(self.critical, self.critical + self.stubborn)
    }

    /// RSS of these counts' accuracies (see [`rss`]).
    pub fn rss(&self) -> Option<f64> {
        rss(self.acc_before()?, self.acc_after()?)
    }
}

/// CL and CS from per-question estimates, each question weighted by how likely its draft is right:
/// CL = Σ P(a_i)·P(b_i|a_i) / Σ P(a_i), CS = Σ (1−P(a_i))·P(b_i|¬a_i) / Σ (1−P(a_i)).
/// Each item is (P(a_i), P(b_i|a_i), P(b_i|¬a_i)); a conditional the samples did not see may be
/// anything when its weight is 0.
pub fn cl_cs(questions: &[(f64, f64, f64)]) -> (Option<f64>, Option<f64>) {
    let (mut num_l, mut den_l, mut num_s, mut den_s) = (0.0, 0.0, 0.0, 0.0);
    for &(pa, pb_a, pb_not_a) in questions {
        num_l += pa * pb_a;
        den_l += pa;
        num_s += (1.0 - pa) * pb_not_a;
        den_s += 1.0 - pa;
    }
    let div = |n: f64, d: f64| (d > 0.0).then(|| n / d);
    (div(num_l, den_l), div(num_s, den_s))
}

/// Relative self-correction score: where Acc2 falls between its lower bound Acc1² (CL = Acc1,
/// CS = 0) and upper bound 2·Acc1 − Acc1² (CL = 1, CS = Acc1): 0.5 when refinement left accuracy
/// unchanged, above 0.5 when it helped. Undefined when Acc1 is 0 or 1.
/// (A reconstruction, docs/methods.md §9: check against the paper before quoting it.)
pub fn rss(acc1: f64, acc2: f64) -> Option<f64> {
    let den = 2.0 * acc1 - 2.0 * acc1 * acc1;
    (den > 0.0).then(|| (acc2 - acc1 * acc1) / den)
}

/// Accuracy after t more rounds if each round keeps CL and CS: Acc_{t+1} = CS + (CL − CS)·Acc_t.
pub fn next_round(acc: f64, cl: f64, cs: f64) -> f64 {
    cs + (cl - cs) * acc
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn rss_golden_vectors() {
        // docs/methods.md §9 (the spec's §11 vectors).
        assert!(close(rss(0.8, 0.8).unwrap(), 0.5));
        assert!(close(rss(0.8, 0.85).unwrap(), 0.65625));
        assert!((rss(0.6, 0.5).unwrap() - 0.29167).abs() < 1e-5);
        assert_eq!(rss(0.0, 0.3), None);
        assert_eq!(rss(1.0, 0.3), None);
    }

    #[test]
    fn transitions_and_the_accuracy_identity() {
        // 10 drafts: 6 right (5 stay right, 1 harmed), 4 wrong (1 fixed, 3 stay wrong).
        let mut pairs = vec![(true, true); 5];
        pairs.push((true, false));
        pairs.push((false, true));
        pairs.extend([(false, false); 3]);
        let t = Transitions::from_pairs(&pairs);
        assert_eq!(t, Transitions { confident: 5, unconfident: 1, critical: 1, stubborn: 3 });
        let (acc1, acc2) = (t.acc_before().unwrap(), t.acc_after().unwrap());
        assert!(close(acc1, 0.6) && close(acc2, 0.6));
        assert!(close(t.fix_rate().unwrap(), 0.25) && close(t.harm_rate().unwrap(), 1.0 / 6.0));
        let (cl, cs) = (t.cl().unwrap(), t.cs().unwrap());
        // Acc2 = Acc1·CL + (1 − Acc1)·CS
        assert!(close(acc2, acc1 * cl + (1.0 - acc1) * cs));
        assert!(close(t.rss().unwrap(), (0.6 - 0.36) / (1.2 - 0.72)));
        assert!(close(next_round(acc1, cl, cs), acc2));
    }

    #[test]
    fn weighted_cl_cs_match_counts_for_one_sample_each() {
        // One sample per question: P(a) is 0 or 1 and the weighted form equals the counts.
        let pairs = [(true, true), (true, false), (false, true), (false, false), (false, false)];
        let per_question: Vec<(f64, f64, f64)> = pairs
            .iter()
            .map(|&(a, b)| {
                let pb = if b { 1.0 } else { 0.0 };
                if a {
                    (1.0, pb, 0.0)
                } else {
                    (0.0, 0.0, pb)
                }
            })
            .collect();
        let (cl, cs) = cl_cs(&per_question);
        let t = Transitions::from_pairs(&pairs);
        assert!(close(cl.unwrap(), t.cl().unwrap()) && close(cs.unwrap(), t.cs().unwrap()));
        // Sampled questions: the identity holds with Acc1 = mean P(a).
        let qs = [(0.5, 1.0, 0.5), (0.25, 0.0, 1.0 / 3.0), (1.0, 1.0, 0.0)];
        let (cl, cs) = cl_cs(&qs);
        let acc1 = qs.iter().map(|q| q.0).sum::<f64>() / 3.0;
        let acc2 = qs.iter().map(|q| q.0 * q.1 + (1.0 - q.0) * q.2).sum::<f64>() / 3.0;
        assert!(close(acc2, acc1 * cl.unwrap() + (1.0 - acc1) * cs.unwrap()));
    }

    #[test]
    fn empty_sides_are_undefined() {
        let t = Transitions::from_pairs(&[(true, true)]);
        assert_eq!(t.fix_rate(), None);
        assert_eq!(t.cs(), None);
        assert_eq!(Transitions::default().acc_before(), None);
    }
}
