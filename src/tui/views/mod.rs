//! Rendering: one file per pane. Views read the state and never change what it means.

pub mod help;
pub mod layout;
pub mod list;
pub mod menu;
pub mod signals;
pub mod status;
pub mod steps;

use ratatui::Frame;

use super::state::App;

pub fn render(f: &mut Frame, app: &App) {
    let area = f.area();
    let areas = layout::layout(area.width, area.height, app.focus);
    if let Some(r) = areas.list {
        list::render(f, app, r);
    }
    if let Some(r) = areas.steps {
        steps::render(f, app, r);
    }
    if let Some(r) = areas.signals {
        signals::render(f, app, r);
    }
    status::render(f, app, areas.status);
    if app.menu.is_some() {
        menu::render(f, app, area);
    }
    if app.help {
        help::render(f, app, area);
    }
}
