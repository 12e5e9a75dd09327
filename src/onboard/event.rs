//! The control plane's onboarding event (SaaS Builder Toolkit shape): parsed with positions so that an event tenantops cannot map is refused with `file:line:col`.
//!
//! The event is what EventBridge delivers to a target:
//!
//! ```json
//! {"detail-type": "sbt_aws_onboardingRequest", "source": "...", "id": "...",
//!  "detail": {"tenantId": "...", "tenantData": {"tenantName": "...", "email": "...", "tier": "..."}}}
//! ```
//!
//! JSON is read with the YAML loader, which keeps every value's line and column.

use crate::diag::Diagnostic;
use crate::yaml::{self, Node, NodeValue, Span};

/// The `detail-type`s of an onboarding request: SBT's own and the reference
/// architecture's earlier name.
pub const DETAIL_TYPES: &[&str] = &["sbt_aws_onboardingRequest", "onboardingRequest"];

/// A string field of the event and where it was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    pub value: String,
    pub span: Span,
}

/// What an onboarding event asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OnboardingEvent {
    /// `detail.tenantId`: the control plane's id for the tenant.
    pub tenant_id: Field,
    pub name: Field,
    pub email: Field,
    pub tier: Field,
    /// The EventBridge event id, for the commit message.
    pub event_id: Option<String>,
}

/// Reads an onboarding event from `text`; `file` names it in diagnostics. Every
/// problem is reported, not just the first.
///
/// # Errors
/// Located diagnostics for text that is not JSON, an event of another type, and each
/// missing or mistyped field.
pub fn parse(file: &str, text: &str) -> Result<OnboardingEvent, Vec<Diagnostic>> {
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
            .help("pass the event a rule delivers to its target: `detail-type` and `detail` (an object)"),
        );
        return Err(p.list);
    }
    p.detail_type(&root);
    let detail = p.object(&root, "/detail", "detail");
    let data = detail.and_then(|d| p.object(d, "/tenantData", "detail.tenantData"));
    let tenant_id = detail.and_then(|d| p.field(d, "/tenantId", "detail.tenantId"));
    let name = data.and_then(|d| p.field(d, "/tenantName", "detail.tenantData.tenantName"));
    let email = data.and_then(|d| p.field(d, "/email", "detail.tenantData.email"));
    let tier = data.and_then(|d| p.field(d, "/tier", "detail.tenantData.tier"));
    match (tenant_id, name, email, tier) {
        (Some(tenant_id), Some(name), Some(email), Some(tier)) if p.list.is_empty() => {
            Ok(OnboardingEvent {
                tenant_id,
                name,
                email,
                tier,
                event_id: match root.at_pointer("/id").map(|n| &n.value) {
                    Some(NodeValue::String(id)) => Some(id.clone()),
                    _ => None,
                },
            })
        }
        _ => Err(p.list),
    }
}

/// The problems found so far in one event file.
struct Problems<'a> {
    file: &'a str,
    list: Vec<Diagnostic>,
}

impl Problems<'_> {
    fn at(&mut self, span: Span, message: String) {
        self.list
            .push(Diagnostic::error("bad-event", self.file, span, message));
    }

    fn missing(&mut self, span: Span, shown: &str) {
        self.list.push(Diagnostic::error(
            "missing-field",
            self.file,
            span,
            format!("the onboarding request has no `{shown}`"),
        ));
    }

    fn detail_type(&mut self, root: &Node) {
        let Some(node) = root.at_pointer("/detail-type") else {
            self.list.push(
                Diagnostic::error(
                    "bad-event",
                    self.file,
                    root.span,
                    "the event has no `detail-type`",
                )
                .help(format!(
                    "an onboarding request's `detail-type` is {}",
                    expected()
                )),
            );
            return;
        };
        if matches!(&node.value, NodeValue::String(t) if DETAIL_TYPES.contains(&t.as_str())) {
            return;
        }
        self.list.push(
            Diagnostic::error(
                "not-onboarding",
                self.file,
                node.span,
                format!(
                    "{} is not an onboarding request; tenantops maps {}",
                    shown(node),
                    expected()
                ),
            )
            .help("route only onboarding requests to this job (the EventBridge rule's `detail-type` filter)"),
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

    /// The non-empty string at `pointer` in `parent`.
    fn field(&mut self, parent: &Node, pointer: &str, shown: &str) -> Option<Field> {
        match parent.at_pointer(pointer) {
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
                        "`{shown}` must be a non-empty string, not {}",
                        shown_kind(other)
                    ),
                );
                None
            }
            None => {
                self.missing(parent.span_of(pointer), shown);
                None
            }
        }
    }
}

fn expected() -> String {
    DETAIL_TYPES
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
mod tests {
    use super::*;

    const GOOD: &str = r#"{
  "version": "0",
  "id": "7f9e-1",
  "detail-type": "sbt_aws_onboardingRequest",
  "source": "sbt-control-plane",
  "detail": {
    "tenantId": "initrode",
    "tenantData": {"tenantName": "Initrode", "email": "ops@initrode.example.com", "tier": "advanced"}
  }
}"#;

    #[test]
    fn maps_the_sbt_shape() {
        let e = parse("e.json", GOOD).unwrap();
        assert_eq!(e.tenant_id.value, "initrode");
        assert_eq!(e.tenant_id.span.line, 7);
        assert_eq!(e.tier.value, "advanced");
        assert_eq!(e.event_id.as_deref(), Some("7f9e-1"));
    }

    #[test]
    fn reports_every_missing_field_where_it_belongs() {
        let text = r#"{"detail-type": "onboardingRequest",
 "detail": {"tenantData": {"tenantName": "X", "tier": 3}}}"#;
        let problems = parse("e.json", text).unwrap_err();
        let messages: Vec<_> = problems
            .iter()
            .map(|d| (d.span.unwrap().line, d.message.as_str()))
            .collect();
        assert_eq!(
            messages,
            [
                (2, "the onboarding request has no `detail.tenantId`"),
                (2, "the onboarding request has no `detail.tenantData.email`"),
                (
                    2,
                    "`detail.tenantData.tier` must be a non-empty string, not a number"
                ),
            ]
        );
    }

    #[test]
    fn refuses_other_events() {
        let text = GOOD.replace("sbt_aws_onboardingRequest", "sbt_aws_offboardingRequest");
        let problems = parse("e.json", &text).unwrap_err();
        assert_eq!(problems[0].code, "not-onboarding");
        assert_eq!(problems[0].span.unwrap().line, 4);
        assert!(parse("e.json", "[1, 2]").is_err());
        assert!(parse("e.json", "{\"DetailType\": \"x\"}").is_err());
        assert!(parse("e.json", "{").is_err());
    }
}
