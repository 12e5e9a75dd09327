//! Stage 1, load: reads the repository's manifest files from the work tree or from a git revision (blobs, no checkout).
//!
//! Both origins sit behind one [`Store`] trait so that a revision loads exactly as its
//! checkout would. Loading refuses, with a located diagnostic, whatever a manifest file
//! must not be: over [`MAX_FILE_BYTES`], not UTF-8, not a regular file, a symlink that
//! leaves the repository, or a file in `tenants/` or `tiers/` not ending in `.yaml`.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::io::{self, Read as _};
use std::path::{Path, PathBuf};

use crate::diag::{Diagnostic, SourceText};
use crate::yaml::Span;

/// Largest manifest file tenantops reads.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;
/// Most symlinks followed to reach one file.
const MAX_LINK_HOPS: usize = 8;

pub const PLATFORM_FILE: &str = "tenantops.yaml";
pub const TIERS_DIR: &str = "tiers";
pub const TENANTS_DIR: &str = "tenants";
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
    /// Names (file stems) of every `.yaml` file in `tiers/`, including any that failed
    /// to load, so a tenant of a broken tier is not told its tier does not exist.
    pub tier_names: BTreeSet<String>,
    /// Whether `tenants/` was read completely. A fleet whose tenant folder did not load
    /// must never be taken as "no tenants".
    pub tenants_complete: bool,
}

/// Where the repository is read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// The files on disk under the root.
    WorkTree,
    /// A git revision (anything `git rev-parse` accepts), read from the object database.
    Revision(String),
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

/// The files of one git revision, read from the object database.
pub struct GitTree<'r> {
    repo: &'r git2::Repository,
    tree: git2::Tree<'r>,
    /// Directory trees by path. Looking each file up from the root would parse the
    /// 10,000-entry `tenants` tree once per tenant.
    dirs: RefCell<HashMap<String, Option<git2::Tree<'r>>>>,
}

/// An opened git repository, the revision's tree id and the tenantops root inside it.
pub struct GitRevision {
    pub repo: git2::Repository,
    pub tree: git2::Oid,
    pub commit: git2::Oid,
}

impl GitRevision {
    /// Opens the repository containing `root` and resolves `rev` to the tree of
    /// `root`'s directory at that revision.
    ///
    /// # Errors
    /// When `root` is not in a git repository, or `rev` does not resolve.
    pub fn open(root: &Path, rev: &str) -> Result<Self, LoadError> {
        let repo =
            git2::Repository::discover(root).map_err(|source| LoadError::NotAGitRepository {
                path: root.display().to_string(),
                source,
            })?;
        let (tree, commit) = Self::resolve(&repo, root, rev)?;
        Ok(GitRevision { repo, tree, commit })
    }

    fn resolve(
        repo: &git2::Repository,
        root: &Path,
        rev: &str,
    ) -> Result<(git2::Oid, git2::Oid), LoadError> {
        let bad = |e: git2::Error| LoadError::BadRevision {
            rev: rev.to_owned(),
            message: e.message().to_owned(),
        };
        let commit = repo
            .revparse_single(rev)
            .and_then(|o| o.peel_to_commit())
            .map_err(bad)?;
        let mut tree = commit.tree()?;
        if let Some(prefix) = prefix_in_workdir(repo, root) {
            if !prefix.as_os_str().is_empty() {
                let entry = tree.get_path(&prefix).map_err(|_| LoadError::BadRevision {
                    rev: rev.to_owned(),
                    message: format!("`{}` does not exist at that revision", prefix.display()),
                })?;
                tree = entry.to_object(repo)?.peel_to_tree()?;
            }
        }
        Ok((tree.id(), commit.id()))
    }

    /// A [`Store`] over the revision.
    ///
    /// # Errors
    /// When the tree object cannot be read.
    pub fn store(&self) -> Result<GitTree<'_>, LoadError> {
        Ok(GitTree {
            repo: &self.repo,
            tree: self.repo.find_tree(self.tree)?,
            dirs: RefCell::new(HashMap::new()),
        })
    }
}

fn prefix_in_workdir(repo: &git2::Repository, root: &Path) -> Option<PathBuf> {
    let workdir = repo.workdir()?.canonicalize().ok()?;
    let root = root.canonicalize().ok()?;
    root.strip_prefix(workdir).ok().map(Path::to_owned)
}

impl<'r> GitTree<'r> {
    /// The tree of directory `dir` ("" is the root), `None` if it is not a directory.
    fn dir(&self, dir: &str) -> Result<Option<git2::Tree<'r>>, LoadError> {
        if dir.is_empty() {
            return Ok(Some(self.tree.clone()));
        }
        if let Some(tree) = self.dirs.borrow().get(dir) {
            return Ok(tree.clone());
        }
        let (parent, name) = dir.rsplit_once('/').unwrap_or(("", dir));
        let tree = match self.dir(parent)? {
            Some(parent) => match parent.get_name(name) {
                Some(e) if git_kind(e.filemode()) == EntryKind::Dir => {
                    Some(self.repo.find_tree(e.id())?)
                }
                _ => None,
            },
            None => None,
        };
        self.dirs.borrow_mut().insert(dir.to_owned(), tree.clone());
        Ok(tree)
    }

    /// The mode and object id of `rel`, if it exists.
    fn entry(&self, rel: &str) -> Result<Option<(i32, git2::Oid)>, LoadError> {
        let (dir, name) = rel.rsplit_once('/').unwrap_or(("", rel));
        Ok(self
            .dir(dir)?
            .and_then(|tree| tree.get_name(name).map(|e| (e.filemode(), e.id()))))
    }

    fn blob(&self, rel: &str) -> Result<git2::Blob<'r>, LoadError> {
        let (_, id) = self.entry(rel)?.ok_or_else(|| LoadError::Io {
            path: rel.to_owned(),
            source: io::Error::from(io::ErrorKind::NotFound),
        })?;
        Ok(self.repo.find_blob(id)?)
    }
}

fn git_kind(mode: i32) -> EntryKind {
    match mode & 0o170_000 {
        0o100_000 => EntryKind::File,
        0o040_000 => EntryKind::Dir,
        0o120_000 => EntryKind::Symlink,
        _ => EntryKind::Other,
    }
}

impl Store for GitTree<'_> {
    fn kind(&self, rel: &str) -> Result<Option<EntryKind>, LoadError> {
        if rel.is_empty() {
            return Ok(Some(EntryKind::Dir));
        }
        Ok(self.entry(rel)?.map(|(mode, _)| git_kind(mode)))
    }

    fn list(&self, rel: &str) -> Result<Vec<DirEntry>, LoadError> {
        let Some(tree) = self.dir(rel)? else {
            return Ok(Vec::new());
        };
        let mut entries: Vec<DirEntry> = tree
            .iter()
            .map(|e| DirEntry {
                name: e
                    .name()
                    .map(str::to_owned)
                    .map_err(|_| String::from_utf8_lossy(e.name_bytes()).into_owned()),
                kind: git_kind(e.filemode()),
            })
            .collect();
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(entries)
    }

    fn read(&self, rel: &str, max: u64) -> Result<Result<Vec<u8>, u64>, LoadError> {
        let blob = self.blob(rel)?;
        let size = blob.size() as u64;
        if size > max {
            return Ok(Err(size));
        }
        Ok(Ok(blob.content().to_vec()))
    }

    fn link_target(&self, rel: &str) -> Result<String, LoadError> {
        Ok(String::from_utf8_lossy(self.blob(rel)?.content()).into_owned())
    }
}

/// Loads the repository's manifests from `store`. Problems with individual files become
/// diagnostics; only a store that cannot be read at all is an error.
///
/// # Errors
/// I/O or git errors reading the store.
pub fn load(store: &dyn Store) -> Result<(RawRepo, Vec<Diagnostic>), LoadError> {
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
    match read_file(store, LOCK_FILE, LOCK_FILE, &mut repo.sources)? {
        Ok(id) => repo.lock = id,
        Err(d) => diags.push(d),
    }
    let (tiers, tier_diags, _) = read_folder(store, TIERS_DIR, &mut repo.sources)?;
    repo.tier_names = store_names(store, TIERS_DIR)?;
    repo.tiers = tiers;
    diags.extend(tier_diags);
    let (tenants, tenant_diags, complete) = read_folder(store, TENANTS_DIR, &mut repo.sources)?;
    repo.tenants = tenants;
    repo.tenants_complete = complete && tenant_diags.is_empty();
    diags.extend(tenant_diags);
    Ok((repo, diags))
}

/// Reads every `*.yaml` file of `dir`. Dotfiles (`.gitkeep`) are skipped; anything else
/// that is not a manifest is an error, never silently ignored.
fn read_folder(
    store: &dyn Store,
    dir: &str,
    sources: &mut Sources,
) -> Result<(Vec<usize>, Vec<Diagnostic>, bool), LoadError> {
    let mut ids = Vec::new();
    let mut diags = Vec::new();
    let resolved = match resolve(store, dir, dir)? {
        Ok(Some((path, EntryKind::Dir))) => path,
        Ok(Some((_, _))) => {
            diags.push(Diagnostic::unlocated(
                "not-a-directory",
                Some(dir),
                format!("`{dir}` must be a directory"),
            ));
            return Ok((ids, diags, false));
        }
        Ok(None) => return Ok((ids, diags, true)),
        Err(d) => {
            diags.push(d);
            return Ok((ids, diags, false));
        }
    };
    for entry in store.list(&resolved)? {
        let name = match entry.name {
            Ok(name) => name,
            Err(lossy) => {
                diags.push(Diagnostic::at_file_start(
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
            diags.push(
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
            diags.push(
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
        match read_file(store, &format!("{resolved}/{name}"), &rel, sources)? {
            Ok(Some(id)) => ids.push(id),
            Ok(None) => {}
            Err(d) => diags.push(d),
        }
    }
    Ok((ids, diags, true))
}

/// Stems of the `.yaml` entries of `dir` (empty when it is missing or unreadable).
fn store_names(store: &dyn Store, dir: &str) -> Result<BTreeSet<String>, LoadError> {
    let Ok(Some((resolved, EntryKind::Dir))) = resolve(store, dir, dir)? else {
        return Ok(BTreeSet::new());
    };
    Ok(store
        .list(&resolved)?
        .into_iter()
        .filter_map(|e| e.name.ok())
        .filter(|n| has_yaml_extension(n) && !n.starts_with('.'))
        .map(|n| n.trim_end_matches(".yaml").to_owned())
        .collect())
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
    let read = match store.read(&target, MAX_FILE_BYTES) {
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
            return Ok(Err(Diagnostic::at_file_start(
                "file-too-large",
                rel,
                format!(
                    "`{rel}` is {size} bytes; manifests are at most {MAX_FILE_BYTES} bytes (1 MiB)"
                ),
            )
            .help(
                "a manifest this large is not a manifest; check what was committed here",
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

/// Follows symlinks from `rel` while they stay inside the repository. Returns the
/// final path and its kind, `None` when it does not exist, or a diagnostic when a link
/// leaves the repository or loops.
fn resolve(
    store: &dyn Store,
    path: &str,
    rel: &str,
) -> Result<Result<Option<(String, EntryKind)>, Diagnostic>, LoadError> {
    let mut current = path.to_owned();
    for _ in 0..=MAX_LINK_HOPS {
        match store.kind(&current)? {
            None => return Ok(Ok(None)),
            Some(EntryKind::Symlink) => {
                let target = store.link_target(&current)?;
                let parent = current.rsplit_once('/').map_or("", |(p, _)| p);
                match join_inside(parent, &target) {
                    Some(next) => current = next,
                    None => {
                        return Ok(Err(Diagnostic::at_file_start(
                "symlink-outside-repository",
                rel,
                            format!("`{rel}` is a symlink to `{target}`, outside the repository"),
                        )
                        .help("tenantops reads only files inside the repository; commit the file itself")));
                    }
                }
            }
            Some(kind) => return Ok(Ok(Some((current, kind)))),
        }
    }
    Ok(Err(Diagnostic::at_file_start(
        "symlink-loop",
        rel,
        format!("`{rel}` is a chain of more than {MAX_LINK_HOPS} symlinks"),
    )))
}

/// `base/target` normalised, or `None` if `target` is absolute or climbs out of the root.
fn join_inside(base: &str, target: &str) -> Option<String> {
    if target.starts_with('/') || target.starts_with('\\') || target.contains(':') {
        return None;
    }
    let mut parts: Vec<&str> = base.split('/').filter(|p| !p.is_empty()).collect();
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    if parts.is_empty() {
        return None;
    }
    Some(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_stay_inside() {
        assert_eq!(
            join_inside("tenants", "../shared/a.yaml").as_deref(),
            Some("shared/a.yaml")
        );
        assert_eq!(join_inside("tenants", "../../etc/passwd"), None);
        assert_eq!(join_inside("tenants", "/etc/passwd"), None);
        assert_eq!(join_inside("", "a/./b.yaml").as_deref(), Some("a/b.yaml"));
    }

    #[test]
    fn utf8_errors_are_located() {
        let (span, byte) = decode_utf8(b"id: a\ntier: b\xffc\n".to_vec()).unwrap_err();
        assert_eq!((span.line, span.col, byte), (2, 8, 0xff));
        assert_eq!(decode_utf8(b"\xEF\xBB\xBFid: a".to_vec()).unwrap(), "id: a");
    }
}
