//! Signal evaluation (methods.md §9.4, `eval --signal`): each trace's signal, reused from the
//! store when it came from the same source, else computed and stored; then how well each
//! per-trace summary predicts a wrong final answer.

use std::collections::BTreeMap;

use anyhow::Result;
use serde::Serialize;

use crate::signals::diagnostics::{auroc_wrong, by_class, by_quintile, by_tertile, Bucket};
use crate::trace::store::{SignalData, SignalRecord};
use crate::trace::{Store, Trace};
use crate::verify::signals::{stored_tops, Loader, SignalKind, SignalRunner};

/// Where a trace's signal comes from: its own stored top-k, or a model (by name) teacher-forcing it.
pub fn wanted_source(kind: SignalKind, trace: &Trace, teacher_force: bool, model_name: &str) -> String {
    match kind {
        SignalKind::Instability if !teacher_force && stored_tops(trace).is_some() => "stored top-k".into(),
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

/// Summaries of each trace's signal with its answer correctness.
pub fn evaluate(kind: SignalKind, rows: &[(SignalRecord, bool)]) -> SignalEval {
    let correct: Vec<bool> = rows.iter().map(|(_, c)| *c).collect();
    let mut sources = BTreeMap::new();
    for (r, _) in rows {
        *sources.entry(r.source.clone()).or_insert(0) += 1;
    }
    let column = |f: &dyn Fn(&SignalData) -> Option<f64>| -> Vec<f64> {
        rows.iter().map(|(r, _)| f(&r.data).unwrap_or(f64::NAN)).collect()
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
            let inst = |d: &SignalData| match d {
                SignalData::Instability(i) => Some(i.clone()),
                _ => None,
            };
            let peak = column(&|d| inst(d)?.peak.map(|p| p.value));
            let mean = column(&|d| {
                let i = inst(d)?;
                (!i.per_token.is_empty()).then(|| i.per_token.iter().sum::<f64>() / i.per_token.len() as f64)
            });
            let r = column(&|d| inst(d)?.peak.map(|p| p.r));
            add("peak S", &peak);
            add("mean I", &mean);
            add("peak position r", &r);
            eval.by_quintile = by_quintile(&peak, &correct);
            eval.by_peak_position = by_tertile(&r, &correct);
        }
        SignalKind::AnswerEntropy => {
            let ent = |d: &SignalData| match d {
                SignalData::AnswerEntropy(a) => Some(a.clone()),
                _ => None,
            };
            let last = column(&|d| ent(d)?.h.last().copied());
            let slope = column(&|d| Some(ent(d)?.slope));
            let mean = column(&|d| {
                let a = ent(d)?;
                (!a.h.is_empty()).then(|| a.h.iter().sum::<f64>() / a.h.len() as f64)
            });
            add("final entropy", &last);
            add("mean entropy", &mean);
            add("entropy trend (slope)", &slope);
            eval.by_quintile = by_quintile(&last, &correct);
            let classes: Vec<String> =
                rows.iter().map(|(r, _)| ent(&r.data).map_or("unknown".into(), |a| a.trend)).collect();
            eval.by_trend = by_class(&classes, &correct);
        }
    }
    eval
}
