//! The control plane's lifecycle requests as the AWS SaaS Builder Toolkit (sbt-aws) emits them: parsed with positions, so that an event tenantops cannot map is refused at `file:line:col`.
//!
//! Read from awslabs/sbt-aws 0.9.1 (the version the ECS reference architecture pins):
//! - `src/utils/event-manager.ts`: control-plane requests carry `source:
//!   sbt.control.plane` and `detail-type` `sbt_aws_<name>` (`onboardingRequest`,
//!   `offboardingRequest`, `activateRequest`, `deactivateRequest`); before 0.9 the
//!   detail-type was the bare name and the default source `controlPlaneEventSource`.
//! - `resources/functions/tenant-registrations/index.py`: the onboarding `detail` is
//!   `tenantRegistrationData | tenantData | {"tenantId": ...}` — **flat**: the fields of
//!   the registration request's `tenantData` (`tenantName`, `email`, `tier`, `prices`,
//!   `useFederation`, `useEc2`, `useRProxy`, as the reference architecture's admin
//!   console sends them), `tenantRegistrationId` (a uuid4), `registrationStatus`, and
//!   `tenantId` (a uuid4 from the tenant-management service). The offboarding `detail`
//!   is the tenant record merged with the registration record, so it has `tenantId`
//!   and `tenantRegistrationId` too. No SBT version nests the fields under `tenantData`.
//!
//! The event is what EventBridge delivers to a target (`detail-type`, `source`, `id`,
//! `detail`); JSON is read with the YAML loader, which keeps every value's line and
//! column.

use crate::diag::Diagnostic;
use crate::yaml::{self, Node, NodeValue, Span};

/// What the control plane asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestKind {
    Onboarding,
    Offboarding,
    Activate,
    Deactivate,
}

impl RequestKind {
    /// The `detail-type`s of this request: SBT 0.9's, then the earlier bare name.
    #[must_use]
    pub fn detail_types(self) -> &'static [&'static str] {
        match self {
            RequestKind::Onboarding => &["sbt_aws_onboardingRequest", "onboardingRequest"],
            RequestKind::Offboarding => &["sbt_aws_offboardingRequest", "offboardingRequest"],
            RequestKind::Activate => &["sbt_aws_activateRequest", "activateRequest"],
            RequestKind::Deactivate => &["sbt_aws_deactivateRequest", "deactivateRequest"],
        }
    }

    /// How a person calls it, with its article.
    fn a(self) -> &'static str {
        match self {
            RequestKind::Onboarding => "an onboarding request",
            RequestKind::Offboarding => "an offboarding request",
            RequestKind::Activate => "an activation request",
            RequestKind::Deactivate => "a deactivation request",
        }
    }

    /// How a person calls it.
    fn noun(self) -> &'static str {
        match self {
            RequestKind::Onboarding => "onboarding request",
            RequestKind::Offboarding => "offboarding request",
            RequestKind::Activate => "activation request",
            RequestKind::Deactivate => "deactivation request",
        }
    }
}

/// The `source`s of control-plane events tenantops accepts by default: SBT 0.9's, and
/// the default of earlier versions (`EventManager.controlPlaneEventSource`).
pub const CONTROL_PLANE_SOURCES: &[&str] = &["sbt.control.plane", "controlPlaneEventSource"];

/// Detail fields SBT sends that tenantops reads nothing from, by design: billing data,
/// the registration's own status, SBT's soft-delete flag, and what a provisioning job
/// reported back (present in an offboarding request's tenant record).
const IGNORED: &[&str] = &[
    "prices",
    "registrationStatus",
    "sbtaws_active",
    "tenantConfig",
    "tenantS3Bucket",
    "tenantStatus",
];

/// A string field of the event and where it was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    pub value: String,
    pub span: Span,
}

/// A `"true"`/`"false"` flag of the event (SBT passes them as strings).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flag {
    pub value: bool,
    pub span: Span,
}

/// A control-plane request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ControlPlaneEvent {
    pub kind: RequestKind,
    /// `detail.tenantId`: the control plane's id for the tenant.
    pub tenant_id: Field,
    /// `detail.tenantRegistrationId`: the key SBT correlates results by (required for
    /// onboarding).
    pub registration_id: Option<Field>,
    /// `detail.tenantName`, `email`, `tier` (required for onboarding).
    pub name: Option<Field>,
    pub email: Option<Field>,
    pub tier: Option<Field>,
    pub use_ec2: Option<Flag>,
    pub use_federation: Option<Flag>,
    pub use_rproxy: Option<Flag>,
    /// The EventBridge event id, for the commit message.
    pub event_id: Option<String>,
    /// Detail fields tenantops does not know (each a warning: read, not used).
    pub warnings: Vec<Diagnostic>,
}

/// Reads a control-plane request of kind `kind` from `text` (`file` names it in
/// diagnostics), from a `source` in `sources`. Every problem is reported, not just the
/// first.
///
/// # Errors
/// Located diagnostics for text that is not JSON, an event of another type or source,
/// and each missing or mistyped field.
pub fn parse(
    file: &str,
    text: &str,
    kind: RequestKind,
    sources: &[&str],
) -> Result<ControlPlaneEvent, Vec<Diagnostic>> {
    // JSON only: the YAML loader (which keeps positions) would also take YAML.
    if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(text) {
        return Err(vec![Diagnostic::error(
            "bad-event",
            file,
            Span::new(e.line().max(1), e.column().max(1), 1),
            format!("not a JSON event: {e}"),
        )]);
    }
    let root = yaml::parse(text).map_err(|e| {
        vec![Diagnostic::error(
            "bad-event",
            file,
            e.span,
            format!("not a JSON event: {}", e.message),
        )]
    })?;
    let mut p = Problems {
        file,
        kind,
        list: Vec::new(),
    };
    if !matches!(root.value, NodeValue::Mapping(_)) {
        p.at(
            root.span,
            format!("an EventBridge event is a JSON object, not {}", root.kind()),
        );
        return Err(p.list);
    }
    if root.at_pointer("/DetailType").is_some() || root.at_pointer("/Detail").is_some() {
        p.list.push(
            Diagnostic::error(
                "bad-event",
                file,
                root.span,
                "this is a PutEvents entry (`DetailType`, `Detail`), not an event as EventBridge delivers it",
            )
            .help("pass the event a rule delivers to its target: `detail-type`, `source` and `detail` (an object)"),
        );
        return Err(p.list);
    }
    p.detail_type(&root);
    p.source(&root, sources);
    let detail = p.object(&root, "/detail", "detail");
    if let Some(nested) = detail.and_then(|d| d.at_pointer("/tenantData")) {
        p.list.push(
            Diagnostic::error(
                "bad-event",
                file,
                nested.span,
                "`detail.tenantData` is not SBT's shape: sbt-aws puts the tenant's fields directly in `detail`",
            )
            .help("send the event as sbt-aws's tenant-registrations function does: `detail.tenantName`, `detail.email`, `detail.tier`, ..."),
        );
    }
    let onboarding = kind == RequestKind::Onboarding;
    let field = |p: &mut Problems<'_>, key: &str, required: bool| {
        detail.and_then(|d| p.field(d, key, required))
    };
    let tenant_id = field(&mut p, "tenantId", true);
    let registration_id = field(&mut p, "tenantRegistrationId", onboarding);
    let (name, email, tier) = if onboarding {
        (
            field(&mut p, "tenantName", true),
            field(&mut p, "email", true),
            field(&mut p, "tier", true),
        )
    } else {
        (None, None, None)
    };
    let flag = |p: &mut Problems<'_>, key: &str| detail.and_then(|d| p.flag(d, key));
    let use_ec2 = flag(&mut p, "useEc2");
    let use_federation = flag(&mut p, "useFederation");
    let use_rproxy = flag(&mut p, "useRProxy");
    let warnings = match detail {
        Some(d) if onboarding => unknown_fields(file, d),
        _ => Vec::new(),
    };
    match tenant_id {
        Some(tenant_id) if p.list.is_empty() => Ok(ControlPlaneEvent {
            kind,
            tenant_id,
            registration_id,
            name,
            email,
            tier,
            use_ec2,
            use_federation,
            use_rproxy,
            event_id: match root.at_pointer("/id").map(|n| &n.value) {
                Some(NodeValue::String(id)) => Some(id.clone()),
                _ => None,
            },
            warnings,
        }),
        _ => Err(p.list),
    }
}

/// The fields tenantops reads from a request's `detail`.
const KNOWN: &[&str] = &[
    "tenantId",
    "tenantRegistrationId",
    "tenantName",
    "email",
    "tier",
    "useEc2",
    "useFederation",
    "useRProxy",
];

/// A warning for each onboarding `detail` field tenantops neither reads nor ignores by
/// design, so that no field is dropped silently.
fn unknown_fields(file: &str, detail: &Node) -> Vec<Diagnostic> {
    let NodeValue::Mapping(entries) = &detail.value else {
        return Vec::new();
    };
    entries
        .iter()
        .filter(|e| !KNOWN.contains(&e.key.as_str()) && !IGNORED.contains(&e.key.as_str()))
        .map(|e| {
            Diagnostic::error(
                "unused-field",
                file,
                e.key_span,
                format!(
                    "tenantops does not use `detail.{}`; it is not written anywhere",
                    e.key
                ),
            )
            .warning()
        })
        .collect()
}

/// The problems found so far in one event file.
struct Problems<'a> {
    file: &'a str,
    kind: RequestKind,
    list: Vec<Diagnostic>,
}

impl Problems<'_> {
    fn at(&mut self, span: Span, message: String) {
        self.list
            .push(Diagnostic::error("bad-event", self.file, span, message));
    }

    fn detail_type(&mut self, root: &Node) {
        let expected = self.kind.detail_types();
        let Some(node) = root.at_pointer("/detail-type") else {
            self.list.push(
                Diagnostic::error(
                    "bad-event",
                    self.file,
                    root.span,
                    "the event has no `detail-type`",
                )
                .help(format!(
                    "{}'s `detail-type` is {}",
                    self.kind.a(),
                    quoted(expected)
                )),
            );
            return;
        };
        if matches!(&node.value, NodeValue::String(t) if expected.contains(&t.as_str())) {
            return;
        }
        self.list.push(
            Diagnostic::error(
                "wrong-request",
                self.file,
                node.span,
                format!(
                    "{} is not {}; this command maps {}",
                    shown(node),
                    self.kind.a(),
                    quoted(expected)
                ),
            )
            .help("route only these requests to this job (the EventBridge rule's `detail-type` filter)"),
        );
    }

    fn source(&mut self, root: &Node, sources: &[&str]) {
        let Some(node) = root.at_pointer("/source") else {
            self.list.push(
                Diagnostic::error(
                    "bad-event",
                    self.file,
                    root.span,
                    "the event has no `source`",
                )
                .help(format!(
                    "the control plane's requests come from {}",
                    quoted(sources)
                )),
            );
            return;
        };
        if matches!(&node.value, NodeValue::String(s) if sources.contains(&s.as_str())) {
            return;
        }
        self.list.push(
            Diagnostic::error(
                "wrong-source",
                self.file,
                node.span,
                format!(
                    "the event comes from {}, not from the control plane ({})",
                    shown(node),
                    quoted(sources)
                ),
            )
            .help("a control plane that sets its own `controlPlaneEventSource` is named with --event-source"),
        );
    }

    /// The object at `pointer` in `parent`.
    fn object<'n>(&mut self, parent: &'n Node, pointer: &str, shown: &str) -> Option<&'n Node> {
        match parent.at_pointer(pointer) {
            Some(n) if matches!(n.value, NodeValue::Mapping(_)) => Some(n),
            Some(n) => {
                self.at(
                    n.span,
                    format!("`{shown}` must be an object, not {}", n.kind()),
                );
                None
            }
            None => {
                self.missing(parent.span, shown);
                None
            }
        }
    }

    fn missing(&mut self, span: Span, shown: &str) {
        self.list.push(Diagnostic::error(
            "missing-field",
            self.file,
            span,
            format!("the {} has no `{shown}`", self.kind.noun()),
        ));
    }

    /// The non-empty string `detail.<key>`; its absence is a problem when `required`.
    fn field(&mut self, detail: &Node, key: &str, required: bool) -> Option<Field> {
        let pointer = format!("/{key}");
        match detail.at_pointer(&pointer) {
            Some(Node {
                value: NodeValue::String(s),
                span,
                ..
            }) if !s.trim().is_empty() => Some(Field {
                value: s.trim().to_owned(),
                span: *span,
            }),
            Some(other) => {
                self.at(
                    other.span,
                    format!(
                        "`detail.{key}` must be a non-empty string, not {}",
                        shown_kind(other)
                    ),
                );
                None
            }
            None => {
                if required {
                    self.missing(detail.span_of(&pointer), &format!("detail.{key}"));
                }
                None
            }
        }
    }

    /// The flag `detail.<key>`: `"true"` or `"false"` (any case), or a JSON boolean.
    fn flag(&mut self, detail: &Node, key: &str) -> Option<Flag> {
        let node = detail.at_pointer(&format!("/{key}"))?;
        let value = match &node.value {
            NodeValue::Bool(b) => Some(*b),
            NodeValue::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
            NodeValue::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
            _ => None,
        };
        if value.is_none() {
            self.at(
                node.span,
                format!(
                    "`detail.{key}` must be \"true\" or \"false\", not {}",
                    shown(node)
                ),
            );
        }
        value.map(|value| Flag {
            value,
            span: node.span,
        })
    }
}

fn quoted(items: &[&str]) -> String {
    items
        .iter()
        .map(|t| format!("`{t}`"))
        .collect::<Vec<_>>()
        .join(" or ")
}

fn shown(node: &Node) -> String {
    match &node.value {
        NodeValue::String(s) => format!("`{s}`"),
        _ => node.kind().to_owned(),
    }
}

fn shown_kind(node: &Node) -> &'static str {
    match &node.value {
        NodeValue::String(_) => "an empty string",
        _ => node.kind(),
    }
}

#[cfg(test)]
mod tests;
