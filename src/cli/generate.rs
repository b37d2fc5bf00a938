//! `stepscope generate`: stream solutions from a local model and save them as traces with
//! per-token data (native JSONL), segmented into steps.

use crate::cli::output::field;
use crate::cli::range::{count, limits::*, within};
use std::collections::HashSet;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::channel;
use std::time::Instant;

use clap::Args;

use super::modelargs::ModelArgs;
use super::{EXIT_OK, EXIT_USAGE};
use crate::jobs::{Job, JobEvent, Worker};
use crate::model::generate::GenerateParams;
use crate::model::sample::SamplingParams;
use crate::model::LanguageModel;
use crate::model::Message;
use crate::service::fanout;
use crate::service::generation::{to_trace, Question};
use crate::trace::formats::native;
use crate::trace::{ReadOptions, Segmentation, TraceFile};

pub const DEFAULT_SYSTEM: &str = "Please reason step by step, and put your final answer within \\boxed{}.";

#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["question", "input"])))]
pub struct GenerateArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// One question to answer.
    #[arg(long)]
    pub question: Option<String>,
    /// A trace file (any supported format): answer each trace's problem.
    #[arg(long)]
    pub input: Option<PathBuf>,
    /// With --input: at most this many problems.
    #[arg(long, value_parser = count(MAX_TRACES))]
    pub limit: Option<usize>,
    /// Samples per question.
    #[arg(long, default_value_t = 1, value_parser = count(MAX_SAMPLES))]
    pub n: usize,
    /// Save the traces here (native JSONL, appended, one fsync'd line per trace).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    #[arg(long, default_value_t = 512, value_parser = count(MAX_TOKENS))]
    pub max_tokens: usize,
    /// 0 = greedy.
    #[arg(long, default_value_t = 0.0, value_parser = within(0.0, MAX_TEMPERATURE))]
    pub temperature: f64,
    #[arg(long, default_value_t = 1.0, value_parser = within(0.0, 1.0))]
    pub top_p: f64,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Alternatives stored per token.
    #[arg(long, default_value_t = 20, value_parser = within(0, MAX_TOP_K))]
    pub top_k: usize,
    /// Stop when the text contains this (repeatable).
    #[arg(long)]
    pub stop: Vec<String>,
    /// System prompt.
    #[arg(long, default_value = DEFAULT_SYSTEM)]
    pub system: String,
    /// Step segmentation of the generated text: blank, line, step or regex:PATTERN.
    #[arg(long, default_value = "blank", value_parser = Segmentation::parse)]
    pub segment: Segmentation,
}

pub fn run(args: GenerateArgs) -> i32 {
    // The config file is not read here, but one named by $STEPSCOPE_CONFIG that is missing or
    // broken is a mistake worth saying before any work (the prompts folder sits beside it).
    if let Err(e) = crate::tui::config::load() {
        crate::errln!("error: config: {e}");
        return EXIT_USAGE;
    }
    match generate_all(&args) {
        Ok(()) => EXIT_OK,
        Err(e) => {
            crate::errln!("error: {e:#}");
            EXIT_USAGE
        }
    }
}

fn questions(args: &GenerateArgs) -> anyhow::Result<Vec<Question>> {
    if let Some(q) = &args.question {
        return Ok(vec![Question { id: "q0".into(), problem: q.clone(), reference: None }]);
    }
    let path = args.input.as_ref().expect("clap requires question or input");
    let file = TraceFile::open(path, None, ReadOptions::default())?;
    let (traces, problems) = file.load_all();
    for p in &problems {
        crate::errln!("{p}");
    }
    let mut out: Vec<Question> =
        traces.into_iter().map(|t| Question { id: t.id, problem: t.problem, reference: t.reference_answer }).collect();
    out.dedup_by(|a, b| a.problem == b.problem);
    out.truncate(args.limit.unwrap_or(usize::MAX));
    Ok(out)
}

/// The conversation a question is asked in.
fn chat_of(args: &GenerateArgs, q: &Question) -> Vec<Message> {
    vec![Message::new("system", &args.system), Message::new("user", &q.problem)]
}

/// Trace ids already in the output file: a rerun resumes after them instead of repeating them.
fn done_ids(args: &GenerateArgs) -> HashSet<String> {
    let Some(path) = &args.output else { return HashSet::new() };
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v.get("id").and_then(|i| i.as_str()).map(str::to_string))
        .collect()
}

fn trace_id(q: &Question, sample: usize) -> String {
    format!("{}-s{sample}", q.id)
}

fn params_of(args: &GenerateArgs) -> GenerateParams {
    GenerateParams {
        max_tokens: args.max_tokens,
        sampling: SamplingParams { temperature: args.temperature, top_p: args.top_p, seed: args.seed },
        stop: args.stop.clone(),
        top_k: args.top_k,
        stop_at_answer: false,
    }
}

/// The `-o` file, opened (for appending) when the first trace is written: a run that writes
/// nothing leaves no empty file behind.
struct Output {
    path: Option<std::path::PathBuf>,
    file: Option<std::fs::File>,
}

impl Output {
    fn new(args: &GenerateArgs) -> Output {
        Output { path: args.output.clone(), file: None }
    }

    /// Appends one trace and syncs it (a run cut short keeps every trace written).
    fn write(&mut self, trace: &crate::trace::Trace) -> std::io::Result<()> {
        let Some(path) = &self.path else { return Ok(()) };
        if self.file.is_none() {
            self.file = Some(std::fs::OpenOptions::new().create(true).append(true).open(path)?);
        }
        let f = self.file.as_mut().expect("opened above");
        writeln!(f, "{}", native::to_value(trace, None))?;
        f.sync_data()
    }

    /// "saved traces to …", when a trace was saved.
    fn report(&self) {
        if let (Some(p), Some(_)) = (&self.path, &self.file) {
            crate::errln!("saved traces to {}", p.display());
        }
    }
}

/// A generation that produced no token is a failure with its reason, never an empty trace.
fn nonempty(g: crate::model::generate::Generation) -> anyhow::Result<crate::model::generate::Generation> {
    if g.tokens.is_empty() {
        anyhow::bail!("the model generated no token (stop: {:?})", g.stop);
    }
    Ok(g)
}

fn generate_all(args: &GenerateArgs) -> anyhow::Result<()> {
    let qs = questions(args)?;
    let done = done_ids(args);
    if !done.is_empty() {
        crate::errln!("{} traces already in the output: generating only the missing ones", done.len());
    }
    if args.model.server.given() {
        return generate_on_servers(args, &qs, &done);
    }
    let (tx, rx) = channel();
    let mut worker = Worker::spawn(move |e| {
        let _ = tx.send(e);
    });
    let options = args.model.options();
    worker.submit(Job::Load { spec: args.model.spec(), options, remote: args.model.server.options() });
    let mut model_name = args.model.model.clone();
    let params = params_of(args);
    let mut out = Output::new(args);
    let mut pending = 1; // the load job
                         // Questions whose samples are all in the output already are not asked again.
    let qs: Vec<Question> = qs.into_iter().filter(|q| (0..args.n).any(|k| !done.contains(&trace_id(q, k)))).collect();
    for q in &qs {
        worker.submit(Job::Generate { messages: chat_of(args, q), params: params.clone(), n: args.n });
        pending += 1;
    }
    let mut qi = 0;
    while pending > 0 {
        let Ok(event) = rx.recv() else { break };
        match event {
            JobEvent::Progress { message, .. } => crate::errln!("{message}"),
            JobEvent::Loaded { name, device, arch, .. } => {
                crate::errln!("loaded {name} ({arch}) on {device}");
                model_name = name;
            }
            // Several samples decode together: their tokens interleave, so each is printed
            // whole when it ends; a single sample streams.
            JobEvent::Token { token, .. } if args.n == 1 => {
                crate::out!("{}", token.text);
                super::output::flush_out();
            }
            JobEvent::Token { .. } => {}
            JobEvent::Generated { sample, generation, .. } => {
                let q = &qs[qi];
                let generation = match nonempty(generation) {
                    Ok(g) => g,
                    Err(e) => {
                        crate::errln!("\n{} sample {sample}: {e}", field(&q.id));
                        continue;
                    }
                };
                if args.n > 1 {
                    crate::out!("{}", generation.text);
                }
                crate::outln!(
                    "\n--- {} sample {sample}: {:?}, {} tokens",
                    field(&q.id),
                    generation.stop,
                    generation.tokens.len()
                );
                let trace = to_trace(q, sample, &chat_of(args, q), &generation, &model_name, &args.segment);
                if done.contains(&trace.id) {
                    continue;
                }
                out.write(&trace)?;
            }
            JobEvent::Finished { job } => {
                pending -= 1;
                if job > 1 {
                    qi += 1;
                }
            }
            JobEvent::Failed { error, .. } => anyhow::bail!(error),
            JobEvent::Cancelled { .. } => pending -= 1,
            JobEvent::Scored { .. }
            | JobEvent::ScoreFailed { .. }
            | JobEvent::ScoreTally { .. }
            | JobEvent::Refined { .. }
            | JobEvent::Trained { .. }
            | JobEvent::Servers { .. } => {}
        }
    }
    worker.shutdown();
    out.report();
    Ok(())
}

/// Generation on servers: every missing (question, sample) spread over the servers, each trace
/// written (and synced) as it arrives, so an interrupted run resumes where it stopped.
fn generate_on_servers(args: &GenerateArgs, qs: &[Question], done: &HashSet<String>) -> anyhow::Result<()> {
    let mut models = crate::service::Models::default();
    models.set_remote(&args.model.server.options());
    let served = models.served(&mut |line| crate::errln!("{line}"))?;
    crate::errln!("generating with {} on {}", served.name(), served.backend());
    let mut todo: Vec<(&Question, usize)> = Vec::new();
    for q in qs {
        todo.extend((0..args.n).filter(|&k| !done.contains(&trace_id(q, k))).map(|k| (q, k)));
    }
    let asks: Vec<fanout::Ask> =
        todo.iter().map(|(q, k)| fanout::Ask { messages: chat_of(args, q), sample: *k }).collect();
    let mut out = Output::new(args);
    let cancel = AtomicBool::new(false);
    let (started, mut failed, mut written) = (Instant::now(), 0, 0);
    let mut write_error = None;
    let mut on_result = |i: usize, r: anyhow::Result<crate::model::generate::Generation>| {
        let (q, sample) = todo[i];
        for notice in served.pool().take_notices() {
            crate::errln!("{notice}");
        }
        match r.and_then(nonempty) {
            Ok(g) => {
                crate::outln!("--- {} sample {sample}: {:?}, {} tokens", field(&q.id), g.stop, g.tokens.len());
                let trace = to_trace(q, sample, &chat_of(args, q), &g, served.name(), &args.segment);
                if let Err(e) = out.write(&trace) {
                    write_error.get_or_insert(e);
                    cancel.store(true, Ordering::Relaxed);
                }
                written += 1;
            }
            Err(e) => {
                failed += 1;
                crate::errln!("{} sample {sample}: {e:#}", field(&q.id));
                if served.pool().live().is_empty() {
                    cancel.store(true, Ordering::Relaxed);
                }
            }
        }
    };
    let threads = served.pool().capacity();
    fanout::generate_all(&served, &asks, &params_of(args), threads, &cancel, &mut on_result);
    if let Some(e) = write_error {
        anyhow::bail!("cannot write the traces: {e}");
    }
    crate::errln!(
        "{written} generated, {failed} failed in {:.1} s ({})",
        started.elapsed().as_secs_f64(),
        served.pool().stats().iter().map(|s| format!("{}: {} req", s.url, s.requests)).collect::<Vec<_>>().join(", ")
    );
    out.report();
    if failed > 0 {
        anyhow::bail!("{failed} generations failed");
    }
    Ok(())
}
