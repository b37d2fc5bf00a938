//! The verifier menu: which verifiers `v` and `V` run. Space or Enter switches one on or off.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};
use ratatui::Frame;

use crate::tui::state::App;

pub fn render(f: &mut Frame, app: &App, area: Rect) {
    let Some(cursor) = app.menu_cursor() else { return };
    let t = &app.settings.theme;
    let w = area.width.min(60);
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
            Line::from(vec![Span::styled(format!(" {mark} "), t.accent), Span::styled(spec.clone(), style)])
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
