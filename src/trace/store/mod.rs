//! The durable label store: an append-only JSONL journal beside the trace file.
//!
//! Every record is typed (`kind`) and versioned (`v`), written in one `write` and fsync'd before
//! the call returns, so a label that was reported written survives a crash. Replay gives the latest
//! value per (trace, annotator) and rebuilds the undo/redo history. Compaction rewrites the journal
//! through a temp file, fsync and an atomic rename. Records of kinds this build does not know are
//! kept verbatim by compaction.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::model::Label;

/// Journal record schema version written by this build.
pub const RECORD_VERSION: u64 = 1;
const SUFFIX: &str = ".stepscope.jsonl";

/// How a label record came about; undo/redo records restore a value from the history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Set,
    Undo,
    Redo,
}

impl Op {
    fn name(self) -> &'static str {
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
    fn to_json(&self) -> Value {
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

    fn from_json(v: &Value) -> Result<LabelRecord, String> {
        let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string).ok_or(format!("missing `{k}`"));
        let value = match v.get("value") {
            None | Some(Value::Null) => None,
            Some(x) => {
                let k = x.as_i64().ok_or("`value` is not an integer")?;
                Some(super::model::label_from_index(k)?)
            }
        };
        let op = Op::parse(v.get("op").and_then(Value::as_str).unwrap_or("set")).ok_or("unknown `op`")?;
        Ok(LabelRecord { trace: s("trace")?, annotator: s("annotator")?, value, op, ts: s("ts")? })
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
    fn to_json(&self) -> Value {
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

    fn from_json(v: &Value) -> Result<VerifyRecord, String> {
        let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        let need = |k: &str| s(k).ok_or(format!("missing `{k}`"));
        let scores = v
            .get("scores")
            .and_then(Value::as_array)
            .ok_or("missing `scores`")?
            .iter()
            .map(|x| if x.is_null() { Ok(None) } else { x.as_f64().map(Some).ok_or("a score is not a number") })
            .collect::<Result<Vec<_>, _>>()?;
        let details = v
            .get("details")
            .and_then(Value::as_array)
            .map(|a| a.iter().map(|d| d.as_str().unwrap_or_default().to_string()).collect())
            .unwrap_or_else(|| vec![String::new(); scores.len()]);
        Ok(VerifyRecord {
            trace: need("trace")?,
            spec: need("spec")?,
            model: s("model"),
            model_hash: s("model_hash"),
            threshold: v.get("threshold").and_then(Value::as_f64).ok_or("missing `threshold`")?,
            segmentation: s("segmentation").unwrap_or_default(),
            first_error: v.get("first_error").and_then(Value::as_u64).map(|n| n as usize),
            scores,
            details,
            truncated: s("truncated"),
            forward_passes: v.get("forward_passes").and_then(Value::as_u64).unwrap_or(0) as usize,
            seconds: v.get("seconds").and_then(Value::as_f64).unwrap_or(0.0),
            ts: s("ts").unwrap_or_default(),
        })
    }
}

/// Per-step signals of one trace (instability, answer entropy) and where they came from. The
/// latest record per (trace, signal) is current; `data` is the signal's own JSON object.
#[derive(Debug, Clone, PartialEq)]
pub struct SignalRecord {
    pub trace: String,
    pub signal: String,
    pub source: String,
    pub data: Value,
    pub ts: String,
}

impl SignalRecord {
    fn to_json(&self) -> Value {
        json!({
            "v": RECORD_VERSION,
            "kind": "signal",
            "trace": self.trace,
            "signal": self.signal,
            "source": self.source,
            "data": self.data,
            "ts": self.ts,
        })
    }

    fn from_json(v: &Value) -> Result<SignalRecord, String> {
        let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string).ok_or(format!("missing `{k}`"));
        Ok(SignalRecord {
            trace: s("trace")?,
            signal: s("signal")?,
            source: s("source")?,
            data: v.get("data").cloned().ok_or("missing `data`")?,
            ts: s("ts").unwrap_or_default(),
        })
    }
}

/// One undoable change: which trace, and the value before and after.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Change {
    trace: String,
    before: Option<Label>,
    after: Option<Label>,
}

#[derive(Debug, Default)]
struct History {
    undo: Vec<Change>,
    redo: Vec<Change>,
}

/// The replayed state of a journal plus an append handle.
#[derive(Debug)]
pub struct Store {
    path: PathBuf,
    labels: HashMap<(String, String), (Option<Label>, u64)>,
    history: HashMap<String, History>,
    /// Latest verifier result per (trace, spec), with its sequence number.
    results: HashMap<(String, String), (VerifyRecord, u64)>,
    /// Latest signal per (trace, signal name).
    signals: HashMap<(String, String), (SignalRecord, u64)>,
    /// Records of kinds this build does not handle, kept for compaction.
    other: Vec<String>,
    seq: u64,
    /// Non-fatal findings of replay (torn last record, unreadable lines).
    pub warnings: Vec<String>,
}

impl Store {
    /// Opens a journal, replaying it if it exists (nothing is created until the first write).
    pub fn open(path: &Path) -> io::Result<Store> {
        let mut store = Store {
            path: path.to_path_buf(),
            labels: HashMap::new(),
            history: HashMap::new(),
            results: HashMap::new(),
            signals: HashMap::new(),
            other: Vec::new(),
            seq: 0,
            warnings: Vec::new(),
        };
        let mut text = String::new();
        match File::open(path) {
            Ok(mut f) => {
                let mut bytes = Vec::new();
                f.read_to_end(&mut bytes)?;
                text = String::from_utf8_lossy(&bytes).into_owned();
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        store.replay(&text);
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn replay(&mut self, text: &str) {
        let torn_tail = !text.is_empty() && !text.ends_with('\n');
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let last = i + 1 == lines.len();
            match serde_json::from_str::<Value>(line) {
                Ok(v) if v.get("kind").and_then(Value::as_str) == Some("label") => match LabelRecord::from_json(&v) {
                    Ok(r) => self.apply(&r),
                    Err(e) => {
                        self.warnings.push(format!("{}:{}: skipped label record: {e}", self.path.display(), i + 1))
                    }
                },
                Ok(v) if v.get("kind").and_then(Value::as_str) == Some("verify") => match VerifyRecord::from_json(&v) {
                    Ok(r) => self.apply_result(r),
                    Err(e) => {
                        self.warnings.push(format!("{}:{}: skipped verifier record: {e}", self.path.display(), i + 1))
                    }
                },
                Ok(v) if v.get("kind").and_then(Value::as_str) == Some("signal") => match SignalRecord::from_json(&v) {
                    Ok(r) => self.apply_signal(r),
                    Err(e) => {
                        self.warnings.push(format!("{}:{}: skipped signal record: {e}", self.path.display(), i + 1))
                    }
                },
                Ok(_) => self.other.push(line.to_string()),
                Err(_) if last && torn_tail => self.warnings.push(format!(
                    "{}:{}: ignored an incomplete last record (an interrupted write)",
                    self.path.display(),
                    i + 1
                )),
                Err(e) => {
                    self.warnings.push(format!("{}:{}: skipped unreadable record: {e}", self.path.display(), i + 1))
                }
            }
        }
    }

    /// Updates the in-memory state and history for one record (used by replay and by writes).
    fn apply(&mut self, r: &LabelRecord) {
        self.seq += 1;
        let key = (r.trace.clone(), r.annotator.clone());
        let before = self.labels.get(&key).and_then(|(v, _)| *v);
        let history = self.history.entry(r.annotator.clone()).or_default();
        match r.op {
            Op::Set => {
                history.undo.push(Change { trace: r.trace.clone(), before, after: r.value });
                history.redo.clear();
            }
            Op::Undo => {
                if let Some(c) = history.undo.pop() {
                    history.redo.push(c);
                }
            }
            Op::Redo => {
                if let Some(c) = history.redo.pop() {
                    history.undo.push(c);
                }
            }
        }
        self.labels.insert(key, (r.value, self.seq));
    }

    fn apply_result(&mut self, r: VerifyRecord) {
        self.seq += 1;
        self.results.insert((r.trace.clone(), r.spec.clone()), (r, self.seq));
    }

    fn apply_signal(&mut self, r: SignalRecord) {
        self.seq += 1;
        self.signals.insert((r.trace.clone(), r.signal.clone()), (r, self.seq));
    }

    /// Stores a verifier result durably (it replaces the earlier one for the same spec).
    pub fn put_result(&mut self, r: VerifyRecord) -> io::Result<()> {
        append_durably(&self.path, &r.to_json().to_string())?;
        self.apply_result(r);
        Ok(())
    }

    /// Stores a signal durably.
    pub fn put_signal(&mut self, r: SignalRecord) -> io::Result<()> {
        append_durably(&self.path, &r.to_json().to_string())?;
        self.apply_signal(r);
        Ok(())
    }

    /// The current result of a verifier spec on a trace.
    pub fn result(&self, trace: &str, spec: &str) -> Option<&VerifyRecord> {
        self.results.get(&(trace.to_string(), spec.to_string())).map(|(r, _)| r)
    }

    /// Every verifier's current result on a trace, sorted by spec.
    pub fn results_for(&self, trace: &str) -> Vec<&VerifyRecord> {
        let mut out: Vec<&VerifyRecord> =
            self.results.iter().filter(|((t, _), _)| t == trace).map(|(_, (r, _))| r).collect();
        out.sort_by(|a, b| a.spec.cmp(&b.spec));
        out
    }

    /// The specs with at least one stored result.
    pub fn result_specs(&self) -> Vec<String> {
        let mut specs: Vec<String> = self.results.keys().map(|(_, s)| s.clone()).collect();
        specs.sort();
        specs.dedup();
        specs
    }

    /// The current value of a signal on a trace.
    pub fn signal(&self, trace: &str, signal: &str) -> Option<&SignalRecord> {
        self.signals.get(&(trace.to_string(), signal.to_string())).map(|(r, _)| r)
    }

    /// The annotator's current label for a trace.
    pub fn label(&self, trace: &str, annotator: &str) -> Option<Label> {
        self.labels.get(&(trace.to_string(), annotator.to_string())).and_then(|(v, _)| *v)
    }

    /// The most recent label any annotator gave the trace, with that annotator.
    pub fn latest_label(&self, trace: &str) -> Option<(Label, &str)> {
        self.labels
            .iter()
            .filter(|((t, _), (v, _))| t == trace && v.is_some())
            .max_by_key(|(_, (_, seq))| *seq)
            .map(|((_, a), (v, _))| (v.unwrap(), a.as_str()))
    }

    /// One annotator's label, or with `None` the latest label of anyone.
    pub fn human_label(&self, trace: &str, annotator: Option<&str>) -> Option<Label> {
        match annotator {
            Some(a) => self.label(trace, a),
            None => self.latest_label(trace).map(|(l, _)| l),
        }
    }

    /// Every annotator's current label for a trace.
    pub fn labels_for(&self, trace: &str) -> Vec<(&str, Label)> {
        let mut out: Vec<(&str, Label)> =
            self.labels.iter().filter_map(|((t, a), (v, _))| (t == trace).then_some((a.as_str(), (*v)?))).collect();
        out.sort_by_key(|(a, _)| *a);
        out
    }

    /// Number of traces the annotator (or anyone, with `None`) has a label on.
    pub fn labelled_traces(&self, annotator: Option<&str>) -> usize {
        let mut traces: Vec<&str> = self
            .labels
            .iter()
            .filter(|((_, a), (v, _))| v.is_some() && annotator.is_none_or(|x| x == a))
            .map(|((t, _), _)| t.as_str())
            .collect();
        traces.sort_unstable();
        traces.dedup();
        traces.len()
    }

    /// Records a label (None clears it). Returns only after the record is on disk.
    pub fn set_label(&mut self, trace: &str, annotator: &str, value: Option<Label>) -> io::Result<()> {
        self.write(LabelRecord {
            trace: trace.into(),
            annotator: annotator.into(),
            value,
            op: Op::Set,
            ts: now_rfc3339(),
        })
    }

    /// Reverts the annotator's last change; returns the trace it touched.
    pub fn undo(&mut self, annotator: &str) -> io::Result<Option<String>> {
        let Some(c) = self.history.get(annotator).and_then(|h| h.undo.last()).cloned() else {
            return Ok(None);
        };
        self.write(LabelRecord {
            trace: c.trace.clone(),
            annotator: annotator.into(),
            value: c.before,
            op: Op::Undo,
            ts: now_rfc3339(),
        })?;
        Ok(Some(c.trace))
    }

    /// Re-applies the annotator's last undone change; returns the trace it touched.
    pub fn redo(&mut self, annotator: &str) -> io::Result<Option<String>> {
        let Some(c) = self.history.get(annotator).and_then(|h| h.redo.last()).cloned() else {
            return Ok(None);
        };
        self.write(LabelRecord {
            trace: c.trace.clone(),
            annotator: annotator.into(),
            value: c.after,
            op: Op::Redo,
            ts: now_rfc3339(),
        })?;
        Ok(Some(c.trace))
    }

    fn write(&mut self, r: LabelRecord) -> io::Result<()> {
        append_durably(&self.path, &r.to_json().to_string())?;
        self.apply(&r);
        Ok(())
    }

    /// Rewrites the journal to one record per (trace, annotator) holding a label, plus records of
    /// other kinds, via temp file + fsync + atomic rename. The undo history is not kept.
    pub fn compact(&mut self) -> io::Result<()> {
        let mut current: Vec<_> = self.labels.iter().collect();
        current.sort_by_key(|(_, (_, seq))| *seq);
        let mut out = String::new();
        for ((trace, annotator), (value, _)) in current {
            if value.is_none() {
                continue;
            }
            let r = LabelRecord {
                trace: trace.clone(),
                annotator: annotator.clone(),
                value: *value,
                op: Op::Set,
                ts: now_rfc3339(),
            };
            out.push_str(&r.to_json().to_string());
            out.push('\n');
        }
        let mut results: Vec<_> = self.results.values().collect();
        results.sort_by_key(|(_, seq)| *seq);
        for (r, _) in results {
            out.push_str(&r.to_json().to_string());
            out.push('\n');
        }
        let mut signals: Vec<_> = self.signals.values().collect();
        signals.sort_by_key(|(_, seq)| *seq);
        for (r, _) in signals {
            out.push_str(&r.to_json().to_string());
            out.push('\n');
        }
        for line in &self.other {
            out.push_str(line);
            out.push('\n');
        }
        replace_atomically(&self.path, out.as_bytes())?;
        *self = Store::open(&self.path.clone())?;
        Ok(())
    }
}

/// Appends one line and fsyncs it (and the folder when the file is new).
fn append_durably(path: &Path, line: &str) -> io::Result<()> {
    let existed = path.exists();
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    let mut f = OpenOptions::new().create(true).append(true).read(true).open(path)?;
    let mut buf = Vec::with_capacity(line.len() + 2);
    if existed && !ends_with_newline(&f)? {
        buf.push(b'\n'); // close a torn record so this one starts on its own line
    }
    buf.extend_from_slice(line.as_bytes());
    buf.push(b'\n');
    f.write_all(&buf)?;
    f.sync_data()?;
    if !existed {
        sync_dir(path)?;
    }
    Ok(())
}

fn ends_with_newline(f: &File) -> io::Result<bool> {
    use std::os::unix::fs::FileExt;
    let len = f.metadata()?.len();
    if len == 0 {
        return Ok(true);
    }
    let mut last = [0u8];
    f.read_exact_at(&mut last, len - 1)?;
    Ok(last[0] == b'\n')
}

fn sync_dir(path: &Path) -> io::Result<()> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => File::open(dir)?.sync_all(),
        _ => File::open(".")?.sync_all(),
    }
}

/// Writes `data` to `path` through a temp file, fsync and rename, then fsyncs the folder.
pub fn replace_atomically(path: &Path, data: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    {
        let mut f = File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    sync_dir(path)
}

/// Where the journal for a trace file lives, and a note when it is not beside the file.
#[derive(Debug, Clone)]
pub struct JournalLocation {
    pub path: PathBuf,
    pub note: Option<String>,
}

/// Chooses the journal for `trace_file`: `--store DIR` if given; else an existing journal beside
/// the file or in the per-user data folder; else beside the file when its folder is writable,
/// otherwise the per-user data folder.
pub fn locate_journal(trace_file: &Path, store_dir: Option<&Path>) -> JournalLocation {
    let name = trace_file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "traces".into());
    if let Some(dir) = store_dir {
        return JournalLocation { path: dir.join(format!("{name}{SUFFIX}")), note: None };
    }
    let beside = PathBuf::from(format!("{}{SUFFIX}", trace_file.display()));
    let fallback = user_data_dir().join("stores").join(format!("{name}-{:016x}{SUFFIX}", path_hash(trace_file)));
    let note =
        Some(format!("the folder of {} is read-only: labels are kept in {}", trace_file.display(), fallback.display()));
    if beside.exists() {
        return JournalLocation { path: beside, note: None };
    }
    if fallback.exists() || !folder_writable(trace_file) {
        return JournalLocation { path: fallback, note };
    }
    JournalLocation { path: beside, note: None }
}

/// `$STEPSCOPE_DATA_DIR`, else `$XDG_DATA_HOME/stepscope`, else `~/.local/share/stepscope`.
pub fn user_data_dir() -> PathBuf {
    user_dir("STEPSCOPE_DATA_DIR", "XDG_DATA_HOME", ".local/share")
}

/// `$override_var`, else `$xdg_var/stepscope`, else `~/<home_rel>/stepscope`.
pub fn user_dir(override_var: &str, xdg_var: &str, home_rel: &str) -> PathBuf {
    if let Some(d) = std::env::var_os(override_var) {
        return PathBuf::from(d);
    }
    if let Some(d) = std::env::var_os(xdg_var).filter(|d| !d.is_empty()) {
        return PathBuf::from(d).join("stepscope");
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(std::env::temp_dir);
    home.join(home_rel).join("stepscope")
}

/// A folder counts as writable only if its mode allows writing (so root still respects a
/// read-only dataset folder) and a probe file can be created there.
fn folder_writable(file: &Path) -> bool {
    let dir = match file.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let Ok(meta) = fs::metadata(&dir) else { return false };
    if meta.permissions().readonly() {
        return false;
    }
    let probe = dir.join(format!(".stepscope-probe-{}", std::process::id()));
    let ok = File::create(&probe).is_ok();
    let _ = fs::remove_file(&probe);
    ok
}

/// FNV-1a of the absolute path: stable across runs and builds.
fn path_hash(p: &Path) -> u64 {
    let abs = fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    abs.to_string_lossy().bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3))
}

/// Current UTC time as RFC 3339 with seconds.
pub fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    format_rfc3339(secs)
}

fn format_rfc3339(secs: u64) -> String {
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
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_known_dates() {
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_rfc3339(1_795_000_000), "2026-11-18T11:06:40Z");
        assert_eq!(format_rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn set_undo_redo_replay() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.jsonl.stepscope.jsonl");
        let mut s = Store::open(&path).unwrap();
        s.set_label("a", "ana", Some(Label::FirstError(2))).unwrap();
        s.set_label("a", "ana", Some(Label::NoError)).unwrap();
        s.set_label("b", "bo", Some(Label::FirstError(0))).unwrap();
        assert_eq!(s.undo("ana").unwrap().as_deref(), Some("a"));
        assert_eq!(s.label("a", "ana"), Some(Label::FirstError(2)));
        let s2 = Store::open(&path).unwrap();
        assert_eq!(s2.label("a", "ana"), Some(Label::FirstError(2)));
        let mut s2 = s2;
        assert_eq!(s2.redo("ana").unwrap().as_deref(), Some("a"));
        assert_eq!(s2.label("a", "ana"), Some(Label::NoError));
        assert_eq!(s2.undo("ana").unwrap().as_deref(), Some("a"));
        assert_eq!(s2.undo("ana").unwrap().as_deref(), Some("a"));
        assert_eq!(s2.label("a", "ana"), None);
        assert_eq!(s2.undo("ana").unwrap(), None);
        assert_eq!(s2.latest_label("b"), Some((Label::FirstError(0), "bo")));
    }

    #[test]
    fn torn_tail_is_ignored_and_closed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.stepscope.jsonl");
        let mut s = Store::open(&path).unwrap();
        s.set_label("a", "ana", Some(Label::FirstError(1))).unwrap();
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"{\"v\":1,\"kind\":\"label\",\"tr").unwrap();
        let mut s = Store::open(&path).unwrap();
        assert_eq!(s.warnings.len(), 1, "{:?}", s.warnings);
        s.set_label("b", "ana", Some(Label::NoError)).unwrap();
        let s = Store::open(&path).unwrap();
        assert_eq!(s.label("a", "ana"), Some(Label::FirstError(1)));
        assert_eq!(s.label("b", "ana"), Some(Label::NoError));
        assert_eq!(s.warnings.len(), 1);
    }

    #[test]
    fn compaction_keeps_state_and_unknown_kinds() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.stepscope.jsonl");
        fs::write(&path, "{\"v\":2,\"kind\":\"score\",\"x\":1}\n").unwrap();
        let mut s = Store::open(&path).unwrap();
        for k in 0..5 {
            s.set_label("a", "ana", Some(Label::FirstError(k))).unwrap();
        }
        s.set_label("b", "ana", None).unwrap();
        s.compact().unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 2, "{text}");
        assert!(text.contains("\"kind\":\"score\""));
        assert_eq!(Store::open(&path).unwrap().label("a", "ana"), Some(Label::FirstError(4)));
    }
}
