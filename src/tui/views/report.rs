//! The report screen (first-error positions, generators, categories, answers, verifiers, drawn
//! as bar charts and a sparkline) and the campaign popups: the category chooser and the
//! agreement overlay.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Bar, BarChart, Block, Borders, Paragraph, Sparkline, Wrap};
use ratatui::Frame;

use crate::service::campaign::Report;
use crate::tui::state::{App, ReportView};

pub fn render(f: &mut Frame, app: &App, view: &ReportView, area: Rect) {
    let t = &app.settings.theme;
    let r = &view.report;
    let title = format!(
        " Report · {} traces · {} labelled ({} human) · {} no error · P or Esc: back ",
        r.traces, r.labelled, r.human_labels, r.no_error
    );
    let outer = Block::default().borders(Borders::ALL).border_style(t.border_focus).title(Span::styled(title, t.title));
    let inner = outer.inner(area);
    f.render_widget(outer, area);
    let [top, bottom] = Layout::vertical([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(inner);
    let [by_step, by_tenth] = Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(top);
    let [tables, side] = Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(bottom);
    let steps: Vec<Bar> =
        r.by_step.iter().enumerate().map(|(k, n)| Bar::with_label(k.to_string(), *n as u64).style(t.accent)).collect();
    let chart = BarChart::new(steps)
        .block(Block::default().borders(Borders::ALL).title(" first error at step "))
        .bar_width(3)
        .bar_gap(1);
    f.render_widget(chart, by_step);
    let tenths: Vec<Bar> = r
        .by_tenth
        .iter()
        .enumerate()
        .map(|(b, n)| Bar::with_label(format!("{}", b * 10), *n as u64).style(t.good))
        .collect();
    let chart = BarChart::new(tenths)
        .block(Block::default().borders(Borders::ALL).title(" by position in the trace (% of steps) "))
        .bar_width(3)
        .bar_gap(1);
    f.render_widget(chart, by_tenth);
    f.render_widget(Paragraph::new(table_lines(r)).block(Block::default().borders(Borders::ALL)), tables);
    let [spark, rest] = Layout::vertical([Constraint::Length(4), Constraint::Min(0)]).areas(side);
    let data: Vec<u64> = r.by_generator.iter().map(|g| g.errors as u64).collect();
    let spark_widget = Sparkline::default()
        .block(Block::default().borders(Borders::ALL).title(" errors per generator "))
        .data(&data)
        .style(t.bad);
    f.render_widget(spark_widget, spark);
    let mut lines = side_lines(r);
    lines.extend(signal_lines(view));
    f.render_widget(
        Paragraph::new(lines).block(Block::default().borders(Borders::ALL)).wrap(Wrap { trim: false }),
        rest,
    );
}

fn table_lines(r: &Report) -> Vec<Line<'static>> {
    let mut lines =
        vec![Line::from(format!("{:<24} {:>6} {:>6} {:>5} {:>6}", "generator", "traces", "errors", "pos", "wrong%"))];
    for g in &r.by_generator {
        let pos = g.mean_relative.map_or("–".into(), |p| format!("{:.0}%", 100.0 * p));
        let wrong = g.answer_wrong.map_or("–".into(), |w| format!("{w:.0}"));
        let name: String = g.name.chars().take(24).collect();
        lines.push(Line::from(format!("{name:<24} {:>6} {:>6} {pos:>5} {wrong:>6}", g.traces, g.errors)));
    }
    lines
}

fn side_lines(r: &Report) -> Vec<Line<'static>> {
    let a = &r.answer_vs_error;
    let mut lines = vec![
        Line::from("answer     no error  error"),
        Line::from(format!("correct    {:>8} {:>6}", a.correct_no_error, a.correct_with_error)),
        Line::from(format!("wrong      {:>8} {:>6}", a.wrong_no_error, a.wrong_with_error)),
        Line::from("by category"),
    ];
    for (c, n) in &r.by_category {
        lines.push(Line::from(format!("  {c:<22} {n:>5}")));
    }
    for v in &r.verifiers {
        let c = &v.confusion;
        lines.push(Line::from(format!(
            "{}: F1 {:.1} · early {} exact {} late {} missed {} false+ {}",
            v.spec, v.f1, c.early, c.exact, c.late, c.missed, c.false_alarm
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
