//! Adjudication mode (`D`, or `open --adjudicate`): a third pass over double-labelled traces
//! that fixes a gold first error, with who decided and why. Every annotator's mark is shown;
//! `e` / `c` / `x` decide (or clear) the gold label and ask why; Enter writes it, Esc writes
//! nothing. My own label is not touched.

use crate::trace::Label;

use super::effects::Effect;
use super::state::{App, Filter, Overlay};

/// `D`: enter or leave adjudication mode. Entering shows the traces where annotators disagree.
pub fn toggle(app: &mut App) {
    if app.settings.blind.is_some() {
        app.status.message = Some("blind: adjudication shows every label, so it is off in blind mode".into());
        return;
    }
    app.settings.adjudicate = !app.settings.adjudicate;
    if app.settings.adjudicate {
        app.browse.filter = Filter::AnnotatorsDisagree;
        app.refresh_visible();
        app.browse.selected = 0;
        app.status.message = Some(format!(
            "adjudicate: {} traces where annotators disagree · e / c decide the gold label · D leaves",
            app.browse.visible.len()
        ));
    } else {
        app.status.message = Some("adjudication off: e / c label for me again".into());
    }
}

/// `e` / `c` / `x` in adjudication mode: ask why, then write the gold label (None clears it).
pub fn decide(app: &mut App, value: Option<Label>) {
    let Some(entry) = app.selected_entry() else {
        app.status.message = Some("no trace selected".into());
        return;
    };
    let Some(summary) = app.summary(entry) else { return };
    if let Some(Label::FirstError(k)) = value {
        if k >= summary.steps {
            app.status.message = Some("this trace has no steps to mark".into());
            return;
        }
    }
    let source = app.library.entries[entry].source;
    let gold = app.library.sources[source].store.gold_label(&summary.id);
    if value.is_none() && gold.is_none() {
        app.status.message = Some(format!("{} has no gold label to clear", summary.id));
        return;
    }
    if app.library.sources[source].ambiguous.contains(&summary.id) {
        app.status.message = Some(format!("NOT saved: trace id {} appears more than once in this file", summary.id));
        return;
    }
    app.overlays.push(Overlay::Reason { source, trace: summary.id, value, text: String::new() });
}

/// Enter in the reason editor: writes the gold label with the reason (an empty one is left out).
pub fn save(app: &mut App, source: usize, trace: String, value: Option<Label>, text: &str) -> Vec<Effect> {
    let was = app.library.sources.get(source).and_then(|s| s.store.gold_label(&trace));
    let reason = Some(text.trim().to_string()).filter(|t| !t.is_empty());
    vec![Effect::WriteGold { source, trace, value, by: app.settings.annotator.clone(), reason, was }]
}

/// The gold write returned: say what was decided and what it replaced.
pub fn written(app: &mut App, trace: &str, value: Option<Label>, was: Option<Label>, result: Result<(), String>) {
    if let Err(e) = result {
        app.status.message = Some(format!("gold label NOT saved ({e})"));
        return;
    }
    let what = match value {
        Some(Label::FirstError(k)) => format!("gold: {trace} first error at step {k}"),
        Some(Label::NoError) => format!("gold: {trace} has no error"),
        None => format!("gold label cleared on {trace}"),
    };
    let was = was
        .map_or(String::new(), |w| format!(" (was {})", w.first_error().map_or("no error".into(), |k| k.to_string())));
    app.status.message = Some(format!("{what}{was} · decided by {}", app.settings.annotator));
    app.refresh_visible();
}

/// `n` in adjudication mode: the next trace shown where annotators disagree and no gold label
/// is decided yet.
pub fn next_unsettled(app: &mut App) {
    let n = app.browse.visible.len();
    let found = (1..=n).map(|d| (app.browse.selected + d) % n.max(1)).find(|&pos| {
        let e = app.browse.visible[pos];
        app.summary(e).is_some_and(|s| {
            let store = app.store_of(e);
            let labels = store.labels_for(&s.id);
            store.gold_label(&s.id).is_none() && labels.iter().any(|(_, l)| *l != labels[0].1)
        })
    });
    match found {
        Some(pos) => {
            app.browse.selected = pos;
            app.browse.step = 0;
        }
        None => app.status.message = Some("every disagreement shown has a gold label".into()),
    }
}
