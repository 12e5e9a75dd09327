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
        version_pin(platform, &mut out);
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
    /// Every quota's use and limit, when the fleet was counted (`crate::quotas`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub quotas: Vec<crate::quotas::Use>,
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
        quotas: Vec::new(),
    }
}

/// `tenantops:` in `tenantops.yaml`: the versions the repository is written for. This
/// binary's version (`CARGO_PKG_VERSION`) outside the requirement is an error at the
/// setting, and so is a requirement that is not semver (Cargo's syntax, the `semver`
/// crate: `>=0.1, <0.2`, `^0.1`, `~0.1.3`, `=0.1.0`).
fn version_pin(platform: &crate::repo::Doc<crate::model::Platform>, out: &mut Vec<Diagnostic>) {
    let Some(pin) = &platform.value.tenantops else {
        return;
    };
    let span = platform.node.span_of("/tenantops");
    let installed = env!("CARGO_PKG_VERSION");
    match semver::VersionReq::parse(pin) {
        Err(e) => out.push(
            Diagnostic::error(
                "version-pin",
                &platform.file,
                span,
                format!("`{pin}` is not a version requirement: {e}"),
            )
            .help("write a semver requirement such as `>=0.1, <0.2`"),
        ),
        Ok(req) => {
            let Ok(version) = semver::Version::parse(installed) else {
                return;
            };
            if !req.matches(&version) {
                out.push(
                    Diagnostic::error(
                        "version-pin",
                        &platform.file,
                        span,
                        format!("this repository is written for tenantops `{pin}`, and this is tenantops {installed}"),
                    )
                    .help("install a tenantops the requirement allows, or change the requirement in its own reviewed commit (an upgrade may change every stack through tenantops' built-in templates: `plan --live` with the new tenantops names each)"),
                );
            }
        }
    }
}
