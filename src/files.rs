//! Writing files into the repository whole: each through a temporary file, renamed only once every one is written.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::failure::Failure;

/// Writes `files` (paths relative to `dir` → text), each through a temporary file,
/// renaming them only once every one is written: a reader never sees half a file, and
/// a failure before the renames leaves the repository as it was.
///
/// # Errors
/// The first file that cannot be written or renamed (the temporary files are removed).
pub fn write_files(dir: &Path, files: &BTreeMap<String, String>) -> Result<(), Failure> {
    let mut staged = Vec::new();
    let cleanup = |staged: &[(PathBuf, PathBuf)]| {
        for (tmp, _) in staged {
            let _ = std::fs::remove_file(tmp);
        }
    };
    for (rel, text) in files {
        let path = dir.join(rel);
        let tmp = path.with_extension("tmp-tenantops");
        let written = path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(&tmp, text));
        if let Err(e) = written {
            cleanup(&staged);
            return Err(Failure::Io(path.display().to_string(), e));
        }
        staged.push((tmp, path));
    }
    for (i, (tmp, path)) in staged.iter().enumerate() {
        if let Err(e) = std::fs::rename(tmp, path) {
            cleanup(&staged[i..]);
            return Err(Failure::Io(path.display().to_string(), e));
        }
    }
    Ok(())
}
