//! `update(state, action)`: the only place the app state changes. Label actions write to the
//! store first and change what the screen shows only after the write returned.

use crate::jobs::ScoreItem;
use crate::trace::Label;

use super::action::Action;
use super::state::{App, Focus};
use super::views::layout::{layout, Areas};

const PAGE: usize = 10;

pub fn update(app: &mut App, action: Action) {
    if action == Action::RefreshJournals {
        refresh_journals(app);
        return;
    }
    if app.searching && search_input(app, &action) {
        return;
    }
    if app.menu.is_some() && menu_input(app, &action) {
        return;
    }
    if app.help && !matches!(action, Action::Resize { .. } | Action::Quit) {
        // Any key closes the help overlay.
        app.help = false;
        return;
    }
    match action {
        Action::Up => move_by(app, -1),
        Action::Down => move_by(app, 1),
        Action::PageUp => move_by(app, -(PAGE as i64)),
        Action::PageDown => move_by(app, PAGE as i64),
        Action::Top => move_by(app, i64::MIN / 2),
        Action::Bottom => move_by(app, i64::MAX / 2),
        Action::SwitchFocus => {
            app.focus = if app.focus == Focus::List { Focus::Steps } else { Focus::List };
        }
        Action::Open => {
            if app.selected_entry().is_some() {
                app.focus = Focus::Steps;
            }
        }
        Action::MarkFirstError => {
            let step = app.step;
            set_label(app, Some(Label::FirstError(step)));
        }
        Action::MarkNoError => set_label(app, Some(Label::NoError)),
        Action::ClearLabel => set_label(app, None),
        Action::Undo => undo_redo(app, true),
        Action::Redo => undo_redo(app, false),
        Action::NextUnlabelled => next_unlabelled(app),
        Action::StartSearch => {
            app.searching = true;
            app.search_origin = app.selected_entry();
            app.message = None;
        }
        Action::CycleFilter => {
            app.filter = app.filter.next();
            app.refresh_visible();
            app.message = Some(format!("filter: {} ({} traces)", app.filter.name(), app.visible.len()));
        }
        Action::ToggleHelp => app.help = true,
        Action::Cancel => cancel(app),
        Action::ScoreTrace => score(app, false),
        Action::ScoreVisible => score(app, true),
        Action::VerifierMenu => app.menu = Some(0),
        Action::Toggle => {}
        Action::Quit => app.quit = true,
        Action::Click { column, row } => click(app, column, row),
        Action::Scroll { column, row, lines } => scroll(app, column, row, lines),
        Action::Resize { width, height } => app.size = (width, height),
        Action::SearchInput(_) | Action::SearchBackspace | Action::SearchCommit => {}
        Action::Paste(_) => app.message = Some("paste ignored (press / to search, then paste)".into()),
        Action::RefreshJournals => {} // handled first, above: no overlay may swallow it
    }
}

/// Takes in labels and results other processes wrote to the journals.
fn refresh_journals(app: &mut App) {
    let mut changed = false;
    for source in &mut app.sources {
        match source.store.refresh() {
            Ok(c) => changed |= c,
            Err(e) => {
                app.message = Some(format!("{}: cannot read the label journal: {e}", source.store.path().display()))
            }
        }
    }
    if changed {
        app.refresh_visible();
    }
}

/// Keys while the verifier menu is open; returns true when consumed.
fn menu_input(app: &mut App, action: &Action) -> bool {
    let n = app.verifier_choices.len();
    let Some(at) = app.menu else { return false };
    match action {
        Action::Up => app.menu = Some(at.saturating_sub(1)),
        Action::Down => app.menu = Some((at + 1).min(n.saturating_sub(1))),
        Action::Toggle | Action::Open => {
            if let Some(c) = app.verifier_choices.get_mut(at) {
                c.1 = !c.1;
            }
        }
        Action::Cancel | Action::VerifierMenu | Action::Quit => {
            app.menu = None;
            let chosen = app.chosen_verifiers();
            app.message = Some(if chosen.is_empty() {
                "no verifier chosen (m opens the menu)".into()
            } else {
                format!("verifiers: {} (v scores this trace, V every shown trace)", chosen.join(", "))
            });
        }
        Action::Resize { width, height } => app.size = (*width, *height),
        _ => {}
    }
    true
}

/// Esc: cancel running scoring first, else clear the message.
fn cancel(app: &mut App) {
    match app.scoring.as_ref().and_then(|s| s.handle.as_ref()) {
        Some(h) => {
            h.cancel();
            app.message = Some("cancelling scoring…".into());
        }
        None => app.message = None,
    }
}

/// Queues the chosen verifiers over the open trace or every shown trace.
fn score(app: &mut App, all: bool) {
    if app.scoring.is_some() {
        app.message = Some("scoring is already running (Esc cancels it)".into());
        return;
    }
    let specs = app.chosen_verifiers();
    if specs.is_empty() {
        app.message = Some("no verifier chosen: m opens the menu".into());
        return;
    }
    let entries: Vec<usize> = if all { app.visible.clone() } else { app.selected_entry().into_iter().collect() };
    // Each trace travels with its stored results: the worker reuses those that match.
    let items: Vec<ScoreItem> = entries
        .iter()
        .filter_map(|&e| {
            let trace = app.trace(e)?;
            let stored = app.store_of(e).results_for(&trace.id).into_iter().cloned().collect();
            Some(ScoreItem { tag: app.entries[e].source, trace: (*trace).clone(), stored })
        })
        .filter(|item| !item.trace.steps.is_empty())
        .collect();
    if items.is_empty() {
        app.message = Some("nothing to score (no trace with steps selected)".into());
        return;
    }
    let total = items.len() * specs.len();
    app.message = Some(format!("scoring {} traces with {}", items.len(), specs.join(", ")));
    app.scoring = Some(crate::tui::state::Scoring { handle: None, done: 0, total, tally: None });
    app.requests.push(crate::tui::state::Request::Score { items, specs });
}

/// Handles typing into the search field; returns true when the action was consumed.
fn search_input(app: &mut App, action: &Action) -> bool {
    match action {
        Action::SearchInput(c) => app.search.push(*c),
        // One line of a pasted text: line breaks become spaces.
        Action::Paste(text) => app.search.extend(text.chars().map(|c| if c.is_control() { ' ' } else { c })),
        Action::SearchBackspace => {
            app.search.pop();
        }
        Action::SearchCommit => app.searching = false,
        Action::Cancel => {
            app.searching = false;
            app.search.clear();
            app.refresh_visible();
            if let Some(pos) = app.search_origin.and_then(|e| app.visible.iter().position(|&v| v == e)) {
                app.selected = pos;
            }
            return true;
        }
        _ => return false,
    }
    app.refresh_visible();
    true
}

fn move_by(app: &mut App, delta: i64) {
    match app.focus {
        Focus::List => {
            let before = app.selected_entry();
            app.selected = clamp_add(app.selected, delta, app.visible.len());
            if app.selected_entry() != before {
                app.step = 0;
            }
        }
        Focus::Steps => {
            let steps = app.selected_entry().and_then(|e| app.trace(e)).map_or(0, |t| t.steps.len());
            app.step = clamp_add(app.step, delta, steps);
        }
    }
}

fn clamp_add(at: usize, delta: i64, len: usize) -> usize {
    if len == 0 {
        return 0;
    }
    (at as i64).saturating_add(delta).clamp(0, len as i64 - 1) as usize
}

fn set_label(app: &mut App, value: Option<Label>) {
    let Some(entry) = app.selected_entry() else {
        app.message = Some("no trace selected".into());
        return;
    };
    let Some(trace) = app.trace(entry) else { return };
    if let Some(Label::FirstError(k)) = value {
        if k >= trace.steps.len() {
            app.message = Some("this trace has no steps to mark".into());
            return;
        }
    }
    let annotator = app.annotator.clone();
    let source = app.entries[entry].source;
    if app.sources[source].ambiguous.contains(&trace.id) {
        app.message = Some(format!(
            "NOT saved: trace id {} appears more than once in this file, so a label could not say which one it means",
            trace.id
        ));
        return;
    }
    match app.sources[source].store.set_label(&trace.id, &annotator, value) {
        Ok(()) => {
            app.message = Some(match value {
                Some(Label::FirstError(k)) => format!("saved: {} first error at step {k}", trace.id),
                Some(Label::NoError) => format!("saved: {} has no error", trace.id),
                None => format!("saved: cleared my label on {}", trace.id),
            });
        }
        Err(e) => app.message = Some(format!("NOT saved ({e}): label unchanged")),
    }
    app.refresh_visible();
}

fn undo_redo(app: &mut App, undo: bool) {
    let annotator = app.annotator.clone();
    let source = app.selected_entry().map_or(0, |e| app.entries[e].source);
    let Some(store) = app.sources.get_mut(source).map(|s| &mut s.store) else { return };
    let result = if undo { store.undo(&annotator) } else { store.redo(&annotator) };
    let verb = if undo { "undid" } else { "redid" };
    app.message = Some(match result {
        Ok(Some(trace)) => {
            select_trace(app, source, &trace);
            format!("{verb} the label change on {trace}")
        }
        Ok(None) => format!("nothing to {}", if undo { "undo" } else { "redo" }),
        Err(e) => format!("NOT saved ({e})"),
    });
    app.refresh_visible();
}

fn select_trace(app: &mut App, source: usize, id: &str) {
    let found = app
        .visible
        .iter()
        .position(|&e| app.entries[e].source == source && app.summaries[e].as_ref().is_some_and(|s| s.id == id));
    if let Some(pos) = found {
        if pos != app.selected {
            app.selected = pos;
            app.step = 0;
        }
    }
}

fn next_unlabelled(app: &mut App) {
    let n = app.visible.len();
    let found = (1..=n).map(|d| (app.selected + d) % n.max(1)).find(|&pos| {
        let e = app.visible[pos];
        app.summary(e).is_some_and(|s| app.my_label(e, &s.id).is_none())
    });
    match found {
        Some(pos) => {
            app.selected = pos;
            app.step = 0;
        }
        None => app.message = Some("every trace shown is labelled".into()),
    }
}

fn click(app: &mut App, column: u16, row: u16) {
    let areas: Areas = layout(app.size.0, app.size.1, app.focus);
    if let Some(list) = areas.list.filter(|r| r.contains((column, row).into())) {
        app.focus = crate::tui::state::Focus::List;
        let first_row = list.y + 1;
        if row >= first_row {
            let pos = app.list_offset.get() + (row - first_row) as usize;
            if pos < app.visible.len() && pos != app.selected {
                app.selected = pos;
                app.step = 0;
            }
        }
    } else if areas.steps.is_some_and(|r| r.contains((column, row).into())) {
        app.focus = Focus::Steps;
        let hit = app.step_rows.borrow().iter().rev().find(|(y, _)| *y <= row).map(|(_, s)| *s);
        if let Some(step) = hit {
            app.step = step;
        }
    }
}

fn scroll(app: &mut App, column: u16, row: u16, lines: i32) {
    let areas = layout(app.size.0, app.size.1, app.focus);
    let saved = app.focus;
    if areas.list.is_some_and(|r| r.contains((column, row).into())) {
        app.focus = Focus::List;
    } else if areas.steps.is_some_and(|r| r.contains((column, row).into())) {
        app.focus = Focus::Steps;
    }
    move_by(app, lines as i64);
    app.focus = saved;
}
