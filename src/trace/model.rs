//! The trace data model shared by every format, the store and the TUI.

use serde_json::{Map, Value};

use super::segment::Segmentation;
pub use super::segment::Step;

/// A dataset or human verdict about where a trace first goes wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Label {
    /// 0-based index of the earliest erroneous step.
    FirstError(usize),
    /// Every step is correct.
    NoError,
}

impl Label {
    /// ProcessBench encoding: step index, or -1 for "no error".
    pub fn to_index(self) -> i64 {
        match self {
            Label::FirstError(k) => k as i64,
            Label::NoError => -1,
        }
    }

    pub fn first_error(self) -> Option<usize> {
        match self {
            Label::FirstError(k) => Some(k),
            Label::NoError => None,
        }
    }

    /// Short text for tables: the step number (0-based, as in the data) or "-1".
    pub fn short(self) -> String {
        self.to_index().to_string()
    }
}

/// One alternative token with its log-probability.
#[derive(Debug, Clone, PartialEq)]
pub struct TopToken {
    pub token: String,
    pub logprob: f64,
}

/// Per-token generation data, stored so instability can be computed without the model.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenInfo {
    pub token: String,
    pub logprob: f64,
    /// Byte offset of the token's first byte in the solution text.
    pub offset: usize,
    pub top: Vec<TopToken>,
}

/// One turn of the conversation a trace was generated from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatTurn {
    pub role: String,
    pub content: String,
}

/// What teacher-forcing needs to replay a generation exactly: the conversation it answered and
/// the token ids the model produced. Stored by `generate` under the keys `chat` and `token_ids`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Replay {
    /// Empty: the problem is replayed as one user turn.
    pub chat: Vec<ChatTurn>,
    /// Empty: the solution is tokenized again.
    pub token_ids: Vec<u32>,
}

/// Where an exported label's category and note go in every format (kept as extra keys, so they
/// read back from each).
pub const CATEGORY_KEY: &str = "error_category";
pub const NOTE_KEY: &str = "error_note";
/// An annotator's per-step ratings (−1, 0, +1 or null per step), PRM800K style.
pub const RATINGS_KEY: &str = "step_ratings";

/// A problem with an ordered list of reasoning steps, plus whatever the source knew about it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Trace {
    pub id: String,
    pub problem: String,
    /// The solution text the step spans point into.
    pub solution: String,
    pub steps: Vec<Step>,
    /// How many of the first steps are the model's thinking (a reasoning model's `<think>`
    /// block or reasoning field); the steps after them are its answer.
    pub thinking_steps: usize,
    pub segmentation: Segmentation,
    pub final_answer: Option<String>,
    pub reference_answer: Option<String>,
    /// What the source says about final-answer correctness (computed from the answers when absent).
    pub final_answer_correct: Option<bool>,
    pub generator: Option<String>,
    /// The dataset's first-error label, when the source has one.
    pub label: Option<Label>,
    pub tokens: Option<Vec<TokenInfo>>,
    /// The prompt and token ids of a generated trace.
    pub replay: Option<Replay>,
    /// Why the generation that wrote a generated or refined trace stopped (`Eos`, `MaxTokens`,
    /// `Answer`, `Stop`, `Cancelled`): the native key `stop_reason`.
    pub stop_reason: Option<String>,
    /// Where a refined trace came from (`refinement`).
    pub refinement: Option<super::provenance::Provenance>,
    /// Fields this version does not understand; written back unchanged by the native writer.
    pub extra: Map<String, Value>,
}

impl Trace {
    /// Builds a trace whose solution is the given steps joined by `"\n\n"`.
    pub fn from_step_texts<S: AsRef<str>>(id: &str, problem: &str, steps: &[S]) -> Trace {
        let (solution, steps) = join_steps(steps, "\n\n");
        Trace {
            id: id.to_string(),
            problem: problem.to_string(),
            solution,
            steps,
            segmentation: Segmentation::Given,
            ..Trace::default()
        }
    }

    /// The answer part of the solution: after the thinking (all of it when there is none;
    /// empty when the trace stopped while thinking).
    pub fn answer_text(&self) -> &str {
        match self.thinking_steps {
            0 => &self.solution,
            n => self.steps.get(n).and_then(|s| self.solution.get(s.start..)).unwrap_or(""),
        }
    }

    /// The final answer when the source gave none, read from the answer part (never from the
    /// thinking): the last `\boxed{…}`, else the last `#### X`, `A: X` or "the answer is X".
    pub fn read_final_answer(&mut self) {
        if self.final_answer.is_none() {
            self.final_answer = super::answer::extract_marked(self.answer_text());
        }
    }

    pub fn step_texts(&self) -> Vec<&str> {
        self.steps.iter().map(|s| s.text.as_str()).collect()
    }

    /// Correctness of the final answer: the source's word, else a comparison of the answers.
    pub fn answer_correct(&self) -> Option<bool> {
        if self.final_answer_correct.is_some() {
            return self.final_answer_correct;
        }
        let (final_answer, reference) = (self.final_answer.as_ref()?, self.reference_answer.as_ref()?);
        Some(super::answer::same_answer(final_answer, reference))
    }

    /// The error category that came with the label (an exported human label's `error_category`).
    pub fn label_category(&self) -> Option<&str> {
        self.extra.get(CATEGORY_KEY)?.as_str()
    }

    /// The annotator's note that came with the label (`error_note`).
    pub fn label_note(&self) -> Option<&str> {
        self.extra.get(NOTE_KEY)?.as_str()
    }

    /// Per-step human ratings that came with the trace (`step_ratings`), if any.
    pub fn step_ratings(&self) -> Option<Vec<Option<i64>>> {
        let row = self.extra.get(RATINGS_KEY)?.as_array()?;
        Some(row.iter().map(|v| v.as_i64().filter(|r| (-1..=1).contains(r))).collect())
    }

    /// Checks the invariants every reader must establish; returns `(field, message)` on failure.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.id.trim().is_empty() {
            return Err(("id", "empty (every trace needs an id to be labelled)".to_string()));
        }
        if self.steps.is_empty() {
            return Err(("steps", "no steps".to_string()));
        }
        if self.thinking_steps > self.steps.len() {
            let n = self.steps.len();
            return Err(("thinking_steps", format!("{} is more than the {n} steps", self.thinking_steps)));
        }
        if let Some(Label::FirstError(k)) = self.label {
            if k >= self.steps.len() {
                return Err(("label", format!("{k} is out of range (-1 or 0..={})", self.steps.len() - 1)));
            }
        }
        for (i, s) in self.steps.iter().enumerate() {
            if s.start > s.end || s.end > self.solution.len() {
                return Err(("steps", format!("step {i} span {}..{} is outside the solution", s.start, s.end)));
            }
            if !self.solution.is_char_boundary(s.start) || !self.solution.is_char_boundary(s.end) {
                return Err(("steps", format!("step {i} span {}..{} cuts a character in two", s.start, s.end)));
            }
        }
        Ok(())
    }
}

/// Joins step texts with `sep`, returning the solution and the steps with their spans.
pub fn join_steps<S: AsRef<str>>(texts: &[S], sep: &str) -> (String, Vec<Step>) {
    let mut solution = String::new();
    let mut steps = Vec::with_capacity(texts.len());
    for (i, t) in texts.iter().enumerate() {
        if i > 0 {
            solution.push_str(sep);
        }
        let start = solution.len();
        solution.push_str(t.as_ref());
        steps.push(Step { text: t.as_ref().to_string(), start, end: solution.len() });
    }
    (solution, steps)
}

/// Converts a ProcessBench-style integer label (-1 = no error) into a [`Label`].
pub fn label_from_index(index: i64) -> Result<Label, String> {
    match index {
        -1 => Ok(Label::NoError),
        k if k >= 0 => Ok(Label::FirstError(k as usize)),
        k => Err(format!("{k} is out of range (-1 means no error, 0.. a step index)")),
    }
}
