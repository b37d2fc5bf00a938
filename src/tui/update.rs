//! `update(state, msg)`: the only place the app state changes. `reduce` applies one message
//! and returns the side effects it needs (label writes, storing results, reading journals);
//! `update` runs those through `effects::run` and feeds each outcome back as a message, so a
//! label is shown as saved only after its write returned. Work for the model thread is queued
//! in `App::requests` for the event loop to hand over.

use std::collections::VecDeque;

use crate::jobs::{JobEvent, ScoreItem};
use crate::service::Outcome;
use crate::trace::store::VerifyRecord;
use crate::trace::Label;

use super::action::Action;
use super::adjudicate;
use super::campaign;
use super::effects::{self, Effect};
use super::long_cot;
pub use super::msg::Msg;
use super::refining;
use super::state::{App, Filter, Focus, Overlay, Request, Scoring, Screen};
use super::training;
use super::views::layout::{layout, Areas};
use crate::refine::strategy::Strategy;

const PAGE: usize = 10;

/// Applies a message and every effect it leads to.
pub fn update(app: &mut App, msg: impl Into<Msg>) {
    let mut queue = VecDeque::from([msg.into()]);
    while let Some(m) = queue.pop_front() {
        for effect in reduce(app, m) {
            queue.push_back(effects::run(app, effect));
        }
    }
}

/// Applies one message to the state; returns the effects to run.
pub fn reduce(app: &mut App, msg: Msg) -> Vec<Effect> {
    let effects = match msg {
        Msg::Action(a) => action(app, a),
        Msg::Job(e) => job_event(app, e),
        Msg::Summaries { first_entry, batch, problems, duplicates } => {
            app.library.problems.extend(problems);
            if let Some(source) = app.library.entries.get(first_entry).map(|e| e.source) {
                app.library.sources[source].ambiguous.extend(duplicates);
            }
            app.add_summaries(first_entry, batch);
            Vec::new()
        }
        Msg::LabelWritten { source, trace, value, detail, prompt, was, result } => {
            campaign::label_written(app, source, &trace, value, &detail, prompt, &was, result);
            Vec::new()
        }
        Msg::GoldWritten { trace, value, was, result } => {
            adjudicate::written(app, &trace, value, was, result);
            Vec::new()
        }
        Msg::RatingWritten { trace, step, rating, result } => {
            app.status.message = Some(match (result, rating) {
                (Ok(()), Some(r)) => format!("saved: {trace} step {step} rated {r:+}"),
                (Ok(()), None) => format!("saved: cleared my rating of {trace} step {step}"),
                (Err(e), _) => format!("rating NOT saved ({e})"),
            });
            Vec::new()
        }
        Msg::UndoneRedone { source, undo, result } => {
            let verb = if undo { "undid" } else { "redid" };
            app.status.message = Some(match result {
                Ok(Some(trace)) => {
                    select_trace(app, source, &trace);
                    format!("{verb} the label change on {trace}")
                }
                Ok(None) => format!("nothing to {}", if undo { "undo" } else { "redo" }),
                Err(e) => format!("NOT saved ({e})"),
            });
            app.refresh_visible();
            Vec::new()
        }
        Msg::ResultStored { trace, spec, done, total, result } => {
            app.status.message = Some(match result {
                Ok(()) => format!("scored {trace} with {spec} ({done}/{total})"),
                Err(e) => format!("result NOT saved ({e})"),
            });
            if app.browse.filter != Filter::All {
                app.refresh_visible();
            }
            Vec::new()
        }
        Msg::ModelRequested { spec, options } => {
            app.status.model_status = Some(format!("model {spec}: starting"));
            app.settings.verify_options.load = options;
            Vec::new()
        }
        Msg::Submitted(handle) => {
            if let Some(s) = app.status.scoring.as_mut() {
                s.handle = Some(handle);
            }
            Vec::new()
        }
        Msg::RefineSubmitted(handles) => {
            refining::submitted(app, handles);
            Vec::new()
        }
        Msg::TrainSubmitted(handle) => {
            training::submitted(app, handle);
            Vec::new()
        }
        Msg::CandidateStored { source, id, result } => {
            let shown = match result {
                Ok(r) => {
                    let name = r.path.file_name().map_or(String::new(), |n| n.to_string_lossy().into_owned());
                    app.attach_refinements(source, r.file, r.store);
                    Ok(name)
                }
                Err(e) => Err(e),
            };
            refining::stored(app, &id, shown);
            Vec::new()
        }
        Msg::AskedStored { id, result } => {
            let shown = result.map(|r| {
                let path = r.path.display().to_string();
                app.attach_asked(r.file, r.store);
                path
            });
            refining::stored(app, &id, shown);
            Vec::new()
        }
        Msg::JournalsRefreshed { changed, errors } => {
            if let Some(e) = errors.into_iter().last() {
                app.status.message = Some(e);
            }
            if changed {
                app.refresh_visible();
            }
            Vec::new()
        }
    };
    keep_in_view(app);
    effects
}

fn action(app: &mut App, action: Action) -> Vec<Effect> {
    if action == Action::RefreshJournals {
        // Handled before any overlay: none may swallow it.
        return vec![Effect::RefreshJournals];
    }
    if let Action::Resize { width, height } = action {
        app.size = (width, height);
        return Vec::new();
    }
    match app.overlay().cloned() {
        Some(Overlay::Search { origin }) => {
            if let Some(done) = search_input(app, &action, origin) {
                return done;
            }
        }
        Some(Overlay::VerifierMenu { cursor }) => return menu_input(app, &action, cursor),
        Some(Overlay::Edit { .. } | Overlay::Ask { .. } | Overlay::Note { .. } | Overlay::Reason { .. }) => {
            return edit_input(app, &action)
        }
        Some(Overlay::Category { source, trace }) => {
            if let Some(done) = campaign::category_input(app, &action, source, &trace) {
                return done;
            }
        }
        Some(Overlay::Agreement { .. }) if action != Action::Quit => {
            app.overlays.pop();
            if action == Action::Open {
                disagreeing_traces(app);
            }
            return Vec::new();
        }
        Some(Overlay::Help { scroll }) => {
            help_input(app, &action, scroll);
            return Vec::new();
        }
        _ => {}
    }
    if app.screen.is_compare() {
        if let Some(done) = compare_input(app, &action) {
            return done;
        }
    }
    if matches!(app.screen, crate::tui::state::Screen::Report(_)) {
        report_input(app, &action);
        return Vec::new();
    }
    let Some((action, count)) = super::prefix::take(app, action) else { return Vec::new() };
    let n = count.unwrap_or(1) as i64;
    match action {
        Action::Up => move_by(app, -n),
        Action::Down => move_by(app, n),
        Action::PageUp => move_by(app, -n * PAGE as i64),
        Action::PageDown => move_by(app, n * PAGE as i64),
        Action::GoPrefix => {}
        Action::Top => move_by(app, i64::MIN / 2),
        Action::Bottom => move_by(app, i64::MAX / 2),
        Action::SwitchFocus => {
            app.browse.focus = if app.browse.focus == Focus::List { Focus::Steps } else { Focus::List };
        }
        Action::Open => {
            if app.selected_entry().is_some() {
                app.browse.focus = Focus::Steps;
            }
        }
        Action::MarkFirstError => {
            // `3e`: step 3 is the first error (the cursor goes there).
            if let Some(k) = count {
                let steps = app.selected_entry().and_then(|e| app.trace(e)).map_or(0, |t| t.steps.len());
                if k >= steps {
                    app.status.message =
                        Some(format!("no step {k}: this trace has steps 0–{}", steps.saturating_sub(1)));
                    return Vec::new();
                }
                app.browse.step = k;
                if let Some(entry) = app.selected_entry() {
                    long_cot::reveal(app, entry, k);
                }
            }
            let step = app.browse.step;
            if app.settings.adjudicate {
                adjudicate::decide(app, Some(Label::FirstError(step)));
                return Vec::new();
            }
            return set_label(app, Some(Label::FirstError(step)));
        }
        Action::MarkNoError if app.settings.adjudicate => adjudicate::decide(app, Some(Label::NoError)),
        Action::ClearLabel if app.settings.adjudicate => adjudicate::decide(app, None),
        Action::Undo | Action::Redo if app.settings.adjudicate => {
            app.status.message =
                Some("adjudicating: e / c / x decide the gold label again (u undoes my own labels: D leaves)".into())
        }
        Action::MarkNoError => return set_label(app, Some(Label::NoError)),
        Action::ClearLabel => return set_label(app, None),
        Action::Undo => return undo_redo(app, true),
        Action::Redo => return undo_redo(app, false),
        // After a search, n / N move between its matches (`/` Esc clears the search).
        Action::NextUnlabelled if searched(app) => next_match(app, true),
        Action::Note if searched(app) => next_match(app, false),
        Action::NextUnlabelled if app.settings.adjudicate => adjudicate::next_unsettled(app),
        Action::NextUnlabelled => app.next_unlabelled(),
        Action::StartSearch => {
            // A new search starts empty (`/` after a search does not append to it).
            let origin = app.selected_entry();
            app.browse.search.clear();
            app.refresh_visible();
            select_entry(app, origin);
            app.overlays.push(Overlay::Search { origin });
            app.status.message = None;
        }
        Action::CycleFilter => {
            app.browse.filter = app.browse.filter.next();
            // Blind mode: filters that would give away a hidden hint are skipped.
            while app.settings.blind.is_some()
                && matches!(
                    app.browse.filter,
                    Filter::Disagreement | Filter::AnnotatorsDisagree | Filter::VerifierDisagrees | Filter::AnswerWrong
                )
            {
                app.browse.filter = app.browse.filter.next();
            }
            app.refresh_visible();
            say_filter(app);
        }
        Action::ToggleHelp => app.overlays.push(Overlay::Help { scroll: 0 }),
        Action::Cancel => cancel(app),
        Action::ScoreTrace => score(app, false),
        Action::TrainProbe => training::start(app),
        Action::QueueUncertain => campaign::queue_uncertain(app),
        Action::ScoreVisible => score(app, true),
        Action::VerifierMenu => app.overlays.push(Overlay::VerifierMenu { cursor: 0 }),
        Action::Toggle => {}
        Action::Quit => app.quit = true,
        Action::RefineLocal => refining::start(app, Strategy::Local),
        Action::RefineGlobal => refining::start(app, Strategy::Global),
        Action::Intervene => refining::start(app, Strategy::Intervene),
        Action::Fork => refining::start(app, Strategy::Fork),
        Action::Race => refining::start_race(app),
        Action::Generate => refining::start(app, Strategy::Generate),
        Action::EditStep => refining::start_edit(app),
        Action::Accept => return refining::accept(app),
        Action::Ask => refining::start_ask(app),
        Action::Compare => refining::toggle_compare(app),
        Action::NextCandidate | Action::PrevCandidate | Action::Digit(_) => {}
        Action::Category => campaign::open_category(app),
        Action::Note => campaign::open_note(app),
        Action::Rate(r) => return campaign::rate(app, r),
        Action::Realisation => return campaign::mark_realisation(app),
        Action::Recovery => return campaign::cycle_recovery(app),
        Action::Agreement => campaign::open_agreement(app),
        Action::Adjudicate => adjudicate::toggle(app),
        Action::Fold => long_cot::toggle(app),
        Action::FoldAll => long_cot::toggle_all(app),
        Action::NextReflection => long_cot::next_reflection(app),
        Action::NextSection => long_cot::next_section(app, true),
        Action::PrevSection => long_cot::next_section(app, false),
        Action::NextFlagged => long_cot::next_flagged(app),
        Action::Report => campaign::open_report(app),
        Action::Click { column, row } => click(app, column, row),
        Action::Scroll { column, row, lines } => scroll(app, column, row, lines),
        Action::TextInput(_) | Action::TextBackspace | Action::TextCommit => {}
        Action::Paste(_) => app.status.message = Some("paste ignored (press / to search, then paste)".into()),
        Action::Resize { .. } | Action::RefreshJournals => {} // handled first, above
    }
    Vec::new()
}

/// Results and progress from the model thread. A computed result is stored (an effect); a
/// reused one is already in the store.
fn job_event(app: &mut App, e: JobEvent) -> Vec<Effect> {
    if let Some(effects) = refining::job_event(app, &e) {
        return effects;
    }
    if training::job_event(app, &e).is_some() {
        return Vec::new();
    }
    let scoring_job =
        |app: &App, job: u64| app.status.scoring.as_ref().and_then(|s| s.handle.as_ref()).is_some_and(|h| h.id == job);
    match e {
        JobEvent::Scored { tag, record, outcome, done, total, .. } => {
            if let Some(s) = app.status.scoring.as_mut() {
                s.done = done;
                s.total = total;
            }
            if let Some(c) = app.compare.as_mut().filter(|c| c.rerank_by.as_deref() == Some(record.spec.as_str())) {
                if c.holds(&record.trace) {
                    c.model_scores.insert(record.trace.clone(), record.scores.clone());
                }
            }
            match outcome {
                Outcome::Computed if tag == UNSTORED => {
                    if let Some(s) = app.status.scoring.as_mut() {
                        s.unstored += 1;
                    }
                    app.status.message = Some(format!("scored {} with {} ({done}/{total})", record.trace, record.spec))
                }
                Outcome::Computed => return vec![Effect::StoreResult { source: tag, record, done, total }],
                Outcome::Reused => reused(app, &record, done, total),
            }
        }
        JobEvent::ScoreFailed { trace, error, .. } => app.status.message = Some(format!("{trace}: {error}")),
        JobEvent::ScoreTally { job, computed, reused, models_loaded } if scoring_job(app, job) => {
            if let Some(s) = app.status.scoring.as_mut() {
                s.tally = Some((computed, reused, models_loaded));
            }
        }
        JobEvent::Progress { job, message } if scoring_job(app, job) => app.status.message = Some(message),
        JobEvent::Finished { job } if scoring_job(app, job) => {
            let s = app.status.scoring.take().expect("scoring job");
            let tally = s.tally.map_or(String::new(), |(computed, reused, loaded)| {
                format!(" ({computed} new, {reused} reused; {loaded} models loaded)")
            });
            let kept = match s.unstored {
                0 => String::new(),
                n => format!(", {n} kept on the compare screen (candidates not saved)"),
            };
            app.status.message =
                Some(format!("scoring done: {}/{} results stored{kept}{tally}", s.done - s.unstored, s.total));
        }
        JobEvent::Cancelled { job } if scoring_job(app, job) => {
            let s = app.status.scoring.take().expect("scoring job");
            app.status.message = Some(format!("scoring cancelled: {}/{} results stored", s.done, s.total));
        }
        JobEvent::Failed { job, error } if scoring_job(app, job) => {
            app.status.scoring = None;
            app.status.message = Some(format!("scoring failed: {error}"));
        }
        JobEvent::Progress { message, .. } => app.status.model_status = Some(format!("model: {message}")),
        JobEvent::Loaded { name, device, arch, .. } => {
            app.status.model_status = Some(format!("model {name} ({arch}, {device}) ready"));
        }
        JobEvent::Failed { error, .. } => app.status.model_status = Some(format!("model failed: {error}")),
        JobEvent::Servers { live, total, mean_ms, .. } => {
            app.status.server_status = Some(format!("{live}/{total} servers up, {mean_ms:.0} ms/request"));
        }
        JobEvent::Token { .. }
        | JobEvent::Refined { .. }
        | JobEvent::Trained { .. }
        | JobEvent::ScoreTally { .. }
        | JobEvent::Generated { .. }
        | JobEvent::Finished { .. }
        | JobEvent::Cancelled { .. } => {}
    }
    Vec::new()
}

fn reused(app: &mut App, record: &VerifyRecord, done: usize, total: usize) {
    app.status.message = Some(format!("reused {} with {} ({done}/{total})", record.trace, record.spec));
}

/// Keys while the verifier menu is open (it takes every key).
fn menu_input(app: &mut App, action: &Action, at: usize) -> Vec<Effect> {
    let n = app.settings.verifier_choices.len();
    let set_cursor = |app: &mut App, c: usize| {
        if let Some(Overlay::VerifierMenu { cursor }) = app.overlays.last_mut() {
            *cursor = c;
        }
    };
    match action {
        Action::Up => set_cursor(app, at.saturating_sub(1)),
        Action::Down => set_cursor(app, (at + 1).min(n.saturating_sub(1))),
        Action::Toggle | Action::Open => {
            if let Some(c) = app.settings.verifier_choices.get_mut(at) {
                c.1 = !c.1;
            }
        }
        Action::Cancel | Action::VerifierMenu | Action::Quit => {
            app.overlays.pop();
            let chosen = app.chosen_verifiers();
            app.status.message = Some(if chosen.is_empty() {
                "no verifier chosen (m opens the menu)".into()
            } else {
                format!("verifiers: {} (v scores this trace, V every shown trace)", chosen.join(", "))
            });
        }
        _ => {}
    }
    Vec::new()
}

/// Esc: cancel running scoring first, else a running refinement, else leave the compare
/// screen, else clear the message.
fn cancel(app: &mut App) {
    if let Some(h) = app.status.scoring.as_ref().and_then(|s| s.handle.as_ref()) {
        h.cancel();
        app.status.message = Some("cancelling scoring…".into());
    } else if refining::cancel(app) || training::cancel(app) {
    } else if app.screen.is_compare() {
        app.screen = super::state::Screen::Browse;
    } else {
        app.status.message = None;
    }
}

/// Where a move key takes a scroll offset (`None`: the key is not a move). The caller clamps it.
fn scrolled(scroll: usize, action: &Action) -> Option<usize> {
    Some(match action {
        Action::Up => scroll.saturating_sub(1),
        Action::Down => scroll + 1,
        Action::PageUp => scroll.saturating_sub(PAGE),
        Action::PageDown => scroll + PAGE,
        Action::Top => 0,
        Action::Bottom => usize::MAX / 2,
        Action::Scroll { lines, .. } => scroll.saturating_add_signed(*lines as isize),
        _ => return None,
    })
}

/// The help overlay takes every key: the moves scroll it, `q` quits, any other key closes it.
fn help_input(app: &mut App, action: &Action, scroll: usize) {
    let Some(to) = scrolled(scroll, action) else {
        if *action == Action::Quit {
            app.quit = true;
        } else {
            app.overlays.pop();
        }
        return;
    };
    let most = super::views::help::max_scroll(app, app.size.0, app.size.1);
    if let Some(Overlay::Help { scroll }) = app.overlays.last_mut() {
        *scroll = to.min(most);
    }
}

/// The report screen takes every key: nothing typed there reaches the trace behind it (a
/// label changed unseen is the worst thing a key can do).
fn report_input(app: &mut App, action: &Action) {
    let Screen::Report(view) = &mut app.screen else { return };
    if let Some(to) = scrolled(view.scroll, action) {
        view.scroll = to.min(view.max_scroll.get());
        return;
    }
    match action {
        Action::Cancel | Action::Report => app.screen = Screen::Browse,
        Action::Quit => app.quit = true,
        Action::ToggleHelp => app.overlays.push(Overlay::Help { scroll: 0 }),
        _ => app.status.message = Some("report: j/k scroll, P or Esc goes back".into()),
    }
}

/// Keys that mean something else on the compare screen; `None` for the ones that do not.
fn compare_input(app: &mut App, action: &Action) -> Option<Vec<Effect>> {
    match action {
        Action::Up => refining::scroll(app, -1),
        Action::Down => refining::scroll(app, 1),
        Action::PageUp => refining::scroll(app, -(PAGE as i64)),
        Action::PageDown => refining::scroll(app, PAGE as i64),
        Action::Top => refining::scroll(app, i64::MIN / 2),
        Action::SwitchFocus | Action::NextCandidate => refining::next_candidate(app, true),
        Action::PrevCandidate => refining::next_candidate(app, false),
        Action::MarkFirstError | Action::MarkNoError | Action::ClearLabel | Action::Open => {
            app.status.message = Some("labels are set in the list: Esc (or C) goes back to it".into());
        }
        _ => return None,
    }
    Some(Vec::new())
}

/// Keys while a step is rewritten or a question typed: text goes into it, Enter runs, Esc
/// drops it.
fn edit_input(app: &mut App, action: &Action) -> Vec<Effect> {
    let text = match app.overlays.last_mut() {
        Some(
            Overlay::Edit { text, .. }
            | Overlay::Ask { text }
            | Overlay::Note { text, .. }
            | Overlay::Reason { text, .. },
        ) => text,
        _ => return Vec::new(),
    };
    match action {
        Action::TextInput(c) => text.push(*c),
        Action::Paste(p) => text.push_str(p),
        Action::TextBackspace => {
            text.pop();
        }
        Action::TextCommit => match app.overlays.pop() {
            Some(Overlay::Edit { step, text }) => refining::finish_edit(app, step, &text),
            Some(Overlay::Ask { text }) => refining::ask(app, &text),
            Some(Overlay::Note { source, trace, text }) => return campaign::save_note(app, source, &trace, &text),
            Some(Overlay::Reason { source, trace, value, text }) => {
                return adjudicate::save(app, source, trace, value, &text)
            }
            _ => {}
        },
        Action::Cancel => {
            let gold = matches!(app.overlays.pop(), Some(Overlay::Reason { .. }));
            app.status.message = Some(if gold { "dropped: the gold label is unchanged" } else { "dropped" }.into());
        }
        Action::Quit => app.quit = true,
        _ => {}
    }
    Vec::new()
}

/// Queues the chosen verifiers over the open trace or every shown trace.
fn score(app: &mut App, all: bool) {
    if app.status.scoring.is_some() {
        app.status.message = Some("scoring is already running (Esc cancels it)".into());
        return;
    }
    let specs = app.chosen_verifiers();
    if specs.is_empty() {
        app.status.message = Some("no verifier chosen: m opens the menu".into());
        return;
    }
    let items = if app.screen.is_compare() && app.compare.is_some() {
        compare_items(app, &specs)
    } else {
        entry_items(app, all)
    };
    if items.is_empty() {
        app.status.message = Some("nothing to score (no trace with steps selected)".into());
        return;
    }
    let total = items.len() * specs.len();
    app.status.message = Some(format!("scoring {} traces with {}", items.len(), specs.join(", ")));
    app.status.scoring = Some(Scoring { handle: None, done: 0, total, tally: None, unstored: 0 });
    app.requests.push(Request::Score { items, specs });
}

/// A result for a trace that has no label store (a candidate not saved): kept in the compare
/// screen, not stored.
pub const UNSTORED: usize = usize::MAX;

/// On the compare screen: the draft and every candidate, so the first model verifier chosen
/// reranks them (`Compare::rerank_by`).
fn compare_items(app: &mut App, specs: &[String]) -> Vec<ScoreItem> {
    let draft_source = app.compare.as_ref().and_then(|c| c.draft_entry).map(|e| app.library.entries[e].source);
    let stored = |app: &App, id: &str| match app.compare.as_ref().and_then(|c| c.draft_entry) {
        Some(e) => app.store_of(e).results_for(id).into_iter().cloned().collect(),
        None => Vec::new(),
    };
    let c = app.compare.as_ref().expect("on the compare screen");
    let mut items = vec![ScoreItem {
        tag: draft_source.unwrap_or(UNSTORED),
        trace: (*c.draft).clone(),
        stored: stored(app, &c.draft.id),
    }];
    for s in c.candidates.iter().filter(|s| !s.cancelled && !s.trace.steps.is_empty()) {
        items.push(ScoreItem { tag: UNSTORED, trace: s.trace.clone(), stored: Vec::new() });
    }
    // Results name their verifier in canonical form.
    let (votes, rollouts) = (app.settings.verify_options.votes, app.settings.verify_options.rollouts);
    let canonical = |s: &String| crate::verify::parse_spec(s).ok().map(|v| v.canonical(votes, rollouts).to_string());
    let rerank_by = specs.iter().filter_map(canonical).find(|s| s.as_str() != "arith");
    let c = app.compare.as_mut().expect("on the compare screen");
    c.rerank_by = rerank_by;
    c.model_scores.clear();
    items
}

/// The open trace, or every trace the filter shows; each travels with its stored results (the
/// worker reuses those that match).
fn entry_items(app: &App, all: bool) -> Vec<ScoreItem> {
    let entries: Vec<usize> = if all { app.browse.visible.clone() } else { app.selected_entry().into_iter().collect() };
    entries
        .iter()
        .filter_map(|&e| {
            let trace = app.trace(e)?;
            let stored = app.store_of(e).results_for(&trace.id).into_iter().cloned().collect();
            Some(ScoreItem { tag: app.library.entries[e].source, trace: (*trace).clone(), stored })
        })
        .filter(|item| !item.trace.steps.is_empty())
        .collect()
}

/// Handles typing into the search field; `Some` when the action was consumed.
fn search_input(app: &mut App, action: &Action, origin: Option<usize>) -> Option<Vec<Effect>> {
    match action {
        Action::TextInput(c) => {
            app.browse.search.push(*c);
            app.narrow_visible();
            return Some(Vec::new());
        }
        // One line of a pasted text: line breaks become spaces.
        Action::Paste(text) => {
            app.browse.search.extend(text.chars().map(|c| if c.is_control() { ' ' } else { c }));
            app.narrow_visible();
            return Some(Vec::new());
        }
        Action::TextBackspace => {
            app.browse.search.pop();
        }
        Action::TextCommit => {
            app.overlays.pop();
        }
        Action::Cancel => {
            app.overlays.pop();
            app.browse.search.clear();
            app.refresh_visible();
            select_entry(app, origin);
            return Some(Vec::new());
        }
        _ => return None,
    }
    app.refresh_visible();
    Some(Vec::new())
}

fn move_by(app: &mut App, delta: i64) {
    match app.browse.focus {
        Focus::List => {
            let before = app.selected_entry();
            app.browse.selected = clamp_add(app.browse.selected, delta, app.browse.visible.len());
            if app.selected_entry() != before {
                app.browse.step = 0;
            }
        }
        Focus::Steps => {
            let Some(entry) = app.selected_entry() else { return };
            let steps = app.trace(entry).map_or(0, |t| t.steps.len());
            // Folded sections are one stop: their first step.
            let stops = long_cot::cursor_steps(app, entry, steps);
            let at = stops.iter().rposition(|&s| s <= app.browse.step).unwrap_or(0);
            app.browse.step = stops.get(clamp_add(at, delta, stops.len())).copied().unwrap_or(0);
        }
    }
}

fn clamp_add(at: usize, delta: i64, len: usize) -> usize {
    if len == 0 {
        return 0;
    }
    (at as i64).saturating_add(delta).clamp(0, len as i64 - 1) as usize
}

fn set_label(app: &mut App, value: Option<Label>) -> Vec<Effect> {
    let Some(entry) = app.selected_entry() else {
        app.status.message = Some("no trace selected".into());
        return Vec::new();
    };
    let Some(trace) = app.trace(entry) else { return Vec::new() };
    if let Some(Label::FirstError(k)) = value {
        if k >= trace.steps.len() {
            app.status.message = Some("this trace has no steps to mark".into());
            return Vec::new();
        }
    }
    let source = app.library.entries[entry].source;
    if app.library.sources[source].ambiguous.contains(&trace.id) {
        app.status.message = Some(format!(
            "NOT saved: trace id {} appears more than once in this file, so a label could not say which one it means",
            trace.id
        ));
        return Vec::new();
    }
    let annotator = &app.settings.annotator;
    let (mine, old_detail) = {
        let store = app.store_of(entry);
        (store.label(&trace.id, annotator), store.detail(&trace.id, annotator).cloned().unwrap_or_default())
    };
    if value.is_some() && value == mine {
        campaign::same_label_again(app, source, &trace.id, mine, &old_detail);
        return Vec::new();
    }
    // Blind: the label is made before the hints were seen (they show once it is saved).
    let blind = value.is_some() && app.hides(entry, &trace.id).any();
    let prompt = matches!(value, Some(Label::FirstError(_))) && !app.settings.categories.is_empty();
    let was = campaign::Was::Value(mine.map(|old| campaign::replaced(old, &old_detail, value)));
    // A note is about the trace and a category about the error: a changed label keeps the note,
    // and a first error moved to another step keeps its category (the chooser asks again).
    // Where the model realises the error stays while it still comes after the first error.
    let first = value.and_then(Label::first_error);
    let detail = crate::trace::store::Detail {
        blind,
        category: old_detail.category.filter(|_| first.is_some()),
        note: old_detail.note.filter(|_| value.is_some()),
        realised: old_detail.realised.filter(|r| first.is_some_and(|k| *r > k)),
        recovered: old_detail.recovered.filter(|_| first.is_some()),
    };
    vec![Effect::WriteLabel {
        source,
        trace: trace.id.clone(),
        annotator: app.settings.annotator.clone(),
        value,
        detail,
        prompt,
        was,
    }]
}

fn undo_redo(app: &mut App, undo: bool) -> Vec<Effect> {
    let source = app.selected_entry().map_or(0, |e| app.library.entries[e].source);
    if source >= app.library.sources.len() {
        return Vec::new();
    }
    vec![Effect::UndoRedo { source, annotator: app.settings.annotator.clone(), undo }]
}

/// Selects `entry` again after the list changed, if it is still shown.
fn select_entry(app: &mut App, entry: Option<usize>) {
    if let Some(pos) = entry.and_then(|e| app.browse.visible.iter().position(|&v| v == e)) {
        app.browse.selected = pos;
    }
}

fn select_trace(app: &mut App, source: usize, id: &str) {
    let found = app.browse.visible.iter().position(|&e| {
        app.library.entries[e].source == source && app.library.summaries[e].as_ref().is_some_and(|s| s.id == id)
    });
    if let Some(pos) = found {
        if pos != app.browse.selected {
            app.browse.selected = pos;
            app.browse.step = 0;
        }
    }
}

/// Enter on the agreement overlay: the list shows the traces where annotators disagree (not
/// in blind mode, where other annotators' labels stay hidden).
fn disagreeing_traces(app: &mut App) {
    if app.settings.blind.is_some() {
        app.status.message = Some("blind: other annotators' labels stay hidden".into());
        return;
    }
    app.browse.filter = Filter::AnnotatorsDisagree;
    app.refresh_visible();
    app.browse.selected = 0;
    say_filter(app);
}

/// The status line after the filter changed: its name and how many traces it shows.
fn say_filter(app: &mut App) {
    let off = if app.settings.blind.is_some() { " · blind: the 4 filters that show hints are off" } else { "" };
    app.status.message =
        Some(format!("filter: {} ({} traces){off}", app.browse.filter.name(), app.browse.visible.len()));
}

/// A text search is kept (typed and committed; see `App::step_search`).
fn searched(app: &App) -> bool {
    app.step_search().is_some() && !app.searching()
}

/// The steps of a trace whose text holds the search (case-insensitive).
fn matching_steps(app: &App, entry: usize, needle: &str) -> Vec<usize> {
    let Some(t) = app.trace(entry) else { return Vec::new() };
    t.steps.iter().enumerate().filter(|(_, s)| s.text.to_lowercase().contains(needle)).map(|(i, _)| i).collect()
}

/// `n` / `N` after a search: the next (previous) step that holds it, in this trace, then in the
/// next (previous) trace shown; a trace that matches only in its id or problem is its step 0.
fn next_match(app: &mut App, forward: bool) {
    let needle = app.browse.search.to_lowercase();
    let n = app.browse.visible.len();
    for d in 0..=n {
        let pos =
            if forward { (app.browse.selected + d) % n.max(1) } else { (app.browse.selected + n * 2 - d) % n.max(1) };
        let Some(&entry) = app.browse.visible.get(pos) else { return };
        let mut steps = matching_steps(app, entry, &needle);
        if steps.is_empty() && d > 0 {
            steps.push(0);
        }
        let here = app.browse.step;
        let found = match (d, forward) {
            (0, true) => steps.into_iter().find(|&k| k > here),
            (0, false) => steps.into_iter().rev().find(|&k| k < here),
            (_, true) => steps.first().copied(),
            (_, false) => steps.last().copied(),
        };
        if let Some(k) = found {
            app.browse.selected = pos;
            app.browse.step = k;
            app.browse.focus = Focus::Steps;
            app.status.message = Some(format!("/{}: step {k} (n next, N previous)", app.browse.search));
            return;
        }
    }
    app.status.message = Some(format!("/{}: no other match", app.browse.search));
}

fn click(app: &mut App, column: u16, row: u16) {
    let areas: Areas = layout(app.size.0, app.size.1, app.browse.focus);
    if let Some(list) = areas.list.filter(|r| r.contains((column, row).into())) {
        app.browse.focus = Focus::List;
        let first_row = list.y + 1;
        if row >= first_row {
            let pos = app.browse.list_offset + (row - first_row) as usize;
            if pos < app.browse.visible.len() && pos != app.browse.selected {
                app.browse.selected = pos;
                app.browse.step = 0;
            }
        }
    } else if areas.steps.is_some_and(|r| r.contains((column, row).into())) {
        app.browse.focus = Focus::Steps;
        let hit = app.step_rows().into_iter().rev().find(|(y, _)| *y <= row).map(|(_, s)| s);
        if let Some(step) = hit {
            app.browse.step = step;
        }
    }
}

fn scroll(app: &mut App, column: u16, row: u16, lines: i32) {
    let areas = layout(app.size.0, app.size.1, app.browse.focus);
    let saved = app.browse.focus;
    if areas.list.is_some_and(|r| r.contains((column, row).into())) {
        app.browse.focus = Focus::List;
    } else if areas.steps.is_some_and(|r| r.contains((column, row).into())) {
        app.browse.focus = Focus::Steps;
    }
    move_by(app, lines as i64);
    app.browse.focus = saved;
}

/// Scrolls the list and the steps pane so the selection stays in sight (what the views show).
fn keep_in_view(app: &mut App) {
    let areas = layout(app.size.0, app.size.1, app.browse.focus);
    if let Some(list) = areas.list {
        let rows = list.height.saturating_sub(2) as usize;
        app.browse.list_offset = super::views::list::keep_in_view(
            app.browse.list_offset,
            app.browse.selected,
            rows,
            app.browse.visible.len(),
        );
    }
    app.browse.steps_offset = super::views::steps::offset_for(app, areas.steps);
}
