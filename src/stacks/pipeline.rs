//! The delivery pipeline's stack (`tenantops bootstrap`, template `pipeline.json.j2`): its spec, the onboarding build's buildspec and the EventBridge input template that carries an onboarding request into it.

use std::collections::BTreeMap;

use super::{StackKind, StackSpec};
use crate::model::Platform;
use crate::naming;

/// The onboarding build: rebuilds the onboarding event from the fields the rule's
/// input transformer passed, runs `tenantops onboard --commit` on the pipeline's
/// branch (or, for `onboarding: review`, on a new `onboard/<id>` branch) and pushes.
/// A request delivered twice finds its tenant already there and pushes nothing new.
pub const ONBOARD_BUILDSPEC: &str = r#"version: 0.2
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
        jq -n --arg type "$EVENT_DETAIL_TYPE" --arg id "$EVENT_ID" --arg tenant "$TENANT_ID"
        --arg name "$TENANT_NAME" --arg email "$TENANT_EMAIL" --arg tier "$TENANT_TIER"
        '{"detail-type": $type, id: $id, detail: {tenantId: $tenant, tenantData: {tenantName: $name, email: $email, tier: $tier}}}'
        > "$CODEBUILD_SRC_DIR/../onboarding-event.json"
      - if [ "$TENANTOPS_ONBOARDING" = review ]; then set -- --branch "onboard/$TENANT_ID"; else set --; fi
      - tenantops onboard --from-event "$CODEBUILD_SRC_DIR/../onboarding-event.json" --commit --author "tenantops onboarding <tenantops-onboarding@users.noreply.github.com>" "$@"
      - git push origin HEAD
"#;

/// What the rule passes to `StartBuild`: each field of the request as an environment
/// variable. EventBridge quotes each substituted string, so no value can break out.
#[must_use]
pub fn input_template() -> String {
    let vars = [
        ("EVENT_ID", "eventId"),
        ("EVENT_DETAIL_TYPE", "detailType"),
        ("TENANT_ID", "tenantId"),
        ("TENANT_NAME", "tenantName"),
        ("TENANT_EMAIL", "email"),
        ("TENANT_TIER", "tier"),
    ];
    let items: Vec<String> = vars
        .iter()
        .map(|(name, path)| {
            format!(r#"{{"name": "{name}", "type": "PLAINTEXT", "value": <{path}>}}"#)
        })
        .collect();
    format!(
        r#"{{"environmentVariablesOverride": [{}]}}"#,
        items.join(", ")
    )
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
        onboard_buildspec => ONBOARD_BUILDSPEC,
        input_template => input_template(),
        detail_types => crate::onboard::event::DETAIL_TYPES,
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
