//! `stepscope score`: runs verifiers (and signals) over trace files and stores the results in
//! each file's journal, with a progress bar. Stored results are reused unless `--rescore`.

use crate::cli::range::{count, limits::*, within};
use std::path::PathBuf;
use std::time::Instant;

use clap::Args;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use super::verifyargs::{Progress, VerifierArgs};
use super::{InputArgs, EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE};
use crate::model::LanguageModel;
use crate::service::fanout;
use crate::service::score::{score_many, Many, Outcome, Step};
use crate::trace::store::VerifyRecord;
use crate::trace::Trace;
use crate::verify::uncertainty::{SignalKind, SignalRunner};

#[derive(Args, Debug)]
pub struct ScoreArgs {
    /// Trace files.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    #[command(flatten)]
    pub verify: VerifierArgs,
    /// Signals to compute too: instability, answer-entropy (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub signals: Vec<String>,
    /// Model for teacher-forced signals (traces without stored log-probs, and answer entropy).
    #[arg(long, default_value = "smollm2")]
    pub signal_model: String,
    /// Instability weight λ in I_t = D_t + λ·H_t.
    #[arg(long, default_value_t = 1.0, value_parser = within(0.0, MAX_LAMBDA))]
    pub lambda: f64,
    /// Only the first N traces of each file.
    #[arg(long, value_parser = count(MAX_TRACES))]
    pub limit: Option<usize>,
    #[command(flatten)]
    pub input: InputArgs,
}

pub fn run(args: ScoreArgs) -> i32 {
    match score(&args) {
        Ok(0) => EXIT_OK,
        Ok(_) => EXIT_PROBLEMS,
        Err(e) => {
            crate::errln!("error: {e:#}");
            EXIT_USAGE
        }
    }
}

fn score(args: &ScoreArgs) -> anyhow::Result<usize> {
    let signals: Vec<SignalKind> = args.signals.iter().map(|s| SignalKind::parse(s)).collect::<Result<_, _>>()?;
    let (mut scorer, mut models) = args.verify.service();
    let specs = args.verify.specs(&scorer)?;
    let signal_runner = SignalRunner::new(&args.signal_model, args.lambda);
    let cancel = AtomicBool::new(false);
    let mut failures = 0;
    for path in &args.paths {
        let (traces, mut store) = args.input.load_with_store(path)?;
        let traces = &traces[..args.limit.unwrap_or(traces.len()).min(traces.len())];
        let total = traces.len() * (specs.len() + signals.len());
        let bar = Progress::new(total);
        let mut done = 0;
        for spec in &specs {
            let started = Instant::now();
            let mut tally = Tally::default();
            let (tau, rescore) = (args.verify.threshold, args.verify.rescore);
            let many = Many { spec, tau, rescore, cancel: &cancel, store_model_free: true };
            // On servers the progress line tells their health and latency.
            let served =
                if fanout::uses_servers(spec) { Some(models.served(&mut |line| bar.show(done, line))?) } else { None };
            let base = done;
            let mut progress = |n: usize, step: Step| match (&served, step) {
                (Some(s), Step::Trace(_)) => bar.show(base + n, &servers_line(&s.pool().stats())),
                // A server connecting or dropped is said on its own line.
                (Some(_), Step::Line(line)) => crate::errln!("\n{line}"),
                (None, Step::Trace(id)) => bar.show(base + n, &format!("{spec} {id}")),
                (None, Step::Line(line)) => bar.show(base + n, line),
            };
            let mut on_result = |i: usize, r: anyhow::Result<(VerifyRecord, Outcome)>| tally.add(path, &traces[i], r);
            let result = score_many(&mut scorer, &mut models, traces, &mut store, &many, &mut progress, &mut on_result);
            done += traces.len();
            if let Err(e) = result {
                bar.finish();
                return Err(e);
            }
            let Tally { computed, reused, errors, truncated, first_errors } = tally;
            bar.finish();
            failures += errors;
            crate::outln!(
                "{}: {} · {} traces: {computed} scored, {reused} reused from the store, {errors} failed, \
                 {truncated} truncated · first error found in {first_errors} · {:.1} s",
                path.display(),
                spec,
                traces.len(),
                started.elapsed().as_secs_f64()
            );
        }
        {
            for kind in &signals {
                let (mut ok, mut errors) = (0, 0);
                for t in traces {
                    bar.show(done, &format!("{} {}", kind.name(), t.id));
                    let mut load = |spec: &str| -> anyhow::Result<Arc<dyn LanguageModel>> {
                        models.language_model(spec, &mut |line| crate::errln!("{line}"))
                    };
                    match signal_runner.compute(*kind, t, &mut load) {
                        Ok(record) => {
                            store.put_signal(record)?;
                            ok += 1;
                        }
                        Err(e) => {
                            errors += 1;
                            crate::errln!(
                                "\n{}: {}: {}: {e:#}",
                                path.display(),
                                crate::cli::output::field(&t.id),
                                kind.name()
                            );
                        }
                    }
                    done += 1;
                }
                bar.finish();
                failures += errors;
                crate::outln!("{}: {} · {ok} traces stored, {errors} failed", path.display(), kind.name());
            }
        }
        crate::outln!("results stored in {}", store.path().display());
    }
    Ok(failures)
}

/// What one verifier did over a file.
#[derive(Default)]
struct Tally {
    computed: usize,
    reused: usize,
    errors: usize,
    truncated: usize,
    first_errors: usize,
}

impl Tally {
    fn add(&mut self, path: &std::path::Path, t: &Trace, r: anyhow::Result<(VerifyRecord, Outcome)>) {
        match r {
            Ok((r, outcome)) => {
                if outcome == Outcome::Computed {
                    self.computed += 1
                } else {
                    self.reused += 1
                }
                if let Some(why) = &r.truncated {
                    self.truncated += 1;
                    crate::errln!("\n{}: {}: truncated: {why}", path.display(), crate::cli::output::field(&t.id));
                }
                self.first_errors += r.first_error.is_some() as usize;
            }
            Err(e) => {
                self.errors += 1;
                crate::errln!("\n{}: {}: {e:#}", path.display(), crate::cli::output::field(&t.id));
            }
        }
    }
}

/// Per-server progress: requests answered, tokens, failures.
fn servers_line(stats: &[crate::model::remote::ServerStats]) -> String {
    let parts: Vec<String> = stats
        .iter()
        .map(|s| {
            let state = if s.dropped { " (dropped)" } else { "" };
            format!("{}: {} req, {} tok, {} err{state}", s.url, s.requests, s.tokens, s.failures)
        })
        .collect();
    parts.join(" · ")
}
