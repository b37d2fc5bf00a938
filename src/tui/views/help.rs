//! The `?` overlay: every action with its keys, from the live keymap.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};
use ratatui::Frame;

use crate::tui::action::Action;
use crate::tui::state::App;

const ROWS: &[(Action, &str)] = &[
    (Action::Down, "move down in the focused pane"),
    (Action::Up, "move up"),
    (Action::PageDown, "page down"),
    (Action::PageUp, "page up"),
    (Action::Top, "first"),
    (Action::Bottom, "last"),
    (Action::SwitchFocus, "switch focus: traces ↔ steps"),
    (Action::Open, "open the selected trace's steps"),
    (Action::MarkFirstError, "first error is the selected step"),
    (Action::MarkNoError, "no error in this trace"),
    (Action::ClearLabel, "clear my label"),
    (Action::Undo, "undo the last label change"),
    (Action::Redo, "redo"),
    (Action::NextUnlabelled, "next trace I have not labelled"),
    (Action::StartSearch, "search ids, problems and steps"),
    (Action::CycleFilter, "cycle filters: all, unlabelled, labelled, disagree, verifier, wrong"),
    (Action::ScoreTrace, "run the chosen verifiers on this trace (background)"),
    (Action::ScoreVisible, "run them on every trace the filter shows"),
    (Action::VerifierMenu, "choose verifiers (space toggles)"),
    (Action::Cancel, "cancel scoring / close / clear message"),
    (Action::ToggleHelp, "this help"),
    (Action::Quit, "quit (labels are already saved)"),
];

pub fn render(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let w = area.width.min(76);
    let h = area.height.min(ROWS.len() as u16 + 4);
    let popup = Rect { x: area.x + (area.width - w) / 2, y: area.y + (area.height - h) / 2, width: w, height: h };
    let mut lines: Vec<Line> = ROWS
        .iter()
        .map(|(action, what)| {
            let keys = app.keymap.keys_for(action).join(" ");
            Line::from(vec![Span::styled(format!(" {keys:<14}"), t.accent), Span::raw(*what)])
        })
        .collect();
    lines.push(Line::from(Span::styled(" Labels are saved to disk before they show. Any key closes this.", t.dim)));
    f.render_widget(Clear, popup);
    let block =
        Block::default().borders(Borders::ALL).border_style(t.border_focus).title(Span::styled(" Keys ", t.title));
    f.render_widget(Paragraph::new(lines).block(block), popup);
}
