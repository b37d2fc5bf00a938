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
    (Action::Category, "category of my first error (1–9; also offered after e)"),
    (Action::Note, "a note on my label"),
    (Action::Rate(1), "rate the selected step +1 (0 neutral, - bad; again clears)"),
    (Action::Agreement, "agreement (κ, α, exact, ±1) and labelling pace"),
    (Action::Report, "failure report screen"),
    (Action::StartSearch, "search ids, problems and steps; #calc: by category"),
    (Action::CycleFilter, "cycle filters: all, unlabelled, labelled, disagree, verifier, wrong"),
    (Action::ScoreTrace, "run the chosen verifiers on this trace (background)"),
    (Action::ScoreVisible, "run them on every trace the filter shows"),
    (Action::VerifierMenu, "choose verifiers (space toggles)"),
    (Action::RefineLocal, "refine from the first error (local: the question again, earlier steps kept)"),
    (Action::RefineGlobal, "rewrite the whole solution (global)"),
    (Action::Intervene, "replace the first wrong step with the reference in view, continue"),
    (Action::Fork, "sample continuations before the first error: m of N reach the answer"),
    (Action::EditStep, "rewrite a step by hand; the generator continues after it"),
    (Action::Generate, "generate a new solution of this problem (added to the list)"),
    (Action::Ask, "type a question; the generator solves it (saved to asked.jsonl)"),
    (Action::Accept, "compare: save the candidate shown under its draft"),
    (Action::Compare, "open / close the compare screen"),
    (Action::NextCandidate, "compare: next candidate (previous: [ or ←)"),
    (Action::Cancel, "cancel scoring or refinement / close / clear message"),
    (Action::ToggleHelp, "this help"),
    (Action::Quit, "quit (labels are already saved)"),
];

pub fn render(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let rows: Vec<Line> = ROWS
        .iter()
        .map(|(action, what)| {
            let keys = app.keymap.keys_for(action).join(" ");
            Line::from(vec![Span::styled(format!(" {keys:<14}"), t.accent), Span::raw(*what)])
        })
        .collect();
    // Two columns when one does not fit the height and the terminal is wide enough.
    let columns = if area.height < rows.len() as u16 + 4 && area.width >= 100 { 2 } else { 1 };
    let per = rows.len().div_ceil(columns);
    let w = area.width.min(84 * columns as u16);
    let h = area.height.min(per as u16 + 4);
    let popup = Rect { x: area.x + (area.width - w) / 2, y: area.y + (area.height - h) / 2, width: w, height: h };
    f.render_widget(Clear, popup);
    let block =
        Block::default().borders(Borders::ALL).border_style(t.border_focus).title(Span::styled(" Keys ", t.title));
    let inner = block.inner(popup);
    f.render_widget(block, popup);
    let col_w = inner.width / columns as u16;
    for (i, chunk) in rows.chunks(per).enumerate() {
        let r = Rect { x: inner.x + col_w * i as u16, width: col_w, height: inner.height.saturating_sub(1), ..inner };
        f.render_widget(Paragraph::new(chunk.to_vec()), r);
    }
    let foot = Rect { y: inner.y + inner.height.saturating_sub(1), height: 1.min(inner.height), ..inner };
    let note = " Labels are saved to disk before they show. Any key closes this.";
    f.render_widget(Paragraph::new(Span::styled(note, t.dim)), foot);
}
