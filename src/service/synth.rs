//! Synthetic training data for probes (`stepscope synth slips`): GSM8K reference solutions
//! with one computed result made wrong. The step holding the slip is the labelled first error,
//! the steps after it are cut, and the stated final answer is the slipped value; the untouched
//! reference of the same problem is kept beside it as a clean trace, so a problem always gives
//! a matched pair (folds group by problem, so the pair never straddles a split).
//!
//! GSM8K's calculator annotations (`<<48/2=24>>`) are removed from both: a model's solution has
//! none, and a probe must not learn to read them.

use crate::model::sample::Rng;
use crate::trace::{Label, Segmentation, Trace};

/// Where a slip went: the step, the result as written and the wrong value put in its place.
#[derive(Debug, Clone, PartialEq)]
pub struct Slip {
    pub step: usize,
    pub right: String,
    pub wrong: String,
}

/// A GSM8K step without its `<<expr=value>>` annotations.
pub fn strip_annotations(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find("<<") {
        let Some(close) = rest[open..].find(">>") else { break };
        out.push_str(&rest[..open]);
        rest = &rest[open + close + 2..];
    }
    out.push_str(rest);
    out
}

/// Each computed result a step shows: the byte range of the value written right after an
/// annotation `<<expr=value>>` (the annotation's own value, as the text repeats it).
fn results(text: &str) -> Vec<(usize, usize)> {
    let mut found = Vec::new();
    let mut at = 0;
    while let Some(open) = text[at..].find("<<").map(|o| at + o) {
        let Some(close) = text[open..].find(">>").map(|c| open + c) else { break };
        let inner = &text[open + 2..close];
        at = close + 2;
        let Some(value) = inner.rsplit('=').next().map(str::trim) else { continue };
        if !value.is_empty() && value.parse::<f64>().is_ok() && text[at..].starts_with(value) {
            found.push((at, at + value.len()));
        }
    }
    found
}

/// A wrong value near `right` (an off-by-one, a doubling, a factor of ten…), never equal to it
/// and never negative where it was not.
fn wrong_value(right: &str, rng: &mut Rng) -> Option<String> {
    let v: f64 = right.parse().ok()?;
    let candidates = [v + 1.0, v - 1.0, v + 2.0, v * 2.0, v + 10.0, v - 10.0, v * 10.0, v / 2.0];
    let ok: Vec<f64> = candidates
        .into_iter()
        .filter(|w| (w - v).abs() > 1e-9 && (v < 0.0 || *w >= 0.0) && w.is_finite())
        .filter(|w| !right.contains('.') || (w * 100.0).fract().abs() < 1e-9)
        .filter(|w| right.contains('.') || w.fract() == 0.0)
        .collect();
    if ok.is_empty() {
        return None;
    }
    let w = ok[(rng.next_u64() % ok.len() as u64) as usize];
    Some(if w.fract() == 0.0 { format!("{}", w as i64) } else { format!("{w}") })
}

fn with_steps(reference: &Trace, id: String, steps: &[String]) -> Trace {
    let solution = steps.join("\n");
    Trace {
        id,
        problem: reference.problem.clone(),
        steps: Segmentation::Line.split(&solution),
        solution,
        segmentation: Segmentation::Line,
        reference_answer: reference.reference_answer.clone(),
        generator: Some("synth".into()),
        ..Trace::default()
    }
}

/// The reference as a clean trace: annotations removed, labelled "no error", its answer right.
pub fn clean(reference: &Trace, id: &str) -> Trace {
    let steps: Vec<String> = reference.steps.iter().map(|s| strip_annotations(&s.text)).collect();
    let mut t = with_steps(reference, id.to_string(), &steps);
    t.label = Some(Label::NoError);
    t.final_answer = reference.reference_answer.clone();
    t.final_answer_correct = Some(true);
    t
}

/// One slip in a computed result of the reference, chosen by `rng`; None when no step shows a
/// computed result.
pub fn slip(reference: &Trace, id: &str, rng: &mut Rng) -> Option<(Trace, Slip)> {
    let spots: Vec<(usize, usize, usize)> = reference
        .steps
        .iter()
        .enumerate()
        .flat_map(|(k, s)| results(&s.text).into_iter().map(move |(a, b)| (k, a, b)))
        .collect();
    if spots.is_empty() {
        return None;
    }
    let (k, a, b) = spots[(rng.next_u64() % spots.len() as u64) as usize];
    let text = &reference.steps[k].text;
    let right = text[a..b].to_string();
    let wrong = wrong_value(&right, rng)?;
    let slipped = format!("{}{wrong}{}", &text[..a], &text[b..]);
    let mut steps: Vec<String> = reference.steps[..k].iter().map(|s| strip_annotations(&s.text)).collect();
    steps.push(strip_annotations(&slipped));
    let mut t = with_steps(reference, id.to_string(), &steps);
    t.label = Some(Label::FirstError(k));
    t.final_answer = Some(wrong.clone());
    t.final_answer_correct = Some(false);
    Some((t, Slip { step: k, right, wrong }))
}

/// `n` problems drawn from `references` with `seed`: for each, the clean reference and (when it
/// has a computed result) one slipped copy, ids `synth-<i>` and `synth-<i>~slip`.
pub fn slips(references: &[Trace], n: usize, seed: u64) -> Vec<Trace> {
    let chosen = super::campaign::sample(references.len(), n, seed);
    let mut rng = Rng::new(seed ^ 0x5eed_5119);
    let mut out = Vec::with_capacity(2 * chosen.len());
    for i in chosen {
        let r = &references[i];
        if r.steps.is_empty() {
            continue;
        }
        out.push(clean(r, &format!("synth-{i}")));
        if let Some((t, _)) = slip(r, &format!("synth-{i}~slip"), &mut rng) {
            out.push(t);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference() -> Trace {
        let solution =
            "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\nNatalia sold 48+24 = <<48+24=72>>72 clips altogether.";
        Trace {
            id: "r".into(),
            problem: "How many clips?".into(),
            steps: Segmentation::Line.split(solution),
            solution: solution.into(),
            reference_answer: Some("72".into()),
            ..Trace::default()
        }
    }

    #[test]
    fn annotations_go_and_values_stay() {
        assert_eq!(strip_annotations("48/2 = <<48/2=24>>24 clips"), "48/2 = 24 clips");
        assert_eq!(strip_annotations("no <<open"), "no <<open");
        assert_eq!(results("48/2 = <<48/2=24>>24 clips"), [(18, 20)]);
        assert_eq!(results("$<<12/60=0.2>>0.2 per minute"), [(14, 17)]);
        assert!(results("<<2+2=4>> four").is_empty(), "the value must follow the annotation");
    }

    #[test]
    fn a_slip_is_one_wrong_result_then_the_trace_ends() {
        for seed in 0..20 {
            let (t, s) = slip(&reference(), "r~slip", &mut Rng::new(seed)).unwrap();
            assert_ne!(s.right, s.wrong);
            assert_eq!(t.label, Some(Label::FirstError(s.step)));
            assert_eq!(t.steps.len(), s.step + 1, "later steps are cut");
            let last = &t.steps[s.step].text;
            assert!(!last.contains("<<") && last.contains(&format!(" {} clips", s.wrong)), "{last}");
            assert_eq!((t.final_answer.as_deref(), t.final_answer_correct), (Some(s.wrong.as_str()), Some(false)));
            if s.step == 1 {
                assert_eq!(t.steps[0].text, "Natalia sold 48/2 = 24 clips in May.", "earlier steps are untouched");
            }
        }
        let c = clean(&reference(), "r");
        assert_eq!(c.steps[1].text, "Natalia sold 48+24 = 72 clips altogether.");
        assert_eq!((c.label, c.final_answer_correct), (Some(Label::NoError), Some(true)));
    }

    #[test]
    fn wrong_values_keep_the_kind_of_number() {
        let mut rng = Rng::new(3);
        for _ in 0..50 {
            let w = wrong_value("0.2", &mut rng).unwrap();
            assert!(w != "0.2" && w.parse::<f64>().unwrap() >= 0.0, "{w}");
            let w = wrong_value("5", &mut rng).unwrap();
            assert!(w != "5" && !w.contains('.') && !w.starts_with('-'), "{w}");
        }
    }
}
