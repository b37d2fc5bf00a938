//! `stepscope train`: fits a probe on the model's own hidden states from first-error labels,
//! reports its cross-validated quality and writes the head (`--verifier probe:HEAD` reads it).

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use serde_json::json;

use super::modelargs::ModelArgs;
use super::verifyargs::Progress;
use super::{InputArgs, EXIT_OK, EXIT_USAGE};
use crate::cli::range::{count, within};
use crate::model::LanguageModel;
use crate::service::train::{dataset, head, layers_to_read, problem_hash, train, FitOptions, LayerChoice, Origin};

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Labelled trace files.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    #[command(flatten)]
    pub model: ModelArgs,
    /// Which first-error labels teach it: `dataset` (the file's own) or `human` (the latest
    /// label in the label journal, any annotator).
    #[arg(long, default_value = "dataset", value_parser = ["dataset", "human"])]
    pub labels: String,
    /// The layer whose residual stream it reads (1 = after the first), or `auto`: chosen inside
    /// each training fold among five layers spread over the depth.
    #[arg(long, default_value = "auto", value_parser = parse_layer)]
    pub layer: LayerArg,
    /// Folds of the cross-validation (grouped by problem).
    #[arg(long, default_value_t = 5, value_parser = within(2usize, 100))]
    pub folds: usize,
    /// Seed of the fold assignment.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// L2 penalty on the standardised weights.
    #[arg(long, default_value_t = 0.01, value_parser = within(0.0, 1000.0))]
    pub l2: f64,
    /// Full-batch optimiser steps per fit.
    #[arg(long, default_value_t = 300, value_parser = count(100_000))]
    pub epochs: usize,
    /// At most this many traces of each file.
    #[arg(long, value_parser = count(usize::MAX))]
    pub limit: Option<usize>,
    /// Where hidden states are cached (default: `probe-states` in the per-user cache folder).
    #[arg(long, value_name = "DIR")]
    pub states: Option<PathBuf>,
    /// Where to write the head (JSON).
    #[arg(long, short = 'o', value_name = "HEAD")]
    pub output: PathBuf,
    /// Print the cross-validated metrics as JSON (and nothing else) on stdout.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub input: InputArgs,
}

/// `--layer`: a number or `auto`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LayerArg(pub LayerChoice);

fn parse_layer(s: &str) -> Result<LayerArg, String> {
    if s == "auto" {
        return Ok(LayerArg(LayerChoice::Auto));
    }
    match s.parse::<usize>() {
        Ok(l) if (1..=1024).contains(&l) => Ok(LayerArg(LayerChoice::Fixed(l))),
        _ => Err(format!("'{s}' is not a layer (1 to 1024) or auto")),
    }
}

pub fn run(args: TrainArgs) -> i32 {
    match train_head(&args) {
        Ok(()) => EXIT_OK,
        Err(e) => {
            crate::errln!("error: {e:#}");
            EXIT_USAGE
        }
    }
}

fn train_head(args: &TrainArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let model = args.model.load()?;
    let fingerprint = model.fingerprint();
    let mut labelled = Vec::new();
    let mut sources = Vec::new();
    for path in &args.paths {
        let (traces, store) = args.input.load_with_store(path)?;
        let before = labelled.len();
        for t in traces.into_iter().take(args.limit.unwrap_or(usize::MAX)) {
            let label = match args.labels.as_str() {
                "human" => store.latest_label(&t.id).map(|(l, _)| l),
                _ => t.label,
            };
            labelled.push((t, label));
        }
        let n = labelled[before..].iter().filter(|(_, l)| l.is_some()).count();
        sources.push(format!("{}:{}@{} ({n} traces)", args.labels, path.display(), crate::model::fingerprint(path)));
    }
    let layers = layers_to_read(args.layer.0, model.num_layers())?;
    let bar = Progress::new(labelled.len());
    let cache = args.states.clone().unwrap_or_else(|| crate::dirs::cache_dir().join("probe-states"));
    let data = dataset(&model, &fingerprint, &cache, &labelled, &layers, &mut |done, _| {
        bar.show(done, "hidden states at each step's end");
    })?;
    bar.finish();
    let read = started.elapsed().as_secs_f64();
    let fit_started = Instant::now();
    let o = FitOptions { l2: args.l2, epochs: args.epochs, ..FitOptions::default() };
    let (metrics, fitted, layer, tau) = train(&data, args.layer.0, args.folds, args.seed, o)?;
    let fit_seconds = fit_started.elapsed().as_secs_f64();
    let mut problems: Vec<String> =
        labelled.iter().filter(|(_, l)| l.is_some()).map(|(t, _)| problem_hash(&t.problem)).collect();
    problems.sort_unstable();
    problems.dedup();
    let origin = Origin { model: args.model.model.clone(), fingerprint, sources, problems };
    let h = head(origin, layer, fitted, tau, &metrics);
    let text = serde_json::to_string_pretty(&h)?;
    let tmp = args.output.with_extension("tmp");
    std::fs::write(&tmp, text).map_err(|e| anyhow::anyhow!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, &args.output).map_err(|e| anyhow::anyhow!("{}: {e}", args.output.display()))?;
    let report = json!({
        "f1": metrics.f1, "acc_err": metrics.acc_err, "acc_corr": metrics.acc_corr,
        "step_auroc": metrics.step_auroc, "trace_auroc": metrics.trace_auroc,
        "position_step_auroc": metrics.position_step_auroc,
        "folds": metrics.folds, "traces": metrics.traces, "steps": metrics.steps,
        "fold_layers": metrics.layers, "fold_thresholds": metrics.thresholds,
        "layer": layer, "threshold": tau, "model": args.model.model,
        "forward_passes": data.forward_passes, "read_seconds": read, "fit_seconds": fit_seconds,
    });
    if args.json {
        crate::outln!("{report}");
    } else {
        let f = |v: Option<f64>| v.map_or("n/a".into(), |x| format!("{x:.3}"));
        crate::outln!(
            "{} traces, {} steps, {}-fold CV by problem: F1 {:.1} (acc_err {:.1}, acc_corr {:.1}) · step AUROC {} (position alone {}) · trace AUROC {}",
            metrics.traces,
            metrics.steps,
            metrics.folds,
            metrics.f1,
            metrics.acc_err,
            metrics.acc_corr,
            f(metrics.step_auroc),
            f(metrics.position_step_auroc),
            f(metrics.trace_auroc)
        );
        crate::outln!(
            "head: layer {layer}, τ {tau:.2} → {} · {} forward passes, {read:.1} s reading, {fit_seconds:.1} s fitting",
            args.output.display(),
            data.forward_passes
        );
    }
    Ok(())
}
