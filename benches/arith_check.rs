//! The arithmetic checker over 1,000 traces: every step of each through `check_step` (the whole
//! work of `--verifier arith`, file reading aside). The traces cycle through ProcessBench GSM8K
//! (`../shared`, when present) and our own LaTeX cases, so both plain-text and LaTeX steps count.
//!
//! Run: `cargo bench --bench arith_check`. The bound is 1 s per 1,000 traces; compare
//! against a reference build of the previous checker in the same session (README: "The
//! arithmetic checker").

use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion};
use stepscope::arith::check_step;
use stepscope::trace::source::TraceFile;

const TRACES: usize = 1000;

fn steps_of(path: &Path) -> Vec<Vec<String>> {
    let Ok(file) = TraceFile::open(path, None, Default::default()) else { return Vec::new() };
    let (traces, _) = file.load_all();
    traces.into_iter().map(|t| t.steps.into_iter().map(|s| s.text).collect()).collect()
}

fn corpus() -> Vec<Vec<String>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut all = steps_of(&root.join("../shared/data/processbench/gsm8k.json"));
    all.extend(steps_of(&root.join("tests/data/arith_latex.jsonl")));
    all.extend(steps_of(&root.join("tests/data/arith_latex_heldout.jsonl")));
    all.into_iter().cycle().take(TRACES).collect()
}

fn bench(c: &mut Criterion) {
    let traces = corpus();
    let steps: usize = traces.iter().map(Vec::len).sum();
    eprintln!("{} traces, {steps} steps", traces.len());
    c.bench_function("arith_check/1000_traces", |b| {
        b.iter(|| traces.iter().flatten().map(|s| check_step(s).len()).sum::<usize>())
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench
}
criterion_main!(benches);
