//! Inter-annotator agreement: Cohen's κ for two raters, Krippendorff's α (nominal) for any
//! number with missing values, and the rank AUROC used to judge a signal. Labels are any
//! comparable category; for first-error labels "no error" is a category of its own. Also the
//! answer agreement of solutions to one problem (self-consistency), a baseline for an ORM.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;

/// Cohen's κ of two raters over the same items: (p_o − p_e) / (1 − p_e). `None` when there are
/// no items or chance agreement is already total (both raters always give one same category).
pub fn cohen_kappa<T: Ord + Clone>(pairs: &[(T, T)]) -> Option<f64> {
    if pairs.is_empty() {
        return None;
    }
    let n = pairs.len() as f64;
    let observed = pairs.iter().filter(|(a, b)| a == b).count() as f64 / n;
    let mut first: BTreeMap<&T, f64> = BTreeMap::new();
    let mut second: BTreeMap<&T, f64> = BTreeMap::new();
    for (a, b) in pairs {
        *first.entry(a).or_default() += 1.0;
        *second.entry(b).or_default() += 1.0;
    }
    let chance: f64 = first.iter().map(|(c, na)| na / n * second.get(c).copied().unwrap_or(0.0) / n).sum();
    if (1.0 - chance).abs() < 1e-12 {
        return None;
    }
    Some((observed - chance) / (1.0 - chance))
}

/// Krippendorff's α for nominal data. `units` holds, per unit (trace), the values the raters gave
/// it; a rater who did not rate the unit is simply absent. Units with fewer than two values
/// cannot be paired and do not count. α = 1 − (n − 1)·Σ_{c≠k} o_ck / Σ_{c≠k} n_c·n_k over the
/// coincidence matrix o. `None` when fewer than two pairable values or a single category.
pub fn krippendorff_alpha<T: Ord + Clone>(units: &[Vec<T>]) -> Option<f64> {
    // Coincidences: each ordered pair of values within a unit, weighted 1/(m_u − 1).
    let mut disagreeing = 0.0;
    let mut totals: BTreeMap<&T, f64> = BTreeMap::new();
    for values in units.iter().filter(|v| v.len() >= 2) {
        let weight = 1.0 / (values.len() - 1) as f64;
        for (i, a) in values.iter().enumerate() {
            for (j, b) in values.iter().enumerate() {
                if i == j {
                    continue;
                }
                *totals.entry(a).or_default() += weight;
                if a != b {
                    disagreeing += weight;
                }
            }
        }
    }
    let n: f64 = totals.values().sum();
    let squares: f64 = totals.values().map(|c| c * c).sum();
    let expected_pairs = n * n - squares; // Σ_{c≠k} n_c·n_k
    if n < 2.0 || expected_pairs <= 0.0 {
        return None;
    }
    Some(1.0 - (n - 1.0) * disagreeing / expected_pairs)
}

/// Area under the ROC curve of `scores` for telling `positive` items from the others: the
/// probability that a random positive scores above a random negative, ties counting ½ (the
/// Mann–Whitney U over the two group sizes). `None` without both kinds of item.
pub fn auroc(scores: &[f64], positive: &[bool]) -> Option<f64> {
    let mut order: Vec<(f64, bool)> = scores.iter().copied().zip(positive.iter().copied()).collect();
    order.sort_by(|a, b| a.0.total_cmp(&b.0));
    let pos = order.iter().filter(|(_, p)| *p).count();
    let neg = order.len() - pos;
    if pos == 0 || neg == 0 {
        return None;
    }
    // Mid-ranks (1-based) of tied groups, summed over the positives.
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && order[j + 1].0 == order[i].0 {
            j += 1;
        }
        let mid = (i + j) as f64 / 2.0 + 1.0;
        rank_sum += mid * order[i..=j].iter().filter(|(_, p)| *p).count() as f64;
        i = j + 1;
    }
    let u = rank_sum - (pos * (pos + 1)) as f64 / 2.0;
    Some(u / (pos * neg) as f64)
}

/// For each solution, the share of the other solutions to its problem (`key`) that reached the
/// same final answer: how much a majority vote backs it. A sibling with no answer counts as
/// disagreeing. `None` for a solution with no answer or no sibling. No label is read.
pub fn answer_agreement<K: Eq + Hash, A: Eq>(items: &[(K, Option<A>)]) -> Vec<Option<f64>> {
    let mut groups: HashMap<&K, Vec<usize>> = HashMap::new();
    for (i, (key, _)) in items.iter().enumerate() {
        groups.entry(key).or_default().push(i);
    }
    items
        .iter()
        .enumerate()
        .map(|(i, (key, answer))| {
            let answer = answer.as_ref()?;
            let group = &groups[key];
            let others = group.len() - 1;
            if others == 0 {
                return None;
            }
            let same = group.iter().filter(|&&j| j != i && items[j].1.as_ref() == Some(answer)).count();
            Some(same as f64 / others as f64)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Wikipedia, "Cohen's kappa", first worked example: 50 grant proposals, both say yes 20,
    /// A yes / B no 5, A no / B yes 10, both no 15: p_o = 0.7, p_e = 0.5, κ = 0.4.
    #[test]
    fn kappa_wikipedia_example() {
        let mut pairs = Vec::new();
        pairs.extend(std::iter::repeat_n(("yes", "yes"), 20));
        pairs.extend(std::iter::repeat_n(("yes", "no"), 5));
        pairs.extend(std::iter::repeat_n(("no", "yes"), 10));
        pairs.extend(std::iter::repeat_n(("no", "no"), 15));
        assert!((cohen_kappa(&pairs).unwrap() - 0.4).abs() < 1e-12);
    }

    /// Wikipedia, "Cohen's kappa", the example with equal agreement but unbalanced marginals:
    /// 45/15/25/15 gives κ = 0.1304 and 25/35/5/35 gives κ = 0.2593.
    #[test]
    fn kappa_marginals_matter() {
        let table = |aa: usize, ab: usize, ba: usize, bb: usize| {
            let mut p = Vec::new();
            p.extend(std::iter::repeat_n((1, 1), aa));
            p.extend(std::iter::repeat_n((1, 2), ab));
            p.extend(std::iter::repeat_n((2, 1), ba));
            p.extend(std::iter::repeat_n((2, 2), bb));
            cohen_kappa(&p).unwrap()
        };
        assert!((table(45, 15, 25, 15) - 0.1304).abs() < 1e-4);
        assert!((table(25, 35, 5, 35) - 0.2593).abs() < 1e-4);
        assert_eq!(cohen_kappa(&[(3, 3), (3, 3)]), None, "one category: κ undefined");
        assert_eq!(cohen_kappa::<i32>(&[]), None);
    }

    /// Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C (also on
    /// Wikipedia): 4 observers, 12 units, missing values; nominal α = 0.743.
    #[test]
    fn alpha_krippendorff_2011_example() {
        let rows: [[i32; 12]; 4] = [
            [1, 2, 3, 3, 2, 1, 4, 1, 2, 0, 0, 0],
            [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, 0, 3],
            [0, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, 0],
            [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, 0],
        ];
        // 0 stands for a missing value.
        let units: Vec<Vec<i32>> = (0..12).map(|u| rows.iter().map(|r| r[u]).filter(|&v| v != 0).collect()).collect();
        let alpha = krippendorff_alpha(&units).unwrap();
        assert!((alpha - 0.743).abs() < 5e-4, "{alpha}");
    }

    #[test]
    fn alpha_limits() {
        assert_eq!(krippendorff_alpha(&[vec![1, 1], vec![2, 2]]), Some(1.0));
        assert_eq!(krippendorff_alpha(&[vec![1, 1]]), None, "one category");
        assert_eq!(krippendorff_alpha(&[vec![1], vec![2]]), None, "nothing pairable");
        // Two raters, no missing: α and κ are close (α corrects for small samples).
        let pairs = [(1, 1), (1, 2), (2, 2), (2, 2), (3, 3), (3, 1)];
        let units: Vec<Vec<i32>> = pairs.iter().map(|(a, b)| vec![*a, *b]).collect();
        let (a, k) = (krippendorff_alpha(&units).unwrap(), cohen_kappa(&pairs).unwrap());
        assert!((a - k).abs() < 0.1, "{a} {k}");
    }

    #[test]
    fn auroc_ranks_with_ties() {
        assert_eq!(auroc(&[0.9, 0.8, 0.1, 0.2], &[true, true, false, false]), Some(1.0));
        assert_eq!(auroc(&[0.1, 0.2, 0.9, 0.8], &[true, true, false, false]), Some(0.0));
        assert_eq!(auroc(&[0.5, 0.5, 0.5], &[true, false, false]), Some(0.5));
        // One positive at 0.5 against negatives 0.5 and 0.2: (0.5 + 1) / 2.
        assert_eq!(auroc(&[0.5, 0.5, 0.2], &[true, false, false]), Some(0.75));
        assert_eq!(auroc(&[0.5], &[true]), None);
    }

    /// Two problems: "a" with answers 5, 5, 7 and one without; "b" with a single solution.
    /// The first 5 is backed by one of its three siblings (the other 5), the 7 by none; the
    /// answerless one and the lone solution get no share.
    #[test]
    fn answer_agreement_is_the_share_of_siblings_with_the_same_answer() {
        let items = [("a", Some(5)), ("a", Some(5)), ("a", Some(7)), ("a", None), ("b", Some(5))];
        let third = 1.0 / 3.0;
        assert_eq!(answer_agreement(&items), [Some(third), Some(third), Some(0.0), None, None]);
    }
}
