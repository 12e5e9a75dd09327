//! Stage 1, load: reads the repository's manifest files from the work tree or from a git revision (blobs, no checkout).
//!
//! Both origins sit behind one [`Store`] trait so that a revision loads exactly as its
//! checkout would. Loading refuses, with a located diagnostic, whatever a manifest file
//! must not be: over [`MAX_FILE_BYTES`], not UTF-8, not a regular file, a symlink that
//! leaves the repository, or a file in `tenants/` or `tiers/` not ending in `.yaml`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io;

use crate::diag::{Diagnostic, SourceText};
use crate::yaml::Span;
use links::resolve;

mod git;
mod links;
mod overlay;
mod store;

pub use git::{GitRevision, GitTree};
pub use overlay::Overlay;
pub use store::{DirEntry, EntryKind, Store, WorkTree};

/// Largest manifest file tenantops reads.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;
/// Largest `tenants.lock`: machine-written, about 40 bytes a tenant (80 with the
/// longest ids), so 32 MiB holds 100,000 tenants several times over. `tenantops lock`
/// refuses to write a lock over it, so every lock it writes reads back.
pub const MAX_LOCK_BYTES: u64 = 32 * 1024 * 1024;
/// Most symlinks followed to reach one file.
const MAX_LINK_HOPS: usize = 8;

pub const PLATFORM_FILE: &str = "tenantops.yaml";
pub const TIERS_DIR: &str = "tiers";
pub const TENANTS_DIR: &str = "tenants";
/// The folder of the repository's own minijinja templates.
pub const TEMPLATES_DIR: &str = "templates";
pub const LOCK_FILE: &str = "tenants.lock";

/// A file's repository-relative path (forward slashes) and its text.
#[derive(Clone, Debug)]
pub struct SourceFile {
    pub path: String,
    pub text: String,
}

/// Every file loaded, by path; what the diagnostic printers quote from.
#[derive(Debug, Default)]
pub struct Sources {
    files: Vec<SourceFile>,
    index: HashMap<String, usize>,
}

impl Sources {
    /// Adds a file and returns its index.
    pub fn add(&mut self, path: String, text: String) -> usize {
        let id = self.files.len();
        self.index.insert(path.clone(), id);
        self.files.push(SourceFile { path, text });
        id
    }

    #[must_use]
    pub fn get(&self, id: usize) -> &SourceFile {
        &self.files[id]
    }
}

impl SourceText for Sources {
    fn text(&self, path: &str) -> Option<&str> {
        self.index.get(path).map(|&i| self.files[i].text.as_str())
    }
}

/// The repository's manifest files as text, sorted into their roles.
#[derive(Debug, Default)]
pub struct RawRepo {
    pub sources: Sources,
    pub platform: Option<usize>,
    pub tiers: Vec<usize>,
    pub tenants: Vec<usize>,
    pub lock: Option<usize>,
    /// `tenants.lock` exists but could not be read (too large, not UTF-8, not a file):
    /// that is one error, and no tenant is then also "not allocated".
    pub lock_unreadable: bool,
    /// Names (file stems) of every `.yaml` file in `tiers/`, including any that failed
    /// to load, so a tenant of a broken tier is not told its tier does not exist.
    pub tier_names: BTreeSet<String>,
    /// Whether `tenants/` was read completely. A fleet whose tenant folder did not load
    /// must never be taken as "no tenants".
    pub tenants_complete: bool,
    /// Only the tenant files asked for were read (`render --tenant`): rules about the
    /// whole fleet (an allocation whose tenant is not there) must not run.
    pub subset: bool,
    /// The repository's own templates (`templates/**/*.j2`) by name relative to
    /// `templates/`, as source ids; they override the built-in ones of the same name.
    pub templates: BTreeMap<String, usize>,
}
/// Why a repository could not be opened at all (as opposed to a bad manifest in it).
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("`{0}` is not a directory")]
    NotADirectory(String),
    #[error("`{path}` is not inside a git repository, so `--rev` cannot be used")]
    NotAGitRepository {
        path: String,
        #[source]
        source: git2::Error,
    },
    #[error("cannot resolve revision `{rev}`: {message}")]
    BadRevision { rev: String, message: String },
    #[error("cannot read the git repository: {0}")]
    Git(#[from] git2::Error),
    #[error("cannot read `{path}`")]
    Io {
        path: String,
        #[source]
        source: io::Error,
    },
}

/// Loads the repository's manifests from `store`. Problems with individual files become
/// diagnostics; only a store that cannot be read at all is an error.
///
/// # Errors
/// I/O or git errors reading the store.
pub fn load(store: &dyn Store) -> Result<(RawRepo, Vec<Diagnostic>), LoadError> {
    load_some(store, None)
}

/// Like [`load`], but reads only the tenant files of `ids` (every other file as
/// usual). A tenant file that does not exist is left out; the caller tells the user.
///
/// # Errors
/// I/O or git errors reading the store.
pub fn load_tenants(
    store: &dyn Store,
    ids: &[String],
) -> Result<(RawRepo, Vec<Diagnostic>), LoadError> {
    load_some(store, Some(ids))
}

fn load_some(
    store: &dyn Store,
    only: Option<&[String]>,
) -> Result<(RawRepo, Vec<Diagnostic>), LoadError> {
    let mut repo = RawRepo::default();
    let mut diags = Vec::new();

    match read_file(store, PLATFORM_FILE, PLATFORM_FILE, &mut repo.sources)? {
        Ok(Some(id)) => repo.platform = Some(id),
        Ok(None) => diags.push(
            Diagnostic::unlocated(
                "no-platform",
                Some(PLATFORM_FILE),
                format!("`{PLATFORM_FILE}` is missing: this is not a tenantops repository"),
            )
            .help("run tenantops in the repository root, or point at it with `-C DIR`"),
        ),
        Err(d) => diags.push(d),
    }
    match read_file_within(
        store,
        LOCK_FILE,
        LOCK_FILE,
        MAX_LOCK_BYTES,
        &mut repo.sources,
    )? {
        Ok(id) => repo.lock = id,
        Err(d) => {
            repo.lock_unreadable = true;
            diags.push(d);
        }
    }
    let tiers = read_folder(store, TIERS_DIR, &mut repo.sources)?;
    repo.tiers = tiers.files;
    repo.tier_names = tiers.names;
    diags.extend(tiers.diags);
    if let Some(ids) = only {
        repo.subset = true;
        repo.tenants_complete = true;
        // In file-name order, as a listing of the folder gives them.
        let mut files: Vec<String> = ids
            .iter()
            .map(|id| format!("{TENANTS_DIR}/{id}.yaml"))
            .collect();
        files.sort();
        files.dedup();
        // A `tenants` that is a file makes every path under it unreadable: say that,
        // as the full load does, instead of an I/O error about one manifest.
        if let Err(d) = folder_at(store, TENANTS_DIR)? {
            repo.tenants_complete = false;
            files.clear();
            diags.push(d);
        }
        for rel in files {
            match read_file(store, &rel, &rel, &mut repo.sources)? {
                Ok(Some(source)) => repo.tenants.push(source),
                Ok(None) => {}
                Err(d) => {
                    repo.tenants_complete = false;
                    diags.push(d);
                }
            }
        }
    } else {
        let tenants = read_folder(store, TENANTS_DIR, &mut repo.sources)?;
        repo.tenants = tenants.files;
        repo.tenants_complete = tenants.listed && tenants.diags.is_empty();
        diags.extend(tenants.diags);
    }
    read_templates(store, TEMPLATES_DIR, &mut repo, &mut diags)?;
    Ok((repo, diags))
}

/// Reads every `*.j2` file under `dir` (recursively) into `repo.templates`. Other files
/// (a README) are documentation, not templates, and are left alone.
fn read_templates(
    store: &dyn Store,
    dir: &str,
    repo: &mut RawRepo,
    diags: &mut Vec<Diagnostic>,
) -> Result<(), LoadError> {
    let resolved = match resolve(store, dir, dir)? {
        Ok(Some((path, EntryKind::Dir))) => path,
        Ok(_) => return Ok(()),
        Err(d) => {
            diags.push(d);
            return Ok(());
        }
    };
    for entry in store.list(&resolved)? {
        let Ok(name) = entry.name else { continue };
        if name.starts_with('.') {
            continue;
        }
        let rel = format!("{dir}/{name}");
        if entry.kind == EntryKind::Dir {
            read_templates(store, &rel, repo, diags)?;
        } else if has_template_extension(&name) {
            match read_file(
                store,
                &format!("{resolved}/{name}"),
                &rel,
                &mut repo.sources,
            )? {
                Ok(Some(id)) => {
                    let key = rel
                        .strip_prefix(TEMPLATES_DIR)
                        .map_or(rel.as_str(), |k| k.trim_start_matches('/'));
                    repo.templates.insert(key.to_owned(), id);
                }
                Ok(None) => {}
                Err(d) => diags.push(d),
            }
        }
    }
    Ok(())
}

/// What [`read_folder`] found in one folder.
#[derive(Default)]
struct Folder {
    /// The manifests that were read, as source ids.
    files: Vec<usize>,
    /// Stems of every `.yaml` entry, read or not.
    names: BTreeSet<String>,
    diags: Vec<Diagnostic>,
    /// Whether the folder could be listed (a missing folder counts as listed and empty).
    listed: bool,
}

/// The folder `dir` (symlinks followed inside the repository): its path, `None` when it
/// does not exist, or the problem with it (not a directory, a link out or a loop).
fn folder_at(
    store: &dyn Store,
    dir: &str,
) -> Result<Result<Option<String>, Diagnostic>, LoadError> {
    Ok(match resolve(store, dir, dir)? {
        Ok(Some((path, EntryKind::Dir))) => Ok(Some(path)),
        Ok(Some(_)) => Err(Diagnostic::unlocated(
            "not-a-directory",
            Some(dir),
            format!("`{dir}` must be a directory"),
        )),
        Ok(None) => Ok(None),
        Err(d) => Err(d),
    })
}

/// Reads every `*.yaml` file of `dir`. Dotfiles (`.gitkeep`) are skipped; anything else
/// that is not a manifest is an error, never silently ignored.
fn read_folder(store: &dyn Store, dir: &str, sources: &mut Sources) -> Result<Folder, LoadError> {
    let mut folder = Folder::default();
    let resolved = match folder_at(store, dir)? {
        Ok(Some(path)) => path,
        Ok(None) => {
            folder.listed = true;
            return Ok(folder);
        }
        Err(d) => {
            folder.diags.push(d);
            return Ok(folder);
        }
    };
    for entry in store.list(&resolved)? {
        let name = match entry.name {
            Ok(name) => name,
            Err(lossy) => {
                folder.diags.push(Diagnostic::at_file_start(
                    "bad-file-name",
                    &format!("{dir}/{lossy}"),
                    "file name is not valid UTF-8",
                ));
                continue;
            }
        };
        if name.starts_with('.') {
            continue;
        }
        let rel = format!("{dir}/{name}");
        if entry.kind == EntryKind::Dir {
            folder.diags.push(
                Diagnostic::unlocated(
                    "unexpected-directory",
                    Some(&rel),
                    format!("`{rel}` is a directory; `{dir}/` holds one `.yaml` file per entry"),
                )
                .help("move its files up into the folder, or out of it"),
            );
            continue;
        }
        if !has_yaml_extension(&name) {
            folder.diags.push(
                Diagnostic::at_file_start(
                    "not-a-manifest",
                    &rel,
                    format!("`{rel}` is not a manifest: files in `{dir}/` must end in `.yaml`"),
                )
                .help(format!(
                    "rename it to `{dir}/{}.yaml`, or move it out of `{dir}/`",
                    name.rsplit_once('.')
                        .map_or(name.as_str(), |(stem, _)| stem)
                )),
            );
            continue;
        }
        folder
            .names
            .insert(name.trim_end_matches(".yaml").to_owned());
        match read_file(store, &format!("{resolved}/{name}"), &rel, sources)? {
            Ok(Some(id)) => folder.files.push(id),
            Ok(None) => {}
            Err(d) => folder.diags.push(d),
        }
    }
    folder.listed = true;
    Ok(folder)
}

#[allow(clippy::case_sensitive_file_extension_comparisons)] // `.J2` is not a template name
fn has_template_extension(name: &str) -> bool {
    name.ends_with(".j2")
}

#[allow(clippy::case_sensitive_file_extension_comparisons)] // `.YAML` is refused on purpose
fn has_yaml_extension(name: &str) -> bool {
    name.len() > ".yaml".len() && name.ends_with(".yaml")
}

/// Reads the file at `path`, following symlinks that stay inside the repository, and
/// records it as `rel` (the path the user knows it by). `Ok(Ok(None))` when it does
/// not exist.
fn read_file(
    store: &dyn Store,
    path: &str,
    rel: &str,
    sources: &mut Sources,
) -> Result<Result<Option<usize>, Diagnostic>, LoadError> {
    read_file_within(store, path, rel, MAX_FILE_BYTES, sources)
}

/// [`read_file`] with its own size cap (`tenants.lock` is larger than a manifest).
fn read_file_within(
    store: &dyn Store,
    path: &str,
    rel: &str,
    max: u64,
    sources: &mut Sources,
) -> Result<Result<Option<usize>, Diagnostic>, LoadError> {
    let target = match resolve(store, path, rel)? {
        Ok(Some((target, EntryKind::File))) => target,
        Ok(Some((_, kind))) => {
            let what = if kind == EntryKind::Dir {
                "a directory"
            } else {
                "not a regular file"
            };
            return Ok(Err(Diagnostic::at_file_start(
                "not-a-file",
                rel,
                format!("`{rel}` is {what}"),
            )));
        }
        Ok(None) => return Ok(Ok(None)),
        Err(d) => return Ok(Err(d)),
    };
    let read = match store.read(&target, max) {
        Ok(read) => read,
        // One unreadable file (permissions, a vanished file) is that file's problem.
        Err(LoadError::Io { source, .. }) => {
            return Ok(Err(Diagnostic::at_file_start(
                "unreadable",
                rel,
                format!("cannot read `{rel}`: {source}"),
            )));
        }
        Err(e) => return Err(e),
    };
    let bytes = match read {
        Ok(bytes) => bytes,
        Err(size) => {
            let what = if rel == LOCK_FILE {
                "the lock is"
            } else {
                "manifests are"
            };
            return Ok(Err(Diagnostic::at_file_start(
                "file-too-large",
                rel,
                format!(
                    "`{rel}` is {size} bytes; {what} at most {max} bytes ({} MiB)",
                    max >> 20
                ),
            )
            .help(
                "a file this large is not one tenantops wrote; check what was committed here",
            )));
        }
    };
    match decode_utf8(bytes) {
        Ok(text) => Ok(Ok(Some(sources.add(rel.to_owned(), text)))),
        Err((span, byte)) => Ok(Err(Diagnostic::error(
            "not-utf8",
            rel,
            span,
            format!(
                "`{rel}` is not valid UTF-8 (byte 0x{byte:02x} at line {}, column {})",
                span.line, span.col
            ),
        )
        .help("save the file as UTF-8"))),
    }
}

/// Text of a manifest with a leading byte-order mark removed, or the position of the
/// first byte that is not UTF-8.
fn decode_utf8(mut bytes: Vec<u8>) -> Result<String, (Span, u8)> {
    if bytes.starts_with(b"\xEF\xBB\xBF") {
        bytes.drain(..3);
    }
    String::from_utf8(bytes).map_err(|e| {
        let good = e.utf8_error().valid_up_to();
        let bytes = e.as_bytes();
        let prefix = String::from_utf8_lossy(&bytes[..good]);
        let line = prefix.matches('\n').count() + 1;
        let col = prefix.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        (Span::new(line, col, 1), bytes[good])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_errors_are_located() {
        let (span, byte) = decode_utf8(b"id: a\ntier: b\xffc\n".to_vec()).unwrap_err();
        assert_eq!((span.line, span.col, byte), (2, 8, 0xff));
        assert_eq!(decode_utf8(b"\xEF\xBB\xBFid: a".to_vec()).unwrap(), "id: a");
    }
}
