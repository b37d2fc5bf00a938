//! The key-hint line: the keys of the focused pane, from the live keymap, cut to the width.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use crate::tui::action::Action;
use crate::tui::state::{App, Focus};

/// The list's keys, most used first (the line is cut at the terminal's width).
const LIST: [(Action, &str); 8] = [
    (Action::Down, "move"),
    (Action::Open, "steps"),
    (Action::MarkNoError, "no error"),
    (Action::NextUnlabelled, "next unlabelled"),
    (Action::StartSearch, "search"),
    (Action::CycleFilter, "filter"),
    (Action::Report, "report"),
    (Action::ToggleHelp, "help"),
];

/// The steps pane's keys.
const STEPS: [(Action, &str); 8] = [
    (Action::Down, "step"),
    (Action::MarkFirstError, "first error here (3e: step 3)"),
    (Action::MarkNoError, "no error"),
    (Action::ClearLabel, "clear"),
    (Action::Undo, "undo"),
    (Action::Note, "note"),
    (Action::SwitchFocus, "list"),
    (Action::ToggleHelp, "help"),
];

/// The keys of adjudication mode (either pane).
const ADJUDICATE: [(Action, &str); 8] = [
    (Action::Down, "move"),
    (Action::MarkFirstError, "gold first error here"),
    (Action::MarkNoError, "gold: no error"),
    (Action::ClearLabel, "clear gold"),
    (Action::NextUnlabelled, "next unsettled"),
    (Action::Adjudicate, "leave"),
    (Action::SwitchFocus, "list/steps"),
    (Action::ToggleHelp, "help"),
];

pub fn render(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.settings.theme;
    let keys = match app.browse.focus {
        _ if app.settings.adjudicate => &ADJUDICATE,
        Focus::Steps => &STEPS,
        Focus::List => &LIST,
    };
    let mut spans = Vec::new();
    for (action, what) in keys {
        let Some(key) = app.settings.keymap.keys_for(action).into_iter().next() else { continue };
        spans.push(Span::styled(format!(" {key}"), t.accent));
        spans.push(Span::styled(format!(" {what} "), t.dim));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}
