//! The `?` overlay: every bindable action (`action::BINDINGS`) with its keys, from the live keymap.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};
use ratatui::Frame;

use crate::tui::action::BINDINGS;
use crate::tui::state::App;

pub fn render(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.settings.theme;
    let rows: Vec<Line> = BINDINGS
        .iter()
        .map(|b| {
            let keys = app.settings.keymap.keys_for(&b.action).join(" ");
            Line::from(vec![Span::styled(format!(" {keys:<14}"), t.accent), Span::raw(b.help)])
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
