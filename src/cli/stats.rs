//! `stepscope stats`: counts per file set, streaming so a 1 GB file stays small in memory.

use std::path::PathBuf;

use clap::Args;
use serde::Serialize;

use super::{InputArgs, EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE};
use std::collections::HashMap;

use crate::trace::source::DuplicateIds;
use crate::trace::{Label, Problem, Trace};

#[derive(Args, Debug)]
pub struct StatsArgs {
    /// Trace files.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    #[command(flatten)]
    pub input: InputArgs,
    /// Count only this annotator's human labels (default: the latest label of anyone).
    #[arg(long)]
    pub annotator: Option<String>,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
    /// Exit with status 1 when any record has a problem.
    #[arg(long)]
    pub strict: bool,
}

#[derive(Serialize, Default, Debug)]
pub struct LabelCounts {
    pub first_error: usize,
    pub no_error: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub none: Option<usize>,
}

#[derive(Serialize, Default, Debug)]
pub struct AnswerCounts {
    pub correct: usize,
    pub wrong: usize,
    pub unknown: usize,
}

#[derive(Serialize, Debug)]
pub struct ProblemRow {
    pub file: String,
    pub line: usize,
    pub message: String,
}

impl From<&Problem> for ProblemRow {
    fn from(p: &Problem) -> ProblemRow {
        let message = match &p.field {
            Some(f) => format!("field `{f}`: {}", p.message),
            None => p.message.clone(),
        };
        ProblemRow { file: p.file.display().to_string(), line: p.line, message }
    }
}

#[derive(Serialize, Debug)]
pub struct Stats {
    pub traces: usize,
    pub steps: usize,
    /// Steps that are a reasoning model's thinking, and the traces that have some.
    pub thinking_steps: usize,
    pub traces_with_thinking: usize,
    pub dataset_labels: LabelCounts,
    pub human_labels: LabelCounts,
    pub final_answer: AnswerCounts,
    pub reference_answers: usize,
    /// Per annotator: labels, labels per hour and median seconds per trace (from the journals).
    pub annotators: Vec<crate::service::campaign::Pace>,
    pub problems: Vec<ProblemRow>,
}

impl Default for Stats {
    fn default() -> Stats {
        Stats {
            traces: 0,
            steps: 0,
            thinking_steps: 0,
            traces_with_thinking: 0,
            dataset_labels: LabelCounts { none: Some(0), ..Default::default() },
            human_labels: LabelCounts::default(),
            final_answer: AnswerCounts::default(),
            reference_answers: 0,
            annotators: Vec::new(),
            problems: Vec::new(),
        }
    }
}

impl Stats {
    fn add(&mut self, t: &Trace, human: Option<Label>) {
        self.traces += 1;
        self.steps += t.steps.len();
        self.thinking_steps += t.thinking_steps;
        self.traces_with_thinking += usize::from(t.thinking_steps > 0);
        match t.label {
            Some(Label::FirstError(_)) => self.dataset_labels.first_error += 1,
            Some(Label::NoError) => self.dataset_labels.no_error += 1,
            None => *self.dataset_labels.none.get_or_insert(0) += 1,
        }
        match human {
            Some(Label::FirstError(_)) => self.human_labels.first_error += 1,
            Some(Label::NoError) => self.human_labels.no_error += 1,
            None => {}
        }
        match t.answer_correct() {
            Some(true) => self.final_answer.correct += 1,
            Some(false) => self.final_answer.wrong += 1,
            None => self.final_answer.unknown += 1,
        }
        self.reference_answers += usize::from(t.reference_answer.is_some());
    }

    fn print_text(&self) {
        let d = &self.dataset_labels;
        let h = &self.human_labels;
        let a = &self.final_answer;
        crate::outln!("traces            {}", self.traces);
        crate::outln!("steps             {}", self.steps);
        if self.traces_with_thinking > 0 {
            crate::outln!("thinking          {} steps in {} traces", self.thinking_steps, self.traces_with_thinking);
        }
        crate::outln!(
            "dataset labels    first error {} · no error {} · none {}",
            d.first_error,
            d.no_error,
            d.none.unwrap_or(0)
        );
        crate::outln!("human labels      first error {} · no error {}", h.first_error, h.no_error);
        crate::outln!("final answer      correct {} · wrong {} · unknown {}", a.correct, a.wrong, a.unknown);
        crate::outln!("reference answers {}", self.reference_answers);
        for p in &self.annotators {
            crate::outln!("annotator {:<8} {}", crate::cli::output::field(&p.annotator), p.summary());
        }
        crate::outln!("problems          {}", self.problems.len());
    }
}

pub fn run(args: StatsArgs) -> i32 {
    let mut stats = Stats::default();
    let mut unreadable = false;
    let mut events = Vec::new();
    for (file_index, path) in args.paths.iter().enumerate() {
        let file = match args.input.open(path) {
            Ok(f) => f,
            Err(e) => {
                crate::errln!("error: {e}");
                stats.problems.push(ProblemRow { file: path.display().to_string(), line: 0, message: e.message });
                unreadable = true;
                continue;
            }
        };
        let store = match args.input.store_quiet(path) {
            Ok(s) => s,
            Err(e) => {
                crate::errln!("error: {e}");
                stats.problems.push(ProblemRow { file: path.display().to_string(), line: 0, message: e });
                unreadable = true;
                continue;
            }
        };
        let mut problems = file.index_problems.clone();
        let mut ids = DuplicateIds::default();
        // Step counts by id, only needed to check stored labels against the traces.
        let mut steps_by_id: HashMap<String, usize> = HashMap::new();
        let has_labels = store.labelled_traces(None) > 0;
        events.extend(store.label_events().iter().map(|e| (file_index, e.clone())));
        for (i, record) in file.records().enumerate() {
            match record {
                Ok(traces) => {
                    for t in &traces {
                        problems.extend(ids.check(&file.path, &t.id, file.record_line(i)));
                        stats.add(t, store.human_label(&t.id, args.annotator.as_deref()));
                        if has_labels {
                            steps_by_id.insert(t.id.clone(), t.steps.len());
                        }
                    }
                }
                Err(p) => problems.push(p),
            }
        }
        for p in &problems {
            crate::errln!("{p}");
        }
        stats.problems.extend(problems.iter().map(ProblemRow::from));
        let mut journal = store.warnings.clone();
        journal.extend(store.check_labels(path, |id| steps_by_id.get(id).copied()));
        for w in journal {
            crate::errln!("{w}");
            stats.problems.push(ProblemRow { file: w.file.display().to_string(), line: w.line, message: w.message });
        }
    }
    stats.annotators = crate::service::campaign::pace(&events);
    if let Some(a) = &args.annotator {
        stats.annotators.retain(|p| &p.annotator == a);
    }
    if args.json {
        crate::outln!("{}", serde_json::to_string_pretty(&stats).expect("stats serialise"));
    } else {
        stats.print_text();
    }
    if unreadable {
        EXIT_USAGE
    } else if args.strict && !stats.problems.is_empty() {
        EXIT_PROBLEMS
    } else {
        EXIT_OK
    }
}
