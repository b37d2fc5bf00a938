//! The report screen (first-error positions, generators, categories, answers, verifiers, drawn
//! as bar charts and tables) and the campaign popups: the category chooser and the
//! agreement overlay.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Bar, BarChart, Block, Borders, Paragraph, Widget};
use ratatui::Frame;

use crate::service::campaign::Report;
use crate::tui::state::{App, ReportView};

/// Rows the two first-error bar charts take at the top of the report.
const CHARTS: u16 = 10;

/// The report is one document: the two charts, then the tables. It is drawn into a buffer as
/// tall as it needs and the part under `view.scroll` is copied on screen, so it scrolls and
/// fits any terminal.
pub fn render(f: &mut Frame, app: &App, view: &ReportView, area: Rect) {
    let t = &app.settings.theme;
    let r = &view.report;
    let title = format!(
        " Report · {} traces · {} labelled ({} human) · {} no error · j/k scroll · P or Esc: back ",
        r.traces, r.labelled, r.human_labels, r.no_error
    );
    let outer = Block::default().borders(Borders::ALL).border_style(t.border_focus).title(Span::styled(title, t.title));
    let inner = outer.inner(area);
    f.render_widget(outer, area);
    let mut lines = table_lines(r);
    lines.push(Line::from(""));
    lines.extend(side_lines(r));
    lines.extend(signal_lines(view));
    let height = (CHARTS + lines.len() as u16).max(inner.height);
    let mut page = Buffer::empty(Rect::new(0, 0, inner.width, height));
    let [charts, text] =
        Layout::vertical([Constraint::Length(CHARTS), Constraint::Min(0)]).areas(Rect::new(0, 0, inner.width, height));
    draw_charts(&mut page, app, r, charts);
    Paragraph::new(lines).render(text, &mut page);
    let max_scroll = height.saturating_sub(inner.height) as usize;
    view.max_scroll.set(max_scroll);
    let top = view.scroll.min(max_scroll) as u16;
    let buf = f.buffer_mut();
    for y in 0..inner.height {
        for x in 0..inner.width {
            if let (Some(from), Some(to)) = (page.cell((x, y + top)), buf.cell_mut((inner.x + x, inner.y + y))) {
                *to = from.clone();
            }
        }
    }
}

fn draw_charts(buf: &mut Buffer, app: &App, r: &Report, area: Rect) {
    let t = &app.settings.theme;
    let [by_step, by_tenth] = Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(area);
    let steps: Vec<Bar> =
        r.by_step.iter().enumerate().map(|(k, n)| Bar::with_label(k.to_string(), *n as u64).style(t.accent)).collect();
    BarChart::new(steps)
        .block(Block::default().borders(Borders::ALL).title(" first error at step "))
        .bar_width(3)
        .bar_gap(1)
        .render(by_step, buf);
    let tenths: Vec<Bar> = r
        .by_tenth
        .iter()
        .enumerate()
        .map(|(b, n)| Bar::with_label(format!("{}", b * 10), *n as u64).style(t.good))
        .collect();
    BarChart::new(tenths)
        .block(Block::default().borders(Borders::ALL).title(" by position in the trace (% of steps) "))
        .bar_width(3)
        .bar_gap(1)
        .render(by_tenth, buf);
}

/// Width of the longest errors-per-generator bar.
const BAR: usize = 12;

fn table_lines(r: &Report) -> Vec<Line<'static>> {
    let most = r.by_generator.iter().map(|g| g.errors).max().unwrap_or(0);
    let mut lines =
        vec![Line::from(format!("{:<24} {:>6} {:>6} {:>5} {:>6}", "generator", "traces", "errors", "pos", "wrong%"))];
    for g in &r.by_generator {
        let pos = g.mean_relative.map_or("–".into(), |p| format!("{:.0}%", 100.0 * p));
        let wrong = g.answer_wrong.map_or("–".into(), |w| format!("{w:.0}"));
        let name: String = g.name.chars().take(24).collect();
        let bar = "█".repeat((BAR * g.errors).div_ceil(most.max(1)));
        lines.push(Line::from(format!("{name:<24} {:>6} {:>6} {pos:>5} {wrong:>6} {bar}", g.traces, g.errors)));
    }
    lines
}

fn side_lines(r: &Report) -> Vec<Line<'static>> {
    let a = &r.answer_vs_error;
    let mut lines = vec![
        Line::from("answer     no error  error"),
        Line::from(format!("correct    {:>8} {:>6}", a.correct_no_error, a.correct_with_error)),
        Line::from(format!("wrong      {:>8} {:>6}", a.wrong_no_error, a.wrong_with_error)),
    ];
    lines.extend(r.recovery.line().map(Line::from));
    lines.push(Line::from("by category"));
    for (c, n) in &r.by_category {
        lines.push(Line::from(format!("  {c:<22} {n:>5}")));
    }
    for v in &r.verifiers {
        let c = &v.confusion;
        lines.push(Line::from(format!(
            "{}: F1 {} · early {} exact {} late {} missed {} false+ {}",
            v.spec,
            v.f1_shown(),
            c.early,
            c.exact,
            c.late,
            c.missed,
            c.false_alarm
        )));
    }
    lines
}

/// Stored signals against final answers: AUROC of each summary, accuracy by quintile.
fn signal_lines(view: &ReportView) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    for e in &view.signal_evals {
        let aurocs: Vec<String> = e
            .aurocs
            .iter()
            .map(|a| format!("{} {}", a.summary, a.auroc.map_or("–".into(), |v| format!("{v:.2}"))))
            .collect();
        lines.push(Line::from(format!(
            "{} ({} traces, {} wrong): AUROC {}",
            e.signal,
            e.traces,
            e.wrong,
            aurocs.join(" · ")
        )));
        let quintiles: Vec<String> =
            e.by_quintile.iter().map(|b| b.accuracy.map_or("–".into(), |a| format!("{a:.0}"))).collect();
        lines.push(Line::from(format!("  accuracy by quintile: {} %", quintiles.join("/"))));
    }
    lines
}
