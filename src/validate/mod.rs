//! Stage 2, validate: the semantic rules over a decoded repository, every problem collected in one run.
//!
//! Schema checks happen while decoding ([`crate::repo`]); the rules here need the whole
//! fleet: tiers that exist, ids that fit every AWS name, overrides within bounds, a lock
//! consistent with the tenants, and (with `--base`) no live tenant moved.

mod base;
mod capacity;
mod fleet;
mod lock;
mod tenants;

use crate::diag::Diagnostic;
use crate::repo::Repo;

pub use base::against_base;

/// Runs every semantic rule over `repo` and returns the problems found. Rules that need
/// a file which failed to load are skipped rather than guessed at; the load problems
/// are already reported.
#[must_use]
pub fn validate(repo: &Repo) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    if let Some(platform) = &repo.platform {
        fleet::platform(platform, repo, &mut out);
    }
    fleet::tiers(repo, &mut out);
    tenants::tenants(repo, &mut out);
    lock::lock(repo, &mut out);
    capacity::capacity(repo, &mut out);
    out
}

/// A short account of what was validated, for the summary line and JSON output.
#[derive(Debug, Default, serde::Serialize)]
pub struct Summary {
    pub tiers: usize,
    pub tenants: usize,
    pub routed: usize,
    pub shards: usize,
}

#[must_use]
pub fn summary(repo: &Repo) -> Summary {
    let routed = repo
        .tenants
        .iter()
        .filter(|t| {
            repo.tiers
                .get(&t.value.tier)
                .is_some_and(|tier| crate::lockfile::is_routed(&tier.value, &t.value))
        })
        .count();
    Summary {
        tiers: repo.tiers.len(),
        tenants: repo.tenants.len(),
        routed,
        shards: repo.lock.as_ref().map_or(0, |l| l.value.shards.len()),
    }
}
