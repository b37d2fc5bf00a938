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
    /// Opens and indexes a file, detecting its format unless `format` is given.
    pub fn open(path: &Path, format: Option<Format>, options: ReadOptions) -> Result<TraceFile, OpenError> {
        let err = |message: String| OpenError { file: path.to_path_buf(), message };
        let mut file = File::open(path).map_err(|e| err(format!("cannot open: {e}")))?;
        let meta = file.metadata().map_err(|e| err(format!("cannot read: {e}")))?;
        if meta.is_dir() {
            return Err(err("is a directory, not a trace file".into()));
        }
        let mut head = vec![0u8; SNIFF_BYTES.min(meta.len() as usize)];
        file.read_exact(&mut head).map_err(|e| err(format!("cannot read: {e}")))?;
        check_text(&head, meta.len() as usize > head.len()).map_err(err)?;
        let bom = if head.starts_with(b"\xEF\xBB\xBF") { 3 } else { 0 };
        let first = head[bom..].iter().find(|b| !b.is_ascii_whitespace()).copied();
        let Some(first) = first else {
            return Err(err("file is empty (no traces)".into()));
        };
        let mut tf = match first {
            b'[' => Self::open_array(path, read_all(path).map_err(err)?, bom),
            b'{' if looks_like_jsonl(&head[bom..]) => Self::open_jsonl(path, file, bom).map_err(err)?,
            b'{' => Self::open_single_json(path, read_all(path).map_err(err)?),
            _ => Self::open_text(path, read_all(path).map_err(err)?, bom).map_err(err)?,
        };
        tf.options = options;
        tf.format = match format {
            Some(f) => f,
            None if first == b'[' || first == b'{' => tf.sniff_format().map_err(err)?,
            None => Format::Text,
        };
        Ok(tf)
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
            return formats::text::read(&text, &ctx).map(|t| vec![t]).map_err(|e| problem(e.field, e.message));
        }
        let value: Value = serde_json::from_slice(&bytes).map_err(|e| problem(None, json_message(&e)))?;
        let traces = formats::read(self.format, value, &ctx).map_err(|e| problem(e.field, e.message))?;
        for t in &traces {
            // A native record whose generation produced nothing may have zero steps.
            if self.format == Format::Native && t.steps.is_empty() && t.solution.trim().is_empty() {
                continue;
            }
            t.validate().map_err(|(field, msg)| problem(Some(field.to_string()), format!("{msg} (trace {})", t.id)))?;
        }
        Ok(traces)
    }

    /// Every record in order: traces or a problem.
    pub fn records(&self) -> impl Iterator<Item = Result<Vec<Trace>, Problem>> + '_ {
        (0..self.record_count()).map(|i| self.record(i))
    }

    /// Loads everything that loads; problems are collected, never fatal.
    pub fn load_all(&self) -> (Vec<Trace>, Vec<Problem>) {
        let mut traces = Vec::new();
        let mut problems = self.index_problems.clone();
        for r in self.records() {
            match r {
                Ok(ts) => traces.extend(ts),
                Err(p) => problems.push(p),
            }
        }
        (traces, problems)
    }

    /// Finds a trace by id, parsing records only until it is found.
    pub fn find(&self, id: &str) -> Option<Trace> {
        self.records().filter_map(Result::ok).flatten().find(|t| t.id == id)
    }
}

fn read_all(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read: {e}"))
}

/// Rejects binary and non-UTF-8 encodings early with a message a person can act on.
fn check_text(head: &[u8], more: bool) -> Result<(), String> {
    if head.is_empty() {
        return Err("file is empty (no traces)".into());
    }
    if head.starts_with(b"\xFF\xFE") || head.starts_with(b"\xFE\xFF") {
        return Err("file is UTF-16 encoded; convert it to UTF-8".into());
    }
    if head.contains(&0) {
        return Err("binary file (contains NUL bytes), not a trace file".into());
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
        assert!(check_text(b"", false).is_err());
        assert!(check_text(b"ab\0cd", false).unwrap_err().contains("binary"));
        assert!(check_text(b"\xFF\xFEa\0", false).unwrap_err().contains("UTF-16"));
        assert!(check_text("héllo".as_bytes(), false).is_ok());
        assert!(check_text(&"é".as_bytes()[..1], true).is_ok());
    }
}
