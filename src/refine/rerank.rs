//! Picking the best of a draft and its refinements (docs/methods.md §9): by an outcome reward
//! when one is configured, else by the step scores of a PRM aggregated one way or another.
//! The draft is always in the pool, and wins ties: a rewrite must do better to replace it.

use std::fmt;
use std::str::FromStr;

/// How step scores become one candidate score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Aggregate {
    /// The weakest step (step-correctness PRMs).
    #[default]
    Min,
    /// The product of the step scores.
    Product,
    /// The last step's score (value-like PRMs trained by Monte Carlo).
    Last,
}

impl FromStr for Aggregate {
    type Err = String;
    fn from_str(s: &str) -> Result<Aggregate, String> {
        match s {
            "min" => Ok(Aggregate::Min),
            "product" => Ok(Aggregate::Product),
            "last" => Ok(Aggregate::Last),
            other => Err(format!("unknown aggregate '{other}' (expected min, product or last)")),
        }
    }
}

impl fmt::Display for Aggregate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Aggregate::Min => "min",
            Aggregate::Product => "product",
            Aggregate::Last => "last",
        })
    }
}

/// One score from per-step scores; steps without evidence are left out. `None` when no step
/// has a score.
pub fn aggregate(scores: &[Option<f64>], how: Aggregate) -> Option<f64> {
    let known: Vec<f64> = scores.iter().flatten().copied().filter(|s| s.is_finite()).collect();
    if known.is_empty() {
        return None;
    }
    Some(match how {
        Aggregate::Min => known.iter().copied().fold(f64::INFINITY, f64::min),
        Aggregate::Product => known.iter().product(),
        Aggregate::Last => *known.last().expect("not empty"),
    })
}

/// What the reranker knows about one candidate.
#[derive(Debug, Clone, PartialEq)]
pub struct Ranked {
    /// Outcome reward of the whole solution, when an ORM is configured.
    pub orm: Option<f64>,
    /// Per-step scores of the reranking verifier.
    pub steps: Vec<Option<f64>>,
}

/// The winner's index (0 is the draft) and why it won. Candidates are compared by ORM score
/// when every candidate has one, else by aggregated step scores; a candidate with no score
/// ranks last; ties keep the earlier candidate.
pub fn pick(candidates: &[Ranked], how: Aggregate) -> Option<(usize, String)> {
    let by_orm = !candidates.is_empty() && candidates.iter().all(|c| c.orm.is_some());
    let score = |c: &Ranked| if by_orm { c.orm } else { aggregate(&c.steps, how) };
    let mut best: Option<(usize, Option<f64>)> = None;
    for (i, c) in candidates.iter().enumerate() {
        let s = score(c);
        let better = match (best, s) {
            (None, _) => true,
            (Some((_, None)), Some(_)) => true,
            (Some((_, Some(b))), Some(x)) => x > b,
            _ => false,
        };
        if better {
            best = Some((i, s));
        }
    }
    let (i, s) = best?;
    let what = if by_orm { "ORM score".to_string() } else { format!("{how} of step scores") };
    let why = match s {
        Some(v) => format!("highest {what}: {v:.3}"),
        None => "no candidate has a score: the draft stays".to_string(),
    };
    Some((i, why))
}

/// The reranker's pick among a draft and its candidates, as both faces ask it: `candidates`
/// holds each candidate's step scores, None for one left out of the pool (cancelled). The
/// returned index is 0 for the draft, i + 1 for candidate i.
pub fn best_of(
    draft: &[Option<f64>],
    candidates: &[Option<&[Option<f64>]>],
    how: Aggregate,
) -> Option<(usize, String)> {
    let mut pool = vec![Ranked { orm: None, steps: draft.to_vec() }];
    let mut index = vec![0];
    for (i, c) in candidates.iter().enumerate() {
        if let Some(steps) = c {
            pool.push(Ranked { orm: None, steps: steps.to_vec() });
            index.push(i + 1);
        }
    }
    let (k, why) = pick(&pool, how)?;
    Some((index[k], why))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(steps: &[Option<f64>]) -> Ranked {
        Ranked { orm: None, steps: steps.to_vec() }
    }

    #[test]
    fn aggregates() {
        let s = [Some(0.9), None, Some(0.5), Some(0.8)];
        assert_eq!(aggregate(&s, Aggregate::Min), Some(0.5));
        assert!((aggregate(&s, Aggregate::Product).unwrap() - 0.36).abs() < 1e-12);
        assert_eq!(aggregate(&s, Aggregate::Last), Some(0.8));
        assert_eq!(aggregate(&[None, None], Aggregate::Min), None);
        assert_eq!(aggregate(&[Some(f64::NAN)], Aggregate::Min), None);
        for a in ["min", "product", "last"] {
            assert_eq!(a.parse::<Aggregate>().unwrap().to_string(), a);
        }
        assert!("mean".parse::<Aggregate>().is_err());
    }

    #[test]
    fn the_draft_wins_ties_and_scoreless_candidates_rank_last() {
        let draft = r(&[Some(0.9), Some(0.4)]);
        let same = r(&[Some(0.4), Some(0.95)]);
        let better = r(&[Some(0.7), Some(0.8)]);
        let none = r(&[None]);
        assert_eq!(pick(&[draft.clone(), same.clone()], Aggregate::Min).unwrap().0, 0, "tie keeps the draft");
        assert_eq!(pick(&[draft.clone(), same.clone(), better.clone()], Aggregate::Min).unwrap().0, 2);
        // By the last step instead, `same` wins.
        assert_eq!(pick(&[draft.clone(), same, better.clone()], Aggregate::Last).unwrap().0, 1);
        assert_eq!(pick(&[none.clone(), better.clone()], Aggregate::Min).unwrap().0, 1);
        let (i, why) = pick(&[none.clone(), none], Aggregate::Min).unwrap();
        assert_eq!(i, 0);
        assert!(why.contains("draft stays"), "{why}");
        assert!(pick(&[], Aggregate::Min).is_none());
    }

    #[test]
    fn an_orm_decides_when_every_candidate_has_one() {
        let a = Ranked { orm: Some(0.2), steps: vec![Some(0.99)] };
        let b = Ranked { orm: Some(0.7), steps: vec![Some(0.1)] };
        let (i, why) = pick(&[a.clone(), b.clone()], Aggregate::Min).unwrap();
        assert_eq!(i, 1);
        assert!(why.contains("ORM"), "{why}");
        let c = Ranked { orm: None, steps: vec![Some(0.5)] };
        assert_eq!(pick(&[a, b, c], Aggregate::Min).unwrap().0, 0, "without an ORM on all, step scores decide");
    }

    #[test]
    fn candidates_left_out_keep_their_numbers() {
        let (i, _) = best_of(&[Some(0.5)], &[Some(&[Some(0.9)]), None, Some(&[Some(0.95)])], Aggregate::Min).unwrap();
        assert_eq!(i, 3, "the third candidate, counted from 1, though the second is left out");
        let (i, _) = best_of(&[Some(0.5)], &[None, None], Aggregate::Min).unwrap();
        assert_eq!(i, 0);
    }
}
