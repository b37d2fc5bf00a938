//! Verifier options shared by `score`, `eval` and `calibrate`, and their progress bar; the
//! run-or-reuse policy itself is in `service`.

use crate::cli::range::{count, limits::*, within};
use std::io::IsTerminal;
use std::path::Path;

use anyhow::Result;
use clap::Args;

use super::export::LabelSource;
use super::modelargs::LoadArgs;
use super::serverargs::ServerArgs;
use super::InputArgs;
use crate::service::judge::{judge_file, JudgeOptions, JudgedFile, Truth, TruthSource};
use crate::service::{Models, Scorer};
use crate::verify::{Options, VerifierSpec};

#[derive(Args, Debug, Clone)]
pub struct VerifierArgs {
    /// Verifier spec (repeatable): arith, prm:PATH, probe:HEAD, judge:MODEL, critic:MODEL, rollout:MODEL.
    /// MODEL is a short name (smollm2), a GGUF file or an HF folder.
    #[arg(long = "verifier", short = 'v')]
    pub verifiers: Vec<String>,
    /// First-error threshold τ (default: each verifier's own).
    #[arg(long, value_parser = within(0.0, 1.0))]
    pub threshold: Option<f64>,
    /// Critic: samples for a majority vote (1 = greedy).
    #[arg(long, default_value_t = 1, value_parser = count(MAX_SAMPLES))]
    pub votes: usize,
    /// Rollout: continuations per step prefix (K).
    #[arg(long, default_value_t = 4, value_parser = count(MAX_SAMPLES))]
    pub rollouts: usize,
    /// Critic and rollout: most tokens generated per sample.
    #[arg(long, default_value_t = 256, value_parser = count(MAX_TOKENS))]
    pub max_tokens: usize,
    /// Rollout and critic: decode the K samples one after another instead of together in one
    /// batch (the same tokens, slower; for comparing the two paths).
    #[arg(long)]
    pub sequential: bool,
    /// PRM input/head format when it cannot be detected: qwen, skywork, trl, math-shepherd, rlhflow.
    #[arg(long)]
    pub prm_format: Option<String>,
    #[command(flatten)]
    pub load: LoadArgs,
    /// Recompute results already in the store (otherwise they are reused).
    #[arg(long)]
    pub rescore: bool,
    #[command(flatten)]
    pub server: ServerArgs,
}

impl VerifierArgs {
    pub fn options(&self) -> Options {
        Options {
            load: self.load.options(),
            votes: self.votes,
            rollouts: self.rollouts,
            max_tokens: self.max_tokens,
            seed: 42,
            sequential: self.sequential,
            prm_format: self.prm_format.clone(),
            remote: self.server.options(),
        }
    }

    /// The scorer and the (empty) model cache for these options.
    pub fn service(&self) -> (Scorer, Models) {
        let opts = self.options();
        let mut models = Models::new(opts.load);
        models.set_remote(&opts.remote);
        (Scorer::new(opts), models)
    }

    /// Every spec, checked before any model is loaded (a typo fails fast), in canonical form.
    pub fn specs(&self, scorer: &Scorer) -> Result<Vec<VerifierSpec>> {
        if self.verifiers.is_empty() {
            anyhow::bail!(
                "give at least one --verifier SPEC (arith, prm:PATH, judge:MODEL, critic:MODEL, rollout:MODEL)"
            );
        }
        self.verifiers.iter().map(|s| scorer.spec(&self.with_server(s))).collect()
    }

    /// With `--server`, a model verifier named without a model uses the servers' (`judge` →
    /// `judge:server`, `prm` → `prm:server`).
    fn with_server(&self, spec: &str) -> String {
        if self.server.given() {
            crate::verify::with_default_model(spec, crate::model::remote::SERVER_SPEC)
        } else {
            spec.to_string()
        }
    }

    pub fn judge_options(&self, limit: Option<usize>) -> JudgeOptions {
        JudgeOptions { threshold: self.threshold, rescore: self.rescore, limit }
    }
}

/// The truth of `eval` and `calibrate`.
pub fn truth(source: LabelSource, annotator: Option<&str>) -> Truth<'_> {
    let source = match source {
        LabelSource::Dataset => TruthSource::Dataset,
        LabelSource::Human => TruthSource::Human,
        LabelSource::Gold => TruthSource::Gold,
    };
    Truth { source, annotator }
}

/// [`judge_file`] with a progress bar and its problems on stderr.
#[allow(clippy::too_many_arguments)]
pub fn judge_file_shown(
    scorer: &mut Scorer,
    models: &mut Models,
    spec: &VerifierSpec,
    input: &InputArgs,
    path: &Path,
    truth: Truth,
    opts: JudgeOptions,
) -> Result<JudgedFile> {
    let mut bar: Option<Progress> = None;
    let judged = judge_file(scorer, models, spec, &input.opener(), path, truth, opts, &mut |done, total, what| {
        let b = bar.get_or_insert_with(|| Progress::new(total));
        if done == total {
            b.finish();
        } else {
            b.show(done, what);
        }
    })?;
    for p in &judged.problems {
        crate::errln!("{p}");
    }
    Ok(judged)
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
        let filled = (done * width).checked_div(self.total).unwrap_or(width).min(width);
        let bar = format!("[{}{}] {done}/{}", "#".repeat(filled), "-".repeat(width - filled), self.total);
        // `what` names a trace or a server's state: one line, whatever it holds.
        let what = crate::cli::output::field(what);
        if self.tty {
            let line: String = format!("{bar} {what}").chars().take(100).collect();
            crate::cli::output::redraw_err(&line);
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
