//! Puts a render on disk all at once: files go to a sibling staging directory while stacks render, and the staging directory replaces the output only when everything succeeded, so a reader never sees half of one render and half of another, and a failed render leaves the previous one in place.
//!
//! A file whose bytes equal the previous render's is hard-linked from it rather than
//! written again: re-rendering a large fleet after a small change creates few new
//! files (creating files, not writing bytes, is what costs on a disk). A stack whose
//! inputs the previous render's index records unchanged is not even rendered: its
//! files are linked as they are ([`Staging::link_previous`]).
//!
//! The output directory belongs to tenantops: it carries a `.tenantops-render` marker
//! (which also holds that index), and a directory that exists without one is never
//! replaced.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::Rendered;
use super::inputs::Index;

/// The file that marks a directory as tenantops render output.
pub const MARKER: &str = ".tenantops-render";

/// Why the output could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error(
        "`{0}` exists and is not tenantops render output (no `{MARKER}` in it); refusing to replace it"
    )]
    Foreign(String),
    #[error("cannot write `{path}`")]
    Io {
        path: String,
        #[source]
        source: io::Error,
    },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> WriteError + '_ {
    move |source| WriteError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// A render being written: files land in a staging directory next to the output.
#[derive(Debug)]
pub struct Staging {
    dir: PathBuf,
    tmp: PathBuf,
    old: PathBuf,
    /// The previous render, whose unchanged files are linked rather than rewritten.
    previous: Option<PathBuf>,
    /// What the previous render's marker says each of its files was rendered from.
    previous_index: Index,
    /// When the previous render finished (its marker is written last): a file changed
    /// after it was edited by hand, and is rendered again rather than linked.
    previous_stamp: Option<std::time::SystemTime>,
    /// The first write error; later writes are skipped.
    error: Mutex<Option<WriteError>>,
    finished: bool,
}

impl Staging {
    /// Prepares to replace `dir`.
    ///
    /// # Errors
    /// `dir` exists and is not render output, or the staging directory cannot be made.
    pub fn new(dir: &Path) -> Result<Staging, WriteError> {
        let mut previous = None;
        if dir.exists() && !dir.is_dir() {
            return Err(WriteError::Foreign(dir.display().to_string()));
        }
        if dir.exists() {
            let is_empty = dir.read_dir().map_err(io_err(dir))?.next().is_none();
            if !is_empty && !dir.join(MARKER).is_file() {
                return Err(WriteError::Foreign(dir.display().to_string()));
            }
            previous = (!is_empty).then(|| dir.to_path_buf());
        }
        let parent = dir
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(parent).map_err(io_err(parent))?;
        let name = dir
            .file_name()
            .map_or_else(|| "render".into(), |n| n.to_string_lossy().into_owned());
        let pid = std::process::id();
        let tmp = parent.join(format!(".{name}.tmp-tenantops-{pid}"));
        let old = parent.join(format!(".{name}.old-tenantops-{pid}"));
        let _ = std::fs::remove_dir_all(&tmp);
        for sub in ["stacks", "nginx"] {
            let path = tmp.join(sub);
            std::fs::create_dir_all(&path).map_err(io_err(&path))?;
        }
        let marker = previous.as_ref().map(|p| p.join(MARKER));
        let previous_index = marker
            .as_ref()
            .and_then(|m| std::fs::read_to_string(m).ok())
            .map(|text| Index::parse(&text))
            .unwrap_or_default();
        let previous_stamp = marker
            .as_ref()
            .and_then(|m| std::fs::metadata(m).ok()?.modified().ok());
        Ok(Staging {
            dir: dir.to_path_buf(),
            tmp,
            old,
            previous,
            previous_index,
            previous_stamp,
            error: Mutex::new(None),
            finished: false,
        })
    }

    /// Stages `bytes` as `rel` (a path relative to the output directory). Safe to call
    /// from several threads; an error is kept for [`Staging::finish`].
    pub fn put(&self, rel: &str, bytes: &[u8]) {
        if self.error.lock().is_ok_and(|e| e.is_some()) {
            return;
        }
        let target = self.tmp.join(rel);
        if let Some(prev) = &self.previous {
            let old = prev.join(rel);
            let same = std::fs::metadata(&old).is_ok_and(|m| m.len() == bytes.len() as u64)
                && std::fs::read(&old).is_ok_and(|b| b == bytes);
            if same && std::fs::hard_link(&old, &target).is_ok() {
                return;
            }
        }
        if let Err(e) = std::fs::write(&target, bytes)
            && let Ok(mut slot) = self.error.lock()
        {
            slot.get_or_insert_with(|| io_err(&target)(e));
        }
    }

    /// What the previous render's marker recorded of its files' inputs.
    pub(super) fn previous_index(&self) -> &Index {
        &self.previous_index
    }

    /// Hard-links each of `files` (a path relative to the output, and the size the
    /// previous render's index gives it, if any) from the previous render into the
    /// staging directory: all of them, or none when one is missing, has another size
    /// or cannot be linked (a file linked here is never written through, which would
    /// change the previous render in place).
    pub(super) fn link_previous(&self, files: &[(&str, Option<usize>)]) -> bool {
        let (Some(prev), Some(stamp)) = (&self.previous, self.previous_stamp) else {
            return false;
        };
        for (i, (rel, size)) in files.iter().enumerate() {
            let old = prev.join(rel);
            let fits = std::fs::symlink_metadata(&old).is_ok_and(|m| {
                m.is_file()
                    && size.is_none_or(|size| m.len() == size as u64)
                    && m.modified().is_ok_and(|t| t <= stamp)
            });
            if !fits || std::fs::hard_link(&old, self.tmp.join(rel)).is_err() {
                for (rel, _) in &files[..i] {
                    let _ = std::fs::remove_file(self.tmp.join(rel));
                }
                return false;
            }
        }
        true
    }

    /// Writes the documents that describe the whole render and swaps the staging
    /// directory into place.
    ///
    /// # Errors
    /// The first error of a [`Staging::put`], or of the swap.
    pub fn finish(mut self, rendered: &Rendered) -> Result<(), WriteError> {
        self.put("routing.json", &pretty(rendered.routing.clone()));
        self.put("usage-plans.json", &pretty(rendered.usage_plans.clone()));
        let index: Vec<serde_json::Value> = rendered
            .stacks
            .iter()
            .map(|s| {
                serde_json::json!({
                    "name": s.spec.name,
                    "kind": s.spec.kind,
                    "depends_on": s.spec.depends_on,
                })
            })
            .collect();
        self.put(
            "stacks.json",
            &pretty(serde_json::json!({
                "stacks": index,
                "offboarding": rendered.offboarding,
            })),
        );
        // Written, never linked, and last of all: its time is when this render ended.
        let marker = self.tmp.join(MARKER);
        if let Err(e) = std::fs::write(&marker, rendered.index.to_text())
            && let Ok(mut slot) = self.error.lock()
        {
            slot.get_or_insert_with(|| io_err(&marker)(e));
        }
        if let Some(e) = self.error.lock().ok().and_then(|mut e| e.take()) {
            return Err(e);
        }
        self.swap()?;
        self.finished = true;
        Ok(())
    }

    fn swap(&self) -> Result<(), WriteError> {
        let (tmp, dir, old) = (&self.tmp, &self.dir, &self.old);
        if dir.exists() {
            let _ = std::fs::remove_dir_all(old);
            std::fs::rename(dir, old).map_err(io_err(dir))?;
            if let Err(e) = std::fs::rename(tmp, dir) {
                let _ = std::fs::rename(old, dir);
                return Err(io_err(dir)(e));
            }
            let _ = std::fs::remove_dir_all(old);
        } else {
            std::fs::rename(tmp, dir).map_err(io_err(dir))?;
        }
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.finished {
            let _ = std::fs::remove_dir_all(&self.tmp);
        }
    }
}

/// Pretty JSON with a trailing newline, for the files people review.
pub(super) fn pretty(mut value: serde_json::Value) -> Vec<u8> {
    super::json::canonical(&mut value);
    let mut out = serde_json::to_vec_pretty(&value).unwrap_or_default();
    out.push(b'\n');
    out
}
