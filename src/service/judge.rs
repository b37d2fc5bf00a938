//! Judge a labelled file: run (or reuse) a verifier on every trace that has a label of the
//! chosen kind, for `eval` and `calibrate`.

use std::path::Path;
use std::sync::atomic::AtomicBool;

use anyhow::Result;

use super::models::Models;
use super::score::{score_many, Many, Outcome, Scorer, Step};
use crate::trace::store::VerifyRecord;
use crate::trace::{Opener, Store, Trace};
use crate::verify::VerifierSpec;

/// Which labels count as the truth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TruthSource {
    /// Labels that came with the data.
    Dataset,
    /// Human labels from the label store.
    Human,
    /// Adjudicated (gold) labels from the label store.
    Gold,
}

#[derive(Debug, Clone, Copy)]
pub struct Truth<'a> {
    pub source: TruthSource,
    /// With human labels: only this annotator's (else the latest of anyone).
    pub annotator: Option<&'a str>,
}

impl Truth<'_> {
    /// The label of a trace: Some(first error or None) when it has one of the chosen kind.
    pub fn of(&self, store: &Store, t: &Trace) -> Option<Option<usize>> {
        match self.source {
            TruthSource::Dataset => t.label.map(|l| l.first_error()),
            TruthSource::Human => store.human_label(&t.id, self.annotator).map(|l| l.first_error()),
            TruthSource::Gold => store.gold_label(&t.id).map(|l| l.first_error()),
        }
    }
}

/// One labelled trace as a verifier saw it.
pub struct Judged {
    pub trace: Trace,
    pub label: Option<usize>,
    pub record: VerifyRecord,
}

/// One labelled file as a verifier saw it.
pub struct JudgedFile {
    pub traces: Vec<Trace>,
    pub store: Store,
    pub judged: Vec<Judged>,
    /// Records that did not load, journal warnings and traces the verifier failed on, as lines
    /// for the caller to show.
    pub problems: Vec<String>,
}

/// How to judge: threshold (None: the verifier's own), recompute stored results, at most
/// `limit` labelled traces.
#[derive(Debug, Clone, Copy, Default)]
pub struct JudgeOptions {
    pub threshold: Option<f64>,
    pub rescore: bool,
    pub limit: Option<usize>,
}

/// Reads a trace file and its store, then runs (or reuses) `spec` on every trace with a label of
/// the chosen kind. Results of model verifiers go to the store; model-free ones are recomputed
/// (they are cheap). `progress(done, total, what)` hears about each trace a model verifier takes.
#[allow(clippy::too_many_arguments)]
pub fn judge_file(
    scorer: &mut Scorer,
    models: &mut Models,
    spec: &VerifierSpec,
    opener: &Opener,
    path: &Path,
    truth: Truth,
    opts: JudgeOptions,
    progress: &mut dyn FnMut(usize, usize, &str),
) -> Result<JudgedFile> {
    let file = opener.open(path)?;
    let (traces, load_problems) = file.load_all();
    let mut problems: Vec<String> = load_problems.iter().map(|p| p.to_string()).collect();
    let mut store = opener.store(path).map_err(anyhow::Error::msg)?;
    problems.extend(store.warnings.iter().map(|w| format!("warning: {w}")));
    let labelled: Vec<(usize, Option<usize>)> = traces
        .iter()
        .enumerate()
        .filter_map(|(i, t)| truth.of(&store, t).map(|l| (i, l)))
        .take(opts.limit.unwrap_or(usize::MAX))
        .collect();
    let uses_model = spec.model_spec().is_some();
    let cancel = AtomicBool::new(false);
    let chosen: Vec<Trace> = labelled.iter().map(|&(i, _)| traces[i].clone()).collect();
    let many = Many { spec, tau: opts.threshold, rescore: opts.rescore, cancel: &cancel, store_model_free: false };
    let total = chosen.len();
    let progress = std::cell::RefCell::new(progress);
    // Results arrive in file order here, in any order from the servers: put back in file order.
    let mut arrived: Vec<(usize, Judged)> = Vec::new();
    let mut on_result = |k: usize, r: Result<(VerifyRecord, Outcome)>| match r {
        Ok((record, _)) => arrived.push((k, Judged { trace: chosen[k].clone(), label: labelled[k].1, record })),
        Err(e) => problems.push(format!("{}: {e:#}", chosen[k].id)),
    };
    // Model loading, the verifier's own progress and servers connecting show on one line.
    let mut line = |done: usize, step: Step| {
        let text = match step {
            Step::Trace(id) => format!("{spec} {id}"),
            Step::Line(l) => l.to_string(),
        };
        if uses_model {
            (progress.borrow_mut())(done, total, &text)
        }
    };
    score_many(scorer, models, &chosen, &mut store, &many, &mut line, &mut on_result)?;
    arrived.sort_by_key(|(k, _)| *k);
    let judged = arrived.into_iter().map(|(_, j)| j).collect();
    if uses_model {
        (progress.into_inner())(total, total, "");
    }
    Ok(JudgedFile { traces, store, judged, problems })
}
