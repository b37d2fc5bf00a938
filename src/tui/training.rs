//! `T`: a probe trained on the labels made so far, on the model thread (progress in the status
//! line, Esc cancels), then offered — switched on — in the verifier menu with its
//! cross-validated F1. Retraining replaces the head beside the journal, so the menu shows the
//! new F1 and results of the old head are not reused (its file's fingerprint changed).

use crate::jobs::{JobEvent, JobHandle};
use crate::service::train::{head_beside, menu_note};

use super::state::{App, Request, Training};

/// Fewer labels than this cannot be split into folds with an error and a clean trace in each.
pub const MIN_LABELS: usize = 6;

pub fn start(app: &mut App) {
    if app.status.training.is_some() {
        app.status.message = Some("a probe is already training (Esc cancels it)".into());
        return;
    }
    let mut labelled = Vec::new();
    let mut journal = None;
    for entry in 0..app.library.entries.len() {
        let Some(summary) = app.summary(entry) else { continue };
        let Some((label, _)) = app.human_label(entry, &summary.id) else { continue };
        let Some(trace) = app.trace(entry).filter(|t| !t.steps.is_empty()) else { continue };
        journal.get_or_insert_with(|| app.store_of(entry).path().to_path_buf());
        labelled.push(((*trace).clone(), Some(label)));
    }
    let n = labelled.len();
    let Some(journal) = journal.filter(|_| n >= MIN_LABELS) else {
        app.status.message = Some(format!("a probe needs at least {MIN_LABELS} labelled traces ({n} so far)"));
        return;
    };
    let model = app.settings.probe_model.clone();
    let output = head_beside(&journal, &model);
    let sources = vec![format!("human:{} ({n} traces)", journal.display())];
    app.status.message = Some(format!("training a probe on {n} labelled traces with {model}…"));
    app.status.training = Some(Training { handle: None, traces: n });
    app.requests.push(Request::Train { model, labelled, sources, output });
}

pub fn submitted(app: &mut App, handle: JobHandle) {
    if let Some(t) = app.status.training.as_mut() {
        t.handle = Some(handle);
    }
}

/// Esc: cancels a running training; false when none runs.
pub fn cancel(app: &mut App) -> bool {
    let Some(h) = app.status.training.as_ref().and_then(|t| t.handle.as_ref()) else { return false };
    h.cancel();
    app.status.message = Some("cancelling the probe's training…".into());
    true
}

/// The training job's events; None for events of other jobs.
pub fn job_event(app: &mut App, e: &JobEvent) -> Option<()> {
    let id = app.status.training.as_ref()?.handle.as_ref()?.id;
    match e {
        JobEvent::Progress { job, message } if *job == id => app.status.message = Some(message.clone()),
        JobEvent::Trained { job, head, metrics } if *job == id => {
            let spec = format!("probe:{}", head.display());
            let note = menu_note(&serde_json::to_value(metrics.as_ref()).unwrap_or_default());
            app.settings.verifier_choices.retain(|(s, _)| *s != spec);
            app.settings.verifier_choices.push((spec.clone(), true));
            app.status.message = Some(format!("probe trained: {note} · {spec} is on in the menu (m)"));
            app.settings.verifier_notes.insert(spec, note);
        }
        JobEvent::Finished { job } if *job == id => {
            app.status.training = None;
        }
        JobEvent::Cancelled { job } if *job == id => {
            app.status.training = None;
            app.status.message = Some("probe training cancelled (the states read so far are cached)".into());
        }
        JobEvent::Failed { job, error } if *job == id => {
            app.status.training = None;
            app.status.message = Some(format!("probe training failed: {error}"));
        }
        _ => return None,
    }
    Some(())
}
