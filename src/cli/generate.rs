//! `stepscope generate`: stream solutions from a local model and save them as traces with
//! per-token data (native JSONL), segmented into steps.

use std::io::Write;
use std::path::PathBuf;
use std::sync::mpsc::channel;

use clap::Args;

use super::modelargs::ModelArgs;
use super::{EXIT_OK, EXIT_USAGE};
use crate::jobs::{Job, JobEvent, Worker};
use crate::model::generate::GenerateParams;
use crate::model::sample::SamplingParams;
use crate::model::Message;
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
    #[arg(long)]
    pub limit: Option<usize>,
    /// Samples per question.
    #[arg(long, default_value_t = 1)]
    pub n: usize,
    /// Save the traces here (native JSONL, appended, one fsync'd line per trace).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    #[arg(long, default_value_t = 512)]
    pub max_tokens: usize,
    /// 0 = greedy.
    #[arg(long, default_value_t = 0.0)]
    pub temperature: f64,
    #[arg(long, default_value_t = 1.0)]
    pub top_p: f64,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Alternatives stored per token.
    #[arg(long, default_value_t = 20)]
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

fn generate_all(args: &GenerateArgs) -> anyhow::Result<()> {
    let qs = questions(args)?;
    let (tx, rx) = channel();
    let mut worker = Worker::spawn(move |e| {
        let _ = tx.send(e);
    });
    let options = args.model.options();
    worker.submit(Job::Load { spec: args.model.spec(), options, remote: args.model.server.options() });
    let mut model_name = args.model.model.clone();
    let params = GenerateParams {
        max_tokens: args.max_tokens,
        sampling: SamplingParams { temperature: args.temperature, top_p: args.top_p, seed: args.seed },
        stop: args.stop.clone(),
        top_k: args.top_k,
    };
    let mut out = match &args.output {
        Some(p) => Some(std::fs::OpenOptions::new().create(true).append(true).open(p)?),
        None => None,
    };
    let mut pending = 1; // the load job
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
            JobEvent::Token { token, .. } => {
                crate::out!("{}", token.text);
                super::output::flush_out();
            }
            JobEvent::Generated { sample, generation, .. } => {
                let q = &qs[qi];
                crate::outln!(
                    "\n--- {} sample {sample}: {:?}, {} tokens",
                    q.id,
                    generation.stop,
                    generation.tokens.len()
                );
                let trace = to_trace(q, sample, &chat_of(args, q), &generation, &model_name, &args.segment);
                if let Some(f) = out.as_mut() {
                    writeln!(f, "{}", native::to_value(&trace, None))?;
                    f.sync_data()?;
                }
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
            | JobEvent::Refined { .. } => {}
        }
    }
    worker.shutdown();
    if let Some(p) = &args.output {
        crate::errln!("saved traces to {}", p.display());
    }
    Ok(())
}
