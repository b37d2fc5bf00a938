//! The open trace: problem, then each step numbered and wrapped. The first-error step (human
//! label, else dataset label) is highlighted, later steps dimmed, earlier steps marked correct.

use std::rc::Rc;

use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};
use ratatui::Frame;

use crate::signals::steps::Instability;
use crate::trace::store::VerifyRecord;
use crate::trace::{Label, Trace};
use crate::tui::state::{App, Focus, LabelOrigin};
use crate::tui::text::{blocks, highlight_code, prose_pieces, wrap, Block as TextBlock, Kind};
use crate::tui::theme::Theme;
use crate::tui::views::layout::layout;

/// Steps longer than this are cut for display (the data is untouched).
const MAX_STEP_CHARS: usize = 20_000;

/// One trace as the steps pane draws it: which entry, the step under the cursor, the first
/// line shown. The browse screen draws the selected trace; a compare screen can draw two.
#[derive(Debug, Clone)]
pub struct TraceView {
    pub entry: usize,
    pub trace: Rc<Trace>,
    pub step: usize,
    pub offset: usize,
    pub focused: bool,
    /// Sections folded to one line (ranges of steps).
    pub folded: Vec<std::ops::Range<usize>>,
}

impl TraceView {
    /// The selected trace with the app's step cursor and scroll position.
    pub fn selected(app: &App) -> Option<TraceView> {
        let entry = app.selected_entry()?;
        let trace = app.trace(entry)?;
        Some(TraceView {
            entry,
            trace,
            step: app.browse.step,
            offset: app.browse.steps_offset,
            focused: app.browse.focus == Focus::Steps,
            folded: crate::tui::long_cot::folded_ranges(app, entry),
        })
    }
}

pub fn render(f: &mut Frame, app: &App, area: Rect, view: Option<&TraceView>) {
    let t = &app.settings.theme;
    let border = if view.is_some_and(|v| v.focused) { t.border_focus } else { t.border };
    let room = area.width.saturating_sub(2) as usize;
    let title = view.map_or_else(|| " no trace ".to_string(), |v| title(app, v.entry, &v.trace, room));
    let block = Block::default().borders(Borders::ALL).border_style(border).title(Span::styled(title, t.title));
    let inner = block.inner(area);
    f.render_widget(block, area);
    let Some(view) = view else {
        let msg = if app.library.entries.is_empty() { "Nothing to show: no traces were loaded." } else { "" };
        f.render_widget(Paragraph::new(Span::styled(msg, t.dim)), inner);
        return;
    };
    if inner.width == 0 || inner.height == 0 {
        return;
    }
    let (lines, _) = content(app, view, inner.width as usize);
    let offset = view.offset.min(lines.len().saturating_sub(1));
    let shown: Vec<Line> = lines.into_iter().skip(offset).take(inner.height as usize).collect();
    f.render_widget(Paragraph::new(shown), inner);
}

/// The scroll offset that keeps the selected step in sight in the steps pane `area`, moving as
/// little as possible from the current one.
pub fn offset_for(app: &App, area: Option<Rect>) -> usize {
    let (Some(area), Some(view)) = (area, TraceView::selected(app)) else { return 0 };
    let inner = Block::default().borders(Borders::ALL).inner(area);
    if inner.width == 0 || inner.height == 0 {
        return view.offset;
    }
    let (lines, starts) = content(app, &view, inner.width as usize);
    scroll_for(&view, &starts, lines.len(), inner.height as usize)
}

impl App {
    /// Screen row → step for the step starts visible in the steps pane (for mouse clicks).
    pub fn step_rows(&self) -> Vec<(u16, usize)> {
        let areas = layout(self.size.0, self.size.1, self.browse.focus);
        let (Some(area), Some(view)) = (areas.steps, TraceView::selected(self)) else { return Vec::new() };
        let inner = Block::default().borders(Borders::ALL).inner(area);
        if inner.width == 0 || inner.height == 0 {
            return Vec::new();
        }
        let (_, starts) = content(self, &view, inner.width as usize);
        let visible = view.offset..view.offset + inner.height as usize;
        starts
            .iter()
            .enumerate()
            .filter(|(_, s)| visible.contains(s))
            .map(|(step, &s)| (inner.y + (s - view.offset) as u16, step))
            .collect()
    }
}

/// The pane's title: what the trace is and what is known of its first error, fitted to `room`
/// columns. When it does not fit, the least needed parts go first (the generator, then the
/// reference answer, the dataset's differing label, the category), so the id, the label and
/// every verifier's first error stay in sight.
fn title(app: &App, entry: usize, tr: &Trace, room: usize) -> String {
    // (priority: lower goes first, text)
    let mut parts: Vec<(u8, String)> = vec![(9, tr.id.clone())];
    if let Some(g) = &tr.generator {
        parts.push((0, g.clone()));
    }
    let hide = app.hides(entry, &tr.id);
    match (app.shown_answer(entry, &tr.id, tr.answer_correct()), &tr.reference_answer) {
        (Some(true), _) => parts.push((5, "answer ✓".into())),
        (Some(false), Some(r)) => parts.push((1, format!("answer ✗ (ref {r})"))),
        (Some(false), None) => parts.push((5, "answer ✗".into())),
        _ => {}
    }
    if let Some((l, origin)) = app.effective_label(entry, tr) {
        let who = origin_name(&origin);
        let what = match l {
            Label::FirstError(k) => format!("first error {k} ({who})"),
            Label::NoError => format!("no error ({who})"),
        };
        parts.push((8, what));
        if origin == LabelOrigin::Me {
            if let Some(c) = app.my_category(entry, &tr.id) {
                parts.push((3, format!("[{c}]")));
            }
            match app.store_of(entry).detail(&tr.id, &app.settings.annotator).and_then(|d| d.recovered) {
                Some(true) => parts.push((3, "recovered".into())),
                Some(false) => parts.push((3, "fatal".into())),
                None => {}
            }
        }
        if let Some((g, _)) = app.gold(entry, &tr.id).filter(|_| !matches!(origin, LabelOrigin::Gold(_))) {
            parts.push((4, format!("gold {}", g.short())));
        }
        if origin != LabelOrigin::Dataset && !hide.dataset {
            if let Some(d) = tr.label.filter(|d| *d != l) {
                parts.push((2, format!("dataset {}", d.short())));
            }
        }
    }
    if hide.any() {
        parts.push((6, "BLIND: hints hidden until you label".into()));
    }
    if app.settings.adjudicate && app.gold(entry, &tr.id).is_none() {
        parts.push((8, "no gold label yet".into()));
        if let Some(d) = tr.label {
            parts.push((2, format!("dataset {}", d.short())));
        }
    }
    let mut compact = Vec::new();
    for r in app.shown_results(entry, &tr.id) {
        let short = short_spec(&r.spec);
        let (long, brief) = match r.first_error {
            Some(k) => (format!("{short}: first error {k}"), format!("{short}✗{k}")),
            None => (format!("{short}: no error"), format!("{short}✓")),
        };
        parts.push((7, long));
        compact.push(brief);
    }
    let joined =
        |parts: &[(u8, String)]| format!(" {} ", parts.iter().map(|(_, t)| t.as_str()).collect::<Vec<_>>().join(" · "));
    // A wrong answer without room for its reference still says it is wrong.
    let shorter = |t: &str| t.split_once(" (ref ").map(|(a, _)| a.to_string());
    while crate::tui::text::width(&joined(&parts)) > room {
        let Some(i) = (0..parts.len()).filter(|&i| parts[i].0 < 7).min_by_key(|&i| parts[i].0) else { break };
        match shorter(&parts[i].1) {
            Some(short) => parts[i] = (5, short),
            None => {
                parts.remove(i);
            }
        }
    }
    if crate::tui::text::width(&joined(&parts)) > room && !compact.is_empty() {
        // Still too long: every verifier's first error in one short part (`arith✗2 judge✓`).
        parts.retain(|(p, _)| *p != 7);
        parts.push((7, compact.join(" ")));
    }
    let over = crate::tui::text::width(&joined(&parts)).saturating_sub(room);
    if over > 0 {
        // Last: the id gives way (the label and the verifiers' first errors are why one looks).
        let id = &mut parts[0].1;
        let keep = crate::tui::text::width(id).saturating_sub(over).max(4);
        *id = crate::tui::views::list::fit(id, keep);
    }
    joined(&parts)
}

/// A verifier spec without folder paths (`prm:/m/qwen-prm` → `prm:qwen-prm`).
pub fn short_spec(spec: &str) -> String {
    match spec.split_once(':') {
        Some((kind, arg)) => {
            let name = arg.trim_end_matches('/').rsplit('/').next().unwrap_or(arg);
            format!("{kind}:{name}")
        }
        None => spec.to_string(),
    }
}

/// One line of verifier badges for a step: each stored verifier's score, red below its τ, and
/// a ◆ where that verifier puts the first error; plus a ⚡ on an instability peak step.
fn badges(
    t: &Theme,
    results: &[&VerifyRecord],
    instability: Option<&Instability>,
    rating: Option<i8>,
    marks: &[&str],
    i: usize,
    indent: usize,
) -> Option<Line<'static>> {
    let mut spans = vec![Span::raw(" ".repeat(indent))];
    for badge in marks {
        // Another annotator (or the gold label) puts the first error here, or I mark where the
        // model realises its error.
        spans.push(Span::styled(format!("{badge} "), t.first_error));
    }
    if let Some(r) = rating {
        // My PRM800K-style rating of the step.
        let (text, style) = match r {
            1 => ("[me +1] ", t.good),
            -1 => ("[me −1] ", t.first_error),
            _ => ("[me 0] ", t.dim),
        };
        spans.push(Span::styled(text, style));
    }
    for r in results {
        let (text, style) = match r.scores.get(i).copied().flatten() {
            Some(s) if s < r.threshold => (format!("{} {s:.2}", short_spec(&r.spec)), t.first_error),
            Some(s) => (format!("{} {s:.2}", short_spec(&r.spec)), t.good),
            None => (format!("{} –", short_spec(&r.spec)), t.dim),
        };
        let diamond = if r.first_error == Some(i) { "◆" } else { "" };
        spans.push(Span::styled(format!("[{diamond}{text}] "), style));
    }
    if let Some(sig) = instability {
        if let Some(p) = sig.step_peak.get(i).copied().flatten() {
            // Hot: the step's peak reaches the trace's 90th percentile of I_t (methods §5.5).
            let hot = sig.p90.is_some_and(|p90| p >= p90);
            let style = if hot { t.first_error } else { t.dim };
            let tag = match &sig.peak {
                Some(peak) if peak.step == i => format!(" {}", peak.tag),
                _ => String::new(),
            };
            spans.push(Span::styled(format!("{}I {p:.2}{tag} ", if hot { "⚡" } else { "" }), style));
        }
    }
    (spans.len() > 1).then(|| Line::from(spans))
}

/// Badges beside steps: where the other annotators and the gold label put the first error
/// (`[bo ✗]`, `[★gold ✗]`, unless blind mode hides them) and where I say the model realises
/// its error (`[me ↺ realises · recovered]`): (badge, step).
fn marks(app: &App, entry: usize, id: &str) -> Vec<(String, usize)> {
    let me = app.settings.annotator.as_str();
    let store = app.store_of(entry);
    let mut out = Vec::new();
    if let Some(d) = store.detail(id, me) {
        let outcome = match d.recovered {
            Some(true) => " · recovered",
            Some(false) => " · fatal",
            None => "",
        };
        out.extend(d.realised.map(|r| (format!("[me ↺ realises{outcome}]"), r)));
    }
    if app.hides(entry, id).annotators {
        return out;
    }
    if let Some(k) = app.gold(entry, id).and_then(|(l, _)| l.first_error()) {
        out.push(("[★gold ✗]".into(), k));
    }
    out.extend(
        store
            .labels_for(id)
            .into_iter()
            .filter(|(a, _)| *a != me)
            .filter_map(|(a, l)| Some((format!("[{a} ✗]"), l.first_error()?))),
    );
    out
}

/// What each verifier read at the selected step (its detail: the checker's "computes to 12, not
/// 13", the judge's P(Yes)), so the reason for a mark is on screen.
fn details(t: &Theme, results: &[&VerifyRecord], i: usize, w: usize, indent: usize) -> Vec<Line<'static>> {
    let mut out = Vec::new();
    for r in results {
        let Some(d) = r.details.get(i).map(|d| d.trim()).filter(|d| !d.is_empty()) else { continue };
        let first = vec![Span::raw(" ".repeat(indent)), Span::styled(format!("{}: ", short_spec(&r.spec)), t.accent)];
        out.extend(wrap(&[(d.to_string(), t.dim)], w, first, indent + 2));
    }
    out
}

fn origin_name(o: &LabelOrigin) -> String {
    match o {
        LabelOrigin::Me => "me".into(),
        LabelOrigin::Gold(by) => format!("gold, {by}"),
        LabelOrigin::Annotator(a) => a.clone(),
        LabelOrigin::Dataset => "dataset".into(),
    }
}

/// First line to show: the selected step's first line stays in view, and as much of the step
/// as fits.
fn scroll_for(view: &TraceView, starts: &[usize], total: usize, rows: usize) -> usize {
    let Some(&start) = starts.get(view.step) else { return 0 };
    let end = starts.get(view.step + 1).copied().unwrap_or(total);
    let mut offset = view.offset;
    if view.step == 0 {
        offset = 0; // show the problem above the first step
    } else if start < offset {
        offset = start;
    } else if end > offset + rows {
        offset = (end.saturating_sub(rows)).min(start);
    }
    // Never past the point where the pane would show blank lines below the end.
    offset.min(total.saturating_sub(rows))
}

/// All lines of the pane and the line where each step starts.
fn content(app: &App, view: &TraceView, w: usize) -> (Vec<Line<'static>>, Vec<usize>) {
    let (t, entry, tr) = (&app.settings.theme, view.entry, view.trace.as_ref());
    let mut lines = Vec::new();
    let problem = if tr.problem.is_empty() { "(no problem text)" } else { tr.problem.as_str() };
    lines.extend(wrap(&styled_prose(problem, t, t.base), w, vec![Span::styled("Problem  ", t.title)], 2));
    lines.push(Line::default());
    if tr.steps.is_empty() {
        lines.push(Line::from(Span::styled("This trace has no steps.", t.dim)));
        return (lines, Vec::new());
    }
    let first_error = app.effective_label(entry, tr).and_then(|(l, _)| l.first_error());
    let labelled = app.effective_label(entry, tr).is_some();
    let store = app.store_of(entry);
    let results = app.shown_results(entry, &tr.id);
    let instability = store.signal(&tr.id, "instability").and_then(|s| s.instability());
    let ratings = store.ratings(&tr.id, &app.settings.annotator);
    let marks = marks(app, entry, &tr.id);
    let found = app.step_search();
    let mut starts = Vec::with_capacity(tr.steps.len());
    let num_w = (tr.steps.len() - 1).to_string().len();
    for (i, step) in tr.steps.iter().enumerate() {
        starts.push(lines.len());
        if let Some(r) = view.folded.iter().find(|r| r.contains(&i)) {
            // A folded section: one line at its first step; the steps inside point at it.
            if i == r.start {
                lines.push(folded_line(app, view, r, &results, first_error, num_w));
            } else {
                starts[i] = starts[r.start];
            }
            continue;
        }
        let selected = i == view.step;
        let (mark, mark_style, text_style) = match first_error {
            Some(k) if i == k => ("✗", t.first_error, t.base),
            Some(k) if i > k => ("·", t.dim, t.dim),
            _ if labelled => ("✓", t.good, t.base),
            _ => (" ", t.dim, t.base),
        };
        let pointer = if selected { "▶" } else { " " };
        let num_style = if selected { t.selected } else { t.accent };
        let prefix = vec![
            Span::styled(format!("{pointer}{i:>num_w$}"), num_style),
            Span::styled(format!(" {mark} "), mark_style),
        ];
        let indent = num_w + 4;
        // A reasoning model's thinking comes first; a header says where it starts and ends.
        if tr.thinking_steps > 0 && (i == 0 || i == tr.thinking_steps) {
            let part = if i == 0 { format!("THINKING · {} units", tr.thinking_steps) } else { "ANSWER".to_string() };
            lines.push(Line::from(Span::styled(format!("{}{part}", " ".repeat(indent)), t.title)));
            starts[i] = lines.len() - 1;
        }
        if first_error == Some(i) {
            lines.push(Line::from(Span::styled(format!("{}FIRST ERROR", " ".repeat(indent)), t.first_error)));
            starts[i] = lines.len() - 1;
        }
        lines.extend(step_lines(&step.text, t, text_style, w, prefix, indent, found));
        let rating = ratings.and_then(|r| r.get(&i)).copied();
        let here: Vec<&str> = marks.iter().filter(|(_, k)| *k == i).map(|(badge, _)| badge.as_str()).collect();
        lines.extend(badges(t, &results, instability, rating, &here, i, indent));
        if selected {
            lines.extend(details(t, &results, i, w, indent));
        }
    }
    (lines, starts)
}

/// One folded section: `▸ 12–25 · 14 units · its first words`, and what lies inside it (the
/// first error, verifiers' first errors).
fn folded_line(
    app: &App,
    view: &TraceView,
    r: &std::ops::Range<usize>,
    results: &[&VerifyRecord],
    first_error: Option<usize>,
    num_w: usize,
) -> Line<'static> {
    let t = &app.settings.theme;
    let selected = r.contains(&view.step);
    let pointer = if selected { "▶" } else { " " };
    let head = view.trace.steps[r.start].text.lines().next().unwrap_or("");
    let head: String = head.chars().take(60).collect();
    let mut spans = vec![
        Span::styled(format!("{pointer}{:>num_w$}", r.start), if selected { t.selected } else { t.accent }),
        Span::styled(format!(" ▸ {} · {} · ", part(&view.trace, r), units(r.len())), t.title),
        Span::styled(head, t.dim),
    ];
    if let Some(k) = first_error.filter(|k| r.contains(k)) {
        spans.push(Span::styled(format!("  ✗ first error {k}"), t.first_error));
    }
    for v in results {
        if let Some(k) = v.first_error.filter(|k| r.contains(k)) {
            spans.push(Span::styled(format!("  {}◆{k}", short_spec(&v.spec)), t.first_error));
        }
    }
    Line::from(spans)
}

/// `12–25`, or `answer 30–31` for the answer after a thinking part.
fn part(t: &Trace, r: &std::ops::Range<usize>) -> String {
    let answer = if t.thinking_steps > 0 && r.start == t.thinking_steps { "answer " } else { "" };
    match r.len() {
        1 => format!("{answer}{}", r.start),
        _ => format!("{answer}{}–{}", r.start, r.end - 1),
    }
}

fn units(n: usize) -> String {
    if n == 1 {
        "1 unit".into()
    } else {
        format!("{n} units")
    }
}

fn step_lines(
    text: &str,
    t: &Theme,
    style: Style,
    w: usize,
    prefix: Vec<Span<'static>>,
    indent: usize,
    search: Option<&str>,
) -> Vec<Line<'static>> {
    let cut: String;
    let text = if text.chars().count() > MAX_STEP_CHARS {
        cut = text.chars().take(MAX_STEP_CHARS).collect::<String>() + " … (cut for display)";
        cut.as_str()
    } else {
        text
    };
    let mut out = Vec::new();
    let mut prefix = Some(prefix);
    for b in blocks(text) {
        let first = prefix.take();
        match b {
            TextBlock::Prose(p) => {
                let first = first.unwrap_or_else(|| vec![Span::raw(" ".repeat(indent))]);
                let pieces = styled_prose(p.trim(), t, style);
                let pieces = match search {
                    Some(needle) => mark_matches(pieces, needle),
                    None => pieces,
                };
                out.extend(wrap(&pieces, w, first, indent));
            }
            TextBlock::Code { lang, code } => {
                if let Some(first) = first {
                    out.push(Line::from(first)); // the step number above a step that opens with code
                }
                for pieces in highlight_code(lang, code, t) {
                    out.extend(wrap(&pieces, w, vec![Span::raw(" ".repeat(indent + 2))], indent + 2));
                }
            }
        }
    }
    if out.is_empty() {
        out.push(Line::from(prefix.unwrap_or_default()));
    }
    out
}

/// Splits the pieces where the search matches (ASCII case folded) and shows those parts reversed.
fn mark_matches(pieces: Vec<(String, Style)>, needle: &str) -> Vec<(String, Style)> {
    let needle = needle.to_ascii_lowercase();
    if needle.is_empty() {
        return pieces;
    }
    let mut out = Vec::new();
    for (text, style) in pieces {
        let folded = text.to_ascii_lowercase();
        let mut at = 0;
        while let Some(i) = folded[at..].find(&needle).map(|i| i + at) {
            if i > at {
                out.push((text[at..i].to_string(), style));
            }
            let end = i + needle.len();
            out.push((text[i..end].to_string(), style.add_modifier(ratatui::style::Modifier::REVERSED)));
            at = end;
        }
        if at < text.len() {
            out.push((text[at..].to_string(), style));
        }
    }
    out
}

fn styled_prose(text: &str, t: &Theme, style: Style) -> Vec<(String, Style)> {
    prose_pieces(text)
        .into_iter()
        .map(|(s, kind)| {
            let st = match kind {
                Kind::Normal => style,
                Kind::Dim => t.dim,
                Kind::Emph => style.patch(t.emphasis),
            };
            (s, st)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_are_marked_whatever_their_case() {
        let plain = Style::default();
        let out = mark_matches(vec![("Two Pounds and 3 pounds".into(), plain)], "pounds");
        let texts: Vec<(&str, bool)> = out
            .iter()
            .map(|(t, s)| (t.as_str(), s.add_modifier.contains(ratatui::style::Modifier::REVERSED)))
            .collect();
        assert_eq!(texts, [("Two ", false), ("Pounds", true), (" and 3 ", false), ("pounds", true)]);
    }
}
