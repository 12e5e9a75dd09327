//! Unit tests of the control-plane request parser, on requests shaped as sbt-aws 0.9.1 builds them.

use super::*;

/// An onboarding request as sbt-aws 0.9.1's tenant-registrations function puts it
/// (`tenantRegistrationData | tenantData | {"tenantId"}`), as EventBridge delivers it.
const GOOD: &str = r#"{
  "version": "0",
  "id": "7f9e-1",
  "detail-type": "sbt_aws_onboardingRequest",
  "source": "sbt.control.plane",
  "detail": {
"registrationStatus": "In progress",
"tenantName": "Initrode",
"email": "ops@initrode.example.com",
"tier": "ADVANCED",
"prices": [],
"useFederation": "false",
"useEc2": "false",
"useRProxy": "true",
"tenantRegistrationId": "5b0e0bb4-8f3a-4d0c-9a43-0f4c7b7e2a11",
"tenantId": "9c1f5a7e-2d4b-4e8f-b6a1-3c2d1e0f9a8b"
  }
}"#;

const SBT: &[&str] = CONTROL_PLANE_SOURCES;

#[test]
fn maps_the_flat_sbt_detail() {
    let e = parse("e.json", GOOD, RequestKind::Onboarding, SBT).unwrap();
    assert_eq!(e.tenant_id.value, "9c1f5a7e-2d4b-4e8f-b6a1-3c2d1e0f9a8b");
    assert_eq!(e.tenant_id.span.line, 16);
    assert_eq!(
        e.registration_id.unwrap().value,
        "5b0e0bb4-8f3a-4d0c-9a43-0f4c7b7e2a11"
    );
    assert_eq!(e.tier.unwrap().value, "ADVANCED");
    assert_eq!(e.use_rproxy.map(|f| f.value), Some(true));
    assert_eq!(e.use_ec2.map(|f| f.value), Some(false));
    assert_eq!(e.event_id.as_deref(), Some("7f9e-1"));
    assert!(e.warnings.is_empty(), "{:?}", e.warnings);
}

#[test]
fn reports_every_missing_field_where_it_belongs() {
    let text = r#"{"detail-type": "onboardingRequest", "source": "controlPlaneEventSource",
 "detail": {"tenantName": "X", "tier": 3, "useEc2": "maybe"}}"#;
    let problems = parse("e.json", text, RequestKind::Onboarding, SBT).unwrap_err();
    let messages: Vec<_> = problems
        .iter()
        .map(|d| (d.span.unwrap().line, d.message.as_str()))
        .collect();
    assert_eq!(
        messages,
        [
            (2, "the onboarding request has no `detail.tenantId`"),
            (
                2,
                "the onboarding request has no `detail.tenantRegistrationId`"
            ),
            (2, "the onboarding request has no `detail.email`"),
            (2, "`detail.tier` must be a non-empty string, not a number"),
            (
                2,
                "`detail.useEc2` must be \"true\" or \"false\", not `maybe`"
            ),
        ]
    );
}

#[test]
fn refuses_other_events_sources_and_the_nested_shape() {
    let text = GOOD.replace("sbt_aws_onboardingRequest", "sbt_aws_offboardingRequest");
    let problems = parse("e.json", &text, RequestKind::Onboarding, SBT).unwrap_err();
    assert_eq!(problems[0].code, "wrong-request");
    assert_eq!(problems[0].span.unwrap().line, 4);
    assert!(parse("e.json", &text, RequestKind::Offboarding, SBT).is_ok());

    let text = GOOD.replace("sbt.control.plane", "sbt.application.plane");
    let problems = parse("e.json", &text, RequestKind::Onboarding, SBT).unwrap_err();
    assert_eq!(problems[0].code, "wrong-source");
    assert!(
        parse(
            "e.json",
            &text,
            RequestKind::Onboarding,
            &["sbt.application.plane"]
        )
        .is_ok()
    );

    let nested = r#"{"detail-type": "sbt_aws_onboardingRequest", "source": "sbt.control.plane",
 "detail": {"tenantId": "a", "tenantRegistrationId": "r",
  "tenantData": {"tenantName": "X", "email": "x@example.com", "tier": "basic"}}}"#;
    let problems = parse("e.json", nested, RequestKind::Onboarding, SBT).unwrap_err();
    assert!(
        problems
            .iter()
            .any(|d| d.span.unwrap().line == 3 && d.message.contains("not SBT's shape"))
    );

    assert!(parse("e.json", "[1, 2]", RequestKind::Onboarding, SBT).is_err());
    assert!(
        parse(
            "e.json",
            "{\"DetailType\": \"x\"}",
            RequestKind::Onboarding,
            SBT
        )
        .is_err()
    );
    assert!(parse("e.json", "{", RequestKind::Onboarding, SBT).is_err());
}

#[test]
fn an_unknown_detail_field_is_a_warning_not_dropped_silently() {
    let text = GOOD.replace("\"prices\": []", "\"region\": \"eu-west-1\"");
    let e = parse("e.json", &text, RequestKind::Onboarding, SBT).unwrap();
    assert_eq!(e.warnings.len(), 1);
    assert!(e.warnings[0].message.contains("`detail.region`"));
    assert_eq!(e.warnings[0].span.unwrap().line, 11);
}
