//! The `?` overlay: every bindable action (`action::BINDINGS`) with its keys, from the live
//! keymap, wrapped at word boundaries and scrolled when it does not fit (80×24 included).

use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};
use ratatui::Frame;

use crate::tui::action::BINDINGS;
use crate::tui::state::App;
use crate::tui::text::wrap;

/// Width of the key column.
const KEYS: usize = 15;

/// Lines after the key list.
const NOTES: [&str; 3] = [
    "",
    "Mouse: a click selects a trace or a step; the wheel scrolls the pane under it.",
    "Labels are saved to disk before they show.",
];

/// Where the popup goes, and the lines of each of its columns.
struct Shape {
    popup: Rect,
    columns: Vec<Vec<Line<'static>>>,
    /// Lines of the longest column.
    per: usize,
}

/// The lines of each binding (and of each note), wrapped to `width`.
fn entries(app: &App, width: usize) -> Vec<Vec<Line<'static>>> {
    let t = &app.settings.theme;
    let mut out = Vec::new();
    for b in BINDINGS {
        let keys = app.settings.keymap.keys_for(&b.action).join(" ");
        let first = vec![Span::styled(format!(" {keys:<w$}", w = KEYS - 1), t.accent)];
        out.push(wrap(&[(b.help.to_string(), Style::default())], width, first, KEYS));
    }
    for note in NOTES {
        out.push(wrap(&[(note.to_string(), t.dim)], width, vec![Span::raw(" ")], 1));
    }
    out
}

/// Splits the entries into two columns between entries, the first holding about half.
fn two_columns(entries: Vec<Vec<Line<'static>>>) -> Vec<Vec<Line<'static>>> {
    let total: usize = entries.iter().map(Vec::len).sum();
    let (mut left, mut right) = (Vec::new(), Vec::new());
    for e in entries {
        if left.len() < total.div_ceil(2) && right.is_empty() {
            left.extend(e);
        } else {
            right.extend(e);
        }
    }
    vec![left, right]
}

fn shape(app: &App, area: Rect) -> Shape {
    let one: Vec<Line> = entries(app, area.width.min(84).saturating_sub(2) as usize).concat();
    // Two columns when one does not fit the height and the terminal is wide enough.
    let two = area.height < one.len() as u16 + 3 && area.width >= 120;
    let w = area.width.min(if two { 168 } else { 84 });
    let columns =
        if two { two_columns(entries(app, (w.saturating_sub(2) / 2).saturating_sub(1) as usize)) } else { vec![one] };
    let per = columns.iter().map(Vec::len).max().unwrap_or(0);
    let h = area.height.min(per as u16 + 3);
    let popup = Rect { x: area.x + (area.width - w) / 2, y: area.y + (area.height - h) / 2, width: w, height: h };
    Shape { popup, columns, per }
}

/// Rows of key lines the popup shows (inside its border, above its footer).
fn visible(s: &Shape) -> usize {
    s.popup.height.saturating_sub(3) as usize
}

/// How far the help can scroll in a terminal of this size.
pub fn max_scroll(app: &App, width: u16, height: u16) -> usize {
    let s = shape(app, Rect::new(0, 0, width, height));
    s.per.saturating_sub(visible(&s))
}

pub fn render(f: &mut Frame, app: &App, area: Rect, scroll: usize) {
    let t = &app.settings.theme;
    let s = shape(app, area);
    let scroll = scroll.min(s.per.saturating_sub(visible(&s)));
    f.render_widget(Clear, s.popup);
    let block =
        Block::default().borders(Borders::ALL).border_style(t.border_focus).title(Span::styled(" Keys ", t.title));
    let inner = block.inner(s.popup);
    f.render_widget(block, s.popup);
    let col_w = inner.width / s.columns.len() as u16;
    for (i, chunk) in s.columns.iter().enumerate() {
        let r = Rect { x: inner.x + col_w * i as u16, width: col_w, height: inner.height.saturating_sub(1), ..inner };
        let shown: Vec<Line> = chunk.iter().skip(scroll).cloned().collect();
        f.render_widget(Paragraph::new(shown), r);
    }
    let foot = Rect { y: inner.y + inner.height.saturating_sub(1), height: 1.min(inner.height), ..inner };
    let more = visible(&s) < s.per;
    let note = if more {
        let last = (scroll + visible(&s)).min(s.per);
        format!(" lines {}–{last} of {} · j/k scroll · q quits · any other key closes", scroll + 1, s.per)
    } else {
        " q quits · any other key closes".to_string()
    };
    f.render_widget(Paragraph::new(Span::styled(note, t.dim)), foot);
}
