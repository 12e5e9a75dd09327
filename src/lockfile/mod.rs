//! Router allocation: which tenants need a listener rule, how `tenantops lock` allocates shard and priority and places pool tenants in packs; the lock file's text is `text`.
//!
//! Allocations never move. New tenants are placed, in id order, on the lowest-numbered
//! shard with room; when every shard is full a new one opens. A released tenant frees
//! its place on the shard, but each shard's `next_priority` only grows, so a released
//! priority (whose listener rule may still be live) is never handed out again.

pub mod merge;
pub mod text;

use std::collections::{BTreeMap, BTreeSet};

use crate::model::{
    AlbMode, Allocation, Isolation, LOCK_VERSION, Lock, MAX_PRIORITY, PACK_SIZE, PackAllocation,
    ShardState, State, Tenant, Tier,
};
use crate::repo::Repo;
pub use text::{read_canonical, to_text, unreadable};

/// Whether `tenant` gets a dedicated ALB (tier default, or its own override). Only
/// silo tenants can; elsewhere the setting is refused by validation and ignored here.
#[must_use]
pub fn dedicated_alb(tier: &Tier, tenant: &Tenant) -> bool {
    tier.isolation == Isolation::Silo
        && tenant
            .overrides
            .dedicated_alb
            .unwrap_or(tier.routing.alb == AlbMode::Dedicated)
}

/// Whether `tenant` is reached through its own listener rule on a shared router shard:
/// bridge and silo tenants without a dedicated ALB. Pool tenants share their tier's rule.
#[must_use]
pub fn is_routed(tier: &Tier, tenant: &Tenant) -> bool {
    tier.isolation != Isolation::Pool && !dedicated_alb(tier, tenant)
}

/// Whether a routed tenant must hold an allocation: everyone but a tenant being
/// offboarded (which keeps the one it has, but never gets a new one).
#[must_use]
pub fn needs_allocation(tenant: &Tenant) -> bool {
    tenant.state != State::Offboarding
}

/// What [`allocate`] changed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Changes {
    pub allocated: Vec<(String, Allocation)>,
    pub released: Vec<(String, Allocation)>,
    pub opened_shards: Vec<u32>,
    pub packed: Vec<(String, PackAllocation)>,
    pub unpacked: Vec<(String, PackAllocation)>,
}

impl Changes {
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.allocated.is_empty()
            && self.released.is_empty()
            && self.opened_shards.is_empty()
            && self.packed.is_empty()
            && self.unpacked.is_empty()
    }

    /// One line per change, as `tenantops lock` (and `onboard`) report them.
    #[must_use]
    pub fn lines(&self) -> Vec<String> {
        self.allocated
            .iter()
            .map(|(id, a)| format!("allocate `{id}`: shard {} priority {}", a.shard, a.priority))
            .chain(self.released.iter().map(|(id, a)| {
                format!(
                    "release `{id}`: shard {} priority {} (the priority is not reused)",
                    a.shard, a.priority
                )
            }))
            .chain(
                self.opened_shards
                    .iter()
                    .map(|s| format!("open router shard {s}")),
            )
            .chain(
                self.packed
                    .iter()
                    .map(|(id, p)| format!("pack `{id}`: pool pack {} of `{}`", p.pack, p.tier)),
            )
            .chain(
                self.unpacked
                    .iter()
                    .map(|(id, p)| format!("unpack `{id}`: pool pack {} of `{}`", p.pack, p.tier)),
            )
            .collect()
    }
}

/// A tenant as allocation sees it.
pub struct Want<'a> {
    pub id: &'a str,
    pub routed: bool,
    /// The tenant's tier when that tier pools tenants (its key goes in a pool pack).
    pub pool_tier: Option<&'a str>,
    pub needs: bool,
}

/// The lock after allocating every routed tenant that lacks an allocation and
/// releasing allocations of tenants that are gone or no longer routed. Existing
/// allocations are never changed. `capacity` is tenants per shard.
#[must_use]
pub fn allocate(old: &Lock, wants: &[Want<'_>], capacity: u32) -> (Lock, Changes) {
    let mut lock = old.clone();
    lock.version = LOCK_VERSION;
    let mut changes = Changes::default();
    let keep: BTreeSet<&str> = wants.iter().filter(|w| w.routed).map(|w| w.id).collect();
    lock.tenants.retain(|id, alloc| {
        let kept = keep.contains(id.as_str());
        if !kept {
            changes.released.push((id.clone(), *alloc));
        }
        kept
    });
    let mut used: BTreeMap<u32, u32> = lock.shards.iter().map(|s| (s.id, 0)).collect();
    for alloc in lock.tenants.values() {
        *used.entry(alloc.shard).or_default() += 1;
    }
    let mut missing: Vec<&str> = wants
        .iter()
        .filter(|w| w.routed && w.needs && !lock.tenants.contains_key(w.id))
        .map(|w| w.id)
        .collect();
    missing.sort_unstable();
    for id in missing {
        let open = lock
            .shards
            .iter()
            .enumerate()
            .filter(|(_, s)| {
                used.get(&s.id).copied().unwrap_or(0) < capacity && s.next_priority <= MAX_PRIORITY
            })
            .min_by_key(|(_, s)| s.id)
            .map(|(i, _)| i);
        let index = open.unwrap_or_else(|| {
            let id = lock.shards.iter().map(|s| s.id).max().unwrap_or(0) + 1;
            changes.opened_shards.push(id);
            lock.shards.push(ShardState {
                id,
                next_priority: 1,
            });
            lock.shards.len() - 1
        });
        let shard = &mut lock.shards[index];
        let alloc = Allocation {
            shard: shard.id,
            priority: shard.next_priority,
        };
        shard.next_priority += 1;
        *used.entry(shard.id).or_default() += 1;
        lock.tenants.insert(id.to_owned(), alloc);
        changes.allocated.push((id.to_owned(), alloc));
    }
    lock.shards.sort_by_key(|s| s.id);
    pack(&mut lock, wants, &mut changes);
    (lock, changes)
}

/// Places pool tenants in pool packs: a kept entry never moves; a new tenant goes to
/// the lowest-numbered pack of its tier with room (a freed slot is reused: nothing
/// about a pack slot outlives its tenant, unlike a listener-rule priority).
fn pack(lock: &mut Lock, wants: &[Want<'_>], changes: &mut Changes) {
    let tiers: BTreeMap<&str, &str> = wants
        .iter()
        .filter_map(|w| w.pool_tier.map(|t| (w.id, t)))
        .collect();
    lock.packs.retain(|id, alloc| {
        let kept = tiers.get(id.as_str()) == Some(&alloc.tier.as_str());
        if !kept {
            changes.unpacked.push((id.clone(), alloc.clone()));
        }
        kept
    });
    // Every kept entry's tier is its tenant's want's tier, so the counts can be keyed
    // by the wants' strings.
    let mut used: BTreeMap<(&str, u32), u32> = BTreeMap::new();
    for (id, alloc) in &lock.packs {
        if let Some(tier) = tiers.get(id.as_str()) {
            *used.entry((tier, alloc.pack)).or_default() += 1;
        }
    }
    let mut missing: Vec<(&str, &str)> = wants
        .iter()
        .filter(|w| w.needs && !lock.packs.contains_key(w.id))
        .filter_map(|w| w.pool_tier.map(|t| (w.id, t)))
        .collect();
    missing.sort_unstable();
    for (id, tier) in missing {
        let pack = (1..=u32::MAX)
            .find(|n| used.get(&(tier, *n)).copied().unwrap_or(0) < PACK_SIZE)
            .unwrap_or(1);
        *used.entry((tier, pack)).or_default() += 1;
        let alloc = PackAllocation {
            tier: tier.to_owned(),
            pack,
        };
        lock.packs.insert(id.to_owned(), alloc.clone());
        changes.packed.push((id.to_owned(), alloc));
    }
}

/// The lock `tenantops lock` would write for `repo`, and what changes: `None` when the
/// platform settings did not load.
#[must_use]
pub fn relock(repo: &Repo) -> Option<(Lock, Changes)> {
    let capacity = repo.platform.as_ref()?.value.routing.tenants_per_shard;
    let old = repo.lock.as_ref().map_or_else(
        || Lock {
            version: LOCK_VERSION,
            ..Lock::default()
        },
        |l| l.value.clone(),
    );
    let pairs = repo.tenants.iter().filter_map(|t| {
        repo.tiers
            .get(&t.value.tier)
            .map(|tier| (&t.value, &tier.value))
    });
    Some(allocate(&old, &wants(pairs), capacity))
}

/// The wants of a fleet: each tenant whose tier is known.
#[must_use]
pub fn wants<'a>(tenants: impl Iterator<Item = (&'a Tenant, &'a Tier)>) -> Vec<Want<'a>> {
    tenants
        .map(|(tenant, tier)| Want {
            id: &tenant.id,
            routed: is_routed(tier, tenant),
            pool_tier: (tier.isolation == Isolation::Pool).then_some(tenant.tier.as_str()),
            needs: needs_allocation(tenant),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(shard: u32, priority: u32) -> Allocation {
        Allocation { shard, priority }
    }

    pub(super) fn want(id: &str) -> Want<'_> {
        Want {
            id,
            routed: true,
            pool_tier: None,
            needs: true,
        }
    }

    #[test]
    fn fills_shards_in_order_and_opens_new_ones() {
        let (lock, changes) = allocate(&Lock::default(), &[want("c"), want("a"), want("b")], 2);
        assert_eq!(lock.tenants["a"], at(1, 1));
        assert_eq!(lock.tenants["b"], at(1, 2));
        assert_eq!(lock.tenants["c"], at(2, 1));
        assert_eq!(changes.opened_shards, vec![1, 2]);
    }

    #[test]
    fn released_capacity_is_reused_but_priorities_are_not() {
        let (lock, _) = allocate(&Lock::default(), &[want("a"), want("b")], 2);
        let (lock, changes) = allocate(&lock, &[want("b"), want("c")], 2);
        assert_eq!(changes.released, vec![("a".to_owned(), at(1, 1))]);
        assert_eq!(lock.tenants["b"], at(1, 2));
        assert_eq!(lock.tenants["c"], at(1, 3));
        assert_eq!(
            lock.shards,
            vec![ShardState {
                id: 1,
                next_priority: 4
            }]
        );
    }

    #[test]
    fn existing_allocations_never_move_and_allocation_is_idempotent() {
        let (first, _) = allocate(&Lock::default(), &[want("m"), want("z")], 100);
        let (second, _) = allocate(&first, &[want("a"), want("m"), want("z")], 100);
        assert_eq!(second.tenants["m"], first.tenants["m"]);
        assert_eq!(second.tenants["z"], first.tenants["z"]);
        assert_eq!(second.tenants["a"].priority, 3);
        let (third, none) = allocate(&second, &[want("a"), want("m"), want("z")], 100);
        assert!(none.is_empty());
        assert_eq!(third, second);
    }

    #[test]
    fn offboarding_tenants_keep_but_never_get() {
        let (lock, _) = allocate(&Lock::default(), &[want("a")], 10);
        let leaving = [
            Want {
                id: "a",
                routed: true,
                pool_tier: None,
                needs: false,
            },
            Want {
                id: "b",
                routed: true,
                pool_tier: None,
                needs: false,
            },
        ];
        let (after, changes) = allocate(&lock, &leaving, 10);
        assert!(changes.is_empty());
        assert_eq!(after.tenants.len(), 1);
    }

    #[test]
    fn exhausted_priorities_open_a_new_shard() {
        let full = Lock {
            version: 1,
            shards: vec![ShardState {
                id: 1,
                next_priority: MAX_PRIORITY + 1,
            }],
            tenants: BTreeMap::new(),
            packs: BTreeMap::new(),
        };
        let (lock, _) = allocate(&full, &[want("a")], 100);
        assert_eq!(lock.tenants["a"], at(2, 1));
    }

    #[test]
    fn pool_tenants_fill_packs_in_order_and_never_move() {
        let pool = |id| Want {
            id,
            routed: false,
            pool_tier: Some("basic"),
            needs: true,
        };
        let ids: Vec<String> = (0..=PACK_SIZE).map(|i| format!("t{i:03}")).collect();
        let wants: Vec<Want<'_>> = ids.iter().map(|id| pool(id)).collect();
        let (lock, changes) = allocate(&Lock::default(), &wants, 100);
        assert_eq!(changes.packed.len(), ids.len());
        assert_eq!(lock.packs["t000"].pack, 1);
        assert_eq!(lock.packs[&ids[ids.len() - 1]].pack, 2);
        // Releasing the first frees its slot, which the next newcomer takes.
        let mut next: Vec<Want<'_>> = wants[1..].iter().map(|w| pool(w.id)).collect();
        next.push(pool("zzz"));
        let (after, changes) = allocate(&lock, &next, 100);
        assert_eq!(changes.unpacked.len(), 1);
        assert_eq!(after.packs["zzz"].pack, 1);
        for id in &ids[1..] {
            assert_eq!(after.packs[id], lock.packs[id]);
        }
        assert!(after.tenants.is_empty());
    }
}
