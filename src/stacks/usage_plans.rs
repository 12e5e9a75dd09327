//! The usage-plans stack (`<base>-usage-plans`: one API Gateway usage plan per tier, bound to the stages of the routers its tenants use) and `usage-plans.json`.

use std::collections::BTreeMap;

use super::{
    Build, LIST_PARAM_ITEMS, Member, OutputRef, Param, Router, RouterKind, StackKind, StackSet,
    StackSpec,
};
use crate::model::{Isolation, QuotaPeriod, State};
use crate::naming::{self, logical_id, router_stack, usage_plans_stack};

/// Adds the usage-plans stack to a full set.
pub(super) fn build(b: &Build<'_>, routers: &[Router<'_, '_>], set: &mut StackSet) {
    let p = b.p;
    let usage = usage_plans_stack(p);
    let mut tiers_ctx = Vec::new();
    // Every router some tier uses, in router order, and its place in the lists.
    let mut places: BTreeMap<&str, usize> = BTreeMap::new();
    let mut refs: Vec<OutputRef> = Vec::new();
    for (name, tier) in &b.repo.tiers {
        let mut apis = Vec::new();
        for r in routers {
            let used = match (r.kind, r.member) {
                (RouterKind::Shard, _) => tier.value.isolation != Isolation::Pool,
                (RouterKind::Pool, _) => &r.key == name,
                (_, Some(m)) => &m.tenant.tier == name && b.wanted(&m.tenant.id),
                (RouterKind::Dedicated, None) => false,
            };
            if used {
                let place = *places.entry(r.key.as_str()).or_insert_with(|| {
                    refs.push(OutputRef {
                        stack: router_stack(p, &r.key),
                        output: "ApiId".to_owned(),
                    });
                    refs.len() - 1
                });
                apis.push(place);
            }
        }
        let u = &tier.value.usage_plan;
        tiers_ctx.push(serde_json::json!({
            "name": name,
            "logical": logical_id(name),
            "plan_name": format!("{}-{name}", b.base),
            "rate_limit": u.rate_limit,
            "burst_limit": u.burst_limit,
            "quota_limit": u.quota.limit,
            "quota_period": match u.quota.period {
                QuotaPeriod::Day => "DAY",
                QuotaPeriod::Week => "WEEK",
                QuotaPeriod::Month => "MONTH",
            },
            "apis": apis.iter().map(|&i| serde_json::json!({
                "param": list_param(i / LIST_PARAM_ITEMS),
                "index": i % LIST_PARAM_ITEMS,
            })).collect::<Vec<_>>(),
        }));
    }
    if !b.full() {
        return;
    }
    let router_stacks: Vec<String> = routers
        .iter()
        .filter(|r| r.member.is_none_or(|m| b.wanted(&m.tenant.id)))
        .map(|r| router_stack(p, &r.key))
        .collect();
    let mut usage_params = BTreeMap::new();
    let mut api_params = Vec::new();
    for (n, chunk) in refs.chunks(LIST_PARAM_ITEMS).enumerate() {
        let param = list_param(n);
        usage_params.insert(
            param.clone(),
            Param::Outputs {
                outputs: chunk.to_vec(),
            },
        );
        api_params.push(param);
    }
    set.stacks.push(StackSpec {
        name: usage,
        kind: StackKind::UsagePlans,
        origin: b.pfile.to_owned(),
        pointer: "/api".to_owned(),
        parameters: usage_params,
        tags: b.tags(None, None, StackKind::UsagePlans),
        depends_on: router_stacks,
        context: minijinja::context! {
            platform => b.platform.clone(),
            tiers => minijinja::Value::from_serialize(&tiers_ctx),
            api_params => api_params,
        },
        tenant: None,
        nginx: None,
    });
}

/// The `n`th (from 0) `CommaDelimitedList` parameter of router REST API ids.
fn list_param(n: usize) -> String {
    format!("RouterApiIds{}", n + 1)
}

/// `usage-plans.json`: per tier its usage plan (a producer output), limits, and each
/// tenant with the stack that holds its API key (`key_stacks` for pool tenants).
pub(super) fn document(
    b: &Build<'_>,
    members: &[Member<'_>],
    key_stacks: &BTreeMap<&str, String>,
) -> serde_json::Value {
    let usage = usage_plans_stack(b.p);
    let mut doc = serde_json::Map::new();
    for (name, tier) in &b.repo.tiers {
        let u = &tier.value.usage_plan;
        let tenants: Vec<serde_json::Value> = members
            .iter()
            .filter(|m| &m.tenant.tier == name)
            .map(|m| {
                let stack = if m.tier.isolation == Isolation::Pool {
                    key_stacks.get(m.tenant.id.as_str()).cloned().unwrap_or_default()
                } else {
                    naming::tenant_stack(b.p, &m.tenant.id)
                };
                serde_json::json!({ "id": m.tenant.id, "key_stack": stack, "enabled": m.tenant.state == State::Active })
            })
            .collect();
        doc.insert(
            name.clone(),
            serde_json::json!({
                "usage_plan": { "stack": usage, "output": format!("{}UsagePlanId", logical_id(name)) },
                "name": format!("{}-{name}", b.base),
                "throttle": { "rate_limit": u.rate_limit, "burst_limit": u.burst_limit },
                "quota": u.quota,
                "tenants": tenants,
            }),
        );
    }
    serde_json::Value::Object(doc)
}
