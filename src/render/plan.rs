//! The stack set: which CloudFormation stacks, nginx configs and routers a fleet needs, their stable names, parameters, tags and template contexts.
//!
//! Everything here is a pure function of the validated model and the lock. Stacks come
//! in apply order: network, routers, usage plans, tiers, pool packs, tenants.
//!
//! - **Routers** (`<base>-router-<key>`): one per lock shard (`key` = shard number),
//!   one per pool tier (`key` = tier name: a pool tier's `tenantPath: <tier>` rule
//!   never takes a tenant's slot on a shared shard), and one per tenant with a
//!   dedicated ALB (`key` = tenant id). Keys cannot collide: tier names are reserved as
//!   tenant ids, and ids start with a letter.
//! - **Tiers** (`<base>-tier-<tier>`): a pool tier's whole workload; a bridge tier's
//!   shared cluster; any tier's pooled tables.
//! - **Pool packs** (`<base>-pool-<tier>-<n>`): the API keys and identities of up to
//!   `PACK_SIZE` pool tenants, placed by the lock.
//! - **Tenants** (`<base>-tenant-<id>`): a bridge or silo tenant's own workload.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::lockfile::dedicated_alb;
use crate::model::{
    Compute, DEFAULT_CIDR, DataRetention, Isolation, Platform, State, Storage, Tenant, Tier,
};
use crate::naming::{self, network_stack, pack_stack, router_stack, tier_stack, usage_plans_stack};
use crate::repo::Repo;

/// What a stack is for; decides its template and apply order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StackKind {
    /// The delivery pipeline (`tenantops bootstrap`), outside the fleet.
    Pipeline,
    Network,
    Router,
    UsagePlans,
    Tier,
    Pack,
    Tenant,
}

impl StackKind {
    /// What `n` stacks of this kind are called in a summary.
    #[must_use]
    pub fn noun(self, n: usize) -> &'static str {
        let one = n == 1;
        match self {
            StackKind::Pipeline => "pipeline",
            StackKind::Network => "network",
            StackKind::Router if one => "router",
            StackKind::Router => "routers",
            StackKind::UsagePlans => "usage plans",
            StackKind::Tier if one => "tier",
            StackKind::Tier => "tiers",
            StackKind::Pack if one => "pool pack",
            StackKind::Pack => "pool packs",
            StackKind::Tenant if one => "tenant",
            StackKind::Tenant => "tenants",
        }
    }

    /// The name of the template that renders it, without its extension: a repository's
    /// `templates/<stem>.json.j2` or `<stem>.yaml.j2`, else the built-in `.yaml.j2`.
    #[must_use]
    pub fn template(self) -> &'static str {
        match self {
            StackKind::Pipeline => "pipeline",
            StackKind::Network => "network",
            StackKind::Router => "router",
            StackKind::UsagePlans => "usage-plans",
            StackKind::Tier => "tier",
            StackKind::Pack => "pack",
            StackKind::Tenant => "tenant",
        }
    }
}

/// A stack parameter's value: literal, or the output of a producer stack that apply
/// reads when it deploys (as Sceptre's `stack_output`; no `Fn::ImportValue` exports,
/// which would freeze the producer).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Param {
    /// `{"value": "..."}`
    Value { value: String },
    /// `{"stack": "...", "output": "..."}`
    Output { stack: String, output: String },
}

/// One stack to render.
#[derive(Debug, Serialize)]
pub struct StackSpec {
    pub name: String,
    pub kind: StackKind,
    /// The manifest a problem with this stack is reported at.
    #[serde(skip)]
    pub origin: String,
    /// The JSON pointer in `origin` a problem is reported at.
    #[serde(skip)]
    pub pointer: String,
    pub parameters: BTreeMap<String, Param>,
    pub tags: BTreeMap<String, String>,
    /// Stacks whose outputs this one reads.
    pub depends_on: Vec<String>,
    #[serde(skip)]
    pub context: minijinja::Value,
    /// The tenant this stack belongs to alone, if any (the isolation checks hold it
    /// to mentioning no other tenant).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// The router config (index into [`Plan::nginx`]) this stack's rproxy carries; the
    /// template sees it rendered, as `nginx_conf`.
    #[serde(skip)]
    pub nginx: Option<usize>,
}

/// A rendered nginx config to write: `nginx/<owner>.conf`.
#[derive(Debug)]
pub struct RouterConfig {
    pub owner: String,
    pub context: minijinja::Value,
}

/// The whole desired state before templates run.
#[derive(Debug, Default)]
pub struct Plan {
    pub stacks: Vec<StackSpec>,
    pub nginx: Vec<RouterConfig>,
    /// `routing.json`: tenant → router → API endpoint.
    pub routing: serde_json::Value,
    /// `usage-plans.json`: tier → usage plan, limits, tenants and where their keys live.
    pub usage_plans: serde_json::Value,
    /// Offboarding tenants: rendered into no stack, so apply removes theirs.
    pub offboarding: Vec<String>,
}

/// The platform as templates see it (`platform` in every context).
#[derive(Serialize)]
struct PlatformCtx<'a> {
    stage: &'a str,
    region: &'a str,
    prefix: &'a str,
    base: String,
    header: &'a str,
    api: ApiCtx<'a>,
    services: Vec<ServiceCtx<'a>>,
    router: &'a crate::model::Router,
}

#[derive(Serialize)]
struct ApiCtx<'a> {
    name: &'a str,
    authorizer: &'a str,
    resources: Vec<ApiResourceCtx>,
    /// Changes whenever the resources or methods change, so the deployment's logical
    /// id changes and API Gateway deploys the new stage.
    deployment: String,
}

#[derive(Serialize)]
struct ApiResourceCtx {
    logical: String,
    parent: Option<String>,
    path_part: String,
    path: String,
    service: String,
    /// The path parameter this resource adds (`{id}` → `id`).
    param: Option<String>,
    /// Every path parameter up to here.
    params: Vec<String>,
    methods: Vec<&'static str>,
}

#[derive(Serialize)]
struct ServiceCtx<'a> {
    name: &'a str,
    logical: String,
    image: &'a str,
    port: u16,
    cpu: u32,
    memory: u32,
    health_path: &'a str,
    table: Option<&'a crate::model::Table>,
}

/// A workload (a pool tier's shared services or a bridge/silo tenant's own).
#[derive(Serialize)]
struct WorkloadCtx<'a> {
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
    role_name: String,
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
struct TenantCtx<'a> {
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
struct TableCtx<'a> {
    service: &'a str,
    logical: String,
    name: String,
    partition_key: &'a str,
    sort_key: Option<&'a str>,
}

#[derive(Serialize)]
struct RouterCtx<'a> {
    key: &'a str,
    logical: String,
    kind: &'static str,
    api_name: String,
}

/// The EC2 capacity of a cluster tenantops owns on `ec2` compute: the template's
/// default instance type and the Auto Scaling group's bounds.
const EC2_CAPACITY: CapacityCtx = CapacityCtx {
    instance_type: "m5.large",
    min: 1,
    max: 10,
};

#[derive(Clone, Copy, Serialize)]
struct CapacityCtx {
    instance_type: &'static str,
    min: u32,
    max: u32,
}

/// A CloudFormation logical id part from a label (`acme-co` → `AcmeXco`): the first
/// letter upper-cased and each hyphen written `X`. Injective on labels, which are
/// lowercase, so two tenants never share a logical id.
#[must_use]
pub fn logical_id(label: &str) -> String {
    let mut out = String::with_capacity(label.len());
    for (i, c) in label.chars().enumerate() {
        match c {
            '-' => out.push('X'),
            c if i == 0 => out.push(c.to_ascii_uppercase()),
            c if c.is_ascii_alphanumeric() => out.push(c),
            _ => {}
        }
    }
    out
}

fn out(stack: &str, output: &str) -> Param {
    Param::Output {
        stack: stack.to_owned(),
        output: output.to_owned(),
    }
}

fn value(v: impl Into<String>) -> Param {
    Param::Value { value: v.into() }
}

fn retention(r: DataRetention) -> &'static str {
    match r {
        DataRetention::Retain => "retain",
        DataRetention::Snapshot => "snapshot",
        DataRetention::Delete => "delete",
    }
}

fn compute(c: Compute) -> &'static str {
    match c {
        Compute::Fargate => "fargate",
        Compute::Ec2 => "ec2",
    }
}

/// A tenant as the plan sees it.
struct Member<'a> {
    tenant: &'a Tenant,
    tier: &'a Tier,
    file: &'a str,
}

/// How many stacks the full plan of `repo` has, counted from the model and the lock
/// without building any template context: what `validate` holds against the
/// region's stack quota. A test keeps it equal to `plan(repo, None).stacks.len()`.
#[must_use]
pub fn stack_count(repo: &Repo) -> usize {
    let Some(platform) = &repo.platform else {
        return 0;
    };
    let p = &platform.value;
    let lock = repo.lock.as_ref().map(|l| &l.value);
    let network = usize::from(p.network.vpc_id.is_none());
    let shards = lock.map_or(0, |l| l.shards.len());
    let mut pool_tiers = 0;
    let mut tier_stacks = 0;
    for (name, tier) in &repo.tiers {
        let t = &tier.value;
        if t.isolation == Isolation::Pool {
            pool_tiers += 1;
        }
        if t.isolation != Isolation::Silo || !pooled_tables(p, t, name, "").is_empty() {
            tier_stacks += 1;
        }
    }
    let mut dedicated = 0;
    let mut tenants = 0;
    let mut packs = std::collections::BTreeSet::new();
    for doc in &repo.tenants {
        let Some(tier) = repo.tiers.get(&doc.value.tier) else {
            continue;
        };
        if doc.value.state == State::Offboarding {
            continue;
        }
        if tier.value.isolation == Isolation::Pool {
            if let Some(alloc) = lock.and_then(|l| l.packs.get(&doc.value.id)) {
                packs.insert((alloc.tier.as_str(), alloc.pack));
            }
        } else {
            tenants += 1;
            if dedicated_alb(&tier.value, &doc.value) {
                dedicated += 1;
            }
        }
    }
    network + shards + pool_tiers + dedicated + 1 + tier_stacks + packs.len() + tenants
}

/// Builds the plan. `only`, when given, limits it to what those tenants own: their
/// tenant stacks, dedicated routers, pool packs and nginx configs. Shared stacks
/// (network, shard and pool routers, usage plans, tiers) come only from a full plan:
/// they depend on the whole fleet.
///
/// The repository must be valid: every tenant's tier exists and the lock covers
/// every tenant (validation guarantees both).
#[must_use]
#[allow(clippy::too_many_lines)] // one pass over the stack kinds, in apply order
pub fn plan(repo: &Repo, only: Option<&[String]>) -> Plan {
    let mut plan = Plan::default();
    let Some(platform_doc) = &repo.platform else {
        return plan;
    };
    let p = &platform_doc.value;
    let pfile = platform_doc.file.as_str();
    let base = naming::base(p);
    let platform = minijinja::Value::from_serialize(platform_ctx(p));
    let lock = repo.lock.as_ref().map(|l| &l.value);
    let wanted = |id: &str| only.is_none_or(|ids| ids.iter().any(|o| o == id));
    let full = only.is_none();

    let mut members: Vec<Member<'_>> = Vec::new();
    for doc in &repo.tenants {
        let Some(tier) = repo.tiers.get(&doc.value.tier) else {
            continue;
        };
        if doc.value.state == State::Offboarding {
            plan.offboarding.push(doc.value.id.clone());
            continue;
        }
        members.push(Member {
            tenant: &doc.value,
            tier: &tier.value,
            file: &doc.file,
        });
    }

    let tags = |tier: Option<&str>, tenant: Option<&str>, kind: StackKind| {
        let mut t = BTreeMap::new();
        t.insert("tenantops:managed".to_owned(), "true".to_owned());
        t.insert("tenantops:stage".to_owned(), p.stage.clone());
        t.insert(
            "tenantops:kind".to_owned(),
            serde_json::to_value(kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
        );
        if let Some(tier) = tier {
            t.insert("tenantops:tier".to_owned(), tier.to_owned());
        }
        if let Some(tenant) = tenant {
            t.insert("tenantops:tenant".to_owned(), tenant.to_owned());
        }
        t
    };

    // Network: a VPC of our own, or none (an imported VPC's ids are literal parameters).
    let network = network_stack(p);
    let imported = p.network.vpc_id.clone();
    let net_param = |name: &str| -> Param {
        match (&imported, name) {
            (Some(vpc), "VpcId") => value(vpc.clone()),
            (Some(_), "VpcCidr") => value(p.network.cidr.as_deref().unwrap_or(DEFAULT_CIDR)),
            (Some(_), "SubnetIds") => value(
                p.network
                    .subnet_ids
                    .iter()
                    .map(|s| s.0.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            _ => out(&network, name),
        }
    };
    let net_deps = || -> Vec<String> {
        if imported.is_some() {
            Vec::new()
        } else {
            vec![network.clone()]
        }
    };
    if imported.is_none() && full {
        plan.stacks.push(StackSpec {
            name: network.clone(),
            kind: StackKind::Network,
            origin: pfile.to_owned(),
            pointer: "/network".to_owned(),
            parameters: BTreeMap::from([(
                "VpcCidr".to_owned(),
                value(p.network.cidr.as_deref().unwrap_or(DEFAULT_CIDR)),
            )]),
            tags: tags(None, None, StackKind::Network),
            depends_on: Vec::new(),
            context: minijinja::context! {
                platform => platform.clone(),
                subnets => crate::model::subnet_cidrs(p.network.cidr.as_deref().unwrap_or(DEFAULT_CIDR)),
            },
            tenant: None,
            nginx: None,
        });
    }

    // Routers: shards of the lock, pool tiers, dedicated tenants.
    let mut routers: Vec<(String, &'static str, Option<&Member<'_>>)> = Vec::new();
    for shard in lock.map(|l| l.shards.as_slice()).unwrap_or_default() {
        routers.push((shard.id.to_string(), "shard", None));
    }
    for (name, tier) in &repo.tiers {
        if tier.value.isolation == Isolation::Pool {
            routers.push((name.clone(), "pool", None));
        }
    }
    for m in &members {
        if dedicated_alb(m.tier, m.tenant) {
            routers.push((m.tenant.id.clone(), "dedicated", Some(m)));
        }
    }
    for (key, kind, member) in &routers {
        // Shared routers come with a full plan; a dedicated one with its tenant.
        let keep = member.map_or(full, |m| wanted(&m.tenant.id));
        if !keep {
            continue;
        }
        let name = router_stack(p, key);
        let pool_tier = repo.tiers.get(key).filter(|_| *kind == "pool");
        let (origin, pointer, tier, tenant) = match (member, pool_tier) {
            (Some(m), _) => (
                m.file.to_owned(),
                "/overrides/dedicated_alb".to_owned(),
                Some(m.tenant.tier.as_str()),
                Some(m.tenant.id.as_str()),
            ),
            (None, Some(doc)) => (doc.file.clone(), String::new(), Some(key.as_str()), None),
            (None, None) => (pfile.to_owned(), "/routing".to_owned(), None, None),
        };
        let parameters = ["VpcId", "SubnetIds", "VpcCidr"]
            .into_iter()
            .map(|n| (n.to_owned(), net_param(n)))
            .collect();
        plan.stacks.push(StackSpec {
            name,
            kind: StackKind::Router,
            origin,
            pointer,
            parameters,
            tags: tags(tier, tenant, StackKind::Router),
            depends_on: net_deps(),
            context: minijinja::context! {
                platform => platform.clone(),
                router => RouterCtx {
                    key,
                    logical: logical_id(key),
                    kind,
                    api_name: format!("{}-{key}", p.api.name),
                },
            },
            tenant: tenant.map(str::to_owned),
            nginx: None,
        });
    }

    // Usage plans: one per tier, bound to the stages of the routers its tenants use.
    let usage = usage_plans_stack(p);
    let mut tiers_ctx = Vec::new();
    let mut usage_params = BTreeMap::new();
    for (name, tier) in &repo.tiers {
        let mut apis = Vec::new();
        for (key, kind, member) in &routers {
            let used = match (kind, member) {
                (&"shard", _) => tier.value.isolation != Isolation::Pool,
                (&"pool", _) => key == name,
                (_, Some(m)) => &m.tenant.tier == name && wanted(&m.tenant.id),
                _ => false,
            };
            if used {
                let param = format!("Api{}Id", logical_id(key));
                usage_params.insert(param.clone(), out(&router_stack(p, key), "ApiId"));
                apis.push(param);
            }
        }
        let u = &tier.value.usage_plan;
        tiers_ctx.push(serde_json::json!({
            "name": name,
            "logical": logical_id(name),
            "plan_name": format!("{base}-{name}"),
            "rate_limit": u.rate_limit,
            "burst_limit": u.burst_limit,
            "quota_limit": u.quota.limit,
            "quota_period": match u.quota.period {
                crate::model::QuotaPeriod::Day => "DAY",
                crate::model::QuotaPeriod::Week => "WEEK",
                crate::model::QuotaPeriod::Month => "MONTH",
            },
            "apis": apis,
        }));
    }
    let router_stacks: Vec<String> = routers
        .iter()
        .filter(|(_, _, m)| m.is_none_or(|m| wanted(&m.tenant.id)))
        .map(|(key, _, _)| router_stack(p, key))
        .collect();
    let api_params: Vec<String> = usage_params.keys().cloned().collect();
    if full {
        plan.stacks.push(StackSpec {
            name: usage.clone(),
            kind: StackKind::UsagePlans,
            origin: pfile.to_owned(),
            pointer: "/api".to_owned(),
            parameters: usage_params,
            tags: tags(None, None, StackKind::UsagePlans),
            depends_on: router_stacks,
            context: minijinja::context! {
                platform => platform.clone(),
                tiers => minijinja::Value::from_serialize(&tiers_ctx),
                api_params => api_params,
            },
            tenant: None,
            nginx: None,
        });
    }

    // Tiers.
    for (name, tier_doc) in repo.tiers.iter().filter(|_| full) {
        let tier = &tier_doc.value;
        let stack = tier_stack(p, name);
        let pooled = pooled_tables(p, tier, name, &base);
        let pool = tier.isolation == Isolation::Pool;
        let owns_cluster = tier.isolation != Isolation::Silo;
        if pooled.is_empty() && !owns_cluster {
            continue; // a silo tier with only silo storage shares nothing
        }
        let mut parameters = BTreeMap::new();
        let mut depends_on = Vec::new();
        if pool || (owns_cluster && tier.compute == Compute::Ec2) {
            for n in ["VpcId", "SubnetIds"] {
                parameters.insert(n.to_owned(), net_param(n));
            }
            depends_on = net_deps();
        }
        let mut nginx = None;
        let workload = if pool {
            let router = router_stack(p, name);
            parameters.insert("ListenerArn".to_owned(), out(&router, "ListenerArn"));
            parameters.insert(
                "RouterSecurityGroupId".to_owned(),
                out(&router, "AlbSecurityGroupId"),
            );
            depends_on.push(router);
            let wl = workload_ctx(p, &base, name, tier, None, 1);
            nginx = Some(plan.nginx.len());
            plan.nginx.push(RouterConfig {
                owner: name.clone(),
                context: nginx_ctx(p, &wl),
            });
            Some(wl)
        } else {
            None
        };
        plan.stacks.push(StackSpec {
            name: stack,
            kind: StackKind::Tier,
            origin: tier_doc.file.clone(),
            pointer: String::new(),
            parameters,
            tags: tags(Some(name), None, StackKind::Tier),
            depends_on,
            context: minijinja::context! {
                platform => platform.clone(),
                tier => minijinja::context! {
                    name => name,
                    logical => logical_id(name),
                    isolation => tier.isolation.as_str(),
                    compute => compute(tier.compute),
                    owns_cluster => owns_cluster,
                    cluster_name => format!("{base}-{name}"),
                    user_pool_name => format!("{base}-{name}"),
                },
                capacity => (tier.compute == Compute::Ec2 && owns_cluster).then_some(EC2_CAPACITY),
                pooled_tables => minijinja::Value::from_serialize(&pooled),
                workload => minijinja::Value::from_serialize(&workload),
            },
            tenant: None,
            nginx,
        });
    }

    // Pool packs.
    let mut packs: BTreeMap<(&str, u32), Vec<&Member<'_>>> = BTreeMap::new();
    for m in &members {
        if m.tier.isolation != Isolation::Pool {
            continue;
        }
        if let Some(alloc) = lock.and_then(|l| l.packs.get(&m.tenant.id)) {
            packs
                .entry((m.tenant.tier.as_str(), alloc.pack))
                .or_default()
                .push(m);
        }
    }
    let mut key_stack: BTreeMap<&str, String> = BTreeMap::new();
    for ((tier, pack), list) in &packs {
        let stack = pack_stack(p, tier, *pack);
        for m in list {
            key_stack.insert(&m.tenant.id, stack.clone());
        }
        if !list.iter().any(|m| wanted(&m.tenant.id)) {
            continue;
        }
        let tenants: Vec<TenantCtx<'_>> = list.iter().map(|m| tenant_ctx(&base, m)).collect();
        let tier_s = tier_stack(p, tier);
        plan.stacks.push(StackSpec {
            name: stack,
            kind: StackKind::Pack,
            origin: repo
                .lock
                .as_ref()
                .map_or_else(String::new, |l| l.file.clone()),
            pointer: "/packs".to_owned(),
            parameters: BTreeMap::from([
                (
                    "UsagePlanId".to_owned(),
                    out(&usage, &format!("{}UsagePlanId", logical_id(tier))),
                ),
                ("UserPoolId".to_owned(), out(&tier_s, "UserPoolId")),
            ]),
            tags: tags(Some(tier), None, StackKind::Pack),
            depends_on: vec![usage.clone(), tier_s],
            context: minijinja::context! {
                platform => platform.clone(),
                pack => minijinja::context! { tier => tier, number => pack },
                tenants => minijinja::Value::from_serialize(&tenants),
            },
            tenant: None,
            nginx: None,
        });
    }

    // Tenants of bridge and silo tiers: each independent of the others, so their
    // contexts are built on every core.
    let per_tenant = crate::repo::parallel_map(&members, |m| {
        let t = m.tenant;
        let (router_key, rule_priority, shard) = if m.tier.isolation == Isolation::Pool {
            (t.tier.clone(), 1, None)
        } else if dedicated_alb(m.tier, t) {
            (t.id.clone(), 1, None)
        } else {
            let alloc = lock.and_then(|l| l.tenants.get(&t.id))?;
            (alloc.shard.to_string(), alloc.priority, Some(alloc.shard))
        };
        let router = router_stack(p, &router_key);
        let stack = if m.tier.isolation == Isolation::Pool {
            key_stack.get(t.id.as_str()).cloned().unwrap_or_default()
        } else {
            naming::tenant_stack(p, &t.id)
        };
        let route = serde_json::json!({
            "tier": t.tier,
            "isolation": m.tier.isolation.as_str(),
            "state": match t.state { State::Suspended => "suspended", _ => "active" },
            "router": router,
            "shard": shard,
            "priority": (m.tier.isolation != Isolation::Pool).then_some(rule_priority),
            "header": { "name": p.routing.header, "value": if m.tier.isolation == Isolation::Pool { &t.tier } else { &t.id } },
            "endpoint": { "stack": router, "output": "ApiEndpoint" },
            "api_key": { "stack": stack, "output": format!("ApiKey{}", if m.tier.isolation == Isolation::Pool { logical_id(&t.id) } else { String::new() }) },
        });
        if m.tier.isolation == Isolation::Pool || !wanted(&t.id) {
            return Some((route, None));
        }
        let wl = workload_ctx(p, &base, &t.id, m.tier, Some(m), rule_priority);
        let config = RouterConfig {
            owner: t.id.clone(),
            context: nginx_ctx(p, &wl),
        };
        let mut parameters = BTreeMap::new();
        for n in ["VpcId", "SubnetIds"] {
            parameters.insert(n.to_owned(), net_param(n));
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
        let mut depends_on = net_deps();
        depends_on.push(router.clone());
        depends_on.push(usage.clone());
        let tier_s = tier_stack(p, &t.tier);
        let pooled = pooled_tables(p, m.tier, &t.tier, &base);
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
            parameters.insert(
                format!("{}TableArn", table.logical),
                out(&tier_s, &format!("{}TableArn", table.logical)),
            );
            parameters.insert(
                format!("{}TableName", table.logical),
                out(&tier_s, &format!("{}TableName", table.logical)),
            );
        }
        if m.tier.isolation == Isolation::Bridge || !pooled.is_empty() {
            depends_on.push(tier_s);
        }
        let silo: Vec<TableCtx<'_>> = silo_tables(p, m.tier, &t.id, &base);
        let retain = retention(t.overrides.data_retention.unwrap_or(m.tier.data_retention));
        let spec = StackSpec {
            name: naming::tenant_stack(p, &t.id),
            kind: StackKind::Tenant,
            origin: m.file.to_owned(),
            pointer: "/id".to_owned(),
            parameters,
            tags: tags(Some(&t.tier), Some(&t.id), StackKind::Tenant),
            depends_on,
            context: minijinja::context! {
                platform => platform.clone(),
                workload => minijinja::Value::from_serialize(&wl),
                silo_tables => minijinja::Value::from_serialize(&silo),
                retention => retain,
                capacity => (m.tier.isolation == Isolation::Silo && m.tier.compute == Compute::Ec2).then_some(EC2_CAPACITY),
            },
            tenant: Some(t.id.clone()),
            nginx: None,
        };
        Some((route, Some((config, spec))))
    });
    let mut routing = serde_json::Map::new();
    for (m, result) in members.iter().zip(per_tenant) {
        let Some((route, owned)) = result else {
            continue;
        };
        routing.insert(m.tenant.id.clone(), route);
        if let Some((config, mut spec)) = owned {
            spec.nginx = Some(plan.nginx.len());
            plan.nginx.push(config);
            plan.stacks.push(spec);
        }
    }
    plan.routing = serde_json::Value::Object(routing);

    // usage-plans.json
    let mut usage_doc = serde_json::Map::new();
    for (name, tier) in &repo.tiers {
        let u = &tier.value.usage_plan;
        let tenants: Vec<serde_json::Value> = members
            .iter()
            .filter(|m| &m.tenant.tier == name)
            .map(|m| {
                let stack = if m.tier.isolation == Isolation::Pool {
                    key_stack.get(m.tenant.id.as_str()).cloned().unwrap_or_default()
                } else {
                    naming::tenant_stack(p, &m.tenant.id)
                };
                serde_json::json!({ "id": m.tenant.id, "key_stack": stack, "enabled": m.tenant.state == State::Active })
            })
            .collect();
        usage_doc.insert(
            name.clone(),
            serde_json::json!({
                "usage_plan": { "stack": usage, "output": format!("{}UsagePlanId", logical_id(name)) },
                "name": format!("{base}-{name}"),
                "throttle": { "rate_limit": u.rate_limit, "burst_limit": u.burst_limit },
                "quota": u.quota,
                "tenants": tenants,
            }),
        );
    }
    plan.usage_plans = serde_json::Value::Object(usage_doc);
    plan
}

/// The delivery pipeline's stack, when `tenantops.yaml` has a `pipeline` section.
/// It carries no `tenantops:managed` tag: apply never plans it, so a fleet apply can
/// neither change nor delete the pipeline that runs it.
#[must_use]
pub fn pipeline_spec(p: &Platform, file: &str) -> Option<StackSpec> {
    let pipeline = p.pipeline.as_ref()?;
    let name = naming::pipeline_stack(p);
    let tags = BTreeMap::from([
        ("tenantops:stage".to_owned(), p.stage.clone()),
        ("tenantops:kind".to_owned(), "pipeline".to_owned()),
    ]);
    let onboarding = match pipeline.onboarding {
        crate::model::Onboarding::Branch => "branch",
        crate::model::Onboarding::Review => "review",
    };
    let context = minijinja::context! {
        platform => platform_ctx(p),
        stack => name.clone(),
        pipeline => minijinja::context! {
            connection_arn => pipeline.connection_arn.clone(),
            install => pipeline.install.clone(),
            repository => pipeline.repository.clone(),
            branch => pipeline.branch.clone(),
            buildspec => pipeline.buildspec.clone(),
            compute_type => pipeline.compute_type.clone(),
            image => pipeline.image.clone(),
            event_bus => pipeline.event_bus.clone(),
            onboarding => onboarding,
        },
        onboard_buildspec => super::pipeline::ONBOARD_BUILDSPEC,
        input_template => super::pipeline::input_template(),
        detail_types => crate::onboard::event::DETAIL_TYPES,
    };
    Some(StackSpec {
        name,
        kind: StackKind::Pipeline,
        origin: file.to_owned(),
        pointer: "/pipeline".to_owned(),
        parameters: BTreeMap::new(),
        tags,
        depends_on: Vec::new(),
        context,
        tenant: None,
        nginx: None,
    })
}

fn platform_ctx(p: &Platform) -> PlatformCtx<'_> {
    PlatformCtx {
        stage: &p.stage,
        region: &p.region,
        prefix: &p.naming.prefix,
        base: naming::base(p),
        header: &p.routing.header,
        api: api_ctx(p),
        services: p
            .services
            .iter()
            .map(|(name, s)| ServiceCtx {
                name,
                logical: logical_id(name),
                image: &s.image,
                port: s.port,
                cpu: s.cpu,
                memory: s.memory,
                health_path: &s.health_path,
                table: s.table.as_ref(),
            })
            .collect(),
        router: &p.router,
    }
}

/// The API's resource tree: every path prefix becomes a resource, parents first.
fn api_ctx(p: &Platform) -> ApiCtx<'_> {
    let mut by_path: BTreeMap<String, ApiResourceCtx> = BTreeMap::new();
    for r in &p.api.resources {
        let mut path = String::new();
        let mut logical = String::new();
        let mut parent: Option<String> = None;
        let mut params = Vec::new();
        let service = r
            .path
            .trim_start_matches('/')
            .split('/')
            .next()
            .unwrap_or_default()
            .to_owned();
        for part in r.path.trim_start_matches('/').split('/') {
            path.push('/');
            path.push_str(part);
            let param = part
                .strip_prefix('{')
                .and_then(|s| s.strip_suffix('}'))
                .map(str::to_owned);
            logical.push_str(&logical_id(param.as_deref().unwrap_or(part)));
            if let Some(name) = &param {
                params.push(name.clone());
            }
            let entry = by_path
                .entry(path.clone())
                .or_insert_with(|| ApiResourceCtx {
                    logical: logical.clone(),
                    parent: parent.clone(),
                    path_part: part.to_owned(),
                    path: path.clone(),
                    service: service.clone(),
                    param: param.clone(),
                    params: params.clone(),
                    methods: Vec::new(),
                });
            if path == r.path {
                for m in &r.methods {
                    if !entry.methods.contains(&m.as_str()) {
                        entry.methods.push(m.as_str());
                    }
                }
            }
            parent = Some(logical.clone());
        }
    }
    let resources: Vec<ApiResourceCtx> = by_path.into_values().collect();
    let mut fingerprint = String::new();
    for r in &resources {
        fingerprint.push_str(&r.path);
        fingerprint.push(' ');
        fingerprint.push_str(&r.methods.join(","));
        fingerprint.push('\n');
    }
    fingerprint.push_str(&p.api.authorizer);
    fingerprint.push_str(&p.routing.header);
    ApiCtx {
        name: &p.api.name,
        authorizer: &p.api.authorizer,
        resources,
        deployment: format!("{:016x}", fnv1a(fingerprint.as_bytes())),
    }
}

/// FNV-1a, 64-bit: a stable fingerprint (not a security boundary).
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn pooled_tables<'a>(
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

fn silo_tables<'a>(p: &'a Platform, tier: &Tier, id: &str, base: &str) -> Vec<TableCtx<'a>> {
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

fn tenant_ctx<'a>(base: &str, m: &Member<'a>) -> TenantCtx<'a> {
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

fn workload_ctx<'a>(
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
                role_name: format!("{base}-{owner}-{name}"),
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
        compute: compute(tier.compute),
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

fn nginx_ctx(p: &Platform, wl: &WorkloadCtx<'_>) -> minijinja::Value {
    minijinja::context! {
        owner => wl.owner,
        namespace => &wl.namespace,
        router => &p.router,
        services => minijinja::Value::from_serialize(
            wl.services.iter().map(|s| minijinja::context! {
                name => s.name, dns => &s.dns, port => s.port,
            }).collect::<Vec<_>>()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logical_ids_are_injective_on_labels() {
        assert_eq!(logical_id("acme"), "Acme");
        assert_eq!(logical_id("acme-co"), "AcmeXco");
        assert_ne!(logical_id("a-1"), logical_id("a1"));
        assert_ne!(logical_id("ab-c"), logical_id("a-bc"));
        assert_eq!(logical_id("7"), "7");
    }
}
