//! `validate --base REV`: what a change may not do to live tenants relative to its base revision (move an allocation, rename a tenant, skip offboarding).

use std::collections::{HashMap, HashSet};

use crate::diag::Diagnostic;
use crate::load::LOCK_FILE;
use crate::model::State;
use crate::repo::Repo;
use crate::yaml::Span;

/// Compares `head` with `base` (named `rev` in messages).
#[must_use]
#[allow(clippy::too_many_lines)] // a flat list of independent rules
pub fn against_base(head: &Repo, base: &Repo, rev: &str) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    if base.lock_present && base.lock.is_none() {
        out.push(
            Diagnostic::unlocated("base-unreadable", Some(LOCK_FILE), format!("`{LOCK_FILE}` at `{rev}` does not load, so allocations cannot be compared with it"))
                .warning(),
        );
    }
    if base.lock.is_some() && !head.lock_present {
        out.push(
            Diagnostic::unlocated(
                "lock-deleted",
                Some(LOCK_FILE),
                format!("`{LOCK_FILE}` exists at `{rev}` and this change deletes it: every allocation would be made afresh"),
            )
            .help(format!("restore `{LOCK_FILE}` from `{rev}`")),
        );
    }
    if let (Some(base_lock), Some(head_lock)) = (&base.lock, &head.lock) {
        let head_tenants: HashMap<&str, _> = head
            .tenants
            .iter()
            .map(|t| (t.value.id.as_str(), t))
            .collect();
        for (id, was) in &base_lock.value.tenants {
            let span = head_lock.node.key_span_of(&format!("/tenants/{id}"));
            match head_lock.value.tenants.get(id) {
                Some(now) if now != was => out.push(
                    Diagnostic::error(
                        "allocation-moved",
                        &head_lock.file,
                        span,
                        format!("tenant `{id}` moved from shard {} priority {} (at `{rev}`) to shard {} priority {}", was.shard, was.priority, now.shard, now.priority),
                    )
                    .help(format!("allocations never move: restore `{LOCK_FILE}` from `{rev}` and run `tenantops lock`")),
                ),
                None if head_tenants
                    .get(id.as_str())
                    .is_some_and(|t| t.value.state != State::Offboarding) =>
                {
                    out.push(
                        Diagnostic::error(
                            "allocation-dropped",
                            &head_lock.file,
                            head_lock.node.span_of("/tenants"),
                            format!("tenant `{id}` held shard {} priority {} at `{rev}`, and this change drops it", was.shard, was.priority),
                        )
                        .help(format!("restore `{LOCK_FILE}` from `{rev}` and run `tenantops lock`")),
                    );
                }
                _ => {}
            }
        }
        for (id, was) in &base_lock.value.packs {
            match head_lock.value.packs.get(id) {
                Some(now) if now.tier == was.tier && now.pack != was.pack => out.push(
                    Diagnostic::error(
                        "pack-moved",
                        &head_lock.file,
                        head_lock.node.key_span_of(&format!("/packs/{id}")),
                        format!("pool tenant `{id}` moved from pool pack {} (at `{rev}`) to pack {}: its API key would be replaced", was.pack, now.pack),
                    )
                    .help(format!("pack places never move: restore `{LOCK_FILE}` from `{rev}` and run `tenantops lock`")),
                ),
                _ => {}
            }
        }
        for was in &base_lock.value.shards {
            let now = head_lock.value.shards.iter().position(|s| s.id == was.id);
            let problem = match now {
                None => Some(format!(
                    "shard {} exists at `{rev}` and this change removes it",
                    was.id
                )),
                Some(i) if head_lock.value.shards[i].next_priority < was.next_priority => {
                    Some(format!(
                        "shard {}'s `next_priority` went back from {} (at `{rev}`) to {}: released priorities would be reused",
                        was.id, was.next_priority, head_lock.value.shards[i].next_priority
                    ))
                }
                Some(_) => None,
            };
            if let Some(message) = problem {
                let span = now.map_or(head_lock.node.span_of("/shards"), |i| {
                    head_lock
                        .node
                        .span_of(&format!("/shards/{i}/next_priority"))
                });
                out.push(
                    Diagnostic::error("shard-rewound", &head_lock.file, span, message).help(
                        format!("restore `{LOCK_FILE}` from `{rev}` and run `tenantops lock`"),
                    ),
                );
            }
        }
    }
    // Tenants whose file disappeared, and ids that changed.
    if head.complete {
        let head_ids: HashMap<&str, &str> = head
            .tenants
            .iter()
            .map(|t| (t.value.id.as_str(), t.file.as_str()))
            .collect();
        let head_names: HashMap<String, &str> = head
            .tenants
            .iter()
            .map(|t| (t.value.name.to_lowercase(), t.value.id.as_str()))
            .collect();
        let base_ids: HashSet<&str> = base.tenants.iter().map(|t| t.value.id.as_str()).collect();
        for old in &base.tenants {
            let id = old.value.id.as_str();
            if head_ids.contains_key(id) || old.value.state == State::Offboarding {
                continue;
            }
            let renamed = head_names
                .get(&old.value.name.to_lowercase())
                .filter(|new| !base_ids.contains(*new));
            let d = match renamed {
                Some(new) => Diagnostic::error(
                    "id-changed",
                    &format!("tenants/{new}.yaml"),
                    head.tenants.iter().find(|t| t.value.id == **new).map_or(Span::new(1, 1, 1), |t| t.node.span_of("/id")),
                    format!("tenant `{new}` looks like `{id}` renamed (same display name): tenant ids are permanent"),
                )
                .help(format!("changing an id deletes tenant `{id}` and creates a new one; keep `id: {id}`")),
                None => Diagnostic::unlocated(
                    "removed-without-offboarding",
                    Some(&old.file),
                    format!("tenant `{id}` is `{}` at `{rev}`, and this change deletes its file", old.value.state.as_str()),
                )
                .help(format!("first set `state: offboarding` and apply, then delete `{}`", old.file)),
            };
            out.push(d);
        }
    }
    out
}
