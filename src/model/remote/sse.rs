//! Server-sent events, framed in linear time with a cap on one event's size.
//!
//! eventsource-stream re-scans its whole buffer for a line end on every network chunk, so one
//! large event costs quadratic time (a 20 MB event took 52 s, a 200 MB one minutes) and is held
//! whole however large. This framer scans each byte once, keeps only the unread line and the
//! event's data, and refuses an event larger than its cap. It follows the SSE framing rules that
//! servers use: `data:` lines (one leading space dropped, several lines joined with `\n`),
//! comments (`:`), other fields ignored, line ends `\n`, `\r\n` or `\r`, a blank line ends an
//! event, and an event still open when the stream ends is dropped.

/// Splits a byte stream into the data of its events.
#[derive(Debug)]
pub struct Framer {
    buf: Vec<u8>,
    /// Start of the unread line in `buf`.
    start: usize,
    /// Bytes of `buf` already searched for a line end (from `start`).
    scanned: usize,
    /// The data lines of the event being read, each followed by `\n`.
    data: String,
    /// The most bytes one event (its lines together) may hold.
    cap: usize,
    /// The last line ended with `\r`: a `\n` right after it belongs to that line end.
    after_cr: bool,
}

impl Framer {
    pub fn new(cap: usize) -> Framer {
        Framer { buf: Vec::new(), start: 0, scanned: 0, data: String::new(), cap, after_cr: false }
    }

    /// Feeds the next bytes of the stream; returns the data of every event they complete.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<String>, String> {
        let mut events = Vec::new();
        let mut bytes = bytes;
        if self.after_cr && !bytes.is_empty() {
            self.after_cr = false;
            if bytes[0] == b'\n' {
                bytes = &bytes[1..];
            }
        }
        self.buf.extend_from_slice(bytes);
        loop {
            let from = self.start + self.scanned;
            let Some(i) = self.buf[from..].iter().position(|&b| b == b'\n' || b == b'\r') else {
                self.scanned = self.buf.len() - self.start;
                break;
            };
            let end = from + i;
            let mut next = end + 1;
            if self.buf[end] == b'\r' {
                match self.buf.get(next) {
                    Some(b'\n') => next += 1,
                    Some(_) => {}
                    None => self.after_cr = true,
                }
            }
            let line = std::str::from_utf8(&self.buf[self.start..end])
                .map_err(|_| "an event line is not UTF-8".to_string())?
                .to_string();
            self.start = next;
            self.scanned = 0;
            if let Some(event) = self.line(&line)? {
                events.push(event);
            }
        }
        if self.buf.len() - self.start + self.data.len() > self.cap {
            return Err(format!("an event is larger than {} MiB", self.cap >> 20));
        }
        // Drop what was read once it is the larger part: each byte is moved at most once more.
        if self.start > self.buf.len() / 2 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        Ok(events)
    }

    fn line(&mut self, line: &str) -> Result<Option<String>, String> {
        if line.is_empty() {
            if self.data.is_empty() {
                return Ok(None);
            }
            let mut data = std::mem::take(&mut self.data);
            data.pop();
            return Ok(Some(data));
        }
        if line.starts_with(':') {
            return Ok(None);
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        if field == "data" {
            if self.data.len() + value.len() + 1 > self.cap {
                return Err(format!("an event is larger than {} MiB", self.cap >> 20));
            }
            self.data.push_str(value);
            self.data.push('\n');
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(parts: &[&[u8]]) -> Vec<String> {
        let mut f = Framer::new(1 << 20);
        parts.iter().flat_map(|p| f.push(p).unwrap()).collect()
    }

    #[test]
    fn frames_events_across_any_split() {
        let stream = b": ping\n\ndata: {\"a\":1}\n\ndata:x\r\ndata: y\r\n\r\nevent: e\nid: 3\ndata: z\r\rdata: open";
        let want = ["{\"a\":1}", "x\ny", "z"];
        assert_eq!(all(&[stream]), want);
        // Byte by byte gives the same events (a \r\n split between pushes included).
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(all(&bytes), want);
        for cut in 0..stream.len() {
            assert_eq!(all(&[&stream[..cut], &stream[cut..]]), want, "split at {cut}");
        }
    }

    #[test]
    fn a_large_event_is_read_whole_and_capped() {
        // 8 MiB in 8 KiB pieces, as a network delivers it.
        let mut f = Framer::new(16 << 20);
        let body = vec![b'x'; 8 << 20];
        assert!(f.push(b"data: ").unwrap().is_empty());
        for piece in body.chunks(8 << 10) {
            assert!(f.push(piece).unwrap().is_empty());
        }
        let events = f.push(b"\n\n").unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].len(), 8 << 20);
        let mut small = Framer::new(1 << 20);
        let e = body.chunks(8 << 10).try_for_each(|p| small.push(p).map(|_| ())).unwrap_err();
        assert!(e.contains("larger than 1 MiB"), "{e}");
    }

    #[test]
    fn bad_utf8_is_an_error() {
        assert!(Framer::new(1024).push(b"data: \xff\n\n").is_err());
    }
}
