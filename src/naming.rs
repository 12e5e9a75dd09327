//! Stable AWS names derived from stage, prefix, tier and tenant id, with the AWS length limit of each.
//!
//! Every name tenantops gives a resource is formed here, so that validation can prove a
//! tenant id fits every name it feeds before anything is rendered or deployed.

use crate::model::Platform;

/// A name that a tenant id feeds, and the longest AWS accepts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TenantName {
    /// What is named, as a user would say it.
    pub what: &'static str,
    /// The name for the tenant.
    pub name: String,
    /// The longest name AWS accepts for it.
    pub limit: usize,
}

/// The label grammar of tenant ids and tier names (the tenant schema's `id` pattern): a
/// lowercase letter, then letters, digits and single hyphens, no trailing hyphen, at
/// most `max` characters.
#[must_use]
pub fn is_label(name: &str, max: usize) -> bool {
    name.len() <= max
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && !name.ends_with('-')
        && !name.contains("--")
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// `<prefix>-<stage>`, the start of every name.
#[must_use]
pub fn base(platform: &Platform) -> String {
    format!("{}-{}", platform.naming.prefix, platform.stage)
}

/// The CloudFormation stack of one tenant.
#[must_use]
pub fn tenant_stack(platform: &Platform, id: &str) -> String {
    format!("{}-tenant-{id}", base(platform))
}

/// The stack of a router (`key` is a shard number, a pool tier or a tenant with a
/// dedicated ALB; they never collide, since tier names are reserved ids and ids start
/// with a letter).
#[must_use]
pub fn router_stack(platform: &Platform, key: &str) -> String {
    format!("{}-router-{key}", base(platform))
}

/// The stack of what every router shares: the authorizer's invoke permission.
#[must_use]
pub fn edge_stack(platform: &Platform) -> String {
    format!("{}-edge", base(platform))
}

/// The stack of link group `group`: the NLB and VPC link its router shards share.
#[must_use]
pub fn link_stack(platform: &Platform, group: u32) -> String {
    format!("{}-link-{group}", base(platform))
}

/// The stack of what tier `tier` shares (cluster, pooled tables, a pool's workload).
#[must_use]
pub fn tier_stack(platform: &Platform, tier: &str) -> String {
    format!("{}-tier-{tier}", base(platform))
}

/// The stack holding pool pack `pack` of tier `tier` (pool tenants' keys and users).
#[must_use]
pub fn pack_stack(platform: &Platform, tier: &str, pack: u32) -> String {
    format!("{}-pool-{tier}-{pack}", base(platform))
}

/// The delivery pipeline's stack (`tenantops bootstrap`).
#[must_use]
pub fn pipeline_stack(platform: &Platform) -> String {
    format!("{}-tenantops-pipeline", base(platform))
}

/// The network stack (the VPC tenantops creates).
#[must_use]
pub fn network_stack(platform: &Platform) -> String {
    format!("{}-network", base(platform))
}

/// The stack of the tiers' usage plans.
#[must_use]
pub fn usage_plans_stack(platform: &Platform) -> String {
    format!("{}-usage-plans", base(platform))
}

/// The Cloud Map namespace of a bridge or silo tenant (Service Connect names are
/// `<service>-api.<namespace>.sc`).
#[must_use]
pub fn tenant_namespace(platform: &Platform, id: &str) -> String {
    format!("{}-{id}", base(platform))
}

/// Every name `id` feeds, with its limit. The longest service name decides the names
/// that include a service.
#[must_use]
pub fn tenant_names(platform: &Platform, id: &str) -> Vec<TenantName> {
    let base = base(platform);
    let service = platform
        .services
        .keys()
        .map(String::as_str)
        .chain(["rproxy"])
        .max_by_key(|s| s.len())
        .unwrap_or("rproxy");
    let namespace = tenant_namespace(platform, id);
    vec![
        TenantName {
            what: "CloudFormation stack",
            name: tenant_stack(platform, id),
            limit: 128,
        },
        TenantName {
            what: "dedicated router stack",
            name: router_stack(platform, id),
            limit: 128,
        },
        TenantName {
            what: "ECS cluster",
            name: format!("{base}-{id}"),
            limit: 255,
        },
        TenantName {
            what: "ECS service",
            name: format!("{base}-{id}-{service}"),
            limit: 255,
        },
        TenantName {
            what: "DynamoDB table",
            name: format!("{base}-{service}-{id}"),
            limit: 255,
        },
        TenantName {
            what: "Cognito user pool",
            name: format!("{base}-{id}"),
            limit: 128,
        },
        TenantName {
            what: "Cloud Map namespace (a DNS label)",
            name: namespace.clone(),
            limit: 63,
        },
        TenantName {
            what: "Service Connect DNS name",
            name: format!("{service}-api.{namespace}.sc"),
            limit: 253,
        },
        TenantName {
            what: "ALB listener-rule header value",
            name: id.to_owned(),
            limit: 128,
        },
    ]
}

/// The longest tenant id every derived name can hold.
#[must_use]
pub fn max_tenant_id_len(platform: &Platform) -> usize {
    tenant_names(platform, "")
        .iter()
        .map(|n| n.limit.saturating_sub(n.name.len()))
        .min()
        .unwrap_or(63)
        .min(63)
}

/// Ids no tenant may take: they name shared things, would collide with the names of
/// pooled resources (`<prefix>-<stage>-<tier>` clusters and namespaces, service tables),
/// or read as something other than a string in YAML and other formats they travel in.
#[rustfmt::skip]
pub const RESERVED_IDS: &[&str] = &[
    "admin", "amazon", "api", "app", "aws", "bridge", "default", "lock", "localhost",
    "network", "platform", "pool", "pooled", "root", "router", "rproxy", "shard", "shared",
    "silo", "system", "tenant", "tenantops", "tenants", "tier", "tiers", "www",
    // Words that YAML 1.1, JSON or shells read as booleans, nulls or numbers.
    "false", "inf", "nan", "nil", "no", "none", "null", "off", "on", "true", "undefined", "yes",
];

/// A CloudFormation logical id part from a label (`acme-co` → `AcmeXco`): the first
/// letter upper-cased and each hyphen written `X`. Injective on labels, which are
/// lowercase, so two tenants never share a logical id.
#[must_use]
pub fn logical_id(label: &str) -> String {
    let mut out = String::with_capacity(label.len());
    for (i, c) in label.chars().enumerate() {
        match c {
            '-' => out.push('X'),
            c if i == 0 => out.push(c.to_ascii_uppercase()),
            c if c.is_ascii_alphanumeric() => out.push(c),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::logical_id;

    #[test]
    fn logical_ids_are_injective_on_labels() {
        assert_eq!(logical_id("acme"), "Acme");
        assert_eq!(logical_id("acme-co"), "AcmeXco");
        assert_ne!(logical_id("a-1"), logical_id("a1"));
        assert_ne!(logical_id("ab-c"), logical_id("a-bc"));
        assert_eq!(logical_id("7"), "7");
    }
}
