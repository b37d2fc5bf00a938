//! How every face opens a trace file and its label store: the reading options (format,
//! segmentation) and where journals live, with no command-line types attached.

use std::path::{Path, PathBuf};

use super::store::{locate_journal, JournalLocation, Store};
use super::{Format, OpenError, ReadOptions, Segmentation, TraceFile};

#[derive(Debug, Clone, Default)]
pub struct Opener {
    /// The format, when not detected from the content.
    pub format: Option<Format>,
    /// Step segmentation for formats that segment text.
    pub segment: Option<Segmentation>,
    /// Folder for label journals (`--store`); default beside each file.
    pub store_dir: Option<PathBuf>,
}

impl Opener {
    pub fn open(&self, path: &Path) -> Result<TraceFile, OpenError> {
        TraceFile::open(path, self.format, ReadOptions { segmentation: self.segment.clone() })
    }

    /// Where the journals of a trace file are.
    pub fn journal(&self, path: &Path) -> JournalLocation {
        locate_journal(path, self.store_dir.as_deref())
    }

    /// Opens the label store of a trace file, leaving its replay warnings to the caller.
    pub fn store(&self, path: &Path) -> Result<Store, String> {
        let loc = self.journal(path);
        Store::open_location(&loc).map_err(|e| format!("{}: cannot read label journal: {e}", loc.path.display()))
    }
}
