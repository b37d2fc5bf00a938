//! Our transformer forward on candle primitives (llama, qwen2, qwen3): hidden states and logits
//! for every position, RoPE tables in f32 sized from the context length, and a KV cache that can
//! be forked and truncated.

use std::collections::HashMap;
use std::io::{Read, Seek};
use std::path::Path;
use std::sync::{Arc, RwLock};

use anyhow::{anyhow, bail, Context, Result};
use candle_core::quantized::{gguf_file, QMatMul, QTensor};
use candle_core::{DType, Device, Module, Tensor, D};

use super::cache::KvCache;
use super::config::{Arch, Config, RopeStyle};
use super::matvec::{matmul_many, Acts, QuantMatrix};

/// How linear-layer weights are held in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightMode {
    /// Keep the GGUF's quantized blocks (repacked into tiles of rows): our kernels for the types
    /// they read (Q4_1, Q5_0, Q8_0, Q4_K, Q6_K), candle's for the others.
    Quantized,
    /// Dequantize to f32 at load.
    Dense,
    /// Both: dense f32 for multi-token batches (prefill, scoring) and the GGUF blocks for
    /// single-token decode, where reading fewer bytes per token is what counts. Types our
    /// kernels do not read are re-quantized to Q8_0 for that.
    Mixed,
}

/// A linear layer (weights (out, in)) that picks its kernel by batch size.
pub struct Linear {
    dense: Option<QMatMul>,
    quant: Option<QMatMul>,
    /// GGUF blocks our own CPU kernels read: single-token rows always, batches too when there
    /// are no dense weights. Shared with the embedding when the head is tied.
    blocks: Option<Arc<QuantMatrix>>,
}

impl Linear {
    /// Like `forward`, but always on the dense weights when the layer has them: scoring wants
    /// f32 activations even for a single row (the decode kernel rounds them to 8 bits).
    pub fn forward_exact(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        match (&self.dense, self.blocks_for(x.dim(0)?, true)) {
            (Some(d), _) => d.forward(x),
            (None, Some(m)) => Ok(blocks_forward(&[m], x)?.remove(0)),
            (None, None) => self.forward(x),
        }
    }

    /// Which weights serve a single-token row, e.g. "q4_1" (our kernel) or "candle q6k".
    fn decode_kernel(&self) -> String {
        match (&self.blocks, &self.quant) {
            (Some(b), _) => b.blocks().name().to_string(),
            (None, Some(QMatMul::QTensor(q))) => format!("candle {:?}", q.dtype()).to_lowercase(),
            (None, _) => self.dense.as_ref().map_or("f32".to_string(), |d| match d {
                QMatMul::Tensor(t) => format!("{:?}", t.dtype()).to_lowercase(),
                _ => "f32".to_string(),
            }),
        }
    }

    /// The blocks, when they serve `rows` rows (`exact`: dense weights win even for one row).
    fn blocks_for(&self, rows: usize, exact: bool) -> Option<&QuantMatrix> {
        let m = self.blocks.as_deref()?;
        (self.dense.is_none() || (rows == 1 && !exact)).then_some(m)
    }

    pub fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let rows = x.dim(0)?;
        if let Some(m) = self.blocks_for(rows, false) {
            return Ok(blocks_forward(&[m], x)?.remove(0));
        }
        match (&self.dense, &self.quant) {
            (Some(d), Some(q)) => {
                if rows > 1 {
                    d.forward(x)
                } else {
                    q.forward(x)
                }
            }
            (Some(d), None) => d.forward(x),
            (None, Some(q)) => q.forward(x),
            (None, None) => unreachable!("a linear layer has weights"),
        }
    }
}

/// Several layers reading the same input (q, k, v; gate, up): one pool job when our kernels
/// serve them all, else one call each.
fn forward_group<const N: usize>(ls: [&Linear; N], x: &Tensor, exact: bool) -> candle_core::Result<[Tensor; N]> {
    let rows = x.dim(0)?;
    let ms: Vec<&QuantMatrix> = ls.iter().filter_map(|l| l.blocks_for(rows, exact)).collect();
    if ms.len() == N {
        let outs = blocks_forward(&ms, x)?;
        return Ok(outs.try_into().expect("one output per layer"));
    }
    let outs = ls
        .iter()
        .map(|l| if exact { l.forward_exact(x) } else { l.forward(x) })
        .collect::<candle_core::Result<Vec<_>>>()?;
    Ok(outs.try_into().expect("one output per layer"))
}

/// x (t, cols) through matrices sharing that input; outputs (t, rows) each. Every token gets
/// the same numbers whatever the batch, so generation and scoring (`exact`) take this one route.
fn blocks_forward(ms: &[&QuantMatrix], x: &Tensor) -> candle_core::Result<Vec<Tensor>> {
    let (t, cols) = x.dims2()?;
    let input: Vec<f32> = x.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?;
    let acts = Acts::quantize(&input, cols);
    let mut outs: Vec<Vec<f32>> = ms.iter().map(|m| vec![0f32; t * m.rows()]).collect();
    let mut views: Vec<&mut [f32]> = outs.iter_mut().map(|o| o.as_mut_slice()).collect();
    matmul_many(ms, &acts, &mut views, super::matvec::best_kernel());
    outs.into_iter().zip(ms).map(|(o, m)| Tensor::from_vec(o, (t, m.rows()), x.device())?.to_dtype(x.dtype())).collect()
}

/// The token embedding: dense rows, or GGUF blocks dequantized row by row as tokens come.
enum Embedding {
    Dense(Tensor),
    Blocks(Arc<QuantMatrix>),
}

impl Embedding {
    fn lookup(&self, ids: &Tensor) -> Result<Tensor> {
        match self {
            Embedding::Dense(t) => Ok(t.index_select(ids, 0)?),
            Embedding::Blocks(m) => {
                let ids: Vec<u32> = ids.to_vec1()?;
                let mut out = vec![0f32; ids.len() * m.cols()];
                for (&id, row) in ids.iter().zip(out.chunks_exact_mut(m.cols())) {
                    if id as usize >= m.rows() {
                        bail!("token id {id} is outside the vocabulary of {} tokens", m.rows());
                    }
                    m.dequantize_row(id as usize, row);
                }
                Ok(Tensor::from_vec(out, (ids.len(), m.cols()), &Device::Cpu)?)
            }
        }
    }
}

struct Layer {
    attn_norm: Tensor,
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    q_bias: Option<Tensor>,
    k_bias: Option<Tensor>,
    v_bias: Option<Tensor>,
    q_norm: Option<Tensor>,
    k_norm: Option<Tensor>,
    ffn_norm: Tensor,
    gate: Linear,
    up: Linear,
    down: Linear,
}

pub struct Transformer {
    pub config: Config,
    embed: Embedding,
    layers: Vec<Layer>,
    norm: Tensor,
    lm_head: Linear,
    /// cos/sin tables for the positions used so far; they grow with the sequence, so a model
    /// that declares a long context costs nothing until the context is used.
    rope: RwLock<Rope>,
    device: Device,
    /// The dtype of weights and activations (f32 for GGUF models; f32, bf16 or f16 for HF
    /// folders). RMSNorm, softmax and RoPE tables are computed in f32 whatever it is.
    dtype: DType,
}

/// Layers whose residual stream a forward keeps (1-based), and what it kept.
struct Taps {
    at: Vec<usize>,
    got: Vec<(usize, Tensor)>,
}

impl Taps {
    fn none() -> Taps {
        Taps { at: Vec::new(), got: Vec::new() }
    }
}

/// One sequence of a forward: its rows, its causal mask, and the KV cache it continues (an
/// index into the caches passed along), if any.
struct Segment {
    start: usize,
    len: usize,
    mask: Option<Tensor>,
    cache: Option<usize>,
}

struct Rope {
    cos: Tensor,
    sin: Tensor,
    positions: usize,
}

/// Positions the RoPE tables start with (they double from there, up to the model's context).
const ROPE_START: usize = 1024;

/// What a tied LM head is made of: the embedding's GGUF tensor, or a head already sharing the
/// embedding's blocks.
enum Tied {
    Quant(QTensor),
    Blocks(Linear),
}

/// One stored weight: GGUF blocks (possibly quantized) or a dense tensor (safetensors).
enum Weight {
    Quant(QTensor),
    Dense(Tensor),
}

impl Weight {
    /// The weight as a dense tensor of `dtype` on `device`.
    fn dense(self, device: &Device, dtype: DType) -> Result<Tensor> {
        Ok(match self {
            Weight::Quant(q) => q.dequantize(device)?.to_dtype(dtype)?,
            Weight::Dense(t) => t.to_device(device)?.to_dtype(dtype)?,
        })
    }
}

/// Where weights come from: a GGUF reader or a map of dense tensors (safetensors).
trait WeightSource {
    fn get(&mut self, name: &str) -> Result<Option<Weight>>;
}

struct GgufWeights<'a, R: Read + Seek> {
    ct: &'a gguf_file::Content,
    reader: &'a mut R,
    device: Device,
}

impl<R: Read + Seek> WeightSource for GgufWeights<'_, R> {
    fn get(&mut self, name: &str) -> Result<Option<Weight>> {
        if !self.ct.tensor_infos.contains_key(name) {
            return Ok(None);
        }
        let t = self.ct.tensor(self.reader, name, &self.device).with_context(|| format!("reading tensor {name}"))?;
        Ok(Some(Weight::Quant(t)))
    }
}

struct DenseWeights {
    tensors: HashMap<String, Tensor>,
    /// Where the body's tensors live: `model.` usually, `pretrained_model.model.` in value-head
    /// checkpoints that wrap a causal LM.
    body: String,
}

impl DenseWeights {
    fn new(tensors: HashMap<String, Tensor>) -> DenseWeights {
        const EMBED: &str = "embed_tokens.weight";
        let mut keys: Vec<&String> = tensors.keys().filter(|k| k.ends_with(EMBED)).collect();
        keys.sort_by_key(|k| k.len());
        let body = keys.first().map_or("model.".to_string(), |k| k[..k.len() - EMBED.len()].to_string());
        DenseWeights { tensors, body }
    }

    /// The stored name of a standard HF name (`model.X` → body + X; `lm_head.weight` beside the body).
    fn stored_name(&self, name: &str) -> String {
        if let Some(rest) = name.strip_prefix("model.") {
            return format!("{}{rest}", self.body);
        }
        let outer = self.body.strip_suffix("model.").unwrap_or("");
        let wrapped = format!("{outer}{name}");
        if self.tensors.contains_key(&wrapped) {
            wrapped
        } else {
            name.to_string()
        }
    }
}

impl WeightSource for DenseWeights {
    fn get(&mut self, name: &str) -> Result<Option<Weight>> {
        let name = self.stored_name(name);
        Ok(self.tensors.remove(&name).map(Weight::Dense))
    }
}

/// Tensor names of one family of checkpoints.
struct Names {
    embed: &'static str,
    norm: &'static str,
    lm_head: &'static str,
    /// Layer `i`'s tensors are `{layer_prefix}.{i}.{name}`.
    layer_prefix: &'static str,
    /// Which column of [`LAYER_TENSORS`] names them.
    column: usize,
}

/// Each layer tensor: our name for it, its GGUF name and its HF name.
const LAYER_TENSORS: [[&str; 3]; 14] = [
    ["attn_norm", "attn_norm.weight", "input_layernorm.weight"],
    ["q", "attn_q.weight", "self_attn.q_proj.weight"],
    ["k", "attn_k.weight", "self_attn.k_proj.weight"],
    ["v", "attn_v.weight", "self_attn.v_proj.weight"],
    ["o", "attn_output.weight", "self_attn.o_proj.weight"],
    ["q_bias", "attn_q.bias", "self_attn.q_proj.bias"],
    ["k_bias", "attn_k.bias", "self_attn.k_proj.bias"],
    ["v_bias", "attn_v.bias", "self_attn.v_proj.bias"],
    ["q_norm", "attn_q_norm.weight", "self_attn.q_norm.weight"],
    ["k_norm", "attn_k_norm.weight", "self_attn.k_norm.weight"],
    ["ffn_norm", "ffn_norm.weight", "post_attention_layernorm.weight"],
    ["gate", "ffn_gate.weight", "mlp.gate_proj.weight"],
    ["up", "ffn_up.weight", "mlp.up_proj.weight"],
    ["down", "ffn_down.weight", "mlp.down_proj.weight"],
];

impl Names {
    /// The stored name of layer `i`'s tensor `part` (one of [`LAYER_TENSORS`]' own names).
    fn layer(&self, i: usize, part: &str) -> String {
        let row = LAYER_TENSORS.iter().find(|r| r[0] == part).expect("a layer tensor this file names");
        format!("{}.{i}.{}", self.layer_prefix, row[self.column])
    }
}

const GGUF_NAMES: Names = Names {
    embed: "token_embd.weight",
    norm: "output_norm.weight",
    lm_head: "output.weight",
    layer_prefix: "blk",
    column: 1,
};

const HF_NAMES: Names = Names {
    embed: "model.embed_tokens.weight",
    norm: "model.norm.weight",
    lm_head: "lm_head.weight",
    layer_prefix: "model.layers",
    column: 2,
};

/// The tensors a checkpoint of this config has, with their shapes and whether they are required.
/// The vocabulary dimension is not checked (some checkpoints pad the embedding).
fn expected_tensors(c: &Config, names: &Names) -> Vec<(String, Vec<Option<usize>>, bool)> {
    let (h, hd, ff) = (Some(c.hidden_size), Some(c.head_dim), Some(c.intermediate_size));
    let (q, kv) = (Some(c.num_heads * c.head_dim), Some(c.num_kv_heads * c.head_dim));
    let mut out = vec![
        (names.embed.to_string(), vec![None, h], true),
        (names.norm.to_string(), vec![h], true),
        (names.lm_head.to_string(), vec![None, h], false),
    ];
    for i in 0..c.num_layers {
        let n = |p: &str| names.layer(i, p);
        out.extend([
            (n("attn_norm"), vec![h], true),
            (n("ffn_norm"), vec![h], true),
            (n("q"), vec![q, h], true),
            (n("k"), vec![kv, h], true),
            (n("v"), vec![kv, h], true),
            (n("o"), vec![h, q], true),
            (n("gate"), vec![ff, h], true),
            (n("up"), vec![ff, h], true),
            (n("down"), vec![h, ff], true),
            (n("q_bias"), vec![q], false),
            (n("k_bias"), vec![kv], false),
            (n("v_bias"), vec![kv], false),
            (n("q_norm"), vec![hd], false),
            (n("k_norm"), vec![hd], false),
        ]);
    }
    out
}

/// Checks the tensors' shapes against the hyper-parameters, naming the first tensor that does
/// not match (`shape_of` gives a stored tensor's shape by name).
fn check_shapes(c: &Config, names: &Names, shape_of: impl Fn(&str) -> Option<Vec<usize>>) -> Result<()> {
    for (name, expected, required) in expected_tensors(c, names) {
        let Some(actual) = shape_of(&name) else {
            if required {
                bail!("missing tensor {name}");
            }
            continue;
        };
        let fits =
            actual.len() == expected.len() && actual.iter().zip(&expected).all(|(a, e)| e.is_none_or(|e| *a == e));
        if !fits {
            let want: Vec<String> = expected.iter().map(|e| e.map_or("_".to_string(), |e| e.to_string())).collect();
            bail!(
                "tensor {name} has shape {actual:?}, but the model's hyper-parameters (hidden size {}, {} heads and {} KV heads of {} dims, feed-forward {}) need [{}]",
                c.hidden_size,
                c.num_heads,
                c.num_kv_heads,
                c.head_dim,
                c.intermediate_size,
                want.join(", ")
            );
        }
    }
    Ok(())
}

/// Checks a GGUF's tensor table against its metadata before any tensor is read.
pub fn check_gguf_tensors(c: &Config, ct: &gguf_file::Content) -> Result<()> {
    check_shapes(c, &GGUF_NAMES, |name| ct.tensor_infos.get(name).map(|t| t.shape.dims().to_vec()))
}

impl Transformer {
    /// Loads the weights of a GGUF file whose metadata was already read.
    pub fn from_gguf<R: Read + Seek>(
        ct: &gguf_file::Content,
        reader: &mut R,
        device: &Device,
        mode: WeightMode,
    ) -> Result<Self> {
        let config = Config::from_gguf(ct).map_err(|e| anyhow!(e))?;
        check_gguf_tensors(&config, ct)?;
        let mut src = GgufWeights { ct, reader, device: device.clone() };
        Self::build(config, &mut src, &GGUF_NAMES, device, mode, DType::F32)
    }

    /// Loads an HF folder's weights (one file or a sharded index) with its `config.json`.
    pub fn from_hf_dir(dir: &Path, device: &Device, dtype: DType) -> Result<Self> {
        Ok(Self::from_hf_dir_with_rest(dir, device, dtype)?.0)
    }

    /// Like `from_hf_dir`, also returning the tensors the body did not use (reward heads), in
    /// their stored dtype.
    pub fn from_hf_dir_with_rest(dir: &Path, device: &Device, dtype: DType) -> Result<(Self, HashMap<String, Tensor>)> {
        let cfg_path = dir.join("config.json");
        let cfg_text = std::fs::read_to_string(&cfg_path).with_context(|| format!("{}", cfg_path.display()))?;
        let cfg_json: serde_json::Value =
            serde_json::from_str(&cfg_text).with_context(|| format!("{}: invalid JSON", cfg_path.display()))?;
        let config = Config::from_hf_json(&cfg_json).map_err(|e| anyhow!("{}: {e}", cfg_path.display()))?;
        let tensors = load_safetensors(dir, device)?;
        Self::from_tensors(config, tensors, device, dtype)
    }

    /// Builds a model from HF-named tensors held in memory (a loaded folder, or the random
    /// checkpoints of `stepscope doctor`); returns the tensors the body did not use.
    pub fn from_tensors(
        config: Config,
        tensors: HashMap<String, Tensor>,
        device: &Device,
        dtype: DType,
    ) -> Result<(Self, HashMap<String, Tensor>)> {
        let mut src = DenseWeights::new(tensors);
        check_shapes(&config, &HF_NAMES, |name| src.tensors.get(&src.stored_name(name)).map(|t| t.dims().to_vec()))?;
        let t = Self::build(config, &mut src, &HF_NAMES, device, WeightMode::Dense, dtype)?;
        Ok((t, src.tensors))
    }

    fn build(
        config: Config,
        src: &mut dyn WeightSource,
        names: &Names,
        device: &Device,
        mode: WeightMode,
        dtype: DType,
    ) -> Result<Self> {
        let mut need =
            |name: &str| -> Result<Weight> { src.get(name)?.ok_or_else(|| anyhow!("missing tensor {name}")) };
        let (embed, tied) = match need(names.embed)? {
            // Quantized weights keep the embedding as blocks too (the largest tensor of a small
            // model), shared with a tied head.
            Weight::Quant(q) if mode == WeightMode::Quantized && device.is_cpu() => {
                match QuantMatrix::from_qtensor(&q)? {
                    Some(m) => {
                        let m = Arc::new(m);
                        let head = Linear { dense: None, quant: None, blocks: Some(m.clone()) };
                        (Embedding::Blocks(m), Some(Tied::Blocks(head)))
                    }
                    None => (Embedding::Dense(q.dequantize(device)?), Some(Tied::Quant(q))),
                }
            }
            Weight::Quant(q) => (Embedding::Dense(q.dequantize(device)?), Some(Tied::Quant(q))),
            dense => (Embedding::Dense(dense.dense(device, dtype)?), None),
        };
        let norm = need(names.norm)?.dense(device, dtype)?;
        let lm_head = match (src.get(names.lm_head)?, tied) {
            (Some(w), _) => linear(w, mode, device, dtype)?,
            // Tied embeddings: GGUF blocks get their own kernels; a dense head shares the tensor.
            (None, Some(Tied::Quant(q))) => linear(Weight::Quant(q), mode, device, dtype)?,
            (None, Some(Tied::Blocks(head))) => head,
            (None, None) => match &embed {
                Embedding::Dense(t) => Linear { dense: Some(QMatMul::Tensor(t.clone())), quant: None, blocks: None },
                Embedding::Blocks(_) => unreachable!("blocks come with a tied head"),
            },
        };
        let mut layers = Vec::with_capacity(config.num_layers);
        for i in 0..config.num_layers {
            let n = |p: &str| names.layer(i, p);
            let mut dense =
                |p: &str| -> Result<Option<Tensor>> { src.get(&n(p))?.map(|w| w.dense(device, dtype)).transpose() };
            let attn_norm = dense("attn_norm")?.ok_or_else(|| anyhow!("missing tensor {}", n("attn_norm")))?;
            let ffn_norm = dense("ffn_norm")?.ok_or_else(|| anyhow!("missing tensor {}", n("ffn_norm")))?;
            let (q_bias, k_bias, v_bias) = (dense("q_bias")?, dense("k_bias")?, dense("v_bias")?);
            let (q_norm, k_norm) = (dense("q_norm")?, dense("k_norm")?);
            if config.arch == Arch::Qwen3 && (q_norm.is_none() || k_norm.is_none()) {
                bail!("qwen3 layer {i} lacks q/k norms");
            }
            let mut lin = |p: &str| -> Result<Linear> {
                let w = src.get(&n(p))?.ok_or_else(|| anyhow!("missing tensor {}", n(p)))?;
                linear(w, mode, device, dtype)
            };
            layers.push(Layer {
                attn_norm,
                q: lin("q")?,
                k: lin("k")?,
                v: lin("v")?,
                o: lin("o")?,
                q_bias,
                k_bias,
                v_bias,
                q_norm,
                k_norm,
                ffn_norm,
                gate: lin("gate")?,
                up: lin("up")?,
                down: lin("down")?,
            });
        }
        let empty = Tensor::zeros((0, config.head_dim / 2), dtype, device)?;
        let rope = RwLock::new(Rope { cos: empty.clone(), sin: empty, positions: 0 });
        Ok(Transformer { config, embed, layers, norm, lm_head, rope, device: device.clone(), dtype })
    }

    /// The dtype of weights and activations.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// Positions the RoPE tables cover now.
    pub fn rope_positions(&self) -> usize {
        self.rope.read().map_or(0, |r| r.positions)
    }

    /// cos/sin rows for positions `offset..offset + t`, growing the tables when needed.
    fn rope_rows(&self, offset: usize, t: usize) -> Result<(Tensor, Tensor)> {
        let needed = offset + t;
        {
            let r = self.rope.read().map_err(|_| anyhow!("RoPE tables poisoned"))?;
            if needed <= r.positions {
                return Ok((r.cos.narrow(0, offset, t)?, r.sin.narrow(0, offset, t)?));
            }
        }
        let mut r = self.rope.write().map_err(|_| anyhow!("RoPE tables poisoned"))?;
        if needed > r.positions {
            let positions = needed.next_power_of_two().max(ROPE_START).min(self.config.context_length.max(needed));
            let (cos, sin) = rope_tables(&self.config, positions, &self.device)?;
            *r = Rope { cos: cos.to_dtype(self.dtype)?, sin: sin.to_dtype(self.dtype)?, positions };
        }
        Ok((r.cos.narrow(0, offset, t)?, r.sin.narrow(0, offset, t)?))
    }

    /// The distinct single-token kernels of the linear layers, e.g. "q4_1+q8_0".
    pub fn decode_kernels(&self) -> String {
        let mut kinds: Vec<String> = self
            .layers
            .iter()
            .flat_map(|l| [&l.q, &l.k, &l.v, &l.o, &l.gate, &l.up, &l.down])
            .chain([&self.lm_head])
            .map(Linear::decode_kernel)
            .collect();
        kinds.sort();
        kinds.dedup();
        kinds.join("+")
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    pub fn new_cache(&self) -> KvCache {
        KvCache::new(self.layers.len(), self.config.context_length)
    }

    /// Runs `tokens` after what the cache holds; returns hidden states after the final norm,
    /// shape (t, hidden), and appends the tokens to the cache.
    pub fn forward_hidden(&self, tokens: &[u32], cache: &mut KvCache) -> Result<Tensor> {
        self.forward_hidden_with(tokens, cache, false)
    }

    /// `forward_hidden` on the dense weights even for a single token, so scores do not depend
    /// on how a sequence was split into calls (the decode kernel rounds activations to 8 bits).
    pub fn forward_hidden_exact(&self, tokens: &[u32], cache: &mut KvCache) -> Result<Tensor> {
        self.forward_hidden_with(tokens, cache, true)
    }

    /// Token ids come from outside too (a server's, a stored replay): one past the vocabulary is
    /// an error, never an index past the embedding.
    pub fn check_ids(&self, tokens: &[u32]) -> Result<()> {
        if let Some(bad) = tokens.iter().find(|&&id| id as usize >= self.config.vocab_size) {
            bail!("token id {bad} is outside the model's vocabulary of {} tokens", self.config.vocab_size);
        }
        Ok(())
    }

    fn forward_hidden_with(&self, tokens: &[u32], cache: &mut KvCache, exact: bool) -> Result<Tensor> {
        let t = tokens.len();
        if t == 0 {
            bail!("forward needs at least one token");
        }
        self.check_ids(tokens)?;
        let offset = cache.len();
        if offset + t > self.config.context_length {
            bail!(
                "sequence of {} tokens exceeds the model context of {} tokens",
                offset + t,
                self.config.context_length
            );
        }
        let ids = Tensor::new(tokens, &self.device)?;
        let (cos, sin) = self.rope_rows(offset, t)?;
        let whole = [Segment { start: 0, len: t, mask: causal_mask(t, offset, &self.device)?, cache: Some(0) }];
        let hidden = self.layers_forward(&ids, (&cos, &sin), &whole, &mut [&mut *cache], exact, &mut Taps::none())?;
        cache.advance(t);
        Ok(hidden)
    }

    /// Several sequences in one pass, each continuing its own cache: `tokens[i]` after what
    /// `caches[i]` holds. One matrix product per linear layer serves every row (the weights
    /// are read once for all of them), attention runs per sequence over its own cache. Each
    /// token's numbers are those of `forward_hidden` on its sequence alone (the block kernels
    /// sum in the same order whatever the batch). Returns hidden states (total tokens, hidden),
    /// the sequences one after another, and appends every sequence to its cache.
    pub fn forward_hidden_batch(&self, tokens: &[&[u32]], caches: &mut [&mut KvCache]) -> Result<Tensor> {
        if tokens.is_empty() || tokens.len() != caches.len() || tokens.iter().any(|t| t.is_empty()) {
            bail!("a batched forward needs one non-empty token list per cache");
        }
        let mut positions: Vec<u32> = Vec::new();
        let mut segments = Vec::with_capacity(tokens.len());
        for (i, (toks, cache)) in tokens.iter().zip(caches.iter()).enumerate() {
            self.check_ids(toks)?;
            let (offset, t) = (cache.len(), toks.len());
            if offset + t > self.config.context_length {
                bail!(
                    "sequence of {} tokens exceeds the model context of {} tokens",
                    offset + t,
                    self.config.context_length
                );
            }
            segments.push(Segment {
                start: positions.len(),
                len: t,
                mask: causal_mask(t, offset, &self.device)?,
                cache: Some(i),
            });
            positions.extend(offset as u32..(offset + t) as u32);
        }
        let longest = positions.iter().max().map_or(0, |&p| p as usize + 1);
        let (cos, sin) = self.rope_rows(0, longest)?;
        let at = Tensor::new(positions.as_slice(), &self.device)?;
        let (cos, sin) = (cos.index_select(&at, 0)?, sin.index_select(&at, 0)?);
        let ids: Vec<u32> = tokens.iter().flat_map(|t| t.iter().copied()).collect();
        let ids = Tensor::new(ids.as_slice(), &self.device)?;
        let hidden = self.layers_forward(&ids, (&cos, &sin), &segments, caches, false, &mut Taps::none())?;
        for (cache, toks) in caches.iter_mut().zip(tokens) {
            cache.advance(toks.len());
        }
        Ok(hidden)
    }

    /// Hidden states (after the final norm, f32) of several independent sequences in one pass:
    /// the sequences are packed into one row per token, so one matrix product per linear layer
    /// serves them all; attention runs per sequence (no work spent on pairs of tokens of
    /// different sequences). No cache is kept; returns (total tokens, hidden).
    pub fn forward_packed(&self, seqs: &[&[u32]]) -> Result<Tensor> {
        if seqs.is_empty() || seqs.iter().any(|s| s.is_empty()) {
            bail!("a packed forward needs non-empty sequences");
        }
        let longest = seqs.iter().map(|s| s.len()).max().unwrap_or(0);
        if longest > self.config.context_length {
            bail!("sequence of {longest} tokens exceeds the model context of {} tokens", self.config.context_length);
        }
        let ids: Vec<u32> = seqs.iter().flat_map(|s| s.iter().copied()).collect();
        self.check_ids(&ids)?;
        let positions: Vec<u32> = seqs.iter().flat_map(|s| 0..s.len() as u32).collect();
        let (cos, sin) = self.rope_rows(0, longest)?;
        let at = Tensor::new(positions.as_slice(), &self.device)?;
        let (cos, sin) = (cos.index_select(&at, 0)?, sin.index_select(&at, 0)?);
        let mut segments = Vec::with_capacity(seqs.len());
        let mut start = 0;
        for s in seqs {
            segments.push(Segment { start, len: s.len(), mask: causal_mask(s.len(), 0, &self.device)?, cache: None });
            start += s.len();
        }
        let ids = Tensor::new(ids.as_slice(), &self.device)?;
        self.layers_forward(&ids, (&cos, &sin), &segments, &mut [], true, &mut Taps::none())
    }

    /// The residual stream of one sequence after each layer in `layers` (1 = after the first
    /// layer; `num_layers` = after the last, before the final norm), f32 rows (len, hidden), in
    /// the order asked. One pass on the dense weights, no cache: what a probe reads.
    pub fn layer_states(&self, tokens: &[u32], layers: &[usize]) -> Result<Vec<Tensor>> {
        Ok(self.layer_states_and_hidden(tokens, layers)?.0)
    }

    /// `layer_states` and, from the same pass, the hidden states after the final norm (len,
    /// hidden), from which `logits_exact` gives every position's prediction.
    pub fn layer_states_and_hidden(&self, tokens: &[u32], layers: &[usize]) -> Result<(Vec<Tensor>, Tensor)> {
        if let Some(bad) = layers.iter().find(|&&l| l == 0 || l > self.layers.len()) {
            bail!("layer {bad} does not exist (the model has layers 1 to {})", self.layers.len());
        }
        if tokens.is_empty() || tokens.len() > self.config.context_length {
            bail!("a probe reads 1 to {} tokens, not {}", self.config.context_length, tokens.len());
        }
        self.check_ids(tokens)?;
        let (cos, sin) = self.rope_rows(0, tokens.len())?;
        let whole =
            [Segment { start: 0, len: tokens.len(), mask: causal_mask(tokens.len(), 0, &self.device)?, cache: None }];
        let ids = Tensor::new(tokens, &self.device)?;
        let mut taps = Taps { at: layers.to_vec(), got: Vec::new() };
        let hidden = self.layers_forward(&ids, (&cos, &sin), &whole, &mut [], true, &mut taps)?;
        let mut out = Vec::with_capacity(layers.len());
        for l in layers {
            let (_, t) = taps.got.iter().find(|(k, _)| k == l).expect("every asked layer is tapped");
            out.push(t.clone());
        }
        Ok((out, hidden))
    }

    /// Embedding, every layer and the final norm. The rows are the `segments`, independent
    /// sequences; attention stays inside each. A segment with a cache appends its keys and
    /// values to it (the caller advances it); without one, attention sees only its own rows.
    fn layers_forward(
        &self,
        ids: &Tensor,
        rope: (&Tensor, &Tensor),
        segments: &[Segment],
        caches: &mut [&mut KvCache],
        exact: bool,
        taps: &mut Taps,
    ) -> Result<Tensor> {
        let lin = |l: &Linear, x: &Tensor| if exact { l.forward_exact(x) } else { l.forward(x) };
        let mut x = self.embed.lookup(ids)?.to_dtype(self.dtype)?;
        for (i, layer) in self.layers.iter().enumerate() {
            let h = self.rms_norm(&x, &layer.attn_norm)?;
            let a = self.attention(layer, i, &h, rope, segments, caches, exact)?;
            x = (x + a)?;
            let h = self.rms_norm(&x, &layer.ffn_norm)?;
            let [gate, up] = forward_group([&layer.gate, &layer.up], &h, exact)?;
            let m = lin(&layer.down, &(candle_nn::ops::silu(&gate)? * up)?)?;
            x = (x + m)?;
            if taps.at.contains(&(i + 1)) {
                taps.got.push((i + 1, x.to_dtype(DType::F32)?));
            }
        }
        Ok(self.rms_norm(&x, &self.norm)?.to_dtype(DType::F32)?)
    }

    /// RMSNorm over the last dimension. In f32 one kernel; in half precision the way
    /// transformers computes it (normalise in f32, round, then scale by the weight), so that
    /// bf16 scores stay as close as they can to a bf16 reference.
    fn rms_norm(&self, x: &Tensor, weight: &Tensor) -> Result<Tensor> {
        let eps = self.config.rms_eps;
        if self.dtype == DType::F32 {
            return Ok(candle_nn::ops::rms_norm(x, weight, eps as f32)?);
        }
        let x32 = x.to_dtype(DType::F32)?;
        let r = (x32.sqr()?.mean_keepdim(D::Minus1)? + eps)?.sqrt()?.recip()?;
        Ok(x32.broadcast_mul(&r)?.to_dtype(self.dtype)?.broadcast_mul(weight)?)
    }

    /// Logits (t, vocab), f32, from hidden states (t, hidden).
    pub fn logits(&self, hidden: &Tensor) -> Result<Tensor> {
        Ok(self.lm_head.forward(&hidden.to_dtype(self.dtype)?)?.to_dtype(DType::F32)?)
    }

    /// Logits from hidden states on the dense LM head when there is one, also for one row.
    pub fn logits_exact(&self, hidden: &Tensor) -> Result<Tensor> {
        Ok(self.lm_head.forward_exact(&hidden.to_dtype(self.dtype)?)?.to_dtype(DType::F32)?)
    }

    /// Logits for every position of `tokens` (teacher forcing), continuing the cache.
    pub fn forward(&self, tokens: &[u32], cache: &mut KvCache) -> Result<Tensor> {
        let h = self.forward_hidden(tokens, cache)?;
        self.logits(&h)
    }

    #[allow(clippy::too_many_arguments)]
    fn attention(
        &self,
        layer: &Layer,
        index: usize,
        h: &Tensor,
        (cos, sin): (&Tensor, &Tensor),
        segments: &[Segment],
        caches: &mut [&mut KvCache],
        exact: bool,
    ) -> Result<Tensor> {
        let lin = |l: &Linear, x: &Tensor| if exact { l.forward_exact(x) } else { l.forward(x) };
        let c = &self.config;
        let t = h.dim(0)?;
        let [q, k, v] = forward_group([&layer.q, &layer.k, &layer.v], h, exact)?;
        let project = |y: Tensor, b: &Option<Tensor>, heads: usize, norm: &Option<Tensor>| -> Result<Tensor> {
            let mut y = y;
            if let Some(b) = b {
                y = y.broadcast_add(b)?;
            }
            let mut y = y.reshape((t, heads, c.head_dim))?;
            if let Some(n) = norm {
                y = candle_nn::ops::rms_norm(&y.contiguous()?, n, c.rms_eps as f32)?;
            }
            Ok(y.transpose(0, 1)?.contiguous()?.unsqueeze(0)?)
        };
        let q = project(q, &layer.q_bias, c.num_heads, &layer.q_norm)?;
        let k = project(k, &layer.k_bias, c.num_kv_heads, &layer.k_norm)?;
        let v = project(v, &layer.v_bias, c.num_kv_heads, &None)?;
        let (q, k) = match c.rope_style {
            RopeStyle::Interleaved => {
                (candle_nn::rotary_emb::rope_i(&q, cos, sin)?, candle_nn::rotary_emb::rope_i(&k, cos, sin)?)
            }
            RopeStyle::Halves => {
                (candle_nn::rotary_emb::rope(&q, cos, sin)?, candle_nn::rotary_emb::rope(&k, cos, sin)?)
            }
        };
        let (q, k, v) = (q.squeeze(0)?, k.squeeze(0)?, v.squeeze(0)?);
        let mut parts = Vec::with_capacity(segments.len());
        for s in segments {
            let whole = segments.len() == 1;
            let part = |x: &Tensor| if whole { Ok(x.clone()) } else { x.narrow(1, s.start, s.len) };
            let (k, v) = (part(&k)?, part(&v)?);
            let (k_all, v_all) = match s.cache {
                Some(c) => caches[c].append(index, &k, &v)?,
                None => (k, v),
            };
            parts.push(self.attend(&part(&q)?, k_all, v_all, s.mask.as_ref())?);
        }
        let out = if parts.len() == 1 { parts.remove(0) } else { Tensor::cat(&parts, 0)? };
        Ok(lin(&layer.o, &out)?)
    }

    /// Attention of queries (heads, t, head_dim) over keys and values (kv_heads, total,
    /// head_dim), the mask (t, total) added to the scores; returns (t, heads · head_dim).
    fn attend(&self, q: &Tensor, k_all: Tensor, v_all: Tensor, mask: Option<&Tensor>) -> Result<Tensor> {
        let c = &self.config;
        let t = q.dim(1)?;
        // cuBLAS wants plain strides; on the CPU the views are read in place (decode speed).
        let (k_all, v_all) =
            if self.device.is_cpu() { (k_all, v_all) } else { (k_all.contiguous()?, v_all.contiguous()?) };
        let total = k_all.dim(1)?;
        // Grouped-query attention without copying K/V: the query heads sharing a KV head are
        // stacked along the rows of one matmul.
        let rep = c.num_heads / c.num_kv_heads;
        let q = q.contiguous()?.reshape((c.num_kv_heads, rep * t, c.head_dim))?;
        let scale = 1.0 / (c.head_dim as f64).sqrt();
        // Scores and softmax in f32 whatever the model's dtype, as fused attention kernels keep
        // them: scores rounded to bf16 would move the attention weights by percents.
        let (q, k_all) = (q.to_dtype(DType::F32)?, k_all.to_dtype(DType::F32)?);
        let scores = (q.matmul(&k_all.t()?)? * scale)?;
        let scores = match mask {
            Some(m) => scores.reshape((c.num_kv_heads, rep, t, total))?.broadcast_add(m)?.reshape((
                c.num_kv_heads,
                rep * t,
                total,
            ))?,
            None => scores,
        };
        let probs = candle_nn::ops::softmax_last_dim(&scores)?;
        let out = probs.matmul(&v_all.to_dtype(DType::F32)?.contiguous()?)?.to_dtype(self.dtype)?; // (kv, rep*t, hd)
        Ok(out.reshape((c.num_heads, t, c.head_dim))?.transpose(0, 1)?.reshape((t, c.num_heads * c.head_dim))?)
    }
}

fn linear(w: Weight, mode: WeightMode, device: &Device, dtype: DType) -> Result<Linear> {
    let q = match w {
        Weight::Quant(q) => q,
        dense => {
            let t = dense.dense(device, dtype)?;
            return Ok(Linear { dense: Some(QMatMul::Tensor(t)), quant: None, blocks: None });
        }
    };
    use candle_core::quantized::GgmlDType;
    let float = matches!(q.dtype(), GgmlDType::F32 | GgmlDType::F16 | GgmlDType::BF16);
    let dense = |q: &QTensor| -> Result<QMatMul> { Ok(QMatMul::Tensor(q.dequantize(device)?)) };
    // Our kernels read the blocks directly; they run on the CPU only.
    let blocks = |q: &QTensor| -> Result<Option<Arc<QuantMatrix>>> {
        if device.is_cpu() {
            Ok(QuantMatrix::from_qtensor(q)?.map(Arc::new))
        } else {
            Ok(None)
        }
    };
    Ok(match mode {
        _ if float => Linear { dense: Some(dense(&q)?), quant: None, blocks: None },
        WeightMode::Dense => Linear { dense: Some(dense(&q)?), quant: None, blocks: None },
        WeightMode::Quantized => {
            // Ours when they read the type (one copy of the blocks), candle's otherwise.
            match blocks(&q)? {
                Some(b) => Linear { dense: None, quant: None, blocks: Some(b) },
                None => Linear { dense: None, quant: Some(QMatMul::QTensor(Arc::new(q))), blocks: None },
            }
        }
        WeightMode::Mixed => {
            let d = q.dequantize(device)?;
            if let Some(b) = blocks(&q)? {
                return Ok(Linear { dense: Some(QMatMul::Tensor(d)), quant: None, blocks: Some(b) });
            }
            // Types neither kernel set reads fast are re-quantized to Q8_0.
            let fast = matches!(q.dtype(), GgmlDType::Q8_0 | GgmlDType::Q4K | GgmlDType::Q6K);
            let blocks_fit = d.dim(1)? % 32 == 0;
            let quant = if fast {
                q
            } else if blocks_fit {
                QTensor::quantize(&d, GgmlDType::Q8_0)?
            } else {
                return Ok(Linear { dense: Some(QMatMul::Tensor(d)), quant: None, blocks: None });
            };
            match blocks(&quant)? {
                Some(b) => Linear { dense: Some(QMatMul::Tensor(d)), quant: None, blocks: Some(b) },
                None => Linear {
                    dense: Some(QMatMul::Tensor(d)),
                    quant: Some(QMatMul::QTensor(Arc::new(quant))),
                    blocks: None,
                },
            }
        }
    })
}

/// cos/sin tables (positions, head_dim/2) computed in f32 (f64 angles).
fn rope_tables(c: &Config, positions: usize, device: &Device) -> Result<(Tensor, Tensor)> {
    let half = c.head_dim / 2;
    let mut cos = Vec::with_capacity(positions * half);
    let mut sin = Vec::with_capacity(positions * half);
    for pos in 0..positions {
        for i in 0..half {
            let freq = 1.0 / c.rope_theta.powf(2.0 * i as f64 / c.head_dim as f64);
            let angle = pos as f64 * freq;
            cos.push(angle.cos() as f32);
            sin.push(angle.sin() as f32);
        }
    }
    Ok((Tensor::from_vec(cos, (positions, half), device)?, Tensor::from_vec(sin, (positions, half), device)?))
}

/// Additive mask (t, offset + t): position i sees cached positions and itself, not later ones.
fn causal_mask(t: usize, offset: usize, device: &Device) -> Result<Option<Tensor>> {
    if t == 1 {
        return Ok(None);
    }
    let total = offset + t;
    let data: Vec<f32> =
        (0..t).flat_map(|i| (0..total).map(move |j| if j > offset + i { f32::NEG_INFINITY } else { 0.0 })).collect();
    Ok(Some(Tensor::from_vec(data, (t, total), device)?))
}

/// Reads `model.safetensors` or every shard named in `model.safetensors.index.json`.
fn load_safetensors(dir: &Path, device: &Device) -> Result<HashMap<String, Tensor>> {
    let index = dir.join("model.safetensors.index.json");
    let files: Vec<std::path::PathBuf> = if index.exists() {
        let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&index)?)
            .with_context(|| format!("{}: invalid JSON", index.display()))?;
        let mut names: Vec<String> = v
            .get("weight_map")
            .and_then(|m| m.as_object())
            .ok_or_else(|| anyhow!("{}: no weight_map", index.display()))?
            .values()
            .filter_map(|f| f.as_str().map(str::to_string))
            .collect();
        names.sort();
        names.dedup();
        names.into_iter().map(|n| dir.join(n)).collect()
    } else {
        let single = dir.join("model.safetensors");
        if !single.exists() {
            bail!("{}: no model.safetensors or model.safetensors.index.json", dir.display());
        }
        vec![single]
    };
    let mut all = HashMap::new();
    for f in files {
        let part = candle_core::safetensors::load(&f, device).with_context(|| format!("reading {}", f.display()))?;
        all.extend(part);
    }
    Ok(all)
}

/// Log-softmax over the last dimension in f32.
pub fn log_softmax(logits: &Tensor) -> Result<Tensor> {
    Ok(candle_nn::ops::log_softmax(&logits.to_dtype(DType::F32)?, D::Minus1)?)
}
