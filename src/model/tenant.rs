//! `tenants/<id>.yaml`: one tenant: id, display name, tier, admin email, lifecycle state, labels, overrides.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Compute, DataRetention};

/// One tenant. Its file is `tenants/<id>.yaml`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "tenantops tenant (tenants/<id>.yaml)")]
pub struct Tenant {
    /// Permanent tenant id: a lowercase DNS label (letters, digits, single hyphens),
    /// equal to the file name. It names the tenant's stacks, cluster, tables and
    /// namespace, and is the value of the routing header, so it never changes.
    #[schemars(length(min = 1, max = 63), regex(pattern = r"^[a-z](-?[a-z0-9])*$"))]
    pub id: String,
    /// Human-readable name, unique across the fleet (case-insensitive).
    #[schemars(length(min = 1, max = 128))]
    pub name: String,
    /// The tier (a file in `tiers/`).
    #[schemars(length(min = 1, max = 63))]
    pub tier: String,
    /// Email of the tenant's first admin user.
    #[schemars(length(min = 3, max = 254))]
    pub admin_email: String,
    /// Lifecycle state.
    #[serde(default)]
    pub state: State,
    /// Free-form labels (for example `wave: "2"` for rollout waves).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Per-tenant overrides, each allowed only within the tier's `overrides` bounds.
    #[serde(default)]
    pub overrides: TenantOverrides,
}

/// A tenant's lifecycle state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Provisioned and serving.
    #[default]
    Active,
    /// Provisioned, requests refused; its allocations are kept.
    Suspended,
    /// Being removed: the next guarded apply deletes its stacks; then delete the file.
    Offboarding,
}

impl State {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            State::Active => "active",
            State::Suspended => "suspended",
            State::Offboarding => "offboarding",
        }
    }
}

/// Tenant overrides of tier settings.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantOverrides {
    /// Tasks per service for this tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 100))]
    pub desired_count: Option<u32>,
    /// A dedicated ALB instead of a rule on a shared router shard.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dedicated_alb: Option<bool>,
    /// What happens to this tenant's silo tables when its stacks are deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_retention: Option<DataRetention>,
    /// Where this tenant's tasks run, instead of the tier's `compute` (silo tiers whose
    /// `overrides.compute` allows it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compute: Option<Compute>,
}
