//! `stepscope compact`: shrink a label journal to its current state.

use std::path::{Path, PathBuf};

use clap::Args;

use super::{InputArgs, EXIT_OK, EXIT_USAGE};
use crate::trace::store::compact_file;

#[derive(Args, Debug)]
pub struct CompactArgs {
    /// Trace file whose journal to compact.
    pub path: PathBuf,
    #[command(flatten)]
    pub input: InputArgs,
}

pub fn run(args: CompactArgs) -> i32 {
    let store = match args.input.store_for(&args.path) {
        Ok(s) => s,
        Err(e) => {
            crate::errln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    let journals: Vec<&Path> = store.paths().into_iter().filter(|p| p.exists() || p.is_symlink()).collect();
    if journals.is_empty() {
        crate::outln!("nothing to compact: {} has no label journal yet", args.path.display());
        return EXIT_OK;
    }
    let mut code = EXIT_OK;
    for journal in journals {
        match compact_file(journal) {
            Ok(r) => {
                let mut msg = format!("compacted {}: {} records", r.path.display(), r.records);
                if r.rejected > 0 {
                    msg.push_str(&format!("; {} unreadable lines moved to {}", r.rejected, r.rejected_path.display()));
                }
                crate::outln!("{msg}");
            }
            Err(e) => {
                crate::errln!("error: {}: not compacted: {e}", journal.display());
                code = EXIT_USAGE;
            }
        }
    }
    code
}
