//! Annotation campaigns and failure analysis, computed the same way for every face (`agree`,
//! `report`, `stats` and the TUI): agreement between annotators, the dataset and verifiers; the
//! failure report; time spent per trace; a reproducible sample; the disagreement queue.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::model::sample::Rng;
use crate::signals::agreement::{cohen_kappa, krippendorff_alpha};
use crate::signals::metrics::{agreement as exact_and_near, score, Confusion};
use crate::trace::store::LabelEvent;
use crate::trace::{Label, Store, Trace};

/// The error categories offered after a first-error label (config `categories` replaces them).
pub const DEFAULT_CATEGORIES: [&str; 8] = [
    "calculation",
    "misread problem",
    "wrong method or setup",
    "unjustified claim",
    "logic/contradiction",
    "incomplete",
    "formatting",
    "other",
];

/// A gap between two labels longer than this is a break, not time spent on the trace.
pub const BREAK_SECONDS: f64 = 600.0;

/// What the campaign numbers need to know about one trace.
#[derive(Debug, Clone)]
pub struct Item {
    /// Which of the files given (for per-file numbers).
    pub file: usize,
    pub id: String,
    pub steps: usize,
    pub generator: Option<String>,
    pub answer: Option<bool>,
    pub dataset: Option<Label>,
    /// The category the data came with (an exported label's `error_category`).
    pub dataset_category: Option<String>,
    /// Each annotator's label and category, sorted by annotator.
    pub humans: Vec<(String, Label, Option<String>)>,
    /// Each stored verifier's first error (None: no error), sorted by spec.
    pub verifiers: Vec<(String, Option<usize>)>,
    /// The adjudicated first error, where one was decided.
    pub gold: Option<Label>,
    /// Self-correction marks by annotator: where the model realises its error, whether it
    /// recovers (only annotators who marked one).
    pub recovery: BTreeMap<String, (Option<usize>, Option<bool>)>,
}

impl Item {
    /// Leaves out what the dataset said (`--human-only`).
    pub fn forget_dataset(&mut self) {
        self.dataset = None;
        self.dataset_category = None;
    }

    pub fn of(file: usize, t: &Trace, store: &Store) -> Item {
        let humans = store
            .labels_for(&t.id)
            .into_iter()
            .map(|(a, l)| (a.to_string(), l, store.detail(&t.id, a).and_then(|d| d.category.clone())))
            .collect();
        let verifiers = store.results_for(&t.id).into_iter().map(|r| (r.spec.clone(), r.first_error)).collect();
        Item {
            file,
            id: t.id.clone(),
            steps: t.steps.len(),
            generator: t.generator.clone(),
            answer: t.answer_correct(),
            dataset: t.label,
            dataset_category: t.label_category().map(str::to_string),
            humans,
            verifiers,
            gold: store.gold_label(&t.id),
            recovery: store
                .labels_for(&t.id)
                .into_iter()
                .filter_map(|(a, _)| {
                    let d = store.detail(&t.id, a)?;
                    (d.realised.is_some() || d.recovered.is_some()).then(|| (a.to_string(), (d.realised, d.recovered)))
                })
                .collect(),
        }
    }

    /// The self-correction marks that go with `reference(annotator)`: that annotator's, else
    /// those of the annotator whose label the gold one is, else the first annotator's.
    pub fn recovery_for(&self, annotator: Option<&str>) -> Option<(Option<usize>, Option<bool>)> {
        let who = match (annotator, self.gold) {
            (Some(a), _) => Some(a),
            (None, Some(g)) => self.humans.iter().find(|h| h.1 == g).map(|h| h.0.as_str()),
            (None, None) => self.humans.first().map(|h| h.0.as_str()),
        }?;
        self.recovery.get(who).copied()
    }

    /// Whether two annotators' current labels differ.
    pub fn annotators_disagree(&self) -> bool {
        self.humans.iter().any(|h| h.1 != self.humans[0].1)
    }

    fn human(&self, annotator: &str) -> Option<Label> {
        self.humans.iter().find(|(a, _, _)| a == annotator).map(|(_, l, _)| *l)
    }

    /// The label a failure report counts: one annotator's, else the gold label, else the
    /// alphabetically first annotator's, else the dataset's; with its category.
    pub fn reference(&self, annotator: Option<&str>) -> Option<(Label, Option<&str>, bool)> {
        if let (None, Some(gold)) = (annotator, self.gold) {
            let category = self.humans.iter().find(|h| h.1 == gold).and_then(|h| h.2.as_deref());
            return Some((gold, category, true));
        }
        let human = match annotator {
            Some(a) => self.humans.iter().find(|(x, _, _)| x == a),
            None => self.humans.first(),
        };
        match human {
            Some((_, l, c)) => Some((*l, c.as_deref(), true)),
            None => self.dataset.map(|l| (l, self.dataset_category.as_deref(), false)),
        }
    }
}

/// Agreement of one pair of label sources on the traces both labelled.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Pair {
    pub a: String,
    pub b: String,
    pub n: usize,
    /// Percent of traces with the same first error ("no error" matches only itself).
    pub exact: f64,
    /// Percent within one step.
    pub within_one: f64,
    pub kappa: Option<f64>,
    pub alpha: Option<f64>,
}

/// Agreement over one file or all of them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Agreement {
    pub scope: String,
    pub traces: usize,
    pub annotators: Vec<String>,
    /// Krippendorff's α over every annotator (nominal, first-error index with −1 for no error).
    pub alpha_annotators: Option<f64>,
    /// Traces with at least two human labels (the units α pairs).
    pub units: usize,
    /// Traces with a gold (adjudicated) label.
    pub gold: usize,
    /// Traces where two annotators' labels differ, and how many of them have a gold label.
    pub disagreeing: usize,
    pub settled: usize,
    /// Annotator pairs, then each annotator against the gold labels, the dataset and each
    /// verifier, then the gold labels against the dataset.
    pub pairs: Vec<Pair>,
    /// Annotator pairs on where the model realises its error: traces where both put the first
    /// error at the same step and at least one marked a realisation ("none" is a value).
    pub realisation: Vec<Pair>,
}

impl Agreement {
    /// The agreement as text lines (what `agree` prints and the TUI overlay shows).
    pub fn lines(&self) -> Vec<String> {
        let coefficient = |v: Option<f64>| v.map_or_else(|| "–".to_string(), |x| format!("{x:.3}"));
        let mut out =
            vec![format!("{}: {} traces, annotators: {}", self.scope, self.traces, self.annotators.join(", "))];
        if self.pairs.is_empty() {
            out.push("  no two label sources share a trace yet".into());
            return out;
        }
        out.push(format!("  {:<34} {:>5} {:>7} {:>7} {:>7} {:>7}", "pair", "n", "exact%", "±1%", "κ", "α"));
        for p in &self.pairs {
            out.push(format!(
                "  {:<34} {:>5} {:>7.1} {:>7.1} {:>7} {:>7}",
                format!("{} ~ {}", p.a, p.b),
                p.n,
                p.exact,
                p.within_one,
                coefficient(p.kappa),
                coefficient(p.alpha)
            ));
        }
        if self.annotators.len() >= 2 {
            out.push(format!(
                "  Krippendorff's α over all annotators: {} ({} traces with two or more labels)",
                coefficient(self.alpha_annotators),
                self.units
            ));
        }
        for p in &self.realisation {
            out.push(format!(
                "  realisation: {} ~ {}: {} traces, exact {:.1}%, ±1 {:.1}%",
                p.a, p.b, p.n, p.exact, p.within_one
            ));
        }
        if self.gold > 0 || self.disagreeing > 0 {
            out.push(format!(
                "  gold labels: {} · settled {} of {} traces where annotators disagree",
                self.gold, self.settled, self.disagreeing
            ));
        }
        out
    }
}

fn pair(a: &str, b: &str, labels: &[(Label, Label)]) -> Pair {
    let firsts: Vec<(Option<usize>, Option<usize>)> =
        labels.iter().map(|(x, y)| (x.first_error(), y.first_error())).collect();
    let (exact, within_one) = exact_and_near(&firsts);
    let indices: Vec<(i64, i64)> = labels.iter().map(|(x, y)| (x.to_index(), y.to_index())).collect();
    let units: Vec<Vec<i64>> = indices.iter().map(|(x, y)| vec![*x, *y]).collect();
    Pair {
        a: a.into(),
        b: b.into(),
        n: labels.len(),
        exact,
        within_one,
        kappa: cohen_kappa(&indices),
        alpha: krippendorff_alpha(&units),
    }
}

/// Agreement between annotators, each annotator and the dataset, and each annotator and each
/// stored verifier.
pub fn agreement(scope: &str, items: &[&Item]) -> Agreement {
    let mut annotators: Vec<String> = items.iter().flat_map(|i| i.humans.iter().map(|h| h.0.clone())).collect();
    annotators.sort();
    annotators.dedup();
    let mut specs: Vec<String> = items.iter().flat_map(|i| i.verifiers.iter().map(|v| v.0.clone())).collect();
    specs.sort();
    specs.dedup();
    let mut pairs = Vec::new();
    for (i, a) in annotators.iter().enumerate() {
        for b in &annotators[i + 1..] {
            let both: Vec<_> = items.iter().filter_map(|t| Some((t.human(a)?, t.human(b)?))).collect();
            pairs.push(pair(a, b, &both));
        }
    }
    for a in &annotators {
        let with_gold: Vec<_> = items.iter().filter_map(|t| Some((t.human(a)?, t.gold?))).collect();
        if !with_gold.is_empty() {
            pairs.push(pair(a, "gold", &with_gold));
        }
        let both: Vec<_> = items.iter().filter_map(|t| Some((t.human(a)?, t.dataset?))).collect();
        if !both.is_empty() {
            pairs.push(pair(a, "dataset", &both));
        }
        for s in &specs {
            let verifier = |t: &Item| {
                let first = t.verifiers.iter().find(|v| &v.0 == s)?.1;
                Some(first.map_or(Label::NoError, Label::FirstError))
            };
            let both: Vec<_> = items.iter().filter_map(|t| Some((t.human(a)?, verifier(t)?))).collect();
            if !both.is_empty() {
                pairs.push(pair(a, s, &both));
            }
        }
    }
    let gold_dataset: Vec<_> = items.iter().filter_map(|t| Some((t.gold?, t.dataset?))).collect();
    if !gold_dataset.is_empty() {
        pairs.push(pair("gold", "dataset", &gold_dataset));
    }
    let units: Vec<Vec<i64>> = items
        .iter()
        .map(|t| t.humans.iter().map(|h| h.1.to_index()).collect::<Vec<_>>())
        .filter(|v| v.len() >= 2)
        .collect();
    let disagreeing: Vec<&&Item> = items.iter().filter(|t| t.annotators_disagree()).collect();
    let mut realisation = Vec::new();
    for (i, a) in annotators.iter().enumerate() {
        for b in &annotators[i + 1..] {
            let both: Vec<(Label, Label)> = items.iter().filter_map(|t| realisations(t, a, b)).collect();
            if !both.is_empty() {
                realisation.push(pair(a, b, &both));
            }
        }
    }
    Agreement {
        realisation,
        gold: items.iter().filter(|t| t.gold.is_some()).count(),
        disagreeing: disagreeing.len(),
        settled: disagreeing.iter().filter(|t| t.gold.is_some()).count(),
        scope: scope.into(),
        traces: items.len(),
        annotators,
        alpha_annotators: krippendorff_alpha(&units),
        units: units.len(),
        pairs,
    }
}

/// Two annotators' realisation steps on a trace where both put the first error at the same step
/// and one of them marked a realisation, as labels (none: "no error").
fn realisations(t: &Item, a: &str, b: &str) -> Option<(Label, Label)> {
    let (la, lb) = (t.human(a)?, t.human(b)?);
    if la != lb || la.first_error().is_none() {
        return None;
    }
    let at = |who: &str| t.recovery.get(who).and_then(|r| r.0);
    let as_label = |r: Option<usize>| r.map_or(Label::NoError, Label::FirstError);
    (at(a).is_some() || at(b).is_some()).then(|| (as_label(at(a)), as_label(at(b))))
}

/// Traces of one group (a generator, or everything) and where their first errors fall.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Group {
    pub name: String,
    pub traces: usize,
    pub errors: usize,
    /// Mean of first error / steps over the traces with an error.
    pub mean_relative: Option<f64>,
    /// Share (percent) of traces whose final answer is wrong, among those where it is known.
    pub answer_wrong: Option<f64>,
}

/// Final-answer correctness against the first-error label.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AnswerTable {
    pub correct_no_error: usize,
    pub correct_with_error: usize,
    pub wrong_no_error: usize,
    pub wrong_with_error: usize,
    pub unknown: usize,
}

/// One verifier's first errors against the report's labels.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VerifierRow {
    pub spec: String,
    pub n: usize,
    /// None where it is undefined (no labelled error, or no labelled clean trace).
    pub f1: Option<f64>,
    pub confusion: Confusion,
}

impl VerifierRow {
    /// F1 to one decimal, `n/a` where it is undefined.
    pub fn f1_shown(&self) -> String {
        self.f1.map_or("n/a".into(), |f| format!("{f:.1}"))
    }
}

/// Where first errors fall, by position, generator and category, and how verifiers and final
/// answers relate to them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub traces: usize,
    /// Traces with a label, and how many of those labels are human (the rest: the dataset's).
    pub labelled: usize,
    pub human_labels: usize,
    pub no_error: usize,
    /// Count of first errors at each step index (0-based).
    pub by_step: Vec<usize>,
    /// Count of first errors by position relative to the trace's length, in tenths:
    /// bucket b holds k/steps in [b/10, (b+1)/10).
    pub by_tenth: Vec<usize>,
    pub by_generator: Vec<Group>,
    /// Errors per category ("uncategorised" for those without one), most common first.
    pub by_category: Vec<(String, usize)>,
    pub answer_vs_error: AnswerTable,
    pub verifiers: Vec<VerifierRow>,
    pub recovery: Recovery,
}

/// Self-correction over the first errors a report counts: how many the model realises (a step
/// marked where it notices), how many it recovers from, how far the realisation comes after.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Recovery {
    pub errors: usize,
    pub realised: usize,
    pub recovered: usize,
    pub fatal: usize,
    /// Mean steps from the first error to its realisation.
    pub mean_distance: Option<f64>,
}

impl Recovery {
    /// One line for the report (None when nobody marked any).
    pub fn line(&self) -> Option<String> {
        if self.realised == 0 && self.recovered == 0 && self.fatal == 0 {
            return None;
        }
        let distance =
            self.mean_distance.map_or(String::new(), |d| format!(" · realised {d:.1} steps after the error"));
        Some(format!(
            "self-correction: {} of {} errors realised · {} recovered · {} fatal · {} not said{distance}",
            self.realised,
            self.errors,
            self.recovered,
            self.fatal,
            self.errors - self.recovered - self.fatal
        ))
    }
}

/// The failure report over labelled traces: `annotator` picks whose labels count (default: the
/// first annotator of each trace, else the dataset).
pub fn report(items: &[&Item], annotator: Option<&str>) -> Report {
    let mut r = Report {
        traces: items.len(),
        labelled: 0,
        human_labels: 0,
        no_error: 0,
        by_step: Vec::new(),
        by_tenth: vec![0; 10],
        by_generator: Vec::new(),
        by_category: Vec::new(),
        answer_vs_error: AnswerTable::default(),
        verifiers: Vec::new(),
        recovery: Recovery::default(),
    };
    let mut distances = Vec::new();
    let mut categories: BTreeMap<String, usize> = BTreeMap::new();
    let mut generators: BTreeMap<String, Vec<(Label, Option<bool>, usize)>> = BTreeMap::new();
    let mut per_spec: BTreeMap<String, Vec<FirstErrors>> = BTreeMap::new();
    for item in items {
        let Some((label, category, human)) = item.reference(annotator) else { continue };
        r.labelled += 1;
        r.human_labels += usize::from(human);
        let name = item.generator.clone().unwrap_or_else(|| "(unknown)".into());
        generators.entry(name).or_default().push((label, item.answer, item.steps));
        let table = &mut r.answer_vs_error;
        match (label, item.answer) {
            (Label::NoError, Some(true)) => table.correct_no_error += 1,
            (Label::FirstError(_), Some(true)) => table.correct_with_error += 1,
            (Label::NoError, Some(false)) => table.wrong_no_error += 1,
            (Label::FirstError(_), Some(false)) => table.wrong_with_error += 1,
            (_, None) => table.unknown += 1,
        }
        for (spec, first) in &item.verifiers {
            per_spec.entry(spec.clone()).or_default().push((*first, label.first_error()));
        }
        let Label::FirstError(k) = label else {
            r.no_error += 1;
            continue;
        };
        if r.by_step.len() <= k {
            r.by_step.resize(k + 1, 0);
        }
        r.by_step[k] += 1;
        r.by_tenth[tenth(k, item.steps)] += 1;
        r.recovery.errors += 1;
        if let Some((realised, recovered)) = item.recovery_for(annotator).filter(|_| human) {
            if let Some(at) = realised.filter(|&at| at > k) {
                r.recovery.realised += 1;
                distances.push((at - k) as f64);
            }
            r.recovery.recovered += usize::from(recovered == Some(true));
            r.recovery.fatal += usize::from(recovered == Some(false));
        }
        *categories.entry(category.unwrap_or("uncategorised").to_string()).or_default() += 1;
    }
    r.recovery.mean_distance = (!distances.is_empty()).then(|| distances.iter().sum::<f64>() / distances.len() as f64);
    r.by_generator = generators.into_iter().map(|(name, rows)| group(name, &rows)).collect();
    let mut by_category: Vec<(String, usize)> = categories.into_iter().collect();
    by_category.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    r.by_category = by_category;
    r.verifiers = per_spec
        .into_iter()
        .map(|(spec, pairs)| {
            let s = score(&pairs);
            VerifierRow { spec, n: s.n, f1: s.defined().2, confusion: s.confusion }
        })
        .collect();
    r
}

/// (verifier's first error, label's first error).
type FirstErrors = (Option<usize>, Option<usize>);

/// Tenth of the trace where step k falls: k/steps in [b/10, (b+1)/10).
fn tenth(k: usize, steps: usize) -> usize {
    (k * 10 / steps.max(1)).min(9)
}

fn group(name: String, rows: &[(Label, Option<bool>, usize)]) -> Group {
    let relative: Vec<f64> =
        rows.iter().filter_map(|(l, _, n)| l.first_error().map(|k| k as f64 / (*n).max(1) as f64)).collect();
    let known: Vec<bool> = rows.iter().filter_map(|(_, a, _)| *a).collect();
    Group {
        name,
        traces: rows.len(),
        errors: relative.len(),
        mean_relative: (!relative.is_empty()).then(|| relative.iter().sum::<f64>() / relative.len() as f64),
        answer_wrong: (!known.is_empty())
            .then(|| 100.0 * known.iter().filter(|c| !**c).count() as f64 / known.len() as f64),
    }
}

/// How fast one annotator labels, from the journal's time stamps, counted in traces (a trace
/// labelled again, or given a category later, is still one trace).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Pace {
    pub annotator: String,
    /// Traces given a label (clears, undo and redo decide nothing).
    pub traces: usize,
    /// Label changes after a trace's first label (the same trace labelled again).
    pub changes: usize,
    /// Traces with a time: some record on them came under the break after the annotator's
    /// previous record.
    pub timed: usize,
    /// Median time per timed trace (all its gaps added up).
    pub median_seconds: Option<f64>,
    /// Timed traces per hour of the time they took.
    pub per_hour: Option<f64>,
    /// Traces whose first label was made blind.
    pub blind: usize,
}

impl Pace {
    /// `20 traces (18 blind, 3 changed) · 240 per hour · median 12 s per trace`.
    pub fn summary(&self) -> String {
        let median = self.median_seconds.map_or("–".into(), |s| format!("{s:.0} s"));
        let rate = self.per_hour.map_or("–".into(), |r| format!("{r:.0}"));
        let mut extra = Vec::new();
        if self.blind > 0 {
            extra.push(format!("{} blind", self.blind));
        }
        if self.changes > 0 {
            extra.push(format!("{} changed", self.changes));
        }
        let extra = if extra.is_empty() { String::new() } else { format!(" ({})", extra.join(", ")) };
        format!("{} traces{extra} · {rate} per hour · median {median} per trace", self.traces)
    }
}

/// Time per trace of each annotator: each gap between two of the annotator's records under
/// [`BREAK_SECONDS`] counts for the trace of the later record (deciding it, or choosing its
/// category). `events` come with the index of their file, since ids repeat across files.
pub fn pace(events: &[(usize, LabelEvent)]) -> Vec<Pace> {
    let mut by_annotator: BTreeMap<&str, Vec<(f64, usize, &LabelEvent)>> = BTreeMap::new();
    for (file, e) in events {
        if let Some(t) = e.at {
            by_annotator.entry(&e.annotator).or_default().push((t, *file, e));
        }
    }
    by_annotator
        .into_iter()
        .map(|(annotator, mut list)| {
            list.sort_by(|a, b| a.0.total_cmp(&b.0));
            let mut seconds: BTreeMap<(usize, &str), f64> = BTreeMap::new();
            for w in list.windows(2) {
                let gap = w[1].0 - w[0].0;
                if gap < BREAK_SECONDS {
                    *seconds.entry((w[1].1, w[1].2.trace.as_str())).or_default() += gap;
                }
            }
            // First decision per trace, in time order: whether it was blind.
            let mut first: BTreeMap<(usize, &str), bool> = BTreeMap::new();
            let mut decisions = 0;
            for (_, file, e) in list.iter().filter(|(_, _, e)| e.set) {
                decisions += 1;
                first.entry((*file, e.trace.as_str())).or_insert(e.blind);
            }
            // Only traces with a decision count (a gap before a note on an old label does not).
            let mut per_trace: Vec<f64> =
                seconds.iter().filter(|(k, s)| first.contains_key(*k) && **s > 0.0).map(|(_, s)| *s).collect();
            let total: f64 = per_trace.iter().sum();
            per_trace.sort_by(f64::total_cmp);
            Pace {
                annotator: annotator.to_string(),
                traces: first.len(),
                changes: decisions - first.len(),
                timed: per_trace.len(),
                median_seconds: median(&per_trace),
                per_hour: (total > 0.0).then(|| per_trace.len() as f64 * 3600.0 / total),
                blind: first.values().filter(|b| **b).count(),
            }
        })
        .collect()
}

fn median(sorted: &[f64]) -> Option<f64> {
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
    }
}

/// A reproducible random subset: `k` of the indices `0..n` chosen by `seed`, in their order.
pub fn sample(n: usize, k: usize, seed: u64) -> Vec<usize> {
    let mut all: Vec<usize> = (0..n).collect();
    let mut rng = Rng::new(seed);
    let k = k.min(n);
    for i in 0..k {
        let j = i + (rng.next_u64() % (n - i) as u64) as usize;
        all.swap(i, j);
    }
    let mut chosen = all[..k].to_vec();
    chosen.sort_unstable();
    chosen
}

/// How much the stored verifiers disagree on a trace, in [0, 1): one minus the share of the most
/// common first error among them ("no error" is a value). 0 with fewer than two verifiers.
pub fn disagreement(firsts: &[Option<usize>]) -> f64 {
    if firsts.len() < 2 {
        return 0.0;
    }
    let mut counts: BTreeMap<Option<usize>, usize> = BTreeMap::new();
    for f in firsts {
        *counts.entry(*f).or_default() += 1;
    }
    let top = counts.values().copied().max().unwrap_or(0);
    1.0 - top as f64 / firsts.len() as f64
}

/// Positions in the order of the disagreement queue: most disagreement first, then the spread
/// of the first errors (no error counts as one past the last step), else the original order.
pub fn disagreement_order(firsts: &[(Vec<Option<usize>>, usize)]) -> Vec<usize> {
    let key = |(f, steps): &(Vec<Option<usize>>, usize)| {
        let at: Vec<usize> = f.iter().map(|x| x.unwrap_or(*steps)).collect();
        let spread = at.iter().max().copied().unwrap_or(0) - at.iter().min().copied().unwrap_or(0);
        (disagreement(f), spread)
    };
    let mut order: Vec<usize> = (0..firsts.len()).collect();
    order.sort_by(|&a, &b| {
        let (ka, kb) = (key(&firsts[a]), key(&firsts[b]));
        kb.0.total_cmp(&ka.0).then(kb.1.cmp(&ka.1))
    });
    order
}

/// The annotation queue by a probe's uncertainty (`--queue uncertain`): traces not yet labelled
/// by me first, most uncertain first-error location first (entropy of the probe's first-error
/// distribution); traces the probe has not scored keep their order after them. `items`: (my
/// label is set, the probe's step scores if stored).
pub fn uncertainty_order(items: &[(bool, Option<Vec<Option<f64>>>)]) -> Vec<usize> {
    let key = |(mine, scores): &(bool, Option<Vec<Option<f64>>>)| {
        (*mine, scores.is_none(), -scores.as_deref().map_or(0.0, crate::signals::first_error_entropy))
    };
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by(|&a, &b| {
        let (ka, kb) = (key(&items[a]), key(&items[b]));
        ka.0.cmp(&kb.0).then(ka.1.cmp(&kb.1)).then(ka.2.total_cmp(&kb.2))
    });
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_uncertain_queue_puts_unlabelled_unsure_traces_first() {
        let sure = Some(vec![Some(0.99), Some(0.01)]);
        let unsure = Some(vec![Some(0.5), Some(0.5), Some(0.5)]);
        let items = vec![(false, sure.clone()), (false, None), (true, unsure.clone()), (false, unsure)];
        assert_eq!(uncertainty_order(&items), [3, 0, 1, 2]);
    }

    fn item(id: &str, steps: usize, dataset: Option<Label>, humans: &[(&str, Label)]) -> Item {
        Item {
            file: 0,
            id: id.into(),
            steps,
            generator: Some("g".into()),
            answer: Some(dataset == Some(Label::NoError)),
            dataset,
            dataset_category: None,
            humans: humans.iter().map(|(a, l)| (a.to_string(), *l, None)).collect(),
            verifiers: Vec::new(),
            gold: None,
            recovery: BTreeMap::new(),
        }
    }

    #[test]
    fn self_correction_marks_are_counted_and_paired() {
        let mut items = [
            item("a", 9, None, &[("ana", Label::FirstError(2)), ("bo", Label::FirstError(2))]),
            item("b", 9, None, &[("ana", Label::FirstError(1)), ("bo", Label::FirstError(1))]),
            item("c", 9, None, &[("ana", Label::FirstError(0)), ("bo", Label::FirstError(4))]),
            item("d", 9, None, &[("ana", Label::NoError)]),
        ];
        items[0].recovery.insert("ana".into(), (Some(5), Some(true)));
        items[0].recovery.insert("bo".into(), (Some(6), Some(true)));
        items[1].recovery.insert("ana".into(), (Some(2), Some(false)));
        items[2].recovery.insert("ana".into(), (Some(3), None));
        let refs: Vec<&Item> = items.iter().collect();
        let r = report(&refs, Some("ana"));
        assert_eq!((r.recovery.errors, r.recovery.realised, r.recovery.recovered, r.recovery.fatal), (3, 3, 1, 1));
        assert_eq!(r.recovery.mean_distance, Some((3.0 + 1.0 + 3.0) / 3.0));
        let line = r.recovery.line().unwrap();
        assert!(line.contains("3 of 3 errors realised · 1 recovered · 1 fatal · 1 not said"), "{line}");
        // Pairs: a (5 vs 6) and b (2 vs none); c is left out (different first errors).
        let a = agreement("all", &refs);
        let p = &a.realisation[0];
        assert_eq!((p.a.as_str(), p.b.as_str(), p.n, p.exact, p.within_one), ("ana", "bo", 2, 0.0, 50.0));
    }

    #[test]
    fn gold_labels_are_counted_paired_and_lead_the_report() {
        let mut items = [
            item("a", 4, Some(Label::FirstError(1)), &[("ana", Label::FirstError(1)), ("bo", Label::FirstError(2))]),
            item("b", 4, Some(Label::NoError), &[("ana", Label::NoError), ("bo", Label::FirstError(0))]),
            item("c", 4, Some(Label::FirstError(3)), &[("ana", Label::FirstError(3)), ("bo", Label::FirstError(3))]),
        ];
        items[0].gold = Some(Label::FirstError(2));
        let refs: Vec<&Item> = items.iter().collect();
        let a = agreement("all", &refs);
        assert_eq!((a.gold, a.disagreeing, a.settled), (1, 2, 1));
        let bo_gold = a.pairs.iter().find(|p| p.a == "bo" && p.b == "gold").expect("bo ~ gold");
        assert_eq!((bo_gold.n, bo_gold.exact), (1, 100.0));
        let ana_gold = a.pairs.iter().find(|p| p.a == "ana" && p.b == "gold").expect("ana ~ gold");
        assert_eq!((ana_gold.n, ana_gold.exact, ana_gold.within_one), (1, 0.0, 100.0));
        let gold_ds = a.pairs.iter().find(|p| p.a == "gold" && p.b == "dataset").expect("gold ~ dataset");
        assert_eq!((gold_ds.n, gold_ds.exact), (1, 0.0));
        assert!(a.lines().iter().any(|l| l.contains("gold labels: 1 · settled 1 of 2")), "{:?}", a.lines());
        // The report counts the gold label where there is one, else the first annotator's.
        let r = report(&refs, None);
        assert_eq!(r.by_step[..3], [0, 0, 1], "a counts at gold 2, b at ana's no error, c at 3");
        assert_eq!(report(&refs, Some("ana")).by_step[1], 1, "one annotator's report ignores gold");
    }

    #[test]
    fn pairs_and_alpha() {
        let items = [
            item("a", 4, Some(Label::FirstError(1)), &[("ana", Label::FirstError(1)), ("bo", Label::FirstError(2))]),
            item("b", 4, Some(Label::NoError), &[("ana", Label::NoError), ("bo", Label::NoError)]),
            item("c", 4, Some(Label::FirstError(3)), &[("ana", Label::FirstError(3))]),
        ];
        let refs: Vec<&Item> = items.iter().collect();
        let a = agreement("all", &refs);
        assert_eq!(a.annotators, ["ana", "bo"]);
        assert_eq!(a.units, 2);
        let ana_bo = &a.pairs[0];
        assert_eq!((ana_bo.n, ana_bo.exact, ana_bo.within_one), (2, 50.0, 100.0));
        let ana_ds = a.pairs.iter().find(|p| p.a == "ana" && p.b == "dataset").unwrap();
        assert_eq!((ana_ds.n, ana_ds.exact, ana_ds.kappa), (3, 100.0, Some(1.0)));
    }

    #[test]
    fn report_positions() {
        let items = [
            item("a", 4, Some(Label::FirstError(1)), &[]),
            item("b", 10, Some(Label::FirstError(9)), &[]),
            item("c", 4, Some(Label::NoError), &[("ana", Label::FirstError(0))]),
        ];
        let refs: Vec<&Item> = items.iter().collect();
        let r = report(&refs, None);
        assert_eq!((r.labelled, r.human_labels, r.no_error), (3, 1, 0));
        assert_eq!(r.by_step[..2], [1, 1]);
        assert_eq!(r.by_step[9], 1);
        assert_eq!((r.by_tenth[0], r.by_tenth[2], r.by_tenth[9]), (1, 1, 1));
        assert_eq!(r.answer_vs_error.correct_with_error, 1, "c: answer right, human finds an error");
        assert_eq!(r.by_category, [("uncategorised".to_string(), 3)]);
    }

    #[test]
    fn pace_counts_traces_and_skips_breaks() {
        let ev = |trace: &str, ts: &str, set: bool, blind: bool| {
            let at = crate::trace::store::ts_seconds(ts);
            (0, LabelEvent { trace: trace.into(), annotator: "ana".into(), at, set, blind })
        };
        let events = [
            ev("a", "2026-01-01T10:00:00Z", true, true),
            ev("a", "2026-01-01T10:00:05Z", false, true), // a category on a: 5 s more for a
            ev("b", "2026-01-01T10:00:20Z", true, true),
            ev("a", "2026-01-01T10:01:00Z", true, false), // a labelled again: not a new trace
            ev("c", "2026-01-01T11:00:00Z", true, false), // after a break: not timed
            ev("d", "2026-01-01T11:00:30Z", true, false),
            (1, ev("d", "2026-01-01T11:00:40Z", true, false).1), // d of another file
        ];
        let p = &pace(&events)[0];
        assert_eq!((p.traces, p.changes, p.blind), (5, 1, 2));
        // a: 5 + 40, b: 15, d: 30, d of file 1: 10.
        assert_eq!(p.timed, 4);
        assert_eq!(p.median_seconds, Some((15.0 + 30.0) / 2.0));
        assert_eq!(p.per_hour, Some(4.0 * 3600.0 / 100.0));
    }

    #[test]
    fn sample_is_reproducible_and_queue_puts_disagreement_first() {
        let a = sample(400, 20, 7);
        assert_eq!(a, sample(400, 20, 7));
        assert_ne!(a, sample(400, 20, 8));
        assert_eq!(a.len(), 20);
        assert!(a.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(sample(3, 10, 1), [0, 1, 2]);
        let firsts = [(vec![Some(1), Some(1)], 5), (vec![Some(0), None], 5), (vec![Some(1), Some(3)], 5)];
        assert_eq!(disagreement_order(&firsts), [1, 2, 0]);
    }
}
