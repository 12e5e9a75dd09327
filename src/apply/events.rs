//! Provisioning results for the control plane: after an apply, one EventBridge entry per tenant the run touched, in the SaaS Builder Toolkit's event shape (`sbt_aws_provisionSuccess` / `sbt_aws_provisionFailure`, and the deprovision pair for removed tenants).
//!
//! The shape is SBT 0.9.1's own (`src/core-app-plane/script-job.ts`): `source:
//! sbt.application.plane`, a `detail` with the job identifier `tenantRegistrationId`
//! and `jobOutput`. SBT's rule (`tenant-registration.service.ts`) sends
//! `$.detail.jobOutput` as the body of `PATCH /tenant-registrations/{tenantRegistrationId}`,
//! whose handler stores `jobOutput.tenantRegistrationData` on the registration and
//! `PUT`s `jobOutput.tenantData` on the tenant. A provisioned tenant's `tenantData`
//! carries `tenantConfig`, the JSON string `{userPoolId, appClientId, apiGatewayUrl}`
//! the reference architecture's provisioning job exports, with `tenantName` and
//! `email`; its `tenantRegistrationData` is `{registrationStatus: Created}`
//! (`Deleted` on deprovisioning). A failure's `jobOutput` is SBT's failure status
//! (`{tenantStatus: "Failed to provision tenant."}`). tenantops' own fields
//! (`tenantopsId`, `stacks`, `routing`, ...) sit beside them.
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
use crate::model::State;
use crate::onboard::{CONTROL_PLANE_LABEL, REGISTRATION_LABEL};
use crate::plan::Desired;
use crate::stacks::StackKind;

/// `DetailType`s of the results.
pub const PROVISION_SUCCESS: &str = "sbt_aws_provisionSuccess";
pub const PROVISION_FAILURE: &str = "sbt_aws_provisionFailure";
pub const DEPROVISION_SUCCESS: &str = "sbt_aws_deprovisionSuccess";
pub const DEPROVISION_FAILURE: &str = "sbt_aws_deprovisionFailure";
pub const ACTIVATE_SUCCESS: &str = "sbt_aws_activateSuccess";
pub const ACTIVATE_FAILURE: &str = "sbt_aws_activateFailure";
pub const DEACTIVATE_SUCCESS: &str = "sbt_aws_deactivateSuccess";
pub const DEACTIVATE_FAILURE: &str = "sbt_aws_deactivateFailure";

/// The stacks events read outputs from, by owner: each bridge or silo tenant's own
/// stack, and each tier's stack (a pool tenant's user pool is its tier's). Built once
/// per run, not searched for per tenant.
struct Owners<'d> {
    tenant: BTreeMap<&'d str, &'d str>,
    tier: BTreeMap<&'d str, &'d str>,
}

impl<'d> Owners<'d> {
    fn of(desired: &'d Desired) -> Owners<'d> {
        let mut owners = Owners {
            tenant: BTreeMap::new(),
            tier: BTreeMap::new(),
        };
        for s in &desired.stacks {
            match (s.kind, &s.tenant, &s.tier) {
                (StackKind::Tenant, Some(t), _) => {
                    owners.tenant.insert(t.as_str(), s.name.as_str());
                }
                (StackKind::Tier, _, Some(t)) => {
                    owners.tier.insert(t.as_str(), s.name.as_str());
                }
                _ => {}
            }
        }
        owners
    }
}

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
                let offboarding = t.state == State::Offboarding;
                if present == offboarding {
                    by_tenant.entry(t.id.as_str()).or_default().push(r);
                }
            }
        }
    }
    // A tenant whose stack changed to carry out a suspension or activation is answered
    // for that request alone: it was provisioned before.
    let owners = Owners::of(desired);
    let (answers, changed) =
        state_changes(report, desired, &owners, before, after, commit, source, bus);
    let mut entries: Vec<Value> = by_tenant
        .iter()
        .filter(|(id, _)| !changed.contains(*id))
        .map(|(id, results)| entry(id, results, desired, &owners, after, commit, source, bus))
        .collect();
    entries.extend(answers);
    entries
}

/// The answers to activation and deactivation requests: a tenant whose stack that
/// holds its state (its own, or its pool pack) changed in this run, and whose state
/// output (`TenantState`, or the pack's `State<Tenant>`) was the other state before it.
/// A stack created in this run is provisioning, answered above.
#[allow(clippy::too_many_arguments)] // the run's results, states and where entries go
fn state_changes<'d>(
    report: &Report,
    desired: &'d Desired,
    owners: &Owners<'_>,
    before: &BTreeMap<String, BTreeMap<String, String>>,
    after: &BTreeMap<String, BTreeMap<String, String>>,
    commit: &str,
    source: &str,
    bus: Option<&str>,
) -> (Vec<Value>, std::collections::BTreeSet<&'d str>) {
    let mut out = Vec::new();
    let mut changed = std::collections::BTreeSet::new();
    let results: BTreeMap<&str, &StackResult> = report
        .results
        .iter()
        .map(|r| (r.stack.as_str(), r))
        .collect();
    for t in &desired.roster {
        let wanted = match t.state {
            State::Active => "active",
            State::Suspended => "suspended",
            State::Offboarding => continue,
        };
        let stack = if t.pooled {
            t.pack.as_deref()
        } else {
            owners.tenant.get(t.id.as_str()).copied()
        };
        let Some((stack, result)) = stack.and_then(|s| Some((s, *results.get(s)?))) else {
            continue;
        };
        let key = if t.pooled {
            format!("State{}", crate::naming::logical_id(&t.id))
        } else {
            "TenantState".to_owned()
        };
        let Some(was) = before.get(stack).and_then(|o| o.get(&key)) else {
            continue;
        };
        if was == wanted {
            continue;
        }
        let ok = !matches!(result.result, Outcome::Failed | Outcome::Skipped)
            && after
                .get(stack)
                .and_then(|o| o.get(&key))
                .map(String::as_str)
                == Some(wanted);
        let detail_type = match (t.state, ok) {
            (State::Active, true) => ACTIVATE_SUCCESS,
            (State::Active, false) => ACTIVATE_FAILURE,
            (_, true) => DEACTIVATE_SUCCESS,
            (_, false) => DEACTIVATE_FAILURE,
        };
        let mut detail = json!({
            "tenantId": t.labels.get(CONTROL_PLANE_LABEL).cloned().unwrap_or_else(|| t.id.clone()),
            "tenantopsId": t.id,
            "tenantName": t.name,
            "tier": t.tier,
            "stage": desired.stage,
            "commit": commit,
            "state": wanted,
            "stacks": [{"stack": result.stack, "action": result.action, "result": result.result}],
        });
        if let Some(r) = t.labels.get(REGISTRATION_LABEL) {
            detail["tenantRegistrationId"] = json!(r);
        }
        if !ok {
            detail["reason"] = json!(format!(
                "{}: {}",
                result.stack,
                result.reason.as_deref().unwrap_or(result.result.word())
            ));
        }
        out.push(put_entry(detail_type, detail, source, bus));
        changed.insert(t.id.as_str());
    }
    (out, changed)
}

/// One `PutEvents` entry.
fn put_entry(detail_type: &str, mut detail: Value, source: &str, bus: Option<&str>) -> Value {
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

#[allow(clippy::too_many_arguments)] // one entry: its tenant's results and where it goes
fn entry(
    id: &str,
    results: &[&StackResult],
    desired: &Desired,
    owners: &Owners<'_>,
    outputs: &BTreeMap<String, BTreeMap<String, String>>,
    commit: &str,
    source: &str,
    bus: Option<&str>,
) -> Value {
    let ok = results
        .iter()
        .all(|r| !matches!(r.result, Outcome::Failed | Outcome::Skipped));
    let tenant = desired.tenant(id);
    let removing = tenant.is_none_or(|t| t.state == State::Offboarding);
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
    if let Some(r) = tenant.and_then(|t| t.labels.get(REGISTRATION_LABEL)) {
        detail["tenantRegistrationId"] = json!(r);
    }
    detail["jobOutput"] = job_output(
        id,
        removing,
        ok,
        desired,
        owners,
        outputs,
        endpoint.as_deref(),
    );
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
    put_entry(detail_type, detail, source, bus)
}

/// What SBT stores of the result (`jobOutput`): on success the tenant's configuration
/// and the registration's status, as the reference architecture's provisioning and
/// deprovisioning jobs export them; on failure SBT's own failure status.
fn job_output(
    id: &str,
    removing: bool,
    ok: bool,
    desired: &Desired,
    owners: &Owners<'_>,
    outputs: &BTreeMap<String, BTreeMap<String, String>>,
    endpoint: Option<&str>,
) -> Value {
    match (removing, ok) {
        (false, false) => json!({"tenantStatus": "Failed to provision tenant."}),
        (true, false) => json!({"tenantStatus": "Failed to deprovision tenant."}),
        (true, true) => json!({"tenantRegistrationData": {"registrationStatus": "Deleted"}}),
        (false, true) => {
            let tenant = desired.tenant(id);
            // The user pool: a bridge or silo tenant's own stack's, a pool tenant's tier's.
            let identity = match tenant {
                Some(t) if t.pooled => owners.tier.get(t.tier.as_str()),
                _ => owners.tenant.get(id),
            };
            let output = |key: &str| {
                identity
                    .and_then(|s| outputs.get(*s))
                    .and_then(|o| o.get(key))
                    .cloned()
                    .unwrap_or_default()
            };
            let config = json!({
                "userPoolId": output("UserPoolId"),
                "appClientId": output("UserPoolClientId"),
                "apiGatewayUrl": endpoint.unwrap_or_default(),
            });
            json!({
                "tenantData": {
                    "tenantConfig": serde_json::to_string(&config).unwrap_or_default(),
                    "tenantName": tenant.map(|t| t.name.as_str()),
                    "email": tenant.map(|t| t.email.as_str()),
                },
                "tenantRegistrationData": {"registrationStatus": "Created"},
            })
        }
    }
}
