//! Rules on `tenants.lock`: every routed tenant allocated, no collisions, no shard over capacity, nothing allocated to a tenant that is not there.

use std::collections::{BTreeMap, HashMap};

use crate::diag::Diagnostic;
use crate::load::LOCK_FILE;
use crate::lockfile::{is_routed, needs_allocation};
use crate::model::{Allocation, Isolation, MAX_PRIORITY, PACK_SIZE};
use crate::repo::Repo;
use crate::yaml::Span;

const RUN_LOCK: &str = "run `tenantops lock` to update `tenants.lock`";

#[allow(clippy::too_many_lines)] // a flat list of independent rules
pub(super) fn lock(repo: &Repo, out: &mut Vec<Diagnostic>) {
    if repo.lock_present && repo.lock.is_none() {
        return; // it failed to load; that is reported
    }
    let empty = BTreeMap::new();
    let allocations = repo.lock.as_ref().map_or(&empty, |l| &l.value.tenants);
    let entry_span = |id: &str| {
        repo.lock.as_ref().map_or(Span::new(1, 1, 1), |l| {
            l.node.key_span_of(&format!("/tenants/{id}"))
        })
    };

    let empty_packs = BTreeMap::new();
    let packs = repo.lock.as_ref().map_or(&empty_packs, |l| &l.value.packs);
    let mut routed = HashMap::new();
    let mut pooled = HashMap::new();
    // Tenants whose tier is unknown: what the lock should hold for them is unknown too.
    let mut undetermined = std::collections::HashSet::new();
    for doc in &repo.tenants {
        let Some(tier) = repo.tiers.get(&doc.value.tier) else {
            undetermined.insert(doc.value.id.as_str());
            continue;
        };
        let pool = tier.value.isolation == Isolation::Pool;
        pooled.insert(
            doc.value.id.as_str(),
            pool.then_some(doc.value.tier.as_str()),
        );
        if pool && needs_allocation(&doc.value) && !packs.contains_key(&doc.value.id) {
            out.push(
                Diagnostic::error(
                    "not-packed",
                    &doc.file,
                    doc.node.span_of("/id"),
                    format!("pool tenant `{}` has no pool pack (the stack holding its API key and identity) in `{LOCK_FILE}`", doc.value.id),
                )
                .help(RUN_LOCK),
            );
        }
        let is = is_routed(&tier.value, &doc.value);
        routed.insert(doc.value.id.as_str(), is);
        if is && needs_allocation(&doc.value) && !allocations.contains_key(&doc.value.id) {
            out.push(
                Diagnostic::error(
                    "not-allocated",
                    &doc.file,
                    doc.node.span_of("/id"),
                    format!("tenant `{}` has no router shard and listener-rule priority in `{LOCK_FILE}`", doc.value.id),
                )
                .help(RUN_LOCK),
            );
        }
    }
    let Some(lock) = &repo.lock else { return };
    let lock_file = lock.file.as_str();

    // Allocations for tenants that are gone are only judged on a complete load: a
    // tenant whose file failed to parse is not "gone".
    if repo.complete && !repo.subset {
        for (id, alloc) in allocations {
            if undetermined.contains(id.as_str()) {
                continue;
            }
            match routed.get(id.as_str()) {
                None => out.push(
                    Diagnostic::error("unknown-allocation", lock_file, entry_span(id), format!("`{id}` holds shard {} priority {}, but there is no tenant `{id}`", alloc.shard, alloc.priority))
                        .help(RUN_LOCK),
                ),
                Some(false) => out.push(
                    Diagnostic::error("stale-allocation", lock_file, entry_span(id), format!("`{id}` holds a listener rule, but its tier does not route it through a router shard"))
                        .help(RUN_LOCK),
                ),
                Some(true) => {}
            }
        }
    }

    let pack_span = |id: &str| lock.node.key_span_of(&format!("/packs/{id}"));
    if repo.complete && !repo.subset {
        for (id, alloc) in packs {
            if undetermined.contains(id.as_str()) {
                continue;
            }
            match pooled.get(id.as_str()) {
                None => out.push(
                    Diagnostic::error("unknown-allocation", lock_file, pack_span(id), format!("`{id}` holds a place in pool pack {} of `{}`, but there is no tenant `{id}`", alloc.pack, alloc.tier))
                        .help(RUN_LOCK),
                ),
                Some(tier) if *tier != Some(alloc.tier.as_str()) => out.push(
                    Diagnostic::error("stale-allocation", lock_file, pack_span(id), format!("`{id}` is packed with pool tier `{}`, but it is not a tenant of that tier", alloc.tier))
                        .help(RUN_LOCK),
                ),
                Some(_) => {}
            }
        }
    }
    let mut pack_load: BTreeMap<(&str, u32), (u32, &str)> = BTreeMap::new();
    for (id, alloc) in packs {
        let entry = pack_load
            .entry((alloc.tier.as_str(), alloc.pack))
            .or_insert((0, id));
        entry.0 += 1;
        entry.1 = id;
    }
    for ((tier, pack), (count, last)) in pack_load {
        if count > PACK_SIZE {
            out.push(
                Diagnostic::error(
                    "pack-over-capacity",
                    lock_file,
                    pack_span(last),
                    format!(
                        "pool pack {pack} of `{tier}` holds {count} tenants, over its {PACK_SIZE}"
                    ),
                )
                .help("a hand edit broke the lock; restore it from git and run `tenantops lock`"),
            );
        }
    }

    let mut shards = HashMap::new();
    for (i, shard) in lock.value.shards.iter().enumerate() {
        if shards.insert(shard.id, shard).is_some() {
            out.push(Diagnostic::error(
                "duplicate-shard",
                lock_file,
                lock.node.span_of(&format!("/shards/{i}/id")),
                format!("shard {} is listed twice", shard.id),
            ));
        }
    }
    let capacity = repo
        .platform
        .as_ref()
        .map(|p| p.value.routing.tenants_per_shard);
    let mut taken: HashMap<Allocation, &str> = HashMap::new();
    let mut load: BTreeMap<u32, u32> = BTreeMap::new();
    for (id, alloc) in allocations {
        *load.entry(alloc.shard).or_default() += 1;
        if let Some(other) = taken.insert(*alloc, id) {
            out.push(Diagnostic::error(
                "allocation-collision",
                lock_file,
                entry_span(id),
                format!("`{id}` and `{other}` both hold shard {} priority {}", alloc.shard, alloc.priority),
            ).help("two listener rules cannot share a priority (two branches each allocated it?): run `tenantops lock --base <the deployed revision, e.g. origin/main>`, which keeps the slot with the tenant that holds it there and gives the other a new priority"));
        }
        match shards.get(&alloc.shard) {
            None => out.push(Diagnostic::error(
                "unknown-shard",
                lock_file,
                entry_span(id),
                format!("`{id}` is on shard {}, which is not in `shards`", alloc.shard),
            ).help("restore the lock from git and run `tenantops lock`")),
            Some(shard) if alloc.priority >= shard.next_priority || alloc.priority > MAX_PRIORITY => out.push(Diagnostic::error(
                "priority-not-issued",
                lock_file,
                entry_span(id),
                format!("`{id}` holds priority {} on shard {}, which that shard has not handed out yet (`next_priority: {}`)", alloc.priority, alloc.shard, shard.next_priority),
            ).help("a hand edit broke the lock; restore it from git and run `tenantops lock`")),
            Some(_) => {}
        }
    }
    if let Some(capacity) = capacity {
        for (shard, count) in load {
            if count > capacity {
                let i = lock.value.shards.iter().position(|s| s.id == shard);
                let span = i.map_or(lock.node.span_of("/tenants"), |i| {
                    lock.node.span_of(&format!("/shards/{i}/id"))
                });
                out.push(Diagnostic::error(
                    "shard-over-capacity",
                    lock_file,
                    span,
                    format!("shard {shard} holds {count} tenants, over `routing.tenants_per_shard: {capacity}`"),
                ).help("allocations never move: raise `routing.tenants_per_shard` back, or offboard tenants from this shard"));
            }
        }
    }
}
