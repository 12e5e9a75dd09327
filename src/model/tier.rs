//! `tiers/<name>.yaml`: one tier's isolation model, compute, storage, routing, usage plan and override bounds.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A tier of service. Its name is its file name (`tiers/premium.yaml` is `premium`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "tenantops tier (tiers/<name>.yaml)")]
pub struct Tier {
    /// What the tier is for, shown in plans and status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    pub description: Option<String>,
    /// How tenants share infrastructure.
    pub isolation: Isolation,
    /// Where tasks run.
    pub compute: Compute,
    /// Tasks per service (per tenant for `bridge` and `silo`, for the whole pool for `pool`).
    #[schemars(range(min = 0, max = 100))]
    pub desired_count: u32,
    /// Storage of each service that has a table: `pooled` (one table, partitioned by
    /// tenant) or `silo` (a table per tenant).
    #[serde(default)]
    pub storage: BTreeMap<String, Storage>,
    /// What happens to a tenant's silo tables when its stacks are deleted.
    #[serde(default)]
    pub data_retention: DataRetention,
    /// How requests reach the tier's tenants.
    #[serde(default)]
    pub routing: TierRouting,
    /// API Gateway usage plan; every tenant gets its own API key bound to it.
    pub usage_plan: UsagePlan,
    /// What a tenant of this tier may override, and within which bounds. Anything not
    /// listed here cannot be overridden.
    #[serde(default)]
    pub overrides: OverrideBounds,
    /// The EC2 capacity of the clusters tenantops runs for this tier on `ec2` compute
    /// (the tier's shared cluster, or each silo tenant's own).
    #[serde(default)]
    pub capacity: Ec2Capacity,
}

/// An EC2 cluster's Auto Scaling group: its instance type and how many instances it may
/// grow to. `validate` refuses a tier whose clusters cannot place the tasks they must
/// hold (awsvpc tasks take an ENI each).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Ec2Capacity {
    /// Instance type (one whose ENI limit tenantops knows).
    #[serde(default = "default_instance_type")]
    #[schemars(regex(pattern = r"^[a-z][a-z0-9]*\.[a-z0-9]+$"))]
    pub instance_type: String,
    /// Most instances the Auto Scaling group may run.
    #[serde(default = "default_max_instances")]
    #[schemars(range(min = 1, max = 1000))]
    pub max_instances: u32,
}

impl Default for Ec2Capacity {
    fn default() -> Self {
        Ec2Capacity {
            instance_type: default_instance_type(),
            max_instances: default_max_instances(),
        }
    }
}

fn default_instance_type() -> String {
    "m5.large".to_owned()
}

fn default_max_instances() -> u32 {
    10
}

/// The reference architecture's isolation models.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Isolation {
    /// One cluster and one set of services shared by every tenant of the tier.
    Pool,
    /// A shared cluster with dedicated services per tenant.
    Bridge,
    /// A cluster per tenant.
    Silo,
}

impl Isolation {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Isolation::Pool => "pool",
            Isolation::Bridge => "bridge",
            Isolation::Silo => "silo",
        }
    }
}

/// Where ECS tasks run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Compute {
    Fargate,
    Ec2,
}

/// Storage model of one service's table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Storage {
    /// One table for the tier, items partitioned by tenant id (`dynamodb:LeadingKeys`).
    Pooled,
    /// A table per tenant.
    Silo,
}

/// What happens to silo tables when a tenant's stacks are deleted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DataRetention {
    /// Keep the table (`DeletionPolicy: Retain`).
    #[default]
    Retain,
    /// Keep a final backup (`DeletionPolicy: Snapshot`).
    Snapshot,
    /// Delete the table with the stack: the tenant's data is destroyed.
    Delete,
}

/// Tier routing: which ALB serves the tier's tenants.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TierRouting {
    /// `shared`: a listener rule on a router shard; `dedicated`: an ALB per tenant
    /// (silo tiers only).
    #[serde(default)]
    pub alb: AlbMode,
}

/// Which load balancer serves a tenant.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AlbMode {
    #[default]
    Shared,
    Dedicated,
}

/// An API Gateway usage plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UsagePlan {
    /// Steady-state requests per second per API key.
    #[schemars(range(min = 1, max = 100_000))]
    pub rate_limit: u32,
    /// Burst capacity in requests per API key.
    #[schemars(range(min = 1, max = 100_000))]
    pub burst_limit: u32,
    /// Requests allowed per period per API key.
    pub quota: Quota,
}

/// A usage-plan quota.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Quota {
    /// Requests per period.
    #[schemars(range(min = 1, max = 2_000_000_000))]
    pub limit: u32,
    /// The period the limit applies to.
    pub period: QuotaPeriod,
}

/// API Gateway quota periods.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum QuotaPeriod {
    Day,
    Week,
    Month,
}

/// Bounds of what a tenant may override. An option absent here is not overridable.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OverrideBounds {
    /// Range a tenant's `desired_count` must stay in (bridge and silo tiers only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired_count: Option<Bounds>,
    /// Whether a tenant may ask for a dedicated ALB (silo tiers only).
    #[serde(default)]
    pub dedicated_alb: bool,
    /// Whether a tenant may choose its own `data_retention` (tiers with silo storage only).
    #[serde(default)]
    pub data_retention: bool,
    /// Whether a tenant may choose its own `compute` (silo tiers only: a bridge tier's
    /// tenants share its cluster).
    #[serde(default)]
    pub compute: bool,
}

/// An inclusive range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Bounds {
    #[schemars(range(min = 0, max = 100))]
    pub min: u32,
    #[schemars(range(min = 0, max = 100))]
    pub max: u32,
}
