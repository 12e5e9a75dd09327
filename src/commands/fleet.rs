//! What the commands that talk to AWS share (`plan`, `apply`, `status`, `bootstrap`): the desired state of a revision, the async runtime, the SDK settings, the live listing, confirmation, the stack runner and the stage lock.

use std::io::{BufRead as _, Write as _};
use std::path::Path;
use std::sync::Arc;

use crate::apply::lease::Keeper;
use crate::apply::lock;
use crate::apply::progress::Progress;
use crate::apply::{Options, Runner};
use crate::aws::{Aws, LiveStack, Settings};
use crate::commands::args::AwsArgs;
use crate::diag::Diagnostic;
use crate::failure::Failure;
use crate::output::{Format, Output};
use crate::plan::shard::Part;
use crate::plan::{Desired, Plan, show};
use crate::render;
use crate::repo::open;
use crate::validate;

/// The desired state of the repository at `rev` (the work tree without one), or the
/// diagnostics that make it invalid (already printed).
pub(super) fn desired(
    dir: &Path,
    rev: Option<&str>,
    out: &Output,
    part: &Part,
) -> Result<Option<Desired>, Failure> {
    let (repo, mut diags) = open(dir, rev)?;
    diags.extend(validate::validate(&repo));
    if !diags.iter().any(Diagnostic::is_error) && repo.complete {
        let only = part.tenants_to_render(&repo);
        match render::render_in_memory_only(&repo, only.as_deref()) {
            Ok(rendered) => {
                let mut desired = Desired::new(&repo, rendered);
                // One part renders its own stacks; the deletion guards count the whole
                // change's deletions, so they need every stack's name.
                if only.is_some() {
                    desired.fleet = Some(
                        crate::stacks::build(&repo, None)
                            .stacks
                            .into_iter()
                            .map(|s| s.name)
                            .collect(),
                    );
                }
                return Ok(Some(desired));
            }
            Err(problems) => diags.extend(problems),
        }
    }
    out.report(&mut diags, &repo.sources, "", &serde_json::Value::Null);
    Ok(None)
}

/// An offline plan's two sides: the repository at `rev` (the work tree without one)
/// and at `base_rev`, each rendering only the stacks whose inputs differ from the
/// other side's (the rest are unchanged without rendering). `None` when the head is
/// invalid (its diagnostics printed). A base without `tenantops.yaml` (the pull
/// request that adds tenantops) is empty.
pub(super) fn offline_sides(
    dir: &Path,
    rev: Option<&str>,
    base_rev: &str,
    out: &Output,
    part: &Part,
) -> Result<Option<(Desired, Desired)>, Failure> {
    use std::collections::HashMap;
    let (repo, mut diags) = open(dir, rev)?;
    diags.extend(validate::validate(&repo));
    let report = |mut diags: Vec<Diagnostic>| -> Result<Option<(Desired, Desired)>, Failure> {
        out.report(&mut diags, &repo.sources, "", &serde_json::Value::Null);
        Ok(None)
    };
    if diags.iter().any(Diagnostic::is_error) || !repo.complete {
        return report(diags);
    }
    let head = match render::Prepared::new(&repo, part.tenants_to_render(&repo).as_deref()) {
        Ok(p) => p,
        Err(problems) => return report(problems),
    };
    let (base_repo, base_diags) = open(dir, Some(base_rev))?;
    if base_repo.platform.is_none() {
        return match head.render(None, true, &|_, _| None) {
            Ok(rendered) => Ok(Some((Desired::new(&repo, rendered), Desired::empty()))),
            Err(problems) => report(problems),
        };
    }
    let mut problems = base_diags;
    problems.extend(validate::validate(&base_repo));
    if problems.iter().any(Diagnostic::is_error) || !base_repo.complete {
        return Err(Failure::Foreign(format!(
            "the base revision `{base_rev}` is not a valid repository ({} problems; `tenantops validate --rev {base_rev}` shows them), so there is nothing to compare with",
            problems.iter().filter(|d| d.is_error()).count()
        )));
    }
    let unrendered = || {
        Failure::Foreign(format!(
            "the base revision `{base_rev}` does not render; `tenantops validate --render --rev {base_rev}` shows why"
        ))
    };
    let base = render::Prepared::new(&base_repo, part.tenants_to_render(&base_repo).as_deref())
        .map_err(|_| unrendered())?;
    let digests = |p: &render::Prepared<'_>| -> HashMap<String, String> {
        p.digests()
            .map(|(name, d)| (name.to_owned(), d.to_owned()))
            .collect()
    };
    let (head_digests, base_digests) = (digests(&head), digests(&base));
    let same = |other: &HashMap<String, String>, spec: &crate::stacks::StackSpec, d: &str| {
        (other.get(&spec.name).map(String::as_str) == Some(d)).then_some((0, 0))
    };
    let head = match head.render(None, true, &|spec, d| same(&base_digests, spec, d)) {
        Ok(rendered) => Desired::new(&repo, rendered),
        Err(problems) => return report(problems),
    };
    let base = base
        .render(None, true, &|spec, d| same(&head_digests, spec, d))
        .map_err(|_| unrendered())?;
    Ok(Some((head, Desired::new(&base_repo, base))))
}

pub(super) fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Failure::Io("the async runtime".to_owned(), e))
}

pub(super) fn settings(args: &AwsArgs, desired: &Desired) -> Settings {
    Settings {
        endpoint_url: args.endpoint_url.clone(),
        region: args.region.clone(),
        profile: args.profile.clone(),
        fallback_region: Some(desired.region.clone()).filter(|r| !r.is_empty()),
        request_timeout: Some(std::time::Duration::from_secs(args.request_timeout)),
        service_role: desired.service_role.clone(),
    }
}

/// Stacks of this stage that tenantops manages; and, apart, the stacks that have the
/// name of a stack the repository wants without this stage's `tenantops:managed` tags
/// (made by hand, by another tool or by another stage), which a create would meet,
/// and the stage's lock stacks.
pub(super) async fn list_live(aws: &Aws, desired: &Desired) -> Result<Live, Failure> {
    let wanted: std::collections::HashSet<&str> =
        desired.stacks.iter().map(|s| s.name.as_str()).collect();
    let mut foreign = Vec::new();
    let mut locks = Vec::new();
    let stacks = aws
        .list_stacks(|s| {
            if desired.manages(&s.tags) {
                return true;
            }
            if lock::is_lock(&desired.stage, &s.tags) {
                locks.push(s.clone());
            } else if wanted.contains(s.name.as_str()) {
                foreign.push(s.clone());
            }
            false
        })
        .await
        .map_err(|e| Failure::Aws(e.to_string()))?;
    Ok(Live {
        stacks,
        foreign,
        locks,
    })
}

/// One listing of the region's stacks, as a run of this stage sees them.
pub(super) struct Live {
    /// The stage's stacks that tenantops manages.
    pub stacks: Vec<LiveStack>,
    /// Stacks named as wanted ones without this stage's `tenantops:managed` tags.
    pub foreign: Vec<LiveStack>,
    /// The stage's lock stacks (every part's).
    pub locks: Vec<LiveStack>,
}

/// Refuses a run that would meet stacks tenantops does not manage: it never updates,
/// replaces or deletes one (on `AlreadyExists` it would otherwise be taken for a stack
/// another apply created, and updated to this repository's template — its resources
/// deleted).
pub(super) fn refuse_foreign(desired: &Desired, foreign: &[LiveStack]) -> Result<(), Failure> {
    let Some(first) = foreign.first() else {
        return Ok(());
    };
    Err(Failure::Refused(foreign_message(
        desired,
        first,
        foreign.len() - 1,
    )))
}

/// The refusal for a stack named as one this repository wants that tenantops does not
/// manage on this stage (and `more` like it).
#[must_use]
pub fn foreign_message(desired: &Desired, stack: &LiveStack, more: usize) -> String {
    let manifest = desired
        .stacks
        .iter()
        .find(|s| s.name == stack.name)
        .map_or_else(
            || crate::load::PLATFORM_FILE.to_owned(),
            crate::plan::DesiredStack::manifest,
        );
    let whose = match stack.tags.get(crate::plan::TAG_STAGE) {
        Some(other) if other != &desired.stage => format!("; it belongs to stage `{other}`"),
        _ => String::new(),
    };
    format!(
        "{manifest}: stack `{}` exists and tenantops does not manage it (it has no `tenantops:managed` tag for stage `{}`{whose}), and tenantops never changes or deletes a stack it does not manage{}. Delete or rename that stack, or set another `naming.prefix` in tenantops.yaml; nothing was changed",
        stack.name,
        desired.stage,
        if more == 0 {
            String::new()
        } else {
            format!(
                " ({more} more stack{} the same way)",
                crate::output::plural(more)
            )
        }
    )
}

/// HEAD of the git repository holding `dir`, or `none`.
pub(super) fn head_commit(dir: &std::path::Path) -> String {
    git2::Repository::discover(dir)
        .ok()
        .and_then(|r| {
            r.head()
                .ok()?
                .peel_to_commit()
                .ok()
                .map(|c| c.id().to_string())
        })
        .unwrap_or_else(|| "none".to_owned())
}

/// Asks on the terminal; `false` without one.
fn confirm(question: &str) -> bool {
    crate::err!("{question} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer).is_ok()
        && matches!(answer.trim(), "y" | "Y" | "yes")
}

/// The stack runner of a run, and its progress display (timestamped lines under
/// `--format json`, whose stdout is the report).
pub(super) fn runner(
    aws: &Arc<Aws>,
    opts: &Options,
    out: &Output,
    desired: &Desired,
    live: &[LiveStack],
) -> (Arc<Runner>, Arc<Progress>) {
    let progress = Arc::new(if out.format == Format::Json {
        Progress::Plain
    } else {
        Progress::for_stderr()
    });
    let runner = Arc::new(Runner::new(
        Arc::clone(aws),
        opts.clone(),
        Arc::clone(&progress),
        desired.artifact_bucket.clone(),
        live,
    ));
    (runner, progress)
}

/// Shows the plan (not in JSON output) and asks `question` unless `yes`; says so when
/// the answer is no.
pub(super) fn confirmed(out: &Output, yes: bool, plan: &Plan, question: &str) -> bool {
    if out.format != Format::Json {
        crate::err!("{}", show::human(plan));
    }
    if yes || confirm(question) {
        return true;
    }
    crate::errln!("nothing was changed");
    false
}

/// Takes the lock stack `name`; a lock held by another run is a refusal.
pub(super) async fn take_lock(
    aws: &Aws,
    name: &str,
    stage: &str,
    part: Option<&Part>,
    opts: &Options,
    break_lock: bool,
) -> Result<String, Failure> {
    lock::acquire(aws, name, stage, part, opts, break_lock)
        .await
        .map_err(|e| match e {
            lock::LockError::Held { .. } => Failure::Refused(e.to_string()),
            lock::LockError::Aws(e) => Failure::Aws(e.to_string()),
        })
}

/// Renews the lock's lease while `runner` applies; a lost lease stops the runner
/// starting stacks (those in flight finish), as an interrupt does.
pub(super) fn keep_lease(
    aws: &Arc<Aws>,
    lock: &str,
    opts: &Options,
    runner: &Arc<Runner>,
    progress: &Arc<Progress>,
) -> Keeper {
    let runner = Arc::clone(runner);
    let progress = Arc::clone(progress);
    let name = lock.to_owned();
    Keeper::start(
        Arc::clone(aws),
        lock.to_owned(),
        opts.lock_lease,
        Box::new(move |why: &str| {
            runner.interrupt();
            progress.note(&format!(
                "lost the stage lock `{name}`: {why}; starting no more stacks, finishing those in flight"
            ));
        }),
    )
}

/// Releases the lock, unless its lease was lost (`lost`): then it may be another
/// apply's, and is left alone. The warning to print when it is left held.
pub(super) async fn release(aws: &Aws, lock: &str, lost: Option<&str>) -> Option<String> {
    if let Some(why) = lost {
        return Some(format!(
            "warning: the stage lock `{lock}` was lost while applying ({why}), so it was left as it is; stacks this run had not started were skipped"
        ));
    }
    lock::release(aws, lock).await.err().map(|e| format!(
        "warning: could not release the stage lock `{lock}`: {e}; `tenantops status` shows it held, and the next apply of an overlapping part is refused until it is deleted or its lease runs out (an apply on this machine takes it over once this process is gone; elsewhere, --break-lock)"
    ))
}
