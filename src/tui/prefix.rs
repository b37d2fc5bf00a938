//! Keys that wait for the next key, in the list and steps panes: a count (`3j` moves three,
//! `3e` marks step 3), `g g` (the top), and the confirmation that model actions wait for (a
//! Shift slip must not start minutes of model work: `R` asks, `R` again starts).

use super::action::Action;
use super::state::{App, Pending};

/// The largest count (a longer number is a slip).
const MAX_COUNT: usize = 9999;

/// Actions that start model work for minutes: behind a confirmation when
/// `confirm_model_actions` is on.
pub fn is_model_action(a: &Action) -> bool {
    matches!(
        a,
        Action::RefineLocal
            | Action::RefineGlobal
            | Action::Intervene
            | Action::Fork
            | Action::Race
            | Action::Generate
            | Action::TrainProbe
            | Action::ScoreVisible
    )
}

/// Takes a key in the list or steps pane: returns the action to run with the count typed before
/// it, if any, or None when the key only fed a prefix (and says so in the status line).
pub fn take(app: &mut App, action: Action) -> Option<(Action, Option<usize>)> {
    let pending = std::mem::take(&mut app.browse.pending);
    let digit = match action {
        Action::Digit(d) => Some(d as usize),
        // `0` rates a step, except inside a count (`10j`).
        Action::Rate(0) if pending.count.is_some() => Some(0),
        _ => None,
    };
    if let Some(d) = digit {
        let count = (pending.count.unwrap_or(0) * 10 + d).min(MAX_COUNT);
        app.browse.pending = Pending { count: Some(count), ..Pending::default() };
        app.status.message = Some(format!("{count}: j/k move that many, e marks step {count}, Esc clears"));
        return None;
    }
    if action == Action::Cancel && pending != Pending::default() {
        app.status.message = Some("cleared".into());
        return None;
    }
    if action == Action::GoPrefix {
        if pending.go {
            return Some((Action::Top, None));
        }
        app.browse.pending = Pending { go: true, ..Pending::default() };
        app.status.message = Some("g: g again goes to the top".into());
        return None;
    }
    if is_model_action(&action) && app.settings.confirm_model_actions && pending.confirm.as_ref() != Some(&action) {
        let keys = app.settings.keymap.keys_for(&action).join(" or ");
        let what = super::action::BINDINGS.iter().find(|b| b.action == action).map_or("", |b| b.help);
        app.status.message = Some(format!("{what}: press {keys} again to start (other keys cancel)"));
        app.browse.pending = Pending { confirm: Some(action), ..Pending::default() };
        return None;
    }
    Some((action, pending.count))
}

/// The count typed so far, for the status line.
pub fn shown(app: &App) -> Option<String> {
    let p = &app.browse.pending;
    match (&p.count, p.go) {
        (Some(n), _) => Some(n.to_string()),
        (_, true) => Some("g".into()),
        _ => None,
    }
}
