//! The model worker: one dedicated thread owns the loaded model, receives jobs over a channel and
//! reports progress and results as events. Every job has a cancel flag checked between tokens.
//! Nothing here blocks the caller: the TUI and the CLI both drive models through it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;

use crate::model::generate::{GenerateParams, GeneratedToken, Generation};
use crate::model::{self, device_name, LoadOptions, Message, Model};
use crate::trace::store::VerifyRecord;
use crate::trace::Trace;
use crate::verify;

pub type JobId = u64;

/// Work for the model thread.
#[derive(Debug, Clone)]
pub enum Job {
    /// Fetch (if needed) and load a model, replacing the current one.
    Load { spec: String, options: LoadOptions },
    /// Generate `n` samples for a chat conversation (seed + i for sample i).
    Generate { messages: Vec<Message>, params: GenerateParams, n: usize },
    /// Run verifiers over traces; each item carries a caller tag (e.g. its source) echoed back.
    Score { items: Vec<(usize, Trace)>, specs: Vec<String>, options: verify::Options },
}

/// What the model thread reports.
#[derive(Debug, Clone)]
pub enum JobEvent {
    Progress {
        job: JobId,
        message: String,
    },
    Loaded {
        job: JobId,
        name: String,
        device: String,
        arch: String,
    },
    Token {
        job: JobId,
        sample: usize,
        token: GeneratedToken,
    },
    Generated {
        job: JobId,
        sample: usize,
        generation: Generation,
    },
    /// One verifier result (tag = the item's tag); `done` of `total` results so far.
    Scored {
        job: JobId,
        tag: usize,
        record: Box<VerifyRecord>,
        done: usize,
        total: usize,
    },
    /// One trace a verifier could not score; the job goes on.
    ScoreFailed {
        job: JobId,
        trace: String,
        error: String,
    },
    Finished {
        job: JobId,
    },
    Failed {
        job: JobId,
        error: String,
    },
    Cancelled {
        job: JobId,
    },
}

struct Envelope {
    id: JobId,
    job: Job,
    cancel: Arc<AtomicBool>,
}

/// Handle to the model thread.
pub struct Worker {
    tx: Option<Sender<Envelope>>,
    next: JobId,
    thread: Option<JoinHandle<()>>,
}

/// Handle to one submitted job.
#[derive(Debug, Clone)]
pub struct JobHandle {
    pub id: JobId,
    cancel: Arc<AtomicBool>,
}

impl JobHandle {
    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::Relaxed);
    }
}

impl Worker {
    /// Starts the thread; `sink` receives every event (called on the worker thread).
    pub fn spawn(sink: impl Fn(JobEvent) + Send + 'static) -> Worker {
        let (tx, rx) = channel::<Envelope>();
        let thread = std::thread::Builder::new()
            .name("stepscope-model".into())
            .spawn(move || {
                let mut models = Models::default();
                for env in rx {
                    run_job(&mut models, env, &sink);
                }
            })
            .expect("spawn model thread");
        Worker { tx: Some(tx), next: 1, thread: Some(thread) }
    }

    pub fn submit(&mut self, job: Job) -> JobHandle {
        let id = self.next;
        self.next += 1;
        let cancel = Arc::new(AtomicBool::new(false));
        if let Some(tx) = &self.tx {
            let _ = tx.send(Envelope { id, job, cancel: cancel.clone() });
        }
        JobHandle { id, cancel }
    }

    /// Waits for queued jobs to finish and stops the thread.
    pub fn shutdown(mut self) {
        self.tx.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The models the thread owns: the one loaded for the app, and any a verifier asked for.
#[derive(Default)]
struct Models {
    main: Option<(String, Arc<Model>)>,
    extra: verify::ModelCache,
}

impl Models {
    /// A model by spec: the app's model when the spec names it, else loaded once and kept.
    fn get(&mut self, spec: &str, options: LoadOptions, progress: &mut dyn FnMut(&str)) -> anyhow::Result<Arc<Model>> {
        if let Some((s, m)) = &self.main {
            if s == spec || m.name == spec {
                return Ok(m.clone());
            }
        }
        self.extra.get(spec, options, progress)
    }
}

fn run_job(models: &mut Models, env: Envelope, sink: &impl Fn(JobEvent)) {
    let id = env.id;
    if env.cancel.load(Ordering::Relaxed) {
        sink(JobEvent::Cancelled { job: id });
        return;
    }
    let result = match env.job {
        Job::Load { spec, options } => {
            models.main = None; // free the old model before loading the next
            let mut progress = |m: &str| sink(JobEvent::Progress { job: id, message: m.to_string() });
            model::load(&spec, options, &mut progress).map(|m| {
                sink(JobEvent::Loaded {
                    job: id,
                    name: m.name.clone(),
                    device: device_name(m.transformer.device()),
                    arch: m.transformer.config.arch.name().into(),
                });
                models.main = Some((spec, Arc::new(m)));
            })
        }
        Job::Generate { messages, params, n } => match models.main.as_ref() {
            None => Err(anyhow::anyhow!("no model is loaded")),
            Some((_, m)) => generate(m, id, &messages, &params, n, &env.cancel, sink),
        },
        Job::Score { items, specs, options } => score(models, id, &items, &specs, &options, &env.cancel, sink),
    };
    match result {
        Err(e) => sink(JobEvent::Failed { job: id, error: format!("{e:#}") }),
        Ok(()) if env.cancel.load(Ordering::Relaxed) => sink(JobEvent::Cancelled { job: id }),
        Ok(()) => sink(JobEvent::Finished { job: id }),
    }
}

/// Runs each verifier over every item, reporting each result as it lands; a trace that fails
/// is reported and skipped, cancellation stops between (and inside) verifier calls.
fn score(
    models: &mut Models,
    id: JobId,
    items: &[(usize, Trace)],
    specs: &[String],
    options: &verify::Options,
    cancel: &AtomicBool,
    sink: &impl Fn(JobEvent),
) -> anyhow::Result<()> {
    let total = items.len() * specs.len();
    let mut done = 0;
    for spec in specs {
        let mut progress = |m: &str| sink(JobEvent::Progress { job: id, message: m.to_string() });
        let mut load = |s: &str| {
            models.get(s, options.load, &mut |m| sink(JobEvent::Progress { job: id, message: m.to_string() }))
        };
        let mut v = verify::from_spec(spec, options, &mut load)?;
        for (tag, trace) in items {
            if cancel.load(Ordering::Relaxed) {
                return Ok(());
            }
            let mut ctx = verify::Ctx { cancel, progress: &mut progress };
            match verify::run(v.as_mut(), trace, None, &mut ctx) {
                Ok(record) => {
                    done += 1;
                    sink(JobEvent::Scored { job: id, tag: *tag, record: Box::new(record), done, total });
                }
                Err(_) if cancel.load(Ordering::Relaxed) => return Ok(()),
                Err(e) => {
                    done += 1;
                    sink(JobEvent::ScoreFailed { job: id, trace: trace.id.clone(), error: format!("{e:#}") });
                }
            }
        }
    }
    Ok(())
}

/// Samples share the prompt: it is run once and each sample continues a fork of its cache.
fn generate(
    m: &Model,
    id: JobId,
    messages: &[Message],
    params: &GenerateParams,
    n: usize,
    cancel: &AtomicBool,
    sink: &impl Fn(JobEvent),
) -> anyhow::Result<()> {
    let prompt = m.chat_prompt(messages)?;
    let mut prefix = m.new_cache();
    if prompt.len() > 1 {
        m.transformer.forward_hidden(&prompt[..prompt.len() - 1], &mut prefix)?;
    }
    for sample in 0..n {
        if cancel.load(Ordering::Relaxed) {
            break;
        }
        let mut cache = prefix.fork()?;
        let mut p = params.clone();
        p.sampling.seed = params.sampling.seed.wrapping_add(sample as u64);
        let last = &prompt[prompt.len() - 1..];
        let generation = m.generate(last, &mut cache, &p, cancel, &mut |t| {
            sink(JobEvent::Token { job: id, sample, token: t.clone() });
        })?;
        let mut generation = generation;
        generation.prompt_tokens = prompt.len();
        sink(JobEvent::Generated { job: id, sample, generation });
    }
    Ok(())
}
