//! The candle runtime: loading (GGUF, HF folder), tokenizer, our forward, KV cache, sampling,
//! scoring and generation.

pub mod bounded;
pub mod cache;
pub mod chat;
pub mod config;
pub mod fetch;
pub mod forward;
pub mod generate;
pub mod guard;
pub mod lm;
pub mod matvec;
pub mod reference;
pub mod remote;
pub mod sample;
pub mod score;
pub mod tokenizer;

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use candle_core::quantized::gguf_file;
use candle_core::{DType, Device};
use tokenizers::Tokenizer;

pub use cache::KvCache;
pub use chat::{ChatTemplate, Message};
pub use config::{Arch, Config};
pub use forward::{Transformer, WeightMode};
pub use lm::{GenJob, HiddenStates, LanguageModel, Prefix};
pub use score::Surprise;

/// Which device runs the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceChoice {
    /// A GPU when built with `--features cuda` and one is present, else the CPU.
    #[default]
    Auto,
    Cpu,
    Cuda(usize),
}

impl DeviceChoice {
    pub fn parse(s: &str) -> Result<DeviceChoice, String> {
        match s {
            "auto" => Ok(DeviceChoice::Auto),
            "cpu" => Ok(DeviceChoice::Cpu),
            "cuda" => Ok(DeviceChoice::Cuda(0)),
            other => match other.strip_prefix("cuda:").map(str::parse) {
                Some(Ok(n)) => Ok(DeviceChoice::Cuda(n)),
                _ => Err(format!("unknown device '{other}' (expected auto, cpu or cuda:N)")),
            },
        }
    }

    pub fn device(self) -> Result<Device> {
        match self {
            DeviceChoice::Cpu => Ok(Device::Cpu),
            DeviceChoice::Auto => Ok(Device::new_cuda(0).unwrap_or(Device::Cpu)),
            DeviceChoice::Cuda(n) => Device::new_cuda(n).map_err(|e| {
                // candle appends a backtrace to driver errors: the first line is the message.
                let e = e.to_string();
                let first = e.lines().next().unwrap_or_default();
                if candle_core::utils::cuda_is_available() {
                    anyhow!("cannot use cuda:{n}: {first} (is there an NVIDIA GPU and driver on this machine?)")
                } else {
                    anyhow!("cannot use cuda:{n}: this build has no CUDA support (build with `--features cuda`, or scripts/build-cuda.sh)")
                }
            }),
        }
    }
}

/// The dtype of an HF model's weights and activations (GGUF models run f32 activations on their
/// own weights whatever this says).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Precision {
    /// bf16 on a GPU, f32 on the CPU (which has no fast bf16 matrix product).
    #[default]
    Auto,
    F32,
    Bf16,
    F16,
}

impl Precision {
    pub fn parse(s: &str) -> Result<Precision, String> {
        match s {
            "auto" => Ok(Precision::Auto),
            "f32" => Ok(Precision::F32),
            "bf16" => Ok(Precision::Bf16),
            "f16" => Ok(Precision::F16),
            other => Err(format!("unknown dtype '{other}' (expected auto, f32, bf16 or f16)")),
        }
    }

    pub fn dtype(self, device: &Device) -> DType {
        match self {
            Precision::Auto if device.is_cpu() => DType::F32,
            Precision::Auto | Precision::Bf16 => DType::BF16,
            Precision::F32 => DType::F32,
            Precision::F16 => DType::F16,
        }
    }
}

pub fn device_name(d: &Device) -> String {
    match d {
        Device::Cpu => "cpu".into(),
        Device::Cuda(_) => "cuda".into(),
        Device::Metal(_) => "metal".into(),
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LoadOptions {
    pub device: DeviceChoice,
    /// `None`: dense f32 when that fits comfortably, else quantized.
    pub weights: Option<WeightMode>,
    /// HF folders: the dtype of weights and activations.
    pub dtype: Precision,
}

/// A loaded model with everything needed to tokenize, score and generate.
/// Its parts stay inside `src/model/`: the rest of stepscope goes through [`LanguageModel`],
/// [`HiddenStates`] and the describing methods below.
pub struct Model {
    pub name: String,
    pub path: PathBuf,
    pub(in crate::model) transformer: Transformer,
    pub(in crate::model) tokenizer: Tokenizer,
    pub(in crate::model) chat: ChatTemplate,
    pub(in crate::model) eos_ids: Vec<u32>,
    pub(in crate::model) bos_id: Option<u32>,
    /// Whether the model expects a BOS token at the start of a sequence.
    pub(in crate::model) add_bos: bool,
    pub(in crate::model) weights: WeightMode,
}

/// Turns a model spec (a short name, a GGUF path or an HF folder) into a path, fetching known
/// models on first use.
pub fn resolve(spec: &str, progress: &mut dyn FnMut(&str)) -> Result<(String, PathBuf)> {
    if let Some(m) = fetch::known(spec) {
        return Ok((m.name.to_string(), fetch::ensure(m, progress)?));
    }
    let path = PathBuf::from(spec);
    if !path.exists() {
        let names: Vec<&str> = fetch::KNOWN.iter().map(|m| m.name).collect();
        bail!("model '{spec}' is neither a file, a folder, nor a known name ({})", names.join(", "));
    }
    check_regular_files(&path)?;
    // A folder's name is its whole name ("qwen1.5b"); a file's drops the extension.
    let name = if path.is_dir() { path.file_name() } else { path.file_stem() };
    let name = name.map_or_else(|| spec.to_string(), |s| s.to_string_lossy().into_owned());
    Ok((name, path))
}

/// A model file, or the files of a model folder that are read, must be regular files: opening a
/// FIFO blocks for ever, and a device has no end.
fn check_regular_files(path: &Path) -> Result<()> {
    let read = |p: &Path| {
        let n = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        n.ends_with(".json") || n.ends_with(".safetensors") || n.ends_with(".gguf")
    };
    let files: Vec<PathBuf> = if path.is_dir() {
        let entries = std::fs::read_dir(path).with_context(|| format!("{}: cannot read the folder", path.display()))?;
        entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| read(p)).collect()
    } else {
        vec![path.to_path_buf()]
    };
    for f in files {
        // `metadata` follows links: a link to a regular file is fine.
        let meta = std::fs::metadata(&f).with_context(|| format!("{}: cannot read", f.display()))?;
        if !meta.is_file() {
            bail!("{}: not a regular file (a model is read from a file, not a FIFO or a device)", f.display());
        }
    }
    Ok(())
}

/// Unless RAYON_NUM_THREADS is set, candle reads the CPU topology from /proc for its thread count
/// on every matrix product (a few percent of a small model's decode step). Setting it once to
/// what candle would pick keeps the count and drops the reads. Call before any thread starts.
pub fn fix_thread_count() {
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        let n = candle_core::utils::get_num_threads();
        std::env::set_var("RAYON_NUM_THREADS", n.to_string());
    }
}

/// glibc hands large allocations (from 128 KiB, its threshold adapting up to 32 MiB) to mmap and
/// returns them on free, so every activation tensor of a long prompt comes back as fresh pages,
/// each zeroed by the kernel on its first touch: page faults were a tenth of a 512-token
/// prefill. Keeping them in the heap and not trimming it lets them be reused (measured: prefill
/// about 1.15× faster; peak memory is what it was). Call once, before the model loads.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; it is called before other threads start.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 30);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
    }
}

/// Loads a model from a spec string.
pub fn load(spec: &str, opts: LoadOptions, progress: &mut dyn FnMut(&str)) -> Result<Model> {
    let (name, path) = resolve(spec, progress)?;
    let device = opts.device.device()?;
    progress(&format!("loading {} on {}", path.display(), device_name(&device)));
    if path.is_dir() {
        load_hf_dir(name, &path, &device, opts.dtype.dtype(&device))
    } else {
        load_gguf(name, &path, &device, opts.weights)
    }
}

fn load_gguf(name: String, path: &Path, device: &Device, weights: Option<WeightMode>) -> Result<Model> {
    let mut f = std::fs::File::open(path).with_context(|| format!("{}: cannot open", path.display()))?;
    let ct = read_gguf_header(&mut f).map_err(|e| anyhow!("{}: not a valid GGUF file: {e}", path.display()))?;
    check_gguf_complete(&ct, path)?;
    let config = Config::from_gguf(&ct).map_err(|e| anyhow!("{}: {e}", path.display()))?;
    forward::check_gguf_tensors(&config, &ct).map_err(|e| anyhow!("{}: {e}", path.display()))?;
    let file_bytes = std::fs::metadata(path)?.len();
    let dense_bytes = (config.approx_params() as u64).saturating_mul(4);
    // On the CPU our kernels read the file's blocks for prefill and decode alike, at about the
    // speed of dense f32 and a fifth of its memory. On a GPU small models get dense weights for
    // batches plus candle's quantized kernels for decode; large ones stay quantized.
    let small = dense_bytes < (3u64 << 30) && dense_bytes * 3 < available_memory();
    let mode = weights.unwrap_or(if device.is_cpu() || !small { WeightMode::Quantized } else { WeightMode::Mixed });
    let embed_bytes = config.vocab_size as u64 * config.hidden_size as u64 * 4;
    let needed = match mode {
        WeightMode::Dense => dense_bytes,
        WeightMode::Mixed => dense_bytes + dense_bytes / 3,
        // The blocks (repacked at about the same size), and a dense embedding where a type
        // our kernels do not read leaves one.
        WeightMode::Quantized => file_bytes + embed_bytes,
    };
    check_memory(needed, path)?;
    let tokenizer = tokenizer::from_gguf(&ct).map_err(|e| anyhow!("{}: {e}", path.display()))?;
    let transformer =
        Transformer::from_gguf(&ct, &mut f, device, mode).with_context(|| format!("{}", path.display()))?;
    let md = |k: &str| ct.metadata.get(k);
    let id = |k: &str| md(k).and_then(|v| v.to_u32().ok());
    let text = |k: &str| md(k).and_then(|v| v.to_string().ok()).cloned();
    let bos_id = id("tokenizer.ggml.bos_token_id");
    let eos_id = id("tokenizer.ggml.eos_token_id");
    let token_text = |id: Option<u32>| id.and_then(|i| tokenizer.id_to_token(i)).unwrap_or_default();
    let chat =
        ChatTemplate { source: text("tokenizer.chat_template"), bos: token_text(bos_id), eos: token_text(eos_id) };
    let add_bos = md("tokenizer.ggml.add_bos_token").and_then(|v| v.to_bool().ok()).unwrap_or(false);
    let eos_ids = end_tokens(&tokenizer, eos_id);
    Ok(Model { name, path: path.to_path_buf(), transformer, tokenizer, chat, eos_ids, bos_id, add_bos, weights: mode })
}

/// Writes a GGUF model's tokenizer as an HF folder's `tokenizer.json` and
/// `tokenizer_config.json` (chat template, BOS/EOS), with `special` tokens added (e.g. a PRM's
/// step separator). Returns the vocabulary size written.
pub fn export_tokenizer(spec: &str, out: &Path, special: &[String], progress: &mut dyn FnMut(&str)) -> Result<usize> {
    let (_, path) = resolve(spec, progress)?;
    if path.is_dir() {
        bail!("{}: an HF folder already has its tokenizer.json; give a GGUF file or a known model", path.display());
    }
    let mut f = std::fs::File::open(&path).with_context(|| format!("{}: cannot open", path.display()))?;
    let ct = read_gguf_header(&mut f).map_err(|e| anyhow!("{}: not a valid GGUF file: {e}", path.display()))?;
    let mut tok = tokenizer::from_gguf(&ct).map_err(|e| anyhow!("{}: {e}", path.display()))?;
    let added: Vec<tokenizers::AddedToken> =
        special.iter().map(|s| tokenizers::AddedToken::from(s.clone(), true)).collect();
    tok.add_special_tokens(added).map_err(|e| anyhow!("adding special tokens: {e}"))?;
    std::fs::create_dir_all(out).with_context(|| format!("{}: cannot create", out.display()))?;
    let tok_path = out.join("tokenizer.json");
    tok.save(&tok_path, false).map_err(|e| anyhow!("{}: {e}", tok_path.display()))?;
    let md = |k: &str| ct.metadata.get(k);
    let token = |k: &str| md(k).and_then(|v| v.to_u32().ok()).and_then(|i| tok.id_to_token(i));
    let mut config = serde_json::json!({
        "add_bos_token": md("tokenizer.ggml.add_bos_token").and_then(|v| v.to_bool().ok()).unwrap_or(false),
        "bos_token": token("tokenizer.ggml.bos_token_id"),
        "eos_token": token("tokenizer.ggml.eos_token_id"),
        "model_max_length": 32768,
    });
    if let Some(t) = md("tokenizer.chat_template").and_then(|v| v.to_string().ok()) {
        config["chat_template"] = serde_json::Value::String(t.clone());
    }
    let cfg_path = out.join("tokenizer_config.json");
    std::fs::write(&cfg_path, serde_json::to_string_pretty(&config)?)
        .with_context(|| format!("{}: cannot write", cfg_path.display()))?;
    Ok(tok.get_vocab_size(true))
}

fn load_hf_dir(name: String, dir: &Path, device: &Device, dtype: DType) -> Result<Model> {
    Ok(load_hf_dir_with_rest(name, dir, device, dtype)?.0)
}

/// Loads an HF folder, also returning the tensors the transformer did not use (reward heads).
pub fn load_hf_dir_with_rest(
    name: String,
    dir: &Path,
    device: &Device,
    dtype: DType,
) -> Result<(Model, std::collections::HashMap<String, candle_core::Tensor>)> {
    let cfg_path = dir.join("config.json");
    let cfg_text = std::fs::read_to_string(&cfg_path)
        .with_context(|| format!("{}: no config.json in the model folder", dir.display()))?;
    let cfg: serde_json::Value =
        serde_json::from_str(&cfg_text).map_err(|e| anyhow!("{}: invalid JSON: {e}", cfg_path.display()))?;
    let config = Config::from_hf_json(&cfg).map_err(|e| anyhow!("{}: {e}", dir.display()))?;
    if device.is_cpu() {
        check_memory((config.approx_params() as u64).saturating_mul(dtype.size_in_bytes() as u64), dir)?;
    }
    let tokenizer = tokenizer::from_dir(dir)?;
    let (transformer, rest) = Transformer::from_hf_dir_with_rest(dir, device, dtype)?;
    let tc: serde_json::Value = std::fs::read_to_string(dir.join("tokenizer_config.json"))
        .ok()
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or_default();
    let special = |k: &str| -> Option<String> {
        match tc.get(k)? {
            serde_json::Value::String(s) => Some(s.clone()),
            v => v.get("content").and_then(|c| c.as_str()).map(str::to_string),
        }
    };
    let bos = special("bos_token");
    let eos = special("eos_token");
    let bos_id = bos.as_deref().and_then(|b| tokenizer.token_to_id(b));
    let eos_id = eos
        .as_deref()
        .and_then(|e| tokenizer.token_to_id(e))
        .or_else(|| cfg.get("eos_token_id").and_then(|v| v.as_u64()).map(|v| v as u32));
    let chat = ChatTemplate {
        source: tc.get("chat_template").and_then(|v| v.as_str()).map(str::to_string),
        bos: bos.unwrap_or_default(),
        eos: eos.unwrap_or_default(),
    };
    let add_bos = tc.get("add_bos_token").and_then(|v| v.as_bool()).unwrap_or(false);
    let eos_ids = end_tokens(&tokenizer, eos_id);
    let model = Model {
        name,
        path: dir.to_path_buf(),
        transformer,
        tokenizer,
        chat,
        eos_ids,
        bos_id,
        add_bos,
        weights: WeightMode::Dense,
    };
    Ok((model, rest))
}

/// The EOS id plus the usual end-of-turn tokens the vocabulary has.
fn end_tokens(tok: &Tokenizer, eos: Option<u32>) -> Vec<u32> {
    let mut ids: Vec<u32> = eos.into_iter().collect();
    for t in ["<|im_end|>", "<|endoftext|>", "<|eot_id|>", "</s>"] {
        if let Some(id) = tok.token_to_id(t) {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
    }
    ids
}

/// Reads a GGUF header (metadata and tensor table). candle's parser checks lengths against the
/// file, but can still panic on some values (an alignment of 0): that is an error here too.
pub fn read_gguf_header<R: std::io::Read + std::io::Seek>(reader: &mut R) -> Result<gguf_file::Content> {
    match guard::catching(|| gguf_file::Content::read(reader)) {
        Ok(Ok(content)) => Ok(content),
        // candle appends a backtrace to its error text when RUST_BACKTRACE is set: the user
        // gets the reason, not 20 lines of frames.
        Ok(Err(e)) => bail!("{}", without_backtrace(&e)),
        Err(panic) => bail!("the GGUF parser failed ({panic})"),
    }
}

/// A candle error's own words, without the backtrace candle adds under RUST_BACKTRACE.
pub fn without_backtrace(e: &candle_core::Error) -> String {
    let mut e = e;
    while let candle_core::Error::WithBacktrace { inner, .. } = e {
        e = inner;
    }
    e.to_string()
}

/// A truncated GGUF has complete metadata but tensors that end past the end of the file.
fn check_gguf_complete(ct: &gguf_file::Content, path: &Path) -> Result<()> {
    let len = std::fs::metadata(path)?.len();
    for (name, info) in &ct.tensor_infos {
        let elems = info.shape.elem_count() as u64;
        let bytes = elems / info.ggml_dtype.block_size() as u64 * info.ggml_dtype.type_size() as u64;
        let end = ct.tensor_data_offset + info.offset + bytes;
        if end > len {
            bail!("{}: truncated GGUF: tensor {name} ends at byte {end} but the file has {len} bytes", path.display());
        }
    }
    Ok(())
}

fn check_memory(needed: u64, path: &Path) -> Result<()> {
    let free = available_memory();
    if needed > free {
        bail!(
            "{}: the model needs about {:.1} GiB but only {:.1} GiB of memory is available",
            path.display(),
            needed as f64 / (1u64 << 30) as f64,
            free as f64 / (1u64 << 30) as f64
        );
    }
    Ok(())
}

/// `MemAvailable` from /proc/meminfo (or `STEPSCOPE_MEMORY_LIMIT` bytes, for tests).
pub fn available_memory() -> u64 {
    if let Some(v) = std::env::var("STEPSCOPE_MEMORY_LIMIT").ok().and_then(|v| v.parse().ok()) {
        return v;
    }
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemAvailable:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map_or(u64::MAX, |kib| kib * 1024)
}

impl Model {
    /// Token ids of plain text (no special tokens added).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        tokenizer::encode(&self.tokenizer, text)
    }

    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        tokenizer::decode(&self.tokenizer, ids)
    }

    /// Tokens of a chat prompt ready for the assistant's answer.
    pub fn chat_prompt(&self, messages: &[Message]) -> Result<Vec<u32>> {
        let text = self.chat.render(messages, true)?;
        Ok(self.with_bos(self.encode(&text)?))
    }

    pub fn new_cache(&self) -> KvCache {
        self.transformer.new_cache()
    }

    /// `ids` with the BOS token in front when the model wants one.
    pub fn with_bos(&self, mut ids: Vec<u32>) -> Vec<u32> {
        if let (true, Some(b)) = (self.add_bos, self.bos_id) {
            if ids.first() != Some(&b) {
                ids.insert(0, b);
            }
        }
        ids
    }

    /// The BOS token's text ("" when the model has none).
    pub fn bos_text(&self) -> &str {
        &self.chat.bos
    }

    pub fn weights(&self) -> WeightMode {
        self.weights
    }

    /// The dtype of the model's activations, e.g. "bf16".
    pub fn dtype_name(&self) -> String {
        format!("{:?}", self.transformer.dtype()).to_lowercase()
    }

    /// Hidden states (f32, after the final norm) of independent sequences in one packed pass,
    /// one tensor (len, hidden) per sequence.
    pub fn hidden_states_packed(&self, seqs: &[&[u32]]) -> Result<Vec<candle_core::Tensor>> {
        let all = self.transformer.forward_packed(seqs)?;
        let mut out = Vec::with_capacity(seqs.len());
        let mut start = 0;
        for s in seqs {
            out.push(all.narrow(0, start, s.len())?);
            start += s.len();
        }
        Ok(out)
    }

    pub fn vocab_size(&self) -> usize {
        self.transformer.config.vocab_size
    }

    pub fn num_layers(&self) -> usize {
        self.transformer.config.num_layers
    }

    /// The residual stream after each of `layers` (1-based) for `ids` read from the start: one
    /// pass, f32 rows (len, hidden) per layer (what a probe reads).
    pub fn layer_states(&self, ids: &[u32], layers: &[usize]) -> Result<Vec<candle_core::Tensor>> {
        self.transformer.layer_states(ids, layers)
    }

    /// "cpu", "cuda" or "metal".
    pub fn device_name(&self) -> String {
        device_name(self.transformer.device())
    }

    /// The architecture's name (llama, qwen2, …).
    pub fn arch_name(&self) -> &'static str {
        self.transformer.config.arch.name()
    }

    /// Prompt processing as `bench` times it: every token through the model, the LM head on the
    /// last row only.
    pub fn prompt_logits(&self, ids: &[u32]) -> Result<Vec<f32>> {
        let mut cache = self.new_cache();
        let h = self.transformer.forward_hidden(ids, &mut cache)?;
        let logits = self.transformer.logits(&h.narrow(0, ids.len() - 1, 1)?)?;
        Ok(logits.squeeze(0)?.to_vec1::<f32>()?)
    }

    /// One decode step as `bench` times it: feed `token`, return the greedy next one.
    pub fn greedy_step(&self, token: u32, prefix: &mut Prefix) -> Result<u32> {
        let logits = self.transformer.forward(&[token], prefix.cache()?)?;
        Ok(sample::argmax(&logits.squeeze(0)?.to_vec1::<f32>()?))
    }

    /// One batched decode step as `bench --batch` times it: feed `tokens[i]` to sequence i (all
    /// in one pass), return each sequence's greedy next token.
    pub fn greedy_steps(&self, tokens: &[u32], prefixes: &mut [Prefix]) -> Result<Vec<u32>> {
        let feeds: Vec<[u32; 1]> = tokens.iter().map(|&t| [t]).collect();
        let feeds: Vec<&[u32]> = feeds.iter().map(|f| f.as_slice()).collect();
        let mut caches = prefixes.iter_mut().map(|p| p.cache()).collect::<Result<Vec<_>>>()?;
        let h = self.transformer.forward_hidden_batch(&feeds, &mut caches)?;
        let logits = self.transformer.logits(&h)?.to_vec2::<f32>()?;
        Ok(logits.iter().map(|l| sample::argmax(l)).collect())
    }

    /// Which kernels decode uses (for `bench`).
    pub fn decode_kernels(&self) -> String {
        self.transformer.decode_kernels()
    }
}

/// FNV-1a's starting value; [`fnv1a`] continues a hash with more bytes.
pub const FNV_OFFSET: u64 = 0xcbf29ce484222325;

pub fn fnv1a(mut h: u64, bytes: &[u8]) -> u64 {
    for b in bytes {
        h ^= *b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

/// A cheap content fingerprint of a model file or folder: size plus FNV-1a of the first and last
/// MiB of each weight file (and config.json), as hex. Enough to tell model files apart in
/// provenance without reading gigabytes.
pub fn fingerprint(path: &Path) -> String {
    use std::io::{Read, Seek, SeekFrom};
    let mut files: Vec<PathBuf> = if path.is_dir() {
        let mut v: Vec<PathBuf> =
            std::fs::read_dir(path).map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect()).unwrap_or_default();
        v.retain(|p| {
            let n = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            n.ends_with(".safetensors") || n == "config.json"
        });
        v
    } else {
        vec![path.to_path_buf()]
    };
    files.sort();
    let mut h = FNV_OFFSET;
    let mut feed = |bytes: &[u8]| h = fnv1a(h, bytes);
    const EDGE: u64 = 1 << 20;
    for f in files {
        let Ok(mut file) = std::fs::File::open(&f) else { continue };
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        feed(&len.to_le_bytes());
        let mut buf = vec![0u8; EDGE.min(len) as usize];
        if file.read_exact(&mut buf).is_ok() {
            feed(&buf);
        }
        if len > 2 * EDGE && file.seek(SeekFrom::Start(len - EDGE)).is_ok() && file.read_exact(&mut buf).is_ok() {
            feed(&buf);
        }
    }
    format!("{h:016x}")
}
