//! Signal evaluation (methods.md §9.4, `eval --signal`): each trace's signal, reused from the
//! store when it came from the same source, else computed and stored; then how well each
//! per-trace summary predicts a wrong final answer.

use std::collections::BTreeMap;

use anyhow::Result;
use serde::Serialize;

use crate::signals::diagnostics::{auroc_wrong, by_class, by_quintile, by_tertile, Bucket};
use crate::trace::store::SignalRecord;
use crate::trace::{Store, Trace};
use crate::verify::uncertainty::{has_stored_tops, Loader, SignalKind, SignalRunner};

/// Where a trace's signal comes from: its own stored top-k, or a model (by name) teacher-forcing it.
pub fn wanted_source(kind: SignalKind, trace: &Trace, teacher_force: bool, model_name: &str) -> String {
    match kind {
        SignalKind::Instability if !teacher_force && has_stored_tops(trace) => "stored top-k".into(),
        _ => format!("teacher-forced:{model_name}"),
    }
}

/// How a signal is wanted: from which source, teacher-forced or not, recomputed or not.
pub struct Wanted<'a> {
    pub source: &'a str,
    pub teacher_force: bool,
    pub rescore: bool,
}

/// The trace's signal: the stored one when its source is the wanted one (and `rescore` is off),
/// else computed and stored. Returns the record and whether it was reused.
pub fn signal_or_reuse(
    runner: &SignalRunner,
    kind: SignalKind,
    trace: &Trace,
    store: &mut Store,
    wanted: &Wanted,
    load: &mut Loader,
) -> Result<(SignalRecord, bool)> {
    if !wanted.rescore {
        if let Some(r) = store.signal(&trace.id, kind.name()).filter(|r| r.source == wanted.source) {
            return Ok((r.clone(), true));
        }
    }
    let record = runner.compute_with(kind, trace, load, wanted.teacher_force)?;
    store.put_signal(record.clone())?;
    Ok((record, false))
}

/// One summary's power to predict a wrong answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SummaryAuroc {
    pub summary: String,
    pub auroc: Option<f64>,
}

/// What `eval --signal` reports.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SignalEval {
    pub signal: String,
    pub traces: usize,
    pub wrong: usize,
    /// Records per source (stored top-k, teacher-forced:MODEL).
    pub sources: BTreeMap<String, usize>,
    pub aurocs: Vec<SummaryAuroc>,
    /// Accuracy by quintile of the first summary (peak S; final answer entropy).
    pub by_quintile: Vec<Bucket>,
    /// Instability: accuracy by peak-position tertile.
    pub by_peak_position: Vec<Bucket>,
    /// Answer entropy: accuracy by trend class.
    pub by_trend: Vec<Bucket>,
}

fn mean_of(v: &[f64]) -> Option<f64> {
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

/// Summaries of each trace's signal with its answer correctness.
pub fn evaluate(kind: SignalKind, rows: &[(SignalRecord, bool)]) -> SignalEval {
    let correct: Vec<bool> = rows.iter().map(|(_, c)| *c).collect();
    let mut sources = BTreeMap::new();
    for (r, _) in rows {
        *sources.entry(r.source.clone()).or_insert(0) += 1;
    }
    let column = |f: &dyn Fn(&SignalRecord) -> Option<f64>| -> Vec<f64> {
        rows.iter().map(|(r, _)| f(r).unwrap_or(f64::NAN)).collect()
    };
    let mut eval = SignalEval {
        signal: kind.name().into(),
        traces: rows.len(),
        wrong: correct.iter().filter(|c| !**c).count(),
        sources,
        aurocs: Vec::new(),
        by_quintile: Vec::new(),
        by_peak_position: Vec::new(),
        by_trend: Vec::new(),
    };
    let mut add = |name: &str, scores: &[f64]| {
        eval.aurocs.push(SummaryAuroc { summary: name.into(), auroc: auroc_wrong(scores, &correct) });
    };
    match kind {
        SignalKind::Instability => {
            let peak = column(&|r| r.instability()?.peak.as_ref().map(|p| p.value));
            let mean = column(&|r| mean_of(&r.instability()?.per_token));
            let position = column(&|r| r.instability()?.peak.as_ref().map(|p| p.r));
            add("peak S", &peak);
            add("mean I", &mean);
            add("peak position r", &position);
            eval.by_quintile = by_quintile(&peak, &correct);
            eval.by_peak_position = by_tertile(&position, &correct);
        }
        SignalKind::AnswerEntropy => {
            let last = column(&|r| r.answer_entropy()?.h.last().copied());
            let slope = column(&|r| Some(r.answer_entropy()?.slope));
            let mean = column(&|r| mean_of(&r.answer_entropy()?.h));
            add("final entropy", &last);
            add("mean entropy", &mean);
            add("entropy trend (slope)", &slope);
            eval.by_quintile = by_quintile(&last, &correct);
            let classes: Vec<String> = rows
                .iter()
                .map(|(r, _)| r.answer_entropy().map_or_else(|| "unknown".into(), |a| a.trend.clone()))
                .collect();
            eval.by_trend = by_class(&classes, &correct);
        }
    }
    eval
}
