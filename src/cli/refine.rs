//! `stepscope refine`: rewrites traces with a generator model by one or more strategies, stores
//! every candidate as it lands (a rerun skips what is done), reranks each draft with its
//! candidates, and prints per strategy how correctness changed (docs/methods.md §9).

use crate::cli::range::{count, limits::*, within};
use std::path::PathBuf;

use clap::Args;
use serde_json::json;

use super::serverargs::ServerArgs;
use super::verifyargs::Progress;
use super::{InputArgs, EXIT_OK, EXIT_USAGE};
use crate::model::remote::SERVER_SPEC;
use crate::refine::report::{outcomes, picks};
use crate::refine::rerank::Aggregate;
use crate::refine::strategy::Strategy;
use crate::service::batch::{run_batch, Batch, Event, FirstErrorFrom, Outcome};

#[derive(Args, Debug)]
pub struct RefineArgs {
    /// Trace files.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Strategies, comma-separated: local (the question again, the steps before the first error
    /// kept), local-critique (the draft shown with [BAD] before its first error), global,
    /// intervene, fork (fork samples --samples continuations from the steps before the first
    /// error, at temperature 0.7).
    #[arg(long, value_delimiter = ',', default_value = "local,global", value_parser = Strategy::batch)]
    pub strategy: Vec<Strategy>,
    /// The model that writes the refinements (a short name, GGUF file or HF folder).
    #[arg(long, default_value = "qwen2.5-coder-1.5b")]
    pub generator: String,
    /// The verifier that finds the first error (when no human label says) and reranks.
    #[arg(long, default_value = "arith")]
    pub verifier: String,
    /// Where the first error comes from: `auto` (your label, else the verifier's first error,
    /// else the dataset's label) or `label` (the dataset's label only: a benchmark of the rewrite
    /// alone, the locator not in question).
    #[arg(long, value_name = "auto|label", default_value = "auto")]
    pub first_error: FirstError,
    /// A file of problems with their reference answers (GSM8K's test.jsonl, any format stepscope
    /// reads): a trace without a reference answer takes the one of the same problem text, so a
    /// candidate's answer can be graded.
    #[arg(long, value_name = "FILE")]
    pub references: Option<PathBuf>,
    /// Candidates per strategy and draft (seeds seed, seed+1, …; sampled at temperature 0.7
    /// when more than one, else greedy).
    #[arg(long, default_value_t = 1, value_parser = count(MAX_SAMPLES))]
    pub samples: usize,
    /// `local`: how many times a rewrite that visibly failed is sampled again at temperature 0.7
    /// (it repeats the flagged step or the draft's answer, reaches no final answer, or has an
    /// arithmetic slip the checker sees).
    #[arg(long, default_value_t = crate::refine::strategy::LOCAL_RESAMPLES, value_parser = within(0, MAX_SAMPLES))]
    pub resamples: usize,
    /// Only the first N traces of each file.
    #[arg(long, value_parser = count(MAX_TRACES))]
    pub limit: Option<usize>,
    #[arg(long, default_value_t = 512, value_parser = count(MAX_TOKENS))]
    pub max_tokens: usize,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// How the reranker turns step scores into one: min, product or last.
    #[arg(long, default_value = "min")]
    pub aggregate: Aggregate,
    /// Folder of prompt templates overriding the built-in ones (NAME.j2); default: the
    /// `prompts` folder beside the config file, when it exists.
    #[arg(long, value_name = "DIR")]
    pub prompts: Option<PathBuf>,
    #[arg(long)]
    pub json: bool,
    /// Refine with the model of these servers (the generator is then `server`, and a
    /// `--verifier judge` without a model is `judge:server`).
    #[command(flatten)]
    pub server: ServerArgs,
    #[command(flatten)]
    pub input: InputArgs,
}

pub fn run(args: RefineArgs) -> i32 {
    // The config file is not read here, but one named by $STEPSCOPE_CONFIG that is missing or
    // broken is a mistake worth saying before any work (the prompts folder sits beside it).
    if let Err(e) = crate::tui::config::load() {
        crate::errln!("error: config: {e}");
        return EXIT_USAGE;
    }
    match refine_all(&args) {
        Ok(()) => EXIT_OK,
        Err(e) => {
            crate::errln!("error: {e:#}");
            EXIT_USAGE
        }
    }
}

/// Where a refinement's first error comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FirstError {
    Auto,
    Label,
}

/// The flags become the batch, in one place.
fn batch(args: &RefineArgs) -> anyhow::Result<Batch> {
    let references = match &args.references {
        Some(p) => Some(crate::service::refine::references(&args.input.opener(), p)?),
        None => None,
    };
    Ok(Batch {
        paths: args.paths.clone(),
        opener: args.input.opener(),
        strategies: args.strategy.clone(),
        generator: args.generator.clone(),
        verifier: args.verifier.clone(),
        first_error: match args.first_error {
            FirstError::Auto => FirstErrorFrom::Auto,
            FirstError::Label => FirstErrorFrom::Label,
        },
        references,
        samples: args.samples,
        resamples: args.resamples,
        limit: args.limit,
        max_tokens: args.max_tokens,
        seed: args.seed,
        prompts: args.prompts.clone().or_else(|| Some(crate::dirs::prompts_dir()).filter(|d| d.is_dir())),
        remote: args.server.options(),
    })
}

fn refine_all(args: &RefineArgs) -> anyhow::Result<()> {
    let mut bar: Option<Progress> = None;
    let outcome = run_batch(&batch(args)?, &mut |e| match e {
        Event::Note(line) => crate::errln!("{line}"),
        Event::Planned(total) => bar = Some(Progress::new(total)),
        Event::Progress(done, what) => {
            if let Some(b) = &bar {
                b.show(done, what);
            }
        }
        Event::Stored(path) => {
            crate::errln!();
            crate::errln!("candidates stored in {}", path.display());
        }
    })?;
    if let Some(b) = &bar {
        b.finish();
    }
    report(args, &outcome)
}

/// The batch's outcome: per strategy (a table, or `--json` with the per-draft picks).
fn report(args: &RefineArgs, o: &Outcome) -> anyhow::Result<()> {
    let rows = outcomes(&o.drafts, &args.strategy, args.aggregate);
    let (generated, reused, skipped) = (o.generated, o.reused, o.skipped);
    if args.json {
        let summary = json!({
            "generator": generator_name(args), "verifier": args.verifier, "aggregate": args.aggregate.to_string(),
            "samples": args.samples, "generated": generated, "reused": reused, "skipped": skipped,
            "strategies": rows, "picks": picks(&o.drafts, &args.strategy, args.aggregate),
        });
        crate::outln!("{}", serde_json::to_string_pretty(&summary)?);
        return Ok(());
    }
    crate::outln!(
        "generator {} · verifier {} (rerank by {}) · {generated} generated, {reused} reused, {skipped} skipped",
        generator_name(args),
        args.verifier,
        args.aggregate
    );
    let pct = |v: Option<f64>| v.map_or("n/a".to_string(), |x| format!("{:.1}", x * 100.0));
    let num = |v: Option<f64>| v.map_or("n/a".to_string(), |x| format!("{x:.3}"));
    crate::outln!(
        "{:<14} {:>6} {:>5} {:>11} {:>5} {:>5} {:>6} {:>6} {:>6} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7}",
        "strategy",
        "drafts",
        "cands",
        "✓✓/✓✗/✗✓/✗✗",
        "fix%",
        "harm%",
        "CL",
        "CS",
        "RSS",
        "before%",
        "after%",
        "rerank%",
        "oracle%",
        "tokens",
        "s/cand",
        "unclean"
    );
    for r in &rows {
        let tr = &r.transitions;
        crate::outln!(
            "{:<14} {:>6} {:>5} {:>11} {:>5} {:>5} {:>6} {:>6} {:>6} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7}",
            r.strategy,
            r.drafts,
            r.candidates,
            format!("{}/{}/{}/{}", tr.right_right, tr.right_wrong, tr.wrong_right, tr.wrong_wrong),
            pct(r.fix_rate),
            pct(r.harm_rate),
            num(r.cl),
            num(r.cs),
            num(r.rss),
            pct(Some(r.acc_before)),
            pct(Some(r.acc_after)),
            pct(Some(r.acc_rerank)),
            pct(Some(r.acc_oracle)),
            r.mean_tokens.map_or("n/a".into(), |x| format!("{x:.0}")),
            r.mean_seconds.map_or("n/a".into(), |x| format!("{x:.1}")),
            r.unclean,
        );
    }
    Ok(())
}

/// The generator as reports name it: the model, or the servers.
fn generator_name(args: &RefineArgs) -> String {
    if args.server.given() {
        format!("{SERVER_SPEC} ({})", args.server.options().servers.join(", "))
    } else {
        args.generator.clone()
    }
}
