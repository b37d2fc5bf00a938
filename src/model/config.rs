//! Model hyper-parameters, read from GGUF metadata or an HF `config.json`.

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

/// Each hyper-parameter: our field, its GGUF key (after `{arch}.`) and its config.json key.
const KEYS: [[&str; 3]; 10] = [
    ["vocab_size", "vocab_size", "vocab_size"],
    ["hidden_size", "embedding_length", "hidden_size"],
    ["intermediate_size", "feed_forward_length", "intermediate_size"],
    ["num_layers", "block_count", "num_hidden_layers"],
    ["num_heads", "attention.head_count", "num_attention_heads"],
    ["num_kv_heads", "attention.head_count_kv", "num_key_value_heads"],
    ["head_dim", "attention.key_length", "head_dim"],
    ["rope_theta", "rope.freq_base", "rope_theta"],
    ["rms_eps", "attention.layer_norm_rms_epsilon", "rms_norm_eps"],
    ["context_length", "context_length", "max_position_embeddings"],
];

/// The source's own key for one of our fields (`column` 1: GGUF, 2: config.json).
fn source_key(field: &str, column: usize) -> &'static str {
    KEYS.iter().find(|k| k[0] == field).map(|k| k[column]).expect("a field of KEYS")
}

/// Where hyper-parameters are read from. A key that is absent gives None (the default, where
/// there is one); a key that is there must hold what it should: a bad value is an error, never
/// the default.
trait Keys {
    fn whole(&self, field: &str) -> Result<Option<usize>, String>;
    fn number(&self, field: &str) -> Result<Option<f64>, String>;
    /// How the source spells a field, for messages.
    fn name(&self, field: &str) -> String;
}

impl Config {
    /// One reading of every field, with the defaults real checkpoints rely on; then [`Config::check`].
    fn read(arch: Arch, rope_style: RopeStyle, k: &dyn Keys) -> Result<Config, String> {
        let need = |f: &str| k.whole(f)?.ok_or_else(|| format!("{} is missing", k.name(f)));
        let hidden_size = need("hidden_size")?;
        let num_heads = need("num_heads")?;
        let c = Config {
            arch,
            vocab_size: need("vocab_size")?,
            hidden_size,
            intermediate_size: need("intermediate_size")?,
            num_layers: need("num_layers")?,
            num_heads,
            num_kv_heads: k.whole("num_kv_heads")?.unwrap_or(num_heads),
            head_dim: k.whole("head_dim")?.unwrap_or(hidden_size / num_heads.max(1)),
            rope_theta: k.number("rope_theta")?.unwrap_or(10_000.0),
            rms_eps: k.number("rms_eps")?.unwrap_or(1e-6),
            context_length: k.whole("context_length")?.unwrap_or(4096),
            rope_style,
        };
        c.check(|f| k.name(f))?;
        Ok(c)
    }

    /// Reads `general.architecture` and the `{arch}.*` keys of a GGUF file.
    pub fn from_gguf(ct: &gguf_file::Content) -> Result<Config, String> {
        let arch_name = ct
            .metadata
            .get("general.architecture")
            .and_then(|v| v.to_string().ok())
            .ok_or("GGUF metadata has no general.architecture")?
            .clone();
        let arch = Arch::parse(&arch_name)?;
        let style = if arch == Arch::Llama { RopeStyle::Interleaved } else { RopeStyle::Halves };
        Config::read(arch, style, &Gguf { ct, arch: &arch_name })
    }

    /// Checks every hyper-parameter against what real models have, before anything is sized by
    /// it; `key` names a field the way the source (GGUF metadata, config.json) spells it.
    pub fn check(&self, key: impl Fn(&str) -> String) -> Result<(), String> {
        let range = |field: &str, v: usize, max: usize| -> Result<(), String> {
            if v == 0 || v > max {
                return Err(format!("{} = {v} is outside the range real models have (1..={max})", key(field)));
            }
            Ok(())
        };
        range("vocab_size", self.vocab_size, 1 << 22)?;
        range("hidden_size", self.hidden_size, 1 << 16)?;
        range("intermediate_size", self.intermediate_size, 1 << 20)?;
        range("num_layers", self.num_layers, 1024)?;
        range("num_heads", self.num_heads, 1024)?;
        range("num_kv_heads", self.num_kv_heads, self.num_heads)?;
        range("head_dim", self.head_dim, 1024)?;
        range("context_length", self.context_length, MAX_CONTEXT)?;
        if !self.num_heads.is_multiple_of(self.num_kv_heads) {
            return Err(format!(
                "{} = {} does not divide {} = {}",
                key("num_kv_heads"),
                self.num_kv_heads,
                key("num_heads"),
                self.num_heads
            ));
        }
        if !self.head_dim.is_multiple_of(2) {
            return Err(format!("{} = {} is odd (rotary embeddings pair dimensions)", key("head_dim"), self.head_dim));
        }
        if !(self.rope_theta.is_finite() && self.rope_theta > 0.0) {
            return Err(format!("{} = {} is not a positive number", key("rope_theta"), self.rope_theta));
        }
        if !(self.rms_eps.is_finite() && self.rms_eps > 0.0) {
            return Err(format!("{} = {} is not a positive number", key("rms_eps"), self.rms_eps));
        }
        Ok(())
    }

    /// Reads an HF `config.json`.
    pub fn from_hf_json(v: &Value) -> Result<Config, String> {
        let model_type = v.get("model_type").and_then(Value::as_str).ok_or("config.json: missing `model_type`")?;
        Config::read(Arch::parse(model_type)?, RopeStyle::Halves, &HfJson(v))
    }

    /// Rough f32 size of all weights, for the memory check (saturating: a checked config
    /// cannot overflow, but this is also used for messages).
    pub fn approx_params(&self) -> usize {
        let attn =
            self.hidden_size.saturating_mul(self.head_dim).saturating_mul(2 * self.num_heads + 2 * self.num_kv_heads);
        let mlp = self.hidden_size.saturating_mul(self.intermediate_size).saturating_mul(3);
        self.num_layers
            .saturating_mul(attn.saturating_add(mlp))
            .saturating_add(self.vocab_size.saturating_mul(self.hidden_size).saturating_mul(2))
    }
}

/// A JSON value as an error message shows it: at most 40 characters.
struct Gguf<'a> {
    ct: &'a gguf_file::Content,
    arch: &'a str,
}

impl Keys for Gguf<'_> {
    fn whole(&self, field: &str) -> Result<Option<usize>, String> {
        let key = format!("{}.{}", self.arch, source_key(field, 1));
        match self.ct.metadata.get(&key) {
            Some(v) => v
                .to_u64()
                .or_else(|_| v.to_u32().map(u64::from))
                .or_else(|_| v.to_i32().map(|x| x as u64))
                .map(|x| Some(x as usize))
                .map_err(|e| format!("{}: {e}", self.name(field))),
            // Most files give the vocabulary only as the tokenizer's list or the embedding's rows.
            None if field == "vocab_size" => Ok(Some(self.vocab_from_tokens())),
            None => Ok(None),
        }
    }

    fn number(&self, field: &str) -> Result<Option<f64>, String> {
        let key = format!("{}.{}", self.arch, source_key(field, 1));
        let Some(v) = self.ct.metadata.get(&key) else { return Ok(None) };
        v.to_f32()
            .map(|x| Some(f64::from(x)))
            .or_else(|_| v.to_f64().map(Some))
            .map_err(|e| format!("{}: {e}", self.name(field)))
    }

    fn name(&self, field: &str) -> String {
        let key = format!("GGUF {}.{}", self.arch, source_key(field, 1));
        if field == "vocab_size" {
            format!("{key} (or the tokenizer's token list)")
        } else {
            key
        }
    }
}

impl Gguf<'_> {
    fn vocab_from_tokens(&self) -> usize {
        let md = &self.ct.metadata;
        md.get("tokenizer.ggml.tokens").and_then(|v| v.to_vec().ok()).map(Vec::len).unwrap_or_else(|| {
            // A hostile file may give the embedding no dimensions at all (found by fuzzing).
            self.ct.tensor_infos.get("token_embd.weight").and_then(|t| t.shape.dims().first().copied()).unwrap_or(0)
        })
    }
}

struct HfJson<'a>(&'a Value);

impl HfJson<'_> {
    fn get(&self, field: &str) -> Option<&Value> {
        let v = self.0.get(source_key(field, 2));
        // transformers 5 writes rope_theta inside `rope_parameters`.
        match (field, v) {
            ("rope_theta", None) => self.0.get("rope_parameters").and_then(|r| r.get("rope_theta")),
            _ => v,
        }
        .filter(|v| !v.is_null())
    }
}

impl Keys for HfJson<'_> {
    fn whole(&self, field: &str) -> Result<Option<usize>, String> {
        let Some(x) = self.get(field) else { return Ok(None) };
        let n = x.as_u64().and_then(|n| usize::try_from(n).ok());
        n.map(Some).ok_or_else(|| format!("{} = {} is not a whole number", self.name(field), short(x)))
    }

    fn number(&self, field: &str) -> Result<Option<f64>, String> {
        let Some(x) = self.get(field) else { return Ok(None) };
        x.as_f64().map(Some).ok_or_else(|| format!("{} = {} is not a number", self.name(field), short(x)))
    }

    fn name(&self, field: &str) -> String {
        format!("config.json: `{}`", source_key(field, 2))
    }
}

fn short(v: &Value) -> String {
    let text = v.to_string();
    if text.chars().count() > 40 {
        format!("{}…", text.chars().take(40).collect::<String>())
    } else {
        text
    }
}

/// The longest context a model may declare (16 Mi positions; the longest real ones are 10M).
/// Nothing is allocated by it: RoPE tables and the KV cache grow with the sequence.
pub const MAX_CONTEXT: usize = 1 << 24;

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    use candle_core::quantized::gguf_file::{Content, TensorInfo, Value, VersionedMagic};
    use candle_core::quantized::GgmlDType;

    /// The fuzzer's first crash: no vocab_size, no token list, and an embedding tensor of zero
    /// dimensions. A clear error now, an index panic before.
    #[test]
    fn an_embedding_without_dimensions_is_an_error() {
        let mut metadata = HashMap::new();
        metadata.insert("general.architecture".to_string(), Value::String("llama".into()));
        for (k, v) in
            [("embedding_length", 8u32), ("attention.head_count", 2), ("feed_forward_length", 16), ("block_count", 1)]
        {
            metadata.insert(format!("llama.{k}"), Value::U32(v));
        }
        let mut tensor_infos = HashMap::new();
        let info = TensorInfo { ggml_dtype: GgmlDType::F32, shape: candle_core::Shape::from(()), offset: 0 };
        tensor_infos.insert("token_embd.weight".to_string(), info);
        let ct = Content { magic: VersionedMagic::GgufV3, metadata, tensor_infos, tensor_data_offset: 0 };
        let e = Config::from_gguf(&ct).unwrap_err();
        assert!(e.contains("vocab_size") && e.contains("= 0"), "{e}");
    }

    /// transformers 5 writes rope_theta inside `rope_parameters`.
    #[test]
    fn rope_theta_is_read_from_rope_parameters_too() {
        let v = serde_json::json!({"model_type": "qwen2", "vocab_size": 32, "hidden_size": 8,
            "intermediate_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2,
            "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0}});
        assert_eq!(Config::from_hf_json(&v).unwrap().rope_theta, 1e6);
    }

    /// A value that is there but wrong is an error naming the key, never the default.
    #[test]
    fn a_bad_value_is_not_replaced_by_the_default() {
        for (key, bad) in [
            ("max_position_embeddings", serde_json::json!(-5)),
            ("max_position_embeddings", serde_json::json!(1e30)),
            ("num_key_value_heads", serde_json::json!("two")),
            ("rms_norm_eps", serde_json::json!("tiny")),
        ] {
            let mut v = serde_json::json!({"model_type": "qwen2", "vocab_size": 32, "hidden_size": 8,
                "intermediate_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2});
            v[key] = bad;
            let e = Config::from_hf_json(&v).unwrap_err();
            assert!(e.contains(key), "{key}: {e}");
        }
    }

    /// Both sources name the key the way they spell it, from one table.
    #[test]
    fn a_missing_key_is_named_as_each_source_spells_it() {
        let v = serde_json::json!({"model_type": "qwen2", "vocab_size": 32, "hidden_size": 8,
            "intermediate_size": 16, "num_attention_heads": 2});
        assert_eq!(Config::from_hf_json(&v).unwrap_err(), "config.json: `num_hidden_layers` is missing");
        let mut metadata = HashMap::new();
        metadata.insert("general.architecture".to_string(), Value::String("qwen2".into()));
        metadata.insert("qwen2.embedding_length".to_string(), Value::U32(8));
        metadata.insert("qwen2.attention.head_count".to_string(), Value::String("two".into()));
        let ct =
            Content { magic: VersionedMagic::GgufV3, metadata, tensor_infos: HashMap::new(), tensor_data_offset: 0 };
        let e = Config::from_gguf(&ct).unwrap_err();
        assert!(e.starts_with("GGUF qwen2.attention.head_count:"), "{e}");
    }
}
