//! Readers for the trace formats our users have. Each turns one parsed record into traces.

pub mod anthropic;
pub mod deltabench;
pub mod gsm8k;
pub mod native;
pub mod openai;
pub mod prm800k;
pub mod processbench;
pub mod responses;
pub mod text;
pub mod trl;

use std::path::Path;

use serde_json::{Map, Value};

use super::model::Trace;
use super::segment::Segmentation;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    ProcessBench,
    Gsm8k,
    Gsm8kSolutions,
    Prm800k,
    OpenAi,
    Anthropic,
    Responses,
    DeltaBench,
    Trl,
    Native,
    Text,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::ProcessBench => "processbench",
            Format::Gsm8k => "gsm8k",
            Format::Gsm8kSolutions => "gsm8k-solutions",
            Format::Prm800k => "prm800k",
            Format::OpenAi => "openai",
            Format::Anthropic => "anthropic",
            Format::Responses => "responses",
            Format::DeltaBench => "deltabench",
            Format::Trl => "trl",
            Format::Native => "jsonl",
            Format::Text => "text",
        }
    }

    pub fn all_names() -> Vec<&'static str> {
        Self::ALL.iter().map(|f| f.name()).collect()
    }

    const ALL: [Format; 11] = [
        Format::ProcessBench,
        Format::Gsm8k,
        Format::Gsm8kSolutions,
        Format::Prm800k,
        Format::OpenAi,
        Format::Anthropic,
        Format::Responses,
        Format::DeltaBench,
        Format::Trl,
        Format::Native,
        Format::Text,
    ];

    pub fn parse(s: &str) -> Result<Format, String> {
        let s = if s == "native" { "jsonl" } else { s };
        Self::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| format!("unknown format '{s}' (expected {})", Self::all_names().join(", ")))
    }
}

/// Reader settings that come from the command line.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// Overrides the segmentation of formats that segment text themselves (text, openai, native
    /// records without a step list).
    pub segmentation: Option<Segmentation>,
}

/// Where a record came from, for ids and messages.
pub struct RecordContext<'a> {
    pub index: usize,
    pub line: usize,
    pub file: &'a Path,
    pub options: &'a ReadOptions,
}

impl RecordContext<'_> {
    pub fn file_stem(&self) -> String {
        self.file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "trace".into())
    }
}

/// A record that parsed as JSON but does not make a valid trace.
#[derive(Debug, Clone)]
pub struct FieldError {
    pub field: Option<String>,
    pub message: String,
}

impl FieldError {
    pub fn field(field: &str, message: impl Into<String>) -> FieldError {
        FieldError { field: Some(field.to_string()), message: message.into() }
    }
}

/// Guesses the format of one parsed record.
pub fn detect(v: &Value) -> Option<Format> {
    let o = v.as_object()?;
    let has = |k: &str| o.contains_key(k);
    if has("stepscope") {
        return Some(Format::Native);
    }
    if has("choices") {
        return Some(Format::OpenAi);
    }
    if deltabench::looks_like(o) {
        return Some(Format::DeltaBench);
    }
    if responses::looks_like(o) {
        return Some(Format::Responses);
    }
    if anthropic::looks_like(o) {
        return Some(Format::Anthropic);
    }
    if o.get("question").is_some_and(Value::is_object) || o.get("label").is_some_and(Value::is_object) {
        return Some(Format::Prm800k);
    }
    if has("prompt") && has("completions") && has("labels") {
        return Some(Format::Trl);
    }
    if has("question") && has("answer") {
        return Some(Format::Gsm8k);
    }
    if has("question") && o.values().any(|x| x.get("solution").is_some() && x.get("is_correct").is_some()) {
        return Some(Format::Gsm8kSolutions);
    }
    if has("problem")
        && o.get("steps").and_then(Value::as_array).is_some_and(|s| s.iter().all(Value::is_string))
        && has("label")
    {
        return Some(Format::ProcessBench);
    }
    if has("steps") || has("solution") {
        return Some(Format::Native);
    }
    None
}

/// Turns one record into traces in the given format.
pub fn read(format: Format, v: Value, ctx: &RecordContext) -> Result<Vec<Trace>, FieldError> {
    let Value::Object(o) = v else {
        return Err(FieldError { field: None, message: format!("expected a JSON object, found {}", kind(&v)) });
    };
    match format {
        Format::ProcessBench => processbench::read(o, ctx).map(|t| vec![t]),
        Format::Gsm8k => gsm8k::read_test(o, ctx).map(|t| vec![t]),
        Format::Gsm8kSolutions => gsm8k::read_solutions(o, ctx),
        Format::Prm800k => prm800k::read(o, ctx).map(|t| vec![t]),
        Format::OpenAi => openai::read(o, ctx),
        Format::Anthropic => anthropic::read(o, ctx).map(|t| vec![t]),
        Format::Responses => responses::read(o, ctx).map(|t| vec![t]),
        Format::DeltaBench => deltabench::read(o, ctx).map(|t| vec![t]),
        Format::Trl => trl::read(o, ctx).map(|t| vec![t]),
        Format::Native => native::read(o, ctx).map(|t| vec![t]),
        Format::Text => Err(FieldError { field: None, message: "text records are not JSON".into() }),
    }
}

/// A trace from a reply that came as thinking and answer texts (Anthropic blocks, Responses API
/// items): id from `id` (else the file and the record's place), the thinking segmented apart,
/// `model` as generator, `reference_answer` if given; every other field but `parts` kept.
pub(crate) fn reply_trace(
    o: &Map<String, Value>,
    ctx: &RecordContext,
    parts: &str,
    (thinking, answer): (&str, &str),
    problem: Option<String>,
) -> Result<Trace, FieldError> {
    let id = o
        .get("id")
        .and_then(Value::as_str)
        .map_or_else(|| format!("{}-{}", ctx.file_stem(), ctx.index), str::to_string);
    check_id(Some(&id))?;
    let seg = ctx.options.segmentation.clone().unwrap_or(Segmentation::BlankLine);
    let thinking_seg = super::thinking::thinking_segmentation(ctx.options.segmentation.as_ref());
    let (solution, steps, thinking_steps) = if thinking.trim().is_empty() {
        (answer.to_string(), seg.split(answer), 0)
    } else {
        let (solution, steps, n, _) = super::thinking::join(thinking, answer, &seg, &thinking_seg);
        (solution, steps, n)
    };
    let mut extra = o.clone();
    extra.remove(parts);
    Ok(Trace {
        id,
        problem: problem.unwrap_or_default(),
        solution,
        steps,
        thinking_steps,
        segmentation: seg,
        generator: o.get("model").and_then(Value::as_str).map(str::to_string),
        reference_answer: o.get("reference_answer").and_then(Value::as_str).map(str::to_string),
        extra,
        ..Trace::default()
    })
}

/// Copies a trace's extra keys into a record being written; a key in `reserved` (one the format
/// itself uses, or one that would make the row read as another format) is kept as
/// `source_<key>`, so the written file always reads back.
pub(crate) fn put_extra(o: &mut Map<String, Value>, extra: &Map<String, Value>, reserved: &[&str]) {
    for (k, v) in extra {
        let key = if reserved.contains(&k.as_str()) { format!("source_{k}") } else { k.clone() };
        o.entry(key).or_insert_with(|| v.clone());
    }
}

pub(crate) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Removes and returns a required string field.
pub(crate) fn take_str(o: &mut Map<String, Value>, key: &str) -> Result<String, FieldError> {
    match o.remove(key) {
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(FieldError::field(key, format!("expected a string, found {}", kind(&other)))),
        None => Err(FieldError::field(key, "missing")),
    }
}

/// Removes and returns an optional string field (numbers are accepted and printed).
pub(crate) fn take_opt_str(o: &mut Map<String, Value>, key: &str) -> Result<Option<String>, FieldError> {
    match o.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(other) => Err(FieldError::field(key, format!("expected a string, found {}", kind(&other)))),
    }
}

/// Removes the record's id: a string (a number is read as its text), or `None` when absent (the
/// reader then names the trace after the file and the record's place). An id is shown, stored
/// in journals and typed in searches, so one with control characters (a line break, an escape)
/// is refused.
pub(crate) fn take_id(o: &mut Map<String, Value>) -> Result<Option<String>, FieldError> {
    let id = take_opt_str(o, "id")?;
    check_id(id.as_deref())?;
    Ok(id)
}

pub(crate) fn check_id(id: Option<&str>) -> Result<(), FieldError> {
    match id {
        Some(id) if id.chars().any(char::is_control) => {
            Err(FieldError::field("id", "contains control characters (a line break or an escape)"))
        }
        _ => Ok(()),
    }
}

pub(crate) fn take_opt_bool(o: &mut Map<String, Value>, key: &str) -> Result<Option<bool>, FieldError> {
    match o.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(b)),
        Some(other) => Err(FieldError::field(key, format!("expected true or false, found {}", kind(&other)))),
    }
}

/// Removes an optional ProcessBench-style label (-1 = no error).
pub(crate) fn take_label(o: &mut Map<String, Value>, key: &str) -> Result<Option<super::model::Label>, FieldError> {
    match o.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => {
            let k = n.as_i64().ok_or_else(|| FieldError::field(key, format!("expected an integer, found {n}")))?;
            super::model::label_from_index(k).map(Some).map_err(|m| FieldError::field(key, m))
        }
        Some(other) => Err(FieldError::field(key, format!("expected an integer, found {}", kind(&other)))),
    }
}

/// Removes a required array of strings.
pub(crate) fn take_str_list(o: &mut Map<String, Value>, key: &str) -> Result<Vec<String>, FieldError> {
    match o.remove(key) {
        Some(Value::Array(items)) => items
            .into_iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::String(s) => Ok(s),
                other => {
                    Err(FieldError::field(&format!("{key}[{i}]"), format!("expected a string, found {}", kind(&other))))
                }
            })
            .collect(),
        Some(other) => Err(FieldError::field(key, format!("expected an array of strings, found {}", kind(&other)))),
        None => Err(FieldError::field(key, "missing")),
    }
}
