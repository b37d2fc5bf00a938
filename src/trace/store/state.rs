//! The replayed state of a store, indexed by trace, and the queries on it. Every query the TUI
//! makes while drawing a frame looks up one trace (or reads a counter): its cost does not grow
//! with the number of records in the journal.

use std::collections::{BTreeMap, HashMap};

use super::records::{Detail, GoldRecord, LabelRecord, Op, RatingRecord, Record, SignalRecord, VerifyRecord};
use crate::trace::model::Label;

/// Where a record came from: journal index in the store and 1-based line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Origin {
    pub journal: usize,
    pub line: usize,
}

/// One undoable change: which trace, and the value before and after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Change {
    pub trace: String,
    pub before: (Option<Label>, Detail),
    pub after: (Option<Label>, Detail),
}

#[derive(Debug, Default)]
pub(super) struct History {
    pub undo: Vec<Change>,
    pub redo: Vec<Change>,
}

/// One annotator's current label on a trace.
#[derive(Debug, Clone)]
pub(super) struct Current {
    pub value: Option<Label>,
    pub detail: Detail,
    pub seq: u64,
    pub origin: Origin,
    /// When the record that set it was written.
    pub ts: String,
}

/// Everything the journals say about one trace.
#[derive(Debug, Default)]
pub(super) struct TraceState {
    /// By annotator (sorted, so listings need no sort).
    pub labels: BTreeMap<String, Current>,
    /// Latest result per verifier spec, with its sequence number.
    pub results: BTreeMap<String, (VerifyRecord, u64)>,
    /// Latest record per signal name.
    pub signals: HashMap<String, (SignalRecord, u64)>,
    /// Annotators whose current label is set (not cleared).
    pub set_labels: usize,
    /// Step ratings by annotator, then step.
    pub ratings: BTreeMap<String, BTreeMap<usize, i8>>,
    /// The adjudicated first error, where one is set (a cleared one is None).
    pub gold: Option<(GoldRecord, Origin)>,
}

/// The replayed records.
#[derive(Debug, Default)]
pub(super) struct State {
    pub traces: HashMap<String, TraceState>,
    pub history: HashMap<String, History>,
    /// Traces each annotator has a label on.
    pub labelled_by: HashMap<String, usize>,
    /// Traces anyone has a label on.
    pub labelled_any: usize,
    /// Results stored per spec (for the verifier menu).
    pub specs: BTreeMap<String, usize>,
    pub seq: u64,
    /// Traces with a gold label.
    pub gold_traces: usize,
    /// Every label change with its time stamp, in the order applied (for time per trace).
    pub events: Vec<LabelEvent>,
}

/// One label record as applied: which trace, who, when (seconds since the epoch, if its time stamp reads),
/// whether it decided a new value, whether blind. Kept small: replay makes one per record.
#[derive(Debug, Clone)]
pub struct LabelEvent {
    pub trace: String,
    pub annotator: String,
    pub at: Option<f64>,
    pub set: bool,
    pub blind: bool,
}

impl State {
    pub fn apply(&mut self, record: Record, origin: Origin) {
        self.seq += 1;
        match record {
            Record::Label(r) => self.apply_label(&r, origin),
            Record::Verify(r) => {
                let seq = self.seq;
                let t = self.traces.entry(r.trace.clone()).or_default();
                if t.results.insert(r.spec.clone(), (r.clone(), seq)).is_none() {
                    *self.specs.entry(r.spec).or_default() += 1;
                }
            }
            Record::Signal(r) => {
                let seq = self.seq;
                let t = self.traces.entry(r.trace.clone()).or_default();
                t.signals.insert(r.signal.clone(), (r, seq));
            }
            Record::Rating(r) => self.apply_rating(r),
            Record::Gold(r) => {
                let t = self.traces.entry(r.trace.clone()).or_default();
                let had = t.gold.is_some();
                t.gold = r.value.map(|_| (r, origin));
                match (had, t.gold.is_some()) {
                    (false, true) => self.gold_traces += 1,
                    (true, false) => self.gold_traces -= 1,
                    _ => {}
                }
            }
            Record::Other | Record::Newer(_) => {}
        }
    }

    fn apply_rating(&mut self, r: RatingRecord) {
        let t = self.traces.entry(r.trace).or_default();
        let steps = t.ratings.entry(r.annotator).or_default();
        match r.rating {
            Some(v) => steps.insert(r.step, v),
            None => steps.remove(&r.step),
        };
    }

    fn apply_label(&mut self, r: &LabelRecord, origin: Origin) {
        let t = self.traces.entry(r.trace.clone()).or_default();
        let old = t.labels.get(&r.annotator).map(|c| (c.value, c.detail.clone())).unwrap_or_default();
        // A decision: a new value (a category or note added to the same value is not one).
        let decided = r.value.is_some() && r.op == Op::Set && r.value != old.0;
        self.events.push(LabelEvent {
            trace: r.trace.clone(),
            annotator: r.annotator.clone(),
            at: super::records::ts_seconds(&r.ts),
            set: decided,
            blind: r.blind,
        });
        let before = old.0;
        let history = self.history.entry(r.annotator.clone()).or_default();
        match r.op {
            Op::Set => {
                let after = (r.value, r.detail());
                history.undo.push(Change { trace: r.trace.clone(), before: old, after });
                history.redo.clear();
            }
            Op::Undo => {
                if let Some(c) = history.undo.pop() {
                    history.redo.push(c);
                }
            }
            Op::Redo => {
                if let Some(c) = history.redo.pop() {
                    history.undo.push(c);
                }
            }
        }
        t.labels.insert(
            r.annotator.clone(),
            Current { value: r.value, detail: r.detail(), seq: self.seq, origin, ts: r.ts.clone() },
        );
        // Keep the counters the title bar reads in step with the change.
        match (before.is_some(), r.value.is_some()) {
            (false, true) => {
                *self.labelled_by.entry(r.annotator.clone()).or_default() += 1;
                t.set_labels += 1;
                if t.set_labels == 1 {
                    self.labelled_any += 1;
                }
            }
            (true, false) => {
                if let Some(n) = self.labelled_by.get_mut(&r.annotator) {
                    *n -= 1;
                }
                t.set_labels -= 1;
                if t.set_labels == 0 {
                    self.labelled_any -= 1;
                }
            }
            _ => {}
        }
    }

    fn trace(&self, id: &str) -> Option<&TraceState> {
        self.traces.get(id)
    }

    pub fn result(&self, trace: &str, spec: &str) -> Option<&VerifyRecord> {
        self.trace(trace)?.results.get(spec).map(|(r, _)| r)
    }

    pub fn results_for(&self, trace: &str) -> Vec<&VerifyRecord> {
        self.trace(trace).map_or_else(Vec::new, |t| t.results.values().map(|(r, _)| r).collect())
    }

    pub fn result_specs(&self) -> Vec<String> {
        self.specs.keys().cloned().collect()
    }

    pub fn signal(&self, trace: &str, signal: &str) -> Option<&SignalRecord> {
        self.trace(trace)?.signals.get(signal).map(|(r, _)| r)
    }

    pub fn label(&self, trace: &str, annotator: &str) -> Option<Label> {
        self.trace(trace)?.labels.get(annotator)?.value
    }

    /// Whether the annotator has any label record on the trace (a label since cleared or undone
    /// included): in blind mode, what the app revealed after it has been seen.
    pub fn touched(&self, trace: &str, annotator: &str) -> bool {
        self.trace(trace).is_some_and(|t| t.labels.contains_key(annotator))
    }

    /// The detail (blind, category, note) of an annotator's current label.
    pub fn detail(&self, trace: &str, annotator: &str) -> Option<&Detail> {
        let c = self.trace(trace)?.labels.get(annotator)?;
        c.value.map(|_| &c.detail)
    }

    /// When an annotator's current label was written (its record's time stamp).
    pub fn label_time(&self, trace: &str, annotator: &str) -> Option<&str> {
        let c = self.trace(trace)?.labels.get(annotator)?;
        c.value.map(|_| c.ts.as_str())
    }

    /// The trace's gold (adjudicated) label record, if one is set.
    pub fn gold(&self, trace: &str) -> Option<&GoldRecord> {
        self.trace(trace)?.gold.as_ref().map(|(r, _)| r)
    }

    /// Every gold label: (trace, label, where its record is), unsorted.
    pub fn all_gold(&self) -> impl Iterator<Item = (&str, Label, Origin)> {
        self.traces.iter().filter_map(|(id, t)| {
            let (r, origin) = t.gold.as_ref()?;
            Some((id.as_str(), r.value?, *origin))
        })
    }

    /// An annotator's step ratings on a trace.
    pub fn ratings(&self, trace: &str, annotator: &str) -> Option<&BTreeMap<usize, i8>> {
        self.trace(trace)?.ratings.get(annotator).filter(|r| !r.is_empty())
    }

    pub fn latest_label(&self, trace: &str) -> Option<(Label, &str)> {
        let t = self.trace(trace)?;
        let (a, c) = t.labels.iter().filter(|(_, c)| c.value.is_some()).max_by_key(|(_, c)| c.seq)?;
        Some((c.value?, a.as_str()))
    }

    pub fn labels_for(&self, trace: &str) -> Vec<(&str, Label)> {
        self.trace(trace)
            .map_or_else(Vec::new, |t| t.labels.iter().filter_map(|(a, c)| Some((a.as_str(), c.value?))).collect())
    }

    /// Every current label: (trace, annotator, label, where its record is), unsorted.
    pub fn all_labels(&self) -> impl Iterator<Item = (&str, &str, Label, Origin)> {
        self.traces.iter().flat_map(|(id, t)| {
            t.labels.iter().filter_map(move |(a, c)| Some((id.as_str(), a.as_str(), c.value?, c.origin)))
        })
    }

    pub fn labelled_traces(&self, annotator: Option<&str>) -> usize {
        match annotator {
            Some(a) => self.labelled_by.get(a).copied().unwrap_or(0),
            None => self.labelled_any,
        }
    }
}
