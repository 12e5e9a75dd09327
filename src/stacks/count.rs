//! The fleet's stack count, from the model and the lock without building any template context: what `validate` holds against the region's stack quota.

use std::collections::BTreeSet;

use super::workload::pooled_tables;
use crate::lockfile::dedicated_alb;
use crate::model::{Isolation, State};
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
    network + shards + pool_tiers + dedicated + 1 + tier_stacks + packs.len() + tenants
}
