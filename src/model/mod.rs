//! The manifest model: the Rust types behind `tenantops.yaml`, `tiers/*.yaml`, `tenants/*.yaml` and `tenants.lock`.
//!
//! These types are the single source of truth for the manifest formats: serde reads
//! them (unknown fields refused) and schemars generates the committed JSON Schemas
//! from them (`tenantops schema --write`).

mod lock;
mod platform;
mod tenant;
mod tier;

pub use lock::{
    Allocation, LOCK_VERSION, Lock, MAX_PRIORITY, PACK_SIZE, PackAllocation, ShardState,
};
pub use platform::{
    Api, ApiResource, CloudFormation, Cors, DEFAULT_CIDR, Email, HttpMethod, Naming, Network,
    Onboarding, Pipeline, Platform, Quotas, Router, Routing, Service, SubnetId, Table,
    subnet_cidrs,
};
pub use tenant::{State, Tenant, TenantOverrides};
pub use tier::{
    AlbMode, Bounds, Compute, DataRetention, Ec2Capacity, Isolation, OverrideBounds, Quota,
    QuotaPeriod, Storage, Tier, TierRouting, UsagePlan,
};
