//! Synthetic fleets for tests and benchmarks: the shipped reference platform and tiers with N generated tenants and their lock.

use std::fmt::Write as _;
use std::io;
use std::path::Path;

use crate::lockfile::{self, Want};
use crate::model::{LOCK_VERSION, Lock};

/// The shipped example's platform settings and tiers, which synthetic fleets reuse.
pub const PLATFORM: &str = include_str!("../tenantops.yaml");
pub const TIERS: [(&str, &str); 3] = [
    ("basic", include_str!("../tiers/basic.yaml")),
    ("advanced", include_str!("../tiers/advanced.yaml")),
    ("premium", include_str!("../tiers/premium.yaml")),
];

/// The tier of synthetic tenant `i`: 60% basic, 30% advanced, 10% premium.
#[must_use]
pub fn tier_of(i: usize) -> &'static str {
    match i % 10 {
        0..=5 => "basic",
        6..=8 => "advanced",
        _ => "premium",
    }
}

/// Id of synthetic tenant `i`.
#[must_use]
pub fn tenant_id(i: usize) -> String {
    format!("t{i:05}")
}

/// The manifest of synthetic tenant `i`.
#[must_use]
pub fn tenant_yaml(i: usize) -> String {
    let id = tenant_id(i);
    let tier = tier_of(i);
    let mut text = String::new();
    let _ = write!(
        text,
        "# yaml-language-server: $schema=../schemas/tenant.schema.json\n\
         id: {id}\n\
         name: Tenant {i}\n\
         tier: {tier}\n\
         admin_email: admin@{id}.example.com\n\
         state: {state}\n\
         labels:\n  wave: \"{wave}\"\n  region-group: emea\n",
        state = if i % 97 == 13 { "suspended" } else { "active" },
        wave = i % 4,
    );
    if tier == "premium" && i % 20 == 9 {
        text.push_str("overrides:\n  desired_count: 3\n");
    } else if dedicated_alb(i) {
        text.push_str("overrides:\n  dedicated_alb: true\n");
    }
    text
}

/// Whether synthetic tenant `i` asks for a dedicated ALB (one premium tenant in ten).
fn dedicated_alb(i: usize) -> bool {
    i % 100 == 19
}

/// The platform settings of a synthetic fleet of `n` tenants: the shipped ones, with
/// the stack quota raised to what the fleet needs (about one stack per bridge or silo
/// tenant), as its operator would have raised it in Service Quotas.
#[must_use]
pub fn platform_yaml(n: usize) -> String {
    let quota = (n / 2 + 100).max(2000);
    PLATFORM.replace("stack_quota: 2000", &format!("stack_quota: {quota}"))
}

/// Writes a complete, valid repository with `n` tenants under `dir`.
///
/// # Errors
/// I/O errors writing the files.
pub fn write_fleet(dir: &Path, n: usize) -> io::Result<()> {
    std::fs::create_dir_all(dir.join("tiers"))?;
    std::fs::create_dir_all(dir.join("tenants"))?;
    std::fs::write(dir.join("tenantops.yaml"), platform_yaml(n))?;
    for (name, text) in TIERS {
        // Thousands of bridge tenants cannot be placed on one EC2 cluster (each task
        // takes an ENI; `validate` refuses it): synthetic fleets run them on Fargate.
        let text = if name == "advanced" {
            text.replace("compute: ec2", "compute: fargate")
        } else {
            text.to_owned()
        };
        std::fs::write(dir.join("tiers").join(format!("{name}.yaml")), text)?;
    }
    let ids: Vec<String> = (0..n).map(tenant_id).collect();
    for (i, id) in ids.iter().enumerate() {
        std::fs::write(
            dir.join("tenants").join(format!("{id}.yaml")),
            tenant_yaml(i),
        )?;
    }
    // Basic is pooled (packed); advanced and premium tenants on shared shards are routed.
    let wants: Vec<Want<'_>> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| Want {
            id,
            routed: tier_of(i) != "basic" && !dedicated_alb(i),
            pool_tier: (tier_of(i) == "basic").then_some("basic"),
            needs: true,
        })
        .collect();
    let (lock, _) = lockfile::allocate(
        &Lock {
            version: LOCK_VERSION,
            ..Lock::default()
        },
        &wants,
        100,
    );
    std::fs::write(dir.join("tenants.lock"), lockfile::to_text(&lock))?;
    // Every quota the fleet needs more of than AWS's default raised to what it needs, as
    // its operator would have raised it in Service Quotas, but never past what AWS
    // grants: a fleet larger than one account holds still fails `validate` there.
    let (repo, _) = crate::repo::open(dir, None).map_err(|e| io::Error::other(e.to_string()))?;
    let raised = raised_quotas(&crate::quotas::usage(&repo));
    if !raised.is_empty() {
        let mut text = platform_yaml(n);
        text.push_str(&raised);
        std::fs::write(dir.join("tenantops.yaml"), text)?;
    }
    Ok(())
}

/// A `quotas:` block that raises each quota `uses` needs 80 % or more of to what it
/// needs with a quarter to spare (under `validate`'s warning), within what AWS grants;
/// empty when the defaults suffice.
#[must_use]
pub fn raised_quotas(uses: &[crate::quotas::Use]) -> String {
    let mut block = String::new();
    for (quota, u) in crate::quotas::QUOTAS.iter().zip(uses) {
        if u.near() && quota.adjustable {
            let need = u32::try_from(u.used * 5 / 4 + 1).unwrap_or(u32::MAX);
            let _ = writeln!(
                block,
                "  {}: {}",
                quota.key,
                quota.max.map_or(need, |m| need.min(m))
            );
        }
    }
    if block.is_empty() {
        block
    } else {
        format!("quotas:\n{block}")
    }
}
