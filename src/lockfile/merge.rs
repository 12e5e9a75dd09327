//! Merging `tenants.lock` after two branches each allocated: the two sides of git's conflict markers, their union, and slot collisions settled by the allocations of the revision that is deployed.
//!
//! Two onboarding pull requests each take the next free priority of a shard, so their
//! locks either conflict (git's markers) or merge cleanly into two tenants holding one
//! listener-rule priority. Neither may be resolved by hand: a priority that is live on
//! the deployed revision must stay with its tenant, and only the other side's new
//! allocation may move (it was never applied).

use std::collections::BTreeMap;

use crate::model::{Allocation, Lock};

/// Where git's conflict markers are in `text`: the 1-based line of the first marker.
#[must_use]
pub fn first_marker(text: &str) -> Option<usize> {
    text.lines().position(is_marker).map(|i| i + 1)
}

fn is_marker(line: &str) -> bool {
    line.starts_with("<<<<<<<")
        || line.starts_with(">>>>>>>")
        || line.starts_with("|||||||")
        || line == "======="
}

/// The two sides of a text with git's conflict markers (`<<<<<<<`, optionally
/// diff3's `|||||||` base, `=======`, `>>>>>>>`): what is outside the markers goes to
/// both, each region's first part to ours and last part to theirs (a diff3 base part
/// to neither). `Err` names the line of a marker out of place.
///
/// # Errors
/// Markers that do not nest as git writes them.
pub fn sides(text: &str) -> Result<(String, String), usize> {
    #[derive(PartialEq)]
    enum In {
        Both,
        Ours,
        Base,
        Theirs,
    }
    let mut state = In::Both;
    let (mut ours, mut theirs) = (String::new(), String::new());
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let bare = line.trim_end_matches(['\n', '\r']);
        state = match (&state, bare) {
            (In::Both, l) if l.starts_with("<<<<<<<") => In::Ours,
            (In::Ours, l) if l.starts_with("|||||||") => In::Base,
            (In::Ours | In::Base, "=======") => In::Theirs,
            (In::Theirs, l) if l.starts_with(">>>>>>>") => In::Both,
            (_, l) if is_marker(l) => return Err(i + 1),
            _ => {
                match state {
                    In::Both => {
                        ours.push_str(line);
                        theirs.push_str(line);
                    }
                    In::Ours => ours.push_str(line),
                    In::Theirs => theirs.push_str(line),
                    In::Base => {}
                }
                continue;
            }
        };
    }
    if state == In::Both {
        Ok((ours, theirs))
    } else {
        Err(text.lines().count())
    }
}

/// What merging decided, for the user to read.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Settled {
    /// Tenants whose allocation on one side collided with the deployed revision's
    /// holder of that slot: dropped, so that `lock` gives them a fresh priority.
    pub moved: Vec<(String, Allocation)>,
}

/// The union of two locks: every shard at the higher `next_priority` either side
/// reached (a priority either side handed out is never reused), every allocation and
/// pack either side made. A tenant both sides placed differently takes the deployed
/// revision's place; without one, that is a refusal (each message names the tenant).
///
/// # Errors
/// Tenants placed differently by the two sides, with no deployed revision to decide.
pub fn union(ours: &Lock, theirs: &Lock, deployed: Option<&Lock>) -> Result<Lock, Vec<String>> {
    let mut out = ours.clone();
    out.version = ours.version.max(theirs.version);
    for shard in &theirs.shards {
        match out.shards.iter_mut().find(|s| s.id == shard.id) {
            Some(mine) => mine.next_priority = mine.next_priority.max(shard.next_priority),
            None => out.shards.push(*shard),
        }
    }
    out.shards.sort_by_key(|s| s.id);
    let mut refusals = Vec::new();
    for (id, alloc) in &theirs.tenants {
        match out.tenants.get(id) {
            None => {
                out.tenants.insert(id.clone(), *alloc);
            }
            Some(mine) if mine == alloc => {}
            Some(mine) => match deployed.and_then(|d| d.tenants.get(id)) {
                Some(live) => {
                    out.tenants.insert(id.clone(), *live);
                }
                None => refusals.push(format!(
                    "`{id}` holds shard {} priority {} on one side and shard {} priority {} on the other",
                    mine.shard, mine.priority, alloc.shard, alloc.priority
                )),
            },
        }
    }
    for (id, pack) in &theirs.packs {
        match out.packs.get(id) {
            None => {
                out.packs.insert(id.clone(), pack.clone());
            }
            Some(mine) if mine == pack => {}
            Some(mine) => match deployed.and_then(|d| d.packs.get(id)) {
                Some(live) => {
                    out.packs.insert(id.clone(), live.clone());
                }
                None => refusals.push(format!(
                    "`{id}` is in pack {} of tier `{}` on one side and pack {} of tier `{}` on the other",
                    mine.pack, mine.tier, pack.pack, pack.tier
                )),
            },
        }
    }
    if refusals.is_empty() {
        Ok(out)
    } else {
        Err(refusals)
    }
}

/// Settles slots two tenants hold at once: the one that holds the slot in the
/// deployed revision keeps it; the other is dropped from the lock, so that `lock`
/// allocates it a fresh priority. A collision the deployed revision does not decide
/// (neither holder has the slot there, or there is no deployed revision) is a refusal.
///
/// # Errors
/// Collisions with no holder on the deployed revision.
pub fn settle(lock: &mut Lock, deployed: Option<&Lock>) -> Result<Settled, Vec<String>> {
    let mut holders: BTreeMap<Allocation, Vec<String>> = BTreeMap::new();
    for (id, alloc) in &lock.tenants {
        holders.entry(*alloc).or_default().push(id.clone());
    }
    let mut settled = Settled::default();
    let mut refusals = Vec::new();
    for (alloc, ids) in holders.into_iter().filter(|(_, ids)| ids.len() > 1) {
        let live = deployed.and_then(|d| {
            ids.iter()
                .find(|id| d.tenants.get(id.as_str()) == Some(&alloc))
        });
        match live {
            Some(keeper) => {
                for id in ids.iter().filter(|id| *id != keeper) {
                    lock.tenants.remove(id);
                    settled.moved.push((id.clone(), alloc));
                }
            }
            None => refusals.push(format!(
                "{} {} hold shard {} priority {}{}",
                ids.iter()
                    .map(|i| format!("`{i}`"))
                    .collect::<Vec<_>>()
                    .join(" and "),
                if ids.len() == 2 { "both" } else { "all" },
                alloc.shard,
                alloc.priority,
                if deployed.is_some() {
                    ", and none of them holds it on the deployed revision"
                } else {
                    ""
                }
            )),
        }
    }
    if refusals.is_empty() {
        Ok(settled)
    } else {
        Err(refusals)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ShardState;

    fn lock(tenants: &[(&str, u32)], next: u32) -> Lock {
        Lock {
            version: 2,
            shards: vec![ShardState {
                id: 1,
                next_priority: next,
            }],
            tenants: tenants
                .iter()
                .map(|(id, p)| {
                    (
                        (*id).to_owned(),
                        Allocation {
                            shard: 1,
                            priority: *p,
                        },
                    )
                })
                .collect(),
            packs: BTreeMap::new(),
        }
    }

    #[test]
    fn sides_split_git_markers_with_and_without_a_diff3_base() {
        let text = "a\n<<<<<<< HEAD\nours\n||||||| base\nold\n=======\ntheirs\n>>>>>>> topic\nz\n";
        assert_eq!(
            sides(text),
            Ok(("a\nours\nz\n".to_owned(), "a\ntheirs\nz\n".to_owned()))
        );
        let text = "<<<<<<< HEAD\nx\n=======\ny\n>>>>>>> b\n";
        assert_eq!(sides(text), Ok(("x\n".to_owned(), "y\n".to_owned())));
        assert_eq!(first_marker("a\nb\n<<<<<<< HEAD\n"), Some(3));
        assert_eq!(first_marker("a: 1\n"), None);
        assert_eq!(sides("a\n=======\n"), Err(2));
        assert_eq!(sides("<<<<<<< HEAD\nx\n"), Err(2));
    }

    #[test]
    fn the_union_keeps_both_sides_and_the_deployed_revision_settles_a_shared_slot() {
        let base = lock(&[("globex", 1)], 2);
        let ours = lock(&[("globex", 1), ("acme", 2)], 3);
        let theirs = lock(&[("globex", 1), ("beta", 2)], 3);
        let mut merged = union(&ours, &theirs, None).unwrap();
        assert_eq!(merged.tenants.len(), 3);
        assert_eq!(merged.shards[0].next_priority, 3);
        // Without a deployed revision, the shared slot is refused, naming both.
        let refused = settle(&mut merged.clone(), None).unwrap_err();
        assert_eq!(refused, ["`acme` and `beta` both hold shard 1 priority 2"]);
        // The base knows neither: still refused.
        assert!(settle(&mut merged.clone(), Some(&base)).is_err());
        // Deployed `ours`: acme keeps priority 2, beta is dropped to be allocated anew.
        let settled = settle(&mut merged, Some(&ours)).unwrap();
        assert_eq!(
            settled.moved,
            [(
                "beta".to_owned(),
                Allocation {
                    shard: 1,
                    priority: 2
                }
            )]
        );
        assert!(merged.tenants.contains_key("acme") && !merged.tenants.contains_key("beta"));
    }

    #[test]
    fn a_tenant_placed_differently_by_each_side_takes_the_deployed_place_or_is_refused() {
        let ours = lock(&[("acme", 2)], 3);
        let theirs = lock(&[("acme", 3)], 4);
        assert_eq!(
            union(&ours, &theirs, None).unwrap_err(),
            ["`acme` holds shard 1 priority 2 on one side and shard 1 priority 3 on the other"]
        );
        let merged = union(&ours, &theirs, Some(&theirs)).unwrap();
        assert_eq!(merged.tenants["acme"].priority, 3);
        assert_eq!(merged.shards[0].next_priority, 4);
    }
}
