//! Instability and entropy diagnostics (methods.md §9.4): how well a per-trace summary predicts
//! a wrong final answer, and accuracy by quintile of a score and by peak-position tertile.

use serde::Serialize;

use super::agreement::auroc;

/// Accuracy of the traces in one bucket.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bucket {
    pub name: String,
    pub n: usize,
    /// Percent of traces with a correct final answer (None: empty bucket).
    pub accuracy: Option<f64>,
}

fn bucket(name: String, correct: &[bool]) -> Bucket {
    let n = correct.len();
    let accuracy = (n > 0).then(|| 100.0 * correct.iter().filter(|c| **c).count() as f64 / n as f64);
    Bucket { name, n, accuracy }
}

/// AUROC of a score for predicting a wrong answer (higher score = more likely wrong).
pub fn auroc_wrong(scores: &[f64], correct: &[bool]) -> Option<f64> {
    let wrong: Vec<bool> = correct.iter().map(|c| !c).collect();
    auroc(scores, &wrong)
}

/// Accuracy by quintile of the score: traces sorted by score (ties keep their order) and cut
/// into five groups as equal as possible, lowest scores first.
pub fn by_quintile(scores: &[f64], correct: &[bool]) -> Vec<Bucket> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let n = order.len();
    (0..5)
        .map(|q| {
            let part = &order[q * n / 5..(q + 1) * n / 5];
            let range = match (part.first(), part.last()) {
                (Some(&a), Some(&b)) => format!("Q{} [{:.3}, {:.3}]", q + 1, scores[a], scores[b]),
                _ => format!("Q{}", q + 1),
            };
            bucket(range, &part.iter().map(|&i| correct[i]).collect::<Vec<_>>())
        })
        .collect()
}

/// Accuracy by peak-position tertile: r < 1/3 early, < 2/3 middle, else late (methods §5.4).
pub fn by_tertile(r: &[f64], correct: &[bool]) -> Vec<Bucket> {
    let names = ["early (r < 1/3)", "middle", "late (r ≥ 2/3)"];
    (0..3)
        .map(|t| {
            let picked: Vec<bool> = r.iter().zip(correct).filter(|(x, _)| tertile(**x) == t).map(|(_, c)| *c).collect();
            bucket(names[t].to_string(), &picked)
        })
        .collect()
}

fn tertile(r: f64) -> usize {
    if r < 1.0 / 3.0 {
        0
    } else if r < 2.0 / 3.0 {
        1
    } else {
        2
    }
}

/// Accuracy per class (e.g. the entropy trend), classes in first-seen order.
pub fn by_class(classes: &[String], correct: &[bool]) -> Vec<Bucket> {
    let mut names: Vec<&String> = Vec::new();
    for c in classes {
        if !names.contains(&c) {
            names.push(c);
        }
    }
    names
        .into_iter()
        .map(|name| {
            let picked: Vec<bool> = classes.iter().zip(correct).filter(|(c, _)| *c == name).map(|(_, x)| *x).collect();
            bucket(name.clone(), &picked)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quintiles_and_tertiles() {
        let scores: Vec<f64> = (0..10).map(f64::from).collect();
        let correct = [true, true, true, false, true, false, false, false, false, false];
        let q = by_quintile(&scores, &correct);
        assert_eq!(q.iter().map(|b| b.n).collect::<Vec<_>>(), [2, 2, 2, 2, 2]);
        assert_eq!(q[0].accuracy, Some(100.0));
        assert_eq!(q[1].accuracy, Some(50.0));
        assert_eq!(q[4].accuracy, Some(0.0));
        assert!(auroc_wrong(&scores, &correct).unwrap() > 0.9);
        let t = by_tertile(&[0.1, 0.5, 0.9, 0.2], &[true, false, false, false]);
        assert_eq!((t[0].n, t[0].accuracy), (2, Some(50.0)));
        assert_eq!((t[2].n, t[2].accuracy), (1, Some(0.0)));
        let c = by_class(&["flat".into(), "decreasing".into(), "flat".into()], &[true, true, false]);
        assert_eq!((c[0].name.as_str(), c[0].n, c[0].accuracy), ("flat", 2, Some(50.0)));
    }
}
