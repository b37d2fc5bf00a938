//! What a refinement batch comes to, per strategy and per draft: typed (and `Serialize`, so
//! `refine --json` writes these very fields), computed from the drafts with their candidates.

use std::collections::HashMap;

use serde::Serialize;

use super::metrics::Transitions;
use super::rerank::{best_of, Aggregate};
use super::strategy::Strategy;
use crate::trace::Trace;

/// One draft with its step scores and what each strategy made of it.
pub struct DraftResult {
    pub trace: Trace,
    /// Whether its final answer is right (None: no reference).
    pub correct: Option<bool>,
    /// The verifier's step scores (for reranking).
    pub scores: Vec<Option<f64>>,
    pub candidates: HashMap<Strategy, Vec<Made>>,
}

/// One candidate as the report needs it.
#[derive(Debug, Clone)]
pub struct Made {
    pub id: String,
    pub correct: Option<bool>,
    /// The verifier's step scores (for reranking).
    pub scores: Vec<Option<f64>>,
    pub tokens: usize,
    pub seconds: f64,
    /// It went on after its answer line or echoed its prompt (generation should stop first).
    pub unclean: bool,
}

/// The 2×2 transitions of graded drafts a strategy refined.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TransitionCounts {
    pub right_right: usize,
    pub right_wrong: usize,
    pub wrong_right: usize,
    pub wrong_wrong: usize,
}

/// One strategy over a batch: transitions over graded drafts it refined, accuracies over all
/// graded drafts (a draft a strategy did not refine stays as it was).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StrategyOutcome {
    pub strategy: String,
    pub drafts: usize,
    pub candidates: usize,
    pub transitions: TransitionCounts,
    pub fix_rate: Option<f64>,
    pub harm_rate: Option<f64>,
    pub cl: Option<f64>,
    pub cs: Option<f64>,
    pub rss: Option<f64>,
    pub acc_before: f64,
    pub acc_after: f64,
    pub acc_rerank: f64,
    pub acc_oracle: f64,
    pub mean_tokens: Option<f64>,
    pub mean_seconds: Option<f64>,
    /// Of all candidates, the share that reach the reference answer (fork: m of N).
    pub reach: Option<f64>,
    /// Candidates with text after their answer line or an echo of the prompt: 0 expected.
    pub unclean: usize,
}

/// Per draft, the reranker's pick among it and every candidate of every strategy run.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Pick {
    pub draft: String,
    pub candidates: usize,
    pub winner: String,
    pub why: String,
}

/// Each strategy's outcome over the graded drafts.
pub fn outcomes(drafts: &[DraftResult], strategies: &[Strategy], how: Aggregate) -> Vec<StrategyOutcome> {
    let graded: Vec<&DraftResult> = drafts.iter().filter(|d| d.correct.is_some()).collect();
    strategies.iter().map(|&s| outcome(&graded, s, how)).collect()
}

fn outcome(graded: &[&DraftResult], strategy: Strategy, how: Aggregate) -> StrategyOutcome {
    let mut pairs = Vec::new();
    let (mut reached, mut after, mut reranked, mut oracle) = (0usize, 0usize, 0usize, 0usize);
    let (mut tokens, mut seconds, mut made, mut unclean) = (0usize, 0.0f64, 0usize, 0usize);
    for d in graded {
        let before = d.correct == Some(true);
        let cands = d.candidates.get(&strategy).map(Vec::as_slice).unwrap_or(&[]);
        for c in cands {
            pairs.push((before, c.correct == Some(true)));
            reached += (c.correct == Some(true)) as usize;
            tokens += c.tokens;
            seconds += c.seconds;
            unclean += c.unclean as usize;
            made += 1;
        }
        after += cands.first().map_or(before, |c| c.correct == Some(true)) as usize;
        let pool: Vec<Option<&[Option<f64>]>> = cands.iter().map(|c| Some(c.scores.as_slice())).collect();
        let right = |i: usize| if i == 0 { before } else { cands[i - 1].correct == Some(true) };
        reranked += best_of(&d.scores, &pool, how).is_some_and(|(i, _)| right(i)) as usize;
        oracle += (0..=cands.len()).any(right) as usize;
    }
    let t = Transitions::from_pairs(&pairs);
    let n = graded.len().max(1) as f64;
    let mean = |x: f64| (made > 0).then(|| x / made as f64);
    StrategyOutcome {
        strategy: strategy.to_string(),
        drafts: graded.len(),
        candidates: made,
        transitions: TransitionCounts {
            right_right: t.confident,
            right_wrong: t.unconfident,
            wrong_right: t.critical,
            wrong_wrong: t.stubborn,
        },
        fix_rate: t.fix_rate(),
        harm_rate: t.harm_rate(),
        cl: t.cl(),
        cs: t.cs(),
        rss: t.rss(),
        acc_before: graded.iter().filter(|d| d.correct == Some(true)).count() as f64 / n,
        acc_after: after as f64 / n,
        acc_rerank: reranked as f64 / n,
        acc_oracle: oracle as f64 / n,
        mean_tokens: mean(tokens as f64),
        mean_seconds: mean(seconds),
        reach: mean(reached as f64),
        unclean,
    }
}

/// Per draft with candidates, the reranker's pick among the draft and the candidates of every
/// strategy (in the order given): what the TUI's compare screen shows as its winner for the
/// same candidates and verifier.
pub fn picks(drafts: &[DraftResult], strategies: &[Strategy], how: Aggregate) -> Vec<Pick> {
    let mut out = Vec::new();
    for d in drafts {
        let cands: Vec<&Made> = strategies.iter().filter_map(|s| d.candidates.get(s)).flatten().collect();
        let pool: Vec<Option<&[Option<f64>]>> = cands.iter().map(|c| Some(c.scores.as_slice())).collect();
        if cands.is_empty() {
            continue;
        }
        if let Some((i, why)) = best_of(&d.scores, &pool, how) {
            let winner = if i == 0 { d.trace.id.clone() } else { cands[i - 1].id.clone() };
            out.push(Pick { draft: d.trace.id.clone(), candidates: cands.len(), winner, why });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn made(id: &str, correct: bool, score: f64) -> Made {
        Made {
            id: id.into(),
            correct: Some(correct),
            scores: vec![Some(score)],
            tokens: 10,
            seconds: 1.0,
            unclean: false,
        }
    }

    fn draft(id: &str, correct: bool, score: f64, cands: Vec<(Strategy, Made)>) -> DraftResult {
        let mut candidates: HashMap<Strategy, Vec<Made>> = HashMap::new();
        for (s, m) in cands {
            candidates.entry(s).or_default().push(m);
        }
        let trace = Trace::from_step_texts(id, "q", &["a"]);
        DraftResult { trace, correct: Some(correct), scores: vec![Some(score)], candidates }
    }

    /// Two drafts, one wrong and fixed by `local` (which the verifier ranks first), one right and
    /// harmed by `global`; an ungraded draft counts nowhere.
    #[test]
    fn transitions_accuracies_and_picks() {
        let drafts = vec![
            draft(
                "w",
                false,
                0.2,
                vec![(Strategy::Local, made("w~l", true, 0.9)), (Strategy::Global, made("w~g", false, 0.1))],
            ),
            draft("r", true, 0.8, vec![(Strategy::Global, made("r~g", false, 0.5))]),
            DraftResult { correct: None, ..draft("u", true, 0.1, vec![(Strategy::Local, made("u~l", true, 0.9))]) },
        ];
        let strategies = [Strategy::Local, Strategy::Global];
        let o = outcomes(&drafts, &strategies, Aggregate::Min);
        let (local, global) = (&o[0], &o[1]);
        assert_eq!((local.drafts, local.candidates), (2, 1));
        assert_eq!(
            local.transitions,
            TransitionCounts { right_right: 0, right_wrong: 0, wrong_right: 1, wrong_wrong: 0 }
        );
        assert_eq!((local.acc_before, local.acc_after, local.acc_rerank, local.acc_oracle), (0.5, 1.0, 1.0, 1.0));
        assert_eq!(
            global.transitions,
            TransitionCounts { right_right: 0, right_wrong: 1, wrong_right: 0, wrong_wrong: 1 }
        );
        assert_eq!((global.acc_after, global.acc_rerank, global.acc_oracle), (0.0, 0.5, 0.5));
        assert_eq!(global.harm_rate, Some(1.0));
        let p = picks(&drafts, &strategies, Aggregate::Min);
        let winners: Vec<(&str, &str)> = p.iter().map(|p| (p.draft.as_str(), p.winner.as_str())).collect();
        assert_eq!(winners, [("w", "w~l"), ("r", "r"), ("u", "u~l")]);
        let json = serde_json::to_value(local).unwrap();
        assert_eq!(json["transitions"]["wrong_right"], 1, "{json}");
    }
}
