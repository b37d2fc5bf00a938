//! DeltaBench rows (github.com/OpenStellarTeam/DeltaBench): a long chain of thought split into
//! sections (`sections_content`, or `section_content`: `section1:` … `section2:` …), each
//! section one step. `reason_error_section_numbers` (1-based) gives the dataset label: the
//! first erroneous section; `reason_unuseful_section_numbers` and the other fields are kept as
//! they are. `question` is the problem, `answer` (when a string) the reference answer.

use regex::Regex;
use serde_json::{Map, Value};

use super::{kind, take_id, take_opt_str, take_str, FieldError, RecordContext};
use crate::trace::model::{Label, Step, Trace};
use crate::trace::segment::Segmentation;

pub fn looks_like(o: &Map<String, Value>) -> bool {
    o.contains_key("question") && (o.contains_key("sections_content") || o.contains_key("section_content"))
}

/// Each `sectionN:` header's number and the section's text after it (trimmed, spans into `text`).
fn sections(text: &str) -> Vec<(u64, Step)> {
    static HEADER: std::sync::OnceLock<Regex> = std::sync::OnceLock::new();
    let re = HEADER.get_or_init(|| Regex::new(r"(?mi)^[ \t]*section[ \t]*(\d+)[ \t]*:").unwrap());
    let heads: Vec<(u64, usize, usize)> =
        re.captures_iter(text).filter_map(|c| Some((c[1].parse().ok()?, c.get(0)?.start(), c.get(0)?.end()))).collect();
    let mut out = Vec::new();
    for (i, &(number, _, body)) in heads.iter().enumerate() {
        let end = heads.get(i + 1).map_or(text.len(), |h| h.1);
        let piece = &text[body..end];
        let lead = piece.len() - piece.trim_start().len();
        let trimmed = piece.trim();
        let start = body + lead;
        out.push((number, Step { text: trimmed.to_string(), start, end: start + trimmed.len() }));
    }
    out
}

/// A list of section numbers (absent or null: none), each one a section the row has.
fn section_numbers(o: &Map<String, Value>, key: &str, known: &[u64]) -> Result<Vec<u64>, FieldError> {
    let items = match o.get(key) {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(other) => {
            return Err(FieldError::field(key, format!("expected a list of section numbers, found {}", kind(other))))
        }
    };
    items
        .iter()
        .enumerate()
        .map(|(i, v)| match v.as_u64() {
            Some(n) if known.contains(&n) => Ok(n),
            Some(n) => Err(FieldError::field(
                &format!("{key}[{i}]"),
                format!("section {n} is not in the row (it has {})", range(known)),
            )),
            None => {
                Err(FieldError::field(&format!("{key}[{i}]"), format!("expected a section number, found {}", kind(v))))
            }
        })
        .collect()
}

fn range(known: &[u64]) -> String {
    match (known.iter().min(), known.iter().max()) {
        (Some(a), Some(b)) => format!("sections {a}–{b}"),
        _ => "no sections".into(),
    }
}

pub fn read(mut o: Map<String, Value>, ctx: &RecordContext) -> Result<Trace, FieldError> {
    let id = take_id(&mut o)?.unwrap_or_else(|| format!("{}-{}", ctx.file_stem(), ctx.index));
    let problem = take_str(&mut o, "question")?;
    let key = if o.contains_key("sections_content") { "sections_content" } else { "section_content" };
    let solution = take_str(&mut o, key)?;
    let found = sections(&solution);
    if found.is_empty() {
        return Err(FieldError::field(key, "no `section1:` headers: cannot tell where sections start"));
    }
    let numbers: Vec<u64> = found.iter().map(|(n, _)| *n).collect();
    let errors = section_numbers(&o, "reason_error_section_numbers", &numbers)?;
    section_numbers(&o, "reason_unuseful_section_numbers", &numbers)?;
    // The first erroneous section, as the index of its step; none listed: no error.
    let label = match errors.iter().min() {
        Some(first) => numbers.iter().position(|n| n == first).map(Label::FirstError),
        None if o.contains_key("reason_error_section_numbers") => Some(Label::NoError),
        None => None,
    };
    let reference_answer = match o.get("answer") {
        Some(Value::String(_)) => take_opt_str(&mut o, "answer")?,
        _ => None,
    };
    Ok(Trace {
        id,
        problem,
        steps: found.into_iter().map(|(_, s)| s).collect(),
        solution,
        segmentation: Segmentation::Given,
        label,
        reference_answer,
        extra: o,
        ..Trace::default()
    })
}
