//! Annotation campaigns in the TUI: what blind mode reveals once a label is saved, the error
//! category chooser and notes, step ratings, the agreement overlay, the report screen, and the
//! campaign's sample and queue.

use super::effects::Effect;
pub use super::msg::Was;
use super::state::{App, Overlay, ReportView, Screen};
use crate::service::campaign::{agreement, disagreement_order, pace, report, sample, Item};
use crate::trace::store::Detail;
use crate::trace::Label;

/// How a replaced label reads in the message of the change: its value, its category (kept
/// when the new label is a first error too) and whether the note goes on.
pub fn replaced(old: Label, detail: &Detail, new: Option<Label>) -> String {
    let mut parts = vec![old.first_error().map_or("no error".to_string(), |k| k.to_string())];
    if let Some(c) = &detail.category {
        let kept = matches!(new, Some(Label::FirstError(_)));
        parts.push(if kept { c.clone() } else { format!("{c} dropped") });
    }
    if detail.note.is_some() {
        parts.push(if new.is_some() { "note kept".into() } else { "note dropped".into() });
    }
    parts.join(" · ")
}

/// The label I gave again: nothing is written. A first error opens the category chooser (Esc
/// keeps the category), so pressing `e` again is how to change it.
pub fn same_label_again(app: &mut App, source: usize, trace: &str, mine: Option<Label>, detail: &Detail) {
    let mut kept: Vec<String> = detail.category.iter().cloned().collect();
    if detail.note.is_some() {
        kept.push("note".into());
    }
    let kept = if kept.is_empty() { String::new() } else { format!(" ({} kept)", kept.join(" · ")) };
    let first_error = mine.and_then(Label::first_error);
    let what = first_error.map_or("has no error".to_string(), |k| format!("first error at step {k}"));
    app.status.message = Some(format!("unchanged: {trace} {what}{kept}"));
    if first_error.is_some() && !app.settings.categories.is_empty() {
        app.overlays.push(Overlay::Category { source, trace: trace.to_string() });
    }
}

/// After a label write: say what was saved and what it replaced, reveal the hints of a blind
/// label with the agreement on this trace, and offer the category chooser after a new first
/// error.
#[allow(clippy::too_many_arguments)]
pub fn label_written(
    app: &mut App,
    source: usize,
    trace: &str,
    value: Option<Label>,
    detail: &Detail,
    prompt: bool,
    was: &Was,
    result: Result<(), String>,
) {
    if let Err(e) = result {
        app.status.message = Some(format!("NOT saved ({e}): label unchanged"));
        return;
    }
    let mut message = match (was, value) {
        // A category or note added to a label: short, so the whole message fits.
        (Was::Detail, Some(l)) => {
            let mut m =
                format!("saved: {trace} {}", l.first_error().map_or("no error".into(), |k| format!("step {k}")));
            if let Some(c) = &detail.category {
                m.push_str(&format!(" · category {c}"));
            }
            if detail.note.is_some() {
                m.push_str(" · with a note");
            }
            if let Some(r) = detail.realised {
                m.push_str(&format!(" · realised at {r}"));
            }
            match detail.recovered {
                Some(true) => m.push_str(" · recovered"),
                Some(false) => m.push_str(" · fatal"),
                None => {}
            }
            m
        }
        (_, None) => format!("saved: cleared my label on {trace}"),
        (Was::Value(_), Some(l)) => {
            let saved = if detail.blind { "saved blind:" } else { "saved:" };
            match l.first_error() {
                Some(k) => format!("{saved} {trace} first error at step {k}"),
                None => format!("{saved} {trace} has no error"),
            }
        }
    };
    if let Was::Value(Some(old)) = was {
        message.push_str(&format!(" (was {old})"));
    }
    if detail.blind && matches!(was, Was::Value(_)) {
        // What was hidden, now shown, and how it compares with the label just made.
        message.push_str(&format!(" · {}", reveal(app, source, trace, value)));
    }
    app.status.message = Some(message);
    if prompt {
        app.overlays.push(Overlay::Category { source, trace: trace.to_string() });
    }
    app.refresh_visible();
    if app.settings.advance_after_label && matches!(was, Was::Value(_)) && value.is_some() {
        if prompt {
            app.browse.advance_after_category = true;
        } else {
            advance(app);
        }
    }
}

/// `advance_after_label`: on to the next trace I have not labelled.
fn advance(app: &mut App) {
    let said = app.status.message.take();
    app.next_unlabelled();
    // The label's message stays; "every trace shown is labelled" goes after it.
    app.status.message = match (said, app.status.message.take()) {
        (Some(a), Some(b)) => Some(format!("{a} · {b}")),
        (a, b) => a.or(b),
    };
}

/// How the dataset, the other annotators, the verifiers and the final answer compare with a
/// label just made blind.
fn reveal(app: &App, source: usize, id: &str, mine: Option<Label>) -> String {
    let Some(mine) = mine else { return String::new() };
    let near = |other: Label| match (mine, other) {
        _ if mine == other => "same",
        (Label::FirstError(a), Label::FirstError(b)) if a.abs_diff(b) == 1 => "±1",
        _ => "differs",
    };
    let name = |l: Label| l.first_error().map_or("none".to_string(), |k| k.to_string());
    let mut parts = Vec::new();
    let entry = (0..app.library.entries.len()).find(|&e| {
        app.library.entries[e].source == source && app.library.summaries[e].as_ref().is_some_and(|s| s.id == id)
    });
    let trace = entry.and_then(|e| app.trace(e));
    if let Some(d) = trace.as_ref().and_then(|t| t.label) {
        parts.push(format!("dataset {} {}", name(d), near(d)));
    }
    let store = &app.library.sources[source].store;
    for (a, l) in store.labels_for(id) {
        if a != app.settings.annotator {
            parts.push(format!("{a} {} {}", name(l), near(l)));
        }
    }
    for r in store.results_for(id) {
        let l = r.first_error.map_or(Label::NoError, Label::FirstError);
        parts.push(format!("{} {} {}", super::views::steps::short_spec(&r.spec), name(l), near(l)));
    }
    match trace.and_then(|t| t.answer_correct()) {
        Some(true) => parts.push("answer ✓".into()),
        Some(false) => parts.push("answer ✗".into()),
        None => {}
    }
    if parts.is_empty() {
        "nothing else is known".into()
    } else {
        parts.join(" · ")
    }
}

/// Keys while the category chooser is open: a digit picks, `N` writes a note, `#` or Esc
/// closes it; any other key closes it and then does what it always does (`None`).
pub fn category_input(
    app: &mut App,
    action: &crate::tui::action::Action,
    source: usize,
    trace: &str,
) -> Option<Vec<Effect>> {
    use crate::tui::action::Action;
    match action {
        Action::Digit(d) if (*d as usize) <= app.settings.categories.len() => {
            app.overlays.pop();
            let category = app.settings.categories[*d as usize - 1].clone();
            let write = rewrite_detail(app, source, trace, |d| d.category = Some(category));
            if std::mem::take(&mut app.browse.advance_after_category) {
                advance(app);
            }
            Some(write)
        }
        Action::Note => {
            app.overlays.pop();
            open_note(app);
            Some(Vec::new())
        }
        Action::Category | Action::Cancel => {
            app.overlays.pop();
            let current = app.library.sources[source].store.detail(trace, &app.settings.annotator);
            app.status.message = Some(match current.and_then(|d| d.category.clone()) {
                Some(c) => format!("category stays {c} on {trace}"),
                None => format!("no category for {trace} (# chooses one later)"),
            });
            if std::mem::take(&mut app.browse.advance_after_category) {
                advance(app);
            }
            Some(Vec::new())
        }
        Action::Quit => {
            app.quit = true;
            Some(Vec::new())
        }
        // The chooser takes every key: a key meant for the list must not act unseen.
        _ => {
            let n = app.settings.categories.len();
            app.status.message = Some(format!("category: 1–{n} chooses, N writes a note, Esc for none"));
            Some(Vec::new())
        }
    }
}

/// Writes my current label on a trace again with its detail changed (category, note).
fn rewrite_detail(app: &mut App, source: usize, trace: &str, change: impl FnOnce(&mut Detail)) -> Vec<Effect> {
    let store = &app.library.sources[source].store;
    let Some(value) = store.label(trace, &app.settings.annotator) else {
        app.status.message = Some("label the trace first (e or c)".into());
        return Vec::new();
    };
    let mut detail = store.detail(trace, &app.settings.annotator).cloned().unwrap_or_default();
    change(&mut detail);
    vec![Effect::WriteLabel {
        source,
        trace: trace.to_string(),
        annotator: app.settings.annotator.clone(),
        value: Some(value),
        detail,
        prompt: false,
        was: Was::Detail,
    }]
}

/// The selected trace's source and id, if a trace is selected.
fn selected(app: &App) -> Option<(usize, String, usize)> {
    let e = app.selected_entry()?;
    let id = app.summary(e)?.id;
    Some((app.library.entries[e].source, id, e))
}

/// `#`: choose the category of my first-error label.
pub fn open_category(app: &mut App) {
    let Some((source, trace, e)) = selected(app) else { return };
    match app.my_label(e, &trace) {
        Some(Label::FirstError(_)) if !app.settings.categories.is_empty() => {
            app.overlays.push(Overlay::Category { source, trace })
        }
        Some(Label::FirstError(_)) => {
            app.status.message = Some("no categories configured (config `categories`)".into())
        }
        _ => app.status.message = Some("a category goes with a first error: mark it with e first".into()),
    }
}

/// `N`: write a note on my label.
pub fn open_note(app: &mut App) {
    let Some((source, trace, e)) = selected(app) else { return };
    if app.my_label(e, &trace).is_none() {
        app.status.message = Some("a note goes with a label: label the trace first (e or c)".into());
        return;
    }
    let text = app.store_of(e).detail(&trace, &app.settings.annotator).and_then(|d| d.note.clone()).unwrap_or_default();
    app.overlays.push(Overlay::Note { source, trace, text });
}

/// Enter in the note editor: saves the note (an empty note removes it).
pub fn save_note(app: &mut App, source: usize, trace: &str, text: &str) -> Vec<Effect> {
    let note = Some(text.trim().to_string()).filter(|t| !t.is_empty());
    rewrite_detail(app, source, trace, |d| d.note = note)
}

/// `y`: the selected step is where the model realises my first error (again: not any more).
pub fn mark_realisation(app: &mut App) -> Vec<Effect> {
    let Some((source, trace, e)) = selected(app) else { return Vec::new() };
    let step = app.browse.step;
    match app.my_label(e, &trace) {
        Some(Label::FirstError(k)) if step > k => {
            let again = app.store_of(e).detail(&trace, &app.settings.annotator).and_then(|d| d.realised) == Some(step);
            rewrite_detail(app, source, &trace, |d| d.realised = (!again).then_some(step))
        }
        Some(Label::FirstError(k)) => {
            app.status.message = Some(format!("the model realises an error after making it: pick a step after {k}"));
            Vec::new()
        }
        _ => {
            app.status.message = Some("mark the first error first (e), then where the model realises it (y)".into());
            Vec::new()
        }
    }
}

/// `Y`: whether the model recovers from my first error: recovered → fatal → not said.
pub fn cycle_recovery(app: &mut App) -> Vec<Effect> {
    let Some((source, trace, e)) = selected(app) else { return Vec::new() };
    if !matches!(app.my_label(e, &trace), Some(Label::FirstError(_))) {
        app.status.message = Some("recovery goes with a first error: mark it with e first".into());
        return Vec::new();
    }
    let now = app.store_of(e).detail(&trace, &app.settings.annotator).and_then(|d| d.recovered);
    let next = match now {
        None => Some(true),
        Some(true) => Some(false),
        Some(false) => None,
    };
    rewrite_detail(app, source, &trace, |d| d.recovered = next)
}

/// `+` / `0` / `-`: rate the selected step; the same rating again clears it.
pub fn rate(app: &mut App, rating: i8) -> Vec<Effect> {
    let Some((source, trace, e)) = selected(app) else { return Vec::new() };
    let steps = app.summary(e).map_or(0, |s| s.steps);
    if app.browse.step >= steps {
        app.status.message = Some("this trace has no step to rate".into());
        return Vec::new();
    }
    let current =
        app.store_of(e).ratings(&trace, &app.settings.annotator).and_then(|r| r.get(&app.browse.step)).copied();
    let rating = if current == Some(rating) { None } else { Some(rating) };
    vec![Effect::WriteRating {
        source,
        trace,
        annotator: app.settings.annotator.clone(),
        step: app.browse.step,
        rating,
    }]
}

/// The campaign's entries whose hints are shown: in blind mode only the traces I have labelled
/// (a report or agreement over the others would give their labels away).
fn revealed_entries(app: &App) -> Vec<usize> {
    app.campaign_entries()
        .into_iter()
        .filter(|&e| app.settings.blind.is_none() || app.summary(e).is_some_and(|s| !app.hides(e, &s.id).any()))
        .collect()
}

/// What the campaign numbers need about the traces the campaign shows.
fn items(app: &App) -> Vec<Item> {
    revealed_entries(app)
        .into_iter()
        .filter_map(|e| {
            let t = app.trace(e)?;
            let source = app.library.entries[e].source;
            Some(Item::of(source, &t, &app.library.sources[source].store))
        })
        .collect()
}

/// `K`: agreement per file and overall, and each annotator's pace.
pub fn open_agreement(app: &mut App) {
    let items = items(app);
    let mut lines = Vec::new();
    let sources: Vec<usize> = (0..app.library.sources.len()).filter(|s| items.iter().any(|i| i.file == *s)).collect();
    for &s in &sources {
        let of_file: Vec<&Item> = items.iter().filter(|i| i.file == s).collect();
        let name =
            app.library.sources[s].file.path.file_name().map_or(String::new(), |n| n.to_string_lossy().into_owned());
        lines.extend(agreement(&name, &of_file).lines());
    }
    if sources.len() > 1 {
        let all: Vec<&Item> = items.iter().collect();
        lines.extend(agreement("all files", &all).lines());
    }
    let events: Vec<_> = (app.library.sources.iter().enumerate())
        .flat_map(|(i, s)| s.store.label_events().iter().map(move |e| (i, e.clone())))
        .collect();
    for p in pace(&events) {
        lines.push(format!("{}: {}", p.annotator, p.summary()));
    }
    if app.settings.blind.is_some() {
        lines.insert(0, format!("blind: agreement over the {} traces you have labelled", items.len()));
    }
    app.overlays.push(Overlay::Agreement { lines });
}

/// `P`: the failure report over the traces the campaign shows: my labels, else anyone's,
/// else the dataset's.
pub fn open_report(app: &mut App) {
    let items = items(app);
    let refs: Vec<&Item> = items.iter().collect();
    let mine = report(&refs, Some(&app.settings.annotator));
    let report = if mine.human_labels > 0 { mine } else { report(&refs, None) };
    let signal_evals = stored_signal_evals(app);
    app.screen =
        Screen::Report(Box::new(ReportView { report, signal_evals, scroll: 0, max_scroll: Default::default() }));
    if app.settings.blind.is_some() {
        app.status.message = Some(format!("blind: the report covers the {} traces you have labelled", items.len()));
    }
}

/// Each stored signal evaluated against the final answers of the campaign's traces (stored
/// records only: the report screen never runs a model).
fn stored_signal_evals(app: &App) -> Vec<crate::service::signal_eval::SignalEval> {
    use crate::verify::uncertainty::SignalKind;
    [SignalKind::Instability, SignalKind::AnswerEntropy]
        .into_iter()
        .filter_map(|kind| {
            let rows: Vec<_> = revealed_entries(app)
                .into_iter()
                .filter_map(|e| {
                    let t = app.trace(e)?;
                    let correct = t.answer_correct()?;
                    Some((app.store_of(e).signal(&t.id, kind.name())?.clone(), correct))
                })
                .collect();
            (!rows.is_empty()).then(|| crate::service::signal_eval::evaluate(kind, &rows))
        })
        .collect()
}

/// How `--queue` orders a campaign.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Queue {
    /// Traces where the stored verifiers disagree most first.
    Disagree,
    /// Traces I have not labelled, where a probe is least sure of the first error first.
    Uncertain,
}

/// Sets up a campaign: a reproducible sample of `n` traces (`--sample N --seed S`) and/or a
/// queue order (`--queue disagree|uncertain`).
pub fn start(app: &mut App, sample_of: Option<(usize, u64)>, queue: Option<Queue>) {
    let mut order: Vec<usize> = (0..app.library.entries.len()).collect();
    let mut said = Vec::new();
    if let Some((n, seed)) = sample_of {
        order = sample(order.len(), n, seed).into_iter().map(|i| order[i]).collect();
        said.push(format!("sample of {} (seed {seed})", order.len()));
    }
    if queue == Some(Queue::Uncertain) {
        match uncertain_order(app, &order) {
            Ok((o, said_how)) => {
                order = o;
                said.push(said_how);
            }
            Err(why) => said.push(why),
        }
    }
    if queue == Some(Queue::Disagree) {
        let firsts: Vec<(Vec<Option<usize>>, usize)> = order
            .iter()
            .map(|&e| {
                let Some(s) = app.summary(e) else { return (Vec::new(), 0) };
                let f = app.store_of(e).results_for(&s.id).iter().map(|r| r.first_error).collect();
                (f, s.steps)
            })
            .collect();
        order = disagreement_order(&firsts).into_iter().map(|i| order[i]).collect();
        said.push("most verifier disagreement first".into());
    }
    if said.is_empty() {
        return;
    }
    app.browse.order = Some(order);
    app.browse.selected = 0;
    app.refresh_visible();
    app.status.message = Some(format!("campaign: {}", said.join(", ")));
}

/// `O` (and `--queue uncertain`): the list by the probe's uncertainty, unlabelled first.
pub fn queue_uncertain(app: &mut App) {
    let order: Vec<usize> = app.browse.order.clone().unwrap_or_else(|| (0..app.library.entries.len()).collect());
    match uncertain_order(app, &order) {
        Ok((o, said)) => {
            app.browse.order = Some(o);
            app.browse.selected = 0;
            app.refresh_visible();
            app.status.message = Some(said);
        }
        Err(why) => app.status.message = Some(why),
    }
}

/// `order` by the uncertainty of a probe's first error: the probe switched on in the menu (else
/// the first one offered), reading only results of its current head file.
fn uncertain_order(app: &App, order: &[usize]) -> Result<(Vec<usize>, String), String> {
    let probes: Vec<&(String, bool)> =
        app.settings.verifier_choices.iter().filter(|(s, _)| s.starts_with("probe:")).collect();
    let Some((spec, _)) = probes.iter().find(|(_, on)| *on).or(probes.first()) else {
        return Err("no probe to order by: label some traces and train one (T)".into());
    };
    let hash = crate::model::fingerprint(std::path::Path::new(spec.trim_start_matches("probe:")));
    let items: Vec<(bool, Option<Vec<Option<f64>>>)> = order
        .iter()
        .map(|&e| {
            let Some(s) = app.summary(e) else { return (false, None) };
            let mine = app.my_label(e, &s.id).is_some();
            let results = app.store_of(e).results_for(&s.id);
            let scores = results.iter().find(|r| r.spec == *spec && r.model_hash.as_deref() == Some(hash.as_str()));
            (mine, scores.map(|r| r.scores.clone()))
        })
        .collect();
    // A cumulatively decoded head stores the chance of no error so far; the first-error
    // distribution wants each step's own reading.
    let head = crate::verify::probe::ProbeHead::read(std::path::Path::new(spec.trim_start_matches("probe:")));
    let items = match head.ok().and_then(|h| h.cumulative) {
        Some(_) => items.into_iter().map(|(m, s)| (m, s.map(|s| crate::signals::from_survival(&s)))).collect(),
        None => items,
    };
    let scored = items.iter().filter(|(_, s)| s.is_some()).count();
    let ordered = crate::service::campaign::uncertainty_order(&items).into_iter().map(|i| order[i]).collect();
    Ok((ordered, format!("queue: the probe's least sure first errors first ({scored}/{} scored by it)", order.len())))
}
