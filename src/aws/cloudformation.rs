//! CloudFormation calls: listing and describing stacks, creating, updating and deleting them, change sets, resources, events and templates.

use std::collections::BTreeMap;

use aws_sdk_cloudformation::types::{Capability, ChangeSetType, Parameter, Tag};

use super::{
    Aws, AwsError, ChangeSetState, LiveStack, ResourceChange, StackResource, TemplateSource,
};

impl Aws {
    /// Every stack of the region that is not deleted, with tags and outputs, through
    /// paginated `DescribeStacks` (one call per 100 stacks, nothing per stack).
    /// `keep` picks the ones wanted (by their names and tags); it sees every stack.
    ///
    /// # Errors
    /// The first failed page.
    pub async fn list_stacks(
        &self,
        mut keep: impl FnMut(&LiveStack) -> bool,
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
                if live.status != "DELETE_COMPLETE" && keep(&live) {
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
            .set_role_arn(self.service_role.clone())
            .client_request_token(request_token())
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
            .set_role_arn(self.service_role.clone())
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
                        cause: None,
                        custom_name: None,
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
            .client_request_token(request_token())
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
            .set_role_arn(self.service_role.clone())
            .client_request_token(request_token())
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
            .set_role_arn(self.service_role.clone())
            .client_request_token(request_token())
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
            .client_request_token(request_token())
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

/// A `ClientRequestToken` for one mutating call: the SDK sends the same token on each
/// of its retries, so CloudFormation takes a retried create (whose first answer was
/// lost) for the same request instead of a second one, and every stack event the call
/// causes carries it (the API reference of `ClientRequestToken`: "Specify this token
/// if you plan to retry requests so that CloudFormation knows that you're not
/// attempting to create a stack with the same name"). Unique per call: `tenantops-<pid>-<time>-<count>` (letters,
/// digits and hyphens, at most 128 characters, as the API requires).
fn request_token() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "tenantops-{}-{nanos}-{}",
        std::process::id(),
        COUNT.fetch_add(1, Ordering::Relaxed)
    )
}
