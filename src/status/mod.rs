//! `tenantops status`: the fleet as it runs — per tenant its stacks and their CloudFormation status, whether each deployed hash matches git (drift), and its ECS services' desired and running counts.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;
use tokio::sync::Semaphore;

mod show;

pub use show::{human, markdown, summary};

use crate::aws::{Aws, AwsError, LiveStack};
use crate::plan::{
    Desired, DesiredStack, TAG_COMMIT, TAG_HASH, TAG_TENANT, needs_recreate, outputs_of, stable,
};
use crate::stacks::StackKind;

/// How a stack compares with git.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Sync {
    /// Deployed with the desired hash, and stable.
    InSync,
    /// Deployed as wanted, but its services have not been seen steady since its last
    /// change (the apply failed or was stopped in its steady wait): the next apply
    /// checks them.
    Unsteady,
    /// Deployed, but git wants something else: the next apply updates it.
    Drift,
    /// Not deployed: the next apply creates it.
    Missing,
    /// Its last operation failed (a failed create, a rollback that failed).
    Failed,
    /// CloudFormation is changing it now.
    Busy,
    /// Deployed, but git no longer wants it: the next guarded apply deletes it.
    Orphan,
}

impl Sync {
    pub(super) fn word(self) -> &'static str {
        match self {
            Sync::InSync => "in sync",
            Sync::Unsteady => "not seen steady",
            Sync::Drift => "drift",
            Sync::Missing => "missing",
            Sync::Failed => "failed",
            Sync::Busy => "busy",
            Sync::Orphan => "orphan",
        }
    }
}

/// One ECS service's counts.
#[derive(Clone, Debug, Serialize)]
pub struct Service {
    pub name: String,
    pub desired: i32,
    pub running: i32,
    pub steady: bool,
}

/// One stack of a tenant or of the platform.
#[derive(Clone, Debug, Serialize)]
pub struct StackStatus {
    pub stack: String,
    pub kind: StackKind,
    /// CloudFormation's status, `null` when the stack does not exist.
    pub status: Option<String>,
    pub sync: Sync,
    /// The commit it was last deployed from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<Service>,
    /// Why its services could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub services_error: Option<String>,
}

/// One tenant.
#[derive(Clone, Debug, Serialize)]
pub struct TenantStatus {
    pub tenant: String,
    /// `None` for a tenant whose file is gone but whose stacks remain.
    pub tier: Option<String>,
    pub state: Option<crate::model::State>,
    pub stacks: Vec<StackStatus>,
}

impl TenantStatus {
    /// The worst sync of its stacks.
    #[must_use]
    pub fn sync(&self) -> Sync {
        worst(self.stacks.iter().map(|s| s.sync))
    }
}

fn worst(syncs: impl Iterator<Item = Sync>) -> Sync {
    let rank = |s: Sync| match s {
        Sync::InSync => 0,
        Sync::Busy => 1,
        Sync::Unsteady => 2,
        Sync::Drift => 3,
        Sync::Missing => 4,
        Sync::Orphan => 5,
        Sync::Failed => 6,
    };
    syncs.max_by_key(|s| rank(*s)).unwrap_or(Sync::InSync)
}

/// The fleet.
#[derive(Clone, Debug, Serialize)]
pub struct Status {
    pub stage: String,
    pub tenants: Vec<TenantStatus>,
    pub platform: Vec<StackStatus>,
    /// The quotas the repository's fleet spends nearest their limit (`plan::headroom`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub headroom: Vec<crate::plan::Headroom>,
}

impl Status {
    fn all_stacks(&self) -> impl Iterator<Item = &StackStatus> {
        self.tenants
            .iter()
            .flat_map(|t| t.stacks.iter())
            .chain(&self.platform)
    }

    /// Whether every stack is in sync and every service runs its desired count.
    #[must_use]
    pub fn healthy(&self) -> bool {
        self.all_stacks().all(|s| {
            s.sync == Sync::InSync
                && s.services_error.is_none()
                && s.services.iter().all(|v| v.steady)
        })
    }
}

fn sync_of(
    stack: &DesiredStack,
    live: Option<&LiveStack>,
    outputs: &BTreeMap<String, BTreeMap<String, String>>,
) -> Sync {
    let Some(l) = live else {
        return Sync::Missing;
    };
    if needs_recreate(&l.status) || l.status.ends_with("_FAILED") {
        return Sync::Failed;
    }
    if l.busy() {
        return Sync::Busy;
    }
    match stack.resolve(outputs) {
        Ok(values) => {
            let hash = stack.hash(&values);
            if !stable(&l.status) || l.tags.get(TAG_HASH) != Some(&hash) {
                Sync::Drift
            } else if stack.awaits_steady(&l.tags, &hash) {
                Sync::Unsteady
            } else {
                Sync::InSync
            }
        }
        Err(_) => Sync::Drift,
    }
}

/// Adds the live stacks git no longer wants (`orphan`) under their tenant, or to the
/// platform stacks.
fn add_orphans(
    desired: &Desired,
    live: &[LiveStack],
    by_stack: &BTreeMap<&str, &DesiredStack>,
    only: &[String],
    tenants: &mut BTreeMap<String, TenantStatus>,
    platform: &mut Vec<StackStatus>,
) {
    for l in live {
        if by_stack.contains_key(l.name.as_str()) || !desired.manages(&l.tags) {
            continue;
        }
        let s = StackStatus {
            stack: l.name.clone(),
            kind: crate::plan::kind_from_tags(&l.tags),
            status: Some(l.status.clone()),
            sync: Sync::Orphan,
            commit: l.tags.get(TAG_COMMIT).cloned(),
            services: Vec::new(),
            services_error: None,
        };
        match l.tags.get(TAG_TENANT) {
            Some(t) if only.is_empty() || only.iter().any(|o| o == t) => tenants
                .entry(t.clone())
                .or_insert_with(|| TenantStatus {
                    tenant: t.clone(),
                    tier: None,
                    state: None,
                    stacks: Vec::new(),
                })
                .stacks
                .push(s),
            None if only.is_empty() => platform.push(s),
            Some(_) | None => {}
        }
    }
}

/// Reads the status of `desired`'s fleet (only `only` tenants, when given). With
/// `services`, each live tenant and tier stack's ECS services are read, at most
/// `concurrency` stacks at a time.
///
/// # Errors
/// Listing the stacks failed.
pub async fn read(
    aws: &Arc<Aws>,
    desired: &Desired,
    live: &[LiveStack],
    only: &[String],
    services: bool,
    concurrency: usize,
) -> Result<Status, AwsError> {
    let by_name: BTreeMap<&str, &LiveStack> = live.iter().map(|s| (s.name.as_str(), s)).collect();
    let outputs = outputs_of(live);
    let wanted = |tenant: &str| only.is_empty() || only.iter().any(|o| o == tenant);
    let stack_status = |d: &DesiredStack| {
        let l = by_name.get(d.name.as_str()).copied();
        StackStatus {
            stack: d.name.clone(),
            kind: d.kind,
            status: l.map(|l| l.status.clone()),
            sync: sync_of(d, l, &outputs),
            commit: l.and_then(|l| l.tags.get(TAG_COMMIT).cloned()),
            services: Vec::new(),
            services_error: None,
        }
    };
    // Each desired stack judged once (a pool pack is shown under each of its tenants).
    let mut judged: BTreeMap<String, StackStatus> = BTreeMap::new();
    let mut judge = |d: &DesiredStack| -> StackStatus {
        judged
            .entry(d.name.clone())
            .or_insert_with(|| stack_status(d))
            .clone()
    };
    let by_stack: BTreeMap<&str, &DesiredStack> = desired
        .stacks
        .iter()
        .map(|d| (d.name.as_str(), d))
        .collect();
    let mut by_tenant: BTreeMap<&str, Vec<&DesiredStack>> = BTreeMap::new();
    for d in &desired.stacks {
        if let Some(t) = &d.tenant {
            by_tenant.entry(t.as_str()).or_default().push(d);
        }
    }
    let mut tenants: BTreeMap<String, TenantStatus> = BTreeMap::new();
    for t in desired.roster.iter().filter(|t| wanted(&t.id)) {
        let own = by_tenant.get(t.id.as_str()).into_iter().flatten().copied();
        let pack = t.pack.as_deref().and_then(|p| by_stack.get(p)).copied();
        let stacks = own.chain(pack).map(&mut judge).collect();
        tenants.insert(
            t.id.clone(),
            TenantStatus {
                tenant: t.id.clone(),
                tier: Some(t.tier.clone()),
                state: Some(t.state),
                stacks,
            },
        );
    }
    let mut platform: Vec<StackStatus> = if only.is_empty() {
        desired
            .stacks
            .iter()
            .filter(|s| s.tenant.is_none())
            .map(&mut judge)
            .collect()
    } else {
        Vec::new()
    };
    add_orphans(desired, live, &by_stack, only, &mut tenants, &mut platform);
    let mut status = Status {
        stage: desired.stage.clone(),
        tenants: tenants.into_values().collect(),
        platform,
        headroom: crate::plan::headroom(desired, None),
    };
    if services {
        read_services(aws, &mut status, concurrency).await;
    }
    Ok(status)
}

/// Fills in the services of every live tenant and tier stack.
async fn read_services(aws: &Arc<Aws>, status: &mut Status, concurrency: usize) {
    let semaphore = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    for s in status.all_stacks() {
        if s.status.is_none() || !matches!(s.kind, StackKind::Tenant | StackKind::Tier) {
            continue;
        }
        let (aws, semaphore, name) = (Arc::clone(aws), Arc::clone(&semaphore), s.stack.clone());
        tasks.spawn(async move {
            let _permit = semaphore.acquire().await;
            let result = services(&aws, &name).await;
            (name, result)
        });
    }
    let mut found: BTreeMap<String, Result<Vec<Service>, String>> = BTreeMap::new();
    while let Some(Ok((name, result))) = tasks.join_next().await {
        found.insert(name, result);
    }
    let stacks = status
        .tenants
        .iter_mut()
        .flat_map(|t| t.stacks.iter_mut())
        .chain(status.platform.iter_mut());
    for s in stacks {
        match found.remove(&s.stack) {
            Some(Ok(services)) => s.services = services,
            Some(Err(e)) => s.services_error = Some(e),
            None => {}
        }
    }
}

async fn services(aws: &Aws, stack: &str) -> Result<Vec<Service>, String> {
    let by_cluster = aws.services_of(stack).await.map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for (cluster, arns) in by_cluster {
        for s in aws
            .describe_services(&cluster, &arns)
            .await
            .map_err(|e| e.to_string())?
        {
            out.push(Service {
                steady: s.steady(),
                name: s.name,
                desired: s.desired,
                running: s.running,
            });
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}
