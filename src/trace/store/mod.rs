//! The durable label store: append-only JSONL journals of typed, versioned records (human
//! labels, verifier results, signals).
//!
//! Every record is written in one `write` and fsync'd under an exclusive lock before the call
//! returns, so a label that was reported written survives a crash and a concurrent compaction.
//! Before each write the store reads what other processes appended since it last looked, and
//! `refresh` does the same on demand, so two apps on one file see each other's labels. A trace
//! file may have two journals (beside it, and in the per-user folder for the time its folder was
//! read-only); both are read and merged by time stamp.

mod journal;
mod location;
mod records;
mod state;

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use crate::trace::model::Label;

pub use journal::{compact as compact_file, sync_dir, temp_beside, Compacted};
pub use location::{locate_journal, JournalLocation, SUFFIX as JOURNAL_SUFFIX};
pub use records::{
    now_rfc3339, parse_line, ts_seconds, Detail, GoldRecord, LabelRecord, Op, RatingRecord, Record, SignalData,
    SignalRecord, VerifyRecord, RECORD_VERSION,
};
use state::State;
pub use state::{LabelEvent, Origin};

/// A journal line that could not be used, located by file and 1-based line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalIssue {
    pub file: PathBuf,
    pub line: usize,
    pub message: String,
}

impl fmt::Display for JournalIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file.display(), self.line, self.message)
    }
}

/// One journal file the store reads, and how far.
#[derive(Debug)]
struct Journal {
    path: PathBuf,
    /// The file read last time; a different one means it was replaced (compacted).
    id: Option<journal::FileId>,
    /// Bytes consumed: the end of the last complete line.
    read_to: u64,
    /// Complete lines consumed, for line numbers.
    lines: usize,
}

/// A parsed line waiting to be applied (merging several journals orders them by time).
struct Pending {
    record: Record,
    origin: Origin,
}

/// The replayed state of a trace file's journals plus an append handle.
#[derive(Debug)]
pub struct Store {
    journals: Vec<Journal>,
    /// Index of the journal new records go to.
    write: usize,
    state: State,
    /// Lines that could not be used (unreadable, torn, newer versions), with file and line.
    pub warnings: Vec<JournalIssue>,
}

impl Store {
    /// Opens a single journal, replaying it if it exists (nothing is created until the first write).
    pub fn open(path: &Path) -> io::Result<Store> {
        Store::open_at(path, &[path.to_path_buf()])
    }

    /// Opens the journals of a located trace file.
    pub fn open_location(loc: &JournalLocation) -> io::Result<Store> {
        Store::open_at(&loc.path, &loc.read)
    }

    /// Opens journals `read` (which should include `write`), appending to `write`.
    pub fn open_at(write: &Path, read: &[PathBuf]) -> io::Result<Store> {
        let mut paths: Vec<PathBuf> = read.to_vec();
        if !paths.iter().any(|p| p == write) {
            paths.push(write.to_path_buf());
        }
        let write = paths.iter().position(|p| p == write).expect("added above");
        let journals = paths.into_iter().map(|path| Journal { path, id: None, read_to: 0, lines: 0 }).collect();
        let mut store = Store { journals, write, state: State::default(), warnings: Vec::new() };
        store.reload()?;
        Ok(store)
    }

    /// The journal new records go to.
    pub fn path(&self) -> &Path {
        &self.journals[self.write].path
    }

    /// Every journal this store reads.
    pub fn paths(&self) -> Vec<&Path> {
        self.journals.iter().map(|j| j.path.as_path()).collect()
    }

    /// Replays every journal from the start.
    fn reload(&mut self) -> io::Result<()> {
        self.replay_all(None)
    }

    /// Replays every journal from the start; `held` is a journal whose bytes the caller already
    /// read under its own exclusive lock (reading it again would wait on that lock).
    fn replay_all(&mut self, held: Option<(usize, journal::FileId, &[u8])>) -> io::Result<()> {
        self.state = State::default();
        self.warnings.clear();
        let mut streams = Vec::new();
        for i in 0..self.journals.len() {
            self.journals[i].id = None;
            self.journals[i].read_to = 0;
            self.journals[i].lines = 0;
            let pending = match held {
                Some((h, id, bytes)) if h == i => self.take(i, id, bytes),
                _ => match journal::read_from(&self.journals[i].path.clone(), 0)? {
                    Some(s) => self.take(i, s.id, &s.bytes),
                    None => Vec::new(),
                },
            };
            streams.push(pending);
        }
        for p in merge_by_time(streams) {
            self.state.apply(p.record, p.origin);
        }
        Ok(())
    }

    /// Parses new bytes of journal `i` (read from its `read_to`), advancing past complete lines.
    fn take(&mut self, i: usize, id: journal::FileId, bytes: &[u8]) -> Vec<Pending> {
        let (lines, torn) = journal::split_lines(bytes);
        let j = &mut self.journals[i];
        j.id = Some(id);
        let mut out = Vec::new();
        let mut consumed = 0;
        for (line, end) in lines {
            j.lines += 1;
            consumed = end;
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let origin = Origin { journal: i, line: j.lines };
            match records::parse_line(line) {
                Ok(Record::Newer(v)) => self.warnings.push(JournalIssue {
                    file: j.path.clone(),
                    line: j.lines,
                    message: format!("record version {v} was written by a newer stepscope: kept, not applied"),
                }),
                Ok(record) => out.push(Pending { record, origin }),
                Err(e) => self.warnings.push(JournalIssue {
                    file: j.path.clone(),
                    line: j.lines,
                    message: format!("skipped unreadable record: {e}"),
                }),
            }
        }
        j.read_to += consumed as u64;
        if torn.is_some() {
            self.warnings.push(JournalIssue {
                file: j.path.clone(),
                line: j.lines + 1,
                message: "ignored an incomplete last record (an interrupted write)".into(),
            });
        }
        out
    }

    /// Reads what other processes appended (or replays everything when a journal was replaced).
    /// Returns whether anything changed.
    pub fn refresh(&mut self) -> io::Result<bool> {
        let mut changed = false;
        for i in 0..self.journals.len() {
            let j = &self.journals[i];
            match journal::stat(&j.path)? {
                None if j.id.is_none() => {}
                Some((id, len)) if Some(id) == j.id && len == j.read_to => {}
                Some((id, len)) if Some(id) == j.id && len > j.read_to => {
                    let Some(s) = journal::read_from(&j.path.clone(), j.read_to)? else { continue };
                    if s.id != id {
                        self.reload()?;
                        return Ok(true);
                    }
                    let before = self.warnings.len();
                    let pending = self.take(i, s.id, &s.bytes);
                    // A torn tail is re-read with the rest next time; warn about it only once.
                    dedup_torn(&mut self.warnings, before);
                    changed |= !pending.is_empty();
                    for p in pending {
                        self.state.apply(p.record, p.origin);
                    }
                }
                _ => {
                    self.reload()?;
                    return Ok(true);
                }
            }
        }
        Ok(changed)
    }

    /// Appends a record line durably under the journal lock, then takes in everything from where
    /// this store had read to the end: what others appended meanwhile, a torn line the append
    /// closed, and the record itself, so the state is always that of a fresh replay.
    fn append(&mut self, line: String) -> io::Result<()> {
        let i = self.write;
        let mut locked = journal::lock_for_append(&self.journals[i].path)?;
        let j = &self.journals[i];
        if j.id.is_some_and(|id| id != locked.id) || locked.len()? < j.read_to {
            // Replaced since we read it (compacted): replay from the locked file, the others as usual.
            let bytes = locked.read_from(0)?;
            self.replay_all(Some((i, locked.id, &bytes)))?;
        }
        locked.append_line(&line)?;
        let bytes = locked.read_from(self.journals[i].read_to)?;
        for p in self.take(i, locked.id, &bytes) {
            self.state.apply(p.record, p.origin);
        }
        Ok(())
    }

    /// Stores a verifier result durably (it replaces the earlier one for the same spec).
    pub fn put_result(&mut self, r: VerifyRecord) -> io::Result<()> {
        self.append(r.to_json().to_string())
    }

    /// Stores a signal durably.
    pub fn put_signal(&mut self, r: SignalRecord) -> io::Result<()> {
        self.append(r.to_json().to_string())
    }

    /// The current result of a verifier spec on a trace.
    pub fn result(&self, trace: &str, spec: &str) -> Option<&VerifyRecord> {
        self.state.result(trace, spec)
    }

    /// Every verifier's current result on a trace, sorted by spec.
    pub fn results_for(&self, trace: &str) -> Vec<&VerifyRecord> {
        self.state.results_for(trace)
    }

    /// The specs with at least one stored result, sorted.
    pub fn result_specs(&self) -> Vec<String> {
        self.state.result_specs()
    }

    /// The current value of a signal on a trace.
    pub fn signal(&self, trace: &str, signal: &str) -> Option<&SignalRecord> {
        self.state.signal(trace, signal)
    }

    /// The annotator's current label for a trace.
    pub fn label(&self, trace: &str, annotator: &str) -> Option<Label> {
        self.state.label(trace, annotator)
    }

    /// Whether the annotator ever labelled the trace (the label may since be cleared or undone).
    pub fn touched(&self, trace: &str, annotator: &str) -> bool {
        self.state.touched(trace, annotator)
    }

    /// The most recent label any annotator gave the trace, with that annotator.
    pub fn latest_label(&self, trace: &str) -> Option<(Label, &str)> {
        self.state.latest_label(trace)
    }

    /// One annotator's label, or with `None` the latest label of anyone.
    pub fn human_label(&self, trace: &str, annotator: Option<&str>) -> Option<Label> {
        match annotator {
            Some(a) => self.label(trace, a),
            None => self.latest_label(trace).map(|(l, _)| l),
        }
    }

    /// Every annotator's current label for a trace, sorted by annotator.
    pub fn labels_for(&self, trace: &str) -> Vec<(&str, Label)> {
        self.state.labels_for(trace)
    }

    /// Every current label: (trace, annotator, label, where its record is), in journal order.
    pub fn all_labels(&self) -> Vec<(&str, &str, Label, RecordAt<'_>)> {
        let mut out: Vec<_> = self
            .state
            .all_labels()
            .map(|(t, a, l, o)| (t, a, l, RecordAt { file: &self.journals[o.journal].path, line: o.line }))
            .collect();
        out.sort_by(|x, y| (x.3.file, x.3.line).cmp(&(y.3.file, y.3.line)));
        out
    }

    /// Labels that do not fit the traces of `file`: a first error past the last step, or an id
    /// the file does not have. `steps_of` gives a trace's step count by id.
    pub fn check_labels(&self, file: &Path, steps_of: impl Fn(&str) -> Option<usize>) -> Vec<JournalIssue> {
        let mut out = Vec::new();
        let human = self.all_labels().into_iter().map(|(t, a, l, at)| (t, format!("label by {a}"), l, at));
        let gold = self.state.all_gold().map(|(t, l, o)| {
            (t, "gold label".to_string(), l, RecordAt { file: &self.journals[o.journal].path, line: o.line })
        });
        for (trace, what, label, at) in human.chain(gold) {
            let message = match (steps_of(trace), label) {
                (None, _) => format!("{what} for trace {trace}, which {} does not have", file.display()),
                (Some(n), Label::FirstError(k)) if k >= n => {
                    let range = if n == 0 { "no steps".to_string() } else { format!("steps 0..={}", n - 1) };
                    format!("{what} puts the first error at step {k}, but trace {trace} has {range}")
                }
                _ => continue,
            };
            out.push(JournalIssue { file: at.file.to_path_buf(), line: at.line, message });
        }
        out
    }

    /// Number of traces the annotator (or anyone, with `None`) has a label on (a counter kept
    /// as records are applied).
    pub fn labelled_traces(&self, annotator: Option<&str>) -> usize {
        self.state.labelled_traces(annotator)
    }

    /// Records a label (None clears it). Returns only after the record is on disk.
    pub fn set_label(&mut self, trace: &str, annotator: &str, value: Option<Label>) -> io::Result<()> {
        self.set_label_with(trace, annotator, value, Detail::default())
    }

    /// Records a label with its detail (made blind, category, note). Durable on return.
    pub fn set_label_with(
        &mut self,
        trace: &str,
        annotator: &str,
        value: Option<Label>,
        detail: Detail,
    ) -> io::Result<()> {
        self.write(LabelRecord::new(trace, annotator, value, Op::Set, now_rfc3339(), detail))
    }

    /// The detail (blind, category, note) of an annotator's current label.
    pub fn detail(&self, trace: &str, annotator: &str) -> Option<&Detail> {
        self.state.detail(trace, annotator)
    }

    /// When an annotator's current label was written.
    pub fn label_time(&self, trace: &str, annotator: &str) -> Option<&str> {
        self.state.label_time(trace, annotator)
    }

    /// Records the gold (adjudicated) first error of a trace (None clears it): who decided, why,
    /// and every annotator's current label beside it. Durable on return. Reads what others wrote
    /// first, so the labels kept are the ones on screen.
    pub fn set_gold(&mut self, trace: &str, value: Option<Label>, by: &str, reason: Option<String>) -> io::Result<()> {
        self.refresh()?;
        let labels = self.labels_for(trace).into_iter().map(|(a, l)| (a.to_string(), l.to_index())).collect();
        let r = GoldRecord { trace: trace.into(), value, by: by.into(), reason, labels, ts: now_rfc3339() };
        self.append(r.to_json().to_string())
    }

    /// The trace's gold label record (value, who decided, why), if one is set.
    pub fn gold(&self, trace: &str) -> Option<&GoldRecord> {
        self.state.gold(trace)
    }

    /// The trace's gold first error, if one is set.
    pub fn gold_label(&self, trace: &str) -> Option<Label> {
        self.gold(trace)?.value
    }

    /// Number of traces with a gold label.
    pub fn gold_traces(&self) -> usize {
        self.state.gold_traces
    }

    /// Records an annotator's rating of one step (None clears it). Durable on return.
    pub fn set_rating(&mut self, trace: &str, annotator: &str, step: usize, rating: Option<i8>) -> io::Result<()> {
        let r = RatingRecord { trace: trace.into(), annotator: annotator.into(), step, rating, ts: now_rfc3339() };
        self.append(r.to_json().to_string())
    }

    /// An annotator's step ratings on a trace (step → −1/0/+1), if any.
    pub fn ratings(&self, trace: &str, annotator: &str) -> Option<&std::collections::BTreeMap<usize, i8>> {
        self.state.ratings(trace, annotator)
    }

    /// Every label change in the order applied, with time stamps (for time spent per trace).
    pub fn label_events(&self) -> &[LabelEvent] {
        &self.state.events
    }

    /// Reverts the annotator's last change; returns the trace it touched.
    pub fn undo(&mut self, annotator: &str) -> io::Result<Option<String>> {
        self.replay_change(annotator, Op::Undo)
    }

    /// Re-applies the annotator's last undone change; returns the trace it touched.
    pub fn redo(&mut self, annotator: &str) -> io::Result<Option<String>> {
        self.replay_change(annotator, Op::Redo)
    }

    /// Writes the record that undoes (the value before) or redoes (the value after) the top change
    /// of the annotator's undo or redo stack, after taking in what others wrote.
    fn replay_change(&mut self, annotator: &str, op: Op) -> io::Result<Option<String>> {
        self.refresh()?;
        let history = self.state.history.get(annotator);
        let top = match op {
            Op::Undo => history.and_then(|h| h.undo.last()).map(|c| (c.trace.clone(), c.before.clone())),
            _ => history.and_then(|h| h.redo.last()).map(|c| (c.trace.clone(), c.after.clone())),
        };
        let Some((trace, (value, detail))) = top else { return Ok(None) };
        let ts = now_rfc3339();
        self.write(LabelRecord::new(&trace, annotator, value, op, ts, detail))?;
        Ok(Some(trace))
    }

    fn write(&mut self, r: LabelRecord) -> io::Result<()> {
        self.append(r.to_json().to_string())
    }

    /// Compacts the journal new records go to (see [`compact_file`]) and replays the result.
    pub fn compact(&mut self) -> io::Result<Compacted> {
        let report = compact_file(self.path())?;
        self.reload()?;
        Ok(report)
    }
}

/// Where a label's record is, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordAt<'a> {
    pub file: &'a Path,
    pub line: usize,
}

/// Keeps one "incomplete last record" warning per file and line when a torn tail is re-read.
fn dedup_torn(warnings: &mut Vec<JournalIssue>, new_from: usize) {
    let mut i = new_from;
    while i < warnings.len() {
        let w = &warnings[i];
        let seen = warnings[..new_from].iter().any(|o| o == w);
        if seen {
            warnings.remove(i);
        } else {
            i += 1;
        }
    }
}

/// Merges per-journal record streams into one by time stamp; within a journal order is kept,
/// and a record without a readable time stamp goes with the one before it.
fn merge_by_time(streams: Vec<Vec<Pending>>) -> Vec<Pending> {
    if streams.iter().filter(|s| !s.is_empty()).count() <= 1 {
        return streams.into_iter().flatten().collect();
    }
    let keyed: Vec<Vec<((i64, u32), Pending)>> = streams
        .into_iter()
        .map(|s| {
            let mut last = (i64::MIN, 0);
            s.into_iter()
                .map(|p| {
                    if let Some(k) = p.record.ts().and_then(records::ts_key) {
                        last = last.max(k);
                    }
                    (last, p)
                })
                .collect()
        })
        .collect();
    let mut out = Vec::new();
    type Stream = std::iter::Peekable<std::vec::IntoIter<((i64, u32), Pending)>>;
    let mut iters: Vec<Stream> = keyed.into_iter().map(|v| v.into_iter().peekable()).collect();
    loop {
        let next =
            iters.iter_mut().enumerate().filter_map(|(i, it)| it.peek().map(|(k, _)| (*k, i))).min().map(|(_, i)| i);
        let Some(i) = next else { break };
        out.push(iters[i].next().expect("peeked").1);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::{self, OpenOptions};
    use std::io::Write;

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
        assert_eq!(s.warnings[0].line, 2);
    }

    #[test]
    fn compaction_keeps_state_and_unknown_kinds() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.stepscope.jsonl");
        fs::write(&path, "{\"v\":2,\"kind\":\"score\",\"x\":1}\n{\"v\":1,\"kind\":\"note\"}\n").unwrap();
        let mut s = Store::open(&path).unwrap();
        for k in 0..5 {
            s.set_label("a", "ana", Some(Label::FirstError(k))).unwrap();
        }
        s.set_label("b", "ana", None).unwrap();
        let report = s.compact().unwrap();
        assert_eq!((report.records, report.rejected), (3, 0));
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 3, "{text}");
        assert!(text.contains("\"kind\":\"score\"") && text.contains("\"kind\":\"note\""));
        assert_eq!(Store::open(&path).unwrap().label("a", "ana"), Some(Label::FirstError(4)));
    }

    #[test]
    fn gold_labels_keep_who_why_and_the_labels_they_settle_through_replay_and_compaction() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.stepscope.jsonl");
        let mut s = Store::open(&path).unwrap();
        s.set_label("a", "ana", Some(Label::FirstError(2))).unwrap();
        // Another process labels too: the gold record must carry bo's label as well.
        Store::open(&path).unwrap().set_label("a", "bo", Some(Label::NoError)).unwrap();
        s.set_gold("a", Some(Label::FirstError(1)), "cy", None).unwrap();
        s.set_gold("a", Some(Label::FirstError(2)), "cy", Some("ana is right: 12 × 3 is 36".into())).unwrap();
        s.set_gold("b", Some(Label::NoError), "cy", None).unwrap();
        s.set_gold("b", None, "cy", None).unwrap();
        for s in [Store::open(&path).unwrap(), {
            s.compact().unwrap();
            Store::open(&path).unwrap()
        }] {
            let g = s.gold("a").expect("gold on a");
            assert_eq!((g.value, g.by.as_str()), (Some(Label::FirstError(2)), "cy"));
            assert_eq!(g.reason.as_deref(), Some("ana is right: 12 × 3 is 36"));
            let labels: Vec<(&str, i64)> = g.labels.iter().map(|(a, l)| (a.as_str(), *l)).collect();
            assert_eq!(labels, [("ana", 2), ("bo", -1)]);
            assert_eq!(s.gold_label("b"), None, "cleared");
            assert_eq!(s.gold_traces(), 1);
            // A gold label is not an annotator's label.
            assert_eq!(s.labels_for("a").len(), 2);
        }
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().filter(|l| l.contains("\"kind\":\"gold\"")).count(), 1, "{text}");
        let issues = Store::open(&path).unwrap().check_labels(&path, |_| Some(2));
        assert!(issues.iter().any(|i| i.message.contains("gold label puts the first error at step 2")), "{issues:?}");
    }

    #[test]
    fn another_writer_is_seen_on_refresh_and_before_a_write() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.stepscope.jsonl");
        let mut a = Store::open(&path).unwrap();
        let mut b = Store::open(&path).unwrap();
        a.set_label("t1", "ana", Some(Label::FirstError(1))).unwrap();
        assert!(b.refresh().unwrap());
        assert_eq!(b.label("t1", "ana"), Some(Label::FirstError(1)));
        assert!(!b.refresh().unwrap());
        a.set_label("t2", "ana", Some(Label::NoError)).unwrap();
        b.set_label("t3", "ana", Some(Label::NoError)).unwrap();
        assert_eq!(b.label("t2", "ana"), Some(Label::NoError), "read before b's own write");
        // b undoes its own last change, not a's.
        assert_eq!(b.undo("ana").unwrap().as_deref(), Some("t3"));
        // A compaction by someone else: the next refresh replays the new file.
        let mut c = Store::open(&path).unwrap();
        c.compact().unwrap();
        a.set_label("t4", "ana", Some(Label::NoError)).unwrap();
        b.refresh().unwrap();
        assert_eq!(b.labelled_traces(Some("ana")), 3, "t1, t2, t4");
    }

    #[test]
    fn journals_merge_by_time() {
        let dir = tempfile::tempdir().unwrap();
        let (one, two) = (dir.path().join("one.jsonl"), dir.path().join("two.jsonl"));
        let rec = |v: i64, ts: &str| {
            format!("{{\"v\":1,\"kind\":\"label\",\"trace\":\"t\",\"annotator\":\"ana\",\"value\":{v},\"op\":\"set\",\"ts\":\"{ts}\"}}\n")
        };
        fs::write(&one, rec(0, "2026-01-01T00:00:00Z") + &rec(2, "2026-01-03T00:00:00.500Z")).unwrap();
        fs::write(&two, rec(1, "2026-01-02T00:00:00Z")).unwrap();
        let s = Store::open_at(&two, &[one.clone(), two.clone()]).unwrap();
        assert_eq!(s.label("t", "ana"), Some(Label::FirstError(2)));
        fs::write(&two, rec(1, "2026-01-03T00:00:01Z")).unwrap();
        let s = Store::open_at(&two, &[one, two.clone()]).unwrap();
        assert_eq!(s.label("t", "ana"), Some(Label::FirstError(1)));
    }
}
