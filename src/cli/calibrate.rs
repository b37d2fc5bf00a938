//! `stepscope calibrate`: sweeps the first-error threshold τ over [0, 1] on labelled traces and
//! prints the F1 curve (a plot in the terminal) and the τ with the best F1.

use crate::cli::range::{count, limits::*, within};
use std::path::PathBuf;

use clap::Args;
use serde_json::json;

use super::export::LabelSource;
use super::verifyargs::{judge_file_shown, truth, VerifierArgs};
use super::{InputArgs, EXIT_OK, EXIT_USAGE};
use crate::service::judge::Judged;
use crate::signals::first_below;
use crate::signals::metrics::{score, Scores};

#[derive(Args, Debug)]
pub struct CalibrateArgs {
    /// Labelled trace files.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    #[command(flatten)]
    pub verify: VerifierArgs,
    #[arg(long, value_enum, default_value_t = LabelSource::Dataset)]
    pub labels: LabelSource,
    #[arg(long)]
    pub annotator: Option<String>,
    /// Sweep step for τ.
    #[arg(long, default_value_t = 0.01, value_parser = within(0.0001, 0.5))]
    pub step: f64,
    /// Also report F1 held out: τ chosen on K−1 folds (grouped by problem) and applied to the
    /// fold left out, for every fold (an honest number for a verifier without its own τ).
    #[arg(long, value_name = "K", value_parser = within(2usize, 20))]
    pub folds: Option<usize>,
    /// Only the first N labelled traces of each file.
    #[arg(long, value_parser = count(MAX_TRACES))]
    pub limit: Option<usize>,
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub input: InputArgs,
}

pub fn run(args: CalibrateArgs) -> i32 {
    match calibrate(&args) {
        Ok(()) => EXIT_OK,
        Err(e) => {
            crate::errln!("error: {e:#}");
            EXIT_USAGE
        }
    }
}

/// F1 (and the rest) at each τ = 0, step, 2·step, …, 1.
pub fn sweep(judged: &[&Judged], step: f64) -> Vec<(f64, Scores)> {
    let n = (1.0 / step).round() as usize;
    (0..=n)
        .map(|i| {
            let tau = (i as f64 * step).min(1.0);
            let pairs: Vec<_> = judged.iter().map(|j| (first_below(&j.record.scores, tau), j.label)).collect();
            (tau, score(&pairs))
        })
        .collect()
}

/// The best τ: highest F1, ties to the τ nearest 0.5 (the middle of a flat optimum is safer).
pub fn best(curve: &[(f64, Scores)]) -> Option<&(f64, Scores)> {
    curve.iter().max_by(|a, b| a.1.f1.total_cmp(&b.1.f1).then((b.0 - 0.5).abs().total_cmp(&(a.0 - 0.5).abs())))
}

/// Cross-validated τ: for each fold, the best τ on the other folds, applied to that fold.
/// Returns the held-out scores over all folds and the τ of each fold.
pub fn cross_validate(judged: &[Judged], step: f64, k: usize) -> Option<(Scores, Vec<f64>)> {
    let problems: Vec<&str> = judged.iter().map(|j| j.trace.problem.as_str()).collect();
    let folds = crate::service::train::folds_by_problem(&problems, k, 0);
    let (mut pairs, mut taus) = (Vec::new(), Vec::new());
    for f in 0..k {
        let train: Vec<&Judged> = judged.iter().zip(&folds).filter(|(_, &g)| g != f).map(|(j, _)| j).collect();
        let test: Vec<&Judged> = judged.iter().zip(&folds).filter(|(_, &g)| g == f).map(|(j, _)| j).collect();
        if train.is_empty() || test.is_empty() {
            continue;
        }
        let (tau, _) = *best(&sweep(&train, step))?;
        taus.push(tau);
        pairs.extend(test.iter().map(|j| (first_below(&j.record.scores, tau), j.label)));
    }
    (!pairs.is_empty()).then(|| (score(&pairs), taus))
}

/// A text plot of F1 against τ: `rows` lines high, one column per sweep point (sampled to `cols`).
pub fn plot(curve: &[(f64, Scores)], rows: usize, cols: usize) -> Vec<String> {
    let max = curve.iter().map(|(_, s)| s.f1).fold(1.0f64, f64::max);
    let pick: Vec<f64> = (0..cols).map(|c| curve[c * (curve.len() - 1) / (cols - 1).max(1)].1.f1).collect();
    let mut lines = Vec::new();
    for r in (0..rows).rev() {
        let level = max * (r as f64 + 0.5) / rows as f64;
        let bar: String = pick.iter().map(|&f| if f >= level { '█' } else { ' ' }).collect();
        let axis = if r == rows - 1 {
            format!("{max:>5.1} ")
        } else if r == 0 {
            format!("{:>5.1} ", 0.0)
        } else {
            "      ".into()
        };
        lines.push(format!("{axis}│{bar}"));
    }
    lines.push(format!("      └{}", "─".repeat(cols)));
    lines.push(format!("       τ=0{}τ=1", " ".repeat(cols.saturating_sub(6))));
    lines
}

fn calibrate(args: &CalibrateArgs) -> anyhow::Result<()> {
    let (mut scorer, mut models) = args.verify.service();
    for spec in args.verify.specs(&scorer)? {
        let mut judged = Vec::new();
        for path in &args.paths {
            let truth = truth(args.labels, args.annotator.as_deref());
            // Calibration sweeps τ itself: the stored scores are read at every threshold.
            let opts = VerifierArgs { threshold: None, ..args.verify.clone() }.judge_options(args.limit);
            judged.extend(judge_file_shown(&mut scorer, &mut models, &spec, &args.input, path, truth, opts)?.judged);
        }
        if judged.is_empty() {
            anyhow::bail!("no labelled traces to calibrate {} on", spec);
        }
        let curve = sweep(&judged.iter().collect::<Vec<_>>(), args.step);
        let (tau, s) = best(&curve).expect("a non-empty sweep");
        let cv = args.folds.and_then(|k| cross_validate(&judged, args.step, k));
        if args.json {
            let points: Vec<_> = curve
                .iter()
                .map(|(t, s)| json!({"tau": t, "f1": s.f1, "acc_err": s.acc_err, "acc_corr": s.acc_corr}))
                .collect();
            let cv = cv.as_ref().map(|(s, taus)| {
                let (acc_err, acc_corr, f1) = s.defined();
                json!({"folds": taus.len(), "f1": f1, "acc_err": acc_err, "acc_corr": acc_corr, "taus": taus})
            });
            crate::outln!(
                "{}",
                json!({"verifier": spec.to_string(), "n": judged.len(), "best": {"tau": tau, "f1": s.f1, "acc_err": s.acc_err, "acc_corr": s.acc_corr}, "cv": cv, "curve": points})
            );
        } else {
            crate::outln!(
                "verifier {} · {} labelled traces · F1 by threshold τ (error = first step scoring below τ)",
                spec,
                judged.len()
            );
            for line in plot(&curve, 10, 60) {
                crate::outln!("{line}");
            }
            crate::outln!(
                "best τ {tau:.2}: F1 {:.1} (acc_err {:.1}, acc_corr {:.1}); default τ {:.2}",
                s.f1,
                s.acc_err,
                s.acc_corr,
                scorer.default_threshold(&spec)
            );
            if let Some((s, taus)) = &cv {
                let taus: Vec<String> = taus.iter().map(|t| format!("{t:.2}")).collect();
                crate::outln!(
                    "held out ({} folds by problem, τ chosen on the others: {}): F1 {:.1} (acc_err {:.1}, acc_corr {:.1})",
                    taus.len(),
                    taus.join(" "),
                    s.f1,
                    s.acc_err,
                    s.acc_corr
                );
            }
        }
    }
    Ok(())
}
