//! The model door: one cache per process (the worker's, or a CLI command's) for the app's main
//! model, the language models verifiers and signals use, and PRMs. Each is loaded once; loads
//! are counted so callers (and tests) can tell reuse from work.

use std::sync::Arc;

use anyhow::Result;

use crate::model::{self, LanguageModel, LoadOptions, Model};
use crate::verify::prm::PrmVerifier;
use crate::verify::{ModelSource, Options};

#[derive(Default)]
pub struct Models {
    pub options: LoadOptions,
    /// The model the app loaded for generation (also used by verifiers that name it).
    main: Option<(String, Arc<Model>)>,
    language: Vec<(String, Arc<Model>)>,
    prms: Vec<(String, Arc<PrmVerifier>)>,
    loads: usize,
}

impl Models {
    pub fn new(options: LoadOptions) -> Models {
        Models { options, ..Models::default() }
    }

    /// Loads the app's main model, replacing (and first freeing) the previous one.
    pub fn load_main(
        &mut self,
        spec: &str,
        options: LoadOptions,
        progress: &mut dyn FnMut(&str),
    ) -> Result<Arc<Model>> {
        self.main = None;
        let m = Arc::new(model::load(spec, options, progress)?);
        self.loads += 1;
        self.main = Some((spec.to_string(), m.clone()));
        Ok(m)
    }

    pub fn main(&self) -> Option<Arc<Model>> {
        self.main.as_ref().map(|(_, m)| m.clone())
    }

    /// A language model by spec: the main model when the spec names it, else loaded once and kept.
    pub fn language_model(&mut self, spec: &str, progress: &mut dyn FnMut(&str)) -> Result<Arc<Model>> {
        if let Some((s, m)) = &self.main {
            if s == spec || m.name == spec {
                return Ok(m.clone());
            }
        }
        if let Some((_, m)) = self.language.iter().find(|(s, _)| s == spec) {
            return Ok(m.clone());
        }
        let m = Arc::new(model::load(spec, self.options, progress)?);
        self.loads += 1;
        self.language.push((spec.to_string(), m.clone()));
        Ok(m)
    }

    /// A PRM (model plus head) by folder, loaded once and kept.
    pub fn prm(&mut self, path: &str, opts: &Options, progress: &mut dyn FnMut(&str)) -> Result<Arc<PrmVerifier>> {
        if let Some((_, p)) = self.prms.iter().find(|(s, _)| s == path) {
            return Ok(p.clone());
        }
        progress(&format!("loading PRM {path}"));
        let p = Arc::new(PrmVerifier::load(path, opts)?);
        self.loads += 1;
        self.prms.push((path.to_string(), p.clone()));
        Ok(p)
    }

    /// Models loaded so far (each load of a file counts once).
    pub fn loads(&self) -> usize {
        self.loads
    }

    /// This cache as verifiers see it, reporting progress to `progress`.
    pub fn source<'a>(&'a mut self, progress: &'a mut dyn FnMut(&str)) -> Door<'a> {
        Door { models: self, progress }
    }
}

/// The cache plus where its progress goes.
pub struct Door<'a> {
    models: &'a mut Models,
    progress: &'a mut dyn FnMut(&str),
}

impl ModelSource for Door<'_> {
    fn language_model(&mut self, spec: &str) -> Result<Arc<dyn LanguageModel>> {
        Ok(self.models.language_model(spec, self.progress)?)
    }

    fn prm(&mut self, path: &str, opts: &Options) -> Result<Arc<PrmVerifier>> {
        self.models.prm(path, opts, self.progress)
    }
}
