//! A plain forward in f64 (loops over positions and heads, no cache, no kernels, no packing)
//! for HF-named llama/qwen2/qwen3 checkpoints. It is slow and exists to check the runtime:
//! `stepscope doctor` compares our forward on every device and dtype against it on tiny
//! checkpoints.

use std::collections::HashMap;

use anyhow::{anyhow, bail, Result};
use candle_core::{DType, Tensor};

use super::config::{Config, RopeStyle};

/// Weights as f64 row-major matrices (rows, cols) or vectors (1, n).
pub struct Reference {
    config: Config,
    weights: HashMap<String, (Vec<f64>, usize, usize)>,
}

impl Reference {
    /// Copies the tensors (any device and dtype) into f64.
    pub fn new(config: &Config, tensors: &HashMap<String, Tensor>) -> Result<Reference> {
        if config.rope_style != RopeStyle::Halves {
            bail!("the reference forward reads HF checkpoints (rotate-half RoPE) only");
        }
        let mut weights = HashMap::new();
        for (name, t) in tensors {
            let (rows, cols) = match t.dims() {
                [n] => (1, *n),
                [r, c] => (*r, *c),
                other => bail!("tensor {name} has shape {other:?}"),
            };
            let data: Vec<f64> = t.to_dtype(DType::F64)?.flatten_all()?.to_vec1()?;
            weights.insert(name.clone(), (data, rows, cols));
        }
        Ok(Reference { config: config.clone(), weights })
    }

    fn get(&self, name: &str) -> Result<&(Vec<f64>, usize, usize)> {
        self.weights.get(name).ok_or_else(|| anyhow!("reference: missing tensor {name}"))
    }

    fn vector(&self, name: &str) -> Result<Option<&[f64]>> {
        Ok(self.weights.get(name).map(|(d, _, _)| d.as_slice()))
    }

    /// y = W x (+ b) for W of shape (out, in).
    fn linear(&self, name: &str, bias: Option<&str>, x: &[f64]) -> Result<Vec<f64>> {
        let (w, rows, cols) = self.get(name)?;
        if *cols != x.len() {
            bail!("reference: {name} takes {cols} inputs, got {}", x.len());
        }
        let mut y: Vec<f64> = (0..*rows).map(|r| dot(&w[r * cols..(r + 1) * cols], x)).collect();
        if let Some(b) = bias.map(|b| self.vector(b)).transpose()?.flatten() {
            y.iter_mut().zip(b).for_each(|(y, b)| *y += b);
        }
        Ok(y)
    }

    /// Hidden states after the final norm for every position of `tokens`.
    pub fn hidden_states(&self, tokens: &[u32]) -> Result<Vec<Vec<f64>>> {
        let c = &self.config;
        let (embed, _, hidden) = self.get("model.embed_tokens.weight")?;
        let mut xs: Vec<Vec<f64>> =
            tokens.iter().map(|&t| embed[t as usize * hidden..(t as usize + 1) * hidden].to_vec()).collect();
        for layer in 0..c.num_layers {
            let n = |p: &str| format!("model.layers.{layer}.{p}");
            let normed: Vec<Vec<f64>> =
                xs.iter().map(|x| self.rms_norm(x, &n("input_layernorm.weight"))).collect::<Result<_>>()?;
            let attn = self.attention(layer, &normed)?;
            for (x, a) in xs.iter_mut().zip(attn) {
                x.iter_mut().zip(a).for_each(|(x, a)| *x += a);
            }
            for x in xs.iter_mut() {
                let h = self.rms_norm(x, &n("post_attention_layernorm.weight"))?;
                let gate = self.linear(&n("mlp.gate_proj.weight"), None, &h)?;
                let up = self.linear(&n("mlp.up_proj.weight"), None, &h)?;
                let act: Vec<f64> = gate.iter().zip(&up).map(|(g, u)| g / (1.0 + (-g).exp()) * u).collect();
                let down = self.linear(&n("mlp.down_proj.weight"), None, &act)?;
                x.iter_mut().zip(down).for_each(|(x, d)| *x += d);
            }
        }
        xs.iter().map(|x| self.rms_norm(x, "model.norm.weight")).collect()
    }

    /// Logits for each hidden state (the LM head, or the tied embedding).
    pub fn logits(&self, hidden: &[Vec<f64>]) -> Result<Vec<Vec<f64>>> {
        let head =
            if self.weights.contains_key("lm_head.weight") { "lm_head.weight" } else { "model.embed_tokens.weight" };
        hidden.iter().map(|h| self.linear(head, None, h)).collect()
    }

    fn rms_norm(&self, x: &[f64], weight: &str) -> Result<Vec<f64>> {
        let w = self.vector(weight)?.ok_or_else(|| anyhow!("reference: missing tensor {weight}"))?;
        Ok(rms_norm(x, w, self.config.rms_eps))
    }

    /// Causal self-attention over all positions of one layer.
    fn attention(&self, layer: usize, xs: &[Vec<f64>]) -> Result<Vec<Vec<f64>>> {
        let c = &self.config;
        let n = |p: &str| format!("model.layers.{layer}.self_attn.{p}");
        let hd = c.head_dim;
        let q_norm = self.vector(&n("q_norm.weight"))?;
        let k_norm = self.vector(&n("k_norm.weight"))?;
        let mut qs = Vec::new();
        let mut ks = Vec::new();
        let mut vs = Vec::new();
        for (pos, x) in xs.iter().enumerate() {
            let mut q = self.linear(&n("q_proj.weight"), Some(&n("q_proj.bias")), x)?;
            let mut k = self.linear(&n("k_proj.weight"), Some(&n("k_proj.bias")), x)?;
            let v = self.linear(&n("v_proj.weight"), Some(&n("v_proj.bias")), x)?;
            for (vec, norm) in [(&mut q, q_norm), (&mut k, k_norm)] {
                for head in vec.chunks_mut(hd) {
                    if let Some(w) = norm {
                        let normed = rms_norm(head, w, c.rms_eps);
                        head.copy_from_slice(&normed);
                    }
                    rotate(head, pos, c.rope_theta);
                }
            }
            qs.push(q);
            ks.push(k);
            vs.push(v);
        }
        let rep = c.num_heads / c.num_kv_heads;
        let scale = 1.0 / (hd as f64).sqrt();
        let mut out = Vec::with_capacity(xs.len());
        for (i, qi) in qs.iter().enumerate() {
            let mut concat = vec![0.0; c.num_heads * hd];
            for h in 0..c.num_heads {
                let kv = h / rep;
                let q = &qi[h * hd..(h + 1) * hd];
                let scores: Vec<f64> = (0..=i).map(|j| dot(q, &ks[j][kv * hd..(kv + 1) * hd]) * scale).collect();
                let max = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let exps: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
                let sum: f64 = exps.iter().sum();
                for (j, e) in exps.iter().enumerate() {
                    let v = &vs[j][kv * hd..(kv + 1) * hd];
                    for (c, v) in concat[h * hd..(h + 1) * hd].iter_mut().zip(v) {
                        *c += e / sum * v;
                    }
                }
            }
            out.push(self.linear(&n("o_proj.weight"), None, &concat)?);
        }
        Ok(out)
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(a, b)| a * b).sum()
}

fn rms_norm(x: &[f64], w: &[f64], eps: f64) -> Vec<f64> {
    let ms = x.iter().map(|v| v * v).sum::<f64>() / x.len() as f64;
    let r = 1.0 / (ms + eps).sqrt();
    x.iter().zip(w).map(|(v, w)| v * r * w).collect()
}

/// Rotate-half RoPE of one head at position `pos`.
fn rotate(head: &mut [f64], pos: usize, theta: f64) {
    let d = head.len();
    let half = d / 2;
    for j in 0..half {
        let angle = pos as f64 / theta.powf(2.0 * j as f64 / d as f64);
        let (a, b) = (head[j], head[j + half]);
        head[j] = a * angle.cos() - b * angle.sin();
        head[j + half] = b * angle.cos() + a * angle.sin();
    }
}
