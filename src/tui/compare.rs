//! The compare screen's state: a draft, the candidates made from it in this session (or being
//! made), and which one is shown beside the draft. Pure data and helpers; `update` changes it.

use std::rc::Rc;

use crate::jobs::JobHandle;
use crate::refine::rerank::{best_of, Aggregate};
use crate::refine::strategy::Strategy;
use crate::service::refine::Candidate;
use crate::trace::Trace;
use crate::verify::arith::step_score;

/// A draft and its candidates.
pub struct Compare {
    /// The list entry of the draft (none for a question typed in).
    pub draft_entry: Option<usize>,
    pub draft: Rc<Trace>,
    pub draft_scores: Vec<Option<f64>>,
    pub candidates: Vec<Shown>,
    /// Index into `candidates` of the one shown beside the draft.
    pub shown: usize,
    pub running: Option<Running>,
    /// First line shown (both columns scroll together).
    pub scroll: usize,
    /// The verifier the winner is picked by, when not the arithmetic check: `v` on this screen
    /// runs the verifiers chosen in the menu over the draft and every candidate, and the first
    /// of them ranks once each has its scores.
    pub rerank_by: Option<String>,
    /// Step scores of `rerank_by` by trace id, as they come from the model thread.
    pub model_scores: std::collections::HashMap<String, Vec<Option<f64>>>,
    /// The lanes of the last race, each with its answer, shown under the candidates.
    pub race: Vec<Lane>,
}

/// One finished (or cancelled) candidate.
pub struct Shown {
    pub trace: Trace,
    pub strategy: Strategy,
    pub tokens: usize,
    pub seconds: f64,
    pub cancelled: bool,
    /// Step scores of the rerank verifier (arith).
    pub scores: Vec<Option<f64>>,
    /// Saved to the refinements file (accepted, or a generated solution).
    pub saved: bool,
}

impl Shown {
    pub fn from_candidate(c: Candidate) -> Shown {
        let cancelled = c.stop == crate::model::generate::StopReason::Cancelled;
        let scores = arith_scores(&c.trace);
        Shown {
            trace: c.trace,
            strategy: c.strategy,
            tokens: c.generated_tokens,
            seconds: c.seconds,
            cancelled,
            scores,
            saved: false,
        }
    }

    pub fn tokens_per_second(&self) -> Option<f64> {
        (self.seconds > 0.0).then(|| self.tokens as f64 / self.seconds)
    }
}

/// A refinement streaming in: its jobs (fork runs one per sample), and the text so far of the
/// sample being written.
pub struct Running {
    pub strategy: Strategy,
    pub from_step: Option<usize>,
    /// Set when the loop has handed the jobs to the model thread; Esc cancels through them.
    pub jobs: Vec<JobHandle>,
    /// Jobs not yet finished.
    pub left: usize,
    pub samples: usize,
    /// Steps of the draft the candidate keeps (shown above the text being written).
    pub kept: Vec<String>,
    pub text: String,
    pub tokens: usize,
    /// The attempt being written (`local` samples again when a rewrite repeats the error).
    pub attempt: usize,
    /// A race: one lane per strategy decoding at once (empty otherwise; then `text` is the one
    /// sample being written).
    pub lanes: Vec<Lane>,
    /// When the sample's first token came (tokens/s while streaming leaves model loading out).
    pub first_token: Option<std::time::Instant>,
}

/// One candidate of a race as it streams in.
pub struct Lane {
    pub strategy: Strategy,
    pub from_step: Option<usize>,
    pub text: String,
    pub tokens: usize,
    /// Set when its candidate has come: the final answer with ✓/✗ (or without a mark).
    pub answer: Option<String>,
}

impl Lane {
    pub fn new(p: &crate::refine::strategy::Plan) -> Lane {
        Lane { strategy: p.strategy, from_step: p.from_step, text: String::new(), tokens: 0, answer: None }
    }
}

/// Each lane's strategy and answer: `local 21 ✓ · global 20 ✗`.
pub fn lanes_summary(lanes: &[Lane]) -> String {
    let each: Vec<String> =
        lanes.iter().map(|l| format!("{} {}", l.strategy, l.answer.as_deref().unwrap_or("cancelled"))).collect();
    each.join(" · ")
}

/// What lanes run, for messages: "race" when their strategies differ, else the strategy.
pub fn lanes_name(lanes: &[Lane]) -> Option<String> {
    let first = lanes.first()?.strategy;
    Some(if lanes.iter().all(|l| l.strategy == first) { first.to_string() } else { "race".into() })
}

impl Running {
    /// A refinement about to stream: one job (one sample, or several decoding together in
    /// `lanes`), nothing written yet.
    pub fn new(
        strategy: Strategy,
        from_step: Option<usize>,
        samples: usize,
        kept: Vec<String>,
        lanes: Vec<Lane>,
    ) -> Running {
        Running {
            strategy,
            from_step,
            jobs: Vec::new(),
            left: 1,
            samples,
            kept,
            text: String::new(),
            tokens: 0,
            attempt: 0,
            lanes,
            first_token: None,
        }
    }

    /// What is running, for messages: the strategy, or "race".
    pub fn name(&self) -> String {
        lanes_name(&self.lanes).unwrap_or_else(|| self.strategy.to_string())
    }

    pub fn owns(&self, job: u64) -> bool {
        self.jobs.iter().any(|h| h.id == job)
    }

    /// Tokens per second of the sample being written.
    pub fn rate(&self) -> Option<f64> {
        let secs = self.first_token?.elapsed().as_secs_f64();
        (secs > 0.0 && self.tokens > 1).then(|| (self.tokens - 1) as f64 / secs)
    }

    /// The sample being written, counted from 1.
    pub fn sample(&self) -> usize {
        (self.samples - self.left + 1).min(self.samples)
    }
}

impl Compare {
    pub fn new(draft_entry: Option<usize>, draft: Rc<Trace>) -> Compare {
        let draft_scores = arith_scores(&draft);
        Compare {
            draft_entry,
            draft,
            draft_scores,
            candidates: Vec::new(),
            shown: 0,
            running: None,
            scroll: 0,
            rerank_by: None,
            model_scores: std::collections::HashMap::new(),
            race: Vec::new(),
        }
    }

    pub fn shown(&self) -> Option<&Shown> {
        self.candidates.get(self.shown)
    }

    /// The reranker's pick among the draft (0) and the finished candidates (i + 1), with why;
    /// step scores are aggregated by `how`. By `rerank_by` when the draft and every finished
    /// candidate have its scores, else by the arithmetic check (the reason says which).
    pub fn winner(&self, how: Aggregate) -> Option<(usize, String)> {
        if self.candidates.is_empty() {
            return None;
        }
        let finished = || self.candidates.iter().map(|c| (!c.cancelled).then_some(c));
        let model = |id: &str| self.model_scores.get(id).map(Vec::as_slice);
        if let Some(spec) = &self.rerank_by {
            let all = model(&self.draft.id).is_some() && finished().flatten().all(|c| model(&c.trace.id).is_some());
            if all {
                let pool: Vec<Option<&[Option<f64>]>> =
                    finished().map(|c| c.and_then(|c| model(&c.trace.id))).collect();
                let (i, why) = best_of(model(&self.draft.id).unwrap_or(&[]), &pool, how)?;
                return Some((i, format!("{spec}: {why}")));
            }
        }
        let pool: Vec<Option<&[Option<f64>]>> = finished().map(|c| c.map(|c| c.scores.as_slice())).collect();
        let (i, why) = best_of(&self.draft_scores, &pool, how)?;
        Some((i, format!("arith: {why}")))
    }

    /// Whether `id` is the draft or one of the candidates.
    pub fn holds(&self, id: &str) -> bool {
        self.draft.id == id || self.candidates.iter().any(|c| c.trace.id == id)
    }

    /// Fork: how many finished samples of a strategy reach the reference answer, of how many.
    pub fn reached(&self, strategy: Strategy) -> (usize, usize) {
        let done: Vec<&Shown> = self.candidates.iter().filter(|c| c.strategy == strategy && !c.cancelled).collect();
        (done.iter().filter(|c| c.trace.final_answer_correct == Some(true)).count(), done.len())
    }
}

/// The arith verifier's step scores. Pure and fast, so the UI computes them itself.
pub fn arith_scores(t: &Trace) -> Vec<Option<f64>> {
    t.steps.iter().map(|s| step_score(&s.text).score).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::generate::StopReason;

    fn cand(steps: &[&str], cancelled: bool) -> Shown {
        let trace = Trace::from_step_texts("c", "q", steps);
        Shown::from_candidate(Candidate {
            trace,
            strategy: Strategy::Local,
            generated_tokens: 10,
            seconds: 2.0,
            stop: if cancelled { StopReason::Cancelled } else { StopReason::Eos },
        })
    }

    #[test]
    fn the_winner_skips_cancelled_candidates() {
        let draft = Rc::new(Trace::from_step_texts("d", "q", &["2 + 2 = 5"]));
        let mut c = Compare::new(Some(0), draft);
        assert_eq!(c.draft_scores, [Some(0.0)]);
        assert_eq!(c.winner(Aggregate::Min), None);
        c.candidates.push(cand(&["2 + 2 = 4"], true));
        c.candidates.push(cand(&["2 + 3 = 6"], false));
        c.candidates.push(cand(&["2 + 2 = 4"], false));
        let (i, why) = c.winner(Aggregate::Min).unwrap();
        assert_eq!(i, 3, "{why}");
        assert_eq!(c.candidates[0].tokens_per_second(), Some(5.0));
    }
}
