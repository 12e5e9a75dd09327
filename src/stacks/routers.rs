//! Router stacks (`<base>-router-<key>`): one per lock shard, one per pool tier, one per tenant with a dedicated ALB.

use serde::Serialize;

use super::edge::Link;
use super::{Build, Member, Router, RouterKind, StackKind, StackSet, StackSpec, out};
use crate::lockfile::dedicated_alb;
use crate::model::Isolation;
use crate::naming::{link_stack, logical_id, router_stack};

/// A router as its template sees it (`router`).
#[derive(Serialize)]
struct RouterCtx<'a> {
    key: &'a str,
    logical: String,
    kind: &'static str,
    api_name: String,
    /// A shard's place on its link group's NLB; none for a router with its own NLB.
    link: Option<Link>,
}

/// Every router of the fleet, in apply order: shards of the lock, pool tiers,
/// dedicated tenants.
pub(super) fn list<'a, 'm>(b: &Build<'a>, members: &'m [Member<'a>]) -> Vec<Router<'a, 'm>> {
    let mut routers = Vec::new();
    for shard in b.lock.map(|l| l.shards.as_slice()).unwrap_or_default() {
        routers.push(Router {
            key: shard.id.to_string(),
            kind: RouterKind::Shard,
            member: None,
        });
    }
    for (name, tier) in &b.repo.tiers {
        if tier.value.isolation == Isolation::Pool {
            routers.push(Router {
                key: name.clone(),
                kind: RouterKind::Pool,
                member: None,
            });
        }
    }
    for m in members {
        if dedicated_alb(m.tier, m.tenant) {
            routers.push(Router {
                key: m.tenant.id.clone(),
                kind: RouterKind::Dedicated,
                member: Some(m),
            });
        }
    }
    routers
}

/// Whether router `r` belongs in this stack set: shared routers come with a full set,
/// a dedicated one with its tenant.
pub(super) fn kept(b: &Build<'_>, r: &Router<'_, '_>) -> bool {
    r.member.map_or(b.full(), |m| b.wanted(&m.tenant.id))
}

/// Adds the router stacks.
pub(super) fn build(b: &Build<'_>, routers: &[Router<'_, '_>], set: &mut StackSet) {
    for r in routers.iter().filter(|r| kept(b, r)) {
        let key = r.key.as_str();
        let name = router_stack(b.p, key);
        let pool_tier = b.repo.tiers.get(key).filter(|_| r.kind == RouterKind::Pool);
        let (origin, pointer, tier, tenant) = match (r.member, pool_tier) {
            (Some(m), _) => (
                m.file.to_owned(),
                "/overrides/dedicated_alb".to_owned(),
                Some(m.tenant.tier.as_str()),
                Some(m.tenant.id.as_str()),
            ),
            (None, Some(doc)) => (doc.file.clone(), String::new(), Some(key), None),
            (None, None) => (b.pfile.to_owned(), "/routing".to_owned(), None, None),
        };
        // No `VpcCidr`: nothing in the VPC may reach a router but API Gateway's VPC link
        // (PrivateLink traffic is not held to the NLB's inbound rules, and it has none).
        let mut parameters: std::collections::BTreeMap<_, _> = ["VpcId", "SubnetIds"]
            .into_iter()
            .map(|n| (n.to_owned(), b.net_param(n)))
            .collect();
        let mut depends_on = b.net_deps();
        let link = (r.kind == RouterKind::Shard)
            .then(|| key.parse::<u32>().ok())
            .flatten()
            .map(|shard| Link::of(shard, b.p.routing.shards_per_nlb));
        if let Some(link) = link {
            let stack = link_stack(b.p, link.group);
            for output in ["NlbArn", "NlbDnsName", "NlbSecurityGroupId", "VpcLinkId"] {
                parameters.insert(output.to_owned(), out(&stack, output));
            }
            depends_on.push(stack);
        }
        set.stacks.push(StackSpec {
            name,
            kind: StackKind::Router,
            origin,
            pointer,
            parameters,
            tags: b.tags(tier, tenant, StackKind::Router),
            depends_on,
            context: minijinja::context! {
                platform => b.platform.clone(),
                router => RouterCtx {
                    key,
                    logical: logical_id(key),
                    kind: r.kind.as_str(),
                    api_name: format!("{}-{key}", b.p.api.name),
                    link,
                },
            },
            tenant: tenant.map(str::to_owned),
            nginx: None,
        });
    }
}
