//! The compare screen: the draft and one candidate side by side (stacked when the terminal is
//! narrow), steps aligned, the words that changed marked, each step's verifier mark, the final
//! answers with ✓/✗, tokens, time and speed, and the reranker's winner. A refinement streaming in
//! is shown as it is written.

use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};
use ratatui::Frame;

use crate::refine::diff::{align_steps, word_diff, Piece};
use crate::trace::Trace;
use crate::tui::compare::{lanes_name, lanes_summary, Compare, Running, Shown};
use crate::tui::state::App;
use crate::tui::text::wrap;
use crate::tui::theme::Theme;

/// Below this width the draft and the candidate are stacked.
pub const SIDE_BY_SIDE: u16 = 100;

pub fn render(f: &mut Frame, app: &App, area: Rect) {
    let Some(c) = &app.compare else { return };
    let t = &app.settings.theme;
    let title = title(c);
    let block = Block::default().borders(Borders::ALL).border_style(t.border_focus).title(Span::styled(title, t.title));
    let inner = block.inner(area);
    f.render_widget(block, area);
    let footer = footer(c, t, app.settings.refine.aggregate);
    let body_h = inner.height.saturating_sub(footer.len() as u16 + 1);
    let body = Rect { height: body_h, ..inner };
    let foot = Rect { y: inner.y + body_h + 1, height: inner.height.saturating_sub(body_h + 1), ..inner };
    if inner.width >= SIDE_BY_SIDE {
        let left_w = inner.width / 2;
        let (left, right) = side_by_side(c, t, left_w as usize - 1, (inner.width - left_w) as usize - 1);
        let skip = c.scroll.min(left.len().max(right.len()).saturating_sub(1));
        let show = |lines: Vec<Line<'static>>| lines.into_iter().skip(skip).collect::<Vec<_>>();
        f.render_widget(Paragraph::new(show(left)), Rect { width: left_w - 1, ..body });
        let bar: Vec<Line> = (0..body.height).map(|_| Line::from(Span::styled("│", t.border))).collect();
        f.render_widget(Paragraph::new(bar), Rect { x: body.x + left_w - 1, width: 1, ..body });
        f.render_widget(Paragraph::new(show(right)), Rect { x: body.x + left_w, width: inner.width - left_w, ..body });
    } else {
        let lines = stacked(c, t, inner.width as usize);
        let skip = c.scroll.min(lines.len().saturating_sub(1));
        f.render_widget(Paragraph::new(lines.into_iter().skip(skip).collect::<Vec<_>>()), body);
    }
    f.render_widget(Paragraph::new(footer), foot);
}

fn title(c: &Compare) -> String {
    let which = match (&c.running, c.shown()) {
        (Some(r), _) if !r.lanes.is_empty() => format!("{} running: {} candidates at once", r.name(), r.lanes.len()),
        (Some(r), _) => format!("{} running, sample {}/{}", r.strategy, r.sample(), r.samples),
        (None, Some(s)) => format!("{} · candidate {}/{} (] [ next)", s.strategy, c.shown + 1, c.candidates.len()),
        (None, None) => "no candidate yet: r local · R global · i intervene · F fork · E edit · g generate".into(),
    };
    format!(" compare: {} · {which} ", c.draft.id)
}

/// Two columns of the same height per aligned step pair.
fn side_by_side(c: &Compare, t: &Theme, lw: usize, rw: usize) -> (Vec<Line<'static>>, Vec<Line<'static>>) {
    let mut left = draft_head(c, t, lw);
    let mut right = vec![Line::from(Span::styled(right_head(c), t.title))];
    if let Some(r) = &c.running {
        // While streaming: the draft as it is, the candidate as it is being written.
        left.extend(draft_steps(c, t, lw));
        right.extend(streaming(r, t, rw));
        return (left, right);
    }
    let Some(shown) = c.shown() else {
        left.extend(draft_steps(c, t, lw));
        return (left, right);
    };
    let a = c.draft.step_texts();
    let b = shown.trace.step_texts();
    for (da, cb) in align_steps(&a, &b) {
        let diff = match (da, cb) {
            (Some(i), Some(j)) if a[i].trim() != b[j].trim() => Some(word_diff(a[i], b[j])),
            _ => None,
        };
        let mut l = match da {
            Some(i) => {
                let score = c.draft_scores.get(i).copied().flatten();
                step_lines(i, a[i], score, diff.as_deref().map(|d| (d, false)), t, lw, mark(c, i))
            }
            None => Vec::new(),
        };
        let mut r = match cb {
            Some(j) => {
                let score = shown.scores.get(j).copied().flatten();
                step_lines(j, b[j], score, diff.as_deref().map(|d| (d, true)), t, rw, false)
            }
            None => Vec::new(),
        };
        let h = l.len().max(r.len());
        l.resize(h, Line::default());
        r.resize(h, Line::default());
        left.extend(l);
        right.extend(r);
    }
    (left, right)
}

/// The draft, then the candidate, each full width.
fn stacked(c: &Compare, t: &Theme, w: usize) -> Vec<Line<'static>> {
    let mut lines = draft_head(c, t, w);
    lines.extend(draft_steps(c, t, w));
    lines.push(Line::default());
    lines.push(Line::from(Span::styled(right_head(c), t.title)));
    if let Some(r) = &c.running {
        lines.extend(streaming(r, t, w));
    } else if let Some(shown) = c.shown() {
        let a = c.draft.step_texts();
        let b = shown.trace.step_texts();
        let paired: std::collections::HashMap<usize, usize> =
            align_steps(&a, &b).into_iter().filter_map(|(x, y)| Some((y?, x?))).collect();
        for (j, text) in b.iter().enumerate() {
            let diff = paired.get(&j).filter(|&&i| a[i].trim() != text.trim()).map(|&i| word_diff(a[i], text));
            let score = shown.scores.get(j).copied().flatten();
            lines.extend(step_lines(j, text, score, diff.as_deref().map(|d| (d, true)), t, w, false));
        }
    }
    lines
}

/// `DRAFT`; for a typed-in question (no steps) the question itself.
fn draft_head(c: &Compare, t: &Theme, w: usize) -> Vec<Line<'static>> {
    if !c.draft.steps.is_empty() {
        return vec![Line::from(Span::styled("DRAFT", t.title))];
    }
    let mut lines = vec![Line::from(Span::styled("QUESTION", t.title))];
    lines.extend(wrap(&[(c.draft.problem.clone(), t.base)], w, Vec::new(), 0));
    lines
}

/// The draft's steps as they are (no diff).
fn draft_steps(c: &Compare, t: &Theme, w: usize) -> Vec<Line<'static>> {
    let score = |i: usize| c.draft_scores.get(i).copied().flatten();
    c.draft
        .steps
        .iter()
        .enumerate()
        .flat_map(|(i, s)| step_lines(i, &s.text, score(i), None, t, w, mark(c, i)))
        .collect()
}

fn right_head(c: &Compare) -> String {
    match (&c.running, c.shown()) {
        (Some(r), _) if !r.lanes.is_empty() => format!("{} (generating)", r.name().to_uppercase()),
        (Some(r), _) => match r.from_step {
            Some(k) => format!("{} from step {k} (generating)", r.strategy.to_string().to_uppercase()),
            None => format!("{} (generating)", r.strategy.to_string().to_uppercase()),
        },
        (None, Some(s)) => {
            let from = s.trace.refinement.as_ref().and_then(|m| m.from_step);
            let mut head = s.strategy.to_string().to_uppercase();
            if let Some(k) = from {
                head.push_str(&format!(" from step {k}"));
            }
            if s.cancelled {
                head.push_str(" · CANCELLED");
            }
            if s.saved {
                head.push_str(" · saved");
            }
            head
        }
        (None, None) => "CANDIDATE".into(),
    }
}

/// Whether draft step `i` is where the candidate shown (or running) starts from.
fn mark(c: &Compare, i: usize) -> bool {
    let from = match (&c.running, c.shown()) {
        (Some(r), _) => r.from_step,
        (None, Some(s)) => s.trace.refinement.as_ref().and_then(|m| m.from_step),
        _ => None,
    };
    from == Some(i)
}

/// One step: `k ✓ text`, wrapped; with a diff, the draft side shows what was removed and the
/// candidate side what was added.
fn step_lines(
    k: usize,
    text: &str,
    score: Option<f64>,
    diff: Option<(&[Piece], bool)>,
    t: &Theme,
    w: usize,
    from_here: bool,
) -> Vec<Line<'static>> {
    let (sym, style) = match score {
        Some(s) if s >= 0.5 => ("✓", t.good),
        Some(_) => ("✗", t.bad),
        None => ("·", t.dim),
    };
    let head = if from_here { "▶" } else { " " };
    let first = vec![Span::styled(format!("{head}{k:>2} "), t.dim), Span::styled(format!("{sym} "), style)];
    let pieces: Vec<(String, Style)> = match diff {
        None => vec![(text.trim().to_string(), t.base)],
        Some((pieces, candidate_side)) => pieces
            .iter()
            .filter_map(|p| match (p, candidate_side) {
                (Piece::Same(s), _) => Some((s.clone(), t.base)),
                (Piece::Removed(s), false) => Some((s.clone(), t.bad.add_modifier(Modifier::CROSSED_OUT))),
                (Piece::Added(s), true) => Some((s.clone(), t.good.add_modifier(Modifier::UNDERLINED))),
                _ => None,
            })
            .collect(),
    };
    wrap(&pieces, w, first, 6)
}

/// The kept steps (dim), then the text as it is written; a race shows every lane.
fn streaming(r: &Running, t: &Theme, w: usize) -> Vec<Line<'static>> {
    if !r.lanes.is_empty() {
        return lanes(r, t, w);
    }
    let mut lines = Vec::new();
    for (k, s) in r.kept.iter().enumerate() {
        let first = vec![Span::styled(format!(" {k:>2} = "), t.dim)];
        lines.extend(wrap(&[(s.trim().to_string(), t.dim)], w, first, 6));
    }
    lines.extend(wrap(&[(format!("{}▌", r.text), t.base)], w, Vec::new(), 0));
    let rate = r.rate().map_or(String::new(), |x| format!(" · {x:.1} tok/s"));
    lines.push(Line::from(Span::styled(format!("generating… {} tokens{rate} · Esc cancels", r.tokens), t.dim)));
    lines
}

/// Lines of a lane's text shown while a race runs (its last ones: every lane stays in view).
const LANE_LINES: usize = 4;

/// Each lane of a race: its strategy, where it starts, its token count, then the end of its
/// text as it is written.
fn lanes(r: &Running, t: &Theme, w: usize) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    for lane in &r.lanes {
        let from = lane.from_step.map_or(String::new(), |k| format!(" from step {k}"));
        let state = match &lane.answer {
            Some(a) => format!(" · done, answer {a}"),
            None => " · writing".into(),
        };
        let head = format!("{}{from} · {} tokens{state}", lane.strategy.to_string().to_uppercase(), lane.tokens);
        lines.push(Line::from(Span::styled(head, t.title)));
        let text = wrap(&[(format!("{}▌", lane.text), t.base)], w, Vec::new(), 0);
        let skip = text.len().saturating_sub(LANE_LINES);
        lines.extend(text.into_iter().skip(skip));
    }
    let rate = r.rate().map_or(String::new(), |x| format!(" · {x:.1} tok/s in all"));
    lines.push(Line::from(Span::styled(format!("generating… {} tokens{rate} · Esc cancels", r.tokens), t.dim)));
    lines
}

/// Final answers, cost and the winner.
fn footer(c: &Compare, t: &Theme, how: crate::refine::rerank::Aggregate) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    if !c.draft.steps.is_empty() {
        lines.push(Line::from(vec![Span::styled("draft     ", t.dim), answer(&c.draft, t)]));
    }
    if let Some(s) = c.shown() {
        lines.push(Line::from(vec![
            Span::styled("candidate ", t.dim),
            answer(&s.trace, t),
            Span::styled(cost(s), t.dim),
        ]));
    }
    if c.running.is_none() && !c.race.is_empty() {
        let name = lanes_name(&c.race).unwrap_or_default();
        let each = lanes_summary(&c.race);
        lines.push(Line::from(vec![Span::styled(format!("{name:<10}"), t.dim), Span::styled(each, t.base)]));
    }
    if let Some((i, why)) = c.winner(how) {
        let who =
            if i == 0 { "the draft".to_string() } else { format!("candidate {i} ({})", c.candidates[i - 1].strategy) };
        lines
            .push(Line::from(vec![Span::styled("winner    ", t.dim), Span::styled(format!("{who}: {why}"), t.accent)]));
    }
    lines
}

fn answer(tr: &Trace, t: &Theme) -> Span<'static> {
    let a = tr.final_answer.clone().unwrap_or_else(|| "(no final answer)".into());
    match tr.answer_correct() {
        Some(true) => Span::styled(format!("answer {a} ✓"), t.good),
        Some(false) => Span::styled(format!("answer {a} ✗"), t.bad),
        None => Span::styled(format!("answer {a}"), t.base),
    }
}

fn cost(s: &Shown) -> String {
    let rate = s.tokens_per_second().map_or(String::new(), |r| format!(" · {r:.1} tok/s"));
    format!("   {} tokens · {:.1} s{rate}", s.tokens, s.seconds)
}
