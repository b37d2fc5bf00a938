//! `stepscope open` / `stepscope PATH...` / `stepscope demo`: the interactive TUI.

use std::path::PathBuf;

use clap::Args;

use super::{InputArgs, EXIT_USAGE};

#[derive(Args, Debug, Default)]
pub struct OpenArgs {
    /// Trace files.
    pub paths: Vec<PathBuf>,
    /// Annotator name for labels (default: $STEPSCOPE_ANNOTATOR, else $USER).
    #[arg(long)]
    pub annotator: Option<String>,
    #[command(flatten)]
    pub input: InputArgs,
}

#[derive(Args, Debug, Default)]
pub struct DemoArgs {
    /// Annotator name for labels.
    #[arg(long)]
    pub annotator: Option<String>,
    /// Folder for label journals.
    #[arg(long, value_name = "DIR")]
    pub store: Option<PathBuf>,
}

pub fn run(_args: OpenArgs) -> i32 {
    eprintln!("stepscope: the TUI is not yet available (issue 3 is open); use `stats`, `label` and `export`");
    EXIT_USAGE
}

pub fn demo(_args: DemoArgs) -> i32 {
    run(OpenArgs::default())
}
