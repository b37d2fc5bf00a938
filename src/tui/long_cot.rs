//! Long chains of thought in the steps pane: sections fold to one line (`z` the one under the
//! cursor, `Z` all of them), and keys jump to the next reflection (`w`), the next or previous
//! section (`}` / `{`) and the next step a verifier flags (`!`). Folds belong to the trace shown;
//! another trace starts unfolded.

use std::collections::BTreeSet;
use std::ops::Range;

use crate::trace::thinking::{is_reflection, sections};

use super::state::App;

/// The sections of the selected trace and which of them are folded (by first step).
fn shown_sections(app: &App) -> Option<(usize, Vec<Range<usize>>)> {
    let entry = app.selected_entry()?;
    let trace = app.trace(entry)?;
    Some((entry, sections(&trace)))
}

/// The folded sections of an entry's trace (first steps), empty for any other trace.
pub fn folded(app: &App, entry: usize) -> BTreeSet<usize> {
    match &app.browse.folded {
        Some((e, set)) if *e == entry => set.clone(),
        _ => BTreeSet::new(),
    }
}

/// The step ranges folded away on an entry's trace.
pub fn folded_ranges(app: &App, entry: usize) -> Vec<Range<usize>> {
    let set = folded(app, entry);
    if set.is_empty() {
        return Vec::new();
    }
    app.trace(entry).map_or_else(Vec::new, |t| sections(&t).into_iter().filter(|r| set.contains(&r.start)).collect())
}

/// The steps the cursor can stand on: every step, except the ones inside a folded section
/// (its first step stands for it).
pub fn cursor_steps(app: &App, entry: usize, steps: usize) -> Vec<usize> {
    let hidden = folded_ranges(app, entry);
    (0..steps).filter(|i| !hidden.iter().any(|r| r.start < *i && *i < r.end)).collect()
}

fn set_folds(app: &mut App, entry: usize, set: BTreeSet<usize>) {
    app.browse.folded = Some((entry, set));
}

/// `z`: fold or unfold the section under the cursor (the cursor goes to its first step).
pub fn toggle(app: &mut App) {
    let Some((entry, all)) = shown_sections(app) else { return };
    let Some(section) = all.iter().find(|r| r.contains(&app.browse.step)).cloned() else { return };
    if all.len() < 2 {
        app.status.message =
            Some("one section: nothing to fold (sections start at a new approach and at the answer)".into());
        return;
    }
    let mut set = folded(app, entry);
    if !set.remove(&section.start) {
        set.insert(section.start);
        app.browse.step = section.start;
    }
    set_folds(app, entry, set);
}

/// `Z`: fold every section, or unfold them all when all are folded.
pub fn toggle_all(app: &mut App) {
    let Some((entry, all)) = shown_sections(app) else { return };
    let set = folded(app, entry);
    if all.len() < 2 {
        app.status.message = Some("one section: nothing to fold".into());
        return;
    }
    if all.iter().all(|r| set.contains(&r.start)) {
        set_folds(app, entry, BTreeSet::new());
        app.status.message = Some(format!("{} sections unfolded", all.len()));
    } else {
        if let Some(r) = all.iter().find(|r| r.contains(&app.browse.step)) {
            app.browse.step = r.start;
        }
        set_folds(app, entry, all.iter().map(|r| r.start).collect());
        app.status.message = Some(format!("{} sections folded (z opens one, Z all)", all.len()));
    }
}

/// Unfolds the section holding `step`, so a jump lands where it can be seen.
pub fn reveal(app: &mut App, entry: usize, step: usize) {
    let hidden = folded_ranges(app, entry);
    if let Some(r) = hidden.iter().find(|r| r.contains(&step)) {
        let mut set = folded(app, entry);
        set.remove(&r.start);
        set_folds(app, entry, set);
    }
}

/// Moves to the first step after the cursor that `wanted` picks (wrapping once around).
fn jump(app: &mut App, what: &str, wanted: impl Fn(usize) -> bool) {
    let Some(entry) = app.selected_entry() else { return };
    let n = app.trace(entry).map_or(0, |t| t.steps.len());
    let from = app.browse.step;
    match (1..=n).map(|d| (from + d) % n.max(1)).find(|&i| wanted(i)) {
        Some(i) => {
            reveal(app, entry, i);
            app.browse.step = i;
            app.status.message = Some(format!("{what}: step {i}"));
        }
        None => app.status.message = Some(format!("no {what} in this trace")),
    }
}

/// `w`: the next reflection ("Wait", "Hmm", "Actually", …).
pub fn next_reflection(app: &mut App) {
    let Some(trace) = app.selected_entry().and_then(|e| app.trace(e)) else { return };
    jump(app, "reflection", |i| is_reflection(&trace.steps[i].text));
}

/// `}` / `{`: the first step of the next (previous) section.
pub fn next_section(app: &mut App, forward: bool) {
    let Some((_, all)) = shown_sections(app) else { return };
    let at = all.iter().position(|r| r.contains(&app.browse.step)).unwrap_or(0);
    let target = if forward { all.get(at + 1) } else { at.checked_sub(1).and_then(|k| all.get(k)) };
    match target {
        Some(r) => {
            app.browse.step = r.start;
            app.status.message = Some(format!(
                "section {} of {}: steps {}–{}",
                all.iter().position(|x| x == r).unwrap_or(0) + 1,
                all.len(),
                r.start,
                r.end - 1
            ));
        }
        None => app.status.message = Some(if forward { "the last section" } else { "the first section" }.into()),
    }
}

/// `!`: the next step a shown verifier flags (scored below its τ).
pub fn next_flagged(app: &mut App) {
    let Some(entry) = app.selected_entry() else { return };
    let Some(id) = app.summary(entry).map(|s| s.id) else { return };
    let flagged: Vec<usize> = {
        let results = app.shown_results(entry, &id);
        let n = app.trace(entry).map_or(0, |t| t.steps.len());
        (0..n)
            .filter(|&i| results.iter().any(|r| r.scores.get(i).copied().flatten().is_some_and(|s| s < r.threshold)))
            .collect()
    };
    jump(app, "flagged step", |i| flagged.contains(&i));
}
