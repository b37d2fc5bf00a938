//! Running a refinement plan with a generator model: the kept steps are read once into a prefix
//! that each sample forks, the model continues, and the result becomes a candidate trace that
//! keeps the kept steps verbatim and records where it came from.

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use anyhow::Result;

use super::generation::{generated_trace, set_final_answer, Asked};
use super::models::Models;
use crate::model::generate::{answer_end, GenerateParams, GeneratedToken, Generation, StopReason};
use crate::model::{GenJob, LanguageModel, Prefix};
use crate::refine::strategy::{
    attempt_params, continuation, first_paragraph, why_again, Ask, Plan, Strategy, RESAMPLE_RULE,
};
use crate::trace::{answer, Provenance, Segmentation, Trace};

/// An ask read into a model, ready to be continued (forked per sample).
pub struct Prepared {
    prefix: Prefix,
    /// The last prompt token: each sample feeds it to get its first logits.
    last: u32,
    /// Token ids of the kept steps (the answer's start).
    answer_ids: Vec<u32>,
}

impl Prepared {
    /// Tokens of the prompt and the kept steps.
    pub fn tokens(&self) -> usize {
        self.prefix.len() + 1
    }
}

/// Reads the conversation and the kept steps into a prefix.
pub fn prepare(m: &dyn LanguageModel, ask: &Ask) -> Result<Prepared> {
    let mut ids = m.chat_prompt(&ask.messages)?;
    let start = ask.answer_start();
    let answer_ids = if start.is_empty() { Vec::new() } else { m.encode(&start)? };
    ids.extend(&answer_ids);
    let last = *ids.last().ok_or_else(|| anyhow::anyhow!("the prompt has no tokens"))?;
    let mut prefix = m.start();
    m.extend(&mut prefix, &ids[..ids.len() - 1])?;
    Ok(Prepared { prefix, last, answer_ids })
}

/// One sample continuing a prepared ask (the prefix is forked, not recomputed).
pub fn continue_from(
    m: &dyn LanguageModel,
    p: &Prepared,
    params: &GenerateParams,
    cancel: &AtomicBool,
    on_token: &mut dyn FnMut(&GeneratedToken),
) -> Result<Generation> {
    let mut fork = p.prefix.fork()?;
    m.generate(&mut fork, &[p.last], params, cancel, on_token)
}

/// A refined solution with its provenance.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub trace: Trace,
    pub strategy: Strategy,
    pub generated_tokens: usize,
    pub seconds: f64,
    pub stop: StopReason,
}

/// Runs `plan` on `draft` with the generator `generator` (one sample, `params.sampling.seed`).
/// Intervene generates its replacement step first, then continues after it (not when the
/// replacement reaches the answer); a rewrite that visibly failed (`why_again`) is sampled again
/// up to `plan.resamples` times. Tokens of each attempt
/// stream to `on_token` with the attempt's number (a new number starts a new text); cancelling
/// keeps what was made, marked cancelled.
#[allow(clippy::too_many_arguments)]
pub fn refine(
    models: &mut Models,
    generator: &str,
    draft: &Trace,
    plan: &Plan,
    params: &GenerateParams,
    seg: &Segmentation,
    cancel: &AtomicBool,
    on_token: &mut dyn FnMut(usize, &GeneratedToken),
    progress: &mut dyn FnMut(&str),
) -> Result<Candidate> {
    let m = models.language_model(generator, progress)?;
    let started = Instant::now();
    let mut o = opening(m.as_ref(), draft, plan, params, cancel, progress)?;
    let first = match o.done.take() {
        Some(g) => g,
        None => continue_from(m.as_ref(), &o.prepared, &o.params, cancel, &mut |t| on_token(0, t))?,
    };
    let g = resample(m.as_ref(), draft, plan, seg, &mut o, first, cancel, on_token, progress)?;
    Ok(finished(m.as_ref(), draft, plan, params, seg, o, g, started))
}

/// Several plans on one draft at once, e.g. local, global and intervene side by side: each
/// plan's prefix is prepared (intervene writes its replacement step first), then every
/// candidate decodes in one batch, one forward pass per token for all (on the local runtime),
/// tokens streaming to `on_token(plan index, token)`. A rewrite that repeats the error is
/// sampled again afterwards, alone. Each candidate is what `refine` makes of its plan.
#[allow(clippy::too_many_arguments)]
pub fn race(
    models: &mut Models,
    generator: &str,
    draft: &Trace,
    plans: &[(Plan, GenerateParams)],
    seg: &Segmentation,
    cancel: &AtomicBool,
    on_token: &mut dyn FnMut(usize, &GeneratedToken),
    progress: &mut dyn FnMut(&str),
) -> Result<Vec<Candidate>> {
    let m = models.language_model(generator, progress)?;
    let started = Instant::now();
    let mut openings = Vec::with_capacity(plans.len());
    for (plan, params) in plans {
        openings.push(opening(m.as_ref(), draft, plan, params, cancel, progress)?);
    }
    progress(&format!("{}: {} candidates decoding together", draft.id, plans.len()));
    let mut forks: Vec<(usize, Prefix)> = Vec::new();
    for (i, o) in openings.iter().enumerate().filter(|(_, o)| o.done.is_none()) {
        forks.push((i, o.prepared.prefix.fork()?));
    }
    let lanes: Vec<usize> = forks.iter().map(|(i, _)| *i).collect();
    let lasts: Vec<[u32; 1]> = lanes.iter().map(|&i| [openings[i].prepared.last]).collect();
    let mut jobs: Vec<GenJob> = forks
        .iter_mut()
        .zip(&lasts)
        .map(|((i, prefix), last)| GenJob { prefix, ids: last, params: &openings[*i].params })
        .collect();
    let mut together = m.generate_batch(&mut jobs, cancel, &mut |k, t| on_token(lanes[k], t))?.into_iter();
    let mut out = Vec::with_capacity(plans.len());
    for ((plan, params), mut o) in plans.iter().zip(openings) {
        let first = match o.done.take() {
            Some(g) => g,
            None => together.next().expect("one generation per lane"),
        };
        let lane = out.len();
        let mut lane_token = |_: usize, t: &GeneratedToken| on_token(lane, t);
        let g = resample(m.as_ref(), draft, plan, seg, &mut o, first, cancel, &mut lane_token, progress)?;
        out.push(finished(m.as_ref(), draft, plan, params, seg, o, g, started));
    }
    Ok(out)
}

/// What a plan needs before its main generation: the ask it continues, that prefix read, the
/// parameters (with the plan's stops), how often it may sample again, the tokens generated so
/// far (intervene's replacement step), and, where a replacement already reached the answer, the
/// (empty) generation that ends the candidate.
struct Opening {
    ask: Ask,
    prepared: Prepared,
    params: GenerateParams,
    resamples: usize,
    generated: usize,
    attempts: usize,
    done: Option<Generation>,
}

fn opening(
    m: &dyn LanguageModel,
    draft: &Trace,
    plan: &Plan,
    params: &GenerateParams,
    cancel: &AtomicBool,
    progress: &mut dyn FnMut(&str),
) -> Result<Opening> {
    if let (Strategy::Intervene, Some(k)) = (plan.strategy, plan.from_step) {
        progress(&format!("{}: writing a replacement for step {k}", draft.id));
        let first = prepare(m, &plan.ask)?;
        let one_step = GenerateParams { stop: vec!["\n\n".into()], ..params.clone() };
        let r = continue_from(m, &first, &one_step, cancel, &mut |_| {})?;
        let step = first_paragraph(&r.text);
        // A replacement that already reaches the answer ends the candidate there.
        let answered = answer_end(&format!("{step}\n"));
        let ask = continuation(draft, k, answered.map_or(step, |at| &step[..at]));
        let prepared = prepare(m, &ask)?;
        let done = answered.map(|_| Generation {
            text: String::new(),
            tokens: Vec::new(),
            stop: StopReason::Answer,
            prompt_tokens: 0,
        });
        let (params, generated) = (params.clone(), r.tokens.len());
        return Ok(Opening { ask, prepared, params, resamples: 0, generated, attempts: 1, done });
    }
    let prepared = prepare(m, &plan.ask)?;
    // The candidate ends where it starts echoing the prompt's marker or instructions.
    let mut stop = params.stop.clone();
    stop.extend(plan.ask.echoes.iter().cloned());
    let params = GenerateParams { stop, ..params.clone() };
    Ok(Opening {
        ask: plan.ask.clone(),
        prepared,
        params,
        resamples: plan.resamples,
        generated: 0,
        attempts: 1,
        done: None,
    })
}

/// Samples again while the rewrite visibly failed (up to the opening's resamples); returns the
/// generation kept and counts tokens and attempts into the opening.
#[allow(clippy::too_many_arguments)]
fn resample(
    m: &dyn LanguageModel,
    draft: &Trace,
    plan: &Plan,
    seg: &Segmentation,
    o: &mut Opening,
    first: Generation,
    cancel: &AtomicBool,
    on_token: &mut dyn FnMut(usize, &GeneratedToken),
    progress: &mut dyn FnMut(&str),
) -> Result<Generation> {
    let mut g = first;
    let mut attempt = 0;
    loop {
        o.generated += g.tokens.len();
        let why = match attempt < o.resamples && g.stop != StopReason::Cancelled {
            true => why_resample(draft, plan, &g, seg),
            false => None,
        };
        let Some(why) = why else { break };
        attempt += 1;
        progress(&format!("{}: the rewrite {why}; sampling again ({} of {})", draft.id, attempt + 1, o.resamples + 1));
        let p = attempt_params(&o.params, attempt);
        g = continue_from(m, &o.prepared, &p, cancel, &mut |t| on_token(attempt, t))?;
    }
    o.attempts = attempt + 1;
    Ok(g)
}

/// The candidate of a finished opening and its generation, with its provenance.
#[allow(clippy::too_many_arguments)]
fn finished(
    m: &dyn LanguageModel,
    draft: &Trace,
    plan: &Plan,
    params: &GenerateParams,
    seg: &Segmentation,
    o: Opening,
    g: Generation,
    started: Instant,
) -> Candidate {
    let made_with = settings(&m.fingerprint(), plan, params);
    let mut trace =
        candidate_trace(draft, plan, &o.ask, &o.prepared.answer_ids, &g, m.name(), params.sampling.seed, seg);
    let seconds = started.elapsed().as_secs_f64();
    if let Some(r) = trace.refinement.as_mut() {
        r.settings = Some(made_with);
        r.generated_tokens = Some(o.generated);
        r.seconds = Some(seconds);
        r.attempts = Some(o.attempts);
    }
    Candidate { trace, strategy: plan.strategy, generated_tokens: o.generated, seconds, stop: g.stop }
}

/// Why a generation from the plan's first error should be sampled again ([`why_again`]).
fn why_resample(draft: &Trace, plan: &Plan, g: &Generation, seg: &Segmentation) -> Option<String> {
    let k = plan.from_step?;
    let steps: Vec<String> = seg.split(&g.text).into_iter().map(|s| s.text).collect();
    let steps: Vec<&str> = steps.iter().map(String::as_str).collect();
    why_again(draft, k, &steps, answer::extract_marked(&g.text).as_deref())
}

/// The candidate as a trace: the kept steps verbatim, then the generated text segmented; the
/// replay record holds the conversation and every answer token (kept and generated).
#[allow(clippy::too_many_arguments)]
fn candidate_trace(
    draft: &Trace,
    plan: &Plan,
    ask: &Ask,
    answer_ids: &[u32],
    g: &Generation,
    generator: &str,
    seed: u64,
    seg: &Segmentation,
) -> Trace {
    let asked = Asked { chat: &ask.messages, kept: &ask.kept, kept_ids: answer_ids };
    let id = format!("{}~{}-s{seed}", draft.id, plan.strategy);
    let mut trace = generated_trace(id, &draft.problem, &asked, g, generator, seg);
    // The answer is in what this candidate wrote: the generated text, and for intervene and edit
    // the step it put in place of the wrong one (a replacement may reach the answer itself).
    let own_step = match plan.strategy {
        Strategy::Intervene | Strategy::Edit => ask.kept.last().map(String::as_str),
        _ => None,
    };
    let final_answer = answer::extract_marked(&g.text).or_else(|| own_step.and_then(answer::extract_marked));
    set_final_answer(&mut trace, final_answer, draft.reference_answer.clone());
    trace.refinement = Some(Provenance {
        parent: draft.id.clone(),
        strategy: plan.strategy.to_string(),
        from_step: plan.from_step,
        prompt: plan.prompt_version.clone(),
        generator: generator.to_string(),
        seed,
        cancelled: g.stop == StopReason::Cancelled,
        // A human intervention: the step as the user wrote it.
        edited_step: plan.edited.clone(),
        ..Provenance::default()
    });
    trace
}

/// What a candidate depends on besides its draft, strategy and seed: the generator's weights,
/// the prompt template, the step it starts from, a human's edited step and the generation
/// settings. A stored candidate is reused only when all of them are the same.
pub fn settings(generator_fingerprint: &str, plan: &Plan, params: &GenerateParams) -> String {
    let edited = plan.edited.as_deref().map_or(0, |t| crate::model::fnv1a(crate::model::FNV_OFFSET, t.as_bytes()));
    let s = &params.sampling;
    format!(
        "{generator_fingerprint} {} from={:?} edited={edited:x} max_tokens={} temperature={} top_p={} stop={:?} answer_stop={}{}",
        plan.prompt_version, plan.from_step, params.max_tokens, s.temperature, s.top_p, params.stop, params.stop_at_answer,
        // Only `local` resamples; the keys of the others stay as they were.
        if plan.resamples > 0 { format!(" resamples={}:{RESAMPLE_RULE}", plan.resamples) } else { String::new() }
    )
}

/// A stored candidate's key: parent, strategy, seed and [`settings`].
pub type CandidateKey = (String, String, u64, String);

/// Where a trace file's refinements go: beside its label journal, `<file>.refined.jsonl`
/// (so a read-only dataset folder sends both to the per-user folder, and `--store` both to it).
pub fn refinements_path(journal: &std::path::Path) -> std::path::PathBuf {
    let text = journal.display().to_string();
    let base = text.strip_suffix(".stepscope.jsonl").unwrap_or(&text);
    std::path::PathBuf::from(format!("{base}.refined.jsonl"))
}

/// The finished refinements stored for a file, by [`CandidateKey`]; cancelled ones, and ones
/// stored without their settings (by an older version), are left out (they are done again).
pub fn stored_refinements(path: &std::path::Path) -> Result<HashMap<CandidateKey, Trace>> {
    if !path.exists() {
        return Ok(HashMap::new());
    }
    let file = crate::trace::TraceFile::open(path, Some(crate::trace::Format::Native), Default::default())
        .map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.message))?;
    let (traces, _) = file.load_all();
    Ok(traces
        .into_iter()
        .filter_map(|t| {
            let r = t.refinement.as_ref().filter(|r| !r.cancelled)?;
            let key = (r.parent.clone(), r.strategy.clone(), r.seed, r.settings.clone()?);
            Some((key, t))
        })
        .collect())
}

/// Appends a candidate to the refinements file, on disk before this returns.
pub fn store_candidate(path: &std::path::Path, c: &Candidate) -> Result<()> {
    store_trace(path, &c.trace)
}

/// Appends a refined trace to the refinements file, on disk before this returns.
pub fn store_trace(path: &std::path::Path, trace: &Trace) -> Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let line = crate::trace::formats::native::to_value(trace, None).to_string();
    f.write_all(format!("{line}\n").as_bytes())?;
    f.sync_data()?;
    Ok(())
}

/// Whether a candidate is not clean: what it wrote (after the draft's kept steps; intervene's
/// replacement step included) goes on after a finished answer line, or holds the `[BAD]` marker
/// or a line of its prompt's instructions. Generation stops before either (`stop_at_answer`,
/// the plan's echoes as stop strings), so a benchmark expects none.
pub fn unclean(candidate: &Trace, plan: &Plan) -> bool {
    let kept = match plan.strategy {
        Strategy::Intervene => plan.from_step.unwrap_or(0),
        _ => plan.ask.kept.len(),
    };
    let from = candidate.steps.get(kept).map_or(candidate.solution.len(), |s| s.start);
    let generated = candidate.solution.get(from..).unwrap_or(&candidate.solution).trim_end();
    crate::model::generate::answer_end(generated).is_some()
        || generated.contains("[BAD]")
        || plan.ask.echoes.iter().any(|e| generated.contains(e.as_str()))
}

/// Reference answers by problem text (whitespace folded) from a file of problems stepscope
/// reads (GSM8K's test.jsonl gives each problem its `#### …` answer).
pub fn references(opener: &crate::trace::Opener, path: &std::path::Path) -> Result<HashMap<String, String>> {
    let file = opener.open(path).map_err(|e| anyhow::anyhow!("references: {e}"))?;
    let (traces, _) = file.load_all();
    let table: HashMap<String, String> =
        traces.into_iter().filter_map(|t| Some((problem_key(&t.problem), t.reference_answer?))).collect();
    if table.is_empty() {
        anyhow::bail!("references: {} has no problem with a reference answer", path.display());
    }
    Ok(table)
}

/// Gives each trace without a reference answer the one of its problem. Returns how many took one.
pub fn join_references(traces: &mut [Trace], table: &HashMap<String, String>) -> usize {
    let mut joined = 0;
    for t in traces.iter_mut().filter(|t| t.reference_answer.is_none()) {
        if let Some(r) = table.get(&problem_key(&t.problem)) {
            t.reference_answer = Some(r.clone());
            joined += 1;
        }
    }
    joined
}

fn problem_key(problem: &str) -> String {
    problem.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The first wrong step to refine from: a human label, else the first error a verifier found,
/// else the dataset label. A verifier that finds no error does not overrule the dataset (most
/// verifiers miss errors more often than they invent them). `Some(None)`: the trace has no error;
/// `None`: nothing is known.
pub fn first_error(
    human: Option<crate::trace::Label>,
    verifier: Option<Option<usize>>,
    dataset: Option<crate::trace::Label>,
) -> Option<Option<usize>> {
    human.map(|l| l.first_error()).or(verifier.flatten().map(Some)).or(dataset.map(|l| l.first_error())).or(verifier)
}

#[cfg(test)]
mod tests {
    use super::{first_error, join_references};
    use crate::trace::{Label, Trace};

    #[test]
    fn which_first_error_a_refinement_starts_from() {
        let (one, none) = (Some(Label::FirstError(1)), Some(Label::NoError));
        assert_eq!(first_error(one, Some(Some(3)), none), Some(Some(1)), "a human label wins");
        assert_eq!(first_error(none, Some(Some(3)), one), Some(None), "even when it says no error");
        assert_eq!(first_error(None, Some(Some(3)), one), Some(Some(3)), "then what a verifier found");
        assert_eq!(first_error(None, Some(None), one), Some(Some(1)), "a verifier finding nothing defers");
        assert_eq!(first_error(None, Some(None), None), Some(None));
        assert_eq!(first_error(None, None, None), None);
    }

    #[test]
    fn references_join_by_problem_text_and_never_replace_one() {
        let table = [("Tom has 3 eggs. How many?".to_string(), "3".to_string())].into_iter().collect();
        let mut a = Trace::from_step_texts("a", "Tom  has 3 eggs.\nHow many?", &["3"]);
        let mut b = Trace::from_step_texts("b", "Tom has 3 eggs. How many?", &["3"]);
        b.reference_answer = Some("4".into());
        let c = Trace::from_step_texts("c", "Another problem.", &["1"]);
        let mut traces = vec![a.clone(), b.clone(), c];
        assert_eq!(join_references(&mut traces, &table), 1);
        a.reference_answer = Some("3".into());
        assert_eq!(traces[0].reference_answer, a.reference_answer, "whitespace is folded");
        assert_eq!(traces[1].reference_answer, b.reference_answer, "a trace's own reference stays");
        assert_eq!(traces[2].reference_answer, None);
    }
}
