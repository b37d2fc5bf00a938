//! Drawing the app into a TestBackend, for the screen tests.

use ratatui::backend::TestBackend;
use ratatui::Terminal;
use stepscope::tui::action::Action;
use stepscope::tui::state::App;
use stepscope::tui::update::update;
use stepscope::tui::views;

/// The app drawn at `w`×`h`, as text (one quoted line per row).
pub fn screen(app: &mut App, w: u16, h: u16) -> String {
    update(app, Action::Resize { width: w, height: h });
    let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
    term.draw(|f| views::render(f, app)).unwrap();
    term.backend().to_string()
}

/// Selects the listed trace `id`.
pub fn select(app: &mut App, id: &str) {
    app.browse.selected = app.browse.visible.iter().position(|&e| app.summary(e).unwrap().id == id).unwrap();
}
