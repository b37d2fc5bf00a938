//! The journal's record types and their JSON form. Every record is one JSON line, typed (`kind`)
//! and versioned (`v`); a field of the wrong type is named with the type it has.

use serde_json::{json, Map, Value};

use crate::signals::steps::{AnswerEntropy, Instability};
use crate::trace::formats::kind;
use crate::trace::model::{label_from_index, Label};

/// Journal record schema version written (and fully understood) by this build.
pub const RECORD_VERSION: u64 = 1;

/// How a label record came about; undo/redo records restore a value from the history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
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

    fn parse(s: &str) -> Option<Op> {
        match s {
            "set" => Some(Op::Set),
            "undo" => Some(Op::Undo),
            "redo" => Some(Op::Redo),
            _ => None,
        }
    }
}

/// One human label change. `value == None` means the annotator cleared their label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelRecord {
    pub trace: String,
    pub annotator: String,
    pub value: Option<Label>,
    pub op: Op,
    pub ts: String,
}

impl LabelRecord {
    pub fn to_json(&self) -> Value {
        json!({
            "v": RECORD_VERSION,
            "kind": "label",
            "trace": self.trace,
            "annotator": self.annotator,
            "value": self.value.map(Label::to_index),
            "op": self.op.name(),
            "ts": self.ts,
        })
    }

    fn from_json(o: &Map<String, Value>) -> Result<LabelRecord, String> {
        let value = match o.get("value") {
            None | Some(Value::Null) => None,
            Some(x) => {
                let k = x.as_i64().ok_or_else(|| format!("`value` is {}, expected an integer", kind(x)))?;
                Some(label_from_index(k).map_err(|e| format!("`value` {e}"))?)
            }
        };
        let op = match opt_str(o, "op")? {
            None => Op::Set,
            Some(s) => Op::parse(&s).ok_or_else(|| format!("`op` is '{s}', expected set, undo or redo"))?,
        };
        Ok(LabelRecord {
            trace: need_str(o, "trace")?,
            annotator: need_str(o, "annotator")?,
            value,
            op,
            ts: need_str(o, "ts")?,
        })
    }
}

/// One verifier run on one trace: scores, details, first error and provenance. The latest record
/// per (trace, spec) is the current result.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifyRecord {
    pub trace: String,
    pub spec: String,
    pub model: Option<String>,
    pub model_hash: Option<String>,
    pub threshold: f64,
    pub segmentation: String,
    pub scores: Vec<Option<f64>>,
    pub details: Vec<String>,
    pub first_error: Option<usize>,
    /// Why some steps were left unscored (the input did not fit the model), if they were.
    pub truncated: Option<String>,
    pub forward_passes: usize,
    pub seconds: f64,
    pub ts: String,
}

impl VerifyRecord {
    pub fn to_json(&self) -> Value {
        json!({
            "v": RECORD_VERSION,
            "kind": "verify",
            "trace": self.trace,
            "spec": self.spec,
            "model": self.model,
            "model_hash": self.model_hash,
            "threshold": self.threshold,
            "segmentation": self.segmentation,
            "scores": self.scores,
            "details": self.details,
            "first_error": self.first_error,
            "truncated": self.truncated,
            "forward_passes": self.forward_passes,
            "seconds": self.seconds,
            "ts": self.ts,
        })
    }

    fn from_json(o: &Map<String, Value>) -> Result<VerifyRecord, String> {
        let scores = match o.get("scores") {
            Some(Value::Array(a)) => a
                .iter()
                .enumerate()
                .map(|(i, x)| match x {
                    Value::Null => Ok(None),
                    x => x.as_f64().map(Some).ok_or_else(|| format!("`scores[{i}]` is {}, expected a number", kind(x))),
                })
                .collect::<Result<Vec<_>, _>>()?,
            Some(x) => return Err(format!("`scores` is {}, expected an array", kind(x))),
            None => return Err("missing `scores`".into()),
        };
        let details = match o.get("details") {
            Some(Value::Array(a)) => a.iter().map(|d| d.as_str().unwrap_or_default().to_string()).collect(),
            _ => vec![String::new(); scores.len()],
        };
        let threshold = match o.get("threshold") {
            Some(x) => x.as_f64().ok_or_else(|| format!("`threshold` is {}, expected a number", kind(x)))?,
            None => return Err("missing `threshold`".into()),
        };
        Ok(VerifyRecord {
            trace: need_str(o, "trace")?,
            spec: need_str(o, "spec")?,
            model: opt_str(o, "model")?,
            model_hash: opt_str(o, "model_hash")?,
            threshold,
            segmentation: opt_str(o, "segmentation")?.unwrap_or_default(),
            first_error: o.get("first_error").and_then(Value::as_u64).map(|n| n as usize),
            scores,
            details,
            truncated: opt_str(o, "truncated")?,
            forward_passes: o.get("forward_passes").and_then(Value::as_u64).unwrap_or(0) as usize,
            seconds: o.get("seconds").and_then(Value::as_f64).unwrap_or(0.0),
            ts: opt_str(o, "ts")?.unwrap_or_default(),
        })
    }
}

/// Per-step signals of one trace (instability, answer entropy) and where they came from. The
/// latest record per (trace, signal) is current.
#[derive(Debug, Clone, PartialEq)]
pub struct SignalRecord {
    pub trace: String,
    pub signal: String,
    pub source: String,
    pub data: SignalData,
    pub ts: String,
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

impl SignalRecord {
    pub fn to_json(&self) -> Value {
        json!({
            "v": RECORD_VERSION,
            "kind": "signal",
            "trace": self.trace,
            "signal": self.signal,
            "source": self.source,
            "data": self.data.to_json(),
            "ts": self.ts,
        })
    }

    fn from_json(o: &Map<String, Value>) -> Result<SignalRecord, String> {
        let signal = need_str(o, "signal")?;
        let data = o.get("data").cloned().ok_or("missing `data`")?;
        Ok(SignalRecord {
            trace: need_str(o, "trace")?,
            data: SignalData::read(&signal, data),
            signal,
            source: need_str(o, "source")?,
            ts: opt_str(o, "ts")?.unwrap_or_default(),
        })
    }
}

/// What one journal line holds.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    Label(LabelRecord),
    Verify(VerifyRecord),
    Signal(SignalRecord),
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
        "label" => LabelRecord::from_json(&o).map(Record::Label).map_err(|e| format!("label record: {e}")),
        "verify" => VerifyRecord::from_json(&o).map(Record::Verify).map_err(|e| format!("verifier record: {e}")),
        "signal" => SignalRecord::from_json(&o).map(Record::Signal).map_err(|e| format!("signal record: {e}")),
        _ => Ok(Record::Other),
    }
}

fn need_str(o: &Map<String, Value>, key: &str) -> Result<String, String> {
    opt_str(o, key)?.ok_or_else(|| format!("missing `{key}`"))
}

fn opt_str(o: &Map<String, Value>, key: &str) -> Result<Option<String>, String> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(x) => Err(format!("`{key}` is {}, expected a string", kind(x))),
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
}
