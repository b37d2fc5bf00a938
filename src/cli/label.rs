//! `stepscope label`: record one human label from a script.

use crate::cli::range::{limits::*, within};
use std::path::PathBuf;

use clap::{ArgGroup, Args};

use super::{annotator_name, InputArgs, EXIT_OK, EXIT_USAGE};
use crate::trace::Label;

#[derive(Args, Debug)]
#[command(group(ArgGroup::new("verdict").required(true).args(["first_error", "no_error", "clear"])))]
pub struct LabelArgs {
    /// Trace file.
    pub path: PathBuf,
    /// Trace id.
    #[arg(long)]
    pub trace: String,
    /// 0-based index of the first erroneous step (ProcessBench convention).
    #[arg(long, value_name = "K", value_parser = within(0, MAX_STEP))]
    pub first_error: Option<usize>,
    /// Every step is correct.
    #[arg(long)]
    pub no_error: bool,
    /// Remove my label.
    #[arg(long)]
    pub clear: bool,
    /// Annotator name (default: $STEPSCOPE_ANNOTATOR, else $USER).
    #[arg(long)]
    pub annotator: Option<String>,
    /// The error's category (calculation, misread problem, …: any name).
    #[arg(long)]
    pub category: Option<String>,
    /// A free-text note on the label.
    #[arg(long)]
    pub note: Option<String>,
    /// Record that the label was made blind (hints hidden).
    #[arg(long)]
    pub blind: bool,
    /// Self-correction: the step where the model realises the error (after --first-error).
    #[arg(long, value_name = "K", value_parser = within(0, MAX_STEP))]
    pub realisation_step: Option<usize>,
    /// Self-correction: the model recovers from the error (reaches a right answer after all).
    #[arg(long, conflicts_with = "fatal")]
    pub recovered: bool,
    /// Self-correction: the error is fatal (the model does not recover).
    #[arg(long)]
    pub fatal: bool,
    /// Record the adjudicated (gold) first error instead of my own label: who decided is the
    /// annotator name; every annotator's current label is kept beside it.
    #[arg(long, conflicts_with_all = ["category", "note", "blind", "realisation_step", "recovered", "fatal"])]
    pub gold: bool,
    /// With --gold: why this is the first error.
    #[arg(long, requires = "gold")]
    pub reason: Option<String>,
    #[command(flatten)]
    pub input: InputArgs,
}

pub fn run(args: LabelArgs) -> i32 {
    match label(&args) {
        Ok(msg) => match crate::cli::output::try_write_out(format_args!("{msg}\n")) {
            Ok(()) => EXIT_OK,
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => EXIT_OK,
            // The label is on disk already: say so, and why the confirmation is missing.
            Err(e) => {
                crate::errln!("the label is saved, but its confirmation could not be printed: {e}");
                EXIT_USAGE
            }
        },
        Err(e) => {
            crate::errln!("error: {e}");
            EXIT_USAGE
        }
    }
}

fn label(args: &LabelArgs) -> Result<String, String> {
    let file = args.input.open(&args.path).map_err(|e| e.to_string())?;
    let trace = file
        .find_unique(&args.trace)?
        .ok_or_else(|| format!("{}: no trace with id '{}'", args.path.display(), args.trace))?;
    let value = match (args.first_error, args.no_error) {
        (Some(k), _) if k >= trace.steps.len() => {
            let range = match trace.steps.len() {
                0 => "no steps".to_string(),
                n => format!("steps 0..={}", n - 1),
            };
            return Err(format!("--first-error {k} is out of range: trace {} has {range}", trace.id));
        }
        (Some(k), _) => Some(Label::FirstError(k)),
        (None, true) => Some(Label::NoError),
        (None, false) => None,
    };
    let loc = args.input.opener().journal(&args.path);
    if let Some(note) = &loc.note {
        crate::errln!("note: {note}");
    }
    let mut store = args.input.store_for(&args.path)?;
    let annotator = annotator_name(args.annotator.as_deref());
    let (id, who) = (crate::cli::output::field(&trace.id), crate::cli::output::field(&annotator));
    if args.gold {
        store
            .set_gold(&trace.id, value, &annotator, args.reason.clone())
            .map_err(|e| format!("{}: cannot write the gold label: {e}", loc.path.display()))?;
        let what = match value {
            Some(l) => format!("gold label {}", describe(l)),
            None => "gold label cleared".to_string(),
        };
        return Ok(format!("{id}: {what} (decided by {who}; journal {})", loc.path.display()));
    }
    let self_correction = args.realisation_step.is_some() || args.recovered || args.fatal;
    if self_correction && args.first_error.is_none() {
        return Err("--realisation-step, --recovered and --fatal go with --first-error".into());
    }
    if let (Some(r), Some(k)) = (args.realisation_step, args.first_error) {
        if r <= k || r >= trace.steps.len() {
            return Err(format!(
                "--realisation-step {r} is out of range: it comes after the first error ({k}) and trace {} has steps 0..={}",
                trace.id,
                trace.steps.len() - 1
            ));
        }
    }
    let detail = crate::trace::store::Detail {
        blind: args.blind && value.is_some(),
        category: args.category.clone().filter(|_| value.is_some()),
        note: args.note.clone().filter(|_| value.is_some()),
        realised: args.realisation_step,
        recovered: (args.recovered || args.fatal).then_some(args.recovered),
    };
    store
        .set_label_with(&trace.id, &annotator, value, detail)
        .map_err(|e| format!("{}: cannot write label: {e}", loc.path.display()))?;
    let what = value.map_or_else(|| "label cleared".to_string(), describe);
    Ok(format!("{id}: {what} (annotator {who}; journal {})", loc.path.display()))
}

fn describe(l: Label) -> String {
    match l {
        Label::FirstError(k) => format!("first error at step {k}"),
        Label::NoError => "no error".to_string(),
    }
}
