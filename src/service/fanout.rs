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
use super::score::{is_unavailable, keep, Outcome, Scorer};
use crate::model::generate::{GenerateParams, Generation};
use crate::model::remote::{Engine, RemoteModel};
use crate::model::LanguageModel;
use crate::trace::store::VerifyRecord;
use crate::trace::{Store, Trace};
use crate::verify::{Ctx, Options, VerifierSpec};

/// Whether a spec's model is the servers' (the only case fan-out applies to).
pub fn uses_servers(spec: &VerifierSpec) -> bool {
    spec.model_spec() == Some(crate::model::remote::SERVER_SPEC)
}

/// What a run over many traces needs besides the traces.
pub struct Batch<'a> {
    pub spec: &'a VerifierSpec,
    pub options: &'a Options,
    pub tau: Option<f64>,
    pub rescore: bool,
    pub cancel: &'a AtomicBool,
}

/// Score-or-reuse of `traces` with `batch.spec` against `store`, on as many threads as the
/// servers take requests at once. Each computed result is stored as it arrives, then
/// `on_result(i, result)` runs on the calling thread. An unavailable verifier (no server left)
/// or a result that cannot be stored stops the run and is returned.
pub fn score_all(
    models: &mut Models,
    traces: &[Trace],
    store: &mut Store,
    batch: Batch,
    progress: &mut dyn FnMut(&str),
    on_result: &mut dyn FnMut(usize, Result<(VerifyRecord, Outcome)>),
) -> Result<()> {
    let served = models.served(progress)?;
    let stored: Vec<Option<VerifyRecord>> =
        traces.iter().map(|t| store.result(&t.id, &batch.spec.to_string()).cloned()).collect();
    let stop = AtomicBool::new(false);
    let stopped = || stop.load(Ordering::Relaxed) || batch.cancel.load(Ordering::Relaxed);
    let shared = models.sharing_servers();
    let init = || (Scorer::new(batch.options.clone()), shared.sharing_servers());
    let work = |(scorer, models): &mut (Scorer, Models), i: &usize| {
        let mut quiet = |_: &str| {};
        let mut ctx = Ctx { cancel: batch.cancel, progress: &mut quiet };
        scorer.result_for(models, batch.spec, &traces[*i], stored[*i].as_ref(), batch.tau, batch.rescore, &mut ctx)
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
            Ok((r, outcome)) => match keep(store, &r, outcome) {
                Ok(()) => on_result(k, Ok((r, outcome))),
                Err(e) => {
                    stop.store(true, Ordering::Relaxed);
                    fatal.get_or_insert(e);
                }
            },
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

/// Generates every `ask` on the servers (`threads` at once, their capacity), calling
/// `on_result(i, result)` on the calling thread as each finishes. A server without a tokenizer
/// endpoint renders the chat itself (`/v1/chat/completions`). Cancellation stops new work and
/// ends streams in flight.
pub fn generate_all(
    served: &RemoteModel,
    asks: &[Ask],
    params: &GenerateParams,
    threads: usize,
    cancel: &AtomicBool,
    on_result: &mut dyn FnMut(usize, Result<Generation>),
) {
    let stopped = || cancel.load(Ordering::Relaxed);
    let work = |_: &mut (), ask: &Ask| -> Result<Generation> {
        let p = params.for_sample(ask.sample);
        if served.engine() == Engine::OpenAi {
            return served.generate_chat(&ask.messages, &p, cancel, &mut |_| {});
        }
        let prompt = served.chat_prompt(&ask.messages)?;
        served.generate(&mut served.start(), &prompt, &p, cancel, &mut |_| {})
    };
    each(asks, threads, &stopped, &|| (), &work, on_result);
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
