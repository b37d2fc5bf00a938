//! `stepscope eval`: ProcessBench metrics of a verifier against dataset or human labels.

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use serde_json::json;

use super::export::LabelSource;
use super::{InputArgs, EXIT_OK, EXIT_USAGE};
use crate::signals::metrics::{averages, score};
use crate::verify::{first_error, from_spec};

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// Trace files with labels.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Verifier spec: arith, prm:PATH, critic:MODEL, judge:MODEL, rollout:MODEL.
    #[arg(long)]
    pub verifier: String,
    /// First-error threshold τ (default: the verifier's).
    #[arg(long)]
    pub threshold: Option<f64>,
    /// Which labels are the truth.
    #[arg(long, value_enum, default_value_t = LabelSource::Dataset)]
    pub labels: LabelSource,
    /// With --labels human: only this annotator's labels.
    #[arg(long)]
    pub annotator: Option<String>,
    #[arg(long)]
    pub json: bool,
    /// Print each trace's prediction, label and the verifier's detail at both steps.
    #[arg(long)]
    pub explain: bool,
    #[command(flatten)]
    pub input: InputArgs,
}

pub fn run(args: EvalArgs) -> i32 {
    match eval(&args) {
        Ok(()) => EXIT_OK,
        Err(e) => {
            eprintln!("error: {e:#}");
            EXIT_USAGE
        }
    }
}

fn eval(args: &EvalArgs) -> anyhow::Result<()> {
    let mut verifier = from_spec(&args.verifier)?;
    let tau = args.threshold.unwrap_or_else(|| verifier.default_threshold());
    let started = Instant::now();
    let mut files = Vec::new();
    for path in &args.paths {
        let file = args.input.open(path)?;
        let store = match args.labels {
            LabelSource::Human => Some(args.input.store_for(path).map_err(anyhow::Error::msg)?),
            LabelSource::Dataset => None,
        };
        let (traces, problems) = file.load_all();
        for p in &problems {
            eprintln!("{p}");
        }
        let mut pairs = Vec::new();
        for t in &traces {
            let label = match &store {
                None => t.label,
                Some(s) => s.human_label(&t.id, args.annotator.as_deref()),
            };
            let Some(label) = label else { continue };
            let scores = verifier.score(t)?;
            let pred = first_error(&scores, tau);
            if args.explain && pred != label.first_error() {
                let at = |k: Option<usize>| k.map_or("-".to_string(), |k| format!("{k}: {}", scores[k].detail));
                println!(
                    "{} pred {:?} label {:?}\n  pred  {}\n  label {}",
                    t.id,
                    pred,
                    label.first_error(),
                    at(pred),
                    at(label.first_error())
                );
                if let Some(k) = label.first_error() {
                    println!("  text  {}", t.steps[k].text.replace('\n', " "));
                }
            }
            pairs.push((pred, label.first_error()));
        }
        files.push((path.display().to_string(), score(&pairs)));
    }
    let sizes: Vec<(usize, f64)> = files.iter().map(|(_, s)| (s.n, s.f1)).collect();
    let (unweighted, weighted) = averages(&sizes);
    if args.json {
        let rows: Vec<serde_json::Value> = files
            .iter()
            .map(|(f, s)| json!({"file": f, "n": s.n, "acc_err": s.acc_err, "acc_corr": s.acc_corr, "f1": s.f1, "confusion": s.confusion}))
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "verifier": verifier.spec(), "threshold": tau, "labels": format!("{:?}", args.labels).to_lowercase(),
                "files": rows, "average": {"unweighted_f1": unweighted, "weighted_f1": weighted}
            }))?
        );
    } else {
        println!("verifier {} · τ {tau} · labels {:?}", verifier.spec(), args.labels);
        println!(
            "{:<40} {:>5} {:>8} {:>8} {:>6}  early/exact/late/missed/false alarm",
            "file", "n", "acc_err", "acc_corr", "F1"
        );
        for (f, s) in &files {
            let c = &s.confusion;
            println!(
                "{f:<40} {:>5} {:>8.1} {:>8.1} {:>6.1}  {}/{}/{}/{}/{}",
                s.n, s.acc_err, s.acc_corr, s.f1, c.early, c.exact, c.late, c.missed, c.false_alarm
            );
        }
        println!("average F1: unweighted (paper) {unweighted:.1} · size-weighted {weighted:.1}");
    }
    eprintln!("evaluated in {:.2} s", started.elapsed().as_secs_f64());
    Ok(())
}
