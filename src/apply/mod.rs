//! The apply stage: executes a [`Plan`] against CloudFormation in phases (network, routers, usage plans, tiers, pool packs, then tenant stacks wave by wave, deletions last) with bounded concurrency, converging each stack from whatever state it is in.
//!
//! Each stack's work is a small state machine over its live status:
//! - absent (never created, or deleted out of band) → `CreateStack`;
//! - `ROLLBACK_COMPLETE` (a failed create) or an unexecuted `REVIEW_IN_PROGRESS`
//!   husk → delete, then create;
//! - `UPDATE_ROLLBACK_FAILED` → `ContinueUpdateRollback`, then update;
//! - `*_IN_PROGRESS` (another actor) → wait, bounded by `busy_timeout`;
//! - otherwise → an UPDATE change set, executed; a change set CloudFormation finds
//!   empty leaves only the tags to update.
//!
//! Whether a stack is unchanged is decided by its `tenantops:hash` tag, never by
//! CloudFormation's "no changes". Waits poll with exponential backoff and jitter. A
//! stack whose producer failed is skipped; one tenant's failure never stops another's
//! stack in the same wave.

mod collisions;
pub mod events;
mod holder;
pub mod lease;
pub mod lock;
mod preview;
pub mod progress;
pub mod report;
mod runner;
mod wait;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

pub use collisions::{Collision, tables_in_the_way};
pub use preview::{describe_updates, read_destroys};
pub use report::{Outcome, Report, StackResult};
pub use runner::Runner;
pub use wait::TRANSIENT_READS;

use crate::aws::LiveStack;
use crate::plan::{Action, Change, Desired, DesiredStack, Plan};
use crate::stacks::StackKind;

/// How an apply behaves.
#[derive(Clone, Debug)]
pub struct Options {
    /// Stacks deployed at once within a phase.
    pub concurrency: usize,
    /// Failures a tenant wave may have before the later waves are not started.
    pub max_failures: usize,
    /// How long a tenant's ECS services may take to become steady.
    pub steady_timeout: Duration,
    /// How long to wait for a stack another actor is changing.
    pub busy_timeout: Duration,
    /// How long one CloudFormation operation may take.
    pub stack_timeout: Duration,
    /// First and longest interval between status polls.
    pub poll_initial: Duration,
    pub poll_max: Duration,
    /// The commit deployed (`tenantops:commit`).
    pub commit: String,
    /// The stage whose managed stacks this run changes: a stack met on create that
    /// does not carry its `tenantops:managed` tags is refused, never updated. `None`
    /// for bootstrap, whose pipeline stack is deliberately outside the fleet's tags.
    pub stage: Option<String>,
    /// The stage lock's lease ([`lease`]).
    pub lock_lease: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            concurrency: 8,
            max_failures: 0,
            steady_timeout: Duration::from_mins(10),
            busy_timeout: Duration::from_mins(15),
            stack_timeout: Duration::from_hours(1),
            poll_initial: Duration::from_secs(2),
            lock_lease: Duration::from_secs(lease::DEFAULT_LEASE_SECS),
            poll_max: Duration::from_secs(20),
            commit: "unknown".to_owned(),
            stage: None,
        }
    }
}

/// A stack's work, with what is needed to do it.
struct Job {
    change: Change,
    desired: Option<DesiredStack>,
    live: Option<LiveStack>,
}

/// The phase a change runs in: shared stacks by kind, tenant stacks by wave,
/// deletions last (dependents first).
fn phase(change: &Change) -> (u8, u32, u8) {
    let kind = change.kind as u8;
    match (change.action, change.kind) {
        (Action::Delete, _) => (2, 0, u8::MAX - kind),
        (_, StackKind::Tenant) => (1, change.wave, 0),
        _ => (0, 0, kind),
    }
}

/// Executes `plan`: every change, phase by phase, at most `opts.concurrency` at a time.
pub async fn execute(
    runner: Arc<Runner>,
    plan: &Plan,
    desired: &Desired,
    live: &[LiveStack],
) -> Report {
    let started = Instant::now();
    let wanted: BTreeMap<&str, &DesiredStack> = desired
        .stacks
        .iter()
        .map(|s| (s.name.as_str(), s))
        .collect();
    let current: BTreeMap<&str, &LiveStack> = live.iter().map(|s| (s.name.as_str(), s)).collect();
    let mut phases: BTreeMap<(u8, u32, u8), Vec<Job>> = BTreeMap::new();
    for change in &plan.changes {
        phases.entry(phase(change)).or_default().push(Job {
            change: change.clone(),
            desired: wanted.get(change.stack.as_str()).map(|d| (*d).clone()),
            live: current.get(change.stack.as_str()).map(|l| (*l).clone()),
        });
    }
    let failed: Arc<Mutex<BTreeSet<String>>> = Arc::default();
    let mut results = Vec::new();
    let mut stopped: Option<String> = None;
    let semaphore = Arc::new(Semaphore::new(runner.opts.concurrency.max(1)));
    for ((group, wave, _), jobs) in phases {
        if let Some(why) = &stopped {
            for job in jobs {
                results.push(skipped(&job.change, why.clone()));
            }
            continue;
        }
        let mut tasks = tokio::task::JoinSet::new();
        for job in jobs {
            let runner = Arc::clone(&runner);
            let failed = Arc::clone(&failed);
            let semaphore = Arc::clone(&semaphore);
            tasks.spawn(async move {
                let _permit = semaphore.acquire().await;
                run_job(&runner, job, &failed).await
            });
        }
        let mut wave_failures = 0;
        let mut phase_results = Vec::new();
        while let Some(done) = tasks.join_next().await {
            if let Ok(result) = done {
                if result.result == Outcome::Failed {
                    wave_failures += 1;
                }
                phase_results.push(result);
            }
        }
        phase_results.sort_by(|a, b| a.stack.cmp(&b.stack));
        results.extend(phase_results);
        if group == 1 && wave_failures > runner.opts.max_failures {
            let why = format!(
                "wave {wave} had {wave_failures} failure{}, over --max-failures {}",
                if wave_failures == 1 { "" } else { "s" },
                runner.opts.max_failures
            );
            runner.progress.note(&format!("stopping: {why}"));
            stopped = Some(why);
        }
    }
    Report {
        results,
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    }
}

fn skipped(change: &Change, reason: String) -> StackResult {
    result_of(
        change,
        Outcome::Skipped,
        Some(reason),
        Duration::ZERO,
        Vec::new(),
    )
}

fn result_of(
    change: &Change,
    result: Outcome,
    reason: Option<String>,
    duration: Duration,
    retained: Vec<String>,
) -> StackResult {
    StackResult {
        stack: change.stack.clone(),
        kind: change.kind,
        tenant: change.tenant.clone(),
        wave: change.wave,
        action: change.action,
        result,
        reason,
        duration_ms: u64::try_from(duration.as_millis()).unwrap_or(u64::MAX),
        retained,
    }
}

async fn run_job(runner: &Runner, job: Job, failed: &Mutex<BTreeSet<String>>) -> StackResult {
    let change = &job.change;
    if runner.is_interrupted() {
        return skipped(change, "interrupted before it started".to_owned());
    }
    if let Some(desired) = &job.desired {
        let blocked = failed
            .lock()
            .ok()
            .and_then(|f| desired.depends_on.iter().find(|d| f.contains(*d)).cloned());
        if let Some(dep) = blocked {
            if let Ok(mut f) = failed.lock() {
                f.insert(change.stack.clone());
            }
            runner
                .progress
                .end(&change.stack, &format!("skipped: `{dep}` failed"));
            return skipped(change, format!("`{dep}` failed"));
        }
    }
    let started = Instant::now();
    runner.progress.begin(&change.stack, change.action.word());
    let (result, reason, retained) = match (&job.desired, change.action) {
        (_, Action::Delete) => match runner.delete(&change.stack).await {
            Ok(retained) => (Outcome::Deleted, None, retained),
            Err(e) => (Outcome::Failed, Some(e), Vec::new()),
        },
        (Some(desired), _) => {
            let (outcome, reason) = runner.converge(desired, job.live).await;
            (outcome, reason, Vec::new())
        }
        (None, _) => (
            Outcome::Failed,
            Some("no desired state for this stack".to_owned()),
            Vec::new(),
        ),
    };
    if result == Outcome::Failed
        && let Ok(mut f) = failed.lock()
    {
        f.insert(change.stack.clone());
    }
    let duration = started.elapsed();
    let mut line = format!("{} in {:.1}s", result.word(), duration.as_secs_f64());
    if let Some(reason) = &reason {
        line.push_str(": ");
        line.push_str(reason);
    }
    if !retained.is_empty() {
        let _ = write!(line, "; kept tables {}", retained.join(", "));
    }
    runner.progress.end(&change.stack, &line);
    result_of(change, result, reason, duration, retained)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(kind: StackKind, action: Action, wave: u32) -> Change {
        Change {
            stack: String::new(),
            kind,
            tenant: None,
            tier: None,
            wave,
            action,
            reason: None,
            resources: Vec::new(),
            destroys: Vec::new(),
        }
    }

    #[test]
    fn phases_run_shared_stacks_by_kind_then_tenant_waves_then_deletions_in_reverse() {
        let order = [
            change(StackKind::Network, Action::Create, 0),
            change(StackKind::Router, Action::Update, 0),
            change(StackKind::Tier, Action::Create, 0),
            change(StackKind::Pack, Action::Create, 0),
            change(StackKind::Tenant, Action::Create, 0),
            change(StackKind::Tenant, Action::Update, 2),
            change(StackKind::Tenant, Action::Delete, 0),
            change(StackKind::Router, Action::Delete, 0),
            change(StackKind::Network, Action::Delete, 0),
        ];
        for pair in order.windows(2) {
            assert!(
                phase(&pair[0]) < phase(&pair[1]),
                "{:?} before {:?}",
                pair[0],
                pair[1]
            );
        }
    }
}
