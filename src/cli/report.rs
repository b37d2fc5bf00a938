//! `stepscope report`: where first errors fall (by step, by relative position, by generator, by
//! category), final answers against first errors, and each verifier against the labels.

use crate::cli::output::field;
use std::path::PathBuf;

use clap::Args;

use super::{InputArgs, EXIT_OK, EXIT_USAGE};
use crate::service::campaign::{report, Item, Report};

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// Trace files (human labels and verifier results come from their label journals).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Count only this annotator's labels (default: the first annotator of each trace, else the
    /// dataset's label).
    #[arg(long)]
    pub annotator: Option<String>,
    /// Machine-readable output: the same numbers as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub scope: super::agree::Scope,
    #[command(flatten)]
    pub input: InputArgs,
}

pub fn run(args: ReportArgs) -> i32 {
    let mut items = match super::agree::load_items(&args.paths, &args.input, &args.scope) {
        Ok(items) => items,
        Err(e) => {
            crate::errln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    if args.annotator.is_some() {
        // One annotator's labels: the dataset's do not stand in where they have none.
        items.iter_mut().for_each(Item::forget_dataset);
    }
    let refs: Vec<&Item> = items.iter().collect();
    let r = report(&refs, args.annotator.as_deref());
    if args.json {
        crate::outln!("{}", serde_json::to_string_pretty(&r).expect("report serialises"));
    } else {
        print_report(&r);
    }
    EXIT_OK
}

/// A bar of `n` against `max` in at most `w` cells.
fn bar(n: usize, max: usize, w: usize) -> String {
    let cells = if max == 0 { 0 } else { (n * w).div_ceil(max) };
    "█".repeat(cells)
}

fn print_report(r: &Report) {
    crate::outln!(
        "{} traces · {} labelled ({} human, {} dataset) · {} with no error",
        r.traces,
        r.labelled,
        r.human_labels,
        r.labelled - r.human_labels,
        r.no_error
    );
    crate::outln!("\nfirst error at step (0-based)");
    let max = r.by_step.iter().copied().max().unwrap_or(0);
    for (k, n) in r.by_step.iter().enumerate() {
        crate::outln!("  {k:>3} {n:>5} {}", bar(*n, max, 40));
    }
    crate::outln!("\nfirst error by position in the trace (step / steps)");
    let max = r.by_tenth.iter().copied().max().unwrap_or(0);
    for (b, n) in r.by_tenth.iter().enumerate() {
        crate::outln!("  {:>3}–{:<3}% {n:>5} {}", b * 10, b * 10 + 10, bar(*n, max, 40));
    }
    crate::outln!("\nby generator");
    crate::outln!("  {:<28} {:>6} {:>6} {:>9} {:>8}", "generator", "traces", "errors", "mean pos", "wrong %");
    for g in &r.by_generator {
        let pos = g.mean_relative.map_or("–".into(), |p| format!("{:.0}%", 100.0 * p));
        let wrong = g.answer_wrong.map_or("–".into(), |w| format!("{w:.1}"));
        crate::outln!("  {:<28} {:>6} {:>6} {:>9} {:>8}", field(&g.name), g.traces, g.errors, pos, wrong);
    }
    crate::outln!("\nby category");
    for (c, n) in &r.by_category {
        crate::outln!("  {:<24} {n:>5}", field(c));
    }
    let a = &r.answer_vs_error;
    crate::outln!("\nfinal answer vs first error      no error   error");
    crate::outln!("  answer correct                {:>9} {:>7}", a.correct_no_error, a.correct_with_error);
    crate::outln!("  answer wrong                  {:>9} {:>7}", a.wrong_no_error, a.wrong_with_error);
    if a.unknown > 0 {
        crate::outln!("  answer unknown: {}", a.unknown);
    }
    if let Some(line) = r.recovery.line() {
        crate::outln!("\n{line}");
    }
    if !r.verifiers.is_empty() {
        crate::outln!("\nverifiers against the labels");
        crate::outln!(
            "  {:<28} {:>5} {:>6} {:>6} {:>6} {:>6} {:>7} {:>7}",
            "verifier",
            "n",
            "F1",
            "early",
            "exact",
            "late",
            "missed",
            "false+"
        );
        for v in &r.verifiers {
            let c = &v.confusion;
            crate::outln!(
                "  {:<28} {:>5} {:>6} {:>6} {:>6} {:>6} {:>7} {:>7}",
                field(&v.spec),
                v.n,
                v.f1_shown(),
                c.early,
                c.exact,
                c.late,
                c.missed,
                c.false_alarm
            );
        }
    }
}
