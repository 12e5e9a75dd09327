//! The template engine: minijinja with strict undefined values, serializing filters as the only way a value reaches the output, and errors located at `templates/<file>:line:col`.
//!
//! - `{{ x | json }}` writes `x` as JSON (valid YAML), `{{ x | nginx }}` as an nginx
//!   string, `{{ x | logical_id }}` as a CloudFormation logical-id part. A bare
//!   `{{ x }}` is an error: raw string splicing into YAML or nginx syntax is how
//!   injection bugs start.
//! - A repository's `templates/<name>` overrides the built-in template of that name.
//! - Rendered CloudFormation is parsed back (JSON with trailing commas allowed for
//!   `*.json.j2`, the built-in format, which parses ten times faster than YAML; YAML
//!   for a repository's `*.yaml.j2`) and written as canonical minified JSON (keys
//!   sorted).

use std::collections::BTreeMap;

use minijinja::value::Value;
use minijinja::{AutoEscape, Environment, Error, ErrorKind, UndefinedBehavior};

use crate::diag::{Diagnostic, SourceText};
use crate::load::TEMPLATES_DIR;
use crate::repo::Repo;
use crate::yaml::Span;

/// The built-in templates (the shipped `templates/` folder), by name.
pub const BUILTIN: &[(&str, &str)] = &[
    (
        "network.json.j2",
        include_str!("../../templates/network.json.j2"),
    ),
    ("edge.json.j2", include_str!("../../templates/edge.json.j2")),
    ("link.json.j2", include_str!("../../templates/link.json.j2")),
    (
        "router.json.j2",
        include_str!("../../templates/router.json.j2"),
    ),
    (
        "usage-plans.json.j2",
        include_str!("../../templates/usage-plans.json.j2"),
    ),
    ("tier.json.j2", include_str!("../../templates/tier.json.j2")),
    ("pack.json.j2", include_str!("../../templates/pack.json.j2")),
    (
        "tenant.json.j2",
        include_str!("../../templates/tenant.json.j2"),
    ),
    (
        "workload.json.j2",
        include_str!("../../templates/workload.json.j2"),
    ),
    (
        "capacity.json.j2",
        include_str!("../../templates/capacity.json.j2"),
    ),
    (
        "execution-role.json.j2",
        include_str!("../../templates/execution-role.json.j2"),
    ),
    (
        "nginx.conf.j2",
        include_str!("../../templates/nginx.conf.j2"),
    ),
    (
        "pipeline.json.j2",
        include_str!("../../templates/pipeline.json.j2"),
    ),
];

/// Where a template came from, for locating its errors.
struct Origin {
    /// `templates/<name>` in the repository, or `None` for a built-in one.
    path: Option<String>,
    text: String,
}

/// The loaded templates.
pub struct Engine {
    env: Environment<'static>,
    origins: BTreeMap<String, Origin>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("templates", &self.origins.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// Loads the built-in templates and the repository's own. Template syntax errors
    /// are reported here, located in the template.
    ///
    /// # Errors
    /// Every template that does not compile, as a located diagnostic.
    pub fn new(repo: &Repo) -> Result<Engine, Vec<Diagnostic>> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_keep_trailing_newline(true);
        env.set_auto_escape_callback(|name| {
            if name.ends_with(".conf.j2") {
                AutoEscape::Custom("nginx")
            } else {
                AutoEscape::Custom("cloudformation")
            }
        });
        env.set_formatter(|out, _state, value| {
            if value.is_safe()
                && let Some(s) = value.as_str()
            {
                out.write_str(s).map_err(Error::from)?;
                return Ok(());
            }
            Err(Error::new(
                ErrorKind::InvalidOperation,
                "a value must pass through a serializing filter before it is printed: \
                 write `{{ value | json }}` (CloudFormation) or `{{ value | nginx }}` (nginx)",
            ))
        });
        env.add_filter("json", json);
        env.add_filter("nginx", nginx);
        env.add_filter("logical_id", logical_id);

        let mut origins = BTreeMap::new();
        for (name, text) in BUILTIN {
            origins.insert(
                (*name).to_owned(),
                Origin {
                    path: None,
                    text: (*text).to_owned(),
                },
            );
        }
        for (name, path) in &repo.templates {
            let Some(text) = repo.sources.text(path) else {
                continue;
            };
            origins.insert(
                name.clone(),
                Origin {
                    path: Some(path.clone()),
                    text: text.to_owned(),
                },
            );
        }
        let mut engine = Engine {
            env,
            origins: BTreeMap::new(),
        };
        let mut diags = Vec::new();
        for (name, origin) in &origins {
            if let Err(e) = engine
                .env
                .add_template_owned(name.clone(), origin.text.clone())
            {
                diags.push(locate(&e, &origins, name));
            }
        }
        engine.origins = origins;
        if diags.is_empty() {
            Ok(engine)
        } else {
            Err(diags)
        }
    }

    /// A digest of every template's name and text (built-in and the repository's):
    /// two engines with the same fingerprint render the same context to the same text.
    #[must_use]
    pub fn fingerprint(&self) -> [u8; 32] {
        use sha2::{Digest as _, Sha256};
        let mut h = Sha256::new();
        for (name, origin) in &self.origins {
            h.update(name.as_bytes());
            h.update(b"\0");
            h.update(origin.text.len().to_le_bytes());
            h.update(origin.text.as_bytes());
        }
        h.finalize().into()
    }

    /// The template that renders stacks of template stem `stem`: the repository's
    /// `<stem>.json.j2`, else its `<stem>.yaml.j2`, else the built-in `<stem>.json.j2`.
    #[must_use]
    pub fn resolve(&self, stem: &str) -> String {
        let json = format!("{stem}.json.j2");
        let yaml = format!("{stem}.yaml.j2");
        let own = |name: &str| self.origins.get(name).is_some_and(|o| o.path.is_some());
        if !own(&json) && own(&yaml) {
            yaml
        } else {
            json
        }
    }

    /// Renders template `name` with `ctx` to text.
    ///
    /// # Errors
    /// A template error (undefined value, bad filter input, raw value printed), located.
    pub fn render_text(&self, name: &str, ctx: &Value) -> Result<String, Box<Diagnostic>> {
        let template = self
            .env
            .get_template(name)
            .map_err(|e| Box::new(locate(&e, &self.origins, name)))?;
        template
            .render(ctx)
            .map_err(|e| Box::new(locate(&e, &self.origins, name)))
    }

    /// Parses `text`, rendered by template `name` for stack `stack`, strictly.
    ///
    /// # Errors
    /// Output that is not valid YAML/JSON (a key twice included) or not a template.
    pub fn parse_template(
        &self,
        name: &str,
        stack: &str,
        text: &str,
    ) -> Result<serde_json::Value, Box<Diagnostic>> {
        let parsed = if name.ends_with(".json.j2") {
            super::json::parse(text)
        } else {
            crate::yaml::parse(text)
                .map(|node| node.to_json())
                .map_err(|e| (e.span.line, e.span.col, e.message.clone()))
        };
        let value = parsed.map_err(|(line, col, message)| {
            let excerpt = text.lines().nth(line.saturating_sub(1)).unwrap_or("").trim_end();
            let excerpt: String = excerpt.chars().take(160).filter(|c| !c.is_control()).collect();
            let kind = if name.ends_with(".json.j2") { "JSON" } else { "YAML" };
            Box::new(
                self.at_template(
                    "template-output-invalid",
                    name,
                    format!(
                        "`{name}` rendered invalid {kind} for stack `{stack}`: {message} (rendered line {line}, column {col}: `{excerpt}`)"
                    ),
                )
                .help("every value must enter through `| json`; check the brackets, commas or indentation around that line"),
            )
        })?;
        if !value
            .get("Resources")
            .is_some_and(serde_json::Value::is_object)
        {
            return Err(Box::new(self.at_template(
                "template-not-cloudformation",
                name,
                format!("`{name}` rendered for stack `{stack}` has no `Resources` mapping, so it is not a CloudFormation template"),
            )));
        }
        Ok(value)
    }

    /// A diagnostic at the start of template `name`.
    #[must_use]
    pub fn at_template(&self, code: &'static str, name: &str, message: String) -> Diagnostic {
        match self.origins.get(name).and_then(|o| o.path.as_deref()) {
            Some(path) => Diagnostic::at_file_start(code, path, message),
            None => Diagnostic::unlocated(code, Some(&builtin_path(name)), message),
        }
    }
}

fn builtin_path(name: &str) -> String {
    format!("{TEMPLATES_DIR}/{name} (built-in)")
}

/// A minijinja error as a diagnostic at the template line (and column, when minijinja
/// knows the span) where it happened.
fn locate(e: &Error, origins: &BTreeMap<String, Origin>, fallback: &str) -> Diagnostic {
    let name = e.name().unwrap_or(fallback);
    let mut message = e.kind().to_string();
    if let Some(detail) = e.detail() {
        message = format!("{message}: {detail}");
    }
    let message = format!("template `{name}`: {message}");
    let origin = origins.get(name);
    let help = "see templates/README.md for the variables and filters a template has";
    match (origin, e.line()) {
        (
            Some(Origin {
                path: Some(path),
                text,
            }),
            Some(line),
        ) => {
            let (col, len) = e.range().map_or((1, 1), |r| {
                let start = text[..r.start.min(text.len())]
                    .rfind('\n')
                    .map_or(0, |i| i + 1);
                let col = text[start..r.start.min(text.len())].chars().count() + 1;
                (col, r.end.saturating_sub(r.start).max(1))
            });
            Diagnostic::error("template-error", path, Span::new(line, col, len), message).help(help)
        }
        (
            Some(Origin {
                path: Some(path), ..
            }),
            None,
        ) => Diagnostic::at_file_start("template-error", path, message).help(help),
        _ => Diagnostic::unlocated(
            "template-error",
            Some(&builtin_path(name)),
            match e.line() {
                Some(line) => format!("{message} (line {line})"),
                None => message,
            },
        ),
    }
}

/// `| json`: any value as JSON, which is also a valid YAML flow scalar or collection.
fn json(value: &Value) -> Result<Value, Error> {
    if value.is_undefined() {
        return Err(Error::new(
            ErrorKind::UndefinedError,
            "`json` got an undefined value (a misspelled variable or attribute?)",
        ));
    }
    serde_json::to_string(value)
        .map(Value::from_safe_string)
        .map_err(|e| Error::new(ErrorKind::BadSerialization, e.to_string()))
}

/// `| nginx`: a string or number as one nginx token, double-quoted with `"` and `\`
/// escaped. A `$` (variable interpolation) or control character is refused: nginx has
/// no way to escape `$` in most directives.
fn nginx(value: &Value) -> Result<Value, Error> {
    if let Some(n) = value.as_i64() {
        return Ok(Value::from_safe_string(n.to_string()));
    }
    let Some(s) = value.as_str() else {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("`nginx` takes a string or a number, not {}", value.kind()),
        ));
    };
    if let Some(c) = s.chars().find(|c| *c == '$' || c.is_control()) {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("`nginx` refuses {c:?} in {s:?}: nginx would interpolate or break on it"),
        ));
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    Ok(Value::from_safe_string(out))
}

/// `| logical_id`: a label (tenant id, tier, service) as part of a CloudFormation
/// logical id (alphanumeric).
fn logical_id(value: &Value) -> Result<Value, Error> {
    let s = value.as_str().ok_or_else(|| {
        Error::new(
            ErrorKind::InvalidOperation,
            format!("`logical_id` takes a string, not {}", value.kind()),
        )
    })?;
    let id = crate::naming::logical_id(s);
    if id.is_empty() {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("`logical_id` of {s:?} is empty"),
        ));
    }
    Ok(Value::from_safe_string(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nginx_quotes_and_refuses_interpolation() {
        assert_eq!(
            nginx(&Value::from("a\"b\\c")).unwrap().as_str(),
            Some(r#""a\"b\\c""#)
        );
        assert_eq!(nginx(&Value::from(8080)).unwrap().as_str(), Some("8080"));
        assert!(nginx(&Value::from("$host")).is_err());
        assert!(nginx(&Value::from("a\nb")).is_err());
    }

    #[test]
    fn json_is_a_yaml_scalar() {
        let v = json(&Value::from("it's: \"quoted\"\n- no")).unwrap();
        let node = crate::yaml::parse(&format!("k: {}", v.as_str().unwrap())).unwrap();
        assert_eq!(node.to_json()["k"], "it's: \"quoted\"\n- no");
    }
}
