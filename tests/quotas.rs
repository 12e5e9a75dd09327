//! The AWS quotas `validate` counts: the counted use of each equals the resources of its kind in the rendered templates (shipped fleet, tier x compute x routing matrix, 1,000 synthetic tenants), and a fleet at a quota passes with a warning while one over it is a located error, also for a quota AWS does not raise.

mod common;

use common::{Fixture, assert_contains, assert_invalid, templates};
use serde_json::Value;
use tenantops::quotas::QUOTAS;

/// `validate --format json`'s quota report: key → (used, limit).
fn reported(f: &Fixture) -> std::collections::BTreeMap<String, (u64, u64)> {
    let run = f.run(&["validate", "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.all());
    let report: Value = serde_json::from_str(&run.stdout).expect("JSON report");
    report["summary"]["quotas"]
        .as_array()
        .expect("quotas in the summary")
        .iter()
        .map(|q| {
            (
                q["quota"].as_str().expect("key").to_owned(),
                (
                    q["used"].as_u64().expect("used"),
                    q["limit"].as_u64().expect("limit"),
                ),
            )
        })
        .collect()
}

/// Resources of `kind` (a CloudFormation type, a load balancer's `Type` after a slash)
/// in every rendered template.
fn rendered(stacks: &std::collections::BTreeMap<String, Value>, kind: &str) -> u64 {
    let (ty, lb) = kind
        .split_once('/')
        .map_or((kind, None), |(t, l)| (t, Some(l)));
    let mut n = 0;
    for template in stacks.values() {
        for r in template["Resources"]
            .as_object()
            .expect("resources")
            .values()
        {
            if r["Type"] != ty {
                continue;
            }
            if let Some(lb) = lb {
                let of = r["Properties"]["Type"].as_str().unwrap_or("application");
                if of != lb {
                    continue;
                }
            }
            n += 1;
        }
    }
    n
}

/// The ECS services of the rendered fleet's largest cluster: a service's `Cluster` is
/// its own stack's (`Ref: Cluster`) or the one its `ClusterArn` parameter reads (a
/// bridge tenant's: its tier stack's).
fn largest_cluster(
    out: &std::path::Path,
    stacks: &std::collections::BTreeMap<String, Value>,
) -> u64 {
    let mut clusters: std::collections::BTreeMap<String, u64> = std::collections::BTreeMap::new();
    for (name, template) in stacks {
        for r in template["Resources"]
            .as_object()
            .expect("resources")
            .values()
        {
            if r["Type"] != "AWS::ECS::Service" {
                continue;
            }
            let cluster = &r["Properties"]["Cluster"];
            let key = if *cluster == serde_json::json!({"Ref": "ClusterArn"}) {
                let params: Value = serde_json::from_str(
                    &std::fs::read_to_string(out.join(format!("stacks/{name}.params.json")))
                        .expect("params"),
                )
                .expect("params JSON");
                params["parameters"]["ClusterArn"]["stack"]
                    .as_str()
                    .expect("the cluster's stack")
                    .to_owned()
            } else {
                assert_eq!(*cluster, serde_json::json!({"Ref": "Cluster"}), "{name}");
                name.clone()
            };
            *clusters.entry(key).or_default() += 1;
        }
    }
    clusters.into_values().max().unwrap_or(0)
}

fn assert_counted_as_rendered(name: &str, f: &Fixture) {
    let report = reported(f);
    let out = f.path().join("rendered");
    f.render(&["--out", out.to_str().expect("utf-8 path")]);
    let stacks = templates(&out);
    assert_eq!(
        report["stacks"].0,
        stacks.len() as u64,
        "{name}: the stack count"
    );
    for q in QUOTAS {
        let (used, _) = report
            .get(q.key)
            .unwrap_or_else(|| panic!("{name}: `{}` is not reported", q.key));
        let held = if q.key == "ecs_services_per_cluster" {
            largest_cluster(&out, &stacks)
        } else {
            rendered(&stacks, q.resource)
        };
        assert_eq!(
            *used, held,
            "{name}: `{}` counts {} but the templates hold that many {}",
            q.key, used, q.resource
        );
        assert!(*used > 0, "{name}: `{}` spends nothing", q.key);
    }
}

#[test]
fn the_counted_use_of_every_quota_is_what_the_templates_hold() {
    assert_counted_as_rendered("shipped", &Fixture::example());
    assert_counted_as_rendered("matrix", &Fixture::matrix());
    let synthetic = Fixture::empty();
    tenantops::synth::write_fleet(synthetic.path(), 1000).expect("synthetic fleet");
    assert_counted_as_rendered("1,000 synthetic tenants", &synthetic);
}

/// The example fleet with `quotas: {key}: {value}` appended, and the line it is on.
fn with_quota(key: &str, value: u64) -> (Fixture, usize) {
    let f = Fixture::example();
    let platform = format!("{}quotas:\n  {key}: {value}\n", f.read("tenantops.yaml"));
    let line = platform.lines().count();
    f.write("tenantops.yaml", platform);
    (f, line)
}

#[test]
fn a_fleet_at_a_quota_passes_with_a_warning_and_one_over_it_is_an_error_at_the_setting() {
    let used = reported(&Fixture::example());
    for q in QUOTAS {
        let need = used[q.key].0;
        let (at, _) = with_quota(q.key, need);
        let run = at.run(&["validate"]);
        assert_eq!(run.code, 0, "{}: {}", q.key, run.all());
        assert_contains(&run.stderr, "warning[quota-near]");
        assert_contains(
            &run.stderr,
            format!(
                "the fleet needs {need} {}, 100 % of `quotas.{}: {need}`",
                q.name, q.key
            ),
        );
        let (over, line) = with_quota(q.key, need - 1);
        let run = over.run(&["validate"]);
        assert_invalid(
            &run,
            &format!("tenantops.yaml:{line}:{}", q.key.len() + 5),
            &format!(
                "the fleet needs {need} {}, over `quotas.{}: {}`",
                q.name,
                q.key,
                need - 1
            ),
        );
        if q.adjustable {
            assert_contains(
                &run.stderr,
                format!("raise \"{}\" in Service Quotas", q.name),
            );
        } else {
            assert_contains(&run.stderr, format!("\"{}\" cannot be raised", q.name));
        }
    }
}

#[test]
fn a_quota_aws_does_not_raise_cannot_be_set_above_its_value() {
    for (key, over) in [
        ("api_keys", 20_000),
        ("regional_apis", 601),
        ("iam_roles", 5001),
    ] {
        let (f, line) = with_quota(key, over);
        assert_invalid(
            &f.run(&["validate"]),
            &format!("tenantops.yaml:{line}:{}", key.len() + 5),
            &over.to_string(),
        );
    }
}

#[test]
fn a_plan_shows_the_quotas_a_change_moves_and_those_nearest_their_limit() {
    let f = Fixture::example();
    f.commit("fleet");
    let run = f.run(&[
        "onboard",
        "--id",
        "newco",
        "--tier",
        "advanced",
        "--name",
        "New Co",
        "--email",
        "ops@newco.example.com",
    ]);
    assert_eq!(run.code, 0, "{}", run.all());
    let md = f.run(&["plan", "--base", "HEAD", "--format", "markdown"]);
    assert_eq!(md.code, 0, "{}", md.all());
    // A bridge tenant spends a namespace, four roles, a user pool, a table, a target
    // group, an API key and a stack; the nearest its limit comes first.
    assert_contains(
        &md.stdout,
        "Quotas: API Gateway VPC links per Region 3 of 20 · Cloud Map namespaces per Region 6 of 50 (was 5) · ",
    );
    assert_contains(
        &md.stdout,
        "API Gateway API keys per Region 8 of 10000 (was 7)",
    );
    let json = f.run(&["plan", "--base", "HEAD", "--format", "json"]);
    let plan: Value = serde_json::from_str(&json.stdout).expect("JSON plan");
    let headroom = plan["plan"]["headroom"].as_array().expect("headroom");
    assert!(
        headroom
            .iter()
            .any(|h| h["quota"] == "vpc_links" && h["used"] == 3 && h["limit"] == 20),
        "the nearest unmoved quota is shown too: {headroom:?}"
    );
}

#[test]
fn onboarding_a_tenant_the_account_has_no_room_for_is_refused_and_writes_nothing() {
    // The example fleet spends 5 namespaces: a bridge tenant needs a sixth, a pool
    // tenant none.
    let (f, line) = with_quota("cloud_map_namespaces", 5);
    let lock = f.read("tenants.lock");
    let onboard = |id: &str, tier: &str| {
        f.run(&[
            "onboard",
            "--id",
            id,
            "--tier",
            tier,
            "--name",
            "New Co",
            "--email",
            "ops@newco.example.com",
        ])
    };
    let run = onboard("newco", "advanced");
    assert_invalid(
        &run,
        &format!("tenantops.yaml:{line}:25"),
        "the fleet needs 6 Cloud Map namespaces per Region, over `quotas.cloud_map_namespaces: 5`",
    );
    assert!(!f.path().join("tenants/newco.yaml").exists());
    assert_eq!(f.read("tenants.lock"), lock);
    let run = onboard("newpool", "basic");
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(f.path().join("tenants/newpool.yaml").exists());
}

/// `n` written with thousands separators, as the README writes it.
fn grouped(n: u32) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[test]
fn the_readme_quota_table_is_the_one_validate_enforces() {
    let readme = std::fs::read_to_string(common::shipped().join("README.md")).expect("README");
    for q in QUOTAS {
        let adjustable = match (q.adjustable, q.max) {
            (false, _) => "no".to_owned(),
            (true, Some(max)) => format!("yes, to {}", grouped(max)),
            (true, None) => "yes".to_owned(),
        };
        let row = format!(
            "| `{}` | {} | {} | {adjustable} | {} |",
            q.key,
            q.name,
            grouped(q.default),
            q.spent_by
        );
        assert!(readme.lines().any(|l| l == row), "README has no row\n{row}");
    }
}
