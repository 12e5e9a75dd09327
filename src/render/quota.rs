//! CloudFormation's per-stack limits and the region's stack quota: the limits, the located diagnostics for a stack over one, and the fleet's stack count against `cloudformation.stack_quota`.

use super::canon::Shape;
use crate::diag::Diagnostic;
use crate::repo::Repo;
use crate::stacks::StackSpec;

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

/// A stack over a CloudFormation limit: the diagnostic code and the message.
pub(super) type Problem = (&'static str, String);

/// Stack `name`'s rendered template of `shape` (`bytes` long as canonical JSON)
/// against CloudFormation's per-stack limits (`bucket`: an artifact bucket takes
/// templates over the `TemplateBody` limit): the limits it passes.
pub(super) fn problems(name: &str, shape: &Shape, bytes: usize, bucket: bool) -> Vec<Problem> {
    let resources = shape.resources;
    let mut problems = Vec::new();
    if resources > RESOURCES {
        problems.push((
            "stack-resources",
            format!("stack `{name}` would have {resources} resources, over CloudFormation's {RESOURCES} per stack"),
        ));
    }
    for (key, limit, code, n) in [
        (
            "Parameters",
            PARAMETERS,
            "stack-parameters",
            shape.parameters.len(),
        ),
        ("Outputs", OUTPUTS, "stack-outputs", shape.outputs),
    ] {
        if n > limit {
            problems.push((
                code,
                format!(
                    "stack `{}` would have {n} {}, over CloudFormation's {limit} per stack",
                    name,
                    key.to_lowercase()
                ),
            ));
        }
    }
    if bytes > URL_BYTES || (bytes > BODY_BYTES && !bucket) {
        problems.push(("stack-template-size", if bucket {
            format!("stack `{name}`'s template is {bytes} bytes, over CloudFormation's {URL_BYTES} for a template in S3")
        } else {
            format!("stack `{name}`'s template is {bytes} bytes, over CloudFormation's {BODY_BYTES}-byte `TemplateBody`, and `cloudformation.artifact_bucket` is not set")
        }));
    }
    problems
}

/// A stack over a limit, located at the manifest the stack comes from (its `origin` and `pointer`).
pub(super) fn quota_diag(
    repo: &Repo,
    spec: &StackSpec,
    code: &'static str,
    message: String,
) -> Diagnostic {
    let node = if spec.origin == crate::load::PLATFORM_FILE {
        repo.platform.as_ref().map(|d| &*d.node)
    } else if spec.origin == crate::load::LOCK_FILE {
        repo.lock.as_ref().map(|d| &*d.node)
    } else if let Ok(i) = repo
        .tenants
        .binary_search_by(|t| t.file.as_str().cmp(&spec.origin))
    {
        // Tenants are in file-name order.
        Some(&*repo.tenants[i].node)
    } else {
        repo.tiers
            .values()
            .find(|t| t.file == spec.origin)
            .map(|t| &*t.node)
    };
    let help = "set `cloudformation.artifact_bucket` for large templates; split what the stack holds (fewer services per tier, fewer tenants per shard)";
    match node {
        Some(node) => Diagnostic::error(code, &spec.origin, node.span_of(&spec.pointer), message),
        None => Diagnostic::unlocated(code, Some(&spec.origin), message),
    }
    .help(help)
}

/// `count` stacks against the region's quota.
pub fn stack_quota(repo: &Repo, count: usize) -> Vec<Diagnostic> {
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
