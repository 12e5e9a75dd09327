//! The plan stage: desired stacks (rendered in memory, each with its desired-state hash), compared with a base revision offline or with live CloudFormation state, into a [`Plan`] of per-stack changes.
//!
//! A stack's hash covers its template, its parameters and its tags (all but
//! `tenantops:hash` and `tenantops:commit`), so a stack whose `tenantops:hash` tag
//! matches is unchanged and costs no API call beyond the listing. Offline, parameters
//! that read a producer's output are hashed as the reference; live, as the producer's
//! current output value, so a replaced producer resource updates its consumers.

pub mod apply;
pub(crate) mod bootstrap;
pub(crate) mod cmd;
pub mod events;
pub mod lock;
pub mod progress;
pub mod shard;
pub mod show;
pub mod status;

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use sha2::{Digest as _, Sha256};

use crate::aws::{LiveStack, ResourceChange};
use crate::render::{Param, Rendered, StackKind};
use crate::repo::Repo;

/// Tag: every stack tenantops manages.
pub const TAG_MANAGED: &str = "tenantops:managed";
/// Tag: the stage (`tenantops.yaml` `stage`).
pub const TAG_STAGE: &str = "tenantops:stage";
/// Tag: the desired-state hash the stack was last deployed with.
pub const TAG_HASH: &str = "tenantops:hash";
/// Tag: the commit the stack was last deployed from.
pub const TAG_COMMIT: &str = "tenantops:commit";
/// Tag: the stack's kind (`tenant`, `tier`, ...).
pub const TAG_KIND: &str = "tenantops:kind";
/// Tag: the tenant a stack belongs to.
pub const TAG_TENANT: &str = "tenantops:tenant";
/// Tag: the tier a stack belongs to.
pub const TAG_TIER: &str = "tenantops:tier";
/// The tenant label that puts a tenant's stack in a rollout wave (a number; lower first).
pub const WAVE_LABEL: &str = "wave";

/// One stack as the repository wants it.
#[derive(Clone, Debug)]
pub struct DesiredStack {
    pub name: String,
    pub kind: StackKind,
    pub tenant: Option<String>,
    pub tier: Option<String>,
    /// Rollout wave of a tenant stack (its tenant's `wave` label; 0 without one).
    pub wave: u32,
    pub template: String,
    /// The template is over the `TemplateBody` limit and goes through the artifact bucket.
    pub upload_s3: bool,
    pub parameters: BTreeMap<String, Param>,
    /// Tags without `tenantops:hash` and `tenantops:commit`.
    pub tags: BTreeMap<String, String>,
    pub depends_on: Vec<String>,
}

impl DesiredStack {
    /// A rendered stack (kept in memory) as apply deploys it, in rollout wave `wave`.
    #[must_use]
    pub fn from_rendered(s: crate::render::Stack, wave: u32) -> DesiredStack {
        DesiredStack {
            tier: s.spec.tags.get(TAG_TIER).cloned(),
            tenant: s.spec.tags.get(TAG_TENANT).cloned(),
            wave,
            template: s.template.unwrap_or_default(),
            upload_s3: s.upload == "s3",
            name: s.spec.name,
            kind: s.spec.kind,
            parameters: s.spec.parameters,
            tags: s.spec.tags,
            depends_on: s.spec.depends_on,
        }
    }

    /// The hash with parameters as written (producer outputs as references): what an
    /// offline plan compares.
    #[must_use]
    pub fn spec_hash(&self) -> String {
        digest(
            &self.template,
            &serde_json::to_string(&self.parameters).unwrap_or_default(),
            &self.tags,
        )
    }

    /// The hash with parameters resolved to values: the `tenantops:hash` tag.
    #[must_use]
    pub fn hash(&self, resolved: &BTreeMap<String, String>) -> String {
        digest(
            &self.template,
            &serde_json::to_string(resolved).unwrap_or_default(),
            &self.tags,
        )
    }

    /// Parameters with producer outputs looked up in `outputs` (stack → output →
    /// value). `Err` names the first output that is not there.
    ///
    /// # Errors
    /// `stack.output` of the first missing output.
    pub fn resolve(
        &self,
        outputs: &BTreeMap<String, BTreeMap<String, String>>,
    ) -> Result<BTreeMap<String, String>, String> {
        self.parameters
            .iter()
            .map(|(key, param)| match param {
                Param::Value { value } => Ok((key.clone(), value.clone())),
                Param::Output { stack, output } => outputs
                    .get(stack)
                    .and_then(|o| o.get(output))
                    .map(|v| (key.clone(), v.clone()))
                    .ok_or_else(|| format!("{stack}.{output}")),
            })
            .collect()
    }
}

fn digest(template: &str, params: &str, tags: &BTreeMap<String, String>) -> String {
    let mut h = Sha256::new();
    h.update(b"tenantops-hash-v1\0");
    h.update(template.as_bytes());
    h.update(b"\0");
    h.update(params.as_bytes());
    h.update(b"\0");
    for (k, v) in tags {
        if k != TAG_HASH && k != TAG_COMMIT {
            h.update(k.as_bytes());
            h.update(b"=");
            h.update(v.as_bytes());
            h.update(b"\0");
        }
    }
    h.finalize()
        .iter()
        .fold(String::with_capacity(64), |mut s, b| {
            use std::fmt::Write as _;
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// The repository's desired state.
#[derive(Debug)]
pub struct Desired {
    pub stage: String,
    /// `tenantops.yaml`'s region: the region when neither flags nor environment name one.
    pub region: String,
    /// `<prefix>-<stage>`: every stack name starts with it.
    pub base: String,
    pub artifact_bucket: Option<String>,
    pub stacks: Vec<DesiredStack>,
    /// Tenants in the repository (any state).
    pub tenants: usize,
    /// Every tenant of the repository, in id order.
    pub roster: Vec<TenantInfo>,
    /// `routing.json`: per tenant its router, header and endpoint (a producer output).
    pub routing: serde_json::Value,
}

/// A tenant as `status`, shards and provisioning events need it.
#[derive(Clone, Debug, Serialize)]
pub struct TenantInfo {
    pub id: String,
    pub name: String,
    pub tier: String,
    pub state: crate::model::State,
    /// Its tier pools tenants: it has no stack of its own, only a place in a pack.
    pub pooled: bool,
    /// The pool pack stack holding its API key and identity.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pack: Option<String>,
    pub labels: BTreeMap<String, String>,
}

impl Desired {
    /// The tenants whose stacks are dealt to shards: every tenant not in a pool tier.
    #[must_use]
    pub fn sharded(&self) -> Vec<String> {
        self.roster
            .iter()
            .filter(|t| !t.pooled)
            .map(|t| t.id.clone())
            .collect()
    }
}

impl Desired {
    /// Nothing: what a revision before tenantops wants.
    #[must_use]
    pub fn empty() -> Desired {
        Desired {
            stage: String::new(),
            region: String::new(),
            base: String::new(),
            artifact_bucket: None,
            stacks: Vec::new(),
            tenants: 0,
            roster: Vec::new(),
            routing: serde_json::Value::Null,
        }
    }

    /// The desired state of a validated, rendered repository.
    #[must_use]
    pub fn new(repo: &Repo, rendered: Rendered) -> Desired {
        let Some(platform) = repo.platform.as_ref().map(|p| &p.value) else {
            return Desired::empty();
        };
        let waves: BTreeMap<&str, u32> = repo
            .tenants
            .iter()
            .map(|t| {
                let wave = t
                    .value
                    .labels
                    .get(WAVE_LABEL)
                    .and_then(|w| w.parse().ok())
                    .unwrap_or(0);
                (t.value.id.as_str(), wave)
            })
            .collect();
        let stacks = rendered
            .stacks
            .into_iter()
            .map(|s| {
                let wave = match (s.spec.kind, s.spec.tags.get(TAG_TENANT)) {
                    (StackKind::Tenant, Some(t)) => waves.get(t.as_str()).copied().unwrap_or(0),
                    _ => 0,
                };
                DesiredStack::from_rendered(s, wave)
            })
            .collect();
        Desired {
            tenants: repo.tenants.len(),
            roster: roster(repo, platform),
            routing: rendered.routing,
            ..Desired::with_stacks(platform, stacks)
        }
    }

    /// `platform`'s stage wanting `stacks` and no tenants (the pipeline stack of
    /// `bootstrap`).
    #[must_use]
    pub fn with_stacks(platform: &crate::model::Platform, stacks: Vec<DesiredStack>) -> Desired {
        Desired {
            stage: platform.stage.clone(),
            region: platform.region.clone(),
            base: crate::naming::base(platform),
            artifact_bucket: platform.cloudformation.artifact_bucket.clone(),
            stacks,
            ..Desired::empty()
        }
    }

    /// The tenant `id`, if the repository has it (the roster is sorted by id).
    #[must_use]
    pub fn tenant(&self, id: &str) -> Option<&TenantInfo> {
        self.roster
            .binary_search_by(|t| t.id.as_str().cmp(id))
            .ok()
            .map(|i| &self.roster[i])
    }

    /// Whether a live stack's tags say it belongs to this stage and tenantops manages it.
    #[must_use]
    pub fn manages(&self, tags: &BTreeMap<String, String>) -> bool {
        tags.get(TAG_MANAGED).is_some_and(|v| v == "true")
            && tags.get(TAG_STAGE).is_some_and(|v| *v == self.stage)
    }
}

pub(crate) fn roster(repo: &Repo, platform: &crate::model::Platform) -> Vec<TenantInfo> {
    let packs = repo.lock.as_ref().map(|l| &l.value.packs);
    let mut roster: Vec<TenantInfo> = repo
        .tenants
        .iter()
        .map(|t| {
            let t = &t.value;
            TenantInfo {
                id: t.id.clone(),
                name: t.name.clone(),
                tier: t.tier.clone(),
                state: t.state,
                pooled: repo
                    .tiers
                    .get(&t.tier)
                    .is_some_and(|tier| tier.value.isolation == crate::model::Isolation::Pool),
                pack: packs
                    .and_then(|p| p.get(&t.id))
                    .map(|p| crate::naming::pack_stack(platform, &p.tier, p.pack)),
                labels: t.labels.clone(),
            }
        })
        .collect();
    roster.sort_by(|a, b| a.id.cmp(&b.id));
    roster
}

/// What happens to a stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    Create,
    Update,
    /// A stack whose create failed (`ROLLBACK_COMPLETE`): deleted, then created again.
    Recreate,
    Delete,
}

impl Action {
    /// The plan's symbol: `+` create, `~` update, `!` recreate (replace), `-` delete.
    #[must_use]
    pub fn symbol(self) -> char {
        match self {
            Action::Create => '+',
            Action::Update => '~',
            Action::Recreate => '!',
            Action::Delete => '-',
        }
    }

    #[must_use]
    pub fn word(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Recreate => "recreate",
            Action::Delete => "delete",
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
}

/// The changes a run makes, in apply order (deletions last, dependents first).
#[derive(Clone, Debug, Default, Serialize)]
pub struct Plan {
    /// `live` or `base <rev>`.
    pub against: String,
    pub changes: Vec<Change>,
    pub unchanged: usize,
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

fn change(stack: &DesiredStack, action: Action, reason: Option<String>) -> Change {
    Change {
        stack: stack.name.clone(),
        kind: stack.kind,
        tenant: stack.tenant.clone(),
        tier: stack.tier.clone(),
        wave: stack.wave,
        action,
        reason,
        resources: Vec::new(),
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
fn removal(name: &str, tags: &BTreeMap<String, String>) -> Change {
    Change {
        stack: name.to_owned(),
        kind: kind_from_tags(tags),
        tenant: tags.get(TAG_TENANT).cloned(),
        tier: tags.get(TAG_TIER).cloned(),
        wave: 0,
        action: Action::Delete,
        reason: None,
        resources: Vec::new(),
    }
}

/// Deletions go last, in reverse apply order: tenants before packs, tiers, routers and
/// the network they use.
fn order_deletions(changes: &mut [Change]) {
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

/// What a pull request changes: the work tree (or head) against the base revision,
/// offline. Parameters are compared as written.
#[must_use]
pub fn offline(head: &Desired, base: &Desired, base_rev: &str) -> Plan {
    let old: BTreeMap<&str, &DesiredStack> =
        base.stacks.iter().map(|s| (s.name.as_str(), s)).collect();
    let mut plan = Plan {
        against: format!("base {base_rev}"),
        ..Plan::default()
    };
    let mut seen = BTreeSet::new();
    for stack in &head.stacks {
        seen.insert(stack.name.as_str());
        match old.get(stack.name.as_str()) {
            None => {
                let mut c = change(stack, Action::Create, None);
                c.resources = template_resources(&stack.template);
                plan.changes.push(c);
            }
            Some(before) if before.spec_hash() != stack.spec_hash() => {
                let mut c = change(stack, Action::Update, None);
                c.resources = template_diff(&before.template, &stack.template);
                if c.resources.is_empty() {
                    c.reason = Some("parameters or tags change".to_owned());
                }
                plan.changes.push(c);
            }
            Some(_) => plan.unchanged += 1,
        }
    }
    for stack in &base.stacks {
        if !seen.contains(stack.name.as_str()) {
            plan.changes.push(removal(&stack.name, &stack.tags));
        }
    }
    order_deletions(&mut plan.changes);
    plan
}

/// The desired state against live stacks: by hash tag, without an API call. Change
/// sets for the updates are added by [`apply::describe_updates`].
#[must_use]
pub fn live(desired: &Desired, live: &[LiveStack]) -> Plan {
    let by_name: BTreeMap<&str, &LiveStack> = live.iter().map(|s| (s.name.as_str(), s)).collect();
    let outputs = outputs_of(live);
    let mut plan = Plan {
        against: "live".to_owned(),
        ..Plan::default()
    };
    let wanted: BTreeSet<&str> = desired.stacks.iter().map(|s| s.name.as_str()).collect();
    for stack in &desired.stacks {
        let current = by_name.get(stack.name.as_str());
        let resolved = stack.resolve(&outputs);
        let c = match (current, &resolved) {
            (None, _) => {
                let mut c = change(stack, Action::Create, None);
                c.resources = template_resources(&stack.template);
                c
            }
            (Some(l), _) if needs_recreate(&l.status) => change(
                stack,
                Action::Recreate,
                Some(format!("its last create failed ({})", l.status)),
            ),
            (Some(l), Ok(values)) => {
                if l.tags.get(TAG_HASH) == Some(&stack.hash(values)) && stable(&l.status) {
                    plan.unchanged += 1;
                    continue;
                }
                let reason = (!stable(&l.status)).then(|| format!("stack is {}", l.status));
                change(stack, Action::Update, reason)
            }
            (Some(_), Err(missing)) => change(
                stack,
                Action::Update,
                Some(format!("parameters known once `{missing}` is deployed")),
            ),
        };
        plan.changes.push(c);
    }
    for l in live {
        if !wanted.contains(l.name.as_str()) && desired.manages(&l.tags) {
            plan.changes.push(removal(&l.name, &l.tags));
        }
    }
    order_deletions(&mut plan.changes);
    plan
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

/// Every resource of a new stack, as adds.
fn template_resources(template: &str) -> Vec<ResourceChange> {
    resources(template)
        .into_iter()
        .map(|(logical_id, (resource_type, _))| ResourceChange {
            action: "Add".to_owned(),
            logical_id,
            resource_type,
            replacement: None,
        })
        .collect()
}

/// Resources of a template: logical id → (type, definition).
fn resources(template: &str) -> BTreeMap<String, (String, serde_json::Value)> {
    let value: serde_json::Value = serde_json::from_str(template).unwrap_or_default();
    value
        .get("Resources")
        .and_then(serde_json::Value::as_object)
        .map(|r| {
            r.iter()
                .map(|(id, def)| {
                    let ty = def
                        .get("Type")
                        .and_then(serde_json::Value::as_str)
                        .unwrap_or_default()
                        .to_owned();
                    (id.clone(), (ty, def.clone()))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Resource-level differences between two templates (offline: no replacement
/// information, which only CloudFormation knows).
fn template_diff(before: &str, after: &str) -> Vec<ResourceChange> {
    let old = resources(before);
    let new = resources(after);
    let mut out = Vec::new();
    for (id, (ty, def)) in &new {
        let action = match old.get(id) {
            None => "Add",
            Some((old_ty, _)) if old_ty != ty => {
                out.push(ResourceChange {
                    action: "Modify".to_owned(),
                    logical_id: id.clone(),
                    resource_type: ty.clone(),
                    replacement: Some("True".to_owned()),
                });
                continue;
            }
            Some((_, old_def)) if old_def != def => "Modify",
            Some(_) => continue,
        };
        out.push(ResourceChange {
            action: action.to_owned(),
            logical_id: id.clone(),
            resource_type: ty.clone(),
            replacement: None,
        });
    }
    for (id, (ty, _)) in &old {
        if !new.contains_key(id) {
            out.push(ResourceChange {
                action: "Remove".to_owned(),
                logical_id: id.clone(),
                resource_type: ty.clone(),
                replacement: None,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stack(name: &str, kind: StackKind, template: &str) -> DesiredStack {
        DesiredStack {
            name: name.to_owned(),
            kind,
            tenant: None,
            tier: None,
            wave: 0,
            template: template.to_owned(),
            upload_s3: false,
            parameters: BTreeMap::from([(
                "Vpc".to_owned(),
                Param::Output {
                    stack: "net".to_owned(),
                    output: "VpcId".to_owned(),
                },
            )]),
            tags: BTreeMap::from([(TAG_MANAGED.to_owned(), "true".to_owned())]),
            depends_on: Vec::new(),
        }
    }

    #[test]
    fn the_hash_covers_template_values_and_tags_but_not_hash_or_commit() {
        let s = stack("a", StackKind::Tenant, "{}");
        let vpc = |v: &str| BTreeMap::from([("Vpc".to_owned(), v.to_owned())]);
        let base = s.hash(&vpc("vpc-1"));
        assert_eq!(base.len(), 64);
        assert_ne!(
            base,
            s.hash(&vpc("vpc-2")),
            "a producer's new output changes it"
        );
        let mut t = s.clone();
        t.template = "{ }".to_owned();
        assert_ne!(base, t.hash(&vpc("vpc-1")));
        let mut t = s.clone();
        t.tags.insert(TAG_TIER.to_owned(), "basic".to_owned());
        assert_ne!(base, t.hash(&vpc("vpc-1")));
        let mut t = s.clone();
        t.tags.insert(TAG_COMMIT.to_owned(), "abc".to_owned());
        t.tags.insert(TAG_HASH.to_owned(), "x".to_owned());
        assert_eq!(base, t.hash(&vpc("vpc-1")));
        // Offline, the reference is hashed, not a value.
        assert_ne!(s.spec_hash(), base);
    }

    #[test]
    fn resolve_names_the_missing_output() {
        let s = stack("a", StackKind::Tenant, "{}");
        assert_eq!(s.resolve(&BTreeMap::new()), Err("net.VpcId".to_owned()));
        let outputs = BTreeMap::from([(
            "net".to_owned(),
            BTreeMap::from([("VpcId".to_owned(), "vpc-9".to_owned())]),
        )]);
        assert_eq!(
            s.resolve(&outputs).ok().and_then(|r| r.get("Vpc").cloned()),
            Some("vpc-9".to_owned())
        );
    }

    #[test]
    fn live_plan_uses_the_hash_tag_and_orders_deletions_last_dependents_first() {
        let desired = Desired {
            stage: "prod".to_owned(),
            region: "us-east-1".to_owned(),
            base: "saas-prod".to_owned(),
            artifact_bucket: None,
            stacks: vec![
                stack("same", StackKind::Tenant, "{}"),
                stack("changed", StackKind::Tenant, "{}"),
                stack("failed", StackKind::Tenant, "{}"),
                stack(
                    "new",
                    StackKind::Tenant,
                    "{\"Resources\":{\"A\":{\"Type\":\"T\"}}}",
                ),
            ],
            tenants: 4,
            roster: Vec::new(),
            routing: serde_json::Value::Null,
        };
        let outputs = BTreeMap::from([("VpcId".to_owned(), "vpc-1".to_owned())]);
        let hash =
            desired.stacks[0].hash(&BTreeMap::from([("Vpc".to_owned(), "vpc-1".to_owned())]));
        let listed = |name: &str, status: &str, hash: &str, kind: &str| LiveStack {
            name: name.to_owned(),
            status: status.to_owned(),
            reason: None,
            tags: BTreeMap::from([
                (TAG_MANAGED.to_owned(), "true".to_owned()),
                (TAG_STAGE.to_owned(), "prod".to_owned()),
                (TAG_HASH.to_owned(), hash.to_owned()),
                (TAG_KIND.to_owned(), kind.to_owned()),
            ]),
            outputs: BTreeMap::new(),
        };
        let mut net = listed("net", "CREATE_COMPLETE", "", "network");
        net.outputs = outputs;
        let mut other_stage = listed("elsewhere", "CREATE_COMPLETE", "", "tenant");
        other_stage
            .tags
            .insert(TAG_STAGE.to_owned(), "dev".to_owned());
        let plan = live(
            &desired,
            &[
                net,
                listed("same", "UPDATE_COMPLETE", &hash, "tenant"),
                listed("changed", "UPDATE_COMPLETE", "old", "tenant"),
                listed("failed", "ROLLBACK_COMPLETE", &hash, "tenant"),
                listed("gone-tenant", "CREATE_COMPLETE", "x", "tenant"),
                other_stage,
            ],
        );
        let got: Vec<(&str, Action)> = plan
            .changes
            .iter()
            .map(|c| (c.stack.as_str(), c.action))
            .collect();
        assert_eq!(
            got,
            vec![
                ("changed", Action::Update),
                ("failed", Action::Recreate),
                ("new", Action::Create),
                ("gone-tenant", Action::Delete),
                ("net", Action::Delete),
            ]
        );
        assert_eq!(plan.unchanged, 1);
    }

    #[test]
    fn a_removed_stack_keeps_the_kind_its_tag_names() {
        for kind in [
            StackKind::Network,
            StackKind::Router,
            StackKind::UsagePlans,
            StackKind::Tier,
            StackKind::Pack,
            StackKind::Tenant,
        ] {
            // As `render::plan` writes the tag.
            let tag = serde_json::to_value(kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            let tags = BTreeMap::from([(TAG_KIND.to_owned(), tag)]);
            assert_eq!(removal("s", &tags).kind, kind);
        }
        assert_eq!(removal("s", &BTreeMap::new()).kind, StackKind::Tenant);
    }

    #[test]
    fn offline_diff_names_modified_added_removed_and_retyped_resources() {
        let before = r#"{"Resources":{"A":{"Type":"T1","Properties":{"X":1}},"B":{"Type":"T2"},"C":{"Type":"T3"}}}"#;
        let after = r#"{"Resources":{"A":{"Type":"T1","Properties":{"X":2}},"B":{"Type":"T9"},"D":{"Type":"T4"}}}"#;
        let diff: Vec<(String, String, Option<String>)> = template_diff(before, after)
            .into_iter()
            .map(|r| (r.logical_id, r.action, r.replacement))
            .collect();
        assert_eq!(
            diff,
            vec![
                ("A".to_owned(), "Modify".to_owned(), None),
                ("B".to_owned(), "Modify".to_owned(), Some("True".to_owned())),
                ("D".to_owned(), "Add".to_owned(), None),
                ("C".to_owned(), "Remove".to_owned(), None),
            ]
        );
    }
}
