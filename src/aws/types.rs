//! What tenantops knows of AWS, in its own types: live stacks, change sets, stack resources, ECS service states.

use std::collections::BTreeMap;

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
    /// The property whose change replaces (or may replace) it, where known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
    /// The custom name the resource has (`TableName`, ...): CloudFormation cannot
    /// replace it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_name: Option<String>,
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
