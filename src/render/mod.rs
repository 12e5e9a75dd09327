//! The render stage: a validated repository → CloudFormation templates (canonical JSON), their parameters and tags, nginx router configs, `routing.json` and `usage-plans.json`.
//!
//! Rendering is a pure function of the repository: no network, no clock, no
//! randomness, so the output is byte-identical across runs and between the work tree
//! and `--rev` of the same commit. Each file goes to a [`Staging`] directory as it is
//! rendered, and replaces the output only once everything rendered and passed the
//! CloudFormation quota checks; without a staging directory the render is only
//! checked (`validate --render`).

mod canon;
pub mod engine;
pub mod inputs;
pub mod json;
pub mod quota;
mod stack;
pub mod write;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::diag::Diagnostic;
use crate::repo::{Repo, parallel_map};
use crate::stacks::{self, StackSpec};
pub use engine::Engine;
pub use quota::stack_quota;
use stack::{render_stack, upload};
pub use write::Staging;

/// One rendered stack (the template itself is already on disk, or was only checked).
#[derive(Debug)]
pub struct Stack {
    pub spec: StackSpec,
    pub template_bytes: usize,
    pub resources: usize,
    /// How apply hands the template to CloudFormation: `body`, or `s3` through the
    /// artifact bucket when it is over the `TemplateBody` limit.
    pub upload: &'static str,
    /// The canonical template, kept only by [`render_in_memory`] (plan and apply), and
    /// not by a render that skipped the stack ([`Prepared::render`]).
    pub template: Option<String>,
    /// The digest of what the stack is rendered from ([`inputs`]).
    pub inputs: String,
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

/// Everything `tenantops render` produces.
#[derive(Debug, Default)]
pub struct Rendered {
    pub stacks: Vec<Stack>,
    /// Owners (tenant ids, pool tiers) of the router configs `nginx/<owner>.conf`.
    pub nginx: Vec<String>,
    pub routing: serde_json::Value,
    pub usage_plans: serde_json::Value,
    pub offboarding: Vec<String>,
    /// Each file's input digest, for the output's marker.
    pub index: inputs::Index,
    /// Stacks not rendered, their inputs being unchanged ([`Prepared::render`]).
    pub skipped: usize,
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
    let prepared = Prepared::new(repo, only)?;
    match staging {
        // A stack the previous render recorded with the same inputs is linked from it.
        Some(staging) => prepared.render(Some(staging), keep, &|spec, digest| {
            let (was, bytes, resources) = staging.previous_index().stacks.get(&spec.name)?;
            let json = format!("stacks/{}.json", spec.name);
            let params = format!("stacks/{}.params.json", spec.name);
            (was == digest && staging.link_previous(&[(&json, Some(*bytes)), (&params, None)]))
                .then_some((*bytes, *resources))
        }),
        None => prepared.render(None, keep, &|_, _| None),
    }
}

/// Decides, for a stack and its input digest, whether to skip rendering it: `Some`
/// with its template's size and resource count (as known from before) to skip.
pub type Skip<'a> = dyn Fn(&StackSpec, &str) -> Option<(usize, usize)> + Sync + 'a;

/// A repository's stacks and router configs, ready to render, with the digest of each
/// one's inputs ([`inputs`]).
pub struct Prepared<'r> {
    repo: &'r Repo,
    engine: Engine,
    set: stacks::StackSet,
    only: bool,
    bucket: bool,
    /// Per stack of `set`, its input digest.
    digests: Vec<String>,
    /// Per router config of `set`, its input digest.
    config_digests: Vec<String>,
}

impl<'r> Prepared<'r> {
    /// Loads the templates and builds the stack set of `repo` (validated), limited to
    /// what `only` tenants own when given.
    ///
    /// # Errors
    /// Templates that do not compile, located.
    pub fn new(repo: &'r Repo, only: Option<&[String]>) -> Result<Prepared<'r>, Vec<Diagnostic>> {
        let engine = Engine::new(repo)?;
        let mut set = stacks::build(repo, only);
        let bucket = repo
            .platform
            .as_ref()
            .is_some_and(|p| p.value.cloudformation.artifact_bucket.is_some());
        link_revisions(&engine, &mut set, bucket);
        let digester = inputs::Digester::new(&engine, bucket);
        let config_digests: Vec<String> = parallel_map(&set.nginx, |c| digester.config(c));
        let digests = parallel_map(&set.stacks, |spec| {
            let template = engine.resolve(spec.kind.template());
            let config = spec.nginx.and_then(|i| config_digests.get(i));
            digester.stack(spec, &template, config.map(String::as_str))
        });
        Ok(Prepared {
            repo,
            engine,
            set,
            only: only.is_some(),
            bucket,
            digests,
            config_digests,
        })
    }

    /// Each stack's name and input digest.
    pub fn digests(&self) -> impl Iterator<Item = (&str, &str)> {
        self.set
            .stacks
            .iter()
            .zip(&self.digests)
            .map(|(s, d)| (s.name.as_str(), d.as_str()))
    }

    /// Renders every stack `skip` does not skip (each file to `staging` as it is done;
    /// `keep` keeps the templates in memory) and the router configs those stacks or
    /// the output need. A skipped stack is in the result without a template.
    ///
    /// # Errors
    /// Template errors and CloudFormation quota violations, as located diagnostics.
    pub fn render(
        self,
        staging: Option<&Staging>,
        keep: bool,
        skip: &Skip<'_>,
    ) -> Result<Rendered, Vec<Diagnostic>> {
        let Prepared {
            repo,
            engine,
            set,
            only,
            bucket,
            digests,
            config_digests,
        } = self;
        let skipped: Vec<Option<(usize, usize)>> = parallel_map(
            &set.stacks.iter().zip(&digests).collect::<Vec<_>>(),
            |(spec, digest)| skip(spec, digest),
        );
        // Router configs first: a workload's rproxy carries its config. One is rendered
        // when a stack to render carries it, or it cannot be linked from before.
        let mut needed = vec![false; set.nginx.len()];
        for (spec, skipped) in set.stacks.iter().zip(&skipped) {
            if let (Some(i), None) = (spec.nginx, skipped)
                && let Some(n) = needed.get_mut(i)
            {
                *n = true;
            }
        }
        let nginx = render_configs(&engine, &set.nginx, &config_digests, &needed, staging)?;

        let work: Vec<(&StackSpec, bool)> = set
            .stacks
            .iter()
            .zip(&skipped)
            .map(|(spec, s)| (spec, s.is_none()))
            .collect();
        let results = parallel_map(&work, |&(spec, render)| {
            render
                .then(|| render_one(&engine, spec, &nginx, bucket, staging, keep))
                .transpose()
        });
        let mut diags = Vec::new();
        let mut stacks = Vec::with_capacity(set.stacks.len());
        let mut index = inputs::Index::default();
        let skipped_count = skipped.iter().filter(|s| s.is_some()).count();
        for (((spec, result), skipped), digest) in set
            .stacks
            .into_iter()
            .zip(results)
            .zip(skipped)
            .zip(digests)
        {
            let (template_bytes, template, resources) = match (result, skipped) {
                (Ok(Some((bytes, template, resources, problems))), _) => {
                    diags.extend(
                        problems
                            .into_iter()
                            .map(|(code, m)| quota::quota_diag(repo, &spec, code, m)),
                    );
                    (bytes, template, resources)
                }
                (Ok(None), Some((bytes, resources))) => (bytes, None, resources),
                (Ok(None), None) => (0, None, 0),
                (Err(d), _) => {
                    diags.push(*d);
                    continue;
                }
            };
            index.stacks.insert(
                spec.name.clone(),
                (digest.clone(), template_bytes, resources),
            );
            stacks.push(Stack {
                spec,
                template_bytes,
                resources,
                upload: upload(template_bytes),
                template,
                inputs: digest,
            });
        }
        if !only {
            diags.extend(quota::stack_quota(repo, stacks.len()));
        }
        if !diags.is_empty() {
            return Err(collapse_repeats(diags));
        }
        index.configs = set
            .nginx
            .iter()
            .map(|c| c.owner.clone())
            .zip(config_digests)
            .collect();
        Ok(Rendered {
            stacks,
            nginx: nginx.into_iter().map(|(owner, _)| owner).collect(),
            routing: set.routing,
            usage_plans: set.usage_plans,
            offboarding: set.offboarding,
            index,
            skipped: skipped_count,
        })
    }
}

/// Gives each router that reaches its ALB through a link stack's NLB and VPC link a
/// digest of that link stack as rendered (its template and parameters), as
/// `link_revision`. The router's template puts it where its API deployment's digest
/// sees it, so that a change that could replace the shared NLB or VPC link also gives
/// the router's stage a new deployment: a stage keeps serving the integrations of the
/// deployment it was given, and those name the old VPC link. (A link template that does
/// not render leaves the revision empty; the render reports it.)
pub(super) fn link_revisions(engine: &Engine, set: &mut stacks::StackSet, bucket: bool) {
    use sha2::{Digest as _, Sha256};
    let links: std::collections::BTreeMap<String, String> = set
        .stacks
        .iter()
        .filter(|s| s.kind == stacks::StackKind::Link)
        .map(|s| {
            let mut h = Sha256::new();
            if let Ok((template, _, _)) = render_stack(engine, s, &[], bucket) {
                h.update(template.as_bytes());
                h.update(b"\0");
                h.update(serde_json::to_string(&s.parameters).unwrap_or_default());
            }
            let digest = h.finalize();
            let hex = digest.iter().take(8).fold(String::new(), |mut out, b| {
                use std::fmt::Write as _;
                let _ = write!(out, "{b:02x}");
                out
            });
            (s.name.clone(), hex)
        })
        .collect();
    for spec in &mut set.stacks {
        if let Some(stacks::Param::Output { stack, .. }) = spec.parameters.get("VpcLinkId")
            && let Some(revision) = links.get(stack)
        {
            spec.context = minijinja::context! {
                link_revision => revision,
                ..spec.context.clone()
            };
        }
    }
}

/// What rendering one stack gave: template bytes, the template (when kept), resources
/// and the CloudFormation limits it breaks.
type Done = (usize, Option<String>, usize, Vec<quota::Problem>);

/// Renders stack `spec`, its files to `staging` when there is one.
fn render_one(
    engine: &Engine,
    spec: &StackSpec,
    nginx: &[(String, String)],
    bucket: bool,
    staging: Option<&Staging>,
    keep: bool,
) -> Result<Done, Box<Diagnostic>> {
    let (template, resources, problems) = render_stack(engine, spec, nginx, bucket)?;
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
    Ok((
        template.len(),
        keep.then_some(template),
        resources,
        problems,
    ))
}

/// Renders the router configs a stack to render carries (`needed`), and, with output,
/// those that cannot be linked from the previous render (written to `staging` as each
/// is done): owner and text (empty for a config no stack to render carries and that
/// was linked or is not written).
fn render_configs(
    engine: &Engine,
    configs: &[stacks::RouterConfig],
    digests: &[String],
    needed: &[bool],
    staging: Option<&Staging>,
) -> Result<Vec<(String, String)>, Vec<Diagnostic>> {
    let work: Vec<(usize, &stacks::RouterConfig)> = configs.iter().enumerate().collect();
    let texts = parallel_map(&work, |&(i, config)| -> Result<String, Box<Diagnostic>> {
        let rel = format!("nginx/{}.conf", config.owner);
        if !needed.get(i).copied().unwrap_or(true) {
            // No stack to render carries it: without output (an offline plan's
            // unchanged side) it is not wanted at all; with output it is linked from
            // the previous render when its inputs are the same.
            match staging {
                None => return Ok(String::new()),
                Some(staging)
                    if staging.previous_index().configs.get(&config.owner) == digests.get(i)
                        && staging.link_previous(&[(&rel, None)]) =>
                {
                    return Ok(String::new());
                }
                Some(_) => {}
            }
        }
        let text = engine.render_text("nginx.conf.j2", &config.context)?;
        if let Some(staging) = staging {
            staging.put(&rel, text.as_bytes());
        }
        Ok(text)
    });
    let mut diags = Vec::new();
    let mut nginx = Vec::with_capacity(texts.len());
    for (config, result) in configs.iter().zip(texts) {
        match result {
            Ok(text) => nginx.push((config.owner.clone(), text)),
            Err(d) => {
                diags.push(*d);
                nginx.push((config.owner.clone(), String::new()));
            }
        }
    }
    if diags.is_empty() {
        Ok(nginx)
    } else {
        Err(collapse_repeats(diags))
    }
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

/// The pipeline stack of `repo` (validated), or `None` without a `pipeline` section.
///
/// # Errors
/// Template errors, located.
pub fn render_pipeline(repo: &Repo) -> Result<Option<Stack>, Vec<Diagnostic>> {
    let Some(platform) = &repo.platform else {
        return Ok(None);
    };
    let Some(spec) = stacks::pipeline_spec(&platform.value, &platform.file) else {
        return Ok(None);
    };
    let engine = Engine::new(repo)?;
    let bucket = platform.value.cloudformation.artifact_bucket.is_some();
    let (template, resources, problems) =
        render_stack(&engine, &spec, &[], bucket).map_err(|d| vec![*d])?;
    if let Some((code, message)) = problems.into_iter().next() {
        return Err(vec![Diagnostic::unlocated(
            code,
            Some(&platform.file),
            message,
        )]);
    }
    Ok(Some(Stack {
        inputs: String::new(),
        template_bytes: template.len(),
        upload: upload(template.len()),
        template: Some(template),
        resources,
        spec,
    }))
}
