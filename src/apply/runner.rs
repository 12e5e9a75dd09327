//! The per-stack state machine: brings one stack from whatever state it is in to its desired state (create, recreate after a failed create, continue a failed rollback, update through a change set, or delete), recording producer outputs as stacks finish.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use super::Options;
use super::progress::Progress;
use super::report::Outcome;
use crate::aws::{Aws, AwsError, LiveStack, TemplateSource};
use crate::plan::{
    DesiredStack, STEADY_PENDING, TAG_COMMIT, TAG_HASH, TAG_STEADY, TAG_VERSION, VERSION,
    needs_recreate, stable,
};

/// Deploys stacks; shared by the tasks of a phase.
pub struct Runner {
    pub(super) aws: Arc<Aws>,
    pub(super) opts: Options,
    pub(super) progress: Arc<Progress>,
    pub(super) bucket: Option<String>,
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
            outputs: Mutex::new(crate::plan::outputs_of(live)),
            interrupted: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Starts no more stacks; those in flight finish.
    pub fn interrupt(&self) {
        self.interrupted
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    pub(super) fn is_interrupted(&self) -> bool {
        self.interrupted.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Every stack's outputs as last seen: the listing's, replaced by each stack's own
    /// as it finishes (created, updated or found unchanged).
    #[must_use]
    pub fn outputs(&self) -> BTreeMap<String, BTreeMap<String, String>> {
        self.outputs.lock().map(|o| o.clone()).unwrap_or_default()
    }

    pub(super) fn record_outputs(&self, stack: &LiveStack) {
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
        // The create met a stack of this stage: another apply's, or this run's own
        // create whose answer was lost and which the SDK's retry met.
        let mut met_on_create = false;
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
                            // Someone else created it meanwhile: look again, and touch
                            // it only if it is this stage's (another apply's) stack.
                            live = self
                                .aws
                                .describe_stack(name)
                                .await
                                .map_err(|e| e.to_string())?;
                            if let (Some(stage), Some(l)) = (&self.opts.stage, &live)
                                && !crate::plan::manages(stage, &l.tags)
                            {
                                return Err(format!(
                                    "a stack `{name}` that tenantops does not manage (no `tenantops:managed` tag for stage `{stage}`) appeared while this run was creating it; it was left as it is"
                                ));
                            }
                            met_on_create = true;
                            continue;
                        }
                        Err(e) => return Err(e.to_string()),
                    }
                    let done = self.wait(name, self.opts.stack_timeout).await?;
                    return match done {
                        Some(s) if s.status == "CREATE_COMPLETE" => {
                            self.record_outputs(&s);
                            self.settle(desired, &hash, &resolved, &tags).await?;
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
                    if l.tags.get(TAG_HASH) == Some(&hash) && stable(&l.status) {
                        self.record_outputs(&l);
                        if met_on_create {
                            // Made with this run's hash while this run was creating it
                            // (the stage lock keeps other applies out): this run's
                            // create. It is reported as such and is not done until its
                            // services are steady; before, it was "unchanged", the
                            // steady wait was skipped and a tenant with no running
                            // task was reported provisioned.
                            self.settle(desired, &hash, &resolved, &l.tags).await?;
                            return Ok(if recreated {
                                Outcome::Recreated
                            } else {
                                Outcome::Created
                            });
                        }
                        if desired.awaits_steady(&l.tags, &hash) {
                            // Deployed as wanted, but the run that changed it failed
                            // or was stopped before its services were seen steady:
                            // before, the rerun said "nothing to apply" and exited 0
                            // with services at 0 of N.
                            self.settle(desired, &hash, &resolved, &l.tags).await?;
                            return Ok(Outcome::Steady);
                        }
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
            // The services are as they were: when they are steady now, the tag update
            // records it, and no second update is needed.
            let steady = if desired.has_services() {
                self.steady(desired).await
            } else {
                Ok(())
            };
            let mut tags = tags.clone();
            if steady.is_ok() && desired.has_services() {
                tags.insert(TAG_STEADY.to_owned(), hash.to_owned());
            }
            self.progress
                .step(name, "no resource changes: updating tags");
            return match self.aws.update_tags(name, resolved.keys(), &tags).await {
                Ok(()) => match self.wait(name, self.opts.stack_timeout).await? {
                    Some(s) if s.status == "UPDATE_COMPLETE" => {
                        self.record_outputs(&s);
                        steady?;
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
                self.settle(desired, hash, resolved, tags).await?;
                Ok(Some(Outcome::Updated))
            }
            Some(s) => Err(self.explain("update", &s).await),
            None => Err("the stack disappeared while being updated".to_owned()),
        }
    }

    /// Waits for the stack's services to be steady, then records it: a tags-only
    /// update that sets [`TAG_STEADY`] to `hash` on `tags` (the stack's tags as they
    /// are). Until then the tag says [`STEADY_PENDING`], so a run that fails or is
    /// killed here leaves the stack for the next run to check. The update is made only
    /// once the services are steady, when CloudFormation's own wait for them is short.
    async fn settle(
        &self,
        desired: &DesiredStack,
        hash: &str,
        resolved: &BTreeMap<String, String>,
        tags: &BTreeMap<String, String>,
    ) -> Result<(), String> {
        self.steady(desired).await?;
        if !desired.has_services() || tags.get(TAG_STEADY).map(String::as_str) == Some(hash) {
            return Ok(());
        }
        let name = desired.name.as_str();
        let mut tags = tags.clone();
        tags.insert(TAG_STEADY.to_owned(), hash.to_owned());
        self.progress
            .step(name, "recording that its services are steady");
        let recorded = match self.aws.update_tags(name, resolved.keys(), &tags).await {
            Ok(()) => match self.wait(name, self.opts.stack_timeout).await? {
                Some(s) if s.status == "UPDATE_COMPLETE" => {
                    self.record_outputs(&s);
                    Ok(())
                }
                Some(s) => Err(failure("the tag update", &s)),
                None => Err("the stack disappeared".to_owned()),
            },
            Err(e) if e.is_no_updates() => Ok(()),
            Err(e) => Err(e.to_string()),
        };
        recorded.map_err(|e| {
            format!("its services are steady, but recording it failed ({e}); the next apply checks them again")
        })
    }

    /// The template as CloudFormation takes it: inline, or uploaded to the artifact
    /// bucket under its hash.
    pub(super) async fn template(
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
    pub(super) async fn delete(&self, name: &str) -> Result<Vec<String>, String> {
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

/// The stack's hash, and the tags it is deployed with: its own, the hash, the commit,
/// the tenantops version and, for a stack with services, [`TAG_STEADY`] pending until they are seen steady.
pub(super) fn deployed_tags(
    stack: &DesiredStack,
    resolved: &BTreeMap<String, String>,
    commit: &str,
) -> (String, BTreeMap<String, String>) {
    let hash = stack.hash(resolved);
    let mut tags = stack.tags.clone();
    tags.insert(TAG_HASH.to_owned(), hash.clone());
    tags.insert(TAG_COMMIT.to_owned(), commit.to_owned());
    tags.insert(TAG_VERSION.to_owned(), VERSION.to_owned());
    if stack.has_services() {
        tags.insert(TAG_STEADY.to_owned(), STEADY_PENDING.to_owned());
    }
    (hash, tags)
}

/// A unique change-set name (a killed run's change sets are left; executing one
/// deletes the stack's others).
pub(super) fn change_set_name(hash: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("tenantops-{}-{nanos}", &hash[..hash.len().min(12)])
}

pub(super) fn failure(what: &str, stack: &LiveStack) -> String {
    match &stack.reason {
        Some(reason) => format!("{what} ended in {}: {reason}", stack.status),
        None => format!("{what} ended in {}", stack.status),
    }
}

#[cfg(test)]
mod tests {
    use super::change_set_name;

    #[test]
    fn change_set_names_are_valid_and_unique() {
        let a = change_set_name("0123456789abcdef0123");
        let b = change_set_name("0123456789abcdef0123");
        assert!(a.starts_with("tenantops-0123456789ab-"), "{a}");
        assert!(a.len() <= 128 && a.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
        assert_ne!(a, b);
    }
}
