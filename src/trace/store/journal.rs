//! Durable journal I/O. Every writer holds an exclusive advisory lock (`flock`, through std's
//! `File::lock`) on the journal for its append, readers hold a shared one, and compaction holds
//! the exclusive lock from its read to its rename. A writer that waited on a file compaction has
//! since replaced sees the inode change and retries on the new file, so no append can land in a
//! replaced file.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::records::{parse_line, Record};

/// Which file a path named when it was read (compaction replaces the file under the name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileId {
    dev: u64,
    ino: u64,
}

impl FileId {
    fn of(m: &fs::Metadata) -> FileId {
        FileId { dev: m.dev(), ino: m.ino() }
    }
}

/// What a path currently names: its identity and length, or `None` when there is no file.
/// A journal that exists but is not a regular file (a FIFO would block every reader) is an error.
pub fn stat(path: &Path) -> io::Result<Option<(FileId, u64)>> {
    match fs::metadata(path) {
        Ok(m) if m.is_file() => Ok(Some((FileId::of(&m), m.len()))),
        Ok(_) => Err(io::Error::other(format!("{} is not a regular file", path.display()))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// The bytes of a journal from `from` to its end, read under a shared lock.
pub struct Snapshot {
    pub id: FileId,
    pub bytes: Vec<u8>,
}

/// Reads a journal from byte `from` on (nothing when it does not exist).
pub fn read_from(path: &Path, from: u64) -> io::Result<Option<Snapshot>> {
    if stat(path)?.is_none() {
        return Ok(None);
    }
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    file.lock_shared()?;
    let id = FileId::of(&file.metadata()?);
    let bytes = read_to_end_at(&file, from)?;
    Ok(Some(Snapshot { id, bytes }))
}

fn read_to_end_at(file: &File, from: u64) -> io::Result<Vec<u8>> {
    let len = file.metadata()?.len();
    let mut bytes = vec![0u8; len.saturating_sub(from) as usize];
    file.read_exact_at(&mut bytes, from)?;
    Ok(bytes)
}

/// A line without its newline, and the offset just past the newline.
pub type Line<'a> = (&'a [u8], usize);

/// Complete lines of `bytes` with their end offsets, and the torn remainder after the last
/// newline (an interrupted write), if any.
pub fn split_lines(bytes: &[u8]) -> (Vec<Line<'_>>, Option<&[u8]>) {
    let mut lines = Vec::new();
    let mut start = 0;
    for nl in memchr::memchr_iter(b'\n', bytes) {
        lines.push((&bytes[start..nl], nl + 1));
        start = nl + 1;
    }
    let rest = &bytes[start..];
    (lines, (!rest.is_empty()).then_some(rest))
}

/// A journal open for appending under an exclusive lock (released on drop).
pub struct Locked {
    file: File,
    pub id: FileId,
    path: PathBuf,
    created: bool,
}

/// Opens (creating when missing) and exclusively locks the file `path` names now.
pub fn lock_for_append(path: &Path) -> io::Result<Locked> {
    let existed = stat(path)?.is_some();
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir)?;
    }
    let (file, id) = open_locked(path, OpenOptions::new().create(true).append(true).read(true))?;
    Ok(Locked { file, id, path: path.to_path_buf(), created: !existed })
}

/// Opens `path` with `options` and takes its exclusive lock, retrying while compaction renames
/// a new file over the name during the wait (the lock would be on the replaced file).
fn open_locked(path: &Path, options: &OpenOptions) -> io::Result<(File, FileId)> {
    loop {
        let file = options.open(path)?;
        file.lock()?;
        let id = FileId::of(&file.metadata()?);
        if stat(path)?.map(|(now, _)| now) == Some(id) {
            return Ok((file, id));
        }
    }
}

impl Locked {
    pub fn len(&self) -> io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }

    pub fn read_from(&self, from: u64) -> io::Result<Vec<u8>> {
        read_to_end_at(&self.file, from)
    }

    /// Appends one record line in one write and fsyncs it (and the folder for a new file).
    /// A torn last record is closed first so this one starts on its own line.
    pub fn append_line(&mut self, line: &str) -> io::Result<()> {
        let len = self.len()?;
        let mut buf = Vec::with_capacity(line.len() + 2);
        if len > 0 {
            let mut last = [0u8];
            self.file.read_exact_at(&mut last, len - 1)?;
            if last[0] != b'\n' {
                buf.push(b'\n');
            }
        }
        buf.extend_from_slice(line.as_bytes());
        buf.push(b'\n');
        self.file.write_all(&buf)?;
        self.file.sync_data()?;
        if self.created {
            sync_dir(&self.path)?;
            self.created = false;
        }
        Ok(())
    }
}

pub fn sync_dir(path: &Path) -> io::Result<()> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => File::open(dir)?.sync_all(),
        _ => File::open(".")?.sync_all(),
    }
}

/// What compaction did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compacted {
    pub path: PathBuf,
    /// Records kept.
    pub records: usize,
    /// Lines that could not be read, moved to the side file.
    pub rejected: usize,
    pub rejected_path: PathBuf,
}

/// Rewrites a journal to its current state: the latest record per (trace, annotator) label with
/// its own time stamp, per (trace, spec) result and per (trace, signal), plus records of kinds or
/// versions this build does not handle, verbatim. Lines that cannot be read are appended to
/// `<journal>.rejected`, never dropped. The file keeps its mode; a symbolic link or a read-only
/// journal is refused. The undo/redo history restarts from the compacted state.
pub fn compact(path: &Path) -> io::Result<Compacted> {
    let meta = fs::symlink_metadata(path)?;
    if meta.file_type().is_symlink() {
        return Err(io::Error::other(format!(
            "{} is a symbolic link: compact the journal it points to instead",
            path.display()
        )));
    }
    if !meta.is_file() {
        return Err(io::Error::other(format!("{} is not a regular file", path.display())));
    }
    if meta.permissions().readonly() {
        return Err(io::Error::other(format!("{} is read-only: not compacted", path.display())));
    }
    let (file, _) = open_locked(path, OpenOptions::new().read(true))?;
    let bytes = read_to_end_at(&file, 0)?;
    let (kept, rejected) = compacted_lines(&bytes);
    let rejected_path = PathBuf::from(format!("{}.rejected", path.display()));
    if !rejected.is_empty() {
        let before = fs::metadata(&rejected_path).map(|m| m.len()).ok();
        let mut side = OpenOptions::new().create(true).append(true).mode(0o600).open(&rejected_path)?;
        let mut out = Vec::new();
        for line in &rejected {
            out.extend_from_slice(line);
            out.push(b'\n');
        }
        if let Err(e) = side.write_all(&out).and_then(|_| side.sync_all()) {
            // A full disk: the side file goes back to what it was (or away, if this made it),
            // and the journal is left as it is.
            match before {
                Some(len) => drop(side.set_len(len)),
                None => drop(fs::remove_file(&rejected_path)),
            }
            return Err(io::Error::new(
                e.kind(),
                format!("{}: {e}; the journal is unchanged", rejected_path.display()),
            ));
        }
    }
    let mut out = Vec::new();
    for line in &kept {
        out.extend_from_slice(line);
        out.push(b'\n');
    }
    let mode = file.metadata()?.permissions().mode() & 0o7777;
    let tmp = temp_beside(path, "compact");
    let written = (|| -> io::Result<()> {
        let mut f = OpenOptions::new().write(true).create_new(true).mode(mode).open(&tmp)?;
        f.set_permissions(fs::Permissions::from_mode(mode))?; // the umask may have narrowed it
        let _ = std::os::unix::fs::fchown(&f, Some(meta.uid()), Some(meta.gid()));
        f.write_all(&out)?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        sync_dir(path)
    })();
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written?;
    drop(file); // releases the lock: waiting writers retry on the new file
    Ok(Compacted { path: path.to_path_buf(), records: kept.len(), rejected: rejected.len(), rejected_path })
}

/// A temp file name in the same folder (so the rename stays on one filesystem).
pub fn temp_beside(path: &Path, what: &str) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!(".{name}.{what}-{}.tmp", std::process::id()))
}

/// The lines a compacted journal keeps, in the order of their latest record, and the lines it
/// cannot read.
fn compacted_lines(bytes: &[u8]) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    use std::collections::HashMap;
    let (lines, torn) = split_lines(bytes);
    // Latest position per key; labels keep their value (None = cleared, then dropped).
    // (record kind, trace, annotator/spec/signal) → (line index, the line to keep or none).
    type Latest = HashMap<(u8, String, String), (usize, Option<Vec<u8>>)>;
    let mut latest = Latest::new();
    let mut verbatim: Vec<(usize, Vec<u8>)> = Vec::new();
    let mut rejected = Vec::new();
    for (i, (line, _)) in lines.iter().enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match parse_line(line) {
            Ok(Record::Label(r)) => {
                let kept = r.value.map(|_| {
                    let mut r = r.clone();
                    r.op = super::records::Op::Set;
                    r.to_json().to_string().into_bytes()
                });
                latest.insert((0, r.trace, r.annotator), (i, kept));
            }
            Ok(Record::Verify(r)) => {
                latest.insert((1, r.trace, r.spec), (i, Some(line.to_vec())));
            }
            Ok(Record::Signal(r)) => {
                latest.insert((2, r.trace, r.signal), (i, Some(line.to_vec())));
            }
            Ok(Record::Rating(r)) => {
                let kept = r.rating.map(|_| line.to_vec());
                latest.insert((3, r.trace, format!("{}\u{0}{}", r.annotator, r.step)), (i, kept));
            }
            Ok(Record::Gold(r)) => {
                let kept = r.value.map(|_| line.to_vec());
                latest.insert((4, r.trace, String::new()), (i, kept));
            }
            Ok(Record::Other | Record::Newer(_)) => verbatim.push((i, line.to_vec())),
            Err(_) => rejected.push(line.to_vec()),
        }
    }
    if let Some(t) = torn {
        rejected.push(t.to_vec());
    }
    let mut kept: Vec<(usize, Vec<u8>)> = latest.into_values().filter_map(|(i, l)| Some((i, l?))).collect();
    kept.extend(verbatim);
    kept.sort_by_key(|(i, _)| *i);
    (kept.into_iter().map(|(_, l)| l).collect(), rejected)
}
