//! The messages `update` applies: user actions, the model thread's events, the background
//! scan's batches, and what each side effect came back with.

use crate::jobs::{JobEvent, JobHandle};
use crate::model::LoadOptions;
use crate::trace::{Label, Problem};

use super::action::Action;
use super::state::Summary;

/// Everything that can change the state: user actions, background results, and the outcomes
/// of effects.
#[derive(Debug)]
pub enum Msg {
    Action(Action),
    /// Progress and results from the model thread.
    Job(JobEvent),
    /// Summaries of lazy-source entries from the background scan.
    Summaries {
        first_entry: usize,
        batch: Vec<Summary>,
        problems: Vec<Problem>,
        duplicates: Vec<String>,
    },
    /// A label write returned.
    LabelWritten {
        source: usize,
        trace: String,
        value: Option<Label>,
        detail: crate::trace::store::Detail,
        /// Ask for the error's category next.
        prompt: bool,
        /// What the write changed.
        was: Was,
        result: Result<(), String>,
    },
    /// A gold label write returned; `was`: the gold label it replaced.
    GoldWritten {
        trace: String,
        value: Option<Label>,
        was: Option<Label>,
        result: Result<(), String>,
    },
    /// A step rating write returned.
    RatingWritten {
        trace: String,
        step: usize,
        rating: Option<i8>,
        result: Result<(), String>,
    },
    /// An undo or redo write returned: the trace it touched, if any.
    UndoneRedone {
        source: usize,
        undo: bool,
        result: Result<Option<String>, String>,
    },
    /// A computed verifier result was stored (or not).
    ResultStored {
        trace: String,
        spec: String,
        done: usize,
        total: usize,
        result: Result<(), String>,
    },
    /// The journals were read again; errors name the journal.
    JournalsRefreshed {
        changed: bool,
        errors: Vec<String>,
    },
    /// A model is being loaded for the app (its load options apply to verifiers too).
    ModelRequested {
        spec: String,
        options: LoadOptions,
    },
    /// The scoring request went to the model thread: its handle lets Esc cancel it.
    Submitted(JobHandle),
    /// The refinement's jobs went to the model thread.
    RefineSubmitted(Vec<JobHandle>),
    /// The train key's job was handed to the model thread.
    TrainSubmitted(JobHandle),
    /// A solution of a typed-in question was written to the questions file (or not).
    AskedStored {
        id: String,
        result: Result<Box<Refinements>, String>,
    },
    /// A refined trace was written to the refinements file of `source` (or not).
    CandidateStored {
        source: usize,
        id: String,
        result: Result<Box<Refinements>, String>,
    },
}

impl From<Action> for Msg {
    fn from(a: Action) -> Msg {
        Msg::Action(a)
    }
}

/// A refinements file read again after a write.
pub struct Refinements {
    pub path: std::path::PathBuf,
    pub file: crate::trace::TraceFile,
    pub store: Option<crate::trace::Store>,
}

/// What a label write changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Was {
    /// The same label with its category or note changed.
    Detail,
    /// A new value; how the label it replaced reads (`3 · calculation · note kept`), if any.
    Value(Option<String>),
}
