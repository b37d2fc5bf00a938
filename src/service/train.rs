//! Training a probe here (`stepscope train`): first-error labels in, hidden states of the
//! model at each step's end read once and cached, a logistic head fitted by Adam on its exact
//! gradient (candle tensors for the two matrix products an epoch),
//! evaluated by k-fold cross-validation grouped by problem, with the first-error threshold (and,
//! for `--layer auto`, the layer) chosen inside the training folds only.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::{bail, Result};
use candle_core::{Device, Tensor};
use serde::Serialize;

use crate::model::LanguageModel;
use crate::signals::agreement::{answer_agreement, auroc};
use crate::signals::metrics::{score, Confusion};
use crate::signals::{first_flagged, survival};
use crate::trace::answer::normalize;
use crate::trace::{Label, Trace};
use crate::verify::probe::{
    arith_features, candidate_layers, head_rows, read_together, step_features, Blocks, Hidden, Member, ProbeHead, Reads,
};

/// What a head learns to predict at each step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// P(this step is right | the steps before it), from first-error labels: steps before the
    /// first error are right, the first error is wrong, later steps are left out.
    Prm,
    /// P(the final answer will be right | the steps so far), from outcome labels (the final
    /// answer against the reference): every step carries its trace's outcome.
    Orm,
}

impl Target {
    pub fn name(self) -> &'static str {
        match self {
            Target::Prm => "prm",
            Target::Orm => "orm",
        }
    }

    /// Whether a trace teaches this target: a first-error label (PRM) or a known outcome (ORM).
    pub fn teaches(self, label: Option<Label>, answer_correct: Option<bool>) -> bool {
        match self {
            Target::Prm => label.is_some(),
            Target::Orm => answer_correct.is_some(),
        }
    }
}

/// One labelled trace: its problem's hash (folds group by it), its first-error label (None: not
/// labelled), whether its final answer is right, and its step features per candidate layer.
pub struct Example {
    pub problem: String,
    pub label: Option<Label>,
    pub answer_correct: Option<bool>,
    /// The share of the file's other solutions to the same problem with the same final answer
    /// ([`answer_agreements`]): a baseline the ORM is reported against, never a feature.
    pub agreement: Option<f64>,
    /// `[layer][step][feature]`, layers as in `Dataset::layers`.
    pub features: Vec<Vec<Vec<f32>>>,
    /// `[step][feature]`: each step's token statistics ([`crate::verify::probe::token_features`]).
    pub tokens: Vec<Vec<f32>>,
    /// `[layer][step][feature]`: the mean state over each step's own tokens, layers as in
    /// `features` (empty unless a view may read it).
    pub spans: Vec<Vec<Vec<f32>>>,
    /// `[step][feature]`: the arithmetic checker's verdicts ([`arith_features`]).
    pub arith: Vec<Vec<f32>>,
    /// A train-only trace (`train --also`): it teaches with [`FitOptions::extra_weight`] and is
    /// never scored, not even by the inner cross-validations that choose a view.
    pub extra: bool,
}

/// What a head reads of each step: the state after one of the dataset's layers (an index into
/// `Dataset::layers`), alone or followed by the step's token statistics (and with `trace`,
/// its trace's, [`crate::verify::probe::with_trace_context`]); and for a PRM whether
/// the steps after the first error teach too (as wrong: the trace is already broken there);
/// and how strongly its weights are held to zero.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct View {
    pub layer: usize,
    pub tokens: bool,
    /// Only with `tokens`.
    pub trace: bool,
    /// The state followed by the mean state of the steps so far.
    pub pool: bool,
    /// The state followed by the mean state over the step's own tokens.
    pub span: bool,
    /// The row ends with the arithmetic checker's verdicts.
    pub arith: bool,
    /// The state followed by the next step's ([`crate::verify::probe::with_next_state`]).
    pub next: bool,
    pub after_error: bool,
    /// The fit's L2 penalty.
    pub l2: f64,
}

impl View {
    pub fn reads(self) -> Reads {
        let (tokens, trace, pool, span, arith, next) =
            (self.tokens, self.trace, self.pool, self.span, self.arith, self.next);
        Reads { tokens, trace, pool, span, arith, next }
    }

    /// One example's rows in this view, one per step.
    fn rows(self, e: &Example) -> Vec<Vec<f32>> {
        let spans = e.spans.get(self.layer).map_or(&[][..], Vec::as_slice);
        let blocks = Blocks { states: &e.features[self.layer], spans, tokens: &e.tokens, arith: &e.arith };
        head_rows(blocks, self.reads())
    }
}

pub struct Dataset {
    pub target: Target,
    pub layers: Vec<usize>,
    /// Train-only examples (`train --also`): in every fold's training data, never scored.
    pub examples: Vec<Example>,
    pub extra: Vec<Example>,
    /// Forward passes run (traces not in the cache).
    pub forward_passes: usize,
}

/// The hash a problem is known by in a head (its text, trimmed).
pub fn problem_hash(problem: &str) -> String {
    format!("{:016x}", crate::model::fnv1a(crate::model::FNV_OFFSET, problem.trim().as_bytes()))
}

/// Where a trace's features are cached for a model: one raw little-endian f32 file per (model
/// fingerprint, trace text, what: `L{layer}` for the state after a layer, `tok` for the token
/// statistics).
fn cache_file(dir: &Path, fingerprint: &str, t: &Trace, what: &str) -> PathBuf {
    let mut h = crate::model::fnv1a(crate::model::FNV_OFFSET, t.problem.as_bytes());
    for s in &t.steps {
        h = crate::model::fnv1a(h, &[0xff]);
        h = crate::model::fnv1a(h, s.text.as_bytes());
    }
    dir.join(fingerprint).join(format!("{h:016x}-{what}.f32"))
}

fn read_cached(path: &Path, steps: usize) -> Option<Vec<Vec<f32>>> {
    let bytes = std::fs::read(path).ok()?;
    let floats: Vec<f32> = bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    if steps == 0 || floats.is_empty() || !floats.len().is_multiple_of(steps) {
        return None;
    }
    Some(floats.chunks(floats.len() / steps).map(<[f32]>::to_vec).collect())
}

fn write_cached(path: &Path, rows: &[Vec<f32>]) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let bytes: Vec<u8> = rows.iter().flatten().flat_map(|x| x.to_le_bytes()).collect();
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

impl Example {
    fn first_error(&self) -> Option<usize> {
        self.label.and_then(Label::first_error)
    }
}

/// Each trace's answer agreement: the share of the other traces of its problem whose final
/// answer is the same once normalised ([`crate::signals::agreement::answer_agreement`]).
fn answer_agreements<'a>(traces: impl Iterator<Item = &'a Trace>) -> Vec<Option<f64>> {
    let items: Vec<(String, Option<String>)> =
        traces.map(|t| (problem_hash(&t.problem), t.final_answer.as_deref().map(normalize))).collect();
    answer_agreement(&items)
}

/// What a pass reads of each trace: the states after each of `layers`, with `spans` also their
/// means over each step's tokens, and with `ask` at the end of that question after each step.
#[derive(Debug, Clone, Copy)]
pub struct Read<'a> {
    pub layers: &'a [usize],
    pub spans: bool,
    pub ask: Option<&'a str>,
}

/// Step features of every trace that teaches `target` as `read` says, from the cache when there
/// (refitting never reruns the model), else by one forward pass that fills it.
pub fn dataset(
    model: &dyn LanguageModel,
    cache: &Path,
    target: Target,
    traces: &[(Trace, Option<Label>)],
    read: Read,
    run: &mut Run,
) -> Result<Dataset> {
    let Read { layers, spans, ask } = read;
    // States read after a question are other states: cached under the question's own name.
    let asked = ask.map_or(String::new(), |q| format!("ask{}-", problem_hash(q)));
    let fingerprint = &model.fingerprint();
    let mut examples = Vec::new();
    let mut forward_passes = 0;
    let agreements = answer_agreements(traces.iter().map(|(t, _)| t));
    for (i, (t, label)) in traces.iter().enumerate() {
        (run.progress)(i, traces.len());
        if run.cancel.load(Ordering::Relaxed) {
            bail!("cancelled after {i} of {} traces (their states are cached)", traces.len());
        }
        if t.steps.is_empty() || !target.teaches(*label, t.answer_correct()) {
            continue;
        }
        // The states, then the span means when asked, then the token statistics' file last: a
        // trace is read again unless all are there (caches from before span means still serve
        // the heads that do not read them).
        let span_files = if spans { layers } else { &[] };
        let files: Vec<PathBuf> = layers
            .iter()
            .map(|&l| format!("L{l}"))
            .chain(span_files.iter().map(|&l| format!("S{l}")))
            .chain(["tok".to_string()])
            .map(|what| cache_file(cache, fingerprint, t, &format!("{asked}{what}")))
            .collect();
        let cached: Option<Vec<Vec<Vec<f32>>>> = files.iter().map(|f| read_cached(f, t.steps.len())).collect();
        let mut features = match cached {
            Some(f) => f,
            None => {
                let f = step_features(model, &t.problem, &t.step_texts(), layers, true, ask)?;
                forward_passes += 1;
                let span_means = f.spans.into_iter().take(span_files.len());
                let all: Vec<Vec<Vec<f32>>> = f.layers.into_iter().chain(span_means).chain([f.tokens]).collect();
                for (file, rows) in files.iter().zip(&all) {
                    write_cached(file, rows)?;
                }
                all
            }
        };
        let tokens = features.pop().expect("the token statistics come last");
        let spans = features.split_off(layers.len());
        examples.push(Example {
            problem: problem_hash(&t.problem),
            label: *label,
            answer_correct: t.answer_correct(),
            agreement: agreements[i],
            features,
            spans,
            tokens,
            // Model-free and instant: computed here, never cached.
            arith: arith_features(&t.step_texts()),
            extra: false,
        });
    }
    (run.progress)(traces.len(), traces.len());
    Ok(Dataset { target, layers: layers.to_vec(), examples, extra: Vec::new(), forward_passes })
}

/// How a training run reports (traces read of all) and is stopped (between traces).
pub struct Run<'a> {
    pub progress: &'a mut dyn FnMut(usize, usize),
    pub cancel: &'a AtomicBool,
}

/// What to train: the target, where to read, how to cross-validate and fit.
#[derive(Debug, Clone, Copy)]
pub struct Plan<'a> {
    pub target: Target,
    /// A question put after each step, whose last token's states are read ([`crate::verify::probe::assemble`]).
    pub ask: Option<&'a str>,
    pub layer: LayerChoice,
    pub features: FeatureChoice,
    pub after_error: AfterError,
    pub pool: PoolChoice,
    /// Each step's state followed by the mean state over the step's own tokens.
    pub span: Toggle,
    pub arith: Toggle,
    /// Each step's state followed by the next step's (a PRM's only).
    pub next: Toggle,
    /// How a PRM's first error is read from its steps ([`Decode`]), chosen inside the folds.
    pub decode: Decode,
    /// One head fitted on all the training traces, or several read together ([`Bag`]).
    pub bag: Bag,
    /// Choose the L2 penalty among [`L2_GRID`] inside the training folds (else `fit.l2`).
    pub auto_l2: bool,
    pub folds: usize,
    pub seed: u64,
    pub fit: FitOptions,
}

/// A head trained and written, with what it took.
pub struct Trained {
    pub metrics: CvMetrics,
    pub layer: usize,
    /// What the head reads beside the state.
    pub reads: Reads,
    /// The final fit's L2 penalty.
    pub l2: f64,
    pub threshold: Thresholds,
    pub forward_passes: usize,
    pub read_seconds: f64,
    pub fit_seconds: f64,
}

/// Labelled traces and where their labels came from (`dataset:FILE@fingerprint (N traces)`).
pub struct Labels<'a> {
    pub traces: &'a [(Trace, Option<Label>)],
    /// Traces that only teach: added to every training fold, never evaluated.
    pub extra: &'a [(Trace, Option<Label>)],
    pub sources: Vec<String>,
}

/// The whole loop, for every face: hidden states of the labelled traces on `model` (cached),
/// k-fold cross-validation, the head fitted on everything and written to `output` (atomically)
/// with its provenance. `model_name` is what the head calls its base model (a spec the verifier
/// can load again).
pub fn train_head(
    model: &dyn LanguageModel,
    model_name: &str,
    labels: Labels,
    plan: Plan,
    cache: &Path,
    output: &Path,
    run: &mut Run,
) -> Result<Trained> {
    let started = Instant::now();
    let Some(depth) = model.num_layers() else {
        bail!("{}: a probe reads hidden states, which only a local model gives", model.name())
    };
    let layers = layers_to_read(plan.layer, depth)?;
    let read = Read { layers: &layers, spans: plan.span != Toggle::No, ask: plan.ask };
    let mut data = dataset(model, cache, plan.target, labels.traces, read, run)?;
    if !labels.extra.is_empty() {
        let extra = dataset(model, cache, plan.target, labels.extra, read, run)?;
        data.extra = extra.examples.into_iter().map(|e| Example { extra: true, ..e }).collect();
        data.forward_passes += extra.forward_passes;
    }
    let read_seconds = started.elapsed().as_secs_f64();
    let fit_started = Instant::now();
    let choice = Choice {
        layer: plan.layer,
        features: plan.features,
        after_error: plan.after_error,
        pool: plan.pool,
        span: plan.span,
        arith: plan.arith,
        next: plan.next,
        decode: plan.decode,
        bag: plan.bag,
        auto_l2: plan.auto_l2,
    };
    let (metrics, heads, view, threshold) = train(&data, choice, plan.folds, plan.seed, plan.fit)?;
    let (layer, l2) = (data.layers[view.layer], view.l2);
    let fit_seconds = fit_started.elapsed().as_secs_f64();
    let mut problems: Vec<String> = data.examples.iter().chain(&data.extra).map(|e| e.problem.clone()).collect();
    problems.sort_unstable();
    problems.dedup();
    let (model_name, fingerprint, ask) = (model_name.to_string(), model.fingerprint(), plan.ask.map(str::to_string));
    let origin = Origin { model: model_name, fingerprint, ask, sources: labels.sources, problems };
    write_head(&head(origin, &data.layers, heads, threshold, &metrics), output)?;
    let forward_passes = data.forward_passes;
    let reads = view.reads();
    Ok(Trained { metrics, layer, reads, l2, threshold, forward_passes, read_seconds, fit_seconds })
}

fn write_head(head: &ProbeHead, output: &Path) -> Result<()> {
    if let Some(dir) = output.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?;
    }
    let tmp = output.with_extension("tmp");
    std::fs::write(&tmp, serde_json::to_string_pretty(head)?).map_err(|e| anyhow::anyhow!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, output).map_err(|e| anyhow::anyhow!("{}: {e}", output.display()))?;
    Ok(())
}

/// A fitted head on standardised features: logistic, through a hidden layer or not.
pub type Fitted = Member;

/// How a head is fitted.
#[derive(Debug, Clone, Copy)]
pub struct FitOptions {
    /// L2 penalty on the weights (standardised features).
    pub l2: f64,
    pub epochs: usize,
    pub learning_rate: f64,
    /// Hidden ReLU units before the logistic output (`train --head mlp`); 0: a linear head.
    pub hidden: usize,
    /// What a train-only trace's step weighs in a fit against one of the main files'
    /// (`train --also-weight`).
    pub extra_weight: f64,
}

impl Default for FitOptions {
    fn default() -> FitOptions {
        FitOptions { l2: 0.01, epochs: 300, learning_rate: 0.05, hidden: 0, extra_weight: 1.0 }
    }
}

/// The hidden units of `train --head mlp`.
pub const MLP_UNITS: usize = 32;

/// Logistic regression of `y` (1 = step right) on `x`, classes weighted to balance (a wrong
/// step is rare): full-batch Adam on the mean weighted log-loss plus `l2`·|w|².
pub fn fit(x: &[Vec<f32>], y: &[f32], o: FitOptions) -> Result<Fitted> {
    fit_weighted(x, y, &vec![1.0; y.len()], o)
}

/// [`fit`] with a weight for each row (a train-only trace's steps may weigh less): the classes
/// are balanced by their weights, and the loss is the mean over the weights.
pub fn fit_weighted(x: &[Vec<f32>], y: &[f32], row_w: &[f32], o: FitOptions) -> Result<Fitted> {
    let (n, d) = (x.len(), x.first().map_or(0, Vec::len));
    if n == 0 || d == 0 {
        bail!("nothing to fit: no labelled step");
    }
    if row_w.len() != n || y.len() != n || row_w.iter().any(|w| !(w.is_finite() && *w > 0.0)) {
        bail!("a fit needs one positive weight and one target per row");
    }
    let mean: Vec<f32> = (0..d).map(|j| x.iter().map(|r| r[j]).sum::<f32>() / n as f32).collect();
    let scale: Vec<f32> = (0..d)
        .map(|j| {
            let var = x.iter().map(|r| (r[j] - mean[j]).powi(2)).sum::<f32>() / n as f32;
            var.sqrt().max(1e-6)
        })
        .collect();
    let z: Vec<f32> = x.iter().flat_map(|r| r.iter().enumerate().map(|(j, v)| (v - mean[j]) / scale[j])).collect();
    let dev = Device::Cpu;
    let xs = Tensor::from_vec(z, (n, d), &dev)?;
    let ys = Tensor::from_vec(y.to_vec(), (n, 1), &dev)?;
    // Weighted counts (with unit weights, the counts themselves): the whole weighs `total`,
    // split evenly between the classes.
    let total: f32 = row_w.iter().sum();
    let pos: f32 = y.iter().zip(row_w).filter(|(&v, _)| v > 0.5).map(|(_, w)| w).sum::<f32>().max(1.0);
    let neg = (total - pos).max(1.0);
    let sample_w: Vec<f32> = y
        .iter()
        .zip(row_w)
        .map(|(&v, &w)| if v > 0.5 { w * total / (2.0 * pos) } else { w * total / (2.0 * neg) })
        .collect();
    let sw = Tensor::from_vec(sample_w, (n, 1), &dev)?;
    if o.hidden > 0 {
        let (hidden, weights, bias) = fit_mlp(&xs, &ys, &sw, total, o)?;
        return Ok(Fitted { layer: None, reads: None, mean, scale, hidden: Some(hidden), weights, bias });
    }
    // Adam on the exact gradient, which a logistic loss has in closed form (σ(l) − y per row):
    // two matrix-vector products an epoch, no autodiff graph over the (n, d) matrix.
    let (beta1, beta2, eps) = (0.9f32, 0.999f32, 1e-8f32);
    let lr = o.learning_rate as f32;
    let (mut weights, mut bias) = (vec![0f32; d], 0f32);
    let (mut m, mut v) = (vec![0f32; d + 1], vec![0f32; d + 1]);
    for step in 1..=o.epochs {
        let w = Tensor::from_slice(&weights, (d, 1), &dev)?;
        let logits = (xs.matmul(&w)? + f64::from(bias))?;
        let residual = ((candle_nn::ops::sigmoid(&logits)? - &ys)? * &sw)?;
        let residual = (residual / f64::from(total))?;
        let grad_w: Vec<f32> = residual.t()?.matmul(&xs)?.flatten_all()?.to_vec1()?;
        let grad_b: f32 = residual.sum_all()?.to_scalar()?;
        let (c1, c2) = (1.0 - beta1.powi(step as i32), 1.0 - beta2.powi(step as i32));
        for j in 0..=d {
            let g = if j < d { grad_w[j] + 2.0 * o.l2 as f32 * weights[j] } else { grad_b };
            m[j] = beta1 * m[j] + (1.0 - beta1) * g;
            v[j] = beta2 * v[j] + (1.0 - beta2) * g * g;
            let delta = lr * (m[j] / c1) / ((v[j] / c2).sqrt() + eps);
            if j < d {
                weights[j] -= delta;
            } else {
                bias -= delta;
            }
        }
    }
    Ok(Fitted { layer: None, reads: None, mean, scale, hidden: None, weights, bias })
}

/// A head with `o.hidden` ReLU units on the standardised rows `xs` (n, d): candle-nn's AdamW
/// (no decay of its own) on the mean weighted log-loss plus `l2`·(|W₁|² + |w₂|²), full batch,
/// through candle's autodiff (the closed form of the linear fit does not carry over). The
/// start is seeded, so a fit is repeatable.
fn fit_mlp(xs: &Tensor, ys: &Tensor, sw: &Tensor, total: f32, o: FitOptions) -> Result<(Hidden, Vec<f32>, f32)> {
    use candle_nn::Optimizer;
    let (_, d) = xs.dims2()?;
    let h = o.hidden;
    let dev = xs.device();
    // Uniform in ±sqrt(6 / (fan_in + fan_out)), from a fixed hash of each weight's index.
    let start = |count: usize, fan: usize, salt: u8| -> Vec<f32> {
        let limit = (6.0 / fan as f32).sqrt();
        (0..count)
            .map(|i| {
                let bits = crate::model::fnv1a(crate::model::FNV_OFFSET, &[&[salt][..], &i.to_le_bytes()].concat());
                ((bits >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * limit
            })
            .collect()
    };
    let w1 = candle_core::Var::from_vec(start(d * h, d + h, 1), (d, h), dev)?;
    let b1 = candle_core::Var::zeros(h, candle_core::DType::F32, dev)?;
    let w2 = candle_core::Var::from_vec(start(h, h + 1, 2), (h, 1), dev)?;
    let b2 = candle_core::Var::zeros(1, candle_core::DType::F32, dev)?;
    let params = candle_nn::ParamsAdamW { lr: o.learning_rate, weight_decay: 0.0, ..Default::default() };
    let mut opt = candle_nn::AdamW::new(vec![w1.clone(), b1.clone(), w2.clone(), b2.clone()], params)?;
    for _ in 0..o.epochs {
        let units = xs.matmul(w1.as_tensor())?.broadcast_add(b1.as_tensor())?.relu()?;
        let logits = units.matmul(w2.as_tensor())?.broadcast_add(b2.as_tensor())?;
        // log(1 + e^l) − y·l, written to stay finite for large |l|.
        let softplus = (logits.relu()? + (logits.abs()?.neg()?.exp()? + 1.0)?.log()?)?;
        let loss = ((softplus - (&logits * ys)?)? * sw)?.sum_all()?;
        let penalty = (w1.as_tensor().sqr()?.sum_all()? + w2.as_tensor().sqr()?.sum_all()?)?;
        let loss = ((loss / f64::from(total))? + (penalty * o.l2)?)?;
        opt.backward_step(&loss)?;
    }
    // Row-major (units × features) for the head file.
    let hidden = Hidden { weights: w1.as_tensor().t()?.flatten_all()?.to_vec1()?, bias: b1.as_tensor().to_vec1()? };
    let weights = w2.as_tensor().flatten_all()?.to_vec1()?;
    let bias = b2.as_tensor().to_vec1::<f32>()?[0];
    Ok((hidden, weights, bias))
}

/// The targets (1 = right) of the steps one example teaches, from its first. PRM: the steps up
/// to the first error (which is 0; later steps are left out). ORM: every step, carrying the
/// trace's outcome.
fn targets(e: &Example, target: Target) -> Vec<f32> {
    let steps = e.tokens.len();
    match target {
        Target::Prm => {
            let first = e.first_error();
            let upto = first.map_or(steps, |f| (f + 1).min(steps));
            (0..upto).map(|k| if Some(k) == first { 0.0 } else { 1.0 }).collect()
        }
        Target::Orm => vec![if e.answer_correct == Some(true) { 1.0 } else { 0.0 }; steps],
    }
}

/// What a fit in `view` learns from an example: its targets, and with `after_error` (PRM) every
/// step after the first error as wrong too.
fn fit_targets(e: &Example, view: View, target: Target) -> Vec<f32> {
    let mut t = targets(e, target);
    if view.after_error && target == Target::Prm && e.first_error().is_some() {
        t.resize(e.tokens.len(), 0.0);
    }
    t
}

fn fit_on(examples: &[&Example], view: View, target: Target, o: FitOptions) -> Result<Fitted> {
    let o = FitOptions { l2: view.l2, ..o };
    let (mut x, mut y, mut w) = (Vec::new(), Vec::new(), Vec::new());
    for e in examples {
        let t = fit_targets(e, view, target);
        let weight = if e.extra { o.extra_weight as f32 } else { 1.0 };
        x.extend(view.rows(e).into_iter().take(t.len()));
        w.extend(std::iter::repeat_n(weight, t.len()));
        y.extend(t);
    }
    fit_weighted(&x, &y, &w, o)
}

/// Each step's P(right) by `heads` together, each reading its own view: the sigmoid of their
/// mean logit (one head: its P).
fn step_probs(heads: &[(View, Fitted)], e: &Example) -> Vec<f64> {
    read_together(heads.iter().map(|(view, head)| view.rows(e).iter().map(|r| head.logit(r)).collect()))
}

/// What a head says of a whole trace: P(answer right). A PRM's weakest step; an ORM's reading
/// after the last step.
fn trace_score(p: &[f64], target: Target) -> f64 {
    match target {
        Target::Prm => p.iter().copied().fold(1.0, f64::min),
        Target::Orm => p.last().copied().unwrap_or(1.0),
    }
}

/// How a head's step readings become a first error ([`first_flagged`]): the trace is flagged
/// when a step reads below `flag`, and its first error is then its first step below `locate`.
/// One threshold τ when they are equal (an ORM's always are: τ on P(answer right)).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Thresholds {
    pub flag: f64,
    pub locate: f64,
    /// Some(shift): the thresholds apply to the chance that no step so far is wrong
    /// ([`survival`] of the readings with this logit shift), not to the readings themselves.
    pub cumulative: Option<f64>,
}

impl Thresholds {
    pub fn one(tau: f64) -> Thresholds {
        Thresholds { flag: tau, locate: tau, cumulative: None }
    }

    fn first_error(self, p: &[f64]) -> Option<usize> {
        match self.cumulative {
            None => first_flagged(p, self.flag, self.locate),
            Some(shift) => first_flagged(&survival(p, shift), self.flag, self.locate),
        }
    }
}

/// The logit shifts a cumulative decode ([`Decode::cumulative`]) chooses among: none, and up to
/// the ~2.5 that balancing classes of about one wrong step in twelve takes off a right step's
/// logit, and a little beyond.
pub const CUMULATIVE_SHIFTS: [f64; 5] = [0.0, 1.0, 2.0, 3.0, 4.0];

/// How a PRM's readings become a first error, chosen inside the training folds: one τ or two
/// thresholds ([`Thresholds`]), and a floor under the acc_corr the thresholds give there.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Decode {
    pub two: bool,
    /// In percent: only thresholds that leave at least this share of the training folds' right
    /// traces unflagged are candidates (the best acc_corr when none does).
    pub min_acc_corr: Option<f64>,
    /// Whether the thresholds apply to each step's reading (`No`), to the chance that no step
    /// so far is wrong with a logit shift from [`CUMULATIVE_SHIFTS`] (`Yes`), or to whichever
    /// gives the better F1 on the training folds (`Auto`; the readings themselves win a tie).
    pub cumulative: Toggle,
}

impl Decode {
    /// The floor `train` (and the TUI's train key) uses unless told otherwise: at most 17% of the
    /// right traces flagged inside the training folds — three points above the 80,
    /// because held-out acc_corr scatters by about that much from split to split.
    pub const MIN_ACC_CORR: f64 = 83.0;
    /// `train`'s (and the TUI's train key's) unless told otherwise: two thresholds, the floor
    /// above, and the readings or their product as the folds prefer. (`Default` is one τ on the
    /// readings and no floor.)
    pub const TRAIN: Decode = Decode { two: true, min_acc_corr: Some(Decode::MIN_ACC_CORR), cumulative: Toggle::Auto };
}

/// The thresholds, chosen on `examples` (training folds only) from `probs`, their step
/// readings: a PRM's best ProcessBench F1 (with `decode.two`, over every flag ≤ locate, else
/// one τ) among those that keep `decode.min_acc_corr`; an ORM's best balanced accuracy of
/// "answer right when P ≥ τ". The first best wins, so equal thresholds win a tie.
fn best_threshold(probs: &[Vec<f64>], examples: &[&Example], target: Target, decode: Decode) -> Thresholds {
    // (keeps the floor, value, then): F1 where it does, else acc_corr then F1, so an
    // unreachable floor falls back to the fewest right traces flagged. A PRM's thresholds apply
    // to `scores`: the readings, or their survival.
    let quality = |t: Thresholds, scores: &[Vec<f64>]| match target {
        Target::Prm => {
            let pairs: Vec<(Option<usize>, Option<usize>)> = scores
                .iter()
                .zip(examples)
                .map(|(p, e)| (first_flagged(p, t.flag, t.locate), e.first_error()))
                .collect();
            let s = score(&pairs);
            match decode.min_acc_corr {
                Some(floor) if s.acc_corr < floor => (false, s.acc_corr, s.f1),
                _ => (true, s.f1, 0.0),
            }
        }
        Target::Orm => {
            let judged: Vec<(bool, bool)> = probs
                .iter()
                .zip(examples)
                .filter_map(|(p, e)| Some((trace_score(p, target) >= t.locate, e.answer_correct?)))
                .collect();
            (true, balanced_accuracy(&judged), 0.0)
        }
    };
    let two = decode.two && target == Target::Prm;
    let grid: Vec<f64> = (1..100).map(|k| k as f64 / 100.0).collect();
    let shifts: Vec<Option<f64>> = match (target, decode.cumulative) {
        (Target::Orm, _) | (_, Toggle::No) => vec![None],
        (_, Toggle::Yes) => CUMULATIVE_SHIFTS.iter().copied().map(Some).collect(),
        (_, Toggle::Auto) => std::iter::once(None).chain(CUMULATIVE_SHIFTS.iter().copied().map(Some)).collect(),
    };
    // Each decode's scores, worked out once.
    let decoded: Vec<(Option<f64>, Vec<Vec<f64>>)> = shifts
        .into_iter()
        .map(|c| (c, c.map_or_else(|| probs.to_vec(), |shift| probs.iter().map(|p| survival(p, shift)).collect())))
        .collect();
    let candidates = decoded.iter().flat_map(|(cumulative, scores)| {
        let grid = &grid;
        grid.iter().flat_map(move |&locate| {
            let flags = grid.iter().rev().filter(move |&&f| f <= locate && (two || f == locate));
            flags.map(move |&flag| (Thresholds { flag, locate, cumulative: *cumulative }, scores))
        })
    });
    candidates
        .map(|(t, scores)| (t, quality(t, scores)))
        .fold(
            (Thresholds::one(0.5), (false, f64::MIN, f64::MIN)),
            |best, (t, v)| if v > best.1 { (t, v) } else { best },
        )
        .0
}

/// The mean of the accuracy on right and on wrong answers, of (said right, is right) pairs.
fn balanced_accuracy(judged: &[(bool, bool)]) -> f64 {
    let rate = |truth: bool| {
        let of: Vec<bool> = judged.iter().filter(|(_, t)| *t == truth).map(|(said, _)| *said == truth).collect();
        if of.is_empty() {
            0.0
        } else {
            of.iter().filter(|&&ok| ok).count() as f64 / of.len() as f64
        }
    };
    (rate(true) + rate(false)) / 2.0
}

/// Held-out traces ranked by the head's P(answer right), in five groups of (nearly) equal size
/// from the lowest: how often each group's answer was right.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Quintile {
    pub from: f64,
    pub to: f64,
    pub traces: usize,
    pub accuracy: f64,
}

fn quintiles(scored: &[(f64, bool)]) -> Vec<Quintile> {
    let mut sorted = scored.to_vec();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    let n = sorted.len();
    (0..5)
        .filter_map(|q| {
            let group = &sorted[q * n / 5..(q + 1) * n / 5];
            let (first, last) = (group.first()?, group.last()?);
            let right = group.iter().filter(|(_, ok)| *ok).count();
            Some(Quintile {
                from: first.0,
                to: last.0,
                traces: group.len(),
                accuracy: right as f64 / group.len() as f64,
            })
        })
        .collect()
}

/// Cross-validated quality of a probe, every number on traces none of its fit saw.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CvMetrics {
    /// `prm` or `orm`.
    pub target: &'static str,
    pub folds: usize,
    pub traces: usize,
    pub steps: usize,
    /// ProcessBench metrics of the first step below τ, over held-out traces with a first-error
    /// label (None when none has one).
    pub f1: Option<f64>,
    pub acc_err: Option<f64>,
    pub acc_corr: Option<f64>,
    /// Where the held-out first errors were put against the labels (early, exact, late,
    /// missed; false alarms and right traces left alone), None as for `f1`.
    pub confusion: Option<Confusion>,
    /// AUROC of 1 − P for a wrong target over the held-out rows (PRM: the first error against
    /// the steps before it; ORM: every step of a trace whose answer is wrong).
    pub step_auroc: Option<f64>,
    /// AUROC of 1 − the trace's P(answer right) for a wrong final answer.
    pub trace_auroc: Option<f64>,
    /// The same from the first step's reading alone.
    pub first_step_trace_auroc: Option<f64>,
    /// Baselines, for scale: the step's position alone (PRM), and the trace's number of steps
    /// alone for a wrong answer.
    pub position_step_auroc: Option<f64>,
    pub length_trace_auroc: Option<f64>,
    /// And the answer agreement alone (a majority vote among the file's solutions to the same
    /// problem), where traces have siblings.
    pub agreement_trace_auroc: Option<f64>,
    /// Held-out traces by the head's P(answer right), lowest fifth first.
    pub quintiles: Vec<Quintile>,
    /// The layer each fold used (its inner choice under `--layer auto`).
    pub layers: Vec<usize>,
    /// Whether each fold's head read the token statistics too (its inner choice under
    /// `--features auto`), and those of its trace.
    pub tokens: Vec<bool>,
    pub trace: Vec<bool>,
    /// Whether each fold's head read the mean state so far too (its inner choice under
    /// `--pool auto`).
    pub pool: Vec<bool>,
    /// Whether each fold's head read the mean state over the step (`--span-mean auto`) and the
    /// arithmetic checker's verdicts (`--arith auto`), as its inner choice.
    pub span: Vec<bool>,
    pub arith: Vec<bool>,
    /// Whether each fold's head learnt from the steps after the first error too (its inner
    /// choice under `--after-error auto`).
    pub after_error: Vec<bool>,
    /// Per fold: whether its head read the next step's state.
    pub next: Vec<bool>,
    /// Each fold's L2 penalty (its inner choice under `--l2 auto`).
    pub l2: Vec<f64>,
    /// Each fold's τ (a PRM's locating threshold), and its flagging threshold (the same unless
    /// `--thresholds two`).
    pub thresholds: Vec<f64>,
    pub flags: Vec<f64>,
    /// Per fold: the logit shift of a cumulative decode ([`Decode::cumulative`]), None where
    /// its thresholds apply to the readings themselves.
    pub cumulative: Vec<Option<f64>>,
    /// Train-only traces left out of a fold's training data because the fold holds out their
    /// problem, summed over the folds.
    pub extra_left_out: usize,
}

/// Which layers a fit may read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LayerChoice {
    Fixed(usize),
    /// Chosen among the candidates by an inner cross-validation on the training folds.
    Auto,
}

/// What a fit reads beside the state: nothing, the token statistics, those followed by the
/// trace's ([`crate::verify::probe::with_trace_context`]), or whichever of the three an inner cross-validation on the
/// training folds prefers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeatureChoice {
    State,
    StateAndTokens,
    StateTokensAndTrace,
    Auto,
}

/// Whether each step's state is followed by the mean state of the steps so far, or an inner
/// cross-validation on the training folds decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolChoice {
    No,
    Mean,
    Auto,
}

/// Whether a head reads a block of features (the arithmetic checker's verdicts, the mean state
/// over the step), or an inner cross-validation on the training folds decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Toggle {
    #[default]
    No,
    Yes,
    Auto,
}

impl Toggle {
    /// The values a view may take.
    fn options(self) -> &'static [bool] {
        match self {
            Toggle::No => &[false],
            Toggle::Yes => &[true],
            Toggle::Auto => &[false, true],
        }
    }
}

/// Whether a PRM also learns from the steps after the first error (as wrong), or an inner
/// cross-validation on the training folds decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterError {
    Skip,
    Wrong,
    Auto,
}

/// The layer and features a fit may read, and what teaches it; `train` picks among them inside
/// the training folds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Choice {
    pub layer: LayerChoice,
    pub features: FeatureChoice,
    pub after_error: AfterError,
    pub pool: PoolChoice,
    pub span: Toggle,
    pub arith: Toggle,
    /// Whether a PRM's row goes on with the next step's state.
    pub next: Toggle,
    /// How a PRM flags a trace and locates its first error ([`Decode`]).
    pub decode: Decode,
    /// One head fitted on everything, or the inner cross-validation's heads read together.
    pub bag: Bag,
    /// The L2 penalty: `FitOptions::l2`, or with `auto_l2` one of [`L2_GRID`] chosen inside
    /// the training folds.
    pub auto_l2: bool,
}

/// Heads read together, each on its own view's rows.
pub type Heads = Vec<(View, Fitted)>;

/// What a head is: one fit on all the training traces, or heads read together (the sigmoid of
/// their mean logit) whose held-out readings chose the thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Bag {
    #[default]
    One,
    /// Three heads of the chosen view, the first of each of three repeated inner splits.
    Inner,
    /// Those of each candidate layer's best view (the inner folds are the same for every view,
    /// so a trace's held-out readings of all layers come from heads that did not see it).
    Layers,
}

/// The L2 penalties `--l2 auto` chooses among.
pub const L2_GRID: [f64; 3] = [0.01, 0.1, 1.0];

impl Choice {
    /// The views this choice allows over a dataset's layers (None: the layer asked for was not
    /// extracted).
    fn views(self, layers: &[usize], target: Target, l2: f64) -> Option<Vec<View>> {
        let indices: Vec<usize> = match self.layer {
            LayerChoice::Fixed(l) => vec![layers.iter().position(|&x| x == l)?],
            LayerChoice::Auto => (0..layers.len()).collect(),
        };
        let reads: &[(bool, bool)] = match self.features {
            FeatureChoice::State => &[(false, false)],
            FeatureChoice::StateAndTokens => &[(true, false)],
            FeatureChoice::StateTokensAndTrace => &[(true, true)],
            FeatureChoice::Auto => &[(false, false), (true, false), (true, true)],
        };
        let after: &[bool] = match (target, self.after_error) {
            (Target::Orm, _) | (_, AfterError::Skip) => &[false],
            (_, AfterError::Wrong) => &[true],
            (_, AfterError::Auto) => &[false, true],
        };
        // An ORM's reading after the last step, which has no next one, judges the trace.
        let nexts: &[bool] = if target == Target::Orm { &[false] } else { self.next.options() };
        let pools: &[bool] = match self.pool {
            PoolChoice::No => &[false],
            PoolChoice::Mean => &[true],
            PoolChoice::Auto => &[false, true],
        };
        let blocks: Vec<(bool, bool, bool)> = pools
            .iter()
            .flat_map(|&p| self.span.options().iter().map(move |&s| (p, s)))
            .flat_map(|(p, s)| self.arith.options().iter().map(move |&a| (p, s, a)))
            .collect();
        let penalties: &[f64] = if self.auto_l2 { &L2_GRID } else { &[l2] };
        let mut views = Vec::new();
        for &layer in &indices {
            for &(tokens, trace) in reads {
                for &(pool, span, arith) in &blocks {
                    for (&next, &after_error) in nexts.iter().flat_map(|n| after.iter().map(move |a| (n, a))) {
                        let view = |l2| View { layer, tokens, trace, pool, span, arith, next, after_error, l2 };
                        views.extend(penalties.iter().map(|&l2| view(l2)));
                    }
                }
            }
        }
        Some(views)
    }
}

/// Folds by problem: the distinct problems shuffled by `seed`, dealt round-robin.
fn folds_of(examples: &[&Example], k: usize, seed: u64) -> Vec<usize> {
    let problems: Vec<&str> = examples.iter().map(|e| e.problem.as_str()).collect();
    folds_by_problem(&problems, k, seed)
}

/// The fold (0..k) of each item, given its problem: the distinct problems shuffled by `seed`
/// and dealt round-robin, so that items of one problem never sit on both sides of a split.
pub fn folds_by_problem(problems: &[&str], k: usize, seed: u64) -> Vec<usize> {
    let mut distinct: Vec<&str> = problems.to_vec();
    distinct.sort_unstable();
    distinct.dedup();
    let mut keyed: Vec<(u64, &str)> =
        distinct.iter().map(|p| (crate::model::fnv1a(seed ^ crate::model::FNV_OFFSET, p.as_bytes()), *p)).collect();
    keyed.sort_unstable();
    let fold_of: std::collections::HashMap<&str, usize> =
        keyed.iter().enumerate().map(|(i, (_, p))| (*p, i % k.max(1))).collect();
    problems.iter().map(|p| fold_of[p]).collect()
}

/// The view chosen inside some training traces, and each trace's step readings by heads that did
/// not see it (None where the inner split left it no such head).
struct Picked {
    view: View,
    held_out: Vec<Option<Vec<f64>>>,
    /// With a bag, the heads read together (with their views): `view`'s first head of each
    /// repeated inner split, or with [`Bag::Layers`] those of each layer's best view. Empty
    /// without a bag (the head is then fitted on all the traces).
    inner: Vec<(View, Fitted)>,
}

impl Picked {
    /// The readings τ is chosen on: each trace's held-out reading, else `heads`'.
    fn readings(&self, heads: &[(View, Fitted)], examples: &[&Example]) -> Vec<Vec<f64>> {
        let own = |e: &Example| step_probs(heads, e);
        examples.iter().zip(&self.held_out).map(|(e, p)| p.clone().unwrap_or_else(|| own(e))).collect()
    }
}

/// One candidate view judged by an inner 3-fold cross-validation: its row AUROC, its held-out
/// step logits of each trace, and its inner heads.
struct Judged {
    auroc: f64,
    view: View,
    held_out: Vec<Option<Vec<f64>>>,
    heads: Vec<Fitted>,
}

/// Folds of the inner cross-validations.
const INNER_FOLDS: usize = 3;

/// Each trace's step logits by a head that did not see it (None where a split left it none).
type HeldOutLogits = Vec<Option<Vec<f64>>>;

/// The inner split of `examples` number `repeat`: dealt like the outer folds, with other seeds.
/// Every view sees the same split of a repeat, so held-out logits of different views can be
/// averaged.
fn inner_split(examples: &[&Example], seed: u64, repeat: usize) -> Vec<usize> {
    // FNV mixes a seed's low bits into every bit of a key, not its high ones: the repeats'
    // seeds differ low.
    folds_of(examples, INNER_FOLDS, seed.wrapping_add(1).wrapping_add(repeat as u64 * 1_000_003))
}

/// `view`'s heads fitted on all but one fold of `inner` each, and each trace's step logits by
/// the head that did not see it (None where the split left it no such head).
fn inner_fits(
    examples: &[&Example],
    inner: &[usize],
    view: View,
    target: Target,
    o: FitOptions,
) -> Result<(HeldOutLogits, Vec<Fitted>)> {
    let mut held_out = vec![None; examples.len()];
    let mut heads = Vec::new();
    for f in 0..INNER_FOLDS {
        let train: Vec<&Example> = examples.iter().zip(inner).filter(|(_, &k)| k != f).map(|(e, _)| *e).collect();
        if train.is_empty() || !inner.contains(&f) {
            continue;
        }
        let fitted = fit_on(&train, view, target, o)?;
        for (i, e) in examples.iter().enumerate().filter(|&(i, _)| inner[i] == f) {
            held_out[i] = Some(view.rows(e).iter().map(|r| fitted.logit(r)).collect());
        }
        heads.push(fitted);
    }
    Ok((held_out, heads))
}

/// Each view judged by a 3-fold cross-validation inside `examples` (row AUROC of its heads'
/// held-out readings).
fn judge_views(examples: &[&Example], views: &[View], target: Target, o: FitOptions, seed: u64) -> Result<Vec<Judged>> {
    let inner = inner_split(examples, seed, 0);
    let mut judged = Vec::new();
    for &view in views {
        let (held_out, heads) = inner_fits(examples, &inner, view, target, o)?;
        let (mut scores, mut bad) = (Vec::new(), Vec::new());
        // Train-only traces teach, but the view is judged on the rows that will be scored.
        for (z, e) in held_out.iter().zip(examples).filter(|(_, e)| !e.extra) {
            for (z, y) in z.iter().flatten().zip(targets(e, target)) {
                scores.push(-z);
                bad.push(y < 0.5);
            }
        }
        let auroc = auroc(&scores, &bad).unwrap_or(0.0);
        judged.push(Judged { auroc, view, held_out, heads });
    }
    Ok(judged)
}

/// The view whose head predicts its target best (row AUROC) in a 3-fold cross-validation
/// inside `examples`, with its held-out readings of them; with [`Bag::Layers`], the best view
/// of every layer read together (their inner heads all kept).
///
/// With a bag, the bag and a trace's held-out reading are made alike: three heads of each view,
/// one from each of three repeated inner splits (the bag: each split's first head; a trace's
/// reading: each split's head that did not see it), read together. So the thresholds chosen on
/// those readings suit the bag's readings of new traces. (One head per view reads more noisily
/// than three together, so its weakest step flags more right traces, and thresholds chosen on it
/// flagged fewer held-out right traces than they were chosen to: 85.5% against a floor of 80.)
fn choose_view(
    examples: &[&Example],
    views: &[View],
    (target, bag): (Target, Bag),
    o: FitOptions,
    seed: u64,
) -> Result<Picked> {
    let judged = judge_views(examples, views, target, o, seed)?;
    // The first best wins a tie.
    let better = |best: Option<&Judged>, j: &Judged| best.is_none_or(|b| j.auroc > b.auroc);
    let mut best: Option<&Judged> = None;
    let mut by_layer: Vec<&Judged> = Vec::new();
    for j in &judged {
        if better(best, j) {
            best = Some(j);
        }
        match by_layer.iter_mut().find(|b| b.view.layer == j.view.layer) {
            Some(b) if j.auroc > b.auroc => *b = j,
            Some(_) => {}
            None => by_layer.push(j),
        }
    }
    let best = best.ok_or_else(|| anyhow::anyhow!("no view to choose from"))?;
    let chosen: Vec<&Judged> = if bag == Bag::Layers { by_layer } else { vec![best] };
    // Without a bag the held-out readings are those of the judging split, the head is fitted
    // on everything later.
    let mut readings: Vec<HeldOutLogits> = chosen.iter().map(|j| j.held_out.clone()).collect();
    let mut inner: Vec<(View, Fitted)> = Vec::new();
    if bag != Bag::One {
        inner.extend(chosen.iter().filter_map(|j| Some((j.view, j.heads.first()?.clone()))));
        for repeat in 1..INNER_FOLDS {
            let split = inner_split(examples, seed, repeat);
            for j in &chosen {
                let (held_out, heads) = inner_fits(examples, &split, j.view, target, o)?;
                readings.push(held_out);
                inner.extend(heads.into_iter().next().map(|h| (j.view, h)));
            }
        }
        // The best view's heads come first: the head file is theirs, the others its `also`.
        inner.sort_by_key(|(v, _)| *v != best.view);
    }
    let held_out = (0..examples.len())
        .map(|i| {
            let each: Option<Vec<Vec<f64>>> = readings.iter().map(|r| r[i].clone()).collect();
            each.map(read_together)
        })
        .collect();
    Ok(Picked { view: best.view, held_out, inner })
}

/// What the held-out folds said, gathered over the folds.
#[derive(Default)]
struct HeldOut {
    pairs: Vec<(Option<usize>, Option<usize>)>,
    rows: Vec<(f64, bool)>,
    positions: Vec<(f64, bool)>,
    traces: Vec<(f64, bool)>,
    first_steps: Vec<(f64, bool)>,
    lengths: Vec<(f64, bool)>,
    agreements: Vec<(f64, bool)>,
}

impl HeldOut {
    fn add(&mut self, e: &Example, p: &[f64], target: Target, t: Thresholds) {
        if let Some(label) = e.label {
            self.pairs.push((t.first_error(p), label.first_error()));
        }
        for (k, y) in targets(e, target).into_iter().enumerate() {
            self.rows.push((1.0 - p[k], y < 0.5));
            if target == Target::Prm {
                self.positions.push((k as f64, y < 0.5));
            }
        }
        if let Some(right) = e.answer_correct {
            self.traces.push((trace_score(p, target), right));
            self.first_steps.push((1.0 - p[0], !right));
            self.lengths.push((p.len() as f64, !right));
            if let Some(a) = e.agreement {
                self.agreements.push((1.0 - a, !right));
            }
        }
    }

    fn metrics(&self, target: Target, folds: usize, traces: usize) -> CvMetrics {
        let roc = |v: &[(f64, bool)]| {
            let (s, b): (Vec<f64>, Vec<bool>) = v.iter().copied().unzip();
            auroc(&s, &b)
        };
        let wrong: Vec<(f64, bool)> = self.traces.iter().map(|&(p, right)| (1.0 - p, !right)).collect();
        let pb = (!self.pairs.is_empty()).then(|| score(&self.pairs));
        CvMetrics {
            target: target.name(),
            folds,
            traces,
            steps: self.rows.len(),
            f1: pb.as_ref().map(|s| s.f1),
            acc_err: pb.as_ref().map(|s| s.acc_err),
            acc_corr: pb.as_ref().map(|s| s.acc_corr),
            confusion: pb.as_ref().map(|s| s.confusion.clone()),
            step_auroc: roc(&self.rows),
            trace_auroc: roc(&wrong),
            first_step_trace_auroc: roc(&self.first_steps),
            position_step_auroc: roc(&self.positions),
            length_trace_auroc: roc(&self.lengths),
            agreement_trace_auroc: roc(&self.agreements),
            quintiles: quintiles(&self.traces),
            layers: Vec::new(),
            tokens: Vec::new(),
            trace: Vec::new(),
            pool: Vec::new(),
            span: Vec::new(),
            arith: Vec::new(),
            after_error: Vec::new(),
            next: Vec::new(),
            l2: Vec::new(),
            thresholds: Vec::new(),
            flags: Vec::new(),
            cumulative: Vec::new(),
            extra_left_out: 0,
        }
    }
}

/// k-fold cross-validation grouped by problem, then the head fitted on everything.
pub fn train(
    data: &Dataset,
    choice: Choice,
    k: usize,
    seed: u64,
    o: FitOptions,
) -> Result<(CvMetrics, Heads, View, Thresholds)> {
    let (ex, target) = (&data.examples, data.target);
    if ex.len() < k || k < 2 {
        bail!("{} labelled traces cannot be split into {k} folds", ex.len());
    }
    let Some(views) = choice.views(&data.layers, target, o.l2) else {
        bail!("layer {:?} was not extracted", choice.layer)
    };
    let pick = |train: &[&Example]| choose_view(train, &views, (target, choice.bag), o, seed);
    // With `bag`, the inner heads whose held-out readings chose τ are the ones τ is applied to.
    let heads_of = |picked: &Picked, train: &[&Example]| -> Result<Vec<(View, Fitted)>> {
        if !picked.inner.is_empty() {
            Ok(picked.inner.clone())
        } else {
            Ok(vec![(picked.view, fit_on(train, picked.view, target, o)?)])
        }
    };
    let fold = folds_of(&ex.iter().collect::<Vec<_>>(), k, seed);
    let mut held = HeldOut::default();
    let (mut layers, mut tokens, mut trace, mut pool) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut span, mut arith, mut after_error, mut next) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut l2, mut thresholds, mut flags, mut cumulative) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    // Train-only examples join every fit, except in a fold that holds out their problem (another
    // file of the same problems would teach the held-out traces' answers). τ is still chosen on
    // the fold's own training traces (they come first in `joined`, so their inner held-out
    // readings line up), and from those readings rather than the fold's head's: a head reads
    // the traces it was fitted on too confidently, and τ must suit traces it has not seen.
    fn joined<'a>(train: &[&'a Example], extra: &'a [Example], held_out: &[&Example]) -> Vec<&'a Example> {
        let hidden: std::collections::HashSet<&str> = held_out.iter().map(|e| e.problem.as_str()).collect();
        train.iter().copied().chain(extra.iter().filter(|e| !hidden.contains(e.problem.as_str()))).collect()
    }
    let mut extra_left_out = 0;
    for f in 0..k {
        let train: Vec<&Example> = ex.iter().zip(&fold).filter(|(_, &g)| g != f).map(|(e, _)| e).collect();
        let test: Vec<&Example> = ex.iter().zip(&fold).filter(|(_, &g)| g == f).map(|(e, _)| e).collect();
        let fold_train = joined(&train, &data.extra, &test);
        extra_left_out += train.len() + data.extra.len() - fold_train.len();
        let picked = pick(&fold_train)?;
        let view = picked.view;
        let heads = heads_of(&picked, &fold_train)?;
        let tau = best_threshold(&picked.readings(&heads, &train), &train, target, choice.decode);
        layers.push(data.layers[view.layer]);
        tokens.push(view.tokens);
        trace.push(view.trace);
        pool.push(view.pool);
        span.push(view.span);
        arith.push(view.arith);
        after_error.push(view.after_error);
        next.push(view.next);
        l2.push(view.l2);
        thresholds.push(tau.locate);
        flags.push(tau.flag);
        cumulative.push(tau.cumulative);
        for e in test {
            held.add(e, &step_probs(&heads, e), target, tau);
        }
    }
    let metrics = CvMetrics {
        layers,
        tokens,
        trace,
        pool,
        span,
        arith,
        after_error,
        next,
        l2,
        thresholds,
        flags,
        cumulative,
        extra_left_out,
        ..held.metrics(target, k, ex.len())
    };
    let all: Vec<&Example> = ex.iter().collect();
    let everything = joined(&all, &data.extra, &[]);
    let picked = pick(&everything)?;
    let view = picked.view;
    let heads = heads_of(&picked, &everything)?;
    let tau = best_threshold(&picked.readings(&heads, &all), &all, target, choice.decode);
    Ok((metrics, heads, view, tau))
}

/// What a head file says about where it came from.
struct Origin {
    pub model: String,
    pub fingerprint: String,
    pub ask: Option<String>,
    pub sources: Vec<String>,
    pub problems: Vec<String>,
}

/// The head file's contents.
fn head(
    origin: Origin,
    layers: &[usize],
    heads: Vec<(View, Fitted)>,
    tau: Thresholds,
    metrics: &CvMetrics,
) -> ProbeHead {
    let Origin { model, fingerprint, ask, sources, problems } = origin;
    let mut heads = heads.into_iter();
    let (view, fitted) = heads.next().expect("train gives at least one head");
    let layer = layers[view.layer];
    // A member that reads other rows than the head's says which.
    let also = heads.map(|(v, mut m)| {
        if (v.layer, v.reads()) != (view.layer, view.reads()) {
            (m.layer, m.reads) = (Some(layers[v.layer]), Some(v.reads()));
        }
        m
    });
    ProbeHead {
        probe: 1,
        model,
        model_fingerprint: fingerprint,
        layer,
        tokens: view.tokens,
        trace: view.trace,
        pool: view.pool,
        span: view.span,
        arith: view.arith,
        next: view.next,
        ask,
        target: metrics.target.into(),
        mean: fitted.mean,
        scale: fitted.scale,
        hidden: fitted.hidden,
        weights: fitted.weights,
        bias: fitted.bias,
        also: also.collect(),
        threshold: tau.locate,
        flag_threshold: (tau.flag < tau.locate).then_some(tau.flag),
        cumulative: tau.cumulative,
        sources,
        problems,
        metrics: serde_json::to_value(metrics).expect("plain data"),
    }
}

/// Where hidden states are cached unless a face says otherwise: `probe-states` in the per-user
/// cache folder.
pub fn default_states_dir() -> PathBuf {
    crate::model::fetch::cache_dir().join("probe-states")
}

/// Where the TUI keeps the head trained on a label journal's labels with `model`: beside the
/// journal, `<journal name>.probe-<model>.json` (one per model: retraining replaces it).
pub fn head_beside(journal: &Path, model: &str) -> PathBuf {
    let safe: String =
        model.chars().map(|c| if c.is_ascii_alphanumeric() || "._-".contains(c) { c } else { '_' }).collect();
    let name = journal.file_name().map_or("labels".into(), |n| n.to_string_lossy().into_owned());
    let stem = name.strip_suffix(crate::trace::store::JOURNAL_SUFFIX).unwrap_or(&name);
    journal.with_file_name(format!("{stem}.probe-{safe}.json"))
}

/// The heads kept beside a journal (see [`head_beside`]), in name order.
pub fn heads_beside(journal: &Path) -> Vec<PathBuf> {
    let name = journal.file_name().map_or(String::new(), |n| n.to_string_lossy().into_owned());
    let stem = name.strip_suffix(crate::trace::store::JOURNAL_SUFFIX).unwrap_or(&name).to_string();
    let Some(dir) = journal.parent() else { return Vec::new() };
    let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
    let mut heads: Vec<PathBuf> =
        std::fs::read_dir(dir).map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect()).unwrap_or_default();
    heads.retain(|p| {
        let n = p.file_name().map_or(String::new(), |n| n.to_string_lossy().into_owned());
        n.starts_with(&format!("{stem}.probe-")) && n.ends_with(".json")
    });
    heads.sort();
    heads
}

/// What the verifier menu says beside a probe: its cross-validated F1 and how many traces
/// taught it (read from the head file's metrics).
pub fn menu_note(metrics: &serde_json::Value) -> String {
    let traces = metrics["traces"].as_u64().unwrap_or(0);
    match metrics["f1"].as_f64() {
        Some(f1) => format!("CV F1 {f1:.1} · {traces} traces"),
        None => match metrics["trace_auroc"].as_f64() {
            Some(a) => format!("CV AUROC {a:.2} · {traces} traces"),
            None => format!("{traces} traces"),
        },
    }
}

/// Layers to extract: the one asked, or the candidates of `--layer auto`.
pub fn layers_to_read(choice: LayerChoice, num_layers: usize) -> Result<Vec<usize>> {
    match choice {
        LayerChoice::Fixed(l) if l == 0 || l > num_layers => {
            bail!("--layer {l}: the model has layers 1 to {num_layers}")
        }
        LayerChoice::Fixed(l) => Ok(vec![l]),
        LayerChoice::Auto => Ok(candidate_layers(num_layers)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signals::first_below;

    /// A trace of problem `problem` with its first error (or none) as its label and outcome.
    fn labelled(
        problem: String,
        first_error: Option<usize>,
        layers: Vec<Vec<Vec<f32>>>,
        tokens: Vec<Vec<f32>>,
    ) -> Example {
        Example {
            problem,
            label: Some(first_error.map_or(Label::NoError, Label::FirstError)),
            answer_correct: Some(first_error.is_none()),
            agreement: None,
            features: layers,
            spans: Vec::new(),
            arith: vec![vec![0.0; 3]; tokens.len()],
            tokens,
            extra: false,
        }
    }

    /// Traces `ts` of three steps, a first error on every other one, whose rows are a weak
    /// signal (±0.5 plus `spread` times noise) followed by `features` features of pure noise.
    fn traces_in_noise(ts: std::ops::Range<usize>, features: usize, spread: f32) -> Vec<Example> {
        ts.map(|t| {
            let first_error = (t % 2 == 0).then_some(t % 3);
            let noise = |k: usize, j: usize| {
                let h = crate::model::fnv1a(crate::model::FNV_OFFSET, format!("{t}/{k}/{j}").as_bytes());
                (h % 2001) as f32 / 1000.0 - 1.0
            };
            let rows = (0..3)
                .map(|k| {
                    let signal = if Some(k) == first_error { -0.5 } else { 0.5 } + spread * noise(k, 999);
                    std::iter::once(signal).chain((0..features).map(|j| noise(k, j))).collect()
                })
                .collect();
            labelled(format!("p{t}"), first_error, vec![rows], vec![vec![0.0]; 3])
        })
        .collect()
    }

    /// States alone, on the layers given.
    fn choice(layer: LayerChoice) -> Choice {
        Choice {
            layer,
            features: FeatureChoice::State,
            after_error: AfterError::Skip,
            pool: PoolChoice::No,
            span: Toggle::No,
            arith: Toggle::No,
            next: Toggle::No,
            decode: Decode::default(),
            bag: Bag::One,
            auto_l2: false,
        }
    }

    /// Two features, the first separates right from wrong steps: the fit finds it.
    #[test]
    fn a_logistic_fit_learns_a_separable_rule() {
        let mut x = Vec::new();
        let mut y = Vec::new();
        for i in 0..200 {
            let good = i % 5 != 0;
            let noise = ((i * 37) % 11) as f32 / 11.0;
            x.push(vec![if good { 1.0 + noise } else { -1.0 - noise }, noise * 3.0]);
            y.push(if good { 1.0 } else { 0.0 });
        }
        let f = fit(&x, &y, FitOptions::default()).unwrap();
        let right = x.iter().zip(&y).filter(|(r, &t)| (f.prob(r) > 0.5) == (t > 0.5)).count();
        assert_eq!(right, 200, "{f:?}");
        assert!(f.weights[0].abs() > f.weights[1].abs() * 3.0, "{f:?}");
    }

    /// Right when two features share a sign (an exclusive or): no linear head reads that, a
    /// head with hidden units does, and scores the same through its head file.
    #[test]
    fn hidden_units_learn_what_a_linear_head_cannot() {
        let mut state = 0x2545f4914f6cdd1du64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
        };
        let x: Vec<Vec<f32>> = (0..400).map(|_| vec![next(), next(), next()]).collect();
        let y: Vec<f32> = x.iter().map(|r| if r[0] * r[1] > 0.0 { 1.0 } else { 0.0 }).collect();
        let accuracy = |f: &Fitted| {
            x.iter().zip(&y).filter(|(r, &t)| (f.prob(r) > 0.5) == (t > 0.5)).count() as f64 / x.len() as f64
        };
        let linear = fit(&x, &y, FitOptions::default()).unwrap();
        let mlp = fit(&x, &y, FitOptions { hidden: MLP_UNITS, l2: 0.0001, ..FitOptions::default() }).unwrap();
        assert!(accuracy(&linear) < 0.7, "{}", accuracy(&linear));
        assert!(accuracy(&mlp) > 0.9, "{}", accuracy(&mlp));
        let again = fit(&x, &y, FitOptions { hidden: MLP_UNITS, l2: 0.0001, ..FitOptions::default() }).unwrap();
        assert_eq!(again.weights, mlp.weights, "a seeded start: the same fit twice");
        let metrics = HeldOut::default().metrics(Target::Prm, 2, 0);
        let origin =
            Origin { model: "m".into(), fingerprint: "f".into(), ask: None, sources: vec![], problems: vec![] };
        let view = View {
            layer: 0,
            tokens: false,
            trace: false,
            pool: false,
            span: false,
            arith: false,
            next: false,
            after_error: false,
            l2: 0.0001,
        };
        let file = head(origin, &[1], vec![(view, mlp.clone())], Thresholds::one(0.5), &metrics);
        assert_eq!(file.hidden.as_ref().map(Hidden::units), Some(MLP_UNITS));
        assert_eq!(file.score_rows(&x[..5]), x[..5].iter().map(|r| mlp.prob(r)).collect::<Vec<_>>());
    }

    /// A step whose position carries the label: CV finds it on held-out problems, every fold
    /// choosing its own threshold.
    #[test]
    fn cross_validation_scores_held_out_problems() {
        let mut examples = Vec::new();
        for t in 0..40 {
            let first_error = (t % 2 == 0).then_some(2);
            let rows: Vec<Vec<f32>> =
                (0..4).map(|k| vec![if Some(k) == first_error { -1.0 } else { 1.0 }, (t as f32).sin()]).collect();
            examples.push(labelled(format!("p{t}"), first_error, vec![rows], vec![vec![0.0]; 4]));
        }
        let data = Dataset { target: Target::Prm, layers: vec![3], examples, extra: Vec::new(), forward_passes: 0 };
        let (m, _, view, tau) = train(&data, choice(LayerChoice::Fixed(3)), 5, 1, FitOptions::default()).unwrap();
        assert_eq!(
            view,
            View {
                layer: 0,
                tokens: false,
                trace: false,
                pool: false,
                span: false,
                arith: false,
                next: false,
                after_error: false,
                l2: 0.01
            }
        );
        assert!(m.f1 > Some(99.0) && m.step_auroc == Some(1.0), "{m:?}");
        assert!(tau.locate > 0.0 && tau.locate < 1.0 && tau.flag == tau.locate);
        assert_eq!(m.thresholds.len(), 5);
        assert!(train(&data, choice(LayerChoice::Fixed(7)), 5, 1, FitOptions::default()).is_err());
    }

    /// Outcome labels only (no first error known): the ORM learns each trace's outcome from
    /// every step, ranks held-out answers by it, and reports no ProcessBench numbers.
    #[test]
    fn an_outcome_head_ranks_held_out_answers() {
        let examples: Vec<Example> = (0..60)
            .map(|t| {
                let right = t % 3 != 0;
                let lean = if right { 1.0 } else { -1.0 };
                let rows = (0..3).map(|k| vec![lean * (k + 1) as f32, ((t * 7 + k) as f32).cos()]).collect();
                Example {
                    problem: format!("p{}", t / 2),
                    label: None,
                    answer_correct: Some(right),
                    // Siblings backing the right answers only, for the first 30 traces.
                    agreement: (t < 30).then_some(if right { 0.75 } else { 0.25 }),
                    tokens: vec![vec![0.0]; 3],
                    arith: vec![vec![0.0; 3]; 3],
                    features: vec![rows],
                    spans: Vec::new(),
                    extra: false,
                }
            })
            .collect();
        let data = Dataset { target: Target::Orm, layers: vec![5], examples, extra: Vec::new(), forward_passes: 0 };
        let (m, _, _, tau) = train(&data, choice(LayerChoice::Auto), 5, 3, FitOptions::default()).unwrap();
        assert_eq!((m.target, m.f1, m.position_step_auroc), ("orm", None, None), "{m:?}");
        assert_eq!((m.trace_auroc, m.step_auroc), (Some(1.0), Some(1.0)), "{m:?}");
        // Low agreement is the sign of a wrong answer: a perfect baseline here, not a reversed one.
        assert_eq!(m.agreement_trace_auroc, Some(1.0), "{m:?}");
        assert_eq!(m.quintiles.iter().map(|q| q.traces).sum::<usize>(), 60);
        assert_eq!(m.quintiles[0].accuracy, 0.0, "{m:?}");
        assert_eq!(m.quintiles[4].accuracy, 1.0, "{m:?}");
        assert!(tau.locate > 0.0 && tau.locate < 1.0 && tau.flag == tau.locate);
    }

    /// Answers agree once normalised ("18" and "$18.00"), siblings are solutions to the same
    /// problem text, and a lone solution has no agreement to report.
    #[test]
    fn answer_agreement_groups_by_problem_and_normalises_answers() {
        let solution = |problem: &str, answer: Option<&str>| {
            let mut t = Trace::from_step_texts("t", problem, &["a step"]);
            t.final_answer = answer.map(str::to_string);
            t
        };
        let traces = [
            solution("eggs", Some("18")),
            solution("eggs", Some("$18.00")),
            solution("eggs", Some("26")),
            solution("ducks", Some("18")),
        ];
        assert_eq!(answer_agreements(traces.iter()), [Some(0.5), Some(0.5), Some(0.0), None]);
    }

    /// The outcome shows only in the first step's state, and a trace is judged after its last
    /// step: the last state alone cannot tell, the mean state so far can, and `--pool auto`
    /// chooses it inside every fold.
    #[test]
    fn the_mean_state_so_far_is_chosen_where_the_outcome_shows_early() {
        let examples: Vec<Example> = (0..80)
            .map(|t| {
                let right = t % 3 != 0;
                let noise = |k: usize, j: usize| ((t * 31 + k * 17 + j * 5) as f32).sin();
                let rows = (0..4)
                    .map(|k| match k {
                        0 => vec![if right { 1.0 } else { -1.0 } + 0.2 * noise(k, 0), noise(k, 1)],
                        _ => vec![noise(k, 0), noise(k, 1)],
                    })
                    .collect();
                let tokens = vec![vec![0.0]; 4];
                Example {
                    problem: format!("p{}", t / 2),
                    label: None,
                    answer_correct: Some(right),
                    agreement: None,
                    arith: vec![vec![0.0; 3]; tokens.len()],
                    tokens,
                    features: vec![rows],
                    spans: Vec::new(),
                    extra: false,
                }
            })
            .collect();
        let data = Dataset { target: Target::Orm, layers: vec![5], examples, extra: Vec::new(), forward_passes: 0 };
        let auto = Choice { pool: PoolChoice::Auto, ..choice(LayerChoice::Auto) };
        let (m, fitted, view, _) = train(&data, auto, 5, 0, FitOptions::default()).unwrap();
        assert_eq!(m.pool, vec![true; 5], "{m:?}");
        assert!(view.pool && fitted[0].1.weights.len() == 4, "{view:?}");
        assert!(m.trace_auroc > Some(0.95), "{m:?}");
        let (last, _, _, _) = train(&data, choice(LayerChoice::Auto), 5, 0, FitOptions::default()).unwrap();
        assert!(last.trace_auroc < Some(0.75), "{last:?}");
    }

    /// A first error reads a little low, and the trace goes far lower two steps on; half the
    /// right traces have one step that reads a little low too. One τ either flags those right
    /// traces or points at the later step; two thresholds flag on the far-low step and locate
    /// the first one below the higher threshold.
    #[test]
    fn two_thresholds_flag_on_the_weakest_step_and_point_at_the_first_low_one() {
        let examples: Vec<Example> = (0..80)
            .map(|t| {
                let first_error = (t % 2 == 0).then_some((t / 2) % 2);
                let noise = |k: usize| 0.1 * ((t * 13 + k * 7) as f32).sin();
                let reading = |k: usize| match first_error {
                    Some(f) if k == f => -0.5,
                    Some(_) if k == 3 => -2.0,
                    None if t % 4 == 1 && k == 2 => -0.5,
                    _ => 1.0,
                };
                let states = (0..4).map(|k| vec![reading(k) + noise(k), noise(k + 9)]).collect();
                labelled(format!("p{t}"), first_error, vec![states], vec![vec![0.0]; 4])
            })
            .collect();
        let data = Dataset { target: Target::Prm, layers: vec![4], examples, extra: Vec::new(), forward_passes: 0 };
        let (one, _, _, tau) = train(&data, choice(LayerChoice::Auto), 5, 0, FitOptions::default()).unwrap();
        assert_eq!(tau.flag, tau.locate);
        assert!(one.f1 < Some(70.0), "{one:?}");
        let two = Choice {
            decode: Decode { two: true, min_acc_corr: None, ..Decode::default() },
            ..choice(LayerChoice::Auto)
        };
        let (m, _, _, tau) = train(&data, two, 5, 0, FitOptions::default()).unwrap();
        assert!(m.f1 > Some(95.0), "{m:?}");
        assert!(tau.flag < tau.locate && m.flags.iter().zip(&m.thresholds).all(|(f, t)| f < t), "{m:?}");
    }

    /// Ten wrong traces read 0.305–0.485 at their first error, ten right ones 0.405–0.585 at
    /// their weakest step: the F1-best τ flags two right traces in ten. A floor of 90 on
    /// acc_corr keeps only thresholds that flag at most one, and among them the best F1; a floor
    /// no threshold keeps (a right trace reads below the lowest) falls back to the fewest flagged.
    #[test]
    fn a_floor_on_acc_corr_bounds_the_right_traces_flagged() {
        let mut examples: Vec<Example> =
            (0..10).map(|k| labelled(format!("w{k}"), Some(1), vec![vec![vec![0.0]; 2]], vec![vec![0.0]; 2])).collect();
        examples.extend((0..10).map(|k| labelled(format!("r{k}"), None, vec![vec![vec![0.0]; 2]], vec![vec![0.0]; 2])));
        let mut probs: Vec<Vec<f64>> = (0..10).map(|k| vec![0.9, 0.305 + 0.02 * k as f64]).collect();
        probs.extend((0..10).map(|k| vec![0.9, 0.405 + 0.02 * k as f64]));
        let all: Vec<&Example> = examples.iter().collect();
        let scores = |probs: &[Vec<f64>], t: Thresholds| {
            score(&probs.iter().zip(&all).map(|(p, e)| (t.first_error(p), e.first_error())).collect::<Vec<_>>())
        };
        for two in [false, true] {
            let free = scores(
                &probs,
                best_threshold(&probs, &all, Target::Prm, Decode { two, min_acc_corr: None, ..Decode::default() }),
            );
            assert!(free.acc_corr < 90.0, "{free:?}");
            let floor = Decode { two, min_acc_corr: Some(90.0), ..Decode::default() };
            let held = scores(&probs, best_threshold(&probs, &all, Target::Prm, floor));
            assert!(held.acc_corr >= 90.0 && held.f1 > 70.0 && held.f1 <= free.f1, "{held:?} against {free:?}");
        }
        probs[19][0] = 0.005;
        let unreachable = Decode { two: false, min_acc_corr: Some(100.0), ..Decode::default() };
        let fallback = scores(&probs, best_threshold(&probs, &all, Target::Prm, unreachable));
        assert!(fallback.acc_corr == 90.0 && fallback.f1 > 60.0, "{fallback:?}");
    }

    /// Right traces dip once, to 0.55, and read 0.95 elsewhere; wrong ones read 0.6 from their
    /// first error (step 1 or 2) on. No threshold on the readings flags a wrong trace without
    /// every right one (their weakest step is lower); the chance of no error so far (0.95³ ·
    /// 0.55 ≈ 0.47 for a right trace, at most 0.33 for a wrong one) flags all the wrong ones and
    /// none of the right ones, and drops below 0.6 first at the first error (0.57 at step 1;
    /// 0.90 then 0.54 when it is step 2). `auto` picks it; the head's scores are then that product.
    #[test]
    fn a_cumulative_decode_flags_on_every_steps_evidence_together() {
        let mut examples: Vec<Example> = Vec::new();
        let mut probs: Vec<Vec<f64>> = Vec::new();
        for t in 0..40 {
            let first_error = (t % 2 == 0).then_some(1 + (t / 2) % 2);
            examples.push(labelled(format!("p{t}"), first_error, vec![vec![vec![0.0]; 4]], vec![vec![0.0]; 4]));
            probs.push(match first_error {
                Some(f) => (0..4).map(|k| if k < f { 0.95 } else { 0.6 }).collect(),
                None => (0..4).map(|k| if k == t % 4 { 0.55 } else { 0.95 }).collect(),
            });
        }
        let all: Vec<&Example> = examples.iter().collect();
        let f1 = |t: Thresholds| {
            score(&probs.iter().zip(&all).map(|(p, e)| (t.first_error(p), e.first_error())).collect::<Vec<_>>()).f1
        };
        let decode = |cumulative| Decode { two: true, min_acc_corr: Some(83.0), cumulative };
        let plain = best_threshold(&probs, &all, Target::Prm, decode(Toggle::No));
        assert!(plain.cumulative.is_none() && f1(plain) < 50.0, "{plain:?}");
        for c in [Toggle::Yes, Toggle::Auto] {
            let t = best_threshold(&probs, &all, Target::Prm, decode(c));
            assert!(t.cumulative.is_some() && f1(t) > 99.0, "{c:?}: {t:?}");
        }
        // An ORM's threshold is always on its readings.
        let orm = best_threshold(&probs, &all, Target::Orm, decode(Toggle::Yes));
        assert!(orm.cumulative.is_none(), "{orm:?}");
    }

    /// With `Bag::Inner`, the head is three heads of the chosen view, one per repeated inner
    /// split (each fitted on two thirds of the traces, so no two alike); with `Bag::Layers`, those
    /// of each layer's best view; a step reads the sigmoid of their mean logit, each on its own
    /// view's row. Without a bag, one head. The head file holds the others as `also`, saying the
    /// layer of those that read another.
    #[test]
    fn a_bag_is_the_inner_heads_read_together() {
        let examples: Vec<Example> = (0..60)
            .map(|t| {
                let first_error = (t % 2 == 0).then_some(1);
                let noise = |k: usize| ((t * 7 + k * 3) as f32).sin();
                let sign = |k: usize| if Some(k) == first_error { -1.0 } else { 1.0 };
                let layer = |shift: usize| (0..3).map(|k| vec![sign(k) + noise(k + shift), noise(k + 5)]).collect();
                labelled(format!("p{t}"), first_error, vec![layer(0), layer(11)], vec![vec![0.0]; 3])
            })
            .collect();
        let data = Dataset { target: Target::Prm, layers: vec![4, 8], examples, extra: Vec::new(), forward_passes: 0 };
        let (_, one, _, _) = train(&data, choice(LayerChoice::Auto), 5, 0, FitOptions::default()).unwrap();
        assert_eq!(one.len(), 1);
        for (bag, n) in [(Bag::Inner, 3), (Bag::Layers, 6)] {
            let (m, heads, view, _) =
                train(&data, Choice { bag, ..choice(LayerChoice::Auto) }, 5, 0, FitOptions::default()).unwrap();
            assert_eq!(heads.len(), n);
            assert!(heads.iter().all(|(v, _)| v.layer == view.layer) == (bag == Bag::Inner), "{bag:?}");
            assert_eq!(heads[0].0, view, "the chosen view's heads come first");
            assert!(heads.windows(2).all(|w| w[0].1.weights != w[1].1.weights));
            let e = &data.examples[0];
            let mean_logit = heads.iter().map(|(v, h)| h.logit(&v.rows(e)[1])).sum::<f64>() / n as f64;
            let p = step_probs(&heads, e)[1];
            assert!((p - 1.0 / (1.0 + (-mean_logit).exp())).abs() < 1e-12, "{p} against {mean_logit}");
            assert!(m.f1 > Some(90.0) && m.step_auroc > Some(0.95), "{m:?}");
            let origin = Origin {
                model: "m".into(),
                fingerprint: "f".into(),
                ask: None,
                sources: Vec::new(),
                problems: Vec::new(),
            };
            let file = head(origin, &data.layers, heads, Thresholds::one(0.5), &m);
            assert_eq!(file.also.len(), n - 1);
            let other = if view.layer == 0 { 8 } else { 4 };
            let layers: Vec<Option<usize>> = file.also.iter().map(|a| a.layer).collect();
            assert_eq!(layers.iter().filter(|l| **l == Some(other)).count(), if bag == Bag::Layers { 3 } else { 0 });
            assert_eq!(file.layers().len(), if bag == Bag::Layers { 2 } else { 1 });
        }
    }

    /// With a bag, a training trace's held-out reading is the mean logit of three heads that did
    /// not see it, one per repeated inner split: it spreads like the bag's reading of new traces
    /// (on logits of heads fitted to noise, where it matters most), where one inner head's reading
    /// (the first split's, all a trace's held-out reading was before) spreads wider.
    #[test]
    fn a_bags_held_out_readings_spread_like_the_bag() {
        let (seen, fresh) = (traces_in_noise(0..120, 200, 1.0), traces_in_noise(1000..1120, 200, 1.0));
        let seen: Vec<&Example> = seen.iter().collect();
        let o = FitOptions { l2: 0.0001, epochs: 300, ..FitOptions::default() };
        let views = choice(LayerChoice::Fixed(1)).views(&[1], Target::Prm, o.l2).unwrap();
        let picked = choose_view(&seen, &views, (Target::Prm, Bag::Inner), o, 0).unwrap();
        assert_eq!(picked.inner.len(), 3);
        let logit = |p: f64| (p / (1.0 - p)).ln();
        let spread = |z: Vec<f64>| {
            let mean = z.iter().sum::<f64>() / z.len() as f64;
            (z.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / z.len() as f64).sqrt()
        };
        let of_bag = spread(fresh.iter().flat_map(|e| step_probs(&picked.inner, e)).map(logit).collect());
        let held_out = spread(picked.held_out.iter().flatten().flatten().map(|&p| logit(p)).collect());
        let single = judge_views(&seen, &views, Target::Prm, o, 0).unwrap().remove(0).held_out;
        let single = spread(single.into_iter().flatten().flatten().collect());
        assert!(
            (held_out - of_bag).abs() < 0.1 * of_bag && single - of_bag > 0.15 * of_bag,
            "held out {held_out:.3}, one head {single:.3}, the bag on new traces {of_bag:.3}"
        );
    }

    /// Train-only examples join every fit but are never scored: the held-out numbers count the
    /// labelled file's traces only, and a rule only they teach carries over to it.
    #[test]
    fn train_only_examples_teach_but_are_not_scored() {
        let example = |t: usize, teach: bool| {
            let first_error = t.is_multiple_of(2).then_some(1);
            let rows: Vec<Vec<f32>> = (0..3)
                .map(|k| {
                    let wrong = Some(k) == first_error;
                    // Only the train-only traces show the rule cleanly; the file's are noisy.
                    let signal = if wrong { -1.0 } else { 1.0 } * if teach { 1.0 } else { 0.3 };
                    vec![signal, ((t * 5 + k) as f32).sin()]
                })
                .collect();
            labelled(format!("{}{t}", if teach { "x" } else { "p" }), first_error, vec![rows], vec![vec![0.0]; 3])
        };
        let data = Dataset {
            target: Target::Prm,
            layers: vec![2],
            examples: (0..10).map(|t| example(t, false)).collect(),
            extra: (0..40).map(|t| example(t, true)).collect(),
            forward_passes: 0,
        };
        let (m, _, _, _) = train(&data, choice(LayerChoice::Fixed(2)), 5, 0, FitOptions::default()).unwrap();
        assert_eq!(m.traces, 10);
        assert_eq!(m.steps, 5 * 3 + 5 * 2, "clean traces give 3 rows, wrong ones 2 (up to the error)");
        assert_eq!(m.step_auroc, Some(1.0), "{m:?}");
    }

    /// Each step has a feature of its own (a head can only memorise), and a train-only file
    /// holds copies of the labelled traces. Under another problem's name the copies teach the
    /// held-out traces' answers; under their own they are left out of the fold that holds
    /// that problem out, and the held-out steps are not told apart.
    #[test]
    fn train_only_traces_of_a_held_out_problem_are_left_out_of_that_fold() {
        let example = |t: usize, problem: String| {
            let first_error = (t * 7 % 5 < 2).then_some(1);
            let rows = (0..3).map(|k| (0..120).map(|j| if j == t * 3 + k { 1.0 } else { 0.0 }).collect()).collect();
            labelled(problem, first_error, vec![rows], vec![vec![0.0]; 3])
        };
        let data = |copies: &str| Dataset {
            target: Target::Prm,
            layers: vec![2],
            examples: (0..40).map(|t| example(t, format!("p{t}"))).collect(),
            extra: (0..40).map(|t| example(t, format!("{copies}{t}"))).collect(),
            forward_passes: 0,
        };
        let fixed = choice(LayerChoice::Fixed(2));
        let (leaked, _, _, _) = train(&data("x"), fixed, 5, 0, FitOptions::default()).unwrap();
        assert_eq!(leaked.extra_left_out, 0);
        assert!(leaked.step_auroc > Some(0.95), "{leaked:?}");
        let (m, _, _, _) = train(&data("p"), fixed, 5, 0, FitOptions::default()).unwrap();
        assert_eq!(m.extra_left_out, 40, "each copy is left out of the one fold that holds its problem out");
        assert!(m.step_auroc < Some(0.6), "{m:?}");
    }

    /// 40 traces of 4 steps whose states are noise, half with a first error; `mark` gives each
    /// the block that shows it (the trace, its first error, its noise at step k and feature j).
    fn noisy_traces(mark: impl Fn(&mut Example, Option<usize>, &dyn Fn(usize, usize) -> f32)) -> Dataset {
        let examples: Vec<Example> = (0..40)
            .map(|t| {
                let first_error = (t % 2 == 0).then_some(t % 3);
                let noise = |k: usize, j: usize| ((t * 13 + k * 7 + j * 3) as f32).sin();
                let states = (0..4).map(|k| (0..3).map(|j| noise(k, j)).collect()).collect();
                let mut e = labelled(format!("p{t}"), first_error, vec![states], vec![vec![0.0]; 4]);
                mark(&mut e, first_error, &noise);
                e
            })
            .collect();
        Dataset { target: Target::Prm, layers: vec![4], examples, extra: Vec::new(), forward_passes: 0 }
    }

    /// Cross-validates with `auto` and with the states alone: the held-out first errors are
    /// located only with the block that shows them.
    fn located_only_with(data: &Dataset, auto: Choice) -> (CvMetrics, Vec<(View, Fitted)>, View) {
        let (m, fitted, view, _) = train(data, auto, 5, 2, FitOptions::default()).unwrap();
        assert!(m.f1 > Some(99.0), "{m:?}");
        let (states, _, _, _) = train(data, choice(LayerChoice::Auto), 5, 2, FitOptions::default()).unwrap();
        assert!(states.f1 < Some(80.0), "{states:?}");
        (m, fitted, view)
    }

    /// The states are noise and the token statistics carry the first error: under
    /// `--features auto` every fold's inner cross-validation picks them and the held-out
    /// traces are located; with the states alone they are not.
    #[test]
    fn token_statistics_are_read_when_the_inner_folds_prefer_them() {
        let data = noisy_traces(|e, first_error, noise| {
            e.tokens = (0..4).map(|k| vec![if Some(k) == first_error { -3.0 } else { -0.5 }, noise(k, 9)]).collect();
        });
        let auto = Choice { features: FeatureChoice::Auto, ..choice(LayerChoice::Auto) };
        let (m, fitted, view) = located_only_with(&data, auto);
        assert_eq!(m.tokens, vec![true; 5], "{m:?}");
        let tokens = View {
            layer: 0,
            tokens: true,
            trace: false,
            pool: false,
            span: false,
            arith: false,
            next: false,
            after_error: false,
            l2: 0.01,
        };
        assert_eq!(view, tokens);
        assert_eq!(fitted[0].1.weights.len(), 3 + 2);
    }

    /// The states are noise and the arithmetic checker finds every first error (a wrong claim):
    /// under `--arith auto` every fold's inner cross-validation reads its verdicts and the
    /// held-out first errors are located; without them they are not.
    #[test]
    fn arithmetic_verdicts_are_read_when_the_inner_folds_prefer_them() {
        let data = noisy_traces(|e, first_error, _| {
            let wrong = |k: usize| first_error.is_some_and(|f| k == f);
            let so_far = |k: usize| first_error.is_some_and(|f| k >= f);
            e.arith = (0..4).map(|k| vec![f32::from(wrong(k)), f32::from(k % 2 == 1), f32::from(so_far(k))]).collect();
        });
        let (m, fitted, view) = located_only_with(&data, Choice { arith: Toggle::Auto, ..choice(LayerChoice::Auto) });
        assert_eq!(m.arith, vec![true; 5], "{m:?}");
        assert!(view.arith && fitted[0].1.weights.len() == 3 + 3, "{view:?}");
    }

    /// The state at each step's end is noise and the first error shows only in the mean state
    /// over the step: under `--span-mean auto` every fold reads it and locates the first errors.
    #[test]
    fn the_mean_state_over_the_step_is_read_when_the_inner_folds_prefer_it() {
        let data = noisy_traces(|e, first_error, noise| {
            let mean = |k: usize| vec![if Some(k) == first_error { -2.0 } else { 1.0 }, noise(k, 5)];
            e.spans = vec![(0..4).map(mean).collect()];
        });
        let (m, fitted, view) = located_only_with(&data, Choice { span: Toggle::Auto, ..choice(LayerChoice::Auto) });
        assert_eq!(m.span, vec![true; 5], "{m:?}");
        assert!(view.span && fitted[0].1.weights.len() == 3 + 2, "{view:?}");
    }

    /// Main traces teach "a high first feature is right"; twice as many train-only traces teach
    /// the opposite. At full weight they win the fit; at `--also-weight 0.1` the main traces do.
    #[test]
    fn train_only_traces_pull_as_much_as_their_weight() {
        let trace = |t: usize, flipped: bool| {
            let first_error = Some(1);
            let high = |k: usize| if (Some(k) == first_error) != flipped { -1.0 } else { 1.0 };
            let rows = (0..2).map(|k| vec![high(k), ((t * 7 + k) as f32).sin()]).collect();
            labelled(format!("p{t}"), first_error, vec![rows], vec![vec![0.0]; 2])
        };
        let main: Vec<Example> = (0..20).map(|t| trace(t, false)).collect();
        let extra: Vec<Example> = (20..60).map(|t| Example { extra: true, ..trace(t, true) }).collect();
        let all: Vec<&Example> = main.iter().chain(&extra).collect();
        let view = choice(LayerChoice::Fixed(4)).views(&[4], Target::Prm, 0.01).unwrap()[0];
        let pull = |extra_weight| fit_on(&all, view, Target::Prm, FitOptions { extra_weight, ..FitOptions::default() });
        assert!(pull(1.0).unwrap().weights[0] < 0.0, "twice as many rows at full weight");
        assert!(pull(0.1).unwrap().weights[0] > 0.0, "a tenth of the weight each");
        assert!(fit_weighted(&[vec![1.0]], &[1.0], &[0.0], FitOptions::default()).is_err());
    }

    /// The first error shows only in the state at the end of the step after it (a wrong result
    /// the model notices once it is used): under `--next-step auto` every fold's inner
    /// cross-validation reads the next step's state and locates the held-out first errors;
    /// without it they are not. An ORM never reads it.
    #[test]
    fn the_next_steps_state_is_read_when_the_inner_folds_prefer_it() {
        let data = noisy_traces(|e, first_error, noise| {
            for (k, s) in e.features[0].iter_mut().enumerate() {
                s[0] = if first_error.is_some_and(|f| k == f + 1) { -2.0 } else { 1.0 + 0.2 * noise(k, 7) };
            }
        });
        let (m, fitted, view) = located_only_with(&data, Choice { next: Toggle::Auto, ..choice(LayerChoice::Auto) });
        assert_eq!(m.next, vec![true; 5], "{m:?}");
        assert!(view.next && fitted[0].1.weights.len() == 3 + 3 + 1, "{view:?}");
        let orm = Choice { next: Toggle::Yes, ..choice(LayerChoice::Auto) }.views(&[4], Target::Orm, 0.01).unwrap();
        assert!(!orm.is_empty() && orm.iter().all(|v| !v.next), "{orm:?}");
    }

    /// Each trace has its own level of surprise and the first error is the step far below its
    /// trace's usual level (no fixed threshold separates it): under `--features auto` every
    /// fold's inner cross-validation picks the trace context and the held-out traces are
    /// located; the step's own statistics alone do much worse.
    #[test]
    fn the_trace_context_is_read_when_a_step_is_surprising_only_against_its_trace() {
        let examples: Vec<Example> = (0..60)
            .map(|t| {
                let first_error = (t % 2 == 0).then_some(t % 4);
                let noise = |k: usize, j: usize| ((t * 13 + k * 7 + j * 3) as f32).sin();
                // The trace's level: from −6 to 0, twice as wide as the error's own drop.
                let level = -6.0 * ((t * 7) % 10) as f32 / 9.0;
                let states = (0..5).map(|k| (0..3).map(|j| noise(k, j)).collect()).collect();
                let tokens = (0..5)
                    .map(|k| {
                        let drop = if Some(k) == first_error { -3.0 } else { 0.2 * noise(k, 5) };
                        vec![level + drop, noise(k, 9)]
                    })
                    .collect();
                labelled(format!("p{t}"), first_error, vec![states], tokens)
            })
            .collect();
        let data = Dataset { target: Target::Prm, layers: vec![4], examples, extra: Vec::new(), forward_passes: 0 };
        let with = |features| Choice {
            layer: LayerChoice::Auto,
            features,
            after_error: AfterError::Skip,
            pool: PoolChoice::No,
            span: Toggle::No,
            arith: Toggle::No,
            next: Toggle::No,
            decode: Decode::default(),
            bag: Bag::One,
            auto_l2: false,
        };
        let (m, fitted, view, _) = train(&data, with(FeatureChoice::Auto), 5, 2, FitOptions::default()).unwrap();
        assert_eq!(m.trace, vec![true; 5], "{m:?}");
        assert!(view.tokens && view.trace, "{view:?}");
        assert_eq!(fitted[0].1.weights.len(), 3 + 2 * 4);
        assert!(m.f1 > Some(90.0), "{m:?}");
        let (own, _, _, _) = train(&data, with(FeatureChoice::StateAndTokens), 5, 2, FitOptions::default()).unwrap();
        assert!(own.f1 < Some(70.0), "{own:?}");
    }

    /// Few traces and many noise features: every head reads the traces it was fitted on far
    /// too confidently (their wrong steps near 0, right ones near 1), so a τ chosen on those
    /// readings would not suit held-out traces. τ comes from the inner folds' held-out readings
    /// instead, and finds more held-out first errors than a τ chosen on the head's own readings.
    #[test]
    fn the_threshold_is_chosen_on_readings_of_traces_the_head_did_not_see() {
        let examples = traces_in_noise(0..150, 300, 1.5);
        let data = Dataset { target: Target::Prm, layers: vec![1], examples, extra: Vec::new(), forward_passes: 0 };
        let o = FitOptions { l2: 0.0001, epochs: 500, ..FitOptions::default() };
        let (m, _, view, _) = train(&data, choice(LayerChoice::Fixed(1)), 5, 0, o).unwrap();
        // The same folds, τ chosen on each fold's head's readings of its own training traces.
        let all: Vec<&Example> = data.examples.iter().collect();
        let fold = folds_of(&all, 5, 0);
        let mut pairs = Vec::new();
        for f in 0..5 {
            let side = |test: bool| -> Vec<&Example> {
                all.iter().zip(&fold).filter(|&(_, &g)| (g == f) == test).map(|(e, _)| *e).collect()
            };
            let (test, train) = (side(true), side(false));
            let fitted = fit_on(&train, view, Target::Prm, o).unwrap();
            let own: Vec<Vec<f64>> = train.iter().map(|e| step_probs(&[(view, fitted.clone())], e)).collect();
            let own_pairs: Vec<_> =
                own.iter().zip(&train).map(|(p, e)| (first_below(p, 0.5), e.first_error())).collect();
            assert_eq!(score(&own_pairs).f1, 100.0, "the head reads its own traces perfectly");
            let tau = best_threshold(&own, &train, Target::Prm, Decode::default()).locate;
            pairs.extend(
                test.iter().map(|e| (first_below(&step_probs(&[(view, fitted.clone())], e), tau), e.first_error())),
            );
        }
        // Seeds 0 to 4 all gave held-out readings' τ the higher F1 (28–35 against 21–28).
        let own_f1 = score(&pairs).f1;
        assert!(m.f1 > Some(own_f1), "held-out readings' τ {:?}, own readings' τ {own_f1}", m.f1);
    }

    /// A PRM learns from the steps up to the first error, or with `after_error` from every
    /// step, those after the error as wrong; a trace without an error is unchanged.
    #[test]
    fn steps_after_the_first_error_teach_only_when_asked() {
        let example = |label| Example {
            problem: "p".into(),
            label: Some(label),
            answer_correct: None,
            agreement: None,
            features: vec![vec![vec![0.0]; 4]],
            spans: Vec::new(),
            tokens: vec![vec![0.0]; 4],
            arith: vec![vec![0.0; 3]; 4],
            extra: false,
        };
        let (skip, wrong) = (
            View {
                layer: 0,
                tokens: false,
                trace: false,
                pool: false,
                span: false,
                arith: false,
                next: false,
                after_error: false,
                l2: 0.01,
            },
            View {
                layer: 0,
                tokens: false,
                trace: false,
                pool: false,
                span: false,
                arith: false,
                next: false,
                after_error: true,
                l2: 0.01,
            },
        );
        let broken = example(Label::FirstError(1));
        assert_eq!(fit_targets(&broken, skip, Target::Prm), [1.0, 0.0]);
        assert_eq!(fit_targets(&broken, wrong, Target::Prm), [1.0, 0.0, 0.0, 0.0]);
        assert_eq!(fit_targets(&example(Label::NoError), wrong, Target::Prm), [1.0; 4]);
        let views = Choice {
            layer: LayerChoice::Auto,
            features: FeatureChoice::Auto,
            after_error: AfterError::Auto,
            pool: PoolChoice::No,
            span: Toggle::No,
            arith: Toggle::Auto,
            next: Toggle::No,
            decode: Decode::default(),
            bag: Bag::One,
            auto_l2: false,
        }
        .views(&[3, 6], Target::Prm, 0.01)
        .unwrap();
        assert_eq!(views.len(), 2 * 3 * 2 * 2);
        assert_eq!(views.iter().filter(|v| v.arith).count(), 2 * 3 * 2);
        let pooled = Choice { pool: PoolChoice::Auto, ..choice(LayerChoice::Auto) };
        let pooled = pooled.views(&[3, 6], Target::Orm, 0.01).unwrap();
        assert_eq!(pooled.iter().map(|v| v.pool).collect::<Vec<_>>(), [false, true, false, true]);
        let grid = Choice {
            layer: LayerChoice::Fixed(3),
            features: FeatureChoice::State,
            after_error: AfterError::Skip,
            pool: PoolChoice::No,
            span: Toggle::No,
            arith: Toggle::No,
            next: Toggle::No,
            decode: Decode::default(),
            bag: Bag::One,
            auto_l2: true,
        };
        let l2: Vec<f64> = grid.views(&[3, 6], Target::Prm, 0.5).unwrap().iter().map(|v| v.l2).collect();
        assert_eq!(l2, L2_GRID);
        let orm = Choice {
            layer: LayerChoice::Fixed(6),
            features: FeatureChoice::State,
            after_error: AfterError::Auto,
            pool: PoolChoice::No,
            span: Toggle::No,
            arith: Toggle::No,
            next: Toggle::No,
            decode: Decode::default(),
            bag: Bag::One,
            auto_l2: false,
        };
        assert_eq!(
            orm.views(&[3, 6], Target::Orm, 0.01).unwrap(),
            [View {
                layer: 1,
                tokens: false,
                trace: false,
                pool: false,
                span: false,
                arith: false,
                next: false,
                after_error: false,
                l2: 0.01
            }]
        );
    }
}
