//! Options and the run-or-reuse logic shared by `score`, `eval` and `calibrate`.

use std::io::IsTerminal;
use std::path::Path;
use std::sync::atomic::AtomicBool;

use anyhow::Result;
use clap::Args;

use super::export::LabelSource;
use super::modelargs::Weights;
use super::InputArgs;
use crate::model::{DeviceChoice, LoadOptions};
use crate::signals::first_below;
use crate::trace::store::{Store, VerifyRecord};
use crate::trace::Trace;
use crate::verify::{self, caching_loader, Ctx, Options, Verifier};

#[derive(Args, Debug, Clone)]
pub struct VerifierArgs {
    /// Verifier spec (repeatable): arith, prm:PATH, judge:MODEL, critic:MODEL, rollout:MODEL.
    /// MODEL is a short name (smollm2), a GGUF file or an HF folder.
    #[arg(long = "verifier", short = 'v', required = true)]
    pub verifiers: Vec<String>,
    /// First-error threshold τ (default: each verifier's own).
    #[arg(long)]
    pub threshold: Option<f64>,
    /// Critic: samples for a majority vote (1 = greedy).
    #[arg(long, default_value_t = 1)]
    pub votes: usize,
    /// Rollout: continuations per step prefix (K).
    #[arg(long, default_value_t = 4)]
    pub rollouts: usize,
    /// Critic and rollout: most tokens generated per sample.
    #[arg(long, default_value_t = 256)]
    pub max_tokens: usize,
    /// PRM input/head format when it cannot be detected: qwen, skywork, trl, math-shepherd, rlhflow.
    #[arg(long)]
    pub prm_format: Option<String>,
    /// Device for model verifiers: auto, cpu, cuda:N.
    #[arg(long, default_value = "auto", value_parser = DeviceChoice::parse)]
    pub device: DeviceChoice,
    /// How to hold GGUF weights.
    #[arg(long, value_enum, default_value_t = Weights::Auto)]
    pub weights: Weights,
    /// Recompute results already in the store (otherwise they are reused).
    #[arg(long)]
    pub rescore: bool,
}

impl VerifierArgs {
    pub fn options(&self) -> Options {
        Options {
            load: LoadOptions { device: self.device, weights: self.weights.mode() },
            votes: self.votes,
            rollouts: self.rollouts,
            max_tokens: self.max_tokens,
            seed: 42,
            prm_format: self.prm_format.clone(),
        }
    }

    /// Builds every verifier, loading each model once.
    pub fn build(&self) -> Result<Vec<Box<dyn Verifier>>> {
        let opts = self.options();
        let mut load = caching_loader(opts.load);
        // Check every spec before loading any model, so a typo fails fast.
        for s in &self.verifiers {
            verify::parse_spec(s)?;
        }
        self.verifiers.iter().map(|s| verify::from_spec(s, &opts, &mut load)).collect()
    }
}

/// Whether a stored result may stand in for running `v` now.
fn reusable(r: &VerifyRecord, v: &dyn Verifier) -> bool {
    r.model_hash == v.model().map(|m| m.hash)
}

/// The result of `v` on `trace`: the stored one when it is from the same verifier and model
/// (unless `rescore`), else a fresh run, stored when a store is given. Returns (record, computed).
pub fn result_for(
    v: &mut dyn Verifier,
    trace: &Trace,
    store: Option<&mut Store>,
    tau: Option<f64>,
    rescore: bool,
    progress: &mut dyn FnMut(&str),
) -> Result<(VerifyRecord, bool)> {
    if let Some(s) = store.as_deref() {
        if let Some(r) = s.result(&trace.id, &v.spec()).filter(|r| !rescore && reusable(r, v)) {
            let mut r = r.clone();
            if let Some(t) = tau {
                r.first_error = first_below(&r.scores, t);
                r.threshold = t;
            }
            return Ok((r, false));
        }
    }
    let cancel = AtomicBool::new(false);
    let mut ctx = Ctx { cancel: &cancel, progress };
    let r = verify::run(v, trace, tau, &mut ctx)?;
    if let Some(s) = store {
        s.put_result(r.clone()).map_err(|e| anyhow::anyhow!("{}: cannot store the result: {e}", s.path().display()))?;
    }
    Ok((r, true))
}

/// A one-line progress bar on stderr (redrawn in place on a terminal, one line per update in logs).
pub struct Progress {
    total: usize,
    tty: bool,
}

impl Progress {
    pub fn new(total: usize) -> Progress {
        Progress { total, tty: std::io::stderr().is_terminal() }
    }

    pub fn show(&self, done: usize, what: &str) {
        let width = 24;
        let filled = (done * width).checked_div(self.total).unwrap_or(width);
        let bar = format!("[{}{}] {done}/{}", "#".repeat(filled), "-".repeat(width - filled), self.total);
        if self.tty {
            let line: String = format!("{bar} {what}").chars().take(100).collect();
            crate::cli::output::write_err(format_args!("\r\x1b[2K{line}"));
        } else {
            crate::errln!("{bar} {what}");
        }
    }

    pub fn finish(&self) {
        if self.tty {
            crate::errln!();
        }
    }
}

/// One labelled trace as a verifier saw it.
pub struct Judged {
    pub trace: Trace,
    pub label: Option<usize>,
    pub record: VerifyRecord,
}

/// Which labels are the truth, for `eval` and `calibrate`.
#[derive(Debug, Clone, Copy)]
pub struct Truth<'a> {
    pub source: LabelSource,
    /// With human labels: only this annotator's (else the latest of anyone).
    pub annotator: Option<&'a str>,
}

impl Truth<'_> {
    /// The label of a trace: Some(first error or None) when it has one of the chosen kind.
    pub fn of(&self, store: &Store, t: &Trace) -> Option<Option<usize>> {
        match self.source {
            LabelSource::Dataset => t.label.map(|l| l.first_error()),
            LabelSource::Human => store.human_label(&t.id, self.annotator).map(|l| l.first_error()),
        }
    }
}

/// One labelled file as a verifier saw it.
pub struct JudgedFile {
    pub traces: Vec<Trace>,
    pub store: Store,
    pub judged: Vec<Judged>,
}

/// Reads a trace file and its store, then runs (or reuses) `v` on every trace that has a label
/// of the chosen kind (the first `limit` of them). Results of model verifiers go to the store;
/// model-free ones are recomputed (they are cheap). Traces that fail are reported on stderr and
/// left out.
pub fn judge_file(
    v: &mut dyn Verifier,
    input: &InputArgs,
    path: &Path,
    truth: Truth,
    args: &VerifierArgs,
    limit: Option<usize>,
) -> Result<JudgedFile> {
    let file = input.open(path)?;
    let (traces, problems) = file.load_all();
    for p in &problems {
        crate::errln!("{p}");
    }
    let mut store = input.store_for(path).map_err(anyhow::Error::msg)?;
    let labelled: Vec<(usize, Option<usize>)> = traces
        .iter()
        .enumerate()
        .filter_map(|(i, t)| truth.of(&store, t).map(|l| (i, l)))
        .take(limit.unwrap_or(usize::MAX))
        .collect();
    let uses_model = v.model().is_some();
    let bar = Progress::new(labelled.len());
    let mut judged = Vec::new();
    for (n, &(i, label)) in labelled.iter().enumerate() {
        let t = &traces[i];
        if uses_model {
            bar.show(n, &format!("{} {}", v.spec(), t.id));
        }
        let st = if uses_model { Some(&mut store) } else { None };
        match result_for(v, t, st, args.threshold, args.rescore, &mut |_| {}) {
            Ok((record, _)) => judged.push(Judged { trace: t.clone(), label, record }),
            Err(e) => crate::errln!("{}: {e:#}", t.id),
        }
    }
    if uses_model {
        bar.finish();
    }
    Ok(JudgedFile { traces, store, judged })
}
