//! The stack set: which CloudFormation stacks, nginx configs and routers a fleet needs, their stable names, parameters, tags and template contexts.
//!
//! Everything here is a pure function of the validated model and the lock. Stacks come
//! in apply order: network, edge and links, routers, usage plans, tiers, pool packs,
//! tenants; one file per stack kind builds its stacks.
//!
//! - **Edge** (`<base>-edge`): the authorizer's one invoke permission, for every REST
//!   API of the fleet. **Links** (`<base>-link-<n>`): the NLB and VPC link shared by
//!   `routing.shards_per_nlb` router shards, each on a listener port of its own.
//! - **Routers** (`<base>-router-<key>`): one per lock shard (`key` = shard number),
//!   one per pool tier (`key` = tier name: a pool tier's `tenantPath: <tier>` rule
//!   never takes a tenant's slot on a shared shard), and one per tenant with a
//!   dedicated ALB (`key` = tenant id). Keys cannot collide: tier names are reserved as
//!   tenant ids, and ids start with a letter.
//! - **Tiers** (`<base>-tier-<tier>`): a pool tier's whole workload; a bridge tier's
//!   shared cluster; any tier's pooled tables; the task execution role of every
//!   workload of the tier.
//! - **Pool packs** (`<base>-pool-<tier>-<n>`): the API keys and identities of up to
//!   `PACK_SIZE` pool tenants, placed by the lock.
//! - **Tenants** (`<base>-tenant-<id>`): a bridge or silo tenant's own workload.

mod context;
mod count;
mod edge;
mod network;
mod packs;
mod pipeline;
mod routers;
mod tenants;
mod tiers;
mod usage_plans;
mod workload;

use std::collections::BTreeMap;

use serde::Serialize;

pub use count::{Spend, spend, stack_count};
pub use edge::Link;
pub use pipeline::{LIFECYCLE_BUILDSPEC, RuleInput, pipeline_spec, rule_input};

use crate::model::{Lock, Platform, State, Tenant, Tier};
use crate::naming;
use crate::repo::Repo;

/// What a stack is for; decides its template and apply order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StackKind {
    /// The delivery pipeline (`tenantops bootstrap`), outside the fleet.
    Pipeline,
    Network,
    /// The authorizer's one invoke permission (`<base>-edge`).
    Edge,
    /// The NLB and VPC link a group of router shards shares (`<base>-link-<n>`).
    Link,
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
            StackKind::Edge => "edge",
            StackKind::Link if one => "link",
            StackKind::Link => "links",
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
            StackKind::Edge => "edge",
            StackKind::Link => "link",
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
    /// `{"outputs": [{"stack": "...", "output": "..."}, ...]}`: the outputs joined
    /// with commas, for a `CommaDelimitedList` parameter. A fleet-wide stack reads
    /// one value per router this way, so its parameter count grows by one per
    /// [`LIST_PARAM_ITEMS`] routers rather than one per router.
    Outputs { outputs: Vec<OutputRef> },
}

/// One producer output a [`Param::Outputs`] list reads.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OutputRef {
    pub stack: String,
    pub output: String,
}

/// Items per `CommaDelimitedList` parameter. CloudFormation caps a parameter value at
/// 4,096 bytes (<https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-limits.html>,
/// "Parameter value"); a REST API id is 10 characters, so 300 ids and their commas
/// take 3,299 bytes. 200 parameters of 300 are 60,000 routers.
pub const LIST_PARAM_ITEMS: usize = 300;

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
    /// The router config (index into [`StackSet::nginx`]) this stack's rproxy carries;
    /// the template sees it rendered, as `nginx_conf`.
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
pub struct StackSet {
    pub stacks: Vec<StackSpec>,
    pub nginx: Vec<RouterConfig>,
    /// `routing.json`: tenant → router → API endpoint.
    pub routing: serde_json::Value,
    /// `usage-plans.json`: tier → usage plan, limits, tenants and where their keys live.
    pub usage_plans: serde_json::Value,
    /// Offboarding tenants: rendered into no stack, so apply removes theirs.
    pub offboarding: Vec<String>,
}

/// A tenant as the stack set sees it.
struct Member<'a> {
    tenant: &'a Tenant,
    tier: &'a Tier,
    file: &'a str,
}

/// What a router serves.
#[derive(Clone, Copy, PartialEq, Eq)]
enum RouterKind {
    /// A lock shard, shared by routed tenants.
    Shard,
    /// A pool tier's own router.
    Pool,
    /// One tenant's dedicated ALB.
    Dedicated,
}

impl RouterKind {
    fn as_str(self) -> &'static str {
        match self {
            RouterKind::Shard => "shard",
            RouterKind::Pool => "pool",
            RouterKind::Dedicated => "dedicated",
        }
    }
}

/// A router of the fleet: its key (shard number, pool tier or tenant id), what it
/// serves and, for a dedicated one, its tenant.
struct Router<'a, 'm> {
    key: String,
    kind: RouterKind,
    member: Option<&'m Member<'a>>,
}

/// What every stack kind's builder reads: the platform, the lock, the members, and
/// which tenants this stack set is limited to.
struct Build<'a> {
    repo: &'a Repo,
    p: &'a Platform,
    /// `tenantops.yaml`'s file name, where platform stacks are reported.
    pfile: &'a str,
    /// `<prefix>-<stage>`.
    base: String,
    /// `platform` as every template context sees it.
    platform: minijinja::Value,
    lock: Option<&'a Lock>,
    only: Option<&'a [String]>,
    /// The network stack's name (whether or not it is this fleet's own).
    network: String,
}

impl Build<'_> {
    /// A full stack set: not limited to some tenants.
    fn full(&self) -> bool {
        self.only.is_none()
    }

    /// Whether tenant `id`'s own output belongs in this stack set.
    fn wanted(&self, id: &str) -> bool {
        self.only.is_none_or(|ids| ids.iter().any(|o| o == id))
    }

    /// The `tenantops:*` tags of a stack.
    fn tags(
        &self,
        tier: Option<&str>,
        tenant: Option<&str>,
        kind: StackKind,
    ) -> BTreeMap<String, String> {
        let mut t = BTreeMap::new();
        t.insert("tenantops:managed".to_owned(), "true".to_owned());
        t.insert("tenantops:stage".to_owned(), self.p.stage.clone());
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
    }

    /// A network parameter: the network stack's output, or an imported VPC's literal.
    fn net_param(&self, name: &str) -> Param {
        let n = &self.p.network;
        match (&n.vpc_id, name) {
            (Some(vpc), "VpcId") => value(vpc.clone()),
            (Some(_), "SubnetIds") => value(
                n.subnet_ids
                    .iter()
                    .map(|s| s.0.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            _ => out(&self.network, name),
        }
    }

    /// The stacks a network parameter depends on: the network stack, unless imported.
    fn net_deps(&self) -> Vec<String> {
        if self.p.network.vpc_id.is_some() {
            Vec::new()
        } else {
            vec![self.network.clone()]
        }
    }
}

/// Builds the stack set. `only`, when given, limits it to what those tenants own: their
/// tenant stacks, dedicated routers, pool packs and nginx configs. Shared stacks
/// (network, shard and pool routers, usage plans, tiers) come only from a full set:
/// they depend on the whole fleet.
///
/// The repository must be valid: every tenant's tier exists and the lock covers
/// every tenant (validation guarantees both).
#[must_use]
pub fn build(repo: &Repo, only: Option<&[String]>) -> StackSet {
    let mut set = StackSet::default();
    let Some(platform_doc) = &repo.platform else {
        return set;
    };
    let p = &platform_doc.value;
    let b = Build {
        repo,
        p,
        pfile: platform_doc.file.as_str(),
        base: naming::base(p),
        platform: minijinja::Value::from_serialize(context::platform_ctx(p)),
        lock: repo.lock.as_ref().map(|l| &l.value),
        only,
        network: naming::network_stack(p),
    };

    let mut members: Vec<Member<'_>> = Vec::new();
    for doc in &repo.tenants {
        let Some(tier) = repo.tiers.get(&doc.value.tier) else {
            continue;
        };
        if doc.value.state == State::Offboarding {
            set.offboarding.push(doc.value.id.clone());
            continue;
        }
        members.push(Member {
            tenant: &doc.value,
            tier: &tier.value,
            file: &doc.file,
        });
    }

    network::build(&b, &mut set);
    edge::build(&b, &mut set);
    let routers = routers::list(&b, &members);
    routers::build(&b, &routers, &mut set);
    usage_plans::build(&b, &routers, &mut set);
    tiers::build(&b, &mut set);
    let key_stacks = packs::build(&b, &members, &mut set);
    tenants::build(&b, &members, &key_stacks, &mut set);
    set.usage_plans = usage_plans::document(&b, &members, &key_stacks);
    set
}

/// A parameter reading `output` of producer `stack`.
fn out(stack: &str, output: &str) -> Param {
    Param::Output {
        stack: stack.to_owned(),
        output: output.to_owned(),
    }
}

/// A literal parameter.
fn value(v: impl Into<String>) -> Param {
    Param::Value { value: v.into() }
}
