//! Desired state: each stack as the repository wants it (template, parameters, tags, wave) with its desired-state hash, and the fleet's tenant roster.

use std::collections::BTreeMap;

use serde::Serialize;
use sha2::{Digest as _, Sha256};

use super::{
    TAG_COMMIT, TAG_HASH, TAG_MANAGED, TAG_STAGE, TAG_STEADY, TAG_TENANT, TAG_TIER, TAG_VERSION,
};
use crate::render::Rendered;
use crate::repo::Repo;
use crate::stacks::{Param, StackKind};

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
    /// Empty for a stack an offline plan did not render, its inputs being the same
    /// on both sides ([`DesiredStack::inputs`]).
    pub template: String,
    /// The digest of what the template is rendered from (`render::inputs`); empty
    /// when unknown.
    pub inputs: String,
    /// The template is over the `TemplateBody` limit and goes through the artifact bucket.
    pub upload_s3: bool,
    pub parameters: BTreeMap<String, Param>,
    /// Tags without `tenantops:hash` and `tenantops:commit`.
    pub tags: BTreeMap<String, String>,
    pub depends_on: Vec<String>,
}

impl DesiredStack {
    /// The manifest the stack comes from (`tenants/<id>.yaml`, `tiers/<tier>.yaml`,
    /// `tenantops.yaml`): where a refusal about it is located.
    #[must_use]
    pub fn manifest(&self) -> String {
        match (self.kind, &self.tenant, &self.tier) {
            (StackKind::Tenant, Some(t), _) => format!("{}/{t}.yaml", crate::load::TENANTS_DIR),
            (_, _, Some(tier)) => format!("tiers/{tier}.yaml"),
            _ => crate::load::PLATFORM_FILE.to_owned(),
        }
    }

    /// A rendered stack (kept in memory) as apply deploys it, in rollout wave `wave`.
    #[must_use]
    pub fn from_rendered(s: crate::render::Stack, wave: u32) -> DesiredStack {
        DesiredStack {
            tier: s.spec.tags.get(TAG_TIER).cloned(),
            tenant: s.spec.tags.get(TAG_TENANT).cloned(),
            wave,
            template: s.template.unwrap_or_default(),
            inputs: s.inputs,
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

    /// Whether the stack runs ECS services that an apply waits to be steady: a tenant
    /// or tier stack whose template has an `AWS::ECS::Service`.
    #[must_use]
    pub fn has_services(&self) -> bool {
        matches!(self.kind, StackKind::Tenant | StackKind::Tier)
            && self.template.contains("\"AWS::ECS::Service\"")
    }

    /// Whether a live stack deployed at `hash` (with `tags`) still waits for its
    /// services to be seen steady: its steadiness tag is there and names another hash
    /// (or [`super::STEADY_PENDING`]).
    #[must_use]
    pub fn awaits_steady(&self, tags: &BTreeMap<String, String>, hash: &str) -> bool {
        self.has_services() && tags.get(TAG_STEADY).is_some_and(|v| v != hash)
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
                Param::Output { stack, output } => {
                    output_of(outputs, stack, output).map(|v| (key.clone(), v.to_owned()))
                }
                Param::Outputs { outputs: refs } => refs
                    .iter()
                    .map(|r| output_of(outputs, &r.stack, &r.output))
                    .collect::<Result<Vec<_>, _>>()
                    .map(|values| (key.clone(), values.join(","))),
            })
            .collect()
    }
}

/// Output `output` of producer `stack`, or `stack.output` when it is not there.
fn output_of<'a>(
    outputs: &'a BTreeMap<String, BTreeMap<String, String>>,
    stack: &str,
    output: &str,
) -> Result<&'a str, String> {
    outputs
        .get(stack)
        .and_then(|o| o.get(output))
        .map(String::as_str)
        .ok_or_else(|| format!("{stack}.{output}"))
}

fn digest(template: &str, params: &str, tags: &BTreeMap<String, String>) -> String {
    let mut h = Sha256::new();
    h.update(b"tenantops-hash-v1\0");
    h.update(template.as_bytes());
    h.update(b"\0");
    h.update(params.as_bytes());
    h.update(b"\0");
    for (k, v) in tags {
        if ![TAG_HASH, TAG_COMMIT, TAG_STEADY, TAG_VERSION].contains(&k.as_str()) {
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
    /// `cloudformation.service_role_arn`: the `RoleARN` of every stack call.
    pub service_role: Option<String>,
    /// `tenantops:` of `tenantops.yaml`: the versions the repository is written for.
    pub pin: Option<String>,
    pub stacks: Vec<DesiredStack>,
    /// Tenants in the repository (any state).
    pub tenants: usize,
    /// Every tenant of the repository, in id order.
    pub roster: Vec<TenantInfo>,
    /// `routing.json`: per tenant its router, header and endpoint (a producer output).
    pub routing: serde_json::Value,
    /// When `stacks` is one part of the fleet (`apply --shard`), the name of every
    /// stack of the whole fleet: what the deletion guards count a change's deletions
    /// against (`fleet_deletions`).
    pub fleet: Option<std::collections::HashSet<String>>,
    /// What the repository spends of each AWS quota (`quotas::all`, stacks first):
    /// the headroom a plan shows.
    pub quotas: Vec<crate::quotas::Use>,
}

/// A tenant as `status`, shards and provisioning events need it.
#[derive(Clone, Debug, Serialize)]
pub struct TenantInfo {
    pub id: String,
    pub name: String,
    /// Its first admin user's email.
    pub email: String,
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
            service_role: None,
            pin: None,
            stacks: Vec::new(),
            tenants: 0,
            roster: Vec::new(),
            routing: serde_json::Value::Null,
            fleet: None,
            quotas: Vec::new(),
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
            quotas: crate::quotas::all(repo),
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
            service_role: platform.cloudformation.service_role_arn.clone(),
            pin: platform.tenantops.clone(),
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

    /// The live stacks of this stage that the whole change deletes: those the whole
    /// fleet no longer has, whichever part this desired state is.
    #[must_use]
    pub fn fleet_deletions<'a>(&self, live: &'a [crate::aws::LiveStack]) -> Vec<&'a str> {
        let wanted: std::collections::HashSet<&str> = match &self.fleet {
            Some(all) => all.iter().map(String::as_str).collect(),
            None => self.stacks.iter().map(|s| s.name.as_str()).collect(),
        };
        live.iter()
            .filter(|l| self.manages(&l.tags) && !wanted.contains(l.name.as_str()))
            .map(|l| l.name.as_str())
            .collect()
    }

    /// Whether a live stack's tags say it belongs to this stage and tenantops manages it.
    #[must_use]
    pub fn manages(&self, tags: &BTreeMap<String, String>) -> bool {
        manages(&self.stage, tags)
    }
}

/// Whether a live stack's tags say it belongs to `stage` and tenantops manages it.
#[must_use]
pub fn manages(stage: &str, tags: &BTreeMap<String, String>) -> bool {
    tags.get(TAG_MANAGED).is_some_and(|v| v == "true")
        && tags.get(TAG_STAGE).is_some_and(|v| v == stage)
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
                email: t.admin_email.clone(),
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
