//! `stepscope train`: fits a probe on the model's own hidden states from first-error labels,
//! reports its cross-validated quality and writes the head (`--verifier probe:HEAD` reads it).

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use clap::Args;
use serde_json::json;

use super::modelargs::ModelArgs;
use super::verifyargs::Progress;
use super::{InputArgs, EXIT_OK, EXIT_USAGE};
use crate::cli::range::{count, within};
use crate::service::train::{
    AfterError, Bag, CvMetrics, Decode, FeatureChoice, FitOptions, Labels, LayerChoice, Plan, PoolChoice, Run, Target,
    Toggle,
};
use crate::verify::rollout::sorm_label;
use crate::verify::VerifierSpec;

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Labelled trace files.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    #[command(flatten)]
    pub model: ModelArgs,
    /// What teaches it: `dataset` (the file's own first-error labels), `human` (the latest
    /// label in the label journal, any annotator) or `gold` (the adjudicated labels) train a
    /// PRM; `outcome` (each trace's final answer against its reference, or the file's own
    /// correctness flag) trains an ORM; `rollout:MODEL@K` (the results `score -v
    /// rollout:MODEL@K` stored for the file: a step is right while some continuation from a
    /// later or the same prefix still reaches the reference, GLoRe's SORM label) trains a
    /// stepwise ORM.
    #[arg(long, default_value = "dataset", value_parser = parse_labels)]
    pub labels: String,
    /// The layer whose residual stream it reads (1 = after the first), or `auto`: chosen inside
    /// each training fold among five layers spread over the depth.
    #[arg(long, default_value = "auto", value_parser = parse_layer)]
    pub layer: LayerArg,
    /// What it reads beside the state at each step's end: `state` (nothing), `state+tokens`
    /// (the step's token surprise: log-probs and entropies of its tokens under the same model,
    /// from the same pass), `state+tokens+trace` (those followed by the mean, lowest and
    /// highest of each statistic over the whole trace: a step is read against its trace, and
    /// its score depends on the steps after it), or `auto`: chosen inside each training fold.
    #[arg(long, default_value = "auto", value_parser = ["state", "state+tokens", "state+tokens+trace", "auto"])]
    pub features: String,
    /// Whether each step's state is followed by the mean of the states at the ends of the steps
    /// so far (`mean`: the head reads the trace up to the step, not only its last position),
    /// not (`no`), or `auto`: chosen inside each training fold.
    #[arg(long, default_value = "no", value_parser = ["no", "mean", "auto"])]
    pub pool: String,
    /// How a PRM's readings become a first error: `one` threshold τ (the first step below it),
    /// or `two` (the default): a trace is called wrong only when a step reads below a flagging
    /// threshold, and its first error is then its first step below τ (both chosen inside the
    /// training folds).
    #[arg(long, default_value = "two", value_parser = ["one", "two"])]
    pub thresholds: String,
    /// A PRM's floor on acc_corr, in percent (0 to 100; 0: none): the thresholds are the best F1
    /// among those that leave at least this share of the training folds' right traces unflagged
    /// (a budget of false alarms, chosen inside the folds like the thresholds themselves).
    #[arg(long, value_name = "PERCENT", default_value_t = Decode::MIN_ACC_CORR, value_parser = within(0.0, 100.0))]
    pub min_acc_corr: f64,
    /// What a PRM's thresholds apply to: each step's reading (`no`: a trace is flagged by its
    /// weakest step), the chance that no step so far is wrong, the running product of the
    /// readings with a logit shift of 0 to 4 chosen with the thresholds (`yes`: a trace is
    /// flagged on all its steps' evidence together), or `auto`: whichever gives the better F1
    /// inside each training fold. A head so decoded scores each step by that running product.
    #[arg(long, default_value = "auto", value_parser = ["no", "yes", "auto"])]
    pub cumulative: String,
    /// The head written, and each fold's: one logistic fit on all the training traces (`no`),
    /// or `yes`: three heads of the chosen view, one from each of three repeated inner
    /// cross-validations, their logits averaged (each saw two thirds of the traces; the
    /// thresholds were chosen on readings made the same way, each training trace read by three
    /// heads that did not see it), or `layers`: those of every candidate layer's best view, all
    /// read together.
    #[arg(long, default_value = "layers", value_parser = ["no", "yes", "layers"])]
    pub bag: String,
    /// Whether each step's state is followed by the mean of the states over the step's own
    /// tokens (`yes`; a cache without them is read again, one forward pass per trace), not
    /// (`no`), or `auto`: chosen inside each training fold.
    #[arg(long, default_value = "yes", value_parser = ["no", "yes", "auto"])]
    pub span_mean: String,
    /// Whether each row ends with what the arithmetic checker (`arith`, model-free) says of the
    /// step: a wrong claim, claims that all check, a wrong claim so far (`yes`), not (`no`), or
    /// `auto`: chosen inside each training fold.
    #[arg(long, default_value = "auto", value_parser = ["no", "yes", "auto"])]
    pub arith: String,
    /// Whether a PRM's row goes on with the state at the end of the next step (`yes`: an error
    /// often shows more plainly once a later step uses it; a step's score then depends on the
    /// step after it), not (`no`), or `auto`: chosen inside each training fold. An ORM never
    /// reads it.
    #[arg(long, default_value = "no", value_parser = ["no", "yes", "auto"])]
    pub next_step: String,
    /// A question put after each step (`yes`: the built-in one, "Check: is every step so far
    /// correct? Answer yes or no:"; or its own text, one line), whose last token's states are
    /// read instead of those at the step's end; `no`: none. Read and cached apart from the plain
    /// states (one more forward pass per trace); the head asks it again when it scores.
    #[arg(long, default_value = "no", value_parser = parse_ask)]
    pub ask: AskArg,
    /// Whether a PRM also learns from the steps after the first error, as wrong (`wrong`), only
    /// from the steps up to it (`skip`), or `auto`: chosen inside each training fold.
    #[arg(long, default_value = "auto", value_parser = ["skip", "wrong", "auto"])]
    pub after_error: String,
    /// The head: `linear` (logistic regression on the row) or `mlp` (32 ReLU units between the
    /// row and the logistic output, the same L2 penalty on both layers' weights).
    #[arg(long, default_value = "linear", value_parser = ["linear", "mlp"])]
    pub head: String,
    /// Folds of the cross-validation (grouped by problem).
    #[arg(long, default_value_t = 5, value_parser = within(2usize, 100))]
    pub folds: usize,
    /// Seed of the fold assignment.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// L2 penalty on the standardised weights (0 to 1000), or `auto`: chosen among 0.01, 0.1
    /// and 1 inside each training fold.
    #[arg(long, default_value = "0.01", value_parser = parse_l2)]
    pub l2: L2Arg,
    /// Full-batch optimiser steps per fit.
    #[arg(long, default_value_t = 300, value_parser = count(100_000))]
    pub epochs: usize,
    /// Labelled files that only teach (synthetic slips, another dataset): added to every
    /// fold's training data and to the final fit, never scored (repeatable). A fold leaves out
    /// those of a problem it holds out.
    #[arg(long, value_name = "PATH")]
    pub also: Vec<PathBuf>,
    /// What the `--also` files teach: their labels as `--labels` reads them (`same`), or
    /// `right-answers`: only their traces whose final answer is right, each taken as a trace
    /// with no error (model solutions with a correctness flag become PRM data; a right answer
    /// mostly, not always, comes from right steps), or `rollout:MODEL@K`: the SORM labels of
    /// their stored rollouts (as `--labels` reads them).
    #[arg(long, default_value = "same", value_parser = parse_also_labels)]
    pub also_labels: String,
    /// What each step of an `--also` file weighs in a fit against a step of the main files
    /// (0.01 to 10): below 1, many train-only traces teach without outweighing the traces
    /// that are scored.
    #[arg(long, value_name = "W", default_value_t = 1.0, value_parser = within(0.01, 10.0))]
    pub also_weight: f64,
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

/// `--labels`: a named source, or a stored rollout run.
fn parse_labels(s: &str) -> Result<String, String> {
    match s {
        "dataset" | "human" | "gold" | "outcome" => Ok(s.to_string()),
        _ => rollout_labels(s).map_err(|e| format!("{e} (expected dataset, human, gold, outcome or rollout:MODEL@K)")),
    }
}

/// `--also-labels`: as `--labels` says, right answers only, or a stored rollout run.
fn parse_also_labels(s: &str) -> Result<String, String> {
    match s {
        "same" | "right-answers" => Ok(s.to_string()),
        _ => rollout_labels(s).map_err(|e| format!("{e} (expected same, right-answers or rollout:MODEL@K)")),
    }
}

/// A rollout run as the store names its results: with its count of rollouts.
fn rollout_labels(s: &str) -> Result<String, String> {
    match VerifierSpec::parse(s)? {
        spec @ VerifierSpec::Rollout { rollouts: Some(_), .. } => Ok(spec.to_string()),
        VerifierSpec::Rollout { .. } => {
            Err("rollout labels need the count of rollouts, as stored: rollout:MODEL@K".into())
        }
        _ => Err("not a source of labels".into()),
    }
}

fn parse_layer(s: &str) -> Result<LayerArg, String> {
    if s == "auto" {
        return Ok(LayerArg(LayerChoice::Auto));
    }
    match s.parse::<usize>() {
        Ok(l) if (1..=1024).contains(&l) => Ok(LayerArg(LayerChoice::Fixed(l))),
        _ => Err(format!("'{s}' is not a layer (1 to 1024) or auto")),
    }
}

/// `--ask`: no question (None), the built-in one, or a line of its own.
#[derive(Debug, Clone, PartialEq)]
pub struct AskArg(pub Option<String>);

fn parse_ask(s: &str) -> Result<AskArg, String> {
    match s.trim() {
        "no" => Ok(AskArg(None)),
        "yes" => Ok(AskArg(Some(crate::verify::probe::built_in_ask().to_string()))),
        "" => Err("the question is empty (yes, no or a line of text)".into()),
        q if q.chars().any(char::is_control) => {
            Err("the question must be one line of text without control characters".into())
        }
        q => Ok(AskArg(Some(q.to_string()))),
    }
}

/// `--l2`: a penalty or `auto` (None).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct L2Arg(pub Option<f64>);

fn parse_l2(s: &str) -> Result<L2Arg, String> {
    if s == "auto" {
        return Ok(L2Arg(None));
    }
    within(0.0, 1000.0)(s).map(|v| L2Arg(Some(v)))
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
    let target = if args.labels == "outcome" { Target::Orm } else { Target::Prm };
    if target == Target::Orm && args.also_labels.starts_with("rollout:") {
        anyhow::bail!(
            "--also-labels {} gives first errors, which an outcome head (--labels outcome) does not learn from",
            args.also_labels
        );
    }
    let model = args.model.load()?;
    let mut labelled = Vec::new();
    let mut extra = Vec::new();
    let mut sources = Vec::new();
    for path in &args.paths {
        sources.push(read_labelled(args, path, target, &mut labelled, None)?);
    }
    for path in &args.also {
        sources.push(read_labelled(args, path, target, &mut extra, Some(&args.also_labels))?);
    }
    let bar = Progress::new(labelled.len() + extra.len());
    let cache = args.states.clone().unwrap_or_else(crate::service::train::default_states_dir);
    let fit = FitOptions {
        l2: args.l2.0.unwrap_or(FitOptions::default().l2),
        epochs: args.epochs,
        hidden: if args.head == "mlp" { crate::service::train::MLP_UNITS } else { 0 },
        extra_weight: args.also_weight,
        ..FitOptions::default()
    };
    let features = match args.features.as_str() {
        "state" => FeatureChoice::State,
        "state+tokens" => FeatureChoice::StateAndTokens,
        "state+tokens+trace" => FeatureChoice::StateTokensAndTrace,
        _ => FeatureChoice::Auto,
    };
    let after_error = match args.after_error.as_str() {
        "skip" => AfterError::Skip,
        "wrong" => AfterError::Wrong,
        _ => AfterError::Auto,
    };
    let pool = match args.pool.as_str() {
        "no" => PoolChoice::No,
        "mean" => PoolChoice::Mean,
        _ => PoolChoice::Auto,
    };
    let toggle = |v: &str| match v {
        "no" => Toggle::No,
        "yes" => Toggle::Yes,
        _ => Toggle::Auto,
    };
    let (span, arith, next) = (toggle(&args.span_mean), toggle(&args.arith), toggle(&args.next_step));
    let auto_l2 = args.l2.0.is_none();
    let (layer, folds, seed) = (args.layer.0, args.folds, args.seed);
    let floor = (args.min_acc_corr > 0.0).then_some(args.min_acc_corr);
    let decode = Decode { two: args.thresholds == "two", min_acc_corr: floor, cumulative: toggle(&args.cumulative) };
    let bag = match args.bag.as_str() {
        "yes" => Bag::Inner,
        "layers" => Bag::Layers,
        _ => Bag::One,
    };
    let ask = args.ask.0.as_deref();
    let plan = Plan {
        target,
        ask,
        layer,
        features,
        after_error,
        pool,
        span,
        arith,
        next,
        decode,
        bag,
        auto_l2,
        folds,
        seed,
        fit,
    };
    let never = AtomicBool::new(false);
    // The labelled files are read first, then the train-only ones: one bar over both.
    let (mut offset, mut last) = (0, (0, 0));
    let mut progress = |done: usize, total: usize| {
        if done < last.0 {
            offset += last.1;
        }
        last = (done, total);
        bar.show(offset + done, "hidden states at each step's end")
    };
    let mut run = Run { progress: &mut progress, cancel: &never };
    let t = crate::service::train::train_head(
        &model,
        &args.model.model,
        Labels { traces: &labelled, extra: &extra, sources },
        plan,
        &cache,
        &args.output,
        &mut run,
    )?;
    bar.finish();
    let m = &t.metrics;
    let (layer, tau, flag) = (t.layer, t.threshold.locate, t.threshold.flag);
    let mut report = json!({
        "target": m.target,
        "f1": m.f1, "acc_err": m.acc_err, "acc_corr": m.acc_corr, "confusion": m.confusion,
        "step_auroc": m.step_auroc, "trace_auroc": m.trace_auroc,
        "first_step_trace_auroc": m.first_step_trace_auroc,
        "position_step_auroc": m.position_step_auroc, "length_trace_auroc": m.length_trace_auroc,
        "quintiles": m.quintiles,
        "folds": m.folds, "traces": m.traces, "steps": m.steps,
        "fold_layers": m.layers, "fold_tokens": m.tokens, "fold_trace": m.trace, "fold_pool": m.pool, "fold_span": m.span, "fold_arith": m.arith, "fold_after_error": m.after_error, "fold_l2": m.l2, "l2": t.l2, "fold_thresholds": m.thresholds, "fold_flags": m.flags, "also_left_out": m.extra_left_out,
        "layer": layer, "tokens": t.reads.tokens, "trace": t.reads.trace, "pool": t.reads.pool, "span": t.reads.span, "arith": t.reads.arith, "head": args.head, "threshold": tau, "flag_threshold": flag, "min_acc_corr": args.min_acc_corr, "bag": args.bag, "model": args.model.model,
        "forward_passes": t.forward_passes, "read_seconds": t.read_seconds, "fit_seconds": t.fit_seconds,
    });
    report["ask"] = json!(ask);
    report["agreement_trace_auroc"] = json!(m.agreement_trace_auroc);
    report["next"] = json!(t.reads.next);
    report["fold_next"] = json!(m.next);
    report["also_weight"] = json!(args.also_weight);
    report["cumulative"] = json!(t.threshold.cumulative);
    report["fold_cumulative"] = json!(m.cumulative);
    if args.json {
        crate::outln!("{report}");
    } else {
        print_metrics(m);
        crate::outln!(
            "head: {} {} on layer {layer}{}, τ {tau:.2}{}{} → {} · {} forward passes, {:.1} s reading, {:.1} s fitting",
            args.head,
            m.target,
            crate::verify::probe::reads_note(t.reads),
            if flag < tau { format!(" (flagged below {flag:.2})") } else { String::new() },
            t.threshold
                .cumulative
                .map_or(String::new(), |shift| format!(" on P(no error so far), logit shift {shift}")),
            args.output.display(),
            t.forward_passes,
            t.read_seconds,
            t.fit_seconds
        );
    }
    Ok(())
}

/// Reads one file's traces with the labels `--labels` names into `into` (a train-only file:
/// `also`, how `--also-labels` says it teaches); returns its source line.
fn read_labelled(
    args: &TrainArgs,
    path: &std::path::Path,
    target: Target,
    into: &mut Vec<(crate::trace::Trace, Option<crate::trace::Label>)>,
    also: Option<&str>,
) -> anyhow::Result<String> {
    let (traces, store) = args.input.load_with_store(path)?;
    let before = into.len();
    let how = also.filter(|&a| a != "same").unwrap_or(&args.labels);
    let right_answers = how == "right-answers";
    let mut unrolled = 0;
    for t in traces.into_iter().take(args.limit.unwrap_or(usize::MAX)) {
        let label = match how {
            "right-answers" => Some(crate::trace::Label::NoError),
            "human" => store.latest_label(&t.id).map(|(l, _)| l),
            "gold" => store.gold_label(&t.id),
            spec if spec.starts_with("rollout:") => {
                // A run stored under another segmentation scored other steps.
                let stored = store.result(&t.id, spec).filter(|r| r.scores.len() == t.steps.len());
                unrolled += usize::from(stored.is_none());
                stored.and_then(|r| sorm_label(&r.scores))
            }
            _ => t.label,
        };
        if !right_answers || t.answer_correct() == Some(true) {
            into.push((t, label));
        }
    }
    if unrolled > 0 {
        crate::errln!(
            "{}: {unrolled} traces have no stored {how} result for their steps and do not teach (`stepscope score {} -v {how}` stores them)",
            path.display(),
            path.display()
        );
    }
    let n = into[before..].iter().filter(|(t, l)| target.teaches(*l, t.answer_correct())).count();
    let tag = if also.is_some() { " train-only" } else { "" };
    Ok(format!("{how}{tag}:{}@{} ({n} traces)", path.display(), crate::model::fingerprint(path)))
}

fn print_metrics(m: &CvMetrics) {
    let f = |v: Option<f64>| v.map_or("n/a".into(), |x| format!("{x:.3}"));
    let pb = match (m.f1, m.acc_err, m.acc_corr) {
        (Some(f1), Some(e), Some(c)) => format!("F1 {f1:.1} (acc_err {e:.1}, acc_corr {c:.1}) · "),
        _ => String::new(),
    };
    // Only where solutions share problems: a majority vote among them, for scale.
    let agree = m.agreement_trace_auroc.map_or(String::new(), |a| format!(", answer agreement alone {a:.3}"));
    crate::outln!(
        "{} traces, {} rows, {}-fold CV by problem: {pb}step AUROC {} (position alone {}) · trace AUROC {} (first step alone {}, length alone {}{agree})",
        m.traces,
        m.steps,
        m.folds,
        f(m.step_auroc),
        f(m.position_step_auroc),
        f(m.trace_auroc),
        f(m.first_step_trace_auroc),
        f(m.length_trace_auroc)
    );
    for (i, q) in m.quintiles.iter().enumerate() {
        crate::outln!(
            "  quintile {} (P right {:.2}–{:.2}): {} traces, {:.1}% answers right",
            i + 1,
            q.from,
            q.to,
            q.traces,
            100.0 * q.accuracy
        );
    }
}
