//! The fleet's stack count and the AWS resources its stacks hold of each quota-limited kind, from the model and the lock without building any template context: what `validate` holds against the region's quotas.

use std::collections::BTreeSet;

use super::workload::{effective_compute, pooled_tables, silo_tables};
use crate::lockfile::dedicated_alb;
use crate::model::{Compute, Isolation, State};
use crate::repo::Repo;

/// How many stacks the full stack set of `repo` has, counted from the model and the
/// lock without building any template context. A test keeps it equal to
/// `build(repo, None).stacks.len()`.
#[must_use]
pub fn stack_count(repo: &Repo) -> usize {
    let Some(platform) = &repo.platform else {
        return 0;
    };
    let p = &platform.value;
    let lock = repo.lock.as_ref().map(|l| &l.value);
    let network = usize::from(p.network.vpc_id.is_none());
    let shards = lock.map_or(0, |l| l.shards.len());
    let links = link_groups(lock, p.routing.shards_per_nlb);
    let pool_tiers = repo
        .tiers
        .values()
        .filter(|t| t.value.isolation == Isolation::Pool)
        .count();
    // Every tier has its stack: at least the execution role its workloads share.
    let tier_stacks = repo.tiers.len();
    let mut dedicated = 0;
    let mut tenants = 0;
    let mut packs = BTreeSet::new();
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
    // The edge stack, the link stacks, the usage-plans stack.
    network + 1 + links + shards + pool_tiers + dedicated + 1 + tier_stacks + packs.len() + tenants
}

/// How many link stacks the lock's shards need (one per `per_nlb` of them).
fn link_groups(lock: Option<&crate::model::Lock>, per_nlb: u32) -> usize {
    lock.map_or(0, |l| {
        l.shards
            .iter()
            .map(|s| super::Link::of(s.id, per_nlb).group)
            .collect::<BTreeSet<_>>()
            .len()
    })
}

/// The AWS resources of each quota-limited kind the built-in templates render for a
/// fleet (what `crate::quotas` holds against the account's quotas).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Spend {
    /// Cloud Map namespaces.
    pub namespaces: usize,
    /// IAM roles.
    pub roles: usize,
    /// Cognito user pools.
    pub user_pools: usize,
    /// DynamoDB tables.
    pub tables: usize,
    /// Routers: each has an ALB and a REST API.
    pub routers: usize,
    /// NLBs, each with a VPC link: one per link group of router shards, one per
    /// router that is not a shard (a pool tier's, a dedicated ALB).
    pub nlbs: usize,
    /// Target groups.
    pub target_groups: usize,
    /// VPC security groups.
    pub security_groups: usize,
    /// ECS services in the fleet's largest cluster.
    pub services_per_cluster: usize,
    /// API Gateway usage plans.
    pub usage_plans: usize,
    /// API Gateway API keys.
    pub api_keys: usize,
}

impl Spend {
    /// One workload (a pool tier's shared one, or a bridge or silo tenant's own): a
    /// Service Connect namespace, the task role all its services share, the target
    /// group its router's listener rule forwards to. (Its execution role is its
    /// tier's.)
    fn workload(&mut self) {
        self.namespaces += 1;
        self.roles += 1;
        self.target_groups += 1;
        self.security_groups += 1;
    }

    /// One EC2 capacity (an own cluster on EC2): the instances' role and security
    /// group.
    fn capacity(&mut self) {
        self.roles += 1;
        self.security_groups += 1;
    }
}

/// What the stacks [`stack_count`] counts hold of each quota-limited kind, from the
/// model and the lock as the built-in templates render them. A test keeps each equal
/// to the rendered templates.
#[must_use]
pub fn spend(repo: &Repo) -> Spend {
    let Some(platform) = &repo.platform else {
        return Spend::default();
    };
    let p = &platform.value;
    let lock = repo.lock.as_ref().map(|l| &l.value);
    let mut spend = Spend {
        usage_plans: repo.tiers.len(),
        routers: lock.map_or(0, |l| l.shards.len()),
        nlbs: link_groups(lock, p.routing.shards_per_nlb),
        ..Spend::default()
    };
    for (name, tier) in &repo.tiers {
        let t = &tier.value;
        let pooled = pooled_tables(p, t, name, "").len();
        spend.tables += pooled;
        // The task execution role every workload of the tier runs with.
        spend.roles += 1;
        // A tier that owns its cluster (pool and bridge) on EC2 has its capacity, with
        // the instances' role.
        if t.isolation != Isolation::Silo && t.compute == Compute::Ec2 {
            spend.capacity();
        }
        if t.isolation == Isolation::Pool {
            // Its router, its user pool, its workload, and the role that scopes the
            // pooled tables to each tenant's rows.
            spend.routers += 1;
            spend.nlbs += 1;
            spend.user_pools += 1;
            spend.workload();
            if pooled > 0 {
                spend.roles += 1;
            }
        }
    }
    // Every workload runs the catalog's services and its rproxy; a bridge tier's
    // cluster runs those of every tenant of the tier.
    let per_workload = p.services.len() + 1;
    let mut bridged: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    let mut workloads = 0;
    for doc in &repo.tenants {
        let tenant = &doc.value;
        let Some(tier) = repo.tiers.get(&tenant.tier) else {
            continue;
        };
        let t = &tier.value;
        if tenant.state == State::Offboarding {
            continue;
        }
        if t.isolation == Isolation::Bridge {
            *bridged.entry(tenant.tier.as_str()).or_default() += per_workload;
        }
        workloads += 1;
        if t.isolation == Isolation::Pool {
            // A pool tenant's key lives in its pool pack, once it has a place in one.
            if lock.is_some_and(|l| l.packs.contains_key(&tenant.id)) {
                spend.api_keys += 1;
            }
            continue;
        }
        spend.workload();
        spend.user_pools += 1;
        spend.api_keys += 1;
        spend.tables += silo_tables(p, t, &tenant.id, "").len();
        if t.isolation == Isolation::Silo && effective_compute(t, Some(tenant)) == Compute::Ec2 {
            spend.capacity();
        }
        if dedicated_alb(t, tenant) {
            spend.routers += 1;
            spend.nlbs += 1;
        }
    }
    // Each router's NLB (its own, or its link group's) forwards to its ALB through a
    // target group of its own.
    let pool_tiers = repo
        .tiers
        .values()
        .filter(|t| t.value.isolation == Isolation::Pool)
        .count();
    spend.services_per_cluster =
        bridged
            .into_values()
            .max()
            .unwrap_or(0)
            .max(if workloads + pool_tiers > 0 {
                per_workload
            } else {
                0
            });
    spend.target_groups += spend.routers;
    // Each router's ALB and each NLB has a security group, and so has the fleet's own
    // VPC's interface endpoints.
    spend.security_groups += spend.routers + spend.nlbs + usize::from(p.network.vpc_id.is_none());
    spend
}
