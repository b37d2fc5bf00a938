//! `stepscope agree`: agreement between annotators, with the dataset and with each verifier.

use std::path::PathBuf;

use clap::Args;

use super::{InputArgs, EXIT_OK, EXIT_USAGE};
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
    pub input: InputArgs,
}

/// Every file's items (bad records go to stderr; an unreadable file is an error).
pub fn load_items(paths: &[PathBuf], input: &InputArgs) -> Result<Vec<Item>, String> {
    let mut items = Vec::new();
    for (i, path) in paths.iter().enumerate() {
        let (traces, store) = input.load_with_store(path).map_err(|e| e.to_string())?;
        items.extend(traces.iter().map(|t| Item::of(i, t, &store)));
    }
    Ok(items)
}

pub fn run(args: AgreeArgs) -> i32 {
    let items = match load_items(&args.paths, &args.input) {
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
