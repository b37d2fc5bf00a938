//! Score-or-reuse: the result of a verifier on a trace is the stored one when it came from the
//! same verifier (canonical spec) and the same model file (fingerprint), else a fresh run. Reuse
//! is decided before any model is loaded: the fingerprint needs the file, not the model.

use std::collections::HashMap;

use anyhow::Result;

use std::sync::atomic::{AtomicBool, Ordering};

use super::fanout::each;
use super::models::Models;
use crate::model::fingerprint;
use crate::model::remote::SERVER_SPEC;
use crate::signals::first_below;
use crate::trace::store::VerifyRecord;
use crate::trace::{Store, Trace};
use crate::verify::{self, Ctx, Options, Verifier, VerifierSpec};

/// Whether a result was taken from the store or computed now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Reused,
    Computed,
}

/// A verifier that cannot be built (its model is missing or broken): no trace can be scored
/// with it, so callers stop instead of failing trace by trace.
#[derive(Debug)]
pub struct Unavailable(pub String);

impl std::fmt::Display for Unavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Unavailable {}

/// Whether an error means the verifier is unavailable (rather than one trace failing).
pub fn is_unavailable(e: &anyhow::Error) -> bool {
    e.is::<Unavailable>()
}

/// Runs verifiers by spec, building each (and loading its model) only when a result must be
/// computed.
pub struct Scorer {
    opts: Options,
    built: Vec<(VerifierSpec, Box<dyn Verifier>)>,
    /// Model fingerprint by the model spec a verifier names (None: the verifier has no model).
    fingerprints: HashMap<String, Option<String>>,
}

impl Scorer {
    pub fn new(opts: Options) -> Scorer {
        Scorer { opts, built: Vec::new(), fingerprints: HashMap::new() }
    }

    pub fn options(&self) -> &Options {
        &self.opts
    }

    /// Parses a spec into the form its results are stored under (`rollout:M` → `rollout:M@4`).
    pub fn spec(&self, s: &str) -> Result<VerifierSpec> {
        Ok(verify::parse_spec(s)?.canonical(self.opts.votes, self.opts.rollouts))
    }

    /// The threshold τ a verifier uses unless told otherwise.
    pub fn default_threshold(&self, spec: &VerifierSpec) -> f64 {
        match spec {
            // A probe's threshold was chosen when it was trained: it is in its head file.
            VerifierSpec::Probe { path } => {
                verify::probe::ProbeHead::read(std::path::Path::new(path)).map_or(0.5, |h| h.threshold)
            }
            _ => spec.default_threshold(self.opts.rollouts),
        }
    }

    /// The fingerprint of the model file a spec's results depend on. Resolving a known model
    /// name fetches it when it is not cached yet; nothing is loaded. The servers' model (`server`)
    /// is asked for its id.
    pub fn fingerprint(
        &mut self,
        models: &mut Models,
        spec: &VerifierSpec,
        progress: &mut dyn FnMut(&str),
    ) -> Result<Option<String>> {
        let Some(model) = spec.model_spec() else { return Ok(None) };
        if let Some(f) = self.fingerprints.get(model) {
            return Ok(f.clone());
        }
        let f = if model == SERVER_SPEC {
            let served = models.served(progress).map_err(|e| Unavailable(format!("{e:#}")))?;
            Some(crate::model::LanguageModel::fingerprint(served.as_ref()))
        } else {
            let path = match spec {
                VerifierSpec::Prm { path } => verify::prm::check_folder(path),
                VerifierSpec::Probe { path } => match std::path::Path::new(path).is_file() {
                    true => Ok(std::path::PathBuf::from(path)),
                    false => Err(anyhow::anyhow!("{path}: no probe head there (stepscope train -o writes one)")),
                },
                _ => crate::model::resolve(model, progress).map(|(_, p)| p),
            }
            .map_err(|e| Unavailable(format!("{e:#}")))?;
            Some(fingerprint(&path))
        };
        self.fingerprints.insert(model.to_string(), f.clone());
        Ok(f)
    }

    /// The result of `spec` on `trace`: `stored` when it is from the same verifier and model
    /// (unless `rescore`), else a fresh run, which the caller stores. With a threshold `tau`, a
    /// reused result's first error is recomputed at it.
    #[allow(clippy::too_many_arguments)]
    pub fn result_for(
        &mut self,
        models: &mut Models,
        spec: &VerifierSpec,
        trace: &Trace,
        stored: Option<&VerifyRecord>,
        tau: Option<f64>,
        rescore: bool,
        ctx: &mut Ctx,
    ) -> Result<(VerifyRecord, Outcome)> {
        if let Some(r) = stored.filter(|r| !rescore && r.spec == spec.to_string()) {
            if r.model_hash == self.fingerprint(models, spec, ctx.progress)? {
                let mut r = r.clone();
                if let Some(t) = tau {
                    r.first_error = first_below(&r.scores, t);
                    r.threshold = t;
                }
                return Ok((r, Outcome::Reused));
            }
        }
        let v = self.verifier(models, spec, ctx.progress).map_err(|e| Unavailable(format!("{e:#}")))?;
        Ok((verify::run(v, trace, tau, ctx)?, Outcome::Computed))
    }

    /// The verifier of a spec, built on first use (its model from the cache).
    pub fn verifier(
        &mut self,
        models: &mut Models,
        spec: &VerifierSpec,
        progress: &mut dyn FnMut(&str),
    ) -> Result<&mut dyn Verifier> {
        let at = match self.built.iter().position(|(s, _)| s == spec) {
            Some(i) => i,
            None => {
                let v = verify::from_spec(spec, &self.opts, &mut models.source(progress))?;
                debug_assert_eq!(v.spec(), spec.to_string(), "a canonical spec is what its verifier stores");
                self.built.push((spec.clone(), v));
                self.built.len() - 1
            }
        };
        Ok(self.built[at].1.as_mut())
    }
}

/// Score-or-reuse against a label store: what was computed is stored before this returns.
#[allow(clippy::too_many_arguments)]
pub fn score_into(
    scorer: &mut Scorer,
    models: &mut Models,
    spec: &VerifierSpec,
    trace: &Trace,
    store: &mut crate::trace::Store,
    tau: Option<f64>,
    rescore: bool,
    ctx: &mut Ctx,
) -> Result<(VerifyRecord, Outcome)> {
    let stored = store.result(&trace.id, &spec.to_string()).cloned();
    let (r, outcome) = scorer.result_for(models, spec, trace, stored.as_ref(), tau, rescore, ctx)?;
    keep(store, &r, outcome)?;
    Ok((r, outcome))
}

/// Stores a result computed now (a reused one is in the store already).
pub fn keep(store: &mut crate::trace::Store, r: &VerifyRecord, outcome: Outcome) -> Result<()> {
    if outcome == Outcome::Computed {
        store
            .put_result(r.clone())
            .map_err(|e| anyhow::anyhow!("{}: cannot store the result: {e}", store.path().display()))?;
    }
    Ok(())
}

/// What `score_many` says as it goes.
pub enum Step<'a> {
    /// The trace (its id) being scored here, or just scored on the servers.
    Trace(&'a str),
    /// Model loading, the verifier's own progress, servers connecting or dropped.
    Line(&'a str),
}

/// Score-or-reuse of every trace with one verifier, each computed result stored as it arrives,
/// then `on_result(i, result)` on the calling thread: spread over the servers' threads when the
/// verifier's model is the servers' (fan-out), else one trace after another here. `progress`
/// gets the results done so far and what happened: a trace taken (here) or done (on the
/// servers), or a line (model loading, the verifier's progress, servers connecting or dropped).
/// An unavailable verifier stops the run and is returned.
pub fn score_many(
    scorer: &mut Scorer,
    models: &mut Models,
    traces: &[Trace],
    store: &mut Store,
    m: &Many,
    progress: &mut dyn FnMut(usize, Step),
    on_result: &mut dyn FnMut(usize, Result<(VerifyRecord, Outcome)>),
) -> Result<()> {
    if super::fanout::uses_servers(m.spec) {
        let done = std::cell::Cell::new(0);
        let progress = std::cell::RefCell::new(progress);
        let mut line = |l: &str| (progress.borrow_mut())(done.get(), Step::Line(l));
        let mut counted = |i: usize, r: Result<(VerifyRecord, Outcome)>| {
            done.set(done.get() + 1);
            on_result(i, r);
            (progress.borrow_mut())(done.get(), Step::Trace(&traces[i].id));
        };
        let options = scorer.options().clone();
        return on_servers(models, traces, store, m, options, &mut line, &mut counted);
    }
    let keeps = m.spec.model_spec().is_some() || m.store_model_free;
    for (i, t) in traces.iter().enumerate() {
        progress(i, Step::Trace(&t.id));
        let stored = if keeps { store.result(&t.id, &m.spec.to_string()).cloned() } else { None };
        let mut line = |l: &str| progress(i, Step::Line(l));
        let mut ctx = Ctx { cancel: m.cancel, progress: &mut line };
        let r = scorer.result_for(models, m.spec, t, stored.as_ref(), m.tau, m.rescore, &mut ctx);
        let r = match r {
            Ok((record, outcome)) if keeps => keep(store, &record, outcome).map(|()| (record, outcome)),
            r => r,
        };
        match r {
            Err(e) if is_unavailable(&e) => return Err(e),
            r => on_result(i, r),
        }
    }
    Ok(())
}

/// What a run over many traces needs besides the traces.
pub struct Many<'a> {
    pub spec: &'a VerifierSpec,
    pub tau: Option<f64>,
    pub rescore: bool,
    pub cancel: &'a AtomicBool,
    /// Store the results of a verifier without a model too (`score` does; `eval` does not).
    pub store_model_free: bool,
}

/// Score-or-reuse of `traces` with `batch.spec` against `store`, on as many threads as the
/// servers take requests at once. Each computed result is stored as it arrives, then
/// `on_result(i, result)` runs on the calling thread. An unavailable verifier (no server left)
/// or a result that cannot be stored stops the run and is returned.
fn on_servers(
    models: &mut Models,
    traces: &[Trace],
    store: &mut Store,
    batch: &Many,
    options: Options,
    progress: &mut dyn FnMut(&str),
    on_result: &mut dyn FnMut(usize, Result<(VerifyRecord, Outcome)>),
) -> Result<()> {
    let served = models.served(progress)?;
    let stored: Vec<Option<VerifyRecord>> =
        traces.iter().map(|t| store.result(&t.id, &batch.spec.to_string()).cloned()).collect();
    let stop = AtomicBool::new(false);
    let stopped = || stop.load(Ordering::Relaxed) || batch.cancel.load(Ordering::Relaxed);
    let shared = models.sharing_servers();
    let init = || (Scorer::new(options.clone()), shared.sharing_servers());
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
