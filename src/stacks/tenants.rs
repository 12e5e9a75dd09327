//! Tenant stacks (`<base>-tenant-<id>`: a bridge or silo tenant's own workload, with its router config) and `routing.json`.

use std::collections::BTreeMap;

use super::workload::{
    TableCtx, capacity_ctx, effective_compute, nginx_ctx, pooled_tables, retention, silo_tables,
    workload_ctx,
};
use super::{Build, Member, Param, RouterConfig, StackKind, StackSet, StackSpec, out};
use crate::lockfile::dedicated_alb;
use crate::model::{Compute, Isolation, State};
use crate::naming::{self, logical_id, router_stack, tier_stack, usage_plans_stack};

/// Where a tenant's traffic enters: its router's key, its listener-rule priority, and
/// its lock shard when it is on a shared one.
struct Route {
    key: String,
    priority: u32,
    shard: Option<u32>,
}

/// Adds every wanted bridge and silo tenant's stack and router config, and sets
/// `routing.json` (every tenant, pooled or not). Tenants are independent of each other,
/// so their contexts are built on every core.
pub(super) fn build(
    b: &Build<'_>,
    members: &[Member<'_>],
    key_stacks: &BTreeMap<&str, String>,
    set: &mut StackSet,
) {
    let per_tenant = crate::repo::parallel_map(members, |m| {
        let route = route(b, m)?;
        let entry = routing_entry(b, m, &route, key_stacks);
        if m.tier.isolation == Isolation::Pool || !b.wanted(&m.tenant.id) {
            return Some((entry, None));
        }
        Some((entry, Some(tenant_stack(b, m, &route))))
    });
    let mut routing = serde_json::Map::new();
    for (m, result) in members.iter().zip(per_tenant) {
        let Some((entry, owned)) = result else {
            continue;
        };
        routing.insert(m.tenant.id.clone(), entry);
        if let Some((config, mut spec)) = owned {
            spec.nginx = Some(set.nginx.len());
            set.nginx.push(config);
            set.stacks.push(spec);
        }
    }
    set.routing = serde_json::Value::Object(routing);
}

/// The tenant's route; `None` for a routed tenant the lock does not allocate (which
/// validation refuses).
fn route(b: &Build<'_>, m: &Member<'_>) -> Option<Route> {
    let t = m.tenant;
    Some(if m.tier.isolation == Isolation::Pool {
        Route {
            key: t.tier.clone(),
            priority: 1,
            shard: None,
        }
    } else if dedicated_alb(m.tier, t) {
        Route {
            key: t.id.clone(),
            priority: 1,
            shard: None,
        }
    } else {
        let alloc = b.lock.and_then(|l| l.tenants.get(&t.id))?;
        Route {
            key: alloc.shard.to_string(),
            priority: alloc.priority,
            shard: Some(alloc.shard),
        }
    })
}

/// The tenant's entry in `routing.json`.
fn routing_entry(
    b: &Build<'_>,
    m: &Member<'_>,
    route: &Route,
    key_stacks: &BTreeMap<&str, String>,
) -> serde_json::Value {
    let t = m.tenant;
    let pool = m.tier.isolation == Isolation::Pool;
    let router = router_stack(b.p, &route.key);
    let stack = if pool {
        key_stacks.get(t.id.as_str()).cloned().unwrap_or_default()
    } else {
        naming::tenant_stack(b.p, &t.id)
    };
    serde_json::json!({
        "tier": t.tier,
        "isolation": m.tier.isolation.as_str(),
        "state": match t.state { State::Suspended => "suspended", _ => "active" },
        "router": router,
        "shard": route.shard,
        "priority": (!pool).then_some(route.priority),
        "header": { "name": b.p.routing.header, "value": if pool { &t.tier } else { &t.id } },
        "endpoint": { "stack": router, "output": "ApiEndpoint" },
        "api_key": { "stack": stack, "output": format!("ApiKey{}", if pool { logical_id(&t.id) } else { String::new() }) },
    })
}

/// A bridge or silo tenant's own stack and its router config.
fn tenant_stack(b: &Build<'_>, m: &Member<'_>, route: &Route) -> (RouterConfig, StackSpec) {
    let p = b.p;
    let t = m.tenant;
    let router = router_stack(p, &route.key);
    let usage = usage_plans_stack(p);
    let wl = workload_ctx(p, &b.base, &t.id, m.tier, Some(m), route.priority);
    let config = RouterConfig {
        owner: t.id.clone(),
        context: nginx_ctx(p, &wl),
    };
    let mut parameters: BTreeMap<String, Param> = BTreeMap::new();
    for n in ["VpcId", "SubnetIds"] {
        parameters.insert(n.to_owned(), b.net_param(n));
    }
    parameters.insert("ListenerArn".to_owned(), out(&router, "ListenerArn"));
    parameters.insert(
        "RouterSecurityGroupId".to_owned(),
        out(&router, "AlbSecurityGroupId"),
    );
    parameters.insert(
        "UsagePlanId".to_owned(),
        out(&usage, &format!("{}UsagePlanId", logical_id(&t.tier))),
    );
    let mut depends_on = b.net_deps();
    depends_on.push(router);
    depends_on.push(usage);
    let tier_s = tier_stack(p, &t.tier);
    let pooled = pooled_tables(p, m.tier, &t.tier, &b.base);
    if m.tier.isolation == Isolation::Bridge {
        parameters.insert("ClusterArn".to_owned(), out(&tier_s, "ClusterArn"));
        if m.tier.compute == Compute::Ec2 {
            parameters.insert(
                "CapacityProvider".to_owned(),
                out(&tier_s, "CapacityProvider"),
            );
        }
    }
    for table in &pooled {
        for output in ["TableArn", "TableName"] {
            let key = format!("{}{output}", table.logical);
            parameters.insert(key.clone(), out(&tier_s, &key));
        }
    }
    parameters.insert(
        "ExecutionRoleArn".to_owned(),
        out(&tier_s, "ExecutionRoleArn"),
    );
    depends_on.push(tier_s);
    let silo: Vec<TableCtx<'_>> = silo_tables(p, m.tier, &t.id, &b.base);
    let retain = retention(t.overrides.data_retention.unwrap_or(m.tier.data_retention));
    let spec = StackSpec {
        name: naming::tenant_stack(p, &t.id),
        kind: StackKind::Tenant,
        origin: m.file.to_owned(),
        pointer: "/id".to_owned(),
        parameters,
        tags: b.tags(Some(&t.tier), Some(&t.id), StackKind::Tenant),
        depends_on,
        context: minijinja::context! {
            platform => b.platform.clone(),
            workload => minijinja::Value::from_serialize(&wl),
            silo_tables => minijinja::Value::from_serialize(&silo),
            retention => retain,
            capacity => (m.tier.isolation == Isolation::Silo && effective_compute(m.tier, Some(m.tenant)) == Compute::Ec2).then(|| capacity_ctx(m.tier)),
        },
        tenant: Some(t.id.clone()),
        nginx: None,
    };
    (config, spec)
}
