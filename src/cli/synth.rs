//! `stepscope synth slips`: synthetic training data for probes from GSM8K reference solutions
//! (see `service::synth`).

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::range::{count, limits::MAX_TRACES};
use super::{InputArgs, EXIT_OK, EXIT_USAGE};
use crate::trace::formats::native;

#[derive(Args, Debug)]
pub struct SynthArgs {
    #[command(subcommand)]
    pub kind: SynthKind,
}

#[derive(Subcommand, Debug)]
pub enum SynthKind {
    /// One wrong computed result in a reference solution: that step is the labelled first
    /// error, later steps are cut, the stated answer is the slipped value; the untouched
    /// reference is kept beside it as a clean trace (calculator annotations removed from both).
    Slips(SlipsArgs),
}

#[derive(Args, Debug)]
pub struct SlipsArgs {
    /// GSM8K-style reference solutions (`question`, `answer` with `<<a=b>>` and `#### N`).
    pub path: PathBuf,
    /// Problems to draw (each gives a clean trace and a slipped one).
    #[arg(long, value_parser = count(MAX_TRACES))]
    pub n: usize,
    /// Seed of the draw and of the slips.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Where to write the traces (native JSONL).
    #[arg(long, short = 'o', value_name = "OUT")]
    pub output: PathBuf,
    #[command(flatten)]
    pub input: InputArgs,
}

pub fn run(args: SynthArgs) -> i32 {
    let SynthKind::Slips(args) = args.kind;
    match slips(&args) {
        Ok(()) => EXIT_OK,
        Err(e) => {
            crate::errln!("error: {e:#}");
            EXIT_USAGE
        }
    }
}

fn slips(args: &SlipsArgs) -> anyhow::Result<()> {
    super::export::refuse_overwriting_sources(std::slice::from_ref(&args.path), &args.output)
        .map_err(anyhow::Error::msg)?;
    let file = args.input.open(&args.path)?;
    let (references, problems) = file.load_all();
    for p in &problems {
        crate::errln!("{p}");
    }
    if references.is_empty() {
        anyhow::bail!("{}: no reference solution could be read", args.path.display());
    }
    let traces = crate::service::synth::slips(&references, args.n, args.seed);
    let mut text = String::new();
    for t in &traces {
        text.push_str(&native::to_value(t, t.label).to_string());
        text.push('\n');
    }
    crate::trace::output::write_file(&args.output, text.as_bytes())
        .map_err(|e| anyhow::anyhow!("{}: cannot write: {e}", args.output.display()))?;
    let slipped = traces.iter().filter(|t| t.final_answer_correct == Some(false)).count();
    crate::outln!(
        "{} traces from {} problems ({slipped} with a slip) → {}",
        traces.len(),
        traces.len() - slipped,
        args.output.display()
    );
    Ok(())
}
