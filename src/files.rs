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
        let tmp = temp_path(&path);
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

/// The temporary file `path` is written through: a dotfile beside it
/// (`tenants/.acme.yaml.tmp-tenantops`), which every loader skips, so one left by
/// a killed write never makes a later `validate` fail (`tenants/acme.tmp-tenantops`
/// did: it is not a manifest).
fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    path.with_file_name(format!(".{name}.tmp-tenantops"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_temporary_file_is_a_dotfile_beside_its_file() {
        let tmp = temp_path(Path::new("/repo/tenants/acme.yaml"));
        assert_eq!(tmp.parent(), Some(Path::new("/repo/tenants")));
        let name = tmp.file_name().unwrap().to_string_lossy().into_owned();
        assert_eq!(name, ".acme.yaml.tmp-tenantops");
    }
}
