//! The side effects `update` asks for, and how they run: each touches a label store (a durable
//! write or a read of what others wrote) and comes back as a message describing what happened.

use crate::trace::store::{Detail, VerifyRecord};
use crate::trace::Label;

use super::msg::{Msg, Refinements};
use super::state::App;

#[derive(Debug)]
pub enum Effect {
    /// Write my label on a trace (None clears it) with its detail; `prompt`: ask for the
    /// error's category once it is saved.
    WriteLabel {
        source: usize,
        trace: String,
        annotator: String,
        value: Option<Label>,
        detail: Detail,
        prompt: bool,
        was: super::msg::Was,
    },
    /// Write the gold label of a trace (None clears it), decided by `by` for `reason`; `was`:
    /// the gold label it replaces.
    WriteGold {
        source: usize,
        trace: String,
        value: Option<Label>,
        by: String,
        reason: Option<String>,
        was: Option<Label>,
    },
    /// Write my rating of one step (None clears it).
    WriteRating { source: usize, trace: String, annotator: String, step: usize, rating: Option<i8> },
    /// Undo (or redo) my last label change in a source.
    UndoRedo { source: usize, annotator: String, undo: bool },
    /// Store a verifier result the model thread computed.
    StoreResult { source: usize, record: Box<VerifyRecord>, done: usize, total: usize },
    /// Read what other processes appended to the journals.
    RefreshJournals,
    /// Append a refined trace to the refinements file of a source, then read that file again.
    StoreCandidate { source: usize, trace: Box<crate::trace::Trace> },
    /// Append the solution of a typed-in question to the questions file, then read it again.
    StoreAsked { trace: Box<crate::trace::Trace> },
}

/// Runs one effect; the returned message says how it went.
pub fn run(app: &mut App, effect: Effect) -> Msg {
    match effect {
        Effect::WriteLabel { source, trace, annotator, value, detail, prompt, was } => {
            let result = match app.library.sources.get_mut(source) {
                Some(s) => s.store.set_label_with(&trace, &annotator, value, detail.clone()).map_err(|e| e.to_string()),
                None => Err("no such source".into()),
            };
            Msg::LabelWritten { source, trace, value, detail, prompt, was, result }
        }
        Effect::WriteGold { source, trace, value, by, reason, was } => {
            let result = match app.library.sources.get_mut(source) {
                Some(s) => s.store.set_gold(&trace, value, &by, reason).map_err(|e| e.to_string()),
                None => Err("no such source".into()),
            };
            Msg::GoldWritten { trace, value, was, result }
        }
        Effect::WriteRating { source, trace, annotator, step, rating } => {
            let result = match app.library.sources.get_mut(source) {
                Some(s) => s.store.set_rating(&trace, &annotator, step, rating).map_err(|e| e.to_string()),
                None => Err("no such source".into()),
            };
            Msg::RatingWritten { trace, step, rating, result }
        }
        Effect::UndoRedo { source, annotator, undo } => {
            let result = match app.library.sources.get_mut(source).map(|s| &mut s.store) {
                Some(store) if undo => store.undo(&annotator).map_err(|e| e.to_string()),
                Some(store) => store.redo(&annotator).map_err(|e| e.to_string()),
                None => Err("no such source".into()),
            };
            Msg::UndoneRedone { source, undo, result }
        }
        Effect::StoreResult { source, record, done, total } => {
            let (trace, spec) = (record.trace.clone(), record.spec.clone());
            let result = match app.library.sources.get_mut(source) {
                Some(s) => s.store.put_result(*record).map_err(|e| e.to_string()),
                None => Err("result for an unknown source".into()),
            };
            Msg::ResultStored { trace, spec, done, total, result }
        }
        Effect::RefreshJournals => {
            let mut changed = false;
            let mut errors = Vec::new();
            for source in &mut app.library.sources {
                match source.store.refresh() {
                    Ok(c) => changed |= c,
                    Err(e) => {
                        errors.push(format!("{}: cannot read the label journal: {e}", source.store.path().display()))
                    }
                }
            }
            Msg::JournalsRefreshed { changed, errors }
        }
        Effect::StoreCandidate { source, trace } => {
            let id = trace.id.clone();
            let result = store_candidate(app, source, &trace);
            Msg::CandidateStored { source, id, result }
        }
        Effect::StoreAsked { trace } => {
            let id = trace.id.clone();
            let result = store_asked(app, &trace);
            Msg::AskedStored { id, result }
        }
    }
}

/// Writes the trace (durable before this returns) and reads the refinements file again; the
/// label store is opened the first time only.
fn store_candidate(app: &App, source: usize, trace: &crate::trace::Trace) -> Result<Box<Refinements>, String> {
    let s = app.library.sources.get(source).ok_or("no such source")?;
    let path = crate::service::refine::refinements_path(s.store.path());
    let first = !app.library.sources.iter().any(|s| s.parent == Some(source));
    append_and_reopen(app, path, trace, first)
}

/// Where solutions of typed-in questions go: `asked.jsonl` in the `--store` folder, else in the
/// per-user data folder.
pub fn asked_path(app: &App) -> std::path::PathBuf {
    app.library.opener.store_dir.clone().unwrap_or_else(crate::dirs::data_dir).join("asked.jsonl")
}

fn store_asked(app: &App, trace: &crate::trace::Trace) -> Result<Box<Refinements>, String> {
    let path = asked_path(app);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let first = !app.library.sources.iter().any(|s| s.parent.is_none() && s.file.path == path);
    append_and_reopen(app, path, trace, first)
}

/// Appends `trace` to the file (durable before this returns) and reads the file again; its
/// label store is opened when the file is not a source yet (`first`).
fn append_and_reopen(
    app: &App,
    path: std::path::PathBuf,
    trace: &crate::trace::Trace,
    first: bool,
) -> Result<Box<Refinements>, String> {
    crate::service::refine::store_trace(&path, trace).map_err(|e| format!("{e:#}"))?;
    let file = crate::trace::TraceFile::open(&path, Some(crate::trace::Format::Native), Default::default())
        .map_err(|e| format!("{}: {}", path.display(), e.message))?;
    let store = if first { Some(app.library.opener.store(&path)?) } else { None };
    Ok(Box::new(Refinements { path, file, store }))
}

impl std::fmt::Debug for Refinements {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Refinements({})", self.path.display())
    }
}
