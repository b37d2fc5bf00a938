//! Process reward models from HF folders (methods.md §2): the format is detected from
//! config.json, tensor names and the tokenizer, the input is built exactly as each model was
//! trained, and every step is scored from ONE forward pass over the whole solution.
//!
//! - Qwen2ForProcessRewardModel: ChatML with `<extra_0>` after each step; head
//!   Linear(h,h)·ReLU·Linear(h,2) at the separators; P(index 1).
//! - Skywork value head (`Qwen2ForPrmModel` / `v_head.summary.*`): BOS + problem + "\n", each step
//!   followed by the "\n" token; sigmoid(Linear(h,1)) at those tokens.
//! - TRL token classification (`*ForTokenClassification`, 2 labels): problem, then each step,
//!   each followed by the separator "\n"; P(LABEL_1) at the last token of each prefix (causal
//!   attention makes the prefix runs one pass).
//! - Math-Shepherd (causal LM with the `ки` tag): `question + " " + "Step k: … ки" lines`;
//!   P('+') over {'+','-'} from the LM logits at each tag.
//! - RLHFlow (causal LM, by flag or folder name): one user turn per step, each answered by `+`;
//!   P('+') over {'+','-'} at the position before each assistant answer.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use candle_core::{DType, Device, Tensor, D};

use super::{model_info, Ctx, ModelInfo, Options, Scored, StepScore, Verifier};
use crate::model::{load_hf_dir_with_rest, HiddenStates, LanguageModel, Message, Model};
use crate::trace::Trace;

/// The PRM input and head conventions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrmFormat {
    Qwen,
    Skywork,
    Trl,
    MathShepherd,
    RlhFlow,
}

impl PrmFormat {
    pub fn parse(s: &str) -> Result<PrmFormat> {
        Ok(match s {
            "qwen" => PrmFormat::Qwen,
            "skywork" => PrmFormat::Skywork,
            "trl" => PrmFormat::Trl,
            "math-shepherd" | "shepherd" => PrmFormat::MathShepherd,
            "rlhflow" => PrmFormat::RlhFlow,
            other => bail!("unknown PRM format '{other}' (expected qwen, skywork, trl, math-shepherd or rlhflow)"),
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            PrmFormat::Qwen => "qwen",
            PrmFormat::Skywork => "skywork",
            PrmFormat::Trl => "trl",
            PrmFormat::MathShepherd => "math-shepherd",
            PrmFormat::RlhFlow => "rlhflow",
        }
    }
}

pub const QWEN_SEPARATOR: &str = "<extra_0>";
pub const QWEN_SYSTEM: &str = "Please reason step by step, and put your final answer within \\boxed{}.";
pub const SHEPHERD_TAG: &str = "ки";

/// The reward head applied to hidden states (or the LM head for generative PRMs).
enum Head {
    /// Linear(h,h) → ReLU → Linear(h,2), P(index 1).
    Qwen { w1: Tensor, b1: Tensor, w2: Tensor, b2: Tensor },
    /// Linear(h,1) → sigmoid.
    Value { w: Tensor, b: Tensor },
    /// Linear(h,2) → softmax, P(index 1).
    TokenClass { w: Tensor, b: Option<Tensor> },
    /// LM logits of two candidate tokens → softmax, P(first).
    Candidates { plus: u32, minus: u32 },
}

pub struct PrmVerifier {
    model: Model,
    format: PrmFormat,
    head: Head,
    info: ModelInfo,
    path: PathBuf,
}

/// Token ids of an input plus the positions whose outputs score the steps (one per step).
pub struct PrmInput {
    pub ids: Vec<u32>,
    pub positions: Vec<usize>,
}

fn read_config(dir: &Path) -> Result<serde_json::Value> {
    let p = dir.join("config.json");
    let text = std::fs::read_to_string(&p).with_context(|| format!("{}: no config.json", dir.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{}: invalid JSON", p.display()))
}

/// Detects the format (methods.md §2.7); `forced` comes from `--prm-format`.
pub fn detect_format(
    dir: &Path,
    config: &serde_json::Value,
    rest: &HashMap<String, Tensor>,
    model: &Model,
    forced: Option<PrmFormat>,
) -> Result<PrmFormat> {
    if let Some(f) = forced {
        return Ok(f);
    }
    let arch = config.get("architectures").and_then(|a| a.get(0)).and_then(|a| a.as_str()).unwrap_or("");
    let labels = config
        .get("num_labels")
        .and_then(|n| n.as_u64())
        .or_else(|| config.get("id2label").and_then(|m| m.as_object()).map(|m| m.len() as u64));
    let has = |suffix: &str| rest.keys().any(|k| k.ends_with(suffix));
    let folder = dir.to_string_lossy().to_lowercase();
    let single_token = |t: &str| model.encode(t).map(|ids| ids.len() == 1).unwrap_or(false);
    Ok(match arch {
        "Qwen2ForProcessRewardModel" => PrmFormat::Qwen,
        "Qwen2ForPrmModel" => PrmFormat::Skywork,
        _ if has("v_head.summary.weight") => PrmFormat::Skywork,
        a if a.ends_with("ForTokenClassification") => {
            if labels.unwrap_or(2) != 2 {
                bail!("{}: {a} with {} labels is not a 2-label step classifier", dir.display(), labels.unwrap_or(0));
            }
            PrmFormat::Trl
        }
        "Qwen2ForRewardModel" => bail!(
            "{}: Qwen2ForRewardModel is an outcome reward model (one score per answer), and some \
             third-party PRMs reuse the class; pass --prm-format to say how to read it",
            dir.display()
        ),
        a if a.ends_with("ForCausalLM") && folder.contains("rlhflow") && folder.contains("prm") => PrmFormat::RlhFlow,
        a if a.ends_with("ForCausalLM") && single_token(SHEPHERD_TAG) => PrmFormat::MathShepherd,
        a => bail!(
            "{}: '{a}' is not a process reward model this build recognises (Qwen2ForProcessRewardModel, \
             Qwen2ForPrmModel / v_head, *ForTokenClassification, Math-Shepherd `ки`, RLHFlow by \
             --prm-format rlhflow); use it as judge:, critic: or rollout: instead",
            dir.display()
        ),
    })
}

fn take(rest: &mut HashMap<String, Tensor>, suffix: &str, dir: &Path) -> Result<Tensor> {
    let key = rest
        .keys()
        .filter(|k| k.ends_with(suffix))
        .min_by_key(|k| k.len())
        .cloned()
        .ok_or_else(|| anyhow!("{}: the reward head tensor `{suffix}` is missing", dir.display()))?;
    Ok(rest.remove(&key).expect("key exists").to_dtype(DType::F32)?)
}

/// A PRM is an HF model folder: the folder, or an error naming the spec.
pub fn check_folder(path: &str) -> Result<PathBuf> {
    let dir = PathBuf::from(path);
    if !dir.is_dir() {
        bail!("prm:{path}: a PRM is an HF model folder (config.json, *.safetensors, tokenizer.json); no such folder");
    }
    Ok(dir)
}

fn single_id(model: &Model, text: &str, what: &str) -> Result<u32> {
    let ids = model.encode(text)?;
    ids.last().copied().ok_or_else(|| anyhow!("the tokenizer has no token for {what} `{text}`"))
}

impl PrmVerifier {
    pub fn load(path: &str, opts: &Options) -> Result<PrmVerifier> {
        let dir = check_folder(path)?;
        let config = read_config(&dir)?;
        let device = opts.load.device.device()?;
        let name = dir.file_name().map_or_else(|| path.to_string(), |n| n.to_string_lossy().into_owned());
        let dtype = opts.load.dtype.dtype(&device);
        let (model, mut rest) = load_hf_dir_with_rest(name, &dir, &device, dtype)?;
        let forced = opts.prm_format.as_deref().map(PrmFormat::parse).transpose()?;
        let format = detect_format(&dir, &config, &rest, &model, forced)?;
        let head = match format {
            PrmFormat::Qwen => {
                let id = LanguageModel::token_id(&model, QWEN_SEPARATOR);
                if id.is_none() {
                    bail!("{}: the tokenizer lacks the step separator {QWEN_SEPARATOR}", dir.display());
                }
                Head::Qwen {
                    w1: take(&mut rest, "score.0.weight", &dir)?,
                    b1: take(&mut rest, "score.0.bias", &dir)?,
                    w2: take(&mut rest, "score.2.weight", &dir)?,
                    b2: take(&mut rest, "score.2.bias", &dir)?,
                }
            }
            PrmFormat::Skywork => Head::Value {
                w: take(&mut rest, "v_head.summary.weight", &dir)?,
                b: take(&mut rest, "v_head.summary.bias", &dir)?,
            },
            PrmFormat::Trl => Head::TokenClass {
                w: take(&mut rest, "score.weight", &dir)?,
                b: take(&mut rest, "score.bias", &dir).ok(),
            },
            PrmFormat::MathShepherd => {
                // The model card's `encode("+ -")[1:]`: the two tokens after BOS; a tokenizer that
                // gives the space its own token is read the same way.
                let pair: Vec<u32> = model
                    .encode("+ -")?
                    .into_iter()
                    .filter(|&id| model.decode(&[id]).is_ok_and(|t| !t.trim().is_empty()))
                    .collect();
                let [plus, minus] = pair[..] else {
                    bail!("{}: `+ -` does not tokenize to two tokens ({pair:?})", dir.display());
                };
                Head::Candidates { plus, minus }
            }
            PrmFormat::RlhFlow => Head::Candidates {
                plus: single_id(&model, "+", "the answer")?,
                minus: single_id(&model, "-", "the answer")?,
            },
        };
        let info = model_info(&model);
        Ok(PrmVerifier { model, format, head, info, path: dir })
    }

    pub fn format(&self) -> PrmFormat {
        self.format
    }

    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The token ids and scoring positions for a problem and its steps.
    pub fn input(&self, problem: &str, steps: &[&str]) -> Result<PrmInput> {
        let m = &self.model;
        match self.format {
            PrmFormat::Qwen => {
                let sep = m.token_id(QWEN_SEPARATOR).expect("checked at load");
                let answer = steps.iter().map(|s| format!("{s}{QWEN_SEPARATOR}")).collect::<String>();
                let messages = [
                    Message::new("system", QWEN_SYSTEM),
                    Message::new("user", problem),
                    Message::new("assistant", &answer),
                ];
                let ids = m.encode(&m.render_chat(&messages, false)?)?;
                let positions = positions_of(&ids, sep);
                Ok(PrmInput { ids, positions })
            }
            PrmFormat::Skywork => {
                let step_token = single_id(m, "\n", "the step token")?;
                let bos = m.bos_text().to_string();
                let mut ids = m.encode(&format!("{bos}{problem}\n"))?;
                let mut positions = Vec::new();
                for s in steps {
                    ids.extend(m.encode(s)?);
                    ids.push(step_token);
                    positions.push(ids.len() - 1);
                }
                Ok(PrmInput { ids, positions })
            }
            PrmFormat::Trl => {
                let sep = m.encode("\n")?;
                let mut ids = m.encode(problem)?;
                ids.extend(&sep);
                let mut positions = Vec::new();
                for s in steps {
                    ids.extend(m.encode(s)?);
                    ids.extend(&sep);
                    positions.push(ids.len() - 1);
                }
                Ok(PrmInput { ids, positions })
            }
            PrmFormat::MathShepherd => {
                let tag = single_id(m, SHEPHERD_TAG, "the step tag")?;
                let lines: Vec<String> =
                    steps.iter().enumerate().map(|(k, s)| format!("Step {}: {} {SHEPHERD_TAG}", k + 1, s)).collect();
                let ids = m.with_bos(m.encode(&format!("{problem} {}", lines.join("\n")))?);
                let positions = positions_of(&ids, tag);
                Ok(PrmInput { ids, positions })
            }
            PrmFormat::RlhFlow => {
                let mut messages = Vec::new();
                let mut positions = Vec::new();
                let mut prefixes = Vec::new();
                for (k, s) in steps.iter().enumerate() {
                    let content = if k == 0 { format!("{problem}\n\n{s}") } else { s.to_string() };
                    messages.push(Message::new("user", &content));
                    let prefix = m.encode(&m.render_chat(&messages, true)?)?;
                    positions.push(prefix.len() - 1);
                    prefixes.push(prefix);
                    messages.push(Message::new("assistant", "+"));
                }
                let ids = m.encode(&m.render_chat(&messages, false)?)?;
                // Each scoring position must see exactly the tokens its prefix had.
                if prefixes.iter().any(|p| !ids.starts_with(p)) {
                    bail!("the chat template does not render turns as a growing prefix; RLHFlow scoring needs that");
                }
                Ok(PrmInput { ids, positions })
            }
        }
    }

    /// Step scores from hidden states (rows = the scoring positions); heads run in f32.
    fn head_scores(&self, rows: &Tensor) -> Result<Vec<f64>> {
        let rows = &rows.to_dtype(DType::F32)?;
        let probs = match &self.head {
            Head::Qwen { w1, b1, w2, b2 } => qwen_head(rows, w1, b1, w2, b2)?,
            Head::Value { w, b } => candle_nn::ops::sigmoid(&linear(rows, w, Some(b))?)?.squeeze(1)?,
            Head::TokenClass { w, b } => {
                let p = candle_nn::ops::softmax(&linear(rows, w, b.as_ref())?, D::Minus1)?;
                p.narrow(1, 1, 1)?.squeeze(1)?
            }
            Head::Candidates { plus, minus } => {
                let logits = self.model.lm_head(rows)?;
                let pair = logits.index_select(&Tensor::new(&[*plus, *minus], rows.device())?, 1)?;
                candle_nn::ops::softmax(&pair, D::Minus1)?.narrow(1, 0, 1)?.squeeze(1)?
            }
        };
        Ok(probs.to_vec1::<f32>()?.into_iter().map(f64::from).collect())
    }
}

fn linear(x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> Result<Tensor> {
    let y = x.matmul(&w.t()?)?;
    Ok(match b {
        Some(b) => y.broadcast_add(b)?,
        None => y,
    })
}

/// The Qwen PRM head, Linear(h,h) · ReLU · Linear(h,2) then softmax: P(index 1) per row.
pub fn qwen_head(rows: &Tensor, w1: &Tensor, b1: &Tensor, w2: &Tensor, b2: &Tensor) -> Result<Tensor> {
    let h = linear(rows, w1, Some(b1))?.relu()?;
    let p = candle_nn::ops::softmax(&linear(&h, w2, Some(b2))?, D::Minus1)?;
    Ok(p.narrow(1, 1, 1)?.squeeze(1)?)
}

fn positions_of(ids: &[u32], token: u32) -> Vec<usize> {
    ids.iter().enumerate().filter(|(_, t)| **t == token).map(|(i, _)| i).collect()
}

impl Verifier for PrmVerifier {
    fn spec(&self) -> String {
        format!("prm:{}", self.path.display())
    }

    fn model(&self) -> Option<ModelInfo> {
        Some(self.info.clone())
    }

    fn default_threshold(&self) -> f64 {
        0.5
    }

    fn score(&mut self, trace: &Trace, ctx: &mut Ctx) -> Result<Scored> {
        self.score_trace(trace, ctx)
    }
}

/// A PRM held by the model cache is shared by the verifiers built from it.
impl Verifier for std::sync::Arc<PrmVerifier> {
    fn spec(&self) -> String {
        Verifier::spec(&**self)
    }

    fn model(&self) -> Option<ModelInfo> {
        Some(self.info.clone())
    }

    fn default_threshold(&self) -> f64 {
        0.5
    }

    fn score(&mut self, trace: &Trace, ctx: &mut Ctx) -> Result<Scored> {
        self.score_trace(trace, ctx)
    }
}

/// One trace's input, cut to the model's context, before the forward pass.
struct Prepared {
    ids: Vec<u32>,
    /// Scoring positions inside the context.
    positions: Vec<usize>,
    steps: usize,
    truncated: Option<String>,
}

impl PrmVerifier {
    /// Scores every step in one forward pass (scoring does not change the verifier).
    pub fn score_trace(&self, trace: &Trace, ctx: &mut Ctx) -> Result<Scored> {
        ctx.check_cancel()?;
        let p = self.prepare(trace)?;
        (ctx.progress)(&format!("{}: {} tokens, one forward pass", trace.id, p.ids.len()));
        let mut prefix = self.model.start();
        let hidden = self.model.hidden_states(&mut prefix, &p.ids)?;
        self.finish(p, &hidden)
    }

    /// Scores several traces with packed forward passes of at most `max_tokens` tokens each
    /// (a longer trace runs alone): the same scores as one pass per trace, with fewer and
    /// larger matrix products. The results are in the order of `traces`.
    pub fn score_packed(&self, traces: &[&Trace], max_tokens: usize) -> Result<Vec<Scored>> {
        let prepared = traces.iter().map(|t| self.prepare(t)).collect::<Result<Vec<_>>>()?;
        let mut out = Vec::with_capacity(prepared.len());
        let mut group: Vec<Prepared> = Vec::new();
        let mut tokens = 0;
        for p in prepared {
            if !group.is_empty() && tokens + p.ids.len() > max_tokens {
                out.extend(self.finish_group(std::mem::take(&mut group))?);
                tokens = 0;
            }
            tokens += p.ids.len();
            group.push(p);
        }
        if !group.is_empty() {
            out.extend(self.finish_group(group)?);
        }
        Ok(out)
    }

    fn finish_group(&self, group: Vec<Prepared>) -> Result<Vec<Scored>> {
        let seqs: Vec<&[u32]> = group.iter().map(|p| p.ids.as_slice()).collect();
        let hidden = self.model.hidden_states_packed(&seqs)?;
        group.into_iter().zip(hidden).map(|(p, h)| self.finish(p, &h)).collect()
    }

    /// How many tokens one pass over the trace reads (its input cut to the model's context).
    pub fn input_tokens(&self, trace: &Trace) -> Result<usize> {
        Ok(self.prepare(trace)?.ids.len())
    }

    /// The input of a trace cut to the model's context.
    fn prepare(&self, trace: &Trace) -> Result<Prepared> {
        let steps = trace.step_texts();
        let input = self.input(&trace.problem, &steps)?;
        if input.positions.len() != steps.len() {
            bail!(
                "trace {}: found {} scoring positions for {} steps (does a step contain the {} separator?)",
                trace.id,
                input.positions.len(),
                steps.len(),
                self.format.name()
            );
        }
        let context = self.model.context_length();
        let fits = input.positions.iter().filter(|&&p| p < context).count();
        let end = input.ids.len().min(context);
        let truncated = (fits < steps.len()).then(|| {
            format!(
                "steps {}–{} not scored: the input has {} tokens, the model context {}",
                fits + 1,
                steps.len(),
                input.ids.len(),
                context
            )
        });
        let mut ids = input.ids;
        ids.truncate(end);
        let mut positions = input.positions;
        positions.truncate(fits);
        Ok(Prepared { ids, positions, steps: steps.len(), truncated })
    }

    /// Step scores from a trace's hidden states (one row per input token).
    fn finish(&self, p: Prepared, hidden: &Tensor) -> Result<Scored> {
        let idx: Vec<u32> = p.positions.iter().map(|&i| i as u32).collect();
        let mut out: Vec<StepScore> = if idx.is_empty() {
            Vec::new()
        } else {
            let rows =
                hidden.index_select(&Tensor::new(idx.as_slice(), &Device::Cpu)?.to_device(hidden.device())?, 0)?;
            self.head_scores(&rows)?
                .into_iter()
                .map(|p| StepScore::new(p, format!("{} P(correct) {p:.3}", self.format.name())))
                .collect()
        };
        while out.len() < p.steps {
            out.push(StepScore::none("beyond the model context"));
        }
        Ok(Scored { steps: out, truncated: p.truncated, forward_passes: 1 })
    }
}
