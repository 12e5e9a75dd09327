//! The `Store` abstraction over a repository snapshot, and its file-system implementation (`WorkTree`).

use std::fs;
use std::io::{self, Read as _};
use std::path::{Path, PathBuf};

use super::LoadError;

/// What kind of thing a path names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Dir,
    Symlink,
    Other,
}

/// One entry of a directory listing. `name` is `None` when it is not valid UTF-8.
#[derive(Clone, Debug)]
pub struct DirEntry {
    pub name: Result<String, String>,
    pub kind: EntryKind,
}

/// Read access to a repository snapshot, with repository-relative paths.
pub trait Store {
    /// What `rel` is, without following a final symlink; `None` if it does not exist.
    ///
    /// # Errors
    /// I/O or git errors.
    fn kind(&self, rel: &str) -> Result<Option<EntryKind>, LoadError>;
    /// The entries of directory `rel`, sorted by name.
    ///
    /// # Errors
    /// I/O or git errors.
    fn list(&self, rel: &str) -> Result<Vec<DirEntry>, LoadError>;
    /// The bytes of file `rel`, or `Err(size)` when it is larger than `max`.
    ///
    /// # Errors
    /// I/O or git errors.
    fn read(&self, rel: &str, max: u64) -> Result<Result<Vec<u8>, u64>, LoadError>;
    /// The target of symlink `rel`, as written.
    ///
    /// # Errors
    /// I/O or git errors.
    fn link_target(&self, rel: &str) -> Result<String, LoadError>;
}

/// The files under a directory on disk.
pub struct WorkTree {
    root: PathBuf,
}

impl WorkTree {
    /// # Errors
    /// When `root` is not a directory.
    pub fn new(root: &Path) -> Result<Self, LoadError> {
        if !root.is_dir() {
            return Err(LoadError::NotADirectory(root.display().to_string()));
        }
        Ok(WorkTree {
            root: root.to_owned(),
        })
    }

    fn io(&self, rel: &str, source: io::Error) -> LoadError {
        LoadError::Io {
            path: self.root.join(rel).display().to_string(),
            source,
        }
    }
}

impl Store for WorkTree {
    fn kind(&self, rel: &str) -> Result<Option<EntryKind>, LoadError> {
        match fs::symlink_metadata(self.root.join(rel)) {
            Ok(meta) => Ok(Some(kind_of(meta.file_type()))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io(rel, e)),
        }
    }

    fn list(&self, rel: &str) -> Result<Vec<DirEntry>, LoadError> {
        let mut entries = Vec::new();
        for entry in fs::read_dir(self.root.join(rel)).map_err(|e| self.io(rel, e))? {
            let entry = entry.map_err(|e| self.io(rel, e))?;
            let kind = kind_of(entry.file_type().map_err(|e| self.io(rel, e))?);
            let name = entry.file_name();
            let name = name
                .to_str()
                .map(str::to_owned)
                .ok_or_else(|| name.to_string_lossy().into_owned());
            entries.push(DirEntry { name, kind });
        }
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(entries)
    }

    fn read(&self, rel: &str, max: u64) -> Result<Result<Vec<u8>, u64>, LoadError> {
        let file = fs::File::open(self.root.join(rel)).map_err(|e| self.io(rel, e))?;
        let mut bytes = Vec::new();
        file.take(max + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| self.io(rel, e))?;
        if bytes.len() as u64 > max {
            let size = fs::metadata(self.root.join(rel)).map_or(max + 1, |m| m.len());
            return Ok(Err(size));
        }
        Ok(Ok(bytes))
    }

    fn link_target(&self, rel: &str) -> Result<String, LoadError> {
        let target = fs::read_link(self.root.join(rel)).map_err(|e| self.io(rel, e))?;
        Ok(target.to_string_lossy().into_owned())
    }
}

fn kind_of(t: fs::FileType) -> EntryKind {
    if t.is_symlink() {
        EntryKind::Symlink
    } else if t.is_file() {
        EntryKind::File
    } else if t.is_dir() {
        EntryKind::Dir
    } else {
        EntryKind::Other
    }
}
