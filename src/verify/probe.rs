//! A probe: a small head trained here (`stepscope train`) on the generator's own hidden states
//! at the token that ends each step. The head file is JSON: the weights, the standardisation,
//! and what it takes to trust it (base model fingerprint, layer, label sources, hashes of the
//! training problems, the threshold and the cross-validated metrics).
//!
//! The input is the model's chat prompt with the problem as the user's turn, then the steps as
//! the assistant writes them, each followed by a blank line; a step's row is the hidden state at
//! the last token of its blank line (the step is complete there, and nothing after it is seen),
//! optionally followed by how surprised the same model was by the step's own tokens (their
//! log-probs and entropies from the same pass, [`token_features`]). A head trained with
//! `--ask` reads instead at the end of a fixed question put after each step ([`assemble`]).

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use std::sync::Arc;

use super::{Ctx, ModelInfo, Scored, StepScore, Verifier};
use crate::model::{LanguageModel, Message, Surprise};
use crate::signals::sigmoid;
use crate::trace::Trace;

/// What the head is, beside its weights: enough to refuse a wrong model and to see leakage.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProbeHead {
    /// The format's version (1).
    pub probe: u32,
    /// The base model as it was named (`qwen2.5-coder-0.5b`, a path), and its fingerprint.
    pub model: String,
    pub model_fingerprint: String,
    /// The residual stream after this layer (1-based).
    pub layer: usize,
    /// Whether each step's row is that state followed by its token statistics
    /// ([`token_features`]); absent in heads of states alone.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tokens: bool,
    /// Whether the token statistics are followed by those of the whole trace
    /// ([`with_trace_context`]): a step is then read against its trace's usual surprise, and
    /// its score depends on the steps after it too.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub trace: bool,
    /// Whether each step's state is followed by the mean of the states of the steps so far
    /// ([`with_running_mean`]): the trace up to here, not only its last step.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pool: bool,
    /// Whether each step's state is followed by the mean state over the step's own tokens
    /// (`StepFeatures::spans`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub span: bool,
    /// Whether the row ends with what the arithmetic checker says of the step
    /// ([`arith_features`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub arith: bool,
    /// Whether the row goes on with the state at the end of the next step ([`with_next_state`]):
    /// a step's score then depends on the step after it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub next: bool,
    /// `train --ask`: the question put after each step; its states are read at the question's
    /// last token ([`assemble`]). Absent: at the end of the step's blank line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ask: Option<String>,
    /// What it predicts: `prm` (P(step is right | steps so far)) or `orm` (P(the final answer
    /// will be right | steps so far)).
    pub target: String,
    /// Standardisation of each feature before the head.
    pub mean: Vec<f32>,
    pub scale: Vec<f32>,
    /// `train --head mlp`: a hidden layer between the standardised features and the logistic
    /// output, whose `weights` then weigh its units; absent in linear heads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hidden: Option<Hidden>,
    pub weights: Vec<f32>,
    pub bias: f32,
    /// `train --bag`: more heads (the others of its view, one per repeated inner split, and
    /// with `--bag layers` those of other layers); a step's reading is then the sigmoid of the
    /// mean logit of this head and these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub also: Vec<Member>,
    /// First-error threshold τ on P(step right), chosen on the training folds.
    pub threshold: f64,
    /// `train --thresholds two`: a trace has a first error only when some step reads below this
    /// (lower than `threshold`); its first error is then its first step below `threshold`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flag_threshold: Option<f64>,
    /// `train --cumulative`: the thresholds apply to the chance that no step so far is wrong,
    /// the running product of the readings with this logit shift ([`crate::signals::survival`]);
    /// each step's score is then that product (its reading stays in the detail).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cumulative: Option<f64>,
    /// Where its labels came from: `dataset:FILE@fingerprint` with counts.
    pub sources: Vec<String>,
    /// Hashes of the training problems' text (`eval` says when a file shares problems).
    pub problems: Vec<String>,
    /// Cross-validated metrics, as `train --json` printed them.
    pub metrics: serde_json::Value,
}

impl ProbeHead {
    pub fn read(path: &std::path::Path) -> Result<ProbeHead> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("{}: cannot read the probe head", path.display()))?;
        let head: ProbeHead =
            serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("{}: not a probe head: {e}", path.display()))?;
        // A member reading the head's own rows has the head's width; one of another layer or
        // blocks, its own.
        let fits = |m: &Member| {
            let n = if m.layer.is_none() && m.reads.is_none() { head.mean.len() } else { m.mean.len() };
            let inputs = m.hidden.as_ref().map_or(n, Hidden::units);
            let hidden_fits = m.hidden.as_ref().is_none_or(|h| h.units() > 0 && h.weights.len() == h.units() * n);
            n > 0 && m.mean.len() == n && m.scale.len() == n && m.weights.len() == inputs && hidden_fits
        };
        if head.probe != 1 || !fits(&head.member()) || !head.also.iter().all(fits) {
            bail!("{}: not a probe head of format 1 with matching weights and standardisation", path.display());
        }
        Ok(head)
    }

    /// Each step's score from its reading: the reading, or with [`ProbeHead::cumulative`] the
    /// chance that no step so far is wrong.
    pub fn decoded(&self, readings: &[f64]) -> Vec<f64> {
        match self.cumulative {
            Some(shift) => crate::signals::survival(readings, shift),
            None => readings.to_vec(),
        }
    }

    /// What the head reads of each step beside its state.
    pub fn reads(&self) -> Reads {
        Reads {
            tokens: self.tokens,
            trace: self.trace,
            pool: self.pool,
            span: self.span,
            arith: self.arith,
            next: self.next,
        }
    }

    /// The head's own weights, as one member of its bag.
    pub fn member(&self) -> Member {
        Member {
            layer: None,
            reads: None,
            mean: self.mean.clone(),
            scale: self.scale.clone(),
            hidden: self.hidden.clone(),
            weights: self.weights.clone(),
            bias: self.bias,
        }
    }

    /// Every member of the head's bag (itself first) with the layer and blocks it reads.
    pub fn members(&self) -> Vec<(usize, Reads, Member)> {
        let own = |m: &Member| (m.layer.unwrap_or(self.layer), m.reads.unwrap_or(self.reads()), m.clone());
        std::iter::once(own(&self.member())).chain(self.also.iter().map(own)).collect()
    }

    /// The layers its members read, each once.
    pub fn layers(&self) -> Vec<usize> {
        let mut layers: Vec<usize> = self.members().iter().map(|(l, _, _)| *l).collect();
        layers.sort_unstable();
        layers.dedup();
        layers
    }

    /// P(step right) of each row of features (one row per step), for heads whose members all
    /// read the head's own rows: the sigmoid of the mean logit of the head and its `also`.
    pub fn score_rows(&self, rows: &[Vec<f32>]) -> Vec<f64> {
        read_together(self.members().iter().map(|(_, _, m)| rows.iter().map(|r| m.logit(r)).collect()))
    }

    /// P(step right) of each step of a trace, from the blocks each layer gives (`blocks(layer)`):
    /// each member reads its own layer's rows; a step reads the sigmoid of their mean logit.
    pub fn score_blocks<'a>(&self, blocks: impl Fn(usize) -> Blocks<'a>) -> Result<Vec<f64>> {
        let mut logits = Vec::new();
        for (layer, reads, m) in self.members() {
            let rows = head_rows(blocks(layer), reads);
            if let Some(r) = rows.first().filter(|r| r.len() != m.mean.len()) {
                bail!("a member of the head reads {} features, but layer {layer} gives {}", m.mean.len(), r.len());
            }
            logits.push(rows.iter().map(|r| m.logit(r)).collect());
        }
        Ok(read_together(logits))
    }
}

/// One fitted head on standardised rows: logistic, through a hidden layer or not.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Member {
    /// The layer and blocks it reads, where they are not its head's (`train --bag layers`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reads: Option<Reads>,
    pub mean: Vec<f32>,
    pub scale: Vec<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hidden: Option<Hidden>,
    pub weights: Vec<f32>,
    pub bias: f32,
}

impl Member {
    fn linear(&self) -> Linear<'_> {
        Linear {
            mean: &self.mean,
            scale: &self.scale,
            hidden: self.hidden.as_ref(),
            weights: &self.weights,
            bias: self.bias,
        }
    }

    pub fn logit(&self, row: &[f32]) -> f64 {
        self.linear().logit(row)
    }

    pub fn prob(&self, row: &[f32]) -> f64 {
        self.linear().prob(row)
    }
}

/// Heads read together: each step's P is the sigmoid of the mean of the heads' logits there
/// (`logits[head][step]`; one head: its own P).
pub fn read_together(logits: impl IntoIterator<Item = Vec<f64>>) -> Vec<f64> {
    let (mut sum, mut heads): (Vec<f64>, usize) = (Vec::new(), 0);
    for z in logits {
        sum.resize(sum.len().max(z.len()), 0.0);
        for (s, z) in sum.iter_mut().zip(z) {
            *s += z;
        }
        heads += 1;
    }
    sum.into_iter().map(|s| sigmoid(s / heads.max(1) as f64)).collect()
}

/// A hidden layer of ReLU units on n standardised features z: unit u is
/// max(0, `bias[u] + Σ weights[u·n + j]·z[j]`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Hidden {
    pub weights: Vec<f32>,
    pub bias: Vec<f32>,
}

impl Hidden {
    pub fn units(&self) -> usize {
        self.bias.len()
    }

    pub fn apply(&self, z: &[f32]) -> Vec<f32> {
        let rows = self.weights.chunks(z.len().max(1));
        rows.zip(&self.bias).map(|(w, b)| (b + w.iter().zip(z).map(|(w, z)| w * z).sum::<f32>()).max(0.0)).collect()
    }
}

/// A logistic head on standardised features, through a hidden layer or not: what training fits
/// and a head file holds.
pub struct Linear<'a> {
    pub mean: &'a [f32],
    pub scale: &'a [f32],
    pub hidden: Option<&'a Hidden>,
    pub weights: &'a [f32],
    pub bias: f32,
}

impl Linear<'_> {
    /// sigmoid(bias + Σ w·h), h the standardised row z = (x − mean)/scale, or the hidden
    /// layer's units on z.
    pub fn prob(&self, row: &[f32]) -> f64 {
        sigmoid(self.logit(row))
    }

    /// bias + Σ w·h, the log-odds of [`Linear::prob`].
    pub fn logit(&self, row: &[f32]) -> f64 {
        let z: Vec<f32> = row.iter().zip(self.mean).zip(self.scale).map(|((x, m), s)| (x - m) / s).collect();
        let h = match self.hidden {
            Some(hidden) => hidden.apply(&z),
            None => z,
        };
        f64::from(self.bias) + h.iter().zip(self.weights).map(|(h, w)| f64::from(h * w)).sum::<f64>()
    }
}

/// The question `train --ask yes` puts after each step (`assets/prompts/probe-ask.txt`).
pub fn built_in_ask() -> &'static str {
    include_str!("../../assets/prompts/probe-ask.txt").trim()
}

/// The token ids a probe reads for a problem and its steps, and where each step sits in them;
/// with `ask`, that question follows each step's blank line (see [`assemble`]).
pub fn probe_input(
    model: &dyn LanguageModel,
    problem: &str,
    steps: &[&str],
    ask: Option<&str>,
) -> Result<(Vec<u32>, Vec<StepSpan>)> {
    let prompt = model.chat_prompt(&[Message::new("user", problem)])?;
    let steps = steps.iter().map(|s| model.encode(s.trim())).collect::<Result<Vec<_>>>()?;
    let ask = ask.map(|q| model.encode(q.trim())).transpose()?;
    Ok(assemble(prompt, &steps, &model.encode("\n\n")?, ask.as_deref()))
}

/// The prompt, then each step followed by `separator`; a step's row is the separator's last
/// token. With `ask`, each separator is followed by the question and another separator, and
/// the row is the question's last token: where the model would answer whether the steps so far
/// are right, so its state there may say more than at the step's end.
pub fn assemble(
    mut ids: Vec<u32>,
    steps: &[Vec<u32>],
    separator: &[u32],
    ask: Option<&[u32]>,
) -> (Vec<u32>, Vec<StepSpan>) {
    let mut spans = Vec::with_capacity(steps.len());
    for s in steps {
        let start = ids.len();
        ids.extend(s);
        let text = start..ids.len();
        ids.extend(separator);
        let mut row = ids.len() - 1;
        if let Some(q) = ask.filter(|q| !q.is_empty()) {
            ids.extend(q);
            row = ids.len() - 1;
            ids.extend(separator);
        }
        spans.push(StepSpan { text, row });
    }
    (ids, spans)
}

/// One step in a probe's input: the tokens of its text, and the row its state is read at (the
/// last token of the blank line after it).
#[derive(Debug, Clone, PartialEq)]
pub struct StepSpan {
    pub text: std::ops::Range<usize>,
    pub row: usize,
}

/// What one pass gives a probe: `[layer][step][feature]` hidden states at each step's end and
/// their means over each step's own text tokens (`spans`), and per step the statistics of its
/// tokens' surprise (`TOKEN_FEATURES` numbers, see [`token_features`]).
pub struct StepFeatures {
    pub layers: Vec<Vec<Vec<f32>>>,
    pub spans: Vec<Vec<Vec<f32>>>,
    pub tokens: Vec<Vec<f32>>,
}

/// How many numbers [`token_features`] gives a step.
pub const TOKEN_FEATURES: usize = 8;

/// Each step's hidden state after each of `layers`, and with `tokens` its token statistics
/// (else none: the logits of every position are not computed); with `ask`, read where that
/// question follows each step ([`assemble`]). One forward pass.
pub fn step_features(
    model: &dyn LanguageModel,
    problem: &str,
    steps: &[&str],
    layers: &[usize],
    tokens: bool,
    ask: Option<&str>,
) -> Result<StepFeatures> {
    if steps.is_empty() {
        bail!("a trace without steps has nothing to probe");
    }
    let (ids, spans) = probe_input(model, problem, steps, ask)?;
    let (states, surprise) = if tokens {
        model.layer_states_and_surprise(&ids, layers)?
    } else {
        (model.layer_states(&ids, layers)?, Vec::new())
    };
    let at = candle_core::Tensor::new(
        spans.iter().map(|s| s.row as u32).collect::<Vec<_>>().as_slice(),
        states[0].device(),
    )?;
    let layers = states.iter().map(|s| Ok(s.index_select(&at, 0)?.to_vec2::<f32>()?)).collect::<Result<_>>()?;
    let means = states.iter().map(|s| span_means(s, &spans)).collect::<Result<_>>()?;
    if !tokens {
        return Ok(StepFeatures { layers, spans: means, tokens: Vec::new() });
    }
    let digits: Vec<bool> = ids
        .iter()
        .map(|&id| model.decode(&[id]).map(|t| t.chars().any(|c| c.is_ascii_digit())))
        .collect::<Result<_>>()?;
    let tokens = spans.iter().map(|s| token_features(&surprise[s.text.clone()], &digits[s.text.clone()])).collect();
    Ok(StepFeatures { layers, spans: means, tokens })
}

/// The mean of one layer's states (`[position, feature]`) over each step's text tokens (its
/// end row alone when the step has no token). The state at a step's end is one position;
/// where the model reads a wrong number, its states right after it may show more.
fn span_means(states: &candle_core::Tensor, spans: &[StepSpan]) -> Result<Vec<Vec<f32>>> {
    spans
        .iter()
        .map(|s| {
            let (start, len) = if s.text.is_empty() { (s.row, 1) } else { (s.text.start, s.text.len()) };
            Ok(states.narrow(0, start, len)?.mean(0)?.to_vec1::<f32>()?)
        })
        .collect()
}

/// How surprised the model was by a step's own tokens (the model reading a wrong number or a
/// wrong turn it would not have written itself): mean and lowest log-prob, mean and highest
/// entropy, lowest and mean log-prob of the tokens holding a digit (0 without any), the share
/// of tokens below p = 0.1, and ln(1 + tokens).
pub fn token_features(surprise: &[Surprise], digit: &[bool]) -> Vec<f32> {
    let n = surprise.len().max(1) as f32;
    let lp: Vec<f32> = surprise.iter().map(|s| s.log_prob).collect();
    let mean = |v: &[f32]| if v.is_empty() { 0.0 } else { v.iter().sum::<f32>() / v.len() as f32 };
    let low = |v: &[f32]| v.iter().copied().fold(0f32, f32::min);
    let with_digit: Vec<f32> = lp.iter().zip(digit).filter(|(_, &d)| d).map(|(&l, _)| l).collect();
    let entropy: Vec<f32> = surprise.iter().map(|s| s.entropy).collect();
    let unlikely = lp.iter().filter(|&&l| l < 0.1f32.ln()).count() as f32 / n;
    vec![
        mean(&lp),
        low(&lp),
        mean(&entropy),
        entropy.iter().copied().fold(0f32, f32::max),
        low(&with_digit),
        mean(&with_digit),
        unlikely,
        (1.0 + surprise.len() as f32).ln(),
    ]
}

/// `probe:HEAD`: the head's P(step right) for every step, from one forward pass of its base
/// model (refused when the model's weights are not the ones it was trained on).
pub struct ProbeVerifier {
    path: String,
    head: ProbeHead,
    info: ModelInfo,
    model: Arc<dyn LanguageModel>,
}

impl ProbeVerifier {
    /// The head at `path` on `model` (the one its file names, loaded by the caller).
    pub fn new(path: &str, head: ProbeHead, model: Arc<dyn LanguageModel>) -> Result<ProbeVerifier> {
        let now = model.fingerprint();
        if now != head.model_fingerprint {
            bail!(
                "{path}: the probe was trained on {} with fingerprint {}, but that model now has {now}; train it again",
                head.model,
                head.model_fingerprint
            );
        }
        let info = ModelInfo { path: path.to_string(), hash: crate::model::fingerprint(std::path::Path::new(path)) };
        Ok(ProbeVerifier { path: path.to_string(), head, info, model })
    }
}

impl Verifier for ProbeVerifier {
    fn spec(&self) -> String {
        format!("probe:{}", self.path)
    }

    fn model(&self) -> Option<ModelInfo> {
        Some(self.info.clone())
    }

    fn default_threshold(&self) -> f64 {
        self.head.threshold
    }

    fn flag_threshold(&self) -> Option<f64> {
        self.head.flag_threshold
    }

    fn score(&mut self, trace: &Trace, _ctx: &mut Ctx) -> Result<Scored> {
        let model = self.model.as_ref();
        let layers = self.head.layers();
        let tokens = self.head.members().iter().any(|(_, r, _)| r.tokens);
        let f = step_features(model, &trace.problem, &trace.step_texts(), &layers, tokens, self.head.ask.as_deref())?;
        let arith = arith_features(&trace.step_texts());
        let blocks = |layer: usize| {
            let at = layers.iter().position(|&l| l == layer).expect("every member's layer was read");
            Blocks { states: &f.layers[at], spans: &f.spans[at], tokens: &f.tokens, arith: &arith }
        };
        let probs = self.head.score_blocks(blocks).map_err(|e| anyhow::anyhow!("{}: {e}", self.path))?;
        let reads = reads_note(self.head.reads());
        let also = match layers.len() {
            1 => String::new(),
            n => format!(" and {} other layers", n - 1),
        };
        let layer = format!("layer {}{reads}{also} of {}", self.head.layer, self.head.model);
        let what = if self.head.target == "orm" { "P(answer right)" } else { "P(right)" };
        let scores = self.head.decoded(&probs);
        let so_far = if self.head.cumulative.is_some() { "P(no error so far) · " } else { "" };
        let steps = probs
            .iter()
            .zip(scores)
            .map(|(p, s)| StepScore::new(s, format!("{so_far}{what} {p:.3} · {layer}")))
            .collect();
        Ok(Scored { steps, truncated: None, forward_passes: 1 })
    }
}

/// What a head reads of each step beside the state at its end.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Reads {
    /// The step's token statistics ([`token_features`]).
    pub tokens: bool,
    /// Those followed by its trace's ([`with_trace_context`]); only with `tokens`.
    pub trace: bool,
    /// The state followed by the mean state of the steps so far ([`with_running_mean`]).
    pub pool: bool,
    /// Then by the mean state over the step's own tokens.
    pub span: bool,
    /// The row ends with the arithmetic checker's verdicts ([`arith_features`]).
    pub arith: bool,
    /// The state (and its span mean) followed by the next step's state ([`with_next_state`]).
    pub next: bool,
}

/// What a trace gives a head, `[step][feature]` each: the states at the steps' ends, their means
/// over the steps' tokens, the token statistics and the arithmetic checker's verdicts (a block
/// the head does not read may be empty).
#[derive(Debug, Clone, Copy)]
pub struct Blocks<'a> {
    pub states: &'a [Vec<f32>],
    pub spans: &'a [Vec<f32>],
    pub tokens: &'a [Vec<f32>],
    pub arith: &'a [Vec<f32>],
}

/// Each step's row as a head reads it: its state (with `pool`, followed by the mean state so
/// far; with `span`, by the mean state over the step; with `next`, by the next step's state),
/// then with `tokens` its token statistics, and with `trace` also its trace's, then with `arith`
/// the arithmetic checker's verdicts.
pub fn head_rows(b: Blocks, reads: Reads) -> Vec<Vec<f32>> {
    let states = if reads.pool { with_running_mean(b.states) } else { b.states.to_vec() };
    let states = if reads.span { joined_rows(&states, b.spans) } else { states };
    let states = if reads.next { joined_rows(&states, &with_next_state(b.states)) } else { states };
    let tokens = b.tokens;
    let rows = match (reads.tokens, reads.trace) {
        (false, _) => states,
        (true, false) => joined_rows(&states, tokens),
        (true, true) => joined_rows(&states, &with_trace_context(tokens)),
    };
    if reads.arith {
        joined_rows(&rows, b.arith)
    } else {
        rows
    }
}

/// How many numbers [`arith_features`] gives each step.
pub const ARITH_FEATURES: usize = 3;

/// What the arithmetic checker (`src/arith`, model-free) says of each step: 1 when one of its
/// claims is wrong, 1 when it has claims and all check, 1 when some step so far had a wrong
/// claim. The checker is precise but sees only visible computations; a head weighs its verdicts
/// beside what the states show (a wrong claim is nearly always an error; a step whose claims
/// all check is less often one), and an outcome head carries an early wrong claim to the end.
pub fn arith_features(steps: &[&str]) -> Vec<Vec<f32>> {
    let mut wrong_so_far = false;
    steps
        .iter()
        .map(|text| {
            let claims = crate::arith::check_step(text);
            let wrong = claims.iter().any(|c| !c.ok);
            wrong_so_far |= wrong;
            let checked = !claims.is_empty() && !wrong;
            [wrong, checked, wrong_so_far].map(|b| if b { 1.0 } else { 0.0 }).to_vec()
        })
        .collect()
}

/// What a head reads beside the state, as the verifier's details and `train` say it.
pub fn reads_note(reads: Reads) -> String {
    let pool = match (reads.pool, reads.span) {
        (false, false) => "",
        (true, false) => " + mean state so far",
        (false, true) => " + mean state over the step",
        (true, true) => " + mean states so far and over the step",
    };
    let tokens = match (reads.tokens, reads.trace) {
        (false, _) => "",
        (true, false) => " + token surprise",
        (true, true) => " + token surprise in its trace",
    };
    let arith = if reads.arith { " + arithmetic checks" } else { "" };
    let next = if reads.next { " + next step's state" } else { "" };
    format!("{pool}{next}{tokens}{arith}")
}

/// Each step's block of what follows it: the state at the end of the next step, then 1 (zeros
/// and 0 for the last step, which has none). An error often shows more plainly in the model's
/// states once a later step uses its result than at the step itself; with this block a step's
/// row sees that too (and its score depends on the step after it, as with the trace block).
pub fn with_next_state(states: &[Vec<f32>]) -> Vec<Vec<f32>> {
    let width = states.first().map_or(0, Vec::len);
    (0..states.len())
        .map(|k| match states.get(k + 1) {
            Some(next) => next.iter().copied().chain([1.0]).collect(),
            None => vec![0.0; width + 1],
        })
        .collect()
}

/// Each step's state followed by the mean of the states at the ends of the steps so far (itself
/// included). The reading stays causal (nothing after the step is seen), and an outcome head
/// reads the whole trace so far rather than one position: a state at one step's end says much
/// about that step and little about the ones before it.
pub fn with_running_mean(states: &[Vec<f32>]) -> Vec<Vec<f32>> {
    let width = states.first().map_or(0, Vec::len);
    let mut sum = vec![0f32; width];
    states
        .iter()
        .enumerate()
        .map(|(k, s)| {
            sum.iter_mut().zip(s).for_each(|(a, x)| *a += x);
            let n = (k + 1) as f32;
            s.iter().copied().chain(sum.iter().map(|a| a / n)).collect()
        })
        .collect()
}

/// Each step's state followed by its token statistics.
pub fn joined_rows(states: &[Vec<f32>], tokens: &[Vec<f32>]) -> Vec<Vec<f32>> {
    states.iter().zip(tokens).map(|(s, t)| s.iter().chain(t).copied().collect()).collect()
}

/// Each step's token statistics followed by the trace's: per statistic its mean, lowest and
/// highest value over all the trace's steps. Every step of a trace gets the same trace block, so
/// a linear head can weigh a step against its own trace (a solution that is surprising
/// throughout, in style or notation, is not wrong everywhere) and lean on the trace as a whole
/// (a trace with no surprising step anywhere is rarely wrong).
pub fn with_trace_context(tokens: &[Vec<f32>]) -> Vec<Vec<f32>> {
    let width = tokens.first().map_or(0, Vec::len);
    let n = tokens.len().max(1) as f32;
    let column = |j: usize| tokens.iter().map(move |r| r[j]);
    let mean: Vec<f32> = (0..width).map(|j| column(j).sum::<f32>() / n).collect();
    let low: Vec<f32> = (0..width).map(|j| column(j).fold(f32::INFINITY, f32::min)).collect();
    let high: Vec<f32> = (0..width).map(|j| column(j).fold(f32::NEG_INFINITY, f32::max)).collect();
    tokens.iter().map(|r| r.iter().chain(&mean).chain(&low).chain(&high).copied().collect()).collect()
}

/// Five layers spread over the model's depth, for `--layer auto` (the middle third is where
/// probes usually read best; the last layer is kept as a reference).
pub fn candidate_layers(num_layers: usize) -> Vec<usize> {
    let mut v: Vec<usize> = [0.33, 0.5, 0.66, 0.8, 1.0]
        .iter()
        .map(|f| ((num_layers as f64 * f).round() as usize).clamp(1, num_layers))
        .collect();
    v.dedup();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_standardises_then_weighs() {
        let head = ProbeHead {
            probe: 1,
            mean: vec![1.0, 0.0],
            scale: vec![2.0, 1.0],
            weights: vec![1.0, -1.0],
            bias: 0.5,
            ..ProbeHead::default()
        };
        // z = (1.5, 2) → 0.5 + 1.5 − 2 = 0.0 → 0.5.
        let p = head.score_rows(&[vec![4.0, 2.0]]);
        assert!((p[0] - 0.5).abs() < 1e-9, "{p:?}");
        // A second member reading logit 1.0 (z = (1.5, 2) → 1.0 + 0 + 0): mean logit 0.5.
        let also = Member {
            layer: None,
            reads: None,
            mean: head.mean.clone(),
            scale: head.scale.clone(),
            weights: vec![0.0, 0.0],
            bias: 1.0,
            hidden: None,
        };
        let bagged = ProbeHead { also: vec![also], ..head };
        let p = bagged.score_rows(&[vec![4.0, 2.0]]);
        assert!((p[0] - 1.0 / (1.0 + (-0.5f64).exp())).abs() < 1e-9, "{p:?}");
        // A member of another layer, reading the arithmetic verdicts too, reads its own rows:
        // layer 8 gives (0, 0) and the verdicts (1, 0, 0), so its logit is bias + 2·1 = 1.0.
        let other = Member {
            layer: Some(8),
            reads: Some(Reads { arith: true, ..Reads::default() }),
            mean: vec![0.0; 5],
            scale: vec![1.0; 5],
            weights: vec![0.0, 0.0, 2.0, 0.0, 0.0],
            bias: -1.0,
            hidden: None,
        };
        let layered = ProbeHead { layer: 4, also: vec![other], ..bagged.clone() };
        assert_eq!(layered.layers(), [4, 8]);
        let (at4, at8, arith) = (vec![vec![4.0, 2.0]], vec![vec![0.0, 0.0]], vec![vec![1.0, 0.0, 0.0]]);
        let blocks = |layer: usize| Blocks {
            states: if layer == 4 { &at4 } else { &at8 },
            spans: &[],
            tokens: &[],
            arith: &arith,
        };
        let p = layered.score_blocks(blocks).unwrap();
        assert!((p[0] - 1.0 / (1.0 + (-0.5f64).exp())).abs() < 1e-9, "(0 + 1) / 2: {p:?}");
        let narrow = ProbeHead { also: vec![Member { reads: None, ..layered.also[0].clone() }], ..layered };
        let err = narrow.score_blocks(blocks).unwrap_err().to_string();
        assert!(err.contains("reads 5 features, but layer 8 gives 2"), "{err}");
        assert_eq!(candidate_layers(24), [8, 12, 16, 19, 24]);
        assert_eq!(candidate_layers(2), [1, 2]);
    }

    /// Three tokens, the middle one a surprising digit: the statistics say so, and a step
    /// without digits gets zeros for them.
    #[test]
    fn a_question_after_each_step_moves_its_row_to_the_questions_end() {
        let (steps, sep) = ([vec![10, 11], vec![12]], [0, 1]);
        let (ids, spans) = assemble(vec![7], &steps, &sep, None);
        assert_eq!(ids, [7, 10, 11, 0, 1, 12, 0, 1]);
        assert_eq!(spans, [StepSpan { text: 1..3, row: 4 }, StepSpan { text: 5..6, row: 7 }]);
        let (ids, spans) = assemble(vec![7], &steps, &sep, Some(&[20, 21, 22]));
        assert_eq!(ids, [7, 10, 11, 0, 1, 20, 21, 22, 0, 1, 12, 0, 1, 20, 21, 22, 0, 1]);
        // Each row is the question's last token; the steps' own tokens are where they were read.
        assert_eq!(spans, [StepSpan { text: 1..3, row: 7 }, StepSpan { text: 10..11, row: 15 }]);
        assert!(built_in_ask().ends_with(':') && !built_in_ask().contains('\n'));
    }

    #[test]
    fn token_features_summarise_a_steps_surprise() {
        let s = |log_prob: f32, entropy: f32| Surprise { log_prob, entropy };
        let f = token_features(&[s(-0.1, 1.0), s(-4.0, 3.0), s(-0.4, 2.0)], &[false, true, false]);
        let want = [-1.5, -4.0, 2.0, 3.0, -4.0, -4.0, 1.0 / 3.0, 4f32.ln()];
        assert_eq!(f.len(), TOKEN_FEATURES);
        for (got, want) in f.iter().zip(want) {
            assert!((got - want).abs() < 1e-6, "{f:?}");
        }
        let plain = token_features(&[s(-0.2, 0.5)], &[false]);
        assert_eq!((plain[4], plain[5], plain[6]), (0.0, 0.0, 0.0));
        assert_eq!(joined_rows(&[vec![1.0]], &[vec![2.0, 3.0]]), [vec![1.0, 2.0, 3.0]]);
    }

    /// A head decoded cumulatively with a shift of ln 3 scores 0.5, 0.5 as 3/4, then 9/16; a
    /// head without the field (as every head written before it) scores the readings.
    #[test]
    fn a_cumulative_head_scores_the_chance_of_no_error_so_far() {
        let plain = ProbeHead::default();
        assert_eq!(plain.decoded(&[0.5, 0.5]), [0.5, 0.5]);
        let text = serde_json::to_string(&plain).unwrap();
        assert!(!text.contains("cumulative"), "{text}");
        let head = ProbeHead { cumulative: Some(3f64.ln()), ..plain };
        let s = head.decoded(&[0.5, 0.5]);
        assert!((s[0] - 0.75).abs() < 1e-9 && (s[1] - 0.5625).abs() < 1e-9, "{s:?}");
        let back: ProbeHead = serde_json::from_str(&serde_json::to_string(&head).unwrap()).unwrap();
        assert_eq!(back.cumulative, head.cumulative);
    }

    /// A head with a hidden layer: z = (2, −1) → units max(0, 2 − 1 + 0) = 1 and
    /// max(0, −2 + 0 − 1) = 0 → logit 0.5 + 2·1 = 2.5; a file whose sizes disagree is refused.
    #[test]
    fn a_hidden_layer_sits_between_the_features_and_the_output() {
        let head = ProbeHead {
            probe: 1,
            mean: vec![0.0, 0.0],
            scale: vec![1.0, 1.0],
            hidden: Some(Hidden { weights: vec![1.0, 1.0, -1.0, 0.0], bias: vec![0.0, -1.0] }),
            weights: vec![2.0, 5.0],
            bias: 0.5,
            ..ProbeHead::default()
        };
        let p = head.score_rows(&[vec![2.0, -1.0]])[0];
        assert!((p - 1.0 / (1.0 + (-2.5f64).exp())).abs() < 1e-9, "{p}");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("head.json");
        std::fs::write(&path, serde_json::to_string(&head).unwrap()).unwrap();
        assert_eq!(ProbeHead::read(&path).unwrap(), head);
        let wrong = ProbeHead { weights: vec![2.0, 5.0, 1.0], ..head };
        std::fs::write(&path, serde_json::to_string(&wrong).unwrap()).unwrap();
        assert!(ProbeHead::read(&path).is_err());
    }

    /// Every step keeps its own statistics and gets the trace's mean, lowest and highest.
    #[test]
    fn trace_context_follows_each_steps_statistics() {
        let rows = with_trace_context(&[vec![1.0, -2.0], vec![3.0, -6.0]]);
        assert_eq!(rows[0], [1.0, -2.0, 2.0, -4.0, 1.0, -6.0, 3.0, -2.0]);
        assert_eq!(rows[1], [3.0, -6.0, 2.0, -4.0, 1.0, -6.0, 3.0, -2.0]);
        assert!(with_trace_context(&[]).is_empty());
    }

    /// A head written before token statistics existed reads its state alone; a head that
    /// reads them says so in its file.
    #[test]
    fn heads_say_whether_they_read_token_statistics() {
        let old: ProbeHead = serde_json::from_str(r#"{"probe":1,"model":"m","model_fingerprint":"f","layer":3,"target":"prm","mean":[0],"scale":[1],"weights":[1],"bias":0,"threshold":0.5,"sources":[],"problems":[],"metrics":null}"#).unwrap();
        assert!(!old.tokens);
        assert!(!serde_json::to_string(&old).unwrap().contains("tokens"));
        assert!(!old.trace);
        let new = ProbeHead { tokens: true, ..old };
        assert!(serde_json::to_string(&new).unwrap().contains("\"tokens\":true"));
        assert!(!serde_json::to_string(&new).unwrap().contains("\"trace\""));
        let traced = ProbeHead { trace: true, ..new };
        assert!(serde_json::to_string(&traced).unwrap().contains("\"trace\":true"));
        assert!(!old.pool && !serde_json::to_string(&traced).unwrap().contains("pool"));
        let pooled = ProbeHead { pool: true, ..traced };
        assert_eq!(pooled.reads(), Reads { tokens: true, trace: true, pool: true, ..Reads::default() });
    }

    /// Step k's state is followed by the mean of steps 1..=k (never a later one), before the
    /// token statistics.
    #[test]
    fn the_running_mean_sees_only_the_steps_so_far() {
        let states = [vec![1.0, 4.0], vec![3.0, 0.0], vec![5.0, 2.0]];
        let rows = with_running_mean(&states);
        assert_eq!(rows[0], [1.0, 4.0, 1.0, 4.0]);
        assert_eq!(rows[1], [3.0, 0.0, 2.0, 2.0]);
        assert_eq!(rows[2], [5.0, 2.0, 3.0, 2.0]);
        let tokens = [vec![7.0], vec![8.0], vec![9.0]];
        let reads = Reads { tokens: true, pool: true, ..Reads::default() };
        let blocks = Blocks { states: &states, spans: &[], tokens: &tokens, arith: &[] };
        assert_eq!(head_rows(blocks, reads)[1], [3.0, 0.0, 2.0, 2.0, 8.0]);
        assert_eq!(reads_note(reads), " + mean state so far + token surprise");
    }

    /// The checker's verdicts per step: a wrong claim, claims that all check, and a wrong claim
    /// somewhere so far (it stays on after the wrong step); they end the row when read.
    #[test]
    fn arithmetic_verdicts_end_the_row() {
        let steps = ["She has 2 + 3 = 5 apples.", "Then 5 * 4 = 21 apples.", "So she keeps them all."];
        let arith = arith_features(&steps);
        assert_eq!(arith, [vec![0.0, 1.0, 0.0], vec![1.0, 0.0, 1.0], vec![0.0, 0.0, 1.0]]);
        let states = vec![vec![7.0]; 3];
        let spans = vec![vec![5.0]; 3];
        let blocks = Blocks { states: &states, spans: &spans, tokens: &[], arith: &arith };
        let reads = Reads { arith: true, ..Reads::default() };
        assert_eq!(head_rows(blocks, reads)[1], [7.0, 1.0, 0.0, 1.0]);
        assert_eq!(head_rows(blocks, Reads::default())[1], [7.0]);
        assert_eq!(reads_note(reads), " + arithmetic checks");
        let both = Reads { span: true, ..reads };
        assert_eq!(head_rows(blocks, both)[1], [7.0, 5.0, 1.0, 0.0, 1.0]);
        assert_eq!(reads_note(both), " + mean state over the step + arithmetic checks");
    }

    /// Each step's row goes on with the next step's state and a 1; the last step's with zeros
    /// and a 0. It comes after the span mean and before the token statistics, and a head file
    /// without the field reads no next state.
    #[test]
    fn the_next_steps_state_follows_the_row() {
        let states = [vec![1.0, 2.0], vec![3.0, 4.0], vec![5.0, 6.0]];
        assert_eq!(with_next_state(&states), [vec![3.0, 4.0, 1.0], vec![5.0, 6.0, 1.0], vec![0.0, 0.0, 0.0]]);
        let spans = [vec![9.0, 9.0], vec![8.0, 8.0], vec![7.0, 7.0]];
        let tokens = [vec![-1.0], vec![-2.0], vec![-3.0]];
        let blocks = Blocks { states: &states, spans: &spans, tokens: &tokens, arith: &[] };
        let reads = Reads { span: true, next: true, tokens: true, ..Reads::default() };
        let rows = head_rows(blocks, reads);
        assert_eq!(rows[0], [1.0, 2.0, 9.0, 9.0, 3.0, 4.0, 1.0, -1.0]);
        assert_eq!(rows[2], [5.0, 6.0, 7.0, 7.0, 0.0, 0.0, 0.0, -3.0]);
        assert_eq!(reads_note(reads), " + mean state over the step + next step's state + token surprise");
        let old: ProbeHead = serde_json::from_str(r#"{"probe":1,"model":"m","model_fingerprint":"f","layer":3,"target":"prm","mean":[0],"scale":[1],"weights":[1],"bias":0,"threshold":0.5,"sources":[],"problems":[],"metrics":null}"#).unwrap();
        assert!(!old.reads().next && !serde_json::to_string(&old).unwrap().contains("next"));
        let ahead = ProbeHead { next: true, ..old };
        assert!(serde_json::to_string(&ahead).unwrap().contains("\"next\":true") && ahead.reads().next);
    }
}
