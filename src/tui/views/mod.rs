//! Rendering: one file per pane. Views read the state and never change what it means.

pub mod compare;
pub mod help;
pub mod hints;
pub mod layout;
pub mod list;
pub mod menu;
pub mod overlays;
pub mod report;
pub mod series;
pub mod status;
pub mod steps;

use ratatui::Frame;

use super::state::{App, Overlay, Screen};
use steps::TraceView;

/// Draws the screen, then the overlays in the order they were opened.
pub fn render(f: &mut Frame, app: &App) {
    let area = f.area();
    match &app.screen {
        Screen::Browse => browse(f, app),
        Screen::Compare => {
            let areas = layout::layout(area.width, area.height, app.browse.focus);
            let body = ratatui::layout::Rect { height: area.height.saturating_sub(1), ..area };
            compare::render(f, app, body);
            status::render(f, app, areas.status);
        }
        Screen::Report(view) => {
            let areas = layout::layout(area.width, area.height, app.browse.focus);
            let body = ratatui::layout::Rect { height: area.height.saturating_sub(1), ..area };
            report::render(f, app, view, body);
            status::render(f, app, areas.status);
        }
    }
    for overlay in &app.overlays {
        match overlay {
            Overlay::VerifierMenu { .. } => menu::render(f, app, area),
            Overlay::Help { scroll } => help::render(f, app, area, *scroll),
            Overlay::Search { .. } => {} // typed into the list's title
            Overlay::Edit { step, text } => {
                let title = format!(" rewrite step {step} · Enter: continue from here · Esc: drop ");
                overlays::render_editor(f, app, area, &title, text)
            }
            Overlay::Ask { text } => {
                overlays::render_editor(f, app, area, " your question · Enter: generate a solution · Esc: drop ", text)
            }
            Overlay::Category { trace, .. } => overlays::render_category(f, app, area, trace),
            Overlay::Note { trace, text, .. } => {
                let title = format!(" note on my label of {trace} · Enter: save · Esc: drop ");
                overlays::render_editor(f, app, area, &title, text)
            }
            Overlay::Reason { source, trace, value, text } => {
                let what = match value {
                    Some(crate::trace::Label::FirstError(k)) => format!("gold first error at step {k}"),
                    Some(crate::trace::Label::NoError) => "gold: no error".to_string(),
                    None => "clear the gold label".to_string(),
                };
                let title = format!(" {trace}: {what} · why? · Enter: save · Esc: drop ");
                overlays::render_reason(f, app, area, &title, *source, trace, text)
            }
            Overlay::Agreement { lines } => overlays::render_agreement(f, app, area, lines),
        }
    }
}

/// The list, the selected trace and its signals.
fn browse(f: &mut Frame, app: &App) {
    let area = f.area();
    let areas = layout::layout(area.width, area.height, app.browse.focus);
    if let Some(r) = areas.list {
        list::render(f, app, r);
    }
    let view = TraceView::selected(app);
    if let Some(r) = areas.steps {
        steps::render(f, app, r, view.as_ref());
    }
    if let Some(r) = areas.signals {
        series::render(f, app, r, view.as_ref());
    }
    if let Some(r) = areas.hints {
        hints::render(f, app, r);
    }
    status::render(f, app, areas.status);
}
