//! What the refinement keys do to the state (`r` local, `R` global, `i` intervene, `F` fork,
//! `E` edit a step, `g` generate, `a` accept, `C` compare), and what the model thread's
//! refinement events do. Part of `update`: pure state changes, plus requests for the model
//! thread and effects that write the refinements file.

use std::rc::Rc;

use crate::jobs::{JobEvent, JobHandle};
use crate::model::generate::GenerateParams;
use crate::refine::strategy::{plan, plan_edit, sample_params, Plan, Strategy};
use crate::service::refine::first_error;
use crate::trace::Trace;

use super::compare::{lanes_summary, Compare, Lane, Running, Shown};
use super::effects::Effect;
use super::state::{App, Focus, Overlay, Request, Screen};

/// Seed of the first sample; later candidates of the same strategy count up from it.
const SEED: u64 = 42;

/// `r`, `R`, `i`, `F`, `g`: plans the strategy on the draft and asks the model thread to run it.
pub fn start(app: &mut App, strategy: Strategy) {
    if blind_until_labelled(app) {
        return;
    }
    if busy(app) {
        return;
    }
    let Some((entry, draft)) = draft(app) else {
        app.status.message = Some("no trace selected".into());
        return;
    };
    let known = entry.and_then(|e| known_first_error(app, e, &draft));
    let k = match strategy {
        Strategy::Global | Strategy::Generate => known,
        _ => known.or(Some(app.browse.step)),
    };
    let planned = match plan(strategy, &draft, k, app.settings.refine.prompts.as_deref()) {
        Ok(p) if strategy == Strategy::Local => Plan { resamples: app.settings.refine.local_resamples, ..p },
        Ok(p) => p,
        Err(e) => {
            app.status.message = Some(format!("{e:#}"));
            return;
        }
    };
    let samples = if strategy == Strategy::Fork { app.settings.refine.fork_samples } else { 1 };
    launch(app, entry, draft, planned, samples);
}

/// `X`: local, global and intervene on the draft at once, in one job that decodes the three
/// together; the compare screen shows the three texts as they are written. Each strategy runs
/// once (no resample), from the same first error `r` and `i` would use.
pub fn start_race(app: &mut App) {
    if blind_until_labelled(app) || busy(app) {
        return;
    }
    let Some((entry, draft)) = draft(app) else {
        app.status.message = Some("no trace selected".into());
        return;
    };
    let known = entry.and_then(|e| known_first_error(app, e, &draft));
    let max_tokens = app.settings.refine.max_tokens;
    let mut plans = Vec::new();
    let mut skipped = Vec::new();
    for strategy in [Strategy::Local, Strategy::Global, Strategy::Intervene] {
        let k = if strategy == Strategy::Global { known } else { known.or(Some(app.browse.step)) };
        match plan(strategy, &draft, k, app.settings.refine.prompts.as_deref()) {
            Ok(p) => {
                let seed = SEED + used_seeds(app, strategy) as u64;
                plans.push((Plan { resamples: 0, ..p }, sample_params(strategy, 1, max_tokens, seed)));
            }
            Err(e) => skipped.push(format!("{strategy}: {e:#}")),
        }
    }
    if plans.len() < 2 {
        app.status.message = Some(format!("no race: {}", skipped.join(" · ")));
        return;
    }
    open_compare(app, entry, draft.clone());
    let lanes: Vec<Lane> = plans.iter().map(|(p, _)| Lane::new(p)).collect();
    let names: Vec<String> = lanes.iter().map(|l| l.strategy.to_string()).collect();
    let left_out = if skipped.is_empty() { String::new() } else { format!(" (left out: {})", skipped.join(" · ")) };
    app.status.message = Some(format!(
        "race: {} with {} at once (Esc cancels){left_out}",
        names.join(", "),
        app.settings.refine.generator
    ));
    if let Some(c) = app.compare.as_mut() {
        c.race.clear();
        c.running = Some(Running::new(plans[0].0.strategy, plans[0].0.from_step, 1, Vec::new(), lanes));
    }
    app.requests.push(Request::Refine { draft: Box::new((*draft).clone()), plans, race: true });
}

/// Whether a refinement runs already (and says so).
fn busy(app: &mut App) -> bool {
    match app.compare.as_ref().and_then(|c| c.running.as_ref()) {
        Some(r) => {
            app.status.message = Some(format!("a {} refinement is running (Esc cancels it)", r.name()));
            true
        }
        None => false,
    }
}

/// `E`: opens the editor on the step to rewrite (the cursor's when the steps have the focus,
/// else the first error).
pub fn start_edit(app: &mut App) {
    if blind_until_labelled(app) {
        return;
    }
    let Some((entry, draft)) = draft(app) else {
        app.status.message = Some("no trace selected".into());
        return;
    };
    let step = if app.browse.focus == Focus::Steps && app.screen.is_browse() {
        app.browse.step
    } else {
        entry.and_then(|e| known_first_error(app, e, &draft)).unwrap_or(app.browse.step)
    };
    let Some(s) = draft.steps.get(step) else {
        app.status.message = Some("this trace has no step to rewrite".into());
        return;
    };
    app.overlays.push(Overlay::Edit { step, text: s.text.clone() });
    app.status.message = Some(format!("rewrite step {step}; Enter: the generator continues after it · Esc: cancel"));
}

/// Enter in the step editor: the rewritten step replaces step `step` and the model continues.
pub fn finish_edit(app: &mut App, step: usize, text: &str) {
    let Some((entry, draft)) = draft(app) else { return };
    match plan_edit(&draft, step, text) {
        Ok(p) => launch(app, entry, draft, p, 1),
        Err(e) => app.status.message = Some(format!("{e:#}")),
    }
}

/// `A`: opens the editor for a question of the user's own.
pub fn start_ask(app: &mut App) {
    app.overlays.push(Overlay::Ask { text: String::new() });
    app.status.message = Some("type a question; Enter: the generator solves it · Esc: cancel".into());
}

/// Enter in the question editor: the generator writes a solution, streamed into the compare
/// screen; it is saved to the questions file when complete.
pub fn ask(app: &mut App, text: &str) {
    let text = text.trim();
    if text.is_empty() {
        app.status.message = Some("no question typed".into());
        return;
    }
    if busy(app) {
        return;
    }
    let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
    let question = Trace { id: format!("asked-{stamp}"), problem: text.to_string(), ..Trace::default() };
    match plan(Strategy::Generate, &question, None, app.settings.refine.prompts.as_deref()) {
        Ok(p) => launch(app, None, Rc::new(question), p, 1),
        Err(e) => app.status.message = Some(format!("{e:#}")),
    }
}

/// Opens the compare screen on the draft and queues the job; several samples (fork) decode
/// together in one job, each in its own lane.
fn launch(app: &mut App, entry: Option<usize>, draft: Rc<Trace>, planned: Plan, samples: usize) {
    open_compare(app, entry, draft.clone());
    let first_seed = SEED + used_seeds(app, planned.strategy) as u64;
    let max_tokens = app.settings.refine.max_tokens;
    let plans: Vec<(Plan, GenerateParams)> = (0..samples)
        .map(|i| (planned.clone(), sample_params(planned.strategy, samples, max_tokens, first_seed + i as u64)))
        .collect();
    let from = planned.from_step.map(|k| format!(" from step {k}")).unwrap_or_default();
    app.status.message =
        Some(format!("{}{from} with {} (Esc cancels)", planned.strategy, app.settings.refine.generator));
    let together = samples > 1;
    let lanes: Vec<Lane> = match together {
        true => plans.iter().map(|(p, _)| Lane::new(p)).collect(),
        false => Vec::new(),
    };
    if let Some(c) = app.compare.as_mut() {
        c.race.clear();
        c.running = Some(Running::new(planned.strategy, planned.from_step, samples, planned.ask.kept.clone(), lanes));
    }
    app.requests.push(Request::Refine { draft: Box::new((*draft).clone()), plans, race: together });
}

/// The model thread took the jobs: their handles let Esc cancel them.
pub fn submitted(app: &mut App, handles: Vec<JobHandle>) {
    if let Some(r) = app.compare.as_mut().and_then(|c| c.running.as_mut()) {
        r.jobs = handles;
    }
}

/// Esc while a refinement runs: every job of it is cancelled (what was written is kept).
pub fn cancel(app: &mut App) -> bool {
    let Some(r) = app.compare.as_ref().and_then(|c| c.running.as_ref()) else { return false };
    for h in &r.jobs {
        h.cancel();
    }
    app.status.message = Some(format!("cancelling the {} refinement…", r.name()));
    true
}

/// `C`: to the compare screen of the selected trace (its saved children are its candidates), or
/// back to the list.
pub fn toggle_compare(app: &mut App) {
    if app.screen.is_compare() {
        app.screen = Screen::Browse;
        return;
    }
    if blind_until_labelled(app) {
        return;
    }
    match app.selected_entry().and_then(|e| app.trace(e).map(|t| (e, t))) {
        Some((entry, t)) => open_compare(app, Some(entry), t),
        None => app.status.message = Some("no trace selected".into()),
    }
}

/// `]` / `[` (and Tab) on the compare screen.
pub fn next_candidate(app: &mut App, forward: bool) {
    if let Some(c) = app.compare.as_mut().filter(|c| !c.candidates.is_empty()) {
        let n = c.candidates.len();
        c.shown = if forward { (c.shown + 1) % n } else { (c.shown + n - 1) % n };
        c.scroll = 0;
    }
}

pub fn scroll(app: &mut App, delta: i64) {
    if let Some(c) = app.compare.as_mut() {
        c.scroll = (c.scroll as i64).saturating_add(delta).max(0) as usize;
    }
}

/// `a`: saves the candidate shown as a child of its draft.
pub fn accept(app: &mut App) -> Vec<Effect> {
    let Some(c) = app.compare.as_ref().filter(|_| app.screen.is_compare()) else {
        app.status.message = Some("nothing to accept: C opens the compare screen".into());
        return Vec::new();
    };
    let Some(shown) = c.shown() else {
        app.status.message = Some("no candidate yet: r, R, i, F or E makes one".into());
        return Vec::new();
    };
    if shown.saved {
        app.status.message = Some(format!("{} is already saved", shown.trace.id));
        return Vec::new();
    }
    let Some(entry) = c.draft_entry else {
        app.status.message = Some("a solution of a typed-in question is saved when it is complete".into());
        return Vec::new();
    };
    let source = root_source(app, entry);
    vec![Effect::StoreCandidate { source, trace: Box::new(shown.trace.clone()) }]
}

/// A candidate was written to the refinements file (or not).
pub fn stored(app: &mut App, id: &str, result: Result<String, String>) {
    match result {
        Ok(file) => {
            if let Some(s) = app.compare.as_mut().and_then(|c| c.candidates.iter_mut().find(|s| s.trace.id == id)) {
                s.saved = true;
            }
            app.status.message = Some(format!("saved: {id} in {file}"));
        }
        Err(e) => app.status.message = Some(format!("NOT saved ({e})")),
    }
}

/// Events of the refinement's jobs; `None` when the event is not one of them.
pub fn job_event(app: &mut App, e: &JobEvent) -> Option<Vec<Effect>> {
    let c = app.compare.as_mut()?;
    let r = c.running.as_mut()?;
    match e {
        JobEvent::Token { job, token, sample } if r.owns(*job) && !r.lanes.is_empty() => {
            if let Some(lane) = r.lanes.get_mut(*sample) {
                lane.text.push_str(&token.text);
                lane.tokens += 1;
            }
            r.tokens += 1;
            r.first_token.get_or_insert_with(std::time::Instant::now);
            Some(Vec::new())
        }
        JobEvent::Token { job, token, sample } if r.owns(*job) => {
            if *sample != r.attempt {
                // A resample: what the repeated attempt wrote is replaced.
                r.attempt = *sample;
                r.text.clear();
                r.tokens = 0;
                r.first_token = None;
            }
            r.text.push_str(&token.text);
            r.tokens += 1;
            r.first_token.get_or_insert_with(std::time::Instant::now);
            Some(Vec::new())
        }
        JobEvent::Progress { job, message } if r.owns(*job) => {
            app.status.message = Some(format!("{}: {message}", r.name()));
            Some(Vec::new())
        }
        JobEvent::Refined { job, candidate } if r.owns(*job) => {
            r.text.clear();
            r.tokens = 0;
            r.first_token = None;
            let shown = Shown::from_candidate((**candidate).clone());
            if let Some(lane) = r.lanes.iter_mut().find(|l| l.answer.is_none() && l.strategy == shown.strategy) {
                lane.answer = Some(answer_mark(&shown.trace));
            }
            let generated = shown.strategy == Strategy::Generate && !shown.cancelled;
            let trace = shown.trace.clone();
            c.candidates.push(shown);
            c.shown = c.candidates.len() - 1;
            c.scroll = 0;
            // A generated solution joins the list at once (with its log-probs): under its draft,
            // or, for a typed-in question, in the questions file.
            let effect = match app.compare.as_ref().and_then(|c| c.draft_entry) {
                Some(entry) => Effect::StoreCandidate { source: root_source(app, entry), trace: Box::new(trace) },
                None => Effect::StoreAsked { trace: Box::new(trace) },
            };
            Some(if generated { vec![effect] } else { Vec::new() })
        }
        JobEvent::Finished { job } | JobEvent::Cancelled { job } if r.owns(*job) => {
            r.left = r.left.saturating_sub(1);
            if r.left == 0 {
                finish(app);
            }
            Some(Vec::new())
        }
        JobEvent::Failed { job, error } if r.owns(*job) => {
            let error = error.clone();
            c.running = None;
            app.status.message = Some(format!("refinement failed: {error}"));
            Some(Vec::new())
        }
        _ => None,
    }
}

/// The last job ended: says what came of it.
fn finish(app: &mut App) {
    let Some(c) = app.compare.as_mut() else { return };
    let Some(r) = c.running.take() else { return };
    if !r.lanes.is_empty() {
        let n = r.lanes.iter().filter(|l| l.answer.is_some()).count();
        c.shown = c.candidates.len().saturating_sub(n);
        app.status.message = Some(if r.strategy == Strategy::Fork {
            let (m, n) = c.reached(Strategy::Fork);
            let at = r.from_step.map_or(String::new(), |k| format!(" before step {k}"));
            format!("fork{at}: {m} of {n} continuations reach the reference answer")
        } else {
            format!("race done: {} · ] [ choose · a accepts", lanes_summary(&r.lanes))
        });
        c.race = r.lanes;
        return;
    }
    let last = c.candidates.last();
    app.status.message = Some(match (r.strategy, last) {
        (Strategy::Fork, _) => {
            let (m, n) = c.reached(Strategy::Fork);
            let at = r.from_step.map_or(String::new(), |k| format!(" before step {k}"));
            format!("fork{at}: {m} of {n} continuations reach the reference answer")
        }
        (_, Some(s)) if s.cancelled => {
            format!("{} cancelled: the partial candidate is kept (marked cancelled)", r.strategy)
        }
        (_, Some(s)) => {
            let answer = match s.trace.final_answer_correct {
                Some(true) => "answer ✓",
                Some(false) => "answer ✗",
                None => "answer not checked",
            };
            let tail = match (s.saved, c.draft_entry) {
                (true, Some(_)) => " · saved under its draft",
                (true, None) => " · saved",
                (false, _) => " · a accepts it",
            };
            format!("{} done: {} tokens in {:.1} s · {answer}{tail}", r.strategy, s.tokens, s.seconds)
        }
        (_, None) => format!("{} ended without a candidate", r.strategy),
    });
}

/// A candidate's final answer with ✓ or ✗ where its correctness is known.
fn answer_mark(t: &Trace) -> String {
    let a = t.final_answer.clone().unwrap_or_else(|| "(no answer)".into());
    match t.answer_correct() {
        Some(true) => format!("{a} ✓"),
        Some(false) => format!("{a} ✗"),
        None => a,
    }
}

/// The trace to refine: the compare screen's draft there, else the selected trace.
fn draft(app: &App) -> Option<(Option<usize>, Rc<Trace>)> {
    if app.screen.is_compare() {
        if let Some(c) = &app.compare {
            return Some((c.draft_entry, c.draft.clone()));
        }
    }
    let e = app.selected_entry()?;
    Some((Some(e), app.trace(e)?))
}

/// The compare screen on `entry`, keeping its candidates when it is already the draft; a new
/// draft starts with its saved children as candidates.
fn open_compare(app: &mut App, entry: Option<usize>, draft: Rc<Trace>) {
    app.screen = Screen::Compare;
    if app.compare.as_ref().is_some_and(|c| c.draft_entry == entry && c.draft.id == draft.id) {
        return;
    }
    if let Some(c) = app.compare.as_ref().filter(|c| c.running.is_some()) {
        // Its candidate is still coming: the screen stays on it.
        app.status.message = Some(format!("a refinement of {} is running (Esc cancels it)", c.draft.id));
        return;
    }
    let mut c = Compare::new(entry, draft.clone());
    for e in 0..app.library.entries.len() {
        if app.library.sources[app.library.entries[e].source].parent.is_none() {
            continue;
        }
        let Some(t) = app.library.loaded[e].clone() else { continue };
        let Some(meta) = t.refinement.as_ref().filter(|m| m.parent == draft.id) else { continue };
        let strategy = meta.strategy.parse().unwrap_or(Strategy::Global);
        let mut shown = Shown::from_candidate(crate::service::refine::Candidate {
            trace: (*t).clone(),
            strategy,
            generated_tokens: meta.generated_tokens.unwrap_or(0),
            seconds: meta.seconds.unwrap_or(0.0),
            stop: crate::model::generate::StopReason::Eos,
        });
        shown.cancelled = meta.cancelled;
        shown.saved = true;
        c.candidates.push(shown);
    }
    app.compare = Some(c);
}

/// Candidates of a strategy made or saved so far for the draft (the next one's seed follows).
fn used_seeds(app: &App, strategy: Strategy) -> usize {
    app.compare.as_ref().map_or(0, |c| c.candidates.iter().filter(|s| s.strategy == strategy).count())
}

/// Blind mode: refining or comparing a trace I have not labelled would show what is hidden (its
/// first error, its answer's correctness), so it waits for my label. True when it refused.
fn blind_until_labelled(app: &mut App) -> bool {
    let Some(e) = app.selected_entry() else { return false };
    let Some(id) = app.summary(e).map(|s| s.id) else { return false };
    if app.hides(e, &id).any() {
        app.status.message = Some("blind: label this trace first (refining it would show the hidden hints)".into());
        return true;
    }
    false
}

/// The first wrong step known for a trace: my label or another annotator's, else a stored
/// verifier's first error, else the dataset's.
fn known_first_error(app: &App, entry: usize, t: &Trace) -> Option<usize> {
    let human = app.human_label(entry, &t.id).map(|(l, _)| l);
    let chosen = app.chosen_verifiers();
    let results = app.store_of(entry).results_for(&t.id);
    let verifier = results
        .iter()
        .filter(|r| chosen.contains(&r.spec))
        .chain(results.iter())
        .find(|r| r.first_error.is_some())
        .map(|r| r.first_error);
    first_error(human, verifier, t.label).flatten()
}

/// The source whose refinements file a draft's candidates go to (a refinement of a refinement
/// goes to the same file as its parent).
fn root_source(app: &App, entry: usize) -> usize {
    let source = app.library.entries.get(entry).map_or(0, |e| e.source);
    app.library.sources.get(source).and_then(|s| s.parent).unwrap_or(source)
}
