//! Our forward on tiny random-weight checkpoints of each family, written as GGUF (candle's
//! writer) and as HF safetensors folders: all-position logits, prefix fork, truncate.

mod common;

use std::path::Path;

use candle_core::quantized::{gguf_file, GgmlDType};
use candle_core::{Device, Tensor};
use common::tiny::{arch, reference_logits, write_gguf, write_hf, Family, SHAPE};
use stepscope::model::{KvCache, Transformer, WeightMode};

fn load_gguf(path: &Path, mode: WeightMode) -> Transformer {
    let mut file = std::fs::File::open(path).unwrap();
    let ct = gguf_file::Content::read(&mut file).unwrap();
    Transformer::from_gguf(&ct, &mut file, &Device::Cpu, mode).unwrap()
}

fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
    (a - b).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap()
}

fn max_abs(a: &Tensor) -> f32 {
    a.abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap()
}

const TOKENS: [u32; 12] = [3, 17, 42, 5, 88, 61, 9, 23, 70, 1, 55, 94];

/// The three cache properties, to 1e-4.
fn check_model(m: &Transformer, what: &str) {
    let mut cache = m.new_cache();
    let full = m.forward(&TOKENS, &mut cache).unwrap();
    assert_eq!(full.dims(), &[TOKENS.len(), SHAPE.vocab]);
    // All-position logits equal the last position of each prefix run.
    for i in 0..TOKENS.len() {
        let mut c = m.new_cache();
        let prefix = m.forward(&TOKENS[..=i], &mut c).unwrap();
        let d = max_diff(&prefix.get(i).unwrap(), &full.get(i).unwrap());
        assert!(d <= 1e-4, "{what}: position {i} differs by {d}");
    }
    // Prefix snapshot + continuation equals the full forward; the fork is independent.
    let p = 5;
    let mut prefix_cache = m.new_cache();
    m.forward(&TOKENS[..p], &mut prefix_cache).unwrap();
    let mut fork = prefix_cache.fork().unwrap();
    m.forward(&[7, 7, 7], &mut prefix_cache).unwrap(); // the original goes elsewhere
    let cont = m.forward(&TOKENS[p..], &mut fork).unwrap();
    let d = max_diff(&cont, &full.narrow(0, p, TOKENS.len() - p).unwrap());
    assert!(d <= 1e-4, "{what}: fork continuation differs by {d}");
    // Truncate, then continue, equals a fresh forward.
    let other = [11u32, 12, 13, 14];
    let mut c = m.new_cache();
    m.forward(&TOKENS, &mut c).unwrap();
    c.truncate(p);
    let after = m.forward(&other, &mut c).unwrap();
    let mut fresh_tokens = TOKENS[..p].to_vec();
    fresh_tokens.extend_from_slice(&other);
    let mut fc = KvCache::new(SHAPE.layers, 128);
    let fresh = m.forward(&fresh_tokens, &mut fc).unwrap();
    let d = max_diff(&after, &fresh.narrow(0, p, other.len()).unwrap());
    assert!(d <= 1e-4, "{what}: truncate + continue differs by {d}");
    // Hidden states at chosen positions are rows of the all-position hidden states.
    let mut c = m.new_cache();
    let hidden = m.forward_hidden(&TOKENS, &mut c).unwrap();
    assert_eq!(hidden.dims(), &[TOKENS.len(), SHAPE.hidden]);
    let d = max_diff(
        &m.logits(&hidden.get(3).unwrap().unsqueeze(0).unwrap()).unwrap().squeeze(0).unwrap(),
        &full.get(3).unwrap(),
    );
    assert!(d <= 1e-4, "{what}: logits from hidden differ by {d}");
}

#[test]
fn gguf_families_are_consistent() {
    let dir = tempfile::tempdir().unwrap();
    for f in [Family::Llama, Family::Qwen2, Family::Qwen3] {
        let path = dir.path().join(format!("{}.gguf", arch(f)));
        write_gguf(f, &path, GgmlDType::F32);
        check_model(&load_gguf(&path, WeightMode::Dense), &format!("{f:?} gguf f32"));
        let q = dir.path().join(format!("{}-q8.gguf", arch(f)));
        write_gguf(f, &q, GgmlDType::Q8_0);
        check_model(&load_gguf(&q, WeightMode::Quantized), &format!("{f:?} gguf q8_0"));
    }
}

/// Our block kernels (every type they read, embedding included) give the model of the dense
/// weights: logits within the rounding of 8-bit activations, the same argmax, and the same
/// numbers whatever the split (the checks of `check_model`).
#[test]
fn block_kernels_are_the_dense_model() {
    let dir = tempfile::tempdir().unwrap();
    for dtype in [GgmlDType::Q4_1, GgmlDType::Q5_0, GgmlDType::Q8_0] {
        let path = dir.path().join(format!("llama-{dtype:?}.gguf"));
        write_gguf(Family::Llama, &path, dtype);
        let (dense, blocks) = (load_gguf(&path, WeightMode::Dense), load_gguf(&path, WeightMode::Quantized));
        assert!(blocks.decode_kernels().contains(&format!("{dtype:?}").to_lowercase()), "{}", blocks.decode_kernels());
        check_model(&blocks, &format!("{dtype:?} blocks"));
        let a = dense.forward(&TOKENS, &mut dense.new_cache()).unwrap();
        let b = blocks.forward(&TOKENS, &mut blocks.new_cache()).unwrap();
        // 8-bit activations move this tiny model's logits by about 2% of their range (a wrong
        // unpacking moves them by the whole range).
        let (d, range) = (max_diff(&a, &b), max_abs(&a));
        assert!(d <= 0.05 * range, "{dtype:?}: block kernels differ from dense weights by {d} (logits up to {range})");
        assert_eq!(a.argmax(1).unwrap().to_vec1::<u32>().unwrap(), b.argmax(1).unwrap().to_vec1::<u32>().unwrap());
    }
}

/// On block weights a long prompt gives the same numbers run (generation) or scored, and
/// scored in two pieces or whole: one integer route whatever the batch.
#[test]
fn long_prompts_run_and_score_alike_on_block_weights() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("llama-q4_1.gguf");
    write_gguf(Family::Llama, &path, GgmlDType::Q4_1);
    let m = load_gguf(&path, WeightMode::Quantized);
    let long: Vec<u32> = (0..40).map(|i| (i * 7 + 3) % 90).collect();
    let fast = m.logits(&m.forward_hidden(&long, &mut m.new_cache()).unwrap()).unwrap();
    let exact = m.logits_exact(&m.forward_hidden_exact(&long, &mut m.new_cache()).unwrap()).unwrap();
    assert_eq!(max_diff(&fast, &exact), 0.0, "run and scored differ");
    let mut c = m.new_cache();
    let head = m.logits_exact(&m.forward_hidden_exact(&long[..17], &mut c).unwrap()).unwrap();
    let tail = m.logits_exact(&m.forward_hidden_exact(&long[17..], &mut c).unwrap()).unwrap();
    assert_eq!(max_diff(&head, &exact.narrow(0, 0, 17).unwrap()), 0.0);
    assert_eq!(max_diff(&tail, &exact.narrow(0, 17, 23).unwrap()), 0.0);
}

#[test]
fn safetensors_families_are_consistent() {
    for f in [Family::Llama, Family::Qwen2, Family::Qwen3] {
        let dir = tempfile::tempdir().unwrap();
        write_hf(f, dir.path());
        let m = Transformer::from_hf_dir(dir.path(), &Device::Cpu, candle_core::DType::F32).unwrap();
        check_model(&m, &format!("{f:?} safetensors"));
    }
}

#[test]
fn context_overflow_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("llama.gguf");
    write_gguf(Family::Llama, &path, GgmlDType::F32);
    let m = load_gguf(&path, WeightMode::Dense);
    let mut c = m.new_cache();
    let long: Vec<u32> = (0..129).map(|i| i % 90).collect();
    let err = m.forward(&long, &mut c).unwrap_err().to_string();
    assert!(err.contains("exceeds the model context of 128"), "{err}");
}

fn assert_matches_reference(m: &Transformer, f: Family, interleaved: bool, what: &str) {
    let mut c = m.new_cache();
    let ours = m.forward(&TOKENS, &mut c).unwrap().to_vec2::<f32>().unwrap();
    let reference = reference_logits(f, interleaved, &TOKENS);
    let worst = ours.iter().flatten().zip(reference.iter().flatten()).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
    assert!(worst <= 1e-4, "{what}: differs from the reference forward by {worst}");
}

#[test]
fn forward_matches_an_independent_reference() {
    let dir = tempfile::tempdir().unwrap();
    for f in [Family::Llama, Family::Qwen2, Family::Qwen3] {
        let path = dir.path().join(format!("{}.gguf", arch(f)));
        write_gguf(f, &path, GgmlDType::F32);
        // llama.cpp's llama GGUFs pair adjacent dimensions in RoPE; qwen GGUFs and HF use halves.
        assert_matches_reference(&load_gguf(&path, WeightMode::Dense), f, f == Family::Llama, &format!("{f:?} gguf"));
        let hf = dir.path().join(arch(f));
        std::fs::create_dir(&hf).unwrap();
        write_hf(f, &hf);
        let m = Transformer::from_hf_dir(&hf, &Device::Cpu, candle_core::DType::F32).unwrap();
        assert_matches_reference(&m, f, false, &format!("{f:?} safetensors"));
    }
}

/// Mixed weights: single tokens decode on quantized blocks (8-bit activations), but the exact
/// path used for scoring gives one token the same numbers as a batch, whatever the split.
#[test]
fn exact_scoring_does_not_depend_on_how_tokens_are_split() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("llama-q8.gguf");
    write_gguf(Family::Llama, &path, GgmlDType::Q8_0);
    let m = load_gguf(&path, WeightMode::Mixed);
    let mut c = m.new_cache();
    let batch = m.logits_exact(&m.forward_hidden_exact(&TOKENS, &mut c).unwrap()).unwrap();
    let mut c = m.new_cache();
    let mut worst_exact = 0f32;
    let mut worst_fast = 0f32;
    for (i, &t) in TOKENS.iter().enumerate() {
        let mut fast_cache = c.fork().unwrap();
        let one = m.logits_exact(&m.forward_hidden_exact(&[t], &mut c).unwrap()).unwrap();
        worst_exact = worst_exact.max(max_diff(&one.squeeze(0).unwrap(), &batch.get(i).unwrap()));
        let fast = m.forward(&[t], &mut fast_cache).unwrap();
        worst_fast = worst_fast.max(max_diff(&fast.squeeze(0).unwrap(), &batch.get(i).unwrap()));
    }
    assert!(worst_exact <= 1e-4, "exact single-token logits differ by {worst_exact}");
    // The fast path really is the quantized kernel (otherwise this test would prove nothing).
    assert!(worst_fast > worst_exact, "fast {worst_fast} vs exact {worst_exact}");
}

/// A long advertised context costs nothing until it is used: RoPE tables and the KV cache grow
/// with the sequence, and the numbers are those of the same model with a short context.
#[test]
fn rope_tables_and_cache_grow_with_the_sequence() {
    let dir = tempfile::tempdir().unwrap();
    let (short, long) = (dir.path().join("short.gguf"), dir.path().join("long.gguf"));
    write_gguf(Family::Llama, &short, GgmlDType::F32);
    let ctx = [("llama.context_length".to_string(), gguf_file::Value::U32(10_000_000))];
    common::tiny::write_gguf_with(Family::Llama, &long, GgmlDType::F32, &ctx);
    let (a, b) = (load_gguf(&short, WeightMode::Dense), load_gguf(&long, WeightMode::Dense));
    assert_eq!(b.config.context_length, 10_000_000);
    assert!(b.rope_positions() <= 4096, "tables for {} positions at load", b.rope_positions());
    let mut cache = b.new_cache();
    let long_logits = b.forward(&TOKENS, &mut cache).unwrap();
    assert!(cache.capacity() <= 4096, "cache capacity {}", cache.capacity());
    let short_logits = a.forward(&TOKENS, &mut a.new_cache()).unwrap();
    assert!(max_diff(&long_logits, &short_logits) <= 1e-6);
    // Past the initial tables: positions 0..5000 one chunk at a time.
    let mut cache = b.new_cache();
    for chunk in (0..5000u32).collect::<Vec<_>>().chunks(1000) {
        let ids: Vec<u32> = chunk.iter().map(|i| i % SHAPE.vocab as u32).collect();
        b.forward(&ids, &mut cache).unwrap();
    }
    assert!(b.rope_positions() >= 5000);
    assert_eq!(cache.len(), 5000);
}

/// Issue 31: sequences decoded together give each the numbers it gets alone. Three caches at
/// different lengths (one of them a fork of another) take one token each, or several, in one
/// pass; every row equals that sequence's own forward bit for bit on block weights, for each
/// family (qwen2 carries q/k/v biases, qwen3 q/k norms), and each cache ends as long as it
/// would alone.
#[test]
fn a_batched_forward_gives_each_sequence_its_own_numbers() {
    let dir = tempfile::tempdir().unwrap();
    for family in [Family::Llama, Family::Qwen2, Family::Qwen3] {
        let path = dir.path().join(format!("{family:?}.gguf"));
        write_gguf(family, &path, GgmlDType::Q4_1);
        let m = load_gguf(&path, WeightMode::Quantized);
        let mut a = m.new_cache();
        m.forward_hidden(&TOKENS[..5], &mut a).unwrap();
        let mut b = a.fork().unwrap();
        m.forward_hidden(&TOKENS[5..7], &mut b).unwrap();
        let mut c = m.new_cache();
        m.forward_hidden(&TOKENS[2..3], &mut c).unwrap();
        let feeds: [&[u32]; 3] = [&[9], &[44, 2, 71], &[60]];
        let alone: Vec<Tensor> = [&a, &b, &c]
            .iter()
            .zip(feeds)
            .map(|(cache, feed)| m.forward_hidden(feed, &mut cache.fork().unwrap()).unwrap())
            .collect();
        let together = m.forward_hidden_batch(&feeds, &mut [&mut a, &mut b, &mut c]).unwrap();
        let mut row = 0;
        for (i, one) in alone.iter().enumerate() {
            let n = feeds[i].len();
            let part = together.narrow(0, row, n).unwrap();
            assert_eq!(max_diff(&part, one), 0.0, "{family:?}: sequence {i} differs in the batch");
            row += n;
        }
        assert_eq!((a.len(), b.len(), c.len()), (6, 10, 2), "{family:?}");
        // The caches hold what the batch appended: the next token continues each correctly.
        let next = m.forward_hidden(&[5], &mut b).unwrap();
        let mut again = m.new_cache();
        let whole: Vec<u32> = TOKENS[..7].iter().chain(&[44, 2, 71, 5]).copied().collect();
        let reference = m.forward_hidden(&whole, &mut again).unwrap();
        assert_eq!(max_diff(&next, &reference.narrow(0, 10, 1).unwrap()), 0.0, "{family:?}: cache after the batch");
        assert!(m.forward_hidden_batch(&[&[1]], &mut []).is_err(), "one token list per cache");
    }
}
