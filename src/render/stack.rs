//! One stack's template rendered: minijinja output made canonical (the fast path of `canon`, or parsed back strictly), its declared parameters checked against what tenantops passes, canonical JSON, and the CloudFormation limits it must fit.

use super::canon::{self, Shape};
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
    let text = engine.render_text(name, &context(spec, nginx))?;
    // The fast path for JSON templates without API deployments (whose names are a
    // digest over the parsed template); the strict one for the rest, and for whatever
    // the fast path will not copy as it is.
    let fast = (name.ends_with(".json.j2") && !text.contains("AWS::ApiGateway::Deployment"))
        .then(|| canon::canonical(&text))
        .flatten()
        .filter(|(_, shape)| shape.template);
    let (template, shape) = match fast {
        Some(done) => done,
        None => strict(engine, name, &spec.name, &text)?,
    };
    for key in spec.parameters.keys() {
        if shape
            .parameters
            .binary_search_by(|(k, _)| k.cmp(key))
            .is_err()
        {
            return Err(Box::new(engine.at_template(
                "template-parameter-missing",
                name,
                format!("`{name}` does not declare parameter `{key}`, which tenantops passes to stack `{}`", spec.name),
            )));
        }
    }
    for (key, default) in &shape.parameters {
        if !default && !spec.parameters.contains_key(key) {
            return Err(Box::new(engine.at_template(
                "template-parameter-unset",
                name,
                format!("`{name}` declares parameter `{key}` without a `Default`, and tenantops passes no value for it to stack `{}`", spec.name),
            ).help("give it a `Default`, or remove it")));
        }
    }
    let problems = quota::problems(&spec.name, &shape, template.len(), bucket);
    Ok((template, shape.resources, problems))
}

/// What stack `spec`'s template sees: its context, and the text of the router config
/// its rproxy carries (`nginx`: owner and text of each config) as `nginx_conf`.
fn context(spec: &StackSpec, nginx: &[(String, String)]) -> minijinja::Value {
    match spec.nginx {
        Some(i) => minijinja::context! {
            nginx_conf => nginx.get(i).map_or("", |(_, c)| c.as_str()),
            ..spec.context.clone()
        },
        None => spec.context.clone(),
    }
}

/// The strict path: `text` parsed (located errors), canonical, its API deployments
/// named after what they serve, written compact.
pub(super) fn strict(
    engine: &Engine,
    name: &str,
    stack: &str,
    text: &str,
) -> Result<(String, Shape), Box<Diagnostic>> {
    let mut value = engine.parse_template(name, stack, text)?;
    json::canonical(&mut value);
    fingerprint_deployments(&mut value);
    let mut bytes = Vec::with_capacity(text.len());
    let _ = serde_json::to_writer(&mut bytes, &value);
    // serde_json writes UTF-8.
    Ok((
        String::from_utf8(bytes).unwrap_or_default(),
        Shape::of(&value),
    ))
}

/// Renames each API Gateway deployment (`AWS::ApiGateway::Deployment`) of `template`
/// to `Deployment<digest>`, the digest taken over every other API Gateway resource
/// as rendered (resources, methods and their integrations, the authorizer, the VPC
/// link, the API itself; not the stage, which names the deployment), and rewrites
/// every `Ref`, `Fn::GetAtt` and `DependsOn` to it. CloudFormation deploys a stage
/// again only when its deployment resource is replaced: a change to anything the
/// stage serves (a template override, an integration, a replaced VPC link) now
/// replaces it.
pub(super) fn fingerprint_deployments(template: &mut serde_json::Value) {
    use sha2::{Digest as _, Sha256};
    let Some(resources) = template
        .get("Resources")
        .and_then(serde_json::Value::as_object)
    else {
        return;
    };
    let kind = |r: &serde_json::Value| {
        r.get("Type")
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    // What the stage serves: the API Gateway resources, and the resources they name
    // (the NLB behind the VPC link and the integrations' URIs, ...).
    let served = |t: &str| {
        t.starts_with("AWS::ApiGateway::")
            && t != "AWS::ApiGateway::Deployment"
            && t != "AWS::ApiGateway::Stage"
    };
    let mut included: std::collections::BTreeSet<&str> = resources
        .iter()
        .filter(|(_, r)| served(&kind(r)))
        .map(|(id, _)| id.as_str())
        .collect();
    let mut named = std::collections::BTreeSet::new();
    for id in &included {
        references(&resources[*id], &mut named);
    }
    for id in named {
        if let Some((key, r)) = resources.get_key_value(id.as_str())
            && kind(r) != "AWS::ApiGateway::Deployment"
            && kind(r) != "AWS::ApiGateway::Stage"
        {
            included.insert(key.as_str());
        }
    }
    let mut hasher = Sha256::new();
    for id in included {
        hasher.update(id.as_bytes());
        hasher.update(b"\0");
        hasher.update(
            serde_json::to_string(&resources[id])
                .unwrap_or_default()
                .as_bytes(),
        );
        hasher.update(b"\0");
    }
    let digest = hasher.finalize();
    let suffix = digest.iter().take(8).fold(String::new(), |mut s, b| {
        use std::fmt::Write as _;
        let _ = write!(s, "{b:02x}");
        s
    });
    let renames: Vec<(String, String)> = resources
        .iter()
        .filter(|(_, r)| kind(r) == "AWS::ApiGateway::Deployment")
        .enumerate()
        .map(|(i, (id, _))| {
            let new = if i == 0 {
                format!("Deployment{suffix}")
            } else {
                format!("Deployment{i}{suffix}")
            };
            (id.clone(), new)
        })
        .collect();
    if renames.is_empty() {
        return;
    }
    if let Some(resources) = template
        .get_mut("Resources")
        .and_then(serde_json::Value::as_object_mut)
    {
        for (old, new) in &renames {
            if let Some(r) = resources.remove(old) {
                resources.insert(new.clone(), r);
            }
        }
    }
    rename_references(template, &renames);
    json::canonical(template);
}

/// The logical ids `v` names: `Ref`s, `Fn::GetAtt` targets and `${Name}` /
/// `${Name.Attr}` in `Fn::Sub` strings.
fn references(v: &serde_json::Value, out: &mut std::collections::BTreeSet<String>) {
    match v {
        serde_json::Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("Ref", serde_json::Value::String(s)) => {
                        out.insert(s.clone());
                    }
                    ("Fn::GetAtt", serde_json::Value::Array(items)) => {
                        if let Some(serde_json::Value::String(s)) = items.first() {
                            out.insert(s.clone());
                        }
                    }
                    ("Fn::Sub", serde_json::Value::String(s)) => {
                        for part in s.split("${").skip(1) {
                            if let Some(name) = part.split('}').next() {
                                out.insert(name.split('.').next().unwrap_or_default().to_owned());
                            }
                        }
                    }
                    _ => references(value, out),
                }
            }
        }
        serde_json::Value::Array(items) => {
            for item in items {
                references(item, out);
            }
        }
        _ => {}
    }
}

/// Every `Ref`, `Fn::GetAtt` and `DependsOn` naming an old logical id, renamed.
fn rename_references(v: &mut serde_json::Value, renames: &[(String, String)]) {
    let new_name = |s: &str| {
        renames
            .iter()
            .find(|(old, _)| old == s)
            .map(|(_, new)| new.clone())
    };
    match v {
        serde_json::Value::Object(map) => {
            for (key, value) in map.iter_mut() {
                match (key.as_str(), &mut *value) {
                    ("Ref" | "DependsOn", serde_json::Value::String(s)) => {
                        if let Some(new) = new_name(s) {
                            *s = new;
                        }
                    }
                    ("Fn::GetAtt" | "DependsOn", serde_json::Value::Array(items)) => {
                        for (i, item) in items.iter_mut().enumerate() {
                            if let serde_json::Value::String(s) = item
                                && (key == "DependsOn" || i == 0)
                                && let Some(new) = new_name(s)
                            {
                                *s = new;
                            }
                        }
                    }
                    _ => rename_references(value, renames),
                }
            }
        }
        serde_json::Value::Array(items) => {
            for item in items {
                rename_references(item, renames);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::fingerprint_deployments;

    /// Every stack of `root` rendered by both paths: the fast one must take every
    /// stack without an API deployment and print what the strict one prints.
    fn both_paths_agree(root: &std::path::Path) {
        let (repo, diags) = crate::repo::open(root, None).unwrap();
        assert!(
            !diags.iter().any(crate::diag::Diagnostic::is_error),
            "{diags:?}"
        );
        let engine = super::Engine::new(&repo).unwrap();
        let mut set = crate::stacks::build(&repo, None);
        crate::render::link_revisions(&engine, &mut set, false);
        let configs: Vec<(String, String)> = set
            .nginx
            .iter()
            .map(|c| {
                let text = engine.render_text("nginx.conf.j2", &c.context).unwrap();
                (c.owner.clone(), text)
            })
            .collect();
        let mut fast = 0;
        for spec in &set.stacks {
            let name = engine.resolve(spec.kind.template());
            let text = engine
                .render_text(&name, &super::context(spec, &configs))
                .unwrap();
            let strict = super::strict(&engine, &name, &spec.name, &text).unwrap();
            if text.contains("AWS::ApiGateway::Deployment") {
                continue;
            }
            let quick = super::canon::canonical(&text)
                .unwrap_or_else(|| panic!("the fast path refused stack `{}`", spec.name));
            assert_eq!(quick, strict, "stack `{}`", spec.name);
            fast += 1;
        }
        assert!(
            fast * 2 > set.stacks.len(),
            "{fast} of {}",
            set.stacks.len()
        );
    }

    #[test]
    fn the_fast_path_renders_the_shipped_fleet_as_the_strict_path_does() {
        both_paths_agree(std::path::Path::new(env!("CARGO_MANIFEST_DIR")));
        let dir = tempfile::tempdir().unwrap();
        crate::synth::write_fleet(dir.path(), 40).unwrap();
        both_paths_agree(dir.path());
    }

    fn api(integration: &str) -> serde_json::Value {
        serde_json::json!({
            "Resources": {
                "Api": {"Type": "AWS::ApiGateway::RestApi", "Properties": {"Name": "a"}},
                "MethodGet": {"Type": "AWS::ApiGateway::Method", "Properties": {"Integration": {"Uri": integration}}},
                "Deploymentabc": {"Type": "AWS::ApiGateway::Deployment", "DependsOn": ["MethodGet"], "Properties": {"RestApiId": {"Ref": "Api"}}},
                "Stage": {"Type": "AWS::ApiGateway::Stage", "Properties": {"DeploymentId": {"Ref": "Deploymentabc"}}},
                "Other": {"Type": "AWS::SNS::Topic", "DependsOn": "Deploymentabc", "Properties": {"X": {"Fn::GetAtt": ["Deploymentabc", "Id"]}}},
            },
            "Outputs": {"D": {"Value": {"Ref": "Deploymentabc"}}},
        })
    }

    #[test]
    fn the_deployment_is_named_after_what_the_stage_serves() {
        let mut a = api("http://one");
        fingerprint_deployments(&mut a);
        let id = a["Resources"]
            .as_object()
            .unwrap()
            .keys()
            .find(|k| k.starts_with("Deployment"))
            .unwrap()
            .clone();
        assert_ne!(id, "Deploymentabc");
        assert_eq!(
            a["Resources"]["Stage"]["Properties"]["DeploymentId"]["Ref"],
            id.as_str()
        );
        assert_eq!(a["Resources"]["Other"]["DependsOn"], id.as_str());
        assert_eq!(
            a["Resources"]["Other"]["Properties"]["X"]["Fn::GetAtt"][0],
            id.as_str()
        );
        assert_eq!(a["Outputs"]["D"]["Value"]["Ref"], id.as_str());
        // The same API renders the same id; another integration another one.
        let mut again = api("http://one");
        fingerprint_deployments(&mut again);
        assert_eq!(again, a);
        let mut other = api("http://two");
        fingerprint_deployments(&mut other);
        assert!(other["Resources"].get(&id).is_none());
    }
}
