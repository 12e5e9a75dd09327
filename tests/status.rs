//! `status`, provisioning-result events and the CodeBuild commit, against a real moto server: the fleet after an apply, drift after a manifest change, unsteady services, and the event shape the control plane reads.

mod common;

use std::collections::BTreeMap;

use common::{Fixture, Moto, assert_contains};
use serde_json::Value;

fn apply(moto: &Moto, f: &Fixture, extra: &[&str]) -> common::Run {
    moto.apply(f.path(), extra)
}

fn status_json(moto: &Moto, f: &Fixture, extra: &[&str]) -> (i32, Value) {
    let mut args = vec!["status", "--format", "json"];
    args.extend_from_slice(extra);
    let run = moto.run(f.path(), &args);
    let doc = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("status printed no JSON ({e}):\n{}", run.all()));
    (run.code, doc)
}

/// tenant → (worst sync of its stacks, [(stack, sync)]).
fn by_tenant(doc: &Value) -> BTreeMap<String, Vec<(String, String)>> {
    doc["status"]["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["tenant"].as_str().unwrap().to_owned(),
                t["stacks"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|s| {
                        (
                            s["stack"].as_str().unwrap().to_owned(),
                            s["sync"].as_str().unwrap().to_owned(),
                        )
                    })
                    .collect(),
            )
        })
        .collect()
}

fn events(path: &std::path::Path) -> Vec<(String, Value)> {
    let entries: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    entries
        .into_iter()
        .map(|e| {
            let keys: Vec<&str> = e.as_object().unwrap().keys().map(String::as_str).collect();
            assert!(
                keys.iter()
                    .all(|k| ["Source", "DetailType", "Detail", "EventBusName"].contains(k)),
                "a PutEvents entry has only PutEvents keys: {keys:?}"
            );
            // SBT's rules match its application plane's source (sbt-aws event-manager.ts).
            assert_eq!(e["Source"], "sbt.application.plane");
            let detail: Value = serde_json::from_str(e["Detail"].as_str().unwrap()).unwrap();
            (e["DetailType"].as_str().unwrap().to_owned(), detail)
        })
        .collect()
}

#[test]
#[allow(clippy::too_many_lines)] // one fleet's story: applied, drifted, orphaned, each in every format
fn status_after_apply_is_in_sync_with_running_services_and_shows_drift_after_a_change() {
    let moto = Moto::start(0.2, &[]);
    let f = Fixture::example();
    f.commit("fleet");

    // Before anything is deployed, every stack is missing.
    let (code, before) = status_json(&moto, &f, &["--detailed-exitcode", "--no-services"]);
    assert_eq!(code, 4);
    assert!(
        by_tenant(&before)["globex"]
            .iter()
            .all(|(_, s)| s == "missing")
    );

    let run = apply(&moto, &f, &[]);
    assert_eq!(run.code, 0, "{}", run.all());

    let mark = moto.mark();
    let (code, doc) = status_json(&moto, &f, &["--detailed-exitcode"]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(doc["healthy"], true);
    let tenants = by_tenant(&doc);
    assert_eq!(tenants.len(), 7);
    assert!(
        tenants.values().flatten().all(|(_, s)| s == "in-sync"),
        "{tenants:?}"
    );
    // A pooled tenant's stack is its pool pack.
    assert_eq!(
        tenants["acme"],
        [("saas-prod-pool-basic-1".to_owned(), "in-sync".to_owned())]
    );
    // The summary counts each stack once, the pack held by three tenants too (it
    // once said 15 stacks for 12, counting the pack once per tenant).
    assert_contains(
        doc["summary"].as_str().unwrap_or_default(),
        "15 stacks, 0 not in sync",
    );
    let globex = doc["status"]["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["tenant"] == "globex")
        .unwrap();
    let services = globex["stacks"][0]["services"].as_array().unwrap();
    // orders, products, users and the rproxy.
    assert_eq!(services.len(), 4, "{services:?}");
    for s in services {
        assert_eq!(s["desired"], s["running"], "{s}");
        assert_eq!(s["steady"], true);
    }
    // Created, then updated once to record that its services were seen steady.
    assert_eq!(globex["stacks"][0]["status"], "UPDATE_COMPLETE");
    // One listing, then per stack with services one ListStackResources and the
    // DescribeServices of its cluster; nothing mutating.
    let calls = moto.since(mark);
    assert_eq!(calls.get("DescribeStacks"), Some(&1), "{calls:?}");
    assert_eq!(moto.mutating_since(mark), 0, "{calls:?}");

    // A manifest change that is not applied yet is drift, for that tenant only.
    let text = f.read("tenants/stark.yaml");
    f.write(
        "tenants/stark.yaml",
        text + "overrides:\n  desired_count: 3\n",
    );
    let (code, drift) = status_json(&moto, &f, &["--detailed-exitcode", "--no-services"]);
    assert_eq!(code, 4);
    let tenants = by_tenant(&drift);
    assert_eq!(
        tenants["stark"],
        [("saas-prod-tenant-stark".to_owned(), "drift".to_owned())]
    );
    assert!(
        tenants
            .iter()
            .filter(|(t, _)| *t != "stark")
            .flat_map(|(_, s)| s)
            .all(|(_, s)| s == "in-sync"),
        "{tenants:?}"
    );

    let human = moto.run(
        f.path(),
        &["status", "--tenant", "stark", "--tenant", "globex"],
    );
    assert_eq!(human.code, 0, "{}", human.all());
    assert_contains(&human.stdout, "TENANT  TIER      STATE   STACK");
    assert!(
        human.stdout.lines().any(|l| l.starts_with("stark ")
            && l.contains("saas-prod-tenant-stark")
            && l.contains("UPDATE_COMPLETE  drift    8/8 tasks in 4 services")),
        "{}",
        human.stdout
    );
    assert_contains(
        &human.stdout,
        "stage `prod`: 2 tenants (1 drift, 1 in sync)",
    );
    // The whole fleet's quota headroom, nearest its limit first.
    assert_contains(
        &human.stdout,
        "quotas: API Gateway VPC links per Region 3 of 20 · Cloud Map namespaces per Region 5 of 50",
    );
    let md = moto.run(
        f.path(),
        &["status", "--format", "markdown", "--no-services"],
    );
    assert_contains(
        &md.stdout,
        "| TENANT | TIER | STATE | STACK | STATUS | SYNC | SERVICES |",
    );
    assert_contains(
        &md.stdout,
        "Quotas: API Gateway VPC links per Region 3 of 20",
    );
    let unknown = moto.run(f.path(), &["status", "--tenant", "starkk"]);
    assert_eq!(unknown.code, 2);
    assert_contains(&unknown.stderr, "did you mean `stark`?");

    // A tenant removed from git while its stacks run is an orphan.
    f.remove("tenants/wayne.yaml");
    let lock = f.run(&["lock"]);
    assert_eq!(lock.code, 0, "{}", lock.all());
    let (_, orphan) = status_json(&moto, &f, &["--no-services"]);
    let wayne = by_tenant(&orphan)["wayne"].clone();
    assert!(wayne.iter().all(|(_, s)| s == "orphan"), "{wayne:?}");
}

#[test]
#[allow(clippy::too_many_lines)] // one apply, then every assertion about its events, in order
fn unsteady_services_show_in_status_and_provisioning_events_report_each_tenant() {
    // umbrella (wave 2) never gets its tasks.
    let moto = Moto::start(0.2, &["umbrella"]);
    let f = Fixture::example();
    f.commit("fleet");
    let out = f.path().join("events.json");
    let run = apply(
        &moto,
        &f,
        &[
            "--steady-timeout",
            "2",
            "--max-failures",
            "5",
            "--events",
            out.to_str().unwrap(),
            "--event-bus",
            "saas-control-plane",
            "--commit",
            "0123456789abcdef0123456789abcdef01234567",
        ],
    );
    assert_eq!(run.code, 5, "{}", run.all());
    let raw: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert!(
        raw.iter()
            .all(|e| e["EventBusName"] == "saas-control-plane")
    );
    let got = events(&out);
    let by_id: BTreeMap<String, (String, Value)> = got
        .into_iter()
        .map(|(t, d)| (d["tenantopsId"].as_str().unwrap().to_owned(), (t, d)))
        .collect();
    // Every tenant with stacks of its own, and the pooled tenants of the new pack.
    assert_eq!(
        by_id.keys().map(String::as_str).collect::<Vec<_>>(),
        [
            "acme", "globex", "hooli", "initech", "stark", "umbrella", "wayne"
        ]
    );
    let (kind, globex) = &by_id["globex"];
    assert_eq!(kind, "sbt_aws_provisionSuccess");
    let keys: Vec<&str> = globex
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "commit",
            "endpoint",
            "jobOutput",
            "routing",
            "stacks",
            "stage",
            "tenantId",
            "tenantName",
            "tenantopsId",
            "tier"
        ]
    );
    // What SBT's PATCH handler stores, as the reference architecture's job exports it.
    assert_eq!(
        globex["jobOutput"]["tenantRegistrationData"],
        serde_json::json!({"registrationStatus": "Created"})
    );
    let config: Value = serde_json::from_str(
        globex["jobOutput"]["tenantData"]["tenantConfig"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(config["apiGatewayUrl"], globex["endpoint"]);
    assert!(
        config["userPoolId"].as_str().is_some_and(|p| !p.is_empty()),
        "{config}"
    );
    assert!(
        config["appClientId"]
            .as_str()
            .is_some_and(|p| !p.is_empty()),
        "{config}"
    );
    assert_eq!(globex["tenantId"], "globex");
    assert_eq!(globex["tier"], "advanced");
    assert_eq!(globex["commit"], "0123456789abcdef0123456789abcdef01234567");
    assert_eq!(
        globex["routing"]["header"],
        serde_json::json!({"name": "tenantPath", "value": "globex"})
    );
    assert_eq!(globex["routing"]["router"], "saas-prod-router-1");
    assert_eq!(globex["routing"]["priority"], 1);
    let endpoint = globex["endpoint"]
        .as_str()
        .expect("endpoint from the router's output");
    assert!(
        endpoint.starts_with("https://") && endpoint.ends_with("/prod"),
        "{endpoint}"
    );
    assert_eq!(
        globex["stacks"],
        serde_json::json!([{"stack": "saas-prod-tenant-globex", "action": "create", "result": "created"}])
    );
    let (kind, acme) = &by_id["acme"];
    assert_eq!(kind, "sbt_aws_provisionSuccess");
    assert_eq!(acme["routing"]["header"]["value"], "basic");

    let (kind, umbrella) = &by_id["umbrella"];
    assert_eq!(kind, "sbt_aws_provisionFailure");
    // SBT's failure status (`ProvisioningScriptJob.jobFailureStatus`).
    assert_eq!(
        umbrella["jobOutput"],
        serde_json::json!({"tenantStatus": "Failed to provision tenant."})
    );
    assert_contains(
        umbrella["reason"].as_str().unwrap(),
        "saas-prod-tenant-umbrella: ECS services not steady",
    );
    // wave 3 runs: --max-failures 5 lets one failure through.
    assert_eq!(by_id["wayne"].0, "sbt_aws_provisionSuccess");

    let (code, doc) = status_json(&moto, &f, &["--detailed-exitcode", "--tenant", "umbrella"]);
    assert_eq!(code, 4);
    assert_eq!(doc["healthy"], false);
    let stack = &doc["status"]["tenants"][0]["stacks"][0];
    let unsteady: Vec<&Value> = stack["services"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["steady"] == false)
        .collect();
    assert!(!unsteady.is_empty(), "{stack:#}");
    assert_eq!(unsteady[0]["running"], 0);

    // The rerun checks umbrella again (its services were never seen steady) and answers
    // for it again; before, it said nothing to apply and exited 0.
    let events_of = |run: &common::Run| -> Vec<(String, String)> {
        assert!(run.code == 0 || run.code == 5, "{}", run.all());
        let entries: Vec<Value> =
            serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
        entries
            .iter()
            .map(|e| {
                let detail: Value =
                    serde_json::from_str(e["Detail"].as_str().unwrap_or_default()).unwrap();
                (
                    detail["tenantopsId"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                    e["DetailType"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    };
    let args = ["--steady-timeout", "2", "--events", out.to_str().unwrap()];
    let run = apply(&moto, &f, &args);
    assert_eq!(run.code, 5, "{}", run.all());
    assert_eq!(
        events_of(&run),
        [("umbrella".to_owned(), "sbt_aws_provisionFailure".to_owned())]
    );
    // Its tasks start at last: the next run sees it steady and reports it provisioned.
    moto.start_tasks("umbrella");
    let run = apply(&moto, &f, &args);
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(
        events_of(&run),
        [("umbrella".to_owned(), "sbt_aws_provisionSuccess".to_owned())]
    );

    // A run with nothing to do writes an empty list, so a CI step always has a file.
    let run = apply(&moto, &f, &args);
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "[]\n");
}

/// The entries of `events` put on a moto bus carrying SBT's result rules and handled
/// as SBT's PATCH handler does (`tests/support/sbt_events.py consume`), over the
/// registrations and tenants SBT made when it sent the onboarding requests.
fn consume(moto: &Moto, events: &std::path::Path, state: &Value) -> Value {
    let state_file = events.with_extension("state.json");
    std::fs::write(&state_file, state.to_string()).unwrap();
    let out = std::process::Command::new(common::tool("python"))
        .arg(common::shipped().join("tests/support/sbt_events.py"))
        .args(["consume", &moto.endpoint])
        .arg(events)
        .arg(&state_file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// What SBT's control plane holds for a tenant it asked to onboard: its registration
/// item and tenant record, read from the request it sent.
fn sbt_state(requests: &[&str]) -> Value {
    let mut registrations = Vec::new();
    let mut tenants = Vec::new();
    for name in requests {
        let path = common::shipped().join(format!("tests/fixtures/events/sbt/{name}.json"));
        let event: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let d = &event["detail"];
        registrations.push(serde_json::json!({
            "tenantRegistrationId": d["tenantRegistrationId"],
            "sbtaws_active": true,
            "registrationStatus": d["registrationStatus"],
            "tenantId": d["tenantId"],
        }));
        tenants.push(serde_json::json!({
            "tenantId": d["tenantId"],
            "tenantName": d["tenantName"],
            "email": d["email"],
            "tier": d["tier"],
            "tenantRegistrationId": d["tenantRegistrationId"],
            "sbtaws_active": true,
        }));
    }
    serde_json::json!({"registrations": registrations, "tenants": tenants})
}

/// Each tenant's `tenantConfig` as SBT stored it names the user pool and client the
/// stacks tenantops deployed output, and the router's endpoint.
fn configurations_are_the_deployed_ones(moto: &Moto, sbt_side: &Value) {
    let outputs = |stack: &str| {
        moto.python(&format!(
            "print({{o['OutputKey']: o['OutputValue'] for o in cfn.describe_stacks(StackName='{stack}')['Stacks'][0]['Outputs']}})"
        ))
    };
    for t in sbt_side["tenants"].as_array().unwrap() {
        let config: Value = serde_json::from_str(t["tenantConfig"].as_str().unwrap()).unwrap();
        let pool = config["userPoolId"].as_str().unwrap();
        let client = config["appClientId"].as_str().unwrap();
        let stack = if t["tier"] == "BASIC" {
            "saas-prod-tier-basic"
        } else {
            "saas-prod-tenant-initrode-global"
        };
        let deployed = outputs(stack);
        assert!(
            !pool.is_empty() && deployed.contains(pool),
            "{t}: {deployed}"
        );
        assert!(
            !client.is_empty() && deployed.contains(client),
            "{t}: {deployed}"
        );
        assert!(
            config["apiGatewayUrl"]
                .as_str()
                .unwrap()
                .starts_with("https://"),
            "{config}"
        );
    }
}

/// A deactivation request (bridge tenant, found by its control-plane id) and a
/// suspension by id (pooled tenant) are answered after the apply that carries them out,
/// with the registration id; then an activation.
fn suspension_and_activation_are_answered(moto: &Moto, f: &Fixture, out: &std::path::Path) {
    let sbt = |name: &str| {
        common::shipped()
            .join(format!("tests/fixtures/events/sbt/{name}.json"))
            .display()
            .to_string()
    };
    let suspend = f.run(&["suspend", "--from-event", &sbt("deactivate-advanced")]);
    assert_eq!(suspend.code, 0, "{}", suspend.all());
    assert_eq!(f.run(&["suspend", "soylent-corp"]).code, 0);
    let run = apply(
        moto,
        f,
        &["--events", out.to_str().unwrap(), "--event-bus", "sbt-bus"],
    );
    assert_eq!(run.code, 0, "{}", run.all());
    let got = events(out);
    let kinds: Vec<(&str, &str, Option<&str>)> = got
        .iter()
        .map(|(k, d)| {
            (
                k.as_str(),
                d["tenantopsId"].as_str().unwrap(),
                d["tenantRegistrationId"].as_str(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            (
                "sbt_aws_deactivateSuccess",
                "initrode-global",
                Some("0b9e8d7c-6a5f-4e3d-9c2b-1a0f9e8d7c6b")
            ),
            (
                "sbt_aws_deactivateSuccess",
                "soylent-corp",
                Some("5d0c2f4e-9b1a-4c3d-8e7f-0a1b2c3d4e5f")
            ),
        ]
    );
    let activate = f.run(&["activate", "--from-event", &sbt("activate-advanced")]);
    assert_eq!(activate.code, 0, "{}", activate.all());
    let run = apply(moto, f, &["--events", out.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.all());
    let got = events(out);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].0, "sbt_aws_activateSuccess");
    assert_eq!(got[0].1["state"], "active");
}

#[test]
fn sbt_requests_onboard_and_offboard_and_sbts_handler_stores_the_results() {
    let moto = Moto::start(0.2, &[]);
    let f = Fixture::example();
    f.commit("fleet");
    assert_eq!(apply(&moto, &f, &[]).code, 0);

    let sbt = |name: &str| {
        common::shipped()
            .join(format!("tests/fixtures/events/sbt/{name}.json"))
            .display()
            .to_string()
    };
    for name in ["onboarding-advanced", "onboarding-basic"] {
        let onboard = f.run(&["onboard", "--from-event", &sbt(name)]);
        assert_eq!(onboard.code, 0, "{}", onboard.all());
    }
    f.commit("onboard initrode-global and soylent-corp");

    // Inside CodeBuild the commit comes from CodeBuild's environment.
    let out = f.path().join("events.json");
    let mut cmd = moto.command(
        f.path(),
        &[
            "apply",
            "--yes",
            "--poll",
            "0.05",
            "--events",
            out.to_str().unwrap(),
            "--event-bus",
            "sbt-bus",
        ],
    );
    cmd.env(
        "CODEBUILD_RESOLVED_SOURCE_VERSION",
        "feedc0de00000000000000000000000000000001",
    );
    let run = common::run_command(&mut cmd, f.path());
    assert_eq!(run.code, 0, "{}", run.all());
    let got = events(&out);
    assert_eq!(got.len(), 2, "{got:?}");
    let bridge = got
        .iter()
        .find(|(_, d)| d["tenantopsId"] == "initrode-global")
        .unwrap();
    assert_eq!(bridge.0, "sbt_aws_provisionSuccess");
    assert_eq!(bridge.1["tenantId"], "c3f1a2b4-5d6e-4f70-8a9b-0c1d2e3f4a5b");
    assert_eq!(
        bridge.1["tenantRegistrationId"],
        "0b9e8d7c-6a5f-4e3d-9c2b-1a0f9e8d7c6b"
    );
    assert_eq!(
        bridge.1["commit"],
        "feedc0de00000000000000000000000000000001"
    );
    let tags = moto.python(
        "print({t['Key']: t['Value'] for t in cfn.describe_stacks(StackName='saas-prod-tenant-initrode-global')['Stacks'][0]['Tags']}['tenantops:commit'])",
    );
    assert_eq!(tags.trim(), "feedc0de00000000000000000000000000000001");

    // SBT's rules match every entry; its handler marks both registrations `Created` and
    // stores each tenant's configuration, read from the stacks tenantops deployed.
    let sbt_side = consume(
        &moto,
        &out,
        &sbt_state(&["onboarding-advanced", "onboarding-basic"]),
    );
    assert_eq!(
        sbt_side["delivered"],
        serde_json::json!([
            {"detail-type": "sbt_aws_provisionSuccess", "tenantRegistrationId": "0b9e8d7c-6a5f-4e3d-9c2b-1a0f9e8d7c6b"},
            {"detail-type": "sbt_aws_provisionSuccess", "tenantRegistrationId": "5d0c2f4e-9b1a-4c3d-8e7f-0a1b2c3d4e5f"},
        ])
    );
    for r in sbt_side["registrations"].as_array().unwrap() {
        assert_eq!(r["registrationStatus"], "Created", "{r}");
    }
    configurations_are_the_deployed_ones(&moto, &sbt_side);
    suspension_and_activation_are_answered(&moto, &f, &out);

    // SBT's offboarding request (found by the control-plane id) deprovisions the tenant.
    let offboard = f.run(&["offboard", "--from-event", &sbt("offboarding-advanced")]);
    assert_eq!(offboard.code, 0, "{}", offboard.all());
    let run = apply(
        &moto,
        &f,
        &[
            "--allow-destroy",
            "--events",
            out.to_str().unwrap(),
            "--event-bus",
            "sbt-bus",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.all());
    let got = events(&out);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].0, "sbt_aws_deprovisionSuccess");
    assert_eq!(got[0].1["tenantId"], "c3f1a2b4-5d6e-4f70-8a9b-0c1d2e3f4a5b");
    assert!(got[0].1.get("endpoint").is_none());
    let mut state = sbt_state(&["onboarding-advanced"]);
    state["registrations"][0]["registrationStatus"] = "Created".into();
    let sbt_side = consume(&moto, &out, &state);
    assert_eq!(
        sbt_side["registrations"][0]["registrationStatus"],
        "Deleted"
    );
}

#[test]
fn a_pooled_tenant_is_reported_alone_when_its_pack_gains_or_drops_it() {
    let moto = Moto::start(0.2, &[]);
    let f = Fixture::example();
    f.commit("fleet");
    assert_eq!(apply(&moto, &f, &[]).code, 0);

    let onboard = f.run(&[
        "onboard",
        "--id",
        "vandelay",
        "--tier",
        "basic",
        "--name",
        "Vandelay",
        "--email",
        "art@vandelay.example.com",
    ]);
    assert_eq!(onboard.code, 0, "{}", onboard.all());
    let out = f.path().join("events.json");
    let run = apply(&moto, &f, &["--events", out.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.all());
    let got = events(&out);
    // The pack was updated, but only its new member was provisioned.
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].0, "sbt_aws_provisionSuccess");
    assert_eq!(got[0].1["tenantopsId"], "vandelay");
    assert_eq!(got[0].1["stacks"][0]["stack"], "saas-prod-pool-basic-1");

    assert_eq!(f.run(&["offboard", "hooli"]).code, 0);
    // Its pack loses its key and identity: destructive, so behind the guard.
    let run = apply(&moto, &f, &["--events", out.to_str().unwrap()]);
    assert_eq!(run.code, 6, "{}", run.all());
    let run = apply(
        &moto,
        &f,
        &["--events", out.to_str().unwrap(), "--allow-destroy"],
    );
    assert_eq!(run.code, 0, "{}", run.all());
    let got = events(&out);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].0, "sbt_aws_deprovisionSuccess");
    assert_eq!(got[0].1["tenantopsId"], "hooli");
}

#[test]
fn a_sharded_apply_converges_to_the_same_fleet_as_a_whole_one() {
    let moto = Moto::start(0.2, &[]);
    let f = Fixture::example();
    f.commit("fleet");
    // Tenant shards before the platform: their stacks' producers are missing, so
    // they wait for the platform run.
    let platform = apply(&moto, &f, &["--platform", "--format", "json"]);
    assert_eq!(platform.code, 0, "{}", platform.all());
    let doc: Value = serde_json::from_str(&platform.stdout).unwrap();
    let kinds: Vec<&str> = doc["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["kind"].as_str().unwrap())
        .collect();
    assert!(!kinds.contains(&"tenant"), "{kinds:?}");
    assert_eq!(doc["plan"]["against"], "live, platform stacks only");

    let mut created = Vec::new();
    for shard in ["1/2", "2/2"] {
        let run = apply(&moto, &f, &["--shard", shard, "--format", "json"]);
        assert_eq!(run.code, 0, "{shard}: {}", run.all());
        let doc: Value = serde_json::from_str(&run.stdout).unwrap();
        for r in doc["results"].as_array().unwrap() {
            assert_eq!(r["kind"], "tenant", "{shard}: {r}");
            assert_eq!(r["result"], "created", "{shard}: {r}");
            created.push(r["stack"].as_str().unwrap().to_owned());
        }
    }
    created.sort();
    // globex, stark, umbrella and wayne own tenant stacks; each was created by exactly
    // one shard (wayne's dedicated router is a platform stack: the usage plans read it).
    assert_eq!(
        created,
        [
            "saas-prod-tenant-globex",
            "saas-prod-tenant-stark",
            "saas-prod-tenant-umbrella",
            "saas-prod-tenant-wayne"
        ]
    );
    // The whole fleet is now as an unsharded apply leaves it: nothing to do, and no
    // shard lock stack is left behind.
    let mark = moto.mark();
    let whole = apply(&moto, &f, &[]);
    assert_eq!(whole.code, 0, "{}", whole.all());
    assert_contains(&whole.stdout, "nothing to apply");
    assert_eq!(moto.mutating_since(mark), 0);
    let stacks =
        moto.python("print(sorted(s['StackName'] for s in cfn.describe_stacks()['Stacks']))");
    assert!(!stacks.contains("lock"), "{stacks}");
}

/// A lock left held (a release that failed at the end of a run, a holder that died on
/// another host) is shown by `status`, with its part, holder, run and age: it blocks
/// every apply of an overlapping part, and nothing else said so.
#[test]
fn status_shows_a_stage_lock_left_held() {
    let moto = Moto::start(0.2, &[]);
    let f = Fixture::example();
    moto.python("cfn.create_stack(StackName='saas-prod-tenantops-lock-shard-1-of-2', TemplateBody='{\"Resources\":{\"Lock\":{\"Type\":\"AWS::CloudFormation::WaitConditionHandle\"}}}', Tags=[{'Key':'tenantops:kind','Value':'lock'},{'Key':'tenantops:stage','Value':'prod'},{'Key':'tenantops:lock-part','Value':'shard 1/2'},{'Key':'tenantops:lock-holder','Value':'ci-runner-7:4242'},{'Key':'tenantops:lock-run','Value':'github acme/fleet run 42 attempt 1'},{'Key':'tenantops:lock-since','Value':'2026-12-02T10:00:00Z'},{'Key':'tenantops:lock-expires','Value':'2026-12-02T10:15:00Z'}])");
    let (_, doc) = status_json(&moto, &f, &["--no-services"]);
    assert_eq!(
        doc["locks"],
        serde_json::json!([{
            "stack": "saas-prod-tenantops-lock-shard-1-of-2",
            "part": "shard 1/2",
            "holder": "ci-runner-7:4242",
            "run": "github acme/fleet run 42 attempt 1",
            "since": "2026-12-02T10:00:00Z",
            "expires": "2026-12-02T10:15:00Z",
        }]),
        "{doc}"
    );
    let run = moto.run(f.path(), &["status", "--no-services"]);
    assert_contains(
        &run.stdout,
        "held: the stage lock `saas-prod-tenantops-lock-shard-1-of-2` (shard 1/2) is held by ci-runner-7:4242 (github acme/fleet run 42 attempt 1) since 2026-12-02T10:00:00Z, lease until 2026-12-02T10:15:00Z",
    );
}
