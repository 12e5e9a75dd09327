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

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use std::fmt::Write as _;

use serde::Serialize;
use tokio::sync::Semaphore;

use super::progress::Progress;
use super::{Action, Change, Desired, DesiredStack, Plan, TAG_COMMIT, TAG_HASH, needs_recreate};
use crate::aws::{Aws, AwsError, LiveStack, TemplateSource};
use crate::render::StackKind;

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
            poll_max: Duration::from_secs(20),
            commit: "unknown".to_owned(),
        }
    }
}

/// How a stack's work ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Created,
    Updated,
    Recreated,
    Deleted,
    /// Nothing to do after all (the stack converged meanwhile, or CloudFormation found
    /// nothing to change and the tags were already right).
    Unchanged,
    Failed,
    /// Not attempted: a producer failed, or an earlier wave failed too often.
    Skipped,
}

impl Outcome {
    #[must_use]
    pub fn word(self) -> &'static str {
        match self {
            Outcome::Created => "created",
            Outcome::Updated => "updated",
            Outcome::Recreated => "recreated",
            Outcome::Deleted => "deleted",
            Outcome::Unchanged => "unchanged",
            Outcome::Failed => "FAILED",
            Outcome::Skipped => "skipped",
        }
    }
}

/// One stack's result.
#[derive(Clone, Debug, Serialize)]
pub struct StackResult {
    pub stack: String,
    pub kind: StackKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    pub wave: u32,
    pub action: Action,
    pub result: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub duration_ms: u64,
    /// Tables of a deleted stack that CloudFormation kept (`DeletionPolicy: Retain`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub retained: Vec<String>,
}

/// The whole run's results.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    pub results: Vec<StackResult>,
    pub duration_ms: u64,
}

impl Report {
    #[must_use]
    pub fn failed(&self) -> usize {
        self.results
            .iter()
            .filter(|r| r.result == Outcome::Failed)
            .count()
    }

    #[must_use]
    pub fn count(&self, outcome: Outcome) -> usize {
        self.results.iter().filter(|r| r.result == outcome).count()
    }
}

/// A stack's work, with what is needed to do it.
struct Job {
    change: Change,
    desired: Option<DesiredStack>,
    live: Option<LiveStack>,
}

/// Deploys stacks; shared by the tasks of a phase.
pub struct Runner {
    aws: Arc<Aws>,
    opts: Options,
    progress: Arc<Progress>,
    bucket: Option<String>,
    /// Outputs of every stack known so far: live ones, then each stack as it deploys.
    outputs: Mutex<BTreeMap<String, BTreeMap<String, String>>>,
    /// Set on the first interrupt: stacks not yet started are skipped; those in flight
    /// finish (CloudFormation carries on with them anyway).
    interrupted: std::sync::atomic::AtomicBool,
}

impl Runner {
    #[must_use]
    pub fn new(
        aws: Arc<Aws>,
        opts: Options,
        progress: Arc<Progress>,
        bucket: Option<String>,
        live: &[LiveStack],
    ) -> Runner {
        Runner {
            aws,
            opts,
            progress,
            bucket,
            outputs: Mutex::new(super::outputs_of(live)),
            interrupted: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Starts no more stacks; those in flight finish.
    pub fn interrupt(&self) {
        self.interrupted
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    fn is_interrupted(&self) -> bool {
        self.interrupted.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Every stack's outputs as last seen: the listing's, replaced by each stack's own
    /// as it finishes (created, updated or found unchanged).
    #[must_use]
    pub fn outputs(&self) -> BTreeMap<String, BTreeMap<String, String>> {
        self.outputs.lock().map(|o| o.clone()).unwrap_or_default()
    }

    fn record_outputs(&self, stack: &LiveStack) {
        if let Ok(mut o) = self.outputs.lock() {
            o.insert(stack.name.clone(), stack.outputs.clone());
        }
    }

    /// Brings one stack to its desired state from whatever state `live` (as last
    /// listed) says it is in.
    pub async fn converge(
        &self,
        desired: &DesiredStack,
        live: Option<LiveStack>,
    ) -> (Outcome, Option<String>) {
        match self.converge_inner(desired, live).await {
            Ok(outcome) => (outcome, None),
            Err(reason) => (Outcome::Failed, Some(reason)),
        }
    }

    #[allow(clippy::too_many_lines)] // one state machine, clearer in one match
    async fn converge_inner(
        &self,
        desired: &DesiredStack,
        mut live: Option<LiveStack>,
    ) -> Result<Outcome, String> {
        let name = desired.name.as_str();
        let resolved = desired
            .resolve(&self.outputs())
            .map_err(|missing| format!("producer output `{missing}` is not there"))?;
        let (hash, tags) = deployed_tags(desired, &resolved, &self.opts.commit);
        let mut recreated = false;
        for _ in 0..8 {
            match live.take() {
                None => {
                    let template = self
                        .template(desired, &hash)
                        .await
                        .map_err(|e| e.to_string())?;
                    self.progress.step(name, "creating");
                    match self
                        .aws
                        .create_stack(name, &template, &resolved, &tags)
                        .await
                    {
                        Ok(()) => {}
                        Err(e) if e.is_already_exists() => {
                            // Someone else created it meanwhile: look again.
                            live = self
                                .aws
                                .describe_stack(name)
                                .await
                                .map_err(|e| e.to_string())?;
                            continue;
                        }
                        Err(e) => return Err(e.to_string()),
                    }
                    let done = self.wait(name, self.opts.stack_timeout).await?;
                    return match done {
                        Some(s) if s.status == "CREATE_COMPLETE" => {
                            self.record_outputs(&s);
                            self.steady(desired).await?;
                            Ok(if recreated {
                                Outcome::Recreated
                            } else {
                                Outcome::Created
                            })
                        }
                        Some(s) => Err(self.explain("create", &s).await),
                        None => Err("the stack disappeared while being created".to_owned()),
                    };
                }
                Some(l) if l.busy() => {
                    self.progress
                        .step(name, &format!("waiting: {} (another actor)", l.status));
                    live = self.wait(name, self.opts.busy_timeout).await.map_err(|e| {
                        format!("stack stayed busy ({}) past the wait: {e}", l.status)
                    })?;
                }
                Some(l) if needs_recreate(&l.status) => {
                    self.progress
                        .step(name, &format!("deleting the failed create ({})", l.status));
                    self.aws
                        .delete_stack(name)
                        .await
                        .map_err(|e| e.to_string())?;
                    if let Some(s) = self.wait(name, self.opts.stack_timeout).await? {
                        return Err(failure("delete of the failed create", &s));
                    }
                    recreated = true;
                }
                Some(l) if l.status == "UPDATE_ROLLBACK_FAILED" => {
                    self.progress.step(name, "continuing the failed rollback");
                    self.aws
                        .continue_update_rollback(name)
                        .await
                        .map_err(|e| e.to_string())?;
                    live = self.wait(name, self.opts.stack_timeout).await?;
                    if let Some(s) = &live
                        && s.status != "UPDATE_ROLLBACK_COMPLETE"
                    {
                        return Err(failure("continue-update-rollback", s));
                    }
                }
                Some(l) if l.status.starts_with("DELETE_") => {
                    return Err(format!(
                        "stack is {}; it needs a look by hand ({})",
                        l.status,
                        l.reason.unwrap_or_default()
                    ));
                }
                Some(l) => {
                    if l.tags.get(TAG_HASH) == Some(&hash) && super::stable(&l.status) {
                        self.record_outputs(&l);
                        return Ok(Outcome::Unchanged);
                    }
                    // `None`: deleted out of band since the listing, so the next step creates it.
                    if let Some(outcome) = self.update(desired, &hash, &resolved, &tags).await? {
                        return Ok(outcome);
                    }
                }
            }
        }
        Err("the stack kept changing state under tenantops; giving up after 8 steps".to_owned())
    }

    /// Updates through a change set. `None` when the stack turned out not to exist.
    async fn update(
        &self,
        desired: &DesiredStack,
        hash: &str,
        resolved: &BTreeMap<String, String>,
        tags: &BTreeMap<String, String>,
    ) -> Result<Option<Outcome>, String> {
        let name = desired.name.as_str();
        let template = self
            .template(desired, hash)
            .await
            .map_err(|e| e.to_string())?;
        let cs = change_set_name(hash);
        self.progress.step(name, "creating change set");
        if let Err(e) = self
            .aws
            .create_change_set(name, &cs, &template, resolved, tags)
            .await
        {
            if e.is_not_found() {
                return Ok(None);
            }
            return Err(e.to_string());
        }
        let state = self.wait_change_set(name, &cs).await?;
        if state.is_no_changes() {
            // The resources already match; only the hash and commit tags differ.
            let _ = self.aws.delete_change_set(name, &cs).await;
            self.progress
                .step(name, "no resource changes: updating tags");
            return match self.aws.update_tags(name, resolved.keys(), tags).await {
                Ok(()) => match self.wait(name, self.opts.stack_timeout).await? {
                    Some(s) if s.status == "UPDATE_COMPLETE" => {
                        self.record_outputs(&s);
                        Ok(Some(Outcome::Updated))
                    }
                    Some(s) => Err(failure("tag update", &s)),
                    None => Ok(None),
                },
                Err(e) if e.is_no_updates() => Ok(Some(Outcome::Unchanged)),
                Err(e) => Err(e.to_string()),
            };
        }
        if state.status != "CREATE_COMPLETE" {
            let _ = self.aws.delete_change_set(name, &cs).await;
            return Err(format!(
                "change set {}: {}",
                state.status,
                state.reason.unwrap_or_default()
            ));
        }
        self.progress.step(
            name,
            &format!(
                "executing change set ({} resource changes)",
                state.changes.len()
            ),
        );
        self.aws
            .execute_change_set(name, &cs)
            .await
            .map_err(|e| e.to_string())?;
        match self.wait(name, self.opts.stack_timeout).await? {
            Some(s) if s.status == "UPDATE_COMPLETE" => {
                self.record_outputs(&s);
                self.steady(desired).await?;
                Ok(Some(Outcome::Updated))
            }
            Some(s) => Err(self.explain("update", &s).await),
            None => Err("the stack disappeared while being updated".to_owned()),
        }
    }

    /// The template as CloudFormation takes it: inline, or uploaded to the artifact
    /// bucket under its hash.
    async fn template(
        &self,
        desired: &DesiredStack,
        hash: &str,
    ) -> Result<TemplateSource, AwsError> {
        if !desired.upload_s3 {
            return Ok(TemplateSource::Body(desired.template.clone()));
        }
        let Some(bucket) = &self.bucket else {
            return Err(AwsError {
                op: "PutObject",
                code: None,
                message: "the template is over 51,200 bytes and `cloudformation.artifact_bucket` is not set".to_owned(),
            });
        };
        let key = format!("tenantops/{}/{hash}.json", desired.name);
        self.aws
            .upload_template(bucket, &key, &desired.template)
            .await
            .map(TemplateSource::Url)
    }

    /// Polls a stack until it is not in progress; `None` once it is gone.
    async fn wait(&self, name: &str, timeout: Duration) -> Result<Option<LiveStack>, String> {
        let mut poll = self.poll(timeout);
        loop {
            let stack = read_through(&mut poll, || self.aws.describe_stack(name)).await?;
            match stack {
                Some(s) if s.busy() => {
                    if !poll.pause().await {
                        return Err(format!("still {} after {}s", s.status, timeout.as_secs()));
                    }
                }
                other => return Ok(other),
            }
        }
    }

    fn poll(&self, timeout: Duration) -> Poll {
        Poll {
            started: Instant::now(),
            timeout,
            delay: self.opts.poll_initial,
            max: self.opts.poll_max,
        }
    }

    async fn wait_change_set(
        &self,
        name: &str,
        cs: &str,
    ) -> Result<crate::aws::ChangeSetState, String> {
        let mut poll = self.poll(self.opts.stack_timeout);
        loop {
            let state = read_through(&mut poll, || self.aws.describe_change_set(name, cs)).await?;
            if !matches!(
                state.status.as_str(),
                "CREATE_PENDING" | "CREATE_IN_PROGRESS"
            ) {
                return Ok(state);
            }
            if !poll.pause().await {
                return Err(format!("change set still {}", state.status));
            }
        }
    }

    /// Waits until every ECS service of a tenant or tier stack runs its desired count
    /// with a single deployment, bounded by `steady_timeout`.
    async fn steady(&self, desired: &DesiredStack) -> Result<(), String> {
        if !matches!(desired.kind, StackKind::Tenant | StackKind::Tier) {
            return Ok(());
        }
        let name = desired.name.as_str();
        let by_cluster = services_of(&self.aws, name)
            .await
            .map_err(|e| e.to_string())?;
        if by_cluster.is_empty() {
            return Ok(());
        }
        self.progress
            .step(name, "waiting for ECS services to be steady");
        let mut poll = self.poll(self.opts.steady_timeout);
        loop {
            let mut waiting = Vec::new();
            for (cluster, services) in &by_cluster {
                for s in self
                    .aws
                    .describe_services(cluster, services)
                    .await
                    .map_err(|e| e.to_string())?
                {
                    if !s.steady() {
                        waiting.push(format!(
                            "{} ({} of {} running, {} deployment{}, {})",
                            s.name,
                            s.running,
                            s.desired,
                            s.deployments,
                            if s.deployments == 1 { "" } else { "s" },
                            s.status
                        ));
                    }
                }
            }
            if waiting.is_empty() {
                return Ok(());
            }
            if !poll.pause().await {
                return Err(format!(
                    "ECS services not steady after {}s: {}",
                    self.opts.steady_timeout.as_secs(),
                    waiting.join("; ")
                ));
            }
        }
    }

    /// Why an operation failed: the stack's status and reason, and the resource
    /// failures its events give.
    async fn explain(&self, what: &str, stack: &LiveStack) -> String {
        let mut reason = failure(what, stack);
        if let Ok(events) = self.aws.failure_events(&stack.name).await
            && !events.is_empty()
        {
            let _ = write!(reason, "; {}", events.join("; "));
        }
        reason
    }

    /// Deletes an unwanted stack, first noting which of its tables CloudFormation keeps.
    async fn delete(&self, name: &str) -> Result<Vec<String>, String> {
        let retained = match self.retained_tables(name).await {
            Ok(r) => r,
            Err(e) if e.is_not_found() => return Ok(Vec::new()),
            Err(e) => return Err(e.to_string()),
        };
        self.progress.step(name, "deleting");
        self.aws
            .delete_stack(name)
            .await
            .map_err(|e| e.to_string())?;
        match self.wait(name, self.opts.stack_timeout).await? {
            None => Ok(retained),
            Some(s) => Err(failure("delete", &s)),
        }
    }

    /// Physical names of the stack's DynamoDB tables whose `DeletionPolicy` keeps them.
    async fn retained_tables(&self, name: &str) -> Result<Vec<String>, AwsError> {
        let template = self.aws.get_template(name).await?;
        let value: serde_json::Value = serde_json::from_str(&template).unwrap_or_default();
        let kept: BTreeSet<String> = value
            .get("Resources")
            .and_then(serde_json::Value::as_object)
            .map(|r| {
                r.iter()
                    .filter(|(_, def)| {
                        def.get("Type").and_then(serde_json::Value::as_str)
                            == Some("AWS::DynamoDB::Table")
                            && matches!(
                                def.get("DeletionPolicy")
                                    .and_then(serde_json::Value::as_str),
                                Some("Retain" | "RetainExceptOnCreate")
                            )
                    })
                    .map(|(id, _)| id.clone())
                    .collect()
            })
            .unwrap_or_default();
        if kept.is_empty() {
            return Ok(Vec::new());
        }
        Ok(self
            .aws
            .stack_resources(name)
            .await?
            .into_iter()
            .filter(|r| kept.contains(&r.logical_id))
            .map(|r| r.physical_id)
            .collect())
    }
}

/// The stack's hash, and the tags it is deployed with: its own, the hash and the commit.
fn deployed_tags(
    stack: &DesiredStack,
    resolved: &BTreeMap<String, String>,
    commit: &str,
) -> (String, BTreeMap<String, String>) {
    let hash = stack.hash(resolved);
    let mut tags = stack.tags.clone();
    tags.insert(TAG_HASH.to_owned(), hash.clone());
    tags.insert(TAG_COMMIT.to_owned(), commit.to_owned());
    (hash, tags)
}

/// A unique change-set name (a killed run's change sets are left; executing one
/// deletes the stack's others).
fn change_set_name(hash: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("tenantops-{}-{nanos}", &hash[..hash.len().min(12)])
}

/// The cluster of an ECS service ARN (`arn:aws:ecs:<region>:<account>:service/<cluster>/<name>`).
fn cluster_of(service_arn: &str) -> String {
    service_arn
        .split_once(":service/")
        .and_then(|(_, rest)| rest.split_once('/'))
        .map_or_else(|| "default".to_owned(), |(cluster, _)| cluster.to_owned())
}

fn failure(what: &str, stack: &LiveStack) -> String {
    match &stack.reason {
        Some(reason) => format!("{what} ended in {}: {reason}", stack.status),
        None => format!("{what} ended in {}", stack.status),
    }
}

/// The pauses between status polls: exponential backoff with jitter, bounded by a
/// timeout.
struct Poll {
    started: Instant,
    timeout: Duration,
    delay: Duration,
    max: Duration,
}

impl Poll {
    /// Sleeps before the next poll; `false` (without sleeping) once the timeout has
    /// passed.
    async fn pause(&mut self) -> bool {
        if self.started.elapsed() >= self.timeout {
            return false;
        }
        tokio::time::sleep(jitter(self.delay)).await;
        self.delay = (self.delay * 2).min(self.max);
        true
    }
}

/// `d` scaled by a factor in [0.5, 1.0): polls of many stacks spread out.
fn jitter(d: Duration) -> Duration {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |t| t.subsec_nanos());
    let factor = 0.5 + f64::from(nanos % 1000) / 2000.0;
    d.mul_f64(factor)
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

/// Consecutive transient failures of a status read a wait rides out (each after a
/// poll interval) before the stack fails: the SDK has already retried each of them.
pub const TRANSIENT_READS: u32 = 3;

/// A status read made while waiting, read again (after a poll interval) through at most
/// [`TRANSIENT_READS`] consecutive transient failures.
async fn read_through<T, F, Fut>(poll: &mut Poll, mut read: F) -> Result<T, String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, AwsError>>,
{
    let mut failed = 0;
    loop {
        match read().await {
            Ok(value) => return Ok(value),
            Err(e) if e.is_transient() && failed < TRANSIENT_READS => {
                failed += 1;
                if !poll.pause().await {
                    return Err(e.to_string());
                }
            }
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// The ECS services of stack `name`, by cluster (ARNs).
///
/// # Errors
/// The `ListStackResources` call's failure.
pub async fn services_of(aws: &Aws, name: &str) -> Result<BTreeMap<String, Vec<String>>, AwsError> {
    let mut by_cluster: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in aws
        .stack_resources(name)
        .await?
        .into_iter()
        .filter(|r| r.resource_type == "AWS::ECS::Service")
    {
        by_cluster
            .entry(cluster_of(&r.physical_id))
            .or_default()
            .push(r.physical_id);
    }
    Ok(by_cluster)
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

/// Adds each live update's resource-level changes to `plan` through a change set,
/// deleted afterwards. Updates whose parameters are not known yet are left as they are.
///
/// # Errors
/// A failed call that creates or deletes a change set (one that fails to compute is
/// reported on its change instead).
pub async fn describe_updates(
    aws: &Arc<Aws>,
    plan: &mut Plan,
    desired: &Desired,
    live: &[LiveStack],
    opts: &Options,
) -> Result<(), AwsError> {
    let outputs = super::outputs_of(live);
    let wanted: BTreeMap<&str, &DesiredStack> = desired
        .stacks
        .iter()
        .map(|s| (s.name.as_str(), s))
        .collect();
    let runner = Arc::new(Runner::new(
        Arc::clone(aws),
        opts.clone(),
        Arc::new(Progress::Silent),
        desired.artifact_bucket.clone(),
        live,
    ));
    let semaphore = Arc::new(Semaphore::new(opts.concurrency.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    for (i, change) in plan.changes.iter().enumerate() {
        if change.action != Action::Update {
            continue;
        }
        let Some(stack) = wanted.get(change.stack.as_str()) else {
            continue;
        };
        let Ok(resolved) = stack.resolve(&outputs) else {
            continue;
        };
        let stack = (*stack).clone();
        let runner = Arc::clone(&runner);
        let semaphore = Arc::clone(&semaphore);
        tasks.spawn(async move {
            let _permit = semaphore.acquire().await;
            (i, runner.preview(&stack, &resolved).await)
        });
    }
    let mut first_error = None;
    while let Some(done) = tasks.join_next().await {
        let Ok((i, result)) = done else { continue };
        let change = &mut plan.changes[i];
        match result {
            Ok(Ok(state)) if state.is_no_changes() => {
                change.reason = Some("no resource changes; tags only".to_owned());
            }
            Ok(Ok(state)) if state.status == "CREATE_COMPLETE" => change.resources = state.changes,
            Ok(Ok(state)) => {
                change.reason = Some(format!(
                    "change set {}: {}",
                    state.status,
                    state.reason.unwrap_or_default()
                ));
            }
            Ok(Err(reason)) => change.reason = Some(reason),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    first_error.map_or(Ok(()), Err)
}

impl Runner {
    /// A change set of `stack`'s update, described and deleted: the outer error is a
    /// call that failed, the inner one a change set that did not compute.
    async fn preview(
        &self,
        stack: &DesiredStack,
        resolved: &BTreeMap<String, String>,
    ) -> Result<Result<crate::aws::ChangeSetState, String>, AwsError> {
        let (hash, tags) = deployed_tags(stack, resolved, &self.opts.commit);
        let template = self.template(stack, &hash).await?;
        let cs = change_set_name(&hash);
        self.aws
            .create_change_set(&stack.name, &cs, &template, resolved, &tags)
            .await?;
        let state = self.wait_change_set(&stack.name, &cs).await;
        self.aws.delete_change_set(&stack.name, &cs).await?;
        Ok(state)
    }
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

    #[test]
    fn the_cluster_comes_from_the_service_arn() {
        assert_eq!(
            cluster_of(
                "arn:aws:ecs:us-east-1:123456789012:service/saas-prod-advanced/saas-prod-globex-orders"
            ),
            "saas-prod-advanced"
        );
        assert_eq!(
            cluster_of("arn:aws:ecs:us-east-1:123:service/old-format"),
            "default"
        );
    }

    #[test]
    fn change_set_names_are_valid_and_unique() {
        let a = change_set_name("0123456789abcdef0123");
        let b = change_set_name("0123456789abcdef0123");
        assert!(a.starts_with("tenantops-0123456789ab-"), "{a}");
        assert!(a.len() <= 128 && a.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
        assert_ne!(a, b);
    }

    #[test]
    fn jitter_stays_within_half_to_all_of_the_interval() {
        for _ in 0..100 {
            let d = jitter(Duration::from_secs(1));
            assert!(
                d >= Duration::from_millis(500) && d < Duration::from_secs(1),
                "{d:?}"
            );
        }
    }
}
