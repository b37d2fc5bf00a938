//! Fitting a probe head from cached states: one logistic fit (candle-nn AdamW, 300 full-batch
//! epochs, the `train` default) on 10,000 steps of 896 features (qwen2.5-coder-0.5b's hidden
//! size) and of 1,536 (the 1.5B's). The features are synthetic (a seeded pseudo-random matrix
//! with a label that depends on a few columns): only the arithmetic's size matters here.
//!
//! Run: `cargo bench --bench probe_fit`. The bound is 10 s for 10,000 steps; `train`
//! runs one fit per fold and per layer candidate (README: "Probes: a verifier trained here").

use criterion::{criterion_group, criterion_main, Criterion};
use stepscope::service::train::{fit, FitOptions};

fn data(n: usize, d: usize) -> (Vec<Vec<f32>>, Vec<f32>) {
    let mut state = 0x9e3779b97f4a7c15u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    };
    let x: Vec<Vec<f32>> = (0..n).map(|_| (0..d).map(|_| next()).collect()).collect();
    let y = x.iter().map(|r| if r[0] + 0.5 * r[1] - r[2] > -0.3 { 1.0 } else { 0.0 }).collect();
    (x, y)
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("probe_fit");
    g.sample_size(10);
    for d in [896, 1536] {
        let (x, y) = data(10_000, d);
        g.bench_function(format!("10000 steps x {d}"), |b| b.iter(|| fit(&x, &y, FitOptions::default()).unwrap()));
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
