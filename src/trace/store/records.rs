//! The journal's record types and their JSON form. Every record is one JSON line, typed (`kind`)
//! and versioned (`v`); a field of the wrong type is named with the type it has.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::signals::steps::{AnswerEntropy, Instability};
use crate::trace::formats::kind;
use crate::trace::model::Label;

/// Journal record schema version written (and fully understood) by this build.
pub const RECORD_VERSION: u64 = 1;

/// How a label record came about; undo/redo records restore a value from the history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    #[default]
    Set,
    Undo,
    Redo,
}

impl Op {
    pub fn name(self) -> &'static str {
        match self {
            Op::Set => "set",
            Op::Undo => "undo",
            Op::Redo => "redo",
        }
    }
}

/// One human label change. `value == None` means the annotator cleared their label.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelRecord {
    pub trace: String,
    pub annotator: String,
    /// ProcessBench encoding on disk: the step index, −1 for no error, null for cleared.
    #[serde(default, with = "label_index")]
    pub value: Option<Label>,
    #[serde(default, deserialize_with = "op_or_set")]
    pub op: Op,
    pub ts: String,
    /// Made in blind mode (hints hidden until the label was given).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub blind: bool,
    /// The kind of error (calculation, misread problem, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// The annotator's free note.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Where the model realises the error (a later step that notices it), if it does.
    #[serde(default, rename = "realisation_step", skip_serializing_if = "Option::is_none")]
    pub realised: Option<usize>,
    /// Whether the model recovers from the error (reaches a right answer after all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovered: Option<bool>,
}

impl LabelRecord {
    pub fn new(trace: &str, annotator: &str, value: Option<Label>, op: Op, ts: String, detail: Detail) -> LabelRecord {
        LabelRecord {
            trace: trace.into(),
            annotator: annotator.into(),
            value,
            op,
            ts,
            blind: detail.blind,
            category: detail.category,
            note: detail.note,
            realised: detail.realised,
            recovered: detail.recovered,
        }
    }

    /// What the label says beyond its step.
    pub fn detail(&self) -> Detail {
        Detail {
            blind: self.blind,
            category: self.category.clone(),
            note: self.note.clone(),
            realised: self.realised,
            recovered: self.recovered,
        }
    }
}

/// What a label says beyond its step: whether it was made blind, what kind of error, a note,
/// and for self-correction where the model realises the error and whether it recovers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Detail {
    pub blind: bool,
    pub category: Option<String>,
    pub note: Option<String>,
    pub realised: Option<usize>,
    pub recovered: Option<bool>,
}

/// An adjudicated (gold) first error for a trace: who decided it, why, and the annotators'
/// labels it settled. `value == None` clears the gold label. The latest record per trace is
/// current.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GoldRecord {
    pub trace: String,
    /// ProcessBench encoding, as for labels: the step index, −1 for no error, null for cleared.
    #[serde(default, with = "label_index")]
    pub value: Option<Label>,
    /// Who decided.
    pub by: String,
    /// Why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Each annotator's label (ProcessBench index) when the gold label was decided.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub labels: std::collections::BTreeMap<String, i64>,
    pub ts: String,
}

/// One annotator's PRM800K-style rating of one step: +1 good, 0 neutral, −1 bad, null cleared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RatingRecord {
    pub trace: String,
    pub annotator: String,
    pub step: usize,
    #[serde(default, deserialize_with = "rating_value")]
    pub rating: Option<i8>,
    pub ts: String,
}

/// A rating is −1, 0, +1 or null.
fn rating_value<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i8>, D::Error> {
    match Option::<i64>::deserialize(d)? {
        None => Ok(None),
        Some(r @ -1..=1) => Ok(Some(r as i8)),
        Some(r) => Err(serde::de::Error::custom(format!("is {r}, expected -1, 0, 1 or null"))),
    }
}

/// One verifier run on one trace: scores, details, first error and provenance. The latest record
/// per (trace, spec) is the current result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerifyRecord {
    pub trace: String,
    pub spec: String,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub model_hash: Option<String>,
    pub threshold: f64,
    #[serde(default)]
    pub segmentation: String,
    pub scores: Vec<Option<f64>>,
    #[serde(default)]
    pub details: Vec<String>,
    #[serde(default)]
    pub first_error: Option<usize>,
    /// Why some steps were left unscored (the input did not fit the model), if they were.
    #[serde(default)]
    pub truncated: Option<String>,
    #[serde(default)]
    pub forward_passes: usize,
    #[serde(default)]
    pub seconds: f64,
    #[serde(default)]
    pub ts: String,
}

/// Per-step signals of one trace (instability, answer entropy) and where they came from. The
/// latest record per (trace, signal) is current.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "RawSignal", into = "RawSignal")]
pub struct SignalRecord {
    pub trace: String,
    pub signal: String,
    pub source: String,
    pub data: SignalData,
    pub ts: String,
}

/// A signal record as it is on disk: `data` is read by the signal's name.
#[derive(Serialize, Deserialize)]
struct RawSignal {
    trace: String,
    signal: String,
    source: String,
    data: Value,
    #[serde(default)]
    ts: String,
}

impl From<RawSignal> for SignalRecord {
    fn from(r: RawSignal) -> SignalRecord {
        let data = SignalData::read(&r.signal, r.data);
        SignalRecord { trace: r.trace, signal: r.signal, source: r.source, data, ts: r.ts }
    }
}

impl From<SignalRecord> for RawSignal {
    fn from(r: SignalRecord) -> RawSignal {
        RawSignal { data: r.data.to_json(), trace: r.trace, signal: r.signal, source: r.source, ts: r.ts }
    }
}

/// A signal's data: typed for the signals this build computes, kept as JSON otherwise (a newer
/// signal, or one whose data this build cannot read), so compaction writes it back unchanged.
#[derive(Debug, Clone, PartialEq)]
pub enum SignalData {
    Instability(Instability),
    AnswerEntropy(AnswerEntropy),
    Other(Value),
}

impl From<Instability> for SignalData {
    fn from(v: Instability) -> SignalData {
        SignalData::Instability(v)
    }
}

impl From<AnswerEntropy> for SignalData {
    fn from(v: AnswerEntropy) -> SignalData {
        SignalData::AnswerEntropy(v)
    }
}

impl SignalData {
    /// Reads the data of the signal `name`.
    pub fn read(name: &str, data: Value) -> SignalData {
        let typed = match name {
            "instability" => serde_json::from_value(data.clone()).map(SignalData::Instability).ok(),
            "answer-entropy" => serde_json::from_value(data.clone()).map(SignalData::AnswerEntropy).ok(),
            _ => None,
        };
        typed.unwrap_or(SignalData::Other(data))
    }

    pub fn to_json(&self) -> Value {
        let typed = match self {
            SignalData::Instability(v) => serde_json::to_value(v),
            SignalData::AnswerEntropy(v) => serde_json::to_value(v),
            SignalData::Other(v) => return v.clone(),
        };
        typed.unwrap_or(Value::Null)
    }
}

impl SignalRecord {
    pub fn instability(&self) -> Option<&Instability> {
        match &self.data {
            SignalData::Instability(v) => Some(v),
            _ => None,
        }
    }

    pub fn answer_entropy(&self) -> Option<&AnswerEntropy> {
        match &self.data {
            SignalData::AnswerEntropy(v) => Some(v),
            _ => None,
        }
    }
}

/// A record with its version and kind in front: the journal line.
#[derive(Serialize)]
struct Line<'a, T: Serialize> {
    v: u64,
    kind: &'a str,
    #[serde(flatten)]
    record: &'a T,
}

fn line<T: Serialize>(kind: &str, record: &T) -> Value {
    serde_json::to_value(Line { v: RECORD_VERSION, kind, record }).expect("records serialize to JSON")
}

impl LabelRecord {
    pub fn to_json(&self) -> Value {
        line("label", self)
    }
}

impl GoldRecord {
    pub fn to_json(&self) -> Value {
        line("gold", self)
    }
}

impl RatingRecord {
    pub fn to_json(&self) -> Value {
        line("rating", self)
    }
}

impl VerifyRecord {
    pub fn to_json(&self) -> Value {
        line("verify", self)
    }
}

impl SignalRecord {
    pub fn to_json(&self) -> Value {
        line("signal", self)
    }
}

/// `Option<Label>` as its ProcessBench index (or null).
mod label_index {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::trace::model::{label_from_index, Label};

    pub fn serialize<S: Serializer>(v: &Option<Label>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(l) => s.serialize_i64(l.to_index()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Label>, D::Error> {
        match Option::<i64>::deserialize(d)? {
            None => Ok(None),
            Some(k) => label_from_index(k).map(Some).map_err(serde::de::Error::custom),
        }
    }
}

/// `op` names one of set, undo, redo; absent or null means set.
fn op_or_set<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Op, D::Error> {
    match Option::<String>::deserialize(d)?.as_deref() {
        None | Some("set") => Ok(Op::Set),
        Some("undo") => Ok(Op::Undo),
        Some("redo") => Ok(Op::Redo),
        Some(other) => Err(serde::de::Error::custom(format!("is '{other}', expected set, undo or redo"))),
    }
}

/// Reads a record's fields; an error names the field and, for a wrong type, the type it has.
fn read<T: serde::de::DeserializeOwned>(o: Map<String, Value>) -> Result<T, String> {
    let value = Value::Object(o);
    serde_path_to_error::deserialize(&value).map_err(|e| {
        let path = e.path().to_string();
        let message = e.inner().to_string();
        if let Some(field) = message.strip_prefix("missing field `").and_then(|m| m.strip_suffix('`')) {
            return format!("missing `{field}`");
        }
        match message.split_once(", expected ") {
            Some((got, expected)) if got.starts_with("invalid type") => {
                let found = value_at(&value, &path).map_or("something else", kind);
                format!("`{path}` is {found}, expected {}", plain_type(expected))
            }
            _ => format!("`{path}` {message}"),
        }
    })
}

/// The value at a path such as `scores[2]` or `trace`.
fn value_at<'a>(root: &'a Value, path: &str) -> Option<&'a Value> {
    let mut at = root;
    for part in path.split('.') {
        let (key, index) = match part.split_once('[') {
            Some((k, rest)) => (k, rest.trim_end_matches(']').parse::<usize>().ok()),
            None => (part, None),
        };
        at = at.get(key)?;
        if let Some(i) = index {
            at = at.get(i)?;
        }
    }
    Some(at)
}

/// serde's name of an expected type in plain words.
fn plain_type(expected: &str) -> &str {
    match expected {
        "f64" | "f32" => "a number",
        "i64" | "u64" | "usize" | "i32" | "u32" => "an integer",
        "a sequence" => "an array",
        "a map" => "an object",
        other => other,
    }
}

/// What one journal line holds.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    Label(LabelRecord),
    Verify(VerifyRecord),
    Signal(SignalRecord),
    Rating(RatingRecord),
    Gold(GoldRecord),
    /// A current-version record of a kind this build does not handle: kept verbatim.
    Other,
    /// Written by a newer stepscope (`v` above ours): kept verbatim, not applied.
    Newer(u64),
}

impl Record {
    /// The record's time stamp, if it has one.
    pub fn ts(&self) -> Option<&str> {
        match self {
            Record::Label(r) => Some(&r.ts),
            Record::Verify(r) => Some(&r.ts),
            Record::Signal(r) => Some(&r.ts),
            Record::Rating(r) => Some(&r.ts),
            Record::Gold(r) => Some(&r.ts),
            Record::Other | Record::Newer(_) => None,
        }
    }
}

/// Parses one journal line (without its newline); `Err` says why it cannot be read.
pub fn parse_line(line: &[u8]) -> Result<Record, String> {
    let text = std::str::from_utf8(line).map_err(|e| format!("not valid UTF-8 (byte {})", e.valid_up_to() + 1))?;
    let value: Value = serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?;
    let Value::Object(o) = value else { return Err(format!("expected a JSON object, found {}", kind(&value))) };
    let version = match o.get("v") {
        None => return Err("missing `v` (the record version)".into()),
        Some(v) => v.as_u64().filter(|&n| n >= 1).ok_or_else(|| format!("`v` is {v}, expected a version number"))?,
    };
    if version > RECORD_VERSION {
        return Ok(Record::Newer(version));
    }
    let what = match o.get("kind") {
        Some(Value::String(k)) => k.as_str(),
        Some(x) => return Err(format!("`kind` is {}, expected a string", kind(x))),
        None => return Err("missing `kind`".into()),
    };
    match what {
        "label" => read(o).map(Record::Label).map_err(|e| format!("label record: {e}")),
        "verify" => {
            read(o).map(|r: VerifyRecord| Record::Verify(r.with_details())).map_err(|e| format!("verifier record: {e}"))
        }
        "signal" => read(o).map(Record::Signal).map_err(|e| format!("signal record: {e}")),
        "rating" => read(o).map(Record::Rating).map_err(|e| format!("rating record: {e}")),
        "gold" => read(o).map(Record::Gold).map_err(|e| format!("gold record: {e}")),
        _ => Ok(Record::Other),
    }
}

impl VerifyRecord {
    /// One detail per score (older or hand-made records may lack them).
    fn with_details(mut self) -> VerifyRecord {
        self.details.resize(self.scores.len(), String::new());
        self
    }
}

/// Current UTC time as RFC 3339 with milliseconds (journals merge by it).
pub fn now_rfc3339() -> String {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    format_rfc3339(d.as_secs(), d.subsec_millis())
}

pub(crate) fn format_rfc3339(secs: u64, millis: u32) -> String {
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil-from-days (Howard Hinnant's algorithm), valid for dates after 1970.
    let z = days as i64 + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// Seconds since the epoch of an RFC 3339 UTC time stamp, with its fraction.
pub fn ts_seconds(ts: &str) -> Option<f64> {
    ts_key(ts).map(|(s, n)| s as f64 + f64::from(n) / 1e9)
}

/// Sort key of an RFC 3339 UTC time stamp (`…Z`, optional fraction): (days-and-seconds, nanos).
pub(crate) fn ts_key(ts: &str) -> Option<(i64, u32)> {
    let b = ts.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| ts.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let rest = &ts[19..];
    let (frac, zone) = match rest.strip_prefix('.') {
        Some(r) => {
            let digits = r.bytes().take_while(u8::is_ascii_digit).count();
            (&r[..digits], &r[digits..])
        }
        None => ("", rest),
    };
    if zone != "Z" {
        return None;
    }
    let nanos = format!("{frac:0<9}").get(..9)?.parse::<u32>().ok()?;
    // Days from civil (Howard Hinnant), then seconds.
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((days * 86_400 + h * 3600 + mi * 60 + s, nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_known_dates() {
        assert_eq!(format_rfc3339(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_rfc3339(1_795_000_000, 7), "2026-11-18T11:06:40.007Z");
        assert_eq!(format_rfc3339(951_782_400, 999), "2000-02-29T00:00:00.999Z");
        assert_eq!(ts_key("2026-11-18T11:06:40.007Z"), Some((1_795_000_000, 7_000_000)));
        assert_eq!(ts_key("2026-11-18T11:06:40Z"), Some((1_795_000_000, 0)));
        assert_eq!(ts_key("2000-02-29T00:00:00.5Z"), Some((951_782_400, 500_000_000)));
        assert_eq!(ts_key("yesterday"), None);
        assert_eq!(ts_key("2026-11-18T11:06:40+01:00"), None);
    }

    #[test]
    fn wrong_types_are_named() {
        let e = parse_line(br#"{"v":1,"kind":"label","trace":7,"annotator":"a","ts":"x"}"#).unwrap_err();
        assert!(e.contains("`trace` is a number, expected a string"), "{e}");
        let e = parse_line(br#"{"v":1,"kind":"label","trace":"t","annotator":"a","value":"2","ts":"x"}"#).unwrap_err();
        assert!(e.contains("`value` is a string, expected an integer"), "{e}");
        assert_eq!(parse_line(br#"{"v":4,"kind":"label"}"#), Ok(Record::Newer(4)));
        assert!(parse_line(br#"{"kind":"label"}"#).unwrap_err().contains("missing `v`"));
        assert!(parse_line(br#"{"v":0,"kind":"label"}"#).unwrap_err().contains("`v` is 0"));
        assert_eq!(parse_line(br#"{"v":1,"kind":"note"}"#), Ok(Record::Other));
    }

    #[test]
    fn label_detail_and_ratings_read_back() {
        let line = br#"{"v":1,"kind":"label","trace":"t","annotator":"a","value":2,"ts":"x","blind":true,"category":"calculation","note":"n"}"#;
        let Ok(Record::Label(r)) = parse_line(line) else { panic!("not a label") };
        let want =
            Detail { blind: true, category: Some("calculation".into()), note: Some("n".into()), ..Detail::default() };
        assert_eq!(r.detail(), want);
        let marked_line = br#"{"v":1,"kind":"label","trace":"t","annotator":"a","value":2,"ts":"x","realisation_step":5,"recovered":true}"#;
        let Ok(Record::Label(marked)) = parse_line(marked_line) else { panic!("not a label") };
        assert_eq!((marked.detail().realised, marked.detail().recovered), (Some(5), Some(true)));
        assert!(marked.to_json().to_string().contains("\"realisation_step\":5"));
        let back = r.to_json().to_string();
        assert!(back.contains("\"blind\":true") && back.contains("\"note\":\"n\""), "{back}");
        // A plain label writes none of the detail fields.
        let plain = LabelRecord { blind: false, category: None, note: None, ..r };
        assert!(!plain.to_json().to_string().contains("blind"));
        let e = parse_line(br#"{"v":1,"kind":"label","trace":"t","annotator":"a","ts":"x","category":3}"#).unwrap_err();
        assert!(e.contains("`category` is a number, expected a string"), "{e}");
        let e = parse_line(br#"{"v":1,"kind":"rating","trace":"t","annotator":"a","step":0,"rating":5,"ts":"x"}"#)
            .unwrap_err();
        assert!(e.contains("rating") && e.contains("expected -1, 0, 1 or null"), "{e}");
        let ok = parse_line(br#"{"v":1,"kind":"rating","trace":"t","annotator":"a","step":1,"rating":-1,"ts":"x"}"#);
        assert!(matches!(ok, Ok(Record::Rating(RatingRecord { step: 1, rating: Some(-1), .. }))));
    }

    #[test]
    fn gold_records_read_back_and_name_bad_fields() {
        let line = br#"{"v":1,"kind":"gold","trace":"t","value":3,"by":"cy","reason":"step 3 misreads","labels":{"ana":3,"bo":-1},"ts":"x"}"#;
        let Ok(Record::Gold(r)) = parse_line(line) else { panic!("not a gold record") };
        assert_eq!(r.value, Some(Label::FirstError(3)));
        assert_eq!((r.by.as_str(), r.reason.as_deref()), ("cy", Some("step 3 misreads")));
        assert_eq!(r.labels.get("bo"), Some(&-1));
        assert_eq!(parse_line(r.to_json().to_string().as_bytes()), Ok(Record::Gold(r)));
        let e = parse_line(br#"{"v":1,"kind":"gold","trace":"t","value":1,"ts":"x"}"#).unwrap_err();
        assert!(e.contains("gold record: missing `by`"), "{e}");
        let e = parse_line(br#"{"v":1,"kind":"gold","trace":"t","value":-2,"by":"cy","ts":"x"}"#).unwrap_err();
        assert!(e.contains("gold record") && e.contains("value"), "{e}");
    }
}
