//! The model worker: one dedicated thread owns the loaded model, receives jobs over a channel and
//! reports progress and results as events. Every job has a cancel flag checked between tokens.
//! Nothing here blocks the caller: the TUI drives every model through it, and `generate` streams
//! through it too (the other commands call the service directly).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;

use crate::model::generate::{GenerateParams, GeneratedToken, Generation};
use crate::model::lm::sample_from;
use crate::model::remote::RemoteOptions;
use crate::model::{LanguageModel, LoadOptions, Message};
use crate::refine::strategy::Plan;
use crate::service::refine::{race, refine, Candidate};
use crate::service::train::CvMetrics;
use crate::service::{Models, Outcome, Scorer};
use crate::trace::store::VerifyRecord;
use crate::trace::{Label, Segmentation, Trace};
use crate::verify::{self, VerifierSpec};

pub type JobId = u64;

/// Work for the model thread.
#[derive(Debug, Clone)]
pub enum Job {
    /// Fetch (if needed) and load a model, replacing the current one.
    /// The spec `server` is the model of the servers in `remote`.
    Load { spec: String, options: LoadOptions, remote: RemoteOptions },
    /// Generate `n` samples for a chat conversation (seed + i for sample i).
    Generate { messages: Vec<Message>, params: GenerateParams, n: usize },
    /// Run verifiers over traces (score-or-reuse: a stored result of the same verifier and model
    /// is returned as it is, without loading the model).
    Score { items: Vec<ScoreItem>, specs: Vec<String>, options: verify::Options },
    /// Refine a draft by a plan with the generator model, streaming the candidate's tokens.
    Refine { draft: Box<Trace>, plan: Box<Plan>, generator: String, params: GenerateParams, segmentation: Segmentation },
    /// Several plans on one draft decoded together (a race); tokens stream with `sample` = the
    /// plan's index, and each candidate comes as its own `Refined`, in plan order.
    Race { draft: Box<Trace>, plans: Vec<(Plan, GenerateParams)>, generator: String, segmentation: Segmentation },
    /// Train a probe on labelled traces with the model `model` names (its hidden states cached,
    /// progress per trace, cancelled between traces) and write its head to `output`.
    Train { model: String, labelled: Vec<(Trace, Option<Label>)>, sources: Vec<String>, output: PathBuf },
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
    /// One verifier result (tag = the item's tag); `done` of `total` results so far. A reused
    /// result is already stored; a computed one is for the caller to store.
    Scored {
        job: JobId,
        tag: usize,
        record: Box<VerifyRecord>,
        outcome: Outcome,
        done: usize,
        total: usize,
    },
    /// How the servers behind `server` are doing (after each job that used them): live servers
    /// of all, and the mean time of a request.
    Servers {
        job: JobId,
        live: usize,
        total: usize,
        mean_ms: f64,
    },
    /// What a scoring job did, sent before it ends: results computed and reused, and models loaded.
    ScoreTally {
        job: JobId,
        computed: usize,
        reused: usize,
        models_loaded: usize,
    },
    /// One trace a verifier could not score; the job goes on.
    ScoreFailed {
        job: JobId,
        trace: String,
        error: String,
    },
    /// A refinement's candidate (also when cancelled part-way: then it is marked so).
    Refined {
        job: JobId,
        candidate: Box<Candidate>,
    },
    /// A probe head was written to `head`, with its cross-validated quality.
    Trained {
        job: JobId,
        head: PathBuf,
        metrics: Box<CvMetrics>,
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

/// One trace to score: a caller tag echoed back in results, the trace, and the results already
/// stored for it (the ones the caller has; reused when they match).
#[derive(Debug, Clone)]
pub struct ScoreItem {
    pub tag: usize,
    pub trace: Trace,
    pub stored: Vec<VerifyRecord>,
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
                let mut scorer: Option<Scorer> = None;
                for env in rx {
                    run_job(&mut models, &mut scorer, env, &sink);
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

fn run_job(models: &mut Models, scorer: &mut Option<Scorer>, env: Envelope, sink: &impl Fn(JobEvent)) {
    let id = env.id;
    if env.cancel.load(Ordering::Relaxed) {
        sink(JobEvent::Cancelled { job: id });
        return;
    }
    models.set_cancel(Some(env.cancel.clone()));
    let result = match env.job {
        Job::Load { spec, options, remote } => {
            let mut progress = |m: &str| sink(JobEvent::Progress { job: id, message: m.to_string() });
            models.load_main(&spec, options, &remote, &mut progress).map(|m| {
                sink(JobEvent::Loaded { job: id, name: m.name().to_string(), device: m.backend(), arch: m.arch() })
            })
        }
        Job::Generate { messages, params, n } => match models.main() {
            None => Err(anyhow::anyhow!("no model is loaded")),
            Some(m) => generate(m.as_ref(), id, &messages, &params, n, &env.cancel, sink),
        },
        Job::Score { items, specs, options } => {
            // Built verifiers are kept between jobs with the same options.
            let same = scorer.as_ref().is_some_and(|s| *s.options() == options);
            if !same {
                models.options = options.load;
                models.set_remote(&options.remote);
                *scorer = Some(Scorer::new(options));
            }
            let scorer = scorer.as_mut().expect("set above");
            score(models, scorer, id, &items, &specs, &env.cancel, sink)
        }
        Job::Refine { draft, plan, generator, params, segmentation } => {
            let mut progress = |m: &str| sink(JobEvent::Progress { job: id, message: m.to_string() });
            // A refinement's `sample` is its attempt: a resample starts a new text.
            let mut on_token = |attempt: usize, t: &GeneratedToken| {
                sink(JobEvent::Token { job: id, sample: attempt, token: t.clone() })
            };
            let seg = &segmentation;
            refine(models, &generator, &draft, &plan, &params, seg, &env.cancel, &mut on_token, &mut progress)
                .map(|c| sink(JobEvent::Refined { job: id, candidate: Box::new(c) }))
        }
        Job::Race { draft, plans, generator, segmentation } => {
            let mut progress = |m: &str| sink(JobEvent::Progress { job: id, message: m.to_string() });
            let mut on_token =
                |lane: usize, t: &GeneratedToken| sink(JobEvent::Token { job: id, sample: lane, token: t.clone() });
            let seg = &segmentation;
            race(models, &generator, &draft, &plans, seg, &env.cancel, &mut on_token, &mut progress).map(|cs| {
                for c in cs {
                    sink(JobEvent::Refined { job: id, candidate: Box::new(c) });
                }
            })
        }
        Job::Train { model, labelled, sources, output } => {
            train(models, id, &model, &labelled, sources, &output, &env.cancel, sink)
        }
    };
    models.set_cancel(None);
    if let Some(served) = models.served_now() {
        let stats = served.pool().stats();
        let (requests, busy) = stats.iter().fold((0, 0.0), |(n, t), s| (n + s.requests, t + s.busy.as_secs_f64()));
        sink(JobEvent::Servers {
            job: id,
            live: stats.iter().filter(|s| !s.dropped).count(),
            total: stats.len(),
            mean_ms: 1000.0 * busy / requests.max(1) as f64,
        });
    }
    match result {
        Err(e) => sink(JobEvent::Failed { job: id, error: format!("{e:#}") }),
        Ok(()) if env.cancel.load(Ordering::Relaxed) => sink(JobEvent::Cancelled { job: id }),
        Ok(()) => sink(JobEvent::Finished { job: id }),
    }
}

/// Runs each verifier over every item through the service (score-or-reuse), reporting each
/// result as it lands; a trace that fails is reported and skipped, cancellation stops between
/// (and inside) verifier calls.
fn score(
    models: &mut Models,
    scorer: &mut Scorer,
    id: JobId,
    items: &[ScoreItem],
    specs: &[String],
    cancel: &AtomicBool,
    sink: &impl Fn(JobEvent),
) -> anyhow::Result<()> {
    let specs: Vec<VerifierSpec> = specs.iter().map(|s| scorer.spec(s)).collect::<anyhow::Result<_>>()?;
    let total = items.len() * specs.len();
    let loads_before = models.loads();
    let (mut done, mut computed, mut reused) = (0, 0, 0);
    let tally = |computed, reused, models: &Models| JobEvent::ScoreTally {
        job: id,
        computed,
        reused,
        models_loaded: models.loads() - loads_before,
    };
    for spec in &specs {
        let key = spec.to_string();
        for item in items {
            if cancel.load(Ordering::Relaxed) {
                sink(tally(computed, reused, models));
                return Ok(());
            }
            let mut progress = |m: &str| sink(JobEvent::Progress { job: id, message: m.to_string() });
            let mut ctx = verify::Ctx { cancel, progress: &mut progress };
            let stored = item.stored.iter().find(|r| r.spec == key);
            match scorer.result_for(models, spec, &item.trace, stored, None, false, &mut ctx) {
                Ok((record, outcome)) => {
                    done += 1;
                    match outcome {
                        Outcome::Computed => computed += 1,
                        Outcome::Reused => reused += 1,
                    }
                    sink(JobEvent::Scored { job: id, tag: item.tag, record: Box::new(record), outcome, done, total });
                }
                Err(_) if cancel.load(Ordering::Relaxed) => break,
                Err(e) if crate::service::score::is_unavailable(&e) => {
                    sink(tally(computed, reused, models));
                    return Err(e);
                }
                Err(e) => {
                    done += 1;
                    sink(JobEvent::ScoreFailed { job: id, trace: item.trace.id.clone(), error: format!("{e:#}") });
                }
            }
        }
    }
    sink(tally(computed, reused, models));
    Ok(())
}

/// Trains a probe the way the TUI's train key asks: first-error labels, the layer chosen by
/// inner cross-validation, up to 5 folds (fewer for a handful of labels).
#[allow(clippy::too_many_arguments)]
fn train(
    models: &mut Models,
    id: JobId,
    spec: &str,
    labelled: &[(Trace, Option<Label>)],
    sources: Vec<String>,
    output: &std::path::Path,
    cancel: &AtomicBool,
    sink: &impl Fn(JobEvent),
) -> anyhow::Result<()> {
    use crate::service::train::{
        train_head, AfterError, Bag, Decode, FeatureChoice, FitOptions, Labels, LayerChoice, Plan as TrainPlan,
        PoolChoice, Run, Target, Toggle,
    };
    let mut progress = |m: &str| sink(JobEvent::Progress { job: id, message: m.to_string() });
    let model = models.language_model(spec, &mut progress)?;
    let n = labelled.iter().filter(|(_, l)| l.is_some()).count();
    let folds = (n / 2).clamp(2, 5);
    let plan = TrainPlan {
        target: Target::Prm,
        ask: None,
        layer: LayerChoice::Auto,
        features: FeatureChoice::Auto,
        after_error: AfterError::Auto,
        pool: PoolChoice::No,
        span: Toggle::Yes,
        arith: Toggle::Auto,
        next: Toggle::No,
        decode: Decode::TRAIN,
        bag: Bag::Layers,
        auto_l2: false,
        folds,
        seed: 0,
        fit: FitOptions::default(),
    };
    let mut read = |done: usize, total: usize| {
        sink(JobEvent::Progress { job: id, message: format!("training a probe: hidden states {done}/{total}") })
    };
    let mut run = Run { progress: &mut read, cancel };
    let cache = crate::service::train::default_states_dir();
    let labels = Labels { traces: labelled, extra: &[], sources };
    let trained = match train_head(model.as_ref(), spec, labels, plan, &cache, output, &mut run) {
        // The caller hears `Cancelled`; the states read so far stay cached.
        Err(_) if cancel.load(Ordering::Relaxed) => return Ok(()),
        r => r?,
    };
    sink(JobEvent::Trained { job: id, head: output.to_path_buf(), metrics: Box::new(trained.metrics) });
    Ok(())
}

/// Samples share the prompt: it is read once, each sample continues a fork of that prefix, and
/// all of them decode together (one forward pass per token on the local runtime).
fn generate(
    m: &dyn LanguageModel,
    id: JobId,
    messages: &[Message],
    params: &GenerateParams,
    n: usize,
    cancel: &AtomicBool,
    sink: &impl Fn(JobEvent),
) -> anyhow::Result<()> {
    let prompt = m.chat_prompt(messages)?;
    let (head, last) = prompt.split_at(prompt.len().saturating_sub(1));
    let mut prefix = m.start();
    m.extend(&mut prefix, head)?;
    let params: Vec<GenerateParams> = (0..n).map(|sample| params.for_sample(sample)).collect();
    let generations = sample_from(m, &prefix, last, &params, false, cancel, &mut |sample, t| {
        sink(JobEvent::Token { job: id, sample, token: t.clone() });
    })?;
    for (sample, mut generation) in generations.into_iter().enumerate() {
        generation.prompt_tokens = prompt.len();
        sink(JobEvent::Generated { job: id, sample, generation });
    }
    Ok(())
}
