//! Training a probe here (`stepscope train`): first-error labels in, hidden states of the
//! model at each step's end read once and cached, a logistic head fitted by Adam on its exact
//! gradient (candle tensors for the two matrix products an epoch),
//! evaluated by k-fold cross-validation grouped by problem, with the first-error threshold (and,
//! for `--layer auto`, the layer) chosen inside the training folds only.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use candle_core::{Device, Tensor};
use serde::Serialize;

use crate::model::Model;
use crate::signals::agreement::auroc;
use crate::signals::first_below;
use crate::signals::metrics::score;
use crate::trace::{Label, Trace};
use crate::verify::probe::{candidate_layers, step_features, Linear, ProbeHead};

/// One labelled trace: its problem's hash (folds group by it), its first error (None: no
/// error), whether its final answer is right, and its step features per candidate layer.
pub struct Example {
    pub problem: String,
    pub first_error: Option<usize>,
    pub answer_correct: Option<bool>,
    /// `[layer][step][feature]`, layers as in `Dataset::layers`.
    pub features: Vec<Vec<Vec<f32>>>,
}

pub struct Dataset {
    pub layers: Vec<usize>,
    pub examples: Vec<Example>,
    /// Forward passes run (traces not in the cache).
    pub forward_passes: usize,
}

/// The hash a problem is known by in a head (its text, trimmed).
pub fn problem_hash(problem: &str) -> String {
    format!("{:016x}", crate::model::fnv1a(crate::model::FNV_OFFSET, problem.trim().as_bytes()))
}

/// Where a trace's features after `layer` are cached for a model: one raw little-endian f32 file
/// per (model fingerprint, trace text, layer).
fn cache_file(dir: &Path, fingerprint: &str, t: &Trace, layer: usize) -> PathBuf {
    let mut h = crate::model::fnv1a(crate::model::FNV_OFFSET, t.problem.as_bytes());
    for s in &t.steps {
        h = crate::model::fnv1a(h, &[0xff]);
        h = crate::model::fnv1a(h, s.text.as_bytes());
    }
    dir.join(fingerprint).join(format!("{h:016x}-L{layer}.f32"))
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

/// Step features of every labelled trace after each of `layers`, from the cache when there
/// (refitting never reruns the model), else by one forward pass that fills it.
pub fn dataset(
    model: &Model,
    fingerprint: &str,
    cache: &Path,
    traces: &[(Trace, Option<Label>)],
    layers: &[usize],
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Dataset> {
    let mut examples = Vec::new();
    let mut forward_passes = 0;
    for (i, (t, label)) in traces.iter().enumerate() {
        progress(i, traces.len());
        let Some(label) = label else { continue };
        if t.steps.is_empty() {
            continue;
        }
        let files: Vec<PathBuf> = layers.iter().map(|&l| cache_file(cache, fingerprint, t, l)).collect();
        let cached: Option<Vec<Vec<Vec<f32>>>> = files.iter().map(|f| read_cached(f, t.steps.len())).collect();
        let features = match cached {
            Some(f) => f,
            None => {
                let f = step_features(model, &t.problem, &t.step_texts(), layers)?;
                forward_passes += 1;
                for (file, rows) in files.iter().zip(&f) {
                    write_cached(file, rows)?;
                }
                f
            }
        };
        examples.push(Example {
            problem: problem_hash(&t.problem),
            first_error: label.first_error(),
            answer_correct: t.answer_correct(),
            features,
        });
    }
    progress(traces.len(), traces.len());
    Ok(Dataset { layers: layers.to_vec(), examples, forward_passes })
}

/// A fitted linear head on standardised features.
#[derive(Debug, Clone)]
pub struct Fitted {
    pub mean: Vec<f32>,
    pub scale: Vec<f32>,
    pub weights: Vec<f32>,
    pub bias: f32,
}

impl Fitted {
    pub fn prob(&self, row: &[f32]) -> f64 {
        Linear { mean: &self.mean, scale: &self.scale, weights: &self.weights, bias: self.bias }.prob(row)
    }
}

/// How a head is fitted.
#[derive(Debug, Clone, Copy)]
pub struct FitOptions {
    /// L2 penalty on the weights (standardised features).
    pub l2: f64,
    pub epochs: usize,
    pub learning_rate: f64,
}

impl Default for FitOptions {
    fn default() -> FitOptions {
        FitOptions { l2: 0.01, epochs: 300, learning_rate: 0.05 }
    }
}

/// Logistic regression of `y` (1 = step right) on `x`, classes weighted to balance (a wrong
/// step is rare): full-batch Adam on the mean weighted log-loss plus `l2`·|w|².
pub fn fit(x: &[Vec<f32>], y: &[f32], o: FitOptions) -> Result<Fitted> {
    let (n, d) = (x.len(), x.first().map_or(0, Vec::len));
    if n == 0 || d == 0 {
        bail!("nothing to fit: no labelled step");
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
    let pos = y.iter().filter(|&&v| v > 0.5).count().max(1) as f32;
    let neg = (n as f32 - pos).max(1.0);
    let sample_w: Vec<f32> =
        y.iter().map(|&v| if v > 0.5 { n as f32 / (2.0 * pos) } else { n as f32 / (2.0 * neg) }).collect();
    let sw = Tensor::from_vec(sample_w, (n, 1), &dev)?;
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
        let residual = (residual / n as f64)?;
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
    Ok(Fitted { mean, scale, weights, bias })
}

/// PRM targets of one example at one layer: steps before the first error are right (1), the
/// first error is wrong (0), steps after it are left out.
fn targets<'a>(e: &'a Example, layer: usize) -> impl Iterator<Item = (&'a Vec<f32>, f32)> + 'a {
    let last = e.first_error.unwrap_or(usize::MAX);
    e.features[layer]
        .iter()
        .enumerate()
        .take_while(move |(k, _)| *k <= last)
        .map(move |(k, r)| (r, if Some(k) == e.first_error { 0.0 } else { 1.0 }))
}

fn fit_on(examples: &[&Example], layer: usize, o: FitOptions) -> Result<Fitted> {
    let (x, y): (Vec<Vec<f32>>, Vec<f32>) =
        examples.iter().flat_map(|e| targets(e, layer)).map(|(r, t)| (r.clone(), t)).unzip();
    fit(&x, &y, o)
}

fn step_probs(f: &Fitted, e: &Example, layer: usize) -> Vec<f64> {
    e.features[layer].iter().map(|r| f.prob(r)).collect()
}

/// The threshold τ on P(step right) with the best ProcessBench F1 over `examples`.
fn best_threshold(f: &Fitted, examples: &[&Example], layer: usize) -> f64 {
    let probs: Vec<Vec<f64>> = examples.iter().map(|e| step_probs(f, e, layer)).collect();
    let grid = (1..100).map(|k| k as f64 / 100.0);
    let f1_at = |tau: f64| {
        let pairs: Vec<(Option<usize>, Option<usize>)> =
            probs.iter().zip(examples).map(|(p, e)| (first_below(p, tau), e.first_error)).collect();
        score(&pairs).f1
    };
    grid.map(|t| (t, f1_at(t))).fold((0.5, f64::MIN), |best, (t, v)| if v > best.1 { (t, v) } else { best }).0
}

/// Cross-validated quality of a probe, every number on traces none of its fit saw.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CvMetrics {
    pub folds: usize,
    pub traces: usize,
    pub steps: usize,
    pub f1: f64,
    pub acc_err: f64,
    pub acc_corr: f64,
    /// AUROC of 1 − P(step right) for the labelled first error against the steps before it.
    pub step_auroc: Option<f64>,
    /// AUROC of 1 − the lowest step probability for a wrong final answer.
    pub trace_auroc: Option<f64>,
    /// The step AUROC of the step's position alone (later = more likely wrong), for scale.
    pub position_step_auroc: Option<f64>,
    /// The layer each fold used (its inner choice under `--layer auto`).
    pub layers: Vec<usize>,
    pub thresholds: Vec<f64>,
}

/// Which layers a fit may read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LayerChoice {
    Fixed(usize),
    /// Chosen among the candidates by an inner cross-validation on the training folds.
    Auto,
}

/// Folds by problem: the distinct problems shuffled by `seed`, dealt round-robin.
fn folds_of(examples: &[&Example], k: usize, seed: u64) -> Vec<usize> {
    let mut problems: Vec<&str> = examples.iter().map(|e| e.problem.as_str()).collect();
    problems.sort_unstable();
    problems.dedup();
    let mut keyed: Vec<(u64, &str)> =
        problems.iter().map(|p| (crate::model::fnv1a(seed ^ crate::model::FNV_OFFSET, p.as_bytes()), *p)).collect();
    keyed.sort_unstable();
    let fold_of: std::collections::HashMap<&str, usize> =
        keyed.iter().enumerate().map(|(i, (_, p))| (*p, i % k)).collect();
    examples.iter().map(|e| fold_of[e.problem.as_str()]).collect()
}

/// The layer (an index into the dataset's layers) whose head predicts steps best (step AUROC)
/// in a `k`-fold cross-validation inside `examples`.
fn choose_layer(examples: &[&Example], candidates: usize, o: FitOptions, seed: u64) -> Result<usize> {
    let mut best = (0, f64::MIN);
    // Inner folds are dealt like the outer ones, with another seed.
    let inner = folds_of(examples, 3, seed.wrapping_add(1));
    for layer in 0..candidates {
        let (mut scores, mut bad) = (Vec::new(), Vec::new());
        for f in 0..3 {
            let train: Vec<&Example> = examples.iter().zip(&inner).filter(|(_, &k)| k != f).map(|(e, _)| *e).collect();
            let test: Vec<&Example> = examples.iter().zip(&inner).filter(|(_, &k)| k == f).map(|(e, _)| *e).collect();
            if train.is_empty() || test.is_empty() {
                continue;
            }
            let fitted = fit_on(&train, layer, o)?;
            for e in test {
                let p = step_probs(&fitted, e, layer);
                for (k, _) in targets(e, layer).enumerate() {
                    scores.push(1.0 - p[k]);
                    bad.push(Some(k) == e.first_error);
                }
            }
        }
        let a = auroc(&scores, &bad).unwrap_or(0.0);
        if a > best.1 {
            best = (layer, a);
        }
    }
    Ok(best.0)
}

/// k-fold cross-validation grouped by problem, then the head fitted on everything.
pub fn train(
    data: &Dataset,
    choice: LayerChoice,
    k: usize,
    seed: u64,
    o: FitOptions,
) -> Result<(CvMetrics, Fitted, usize, f64)> {
    let ex = &data.examples;
    if ex.len() < k || k < 2 {
        bail!("{} labelled traces cannot be split into {k} folds", ex.len());
    }
    let fixed = |l: usize| data.layers.iter().position(|&x| x == l);
    let pick = |train: &[&Example]| -> Result<usize> {
        match choice {
            LayerChoice::Fixed(l) => fixed(l).ok_or_else(|| anyhow::anyhow!("layer {l} was not extracted")),
            LayerChoice::Auto => choose_layer(train, data.layers.len(), o, seed),
        }
    };
    let fold = folds_of(&ex.iter().collect::<Vec<_>>(), k, seed);
    let (mut pairs, mut step_scores, mut step_bad, mut positions) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut trace_scores, mut trace_wrong) = (Vec::new(), Vec::new());
    let (mut layers, mut thresholds) = (Vec::new(), Vec::new());
    for f in 0..k {
        let train: Vec<&Example> = ex.iter().zip(&fold).filter(|(_, &g)| g != f).map(|(e, _)| e).collect();
        let test: Vec<&Example> = ex.iter().zip(&fold).filter(|(_, &g)| g == f).map(|(e, _)| e).collect();
        let layer = pick(&train)?;
        let fitted = fit_on(&train, layer, o)?;
        let tau = best_threshold(&fitted, &train, layer);
        layers.push(data.layers[layer]);
        thresholds.push(tau);
        for e in test {
            let p = step_probs(&fitted, e, layer);
            pairs.push((first_below(&p, tau), e.first_error));
            for (k, _) in targets(e, layer).enumerate() {
                step_scores.push(1.0 - p[k]);
                step_bad.push(Some(k) == e.first_error);
                positions.push(k as f64);
            }
            if let Some(c) = e.answer_correct {
                trace_scores.push(1.0 - p.iter().copied().fold(1.0, f64::min));
                trace_wrong.push(!c);
            }
        }
    }
    let s = score(&pairs);
    let metrics = CvMetrics {
        folds: k,
        traces: ex.len(),
        steps: step_scores.len(),
        f1: s.f1,
        acc_err: s.acc_err,
        acc_corr: s.acc_corr,
        step_auroc: auroc(&step_scores, &step_bad),
        trace_auroc: auroc(&trace_scores, &trace_wrong),
        position_step_auroc: auroc(&positions, &step_bad),
        layers,
        thresholds,
    };
    let all: Vec<&Example> = ex.iter().collect();
    let layer = pick(&all)?;
    let fitted = fit_on(&all, layer, o)?;
    let tau = best_threshold(&fitted, &all, layer);
    Ok((metrics, fitted, data.layers[layer], tau))
}

/// What a head file says about where it came from.
pub struct Origin {
    pub model: String,
    pub fingerprint: String,
    pub sources: Vec<String>,
    pub problems: Vec<String>,
}

/// The head file's contents.
pub fn head(origin: Origin, layer: usize, fitted: Fitted, tau: f64, metrics: &CvMetrics) -> ProbeHead {
    let Origin { model, fingerprint, sources, problems } = origin;
    ProbeHead {
        probe: 1,
        model,
        model_fingerprint: fingerprint,
        layer,
        target: "prm".into(),
        mean: fitted.mean,
        scale: fitted.scale,
        weights: fitted.weights,
        bias: fitted.bias,
        threshold: tau,
        sources,
        problems,
        metrics: serde_json::to_value(metrics).expect("plain data"),
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

    /// A step whose position carries the label: CV finds it on held-out problems, every fold
    /// choosing its own threshold.
    #[test]
    fn cross_validation_scores_held_out_problems() {
        let mut examples = Vec::new();
        for t in 0..40 {
            let first_error = (t % 2 == 0).then_some(2);
            let rows: Vec<Vec<f32>> =
                (0..4).map(|k| vec![if Some(k) == first_error { -1.0 } else { 1.0 }, (t as f32).sin()]).collect();
            examples.push(Example {
                problem: format!("p{t}"),
                first_error,
                answer_correct: Some(first_error.is_none()),
                features: vec![rows],
            });
        }
        let data = Dataset { layers: vec![3], examples, forward_passes: 0 };
        let (m, _, layer, tau) = train(&data, LayerChoice::Fixed(3), 5, 1, FitOptions::default()).unwrap();
        assert_eq!(layer, 3);
        assert!(m.f1 > 99.0 && m.step_auroc == Some(1.0), "{m:?}");
        assert!(tau > 0.0 && tau < 1.0);
        assert_eq!(m.thresholds.len(), 5);
        assert!(train(&data, LayerChoice::Fixed(7), 5, 1, FitOptions::default()).is_err());
    }
}
