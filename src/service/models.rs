//! The model door: one cache per process (the worker's, or a CLI command's) for the app's main
//! model, the language models verifiers and signals use, and PRMs. Each is loaded once; loads
//! are counted so callers (and tests) can tell reuse from work.

use std::sync::Arc;

use anyhow::Result;

use crate::model::remote::{RemoteModel, RemoteOptions, SERVER_SPEC};
use crate::model::{self, LanguageModel, LoadOptions};
use crate::verify::prm::PrmVerifier;
use crate::verify::{ModelSource, Options};

#[derive(Default)]
pub struct Models {
    pub options: LoadOptions,
    /// The servers behind the spec `server`.
    pub remote: RemoteOptions,
    /// The model the app loaded for generation (also used by verifiers that name it).
    main: Option<(String, Arc<dyn LanguageModel>)>,
    language: Vec<(String, Arc<dyn LanguageModel>)>,
    /// The servers' model, connected once.
    served: Option<Arc<RemoteModel>>,
    /// The running job's cancel flag, which the servers' requests watch.
    cancel: Option<Arc<std::sync::atomic::AtomicBool>>,
    prms: Vec<(String, Arc<PrmVerifier>)>,
    loads: usize,
}

impl Models {
    pub fn new(options: LoadOptions) -> Models {
        Models { options, ..Models::default() }
    }

    /// Loads the app's main model, replacing (and first freeing) the previous one. The spec
    /// `server` is the model of the servers in `remote`.
    pub fn load_main(
        &mut self,
        spec: &str,
        options: LoadOptions,
        remote: &RemoteOptions,
        progress: &mut dyn FnMut(&str),
    ) -> Result<Arc<dyn LanguageModel>> {
        self.main = None;
        // The servers also serve verifiers and the generator that name `server`.
        self.set_remote(remote);
        let m = self.open(spec, options, progress)?;
        self.main = Some((spec.to_string(), m.clone()));
        Ok(m)
    }

    pub fn main(&self) -> Option<Arc<dyn LanguageModel>> {
        self.main.as_ref().map(|(_, m)| m.clone())
    }

    /// A language model by spec: the main model when the spec names it, else loaded once and kept.
    pub fn language_model(&mut self, spec: &str, progress: &mut dyn FnMut(&str)) -> Result<Arc<dyn LanguageModel>> {
        if let Some((s, m)) = &self.main {
            if s == spec || m.name() == spec {
                return Ok(m.clone());
            }
        }
        if spec == SERVER_SPEC {
            // Kept once, as `served`.
            return Ok(self.served(progress)?);
        }
        if let Some((_, m)) = self.language.iter().find(|(s, _)| s == spec) {
            return Ok(m.clone());
        }
        let m = self.open(spec, self.options, progress)?;
        self.language.push((spec.to_string(), m.clone()));
        Ok(m)
    }

    /// The fingerprint of the weights a spec names, without loading them when they are not
    /// loaded yet (a file's fingerprint reads its edges; a server's names its model).
    pub fn fingerprint_of(&mut self, spec: &str, progress: &mut dyn FnMut(&str)) -> Result<String> {
        let loaded = self.main.iter().chain(&self.language).find(|(s, m)| s == spec || m.name() == spec);
        if let Some((_, m)) = loaded {
            return Ok(m.fingerprint());
        }
        if spec == SERVER_SPEC {
            return Ok(self.served(progress)?.fingerprint());
        }
        let (_, path) = crate::model::resolve(spec, progress)?;
        Ok(crate::model::fingerprint(&path))
    }

    /// Sets the servers behind `server` (a new list drops the old connection).
    pub fn set_remote(&mut self, remote: &RemoteOptions) {
        if *remote != self.remote {
            self.remote = remote.clone();
            self.served = None;
        }
    }

    /// The servers' model (spec `server`), connected on first use.
    pub fn served(&mut self, progress: &mut dyn FnMut(&str)) -> Result<Arc<RemoteModel>> {
        if let Some(m) = &self.served {
            return Ok(m.clone());
        }
        if self.remote.servers.is_empty() {
            anyhow::bail!("the model 'server' needs --server URL");
        }
        let m = Arc::new(RemoteModel::connect(&self.remote, progress)?);
        m.watch(self.cancel.clone());
        self.loads += 1;
        self.served = Some(m.clone());
        Ok(m)
    }

    /// The running job's cancel flag (None between jobs): a request in flight to a server
    /// watches it, so cancelling drops the request instead of waiting for the server.
    pub fn set_cancel(&mut self, flag: Option<Arc<std::sync::atomic::AtomicBool>>) {
        if let Some(m) = &self.served {
            m.watch(flag.clone());
        }
        self.cancel = flag;
    }

    /// A cache for another thread that shares this one's server connection (and nothing else).
    pub fn sharing_servers(&self) -> Models {
        Models { options: self.options, remote: self.remote.clone(), served: self.served.clone(), ..Models::default() }
    }

    /// The servers' model, if one is connected (for its per-server statistics).
    pub fn served_now(&self) -> Option<Arc<RemoteModel>> {
        self.served.clone()
    }

    fn open(
        &mut self,
        spec: &str,
        options: LoadOptions,
        progress: &mut dyn FnMut(&str),
    ) -> Result<Arc<dyn LanguageModel>> {
        if spec == SERVER_SPEC {
            return Ok(self.served(progress)?);
        }
        let m = Arc::new(model::load(spec, options, progress)?);
        self.loads += 1;
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
        self.models.language_model(spec, self.progress)
    }

    fn prm(&mut self, path: &str, opts: &Options) -> Result<Arc<PrmVerifier>> {
        self.models.prm(path, opts, self.progress)
    }

    fn served(&mut self) -> Result<Arc<RemoteModel>> {
        self.models.served(self.progress)
    }
}
