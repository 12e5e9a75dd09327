//! EC2 capacity rules: each tier's instance type is one whose ENI limit tenantops knows, and each EC2 cluster can place the tasks it must hold within its `max_instances`.

use crate::capacity::{self, INSTANCE_TYPES};
use crate::diag::Diagnostic;
use crate::model::{Compute, Isolation};
use crate::repo::Repo;

/// Runs the capacity rules (on a complete repository: a cluster's demand counts every
/// tenant of its tier).
pub(super) fn capacity(repo: &Repo, out: &mut Vec<Diagnostic>) {
    let mut known = std::collections::BTreeSet::new();
    for (name, tier) in &repo.tiers {
        let t = &tier.value;
        let uses_ec2 =
            t.compute == Compute::Ec2 || (t.isolation == Isolation::Silo && t.overrides.compute);
        if !uses_ec2 {
            continue;
        }
        if capacity::instance_type(&t.capacity.instance_type).is_some() {
            known.insert(name.as_str());
            continue;
        }
        let names: Vec<&str> = INSTANCE_TYPES.iter().map(|i| i.name).collect();
        let hint = crate::suggest::hint(&t.capacity.instance_type, names.iter().copied());
        out.push(
            Diagnostic::error(
                "unknown-instance-type",
                &tier.file,
                tier.node.span_of("/capacity/instance_type"),
                format!(
                    "tenantops does not know how many tasks a `{}` holds (its ENI limit){hint}",
                    t.capacity.instance_type
                ),
            )
            .help(format!("the instance types it knows: {}", names.join(", "))),
        );
    }
    if !repo.complete {
        return;
    }
    for cluster in capacity::clusters(repo) {
        let Some(tier) = repo
            .tiers
            .get(&cluster.tier)
            .filter(|_| known.contains(cluster.tier.as_str()))
        else {
            continue;
        };
        let t = &tier.value;
        let Some(it) = capacity::instance_type(&t.capacity.instance_type) else {
            continue;
        };
        let needed = capacity::instances_needed(it, cluster.demand);
        if needed <= t.capacity.max_instances {
            continue;
        }
        let whose = cluster.tenant.as_ref().map_or_else(
            || format!("tier `{}`'s cluster", cluster.tier),
            |id| format!("tenant `{id}`'s cluster"),
        );
        let pointer = if tier.node.at_pointer("/capacity").is_some() {
            "/capacity"
        } else {
            "/compute"
        };
        out.push(
            Diagnostic::error(
                "capacity-exceeded",
                &tier.file,
                tier.node.key_span_of(pointer),
                format!(
                    "{whose} must hold {} tasks at a deployment's peak ({} CPU units, {} MiB), which takes {needed} `{}` instances (each holds {} awsvpc tasks, one per ENI), over `capacity.max_instances: {}`",
                    cluster.demand.tasks,
                    cluster.demand.cpu,
                    cluster.demand.memory_mib,
                    it.name,
                    it.enis.saturating_sub(1),
                    t.capacity.max_instances
                ),
            )
            .help("raise `capacity.max_instances`, choose an instance type with more ENIs (`capacity.instance_type`), or run the tier on fargate"),
        );
    }
}
