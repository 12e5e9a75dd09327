//! `Overlay`: a [`Store`] that shows files about to be written on top of another store, so a change is validated as the repository it would make before anything touches disk.

use std::collections::BTreeMap;

use super::LoadError;
use super::store::{DirEntry, EntryKind, Store};

/// `base` with `files` (repository-relative path → new text) written over it.
pub struct Overlay<'a> {
    base: &'a dyn Store,
    files: BTreeMap<String, String>,
}

impl<'a> Overlay<'a> {
    #[must_use]
    pub fn new(base: &'a dyn Store, files: BTreeMap<String, String>) -> Self {
        Overlay { base, files }
    }

    /// Whether `rel` is a folder holding one of the new files.
    fn holds_new(&self, rel: &str) -> bool {
        let prefix = format!("{}/", rel.trim_end_matches('/'));
        self.files.keys().any(|f| f.starts_with(&prefix))
    }
}

impl Store for Overlay<'_> {
    fn kind(&self, rel: &str) -> Result<Option<EntryKind>, LoadError> {
        if self.files.contains_key(rel) {
            return Ok(Some(EntryKind::File));
        }
        match self.base.kind(rel)? {
            None if self.holds_new(rel) => Ok(Some(EntryKind::Dir)),
            kind => Ok(kind),
        }
    }

    fn list(&self, rel: &str) -> Result<Vec<DirEntry>, LoadError> {
        let mut entries = match self.base.kind(rel)? {
            Some(EntryKind::Dir) => self.base.list(rel)?,
            _ => Vec::new(),
        };
        let prefix = format!("{}/", rel.trim_end_matches('/'));
        for path in self.files.keys() {
            let Some(name) = path.strip_prefix(&prefix) else {
                continue;
            };
            if name.contains('/') || entries.iter().any(|e| e.name.as_deref() == Ok(name)) {
                continue;
            }
            entries.push(DirEntry {
                name: Ok(name.to_owned()),
                kind: EntryKind::File,
            });
        }
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(entries)
    }

    fn read(&self, rel: &str, max: u64) -> Result<Result<Vec<u8>, u64>, LoadError> {
        match self.files.get(rel) {
            Some(text) if text.len() as u64 > max => Ok(Err(text.len() as u64)),
            Some(text) => Ok(Ok(text.as_bytes().to_vec())),
            None => self.base.read(rel, max),
        }
    }

    fn link_target(&self, rel: &str) -> Result<String, LoadError> {
        self.base.link_target(rel)
    }
}
