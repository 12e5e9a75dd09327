//! The delivery pipeline's stack (`tenantops bootstrap`): rendered from `pipeline.json.j2` with the onboarding build's buildspec and the EventBridge input template that carries an onboarding request into it.

use super::{Engine, Stack, plan};
use crate::diag::Diagnostic;
use crate::repo::Repo;

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

/// The pipeline stack of `repo` (validated), or `None` without a `pipeline` section.
///
/// # Errors
/// Template errors, located.
pub fn render_pipeline(repo: &Repo) -> Result<Option<Stack>, Vec<Diagnostic>> {
    let Some(platform) = &repo.platform else {
        return Ok(None);
    };
    let Some(spec) = plan::pipeline_spec(&platform.value, &platform.file) else {
        return Ok(None);
    };
    let engine = Engine::new(repo)?;
    let bucket = platform.value.cloudformation.artifact_bucket.is_some();
    let (template, resources, problems) =
        super::render_stack(&engine, &spec, &[], bucket).map_err(|d| vec![*d])?;
    if let Some((code, message)) = problems.into_iter().next() {
        return Err(vec![Diagnostic::unlocated(
            code,
            Some(&platform.file),
            message,
        )]);
    }
    Ok(Some(Stack {
        template_bytes: template.len(),
        upload: super::upload(template.len()),
        template: Some(template),
        resources,
        spec,
    }))
}
