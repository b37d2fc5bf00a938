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

use crate::model::generate::{GenerateParams, Generation};
use crate::model::remote::{Engine, RemoteModel};
use crate::model::LanguageModel;
use crate::verify::VerifierSpec;

/// Whether a spec's model is the servers' (the only case fan-out applies to).
pub fn uses_servers(spec: &VerifierSpec) -> bool {
    spec.model_spec() == Some(crate::model::remote::SERVER_SPEC)
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
