//! Fan-out: one verifier over many traces, spread over the servers behind the model `server`.
//!
//! Each worker thread has its own verifier (verifiers keep per-trace state) over the one shared
//! server pool, which routes every request to the least busy live server and drops a server
//! that keeps failing. Results come back to the calling thread as they arrive, so the caller
//! stores each at once: a rerun reuses what is stored and only computes what is missing.

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
    spec.language_model() == Some(crate::model::remote::SERVER_SPEC)
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
    let threads = served.pool().capacity().clamp(1, traces.len().max(1));
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let (tx, rx) = channel();
    let mut fatal = None;
    std::thread::scope(|scope| {
        for _ in 0..threads {
            let (tx, next, stop, batch) = (tx.clone(), &next, &stop, &batch);
            let mut worker_models = models.sharing_servers();
            scope.spawn(move || {
                let mut scorer = Scorer::new(batch.options.clone());
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= traces.len() || stop.load(Ordering::Relaxed) || batch.cancel.load(Ordering::Relaxed) {
                        return;
                    }
                    let mut quiet = |_: &str| {};
                    let mut ctx = Ctx { cancel: batch.cancel, progress: &mut quiet };
                    let stored = batch.stored[i].as_ref();
                    let r = scorer.result_for(
                        &mut worker_models,
                        batch.spec,
                        &traces[i],
                        stored,
                        batch.tau,
                        batch.rescore,
                        &mut ctx,
                    );
                    if tx.send((i, r)).is_err() {
                        return;
                    }
                }
            });
        }
        drop(tx);
        for (i, r) in rx {
            match r {
                Err(e) if is_unavailable(&e) => {
                    stop.store(true, Ordering::Relaxed);
                    fatal.get_or_insert(e);
                }
                Err(e) if served.pool().live().is_empty() => {
                    stop.store(true, Ordering::Relaxed);
                    fatal.get_or_insert(anyhow::anyhow!("every server failed; the last error: {e:#}"));
                }
                r => on_result(i, r),
            }
            for notice in served.pool().take_notices() {
                progress(&notice);
            }
        }
    });
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
    let next = AtomicUsize::new(0);
    let (tx, rx) = channel();
    std::thread::scope(|scope| {
        for _ in 0..threads.clamp(1, asks.len().max(1)) {
            let (tx, next) = (tx.clone(), &next);
            scope.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= asks.len() || cancel.load(Ordering::Relaxed) {
                    return;
                }
                let r = generate_one(model, &asks[i], params, cancel);
                if tx.send((i, r)).is_err() {
                    return;
                }
            });
        }
        drop(tx);
        for (i, r) in rx {
            on_result(i, r);
        }
    });
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
