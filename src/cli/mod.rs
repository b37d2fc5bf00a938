//! Command-line interface: one file per subcommand, shared loading helpers here.

pub mod agree;
pub mod bench;
pub mod calibrate;
pub mod compact;
pub mod doctor;
pub mod eval;
pub mod export;
pub mod generate;
pub mod label;
pub mod logprobs;
pub mod modelargs;
pub mod models;
pub mod open;
pub mod output;
pub mod range;
pub mod refine;
pub mod report;
pub mod score;
pub mod serverargs;
pub mod stats;
pub mod synth;
pub mod train;
pub mod verifyargs;

use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand};

use crate::trace::{Format, OpenError, Opener, Segmentation, Store, TraceFile};

/// Exit status: success.
pub const EXIT_OK: i32 = 0;
/// Exit status: problems were found and `--strict` was given.
pub const EXIT_PROBLEMS: i32 = 1;
/// Exit status: usage error or unreadable file.
pub const EXIT_USAGE: i32 = 2;

#[derive(Parser, Debug)]
#[command(name = "stepscope", version, about = "Step-level inspection of LLM reasoning traces")]
#[command(args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Trace files to open in the TUI (same as `stepscope open PATH...`).
    #[command(flatten)]
    pub open: open::OpenArgs,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Open trace files in the interactive TUI.
    Open(open::OpenArgs),
    /// Open the bundled example traces in the TUI.
    Demo(open::DemoArgs),
    /// Count traces, steps, labels and final-answer correctness; report bad records.
    Stats(stats::StatsArgs),
    /// Record a human first-error label for one trace (durable before it returns).
    Label(label::LabelArgs),
    /// Write traces in another format with dataset or human labels.
    Export(export::ExportArgs),
    /// Alias of `export`.
    Convert(export::ExportArgs),
    /// Rewrite a label journal to its current state (temp file + fsync + atomic rename).
    Compact(compact::CompactArgs),
    /// Fetch or list local models.
    Models(models::ModelsArgs),
    /// Per-token log-probs, entropies and perplexity of a text under a local model.
    Logprobs(logprobs::LogprobsArgs),
    /// Generate solutions with a local model, streaming, and save them as traces.
    Generate(generate::GenerateArgs),
    /// Prompt-processing and generation speed (llama-bench style), or PRM scoring throughput.
    Bench(bench::BenchArgs),
    /// The device the runtime would use, and a self-test of the forward on it.
    Doctor(doctor::DoctorArgs),
    /// ProcessBench metrics of a verifier against dataset or human labels.
    Eval(eval::EvalArgs),
    /// Run verifiers and signals over traces and store the results beside the labels.
    Score(score::ScoreArgs),
    /// Sweep the first-error threshold τ on labelled traces: F1 curve and best τ.
    Calibrate(calibrate::CalibrateArgs),
    /// Rewrite traces from their first error (local), whole (global), after one corrected step
    /// (intervene), or sample continuations before it (fork) with a generator model; store every
    /// candidate; compare how correctness changed.
    Refine(refine::RefineArgs),
    /// Agreement between annotators, with the dataset and with each verifier: exact, ±1 step,
    /// Cohen's κ, Krippendorff's α; per file and overall.
    Agree(agree::AgreeArgs),
    /// Failure report: where first errors fall (step, relative position, generator, category),
    /// final answers against first errors, verifiers against the labels.
    Report(report::ReportArgs),
    /// Fit a probe on the model's hidden states from first-error labels: cross-validated by
    /// problem, written as a head `--verifier probe:HEAD` reads.
    Train(Box<train::TrainArgs>),
    /// Synthetic training data for probes: `synth slips` puts one wrong computed result into
    /// GSM8K reference solutions (labelled first error) beside the clean references.
    Synth(synth::SynthArgs),
}

/// Options shared by every command that reads trace files.
#[derive(Args, Debug, Clone, Default)]
pub struct InputArgs {
    /// Input format; detected from the content when omitted.
    #[arg(long, value_parser = parse_format)]
    pub format: Option<Format>,
    /// Step segmentation for formats that segment text: blank, line, step or regex:PATTERN.
    #[arg(long, value_parser = parse_segmentation)]
    pub segment: Option<Segmentation>,
    /// Folder for label journals (default: beside each trace file, or the per-user data folder
    /// when that folder is read-only).
    #[arg(long, value_name = "DIR")]
    pub store: Option<PathBuf>,
}

fn parse_format(s: &str) -> Result<Format, String> {
    Format::parse(s)
}

fn parse_segmentation(s: &str) -> Result<Segmentation, String> {
    Segmentation::parse(s)
}

impl InputArgs {
    /// The trace-level opener these options describe.
    pub fn opener(&self) -> Opener {
        Opener { format: self.format, segment: self.segment.clone(), store_dir: self.store.clone() }
    }

    pub fn open(&self, path: &Path) -> Result<TraceFile, OpenError> {
        self.opener().open(path)
    }

    /// Opens the label store of a trace file; warnings from replay go to stderr.
    pub fn store_for(&self, path: &Path) -> Result<Store, String> {
        let store = self.store_quiet(path)?;
        for w in &store.warnings {
            crate::errln!("warning: {w}");
        }
        Ok(store)
    }

    /// Every readable trace of a file (bad records go to stderr as `file:line: message`) and the
    /// file's label store.
    pub fn load_with_store(&self, path: &Path) -> anyhow::Result<(Vec<crate::trace::Trace>, Store)> {
        let file = self.open(path)?;
        let (traces, problems) = file.load_all();
        for p in &problems {
            crate::errln!("{p}");
        }
        let store = self.store_for(path).map_err(anyhow::Error::msg)?;
        Ok((traces, store))
    }

    /// Opens the label store of a trace file, leaving its warnings to the caller.
    pub fn store_quiet(&self, path: &Path) -> Result<Store, String> {
        self.opener().store(path)
    }
}

/// The annotator name: the flag, else `$STEPSCOPE_ANNOTATOR`, else `$USER`, else "anonymous".
pub fn annotator_name(flag: Option<&str>) -> String {
    flag.map(str::to_string)
        .or_else(|| std::env::var("STEPSCOPE_ANNOTATOR").ok().filter(|s| !s.is_empty()))
        .or_else(|| std::env::var("USER").ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "anonymous".into())
}

/// Runs the parsed command line and returns the process exit code (standard output flushed).
pub fn run(cli: Cli) -> i32 {
    let code = dispatch(cli);
    output::flush_out();
    code
}

fn dispatch(cli: Cli) -> i32 {
    match cli.command {
        Some(Command::Open(args)) => open::run(args),
        Some(Command::Demo(args)) => open::demo(args),
        Some(Command::Stats(args)) => stats::run(args),
        Some(Command::Label(args)) => label::run(args),
        Some(Command::Export(args)) | Some(Command::Convert(args)) => export::run(args),
        Some(Command::Compact(args)) => compact::run(args),
        Some(Command::Models(args)) => models::run(args),
        Some(Command::Logprobs(args)) => logprobs::run(args),
        Some(Command::Generate(args)) => generate::run(args),
        Some(Command::Bench(args)) => bench::run(args),
        Some(Command::Doctor(args)) => doctor::run(args),
        Some(Command::Eval(args)) => eval::run(args),
        Some(Command::Score(args)) => score::run(args),
        Some(Command::Calibrate(args)) => calibrate::run(args),
        Some(Command::Refine(args)) => refine::run(args),
        Some(Command::Agree(args)) => agree::run(args),
        Some(Command::Report(args)) => report::run(args),
        Some(Command::Train(args)) => train::run(*args),
        Some(Command::Synth(args)) => synth::run(args),
        None if cli.open.paths.is_empty() => {
            crate::errln!("stepscope: give trace files to open, or a command (see `stepscope --help`)");
            EXIT_USAGE
        }
        None => open::run(cli.open),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn command_line_definition_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
