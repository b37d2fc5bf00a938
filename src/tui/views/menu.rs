//! The verifier menu: which verifiers `v` and `V` run. Space or Enter switches one on or off.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};
use ratatui::Frame;

use crate::tui::state::App;

pub fn render(f: &mut Frame, app: &App, area: Rect) {
    let Some(cursor) = app.menu_cursor() else { return };
    let t = &app.settings.theme;
    // As wide as the longest line (a probe's path and note are long), within the screen.
    let longest = app
        .settings
        .verifier_choices
        .iter()
        .map(|(spec, _)| {
            spec.chars().count() + app.settings.verifier_notes.get(spec).map_or(0, |n| n.chars().count() + 2)
        })
        .max()
        .unwrap_or(0);
    let w = area.width.min((longest as u16).saturating_add(8).max(60));
    let h = area.height.min(app.settings.verifier_choices.len() as u16 + 4);
    let popup = Rect { x: area.x + (area.width - w) / 2, y: area.y + (area.height - h) / 2, width: w, height: h };
    let mut lines: Vec<Line> = app
        .settings
        .verifier_choices
        .iter()
        .enumerate()
        .map(|(i, (spec, on))| {
            let mark = if *on { "[x]" } else { "[ ]" };
            let style = if i == cursor { t.selected } else { t.base };
            let mut spans = vec![Span::styled(format!(" {mark} "), t.accent), Span::styled(spec.clone(), style)];
            if let Some(note) = app.settings.verifier_notes.get(spec) {
                spans.push(Span::styled(format!("  {note}"), t.dim));
            }
            Line::from(spans)
        })
        .collect();
    lines.push(Line::from(Span::styled(" space/Enter: on/off · Esc or m: close", t.dim)));
    f.render_widget(Clear, popup);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(t.border_focus)
        .title(Span::styled(" Verifiers to run ", t.title));
    f.render_widget(Paragraph::new(lines).block(block), popup);
}
