//! Walls inside tenantops as a fleet grows: a machine-written lock always reads back, a lock that does not load is one error, and the usage-plans stack does not grow a parameter per router.

mod common;

use common::{Fixture, assert_contains};

/// A synthetic fleet of `n` tenants (60 % basic, 30 % advanced, 10 % premium) with its lock.
fn fleet(n: usize) -> Fixture {
    let f = Fixture::empty();
    tenantops::synth::write_fleet(f.path(), n).expect("write the synthetic fleet");
    f
}

#[test]
fn a_lock_of_twenty_thousand_tenants_reads_back() {
    // Over 100,000 YAML values written out (no aliases): the alias-bomb guard once
    // refused it, so every command failed on the lock `tenantops lock` had written.
    let f = fleet(20_000);
    let lock = f.read("tenants.lock");
    assert!(
        lock.lines().count() > 16_000,
        "the lock is the size of the wall"
    );
    // The lock loads: what `validate` refuses is only what AWS would, the quotas one
    // account and region cannot hold 20,000 tenants in (API keys, which AWS does not
    // raise, and roles and tables past the most AWS grants).
    let validate = f.run(&["validate"]);
    assert_eq!(validate.code, 1, "{}", validate.all());
    let errors: Vec<&str> = validate
        .stderr
        .lines()
        .filter(|l| l.starts_with("error["))
        .collect();
    assert!(
        !errors.is_empty() && errors.iter().all(|l| l.starts_with("error[quota]")),
        "{}",
        validate.stderr
    );
    assert_contains(
        &validate.stderr,
        "the fleet needs 20000 API Gateway API keys per Region, over `quotas.api_keys: 10000`",
    );
    let check = f.run(&["lock", "--check"]);
    assert_eq!(check.code, 0, "{}", check.all());
    assert_eq!(f.read("tenants.lock"), lock);
}

#[test]
fn a_lock_over_its_cap_is_one_error_not_one_per_tenant() {
    let f = fleet(200);
    let mut lock = f.read("tenants.lock");
    let pad = "# padding\n".repeat(33 * 1024 * 1024 / 10 + 1);
    lock.push_str(&pad);
    f.write("tenants.lock", &lock);
    let run = f.run(&["validate"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert_contains(&run.stderr, "the lock is at most 33554432 bytes (32 MiB)");
    assert!(
        !run.stderr.contains("not-allocated") && !run.stderr.contains("not-packed"),
        "an unreadable lock must not also report every tenant unallocated:\n{}",
        run.stderr
    );
    assert_eq!(run.stderr.matches("error[").count(), 1, "{}", run.stderr);
}

#[test]
fn the_usage_plans_stack_takes_router_ids_in_lists_not_one_parameter_each() {
    // 600 tenants at one per shard are 234 router shards: with a parameter per router
    // the usage-plans stack passed CloudFormation's 200 parameters.
    let f = fleet(600);
    let platform = f
        .read("tenantops.yaml")
        .replace("tenants_per_shard: 100", "tenants_per_shard: 1");
    f.write("tenantops.yaml", platform);
    f.remove("tenants.lock");
    let lock = f.run(&["lock"]);
    assert_eq!(lock.code, 0, "{}", lock.all());
    let out = f.path().join("out");
    let run = f.run(&["render", "--out", out.to_str().expect("utf-8 path")]);
    assert_eq!(run.code, 0, "{}", run.all());
    let read = |rel: &str| -> serde_json::Value {
        serde_json::from_str(&f.read(rel)).expect("rendered JSON")
    };
    let template = read("out/stacks/saas-prod-usage-plans.json");
    let params = template["Parameters"].as_object().expect("parameters");
    assert_eq!(params.len(), 1, "{params:?}");
    assert_eq!(params["RouterApiIds1"]["Type"], "CommaDelimitedList");
    let stages = template["Resources"]["UsagePlanAdvanced"]["Properties"]["ApiStages"]
        .as_array()
        .expect("api stages");
    assert!(stages.len() > 200, "{}", stages.len());
    let values = read("out/stacks/saas-prod-usage-plans.params.json");
    let listed = values.to_string().matches("\"ApiId\"").count();
    assert!(listed > 200, "{values}");
}
