//! Whole-file writes that readers never see half done: the SSO token cache and the `aws login`
//! cache are written back this way.
//!
//! The new contents go to a temporary file in the same directory (so the rename stays on one
//! file system), are flushed to disk (`fsync`), then the temporary file is renamed over the
//! target, and the directory is flushed. A reader sees the old file or the new one; a crash
//! before the rename leaves the old file as it was.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A hook run after the temporary file is written and flushed, before the rename; an error stops
/// the write there (tests use it to play a crash between the two steps).
pub(crate) type BeforeRename = Arc<BeforeRenameFn>;

/// The function behind [`BeforeRename`].
pub(crate) type BeforeRenameFn = dyn Fn(&Path) -> io::Result<()> + Send + Sync;

/// Writes `bytes` to `path` atomically (see the module docs), on a blocking thread.
pub(crate) async fn write_atomically(
    path: PathBuf,
    bytes: Vec<u8>,
    before_rename: Option<BeforeRename>,
) -> io::Result<()> {
    tokio::task::spawn_blocking(move || write_blocking(&path, &bytes, before_rename.as_deref()))
        .await
        .map_err(io::Error::other)?
}

fn write_blocking(
    path: &Path,
    bytes: &[u8],
    before_rename: Option<&BeforeRenameFn>,
) -> io::Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| io::Error::other("the cache file has no directory"))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = dir.join(format!(
        ".{name}.{}.{:016x}.tmp",
        std::process::id(),
        fastrand::u64(..)
    ));
    let result = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        if let Some(hook) = before_rename {
            hook(&temp)?;
        }
        std::fs::rename(&temp, path)?;
        // The rename itself is durable once the directory is flushed (best effort: not every
        // platform can open a directory).
        if let Ok(dir) = std::fs::File::open(dir) {
            let _ = dir.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}
