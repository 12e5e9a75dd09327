//! Unit tests of the plan stage: hashes, output resolution, live and offline plans.

use std::collections::BTreeMap;

use super::compare::template_diff;
use super::*;
use crate::stacks::Param;

fn stack(name: &str, kind: StackKind, template: &str) -> DesiredStack {
    DesiredStack {
        name: name.to_owned(),
        kind,
        tenant: None,
        tier: None,
        wave: 0,
        template: template.to_owned(),
        inputs: String::new(),
        upload_s3: false,
        parameters: BTreeMap::from([(
            "Vpc".to_owned(),
            Param::Output {
                stack: "net".to_owned(),
                output: "VpcId".to_owned(),
            },
        )]),
        tags: BTreeMap::from([(TAG_MANAGED.to_owned(), "true".to_owned())]),
        depends_on: Vec::new(),
    }
}

#[test]
fn the_hash_covers_template_values_and_tags_but_not_hash_commit_or_version() {
    let s = stack("a", StackKind::Tenant, "{}");
    let vpc = |v: &str| BTreeMap::from([("Vpc".to_owned(), v.to_owned())]);
    let base = s.hash(&vpc("vpc-1"));
    assert_eq!(base.len(), 64);
    assert_ne!(
        base,
        s.hash(&vpc("vpc-2")),
        "a producer's new output changes it"
    );
    let mut t = s.clone();
    t.template = "{ }".to_owned();
    assert_ne!(base, t.hash(&vpc("vpc-1")));
    let mut t = s.clone();
    t.tags.insert(TAG_TIER.to_owned(), "basic".to_owned());
    assert_ne!(base, t.hash(&vpc("vpc-1")));
    let mut t = s.clone();
    t.tags.insert(TAG_COMMIT.to_owned(), "abc".to_owned());
    t.tags.insert(TAG_HASH.to_owned(), "x".to_owned());
    t.tags.insert(TAG_VERSION.to_owned(), "0.0.9".to_owned());
    assert_eq!(base, t.hash(&vpc("vpc-1")));
    // Offline, the reference is hashed, not a value.
    assert_ne!(s.spec_hash(), base);
}

#[test]
fn resolve_names_the_missing_output() {
    let s = stack("a", StackKind::Tenant, "{}");
    assert_eq!(s.resolve(&BTreeMap::new()), Err("net.VpcId".to_owned()));
    let outputs = BTreeMap::from([(
        "net".to_owned(),
        BTreeMap::from([("VpcId".to_owned(), "vpc-9".to_owned())]),
    )]);
    assert_eq!(
        s.resolve(&outputs).ok().and_then(|r| r.get("Vpc").cloned()),
        Some("vpc-9".to_owned())
    );
}

#[test]
fn live_plan_uses_the_hash_tag_and_orders_deletions_last_dependents_first() {
    let desired = Desired {
        stage: "prod".to_owned(),
        region: "us-east-1".to_owned(),
        base: "saas-prod".to_owned(),
        artifact_bucket: None,
        service_role: None,
        pin: None,
        fleet: None,
        quotas: Vec::new(),
        stacks: vec![
            stack("same", StackKind::Tenant, "{}"),
            stack("changed", StackKind::Tenant, "{}"),
            stack("failed", StackKind::Tenant, "{}"),
            stack(
                "new",
                StackKind::Tenant,
                "{\"Resources\":{\"A\":{\"Type\":\"T\"}}}",
            ),
        ],
        tenants: 4,
        roster: Vec::new(),
        routing: serde_json::Value::Null,
    };
    let outputs = BTreeMap::from([("VpcId".to_owned(), "vpc-1".to_owned())]);
    let hash = desired.stacks[0].hash(&BTreeMap::from([("Vpc".to_owned(), "vpc-1".to_owned())]));
    let listed = |name: &str, status: &str, hash: &str, kind: &str| LiveStack {
        name: name.to_owned(),
        status: status.to_owned(),
        reason: None,
        tags: BTreeMap::from([
            (TAG_MANAGED.to_owned(), "true".to_owned()),
            (TAG_STAGE.to_owned(), "prod".to_owned()),
            (TAG_HASH.to_owned(), hash.to_owned()),
            (TAG_KIND.to_owned(), kind.to_owned()),
        ]),
        outputs: BTreeMap::new(),
    };
    let mut net = listed("net", "CREATE_COMPLETE", "", "network");
    net.outputs = outputs;
    let mut other_stage = listed("elsewhere", "CREATE_COMPLETE", "", "tenant");
    other_stage
        .tags
        .insert(TAG_STAGE.to_owned(), "dev".to_owned());
    let plan = live(
        &desired,
        &[
            net,
            listed("same", "UPDATE_COMPLETE", &hash, "tenant"),
            listed("changed", "UPDATE_COMPLETE", "old", "tenant"),
            listed("failed", "ROLLBACK_COMPLETE", &hash, "tenant"),
            listed("gone-tenant", "CREATE_COMPLETE", "x", "tenant"),
            other_stage,
        ],
    );
    let got: Vec<(&str, Action)> = plan
        .changes
        .iter()
        .map(|c| (c.stack.as_str(), c.action))
        .collect();
    assert_eq!(
        got,
        vec![
            ("changed", Action::Update),
            ("failed", Action::Recreate),
            ("new", Action::Create),
            ("gone-tenant", Action::Delete),
            ("net", Action::Delete),
        ]
    );
    assert_eq!(plan.unchanged, 1);
}

#[test]
fn a_removed_stack_keeps_the_kind_its_tag_names() {
    for kind in [
        StackKind::Network,
        StackKind::Router,
        StackKind::UsagePlans,
        StackKind::Tier,
        StackKind::Pack,
        StackKind::Tenant,
    ] {
        // As `render::plan` writes the tag.
        let tag = serde_json::to_value(kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let tags = BTreeMap::from([(TAG_KIND.to_owned(), tag)]);
        assert_eq!(removal("s", &tags).kind, kind);
    }
    assert_eq!(removal("s", &BTreeMap::new()).kind, StackKind::Tenant);
}

#[test]
fn offline_diff_names_modified_added_removed_and_retyped_resources() {
    let before = r#"{"Resources":{"A":{"Type":"T1","Properties":{"X":1}},"B":{"Type":"T2"},"C":{"Type":"T3"}}}"#;
    let after = r#"{"Resources":{"A":{"Type":"T1","Properties":{"X":2}},"B":{"Type":"T9"},"D":{"Type":"T4"}}}"#;
    let diff: Vec<(String, String, Option<String>)> = template_diff(before, after)
        .into_iter()
        .map(|r| (r.logical_id, r.action, r.replacement))
        .collect();
    assert_eq!(
        diff,
        vec![
            ("A".to_owned(), "Modify".to_owned(), None),
            ("B".to_owned(), "Modify".to_owned(), Some("True".to_owned())),
            ("D".to_owned(), "Add".to_owned(), None),
            ("C".to_owned(), "Remove".to_owned(), None),
        ]
    );
}

#[test]
fn a_stack_whose_services_were_not_seen_steady_is_checked_not_unchanged() {
    let service = r#"{"Resources":{"S":{"Type":"AWS::ECS::Service"}}}"#;
    let with = stack("t", StackKind::Tenant, service);
    let hash = "h";
    let tags = |steady: Option<&str>| {
        let mut t = BTreeMap::new();
        if let Some(v) = steady {
            t.insert(TAG_STEADY.to_owned(), v.to_owned());
        }
        t
    };
    // Pending since the change, or steady at an earlier hash: checked.
    assert!(with.awaits_steady(&tags(Some(STEADY_PENDING)), hash));
    assert!(with.awaits_steady(&tags(Some("earlier")), hash));
    // Seen steady at this hash, or deployed before tenantops recorded it: as it is.
    assert!(!with.awaits_steady(&tags(Some(hash)), hash));
    assert!(!with.awaits_steady(&tags(None), hash));
    // Nothing to be steady: no services, or a kind whose services are not waited for.
    assert!(!stack("t", StackKind::Tenant, "{}").awaits_steady(&tags(Some(STEADY_PENDING)), hash));
    assert!(
        !stack("r", StackKind::Router, service).awaits_steady(&tags(Some(STEADY_PENDING)), hash)
    );
    // The tag is not part of the hash.
    let vpc = BTreeMap::from([("Vpc".to_owned(), "vpc-1".to_owned())]);
    let mut tagged = with.clone();
    tagged
        .tags
        .insert(TAG_STEADY.to_owned(), STEADY_PENDING.to_owned());
    assert_eq!(with.hash(&vpc), tagged.hash(&vpc));
}
