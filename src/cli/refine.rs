//! `stepscope refine`: rewrites traces with a generator model by one or more strategies, stores
//! every candidate as it lands (a rerun skips what is done), reranks each draft with its
//! candidates, and prints per strategy how correctness changed (docs/methods.md §9).

use crate::cli::range::{count, limits::*, within};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use clap::Args;
use serde_json::json;

use super::serverargs::ServerArgs;
use super::verifyargs::Progress;
use super::{InputArgs, EXIT_OK, EXIT_USAGE};
use crate::model::remote::SERVER_SPEC;
use crate::model::LoadOptions;
use crate::refine::metrics::Transitions;
use crate::refine::rerank::{best_of, Aggregate};
use crate::refine::strategy::{plan, sample_params, Plan, Strategy};
use crate::service::refine::{first_error, refine, refinements_path, settings, store_candidate, stored_refinements};
use crate::service::score::{is_unavailable, score_into};
use crate::service::{Models, Scorer};
use crate::trace::{Store, Trace};
use crate::verify::{Ctx, Options};

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

/// One draft with what each strategy made of it.
struct Draft {
    trace: Trace,
    correct: Option<bool>,
    /// The verifier's step scores of the draft (for reranking).
    scores: Vec<Option<f64>>,
    /// What each strategy made of it.
    candidates: HashMap<Strategy, Vec<Made>>,
}

/// One candidate as the report needs it.
struct Made {
    id: String,
    correct: Option<bool>,
    /// The verifier's step scores (for reranking).
    scores: Vec<Option<f64>>,
    tokens: usize,
    seconds: f64,
    /// It went on after its answer line or echoed its prompt (generation should stop first).
    unclean: bool,
}

/// The work of one trace file: its drafts and the plans that could be made.
struct Work {
    path: PathBuf,
    drafts: Vec<Draft>,
    plans: Vec<(usize, Plan)>,
}

fn refine_all(args: &RefineArgs) -> anyhow::Result<()> {
    let on_servers = args.server.given();
    let generator = if on_servers { SERVER_SPEC } else { args.generator.as_str() };
    if !on_servers {
        // A missing generator is an error before anything runs (a known name is fetched here).
        crate::model::resolve(generator, &mut |line| crate::errln!("{line}"))
            .map_err(|e| anyhow::anyhow!("generator: {e:#}"))?;
    }
    let opts = Options { remote: args.server.options(), ..Options::default() };
    let mut scorer = Scorer::new(opts.clone());
    let mut models = Models::new(LoadOptions::default());
    models.set_remote(&opts.remote);
    let verifier = match on_servers {
        true => crate::verify::with_default_model(&args.verifier, SERVER_SPEC),
        false => args.verifier.clone(),
    };
    let spec = scorer.spec(&verifier)?;
    let cancel = AtomicBool::new(false);
    let prompts = args.prompts.clone().or_else(|| Some(crate::dirs::prompts_dir()).filter(|d| d.is_dir()));
    let references = match &args.references {
        Some(p) => Some(crate::service::refine::references(&args.input.opener(), p)?),
        None => None,
    };
    let mut works = Vec::new();
    let mut skipped = Vec::new();
    for path in &args.paths {
        let (mut traces, mut store) = args.input.load_with_store(path)?;
        if let Some(r) = &references {
            let joined = crate::service::refine::join_references(&mut traces, r);
            crate::errln!(
                "{}: {joined} of {} traces took a reference answer from the references file",
                path.display(),
                traces.len()
            );
        }
        let mut work = Work { path: path.clone(), drafts: Vec::new(), plans: Vec::new() };
        for t in traces.into_iter().take(args.limit.unwrap_or(usize::MAX)) {
            let mut quiet = |_: &str| {};
            let mut ctx = Ctx { cancel: &cancel, progress: &mut quiet };
            let (record, _) = match score_into(&mut scorer, &mut models, &spec, &t, &mut store, None, false, &mut ctx) {
                Ok(r) => r,
                Err(e) if is_unavailable(&e) => return Err(e),
                Err(e) => {
                    skipped.push(format!("{}: {}: {e:#}", path.display(), t.id));
                    continue;
                }
            };
            let human = store.latest_label(&t.id).map(|(l, _)| l);
            let k = match args.first_error {
                FirstError::Auto => first_error(human, Some(record.first_error), t.label).flatten(),
                FirstError::Label => t.label.and_then(|l| l.first_error()),
            };
            let index = work.drafts.len();
            for &strategy in &args.strategy {
                match plan(strategy, &t, k, prompts.as_deref()) {
                    Ok(mut p) => {
                        if strategy == Strategy::Local {
                            p.resamples = args.resamples;
                        }
                        work.plans.push((index, p))
                    }
                    Err(e) => skipped.push(format!("{}: {e:#}", path.display())),
                }
            }
            let correct = t.answer_correct();
            work.drafts.push(Draft { trace: t, correct, scores: record.scores, candidates: HashMap::new() });
        }
        works.push(work);
    }
    for s in &skipped {
        crate::errln!("skipped: {s}");
    }
    let total: usize = works.iter().map(|w| w.plans.len()).sum::<usize>() * args.samples;
    if total == 0 {
        anyhow::bail!("nothing to refine ({} skipped; see above)", skipped.len());
    }
    let bar = Progress::new(total);
    let mut done = 0;
    let (mut generated, mut reused) = (0, 0);
    // On servers all missing candidates are made at once, each stored as it arrives; the loop
    // below then finds them stored (and counts them as made, not reused).
    let fresh = if on_servers { refine_on_servers(args, &works, &mut models, &cancel, &bar)? } else { 0 };
    let fingerprint = models.fingerprint_of(generator, &mut |line| crate::errln!("{line}"))?;
    generated += fresh;
    for work in &mut works {
        let loc = args.input.opener().journal(&work.path);
        let out = refinements_path(&loc.path);
        let stored = stored_refinements(&out)?;
        let mut cand_store = Store::open(&crate::trace::store::locate_journal(&out, None).path)?;
        for (index, p) in &work.plans {
            for s in 0..args.samples {
                let seed = args.seed + s as u64;
                let draft = &work.drafts[*index].trace;
                bar.show(done, &format!("{} {} s{seed}", draft.id, p.strategy));
                let params = sample_params(p.strategy, args.samples, args.max_tokens, seed);
                let key = (draft.id.clone(), p.strategy.to_string(), seed, settings(&fingerprint, p, &params));
                let cand = if let Some(done) = stored.get(&key) {
                    reused += 1;
                    done.clone()
                } else {
                    let mut progress = |line: &str| bar.show(done, line);
                    let c = refine(
                        &mut models,
                        generator,
                        draft,
                        p,
                        &params,
                        &draft.segmentation,
                        &cancel,
                        &mut |_, _| {},
                        &mut progress,
                    )?;
                    store_candidate(&out, &c)?;
                    generated += 1;
                    c.trace
                };
                let mut quiet = |_: &str| {};
                let mut ctx = Ctx { cancel: &cancel, progress: &mut quiet };
                let (r, _) =
                    score_into(&mut scorer, &mut models, &spec, &cand, &mut cand_store, None, false, &mut ctx)?;
                let meta = cand.refinement.as_ref();
                let tokens = meta.and_then(|m| m.generated_tokens).unwrap_or(0);
                let seconds = meta.and_then(|m| m.seconds).unwrap_or(0.0);
                let entry = work.drafts[*index].candidates.entry(p.strategy).or_default();
                let unclean = crate::service::refine::unclean(&cand, p);
                entry.push(Made {
                    id: cand.id.clone(),
                    correct: cand.final_answer_correct,
                    scores: r.scores,
                    tokens,
                    seconds,
                    unclean,
                });
                done += 1;
            }
        }
        crate::errln!();
        crate::errln!("candidates stored in {}", out.display());
    }
    bar.finish();
    report(args, &works, generated, reused - fresh, skipped.len())
}

/// One candidate to make: (work, plan, seed).
struct Job {
    work: usize,
    plan: usize,
    seed: u64,
}

/// Makes every missing candidate on the servers (threads = their capacity) and stores each as
/// it arrives. Returns how many were made.
fn refine_on_servers(
    args: &RefineArgs,
    works: &[Work],
    models: &mut Models,
    cancel: &AtomicBool,
    bar: &Progress,
) -> anyhow::Result<usize> {
    let served = models.served(&mut |line| crate::errln!("{line}"))?;
    let fingerprint = crate::model::LanguageModel::fingerprint(served.as_ref());
    let mut jobs = Vec::new();
    let mut outs = Vec::new();
    for (w, work) in works.iter().enumerate() {
        let out = refinements_path(&args.input.opener().journal(&work.path).path);
        let stored = stored_refinements(&out)?;
        for (k, (index, p)) in work.plans.iter().enumerate() {
            for s in 0..args.samples {
                let seed = args.seed + s as u64;
                let params = sample_params(p.strategy, args.samples, args.max_tokens, seed);
                let made_with = settings(&fingerprint, p, &params);
                let key = (work.drafts[*index].trace.id.clone(), p.strategy.to_string(), seed, made_with);
                if !stored.contains_key(&key) {
                    jobs.push(Job { work: w, plan: k, seed });
                }
            }
        }
        outs.push(out);
    }
    let shared = models.sharing_servers();
    let init = || shared.sharing_servers();
    let work = |m: &mut Models, j: &Job| {
        let (index, p) = &works[j.work].plans[j.plan];
        let draft = &works[j.work].drafts[*index].trace;
        let params = sample_params(p.strategy, args.samples, args.max_tokens, j.seed);
        refine(m, SERVER_SPEC, draft, p, &params, &draft.segmentation, cancel, &mut |_, _| {}, &mut |_| {})
    };
    let (mut made, mut failure) = (0, None);
    let mut on_result = |i: usize, r: anyhow::Result<crate::service::refine::Candidate>| {
        for notice in served.pool().take_notices() {
            crate::errln!("\n{notice}");
        }
        match r.and_then(|c| store_candidate(&outs[jobs[i].work], &c)) {
            Ok(()) => made += 1,
            Err(e) => {
                failure.get_or_insert(e);
            }
        }
        bar.show(made, &format!("{made}/{} candidates made on the servers", jobs.len()));
    };
    let stopped = || cancel.load(std::sync::atomic::Ordering::Relaxed);
    crate::service::fanout::each(&jobs, served.pool().capacity(), &stopped, &init, &work, &mut on_result);
    match failure {
        Some(e) => Err(e),
        None => Ok(made),
    }
}

/// Per strategy: transitions over graded drafts it refined, and accuracies over all graded
/// drafts (a draft a strategy did not refine stays as it was).
fn report(args: &RefineArgs, works: &[Work], generated: usize, reused: usize, skipped: usize) -> anyhow::Result<()> {
    let drafts: Vec<&Draft> = works.iter().flat_map(|w| &w.drafts).filter(|d| d.correct.is_some()).collect();
    let mut rows = Vec::new();
    for &strategy in &args.strategy {
        let mut pairs = Vec::new();
        let mut reached = 0usize;
        let (mut after, mut reranked, mut oracle) = (0usize, 0usize, 0usize);
        let (mut tokens, mut seconds, mut made, mut unclean) = (0usize, 0.0f64, 0usize, 0usize);
        for d in &drafts {
            let before = d.correct == Some(true);
            let cands = d.candidates.get(&strategy).map(Vec::as_slice).unwrap_or(&[]);
            for c in cands {
                pairs.push((before, c.correct == Some(true)));
                reached += (c.correct == Some(true)) as usize;
                tokens += c.tokens;
                seconds += c.seconds;
                unclean += c.unclean as usize;
                made += 1;
            }
            after += cands.first().map_or(before, |c| c.correct == Some(true)) as usize;
            let pool: Vec<Option<&[Option<f64>]>> = cands.iter().map(|c| Some(c.scores.as_slice())).collect();
            let right = |i: usize| if i == 0 { before } else { cands[i - 1].correct == Some(true) };
            reranked += best_of(&d.scores, &pool, args.aggregate).is_some_and(|(i, _)| right(i)) as usize;
            oracle += (0..=cands.len()).any(right) as usize;
        }
        let t = Transitions::from_pairs(&pairs);
        let n = drafts.len().max(1) as f64;
        let acc_before = drafts.iter().filter(|d| d.correct == Some(true)).count() as f64 / n;
        let mean = |x: f64| (made > 0).then(|| x / made as f64);
        rows.push(json!({
            "strategy": strategy.to_string(),
            "drafts": drafts.len(),
            "candidates": made,
            "transitions": {"right_right": t.confident, "right_wrong": t.unconfident,
                            "wrong_right": t.critical, "wrong_wrong": t.stubborn},
            "fix_rate": t.fix_rate(), "harm_rate": t.harm_rate(),
            "cl": t.cl(), "cs": t.cs(), "rss": t.rss(),
            "acc_before": acc_before, "acc_after": after as f64 / n,
            "acc_rerank": reranked as f64 / n, "acc_oracle": oracle as f64 / n,
            "mean_tokens": mean(tokens as f64), "mean_seconds": mean(seconds),
            // Of all candidates, the share that reach the reference answer (fork: m of N).
            "reach": mean(reached as f64),
            // Candidates with text after their answer line or an echo of the prompt: 0 expected.
            "unclean": unclean,
        }));
    }
    let summary = json!({
        "generator": generator_name(args), "verifier": args.verifier, "aggregate": args.aggregate.to_string(),
        "samples": args.samples, "generated": generated, "reused": reused, "skipped": skipped,
        "strategies": rows, "picks": picks(args, works),
    });
    if args.json {
        crate::outln!("{}", serde_json::to_string_pretty(&summary)?);
        return Ok(());
    }
    crate::outln!(
        "generator {} · verifier {} (rerank by {}) · {generated} generated, {reused} reused, {skipped} skipped",
        generator_name(args),
        args.verifier,
        args.aggregate
    );
    let pct = |v: &serde_json::Value| v.as_f64().map_or("n/a".to_string(), |x| format!("{:.1}", x * 100.0));
    let num = |v: &serde_json::Value| v.as_f64().map_or("n/a".to_string(), |x| format!("{x:.3}"));
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
        let tr = &r["transitions"];
        crate::outln!(
            "{:<14} {:>6} {:>5} {:>11} {:>5} {:>5} {:>6} {:>6} {:>6} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7}",
            r["strategy"].as_str().unwrap_or(""),
            r["drafts"].as_u64().unwrap_or(0),
            r["candidates"].as_u64().unwrap_or(0),
            format!("{}/{}/{}/{}", tr["right_right"], tr["right_wrong"], tr["wrong_right"], tr["wrong_wrong"]),
            pct(&r["fix_rate"]),
            pct(&r["harm_rate"]),
            num(&r["cl"]),
            num(&r["cs"]),
            num(&r["rss"]),
            pct(&r["acc_before"]),
            pct(&r["acc_after"]),
            pct(&r["acc_rerank"]),
            pct(&r["acc_oracle"]),
            r["mean_tokens"].as_f64().map_or("n/a".into(), |x| format!("{x:.0}")),
            r["mean_seconds"].as_f64().map_or("n/a".into(), |x| format!("{x:.1}")),
            r["unclean"].as_u64().unwrap_or(0),
        );
    }
    Ok(())
}

/// Per draft, the reranker's pick among the draft and every candidate of every strategy run
/// (what the TUI's compare screen shows as its winner for the same candidates and verifier).
fn picks(args: &RefineArgs, works: &[Work]) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    for d in works.iter().flat_map(|w| &w.drafts) {
        let cands: Vec<&Made> = args.strategy.iter().filter_map(|s| d.candidates.get(s)).flatten().collect();
        if cands.is_empty() {
            continue;
        }
        let pool: Vec<Option<&[Option<f64>]>> = cands.iter().map(|c| Some(c.scores.as_slice())).collect();
        if let Some((i, why)) = best_of(&d.scores, &pool, args.aggregate) {
            let winner = if i == 0 { &d.trace.id } else { &cands[i - 1].id };
            out.push(json!({"draft": d.trace.id, "candidates": cands.len(), "winner": winner, "why": why}));
        }
    }
    out
}

/// The generator as reports name it: the model, or the servers.
fn generator_name(args: &RefineArgs) -> String {
    if args.server.given() {
        format!("{SERVER_SPEC} ({})", args.server.options().servers.join(", "))
    } else {
        args.generator.clone()
    }
}
