//! `tenants.lock`: machine-managed allocations (router shard, listener-rule priority) that never move once made.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The lock format version this build reads and writes.
pub const LOCK_VERSION: u32 = 2;
/// Highest ALB listener-rule priority.
pub const MAX_PRIORITY: u32 = 50_000;

/// Allocations written by `tenantops lock`; reviewed in pull requests like `Cargo.lock`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "tenantops lock (tenants.lock)")]
pub struct Lock {
    /// Format version.
    #[schemars(range(min = 1, max = 2))]
    pub version: u32,
    /// Router shards, each an internal ALB with one listener.
    #[serde(default)]
    pub shards: Vec<ShardState>,
    /// Allocation of every routed tenant, by tenant id.
    #[serde(default)]
    pub tenants: BTreeMap<String, Allocation>,
    /// Pool tenants by id: the pool pack (a stack of at most `PACK_SIZE` tenants'
    /// API keys and identities) that holds them. Packs never move a tenant, since
    /// moving an API key between stacks would replace it.
    #[serde(default)]
    pub packs: BTreeMap<String, PackAllocation>,
}

/// Pool tenants per pool pack stack: 5 resources each keeps a pack far inside
/// CloudFormation's 500-resource and 51,200-byte template limits.
pub const PACK_SIZE: u32 = 50;

/// Where a pool tenant's API key and identity live: pack `pack` of tier `tier`.
#[derive(
    Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct PackAllocation {
    /// The pool tier whose usage plan and user pool the pack uses.
    pub tier: String,
    /// Pack number within the tier, from 1.
    #[schemars(range(min = 1, max = 10_000))]
    pub pack: u32,
}

/// One router shard's allocation state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShardState {
    /// Shard number, from 1.
    #[schemars(range(min = 1, max = 10_000))]
    pub id: u32,
    /// The next listener-rule priority to hand out. Priorities only ever grow, so a
    /// removed tenant's priority is never given to another tenant.
    #[schemars(range(min = 1, max = 50_001))]
    pub next_priority: u32,
}

/// Where a routed tenant's listener rule lives.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct Allocation {
    /// Router shard number.
    #[schemars(range(min = 1, max = 10_000))]
    pub shard: u32,
    /// Listener-rule priority on that shard's listener.
    #[schemars(range(min = 1, max = 50_000))]
    pub priority: u32,
}
