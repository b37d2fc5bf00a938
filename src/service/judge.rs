//! Judge a labelled file: run (or reuse) a verifier on every trace that has a label of the
//! chosen kind, for `eval` and `calibrate`.

use std::path::Path;
use std::sync::atomic::AtomicBool;

use anyhow::Result;

use super::models::Models;
use super::score::{Outcome, Scorer};
use crate::trace::store::VerifyRecord;
use crate::trace::{Opener, Store, Trace};
use crate::verify::{Ctx, VerifierSpec};

/// Which labels count as the truth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TruthSource {
    /// Labels that came with the data.
    Dataset,
    /// Human labels from the label store.
    Human,
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
    let mut judged = Vec::new();
    if super::fanout::uses_servers(spec) {
        // Spread over the servers; results are stored as they arrive, then put in file order.
        let chosen: Vec<Trace> = labelled.iter().map(|&(i, _)| traces[i].clone()).collect();
        let batch = super::fanout::Batch {
            spec,
            options: scorer.options(),
            tau: opts.threshold,
            rescore: opts.rescore,
            cancel: &cancel,
        };
        let total = chosen.len();
        let done = std::cell::Cell::new(0);
        let progress = std::cell::RefCell::new(progress);
        let mut arrived: Vec<(usize, Judged)> = Vec::new();
        let mut on_result = |k: usize, r: Result<(VerifyRecord, Outcome)>| {
            done.set(done.get() + 1);
            (progress.borrow_mut())(done.get(), total, &format!("{spec} {}", chosen[k].id));
            match r {
                Ok((record, _)) => {
                    arrived.push((k, Judged { trace: chosen[k].clone(), label: labelled[k].1, record }));
                }
                Err(e) => problems.push(format!("{}: {e:#}", chosen[k].id)),
            }
        };
        // Connecting and dropped servers show on the same progress line.
        let mut line = |l: &str| (progress.borrow_mut())(done.get(), total, l);
        super::fanout::score_all(models, &chosen, &mut store, batch, &mut line, &mut on_result)?;
        arrived.sort_by_key(|(k, _)| *k);
        judged = arrived.into_iter().map(|(_, j)| j).collect();
        (progress.into_inner())(total, total, "");
        return Ok(JudgedFile { traces, store, judged, problems });
    }
    for (n, &(i, label)) in labelled.iter().enumerate() {
        let t = &traces[i];
        if uses_model {
            progress(n, labelled.len(), &format!("{spec} {}", t.id));
        }
        let stored = if uses_model { store.result(&t.id, &spec.to_string()).cloned() } else { None };
        // Model loading and the verifier's own progress show on the same line.
        let total = labelled.len();
        let mut report = |line: &str| progress(n, total, line);
        let mut ctx = Ctx { cancel: &cancel, progress: &mut report };
        match scorer.result_for(models, spec, t, stored.as_ref(), opts.threshold, opts.rescore, &mut ctx) {
            Ok((record, outcome)) => {
                if uses_model {
                    super::score::keep(&mut store, &record, outcome)?;
                }
                judged.push(Judged { trace: t.clone(), label, record });
            }
            Err(e) if super::score::is_unavailable(&e) => return Err(e),
            Err(e) => problems.push(format!("{}: {e:#}", t.id)),
        }
    }
    if uses_model {
        progress(labelled.len(), labelled.len(), "");
    }
    Ok(JudgedFile { traces, store, judged, problems })
}
