//! The delivery pipeline's stack (`tenantops bootstrap`, template `pipeline.json.j2`): its spec, the onboarding build's buildspec and the EventBridge input template that carries an onboarding request into it.

use std::collections::BTreeMap;

use super::{StackKind, StackSpec};
use crate::model::Platform;
use crate::naming;
use crate::onboard::event::{CONTROL_PLANE_SOURCES, RequestKind};

/// The lifecycle build: rebuilds the control plane's request from the fields the rule's
/// input transformer passed, runs the command that maps it (`onboard`, `offboard`,
/// `activate` or `suspend`, by `detail-type`) with `--commit` on the pipeline's branch
/// (or, for an onboarding with `onboarding: review`, on a new branch
/// `onboard/<tenantRegistrationId>`) and pushes. A request delivered twice finds its
/// change already made and pushes nothing new.
pub const LIFECYCLE_BUILDSPEC: &str = r#"version: 0.2
env:
  shell: bash
  git-credential-helper: yes
phases:
  install:
    commands:
      - command -v tenantops >/dev/null || eval "$TENANTOPS_INSTALL"
  build:
    commands:
      - git fetch origin "$TENANTOPS_BRANCH"
      - git checkout -B "$TENANTOPS_BRANCH" FETCH_HEAD
      - >-
        jq -n --arg type "$EVENT_DETAIL_TYPE" --arg source "$EVENT_SOURCE" --arg id "$EVENT_ID"
        --arg tenant "$TENANT_ID" --arg registration "${TENANT_REGISTRATION_ID-}"
        --arg name "${TENANT_NAME-}" --arg email "${TENANT_EMAIL-}" --arg tier "${TENANT_TIER-}"
        --arg federation "${USE_FEDERATION-}" --arg ec2 "${USE_EC2-}" --arg rproxy "${USE_RPROXY-}"
        '{"detail-type": $type, source: $source, id: $id, detail: ({tenantId: $tenant, tenantRegistrationId: $registration, tenantName: $name, email: $email, tier: $tier, useFederation: $federation, useEc2: $ec2, useRProxy: $rproxy} | with_entries(select(.value != "")))}'
        > "$CODEBUILD_SRC_DIR/../control-plane-event.json"
      - >-
        case "$EVENT_DETAIL_TYPE" in *offboardingRequest) command=offboard ;; *deactivateRequest) command=suspend ;;
        *activateRequest) command=activate ;; *onboardingRequest) command=onboard ;;
        *) echo "not a lifecycle request: $EVENT_DETAIL_TYPE" >&2; exit 1 ;; esac
      - if [ "$command" = onboard ] && [ "$TENANTOPS_ONBOARDING" = review ]; then set -- --branch "onboard/$TENANT_REGISTRATION_ID"; else set --; fi
      - tenantops "$command" --from-event "$CODEBUILD_SRC_DIR/../control-plane-event.json" --commit --author "tenantops lifecycle <tenantops-lifecycle@users.noreply.github.com>" "$@"
      - git push origin HEAD
"#;

/// What a rule's input transformer passes to `StartBuild`: an environment variable per
/// field, from the event's paths. EventBridge quotes each substituted string, so no
/// value can break out.
pub struct RuleInput {
    /// Placeholder → JSON path in the event (`InputPathsMap`).
    pub paths: BTreeMap<&'static str, &'static str>,
    /// `InputTemplate`: `{"environmentVariablesOverride": [...]}`.
    pub template: String,
}

/// The variables every rule passes: which request, from where, for which tenant.
const COMMON_VARS: [(&str, &str, &str); 5] = [
    ("EVENT_ID", "eventId", "$.id"),
    ("EVENT_DETAIL_TYPE", "detailType", "$.detail-type"),
    ("EVENT_SOURCE", "source", "$.source"),
    ("TENANT_ID", "tenantId", "$.detail.tenantId"),
    (
        "TENANT_REGISTRATION_ID",
        "registrationId",
        "$.detail.tenantRegistrationId",
    ),
];

/// The onboarding request's own fields, as sbt-aws's registration function merges them
/// into `detail` (every one is in every onboarding request the reference
/// architecture's console sends).
const ONBOARDING_VARS: [(&str, &str, &str); 6] = [
    ("TENANT_NAME", "tenantName", "$.detail.tenantName"),
    ("TENANT_EMAIL", "email", "$.detail.email"),
    ("TENANT_TIER", "tier", "$.detail.tier"),
    ("USE_FEDERATION", "useFederation", "$.detail.useFederation"),
    ("USE_EC2", "useEc2", "$.detail.useEc2"),
    ("USE_RPROXY", "useRProxy", "$.detail.useRProxy"),
];

/// The input of the onboarding rule (`onboarding`) or of the rule for the other
/// requests, which carry only the tenant's ids.
#[must_use]
pub fn rule_input(onboarding: bool) -> RuleInput {
    let extra: &[(&str, &str, &str)] = if onboarding { &ONBOARDING_VARS } else { &[] };
    let vars: Vec<&(&str, &str, &str)> = COMMON_VARS.iter().chain(extra).collect();
    let items: Vec<String> = vars
        .iter()
        .map(|(name, key, _)| {
            format!(r#"{{"name": "{name}", "type": "PLAINTEXT", "value": <{key}>}}"#)
        })
        .collect();
    RuleInput {
        paths: vars.iter().map(|(_, key, path)| (*key, *path)).collect(),
        template: format!(
            r#"{{"environmentVariablesOverride": [{}]}}"#,
            items.join(", ")
        ),
    }
}

/// The delivery pipeline's stack, when `tenantops.yaml` has a `pipeline` section.
/// It carries no `tenantops:managed` tag: apply never plans it, so a fleet apply can
/// neither change nor delete the pipeline that runs it.
#[must_use]
pub fn pipeline_spec(p: &Platform, file: &str) -> Option<StackSpec> {
    let pipeline = p.pipeline.as_ref()?;
    let name = naming::pipeline_stack(p);
    let tags = BTreeMap::from([
        ("tenantops:stage".to_owned(), p.stage.clone()),
        ("tenantops:kind".to_owned(), "pipeline".to_owned()),
    ]);
    let onboarding = match pipeline.onboarding {
        crate::model::Onboarding::Branch => "branch",
        crate::model::Onboarding::Review => "review",
    };
    let context = minijinja::context! {
        platform => super::context::platform_ctx(p),
        stack => name.clone(),
        pipeline => minijinja::context! {
            connection_arn => pipeline.connection_arn.clone(),
            install => pipeline.install.clone(),
            repository => pipeline.repository.clone(),
            branch => pipeline.branch.clone(),
            buildspec => pipeline.buildspec.clone(),
            compute_type => pipeline.compute_type.clone(),
            image => pipeline.image.clone(),
            event_bus => pipeline.event_bus.clone(),
            onboarding => onboarding,
        },
        lifecycle_buildspec => LIFECYCLE_BUILDSPEC,
        onboarding_rule => rule_pattern_and_input(&[RequestKind::Onboarding], true),
        lifecycle_rule => rule_pattern_and_input(&[RequestKind::Offboarding, RequestKind::Activate, RequestKind::Deactivate], false),
    };
    Some(StackSpec {
        name,
        kind: StackKind::Pipeline,
        origin: file.to_owned(),
        pointer: "/pipeline".to_owned(),
        parameters: BTreeMap::new(),
        tags,
        depends_on: Vec::new(),
        context,
        tenant: None,
        nginx: None,
    })
}

/// A rule's event pattern (SBT's own: `source` and `detail-type`, as `EventManager`
/// builds its rules) and its input transformer, as the template uses them.
fn rule_pattern_and_input(kinds: &[RequestKind], onboarding: bool) -> minijinja::Value {
    let input = rule_input(onboarding);
    let detail_types: Vec<&str> = kinds
        .iter()
        .flat_map(|k| k.detail_types())
        .copied()
        .collect();
    minijinja::context! {
        pattern => minijinja::context! {
            source => CONTROL_PLANE_SOURCES,
            detail_types => detail_types,
        },
        paths => input.paths,
        template => input.template,
    }
}
