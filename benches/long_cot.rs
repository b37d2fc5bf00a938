//! A reasoning model's long trace in the TUI (issue 32): one trace of 500 thinking units (about
//! 30k tokens, from `scripts/long-cot-fixture.py`) against the same trace cut to 10 units, in the
//! same run. Each case is a key and the frame after it, drawn at 120×36 into a test backend:
//!
//! - `open/N`: load the file and draw the first frame;
//! - `key_down/N`: `j` in the steps pane, then the frame;
//! - `to_end/N`: `G` (the last unit) and `g g` (the first), each with its frame;
//! - `fold_all/N`: `Z` (fold every section), frame, `Z` (unfold), frame.
//!
//! Run: `cargo bench --bench long_cot`. The result is the ratio 500/10 and the 500-unit time
//! against one 60 Hz frame (16.7 ms).

use std::path::{Path, PathBuf};
use std::process::Command;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use stepscope::trace::Opener;
use stepscope::tui::action::Action;
use stepscope::tui::keymap::Keymap;
use stepscope::tui::state::{App, Settings};
use stepscope::tui::theme::{Theme, ThemeName};
use stepscope::tui::update::update;
use stepscope::tui::{load_app, views};

fn fixture(dir: &Path, units: usize) -> PathBuf {
    let path = dir.join(format!("long-{units}.jsonl"));
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/long-cot-fixture.py");
    let ok = Command::new("python3").arg(script).arg(&path).arg(units.to_string()).status().unwrap().success();
    assert!(ok, "scripts/long-cot-fixture.py failed");
    path
}

fn open(path: &Path, store: &Path) -> App {
    let opener = Opener { store_dir: Some(store.to_path_buf()), ..Opener::default() };
    let settings = Settings::new("bench".into(), Theme::new(ThemeName::Dark, false), Keymap::default());
    let mut app = load_app(&[path.to_path_buf()], &opener, settings);
    update(&mut app, Action::Resize { width: 120, height: 36 });
    app
}

fn frame(term: &mut Terminal<TestBackend>, app: &App) {
    term.draw(|f| views::render(f, app)).unwrap();
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let mut term = Terminal::new(TestBackend::new(120, 36)).unwrap();
    for units in [10, 500] {
        let path = fixture(dir.path(), units);
        c.bench_with_input(BenchmarkId::new("open", units), &path, |b, path| {
            b.iter(|| {
                let app = open(path, dir.path());
                frame(&mut term, &app);
            })
        });
        let mut app = open(&path, dir.path());
        update(&mut app, Action::Open);
        c.bench_function(&format!("key_down/{units}"), |b| {
            b.iter(|| {
                update(&mut app, Action::Down);
                frame(&mut term, &app);
            })
        });
        c.bench_function(&format!("to_end/{units}"), |b| {
            b.iter(|| {
                update(&mut app, Action::Bottom);
                frame(&mut term, &app);
                update(&mut app, Action::GoPrefix);
                update(&mut app, Action::GoPrefix);
                frame(&mut term, &app);
            })
        });
        c.bench_function(&format!("fold_all/{units}"), |b| {
            b.iter(|| {
                update(&mut app, Action::FoldAll);
                frame(&mut term, &app);
                update(&mut app, Action::FoldAll);
                frame(&mut term, &app);
            })
        });
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench
}
criterion_main!(benches);
