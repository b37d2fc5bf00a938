//! The decode step, the token-by-token path a live refinement demo waits on.
//!
//! - `matvec/TYPE/ROWSxCOLS`: one weight matrix times one activation row, per weight type, at the
//!   MLP up-projection shapes of SmolLM2-135M (1536×576), Qwen2.5-0.5B (4864×896) and
//!   Qwen2.5-1.5B (8960×1536). `ours/TYPE` is our kernel (`model::matvec`: Q4_1, Q5_0, Q8_0,
//!   Q4_K, Q6_K; these shapes take the tiled layout), `candle/TYPE` candle's `QMatMul` (the
//!   k-quants, with its own repacked AVX-512 kernels, and f32) as the yardstick. Compare types
//!   at one shape: decode is bound by the weight bytes read per token.
//! - `decode/MODEL`: one greedy token after a 64-token prompt through each model already fetched
//!   (SmolLM2 = llama layers, Qwen2.5-Coder = qwen2 layers), with the weights `bench` picks by
//!   default. Models not fetched yet are left out, said on standard error
//!   (`stepscope models fetch NAME` fetches them).
//!
//! Run: `cargo bench --bench decode_step`. Compare runs of the same session only.

use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{Device, Module, Tensor};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use stepscope::model::matvec::QuantMatrix;
use stepscope::model::{fetch, LanguageModel, LoadOptions};

const SHAPES: &[(usize, usize)] = &[(1536, 576), (4864, 896), (8960, 1536)];

fn matvec(c: &mut Criterion) {
    let mut group = c.benchmark_group("matvec");
    group.sample_size(20);
    for &(rows, cols) in SHAPES {
        let w = Tensor::rand(-1f32, 1f32, (rows, cols), &Device::Cpu).expect("weights");
        let xt = Tensor::rand(-1f32, 1f32, (1, cols), &Device::Cpu).expect("input");
        let x: Vec<f32> = xt.flatten_all().and_then(|t| t.to_vec1()).expect("input");
        let shape = format!("{rows}x{cols}");
        for dtype in [GgmlDType::Q4_1, GgmlDType::Q5_0, GgmlDType::Q8_0, GgmlDType::Q4K, GgmlDType::Q6K, GgmlDType::F32]
        {
            // k-quants come in blocks of 256: SmolLM2's 576 columns have none (its files do not either).
            if cols % dtype.block_size() != 0 {
                continue;
            }
            let q = QTensor::quantize(&w, dtype).expect("quantize");
            if let Some(m) = QuantMatrix::from_qtensor(&q).expect("blocks") {
                let mut y = vec![0f32; rows];
                let id = BenchmarkId::new(format!("ours/{dtype:?}"), &shape);
                group.bench_function(id, |b| b.iter(|| m.matvec(&x, &mut y)));
            }
            // candle's kernels for the types it serves in the default weights (k-quants) and f32.
            if matches!(dtype, GgmlDType::Q4K | GgmlDType::Q6K | GgmlDType::F32) {
                let mm = QMatMul::from_qtensor(q).expect("qmatmul");
                let id = BenchmarkId::new(format!("candle/{dtype:?}"), &shape);
                group.bench_function(id, |b| b.iter(|| mm.forward(&xt).expect("matmul")));
            }
        }
    }
    group.finish();
}

fn decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode");
    group.sample_size(20);
    for name in ["smollm2", "qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"] {
        let known = fetch::known(name).expect("a known model");
        if !fetch::cached_path(known).exists() {
            eprintln!("decode/{name}: not fetched, left out (stepscope models fetch {name})");
            continue;
        }
        let model = stepscope::model::load(name, LoadOptions::default(), &mut |_| {}).expect("load");
        let prompt: Vec<u32> = (0..64).map(|i| (i * 37 % 1000) as u32 + 10).collect();
        let mut prefix = model.start();
        model.extend(&mut prefix, &prompt).expect("prompt");
        let len = prompt.len();
        group.bench_function(name, |b| {
            b.iter(|| {
                // Always the 65th position: the cache is cut back after each step.
                let next = model.greedy_step(11, &mut prefix).expect("step");
                prefix.truncate(len);
                next
            })
        });
    }
    group.finish();
}

criterion_group!(benches, matvec, decode);
criterion_main!(benches);
