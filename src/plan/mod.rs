//! The plan stage: desired stacks (rendered in memory, each with its desired-state hash), compared with a base revision offline or with live CloudFormation state, into a [`Plan`] of per-stack changes.
//!
//! A stack's hash covers its template, its parameters and its tags (all but
//! `tenantops:hash` and `tenantops:commit`), so a stack whose `tenantops:hash` tag
//! matches is unchanged and costs no API call beyond the listing. Offline, parameters
//! that read a producer's output are hashed as the reference; live, as the producer's
//! current output value, so a replaced producer resource updates its consumers.

mod compare;
mod desired;
pub mod replacement;
pub mod shard;
pub mod show;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use serde::Serialize;

pub use compare::{destroys, live, offline};
pub use desired::{Desired, DesiredStack, TenantInfo, WAVE_LABEL, manages};

use crate::aws::{LiveStack, ResourceChange};
use crate::stacks::StackKind;

/// Tag: every stack tenantops manages.
pub const TAG_MANAGED: &str = "tenantops:managed";
/// Tag: the stage (`tenantops.yaml` `stage`).
pub const TAG_STAGE: &str = "tenantops:stage";
/// Tag: the desired-state hash the stack was last deployed with.
pub const TAG_HASH: &str = "tenantops:hash";
/// Tag: the commit the stack was last deployed from.
pub const TAG_COMMIT: &str = "tenantops:commit";
/// Tag: whether the stack's ECS services have been seen steady since its last change:
/// [`STEADY_PENDING`] from the create or update until they are, then the hash they
/// were seen steady at. A stack without it (deployed before tenantops recorded
/// steadiness) is taken as it is.
pub const TAG_STEADY: &str = "tenantops:steady";
/// [`TAG_STEADY`]'s value while a change's services have not been seen steady.
pub const STEADY_PENDING: &str = "pending";
/// Tag: the tenantops version that last deployed the stack (its built-in templates
/// are that version's).
pub const TAG_VERSION: &str = "tenantops:version";
/// This tenantops' version, as [`TAG_VERSION`] records it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// Tag: the stack's kind (`tenant`, `tier`, ...).
pub const TAG_KIND: &str = "tenantops:kind";
/// Tag: the tenant a stack belongs to.
pub const TAG_TENANT: &str = "tenantops:tenant";
/// Tag: the tier a stack belongs to.
pub const TAG_TIER: &str = "tenantops:tier";

/// What happens to a stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    Create,
    Update,
    /// A stack whose create failed (`ROLLBACK_COMPLETE`): deleted, then created again.
    Recreate,
    Delete,
    /// A stack deployed as wanted whose services have not been seen steady since (the
    /// apply that changed it failed or was stopped in its steady wait): checked again,
    /// and the steadiness recorded.
    Check,
}

impl Action {
    /// The plan's symbol: `+` create, `~` update, `!` recreate (replace), `-` delete,
    /// `?` check steadiness.
    #[must_use]
    pub fn symbol(self) -> char {
        match self {
            Action::Create => '+',
            Action::Update => '~',
            Action::Recreate => '!',
            Action::Delete => '-',
            Action::Check => '?',
        }
    }

    #[must_use]
    pub fn word(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Recreate => "recreate",
            Action::Delete => "delete",
            Action::Check => "check",
        }
    }
}

/// One stack that changes.
#[derive(Clone, Debug, Serialize)]
pub struct Change {
    pub stack: String,
    pub kind: StackKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tier: Option<String>,
    pub wave: u32,
    pub action: Action,
    /// Why, when it is not plain (a failed create, parameters known only after a producer applies).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Resource-level changes (a live plan's change set, or a new stack's resources).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<ResourceChange>,
    /// Resources holding data or identity that this update removes or replaces: each
    /// needs `--allow-destroy` and counts toward `--max-destroy`, like a stack deletion.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub destroys: Vec<Destroyed>,
}

/// A resource holding data or identity that an update removes or replaces.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Destroyed {
    pub logical_id: String,
    pub resource_type: String,
    /// `removed`, `replaced` or `may be replaced`.
    pub how: &'static str,
    /// Whether the old resource (and its data) stays in the account, detached from the
    /// stack: its `DeletionPolicy` (removed) or `UpdateReplacePolicy` (replaced) keeps it.
    pub kept: bool,
    /// That policy, as the template says it (`Delete` when it says nothing).
    pub policy: String,
    /// The tenant it belongs to, when the stack holds several tenants' resources (a
    /// pool pack's `Metadata` `tenantops:tenant`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
}

/// The changes a run makes, in apply order (deletions last, dependents first).
#[derive(Clone, Debug, Default, Serialize)]
pub struct Plan {
    /// `live` or `base <rev>`.
    pub against: String,
    pub changes: Vec<Change>,
    pub unchanged: usize,
    /// What the reviewer must know beyond the stacks: a changed `tenantops:` pin.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// The quotas nearest their limit, and any whose use the change moves.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headroom: Vec<Headroom>,
}

/// What the desired fleet spends of one AWS quota, beside what the base spent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Headroom {
    pub quota: &'static str,
    pub name: &'static str,
    pub used: usize,
    pub limit: u32,
    /// The base revision's use, when a `--base` plan changes it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub was: Option<usize>,
}

/// How many quotas a plan shows besides those the change moves.
const HEADROOM_SHOWN: usize = 3;

/// The quotas of `head` a reviewer should see: those whose use differs from `base`'s
/// (when there is one) and the [`HEADROOM_SHOWN`] others nearest their limit; nearest
/// first.
#[must_use]
pub fn headroom(head: &Desired, base: Option<&Desired>) -> Vec<Headroom> {
    let was = |key: &str| {
        base.and_then(|b| b.quotas.iter().find(|u| u.quota == key))
            .map(|u| u.used)
    };
    let mut all: Vec<Headroom> = head
        .quotas
        .iter()
        .map(|u| Headroom {
            quota: u.quota,
            name: u.name,
            used: u.used,
            limit: u.limit,
            was: was(u.quota).filter(|w| *w != u.used),
        })
        .collect();
    // Nearest its limit first: used/limit, compared without division.
    all.sort_by(|a, b| {
        (b.used as u128 * u128::from(a.limit)).cmp(&(a.used as u128 * u128::from(b.limit)))
    });
    let mut shown = 0;
    all.retain(|h| {
        let keep = h.was.is_some() || shown < HEADROOM_SHOWN;
        if keep && h.was.is_none() {
            shown += 1;
        }
        keep
    });
    all
}

impl Plan {
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    #[must_use]
    pub fn count(&self, action: Action) -> usize {
        self.changes.iter().filter(|c| c.action == action).count()
    }
}

pub(crate) fn change(stack: &DesiredStack, action: Action, reason: Option<String>) -> Change {
    Change {
        stack: stack.name.clone(),
        kind: stack.kind,
        tenant: stack.tenant.clone(),
        tier: stack.tier.clone(),
        wave: stack.wave,
        action,
        reason,
        resources: Vec::new(),
        destroys: Vec::new(),
    }
}

/// A live stack's kind, from its kind tag (the kind's serialized name); without a
/// known one, a tenant stack, so that it is deleted with the tenants, first.
#[must_use]
pub fn kind_from_tags(tags: &BTreeMap<String, String>) -> StackKind {
    tags.get(TAG_KIND)
        .and_then(|k| serde_json::from_value(serde_json::Value::String(k.clone())).ok())
        .unwrap_or(StackKind::Tenant)
}

/// A stack that is no longer wanted, from what is known of it.
pub(crate) fn removal(name: &str, tags: &BTreeMap<String, String>) -> Change {
    Change {
        stack: name.to_owned(),
        kind: kind_from_tags(tags),
        tenant: tags.get(TAG_TENANT).cloned(),
        tier: tags.get(TAG_TIER).cloned(),
        wave: 0,
        action: Action::Delete,
        reason: None,
        resources: Vec::new(),
        destroys: Vec::new(),
    }
}

/// Deletions go last, in reverse apply order: tenants before packs, tiers, routers and
/// the network they use.
pub(crate) fn order_deletions(changes: &mut [Change]) {
    changes.sort_by(|a, b| {
        let del = |c: &Change| c.action == Action::Delete;
        del(a).cmp(&del(b)).then_with(|| {
            if del(a) && del(b) {
                b.kind.cmp(&a.kind).then_with(|| a.stack.cmp(&b.stack))
            } else {
                std::cmp::Ordering::Equal
            }
        })
    });
}

/// Outputs of live stacks, by stack.
#[must_use]
pub fn outputs_of(live: &[LiveStack]) -> BTreeMap<String, BTreeMap<String, String>> {
    live.iter()
        .map(|s| (s.name.clone(), s.outputs.clone()))
        .collect()
}

/// A stack left by a failed create: it can only be deleted.
#[must_use]
pub fn needs_recreate(status: &str) -> bool {
    matches!(
        status,
        "ROLLBACK_COMPLETE" | "ROLLBACK_FAILED" | "REVIEW_IN_PROGRESS"
    )
}

/// A status from which a stack is usable as it is.
#[must_use]
pub fn stable(status: &str) -> bool {
    matches!(
        status,
        "CREATE_COMPLETE" | "UPDATE_COMPLETE" | "IMPORT_COMPLETE"
    )
}
