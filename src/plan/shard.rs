//! Sharding a run across CI runners: which part of the fleet one `plan` or `apply` handles (`--shard I/N`, `--platform`), assigned deterministically and balanced.
//!
//! The tenants that own stacks (every tenant not in a pool tier) are sorted by id and
//! dealt round-robin, so shard sizes differ by at most one and every runner of a
//! matrix computes the same assignment from the same commit. A stack of a tenant that
//! is no longer in the repository (its file deleted) goes by a hash of its id. Only
//! tenant stacks are sharded: the platform stacks (network, routers — a dedicated
//! ALB's too, since the usage plans read its API — usage plans, tiers and the pool
//! packs that hold pooled tenants) run only where `--platform` is given, or in an
//! unsharded run.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use super::{Change, Desired, Plan};
use crate::stacks::StackKind;

/// Shard `index` (from 1) of `count`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

/// Most shards a fleet may be split into.
pub const MAX_SHARDS: u32 = 256;

impl FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || {
            format!("`{s}` is not I/N (shard I of N, 1 ≤ I ≤ N ≤ {MAX_SHARDS}; for example 2/4)")
        };
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let index: u32 = i.trim().parse().map_err(|_| bad())?;
        let count: u32 = n.trim().parse().map_err(|_| bad())?;
        if index == 0 || count == 0 || index > count || count > MAX_SHARDS {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// The part of the fleet a run handles.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Part {
    /// Every stack.
    #[default]
    All,
    /// Only the platform stacks (`--platform` alone).
    Platform,
    /// The tenant stacks of one shard, and with `platform` the platform stacks too.
    Shard { shard: Shard, platform: bool },
}

impl Part {
    /// From the flags: neither is everything; `--platform` alone is only the platform.
    #[must_use]
    pub fn from_flags(shard: Option<Shard>, platform: bool) -> Part {
        match (shard, platform) {
            (None, false) => Part::All,
            (None, true) => Part::Platform,
            (Some(shard), platform) => Part::Shard { shard, platform },
        }
    }

    /// How plans name it (`shard 2/4`, `platform`, `shard 1/4 + platform`).
    #[must_use]
    pub fn label(&self) -> Option<String> {
        match self {
            Part::All => None,
            Part::Platform => Some("platform stacks only".to_owned()),
            Part::Shard {
                shard,
                platform: false,
            } => Some(format!("shard {shard}")),
            Part::Shard {
                shard,
                platform: true,
            } => Some(format!("shard {shard} + platform")),
        }
    }

    /// The suffix of this part's lock stack: the parts of one stage lock separately so
    /// that a CI matrix runs in parallel.
    #[must_use]
    pub fn lock_suffix(&self) -> String {
        match self {
            Part::All => String::new(),
            Part::Platform => "-platform".to_owned(),
            Part::Shard { shard, platform } => format!(
                "-shard-{}-of-{}{}",
                shard.index,
                shard.count,
                if *platform { "-platform" } else { "" }
            ),
        }
    }

    /// The part as its lock stack's `tenantops:lock-part` tag records it (`all`,
    /// `platform`, `shard 2/4`, `shard 2/4 + platform`).
    #[must_use]
    pub fn tag(&self) -> String {
        match self {
            Part::All => "all".to_owned(),
            Part::Platform => "platform".to_owned(),
            Part::Shard { shard, platform } => {
                format!(
                    "shard {shard}{}",
                    if *platform { " + platform" } else { "" }
                )
            }
        }
    }

    /// The part a lock's tag names; anything else (a lock without the tag, from an
    /// older tenantops) is taken for the whole stage.
    #[must_use]
    pub fn from_tag(tag: Option<&str>) -> Part {
        let Some(tag) = tag else {
            return Part::All;
        };
        if tag == "platform" {
            return Part::Platform;
        }
        let Some(rest) = tag.strip_prefix("shard ") else {
            return Part::All;
        };
        let (shard, platform) = match rest.strip_suffix(" + platform") {
            Some(s) => (s, true),
            None => (rest, false),
        };
        shard
            .parse()
            .map_or(Part::All, |shard| Part::Shard { shard, platform })
    }

    /// Whether two parts may share a stack, so their applies must not run at once: a
    /// whole apply shares with every part; the platform stacks are in `--platform` and
    /// in a shard run with it; two shards of the same count share no tenant, two of
    /// different counts may.
    #[must_use]
    pub fn overlaps(&self, other: &Part) -> bool {
        match (self, other) {
            (Part::All, _) | (_, Part::All) | (Part::Platform, Part::Platform) => true,
            (Part::Platform, Part::Shard { platform, .. })
            | (Part::Shard { platform, .. }, Part::Platform) => *platform,
            (
                Part::Shard {
                    shard: a,
                    platform: pa,
                },
                Part::Shard {
                    shard: b,
                    platform: pb,
                },
            ) => (*pa && *pb) || a.count != b.count || a.index == b.index,
        }
    }

    fn platform(&self) -> bool {
        !matches!(
            self,
            Part::Shard {
                platform: false,
                ..
            }
        )
    }
}

/// Which shard each tenant's stacks belong to, for `count` shards.
#[derive(Debug)]
pub struct Assignment {
    count: u32,
    shards: BTreeMap<String, u32>,
}

impl Assignment {
    /// Deals `tenants` (the ids that own stacks) round-robin in id order.
    #[must_use]
    pub fn new(tenants: &[String], count: u32) -> Assignment {
        let mut ids: Vec<&String> = tenants.iter().collect();
        ids.sort();
        ids.dedup();
        let count = count.max(1);
        let shards = ids
            .into_iter()
            .zip((0..count).cycle())
            .map(|(id, i)| (id.clone(), i + 1))
            .collect();
        Assignment { count, shards }
    }

    /// The shard (from 1) of `tenant`.
    #[must_use]
    pub fn shard_of(&self, tenant: &str) -> u32 {
        self.shards
            .get(tenant)
            .copied()
            .unwrap_or_else(|| fnv1a(tenant) % self.count + 1)
    }
}

impl Part {
    /// The tenants whose stacks this part renders: `None` for every tenant (an
    /// unsharded run, or one that includes the platform stacks, which need the whole
    /// fleet); for a shard alone, its own tenants.
    #[must_use]
    pub fn tenants_to_render(&self, repo: &crate::repo::Repo) -> Option<Vec<String>> {
        let Part::Shard {
            shard,
            platform: false,
        } = self
        else {
            return None;
        };
        let platform = &repo.platform.as_ref()?.value;
        let ids: Vec<String> = super::desired::roster(repo, platform)
            .into_iter()
            .filter(|t| !t.pooled)
            .map(|t| t.id)
            .collect();
        let assignment = Assignment::new(&ids, shard.count);
        Some(
            ids.into_iter()
                .filter(|id| assignment.shard_of(id) == shard.index)
                .collect(),
        )
    }
}

/// FNV-1a: a stable hash (std's hasher is seeded per process).
fn fnv1a(text: &str) -> u32 {
    text.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// `plan` restricted to `part` of `desired`'s fleet.
#[must_use]
pub fn restrict(plan: Plan, part: &Part, desired: &Desired) -> Plan {
    let Some(label) = part.label() else {
        return plan;
    };
    let assignment = match part {
        Part::Shard { shard, .. } => {
            Some((*shard, Assignment::new(&desired.sharded(), shard.count)))
        }
        _ => None,
    };
    // Only tenant stacks are sharded. A dedicated ALB's router belongs to its tenant
    // but the usage plans read its API, so it is a platform stack like the others.
    let keep = |kind: StackKind, tenant: Option<&str>| match (kind, tenant) {
        (StackKind::Tenant, Some(t)) => assignment
            .as_ref()
            .is_some_and(|(s, a)| a.shard_of(t) == s.index),
        _ => part.platform(),
    };
    let wanted = desired
        .stacks
        .iter()
        .filter(|s| keep(s.kind, s.tenant.as_deref()))
        .count();
    let changes: Vec<Change> = plan
        .changes
        .into_iter()
        .filter(|c| keep(c.kind, c.tenant.as_deref()))
        .collect();
    let changed_wanted = changes
        .iter()
        .filter(|c| c.action != super::Action::Delete)
        .count();
    Plan {
        against: format!("{}, {label}", plan.against),
        unchanged: wanted.saturating_sub(changed_wanted),
        changes,
        notes: plan.notes,
        // The whole fleet's: quotas are the account's, whichever part runs.
        headroom: plan.headroom,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_overlap_where_they_may_share_a_stack_and_tags_read_back() {
        let shard = |i, n, platform| Part::Shard {
            shard: Shard { index: i, count: n },
            platform,
        };
        let parts = [
            Part::All,
            Part::Platform,
            shard(1, 4, false),
            shard(2, 4, false),
            shard(1, 4, true),
            shard(1, 2, false),
        ];
        for p in &parts {
            assert_eq!(Part::from_tag(Some(&p.tag())), *p, "{}", p.tag());
            assert!(p.overlaps(p), "{} with itself", p.tag());
            assert!(p.overlaps(&Part::All) && Part::All.overlaps(p));
        }
        assert_eq!(Part::from_tag(None), Part::All);
        assert_eq!(Part::from_tag(Some("shard 9/4")), Part::All);
        let disjoint = [
            (Part::Platform, shard(1, 4, false)),
            (shard(1, 4, false), shard(2, 4, false)),
            (shard(1, 4, true), shard(2, 4, false)),
        ];
        for (a, b) in disjoint {
            assert!(
                !a.overlaps(&b) && !b.overlaps(&a),
                "{} and {}",
                a.tag(),
                b.tag()
            );
        }
        for (a, b) in [
            (Part::Platform, shard(1, 4, true)),
            (shard(1, 4, false), shard(1, 2, false)),
            (shard(1, 4, true), shard(2, 4, true)),
            (shard(1, 4, false), shard(1, 4, true)),
        ] {
            assert!(
                a.overlaps(&b) && b.overlaps(&a),
                "{} and {}",
                a.tag(),
                b.tag()
            );
        }
    }

    #[test]
    fn parses_and_refuses() {
        assert_eq!("2/4".parse::<Shard>(), Ok(Shard { index: 2, count: 4 }));
        for bad in ["0/4", "5/4", "1/0", "x/2", "3", "1/257", ""] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }

    #[test]
    fn deals_every_tenant_once_and_evenly() {
        let ids: Vec<String> = (0..103).map(|i| format!("t{i:03}")).collect();
        for n in 1..=8 {
            let a = Assignment::new(&ids, n);
            let mut sizes = vec![0; n as usize];
            for id in &ids {
                sizes[(a.shard_of(id) - 1) as usize] += 1;
            }
            assert_eq!(sizes.iter().sum::<usize>(), ids.len());
            assert!(
                sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1,
                "{sizes:?}"
            );
        }
        // A tenant no longer in the repository still has one stable shard.
        let a = Assignment::new(&ids, 4);
        assert_eq!(a.shard_of("gone"), a.shard_of("gone"));
        assert!((1..=4).contains(&a.shard_of("gone")));
    }

    #[test]
    fn parts_name_their_locks() {
        let s = Some(Shard { index: 2, count: 4 });
        assert_eq!(Part::from_flags(None, false), Part::All);
        assert_eq!(Part::from_flags(None, false).lock_suffix(), "");
        assert_eq!(Part::from_flags(None, true).lock_suffix(), "-platform");
        assert_eq!(Part::from_flags(s, false).lock_suffix(), "-shard-2-of-4");
        assert_eq!(
            Part::from_flags(s, true).label().as_deref(),
            Some("shard 2/4 + platform")
        );
    }
}
