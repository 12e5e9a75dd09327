//! `tenantops status`: the fleet as it runs — per tenant its stacks and their CloudFormation status, whether each deployed hash matches git (drift), and its ECS services' desired and running counts.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use serde::Serialize;
use tokio::sync::Semaphore;

use super::{
    Desired, DesiredStack, TAG_COMMIT, TAG_HASH, TAG_TENANT, needs_recreate, outputs_of, stable,
};
use crate::aws::{Aws, AwsError, LiveStack};
use crate::render::StackKind;

/// How a stack compares with git.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Sync {
    /// Deployed with the desired hash, and stable.
    InSync,
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
    fn word(self) -> &'static str {
        match self {
            Sync::InSync => "in sync",
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
        Sync::Drift => 2,
        Sync::Missing => 3,
        Sync::Orphan => 4,
        Sync::Failed => 5,
    };
    syncs.max_by_key(|s| rank(*s)).unwrap_or(Sync::InSync)
}

/// The fleet.
#[derive(Clone, Debug, Serialize)]
pub struct Status {
    pub stage: String,
    pub tenants: Vec<TenantStatus>,
    pub platform: Vec<StackStatus>,
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
        Ok(values) if stable(&l.status) && l.tags.get(TAG_HASH) == Some(&stack.hash(&values)) => {
            Sync::InSync
        }
        _ => Sync::Drift,
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
    // Live stacks git no longer wants.
    for l in live {
        if by_stack.contains_key(l.name.as_str()) || !desired.manages(&l.tags) {
            continue;
        }
        let s = StackStatus {
            stack: l.name.clone(),
            kind: super::kind_from_tags(&l.tags),
            status: Some(l.status.clone()),
            sync: Sync::Orphan,
            commit: l.tags.get(TAG_COMMIT).cloned(),
            services: Vec::new(),
            services_error: None,
        };
        match l.tags.get(TAG_TENANT) {
            Some(t) if wanted(t) => tenants
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
    let mut status = Status {
        stage: desired.stage.clone(),
        tenants: tenants.into_values().collect(),
        platform,
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
    let by_cluster = super::apply::services_of(aws, stack)
        .await
        .map_err(|e| e.to_string())?;
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

fn services_cell(s: &StackStatus) -> String {
    if let Some(e) = &s.services_error {
        return format!("unreadable: {e}");
    }
    if s.services.is_empty() {
        return "-".to_owned();
    }
    let running: i32 = s.services.iter().map(|v| v.running).sum();
    let desired: i32 = s.services.iter().map(|v| v.desired).sum();
    let mut cell = format!("{running}/{desired} tasks in {} services", s.services.len());
    let unsteady: Vec<String> = s
        .services
        .iter()
        .filter(|v| !v.steady)
        .map(|v| format!("{} {}/{}", v.name, v.running, v.desired))
        .collect();
    if !unsteady.is_empty() {
        let _ = write!(cell, " (not steady: {})", unsteady.join(", "));
    }
    cell
}

fn rows(status: &Status) -> Vec<[String; 7]> {
    let mut rows = Vec::new();
    for t in &status.tenants {
        for s in &t.stacks {
            rows.push([
                t.tenant.clone(),
                t.tier.clone().unwrap_or_else(|| "(removed)".to_owned()),
                t.state.map_or("-", crate::model::State::as_str).to_owned(),
                s.stack.clone(),
                s.status.clone().unwrap_or_else(|| "-".to_owned()),
                s.sync.word().to_owned(),
                services_cell(s),
            ]);
        }
        if t.stacks.is_empty() {
            rows.push([
                t.tenant.clone(),
                t.tier.clone().unwrap_or_default(),
                t.state.map_or("-", crate::model::State::as_str).to_owned(),
                "(no stacks)".to_owned(),
                "-".to_owned(),
                Sync::InSync.word().to_owned(),
                "-".to_owned(),
            ]);
        }
    }
    for s in &status.platform {
        rows.push([
            "(platform)".to_owned(),
            String::new(),
            String::new(),
            s.stack.clone(),
            s.status.clone().unwrap_or_else(|| "-".to_owned()),
            s.sync.word().to_owned(),
            services_cell(s),
        ]);
    }
    rows
}

const HEADER: [&str; 7] = [
    "TENANT", "TIER", "STATE", "STACK", "STATUS", "SYNC", "SERVICES",
];

/// The summary line: tenants by sync, and tasks running.
#[must_use]
pub fn summary(status: &Status) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for t in &status.tenants {
        *counts.entry(t.sync().word()).or_default() += 1;
    }
    let tenants = counts
        .iter()
        .map(|(k, v)| format!("{v} {k}"))
        .collect::<Vec<_>>()
        .join(", ");
    let stacks: Vec<&StackStatus> = status.all_stacks().collect();
    let services: Vec<&Service> = stacks.iter().flat_map(|s| s.services.iter()).collect();
    let drifted = stacks.iter().filter(|s| s.sync != Sync::InSync).count();
    format!(
        "stage `{}`: {} tenant{} ({}); {} stack{}, {} not in sync; {} of {} services steady",
        status.stage,
        status.tenants.len(),
        crate::cli::plural(status.tenants.len()),
        if tenants.is_empty() {
            "none".to_owned()
        } else {
            tenants
        },
        stacks.len(),
        crate::cli::plural(stacks.len()),
        drifted,
        services.iter().filter(|s| s.steady).count(),
        services.len()
    )
}

/// A plain-text table.
#[must_use]
pub fn human(status: &Status) -> String {
    let rows = rows(status);
    let mut widths = HEADER.map(str::len);
    for r in &rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let line = |cells: &[&str], out: &mut String| {
        let mut text = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == cells.len() {
                text.push_str(cell);
            } else {
                let _ = write!(text, "{cell:<w$}  ");
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(&HEADER, &mut out);
    for r in &rows {
        line(&r.each_ref().map(String::as_str), &mut out);
    }
    let _ = writeln!(out, "{}", summary(status));
    out
}

/// A Markdown table, for a step summary or an issue.
#[must_use]
pub fn markdown(status: &Status) -> String {
    let mut out = format!("### tenantops status\n\n{}\n\n", summary(status));
    let _ = writeln!(out, "| {} |", HEADER.join(" | "));
    let _ = writeln!(out, "|{}", " --- |".repeat(HEADER.len()));
    for r in rows(status) {
        let cells: Vec<String> = r.iter().map(|c| c.replace('|', "\\|")).collect();
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
    out
}
