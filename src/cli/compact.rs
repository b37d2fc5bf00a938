//! `stepscope compact`: shrink a label journal to its current state.

use std::path::PathBuf;

use clap::Args;

use super::{InputArgs, EXIT_OK, EXIT_USAGE};

#[derive(Args, Debug)]
pub struct CompactArgs {
    /// Trace file whose journal to compact.
    pub path: PathBuf,
    #[command(flatten)]
    pub input: InputArgs,
}

pub fn run(args: CompactArgs) -> i32 {
    let result = args.input.store_for(&args.path).and_then(|mut store| {
        store.compact().map_err(|e| format!("{}: compaction failed: {e}", store.path().display()))?;
        Ok(store.path().display().to_string())
    });
    match result {
        Ok(path) => {
            println!("compacted {path}");
            EXIT_OK
        }
        Err(e) => {
            eprintln!("error: {e}");
            EXIT_USAGE
        }
    }
}
