//! Per-step and per-token numeric series the trace carries: token surprisal from stored
//! log-probs, and any per-step number list in the record (verifier scores land here).

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};
use ratatui::Frame;

use crate::trace::Trace;
use crate::tui::state::{App, Hide};
use crate::tui::views::steps::TraceView;

const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// How a series is drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scale {
    /// A verifier's step scores: the fixed 0–1 scale, red below τ.
    Score { tau: f64 },
    /// One number per step, drawn from 0 to the series' largest value (shown beside the name).
    Steps,
    /// One number per token: a sparkline scaled to its own range.
    Tokens,
}

pub struct Series {
    pub name: String,
    pub values: Vec<f64>,
    pub scale: Scale,
}

/// The signals of the trace `view` shows: a row of step numbers, then one row per series; per-step
/// series put one cell under each step number, with the cursor's step highlighted.
pub fn render(f: &mut Frame, app: &App, area: Rect, view: Option<&TraceView>) {
    let t = &app.settings.theme;
    let block = Block::default().borders(Borders::ALL).border_style(t.border).title(Span::styled(" Signals ", t.title));
    let inner = block.inner(area);
    f.render_widget(block, area);
    let mut series = view.map(|v| series(&v.trace)).unwrap_or_default();
    if let Some(v) = view {
        series.extend(stored_series(app.store_of(v.entry), &v.trace, app.hides(v.entry, &v.trace.id)));
    }
    let Some(v) = view.filter(|_| !series.is_empty()) else {
        let hint = "No per-step signals in this trace yet: verifier scores and instability appear here.";
        let hint = Paragraph::new(Span::styled(hint, t.dim)).wrap(ratatui::widgets::Wrap { trim: true });
        f.render_widget(hint, inner);
        return;
    };
    let label_w = series.iter().map(|s| crate::tui::text::width(&label(s))).max().unwrap_or(0).min(24);
    let room = (inner.width as usize).saturating_sub(label_w + 2);
    let steps = v.trace.steps.len();
    let cell = cell_width(steps, room);
    let mut lines = Vec::new();
    if cell > 0 {
        lines.push(Line::from(vec![
            Span::styled(format!("{:<label_w$}  ", "step"), t.dim),
            Span::styled(step_numbers(steps, cell), t.dim),
        ]));
    }
    for s in series.iter().take((inner.height as usize).saturating_sub(lines.len())) {
        let mut spans =
            vec![Span::styled(format!("{:<label_w$}  ", crate::tui::views::list::fit(&label(s), label_w)), t.accent)];
        if s.scale == Scale::Tokens || cell == 0 || s.values.len() != steps {
            spans.push(Span::raw(sparkline(&s.values, room)));
        } else {
            spans.extend(step_cells(t, s, cell, v.step));
        }
        lines.push(Line::from(spans));
    }
    f.render_widget(Paragraph::new(lines), inner);
}

/// The name with what its scale needs: τ for a verifier, the top of the scale for the others.
fn label(s: &Series) -> String {
    match s.scale {
        Scale::Score { tau } => format!("{} τ{tau:.2}", s.name),
        Scale::Steps => format!("{} ≤{}", s.name, short_number(top(&s.values))),
        Scale::Tokens => s.name.clone(),
    }
}

fn short_number(x: f64) -> String {
    if x >= 100.0 {
        format!("{x:.0}")
    } else {
        format!("{x:.2}")
    }
}

/// The largest finite value (0 when there is none).
fn top(values: &[f64]) -> f64 {
    values.iter().copied().filter(|v| v.is_finite()).fold(0.0, f64::max)
}

/// Cells per step: up to 3, and 0 when the steps do not fit one cell each.
fn cell_width(steps: usize, room: usize) -> usize {
    if steps == 0 || steps > room {
        0
    } else {
        (room / steps).min(3)
    }
}

/// Step numbers over the cells: every step when the numbers fit, else every 5th or 10th.
fn step_numbers(steps: usize, cell: usize) -> String {
    let digits = (steps.saturating_sub(1)).to_string().len();
    let every = [1, 2, 5, 10, 20, 50, 100].into_iter().find(|e| e * cell > digits).unwrap_or(steps.max(1));
    let mut out = String::new();
    for i in (0..steps).step_by(every) {
        let at = i * cell;
        if out.chars().count() > at {
            continue;
        }
        out.push_str(&" ".repeat(at - out.chars().count()));
        out.push_str(&i.to_string());
    }
    out
}

/// One cell per step on the series' scale; the cursor's step reversed, a score below τ red,
/// a step without a value `·`.
fn step_cells(t: &crate::tui::theme::Theme, s: &Series, cell: usize, cursor: usize) -> Vec<Span<'static>> {
    let (lo, hi) = match s.scale {
        Scale::Score { .. } => (0.0, 1.0),
        _ => (0.0, top(&s.values)),
    };
    s.values
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let glyph = if !v.is_finite() {
                '·'
            } else {
                let x = if hi > lo { ((v - lo) / (hi - lo)).clamp(0.0, 1.0) } else { 0.0 };
                BARS[((x * 7.0).round() as usize).min(7)]
            };
            let mut style = match s.scale {
                Scale::Score { tau } if v.is_finite() && v < tau => t.first_error,
                _ if !v.is_finite() => t.dim,
                _ => t.good,
            };
            if i == cursor {
                style = style.add_modifier(ratatui::style::Modifier::REVERSED);
            }
            let text: String = std::iter::once(glyph).chain(std::iter::repeat_n(' ', cell - 1)).collect();
            Span::styled(text, style)
        })
        .collect()
}

/// Named numeric series: per-token surprisal (−log p) when tokens are stored, per-step mean
/// surprisal, and every record field that is a list of numbers with one value per step.
pub fn series(tr: &Trace) -> Vec<Series> {
    let mut out = Vec::new();
    if let Some(tokens) = &tr.tokens {
        if !tokens.is_empty() {
            let values = tokens.iter().map(|k| -k.logprob).collect();
            out.push(Series { name: "token −log p".into(), values, scale: Scale::Tokens });
            let per_step: Vec<f64> = tr
                .steps
                .iter()
                .map(|s| {
                    let inside: Vec<f64> =
                        tokens.iter().filter(|k| k.offset >= s.start && k.offset < s.end).map(|k| -k.logprob).collect();
                    if inside.is_empty() {
                        0.0
                    } else {
                        inside.iter().sum::<f64>() / inside.len() as f64
                    }
                })
                .collect();
            out.push(Series { name: "step mean −log p".into(), values: per_step, scale: Scale::Steps });
        }
    }
    for (key, value) in &tr.extra {
        let Some(items) = value.as_array() else { continue };
        let nums: Option<Vec<f64>> = items.iter().map(|v| v.as_f64()).collect();
        if let Some(nums) = nums.filter(|n| !n.is_empty() && n.len() == tr.steps.len()) {
            out.push(Series { name: key.clone(), values: nums, scale: Scale::Steps });
        }
    }
    out
}

/// Series from the store: each verifier's step scores, per-token instability and its step
/// peaks, and the answer entropy after each step.
/// `hide`: blind mode leaves out the verifiers' scores, and the answer entropy, which is measured
/// against the reference answer (close to telling whether the answer is right).
pub fn stored_series(store: &crate::trace::Store, tr: &Trace, hide: Hide) -> Vec<Series> {
    let mut out = Vec::new();
    for r in store.results_for(&tr.id).into_iter().filter(|_| !hide.verifiers) {
        let values: Vec<f64> = r.scores.iter().map(|s| s.unwrap_or(f64::NAN)).collect();
        let name = crate::tui::views::steps::short_spec(&r.spec);
        out.push(Series { name, values, scale: Scale::Score { tau: r.threshold } });
    }
    let gaps = |v: &[Option<f64>]| -> Vec<f64> { v.iter().map(|x| x.unwrap_or(f64::NAN)).collect() };
    if let Some(sig) = store.signal(&tr.id, "instability").and_then(|s| s.instability()) {
        out.push(Series { name: "instability I_t".into(), values: sig.per_token.clone(), scale: Scale::Tokens });
        out.push(Series { name: "step peak I".into(), values: gaps(&sig.step_peak), scale: Scale::Steps });
    }
    let answer_entropy = store.signal(&tr.id, "answer-entropy").filter(|_| !hide.answer);
    if let Some(sig) = answer_entropy.and_then(|s| s.answer_entropy()) {
        // One value before any step, then one after each: drawn as a sparkline.
        out.push(Series { name: format!("H(answer) {}", sig.trend), values: sig.h.clone(), scale: Scale::Tokens });
    }
    out
}

/// A sparkline of at most `width` cells; longer series are averaged into buckets.
pub fn sparkline(values: &[f64], width: usize) -> String {
    if values.is_empty() || width == 0 {
        return String::new();
    }
    let buckets = values.len().min(width);
    let avg: Vec<f64> = (0..buckets)
        .map(|b| {
            let (lo, hi) =
                (b * values.len() / buckets, ((b + 1) * values.len() / buckets).max(b * values.len() / buckets + 1));
            let slice = &values[lo..hi.min(values.len())];
            let finite: Vec<f64> = slice.iter().copied().filter(|v| v.is_finite()).collect();
            if finite.is_empty() {
                f64::NAN
            } else {
                finite.iter().sum::<f64>() / finite.len() as f64
            }
        })
        .collect();
    let (min, max) = avg
        .iter()
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
    avg.iter()
        .map(|&v| {
            if !v.is_finite() {
                return ' '; // no evidence
            }
            let x = if max > min { (v - min) / (max - min) } else { 0.5 };
            BARS[((x * 7.0).round() as usize).min(7)]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_numbers_fit_their_cells() {
        assert_eq!(step_numbers(4, 3), "0  1  2  3");
        assert_eq!(step_numbers(12, 3), "0  1  2  3  4  5  6  7  8  9  10 11");
        assert_eq!(step_numbers(12, 1), "0    5    10");
        assert_eq!(cell_width(10, 9), 0, "one cell per step or none");
        assert_eq!(cell_width(10, 100), 3);
    }

    #[test]
    fn sparkline_scales_and_buckets() {
        assert_eq!(sparkline(&[0.0, 1.0], 10), "▁█");
        assert_eq!(sparkline(&[1.0; 3], 10), "▅▅▅");
        assert_eq!(sparkline(&(0..100).map(f64::from).collect::<Vec<_>>(), 4).chars().count(), 4);
        assert_eq!(sparkline(&[], 4), "");
    }
}
