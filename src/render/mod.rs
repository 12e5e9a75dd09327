//! The render stage: a validated repository → CloudFormation templates (canonical JSON), their parameters and tags, nginx router configs, `routing.json` and `usage-plans.json`.
//!
//! Rendering is a pure function of the repository: no network, no clock, no
//! randomness, so the output is byte-identical across runs and between the work tree
//! and `--rev` of the same commit. Each file goes to a [`Staging`] directory as it is
//! rendered, and replaces the output only once everything rendered and passed the
//! CloudFormation quota checks; without a staging directory the render is only
//! checked (`validate --render`).

pub mod engine;
pub mod json;
pub mod pipeline;
pub mod plan;
pub mod write;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::diag::Diagnostic;
use crate::repo::{Repo, parallel_map};
pub use engine::Engine;
pub use pipeline::render_pipeline;
pub use plan::{Param, StackKind, StackSpec};
pub use write::Staging;

/// CloudFormation's limits that a rendered stack must fit.
pub mod quota {
    /// Resources per stack.
    pub const RESOURCES: usize = 500;
    /// Parameters per stack.
    pub const PARAMETERS: usize = 200;
    /// Outputs per stack.
    pub const OUTPUTS: usize = 200;
    /// `TemplateBody` bytes; larger templates must go through S3 (`TemplateURL`).
    pub const BODY_BYTES: usize = 51_200;
    /// `TemplateURL` bytes.
    pub const URL_BYTES: usize = 1_000_000;
}

/// One rendered stack (the template itself is already on disk, or was only checked).
#[derive(Debug)]
pub struct Stack {
    pub spec: StackSpec,
    pub template_bytes: usize,
    pub resources: usize,
    /// How apply hands the template to CloudFormation: `body`, or `s3` through the
    /// artifact bucket when it is over the `TemplateBody` limit.
    pub upload: &'static str,
    /// The canonical template, kept only by [`render_in_memory`] (plan and apply).
    pub template: Option<String>,
}

impl Serialize for Stack {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        StackRef {
            spec: &self.spec,
            template_bytes: self.template_bytes,
            resources: self.resources,
            upload: self.upload,
        }
        .serialize(s)
    }
}

/// What `stacks/<name>.params.json` (and the JSON summary) says of a stack: its spec
/// (parameters, tags, dependencies) and how its template goes to CloudFormation.
#[derive(Serialize)]
struct StackRef<'a> {
    #[serde(flatten)]
    spec: &'a StackSpec,
    template_bytes: usize,
    resources: usize,
    upload: &'static str,
}

/// How apply hands a template of `bytes` to CloudFormation.
fn upload(bytes: usize) -> &'static str {
    if bytes > quota::BODY_BYTES {
        "s3"
    } else {
        "body"
    }
}

/// Everything `tenantops render` produces.
#[derive(Debug, Default)]
pub struct Rendered {
    pub stacks: Vec<Stack>,
    /// Owners (tenant ids, pool tiers) of the router configs `nginx/<owner>.conf`.
    pub nginx: Vec<String>,
    pub routing: serde_json::Value,
    pub usage_plans: serde_json::Value,
    pub offboarding: Vec<String>,
}

/// Renders `repo` (which must have passed validation). `only` limits tenant-owned
/// output to those tenants. Each file goes to `staging` as soon as it is rendered
/// (nothing is kept in memory); without staging the render is only checked, as
/// `validate` does.
///
/// # Errors
/// Template errors and CloudFormation quota violations, as located diagnostics.
pub fn render(
    repo: &Repo,
    only: Option<&[String]>,
    staging: Option<&Staging>,
) -> Result<Rendered, Vec<Diagnostic>> {
    render_into(repo, only, staging, false)
}

/// Renders `repo` keeping every template in memory ([`Stack::template`]): what plan
/// and apply compare and deploy. Nothing is written.
///
/// # Errors
/// As [`render`].
pub fn render_in_memory(repo: &Repo) -> Result<Rendered, Vec<Diagnostic>> {
    render_into(repo, None, None, true)
}

/// Like [`render_in_memory`], limited to what `only` tenants own when given (a shard
/// of a sharded plan or apply renders its own tenants' stacks only).
///
/// # Errors
/// As [`render`].
pub fn render_in_memory_only(
    repo: &Repo,
    only: Option<&[String]>,
) -> Result<Rendered, Vec<Diagnostic>> {
    render_into(repo, only, None, true)
}

fn render_into(
    repo: &Repo,
    only: Option<&[String]>,
    staging: Option<&Staging>,
    keep: bool,
) -> Result<Rendered, Vec<Diagnostic>> {
    let engine = Engine::new(repo)?;
    let plan = plan::plan(repo, only);
    let mut diags = Vec::new();

    // Router configs first: a workload's rproxy carries its config.
    let configs = parallel_map(&plan.nginx, |config| -> Result<String, Box<Diagnostic>> {
        let text = engine.render_text("nginx.conf.j2", &config.context)?;
        if let Some(staging) = staging {
            staging.put(&format!("nginx/{}.conf", config.owner), text.as_bytes());
        }
        Ok(text)
    });
    let mut nginx = Vec::with_capacity(configs.len());
    for (config, result) in plan.nginx.iter().zip(configs) {
        match result {
            Ok(text) => nginx.push((config.owner.clone(), text)),
            Err(d) => {
                diags.push(*d);
                nginx.push((config.owner.clone(), String::new()));
            }
        }
    }
    if !diags.is_empty() {
        return Err(collapse_repeats(diags));
    }

    let bucket = repo
        .platform
        .as_ref()
        .and_then(|p| p.value.cloudformation.artifact_bucket.clone());
    let results = parallel_map(&plan.stacks, |spec| {
        render_stack(&engine, spec, &nginx, bucket.is_some()).map(
            |(template, resources, problems)| {
                if let Some(staging) = staging {
                    staging.put(&format!("stacks/{}.json", spec.name), template.as_bytes());
                    let described = StackRef {
                        spec,
                        template_bytes: template.len(),
                        resources,
                        upload: upload(template.len()),
                    };
                    staging.put(
                        &format!("stacks/{}.params.json", spec.name),
                        &write::pretty(serde_json::to_value(described).unwrap_or_default()),
                    );
                }
                (
                    template.len(),
                    keep.then_some(template),
                    resources,
                    problems,
                )
            },
        )
    });
    let mut stacks = Vec::with_capacity(plan.stacks.len());
    for (spec, result) in plan.stacks.into_iter().zip(results) {
        match result {
            Ok((template_bytes, template, resources, problems)) => {
                diags.extend(
                    problems
                        .into_iter()
                        .map(|(code, m)| quota_diag(repo, &spec, code, m)),
                );
                stacks.push(Stack {
                    spec,
                    template_bytes,
                    resources,
                    upload: upload(template_bytes),
                    template,
                });
            }
            Err(d) => diags.push(*d),
        }
    }
    if only.is_none() {
        diags.extend(stack_quota(repo, stacks.len()));
    }
    if !diags.is_empty() {
        return Err(collapse_repeats(diags));
    }
    Ok(Rendered {
        stacks,
        nginx: nginx.into_iter().map(|(owner, _)| owner).collect(),
        routing: plan.routing,
        usage_plans: plan.usage_plans,
        offboarding: plan.offboarding,
    })
}

/// A template error repeats for every stack the template renders, and a catalog change
/// can put every tenant stack over the same CloudFormation limit: report each kind of
/// problem once (at the first stack it hit), saying how many more stacks it hit.
fn collapse_repeats(diags: Vec<Diagnostic>) -> Vec<Diagnostic> {
    let mut first: BTreeMap<(&'static str, Option<String>, String), usize> = BTreeMap::new();
    let mut more: Vec<usize> = vec![0; diags.len()];
    let mut kept = Vec::new();
    for (i, d) in diags.iter().enumerate() {
        let key = if d.code.starts_with("template-") {
            // A minijinja error's message is the same for every stack; the others name
            // the stack, so their kind is the code.
            let message = if d.code == "template-error" {
                d.message.clone()
            } else {
                String::new()
            };
            Some((d.code, d.file.clone(), message))
        } else if d.code.starts_with("stack-") && d.code != "stack-quota" {
            // Per-stack limits: one report per kind of limit and kind of manifest
            // (tenants, tiers), whichever tenant's or tier's file.
            let folder = d
                .file
                .as_deref()
                .and_then(|f| f.rsplit_once('/'))
                .map(|(dir, _)| dir.to_owned());
            Some((d.code, folder, String::new()))
        } else {
            None
        };
        if let Some(key) = key {
            if let Some(&at) = first.get(&key) {
                more[at] += 1;
                continue;
            }
            first.insert(key, i);
        }
        kept.push(i);
    }
    let mut diags: Vec<Option<Diagnostic>> = diags.into_iter().map(Some).collect();
    kept.into_iter()
        .filter_map(|i| {
            let mut d = diags[i].take()?;
            if more[i] > 0 {
                let n = more[i];
                let stacks = if n == 1 { "stack" } else { "stacks" };
                d.message = if d.code.starts_with("template-") {
                    format!("{} (and the same in {n} more {stacks})", d.message)
                } else {
                    format!("{} (and {n} more {stacks} over the same limit)", d.message)
                };
            }
            Some(d)
        })
        .collect()
}

/// A stack over a CloudFormation limit: the diagnostic code and the message.
type Problem = (&'static str, String);

/// Renders one stack: its canonical JSON, resource count, and quota problems.
fn render_stack(
    engine: &Engine,
    spec: &StackSpec,
    nginx: &[(String, String)],
    bucket: bool,
) -> Result<(String, usize, Vec<Problem>), Box<Diagnostic>> {
    let name = engine.resolve(spec.kind.template());
    let name = name.as_str();
    let ctx = match spec.nginx {
        Some(i) => minijinja::context! {
            nginx_conf => nginx.get(i).map_or("", |(_, c)| c.as_str()),
            ..spec.context.clone()
        },
        None => spec.context.clone(),
    };
    let value = engine.render_template(name, &spec.name, &ctx)?;
    let declared = value
        .get("Parameters")
        .and_then(serde_json::Value::as_object);
    for key in spec.parameters.keys() {
        if !declared.is_some_and(|d| d.contains_key(key)) {
            return Err(Box::new(engine.at_template(
                "template-parameter-missing",
                name,
                format!("`{name}` does not declare parameter `{key}`, which tenantops passes to stack `{}`", spec.name),
            )));
        }
    }
    for (key, decl) in declared.into_iter().flatten() {
        if decl.get("Default").is_none() && !spec.parameters.contains_key(key) {
            return Err(Box::new(engine.at_template(
                "template-parameter-unset",
                name,
                format!("`{name}` declares parameter `{key}` without a `Default`, and tenantops passes no value for it to stack `{}`", spec.name),
            ).help("give it a `Default`, or remove it")));
        }
    }
    let mut value = value;
    json::canonical(&mut value);
    let mut bytes = Vec::with_capacity(16 * 1024);
    let _ = serde_json::to_writer(&mut bytes, &value);
    // serde_json writes UTF-8.
    let template = String::from_utf8(bytes).unwrap_or_default();
    let count = |key: &str| {
        value
            .get(key)
            .and_then(serde_json::Value::as_object)
            .map_or(0, serde_json::Map::len)
    };
    let resources = count("Resources");
    let mut problems = Vec::new();
    if resources > quota::RESOURCES {
        problems.push((
            "stack-resources",
            format!(
                "stack `{}` would have {resources} resources, over CloudFormation's {} per stack",
                spec.name,
                quota::RESOURCES
            ),
        ));
    }
    for (key, limit, code) in [
        ("Parameters", quota::PARAMETERS, "stack-parameters"),
        ("Outputs", quota::OUTPUTS, "stack-outputs"),
    ] {
        let n = count(key);
        if n > limit {
            problems.push((
                code,
                format!(
                    "stack `{}` would have {n} {}, over CloudFormation's {limit} per stack",
                    spec.name,
                    key.to_lowercase()
                ),
            ));
        }
    }
    let bytes = template.len();
    if bytes > quota::URL_BYTES || (bytes > quota::BODY_BYTES && !bucket) {
        problems.push(("stack-template-size", if bucket {
            format!(
                "stack `{}`'s template is {bytes} bytes, over CloudFormation's {} for a template in S3",
                spec.name,
                quota::URL_BYTES
            )
        } else {
            format!(
                "stack `{}`'s template is {bytes} bytes, over CloudFormation's {}-byte `TemplateBody`, and `cloudformation.artifact_bucket` is not set",
                spec.name,
                quota::BODY_BYTES
            )
        }));
    }
    Ok((template, resources, problems))
}

fn quota_diag(repo: &Repo, spec: &StackSpec, code: &'static str, message: String) -> Diagnostic {
    let node = if spec.origin == crate::load::PLATFORM_FILE {
        repo.platform.as_ref().map(|d| &d.node)
    } else if spec.origin == crate::load::LOCK_FILE {
        repo.lock.as_ref().map(|d| &d.node)
    } else if let Ok(i) = repo
        .tenants
        .binary_search_by(|t| t.file.as_str().cmp(&spec.origin))
    {
        // Tenants are in file-name order.
        Some(&repo.tenants[i].node)
    } else {
        repo.tiers
            .values()
            .find(|t| t.file == spec.origin)
            .map(|t| &t.node)
    };
    let help = "set `cloudformation.artifact_bucket` for large templates; split what the stack holds (fewer services per tier, fewer tenants per shard)";
    match node {
        Some(node) => Diagnostic::error(code, &spec.origin, node.span_of(&spec.pointer), message),
        None => Diagnostic::unlocated(code, Some(&spec.origin), message),
    }
    .help(help)
}

/// The fleet's stack count against the region's quota, counted without rendering:
/// what `validate` checks on every run.
#[must_use]
pub fn fleet_quotas(repo: &Repo) -> Vec<Diagnostic> {
    stack_quota(repo, plan::stack_count(repo))
}

/// `count` stacks against the region's quota.
fn stack_quota(repo: &Repo, count: usize) -> Vec<Diagnostic> {
    let mut diags = Vec::new();
    let Some(platform) = &repo.platform else {
        return diags;
    };
    let quota = platform.value.cloudformation.stack_quota as usize;
    if count > quota {
        diags.push(
            Diagnostic::error(
                "stack-quota",
                &platform.file,
                platform.node.span_of("/cloudformation/stack_quota"),
                format!("the fleet needs {count} CloudFormation stacks, over `cloudformation.stack_quota: {quota}`"),
            )
            .help("raise \"Stack count\" in Service Quotas, then `cloudformation.stack_quota` here; each bridge or silo tenant is one stack"),
        );
    }
    diags
}
