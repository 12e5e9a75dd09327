//! Tier stacks (`<base>-tier-<tier>`): a pool tier's whole workload, a bridge tier's shared cluster, any tier's pooled tables and the task execution role its workloads share.

use std::collections::BTreeMap;

use super::workload::{capacity_ctx, compute, nginx_ctx, pooled_tables, workload_ctx};
use super::{Build, RouterConfig, StackKind, StackSet, StackSpec, out};
use crate::model::{Compute, Isolation};
use crate::naming::{logical_id, router_stack, tier_stack};

/// Adds the tier stacks (and a pool tier's router config) to a full set.
pub(super) fn build(b: &Build<'_>, set: &mut StackSet) {
    if !b.full() {
        return;
    }
    let p = b.p;
    let base = &b.base;
    for (name, tier_doc) in &b.repo.tiers {
        let tier = &tier_doc.value;
        let stack = tier_stack(p, name);
        let pooled = pooled_tables(p, tier, name, base);
        let pool = tier.isolation == Isolation::Pool;
        let owns_cluster = tier.isolation != Isolation::Silo;
        let mut parameters = BTreeMap::new();
        let mut depends_on = Vec::new();
        if pool || (owns_cluster && tier.compute == Compute::Ec2) {
            for n in ["VpcId", "SubnetIds"] {
                parameters.insert(n.to_owned(), b.net_param(n));
            }
            depends_on = b.net_deps();
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
            let wl = workload_ctx(p, base, name, tier, None, 1);
            nginx = Some(set.nginx.len());
            set.nginx.push(RouterConfig {
                owner: name.clone(),
                context: nginx_ctx(p, &wl),
            });
            Some(wl)
        } else {
            None
        };
        set.stacks.push(StackSpec {
            name: stack,
            kind: StackKind::Tier,
            origin: tier_doc.file.clone(),
            pointer: String::new(),
            parameters,
            tags: b.tags(Some(name), None, StackKind::Tier),
            depends_on,
            context: minijinja::context! {
                platform => b.platform.clone(),
                tier => minijinja::context! {
                    name => name,
                    logical => logical_id(name),
                    isolation => tier.isolation.as_str(),
                    compute => compute(tier.compute),
                    owns_cluster => owns_cluster,
                    cluster_name => format!("{base}-{name}"),
                    user_pool_name => format!("{base}-{name}"),
                },
                capacity => (tier.compute == Compute::Ec2 && owns_cluster).then(|| capacity_ctx(tier)),
                pooled_tables => minijinja::Value::from_serialize(&pooled),
                workload => minijinja::Value::from_serialize(&workload),
            },
            tenant: None,
            nginx,
        });
    }
}
