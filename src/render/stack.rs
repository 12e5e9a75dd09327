//! One stack's template rendered: minijinja output parsed back, its declared parameters checked against what tenantops passes, canonical JSON, and the CloudFormation limits it must fit.

use super::engine::Engine;
use super::json;
use super::quota::{self, Problem};
use crate::diag::Diagnostic;
use crate::stacks::StackSpec;

/// How apply hands a template of `bytes` to CloudFormation.
pub(super) fn upload(bytes: usize) -> &'static str {
    if bytes > quota::BODY_BYTES {
        "s3"
    } else {
        "body"
    }
}

/// Renders one stack: its canonical JSON, resource count, and quota problems.
pub(super) fn render_stack(
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
    let (resources, problems) = quota::problems(&spec.name, &value, template.len(), bucket);
    Ok((template, resources, problems))
}
