//! The `plan` and `apply` commands: load and validate, render in memory, read live state, guard, confirm, lock, execute and report.

use std::collections::BTreeSet;
use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::sync::Arc;
use std::time::Duration;

use super::apply::{self, Options, Runner};
use super::progress::Progress;
use super::shard::Part;
use super::{Action, Desired, Plan, lock, shard, show};
use crate::aws::{Aws, LiveStack, Settings};
use crate::cli::{self, ApplyArgs, AwsArgs, Cli, Failure, Format, Output, PlanArgs, StatusArgs};
use crate::diag::Diagnostic;
use crate::exit::Exit;
use crate::render;
use crate::validate;

/// The desired state of the repository at `rev` (the work tree without one), or the
/// diagnostics that make it invalid (already printed).
fn desired(
    cli: &Cli,
    rev: Option<&str>,
    out: &Output,
    part: &Part,
) -> Result<Option<Desired>, Failure> {
    let (repo, mut diags) = cli::open(&cli.dir, rev)?;
    diags.extend(validate::validate(&repo));
    if !diags.iter().any(Diagnostic::is_error) && repo.complete {
        match render::render_in_memory_only(&repo, part.tenants_to_render(&repo).as_deref()) {
            Ok(rendered) => return Ok(Some(Desired::new(&repo, rendered))),
            Err(problems) => diags.extend(problems),
        }
    }
    out.report(&mut diags, &repo.sources, "", &serde_json::Value::Null);
    Ok(None)
}

/// The base revision's desired state, for an offline plan. A base without
/// `tenantops.yaml` (the pull request that adds tenantops) is empty.
fn base_desired(cli: &Cli, rev: &str, part: &Part) -> Result<Desired, Failure> {
    let (repo, diags) = cli::open(&cli.dir, Some(rev))?;
    if repo.platform.is_none() {
        return Ok(Desired::empty());
    }
    let mut problems = diags;
    problems.extend(validate::validate(&repo));
    if problems.iter().any(Diagnostic::is_error) || !repo.complete {
        return Err(Failure::Foreign(format!(
            "the base revision `{rev}` is not a valid repository ({} problems; `tenantops validate --rev {rev}` shows them), so there is nothing to compare with",
            problems.iter().filter(|d| d.is_error()).count()
        )));
    }
    render::render_in_memory_only(&repo, part.tenants_to_render(&repo).as_deref())
        .map(|r| Desired::new(&repo, r))
        .map_err(|_| {
            Failure::Foreign(format!(
                "the base revision `{rev}` does not render; `tenantops validate --render --rev {rev}` shows why"
            ))
        })
}

pub(super) fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Failure::Io("the async runtime".to_owned(), e))
}

fn settings(args: &AwsArgs, desired: &Desired) -> Settings {
    Settings {
        endpoint_url: args.endpoint_url.clone(),
        region: args.region.clone(),
        profile: args.profile.clone(),
        fallback_region: Some(desired.region.clone()).filter(|r| !r.is_empty()),
    }
}

/// Stacks of this stage that tenantops manages, and the stage's lock stack.
async fn list_live(aws: &Aws, desired: &Desired) -> Result<Vec<LiveStack>, Failure> {
    aws.list_stacks(|tags| desired.manages(tags))
        .await
        .map_err(|e| Failure::Aws(e.to_string()))
}

fn print_plan(out: &Output, plan: &Plan) {
    match out.format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({"ok": true, "plan": plan}))
                .unwrap_or_default()
        ),
        Format::Markdown | Format::Github => print!("{}", show::markdown(plan)),
        Format::Human => print!("{}", show::human(plan)),
    }
}

pub(crate) fn plan(cli: &Cli, args: &PlanArgs, out: &Output) -> Result<Exit, Failure> {
    let part = args.part.part();
    let Some(head) = desired(cli, args.rev.as_deref(), out, &part)? else {
        return Ok(Exit::Invalid);
    };
    let plan = if let Some(base_rev) = &args.base {
        let base = base_desired(cli, base_rev, &part)?;
        shard::restrict(super::offline(&head, &base, base_rev), &part, &head)
    } else {
        let rt = runtime()?;
        rt.block_on(async {
            let aws = Arc::new(Aws::connect(&settings(&args.aws, &head)).await);
            let live = list_live(&aws, &head).await?;
            let mut plan = shard::restrict(super::live(&head, &live), &part, &head);
            apply::describe_updates(&aws, &mut plan, &head, &live, &Options::default())
                .await
                .map_err(|e| Failure::Aws(e.to_string()))?;
            Ok::<_, Failure>(plan)
        })?
    };
    print_plan(out, &plan);
    Ok(if args.detailed_exitcode && !plan.is_empty() {
        Exit::Changes
    } else {
        Exit::Success
    })
}

pub(crate) fn status(cli: &Cli, args: &StatusArgs, out: &Output) -> Result<Exit, Failure> {
    let Some(desired) = desired(cli, args.rev.as_deref(), out, &Part::All)? else {
        return Ok(Exit::Invalid);
    };
    for id in &args.tenants {
        if desired.tenant(id).is_none() {
            let hint = crate::suggest::hint(id, desired.roster.iter().map(|t| t.id.as_str()));
            return Err(Failure::Usage(format!(
                "--tenant `{id}`: there is no such tenant{hint}"
            )));
        }
    }
    let rt = runtime()?;
    let status = rt.block_on(async {
        let aws = Arc::new(Aws::connect(&settings(&args.aws, &desired)).await);
        let live = list_live(&aws, &desired).await?;
        super::status::read(
            &aws,
            &desired,
            &live,
            &args.tenants,
            !args.no_services,
            usize::from(args.concurrency),
        )
        .await
        .map_err(|e| Failure::Aws(e.to_string()))
    })?;
    match out.format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "ok": true,
                "healthy": status.healthy(),
                "summary": super::status::summary(&status),
                "status": status,
            }))
            .unwrap_or_default()
        ),
        Format::Markdown | Format::Github => print!("{}", super::status::markdown(&status)),
        Format::Human => print!("{}", super::status::human(&status)),
    }
    Ok(if args.detailed_exitcode && !status.healthy() {
        Exit::Changes
    } else {
        Exit::Success
    })
}

/// The environment variable CodeBuild sets to the commit it built. A CodePipeline
/// source artifact is a zip without `.git`, so this is the only place the commit is.
pub const CODEBUILD_COMMIT: &str = "CODEBUILD_RESOLVED_SOURCE_VERSION";

/// The commit being deployed: `--commit`, else CodeBuild's resolved source version,
/// else HEAD of the repository.
fn commit(cli: &Cli, args: &ApplyArgs) -> String {
    if let Some(c) = &args.commit {
        return c.clone();
    }
    if let Some(c) = std::env::var(CODEBUILD_COMMIT)
        .ok()
        .filter(|c| !c.is_empty() && c.len() <= 64 && c.bytes().all(|b| b.is_ascii_alphanumeric()))
    {
        return c;
    }
    head_commit(&cli.dir)
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

/// Deletions allowed by the guards, or why not.
fn guard(plan: &Plan, desired: &Desired, args: &ApplyArgs) -> Result<(), String> {
    let deletions: Vec<&str> = plan
        .changes
        .iter()
        .filter(|c| c.action == Action::Delete)
        .map(|c| c.stack.as_str())
        .collect();
    if deletions.is_empty() {
        return Ok(());
    }
    let list = deletions.join(", ");
    if desired.tenants == 0 {
        return Err(format!(
            "the repository has no tenants, yet {} stack{} would be deleted ({list}); a repository with zero tenants never deletes anything",
            deletions.len(),
            cli::plural(deletions.len())
        ));
    }
    if !args.allow_destroy {
        return Err(format!(
            "{} stack{} would be deleted ({list}); rerun with --allow-destroy to delete them",
            deletions.len(),
            cli::plural(deletions.len())
        ));
    }
    if deletions.len() > args.max_destroy {
        return Err(format!(
            "{} stacks would be deleted ({list}), over --max-destroy {}; raise it to delete them all in one run",
            deletions.len(),
            args.max_destroy
        ));
    }
    Ok(())
}

/// Asks on the terminal; `false` without one.
pub(super) fn confirm(question: &str) -> bool {
    eprint!("{question} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer).is_ok()
        && matches!(answer.trim(), "y" | "Y" | "yes")
}

fn changed_set(plan: &Plan) -> BTreeSet<(String, Action)> {
    plan.changes
        .iter()
        .map(|c| (c.stack.clone(), c.action))
        .collect()
}

pub(crate) fn apply(cli: &Cli, args: &ApplyArgs, out: &Output) -> Result<Exit, Failure> {
    let part = args.part.part();
    let Some(desired) = desired(cli, None, out, &part)? else {
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
        commit: commit(cli, args),
        ..Options::default()
    };
    let rt = runtime()?;
    rt.block_on(async {
        let aws = Arc::new(Aws::connect(&settings(&args.aws, &desired)).await);
        let live = list_live(&aws, &desired).await?;
        let plan = shard::restrict(super::live(&desired, &live), &part, &desired);
        guard(&plan, &desired, args).map_err(Failure::Refused)?;
        if plan.is_empty() {
            write_events(args, &[])?;
            report(out, args, &plan, &apply::Report::default(), &aws)?;
            return Ok(Exit::Success);
        }
        if !confirmed(out, args.yes, &plan, &format!("apply these {} changes to stage `{}`?", plan.changes.len(), desired.stage)) {
            return Ok(Exit::Refused);
        }
        let lock = take_lock(
            &aws,
            &lock::lock_stack(&desired.base, &part.lock_suffix()),
            &desired.stage,
            &opts,
            args.break_lock,
        )
        .await?;
        // Live state may have moved while the plan was read and confirmed.
        let result = async {
            let live = list_live(&aws, &desired).await?;
            let fresh = shard::restrict(super::live(&desired, &live), &part, &desired);
            let confirmed = changed_set(&plan);
            if let Some((stack, action)) =
                changed_set(&fresh).into_iter().find(|c| !confirmed.contains(c))
            {
                return Err(Failure::Refused(format!(
                    "live state changed since the plan: `{stack}` now needs {}; rerun to see the new plan",
                    action.word()
                )));
            }
            guard(&fresh, &desired, args).map_err(Failure::Refused)?;
            let (runner, progress) = runner(&aws, &opts, out, &desired, &live);
            let watcher = tokio::spawn(on_interrupt(Arc::clone(&runner), progress));
            let report = apply::execute(Arc::clone(&runner), &fresh, &desired, &live).await;
            watcher.abort();
            Ok((report, runner.outputs()))
        }
        .await;
        let released = lock::release(&aws, &lock).await;
        let (done, after) = result?;
        if args.events.is_some() {
            // The endpoints are outputs of stacks this run may have created, which the
            // runner read as each finished.
            write_events(args, &super::events::provisioning(
                &done,
                &desired,
                &super::outputs_of(&live),
                &after,
                &opts.commit,
                &args.event_source,
                args.event_bus.as_deref(),
            ))?;
        }
        report(out, args, &plan, &done, &aws)?;
        if let Err(e) = released {
            eprintln!("warning: could not release the stage lock `{lock}`: {e}; the next apply takes it over once this process is gone");
        }
        Ok(if done.failed() > 0 || done.count(apply::Outcome::Skipped) > 0 {
            Exit::Failed
        } else {
            Exit::Success
        })
    })
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
        eprint!("{}", show::human(plan));
    }
    if yes || confirm(question) {
        return true;
    }
    eprintln!("nothing was changed");
    false
}

/// Takes the lock stack `name`; a lock held by another run is a refusal.
pub(super) async fn take_lock(
    aws: &Aws,
    name: &str,
    stage: &str,
    opts: &Options,
    break_lock: bool,
) -> Result<String, Failure> {
    lock::acquire(
        aws,
        name,
        stage,
        &opts.commit,
        break_lock,
        opts.busy_timeout,
    )
    .await
    .map_err(|e| match e {
        lock::LockError::Held { .. } => Failure::Refused(e.to_string()),
        lock::LockError::Aws(e) => Failure::Aws(e.to_string()),
    })
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
    });
    let text = serde_json::to_string_pretty(&json).unwrap_or_default();
    if let Some(path) = &args.report {
        std::fs::write(path, format!("{text}\n"))
            .map_err(|e| Failure::Io(path.display().to_string(), e))?;
    }
    let calls_line = format!(
        "{} AWS requests ({} mutating)",
        aws.calls.total(),
        aws.calls.mutating()
    );
    match out.format {
        Format::Json => println!("{text}"),
        Format::Markdown | Format::Github => {
            print!("{}", show::report_markdown(done));
            println!("\n{calls_line}");
        }
        Format::Human => {
            if done.results.is_empty() {
                println!(
                    "ok: nothing to apply ({} stacks unchanged); {calls_line}",
                    plan.unchanged
                );
            } else {
                print!("{}", show::report_human(done));
                println!("{}; {calls_line}", show::report_line(done));
            }
        }
    }
    Ok(())
}
