//! Where each pane goes for a terminal size. Shared by rendering and mouse hit-testing.

use ratatui::layout::Rect;

use crate::tui::state::Focus;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Areas {
    pub list: Option<Rect>,
    pub steps: Option<Rect>,
    pub signals: Option<Rect>,
    /// The key-hint line of the focused pane, above the status line (from 20 rows).
    pub hints: Option<Rect>,
    pub status: Rect,
}

/// Two panes side by side from 70 columns; below that only the focused pane. The signals pane
/// needs 16 rows, and grows by two (more series) from 36.
pub fn layout(width: u16, height: u16, focus: Focus) -> Areas {
    let status = Rect { x: 0, y: height.saturating_sub(1), width, height: height.min(1) };
    let mut body = Rect { x: 0, y: 0, width, height: height.saturating_sub(1) };
    let hints = (height >= 20).then(|| {
        body.height -= 1;
        Rect { x: 0, y: body.height, width, height: 1 }
    });
    let signals = (body.height >= 16).then(|| {
        let h = if body.height >= 36 { 7 } else { 5 };
        body.height -= h;
        Rect { x: 0, y: body.height, width, height: h }
    });
    if width >= 70 {
        let list_w = (width * 40 / 100).clamp(30, 48);
        let list = Rect { width: list_w, ..body };
        let steps = Rect { x: list_w, width: width - list_w, ..body };
        return Areas { list: Some(list), steps: Some(steps), signals, hints, status };
    }
    match focus {
        Focus::List => Areas { list: Some(body), steps: None, signals, hints, status },
        Focus::Steps => Areas { list: None, steps: Some(body), signals, hints, status },
    }
}
