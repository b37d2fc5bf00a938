//! Model hyper-parameters, read from GGUF metadata or an HF `config.json`.

use std::collections::HashMap;

use candle_core::quantized::gguf_file;
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    /// llama, mistral-style, SmolLM2.
    Llama,
    /// Qwen2 / Qwen2.5: biases on q, k, v.
    Qwen2,
    /// Qwen3: per-head RMS norm on q and k, no biases.
    Qwen3,
}

impl Arch {
    pub fn name(self) -> &'static str {
        match self {
            Arch::Llama => "llama",
            Arch::Qwen2 => "qwen2",
            Arch::Qwen3 => "qwen3",
        }
    }

    fn parse(s: &str) -> Result<Arch, String> {
        match s {
            "llama" | "mistral" => Ok(Arch::Llama),
            "qwen2" => Ok(Arch::Qwen2),
            "qwen3" => Ok(Arch::Qwen3),
            other => Err(format!("unsupported architecture '{other}' (supported: llama, mistral, qwen2, qwen3)")),
        }
    }
}

/// How rotary embeddings pair dimensions: llama.cpp's llama GGUFs permute q/k weights so pairs are
/// adjacent (interleaved); HF checkpoints and qwen GGUFs use the two halves (NeoX style).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RopeStyle {
    Interleaved,
    Halves,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub arch: Arch,
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_layers: usize,
    pub num_heads: usize,
    pub num_kv_heads: usize,
    pub head_dim: usize,
    pub rope_theta: f64,
    pub rms_eps: f64,
    pub context_length: usize,
    pub rope_style: RopeStyle,
}

impl Config {
    /// Reads `general.architecture` and the `{arch}.*` keys of a GGUF file.
    pub fn from_gguf(ct: &gguf_file::Content) -> Result<Config, String> {
        let md = &ct.metadata;
        let arch_name = md
            .get("general.architecture")
            .and_then(|v| v.to_string().ok())
            .ok_or("GGUF metadata has no general.architecture")?
            .clone();
        let arch = Arch::parse(&arch_name)?;
        let u = |key: &str| -> Result<usize, String> { gguf_usize(md, &format!("{arch_name}.{key}")) };
        let f = |key: &str, default: f64| -> f64 {
            md.get(&format!("{arch_name}.{key}")).and_then(|v| v.to_f32().ok()).map_or(default, f64::from)
        };
        let hidden_size = u("embedding_length")?;
        let num_heads = u("attention.head_count")?;
        let vocab_size = match u("vocab_size") {
            Ok(v) => v,
            Err(_) => md
                .get("tokenizer.ggml.tokens")
                .and_then(|v| v.to_vec().ok())
                .map(Vec::len)
                .unwrap_or_else(|| ct.tensor_infos.get("token_embd.weight").map_or(0, |t| t.shape.dims()[0])),
        };
        Ok(Config {
            arch,
            vocab_size,
            hidden_size,
            intermediate_size: u("feed_forward_length")?,
            num_layers: u("block_count")?,
            num_heads,
            num_kv_heads: u("attention.head_count_kv").unwrap_or(num_heads),
            head_dim: u("attention.key_length").unwrap_or(hidden_size / num_heads.max(1)),
            rope_theta: f("rope.freq_base", 10_000.0),
            rms_eps: f("attention.layer_norm_rms_epsilon", 1e-6),
            context_length: u("context_length").unwrap_or(4096),
            rope_style: if arch == Arch::Llama { RopeStyle::Interleaved } else { RopeStyle::Halves },
        })
    }

    /// Reads an HF `config.json`.
    pub fn from_hf_json(v: &Value) -> Result<Config, String> {
        let model_type = v.get("model_type").and_then(Value::as_str).ok_or("config.json: missing `model_type`")?;
        let arch = Arch::parse(model_type)?;
        let u =
            |k: &str| v.get(k).and_then(Value::as_u64).map(|n| n as usize).ok_or(format!("config.json: missing `{k}`"));
        let hidden_size = u("hidden_size")?;
        let num_heads = u("num_attention_heads")?;
        Ok(Config {
            arch,
            vocab_size: u("vocab_size")?,
            hidden_size,
            intermediate_size: u("intermediate_size")?,
            num_layers: u("num_hidden_layers")?,
            num_heads,
            num_kv_heads: u("num_key_value_heads").unwrap_or(num_heads),
            head_dim: u("head_dim").unwrap_or(hidden_size / num_heads.max(1)),
            rope_theta: v.get("rope_theta").and_then(Value::as_f64).unwrap_or(10_000.0),
            rms_eps: v.get("rms_norm_eps").and_then(Value::as_f64).unwrap_or(1e-6),
            context_length: u("max_position_embeddings").unwrap_or(4096),
            rope_style: RopeStyle::Halves,
        })
    }

    /// Rough f32 size of all weights, for the memory check.
    pub fn approx_params(&self) -> usize {
        let attn = self.hidden_size * self.head_dim * (2 * self.num_heads + 2 * self.num_kv_heads);
        let mlp = 3 * self.hidden_size * self.intermediate_size;
        self.num_layers * (attn + mlp) + 2 * self.vocab_size * self.hidden_size
    }
}

fn gguf_usize(md: &HashMap<String, gguf_file::Value>, key: &str) -> Result<usize, String> {
    let v = md.get(key).ok_or(format!("GGUF metadata has no {key}"))?;
    v.to_u64()
        .or_else(|_| v.to_u32().map(u64::from))
        .or_else(|_| v.to_i32().map(|x| x as u64))
        .map(|x| x as usize)
        .map_err(|e| format!("GGUF {key}: {e}"))
}
