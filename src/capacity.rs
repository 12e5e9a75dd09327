//! EC2 cluster capacity: what the instance types tenantops knows can hold (awsvpc tasks take an ENI each), what each EC2 cluster of the fleet must hold, and how many instances that needs.
//!
//! Without ENI trunking (an account setting CloudFormation cannot set), an awsvpc task
//! takes one of its instance's elastic network interfaces, and the instance keeps one
//! for itself: an `m5.large` (3 ENIs) runs 2 tasks, whatever its CPU and memory.
//! ENI counts are AWS's ("Maximum IP addresses per network interface per instance
//! type", EC2 User Guide `AvailableIpPerENI`); CPU and memory its instance type pages.
//! A cluster must hold every task of its services twice over: a rolling deployment
//! (`MaximumPercent: 200`) starts the new tasks before it stops the old ones, and a
//! catalog change rolls every service at once.

use crate::model::{Compute, Isolation, Platform, State, Tier};
use crate::repo::Repo;

/// An EC2 instance type: network interfaces, vCPUs and memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InstanceType {
    pub name: &'static str,
    pub enis: u32,
    pub vcpus: u32,
    pub memory_mib: u32,
}

/// The instance types tenantops knows.
pub const INSTANCE_TYPES: &[InstanceType] = &[
    InstanceType {
        name: "t3.medium",
        enis: 3,
        vcpus: 2,
        memory_mib: 4096,
    },
    InstanceType {
        name: "t3.large",
        enis: 3,
        vcpus: 2,
        memory_mib: 8192,
    },
    InstanceType {
        name: "t3.xlarge",
        enis: 4,
        vcpus: 4,
        memory_mib: 16384,
    },
    InstanceType {
        name: "m5.large",
        enis: 3,
        vcpus: 2,
        memory_mib: 8192,
    },
    InstanceType {
        name: "m5.xlarge",
        enis: 4,
        vcpus: 4,
        memory_mib: 16384,
    },
    InstanceType {
        name: "m5.2xlarge",
        enis: 4,
        vcpus: 8,
        memory_mib: 32768,
    },
    InstanceType {
        name: "m5.4xlarge",
        enis: 8,
        vcpus: 16,
        memory_mib: 65536,
    },
    InstanceType {
        name: "m6i.large",
        enis: 3,
        vcpus: 2,
        memory_mib: 8192,
    },
    InstanceType {
        name: "m6i.xlarge",
        enis: 4,
        vcpus: 4,
        memory_mib: 16384,
    },
    InstanceType {
        name: "m6i.2xlarge",
        enis: 4,
        vcpus: 8,
        memory_mib: 32768,
    },
    InstanceType {
        name: "m6i.4xlarge",
        enis: 8,
        vcpus: 16,
        memory_mib: 65536,
    },
    InstanceType {
        name: "c5.large",
        enis: 3,
        vcpus: 2,
        memory_mib: 4096,
    },
    InstanceType {
        name: "c5.xlarge",
        enis: 4,
        vcpus: 4,
        memory_mib: 8192,
    },
    InstanceType {
        name: "c5.2xlarge",
        enis: 4,
        vcpus: 8,
        memory_mib: 16384,
    },
    InstanceType {
        name: "c5.4xlarge",
        enis: 8,
        vcpus: 16,
        memory_mib: 32768,
    },
    InstanceType {
        name: "r5.large",
        enis: 3,
        vcpus: 2,
        memory_mib: 16384,
    },
    InstanceType {
        name: "r5.xlarge",
        enis: 4,
        vcpus: 4,
        memory_mib: 32768,
    },
    InstanceType {
        name: "r5.2xlarge",
        enis: 4,
        vcpus: 8,
        memory_mib: 65536,
    },
];

/// The instance type called `name`, if tenantops knows it.
#[must_use]
pub fn instance_type(name: &str) -> Option<&'static InstanceType> {
    INSTANCE_TYPES.iter().find(|t| t.name == name)
}

/// What a cluster must hold at its peak: tasks, CPU units and MiB of memory.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Demand {
    pub tasks: u32,
    pub cpu: u32,
    pub memory_mib: u32,
}

impl Demand {
    /// `count` running tasks of `cpu` units and `memory` MiB each, twice over (a rolling
    /// deployment runs old and new tasks together).
    fn add(&mut self, count: u32, cpu: u32, memory: u32) {
        let peak = count.saturating_mul(2);
        self.tasks = self.tasks.saturating_add(peak);
        self.cpu = self.cpu.saturating_add(peak.saturating_mul(cpu));
        self.memory_mib = self.memory_mib.saturating_add(peak.saturating_mul(memory));
    }
}

/// Instances of `it` that `demand` needs: one ENI per task (the instance keeps one),
/// and room for the tasks' CPU and memory (ECS keeps about a tenth of the memory).
#[must_use]
pub fn instances_needed(it: &InstanceType, demand: Demand) -> u32 {
    let per_instance = it.enis.saturating_sub(1).max(1);
    let by_enis = demand.tasks.div_ceil(per_instance);
    let by_cpu = demand.cpu.div_ceil(it.vcpus * 1024);
    let by_memory = demand.memory_mib.div_ceil(it.memory_mib / 10 * 9);
    by_enis.max(by_cpu).max(by_memory)
}

/// An EC2 cluster tenantops runs, and what it must hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cluster {
    /// The tier whose `capacity` sizes it.
    pub tier: String,
    /// The silo tenant whose own cluster it is (`None`: the tier's shared cluster).
    pub tenant: Option<String>,
    pub demand: Demand,
}

/// Every EC2 cluster of `repo` (validated) and its demand: a pool tier's, a bridge
/// tier's (all its tenants), each silo tenant's own.
#[must_use]
pub fn clusters(repo: &Repo) -> Vec<Cluster> {
    let Some(platform) = repo.platform.as_ref().map(|p| &p.value) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (name, tier) in &repo.tiers {
        let t = &tier.value;
        if t.compute != Compute::Ec2 || t.isolation == Isolation::Silo {
            continue;
        }
        let mut demand = Demand::default();
        if t.isolation == Isolation::Pool {
            workload(&mut demand, platform, t.desired_count);
        } else {
            for doc in repo.tenants.iter().filter(|d| &d.value.tier == name) {
                workload(&mut demand, platform, desired(t, &doc.value));
            }
        }
        out.push(Cluster {
            tier: name.clone(),
            tenant: None,
            demand,
        });
    }
    for doc in &repo.tenants {
        let tenant = &doc.value;
        let Some(tier) = repo.tiers.get(&tenant.tier).map(|t| &t.value) else {
            continue;
        };
        let compute = tenant.overrides.compute.unwrap_or(tier.compute);
        if tier.isolation != Isolation::Silo
            || compute != Compute::Ec2
            || tenant.state == State::Offboarding
        {
            continue;
        }
        let mut demand = Demand::default();
        workload(&mut demand, platform, desired(tier, tenant));
        out.push(Cluster {
            tier: tenant.tier.clone(),
            tenant: Some(tenant.id.clone()),
            demand,
        });
    }
    out
}

/// A workload's tasks: every catalog service and the router, `count` each.
fn workload(demand: &mut Demand, p: &Platform, count: u32) {
    for s in p.services.values() {
        demand.add(count, s.cpu, s.memory);
    }
    demand.add(count, p.router.cpu, p.router.memory);
}

/// Tasks per service of a bridge or silo tenant.
fn desired(tier: &Tier, tenant: &crate::model::Tenant) -> u32 {
    match tenant.state {
        State::Active => tenant.overrides.desired_count.unwrap_or(tier.desired_count),
        State::Suspended | State::Offboarding => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::{Demand, instance_type, instances_needed};

    #[test]
    fn an_m5_large_holds_two_awsvpc_tasks() {
        let m5 = instance_type("m5.large").unwrap();
        let small = |tasks| Demand {
            tasks,
            cpu: tasks * 256,
            memory_mib: tasks * 512,
        };
        assert_eq!(instances_needed(m5, small(2)), 1);
        assert_eq!(instances_needed(m5, small(3)), 2);
        // A bridge tenant: 3 services and a router, 2 tasks each, twice over = 16 tasks.
        assert_eq!(instances_needed(m5, small(16)), 8);
        let big = Demand {
            tasks: 2,
            cpu: 2 * 2048,
            memory_mib: 2 * 4096,
        };
        assert_eq!(instances_needed(m5, big), 2);
        assert!(instance_type("m5.huge").is_none());
    }
}
