//! Atomic file writes: temp file, fsync, rename. A reader never sees a half-written file.

use crate::CoreError;
use std::io::Write;
use std::path::Path;

fn err(path: &Path, reason: impl ToString) -> CoreError {
    CoreError::Checkpoint {
        path: path.display().to_string(),
        reason: reason.to_string(),
    }
}

/// Writes `bytes` to `path` atomically (`path.tmp` → fsync → rename → fsync of the directory).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), CoreError> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| err(dir, e))?;
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(".tmp");
    let tmp = Path::new(&tmp_name);
    let mut f = std::fs::File::create(tmp).map_err(|e| err(tmp, e))?;
    f.write_all(bytes).map_err(|e| err(tmp, e))?;
    f.sync_all().map_err(|e| err(tmp, e))?;
    drop(f);
    std::fs::rename(tmp, path).map_err(|e| err(path, e))?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Reads a file written by [`write_atomic`]; a missing file is an error naming the path.
pub fn read(path: &Path) -> Result<Vec<u8>, CoreError> {
    std::fs::read(path).map_err(|e| err(path, e))
}
