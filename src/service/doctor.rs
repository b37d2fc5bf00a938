//! `stepscope doctor`: what device the runtime would use, and a self-test of the forward on
//! it. Tiny random llama, qwen2 and qwen3 checkpoints are built in memory; for each dtype our
//! forward (one sequence through the KV cache in two chunks, and two sequences packed into one
//! pass) must give the all-position hidden states, logits and a Qwen PRM head's probabilities
//! of a plain f64 forward within the dtype's tolerance. On a GPU the same is also compared
//! against our CPU path in f32.

use std::collections::HashMap;

use anyhow::Result;
use candle_core::{DType, Device, Tensor};

use crate::model::config::{Arch, Config, RopeStyle};
use crate::model::reference::Reference;
use crate::model::{KvCache, Transformer};
use crate::verify::prm::qwen_head;

/// Tolerances: for hidden states and logits, of max |Δ| / max(1, max |reference value|); for
/// probabilities, of max |Δ|.
pub fn tolerance(dtype: DType) -> (f64, f64) {
    match dtype {
        DType::F32 | DType::F64 => (1e-4, 1e-5),
        DType::F16 => (1e-2, 1e-2),
        _ => (5e-2, 5e-2), // bf16: 8 bits of mantissa
    }
}

/// One comparison: our forward on a device and dtype against a reference.
#[derive(Debug, Clone)]
pub struct Check {
    pub arch: &'static str,
    pub dtype: DType,
    /// "f64 reference" or "cpu f32".
    pub against: &'static str,
    /// Largest |Δ| of hidden states and of logits, each divided by the larger of 1 and the
    /// largest |value| of the reference's; largest |Δ| of PRM probabilities.
    pub hidden: f64,
    pub logits: f64,
    pub prm: f64,
}

impl Check {
    pub fn passed(&self) -> bool {
        let (rel, prob) = tolerance(self.dtype);
        self.hidden <= rel && self.logits <= rel && self.prm <= prob
    }
}

/// A lines-of-text description of the device.
pub fn describe(device: &Device) -> Vec<String> {
    match device {
        Device::Cuda(_) => cuda_lines(device),
        _ => {
            let cpu = std::fs::read_to_string("/proc/cpuinfo")
                .ok()
                .and_then(|s| s.lines().find(|l| l.starts_with("model name")).map(|l| l.to_string()))
                .and_then(|l| l.split(':').nth(1).map(|s| s.trim().to_string()))
                .unwrap_or_else(|| "unknown CPU".into());
            let mut features = Vec::new();
            if candle_core::utils::with_avx() {
                features.push("avx");
            }
            if candle_core::utils::with_f16c() {
                features.push("f16c");
            }
            vec![
                format!("device: cpu ({cpu})"),
                format!(
                    "threads: {} (candle){}",
                    candle_core::utils::get_num_threads(),
                    if features.is_empty() { String::new() } else { format!(", {}", features.join(" ")) }
                ),
                format!(
                    "cuda: {}",
                    if candle_core::utils::cuda_is_available() {
                        "built in, no GPU chosen"
                    } else {
                        "not in this build (cargo build --features cuda, or scripts/build-cuda.sh)"
                    }
                ),
            ]
        }
    }
}

#[cfg(feature = "cuda")]
fn cuda_lines(device: &Device) -> Vec<String> {
    let Device::Cuda(d) = device else { return Vec::new() };
    let stream = d.cuda_stream();
    let ctx = stream.context();
    let name = ctx.name().unwrap_or_else(|e| format!("unknown ({e})"));
    let cc = ctx.compute_capability().map(|(a, b)| format!("{a}.{b}")).unwrap_or_else(|e| format!("unknown ({e})"));
    let gib = |b: usize| b as f64 / (1u64 << 30) as f64;
    let memory = match ctx.mem_get_info() {
        Ok((free, total)) => format!("{:.1} GiB ({:.1} GiB free)", gib(total), gib(free)),
        Err(e) => format!("unknown ({e})"),
    };
    vec![
        format!("device: cuda:{} ({name})", ctx.ordinal()),
        format!("compute capability: {cc}"),
        format!("memory: {memory}"),
        format!("kernels built for: sm_{}", option_env!("CUDA_COMPUTE_CAP").unwrap_or("?")),
    ]
}

#[cfg(not(feature = "cuda"))]
fn cuda_lines(_device: &Device) -> Vec<String> {
    vec!["device: cuda (this build has no CUDA support)".into()]
}

/// SplitMix64 with Box–Muller normals: the same checkpoint on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e3779b97f4a7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
        z ^ (z >> 31)
    }

    fn uniform(&mut self) -> f64 {
        ((self.next() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    fn normal(&mut self) -> f64 {
        (-2.0 * self.uniform().ln()).sqrt() * (std::f64::consts::TAU * self.uniform()).cos()
    }

    fn tensor(&mut self, dims: &[usize], mean: f64, std: f64) -> Result<Tensor> {
        let n: usize = dims.iter().product();
        let data: Vec<f32> = (0..n).map(|_| (mean + std * self.normal()) as f32).collect();
        Ok(Tensor::from_vec(data, dims, &Device::Cpu)?)
    }
}

/// A tiny checkpoint with HF names, on the CPU in f32, plus a Qwen PRM head (`score.*`).
pub fn tiny_checkpoint(arch: Arch, seed: u64) -> Result<(Config, HashMap<String, Tensor>)> {
    let head_dim = if arch == Arch::Qwen3 { 32 } else { 16 };
    let config = Config {
        arch,
        vocab_size: 97,
        hidden_size: 64,
        intermediate_size: 96,
        num_layers: 2,
        num_heads: 4,
        num_kv_heads: 2,
        head_dim,
        rope_theta: 10_000.0,
        rms_eps: 1e-6,
        context_length: 128,
        rope_style: RopeStyle::Halves,
    };
    let mut rng = Rng(seed);
    let (h, q, kv, ff) = (64, 4 * head_dim, 2 * head_dim, 96);
    let mut t = HashMap::new();
    let scaled = |rng: &mut Rng, out: usize, inp: usize| rng.tensor(&[out, inp], 0.0, 1.0 / (inp as f64).sqrt());
    t.insert("model.embed_tokens.weight".to_string(), rng.tensor(&[97, h], 0.0, 1.0)?);
    t.insert("model.norm.weight".to_string(), rng.tensor(&[h], 1.0, 0.1)?);
    if arch == Arch::Llama {
        t.insert("lm_head.weight".to_string(), scaled(&mut rng, 97, h)?);
    }
    for i in 0..config.num_layers {
        let n = |p: &str| format!("model.layers.{i}.{p}");
        t.insert(n("input_layernorm.weight"), rng.tensor(&[h], 1.0, 0.1)?);
        t.insert(n("post_attention_layernorm.weight"), rng.tensor(&[h], 1.0, 0.1)?);
        t.insert(n("self_attn.q_proj.weight"), scaled(&mut rng, q, h)?);
        t.insert(n("self_attn.k_proj.weight"), scaled(&mut rng, kv, h)?);
        t.insert(n("self_attn.v_proj.weight"), scaled(&mut rng, kv, h)?);
        t.insert(n("self_attn.o_proj.weight"), scaled(&mut rng, h, q)?);
        t.insert(n("mlp.gate_proj.weight"), scaled(&mut rng, ff, h)?);
        t.insert(n("mlp.up_proj.weight"), scaled(&mut rng, ff, h)?);
        t.insert(n("mlp.down_proj.weight"), scaled(&mut rng, h, ff)?);
        if arch == Arch::Qwen2 {
            t.insert(n("self_attn.q_proj.bias"), rng.tensor(&[q], 0.0, 0.1)?);
            t.insert(n("self_attn.k_proj.bias"), rng.tensor(&[kv], 0.0, 0.1)?);
            t.insert(n("self_attn.v_proj.bias"), rng.tensor(&[kv], 0.0, 0.1)?);
        }
        if arch == Arch::Qwen3 {
            t.insert(n("self_attn.q_norm.weight"), rng.tensor(&[head_dim], 1.0, 0.1)?);
            t.insert(n("self_attn.k_norm.weight"), rng.tensor(&[head_dim], 1.0, 0.1)?);
        }
    }
    t.insert("score.0.weight".to_string(), scaled(&mut rng, h, h)?);
    t.insert("score.0.bias".to_string(), rng.tensor(&[h], 0.0, 0.1)?);
    t.insert("score.2.weight".to_string(), scaled(&mut rng, 2, h)?);
    t.insert("score.2.bias".to_string(), rng.tensor(&[2], 0.0, 0.1)?);
    Ok((config, t))
}

/// The two test sequences (11 and 7 tokens) and the rows the PRM head reads.
fn sequences(vocab: usize) -> (Vec<Vec<u32>>, Vec<u32>) {
    let mut rng = Rng(7);
    let seqs = [11, 7].iter().map(|&n| (0..n).map(|_| (rng.next() % vocab as u64) as u32).collect()).collect();
    (seqs, vec![2, 5, 6])
}

/// What one forward gives: per sequence, hidden states, logits and head probabilities (f64).
struct Outputs {
    hidden: Vec<Vec<Vec<f64>>>,
    logits: Vec<Vec<Vec<f64>>>,
    prm: Vec<Vec<f64>>,
}

fn rows(t: &Tensor) -> Result<Vec<Vec<f64>>> {
    Ok(t.to_dtype(DType::F64)?.to_vec2()?)
}

/// The Qwen head in f64 on hidden rows.
fn reference_head(tensors: &HashMap<String, Tensor>, hidden: &[Vec<f64>], at: &[u32]) -> Result<Vec<f64>> {
    let picked: Vec<f64> = at.iter().flat_map(|&i| hidden[i as usize].clone()).collect();
    let x = Tensor::from_vec(picked, (at.len(), hidden[0].len()), &Device::Cpu)?;
    let f = |n: &str| tensors[n].to_dtype(DType::F64);
    let p = qwen_head(&x, &f("score.0.weight")?, &f("score.0.bias")?, &f("score.2.weight")?, &f("score.2.bias")?)?;
    Ok(p.to_vec1()?)
}

fn reference_outputs(config: &Config, tensors: &HashMap<String, Tensor>) -> Result<Outputs> {
    let r = Reference::new(config, tensors)?;
    let (seqs, at) = sequences(config.vocab_size);
    let mut out = Outputs { hidden: Vec::new(), logits: Vec::new(), prm: Vec::new() };
    for s in &seqs {
        let h = r.hidden_states(s)?;
        out.logits.push(r.logits(&h)?);
        out.prm.push(reference_head(tensors, &h, &at)?);
        out.hidden.push(h);
    }
    Ok(out)
}

/// Our forward on `device` in `dtype`, both ways: the cached path (the first sequence in two
/// chunks) and the packed path (both sequences in one pass). Returns both, cached first.
fn our_outputs(
    config: &Config,
    tensors: &HashMap<String, Tensor>,
    device: &Device,
    dtype: DType,
) -> Result<[Outputs; 2]> {
    let (model, rest) = Transformer::from_tensors(config.clone(), tensors.clone(), device, dtype)?;
    let head = |n: &str| -> Result<Tensor> { Ok(rest[n].to_device(device)?.to_dtype(DType::F32)?) };
    let (w1, b1, w2, b2) =
        (head("score.0.weight")?, head("score.0.bias")?, head("score.2.weight")?, head("score.2.bias")?);
    let (seqs, at) = sequences(config.vocab_size);
    let at = Tensor::new(at.as_slice(), device)?;
    let collect = |hidden: Vec<Tensor>| -> Result<Outputs> {
        let mut out = Outputs { hidden: Vec::new(), logits: Vec::new(), prm: Vec::new() };
        for h in hidden {
            out.logits.push(rows(&model.logits_exact(&h)?)?);
            let p = qwen_head(&h.index_select(&at, 0)?, &w1, &b1, &w2, &b2)?;
            out.prm.push(p.to_dtype(DType::F64)?.to_vec1()?);
            out.hidden.push(rows(&h)?);
        }
        Ok(out)
    };
    let mut cached = Vec::new();
    for s in &seqs {
        let mut cache: KvCache = model.new_cache();
        let split = s.len() / 2 + 1;
        let a = model.forward_hidden_exact(&s[..split], &mut cache)?;
        let b = model.forward_hidden_exact(&s[split..], &mut cache)?;
        cached.push(Tensor::cat(&[a, b], 0)?);
    }
    let refs: Vec<&[u32]> = seqs.iter().map(|s| s.as_slice()).collect();
    let all = model.forward_packed(&refs)?;
    let packed = vec![all.narrow(0, 0, seqs[0].len())?, all.narrow(0, seqs[0].len(), seqs[1].len())?];
    Ok([collect(cached)?, collect(packed)?])
}

fn max_diff(a: &[Vec<Vec<f64>>], b: &[Vec<Vec<f64>>]) -> f64 {
    a.iter().flatten().flatten().zip(b.iter().flatten().flatten()).map(|(x, y)| (x - y).abs()).fold(0.0, |m, d| {
        if d.is_nan() {
            f64::INFINITY
        } else {
            m.max(d)
        }
    })
}

fn compare(arch: Arch, dtype: DType, against: &'static str, ours: &[Outputs; 2], truth: &Outputs) -> Check {
    let mut c = Check { arch: arch.name(), dtype, against, hidden: 0.0, logits: 0.0, prm: 0.0 };
    let largest = |x: &[Vec<Vec<f64>>]| x.iter().flatten().flatten().fold(1.0f64, |m, v| m.max(v.abs()));
    for o in ours {
        c.hidden = c.hidden.max(max_diff(&o.hidden, &truth.hidden) / largest(&truth.hidden));
        c.logits = c.logits.max(max_diff(&o.logits, &truth.logits) / largest(&truth.logits));
        c.prm = c.prm.max(max_diff(std::slice::from_ref(&o.prm), std::slice::from_ref(&truth.prm)));
    }
    c
}

/// Runs the self-test on `device`: every architecture and dtype against the f64 reference,
/// and on a GPU also against our CPU path in f32.
pub fn self_test(device: &Device, progress: &mut dyn FnMut(&str)) -> Result<Vec<Check>> {
    let mut checks = Vec::new();
    for (i, arch) in [Arch::Llama, Arch::Qwen2, Arch::Qwen3].into_iter().enumerate() {
        let (config, tensors) = tiny_checkpoint(arch, 42 + i as u64)?;
        let truth = reference_outputs(&config, &tensors)?;
        let cpu = (!device.is_cpu()).then(|| our_outputs(&config, &tensors, &Device::Cpu, DType::F32)).transpose()?;
        for dtype in [DType::F32, DType::BF16, DType::F16] {
            progress(&format!("{} {dtype:?}", arch.name()));
            let ours = our_outputs(&config, &tensors, device, dtype)?;
            checks.push(compare(arch, dtype, "f64 reference", &ours, &truth));
            if let Some(cpu) = &cpu {
                checks.push(compare(arch, dtype, "cpu f32", &ours, &cpu[0]));
            }
        }
    }
    Ok(checks)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The check can fail: a model built from a checkpoint with one weight changed by 1% no
    /// longer matches the reference of the original in f32.
    #[test]
    fn a_changed_weight_fails_the_check() {
        let (config, tensors) = tiny_checkpoint(Arch::Qwen2, 3).unwrap();
        let truth = reference_outputs(&config, &tensors).unwrap();
        let same = our_outputs(&config, &tensors, &Device::Cpu, DType::F32).unwrap();
        assert!(compare(Arch::Qwen2, DType::F32, "f64 reference", &same, &truth).passed());
        let mut changed = tensors.clone();
        let name = "model.layers.1.mlp.down_proj.weight".to_string();
        changed.insert(name.clone(), (&tensors[&name] * 1.01).unwrap());
        let ours = our_outputs(&config, &changed, &Device::Cpu, DType::F32).unwrap();
        let c = compare(Arch::Qwen2, DType::F32, "f64 reference", &ours, &truth);
        assert!(!c.passed(), "a 1% change went unnoticed: {c:?}");
    }

    #[test]
    fn every_architecture_and_dtype_passes_on_the_cpu() {
        let checks = self_test(&Device::Cpu, &mut |_| {}).unwrap();
        assert_eq!(checks.len(), 9);
        for c in &checks {
            assert!(c.passed(), "{c:?}");
        }
    }
}
