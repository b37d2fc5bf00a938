//! methods.md §11 golden vectors and the arithmetic checker's cases.

mod common;

use stepscope::arith::{check_step, eval, first_wrong};
use stepscope::signals::instability::{entropy, jsd, peak, renormalize, series};
use stepscope::signals::metrics::{agreement, averages, f1, score};

fn top(pairs: &[(&str, f64)]) -> Vec<(String, f64)> {
    pairs.iter().map(|(t, p)| (t.to_string(), p.ln())).collect()
}

#[test]
fn entropy_jsd_instability_golden() {
    let prev = top(&[("A", 0.6), ("B", 0.3), ("C", 0.05)]);
    let cur = top(&[("A", 0.1), ("D", 0.7), ("E", 0.1)]);
    let (p, q) = (renormalize(&prev), renormalize(&cur));
    assert!((p["A"] - 0.6316).abs() < 1e-4 && (q["D"] - 0.7778).abs() < 1e-4);
    assert!((entropy(&p) - 0.809205).abs() < 1e-6, "{}", entropy(&p));
    assert!((entropy(&q) - 0.683739).abs() < 1e-6, "{}", entropy(&q));
    assert!((jsd(&p, &q) - 0.536430).abs() < 1e-6, "{}", jsd(&p, &q));
    let s = series(&[prev, cur], 1.0);
    assert_eq!(s.jsd[0], 0.0);
    assert!((s.instability[1] - 1.220169).abs() < 1e-6, "{}", s.instability[1]);
    let (peak_value, t, r) = peak(&s.instability).unwrap();
    assert_eq!(t, 1);
    assert!((peak_value - 1.220169).abs() < 1e-6 && (r - 1.0).abs() < 1e-12);
}

/// The first-error distribution of a per-step P(right), worked by hand: p = (0.5, 0.5) gives
/// first error at 0 with 0.5, at 1 with 0.25, none with 0.25; entropy 1.5·ln 2 = 1.039721.
#[test]
fn first_error_distribution_by_hand() {
    use stepscope::signals::{first_error_distribution, first_error_entropy};
    assert_eq!(first_error_distribution(&[Some(0.5), Some(0.5)]), [0.5, 0.25, 0.25]);
    assert!((first_error_entropy(&[Some(0.5), Some(0.5)]) - 1.039721).abs() < 1e-6);
    // An unscored step is certain; a sure verifier has no uncertainty.
    assert_eq!(first_error_distribution(&[None, Some(0.0)]), [0.0, 1.0, 0.0]);
    assert_eq!(first_error_entropy(&[Some(1.0), Some(1.0)]), 0.0);
}

/// Two thresholds: a trace whose weakest step is above `flag` has no error; a flagged one's
/// first error is its first step below `locate`, which may come before its weakest step.
#[test]
fn two_thresholds_flag_then_locate() {
    use stepscope::signals::{first_below, first_flagged};
    let p = [0.9, 0.45, 0.8, 0.2];
    assert_eq!(first_flagged(&p, 0.3, 0.5), Some(1));
    assert_eq!(first_flagged(&p, 0.1, 0.5), None);
    assert_eq!(first_flagged(&p, 0.5, 0.5), first_below(&p, 0.5));
    assert_eq!(first_flagged(&p, 0.3, 0.3), Some(3));
    // A locate threshold under the flag one is raised to it.
    assert_eq!(first_flagged(&p, 0.5, 0.1), Some(1));
    assert_eq!(first_flagged(&[Some(0.9), None, Some(0.1)], 0.3, 0.95), Some(0));
}

#[test]
fn processbench_metric_golden() {
    assert!((f1(32.4, 91.7) - 47.88).abs() < 0.005, "{}", f1(32.4, 91.7));
    // Math-Shepherd's subset F1s and sizes (GSM8K 400, MATH 1000, Olympiad 1000, Omni 1000).
    let (unweighted, weighted) = averages(&[(400, 47.9), (1000, 29.5), (1000, 24.8), (1000, 23.8)]);
    assert!((unweighted - 31.5).abs() < 0.001, "{unweighted}");
    assert!((weighted - 28.606).abs() < 0.001, "{weighted}");
    // Qwen PRM card example: scores [1.0, 0.1904, 0.9766, 1.0], τ 0.5 → first error 1.
    assert_eq!(stepscope::signals::first_below(&[1.0, 0.1904, 0.9766, 1.0], 0.5), Some(1));
    let s = score(&[(Some(1), Some(1)), (Some(0), Some(2)), (None, Some(1)), (Some(3), None), (None, None)]);
    assert_eq!((s.confusion.exact, s.confusion.early, s.confusion.missed, s.confusion.false_alarm), (1, 1, 1, 1));
    assert!((s.acc_err - 100.0 / 3.0).abs() < 1e-9 && (s.acc_corr - 50.0).abs() < 1e-9);
    assert_eq!(agreement(&[(Some(1), Some(2)), (None, None), (Some(0), Some(3))]), (100.0 / 3.0, 200.0 / 3.0));
}

/// (step text, expected first wrong claim?) — true means the step has a wrong claim.
const CASES: &[(&str, bool)] = &[
    // Correct arithmetic in many notations.
    ("3 + 4 = 7 apples", false),
    ("She has 16 - 3 - 4 = 9 eggs left.", false),
    ("Janet sells 16 - 3 - 4 = <<16-3-4=9>>9 duck eggs a day.", false),
    ("She makes 9 * 2 = $<<9*2=18>>18 every day.", false),
    ("The cost is $1,200 + $300 = $1,500.", false),
    ("\\(1/3 \\times 18 = 6\\) flamingos", false),
    ("\\[ \\frac{24}{3} = 8 \\]", false),
    ("\\( \\frac{3}{4} \\times 100 = 75\\% \\)", false),
    ("2 x 0.5 = 1.0 bolts", false),
    ("10 ÷ 4 = 2.5 hours", false),
    ("12 × 1.5 = 18", false),
    ("5 \\cdot 6 = 30", false),
    ("20% of them: 50 * 20% = 10", false),
    ("0.7 * 100 = 70%", false),
    ("100% - 20% = 80%", false),
    ("10 / 3 = 3.33 dollars", false),
    ("10 / 3 = 3.333", false),
    ("It takes 43 / 5 = 9 boxes (round up).", false),
    ("(3 + 4) * 2 = 14", false),
    ("2(3 + 4) = 14", false),
    ("2^10 = 1024", false),
    ("-5 + 3 = -2", false),
    ("6 * 4 = 24 + 3 = 27", false),
    ("12 + 0.5 \\times 12 = 12 + 6 = 18 pounds", false),
    ("2 books \\times 2 pounds/book = 4 pounds", false),
    ("495 students * $15/student = $7425", false),
    ("6 (by her brother and sister) + 1 (by Doxa) = 7", false),
    // Not claims: no evidence, so never an error.
    ("x = 5", false),
    ("Step 2 = the next part", false),
    ("The meeting is on 2024-01-15 = Monday", false),
    ("It takes 3-4 days.", false),
    ("Call 555-123-4567 for details.", false),
    ("6B + 7 = 37", false),
    ("\\[ 10 - 1.5x = 4 \\] \\[ 10 - 4 = 1.5x \\]", false),
    ("y - 2 = 10", false),
    ("2t + 3r = 44", false),
    ("6th + 2 = 8th", false),
    ("At 5:30 + 2 = later", false),
    ("Total = 20 + 4*x", false),
    ("the ratio 3:2 = 1.5", false),
    ("It costs about 7 / 3 ≈ 2", false),
    // Wrong arithmetic.
    ("2 × 3 = 5 pounds", true),
    ("Total age = 19 + 8 + 16 + 8 = 41 years.", true),
    ("\\[ 50 + 70 + 140 + 240 = 400 \\]", true),
    ("$400,000 - $32,000 - $250,000 = $8,000", true),
    ("Cost = $194/meter × 490 meters = $94,860.", true),
    ("The total is 5000 + 10000 + 30000 = \\boxed{43000}.", true),
    ("He buys <<3*4=13>>13 pens.", true),
    ("So 2/5 * 4000 = 800", true),
    ("10 / 4 = 2.4", true),
    ("7 * 70 - 40 = 470", true),
    // calculator float noise is not an error
    ("Allen is 11/18*162 = <<11/18*162=99.00000000000001>>99 years old.", false),
    ("$0.10/dime * 7 dimes = $<<0.10*7=0.7000000000000001>>0.70", false),
    // a signed number after prose starts its own arithmetic
    ("The total of these 3 countries is -48+21+-3=-30 degrees.", false),
    // equations inside one step must agree on their unknown
    ("150 + x = 500. So x = 350 - 150. Therefore x = 200.", true),
    ("3B + 6 = 28, so 3B = 22 and B = 22/3.", false),
    ("Total cost = $450 + $75 + $120 = $645. Total cost = $645.", false),
    ("50% * 80 = 45", true),
];

#[test]
fn arithmetic_cases() {
    assert!(CASES.len() >= 40);
    for (text, wrong) in CASES {
        let found = first_wrong(text);
        assert_eq!(found.is_some(), *wrong, "{text:?}: claims {:?}", check_step(text));
    }
}

/// Our own LaTeX cases, one category per id prefix (`exponents-ok-03`, `cases-wrong-07`): a
/// correct case is never flagged, and every wrong one is caught at its step, as the README's
/// table says — except in "alternatives and hypotheses", where a slip inside a rejected trial or
/// between a display and the prose after it is out of reach by design, and at least half are
/// caught (97 correct and 69 of 72 wrong; held out: 50 correct and 41 of 44 wrong).
/// `arith_latex.jsonl` is what the rules were written against; `arith_latex_heldout.jsonl` was
/// written after and run once (README: "The arithmetic checker").
#[test]
fn own_latex_cases_precision_first() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    for (name, at_least, categories, totals) in
        [("arith_latex.jsonl", 10, 7, [97, 0, 72, 69]), ("arith_latex_heldout.jsonl", 6, 7, [50, 0, 44, 41])]
    {
        let file = stepscope::trace::source::TraceFile::open(&root.join(name), None, Default::default()).unwrap();
        let (traces, problems) = file.load_all();
        assert!(problems.is_empty(), "{problems:?}");
        // category → (correct, false alarms, wrong, caught)
        let mut tally: std::collections::BTreeMap<String, [usize; 4]> = Default::default();
        for t in &traces {
            let (category, kind) = t.id.split_once('-').unwrap();
            let flagged = t.steps.iter().position(|s| first_wrong(&s.text).is_some());
            let row = tally.entry(category.to_string()).or_default();
            if kind.starts_with("ok") {
                row[0] += 1;
                if let Some(k) = flagged {
                    row[1] += 1;
                    eprintln!("{name} {}: false alarm {:?}", t.id, check_step(&t.steps[k].text));
                }
            } else {
                row[2] += 1;
                let label = t.label.and_then(|l| l.first_error()).expect("a wrong case names its step");
                row[3] += usize::from(flagged == Some(label));
            }
        }
        assert_eq!(tally.len(), categories, "{name}: {tally:?}");
        for (category, [correct, false_alarms, wrong, caught]) in &tally {
            eprintln!("{name} {category}: {false_alarms} false alarms of {correct}, {caught} of {wrong} wrong caught");
            assert!(*correct >= at_least && *wrong >= at_least.min(10), "{name} {category}: too few cases");
            assert_eq!(*false_alarms, 0, "{name} {category}");
            if category == "alternatives" {
                assert!(2 * caught >= *wrong, "{name} {category}: {caught} of {wrong} caught");
            } else {
                assert_eq!(caught, wrong, "{name} {category}: {caught} of {wrong} caught");
            }
        }
        let sum = tally.values().fold([0; 4], |a, r| [a[0] + r[0], a[1] + r[1], a[2] + r[2], a[3] + r[3]]);
        assert_eq!(sum, totals, "{name}: [correct, false alarms, wrong, caught]");
    }
}

proptest::proptest! {
    /// No input makes the checker panic: LaTeX-ish fragments in any order.
    #[test]
    fn checker_never_panics(parts in proptest::collection::vec(proptest::sample::select(vec![
        "\\frac{", "}{", "}", "{", "\\sqrt[", "]", "^", "_", "=", "\\approx", "<", "\\le", "\\(", "\\)", "\\[",
        "\\]", "$", "$$", "2", "0.5", "1,000", "-", "+", "\\cdot", "\\div", "/", "(", ")", "x", "y", "\\pi", "!",
        "\\%", "^\\circ", "\\text{ cm}", "\\text{if}", " if ", ". ", "\\\\", "&", ",", "\\gcd", "99999999999999999999",
        "\\begin{align*}", "\\end{align*}", "Total", "<<2*3=6>>", "\n\n", "\\left(", "\\right)", "|", "é", "\\",
    ]), 0..40)) {
        let text: String = parts.concat();
        let _ = check_step(&text);
    }
}

/// Deep brackets and long chains are no claim, and no stack overflow.
#[test]
fn deep_input_is_no_claim() {
    let deep = format!("{}1{} = 1", "(".repeat(50_000), ")".repeat(50_000));
    for text in [
        deep.clone(),
        format!("\\[{deep}\\]"),
        format!("\\({}\\)", "-".repeat(50_000) + "1 = 1"),
        "1+".repeat(20_000) + "1 = 20001",
    ] {
        assert!(first_wrong(&text).is_none());
    }
}

#[test]
fn exact_rational_evaluation() {
    assert_eq!(eval("1/3 + 1/6").unwrap().to_f64(), 0.5);
    assert_eq!(eval("0.1 + 0.2"), eval("0.3"));
    assert!(eval("1 / 0").is_none());
    assert!(eval("3 4").is_none());
    assert!(
        eval("99999999999999999999 * 99999999999999999999 * 99999999999999999999").is_none(),
        "overflow is no evidence"
    );
}

#[test]
fn arith_eval_on_processbench() {
    let Some(pb) = common::shared("data/processbench/gsm8k.json") else { return };
    let (code, out, err) = common::run(&["eval", pb.to_str().unwrap(), "--verifier", "arith", "--json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let file = &v["files"][0];
    assert_eq!(file["n"], 400);
    // The README claims F1 21.6 at acc_corr 100 (25 exact of 207 errors: F1 21.55): the test
    // holds the code to exactly that, so the claim cannot silently go stale.
    assert_eq!(file["acc_corr"].as_f64().unwrap(), 100.0, "{file}");
    assert!(file["f1"].as_f64().unwrap() >= 21.55, "{file}");
    assert!(v["average"]["unweighted_f1"].is_number() && v["average"]["weighted_f1"].is_number());
}

/// A regression check of arith's false alarms on right-answer solutions of the GSM8K example
/// model solutions (5,276 real solutions). Not a held-out measurement: cases from this split were
/// added to the rule tests while the rules were written. 17 of 2,001 were flagged when the rules
/// were last changed (mostly real slips in the prose); more than that is a regression.
#[test]
fn arith_false_alarms_on_right_answers_regression() {
    let Some(path) = common::shared("data/gsm8k/example_model_solutions.jsonl") else { return };
    let file = stepscope::trace::source::TraceFile::open(&path, None, Default::default()).unwrap();
    let (traces, problems) = file.load_all();
    assert!(problems.is_empty(), "{problems:?}");
    let right: Vec<_> = traces.iter().filter(|t| t.final_answer_correct == Some(true)).collect();
    assert_eq!(right.len(), 2001);
    let flagged: Vec<&str> = right
        .iter()
        .filter(|t| t.steps.iter().any(|s| first_wrong(&s.text).is_some()))
        .map(|t| t.id.as_str())
        .collect();
    eprintln!("arith flags {} of {} right-answer solutions", flagged.len(), right.len());
    assert!(flagged.len() <= 17, "{} flagged: {:?}", flagged.len(), &flagged[..flagged.len().min(20)]);
}

/// eval reports how often a verifier agrees with human labels and how often annotators agree.
#[test]
fn eval_reports_agreement_with_humans_and_between_annotators() {
    let demo = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("traces/demo.jsonl");
    let demo = demo.to_str().unwrap();
    let store = tempfile::tempdir().unwrap();
    let s = store.path().to_str().unwrap();
    for (annotator, trace, label) in [
        ("ana", "books-weight", "--first-error=2"),
        ("bo", "books-weight", "--first-error=3"),
        ("ana", "garden-fence", "--no-error"),
    ] {
        let (code, _, err) =
            common::run(&["label", demo, "--trace", trace, label, "--annotator", annotator, "--store", s]);
        assert_eq!(code, 0, "{err}");
    }
    let (code, out, err) =
        common::run(&["eval", demo, "--verifier", "arith", "--labels", "human", "--store", s, "--json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let file = &v["files"][0];
    assert_eq!(file["n"], 2, "{v}");
    // arith puts books-weight's error at step 2 and the latest human label there is bo's 3, so
    // only garden-fence (no error on both sides) agrees exactly; both agree within one step.
    assert_eq!(file["agreement_with_humans"]["pairs"], 2, "{v}");
    assert_eq!(file["agreement_with_humans"]["exact"], 50.0, "{v}");
    assert_eq!(file["agreement_with_humans"]["within_one"], 100.0, "{v}");
    assert_eq!(file["agreement_between_annotators"]["pairs"], 1, "{v}");
    assert_eq!(file["agreement_between_annotators"]["exact"], 0.0, "{v}");
    assert_eq!(file["agreement_between_annotators"]["within_one"], 100.0, "{v}");
}

#[test]
fn bad_verifier_specs_are_clear() {
    let Some(pb) = common::shared("data/processbench/gsm8k.json") else { return };
    for (spec, msg) in [
        ("nonsense", "unknown verifier 'nonsense'"),
        ("prm", "needs a model"),
        ("arith:foo", "takes no model"),
        ("prm:/no/such/folder", "no such folder"),
        ("judge:/no/such/model.gguf", "neither a file, a folder, nor a known name"),
    ] {
        let (code, _, err) = common::run(&["eval", pb.to_str().unwrap(), "--verifier", spec]);
        assert_eq!(code, 2, "{spec}");
        assert!(err.contains(msg), "{spec}: {err}");
    }
}

/// `eval --false-alarms` lists each step arith flags on a trace labelled correct, with the claim
/// it read; on ProcessBench GSM8K there are none (acc_corr 100).
#[test]
fn false_alarms_are_listed_with_their_claims() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.jsonl");
    let rows = [
        r#"{"id":"ok","problem":"p","steps":["2 + 3 = 5","so 5"],"label":-1}"#,
        r#"{"id":"says-ok","problem":"p","steps":["2 + 2 = 4","4 * 3 = 13"],"label":-1}"#,
        r#"{"id":"wrong","problem":"p","steps":["7 - 2 = 4"],"label":0}"#,
    ];
    std::fs::write(&path, rows.join("\n") + "\n").unwrap();
    let p = path.to_str().unwrap();
    let (code, out, err) = common::run(&["eval", p, "--verifier", "arith", "--explain", "--false-alarms"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("says-ok: labelled correct, 1 step(s) flagged"), "{out}");
    assert!(out.contains("  step 1: ") && out.contains("4 * 3 = 13"), "{out}");
    let listed = |id: &str| out.lines().any(|l| l.starts_with(&format!("{id}:")));
    assert!(!listed("ok") && !listed("wrong"), "only flagged traces labelled correct: {out}");
    assert!(out.contains("false alarms on 1 of 2 traces labelled correct (1 flagged steps)"), "{out}");
    let Some(pb) = common::shared("data/processbench/gsm8k.json") else { return };
    let (code, out, _) = common::run(&["eval", pb.to_str().unwrap(), "--verifier", "arith", "--false-alarms"]);
    assert_eq!(code, 0);
    assert!(out.contains("false alarms on 0 of 193 traces labelled correct"), "{out}");
}
