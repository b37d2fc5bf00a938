//! `stepscope eval`: ProcessBench metrics of verifiers against dataset or human labels, plus the
//! agreement of each verifier with human labels and between annotators.

use crate::cli::range::{count, limits::*, within};
use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use serde_json::json;

use super::export::LabelSource;
use super::verifyargs::{judge_file_shown, truth, VerifierArgs};
use super::{InputArgs, EXIT_OK, EXIT_USAGE};
use crate::service::judge::{Judged, JudgedFile};
use crate::signals::metrics::{agreement, averages, score, Scores};
use crate::trace::{Store, Trace};

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// Trace files with labels.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    #[command(flatten)]
    pub verify: VerifierArgs,
    /// Which labels are the truth.
    #[arg(long, value_enum, default_value_t = LabelSource::Dataset)]
    pub labels: LabelSource,
    /// With --labels human: only this annotator's labels.
    #[arg(long)]
    pub annotator: Option<String>,
    /// Only the first N labelled traces of each file.
    #[arg(long, value_parser = count(MAX_TRACES))]
    pub limit: Option<usize>,
    #[arg(long)]
    pub json: bool,
    /// Print each trace's prediction, label and the verifier's detail at both steps.
    #[arg(long)]
    pub explain: bool,
    /// Precision audit: list every step the verifier flags on a trace labelled correct, with
    /// what it read there (its parsed claims), and count them (to standard error with --json).
    #[arg(long)]
    pub false_alarms: bool,
    /// Evaluate a signal instead of verifiers: instability or answer-entropy. Reports the AUROC
    /// of each per-trace summary for predicting a wrong final answer, accuracy by quintile and
    /// by peak position (or entropy trend). Signals stored with the same source are reused.
    #[arg(long, value_parser = ["instability", "answer-entropy"])]
    pub signal: Option<String>,
    /// Model that teacher-forces the traces (those without stored top-k, answer entropy, and
    /// every trace with --teacher-force).
    #[arg(long, default_value = "smollm2")]
    pub signal_model: String,
    /// Teacher-force instability through --signal-model even where the trace stored its
    /// generator's own top-k.
    #[arg(long)]
    pub teacher_force: bool,
    /// Instability weight λ in I_t = D_t + λ·H_t.
    #[arg(long, default_value_t = 1.0, value_parser = within(0.0, MAX_LAMBDA))]
    pub lambda: f64,
    #[command(flatten)]
    pub input: InputArgs,
}

pub fn run(args: EvalArgs) -> i32 {
    let result = match args.signal.as_deref() {
        Some(signal) => eval_signal(&args, signal),
        None => eval(&args),
    };
    match result {
        Ok(()) => EXIT_OK,
        Err(e) => {
            crate::errln!("error: {e:#}");
            EXIT_USAGE
        }
    }
}

struct FileResult {
    file: String,
    scores: Scores,
    /// Verifier vs human labels (exact, within one step) when humans labelled any of the traces.
    human_agreement: Option<(usize, f64, f64)>,
    /// Between annotators, over traces two or more labelled.
    annotators: Option<(usize, f64, f64)>,
}

/// For a probe, how many judged traces have a problem its head was trained on (None: not a
/// probe, or none shared).
fn shared_with_training(spec: &crate::verify::VerifierSpec, judged: &[crate::service::judge::Judged]) -> Option<usize> {
    let crate::verify::VerifierSpec::Probe { path } = spec else { return None };
    let head = crate::verify::probe::ProbeHead::read(std::path::Path::new(path)).ok()?;
    let trained: std::collections::HashSet<&str> = head.problems.iter().map(String::as_str).collect();
    let n = judged
        .iter()
        .filter(|j| trained.contains(crate::service::train::problem_hash(&j.trace.problem).as_str()))
        .count();
    (n > 0).then_some(n)
}

fn eval(args: &EvalArgs) -> anyhow::Result<()> {
    let (mut scorer, mut models) = args.verify.service();
    let specs = args.verify.specs(&scorer)?;
    let started = Instant::now();
    let mut report = Vec::new();
    for spec in &specs {
        let tau = args.verify.threshold.unwrap_or_else(|| scorer.default_threshold(spec));
        let mut files = Vec::new();
        for path in &args.paths {
            let truth = truth(args.labels, args.annotator.as_deref());
            let opts = args.verify.judge_options(args.limit);
            let JudgedFile { traces, store, judged, .. } =
                judge_file_shown(&mut scorer, &mut models, spec, &args.input, path, truth, opts)?;
            if let Some(n) = shared_with_training(spec, &judged) {
                crate::errln!(
                    "note: {}: {n} of {} traces share a problem with {spec}'s training data: on them it is not held out",
                    path.display(),
                    judged.len()
                );
            }
            if args.false_alarms {
                false_alarms(&judged, &path.display().to_string(), args.json);
            } else if args.explain {
                explain(&judged);
            }
            let pairs: Vec<(Option<usize>, Option<usize>)> =
                judged.iter().map(|j| (j.record.first_error, j.label)).collect();
            files.push(FileResult {
                file: path.display().to_string(),
                scores: score(&pairs),
                human_agreement: human_agreement(&judged, &store),
                annotators: annotator_agreement(&traces, &store),
            });
        }
        report.push((spec.to_string(), tau, files));
    }
    print_report(args, &report)?;
    crate::errln!("evaluated in {:.2} s", started.elapsed().as_secs_f64());
    Ok(())
}

fn human_agreement(judged: &[Judged], store: &Store) -> Option<(usize, f64, f64)> {
    let pairs: Vec<(Option<usize>, Option<usize>)> = judged
        .iter()
        .filter_map(|j| store.human_label(&j.trace.id, None).map(|h| (j.record.first_error, h.first_error())))
        .collect();
    (!pairs.is_empty()).then(|| {
        let (exact, near) = agreement(&pairs);
        (pairs.len(), exact, near)
    })
}

fn annotator_agreement(traces: &[Trace], store: &Store) -> Option<(usize, f64, f64)> {
    let mut pairs = Vec::new();
    for t in traces {
        let labels = store.labels_for(&t.id);
        for (i, a) in labels.iter().enumerate() {
            for b in &labels[i + 1..] {
                pairs.push((a.1.first_error(), b.1.first_error()));
            }
        }
    }
    (!pairs.is_empty()).then(|| {
        let (exact, near) = agreement(&pairs);
        (pairs.len(), exact, near)
    })
}

fn explain(judged: &[Judged]) {
    for j in judged.iter().filter(|j| j.record.first_error != j.label) {
        let at = |k: Option<usize>| k.map_or("-".to_string(), |k| format!("{k}: {}", j.record.details[k]));
        crate::outln!(
            "{} pred {:?} label {:?}\n  pred  {}\n  label {}",
            j.trace.id,
            j.record.first_error,
            j.label,
            at(j.record.first_error),
            at(j.label)
        );
        if let Some(k) = j.label {
            crate::outln!("  text  {}", j.trace.steps[k].text.replace('\n', " "));
        }
    }
}

/// Every flagged step (score below τ) of each trace labelled correct, with the verifier's
/// detail (what it read and computed) and the step's text.
fn false_alarms(judged: &[Judged], file: &str, json: bool) {
    let say = |line: String| if json { crate::errln!("{line}") } else { crate::outln!("{line}") };
    let clean: Vec<&Judged> = judged.iter().filter(|j| j.label.is_none()).collect();
    let (mut traces, mut steps) = (0, 0);
    for j in &clean {
        let tau = j.record.threshold;
        let flagged: Vec<usize> =
            (0..j.record.scores.len()).filter(|&k| j.record.scores[k].is_some_and(|s| s < tau)).collect();
        if flagged.is_empty() {
            continue;
        }
        traces += 1;
        say(format!("{}: labelled correct, {} step(s) flagged", j.trace.id, flagged.len()));
        for k in flagged {
            steps += 1;
            let detail = j.record.details.get(k).map_or("", String::as_str);
            say(format!("  step {k}: {detail}"));
            if let Some(step) = j.trace.steps.get(k) {
                say(format!("    text  {}", step.text.replace('\n', " ")));
            }
        }
    }
    say(format!("{file}: false alarms on {traces} of {} traces labelled correct ({steps} flagged steps)", clean.len()));
}

type Report = Vec<(String, f64, Vec<FileResult>)>;

/// The averages over files where F1 is defined (None when there is none).
fn defined_averages(files: &[FileResult]) -> Option<(f64, f64)> {
    let sizes: Vec<(usize, f64)> = files.iter().filter_map(|f| Some((f.scores.n, f.scores.defined().2?))).collect();
    (!sizes.is_empty()).then(|| averages(&sizes))
}

/// A percentage for the text table, or n/a.
fn pct(v: Option<f64>, width: usize) -> String {
    v.map_or_else(|| format!("{:>width$}", "n/a"), |x| format!("{x:>width$.1}"))
}

fn print_report(args: &EvalArgs, report: &Report) -> anyhow::Result<()> {
    let labels = format!("{:?}", args.labels).to_lowercase();
    let agree = |a: &Option<(usize, f64, f64)>| a.map(|(n, e, w)| json!({"pairs": n, "exact": e, "within_one": w}));
    if args.json {
        let mut out = Vec::new();
        for (spec, tau, files) in report {
            let avg = defined_averages(files);
            let (unweighted, weighted) = (avg.map(|a| a.0), avg.map(|a| a.1));
            let rows: Vec<serde_json::Value> = files
                .iter()
                .map(|f| {
                    let s = &f.scores;
                    let (acc_err, acc_corr, f1) = s.defined();
                    json!({"file": f.file, "n": s.n, "acc_err": acc_err, "acc_corr": acc_corr, "f1": f1,
                           "confusion": s.confusion, "agreement_with_humans": agree(&f.human_agreement),
                           "agreement_between_annotators": agree(&f.annotators)})
                })
                .collect();
            out.push(json!({"verifier": spec, "threshold": tau, "labels": labels, "files": rows,
                            "average": {"unweighted_f1": unweighted, "weighted_f1": weighted}}));
        }
        // One verifier prints its object (the documented shape); several print an array.
        let v = if out.len() == 1 { out.remove(0) } else { serde_json::Value::Array(out) };
        crate::outln!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    for (spec, tau, files) in report {
        crate::outln!("verifier {spec} · τ {tau} · labels {labels}");
        crate::outln!(
            "{:<40} {:>5} {:>8} {:>8} {:>6}  early/exact/late/missed/false alarm",
            "file",
            "n",
            "acc_err",
            "acc_corr",
            "F1"
        );
        for f in files {
            let (s, c) = (&f.scores, &f.scores.confusion);
            let (acc_err, acc_corr, f1) = s.defined();
            crate::outln!(
                "{:<40} {:>5} {} {} {}  {}/{}/{}/{}/{}",
                f.file,
                s.n,
                pct(acc_err, 8),
                pct(acc_corr, 8),
                pct(f1, 6),
                c.early,
                c.exact,
                c.late,
                c.missed,
                c.false_alarm
            );
            if let Some((n, e, w)) = f.human_agreement {
                crate::outln!("  agreement with human labels: {e:.1}% exact, {w:.1}% within ±1 step ({n} traces)");
            }
            if let Some((n, e, w)) = f.annotators {
                crate::outln!("  agreement between annotators: {e:.1}% exact, {w:.1}% within ±1 step ({n} pairs)");
            }
        }
        match defined_averages(files) {
            Some((unweighted, weighted)) => {
                crate::outln!("average F1: unweighted (paper) {unweighted:.1} · size-weighted {weighted:.1}")
            }
            None => crate::outln!("average F1: n/a (no file has both erroneous and correct labelled traces)"),
        }
    }
    Ok(())
}

/// `eval --signal`: each trace's signal (reused or computed and stored), then its diagnostics.
fn eval_signal(args: &EvalArgs, signal: &str) -> anyhow::Result<()> {
    use crate::model::LanguageModel;
    use crate::service::signal_eval::{evaluate, signal_or_reuse, wanted_source, Wanted};
    use crate::verify::uncertainty::{has_stored_tops, SignalKind, SignalRunner};
    let kind = SignalKind::parse(signal)?;
    let (_, mut models) = args.verify.service();
    let runner = SignalRunner::new(&args.signal_model, args.lambda);
    let mut rows = Vec::new();
    let mut reused = 0;
    for path in &args.paths {
        let (traces, mut store) = args.input.load_with_store(path)?;
        // Only traces whose final-answer correctness is known can be scored.
        let known: Vec<&Trace> = traces.iter().filter(|t| t.answer_correct().is_some()).collect();
        let known = &known[..args.limit.unwrap_or(known.len()).min(known.len())];
        let needs_model =
            kind == SignalKind::AnswerEntropy || args.teacher_force || known.iter().any(|t| !has_stored_tops(t));
        let model = if needs_model {
            let m = models.language_model(&args.signal_model, &mut |line| crate::errln!("{line}"))?;
            Some(m)
        } else {
            None
        };
        let name = model.as_ref().map_or(String::new(), |m| m.name().to_string());
        let bar = super::verifyargs::Progress::new(known.len());
        for (i, t) in known.iter().enumerate() {
            bar.show(i, &format!("{} {}", kind.name(), t.id));
            let source = wanted_source(kind, t, args.teacher_force, &name);
            let mut load = |_: &str| -> anyhow::Result<std::sync::Arc<dyn LanguageModel>> {
                match &model {
                    Some(m) => Ok(m.clone()),
                    None => anyhow::bail!("no model loaded"),
                }
            };
            let wanted = Wanted { source: &source, teacher_force: args.teacher_force, rescore: args.verify.rescore };
            match signal_or_reuse(&runner, kind, t, &mut store, &wanted, &mut load) {
                Ok((record, was_reused)) => {
                    reused += usize::from(was_reused);
                    rows.push((record, t.answer_correct().unwrap_or(false)));
                }
                Err(e) => crate::errln!("\n{}: {}: {e:#}", path.display(), t.id),
            }
        }
        bar.finish();
    }
    if rows.is_empty() {
        crate::outln!("no trace with a known final answer to evaluate {} on", kind.name());
        return Ok(());
    }
    let e = evaluate(kind, &rows);
    if args.json {
        crate::outln!("{}", serde_json::to_string_pretty(&e)?);
        return Ok(());
    }
    let sources: Vec<String> = e.sources.iter().map(|(s, n)| format!("{s} {n}")).collect();
    crate::outln!(
        "signal {} · {} traces ({} wrong) · {reused} reused from the store · sources: {}",
        e.signal,
        e.traces,
        e.wrong,
        sources.join(", ")
    );
    let show = |v: Option<f64>| v.map_or("–".to_string(), |x| format!("{x:.3}"));
    let aurocs: Vec<String> = e.aurocs.iter().map(|a| format!("{} {}", a.summary, show(a.auroc))).collect();
    crate::outln!("AUROC for a wrong answer: {}", aurocs.join(" · "));
    let buckets = |title: &str, list: &[crate::signals::diagnostics::Bucket]| {
        if list.is_empty() {
            return;
        }
        crate::outln!("{title}");
        for b in list {
            let acc = b.accuracy.map_or("–".to_string(), |a| format!("{a:.1}%"));
            crate::outln!("  {:<32} n={:<4} accuracy {acc}", b.name, b.n);
        }
    };
    let first = e.aurocs.first().map_or("", |a| a.summary.as_str());
    buckets(&format!("accuracy by quintile of {first}"), &e.by_quintile);
    buckets("accuracy by peak position", &e.by_peak_position);
    buckets("accuracy by entropy trend", &e.by_trend);
    Ok(())
}
