//! A refinement batch, as `refine` runs it (and any face that refines files): score each draft
//! with the verifier, plan each strategy from its first error, make every missing candidate
//! (on the servers all at once, each stored as it lands; else one by one), reuse the stored
//! ones, and score every candidate. What comes back is typed data for `refine::report`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use anyhow::Result;

use super::models::Models;
use super::refine::{
    first_error, race, refine, refinements_path, settings, store_candidate, stored_refinements, Candidate, CandidateKey,
};
use super::score::{is_unavailable, score_into, Scorer};
use crate::model::generate::GenerateParams;
use crate::model::remote::{RemoteOptions, SERVER_SPEC};
use crate::model::LoadOptions;
use crate::refine::report::{DraftResult, Made};
use crate::refine::strategy::{plan, sample_params, Plan, Strategy};
use crate::trace::{Opener, Store, Trace};
use crate::verify::{Ctx, Options};

/// Where a refinement's first error comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirstErrorFrom {
    /// My label, else the verifier's, else the dataset's.
    Auto,
    /// The dataset's label only.
    Label,
}

/// What a batch is asked to do.
#[derive(Debug, Clone)]
pub struct Batch {
    pub paths: Vec<PathBuf>,
    pub opener: Opener,
    pub strategies: Vec<Strategy>,
    /// The generator's spec (ignored on servers: the servers' model writes).
    pub generator: String,
    /// The verifier that finds the first error (where no human label says) and reranks.
    pub verifier: String,
    pub first_error: FirstErrorFrom,
    /// Reference answers joined by problem text, for traces without one.
    pub references: Option<HashMap<String, String>>,
    pub samples: usize,
    /// `local`'s resamples of a rewrite that visibly failed.
    pub resamples: usize,
    pub limit: Option<usize>,
    pub max_tokens: usize,
    pub seed: u64,
    pub prompts: Option<PathBuf>,
    /// The servers (none: local models).
    pub remote: RemoteOptions,
}

/// What a batch tells its caller while it runs.
pub enum Event<'a> {
    /// A line worth showing (a file's problems, references joined, a skipped trace).
    Note(&'a str),
    /// Planning is done: this many candidates are wanted.
    Planned(usize),
    /// Candidates done so far, and what is being made.
    Progress(usize, &'a str),
    /// A file's candidates are all in this refinements file.
    Stored(&'a std::path::Path),
}

/// What a batch made and found.
pub struct Outcome {
    pub drafts: Vec<DraftResult>,
    pub generated: usize,
    pub reused: usize,
    pub skipped: usize,
}

/// The work of one trace file: its drafts and the plans that could be made.
struct Work {
    path: PathBuf,
    drafts: Vec<DraftResult>,
    plans: Vec<(usize, Plan)>,
}

/// Runs a batch; `event` hears about it as it goes. Stored candidates are reused when every
/// setting they depend on is the same (`service::refine::settings`).
pub fn run_batch(b: &Batch, event: &mut dyn FnMut(Event)) -> Result<Outcome> {
    let on_servers = !b.remote.servers.is_empty();
    let generator = if on_servers { SERVER_SPEC } else { b.generator.as_str() };
    if !on_servers {
        // A missing generator is an error before anything runs (a known name is fetched here).
        crate::model::resolve(generator, &mut |line| event(Event::Note(line)))
            .map_err(|e| anyhow::anyhow!("generator: {e:#}"))?;
    }
    let opts = Options { remote: b.remote.clone(), ..Options::default() };
    let mut scorer = Scorer::new(opts.clone());
    let mut models = Models::new(LoadOptions::default());
    models.set_remote(&opts.remote);
    let verifier =
        if on_servers { crate::verify::with_default_model(&b.verifier, SERVER_SPEC) } else { b.verifier.clone() };
    let spec = scorer.spec(&verifier)?;
    let cancel = AtomicBool::new(false);
    let (mut works, skipped) = plan_all(b, &mut scorer, &mut models, &spec, &cancel, event)?;
    let total: usize = works.iter().map(|w| w.plans.len()).sum::<usize>() * b.samples;
    if total == 0 {
        anyhow::bail!("nothing to refine ({skipped} skipped; see above)");
    }
    event(Event::Planned(total));
    // On servers all missing candidates are made at once, each stored as it arrives; the loop
    // below then finds them stored (and counts them as made, not reused).
    let fresh = if on_servers { make_on_servers(b, &works, &mut models, &cancel, event)? } else { 0 };
    let fingerprint = models.fingerprint_of(generator, &mut |line| event(Event::Note(line)))?;
    let (mut done, mut generated, mut reused) = (0, fresh, 0);
    for work in &mut works {
        let out = refinements_path(&b.opener.journal(&work.path).path);
        let stored = stored_refinements(&out)?;
        let mut cand_store = Store::open(&crate::trace::store::locate_journal(&out, None).path)?;
        for (index, p) in &work.plans {
            let draft = &work.drafts[*index].trace;
            let samples: Vec<(GenerateParams, CandidateKey)> = (0..b.samples)
                .map(|s| {
                    let seed = b.seed + s as u64;
                    let params = sample_params(p.strategy, b.samples, b.max_tokens, seed);
                    let key = (draft.id.clone(), p.strategy.to_string(), seed, settings(&fingerprint, p, &params));
                    (params, key)
                })
                .collect();
            // The samples not stored yet decode together: one forward pass per token for all.
            let missing: Vec<usize> = (0..samples.len()).filter(|&i| !stored.contains_key(&samples[i].1)).collect();
            let mut made: HashMap<usize, Trace> = HashMap::new();
            if !missing.is_empty() {
                let what = format!("{} {} ×{}", draft.id, p.strategy, missing.len());
                event(Event::Progress(done, &what));
                let plans: Vec<(Plan, GenerateParams)> =
                    missing.iter().map(|&i| (p.clone(), samples[i].0.clone())).collect();
                let mut progress = |line: &str| event(Event::Progress(done, line));
                let seg = &draft.segmentation;
                let cs = race(&mut models, generator, draft, &plans, seg, &cancel, &mut |_, _| {}, &mut progress)?;
                for (&i, c) in missing.iter().zip(cs) {
                    store_candidate(&out, &c)?;
                    generated += 1;
                    made.insert(i, c.trace);
                }
            }
            for (s, (_, key)) in samples.iter().enumerate() {
                let cand = match made.remove(&s) {
                    Some(t) => t,
                    None => {
                        reused += 1;
                        stored[key].clone()
                    }
                };
                let mut quiet = |_: &str| {};
                let mut ctx = Ctx { cancel: &cancel, progress: &mut quiet };
                let (r, _) =
                    score_into(&mut scorer, &mut models, &spec, &cand, &mut cand_store, None, false, &mut ctx)?;
                let meta = cand.refinement.as_ref();
                let made = Made {
                    id: cand.id.clone(),
                    correct: cand.final_answer_correct,
                    scores: r.scores,
                    tokens: meta.and_then(|m| m.generated_tokens).unwrap_or(0),
                    seconds: meta.and_then(|m| m.seconds).unwrap_or(0.0),
                    unclean: super::refine::unclean(&cand, p),
                };
                work.drafts[*index].candidates.entry(p.strategy).or_default().push(made);
                done += 1;
            }
        }
        event(Event::Stored(&out));
    }
    let drafts = works.into_iter().flat_map(|w| w.drafts).collect();
    Ok(Outcome { drafts, generated, reused: reused - fresh, skipped })
}

/// Scores every draft and plans each strategy on it; returns the works and how many traces
/// or plans were skipped (each said as a note).
fn plan_all(
    b: &Batch,
    scorer: &mut Scorer,
    models: &mut Models,
    spec: &crate::verify::VerifierSpec,
    cancel: &AtomicBool,
    event: &mut dyn FnMut(Event),
) -> Result<(Vec<Work>, usize)> {
    let mut works = Vec::new();
    let mut skipped = 0;
    for path in &b.paths {
        let file = b.opener.open(path).map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.message))?;
        let (mut traces, problems) = file.load_all();
        for p in &problems {
            event(Event::Note(&p.to_string()));
        }
        let mut store = b.opener.store(path).map_err(anyhow::Error::msg)?;
        for w in &store.warnings {
            event(Event::Note(&format!("warning: {w}")));
        }
        if let Some(r) = &b.references {
            let joined = super::refine::join_references(&mut traces, r);
            let n = traces.len();
            event(Event::Note(&format!(
                "{}: {joined} of {n} traces took a reference answer from the references file",
                path.display()
            )));
        }
        let mut work = Work { path: path.clone(), drafts: Vec::new(), plans: Vec::new() };
        for t in traces.into_iter().take(b.limit.unwrap_or(usize::MAX)) {
            let mut quiet = |_: &str| {};
            let mut ctx = Ctx { cancel, progress: &mut quiet };
            let (record, _) = match score_into(scorer, models, spec, &t, &mut store, None, false, &mut ctx) {
                Ok(r) => r,
                Err(e) if is_unavailable(&e) => return Err(e),
                Err(e) => {
                    skipped += 1;
                    event(Event::Note(&format!("skipped: {}: {}: {e:#}", path.display(), t.id)));
                    continue;
                }
            };
            let human = store.latest_label(&t.id).map(|(l, _)| l);
            let k = match b.first_error {
                FirstErrorFrom::Auto => first_error(human, Some(record.first_error), t.label).flatten(),
                FirstErrorFrom::Label => t.label.and_then(|l| l.first_error()),
            };
            let index = work.drafts.len();
            for &strategy in &b.strategies {
                match plan(strategy, &t, k, b.prompts.as_deref()) {
                    Ok(mut p) => {
                        if strategy == Strategy::Local {
                            p.resamples = b.resamples;
                        }
                        work.plans.push((index, p))
                    }
                    Err(e) => {
                        skipped += 1;
                        event(Event::Note(&format!("skipped: {}: {e:#}", path.display())));
                    }
                }
            }
            let correct = t.answer_correct();
            work.drafts.push(DraftResult { trace: t, correct, scores: record.scores, candidates: HashMap::new() });
        }
        works.push(work);
    }
    Ok((works, skipped))
}

/// One candidate to make on the servers: (work, plan, seed).
struct Job {
    work: usize,
    plan: usize,
    seed: u64,
}

/// Makes every missing candidate on the servers (threads = their capacity) and stores each as
/// it arrives. Returns how many were made.
fn make_on_servers(
    b: &Batch,
    works: &[Work],
    models: &mut Models,
    cancel: &AtomicBool,
    event: &mut dyn FnMut(Event),
) -> Result<usize> {
    let served = models.served(&mut |line| event(Event::Note(line)))?;
    let fingerprint = crate::model::LanguageModel::fingerprint(served.as_ref());
    let mut jobs = Vec::new();
    let mut outs = Vec::new();
    for (w, work) in works.iter().enumerate() {
        let out = refinements_path(&b.opener.journal(&work.path).path);
        let stored = stored_refinements(&out)?;
        for (k, (index, p)) in work.plans.iter().enumerate() {
            for s in 0..b.samples {
                let seed = b.seed + s as u64;
                let params = sample_params(p.strategy, b.samples, b.max_tokens, seed);
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
        let params = sample_params(p.strategy, b.samples, b.max_tokens, j.seed);
        refine(m, SERVER_SPEC, draft, p, &params, &draft.segmentation, cancel, &mut |_, _| {}, &mut |_| {})
    };
    let (mut made, mut failure) = (0, None);
    let mut on_result = |i: usize, r: Result<Candidate>| {
        for notice in served.pool().take_notices() {
            event(Event::Note(&notice));
        }
        match r.and_then(|c| store_candidate(&outs[jobs[i].work], &c)) {
            Ok(()) => made += 1,
            Err(e) => {
                failure.get_or_insert(e);
            }
        }
        event(Event::Progress(made, &format!("{made}/{} candidates made on the servers", jobs.len())));
    };
    let stopped = || cancel.load(std::sync::atomic::Ordering::Relaxed);
    super::fanout::each(&jobs, served.pool().capacity(), &stopped, &init, &work, &mut on_result);
    match failure {
        Some(e) => Err(e),
        None => Ok(made),
    }
}
