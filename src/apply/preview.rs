//! `plan --live`'s resource-level changes: a change set per update, described and deleted.

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::sync::Semaphore;

use super::Options;
use super::progress::Progress;
use super::runner::{Runner, change_set_name, deployed_tags};
use crate::aws::{Aws, AwsError, ChangeSetState, LiveStack};
use crate::plan::{Action, Desired, DesiredStack, Plan};

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
    let outputs = crate::plan::outputs_of(live);
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
        // What the live plan said (another tenantops deployed it) stays, ahead of what
        // the change set adds.
        let said = change.reason.take();
        let with = |reason: String| {
            Some(
                said.as_ref()
                    .map_or(reason.clone(), |s| format!("{s}; {reason}")),
            )
        };
        match result {
            Ok(Ok(state)) if state.is_no_changes() => {
                change.reason = with("no resource changes; tags only".to_owned());
            }
            Ok(Ok(state)) if state.status == "CREATE_COMPLETE" => {
                change.reason = said;
                change.resources = state.changes;
            }
            Ok(Ok(state)) => {
                change.reason = with(format!(
                    "change set {}: {}",
                    state.status,
                    state.reason.unwrap_or_default()
                ));
            }
            Ok(Err(reason)) => change.reason = with(reason),
            Err(e) => {
                change.reason = said;
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
    ) -> Result<Result<ChangeSetState, String>, AwsError> {
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

/// What each update of `plan` removes or replaces of the resources that hold data or
/// identity (`Change::destroys`), from the deployed template (`GetTemplate`, one call
/// per updated stack, `concurrency` at a time) against the desired one. Apply's guards
/// count them before anything changes; `plan --live` shows them.
///
/// # Errors
/// The first `GetTemplate` that failed.
pub async fn read_destroys(
    aws: &Arc<Aws>,
    plan: &mut Plan,
    desired: &Desired,
    concurrency: usize,
) -> Result<(), AwsError> {
    let wanted: BTreeMap<&str, &DesiredStack> = desired
        .stacks
        .iter()
        .map(|s| (s.name.as_str(), s))
        .collect();
    let semaphore = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    for (i, change) in plan.changes.iter().enumerate() {
        if change.action != Action::Update {
            continue;
        }
        let Some(stack) = wanted.get(change.stack.as_str()) else {
            continue;
        };
        let (aws, semaphore) = (Arc::clone(aws), Arc::clone(&semaphore));
        let (name, after) = (stack.name.clone(), stack.template.clone());
        tasks.spawn(async move {
            let _permit = semaphore.acquire().await;
            let before = aws.get_template(&name).await?;
            Ok::<_, AwsError>((i, crate::plan::destroys(&before, &after)))
        });
    }
    let mut first_error = None;
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(Ok((i, destroys))) => plan.changes[i].destroys = destroys,
            Ok(Err(e)) => {
                first_error.get_or_insert(e);
            }
            Err(_) => {}
        }
    }
    first_error.map_or(Ok(()), Err)
}
