//! Where the journals of a trace file live. Journals are keyed by the trace file's canonical
//! path, so a file reached through a symbolic link shares the real file's journal, and two files
//! of the same name in different folders never share one.

use std::fs;
use std::path::{Path, PathBuf};

pub const SUFFIX: &str = ".stepscope.jsonl";

/// The journals of one trace file: where new records go, and every journal to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalLocation {
    /// Where new records are appended.
    pub path: PathBuf,
    /// Every journal holding records of this file, the write journal included (existing ones, or
    /// just the write journal when none exists yet).
    pub read: Vec<PathBuf>,
    /// Said when records do not go beside the file, or an old journal is left unread.
    pub note: Option<String>,
}

/// Chooses the journals for `trace_file`.
///
/// With `--store DIR`: `DIR/<name>-<hash of the canonical path>.stepscope.jsonl`. Otherwise the
/// journal beside the (canonical) file when it can be written, else the per-user data folder;
/// both are read when both exist, so labels made while the folder was read-only are never hidden.
pub fn locate_journal(trace_file: &Path, store_dir: Option<&Path>) -> JournalLocation {
    let canonical = fs::canonicalize(trace_file).unwrap_or_else(|_| trace_file.to_path_buf());
    let name = canonical.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "traces".into());
    let keyed = format!("{name}-{:016x}{SUFFIX}", path_hash(&canonical));
    if let Some(dir) = store_dir {
        let path = dir.join(&keyed);
        let legacy = dir.join(format!("{name}{SUFFIX}"));
        let note = legacy.exists().then(|| {
            format!(
                "{} is a journal of an older stepscope, keyed by file name only (it may hold labels of another \
                 file named {name}); it is not read: rename it to {} if it belongs to {}",
                legacy.display(),
                path.display(),
                canonical.display()
            )
        });
        return JournalLocation { read: vec![path.clone()], path, note };
    }
    let beside = PathBuf::from(format!("{}{SUFFIX}", canonical.display()));
    let fallback = crate::dirs::data_dir().join("stores").join(keyed);
    let path = if beside_writable(&beside, &canonical) { beside.clone() } else { fallback.clone() };
    let mut read: Vec<PathBuf> = [&beside, &fallback].into_iter().filter(|p| p.exists()).cloned().collect();
    if !read.contains(&path) {
        read.push(path.clone());
    }
    let note = (path == fallback).then(|| {
        // Name the real reason: a journal beside the file that is no regular file (a FIFO, a
        // folder) or is read-only, else the folder.
        let why = match fs::metadata(&beside) {
            Ok(m) if !m.is_file() => format!("{} is not a regular file", beside.display()),
            Ok(_) => format!("{} cannot be written", beside.display()),
            Err(_) => format!("the folder of {} is read-only", trace_file.display()),
        };
        format!("{why}: labels are kept in {}", fallback.display())
    });
    JournalLocation { path, read, note }
}

/// A journal beside the file can take records when it exists and its mode allows writing, or
/// when it does not exist and the folder allows creating it. Mode bits decide, so even root
/// leaves a read-only dataset folder alone.
fn beside_writable(beside: &Path, trace_file: &Path) -> bool {
    match fs::metadata(beside) {
        Ok(m) => m.is_file() && !m.permissions().readonly() && fs::OpenOptions::new().append(true).open(beside).is_ok(),
        Err(_) => folder_writable(trace_file),
    }
}

/// A folder counts as writable only if its mode allows writing and a probe file can be created.
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
    let ok = fs::File::create(&probe).is_ok();
    let _ = fs::remove_file(&probe);
    ok
}

/// FNV-1a of the path: stable across runs and builds.
fn path_hash(p: &Path) -> u64 {
    use std::os::unix::ffi::OsStrExt;
    p.as_os_str().as_bytes().iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3))
}
