//! Fan-out: work spread over the servers behind the model `server` (`score` and `eval` with a
//! server verifier, `generate` and `refine` with `--server`).
//!
//! As many threads as the servers take requests at once (servers × `--concurrency`); each has
//! its own state (a verifier keeps per-trace state) over the one shared server pool, which
//! routes every request to the least busy live server and drops a server that keeps failing.
//! Results come back to the calling thread as they arrive, so the caller stores each at once:
//! a rerun reuses what is stored and only computes what is missing.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::channel;

use anyhow::Result;

use super::models::Models;
use super::score::{is_unavailable, Outcome, Scorer};
use crate::trace::store::VerifyRecord;
use crate::trace::Trace;
use crate::verify::{Ctx, Options, VerifierSpec};

/// Whether a spec's model is the servers' (the only case fan-out applies to).
pub fn uses_servers(spec: &VerifierSpec) -> bool {
    spec.model_spec() == Some(crate::model::remote::SERVER_SPEC)
}

/// What a run over many traces needs besides the traces.
pub struct Batch<'a> {
    pub spec: &'a VerifierSpec,
    pub options: &'a Options,
    /// The stored result of each trace for this spec, if any.
    pub stored: Vec<Option<VerifyRecord>>,
    pub tau: Option<f64>,
    pub rescore: bool,
    pub cancel: &'a AtomicBool,
}

/// Scores `traces` with `batch.spec` on as many threads as the servers take requests at once.
/// `on_result(i, result)` runs on the calling thread for each trace as its result arrives. An
/// unavailable verifier (no server left) stops the run and is returned.
pub fn score_all(
    models: &mut Models,
    traces: &[Trace],
    batch: Batch,
    progress: &mut dyn FnMut(&str),
    on_result: &mut dyn FnMut(usize, Result<(VerifyRecord, Outcome)>),
) -> Result<()> {
    let served = models.served(progress)?;
    let stop = AtomicBool::new(false);
    let stopped = || stop.load(Ordering::Relaxed) || batch.cancel.load(Ordering::Relaxed);
    let shared = models.sharing_servers();
    let init = || (Scorer::new(batch.options.clone()), shared.sharing_servers());
    let work = |(scorer, models): &mut (Scorer, Models), i: &usize| {
        let mut quiet = |_: &str| {};
        let mut ctx = Ctx { cancel: batch.cancel, progress: &mut quiet };
        let stored = batch.stored[*i].as_ref();
        scorer.result_for(models, batch.spec, &traces[*i], stored, batch.tau, batch.rescore, &mut ctx)
    };
    let mut fatal = None;
    let mut handle = |k: usize, r: Result<(VerifyRecord, Outcome)>| {
        match r {
            Err(e) if is_unavailable(&e) => {
                stop.store(true, Ordering::Relaxed);
                fatal.get_or_insert(e);
            }
            Err(e) if served.pool().live().is_empty() => {
                stop.store(true, Ordering::Relaxed);
                fatal.get_or_insert(anyhow::anyhow!("every server failed; the last error: {e:#}"));
            }
            r => on_result(k, r),
        }
        for notice in served.pool().take_notices() {
            progress(&notice);
        }
    };
    let indices: Vec<usize> = (0..traces.len()).collect();
    each(&indices, served.pool().capacity(), &stopped, &init, &work, &mut handle);
    fatal.map_or(Ok(()), Err)
}

/// One generation to make: a conversation and its sample number (the seed is `seed + sample`).
pub struct Ask {
    pub messages: Vec<crate::model::Message>,
    pub sample: usize,
}

/// Generates every `ask` with `model` on `threads` threads (the servers' capacity), calling
/// `on_result(i, result)` on the calling thread as each finishes. Cancellation stops new work
/// and ends streams in flight.
pub fn generate_all(
    model: &dyn crate::model::LanguageModel,
    asks: &[Ask],
    params: &crate::model::generate::GenerateParams,
    threads: usize,
    cancel: &AtomicBool,
    on_result: &mut dyn FnMut(usize, Result<crate::model::generate::Generation>),
) {
    let stopped = || cancel.load(Ordering::Relaxed);
    each(asks, threads, &stopped, &|| (), &|_, ask| generate_one(model, ask, params, cancel), on_result);
}

fn generate_one(
    model: &dyn crate::model::LanguageModel,
    ask: &Ask,
    params: &crate::model::generate::GenerateParams,
    cancel: &AtomicBool,
) -> Result<crate::model::generate::Generation> {
    let prompt = model.chat_prompt(&ask.messages)?;
    let mut p = params.clone();
    p.sampling.seed = params.sampling.seed.wrapping_add(ask.sample as u64);
    let mut prefix = model.start();
    model.generate(&mut prefix, &prompt, &p, cancel, &mut |_| {})
}

/// Runs `work` on every job on `threads` threads, each with its own state from `init` (a
/// verifier, a model cache sharing the servers); `on_result(i, result)` runs on the calling
/// thread as each job finishes. Once `stopped()` says so, no new job starts.
pub fn each<J: Sync, S, R: Send>(
    jobs: &[J],
    threads: usize,
    stopped: &(dyn Fn() -> bool + Sync),
    init: &(dyn Fn() -> S + Sync),
    work: &(dyn Fn(&mut S, &J) -> R + Sync),
    on_result: &mut dyn FnMut(usize, R),
) {
    let next = AtomicUsize::new(0);
    let (tx, rx) = channel();
    std::thread::scope(|scope| {
        for _ in 0..threads.clamp(1, jobs.len().max(1)) {
            let (tx, next) = (tx.clone(), &next);
            scope.spawn(move || {
                let mut state = init();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= jobs.len() || stopped() {
                        return;
                    }
                    if tx.send((i, work(&mut state, &jobs[i]))).is_err() {
                        return;
                    }
                }
            });
        }
        drop(tx);
        for (i, r) in rx {
            on_result(i, r);
        }
    });
}
