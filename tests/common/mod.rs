//! Shared test harness: fixture repositories in temporary directories, the real binary run over them, git commits made with git2.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository root of this crate (the shipped example fleet).
pub fn shipped() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A temporary repository.
pub struct Fixture {
    pub dir: tempfile::TempDir,
}

/// What a run of the binary produced.
#[derive(Debug)]
pub struct Run {
    /// The `-C` directory, which prefixes every path tenantops prints.
    pub root: String,
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Both streams, for assertions that do not care where a line went.
    pub fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

impl Fixture {
    /// An empty directory.
    pub fn empty() -> Self {
        Fixture {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    /// A copy of the shipped example fleet (platform, tiers, tenants, lock, schemas).
    pub fn example() -> Self {
        let f = Fixture::empty();
        let root = shipped();
        for file in ["tenantops.yaml", "tenants.lock"] {
            std::fs::copy(root.join(file), f.path().join(file)).expect("copy");
        }
        for dir in ["tiers", "tenants", "schemas"] {
            std::fs::create_dir_all(f.path().join(dir)).expect("mkdir");
            for entry in std::fs::read_dir(root.join(dir)).expect("read_dir") {
                let entry = entry.expect("entry");
                std::fs::copy(entry.path(), f.path().join(dir).join(entry.file_name()))
                    .expect("copy");
            }
        }
        f
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, rel: &str, text: impl AsRef<[u8]>) -> &Self {
        let path = self.path().join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
        self
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path().join(rel)).expect("read")
    }

    pub fn remove(&self, rel: &str) -> &Self {
        std::fs::remove_file(self.path().join(rel)).expect("remove");
        self
    }

    /// Runs `tenantops -C <fixture> <args>`.
    pub fn run(&self, args: &[&str]) -> Run {
        run_in(self.path(), args)
    }

    /// Commits the whole work tree (git2) and returns the commit id.
    pub fn commit(&self, message: &str) -> String {
        let repo = match git2::Repository::open(self.path()) {
            Ok(r) => r,
            Err(_) => git2::Repository::init(self.path()).expect("git init"),
        };
        commit_all(&repo, message)
    }
}

pub fn commit_all(repo: &git2::Repository, message: &str) -> String {
    let mut index = repo.index().expect("index");
    index
        .add_all(["*"].iter(), git2::IndexAddOption::DEFAULT, None)
        .expect("add");
    index.update_all(["*"].iter(), None).expect("update");
    index.write().expect("write index");
    let tree = repo
        .find_tree(index.write_tree().expect("tree"))
        .expect("find tree");
    let sig = git2::Signature::now("Test", "test@example.com").expect("sig");
    let parent = repo.head().ok().and_then(|h| h.peel_to_commit().ok());
    let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
    repo.commit(Some("HEAD"), &sig, &sig, message, &tree, &parents)
        .expect("commit")
        .to_string()
}

pub fn run_in(dir: &Path, args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_tenantops"))
        .arg("-C")
        .arg(dir)
        .args(args)
        .env_remove("NO_COLOR")
        .output()
        .expect("run tenantops");
    Run {
        root: dir.display().to_string(),
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A valid tenant manifest.
pub fn tenant(id: &str, tier: &str) -> String {
    format!(
        "# yaml-language-server: $schema=../schemas/tenant.schema.json\nid: {id}\nname: Tenant {id}\ntier: {tier}\nadmin_email: admin@{id}.example.com\n"
    )
}

/// Asserts that `run` failed as invalid input with a diagnostic at `location`
/// (`file:line:col` or `file`) whose text contains `message`.
#[track_caller]
pub fn assert_invalid(run: &Run, location: &str, message: &str) {
    assert_eq!(
        run.code,
        1,
        "expected exit 1 (invalid input)\n{}",
        run.all()
    );
    let err = &run.stderr;
    let arrow = format!("--> {}/{location}\n", run.root);
    let hit = err
        .split("\n\n")
        .any(|block| block.contains(&arrow) && block.contains(message));
    assert!(
        hit,
        "expected a diagnostic at `{location}` containing `{message}`, got:\n{err}"
    );
}

/// Asserts that `haystack` contains `needle`, printing the whole text when it does not.
#[track_caller]
pub fn assert_contains(haystack: &str, needle: impl AsRef<str>) {
    let needle = needle.as_ref();
    assert!(
        haystack.contains(needle),
        "expected `{needle}` in:\n{haystack}"
    );
}
