//! `stepscope agree`: agreement between annotators, with the dataset and with each verifier.

use std::path::PathBuf;

use clap::Args;

use super::{InputArgs, EXIT_OK, EXIT_USAGE};
use crate::cli::range::{count, limits::MAX_TRACES};
use crate::service::campaign::{agreement, Agreement, Item};

#[derive(Args, Debug)]
pub struct AgreeArgs {
    /// Trace files (their label journals hold the human labels and verifier results).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Machine-readable output: `{"files": [...], "overall": {...}}`.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub scope: Scope,
    #[command(flatten)]
    pub input: InputArgs,
}

/// Which traces and labels `agree` and `report` count.
#[derive(Args, Debug)]
pub struct Scope {
    /// Only a reproducible random sample of N traces: the same files, N and seed pick the same
    /// traces as `open --sample N --seed S`.
    #[arg(long, value_name = "N", value_parser = count(MAX_TRACES))]
    pub sample: Option<usize>,
    /// Seed of --sample.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Human labels only: the dataset's labels are left out.
    #[arg(long)]
    pub human_only: bool,
}

/// Every file's items (bad records go to stderr; an unreadable file is an error), cut to the
/// scope.
pub fn load_items(paths: &[PathBuf], input: &InputArgs, scope: &Scope) -> Result<Vec<Item>, String> {
    let mut items = Vec::new();
    for (i, path) in paths.iter().enumerate() {
        let (traces, store) = input.load_with_store(path).map_err(|e| e.to_string())?;
        items.extend(traces.iter().map(|t| Item::of(i, t, &store)));
    }
    if let Some(n) = scope.sample {
        let keep = crate::service::campaign::sample(items.len(), n, scope.seed);
        let mut all: Vec<Option<Item>> = items.into_iter().map(Some).collect();
        items = keep.into_iter().filter_map(|k| all[k].take()).collect();
    }
    if scope.human_only {
        items.iter_mut().for_each(Item::forget_dataset);
    }
    Ok(items)
}

pub fn run(args: AgreeArgs) -> i32 {
    let items = match load_items(&args.paths, &args.input, &args.scope) {
        Ok(items) => items,
        Err(e) => {
            crate::errln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    let files: Vec<Agreement> = args
        .paths
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let of_file: Vec<&Item> = items.iter().filter(|t| t.file == i).collect();
            agreement(&p.display().to_string(), &of_file)
        })
        .collect();
    let all: Vec<&Item> = items.iter().collect();
    let overall = agreement("all files", &all);
    if args.json {
        let v = serde_json::json!({"files": files, "overall": overall});
        crate::outln!("{}", serde_json::to_string_pretty(&v).expect("agreement serialises"));
        return EXIT_OK;
    }
    if let [only] = files.as_slice() {
        print_agreement(only);
        return EXIT_OK;
    }
    for f in &files {
        print_agreement(f);
        crate::outln!();
    }
    print_agreement(&overall);
    EXIT_OK
}

fn print_agreement(a: &Agreement) {
    // A line's fields come from journals: one line of text each, whatever they hold.
    for line in a.lines() {
        crate::outln!("{}", crate::cli::output::field(&line));
    }
}
