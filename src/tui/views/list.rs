//! The trace list: answer mark, id, steps, dataset label, my label.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};
use ratatui::Frame;

use crate::trace::Label;
use crate::tui::state::{App, Focus};
use crate::tui::text::width;

pub fn render(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.settings.theme;
    let mut title = format!(" Traces {} · {} ", app.browse.visible.len(), app.browse.filter.name());
    if app.searching() || !app.browse.search.is_empty() {
        title.push_str(&format!("· /{}{} ", app.browse.search, if app.searching() { "▏" } else { "" }));
    }
    let border = if app.browse.focus == Focus::List { t.border_focus } else { t.border };
    let block = Block::default().borders(Borders::ALL).border_style(border).title(Span::styled(title, t.title));
    let inner = block.inner(area);
    f.render_widget(block, area);
    if inner.height == 0 || inner.width == 0 {
        return;
    }
    if app.browse.visible.is_empty() {
        let msg = if app.library.entries.is_empty() { "no traces loaded" } else { "no trace matches" };
        f.render_widget(Paragraph::new(Span::styled(msg, t.dim)), inner);
        return;
    }
    let rows = inner.height as usize;
    // `update` keeps the offset in view; the clamp only matters for an area of another size.
    let offset = keep_in_view(app.browse.list_offset, app.browse.selected, rows, app.browse.visible.len());
    let lines: Vec<Line> = app.browse.visible[offset..(offset + rows).min(app.browse.visible.len())]
        .iter()
        .enumerate()
        .map(|(i, &entry)| row(app, entry, offset + i == app.browse.selected, inner.width as usize))
        .collect();
    f.render_widget(Paragraph::new(lines), inner);
}

/// First row to show so that `selected` is visible, moving as little as possible.
pub fn keep_in_view(offset: usize, selected: usize, rows: usize, len: usize) -> usize {
    let rows = rows.max(1);
    let offset = if selected < offset {
        selected
    } else if selected >= offset + rows {
        selected + 1 - rows
    } else {
        offset
    };
    offset.min(len.saturating_sub(rows))
}

fn row(app: &App, entry: usize, selected: bool, w: usize) -> Line<'static> {
    let t = &app.settings.theme;
    let Some(s) = app.summary(entry) else {
        return Line::from(Span::styled(" (unreadable record)", t.dim));
    };
    let hide = app.hides(entry, &s.id);
    let (mark, mark_style) = match app.shown_answer(entry, &s.id, s.answer) {
        Some(true) => ("✓", t.good),
        Some(false) => ("✗", t.bad),
        None => ("·", t.dim),
    };
    let pointer = if selected { "▶" } else { " " };
    let ds = if hide.dataset { "?".into() } else { s.dataset.map_or("–".into(), Label::short) };
    let me = app.my_label(entry, &s.id).map_or("–".into(), Label::short);
    // My label's category, shortened, where there is room.
    let category = match app.my_category(entry, &s.id) {
        Some(c) if w >= 46 => format!(" {}", c.chars().take(5).collect::<String>()),
        _ => String::new(),
    };
    // The other annotators' labels (`bo:2`), where blind mode does not hide them and there is room.
    let others = if hide.annotators || w < 46 { String::new() } else { others(app, entry, &s.id) };
    // Narrow lists drop the step count to keep room for the id.
    let tail = if w >= 38 {
        format!(" {:>3}st ds:{:<2} me:{:<2}{others}{category}", s.steps, ds, me)
    } else {
        format!(" ds:{ds:<2} me:{me:<2}")
    };
    let id_w = w.saturating_sub(3 + width(&tail)).max(1);
    let id = fit(&shown_id(app, entry, &s.id), id_w);
    let base = if selected { t.selected } else { t.base };
    Line::from(vec![
        Span::styled(pointer.to_string(), base),
        Span::styled(mark.to_string(), if selected { t.selected.patch(mark_style) } else { mark_style }),
        Span::styled(format!(" {id}{}", " ".repeat(id_w.saturating_sub(width(&id)))), base),
        Span::styled(tail, if selected { t.selected } else { t.dim }),
    ])
}

/// The gold label (`★2`), then up to two other annotators' labels, each as the first two letters
/// of the name and the label (`bo:2`), then `+N` for the rest.
fn others(app: &App, entry: usize, id: &str) -> String {
    let me = app.settings.annotator.as_str();
    let labels: Vec<(&str, Label)> = app.store_of(entry).labels_for(id).into_iter().filter(|(a, _)| *a != me).collect();
    // The gold label first (`★3`): it settles the others.
    let mut out = app.gold(entry, id).map_or(String::new(), |(g, _)| format!(" ★{}", g.short()));
    out.extend(labels.iter().take(2).map(|(a, l)| format!(" {}:{}", a.chars().take(2).collect::<String>(), l.short())));
    if labels.len() > 2 {
        out.push_str(&format!(" +{}", labels.len() - 2));
    }
    out
}

/// A refinement is listed under its draft as `↳ ~strategy-sSEED` (its id after the draft's).
fn shown_id(app: &App, entry: usize, id: &str) -> String {
    if app.library.sources[app.library.entries[entry].source].parent.is_none() {
        return id.to_string();
    }
    let parent = app.library.loaded[entry].as_ref().and_then(|t| Some(t.refinement.as_ref()?.parent.clone()));
    match parent.as_deref().and_then(|p| id.strip_prefix(p)) {
        Some(rest) if !rest.is_empty() => format!("↳ {rest}"),
        _ => format!("↳ {id}"),
    }
}

/// Cuts a string to a display width, with an ellipsis when cut.
pub fn fit(s: &str, w: usize) -> String {
    if width(s) <= w {
        return s.to_string();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        let cw = width(&c.to_string());
        if used + cw + 1 > w {
            break;
        }
        out.push(c);
        used += cw;
    }
    out.push('…');
    out
}
