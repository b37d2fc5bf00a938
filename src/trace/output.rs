//! Writing an output file without surprises: a regular file is replaced atomically (temp file in
//! the same folder, fsync, rename) and keeps its mode; a symbolic link is followed, so the link
//! stays a link and its target gets the data; FIFOs and character devices (`/dev/stdout`, a
//! pipe someone reads) are written in place as streams; block devices, sockets and folders are
//! refused. A failed write leaves no temp file behind.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::trace::store::{sync_dir, temp_beside};

/// Writes `data` to `path` (see the module notes).
pub fn write_file(path: &Path, data: &[u8]) -> io::Result<()> {
    let target = follow_links(path)?;
    match fs::metadata(&target) {
        Ok(m) if m.is_file() => replace(&target, data, Some(m.permissions().mode() & 0o7777)),
        Ok(m) if m.file_type().is_fifo() || m.file_type().is_char_device() => {
            let mut f = OpenOptions::new().write(true).open(&target)?;
            f.write_all(data)?;
            f.flush()
        }
        Ok(m) if m.is_dir() => Err(io::Error::other("is a directory")),
        Ok(_) => Err(io::Error::other("is a block device or socket: refusing to write to it")),
        Err(e) if e.kind() == io::ErrorKind::NotFound => replace(&target, data, None),
        Err(e) => Err(e),
    }
}

/// The path a chain of symbolic links ends at (which need not exist yet).
fn follow_links(path: &Path) -> io::Result<PathBuf> {
    let mut p = path.to_path_buf();
    for _ in 0..40 {
        match fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => {
                let next = fs::read_link(&p)?;
                p = match p.parent() {
                    Some(dir) if next.is_relative() => dir.join(next),
                    _ => next,
                };
            }
            _ => return Ok(p),
        }
    }
    Err(io::Error::other("too many levels of symbolic links"))
}

fn replace(path: &Path, data: &[u8], mode: Option<u32>) -> io::Result<()> {
    let tmp = temp_beside(path, "write");
    let result = (|| -> io::Result<()> {
        let mut f = OpenOptions::new().write(true).create_new(true).mode(mode.unwrap_or(0o666)).open(&tmp)?;
        if let Some(mode) = mode {
            f.set_permissions(fs::Permissions::from_mode(mode))?;
        }
        f.write_all(data)?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        sync_dir(path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}
