//! Commits the files `onboard` and `offboard` wrote, with git2: only those paths, on the current branch or a new one, so unrelated staged work is never swept into the commit.

use std::path::Path;

/// Who commits: `--author`, else git's own configuration (`user.name`, `user.email`).
#[derive(Clone, Debug)]
pub enum Author {
    Given { name: String, email: String },
    FromConfig,
}

impl Author {
    /// Parses `Name <email>`.
    ///
    /// # Errors
    /// When the text is not in that form.
    pub fn parse(text: &str) -> Result<Author, String> {
        let (name, rest) = text
            .split_once('<')
            .ok_or_else(|| format!("`{text}`: expected `Name <email>`"))?;
        let email = rest
            .strip_suffix('>')
            .ok_or_else(|| format!("`{text}`: expected `Name <email>`"))?;
        if name.trim().is_empty() || email.trim().is_empty() {
            return Err(format!("`{text}`: expected `Name <email>`"));
        }
        Ok(Author::Given {
            name: name.trim().to_owned(),
            email: email.trim().to_owned(),
        })
    }
}

/// `--branch NAME`, when it is a valid branch name.
///
/// # Errors
/// When git would refuse the name.
pub fn parse_branch(name: &str) -> Result<String, String> {
    if git2::Branch::name_is_valid(name).unwrap_or(false) {
        Ok(name.to_owned())
    } else {
        Err(format!("`{name}` is not a valid branch name"))
    }
}

/// What was committed.
pub struct Committed {
    pub id: String,
    pub branch: String,
}

/// A commit that git will accept, checked before anything is written: the repository,
/// its work tree, the author, HEAD and the new branch's name are all known good.
pub struct Prepared {
    repo: git2::Repository,
    workdir: std::path::PathBuf,
    signature: git2::Signature<'static>,
    parent: Option<git2::Oid>,
    branch: Option<String>,
}

/// Checks that the files of `dir` can be committed by `author` (onto a new branch
/// `branch`, when given), changing nothing.
///
/// # Errors
/// A message naming what git would refuse.
pub fn prepare(dir: &Path, author: &Author, branch: Option<&str>) -> Result<Prepared, String> {
    let repo = git2::Repository::discover(dir).map_err(|e| {
        format!(
            "`{}` is not in a git repository: {}",
            dir.display(),
            e.message()
        )
    })?;
    let workdir = repo
        .workdir()
        .ok_or("the git repository is bare; there is no work tree to commit from")?
        .to_owned();
    let signature = match author {
        Author::Given { name, email } => git2::Signature::now(name, email),
        Author::FromConfig => repo.signature(),
    }
    .map_err(|e| {
        format!(
            "no commit author: {}; set git's `user.name` and `user.email`, or pass --author \"Name <email>\"",
            e.message()
        )
    })?;
    let parent = match repo.head() {
        Ok(head) => Some(
            head.peel_to_commit()
                .map_err(|e| e.message().to_owned())?
                .id(),
        ),
        Err(e) if e.code() == git2::ErrorCode::UnbornBranch => None,
        Err(e) => return Err(format!("cannot read HEAD: {}", e.message())),
    };
    if let Some(name) = branch {
        if repo.find_branch(name, git2::BranchType::Local).is_ok() {
            return Err(format!("branch `{name}` already exists"));
        }
        if parent.is_none() {
            return Err("--branch needs a first commit to branch from".to_owned());
        }
    }
    Ok(Prepared {
        repo,
        workdir,
        signature,
        parent,
        branch: branch.map(str::to_owned),
    })
}

/// Commits `files` (paths relative to `dir`, now written) as `prepare` checked: on a
/// new branch at HEAD when one was given (created and checked out first).
///
/// # Errors
/// A message naming what git refused.
pub fn commit(
    prepared: Prepared,
    dir: &Path,
    files: &[String],
    message: &str,
) -> Result<Committed, String> {
    let Prepared {
        repo,
        workdir,
        signature,
        parent,
        branch,
    } = prepared;
    let parent = match parent {
        Some(id) => Some(repo.find_commit(id).map_err(|e| e.message().to_owned())?),
        None => None,
    };
    if let (Some(name), Some(parent)) = (&branch, &parent) {
        repo.branch(name, parent, false)
            .map_err(|e| format!("cannot create branch `{name}`: {}", e.message()))?;
        repo.set_head(&format!("refs/heads/{name}"))
            .map_err(|e| format!("cannot switch to branch `{name}`: {}", e.message()))?;
    }
    let rel = in_work_tree(dir, &workdir, files)?;

    // The new tree is HEAD's tree plus these files, built in a scratch index.
    let mut scratch = git2::Index::new().map_err(|e| e.message().to_owned())?;
    if let Some(parent) = &parent {
        let tree = parent.tree().map_err(|e| e.message().to_owned())?;
        scratch
            .read_tree(&tree)
            .map_err(|e| e.message().to_owned())?;
    }
    let mut index = repo.index().map_err(|e| e.message().to_owned())?;
    for (path, file) in rel.iter().zip(files) {
        let bytes =
            std::fs::read(dir.join(file)).map_err(|e| format!("cannot read `{file}`: {e}"))?;
        let blob = repo.blob(&bytes).map_err(|e| e.message().to_owned())?;
        let entry = index_entry(path, blob, bytes.len());
        scratch.add(&entry).map_err(|e| e.message().to_owned())?;
        index
            .add_path(Path::new(path))
            .map_err(|e| format!("cannot stage `{path}`: {}", e.message()))?;
    }
    let tree_id = scratch
        .write_tree_to(&repo)
        .map_err(|e| e.message().to_owned())?;
    let tree = repo
        .find_tree(tree_id)
        .map_err(|e| e.message().to_owned())?;
    let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
    let id = repo
        .commit(
            Some("HEAD"),
            &signature,
            &signature,
            message,
            &tree,
            &parents,
        )
        .map_err(|e| format!("cannot commit: {}", e.message()))?;
    index.write().map_err(|e| e.message().to_owned())?;
    let branch = repo
        .head()
        .ok()
        .and_then(|h| h.shorthand().ok().map(str::to_owned))
        .unwrap_or_default();
    Ok(Committed {
        id: id.to_string(),
        branch,
    })
}

/// `files` (relative to `dir`) as paths inside the git work tree `workdir`, with
/// forward slashes.
fn in_work_tree(dir: &Path, workdir: &Path, files: &[String]) -> Result<Vec<String>, String> {
    let base = dir
        .canonicalize()
        .map_err(|e| format!("cannot resolve `{}`: {e}", dir.display()))?;
    let root = workdir
        .canonicalize()
        .map_err(|e| format!("cannot resolve `{}`: {e}", workdir.display()))?;
    let prefix = base.strip_prefix(&root).unwrap_or(Path::new(""));
    Ok(files
        .iter()
        .map(|f| {
            prefix
                .join(f)
                .to_string_lossy()
                .replace(std::path::MAIN_SEPARATOR, "/")
        })
        .collect())
}

fn index_entry(path: &str, id: git2::Oid, size: usize) -> git2::IndexEntry {
    git2::IndexEntry {
        ctime: git2::IndexTime::new(0, 0),
        mtime: git2::IndexTime::new(0, 0),
        dev: 0,
        ino: 0,
        mode: 0o100_644,
        uid: 0,
        gid: 0,
        file_size: u32::try_from(size).unwrap_or(u32::MAX),
        id,
        flags: 0,
        flags_extended: 0,
        path: path.as_bytes().to_vec(),
    }
}
