//! `tenantops lock`: allocates router shard and listener-rule priority to new routed tenants and places pool tenants in packs, in `tenants.lock` (or, with `--check`, says whether it is up to date).

use std::collections::BTreeMap;
use std::path::Path;

use clap::Args;

use crate::diag::{self, Diagnostic};
use crate::exit::Exit;
use crate::failure::Failure;
use crate::files::write_files;
use crate::load::LOCK_FILE;
use crate::lockfile;
use crate::lockfile::merge;
use crate::model::Lock;
use crate::output::{Format, Output, plural};
use crate::repo::{Doc, Repo, Tree, open};
use crate::validate;
use crate::yaml::Span;

#[derive(Debug, Args)]
pub struct LockArgs {
    /// Do not write: exit 3 if `tenants.lock` is out of date.
    #[arg(long)]
    pub check: bool,
    /// With `--check`, check the lock as of git revision REV.
    #[arg(long, value_name = "REV", requires = "check")]
    pub rev: Option<String>,
    /// The deployed revision (for example `origin/main`), whose allocations never move:
    /// merging a lock two branches changed (git's conflict markers, or two tenants on
    /// one priority after a clean merge), the tenant that holds a slot at REV keeps it
    /// and the other side's tenant is given a new priority.
    #[arg(long, value_name = "REV")]
    pub base: Option<String>,
}

/// Diagnostics `tenantops lock` repairs by running, rather than refusing to run on.
const LOCK_FIXES: &[&str] = &[
    "not-allocated",
    "not-packed",
    "unknown-allocation",
    "stale-allocation",
];

/// Runs `lock`.
///
/// # Errors
/// A repository that cannot be read, or a lock that cannot be written.
pub fn run(dir: &Path, args: &LockArgs, out: &Output) -> Result<Exit, Failure> {
    let (mut repo, mut diags) = open(dir, args.rev.as_deref())?;
    let deployed = match &args.base {
        Some(rev) => Some(deployed_lock(dir, rev)?),
        None => None,
    };
    let merged = match merge_branches(&mut repo, &mut diags, deployed.as_ref()) {
        Ok(lines) => lines,
        Err(mut refusals) => {
            out.report(&mut refusals, &repo.sources, "", &serde_json::Value::Null);
            return Ok(Exit::Invalid);
        }
    };
    diags.extend(validate::validate(&repo));
    diags.retain(|d| !LOCK_FIXES.contains(&d.code));
    if diags.iter().any(Diagnostic::is_error) || !repo.complete {
        out.report(&mut diags, &repo.sources, "", &serde_json::Value::Null);
        return Ok(Exit::Invalid);
    }
    // A complete repository has its platform settings, so this always allocates.
    let Some((new, changes)) = lockfile::relock(&repo) else {
        return Ok(Exit::Invalid);
    };
    let text = lockfile::to_text(&new);
    if let Some(refusal) = lockfile::unreadable(&text) {
        let mut diags = vec![refusal];
        out.report(&mut diags, &repo.sources, "", &serde_json::Value::Null);
        return Ok(Exit::Invalid);
    }
    let current = repo.lock.as_ref().and_then(|l| repo_text(&repo, &l.file));
    let mut lines = merged;
    lines.extend(changes.lines());
    if current == Some(text.as_str()) {
        if out.format == Format::Json {
            crate::outln!("{}", serde_json::json!({"ok": true, "changed": false}));
        } else {
            crate::outln!(
                "ok: `{LOCK_FILE}` is up to date ({} allocation{} on {} shard{})",
                new.tenants.len(),
                plural(new.tenants.len()),
                new.shards.len(),
                plural(new.shards.len())
            );
        }
        return Ok(Exit::Success);
    }
    if lines.is_empty() {
        lines.push(match current {
            Some(_) => format!("`{LOCK_FILE}` is not in its canonical form (edited by hand?)"),
            None => format!("`{LOCK_FILE}` is missing"),
        });
    }
    if args.check {
        out.stale(&lines, "run `tenantops lock` and commit `tenants.lock`");
        return Ok(Exit::Stale);
    }
    write_files(dir, &BTreeMap::from([(LOCK_FILE.to_owned(), text)]))?;
    if out.format == Format::Json {
        crate::outln!(
            "{}",
            serde_json::json!({"ok": true, "changed": true, "changes": lines})
        );
    } else {
        for line in &lines {
            crate::outln!("{line}");
        }
        crate::outln!("wrote `{LOCK_FILE}`");
    }
    Ok(Exit::Success)
}

/// The lock at `rev`, whose allocations are live (an empty lock when it has none).
fn deployed_lock(dir: &Path, rev: &str) -> Result<Lock, Failure> {
    let (repo, _) = open(dir, Some(rev))?;
    match repo.lock {
        Some(lock) => Ok(lock.value),
        None if repo.lock_present => Err(Failure::Usage(format!(
            "`{LOCK_FILE}` at `{rev}` does not load (run `tenantops validate --rev {rev}`), so it cannot say which allocations are deployed"
        ))),
        None => Ok(Lock::default()),
    }
}

/// Merges what two branches did to the lock: the two sides of git's conflict markers
/// (their union, [`merge::union`]) and then any slot two tenants hold
/// ([`merge::settle`], with the deployed revision's lock). Returns what it did, for the
/// user; leaves the lock as it is when nothing needs merging, and a collision without
/// `--base` to validation, which refuses it with the way out.
///
/// # Errors
/// What the deployed revision cannot decide (each a located refusal).
fn merge_branches(
    repo: &mut Repo,
    diags: &mut Vec<Diagnostic>,
    deployed: Option<&Lock>,
) -> Result<Vec<String>, Vec<Diagnostic>> {
    let mut lines = Vec::new();
    let text = repo_text(repo, LOCK_FILE).map(str::to_owned);
    let refuse = |messages: Vec<String>, line: usize| -> Vec<Diagnostic> {
        messages
            .into_iter()
            .map(|m| {
                Diagnostic::error("lock-merge", LOCK_FILE, Span::new(line, 1, 1), m).help(
                    "name the deployed revision with `--base` (for example `origin/main`): its allocations decide",
                )
            })
            .collect()
    };
    if let Some(text) = text.filter(|t| merge::first_marker(t).is_some()) {
        let first = merge::first_marker(&text).unwrap_or(1);
        let (ours, theirs) = merge::sides(&text).map_err(|line| {
            refuse(vec!["git's conflict markers do not nest here, so the two sides cannot be told apart".to_owned()], line)
        })?;
        let side = |t: &str, name: &str| {
            read_lock(t).ok_or_else(|| {
                refuse(
                    vec![format!(
                        "{name} side of the conflict is not a lock tenantops can read"
                    )],
                    first,
                )
            })
        };
        let (ours, theirs) = (side(&ours, "our")?, side(&theirs, "their")?);
        let lock = merge::union(&ours, &theirs, deployed).map_err(|m| refuse(m, first))?;
        lines.push(format!(
            "merged both sides of the conflict in `{LOCK_FILE}` ({} and {} allocations)",
            ours.tenants.len(),
            theirs.tenants.len()
        ));
        diags.retain(|d| !(d.code == "merge-conflict" && d.file.as_deref() == Some(LOCK_FILE)));
        repo.complete = repo.platform.is_some() && !diags.iter().any(Diagnostic::is_error);
        repo.lock = Some(Doc {
            file: LOCK_FILE.to_owned(),
            node: Tree::deferred(lockfile::to_text(&lock)),
            value: lock,
        });
    }
    if let (Some(lock), Some(deployed)) = (repo.lock.as_mut(), deployed) {
        let settled = merge::settle(&mut lock.value, Some(deployed)).map_err(|m| refuse(m, 1))?;
        for (id, alloc) in settled.moved {
            lines.push(format!(
                "`{id}` gives up shard {} priority {}, which the deployed revision gives another tenant",
                alloc.shard, alloc.priority
            ));
        }
        if !lines.is_empty() {
            lock.node = Tree::deferred(lockfile::to_text(&lock.value));
        }
    }
    Ok(lines)
}

/// A lock's text as `tenantops lock` writes it, or any YAML that decodes as one.
fn read_lock(text: &str) -> Option<Lock> {
    lockfile::read_canonical(text).or_else(|| {
        let node = crate::yaml::parse(text).ok()?;
        serde_json::from_value(node.to_json()).ok()
    })
}

fn repo_text<'a>(repo: &'a Repo, path: &str) -> Option<&'a str> {
    diag::SourceText::text(&repo.sources, path)
}
