//! `stepscope export` / `convert`: write traces in another format with dataset or human labels.

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};

use super::{InputArgs, EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE};
use crate::trace::export::{self, ExportFormat};
use crate::trace::model::{CATEGORY_KEY, NOTE_KEY, RATINGS_KEY};
use crate::trace::output::write_file;
use crate::trace::{Label, Store, Trace};

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum LabelSource {
    /// Labels that came with the data.
    Dataset,
    /// Human labels from the label store.
    Human,
    /// Adjudicated (gold) labels from the label store, with who decided, why, and every
    /// annotator's label beside them.
    Gold,
}

impl LabelSource {
    fn name(self) -> &'static str {
        match self {
            LabelSource::Dataset => "dataset",
            LabelSource::Human => "human",
            LabelSource::Gold => "gold",
        }
    }
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// Trace files.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Output format: processbench, prm800k, trl or jsonl.
    #[arg(long, value_parser = ExportFormat::parse)]
    pub to: ExportFormat,
    /// Which first-error label to export.
    #[arg(long, value_enum, default_value_t = LabelSource::Dataset)]
    pub labels: LabelSource,
    /// With `--labels human`: only this annotator's labels (default: the latest of anyone).
    #[arg(long)]
    pub annotator: Option<String>,
    /// Output file (`-` for standard output). Written atomically.
    #[arg(short, long)]
    pub output: PathBuf,
    /// Exit with status 1 when any record has a problem.
    #[arg(long)]
    pub strict: bool,
    #[command(flatten)]
    pub input: InputArgs,
}

pub fn run(args: ExportArgs) -> i32 {
    match export_all(&args) {
        Ok((written, skipped, problems)) => {
            crate::errln!("wrote {written} traces to {}", args.output.display());
            if skipped > 0 {
                let which = args.labels.name();
                crate::errln!("skipped {skipped} traces without a {which} label (the format needs one)");
            }
            if args.strict && problems > 0 {
                EXIT_PROBLEMS
            } else {
                EXIT_OK
            }
        }
        Err(e) => {
            crate::errln!("error: {e}");
            EXIT_USAGE
        }
    }
}

fn export_all(args: &ExportArgs) -> Result<(usize, usize, usize), String> {
    refuse_overwriting_sources(&args.paths, &args.output)?;
    let mut items: Vec<(Trace, Option<Label>)> = Vec::new();
    let mut problems = 0;
    for path in &args.paths {
        let file = args.input.open(path).map_err(|e| e.to_string())?;
        let store = match args.labels {
            LabelSource::Human | LabelSource::Gold => Some(args.input.store_for(path)?),
            LabelSource::Dataset => None,
        };
        let (traces, file_problems) = file.load_all();
        for p in &file_problems {
            crate::errln!("{p}");
        }
        problems += file_problems.len();
        for mut t in traces {
            let label = match &store {
                None => t.label,
                Some(s) if args.labels == LabelSource::Gold => {
                    put_gold(&mut t, s);
                    s.gold_label(&t.id)
                }
                Some(s) => {
                    let human = human_with_detail(s, &t.id, args.annotator.as_deref());
                    put_detail(&mut t, s, human.as_ref().map(|(_, who)| who.as_str()));
                    human.map(|(l, _)| l)
                }
            };
            items.push((t, label));
        }
    }
    let total = items.len();
    if !args.to.allows_unlabelled() {
        items.retain(|(_, l)| l.is_some());
    }
    let refs: Vec<(&Trace, Option<Label>)> = items.iter().map(|(t, l)| (t, *l)).collect();
    let mut buf = Vec::new();
    export::write(args.to, &refs, &mut buf).map_err(|e| e.to_string())?;
    if args.output == Path::new("-") {
        super::output::write_out_bytes(&buf);
    } else {
        write_file(&args.output, &buf).map_err(|e| format!("{}: cannot write: {e}", args.output.display()))?;
    }
    Ok((refs.len(), total - refs.len(), problems))
}

/// One annotator's label (or the latest of anyone's) with the annotator who gave it.
fn human_with_detail(store: &Store, id: &str, annotator: Option<&str>) -> Option<(Label, String)> {
    match annotator {
        Some(a) => store.label(id, a).map(|l| (l, a.to_string())),
        None => store.latest_label(id).map(|(l, a)| (l, a.to_string())),
    }
}

/// Keys every row exported from human labels carries (null where the label has none), so
/// that schema inference (Arrow, `datasets`) sees one schema.
pub const LABEL_KEYS: [&str; 8] =
    [CATEGORY_KEY, NOTE_KEY, RATINGS_KEY, "annotator", "label_blind", "label_ts", "realisation_step", "recovered"];

/// Puts the human label's category, note, step ratings, annotator, blind flag, time stamp,
/// realisation step and recovery on the trace, where every writer keeps them (PRM800K also uses the ratings). Every key is
/// there on every row: null where missing.
fn put_detail(t: &mut Trace, store: &Store, annotator: Option<&str>) {
    use serde_json::Value;
    let detail = annotator.and_then(|a| store.detail(&t.id, a)).cloned();
    let ratings = annotator.and_then(|a| store.ratings(&t.id, a)).map(|r| {
        Value::Array((0..t.steps.len()).map(|i| r.get(&i).map_or(Value::Null, |v| Value::from(*v))).collect())
    });
    let values = [
        detail.as_ref().and_then(|d| d.category.clone()).map(Value::String),
        detail.as_ref().and_then(|d| d.note.clone()).map(Value::String),
        ratings,
        annotator.map(|a| Value::String(a.to_string())),
        detail.as_ref().map(|d| Value::Bool(d.blind)),
        annotator.and_then(|a| store.label_time(&t.id, a)).map(|ts| Value::String(ts.to_string())),
        detail.as_ref().and_then(|d| d.realised).map(Value::from),
        detail.as_ref().and_then(|d| d.recovered).map(Value::Bool),
    ];
    for (key, value) in LABEL_KEYS.into_iter().zip(values) {
        t.extra.insert(key.into(), value.unwrap_or(Value::Null));
    }
}

/// Keys every row exported from gold labels carries (null where missing): who decided, why,
/// when, and each annotator's current label (ProcessBench index) beside the gold one.
pub const GOLD_KEYS: [&str; 4] = ["adjudicator", "adjudication_reason", "label_ts", "annotator_labels"];

fn put_gold(t: &mut Trace, store: &Store) {
    use serde_json::Value;
    let gold = store.gold(&t.id);
    let labels: serde_json::Map<String, Value> =
        store.labels_for(&t.id).into_iter().map(|(a, l)| (a.to_string(), Value::from(l.to_index()))).collect();
    let values = [
        gold.map(|g| Value::String(g.by.clone())),
        gold.and_then(|g| g.reason.clone()).map(Value::String),
        gold.map(|g| Value::String(g.ts.clone())),
        Some(Value::Object(labels)),
    ];
    for (key, value) in GOLD_KEYS.into_iter().zip(values) {
        t.extra.insert(key.into(), value.unwrap_or(Value::Null));
    }
}

/// Source trace files are never written: refuse an output path that is one of them.
pub(crate) fn refuse_overwriting_sources(paths: &[PathBuf], output: &Path) -> Result<(), String> {
    let Ok(out) = std::fs::canonicalize(output) else { return Ok(()) };
    for p in paths {
        if std::fs::canonicalize(p).is_ok_and(|p| p == out) {
            return Err(format!("refusing to overwrite the source file {}", p.display()));
        }
    }
    Ok(())
}
