//! Comparisons: the desired state against a base revision's (offline, for pull requests) or against live stacks by their hash tags, and resource-level differences between two templates.

use std::collections::{BTreeMap, BTreeSet};

use super::{
    Action, Desired, DesiredStack, Plan, TAG_HASH, TAG_VERSION, VERSION, change, needs_recreate,
    order_deletions, outputs_of, removal, stable,
};
use crate::aws::{LiveStack, ResourceChange};

/// What a pull request changes: the work tree (or head) against the base revision,
/// offline. Parameters are compared as written. A stack whose inputs are the same on
/// both sides is unchanged without comparing templates (neither side need have
/// rendered it).
/// A changed `tenantops:` pin: both sides are rendered here with one binary, so the
/// stacks an upgrade changes through tenantops' built-in templates cannot show in this
/// plan; `plan --live` names each stack another version deployed.
fn pin_change(head: &Desired, base: &Desired) -> Option<String> {
    if head.pin == base.pin {
        return None;
    }
    let shown = |p: &Option<String>| {
        p.as_ref()
            .map_or_else(|| "none".to_owned(), |p| format!("`{p}`"))
    };
    Some(format!(
        "the tenantops pin changes from {} to {}: both revisions are rendered here by tenantops {}, so stacks that change only because another tenantops deployed them are not in this plan; `plan --live` with the new tenantops names each (\"deployed by tenantops X, this is Y\")",
        shown(&base.pin),
        shown(&head.pin),
        super::VERSION
    ))
}

#[must_use]
pub fn offline(head: &Desired, base: &Desired, base_rev: &str) -> Plan {
    let old: BTreeMap<&str, &DesiredStack> =
        base.stacks.iter().map(|s| (s.name.as_str(), s)).collect();
    let mut plan = Plan {
        against: format!("base {base_rev}"),
        notes: pin_change(head, base).into_iter().collect(),
        headroom: super::headroom(head, Some(base)),
        ..Plan::default()
    };
    let mut seen = BTreeSet::new();
    for stack in &head.stacks {
        seen.insert(stack.name.as_str());
        match old.get(stack.name.as_str()) {
            None => {
                let mut c = change(stack, Action::Create, None);
                c.resources = template_resources(&stack.template);
                plan.changes.push(c);
            }
            Some(before) if !stack.inputs.is_empty() && before.inputs == stack.inputs => {
                plan.unchanged += 1;
            }
            Some(before) if before.spec_hash() != stack.spec_hash() => {
                let mut c = change(stack, Action::Update, None);
                c.resources = template_diff(&before.template, &stack.template);
                c.destroys = destroys(&before.template, &stack.template);
                if c.resources.is_empty() {
                    c.reason = Some("parameters or tags change".to_owned());
                }
                plan.changes.push(c);
            }
            Some(_) => plan.unchanged += 1,
        }
    }
    for stack in &base.stacks {
        if !seen.contains(stack.name.as_str()) {
            plan.changes.push(removal(&stack.name, &stack.tags));
        }
    }
    order_deletions(&mut plan.changes);
    plan
}

/// The desired state against live stacks: by hash tag, without an API call. Change
/// sets for the updates are added by `apply::describe_updates`.
#[must_use]
pub fn live(desired: &Desired, live: &[LiveStack]) -> Plan {
    let by_name: BTreeMap<&str, &LiveStack> = live.iter().map(|s| (s.name.as_str(), s)).collect();
    let outputs = outputs_of(live);
    let mut plan = Plan {
        against: "live".to_owned(),
        headroom: super::headroom(desired, None),
        ..Plan::default()
    };
    let wanted: BTreeSet<&str> = desired.stacks.iter().map(|s| s.name.as_str()).collect();
    for stack in &desired.stacks {
        let current = by_name.get(stack.name.as_str());
        let resolved = stack.resolve(&outputs);
        let c = match (current, &resolved) {
            (None, _) => {
                let mut c = change(stack, Action::Create, None);
                c.resources = template_resources(&stack.template);
                c
            }
            (Some(l), _) if needs_recreate(&l.status) => change(
                stack,
                Action::Recreate,
                Some(format!("its last create failed ({})", l.status)),
            ),
            (Some(l), Ok(values)) => {
                let hash = stack.hash(values);
                if l.tags.get(TAG_HASH) == Some(&hash) && stable(&l.status) {
                    if stack.awaits_steady(&l.tags, &hash) {
                        plan.changes.push(change(
                            stack,
                            Action::Check,
                            Some(
                                "its services have not been seen steady since its last change"
                                    .to_owned(),
                            ),
                        ));
                    } else {
                        plan.unchanged += 1;
                    }
                    continue;
                }
                let reason = if stable(&l.status) {
                    tool_changed(l)
                } else {
                    Some(format!("stack is {}", l.status))
                };
                change(stack, Action::Update, reason)
            }
            (Some(_), Err(missing)) => change(
                stack,
                Action::Update,
                Some(format!("parameters known once `{missing}` is deployed")),
            ),
        };
        plan.changes.push(c);
    }
    for l in live {
        if !wanted.contains(l.name.as_str()) && desired.manages(&l.tags) {
            plan.changes.push(removal(&l.name, &l.tags));
        }
    }
    order_deletions(&mut plan.changes);
    plan
}

/// For a stack another tenantops version deployed: says so, as its built-in templates
/// may be what changed (an upgrade's fleet-wide update is named, not silent).
fn tool_changed(live: &LiveStack) -> Option<String> {
    live.tags
        .get(TAG_VERSION)
        .filter(|v| v.as_str() != VERSION)
        .map(|v| format!("deployed by tenantops {v}, this is {VERSION}: its built-in templates may be what changed"))
}

/// Every resource of a new stack, as adds.
fn template_resources(template: &str) -> Vec<ResourceChange> {
    resources(template)
        .into_iter()
        .map(|(logical_id, (resource_type, _))| ResourceChange {
            action: "Add".to_owned(),
            logical_id,
            resource_type,
            replacement: None,
            cause: None,
            custom_name: None,
        })
        .collect()
}

/// Resources of a template: logical id → (type, definition).
fn resources(template: &str) -> BTreeMap<String, (String, serde_json::Value)> {
    let value: serde_json::Value = serde_json::from_str(template).unwrap_or_default();
    value
        .get("Resources")
        .and_then(serde_json::Value::as_object)
        .map(|r| {
            r.iter()
                .map(|(id, def)| {
                    let ty = def
                        .get("Type")
                        .and_then(serde_json::Value::as_str)
                        .unwrap_or_default()
                        .to_owned();
                    (id.clone(), (ty, def.clone()))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Resource-level differences between two templates, offline: a changed type is a
/// replacement; a changed create-only property (the resource provider schema's, see
/// [`super::replacement`]) is one too, or may be, with the property named.
pub(super) fn template_diff(before: &str, after: &str) -> Vec<ResourceChange> {
    let old = resources(before);
    let new = resources(after);
    let change = |action: &str, id: &str, ty: &str| ResourceChange {
        action: action.to_owned(),
        logical_id: id.to_owned(),
        resource_type: ty.to_owned(),
        replacement: None,
        cause: None,
        custom_name: None,
    };
    let mut out = Vec::new();
    for (id, (ty, def)) in &new {
        match old.get(id) {
            None => out.push(change("Add", id, ty)),
            Some((old_ty, old_def)) if old_ty != ty => out.push(ResourceChange {
                replacement: Some("True".to_owned()),
                cause: Some("Type".to_owned()),
                custom_name: super::replacement::custom_name(old_ty, old_def),
                ..change("Modify", id, ty)
            }),
            Some((_, old_def)) if old_def != def => {
                let (replacement, cause) = match super::replacement::of(ty, old_def, def) {
                    Some(super::replacement::Replacement::Always(p)) => (Some("True"), Some(p)),
                    Some(super::replacement::Replacement::Maybe(p)) => {
                        (Some("Conditional"), Some(p))
                    }
                    None => (None, None),
                };
                out.push(ResourceChange {
                    replacement: replacement.map(str::to_owned),
                    custom_name: cause
                        .as_ref()
                        .and_then(|_| super::replacement::custom_name(ty, old_def)),
                    cause,
                    ..change("Modify", id, ty)
                });
            }
            Some(_) => {}
        }
    }
    for (id, (ty, _)) in &old {
        if !new.contains_key(id) {
            out.push(change("Remove", id, ty));
        }
    }
    out
}

/// Resource types that hold data or identity: a tenant's tables, user pool, users and
/// groups, API key and its usage-plan binding, and its Cloud Map namespace.
const DATA: &[&str] = &[
    "AWS::DynamoDB::Table",
    "AWS::Cognito::UserPool",
    "AWS::Cognito::UserPoolUser",
    "AWS::Cognito::UserPoolGroup",
    "AWS::ApiGateway::ApiKey",
    "AWS::ApiGateway::UsagePlanKey",
    "AWS::ServiceDiscovery::HttpNamespace",
    "AWS::S3::Bucket",
];

/// Policies that keep a resource CloudFormation removes from a stack or replaces.
const KEPT: &[&str] = &["Retain", "RetainExceptOnCreate", "Snapshot"];

/// What going from template `before` to `after` removes or replaces of the resources
/// that hold data or identity (a type in [`DATA`], or any resource with a
/// `DeletionPolicy` or `UpdateReplacePolicy`), with whether the old one is kept.
#[must_use]
pub fn destroys(before: &str, after: &str) -> Vec<super::Destroyed> {
    let old = resources(before);
    template_diff(before, after)
        .into_iter()
        .filter_map(|r| {
            let how = match (r.action.as_str(), r.replacement.as_deref()) {
                ("Remove", _) => "removed",
                ("Modify", Some("True")) => "replaced",
                ("Modify", Some("Conditional")) => "may be replaced",
                _ => return None,
            };
            let (_, def) = old.get(&r.logical_id)?;
            let key = if how == "removed" {
                "DeletionPolicy"
            } else {
                "UpdateReplacePolicy"
            };
            let policy = def.get(key).and_then(serde_json::Value::as_str);
            let holds_data = DATA.contains(&r.resource_type.as_str())
                || def.get("DeletionPolicy").is_some()
                || def.get("UpdateReplacePolicy").is_some();
            holds_data.then(|| super::Destroyed {
                logical_id: r.logical_id,
                resource_type: r.resource_type,
                how,
                kept: policy.is_some_and(|p| KEPT.contains(&p)),
                policy: policy.unwrap_or("Delete").to_owned(),
                tenant: def
                    .pointer("/Metadata/tenantops:tenant")
                    .and_then(serde_json::Value::as_str)
                    .map(str::to_owned),
            })
        })
        .collect()
}
