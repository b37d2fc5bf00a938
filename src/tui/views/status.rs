//! The status bar: progress, annotator, filter, the last message, help hint.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use crate::tui::state::App;

pub fn render(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.settings.theme;
    let mode = match (app.searching(), app.typing()) {
        (true, _) => " SEARCH ",
        (false, true) => " EDIT ",
        _ if app.screen.is_compare() => " COMPARE ",
        _ if matches!(app.screen, crate::tui::state::Screen::Report(_)) => " REPORT ",
        _ if app.settings.adjudicate => " ADJUDICATE ",
        _ => " NORMAL ",
    };
    // In a campaign: my labels among the campaign's traces.
    let (labelled, total) = match &app.browse.order {
        Some(order) => {
            let mine = order
                .iter()
                .filter(|&&e| app.library.summaries[e].as_ref().is_some_and(|s| app.my_label(e, &s.id).is_some()));
            (mine.count(), order.len())
        }
        None => (app.labelled_count(), app.library.entries.len()),
    };
    // What is going on now comes first (the message: the answer to the last key); the
    // annotator and the model's description last (they may be cut).
    let mut parts =
        vec![format!("{}labelled {labelled}/{total}", if app.settings.blind.is_some() { "BLIND · " } else { "" })];
    if let Some(p) = crate::tui::prefix::shown(app) {
        parts.push(format!("keys: {p}"));
    }
    if let Some(m) = &app.status.message {
        parts.push(m.clone());
    }
    if let Some(sc) = &app.status.scoring {
        parts.push(format!("scoring {}/{} (Esc cancels)", sc.done, sc.total));
    }
    parts.push(format!("annotator {}", app.settings.annotator));
    if let Some((done, total)) = app.library.scan {
        parts.push(format!("indexing {}%", done * 100 / total.max(1)));
    }
    if let Some(m) = &app.status.model_status {
        parts.push(m.clone());
    }
    if let Some(s) = &app.status.server_status {
        parts.push(s.clone());
    }
    parts.push("? help".into());
    let line = Line::from(vec![Span::styled(mode, t.status), Span::raw(" "), Span::raw(parts.join(" · "))]);
    f.render_widget(Paragraph::new(line), area);
}
