//! Provisioning results for the control plane: after an apply, one EventBridge entry per tenant the run touched, in the SaaS Builder Toolkit's event shape (`sbt_aws_provisionSuccess` / `sbt_aws_provisionFailure`, and the deprovision pair for removed tenants).
//!
//! The file is a JSON array of `PutEvents` entries (`Source`, `DetailType`, `Detail` as
//! a JSON string, and `EventBusName` when one is given), so a CI step can put them on
//! the bus ten at a time with `aws events put-events --entries`. A tenant onboarded
//! from an event is reported under the control plane's id (its `control-plane-id`
//! label). A pooled tenant has no stack of its own: it is provisioned when its pool
//! pack gains its API key, and deprovisioned when the pack drops it.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::report::{Outcome, Report, StackResult};
use crate::onboard::CONTROL_PLANE_LABEL;
use crate::plan::Desired;
use crate::stacks::StackKind;

/// `DetailType`s of the results.
pub const PROVISION_SUCCESS: &str = "sbt_aws_provisionSuccess";
pub const PROVISION_FAILURE: &str = "sbt_aws_provisionFailure";
pub const DEPROVISION_SUCCESS: &str = "sbt_aws_deprovisionSuccess";
pub const DEPROVISION_FAILURE: &str = "sbt_aws_deprovisionFailure";

/// The events of `report`. `before` and `after` are the live stacks' outputs before
/// and after the run: a pool pack that changed reports the tenants it gained (whose
/// API key output it did not have) and the offboarding tenants it dropped, not every
/// member; the endpoints are read from `after`.
#[must_use]
pub fn provisioning(
    report: &Report,
    desired: &Desired,
    before: &BTreeMap<String, BTreeMap<String, String>>,
    after: &BTreeMap<String, BTreeMap<String, String>>,
    commit: &str,
    source: &str,
    bus: Option<&str>,
) -> Vec<Value> {
    // The pack's output of a tenant's API key: as `routing.json` names it, or (for an
    // offboarding tenant, which has no routing) as the built-in pack template does.
    let key_output = |id: &str| {
        desired
            .routing
            .get(id)
            .and_then(|r| r.get("api_key"))
            .and_then(|k| k.get("output"))
            .and_then(Value::as_str)
            .map_or_else(
                || format!("ApiKey{}", crate::naming::logical_id(id)),
                str::to_owned,
            )
    };
    let mut by_tenant: BTreeMap<&str, Vec<&StackResult>> = BTreeMap::new();
    for r in &report.results {
        if let Some(t) = &r.tenant {
            by_tenant.entry(t.as_str()).or_default().push(r);
        } else if r.kind == StackKind::Pack {
            let had = before.get(&r.stack);
            for t in desired
                .roster
                .iter()
                .filter(|t| t.pack.as_deref() == Some(r.stack.as_str()))
            {
                let present = had.is_some_and(|outputs| outputs.contains_key(&key_output(&t.id)));
                let offboarding = t.state == crate::model::State::Offboarding;
                if present == offboarding {
                    by_tenant.entry(t.id.as_str()).or_default().push(r);
                }
            }
        }
    }
    by_tenant
        .into_iter()
        .map(|(id, results)| entry(id, &results, desired, after, commit, source, bus))
        .collect()
}

fn entry(
    id: &str,
    results: &[&StackResult],
    desired: &Desired,
    outputs: &BTreeMap<String, BTreeMap<String, String>>,
    commit: &str,
    source: &str,
    bus: Option<&str>,
) -> Value {
    let ok = results
        .iter()
        .all(|r| !matches!(r.result, Outcome::Failed | Outcome::Skipped));
    let tenant = desired.tenant(id);
    let removing = tenant.is_none_or(|t| t.state == crate::model::State::Offboarding);
    let detail_type = match (removing, ok) {
        (false, true) => PROVISION_SUCCESS,
        (false, false) => PROVISION_FAILURE,
        (true, true) => DEPROVISION_SUCCESS,
        (true, false) => DEPROVISION_FAILURE,
    };
    let routing = desired.routing.get(id);
    let endpoint = routing.and_then(|r| r.get("endpoint")).and_then(|e| {
        let stack = e.get("stack")?.as_str()?;
        let output = e.get("output")?.as_str()?;
        outputs.get(stack)?.get(output).cloned()
    });
    let mut detail = json!({
        "tenantId": tenant
            .and_then(|t| t.labels.get(CONTROL_PLANE_LABEL).cloned())
            .unwrap_or_else(|| id.to_owned()),
        "tenantopsId": id,
        "stage": desired.stage,
        "commit": commit,
        "stacks": results.iter().map(|r| json!({
            "stack": r.stack,
            "action": r.action,
            "result": r.result,
        })).collect::<Vec<_>>(),
    });
    if let Some(t) = tenant {
        detail["tenantName"] = json!(t.name);
        detail["tier"] = json!(t.tier);
    }
    if !removing {
        detail["endpoint"] = json!(endpoint);
        if let Some(r) = routing {
            detail["routing"] = json!({
                "header": r.get("header"),
                "router": r.get("router"),
                "shard": r.get("shard"),
                "priority": r.get("priority"),
            });
        }
    }
    if !ok {
        let reasons: Vec<String> = results
            .iter()
            .filter(|r| matches!(r.result, Outcome::Failed | Outcome::Skipped))
            .map(|r| {
                format!(
                    "{}: {}",
                    r.stack,
                    r.reason.as_deref().unwrap_or(r.result.word())
                )
            })
            .collect();
        detail["reason"] = json!(reasons.join("; "));
    }
    crate::render::json::canonical(&mut detail);
    let mut entry = json!({
        "Source": source,
        "DetailType": detail_type,
        "Detail": serde_json::to_string(&detail).unwrap_or_default(),
    });
    if let Some(bus) = bus {
        entry["EventBusName"] = json!(bus);
    }
    entry
}
