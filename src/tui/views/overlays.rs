//! The overlays drawn over either screen that are not a pane's own: the text editor (a step
//! rewritten, a question, a note), the category chooser and the agreement box. (Help and the
//! verifier menu have their own files.)

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use ratatui::Frame;

use crate::tui::state::App;

/// The text editor of `E` (a step being rewritten) and `A` (a question), cursor at the end.
pub fn render_editor(f: &mut Frame, app: &App, area: Rect, title: &str, text: &str) {
    let t = &app.settings.theme;
    let w = area.width.min(90);
    let h = area.height.min(10);
    let popup = Rect { x: area.x + (area.width - w) / 2, y: area.y + (area.height - h) / 2, width: w, height: h };
    f.render_widget(Clear, popup);
    let block = Block::default().borders(Borders::ALL).border_style(t.border_focus).title(Span::styled(title, t.title));
    let body = Paragraph::new(Line::from(vec![Span::raw(text.to_string()), Span::styled("▌", t.accent)]))
        .wrap(Wrap { trim: false })
        .block(block);
    f.render_widget(body, popup);
}

/// The reason editor of adjudication: each annotator's label (with category and note) above
/// the reason being typed, so what is settled stays in sight.
pub fn render_reason(f: &mut Frame, app: &App, area: Rect, title: &str, source: usize, trace: &str, text: &str) {
    let t = &app.settings.theme;
    let store = &app.library.sources[source].store;
    let mut lines: Vec<Line> = store
        .labels_for(trace)
        .into_iter()
        .map(|(a, l)| {
            let mut what = l.first_error().map_or("no error".to_string(), |k| format!("first error {k}"));
            if let Some(d) = store.detail(trace, a) {
                what.extend(d.category.as_ref().map(|c| format!(" · {c}")));
                what.extend(d.note.as_ref().map(|n| format!(" · “{n}”")));
            }
            Line::from(vec![Span::styled(format!(" {a}: "), t.accent), Span::raw(what)])
        })
        .collect();
    if lines.is_empty() {
        lines.push(Line::from(Span::styled(" no annotator has labelled this trace", t.dim)));
    }
    lines.push(Line::default());
    lines.push(Line::from(vec![Span::raw(format!(" {text}")), Span::styled("▌", t.accent)]));
    let w = area.width.min(90);
    let h = (lines.len() as u16 + 4).min(area.height);
    let popup = Rect { x: area.x + (area.width - w) / 2, y: area.y + (area.height - h) / 2, width: w, height: h };
    f.render_widget(Clear, popup);
    let block = Block::default().borders(Borders::ALL).border_style(t.border_focus).title(Span::styled(title, t.title));
    f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }).block(block), popup);
}

/// The category chooser shown after a first-error label.
pub fn render_category(f: &mut Frame, app: &App, area: Rect, trace: &str) {
    let t = &app.settings.theme;
    let mut lines: Vec<Line> = app
        .settings
        .categories
        .iter()
        .enumerate()
        .map(|(i, c)| Line::from(vec![Span::styled(format!(" {} ", i + 1), t.accent), Span::raw(c.clone())]))
        .collect();
    lines.push(Line::from(Span::styled(" N note · Esc or #: no category", t.dim)));
    let w = 40.min(area.width);
    let h = (lines.len() as u16 + 2).min(area.height);
    let popup = Rect { x: area.x + area.width.saturating_sub(w + 1), y: area.y + 1, width: w, height: h };
    f.render_widget(Clear, popup);
    let title = format!(" category of the error in {trace} ");
    let block = Block::default().borders(Borders::ALL).border_style(t.border_focus).title(Span::styled(title, t.title));
    f.render_widget(Paragraph::new(lines).block(block), popup);
}

/// The agreement overlay: prepared lines in a centred box.
pub fn render_agreement(f: &mut Frame, app: &App, area: Rect, text: &[String]) {
    let t = &app.settings.theme;
    let w = area.width.saturating_sub(4).min(100);
    let h = (text.len() as u16 + 2).min(area.height.saturating_sub(2));
    let popup =
        Rect { x: area.x + (area.width - w) / 2, y: area.y + (area.height.saturating_sub(h)) / 2, width: w, height: h };
    f.render_widget(Clear, popup);
    let block = Block::default().borders(Borders::ALL).border_style(t.border_focus).title(Span::styled(
        " agreement · Enter: the traces where annotators disagree · any other key closes ",
        t.title,
    ));
    let lines: Vec<Line> = text.iter().map(|l| Line::from(l.clone())).collect();
    f.render_widget(Paragraph::new(lines).block(block), popup);
}
