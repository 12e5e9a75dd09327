//! What routers share in front of their ALBs: the edge stack (`<base>-edge`, the authorizer's one invoke permission for every REST API of the fleet) and the link stacks (`<base>-link-<n>`, the NLB and VPC link each group of `routing.shards_per_nlb` router shards shares).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::{Build, StackKind, StackSet, StackSpec};
use crate::naming::{edge_stack, link_stack};

/// The first port of a shared NLB's listeners: shard `n` listens on
/// `LINK_BASE_PORT + (n - 1) % routing.shards_per_nlb`.
///
/// Shards share an NLB, one listener each: "Listeners per Network Load Balancer" is
/// 50, not adjustable, and an ALB target counts as 50 targets in each zone against
/// "Targets per Availability Zone per Network Load Balancer" (500 by default), which
/// `routing.shards_per_nlb` (default 10, at most 50) follows (Quotas for your Network
/// Load Balancers, <https://docs.aws.amazon.com/elasticloadbalancing/latest/network/load-balancer-limits.html>).
/// A REST API may use an existing VPC link ("create a new `VpcLink`, or choose an
/// existing one": <https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-api-with-vpclink-console.html>),
/// so the shards of a group share its VPC link too: NLBs and VPC links grow by one per
/// group of shards instead of one per shard.
const LINK_BASE_PORT: u32 = 10_000;

/// Where a router shard is reached: its link group (the NLB and VPC link of a link
/// stack) and its listener port there. A pure function of the shard number, which the
/// lock never reuses for another set of tenants, and of `routing.shards_per_nlb`: a
/// shard moves only when that setting does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Link {
    /// The group, from 1.
    pub group: u32,
    /// The NLB listener port of the shard.
    pub port: u32,
}

impl Link {
    /// The link of shard `shard` (numbered from 1), `per_nlb` shards to an NLB.
    #[must_use]
    pub fn of(shard: u32, per_nlb: u32) -> Link {
        let i = shard.saturating_sub(1);
        let per = per_nlb.max(1);
        Link {
            group: i / per + 1,
            port: LINK_BASE_PORT + i % per,
        }
    }
}

/// The link groups the lock's shards need, in order.
pub(super) fn groups(b: &Build<'_>) -> BTreeSet<u32> {
    b.lock
        .map(|l| l.shards.as_slice())
        .unwrap_or_default()
        .iter()
        .map(|s| Link::of(s.id, b.p.routing.shards_per_nlb).group)
        .collect()
}

/// Adds the edge stack and the link stacks to a full set.
pub(super) fn build(b: &Build<'_>, set: &mut StackSet) {
    if !b.full() {
        return;
    }
    // No parameters: the authorizer is named in `tenantops.yaml`.
    set.stacks.push(StackSpec {
        name: edge_stack(b.p),
        kind: StackKind::Edge,
        origin: b.pfile.to_owned(),
        pointer: "/api/authorizer".to_owned(),
        parameters: BTreeMap::new(),
        tags: b.tags(None, None, StackKind::Edge),
        depends_on: Vec::new(),
        context: minijinja::context! { platform => b.platform.clone() },
        tenant: None,
        nginx: None,
    });
    for group in groups(b) {
        let parameters = ["VpcId", "SubnetIds"]
            .into_iter()
            .map(|n| (n.to_owned(), b.net_param(n)))
            .collect();
        set.stacks.push(StackSpec {
            name: link_stack(b.p, group),
            kind: StackKind::Link,
            origin: b.pfile.to_owned(),
            pointer: "/routing".to_owned(),
            parameters,
            tags: b.tags(None, None, StackKind::Link),
            depends_on: b.net_deps(),
            context: minijinja::context! {
                platform => b.platform.clone(),
                link => minijinja::context! {
                    group => group,
                    name => format!("{}-link-{group}", b.p.api.name),
                    first_shard => (group - 1) * b.p.routing.shards_per_nlb + 1,
                    last_shard => group * b.p.routing.shards_per_nlb,
                },
            },
            tenant: None,
            nginx: None,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_of_a_group_share_its_nlb_each_on_a_port_of_its_own() {
        assert_eq!(
            Link::of(1, 10),
            Link {
                group: 1,
                port: 10_000
            }
        );
        assert_eq!(
            Link::of(10, 10),
            Link {
                group: 1,
                port: 10_009
            }
        );
        assert_eq!(
            Link::of(11, 10),
            Link {
                group: 2,
                port: 10_000
            }
        );
        assert_eq!(
            Link::of(50, 50),
            Link {
                group: 1,
                port: 10_049
            }
        );
        assert_eq!(
            Link::of(1000, 50),
            Link {
                group: 20,
                port: 10_049
            }
        );
        let ports: BTreeSet<_> = (1..=50).map(|s| Link::of(s, 50).port).collect();
        assert_eq!(ports.len(), 50);
    }
}
