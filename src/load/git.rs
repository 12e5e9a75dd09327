//! A git revision as a `Store`: the tree of a commit read from the object database, no checkout.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};

use super::{DirEntry, EntryKind, LoadError, Store};

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
        if let Some(prefix) = prefix_in_workdir(repo, root)
            && !prefix.as_os_str().is_empty()
        {
            let entry = tree.get_path(&prefix).map_err(|_| LoadError::BadRevision {
                rev: rev.to_owned(),
                message: format!("`{}` does not exist at that revision", prefix.display()),
            })?;
            tree = entry.to_object(repo)?.peel_to_tree()?;
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
