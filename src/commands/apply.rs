//! `tenantops apply`: the repository deployed, behind the deletion guards, a confirmation and the stage lock, with a report and provisioning events.

use std::collections::{BTreeMap, BTreeSet};
use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::Args;

use super::args::{AwsArgs, PartArgs};
use super::fleet::{
    confirmed, desired, head_commit, keep_lease, list_live, refuse_foreign, release, runner,
    runtime, settings, take_lock,
};
use crate::apply::progress::Progress;
use crate::apply::{self, Options, Runner, lock};
use crate::aws::Aws;
use crate::exit::Exit;
use crate::failure::Failure;
use crate::output::{Format, Output, plural};
use crate::plan::{self, Action, Desired, Plan, shard};

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// Do not ask for confirmation (required without a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Stacks deployed at once.
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: u16,
    /// Failed tenant stacks a wave may have before later waves are not started.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub max_failures: usize,
    /// Allow deleting the stacks of offboarded or removed tenants (and of removed tiers
    /// or routers). Tables with `DeletionPolicy: Retain` are kept.
    #[arg(long)]
    pub allow_destroy: bool,
    /// Refuse to run when more than N stacks would be deleted.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub max_destroy: usize,
    /// Seconds a stack's ECS services may take to run their desired count steadily.
    #[arg(long, value_name = "SECS", default_value_t = 600)]
    pub steady_timeout: u64,
    /// Seconds to wait for a stack another actor is changing.
    #[arg(long, value_name = "SECS", default_value_t = 900)]
    pub busy_timeout: u64,
    /// Take over the stage lock left by an apply that died on another host.
    #[arg(long)]
    pub break_lock: bool,
    /// Seconds of the stage lock's lease: renewed every third of it while applying; a
    /// lock whose holder stopped renewing is taken over a minute after it runs out.
    #[arg(long, value_name = "SECS", default_value_t = crate::apply::lease::DEFAULT_LEASE_SECS, value_parser = clap::value_parser!(u64).range(3..))]
    pub lock_lease: u64,
    /// The commit recorded in each changed stack's `tenantops:commit` tag [default:
    /// `CODEBUILD_RESOLVED_SOURCE_VERSION` inside CodeBuild, else the repository's HEAD].
    #[arg(long, value_name = "SHA")]
    pub commit: Option<String>,
    /// Also write the JSON report to FILE.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Write one provisioning result per tenant the run touched to FILE, as a JSON
    /// array of EventBridge `PutEvents` entries (`sbt_aws_provisionSuccess` /
    /// `sbt_aws_provisionFailure`, deprovision for removed tenants).
    #[arg(long, value_name = "FILE")]
    pub events: Option<PathBuf>,
    /// With `--events`, the entries' `Source` (SBT's rules match `sbt.application.plane`).
    #[arg(
        long,
        value_name = "SOURCE",
        default_value = "sbt.application.plane",
        requires = "events"
    )]
    pub event_source: String,
    /// With `--events`, the entries' `EventBusName` (the control plane's bus).
    #[arg(long, value_name = "NAME", requires = "events")]
    pub event_bus: Option<String>,
    /// Seconds between the first status polls (doubling up to 20 s).
    #[arg(long, value_name = "SECS", default_value_t = 2.0, hide = true)]
    pub poll: f64,
    #[command(flatten)]
    pub part: PartArgs,
    #[command(flatten)]
    pub aws: AwsArgs,
}

/// The environment variable CodeBuild sets to the commit it built. A CodePipeline
/// source artifact is a zip without `.git`, so this is the only place the commit is.
pub const CODEBUILD_COMMIT: &str = "CODEBUILD_RESOLVED_SOURCE_VERSION";

/// The commit being deployed: `--commit`, else CodeBuild's resolved source version,
/// else HEAD of the repository, marked `<sha>-dirty` when the work tree that is
/// deployed differs from it (stacks said HEAD's commit while carrying uncommitted
/// edits).
fn commit(dir: &Path, args: &ApplyArgs) -> String {
    if let Some(c) = &args.commit {
        return c.clone();
    }
    if let Some(c) = std::env::var(CODEBUILD_COMMIT)
        .ok()
        .filter(|c| !c.is_empty() && c.len() <= 64 && c.bytes().all(|b| b.is_ascii_alphanumeric()))
    {
        return c;
    }
    let head = head_commit(dir);
    if head != "none" && work_tree_differs(dir) {
        format!("{head}-dirty")
    } else {
        head
    }
}

/// Whether what apply reads from the work tree differs from HEAD: a tracked file
/// changed, or an untracked file where tenantops reads (`tenants/`, `tiers/`,
/// `templates/`, `tenantops.yaml`, `tenants.lock`).
fn work_tree_differs(dir: &Path) -> bool {
    let Ok(repo) = git2::Repository::discover(dir) else {
        return false;
    };
    let mut opts = git2::StatusOptions::new();
    opts.include_untracked(true)
        .recurse_untracked_dirs(true)
        .include_ignored(false);
    let Ok(statuses) = repo.statuses(Some(&mut opts)) else {
        return false;
    };
    // Paths are relative to the git root, which may hold the fleet repository deeper.
    let prefix = repo
        .workdir()
        .and_then(|root| {
            dir.canonicalize()
                .ok()?
                .strip_prefix(root.canonicalize().ok()?)
                .ok()
                .map(std::path::Path::to_path_buf)
        })
        .unwrap_or_default();
    statuses.iter().any(|entry| {
        let status = entry.status();
        let Ok(path) = entry.path() else {
            return true;
        };
        let Ok(rel) = Path::new(path).strip_prefix(&prefix) else {
            return false;
        };
        if status.is_wt_new() {
            let first = rel
                .components()
                .next()
                .map(|c| c.as_os_str().to_string_lossy().into_owned());
            matches!(
                first.as_deref(),
                Some("tenants" | "tiers" | "templates" | "tenantops.yaml" | "tenants.lock")
            )
        } else {
            !status.is_ignored()
        }
    })
}

/// Deletions allowed by the guards, or why not. `plan` is this part's; `fleet` is what
/// the whole change deletes (equal to `plan`'s deletions for a whole apply). The
/// budget is the fleet's: every part refuses unless the whole change may run, so four
/// shards under `--max-destroy 3` cannot delete twelve stacks between them.
fn guard(plan: &Plan, fleet: &[&str], desired: &Desired, args: &ApplyArgs) -> Result<(), String> {
    destroyed_resources(plan, fleet.len(), args)?;
    let deletions: Vec<&str> = plan
        .changes
        .iter()
        .filter(|c| c.action == Action::Delete)
        .map(|c| c.stack.as_str())
        .collect();
    if deletions.is_empty() && fleet.is_empty() {
        return Ok(());
    }
    let list = deletions.join(", ");
    if desired.tenants == 0 && !deletions.is_empty() {
        return Err(format!(
            "the repository has no tenants, yet {} stack{} would be deleted ({list}); a repository with zero tenants never deletes anything",
            deletions.len(),
            plural(deletions.len())
        ));
    }
    let elsewhere = fleet.len().saturating_sub(deletions.len());
    let whole = if elsewhere == 0 {
        String::new()
    } else {
        format!(
            "; the whole change deletes {} stack{} ({}), and every part counts them all",
            fleet.len(),
            plural(fleet.len()),
            fleet.join(", ")
        )
    };
    if !args.allow_destroy {
        return Err(if deletions.is_empty() {
            format!(
                "this part deletes nothing, but the change it belongs to deletes {} stack{} ({}) in other parts; rerun with --allow-destroy (a part runs only when the whole change may)",
                fleet.len(),
                plural(fleet.len()),
                fleet.join(", ")
            )
        } else {
            format!(
                "{} stack{} would be deleted ({list}){whole}; rerun with --allow-destroy to delete them",
                deletions.len(),
                plural(deletions.len())
            )
        });
    }
    let n = fleet.len().max(deletions.len());
    if n > args.max_destroy {
        return Err(if elsewhere == 0 {
            format!(
                "{n} stacks would be deleted ({list}), over --max-destroy {}; raise it to delete them all in one run",
                args.max_destroy
            )
        } else {
            format!(
                "the whole change deletes {n} stacks ({}), over --max-destroy {}; the budget is the fleet's and every part counts every deletion, so raise it to delete them all (this part deletes {})",
                fleet.join(", "),
                args.max_destroy,
                if deletions.is_empty() {
                    "none".to_owned()
                } else {
                    list.clone()
                }
            )
        });
    }
    Ok(())
}

/// Resources holding data or identity that this part's updates remove or replace
/// (`Change::destroys`): like stack deletions, they need `--allow-destroy` and count
/// toward `--max-destroy`, with the stacks the whole change deletes.
fn destroyed_resources(
    plan: &Plan,
    stack_deletions: usize,
    args: &ApplyArgs,
) -> Result<(), String> {
    // A tenant counts once, whatever it loses (its pack's key, group and user; its
    // stack's tables); a shared resource (a tier's pooled table) counts by itself.
    let mut counted: BTreeSet<String> = BTreeSet::new();
    let mut destroyed = Vec::new();
    for c in &plan.changes {
        for d in &c.destroys {
            counted.insert(match d.tenant.as_ref().or(c.tenant.as_ref()) {
                Some(tenant) => format!("tenant {tenant}"),
                None => format!("{}/{}", c.stack, d.logical_id),
            });
            destroyed.push(format!(
                "`{}` of `{}` ({}, {})",
                d.logical_id,
                c.stack,
                d.how,
                if d.kept { "kept" } else { "deleted" }
            ));
        }
    }
    if destroyed.is_empty() {
        return Ok(());
    }
    let shown = if destroyed.len() > 10 {
        format!(
            "{}, and {} more",
            destroyed[..10].join(", "),
            destroyed.len() - 10
        )
    } else {
        destroyed.join(", ")
    };
    let n = destroyed.len();
    let what = format!(
        "{n} resource{} holding data or identity would be removed or replaced inside updates: {shown}",
        plural(n)
    );
    if !args.allow_destroy {
        return Err(format!(
            "{what}; a kept one stays in the account without its stack, a deleted one is gone with its data. Rerun with --allow-destroy if that is the intent"
        ));
    }
    let total = counted.len() + stack_deletions;
    if total > args.max_destroy {
        return Err(format!(
            "{what}{}; that is {total} destructive changes (a tenant counts once, whatever it loses), over --max-destroy {}",
            if stack_deletions > 0 {
                format!(
                    ", and {stack_deletions} stack{} deleted",
                    plural(stack_deletions)
                )
            } else {
                String::new()
            },
            args.max_destroy
        ));
    }
    Ok(())
}

/// The resources that updates which succeeded removed or replaced but whose policy
/// kept: still in the account (and billed), no longer in any stack.
fn say_what_was_kept(out: &Output, plan: &Plan, done: &apply::Report) {
    if out.format == crate::output::Format::Json {
        return;
    }
    for c in &plan.changes {
        let succeeded = done
            .results
            .iter()
            .any(|r| r.stack == c.stack && r.result == apply::Outcome::Updated);
        for d in c.destroys.iter().filter(|d| d.kept && succeeded) {
            crate::outln!(
                "kept: `{}` ({}) of `{}`, {} from its stack and kept by its policy `{}`: it stays in the account with its data; delete it yourself once that is no longer needed",
                d.logical_id,
                d.resource_type,
                c.stack,
                d.how,
                d.policy
            );
        }
    }
}

fn changed_set(plan: &Plan) -> BTreeSet<(String, Action)> {
    plan.changes
        .iter()
        .map(|c| (c.stack.clone(), c.action))
        .collect()
}

/// Runs `apply`.
///
/// # Errors
/// A repository that cannot be read, a refusal by a guard or the lock, or AWS.
pub fn run(dir: &Path, args: &ApplyArgs, out: &Output) -> Result<Exit, Failure> {
    let part = args.part.part();
    let Some(desired) = desired(dir, None, out, &part)? else {
        return Ok(Exit::Invalid);
    };
    if !args.yes && !std::io::stdin().is_terminal() {
        return Err(Failure::Usage(
            "apply asks before changing anything, and there is no terminal to ask on; pass --yes (nothing was changed)".to_owned(),
        ));
    }
    let opts = Options {
        concurrency: usize::from(args.concurrency),
        max_failures: args.max_failures,
        steady_timeout: Duration::from_secs(args.steady_timeout),
        busy_timeout: Duration::from_secs(args.busy_timeout),
        poll_initial: Duration::from_secs_f64(args.poll.clamp(0.01, 60.0)),
        commit: commit(dir, args),
        stage: Some(desired.stage.clone()),
        lock_lease: Duration::from_secs(args.lock_lease),
        ..Options::default()
    };
    let rt = runtime()?;
    rt.block_on(async {
        let aws = Arc::new(Aws::connect(&settings(&args.aws, &desired)).await);
        let super::fleet::Live {
            stacks: live,
            foreign,
            ..
        } = list_live(&aws, &desired).await?;
        refuse_foreign(&desired, &foreign)?;
        let mut plan = shard::restrict(plan::live(&desired, &live), &part, &desired);
        apply::read_destroys(&aws, &mut plan, &desired, opts.concurrency)
            .await
            .map_err(|e| Failure::Aws(e.to_string()))?;
        guard(&plan, &desired.fleet_deletions(&live), &desired, args).map_err(Failure::Refused)?;
        refuse_tables_in_the_way(&aws, &plan, &desired).await?;
        if plan.is_empty() {
            write_events(args, &[])?;
            report(out, args, &plan, &apply::Report::default(), &aws)?;
            return Ok(Exit::Success);
        }
        if !confirmed(
            out,
            args.yes,
            &plan,
            &format!(
                "apply these {} changes to stage `{}`?",
                plan.changes.len(),
                desired.stage
            ),
        ) {
            return Ok(Exit::Refused);
        }
        let lock = take_lock(
            &aws,
            &lock::lock_stack(&desired.base, &part.lock_suffix()),
            &desired.stage,
            Some(&part),
            &opts,
            args.break_lock,
        )
        .await?;
        let result = under_lock(&aws, &lock, &plan, &desired, &part, args, &opts, out).await;
        let lost = result.as_ref().ok().and_then(|(_, _, lost)| lost.clone());
        let released = release(&aws, &lock, lost.as_deref()).await;
        let (done, after, _) = result?;
        if args.events.is_some() {
            // The endpoints are outputs of stacks this run may have created, which the
            // runner read as each finished.
            write_events(
                args,
                &apply::events::provisioning(
                    &done,
                    &desired,
                    &plan::outputs_of(&live),
                    &after,
                    &opts.commit,
                    &args.event_source,
                    args.event_bus.as_deref(),
                ),
            )?;
        }
        report(out, args, &plan, &done, &aws)?;
        say_what_was_kept(out, &plan, &done);
        if let Some(warning) = released {
            crate::errln!("{warning}");
        }
        Ok(
            if done.failed() > 0 || done.count(apply::Outcome::Skipped) > 0 || lost.is_some() {
                Exit::Failed
            } else {
                Exit::Success
            },
        )
    })
}

/// The run once the lock is held: live state listed again (it may have moved while the
/// plan was read and confirmed) and refused when the plan grew, then executed while
/// the lock's lease is renewed; the report, every stack's outputs as last seen, and
/// why the lease was lost if it was.
#[allow(clippy::too_many_arguments)] // the run's parts, each used once
async fn under_lock(
    aws: &Arc<Aws>,
    held: &str,
    plan: &Plan,
    desired: &Desired,
    part: &shard::Part,
    args: &ApplyArgs,
    opts: &Options,
    out: &Output,
) -> Result<
    (
        apply::Report,
        BTreeMap<String, BTreeMap<String, String>>,
        Option<String>,
    ),
    Failure,
> {
    let super::fleet::Live {
        stacks: live,
        foreign,
        locks,
    } = list_live(aws, desired).await?;
    if let Some(other) = lock::in_the_way(held, part, &locks) {
        let tag = |k: &str| other.tags.get(k).map_or("unknown", String::as_str);
        return Err(Failure::Refused(format!(
            "another apply holds the stage lock `{}` ({}, {}, since {}), and its part may change the same stacks as this one ({}); wait for it (parts run at once only when their stacks are disjoint: the platform and shards of one count); nothing was changed",
            other.name,
            tag(lock::TAG_PART),
            tag(lock::TAG_HOLDER),
            tag(lock::TAG_SINCE),
            part.tag(),
        )));
    }
    refuse_foreign(desired, &foreign)?;
    let fresh = shard::restrict(plan::live(desired, &live), part, desired);
    let confirmed = changed_set(plan);
    if let Some((stack, action)) = changed_set(&fresh)
        .into_iter()
        .find(|c| !confirmed.contains(c))
    {
        return Err(Failure::Refused(format!(
            "live state changed since the plan: `{stack}` now needs {}; rerun to see the new plan",
            action.word()
        )));
    }
    guard(&fresh, &desired.fleet_deletions(&live), desired, args).map_err(Failure::Refused)?;
    let (runner, progress) = runner(aws, opts, out, desired, &live);
    let keeper = keep_lease(aws, held, opts, &runner, &progress);
    let watcher = tokio::spawn(on_interrupt(Arc::clone(&runner), progress));
    let report = apply::execute(Arc::clone(&runner), &fresh, desired, &live).await;
    watcher.abort();
    let lost = keeper.stop().await;
    Ok((report, runner.outputs(), lost))
}

/// Refuses a run whose creates would meet tables kept from earlier stacks of the same
/// name: CloudFormation would fail each create, and each retry, on them.
async fn refuse_tables_in_the_way(
    aws: &Aws,
    plan: &Plan,
    desired: &Desired,
) -> Result<(), Failure> {
    let found = apply::tables_in_the_way(aws, plan, desired)
        .await
        .map_err(|e| Failure::Aws(e.to_string()))?;
    let Some(first) = found.first() else {
        return Ok(());
    };
    let tables: Vec<String> = found
        .iter()
        .map(|c| format!("`{}` ({}, {})", c.table, c.manifest, c.stack))
        .collect();
    Err(Failure::Refused(format!(
        "{}: stack `{}` would create {}, which already exist{}: kept from an earlier tenant or tier of the same name by its data retention, and CloudFormation fails a create on a table that exists. Delete the kept table{} (after taking what you need from it), or onboard under another id; nothing was changed",
        first.manifest,
        first.stack,
        tables.join(", "),
        if found.len() == 1 { "s" } else { "" },
        if found.len() == 1 { "" } else { "s" },
    )))
}

fn write_events(args: &ApplyArgs, events: &[serde_json::Value]) -> Result<(), Failure> {
    let Some(path) = &args.events else {
        return Ok(());
    };
    let text = serde_json::to_string_pretty(events).unwrap_or_default();
    std::fs::write(path, format!("{text}\n"))
        .map_err(|e| Failure::Io(path.display().to_string(), e))
}

/// The first SIGINT or SIGTERM (Ctrl-C, a cancelled CI job) stops starting stacks:
/// those in flight finish, the lock is released and the summary printed. A second one
/// exits at once, leaving the lock to be taken over by the next run on this host.
async fn on_interrupt(runner: Arc<Runner>, progress: Arc<Progress>) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        return;
    };
    tokio::select! { _ = int.recv() => {}, _ = term.recv() => {} }
    runner.interrupt();
    progress.note(
        "interrupted: starting no more stacks, finishing those in flight (interrupt again to stop now)",
    );
    tokio::select! { _ = int.recv() => {}, _ = term.recv() => {} }
    std::process::exit(130);
}

fn report(
    out: &Output,
    args: &ApplyArgs,
    plan: &Plan,
    done: &apply::Report,
    aws: &Aws,
) -> Result<(), Failure> {
    let calls = aws.calls.snapshot();
    let json = serde_json::json!({
        "ok": done.failed() == 0,
        "plan": {"against": plan.against, "changes": plan.changes.len(), "unchanged": plan.unchanged},
        "results": done.results,
        "duration_ms": done.duration_ms,
        "api_calls": calls,
        "mutating_calls": aws.calls.mutating(),
        "api_attempts": aws.calls.attempts.sent(),
        "throttled_attempts": aws.calls.attempts.throttled(),
    });
    let text = serde_json::to_string_pretty(&json).unwrap_or_default();
    if let Some(path) = &args.report {
        std::fs::write(path, format!("{text}\n"))
            .map_err(|e| Failure::Io(path.display().to_string(), e))?;
    }
    let (sent, throttled) = (aws.calls.attempts.sent(), aws.calls.attempts.throttled());
    let calls_line = format!(
        "{} AWS requests ({} mutating){}",
        aws.calls.total(),
        aws.calls.mutating(),
        if sent > aws.calls.total() || throttled > 0 {
            format!("; {sent} attempts with the SDK's retries, {throttled} throttled")
        } else {
            String::new()
        }
    );
    match out.format {
        Format::Json => crate::outln!("{text}"),
        Format::Markdown | Format::Github => {
            crate::out!("{}", apply::report::report_markdown(done));
            crate::outln!("\n{calls_line}");
        }
        Format::Human => {
            if done.results.is_empty() {
                crate::outln!(
                    "ok: nothing to apply ({} stacks unchanged); {calls_line}",
                    plan.unchanged
                );
            } else {
                crate::out!("{}", apply::report::report_human(done));
                crate::outln!("{}; {calls_line}", apply::report::report_line(done));
            }
        }
    }
    Ok(())
}
