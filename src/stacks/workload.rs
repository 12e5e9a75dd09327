//! Workload contexts: the services, tables, router and listener rule of a pool tier's shared workload or a bridge/silo tenant's own, and the nginx config that routes to them.

use serde::Serialize;

use super::Member;
use crate::model::{Compute, DataRetention, Isolation, Platform, State, Storage, Tenant, Tier};
use crate::naming::{self, logical_id};

/// A workload (a pool tier's shared services or a bridge/silo tenant's own).
#[derive(Serialize)]
pub(super) struct WorkloadCtx<'a> {
    /// Tier name (pool) or tenant id.
    owner: &'a str,
    isolation: &'static str,
    compute: &'static str,
    namespace: String,
    /// Whether the cluster is this stack's own (`Cluster`) or a parameter
    /// (`ClusterArn`, a bridge tier's shared cluster).
    owns_cluster: bool,
    cluster_name: String,
    desired_count: u32,
    services: Vec<WorkloadService<'a>>,
    /// The distinct service ports (one self-ingress rule each).
    ports: Vec<u16>,
    router: WorkloadRouter,
    /// The listener rule on the owner's router.
    rule: RuleCtx<'a>,
    log_group: String,
    /// The tenant whose workload this is, if it is one tenant's.
    tenant: Option<TenantCtx<'a>>,
}

#[derive(Serialize)]
struct WorkloadService<'a> {
    name: &'a str,
    logical: String,
    service_name: String,
    family: String,
    discovery_name: String,
    dns: String,
    image: &'a str,
    port: u16,
    cpu: u32,
    memory: u32,
    health_path: &'a str,
    table: Option<TableUse<'a>>,
}

/// How a service reaches its table.
#[derive(Serialize)]
struct TableUse<'a> {
    /// `silo` (this stack's own `<Service>Table`), `pooled` (a tier stack's, as
    /// parameters `<Service>TableName`/`<Service>TableArn`).
    storage: &'static str,
    name: String,
    partition_key: &'a str,
    sort_key: Option<&'a str>,
    /// The partition-key value this workload may touch in a pooled table: the tenant
    /// id (bridge tenants, a static `dynamodb:LeadingKeys` condition); `None` for a
    /// pool tier's shared services, which reach pooled data only through the
    /// tenant-access role scoped by the caller's `aws:PrincipalTag`.
    leading_key: Option<&'a str>,
}

#[derive(Serialize)]
struct WorkloadRouter {
    service_name: String,
    family: String,
    port: u16,
    cpu: u32,
    memory: u32,
    health_path: String,
    image: String,
}

#[derive(Serialize)]
struct RuleCtx<'a> {
    header: &'a str,
    value: &'a str,
    priority: u32,
}

#[derive(Serialize)]
pub(super) struct TenantCtx<'a> {
    id: &'a str,
    logical: String,
    name: &'a str,
    tier: &'a str,
    admin_email: &'a str,
    active: bool,
    api_key_name: String,
    user_pool_name: String,
}

#[derive(Serialize)]
pub(super) struct TableCtx<'a> {
    service: &'a str,
    pub(super) logical: String,
    name: String,
    partition_key: &'a str,
    sort_key: Option<&'a str>,
}

/// The EC2 capacity of a cluster tenantops owns on `ec2` compute: the template's
/// default instance type and the Auto Scaling group's bounds.
#[derive(Clone, Serialize)]
pub(super) struct CapacityCtx {
    instance_type: String,
    min: u32,
    max: u32,
}

/// The EC2 capacity of a cluster tenantops owns on `ec2` compute: the tier's instance
/// type and the Auto Scaling group's bounds (validate proved the tasks fit).
pub(super) fn capacity_ctx(tier: &Tier) -> CapacityCtx {
    CapacityCtx {
        instance_type: tier.capacity.instance_type.clone(),
        min: 1,
        max: tier.capacity.max_instances,
    }
}

pub(super) fn retention(r: DataRetention) -> &'static str {
    match r {
        DataRetention::Retain => "retain",
        DataRetention::Snapshot => "snapshot",
        DataRetention::Delete => "delete",
    }
}

/// Where a workload's tasks run: a silo tenant's own `compute` override, else the tier's.
pub(super) fn effective_compute(tier: &Tier, tenant: Option<&Tenant>) -> Compute {
    tenant
        .filter(|_| tier.isolation == Isolation::Silo)
        .and_then(|t| t.overrides.compute)
        .unwrap_or(tier.compute)
}

pub(super) fn compute(c: Compute) -> &'static str {
    match c {
        Compute::Fargate => "fargate",
        Compute::Ec2 => "ec2",
    }
}

pub(super) fn pooled_tables<'a>(
    p: &'a Platform,
    tier: &Tier,
    tier_name: &str,
    base: &str,
) -> Vec<TableCtx<'a>> {
    p.services
        .iter()
        .filter_map(|(name, s)| {
            let table = s.table.as_ref()?;
            let pooled = tier.isolation == Isolation::Pool
                || tier.storage.get(name) == Some(&Storage::Pooled);
            pooled.then(|| TableCtx {
                service: name,
                logical: logical_id(name),
                name: format!("{base}-{name}-{tier_name}"),
                partition_key: &table.partition_key,
                sort_key: table.sort_key.as_deref(),
            })
        })
        .collect()
}

pub(super) fn silo_tables<'a>(
    p: &'a Platform,
    tier: &Tier,
    id: &str,
    base: &str,
) -> Vec<TableCtx<'a>> {
    if tier.isolation == Isolation::Pool {
        return Vec::new();
    }
    p.services
        .iter()
        .filter_map(|(name, s)| {
            let table = s.table.as_ref()?;
            (tier.storage.get(name) == Some(&Storage::Silo)).then(|| TableCtx {
                service: name,
                logical: logical_id(name),
                name: format!("{base}-{name}-{id}"),
                partition_key: &table.partition_key,
                sort_key: table.sort_key.as_deref(),
            })
        })
        .collect()
}

pub(super) fn tenant_ctx<'a>(base: &str, m: &Member<'a>) -> TenantCtx<'a> {
    let t = m.tenant;
    TenantCtx {
        id: &t.id,
        logical: logical_id(&t.id),
        name: &t.name,
        tier: &t.tier,
        admin_email: &t.admin_email,
        active: t.state == State::Active,
        api_key_name: format!("{base}-{}", t.id),
        user_pool_name: format!("{base}-{}", t.id),
    }
}

pub(super) fn workload_ctx<'a>(
    p: &'a Platform,
    base: &str,
    owner: &'a str,
    tier: &'a Tier,
    member: Option<&Member<'a>>,
    priority: u32,
) -> WorkloadCtx<'a> {
    let namespace = naming::tenant_namespace(p, owner);
    let suspended = member.is_some_and(|m| m.tenant.state == State::Suspended);
    let desired_count = if suspended {
        0
    } else {
        member
            .and_then(|m| m.tenant.overrides.desired_count)
            .unwrap_or(tier.desired_count)
    };
    let services = p
        .services
        .iter()
        .map(|(name, s)| {
            let table = s.table.as_ref().map(|t| {
                let silo = tier.isolation != Isolation::Pool
                    && tier.storage.get(name) == Some(&Storage::Silo);
                TableUse {
                    storage: if silo { "silo" } else { "pooled" },
                    name: if silo {
                        format!("{base}-{name}-{owner}")
                    } else {
                        format!(
                            "{base}-{name}-{}",
                            member.map_or(owner, |m| m.tenant.tier.as_str())
                        )
                    },
                    partition_key: &t.partition_key,
                    sort_key: t.sort_key.as_deref(),
                    leading_key: member.map(|m| m.tenant.id.as_str()),
                }
            });
            WorkloadService {
                name,
                logical: logical_id(name),
                service_name: format!("{base}-{owner}-{name}"),
                family: format!("{base}-{owner}-{name}"),
                discovery_name: format!("{name}-api"),
                dns: format!("{name}-api.{namespace}.sc"),
                image: &s.image,
                port: s.port,
                cpu: s.cpu,
                memory: s.memory,
                health_path: &s.health_path,
                table,
            }
        })
        .collect();
    let mut ports: Vec<u16> = p.services.values().map(|s| s.port).collect();
    ports.sort_unstable();
    ports.dedup();
    WorkloadCtx {
        owner,
        ports,
        isolation: tier.isolation.as_str(),
        compute: compute(effective_compute(tier, member.map(|m| m.tenant))),
        owns_cluster: tier.isolation != Isolation::Bridge,
        cluster_name: format!("{base}-{owner}"),
        desired_count,
        services,
        router: WorkloadRouter {
            service_name: format!("{base}-{owner}-rproxy"),
            family: format!("{base}-{owner}-rproxy"),
            port: p.router.port,
            cpu: p.router.cpu,
            memory: p.router.memory,
            health_path: p.router.health_path.clone(),
            image: p.router.image.clone(),
        },
        rule: RuleCtx {
            header: &p.routing.header,
            value: owner,
            priority,
        },
        log_group: format!("/tenantops/{base}/{owner}"),
        namespace,
        tenant: member.map(|m| tenant_ctx(base, m)),
    }
}

pub(super) fn nginx_ctx(p: &Platform, wl: &WorkloadCtx<'_>) -> minijinja::Value {
    minijinja::context! {
        owner => wl.owner,
        namespace => &wl.namespace,
        router => &p.router,
        cors_origin => p.api.cors.as_ref().map(|c| c.allow_origin.as_str()),
        services => minijinja::Value::from_serialize(
            wl.services.iter().map(|s| minijinja::context! {
                name => s.name, dns => &s.dns, port => s.port, health_path => s.health_path,
            }).collect::<Vec<_>>()
        ),
    }
}
