//! Tiny random-weight checkpoints of each family, written as GGUF (candle's writer) or as an HF
//! safetensors folder, plus a plain-loops reference forward to check ours against.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::Path;

use candle_core::quantized::{gguf_file, GgmlDType, QTensor};
use candle_core::{Device, Tensor};

#[derive(Clone, Copy, PartialEq, Debug)]
pub enum Family {
    Llama,
    Qwen2,
    Qwen3,
}

pub struct Shape {
    pub vocab: usize,
    pub hidden: usize,
    pub inter: usize,
    pub layers: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
}

pub const SHAPE: Shape = Shape { vocab: 96, hidden: 64, inter: 96, layers: 2, heads: 4, kv_heads: 2, head_dim: 16 };

/// Deterministic pseudo-random weights (SplitMix64), scaled small like a real init.
pub fn weights(seed: u64, n: usize, scale: f32) -> Vec<f32> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = s;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            ((z ^ (z >> 31)) >> 40) as f32 / (1u64 << 24) as f32 * 2.0 * scale - scale
        })
        .collect()
}

/// Tensors by a neutral part name: (name, shape, values).
pub fn tensors(f: Family) -> Vec<(String, Vec<usize>, Vec<f32>)> {
    let s = SHAPE;
    let mut out = Vec::new();
    let mut seed = 1;
    let mut add = |name: String, shape: Vec<usize>, scale: f32, offset: f32| {
        seed += 1;
        let n = shape.iter().product();
        let v = weights(seed, n, scale).into_iter().map(|x| x + offset).collect();
        out.push((name, shape, v));
    };
    add("embed".into(), vec![s.vocab, s.hidden], 0.5, 0.0);
    add("norm".into(), vec![s.hidden], 0.1, 1.0);
    add("lm_head".into(), vec![s.vocab, s.hidden], 0.2, 0.0);
    for i in 0..s.layers {
        add(format!("{i}.attn_norm"), vec![s.hidden], 0.1, 1.0);
        add(format!("{i}.ffn_norm"), vec![s.hidden], 0.1, 1.0);
        add(format!("{i}.q"), vec![s.heads * s.head_dim, s.hidden], 0.2, 0.0);
        add(format!("{i}.k"), vec![s.kv_heads * s.head_dim, s.hidden], 0.2, 0.0);
        add(format!("{i}.v"), vec![s.kv_heads * s.head_dim, s.hidden], 0.2, 0.0);
        add(format!("{i}.o"), vec![s.hidden, s.heads * s.head_dim], 0.2, 0.0);
        add(format!("{i}.gate"), vec![s.inter, s.hidden], 0.2, 0.0);
        add(format!("{i}.up"), vec![s.inter, s.hidden], 0.2, 0.0);
        add(format!("{i}.down"), vec![s.hidden, s.inter], 0.2, 0.0);
        if f == Family::Qwen2 {
            add(format!("{i}.q_bias"), vec![s.heads * s.head_dim], 0.1, 0.0);
            add(format!("{i}.k_bias"), vec![s.kv_heads * s.head_dim], 0.1, 0.0);
            add(format!("{i}.v_bias"), vec![s.kv_heads * s.head_dim], 0.1, 0.0);
        }
        if f == Family::Qwen3 {
            add(format!("{i}.q_norm"), vec![s.head_dim], 0.1, 1.0);
            add(format!("{i}.k_norm"), vec![s.head_dim], 0.1, 1.0);
        }
    }
    out
}

pub fn gguf_name(part: &str) -> String {
    match part {
        "embed" => "token_embd.weight".into(),
        "norm" => "output_norm.weight".into(),
        "lm_head" => "output.weight".into(),
        _ => {
            let (i, p) = part.split_once('.').unwrap();
            let p = match p {
                "attn_norm" => "attn_norm.weight",
                "ffn_norm" => "ffn_norm.weight",
                "q" => "attn_q.weight",
                "k" => "attn_k.weight",
                "v" => "attn_v.weight",
                "o" => "attn_output.weight",
                "gate" => "ffn_gate.weight",
                "up" => "ffn_up.weight",
                "down" => "ffn_down.weight",
                "q_bias" => "attn_q.bias",
                "k_bias" => "attn_k.bias",
                "v_bias" => "attn_v.bias",
                "q_norm" => "attn_q_norm.weight",
                "k_norm" => "attn_k_norm.weight",
                _ => unreachable!(),
            };
            format!("blk.{i}.{p}")
        }
    }
}

pub fn hf_name(part: &str) -> String {
    match part {
        "embed" => "model.embed_tokens.weight".into(),
        "norm" => "model.norm.weight".into(),
        "lm_head" => "lm_head.weight".into(),
        _ => {
            let (i, p) = part.split_once('.').unwrap();
            let p = match p {
                "attn_norm" => "input_layernorm.weight",
                "ffn_norm" => "post_attention_layernorm.weight",
                "q" => "self_attn.q_proj.weight",
                "k" => "self_attn.k_proj.weight",
                "v" => "self_attn.v_proj.weight",
                "o" => "self_attn.o_proj.weight",
                "gate" => "mlp.gate_proj.weight",
                "up" => "mlp.up_proj.weight",
                "down" => "mlp.down_proj.weight",
                "q_bias" => "self_attn.q_proj.bias",
                "k_bias" => "self_attn.k_proj.bias",
                "v_bias" => "self_attn.v_proj.bias",
                "q_norm" => "self_attn.q_norm.weight",
                "k_norm" => "self_attn.k_norm.weight",
                _ => unreachable!(),
            };
            format!("model.layers.{i}.{p}")
        }
    }
}

pub fn arch(f: Family) -> &'static str {
    match f {
        Family::Llama => "llama",
        Family::Qwen2 => "qwen2",
        Family::Qwen3 => "qwen3",
    }
}

/// Writes a GGUF file with candle's writer; matrices in `dtype` (F32 or a quantized type).
pub fn write_gguf(f: Family, path: &Path, dtype: GgmlDType) {
    write_gguf_with(f, path, dtype, &[]);
}

/// Like `write_gguf`, with extra or replaced metadata entries.
pub fn write_gguf_with(f: Family, path: &Path, dtype: GgmlDType, extra: &[(String, gguf_file::Value)]) {
    use gguf_file::Value as V;
    let s = SHAPE;
    let a = arch(f);
    let md: Vec<(String, V)> = vec![
        ("general.architecture".into(), V::String(a.into())),
        (format!("{a}.context_length"), V::U32(128)),
        (format!("{a}.embedding_length"), V::U32(s.hidden as u32)),
        (format!("{a}.feed_forward_length"), V::U32(s.inter as u32)),
        (format!("{a}.block_count"), V::U32(s.layers as u32)),
        (format!("{a}.attention.head_count"), V::U32(s.heads as u32)),
        (format!("{a}.attention.head_count_kv"), V::U32(s.kv_heads as u32)),
        (format!("{a}.attention.key_length"), V::U32(s.head_dim as u32)),
        (format!("{a}.rope.freq_base"), V::F32(10000.0)),
        (format!("{a}.attention.layer_norm_rms_epsilon"), V::F32(1e-6)),
    ];
    let mut md = md;
    for (k, v) in extra {
        md.retain(|(key, _)| key != k);
        md.push((k.clone(), v.clone()));
    }
    let qts: Vec<(String, QTensor)> = tensors(f)
        .into_iter()
        .map(|(name, shape, v)| {
            let t = Tensor::from_vec(v, shape.as_slice(), &Device::Cpu).unwrap();
            let dt = if shape.len() == 2 { dtype } else { GgmlDType::F32 };
            (gguf_name(&name), QTensor::quantize(&t, dt).unwrap())
        })
        .collect();
    let md_refs: Vec<(&str, &V)> = md.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let t_refs: Vec<(&str, &QTensor)> = qts.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let mut file = std::fs::File::create(path).unwrap();
    gguf_file::write(&mut file, &md_refs, &t_refs).unwrap();
}

/// Writes an HF folder: config.json with the real `architectures` string and safetensors.
pub fn write_hf(f: Family, dir: &Path) {
    let s = SHAPE;
    let architecture = match f {
        Family::Llama => "LlamaForCausalLM",
        Family::Qwen2 => "Qwen2ForCausalLM",
        Family::Qwen3 => "Qwen3ForCausalLM",
    };
    let config = serde_json::json!({
        "architectures": [architecture], "model_type": arch(f), "vocab_size": s.vocab, "hidden_size": s.hidden,
        "intermediate_size": s.inter, "num_hidden_layers": s.layers, "num_attention_heads": s.heads,
        "num_key_value_heads": s.kv_heads, "head_dim": s.head_dim, "rope_theta": 10000.0, "rms_norm_eps": 1e-6,
        "max_position_embeddings": 128, "tie_word_embeddings": false
    });
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    let map: HashMap<String, Tensor> = tensors(f)
        .into_iter()
        .map(|(name, shape, v)| (hf_name(&name), Tensor::from_vec(v, shape.as_slice(), &Device::Cpu).unwrap()))
        .collect();
    candle_core::safetensors::save(&map, dir.join("model.safetensors")).unwrap();
}

/// A plain-loops forward written from the architecture description, independent of candle.
pub fn reference_logits(f: Family, interleaved: bool, tokens: &[u32]) -> Vec<Vec<f32>> {
    let w: HashMap<String, Vec<f32>> = tensors(f).into_iter().map(|(n, _, v)| (n, v)).collect();
    let cols = SHAPE.hidden;
    let lm = &w["lm_head"];
    reference_hidden(f, interleaved, tokens)
        .iter()
        .map(|x| (0..lm.len() / cols).map(|o| (0..cols).map(|i| lm[o * cols + i] * x[i]).sum()).collect())
        .collect()
}

/// Hidden states after the final norm, per position, from the same plain-loops forward.
pub fn reference_hidden(f: Family, interleaved: bool, tokens: &[u32]) -> Vec<Vec<f32>> {
    let s = SHAPE;
    let w: HashMap<String, Vec<f32>> = tensors(f).into_iter().map(|(n, _, v)| (n, v)).collect();
    let matvec = |name: &str, x: &[f32]| -> Vec<f32> {
        let m = &w[name];
        let cols = x.len();
        (0..m.len() / cols).map(|o| (0..cols).map(|i| m[o * cols + i] * x[i]).sum()).collect()
    };
    let rms = |x: &[f32], weight: &[f32]| -> Vec<f32> {
        let ms = x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32;
        let r = 1.0 / (ms + 1e-6).sqrt();
        x.iter().zip(weight).map(|(v, g)| v * r * g).collect()
    };
    let rope = |v: &mut [f32], pos: usize| {
        let hd = s.head_dim;
        for head in v.chunks_mut(hd) {
            for i in 0..hd / 2 {
                let angle = pos as f64 / 10000f64.powf(2.0 * i as f64 / hd as f64);
                let (c, sn) = (angle.cos() as f32, angle.sin() as f32);
                let (a, b) = if interleaved { (2 * i, 2 * i + 1) } else { (i, i + hd / 2) };
                let (x, y) = (head[a], head[b]);
                head[a] = x * c - y * sn;
                head[b] = x * sn + y * c;
            }
        }
    };
    let mut xs: Vec<Vec<f32>> =
        tokens.iter().map(|&t| w["embed"][t as usize * s.hidden..(t as usize + 1) * s.hidden].to_vec()).collect();
    let rep = s.heads / s.kv_heads;
    for l in 0..s.layers {
        let p = |n: &str| format!("{l}.{n}");
        let mut qs = Vec::new();
        let mut ks = Vec::new();
        let mut vs = Vec::new();
        for (pos, x) in xs.iter().enumerate() {
            let h = rms(x, &w[&p("attn_norm")]);
            let proj = |n: &str| {
                let mut y = matvec(&p(n), &h);
                if let Some(b) = w.get(&p(&format!("{n}_bias"))) {
                    y.iter_mut().zip(b).for_each(|(a, b)| *a += b);
                }
                if let Some(g) = w.get(&p(&format!("{n}_norm"))) {
                    y = y.chunks(s.head_dim).flat_map(|c| rms(c, g)).collect();
                }
                y
            };
            let (mut q, mut k, v) = (proj("q"), proj("k"), proj("v"));
            rope(&mut q, pos);
            rope(&mut k, pos);
            qs.push(q);
            ks.push(k);
            vs.push(v);
        }
        for t in 0..xs.len() {
            let mut attn = vec![0f32; s.heads * s.head_dim];
            for h in 0..s.heads {
                let kv = h / rep;
                let q = &qs[t][h * s.head_dim..(h + 1) * s.head_dim];
                let scores: Vec<f32> = (0..=t)
                    .map(|u| {
                        let k = &ks[u][kv * s.head_dim..(kv + 1) * s.head_dim];
                        q.iter().zip(k).map(|(a, b)| a * b).sum::<f32>() / (s.head_dim as f32).sqrt()
                    })
                    .collect();
                let max = scores.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
                let e: Vec<f32> = scores.iter().map(|x| (x - max).exp()).collect();
                let z: f32 = e.iter().sum();
                for (u, eu) in e.iter().enumerate() {
                    for d in 0..s.head_dim {
                        attn[h * s.head_dim + d] += eu / z * vs[u][kv * s.head_dim + d];
                    }
                }
            }
            let o = matvec(&p("o"), &attn);
            xs[t].iter_mut().zip(o).for_each(|(a, b)| *a += b);
            let h = rms(&xs[t], &w[&p("ffn_norm")]);
            let g = matvec(&p("gate"), &h);
            let u = matvec(&p("up"), &h);
            let act: Vec<f32> = g.iter().zip(&u).map(|(g, u)| g / (1.0 + (-g).exp()) * u).collect();
            let d = matvec(&p("down"), &act);
            xs[t].iter_mut().zip(d).for_each(|(a, b)| *a += b);
        }
    }
    xs.iter().map(|x| rms(x, &w["norm"])).collect()
}
