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

/// The signals of the trace `view` shows.
pub fn render(f: &mut Frame, app: &App, area: Rect, view: Option<&TraceView>) {
    let t = &app.settings.theme;
    let block = Block::default().borders(Borders::ALL).border_style(t.border).title(Span::styled(" Signals ", t.title));
    let inner = block.inner(area);
    f.render_widget(block, area);
    let mut series = view.map(|v| series(&v.trace)).unwrap_or_default();
    if let Some(v) = view {
        series.extend(stored_series(app.store_of(v.entry), &v.trace, app.hides(v.entry, &v.trace.id)));
    }
    let label_w = series.iter().map(|(n, _)| n.chars().count()).max().unwrap_or(0).min(18);
    let mut lines: Vec<Line> = series
        .iter()
        .take(inner.height as usize)
        .map(|(name, values)| {
            let room = (inner.width as usize).saturating_sub(label_w + 2);
            Line::from(vec![
                Span::styled(format!("{:<label_w$}  ", crate::tui::views::list::fit(name, label_w)), t.accent),
                Span::raw(sparkline(values, room)),
            ])
        })
        .collect();
    if lines.is_empty() {
        lines.push(Line::from(Span::styled(
            "No per-step signals in this trace yet: verifier scores and instability appear here.",
            t.dim,
        )));
    }
    // Sparklines are cut to the width already; the hint wraps instead of losing its end.
    f.render_widget(Paragraph::new(lines).wrap(ratatui::widgets::Wrap { trim: true }), inner);
}

/// Named numeric series: per-token surprisal (−log p) when tokens are stored, per-step mean
/// surprisal, and every record field that is a list of numbers with one value per step.
pub fn series(tr: &Trace) -> Vec<(String, Vec<f64>)> {
    let mut out = Vec::new();
    if let Some(tokens) = &tr.tokens {
        if !tokens.is_empty() {
            out.push(("token −log p".to_string(), tokens.iter().map(|k| -k.logprob).collect()));
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
            out.push(("step mean −log p".to_string(), per_step));
        }
    }
    for (key, value) in &tr.extra {
        let Some(items) = value.as_array() else { continue };
        let nums: Option<Vec<f64>> = items.iter().map(|v| v.as_f64()).collect();
        if let Some(nums) = nums.filter(|n| !n.is_empty() && n.len() == tr.steps.len()) {
            out.push((key.clone(), nums));
        }
    }
    out
}

/// Series from the store: each verifier's step scores, per-token instability and its step
/// peaks, and the answer entropy after each step.
/// `hide`: blind mode leaves out the verifiers' scores, and the answer entropy, which is measured
/// against the reference answer (close to telling whether the answer is right).
pub fn stored_series(store: &crate::trace::Store, tr: &Trace, hide: Hide) -> Vec<(String, Vec<f64>)> {
    let mut out = Vec::new();
    for r in store.results_for(&tr.id).into_iter().filter(|_| !hide.verifiers) {
        let scores: Vec<f64> = r.scores.iter().map(|s| s.unwrap_or(f64::NAN)).collect();
        out.push((crate::tui::views::steps::short_spec(&r.spec), scores));
    }
    let gaps = |v: &[Option<f64>]| -> Vec<f64> { v.iter().map(|x| x.unwrap_or(f64::NAN)).collect() };
    if let Some(sig) = store.signal(&tr.id, "instability").and_then(|s| s.instability()) {
        out.push(("instability I_t".into(), sig.per_token.clone()));
        out.push(("step peak I".into(), gaps(&sig.step_peak)));
    }
    let answer_entropy = store.signal(&tr.id, "answer-entropy").filter(|_| !hide.answer);
    if let Some(sig) = answer_entropy.and_then(|s| s.answer_entropy()) {
        out.push((format!("H(answer) {}", sig.trend), sig.h.clone()));
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
    fn sparkline_scales_and_buckets() {
        assert_eq!(sparkline(&[0.0, 1.0], 10), "▁█");
        assert_eq!(sparkline(&[1.0; 3], 10), "▅▅▅");
        assert_eq!(sparkline(&(0..100).map(f64::from).collect::<Vec<_>>(), 4).chars().count(), 4);
        assert_eq!(sparkline(&[], 4), "");
    }
}
