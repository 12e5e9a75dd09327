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
use crate::output::{Format, Output, plural};
use crate::repo::{Repo, open};
use crate::validate;

#[derive(Debug, Args)]
pub struct LockArgs {
    /// Do not write: exit 3 if `tenants.lock` is out of date.
    #[arg(long)]
    pub check: bool,
    /// With `--check`, check the lock as of git revision REV.
    #[arg(long, value_name = "REV", requires = "check")]
    pub rev: Option<String>,
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
    let (repo, mut diags) = open(dir, args.rev.as_deref())?;
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
    let mut lines = changes.lines();
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

fn repo_text<'a>(repo: &'a Repo, path: &str) -> Option<&'a str> {
    diag::SourceText::text(&repo.sources, path)
}
