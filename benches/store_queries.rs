//! What one frame of the TUI asks of the label store, with journals of 1k, 10k and 100k records
//! beside a 400-trace file: the per-trace queries must not grow with the journal.
//!
//! - `store_queries/N`: the store calls a frame makes (my label for each of 40 list rows; results,
//!   instability signal, latest label and every label of the selected trace; the labelled count).
//! - `frame/N`: move the selection one row and draw the whole screen (120×40) into a test backend.
//!
//! Run: `cargo bench --bench store_queries`. Compare the times across N; the ratio is the result.

use std::io::Write;
use std::path::Path;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use stepscope::signals::steps::instability_summary;
use stepscope::trace::store::{LabelRecord, Op, SignalRecord, Store, VerifyRecord};
use stepscope::trace::{Label, Opener};
use stepscope::tui::action::Action;
use stepscope::tui::keymap::Keymap;
use stepscope::tui::state::Settings;
use stepscope::tui::theme::{Theme, ThemeName};
use stepscope::tui::update::update;
use stepscope::tui::{load_app, views};

const TRACES: usize = 400;
const STEPS: usize = 5;
const ROWS: usize = 40;

/// A native JSONL file of `TRACES` traces of `STEPS` steps each.
fn write_traces(path: &Path) {
    let mut f = std::fs::File::create(path).unwrap();
    for i in 0..TRACES {
        let steps: Vec<String> = (0..STEPS).map(|k| format!("Step {k} of trace {i}: {k} + {i} = {}.", k + i)).collect();
        let row = serde_json::json!({"stepscope": 1, "id": format!("t{i}"), "problem": format!("Problem {i}?"),
            "steps": steps, "label": (i % (STEPS + 1)) as i64 - 1});
        writeln!(f, "{row}").unwrap();
    }
}

/// A journal of `n` records: labels by five annotators (60%), verifier results (30%) and
/// instability signals (10%), spread over the traces, in time order.
fn write_journal(path: &Path, n: usize) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let tops: Vec<Vec<(String, f64)>> =
        (0..20).map(|t| vec![("a".into(), -0.1 - t as f64 * 0.01), ("b".into(), -2.5)]).collect();
    let offsets: Vec<usize> = (0..20).map(|t| t * 4).collect();
    let starts: Vec<usize> = (0..STEPS).map(|k| k * 16).collect();
    let signal = instability_summary(&tops, &offsets, &starts, 1.0);
    let mut rng = 0x2545f4914f6cdd1du64;
    for i in 0..n {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let trace = format!("t{}", rng % TRACES as u64);
        let ts = format!("2026-11-26T10:{:02}:{:02}.{:03}Z", i / 60_000 % 60, i / 1000 % 60, i % 1000);
        let line = match i % 10 {
            0..=5 => LabelRecord {
                trace,
                annotator: format!("ann{}", rng % 5),
                value: Some(Label::FirstError((rng % STEPS as u64) as usize)),
                op: Op::Set,
                ts,
                blind: false,
                category: None,
                note: None,
                realised: None,
                recovered: None,
            }
            .to_json(),
            6..=8 => VerifyRecord {
                trace,
                spec: format!("judge:model{}", rng % 3),
                model: Some("/models/m.gguf".into()),
                model_hash: Some("0123456789abcdef".into()),
                threshold: 0.5,
                segmentation: "given".into(),
                scores: (0..STEPS).map(|k| Some(k as f64 / STEPS as f64)).collect(),
                details: vec!["P(Yes)".into(); STEPS],
                first_error: Some(0),
                truncated: None,
                forward_passes: STEPS,
                seconds: 0.5,
                ts,
            }
            .to_json(),
            _ => SignalRecord {
                trace,
                signal: "instability".into(),
                source: "stored top-k".into(),
                data: signal.clone().into(),
                ts,
            }
            .to_json(),
        };
        writeln!(f, "{line}").unwrap();
    }
}

fn bench(c: &mut Criterion) {
    let mut queries = c.benchmark_group("store_queries");
    let mut dirs = Vec::new();
    for n in [1_000, 10_000, 100_000] {
        let dir = tempfile::tempdir().unwrap();
        let traces = dir.path().join("traces.jsonl");
        write_traces(&traces);
        write_journal(&dir.path().join("traces.jsonl.stepscope.jsonl"), n);
        let store = Store::open(&dir.path().join("traces.jsonl.stepscope.jsonl")).unwrap();
        let ids: Vec<String> = (0..TRACES).map(|i| format!("t{i}")).collect();
        let mut at = 0;
        queries.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| {
                at = (at + 1) % TRACES;
                let mut seen = 0usize;
                for id in ids.iter().cycle().skip(at).take(ROWS) {
                    seen += store.label(id, "ann1").is_some() as usize;
                }
                let id = &ids[at];
                seen += store.results_for(id).len();
                seen += store.signal(id, "instability").is_some() as usize;
                seen += store.latest_label(id).is_some() as usize;
                seen += store.labels_for(id).len();
                seen += store.labelled_traces(Some("ann1"));
                std::hint::black_box(seen)
            })
        });
        dirs.push((n, dir));
    }
    queries.finish();

    let mut frames = c.benchmark_group("frame");
    for (n, dir) in &dirs {
        let theme = Theme::new(ThemeName::Dark, false);
        let mut app = load_app(
            &[dir.path().join("traces.jsonl")],
            &Opener::default(),
            Settings::new("ann1".into(), theme, Keymap::default()),
        );
        update(&mut app, Action::Resize { width: 120, height: 40 });
        let mut term = Terminal::new(TestBackend::new(120, 40)).unwrap();
        frames.bench_with_input(BenchmarkId::from_parameter(n), n, |b, _| {
            b.iter(|| {
                update(&mut app, Action::Down);
                if app.browse.selected + 1 >= app.browse.visible.len() {
                    update(&mut app, Action::Top);
                }
                term.draw(|f| views::render(f, &app)).unwrap();
            })
        });
    }
    frames.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(std::time::Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
