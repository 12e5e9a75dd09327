//! The JSON Schemas: generated from the model types, committed under `schemas/`, and compiled into the binary for validation.
//!
//! `validate` checks manifests against the *committed* schemas (embedded at build time),
//! and a test fails when they differ from what the types generate, so the two never
//! drift. Schema violations become diagnostics at the offending key or value.

use std::sync::OnceLock;

use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::{JsonType, ValidationError, Validator};
use serde_json::Value;

use crate::diag::Diagnostic;
use crate::model::{Lock, Platform, Tenant, Tier};
use crate::suggest::did_you_mean;
use crate::yaml::{Node, Span, pointer_token, pointer_tokens};

/// The manifest kinds, each with its schema.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Platform,
    Tier,
    Tenant,
    Lock,
}

impl Kind {
    pub const ALL: [Kind; 4] = [Kind::Platform, Kind::Tier, Kind::Tenant, Kind::Lock];

    /// File name under `schemas/`.
    #[must_use]
    pub fn file_name(self) -> &'static str {
        match self {
            Kind::Platform => "platform.schema.json",
            Kind::Tier => "tier.schema.json",
            Kind::Tenant => "tenant.schema.json",
            Kind::Lock => "lock.schema.json",
        }
    }

    /// The committed schema, as embedded when this binary was built.
    #[must_use]
    pub fn committed(self) -> &'static str {
        match self {
            Kind::Platform => include_str!("../schemas/platform.schema.json"),
            Kind::Tier => include_str!("../schemas/tier.schema.json"),
            Kind::Tenant => include_str!("../schemas/tenant.schema.json"),
            Kind::Lock => include_str!("../schemas/lock.schema.json"),
        }
    }

    /// The schema the model types generate now, as it is written to disk.
    #[must_use]
    pub fn generate(self) -> String {
        let schema = match self {
            Kind::Platform => schemars::schema_for!(Platform),
            Kind::Tier => schemars::schema_for!(Tier),
            Kind::Tenant => schemars::schema_for!(Tenant),
            Kind::Lock => schemars::schema_for!(Lock),
        };
        let mut value = serde_json::to_value(&schema).unwrap_or_default();
        crate::render::json::canonical(&mut value);
        let mut text = serde_json::to_string_pretty(&value).unwrap_or_default();
        text.push('\n');
        text
    }

    /// What a user calls a file of this kind.
    #[must_use]
    pub fn noun(self) -> &'static str {
        match self {
            Kind::Platform => "platform settings",
            Kind::Tier => "tier",
            Kind::Tenant => "tenant",
            Kind::Lock => "lock",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

struct Compiled {
    schema: Value,
    validator: Validator,
}

fn compiled(kind: Kind) -> &'static Compiled {
    static CELLS: [OnceLock<Compiled>; 4] = [const { OnceLock::new() }; 4];
    CELLS[kind.index()].get_or_init(|| {
        // The embedded schemas are checked by tests: failing here is a build defect.
        let schema: Value = serde_json::from_str(kind.committed())
            .unwrap_or_else(|e| panic!("embedded {} is not JSON: {e}", kind.file_name()));
        let validator = jsonschema::validator_for(&schema)
            .unwrap_or_else(|e| panic!("embedded {} is not a schema: {e}", kind.file_name()));
        Compiled { schema, validator }
    })
}

/// Checks `instance` (loaded from `node` of `file`) against the committed schema of
/// `kind`, returning one diagnostic per problem.
#[must_use]
pub fn check(kind: Kind, file: &str, node: &Node, instance: &Value) -> Vec<Diagnostic> {
    let compiled = compiled(kind);
    if compiled.validator.is_valid(instance) {
        return Vec::new();
    }
    let mut out = Vec::new();
    for error in compiled.validator.iter_errors(instance) {
        translate(kind, &compiled.schema, file, node, &error, &mut out);
    }
    out.dedup();
    out
}

#[allow(clippy::too_many_lines)] // one arm per JSON Schema keyword, each a message
fn translate(
    kind: Kind,
    schema: &Value,
    file: &str,
    node: &Node,
    error: &ValidationError<'_>,
    out: &mut Vec<Diagnostic>,
) {
    let pointer = error.instance_path().as_str();
    let instance = error.instance();
    let here = describe_pointer(kind, pointer);
    let value_span = node.span_of(pointer);
    let diag = match error.kind() {
        ValidationErrorKind::AdditionalProperties { unexpected } => {
            let allowed = allowed_keys(schema, pointer);
            for key in unexpected {
                let child = format!("{pointer}/{}", pointer_token(key));
                let mut d = Diagnostic::error(
                    "unknown-key",
                    file,
                    node.key_span_of(&child),
                    format!("unknown key `{key}` in {here}"),
                );
                d = match did_you_mean(key, allowed.iter().map(String::as_str)) {
                    Some(s) => d.help(format!("did you mean `{s}`?")),
                    None if allowed.is_empty() => d.help("remove it"),
                    None => d.help(format!("allowed keys here: {}", backticked(&allowed))),
                };
                out.push(d);
            }
            return;
        }
        ValidationErrorKind::AnyOf { context } | ValidationErrorKind::OneOfNotValid { context }
            if !context.is_empty()
                && context.iter().all(|errs| {
                    errs.iter()
                        .any(|e| matches!(e.kind(), ValidationErrorKind::Constant { .. }))
                }) =>
        {
            // Documented enums are `oneOf` a list of `const`s.
            let options: Vec<String> = context
                .iter()
                .flatten()
                .filter_map(|e| match e.kind() {
                    ValidationErrorKind::Constant { expected_value } => {
                        expected_value.as_str().map(str::to_owned)
                    }
                    _ => None,
                })
                .collect();
            enum_error(file, value_span, &here, instance, &options)
        }
        ValidationErrorKind::AnyOf { context } | ValidationErrorKind::OneOfNotValid { context } => {
            // Optional fields are `anyOf: [T, null]`: report the problem with T itself.
            let real: Vec<_> = context
                .iter()
                .filter(|errs| !errs.iter().all(|e| is_null_branch(e)))
                .collect();
            if let [only] = real.as_slice() {
                for e in *only {
                    translate(kind, schema, file, node, e, out);
                }
                return;
            }
            Diagnostic::error(
                "schema",
                file,
                value_span,
                format!("{here} has an invalid value: {error}"),
            )
        }
        ValidationErrorKind::Required { property } => {
            let name = property.as_str().unwrap_or_default();
            let span = if pointer.is_empty() {
                node.span
            } else {
                node.key_span_of(pointer)
            };
            Diagnostic::error(
                "missing-key",
                file,
                span,
                format!("{here} is missing the required key `{name}`"),
            )
            .help(format!("add `{name}:`"))
        }
        ValidationErrorKind::Type { kind: expected } => {
            let expected = match expected {
                TypeKind::Single(t) => type_name(*t).to_owned(),
                // `null` is how an optional field is spelt in the schema, not advice.
                TypeKind::Multiple(set) => set
                    .iter()
                    .filter(|t| *t != JsonType::Null)
                    .map(type_name)
                    .collect::<Vec<_>>()
                    .join(" or "),
            };
            let found = node.at_pointer(pointer).map_or("nothing", Node::kind);
            let mut d = Diagnostic::error(
                "wrong-type",
                file,
                value_span,
                format!(
                    "{here} must be {expected}, found {found}{}",
                    shown(instance)
                ),
            );
            if pointer.is_empty() && expected == "a mapping" {
                d = d.help(format!(
                    "a {} file is a mapping of `key: value` lines",
                    kind.noun()
                ));
            } else if let Value::String(s) = &**instance {
                if matches!(s.as_str(), "yes" | "no" | "on" | "off" | "y" | "n") {
                    d = d.help(
                        "YAML 1.2 reads `yes`/`no`/`on`/`off` as strings; write `true` or `false`",
                    );
                } else if expected.contains("integer") && s.trim().parse::<i64>().is_ok() {
                    d = d.help(format!("remove the quotes: `{}`", s.trim()));
                }
            } else if expected == "a string"
                && matches!(&**instance, Value::Number(_) | Value::Bool(_))
            {
                d = d.help(format!("quote it to make it a string: `\"{instance}\"`"));
            }
            d
        }
        ValidationErrorKind::Enum { options } => {
            let options: Vec<String> = options
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default();
            enum_error(file, value_span, &here, instance, &options)
        }
        ValidationErrorKind::Pattern { .. } => {
            let mut d = Diagnostic::error(
                "invalid-value",
                file,
                value_span,
                format!("{here} has an invalid value{}", shown(instance)),
            );
            if let Some(h) = pattern_help(kind, pointer, instance) {
                d = d.help(h);
            }
            d
        }
        ValidationErrorKind::Minimum { limit }
        | ValidationErrorKind::ExclusiveMinimum { limit } => Diagnostic::error(
            "out-of-range",
            file,
            value_span,
            format!("{here} is{} but must be at least {limit}", shown(instance)),
        ),
        ValidationErrorKind::Maximum { limit }
        | ValidationErrorKind::ExclusiveMaximum { limit } => Diagnostic::error(
            "out-of-range",
            file,
            value_span,
            format!("{here} is{} but must be at most {limit}", shown(instance)),
        ),
        ValidationErrorKind::MinLength { limit } => Diagnostic::error(
            "too-short",
            file,
            value_span,
            format!("{here} must be at least {limit} characters long"),
        ),
        ValidationErrorKind::MaxLength { limit } => Diagnostic::error(
            "too-long",
            file,
            value_span,
            format!("{here} must be at most {limit} characters long"),
        ),
        ValidationErrorKind::MinItems { limit } | ValidationErrorKind::MinProperties { limit } => {
            Diagnostic::error(
                "too-few",
                file,
                value_span,
                format!("{here} needs at least {limit} entries"),
            )
        }
        _ => Diagnostic::error("schema", file, value_span, format!("{here}: {error}")),
    };
    out.push(diag);
}

fn enum_error(
    file: &str,
    span: Span,
    here: &str,
    instance: &Value,
    options: &[String],
) -> Diagnostic {
    let found = match shown(instance) {
        s if s.is_empty() => String::new(),
        s => format!(", found{s}"),
    };
    let mut d = Diagnostic::error(
        "invalid-value",
        file,
        span,
        format!("{here} must be one of {}{found}", backticked(options)),
    );
    if let Some(s) = instance
        .as_str()
        .and_then(|s| did_you_mean(s, options.iter().map(String::as_str)))
    {
        d = d.help(format!("did you mean `{s}`?"));
    }
    d
}

fn is_null_branch(e: &ValidationError<'_>) -> bool {
    matches!(
        e.kind(),
        ValidationErrorKind::Type {
            kind: TypeKind::Single(JsonType::Null)
        }
    )
}

fn type_name(t: JsonType) -> &'static str {
    match t {
        JsonType::Null => "null",
        JsonType::Boolean => "a boolean (`true` or `false`)",
        JsonType::Integer => "an integer",
        JsonType::Number => "a number",
        JsonType::String => "a string",
        JsonType::Array => "a sequence",
        JsonType::Object => "a mapping",
    }
}

/// The value in backticks after a space, for scalars short enough to quote in a message.
fn shown(value: &Value) -> String {
    let text = match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => return String::new(),
    };
    if text.chars().count() > 60 || text.contains('`') {
        return String::new();
    }
    format!(" `{text}`")
}

fn backticked(items: &[String]) -> String {
    items
        .iter()
        .map(|i| format!("`{i}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// "the key `tier`", "`overrides.desired_count`", "the tenant file".
fn describe_pointer(kind: Kind, pointer: &str) -> String {
    if pointer.is_empty() {
        return format!("the {} file", kind.noun());
    }
    let path: Vec<String> = pointer_tokens(pointer).collect();
    format!("`{}`", path.join("."))
}

fn pattern_help(kind: Kind, pointer: &str, value: &Value) -> Option<String> {
    let text = value.as_str()?;
    if let Some(c) = text.chars().find(|c| !c.is_ascii()) {
        return Some(format!(
            "it contains the non-ASCII character `{c}` (U+{:04X}); only ASCII letters, digits and `-` are allowed",
            u32::from(c)
        ));
    }
    Some(match (kind, pointer) {
        (Kind::Tenant, "/id") => "tenant ids are lowercase DNS labels: start with a letter, then letters, digits and single hyphens, no trailing hyphen".to_owned(),
        (Kind::Platform, "/stage" | "/naming/prefix") => "use 1 to 10 lowercase letters and digits, starting with a letter".to_owned(),
        (Kind::Platform, "/region") => "use an AWS region code such as `us-east-1`".to_owned(),
        (Kind::Platform, p) if p.ends_with("/path") => "resource paths look like `/orders` or `/orders/{id}`".to_owned(),
        _ => return None,
    })
}

/// The property names the schema allows for the mapping at `pointer`, for "did you mean".
fn allowed_keys(schema: &Value, pointer: &str) -> Vec<String> {
    let mut current = schema;
    for token in pointer_tokens(pointer) {
        current = resolve_ref(schema, current);
        let next = current
            .get("properties")
            .and_then(|p| p.get(token.as_str()))
            .or_else(|| {
                current
                    .get("additionalProperties")
                    .filter(|v| v.is_object())
            })
            .or_else(|| current.get("items"));
        let Some(next) = next else { return Vec::new() };
        current = next;
    }
    let current = resolve_ref(schema, current);
    current
        .get("properties")
        .and_then(Value::as_object)
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default()
}

/// Follows `$ref` (to `#/$defs/...`) and the non-null branch of `anyOf`.
fn resolve_ref<'a>(root: &'a Value, mut schema: &'a Value) -> &'a Value {
    for _ in 0..16 {
        if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
            let Some(target) = reference.strip_prefix('#').and_then(|p| root.pointer(p)) else {
                return schema;
            };
            schema = target;
        } else if let Some(branches) = schema.get("anyOf").and_then(Value::as_array) {
            match branches
                .iter()
                .find(|b| b.get("type") != Some(&Value::from("null")))
            {
                Some(b) => schema = b,
                None => return schema,
            }
        } else {
            return schema;
        }
    }
    schema
}
