//! Tables in the way: a stack this run creates would create a named DynamoDB table that already exists — kept by the retention policy of an earlier stack with the same name (a tenant offboarded, then onboarded again under the same id). CloudFormation would fail the create on it, and every retry the same way, so the run is refused before it starts.

use crate::aws::{Aws, AwsError};
use crate::plan::{Action, Desired, Plan};

/// A table that is in the way of a stack's create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Collision {
    pub stack: String,
    /// The manifest the stack comes from (`tenants/<id>.yaml`, `tiers/<tier>.yaml`).
    pub manifest: String,
    pub table: String,
}

/// The tables the creates (and recreates) of `plan` would make that exist already.
///
/// # Errors
/// A failed `ListTables` page.
pub async fn tables_in_the_way(
    aws: &Aws,
    plan: &Plan,
    desired: &Desired,
) -> Result<Vec<Collision>, AwsError> {
    // Every named table the creates would make, with its stack and manifest.
    let mut wanted: Vec<(String, String, String)> = Vec::new();
    let by_name: std::collections::BTreeMap<&str, &crate::plan::DesiredStack> = desired
        .stacks
        .iter()
        .map(|s| (s.name.as_str(), s))
        .collect();
    for change in plan
        .changes
        .iter()
        .filter(|c| matches!(c.action, Action::Create | Action::Recreate))
    {
        let Some(stack) = by_name.get(change.stack.as_str()) else {
            continue;
        };
        let template: serde_json::Value = serde_json::from_str(&stack.template).unwrap_or_default();
        let manifest = stack.manifest();
        for (_, r) in template
            .get("Resources")
            .and_then(serde_json::Value::as_object)
            .into_iter()
            .flatten()
        {
            if r.get("Type").and_then(serde_json::Value::as_str) == Some("AWS::DynamoDB::Table")
                && let Some(name) = r
                    .pointer("/Properties/TableName")
                    .and_then(serde_json::Value::as_str)
            {
                wanted.push((name.to_owned(), stack.name.clone(), manifest.clone()));
            }
        }
    }
    let names: Vec<String> = wanted.iter().map(|(t, _, _)| t.clone()).collect();
    let existing: std::collections::BTreeSet<String> =
        aws.existing_tables(&names).await?.into_iter().collect();
    let found = wanted
        .into_iter()
        .filter(|(table, _, _)| existing.contains(table))
        .map(|(table, stack, manifest)| Collision {
            stack,
            manifest,
            table,
        })
        .collect();
    Ok(found)
}
