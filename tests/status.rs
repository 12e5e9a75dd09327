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
            assert_eq!(e["Source"], "tenantops");
            let detail: Value = serde_json::from_str(e["Detail"].as_str().unwrap()).unwrap();
            (e["DetailType"].as_str().unwrap().to_owned(), detail)
        })
        .collect()
}

#[test]
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
    assert_eq!(globex["stacks"][0]["status"], "CREATE_COMPLETE");
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
            && l.contains("CREATE_COMPLETE  drift    8/8 tasks in 4 services")),
        "{}",
        human.stdout
    );
    assert_contains(
        &human.stdout,
        "stage `prod`: 2 tenants (1 drift, 1 in sync)",
    );
    let md = moto.run(
        f.path(),
        &["status", "--format", "markdown", "--no-services"],
    );
    assert_contains(
        &md.stdout,
        "| TENANT | TIER | STATE | STACK | STATUS | SYNC | SERVICES |",
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
            "routing",
            "stacks",
            "stage",
            "tenantId",
            "tenantName",
            "tenantopsId",
            "tier"
        ]
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

    // A run with nothing to do writes an empty list, so a CI step always has a file.
    let run = apply(
        &moto,
        &f,
        &["--steady-timeout", "2", "--events", out.to_str().unwrap()],
    );
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "[]\n");
}

#[test]
fn an_onboarded_tenant_is_reported_under_the_control_planes_id_and_offboarding_deprovisions() {
    let moto = Moto::start(0.2, &[]);
    let f = Fixture::example();
    f.commit("fleet");
    assert_eq!(apply(&moto, &f, &[]).code, 0);

    let event = f.path().join("event.json");
    std::fs::write(
        &event,
        std::fs::read_to_string(common::shipped().join("tests/fixtures/events/valid.json"))
            .unwrap()
            .replace(
                "\"tenantId\": \"initrode\"",
                "\"tenantId\": \"0b9e4c1d-5a7f\"",
            ),
    )
    .unwrap();
    let onboard = f.run(&[
        "onboard",
        "--from-event",
        event.to_str().unwrap(),
        "--id",
        "initrode",
    ]);
    assert_eq!(onboard.code, 0, "{}", onboard.all());
    std::fs::remove_file(&event).unwrap();
    f.commit("onboard initrode");

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
        ],
    );
    cmd.env(
        "CODEBUILD_RESOLVED_SOURCE_VERSION",
        "feedc0de00000000000000000000000000000001",
    );
    let run = common::run_command(&mut cmd, f.path());
    assert_eq!(run.code, 0, "{}", run.all());
    let got = events(&out);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].0, "sbt_aws_provisionSuccess");
    assert_eq!(got[0].1["tenantId"], "0b9e4c1d-5a7f");
    assert_eq!(got[0].1["tenantopsId"], "initrode");
    assert_eq!(
        got[0].1["commit"],
        "feedc0de00000000000000000000000000000001"
    );
    let tags = moto.python(
        "print({t['Key']: t['Value'] for t in cfn.describe_stacks(StackName='saas-prod-tenant-initrode')['Stacks'][0]['Tags']}['tenantops:commit'])",
    );
    assert_eq!(tags.trim(), "feedc0de00000000000000000000000000000001");

    assert_eq!(f.run(&["offboard", "initrode"]).code, 0);
    let run = apply(
        &moto,
        &f,
        &["--allow-destroy", "--events", out.to_str().unwrap()],
    );
    assert_eq!(run.code, 0, "{}", run.all());
    let got = events(&out);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].0, "sbt_aws_deprovisionSuccess");
    assert_eq!(got[0].1["tenantId"], "0b9e4c1d-5a7f");
    assert!(got[0].1.get("endpoint").is_none());
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
    let run = apply(&moto, &f, &["--events", out.to_str().unwrap()]);
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
