//! The AWS edge: every call tenantops makes to CloudFormation, ECS and S3, through the SDK clients, returning tenantops' own types so no SDK type leaks past this module.
//!
//! Each call is counted ([`Calls`]), and marked mutating or not, so a run can report
//! how many requests it made and a second `apply` can prove it changed nothing.
//! Throttling and 5xx errors are retried by the SDK itself (standard retry mode,
//! exponential backoff with full jitter, [`RETRY_ATTEMPTS`] attempts).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_sdk_cloudformation::error::ProvideErrorMetadata;
use aws_sdk_cloudformation::types::{Capability, ChangeSetType, Parameter, Tag};

/// Attempts per request (the first and its retries) on throttling and 5xx errors.
pub const RETRY_ATTEMPTS: u32 = 8;

/// How tenantops finds AWS: the SDK's standard configuration (credential chain,
/// `AWS_PROFILE`, `AWS_REGION`, `AWS_ENDPOINT_URL`), with the command line's overrides.
#[derive(Clone, Debug, Default)]
pub struct Settings {
    pub endpoint_url: Option<String>,
    pub region: Option<String>,
    pub profile: Option<String>,
    /// The region of `tenantops.yaml`, used when neither the command line nor the
    /// environment names one.
    pub fallback_region: Option<String>,
}

/// A failed AWS call, with the service's error code when it gave one.
#[derive(Clone, Debug, thiserror::Error)]
#[error("{op}: {message}")]
pub struct AwsError {
    pub op: &'static str,
    pub code: Option<String>,
    pub message: String,
}

impl AwsError {
    fn from_sdk<E>(op: &'static str, e: &E) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let message = match e.message() {
            Some(m) => m.to_owned(),
            None => chain(e),
        };
        AwsError {
            op,
            code: e.code().map(str::to_owned),
            message,
        }
    }

    /// A stack (or change set) that does not exist.
    #[must_use]
    pub fn is_not_found(&self) -> bool {
        self.message.contains("does not exist")
            || matches!(
                self.code.as_deref(),
                Some("ChangeSetNotFound" | "ChangeSetNotFoundException" | "NoSuchKey")
            )
    }

    /// A read that failed for no reason of the request's: a response that could not be
    /// parsed (an error page from a proxy or an overloaded endpoint; it has no error
    /// code) or a server error that outlived the SDK's own retries. Waits read again.
    #[must_use]
    pub fn is_transient(&self) -> bool {
        match self.code.as_deref() {
            None => !self.is_not_found(),
            Some(code) => matches!(
                code,
                "InternalFailure"
                    | "InternalError"
                    | "ServiceUnavailable"
                    | "Throttling"
                    | "ThrottlingException"
                    | "RequestLimitExceeded"
            ),
        }
    }

    /// A create that lost the race: the name is taken.
    #[must_use]
    pub fn is_already_exists(&self) -> bool {
        self.code.as_deref() == Some("AlreadyExistsException")
            || self.message.contains("already exists")
    }

    /// CloudFormation's refusal of an update that changes nothing.
    #[must_use]
    pub fn is_no_updates(&self) -> bool {
        self.message.contains("No updates are to be performed")
    }
}

/// An error and its causes, each once: `dispatch failure: io error: ... Connection refused`.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(e);
    while let Some(err) = next {
        let text = err.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = err.source();
    }
    parts.join(": ")
}

/// Counts of requests made, per operation.
#[derive(Debug, Default)]
pub struct Calls {
    counts: Mutex<BTreeMap<&'static str, u64>>,
}

/// Operations that change something in AWS.
pub const MUTATING: &[&str] = &[
    "CreateStack",
    "UpdateStack",
    "DeleteStack",
    "CreateChangeSet",
    "ExecuteChangeSet",
    "DeleteChangeSet",
    "ContinueUpdateRollback",
    "PutObject",
];

impl Calls {
    fn count(&self, op: &'static str) {
        if let Ok(mut counts) = self.counts.lock() {
            *counts.entry(op).or_default() += 1;
        }
    }

    /// Requests made so far, per operation.
    #[must_use]
    pub fn snapshot(&self) -> BTreeMap<&'static str, u64> {
        self.counts.lock().map(|c| c.clone()).unwrap_or_default()
    }

    /// Requests that changed something.
    #[must_use]
    pub fn mutating(&self) -> u64 {
        self.snapshot()
            .iter()
            .filter(|(op, _)| MUTATING.contains(op))
            .map(|(_, n)| n)
            .sum()
    }

    #[must_use]
    pub fn total(&self) -> u64 {
        self.snapshot().values().sum()
    }
}

/// A stack as CloudFormation reports it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LiveStack {
    pub name: String,
    pub status: String,
    pub reason: Option<String>,
    pub tags: BTreeMap<String, String>,
    pub outputs: BTreeMap<String, String>,
}

impl LiveStack {
    /// The stack is mid-operation (someone, perhaps another tool, is changing it).
    #[must_use]
    pub fn busy(&self) -> bool {
        self.status.ends_with("_IN_PROGRESS") && self.status != "REVIEW_IN_PROGRESS"
    }
}

/// How a template reaches CloudFormation.
#[derive(Clone, Debug)]
pub enum TemplateSource {
    Body(String),
    Url(String),
}

/// One resource-level change of a change set.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ResourceChange {
    /// `Add`, `Modify`, `Remove`, `Import`, `Dynamic`.
    pub action: String,
    pub logical_id: String,
    pub resource_type: String,
    /// `True`, `False`, `Conditional`, or none for adds and removes.
    pub replacement: Option<String>,
}

/// A change set's state.
#[derive(Clone, Debug, Default)]
pub struct ChangeSetState {
    /// `CREATE_PENDING`, `CREATE_IN_PROGRESS`, `CREATE_COMPLETE`, `FAILED`, ...
    pub status: String,
    pub reason: Option<String>,
    pub changes: Vec<ResourceChange>,
}

impl ChangeSetState {
    /// The change set failed only because the stack already matches.
    #[must_use]
    pub fn is_no_changes(&self) -> bool {
        self.status == "FAILED"
            && self.reason.as_deref().is_some_and(|r| {
                r.contains("didn't contain changes") || r.contains("No updates are to be performed")
            })
    }
}

/// A resource of a stack.
#[derive(Clone, Debug)]
pub struct StackResource {
    pub logical_id: String,
    pub resource_type: String,
    pub physical_id: String,
}

/// An ECS service's rollout state.
#[derive(Clone, Debug)]
pub struct ServiceState {
    pub name: String,
    pub status: String,
    pub desired: i32,
    pub running: i32,
    pub deployments: usize,
}

impl ServiceState {
    /// Every desired task runs and one deployment (the primary) is left.
    #[must_use]
    pub fn steady(&self) -> bool {
        self.status == "ACTIVE" && self.desired == self.running && self.deployments <= 1
    }
}

/// The clients tenantops uses, and the count of calls made through them.
#[derive(Debug)]
pub struct Aws {
    cfn: aws_sdk_cloudformation::Client,
    ecs: aws_sdk_ecs::Client,
    s3: aws_sdk_s3::Client,
    region: String,
    pub calls: Calls,
}

impl Aws {
    /// Clients from the standard AWS configuration and `settings`.
    pub async fn connect(settings: &Settings) -> Aws {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest()).retry_config(
            RetryConfig::standard()
                .with_max_attempts(RETRY_ATTEMPTS)
                .with_initial_backoff(Duration::from_millis(200))
                .with_max_backoff(Duration::from_secs(20)),
        );
        if let Some(url) = &settings.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        if let Some(profile) = &settings.profile {
            loader = loader.profile_name(profile);
        }
        if let Some(region) = &settings.region {
            loader = loader.region(aws_config::Region::new(region.clone()));
        }
        let mut config = loader.load().await;
        if config.region().is_none()
            && let Some(region) = &settings.fallback_region
        {
            config = config
                .into_builder()
                .region(aws_config::Region::new(region.clone()))
                .build();
        }
        // S3 through a custom endpoint (an emulator) needs path-style addressing.
        let s3_config = aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(settings.endpoint_url.is_some() || config.endpoint_url().is_some())
            .build();
        Aws::from_clients(
            aws_sdk_cloudformation::Client::new(&config),
            aws_sdk_ecs::Client::new(&config),
            aws_sdk_s3::Client::from_conf(s3_config),
        )
    }

    /// Wraps existing clients (tests give clients backed by the SDK's test doubles).
    #[must_use]
    pub fn from_clients(
        cfn: aws_sdk_cloudformation::Client,
        ecs: aws_sdk_ecs::Client,
        s3: aws_sdk_s3::Client,
    ) -> Aws {
        let region = cfn
            .config()
            .region()
            .map_or_else(|| "us-east-1".to_owned(), ToString::to_string);
        Aws {
            cfn,
            ecs,
            s3,
            region,
            calls: Calls::default(),
        }
    }

    /// Every stack of the region that is not deleted, with tags and outputs, through
    /// paginated `DescribeStacks` (one call per 100 stacks, nothing per stack).
    /// `keep` picks the ones wanted by their tags.
    ///
    /// # Errors
    /// The first failed page.
    pub async fn list_stacks(
        &self,
        keep: impl Fn(&BTreeMap<String, String>) -> bool,
    ) -> Result<Vec<LiveStack>, AwsError> {
        let mut stacks = Vec::new();
        let mut pages = self.cfn.describe_stacks().into_paginator().send();
        loop {
            let Some(page) = pages.next().await else {
                break;
            };
            self.calls.count("DescribeStacks");
            let page = page.map_err(|e| AwsError::from_sdk("DescribeStacks", &e))?;
            for stack in page.stacks() {
                let live = live_stack(stack);
                if live.status != "DELETE_COMPLETE" && keep(&live.tags) {
                    stacks.push(live);
                }
            }
        }
        Ok(stacks)
    }

    /// One stack, or `None` when it does not exist (or only as deleted).
    ///
    /// # Errors
    /// A failed call other than "does not exist".
    pub async fn describe_stack(&self, name: &str) -> Result<Option<LiveStack>, AwsError> {
        self.calls.count("DescribeStacks");
        match self.cfn.describe_stacks().stack_name(name).send().await {
            Ok(out) => Ok(out
                .stacks()
                .first()
                .map(live_stack)
                .filter(|s| s.status != "DELETE_COMPLETE")),
            Err(e) => {
                let e = AwsError::from_sdk("DescribeStacks", &e);
                if e.is_not_found() { Ok(None) } else { Err(e) }
            }
        }
    }

    /// `CreateStack`; the stack is rolled back (not deleted) on failure, so the reason
    /// stays to be read.
    ///
    /// # Errors
    /// The call's failure.
    pub async fn create_stack(
        &self,
        name: &str,
        template: &TemplateSource,
        parameters: &BTreeMap<String, String>,
        tags: &BTreeMap<String, String>,
    ) -> Result<(), AwsError> {
        self.calls.count("CreateStack");
        let mut req = self
            .cfn
            .create_stack()
            .stack_name(name)
            .set_parameters(Some(params(parameters)))
            .set_tags(Some(tag_list(tags)))
            .set_capabilities(Some(capabilities()));
        req = match template {
            TemplateSource::Body(b) => req.template_body(b),
            TemplateSource::Url(u) => req.template_url(u),
        };
        req.send()
            .await
            .map(|_| ())
            .map_err(|e| AwsError::from_sdk("CreateStack", &e))
    }

    /// `CreateChangeSet` of type UPDATE.
    ///
    /// # Errors
    /// The call's failure.
    pub async fn create_change_set(
        &self,
        name: &str,
        change_set: &str,
        template: &TemplateSource,
        parameters: &BTreeMap<String, String>,
        tags: &BTreeMap<String, String>,
    ) -> Result<(), AwsError> {
        self.calls.count("CreateChangeSet");
        let mut req = self
            .cfn
            .create_change_set()
            .stack_name(name)
            .change_set_name(change_set)
            .change_set_type(ChangeSetType::Update)
            .description("tenantops")
            .set_parameters(Some(params(parameters)))
            .set_tags(Some(tag_list(tags)))
            .set_capabilities(Some(capabilities()));
        req = match template {
            TemplateSource::Body(b) => req.template_body(b),
            TemplateSource::Url(u) => req.template_url(u),
        };
        req.send()
            .await
            .map(|_| ())
            .map_err(|e| AwsError::from_sdk("CreateChangeSet", &e))
    }

    /// A change set's status and all its resource changes (every page).
    ///
    /// # Errors
    /// The first failed call.
    pub async fn describe_change_set(
        &self,
        name: &str,
        change_set: &str,
    ) -> Result<ChangeSetState, AwsError> {
        let mut state = ChangeSetState::default();
        let mut token: Option<String> = None;
        loop {
            self.calls.count("DescribeChangeSet");
            let out = self
                .cfn
                .describe_change_set()
                .stack_name(name)
                .change_set_name(change_set)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("DescribeChangeSet", &e))?;
            state.status = out
                .status()
                .map(|s| s.as_str().to_owned())
                .unwrap_or_default();
            state.reason = out.status_reason().map(str::to_owned);
            for change in out.changes() {
                if let Some(rc) = change.resource_change() {
                    state.changes.push(ResourceChange {
                        action: rc
                            .action()
                            .map(|a| a.as_str().to_owned())
                            .unwrap_or_default(),
                        logical_id: rc.logical_resource_id().unwrap_or_default().to_owned(),
                        resource_type: rc.resource_type().unwrap_or_default().to_owned(),
                        replacement: rc.replacement().map(|r| r.as_str().to_owned()),
                    });
                }
            }
            match out.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_owned()),
                _ => return Ok(state),
            }
        }
    }

    /// # Errors
    /// The call's failure.
    pub async fn execute_change_set(&self, name: &str, change_set: &str) -> Result<(), AwsError> {
        self.calls.count("ExecuteChangeSet");
        self.cfn
            .execute_change_set()
            .stack_name(name)
            .change_set_name(change_set)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| AwsError::from_sdk("ExecuteChangeSet", &e))
    }

    /// Deletes a change set; one already gone is not an error.
    ///
    /// # Errors
    /// The call's failure.
    pub async fn delete_change_set(&self, name: &str, change_set: &str) -> Result<(), AwsError> {
        self.calls.count("DeleteChangeSet");
        match self
            .cfn
            .delete_change_set()
            .stack_name(name)
            .change_set_name(change_set)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => {
                let e = AwsError::from_sdk("DeleteChangeSet", &e);
                if e.is_not_found() { Ok(()) } else { Err(e) }
            }
        }
    }

    /// `UpdateStack` keeping the template and every parameter, changing only the
    /// stack's tags (which CloudFormation passes on to the resources).
    ///
    /// # Errors
    /// The call's failure, including "No updates are to be performed".
    pub async fn update_tags(
        &self,
        name: &str,
        parameter_keys: impl Iterator<Item = &String>,
        tags: &BTreeMap<String, String>,
    ) -> Result<(), AwsError> {
        self.calls.count("UpdateStack");
        let keep: Vec<Parameter> = parameter_keys
            .map(|k| {
                Parameter::builder()
                    .parameter_key(k)
                    .use_previous_value(true)
                    .build()
            })
            .collect();
        self.cfn
            .update_stack()
            .stack_name(name)
            .use_previous_template(true)
            .set_parameters(Some(keep))
            .set_tags(Some(tag_list(tags)))
            .set_capabilities(Some(capabilities()))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| AwsError::from_sdk("UpdateStack", &e))
    }

    /// # Errors
    /// The call's failure.
    pub async fn delete_stack(&self, name: &str) -> Result<(), AwsError> {
        self.calls.count("DeleteStack");
        self.cfn
            .delete_stack()
            .stack_name(name)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| AwsError::from_sdk("DeleteStack", &e))
    }

    /// # Errors
    /// The call's failure.
    pub async fn continue_update_rollback(&self, name: &str) -> Result<(), AwsError> {
        self.calls.count("ContinueUpdateRollback");
        self.cfn
            .continue_update_rollback()
            .stack_name(name)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| AwsError::from_sdk("ContinueUpdateRollback", &e))
    }

    /// Every resource of a stack (all pages).
    ///
    /// # Errors
    /// The first failed call.
    pub async fn stack_resources(&self, name: &str) -> Result<Vec<StackResource>, AwsError> {
        let mut out = Vec::new();
        let mut pages = self
            .cfn
            .list_stack_resources()
            .stack_name(name)
            .into_paginator()
            .send();
        loop {
            let Some(page) = pages.next().await else {
                break;
            };
            self.calls.count("ListStackResources");
            let page = page.map_err(|e| AwsError::from_sdk("ListStackResources", &e))?;
            for r in page.stack_resource_summaries() {
                out.push(StackResource {
                    logical_id: r.logical_resource_id().unwrap_or_default().to_owned(),
                    resource_type: r.resource_type().unwrap_or_default().to_owned(),
                    physical_id: r.physical_resource_id().unwrap_or_default().to_owned(),
                });
            }
        }
        Ok(out)
    }

    /// The resource failures of the stack's latest operation (newest first, from the
    /// first page of events): `logical id (type) STATUS: reason`. CloudFormation's
    /// stack-level reason only names the failed resources; these say why.
    ///
    /// # Errors
    /// The call's failure.
    pub async fn failure_events(&self, name: &str) -> Result<Vec<String>, AwsError> {
        self.calls.count("DescribeStackEvents");
        let out = self
            .cfn
            .describe_stack_events()
            .stack_name(name)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("DescribeStackEvents", &e))?;
        let mut failures = Vec::new();
        for event in out.stack_events() {
            let logical = event.logical_resource_id().unwrap_or_default();
            let status = event
                .resource_status()
                .map(|s| s.as_str().to_owned())
                .unwrap_or_default();
            let reason = event.resource_status_reason().unwrap_or_default();
            // The stack's own event that started this operation: older events belong
            // to earlier operations.
            if logical == name && event.resource_type() == Some("AWS::CloudFormation::Stack") {
                if status.ends_with("_IN_PROGRESS") && reason == "User Initiated" {
                    break;
                }
                continue;
            }
            if status.ends_with("_FAILED") && !reason.contains("cancelled") {
                failures.push(format!(
                    "{logical} ({}) {status}: {reason}",
                    event.resource_type().unwrap_or_default()
                ));
            }
        }
        failures.reverse();
        Ok(failures)
    }

    /// The template a stack runs now.
    ///
    /// # Errors
    /// The call's failure.
    pub async fn get_template(&self, name: &str) -> Result<String, AwsError> {
        self.calls.count("GetTemplate");
        self.cfn
            .get_template()
            .stack_name(name)
            .send()
            .await
            .map(|o| o.template_body().unwrap_or_default().to_owned())
            .map_err(|e| AwsError::from_sdk("GetTemplate", &e))
    }

    /// Puts a template too large for `TemplateBody` into the artifact bucket, and
    /// returns its URL for `TemplateURL`.
    ///
    /// # Errors
    /// The call's failure.
    pub async fn upload_template(
        &self,
        bucket: &str,
        key: &str,
        body: &str,
    ) -> Result<String, AwsError> {
        self.calls.count("PutObject");
        self.s3
            .put_object()
            .bucket(bucket)
            .key(key)
            .content_type("application/json")
            .body(body.as_bytes().to_vec().into())
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("PutObject", &e))?;
        Ok(format!(
            "https://{bucket}.s3.{}.amazonaws.com/{key}",
            self.region
        ))
    }

    /// The rollout state of ECS services (by ARN) of `cluster`, ten per call.
    ///
    /// # Errors
    /// The first failed call.
    pub async fn describe_services(
        &self,
        cluster: &str,
        services: &[String],
    ) -> Result<Vec<ServiceState>, AwsError> {
        let mut out = Vec::new();
        for chunk in services.chunks(10) {
            self.calls.count("DescribeServices");
            let resp = self
                .ecs
                .describe_services()
                .cluster(cluster)
                .set_services(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("DescribeServices", &e))?;
            for s in resp.services() {
                out.push(ServiceState {
                    name: s.service_name().unwrap_or_default().to_owned(),
                    status: s.status().unwrap_or_default().to_owned(),
                    desired: s.desired_count(),
                    running: s.running_count(),
                    deployments: s.deployments().len(),
                });
            }
            for f in resp.failures() {
                out.push(ServiceState {
                    name: f.arn().unwrap_or_default().to_owned(),
                    status: f.reason().unwrap_or("MISSING").to_owned(),
                    desired: 0,
                    running: 0,
                    deployments: 0,
                });
            }
        }
        Ok(out)
    }
}

fn live_stack(stack: &aws_sdk_cloudformation::types::Stack) -> LiveStack {
    LiveStack {
        name: stack.stack_name().unwrap_or_default().to_owned(),
        status: stack
            .stack_status()
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default(),
        reason: stack.stack_status_reason().map(str::to_owned),
        tags: stack
            .tags()
            .iter()
            .filter_map(|t| Some((t.key()?.to_owned(), t.value()?.to_owned())))
            .collect(),
        outputs: stack
            .outputs()
            .iter()
            .filter_map(|o| Some((o.output_key()?.to_owned(), o.output_value()?.to_owned())))
            .collect(),
    }
}

fn params(values: &BTreeMap<String, String>) -> Vec<Parameter> {
    values
        .iter()
        .map(|(k, v)| {
            Parameter::builder()
                .parameter_key(k)
                .parameter_value(v)
                .build()
        })
        .collect()
}

fn tag_list(tags: &BTreeMap<String, String>) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

/// Rendered stacks create named IAM roles.
fn capabilities() -> Vec<Capability> {
    vec![Capability::CapabilityIam, Capability::CapabilityNamedIam]
}
