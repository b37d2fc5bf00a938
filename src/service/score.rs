//! Score-or-reuse: the result of a verifier on a trace is the stored one when it came from the
//! same verifier (canonical spec) and the same model file (fingerprint), else a fresh run. Reuse
//! is decided before any model is loaded: the fingerprint needs the file, not the model.

use std::collections::HashMap;

use anyhow::Result;

use super::models::Models;
use crate::model::fingerprint;
use crate::model::remote::SERVER_SPEC;
use crate::signals::first_below;
use crate::trace::store::VerifyRecord;
use crate::trace::Trace;
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
        spec.default_threshold(self.opts.rollouts)
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
