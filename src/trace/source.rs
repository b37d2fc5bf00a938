//! Opening trace files: format detection, a byte-offset index of records, lazy parsing.
//!
//! JSONL files are indexed by scanning for newlines and read back record by record with
//! positioned reads, so a 1 GB file never sits in memory. JSON arrays and plain text are read whole.

use std::fmt;
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::formats::{self, Format, ReadOptions};
use super::model::Trace;

/// A record that could not be loaded, located by file and 1-based line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: PathBuf,
    pub line: usize,
    pub field: Option<String>,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: ", self.file.display(), self.line)?;
        if let Some(field) = &self.field {
            write!(f, "field `{field}`: ")?;
        }
        write!(f, "{}", self.message)
    }
}

/// A whole file that cannot be read as traces (exit code 2 territory).
#[derive(Debug, Clone)]
pub struct OpenError {
    pub file: PathBuf,
    pub message: String,
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.file.display(), self.message)
    }
}

impl std::error::Error for OpenError {}

/// Where one record's bytes are.
#[derive(Debug, Clone, Copy)]
struct Span {
    start: u64,
    end: u64,
    line: usize,
}

enum Body {
    /// Whole file in memory (JSON array, single JSON document, plain text).
    Memory(Vec<u8>),
    /// JSONL read lazily with positioned reads.
    File(File),
}

/// An opened trace file: its format and an index of its records.
pub struct TraceFile {
    pub path: PathBuf,
    pub format: Format,
    pub options: ReadOptions,
    records: Vec<Span>,
    body: Body,
    /// Problems found while indexing (for example a JSON array cut short).
    pub index_problems: Vec<Problem>,
}

const SNIFF_BYTES: usize = 64 * 1024;

impl TraceFile {
    /// Opens and indexes a file, detecting its format unless `format` is given. A pipe, FIFO or
    /// other non-regular file (`<(cmd)`, `/dev/stdin`) is read to its end as a stream first.
    pub fn open(path: &Path, format: Option<Format>, options: ReadOptions) -> Result<TraceFile, OpenError> {
        let err = |message: String| OpenError { file: path.to_path_buf(), message };
        let meta = std::fs::metadata(path).map_err(|e| err(format!("cannot open: {e}")))?;
        if meta.is_dir() {
            return Err(err("is a directory, not a trace file".into()));
        }
        let mut file = File::open(path).map_err(|e| err(format!("cannot open: {e}")))?;
        if !meta.is_file() {
            let mut data = Vec::new();
            file.read_to_end(&mut data).map_err(|e| err(format!("cannot read: {e}")))?;
            return Self::from_bytes(path, data, format, options);
        }
        let mut head = vec![0u8; SNIFF_BYTES.min(meta.len() as usize)];
        file.read_exact(&mut head).map_err(|e| err(format!("cannot read: {e}")))?;
        let (bom, first) = sniff(&head, meta.len() as usize > head.len()).map_err(err)?;
        if first == b'{' && looks_like_jsonl(&head[bom..]) {
            // JSONL stays on disk: indexed by byte offset, records read on demand.
            let mut tf = Self::open_jsonl(path, file, bom).map_err(err)?;
            tf.finish(format, options, first).map_err(err)?;
            return Ok(tf);
        }
        Self::from_bytes(path, read_all(path).map_err(err)?, format, options)
    }

    /// Indexes trace data held in memory (`path` names it in messages).
    pub fn from_bytes(
        path: &Path,
        data: Vec<u8>,
        format: Option<Format>,
        options: ReadOptions,
    ) -> Result<TraceFile, OpenError> {
        let err = |message: String| OpenError { file: path.to_path_buf(), message };
        let head = &data[..SNIFF_BYTES.min(data.len())];
        let (bom, first) = sniff(head, data.len() > head.len()).map_err(err)?;
        let mut tf = match first {
            b'[' => Self::open_array(path, data, bom),
            b'{' if looks_like_jsonl(&head[bom..]) => Self::open_jsonl_in_memory(path, data, bom),
            b'{' => Self::open_single_json(path, data),
            _ => Self::open_text(path, data, bom).map_err(err)?,
        };
        tf.finish(format, options, first).map_err(err)?;
        Ok(tf)
    }

    /// Sets the options and the format (given, or detected from the records).
    fn finish(&mut self, format: Option<Format>, options: ReadOptions, first: u8) -> Result<(), String> {
        self.options = options;
        self.format = match format {
            Some(f) => f,
            None if first == b'[' || first == b'{' => self.sniff_format()?,
            None => Format::Text,
        };
        Ok(())
    }

    fn empty(path: &Path, body: Body, format: Format) -> TraceFile {
        TraceFile {
            path: path.to_path_buf(),
            format,
            options: ReadOptions::default(),
            records: Vec::new(),
            body,
            index_problems: Vec::new(),
        }
    }

    fn open_jsonl(path: &Path, file: File, bom: usize) -> Result<TraceFile, String> {
        let records = index_lines(&file, bom as u64).map_err(|e| format!("cannot read: {e}"))?;
        let mut tf = Self::empty(path, Body::File(file), Format::Native);
        tf.records = records;
        Ok(tf)
    }

    fn open_jsonl_in_memory(path: &Path, data: Vec<u8>, bom: usize) -> TraceFile {
        let mut tf = Self::empty(path, Body::Memory(Vec::new()), Format::Native);
        tf.records = index_lines_in(&data, bom);
        tf.body = Body::Memory(data);
        tf
    }

    fn open_array(path: &Path, data: Vec<u8>, bom: usize) -> TraceFile {
        let (records, complete) = index_array(&data, bom);
        let mut tf = Self::empty(path, Body::Memory(Vec::new()), Format::Native);
        if !complete {
            let line = records.last().map_or(1, |r| r.line);
            tf.index_problems.push(Problem {
                file: path.to_path_buf(),
                line,
                field: None,
                message: "JSON array is not closed: the file looks truncated".into(),
            });
        }
        tf.records = records;
        tf.body = Body::Memory(data);
        tf
    }

    fn open_single_json(path: &Path, data: Vec<u8>) -> TraceFile {
        let mut tf = Self::empty(path, Body::Memory(Vec::new()), Format::Native);
        tf.records = vec![Span { start: 0, end: data.len() as u64, line: 1 }];
        tf.body = Body::Memory(data);
        tf
    }

    fn open_text(path: &Path, data: Vec<u8>, bom: usize) -> Result<TraceFile, String> {
        if let Err(e) = std::str::from_utf8(&data) {
            let line = 1 + data[..e.valid_up_to()].iter().filter(|&&b| b == b'\n').count();
            return Err(format!("line {line}: not valid UTF-8 text (convert the file to UTF-8)"));
        }
        let mut tf = Self::empty(path, Body::Memory(Vec::new()), Format::Text);
        tf.records = vec![Span { start: bom as u64, end: data.len() as u64, line: 1 }];
        tf.body = Body::Memory(data);
        Ok(tf)
    }

    /// Detects the format from the first records that parse as JSON.
    fn sniff_format(&self) -> Result<Format, String> {
        let mut parsed = 0;
        for i in 0..self.records.len() {
            let Ok(bytes) = self.record_bytes(i) else { continue };
            let Ok(value) = serde_json::from_slice::<Value>(&bytes) else { continue };
            if let Some(f) = formats::detect(&value) {
                return Ok(f);
            }
            parsed += 1;
            if parsed >= 20 {
                break;
            }
        }
        Err(format!(
            "unrecognised records: expected one of {} (use --format to choose)",
            Format::all_names().join(", ")
        ))
    }

    /// Whether records are read from disk on demand (JSONL) rather than held in memory.
    pub fn is_on_disk(&self) -> bool {
        matches!(self.body, Body::File(_))
    }

    /// Number of records (a record may hold several traces, e.g. GSM8K model solutions).
    pub fn record_count(&self) -> usize {
        self.records.len()
    }

    /// The 1-based line where record `i` starts.
    pub fn record_line(&self, i: usize) -> usize {
        self.records[i].line
    }

    fn record_bytes(&self, i: usize) -> std::io::Result<Vec<u8>> {
        let span = self.records[i];
        match &self.body {
            Body::Memory(data) => Ok(data[span.start as usize..span.end as usize].to_vec()),
            Body::File(file) => {
                let mut buf = vec![0u8; (span.end - span.start) as usize];
                file.read_exact_at(&mut buf, span.start)?;
                Ok(buf)
            }
        }
    }

    /// Parses record `i` into its traces, or says what is wrong with it.
    pub fn record(&self, i: usize) -> Result<Vec<Trace>, Problem> {
        let line = self.records[i].line;
        let problem =
            |field: Option<String>, message: String| Problem { file: self.path.clone(), line, field, message };
        let bytes = self.record_bytes(i).map_err(|e| problem(None, format!("cannot read: {e}")))?;
        let ctx = formats::RecordContext { index: i, line, file: &self.path, options: &self.options };
        if self.format == Format::Text {
            let text = String::from_utf8_lossy(&bytes);
            let mut t = formats::text::read(&text, &ctx).map_err(|e| problem(e.field, e.message))?;
            t.read_final_answer();
            return Ok(vec![t]);
        }
        if let Err(e) = std::str::from_utf8(&bytes) {
            // Point at the line and column of the bad byte inside a multi-line record.
            let good = &bytes[..e.valid_up_to()];
            let column = good.iter().rposition(|&b| b == b'\n').map_or(good.len(), |nl| good.len() - nl - 1) + 1;
            let at = line + good.iter().filter(|&&b| b == b'\n').count();
            let message = format!("not valid UTF-8 (bad byte at column {column}); convert the file to UTF-8");
            return Err(Problem { file: self.path.clone(), line: at, field: None, message });
        }
        let value: Value = serde_json::from_slice(&bytes).map_err(|e| problem(None, json_message(&e)))?;
        let mut traces = formats::read(self.format, value, &ctx).map_err(|e| problem(e.field, e.message))?;
        for t in &mut traces {
            // Every format: the final answer is read from the answer part when the source has none.
            t.read_final_answer();
            // A native record whose generation produced nothing may have zero steps.
            let empty_generation = self.format == Format::Native && t.steps.is_empty() && t.solution.trim().is_empty();
            match t.validate() {
                Err(("steps", _)) if empty_generation => {}
                Err((field, msg)) => return Err(problem(Some(field.to_string()), format!("{msg} (trace {})", t.id))),
                Ok(()) => {}
            }
        }
        Ok(traces)
    }

    /// Every record in order: traces or a problem.
    pub fn records(&self) -> impl Iterator<Item = Result<Vec<Trace>, Problem>> + '_ {
        (0..self.record_count()).map(|i| self.record(i))
    }

    /// Loads everything that loads; problems (duplicate ids among them) are collected, never fatal.
    pub fn load_all(&self) -> (Vec<Trace>, Vec<Problem>) {
        let mut traces = Vec::new();
        let mut problems = self.index_problems.clone();
        let mut ids = DuplicateIds::default();
        for (i, r) in self.records().enumerate() {
            match r {
                Ok(ts) => {
                    for t in &ts {
                        problems.extend(ids.check(&self.path, &t.id, self.record_line(i)));
                    }
                    traces.extend(ts)
                }
                Err(p) => problems.push(p),
            }
        }
        (traces, problems)
    }

    /// Finds a trace by id, parsing records only until it is found.
    pub fn find(&self, id: &str) -> Option<Trace> {
        self.records().filter_map(Result::ok).flatten().find(|t| t.id == id)
    }

    /// Finds the one trace with this id; an id that appears more than once is an error (labels
    /// are keyed by id, so a label could not say which trace it means).
    pub fn find_unique(&self, id: &str) -> Result<Option<Trace>, String> {
        let mut found: Vec<(usize, Trace)> = Vec::new();
        for (i, r) in self.records().enumerate() {
            let Ok(ts) = r else { continue };
            found.extend(ts.into_iter().filter(|t| t.id == id).map(|t| (self.record_line(i), t)));
        }
        match found.len() {
            0 => Ok(None),
            1 => Ok(found.pop().map(|(_, t)| t)),
            _ => {
                let lines: Vec<String> = found.iter().map(|(l, _)| l.to_string()).collect();
                Err(format!(
                    "{}: trace id '{id}' is ambiguous: it appears at lines {} (labels are keyed by id; give each trace its own id)",
                    self.path.display(),
                    join_and(&lines)
                ))
            }
        }
    }
}

/// "1", "1 and 3", "1, 3 and 7".
fn join_and(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// Remembers the first line of each trace id in a file and reports repeats.
#[derive(Debug, Default)]
pub struct DuplicateIds {
    first: std::collections::HashMap<String, usize>,
    repeated: std::collections::HashSet<String>,
}

impl DuplicateIds {
    /// A problem when `id` was seen before in this file.
    pub fn check(&mut self, file: &Path, id: &str, line: usize) -> Option<Problem> {
        match self.first.get(id) {
            Some(&first) if first != line => {
                self.repeated.insert(id.to_string());
                Some(Problem {
                    file: file.to_path_buf(),
                    line,
                    field: Some("id".into()),
                    message: format!("duplicate id {id}, first at line {first}"),
                })
            }
            Some(_) => None,
            None => {
                self.first.insert(id.to_string(), line);
                None
            }
        }
    }

    /// The ids seen more than once.
    pub fn repeated(&self) -> &std::collections::HashSet<String> {
        &self.repeated
    }
}

/// The byte-order mark's length and the first non-blank byte, after the checks of `check_text`.
fn sniff(head: &[u8], more: bool) -> Result<(usize, u8), String> {
    let bom = if head.starts_with(b"\xEF\xBB\xBF") { 3 } else { 0 };
    let first = head[bom.min(head.len())..].iter().find(|b| !b.is_ascii_whitespace()).copied();
    // JSON records are checked for UTF-8 one by one, so one bad byte costs one record.
    check_text(head, more, !matches!(first, Some(b'[' | b'{')))?;
    first.map(|f| (bom, f)).ok_or_else(|| "file is empty (no traces)".to_string())
}

fn read_all(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read: {e}"))
}

/// Rejects binary files and UTF-16 early with a message a person can act on; `whole_text`
/// files (one trace) must be UTF-8 throughout, JSON files are checked record by record.
fn check_text(head: &[u8], more: bool, whole_text: bool) -> Result<(), String> {
    if head.is_empty() {
        return Err("file is empty (no traces)".into());
    }
    if head.starts_with(b"\xFF\xFE") || head.starts_with(b"\xFE\xFF") {
        return Err("file is UTF-16 encoded; convert it to UTF-8".into());
    }
    if head.contains(&0) {
        return Err("binary file (contains NUL bytes), not a trace file".into());
    }
    if !whole_text {
        return Ok(());
    }
    match std::str::from_utf8(head) {
        Ok(_) => Ok(()),
        // A multi-byte character cut by the sniff window is fine.
        Err(e) if more && e.error_len().is_none() => Ok(()),
        Err(_) => Err("not valid UTF-8 text (binary file or another encoding)".into()),
    }
}

/// A `{` file is JSONL when its first non-blank line is a JSON value on its own, or at least looks
/// like a one-line record (a broken first line of a JSONL file); a pretty-printed document starts
/// with a line that does not close.
fn looks_like_jsonl(head: &[u8]) -> bool {
    let start = head.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(0);
    let rest = &head[start..];
    let Some(n) = memchr::memchr(b'\n', rest) else { return true };
    let line = rest[..n].trim_ascii();
    serde_json::from_slice::<Value>(line).is_ok() || (line.len() > 1 && line.ends_with(b"}"))
}

/// Byte spans of the non-blank lines of a file, with 1-based line numbers.
fn index_lines(file: &File, from: u64) -> std::io::Result<Vec<Span>> {
    let mut records = Vec::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut pos = from;
    let mut line_start = from;
    let mut line = 1usize;
    let mut blank = true;
    loop {
        let n = file.read_at(&mut buf, pos)?;
        if n == 0 {
            break;
        }
        let chunk = &buf[..n];
        let mut last = 0;
        for nl in memchr::memchr_iter(b'\n', chunk) {
            blank &= chunk[last..nl].iter().all(u8::is_ascii_whitespace);
            if !blank {
                records.push(Span { start: line_start, end: pos + nl as u64, line });
            }
            line += 1;
            line_start = pos + nl as u64 + 1;
            last = nl + 1;
            blank = true;
        }
        blank &= chunk[last..].iter().all(u8::is_ascii_whitespace);
        pos += n as u64;
    }
    if !blank {
        records.push(Span { start: line_start, end: pos, line });
    }
    Ok(records)
}

/// Byte spans of the non-blank lines of data in memory, with 1-based line numbers.
fn index_lines_in(data: &[u8], from: usize) -> Vec<Span> {
    let mut records = Vec::new();
    let mut start = from;
    let ends = memchr::memchr_iter(b'\n', data).filter(|&nl| nl >= from).chain([data.len()]);
    for (line, end) in (1usize..).zip(ends) {
        if !data[start..end].iter().all(u8::is_ascii_whitespace) {
            records.push(Span { start: start as u64, end: end as u64, line });
        }
        start = (end + 1).min(data.len());
    }
    records
}

/// Spans of the top-level elements of a JSON array, and whether the array was closed.
/// A tolerant scanner: a broken element stays one span, so its neighbours still parse.
fn index_array(data: &[u8], from: usize) -> (Vec<Span>, bool) {
    let mut records = Vec::new();
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    let mut line = 1usize;
    let mut start: Option<(usize, usize)> = None;
    for (i, &b) in data.iter().enumerate().skip(from) {
        if b == b'\n' {
            line += 1;
        }
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        let at_top = depth == 1;
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => depth += 1,
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        if at_top && (b == b',' || depth == 0) {
            if let Some((s, l)) = start.take() {
                records.push(Span { start: s as u64, end: i as u64, line: l });
            }
            if depth == 0 {
                return (records, true);
            }
        } else if at_top && start.is_none() && !b.is_ascii_whitespace() {
            start = Some((i, line));
        }
        if depth == 0 && b != b'[' && !b.is_ascii_whitespace() {
            break;
        }
    }
    if let Some((s, l)) = start {
        records.push(Span { start: s as u64, end: data.len() as u64, line: l });
    }
    (records, false)
}

/// serde_json's message without its own "at line 1 column N" (our line is the record's).
fn json_message(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
    match e.classify() {
        serde_json::error::Category::Eof => format!("invalid JSON: record is truncated ({msg})"),
        _ => format!("invalid JSON: {msg} (column {})", e.column()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn array_index_handles_nesting_and_strings() {
        let data = b"[\n {\"a\": \"x,]}\"},\n [1, [2]],\n 3\n]\n";
        let (spans, closed) = index_array(data, 0);
        assert!(closed);
        let parts: Vec<&[u8]> = spans.iter().map(|s| &data[s.start as usize..s.end as usize]).collect();
        assert_eq!(parts, [&b"{\"a\": \"x,]}\"}"[..], b"[1, [2]]", b"3\n"]);
        assert_eq!(spans.iter().map(|s| s.line).collect::<Vec<_>>(), [2, 3, 4]);
    }

    #[test]
    fn truncated_array_is_reported_open() {
        let (spans, closed) = index_array(b"[{\"a\":1},{\"b\":", 0);
        assert!(!closed);
        assert_eq!(spans.len(), 2);
    }

    #[test]
    fn text_checks() {
        assert!(check_text(b"", false, true).is_err());
        assert!(check_text(b"ab\0cd", false, true).unwrap_err().contains("binary"));
        assert!(check_text(b"\xFF\xFEa\0", false, true).unwrap_err().contains("UTF-16"));
        assert!(check_text("héllo".as_bytes(), false, true).is_ok());
        assert!(check_text(&"é".as_bytes()[..1], true, true).is_ok());
        assert!(check_text(b"{\"a\": \"\xe9\"}", false, true).is_err());
        assert!(check_text(b"{\"a\": \"\xe9\"}", false, false).is_ok());
    }

    #[test]
    fn lines_in_memory() {
        let data = b"a\n\n  \nbb\ncc";
        let spans = index_lines_in(data, 0);
        let got: Vec<(&[u8], usize)> =
            spans.iter().map(|s| (&data[s.start as usize..s.end as usize], s.line)).collect();
        assert_eq!(got, [(&b"a"[..], 1), (b"bb", 4), (b"cc", 5)]);
    }
}
