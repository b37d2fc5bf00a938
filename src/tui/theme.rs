//! Colours. Symbols (✓ ✗ ·) carry the same meaning as colours, so `NO_COLOR` loses nothing.

use ratatui::style::{Color, Modifier, Style};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThemeName {
    Dark,
    Light,
}

#[derive(Debug, Clone)]
pub struct Theme {
    pub name: ThemeName,
    pub color: bool,
    pub base: Style,
    pub dim: Style,
    pub border: Style,
    pub border_focus: Style,
    pub title: Style,
    pub selected: Style,
    pub good: Style,
    pub bad: Style,
    pub first_error: Style,
    pub emphasis: Style,
    pub accent: Style,
    pub status: Style,
}

impl Theme {
    pub fn new(name: ThemeName, color: bool) -> Theme {
        if !color {
            return Theme::monochrome(name);
        }
        let (fg, dim, accent, sel_bg) = match name {
            ThemeName::Dark => (Color::Reset, Color::DarkGray, Color::Cyan, Color::Rgb(45, 55, 72)),
            ThemeName::Light => (Color::Reset, Color::Gray, Color::Blue, Color::Rgb(210, 225, 245)),
        };
        let (good, bad) = match name {
            ThemeName::Dark => (Color::Green, Color::LightRed),
            ThemeName::Light => (Color::Rgb(0, 120, 0), Color::Rgb(190, 0, 0)),
        };
        Theme {
            name,
            color,
            base: Style::default().fg(fg),
            dim: Style::default().fg(dim),
            border: Style::default().fg(dim),
            border_focus: Style::default().fg(accent),
            title: Style::default().add_modifier(Modifier::BOLD),
            selected: Style::default().bg(sel_bg).add_modifier(Modifier::BOLD),
            good: Style::default().fg(good),
            bad: Style::default().fg(bad),
            first_error: Style::default().fg(bad).add_modifier(Modifier::BOLD),
            emphasis: Style::default().add_modifier(Modifier::BOLD | Modifier::UNDERLINED),
            accent: Style::default().fg(accent),
            status: Style::default().add_modifier(Modifier::REVERSED),
        }
    }

    /// No colours at all: only bold, dim, reverse and underline.
    fn monochrome(name: ThemeName) -> Theme {
        let plain = Style::default();
        Theme {
            name,
            color: false,
            base: plain,
            dim: plain.add_modifier(Modifier::DIM),
            border: plain,
            border_focus: plain.add_modifier(Modifier::BOLD),
            title: plain.add_modifier(Modifier::BOLD),
            selected: plain.add_modifier(Modifier::REVERSED),
            good: plain,
            bad: plain.add_modifier(Modifier::BOLD),
            first_error: plain.add_modifier(Modifier::BOLD | Modifier::UNDERLINED),
            emphasis: plain.add_modifier(Modifier::BOLD | Modifier::UNDERLINED),
            accent: plain.add_modifier(Modifier::BOLD),
            status: plain.add_modifier(Modifier::REVERSED),
        }
    }

    /// `NO_COLOR` (any non-empty value) turns colours off.
    pub fn color_allowed() -> bool {
        std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
    }
}
