//! `tenantops lock`: allocations are made for new routed tenants, never moved, never reused, deterministic, and checked by `--check`.

mod common;

use common::{Fixture, assert_contains, tenant};

#[test]
fn allocates_new_tenants_without_moving_others() {
    let f = Fixture::example();
    let before = f.read("tenants.lock");
    f.write("tenants/newco.yaml", tenant("newco", "advanced"));
    f.write("tenants/alpha.yaml", tenant("alpha", "premium"));
    f.write("tenants/poolco.yaml", tenant("poolco", "basic"));
    let check = f.run(&["lock", "--check"]);
    assert_eq!(check.code, 3, "{}", check.all());
    assert_contains(&check.stderr, "allocate `newco`");
    assert_eq!(f.read("tenants.lock"), before, "--check must not write");

    let run = f.run(&["lock"]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(
        run.stdout,
        "allocate `alpha`: shard 1 priority 4\nallocate `newco`: shard 1 priority 5\npack `poolco`: pool pack 1 of `basic`\nwrote `tenants.lock`\n"
    );
    let after = f.read("tenants.lock");
    for line in before.lines().filter(|l| l.contains("{ shard")) {
        assert!(
            after.contains(line),
            "existing allocation `{line}` moved:\n{after}"
        );
    }
    assert!(
        !after.contains("poolco: { shard"),
        "pool tenants hold no listener rule:\n{after}"
    );
    assert_contains(&after, "poolco: { tier: basic, pack: 1 }");
    assert_eq!(f.run(&["lock", "--check"]).code, 0);
    assert_eq!(f.run(&["validate"]).code, 0);
    // Running again changes nothing.
    let again = f.run(&["lock"]);
    assert!(
        again.stdout.starts_with("ok: `tenants.lock` is up to date"),
        "{}",
        again.stdout
    );
    assert_eq!(f.read("tenants.lock"), after);
}

#[test]
fn offboarding_keeps_then_removal_frees_capacity_but_never_the_priority() {
    let f = Fixture::example();
    f.write(
        "tenantops.yaml",
        f.read("tenantops.yaml")
            .replace("tenants_per_shard: 100", "tenants_per_shard: 3"),
    );
    // Offboarding: the allocation stays while its stacks may still exist.
    f.write(
        "tenants/globex.yaml",
        f.read("tenants/globex.yaml") + "state: offboarding\n",
    );
    assert_eq!(f.run(&["lock", "--check"]).code, 0);
    // The file is deleted after the stacks are gone: its place is released.
    f.remove("tenants/globex.yaml");
    f.write("tenants/newco.yaml", tenant("newco", "advanced"));
    let run = f.run(&["lock"]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert_contains(
        &run.stdout,
        "release `globex`: shard 1 priority 1 (the priority is not reused)",
    );
    // Shard 1 has room again (capacity 3), but priority 1 is not handed out again.
    assert_contains(&run.stdout, "allocate `newco`: shard 1 priority 4");
    let lock = f.read("tenants.lock");
    assert!(lock.contains("next_priority: 5"), "{lock}");
    assert!(!lock.contains("globex"), "{lock}");
}

#[test]
fn a_full_shard_opens_the_next_one() {
    let f = Fixture::example();
    f.write(
        "tenantops.yaml",
        f.read("tenantops.yaml")
            .replace("tenants_per_shard: 100", "tenants_per_shard: 3"),
    );
    f.write("tenants/newco.yaml", tenant("newco", "advanced"));
    let run = f.run(&["lock"]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(
        run.stdout,
        "allocate `newco`: shard 2 priority 1\nopen router shard 2\nwrote `tenants.lock`\n"
    );
    assert_eq!(f.run(&["validate"]).code, 0);
}

#[test]
fn same_repository_same_lock() {
    // Two repositories with the same tenants, written in different orders, from no lock.
    let a = Fixture::example();
    let b = Fixture::example();
    for f in [&a, &b] {
        f.remove("tenants.lock");
    }
    let ids = ["zeta", "mu", "alpha", "kappa"];
    for id in ids {
        a.write(&format!("tenants/{id}.yaml"), tenant(id, "advanced"));
    }
    for id in ids.iter().rev() {
        b.write(&format!("tenants/{id}.yaml"), tenant(id, "advanced"));
    }
    assert_eq!(a.run(&["lock"]).code, 0);
    assert_eq!(b.run(&["lock"]).code, 0);
    assert_eq!(a.read("tenants.lock"), b.read("tenants.lock"));
    insta::assert_snapshot!(a.read("tenants.lock"));
}

#[test]
fn refuses_and_writes_nothing_when_manifests_are_invalid() {
    let f = Fixture::example();
    let before = f.read("tenants.lock");
    f.write("tenants/newco.yaml", tenant("newco", "advanced"));
    f.write("tenants/broken.yaml", tenant("broken", "advnced"));
    let run = f.run(&["lock"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert_contains(&run.stderr, "tier `advnced` does not exist");
    assert!(
        !run.stderr.contains("not-allocated"),
        "lock repairs what it allocates: {}",
        run.stderr
    );
    assert_eq!(f.read("tenants.lock"), before);
    assert!(!f.path().join("tenants.tmp-tenantops").exists());
}

#[test]
fn refuses_a_hand_broken_lock() {
    let f = Fixture::example();
    f.write(
        "tenants.lock",
        f.read("tenants.lock").replace(
            "stark: { shard: 1, priority: 2 }",
            "stark: { shard: 1, priority: 1 }",
        ),
    );
    let before = f.read("tenants.lock");
    let run = f.run(&["lock"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert_contains(&run.stderr, "both hold shard 1 priority 1");
    assert_eq!(f.read("tenants.lock"), before);
}

#[test]
fn missing_lock_is_created_and_check_reports_it() {
    let f = Fixture::example();
    f.remove("tenants.lock");
    let check = f.run(&["lock", "--check"]);
    assert_eq!(check.code, 3, "{}", check.all());
    assert_eq!(f.run(&["lock"]).code, 0);
    assert_eq!(
        f.read("tenants.lock"),
        Fixture::example().read("tenants.lock")
    );
}

#[test]
fn check_json_output() {
    let f = Fixture::example();
    f.write("tenants/newco.yaml", tenant("newco", "advanced"));
    let run = f.run(&["lock", "--check", "--format", "json"]);
    assert_eq!(run.code, 3);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(doc["ok"], false);
    assert_eq!(doc["stale"][0], "allocate `newco`: shard 1 priority 4");
}

#[test]
fn write_failure_is_an_internal_error_and_leaves_the_lock_alone() {
    let f = Fixture::example();
    let before = f.read("tenants.lock");
    f.write("tenants/newco.yaml", tenant("newco", "advanced"));
    // The temporary file's name is taken by a directory, so the write fails.
    std::fs::create_dir(f.path().join(".tenants.lock.tmp-tenantops")).unwrap();
    let run = f.run(&["lock"]);
    assert_eq!(run.code, 10, "{}", run.all());
    assert!(
        run.stderr.starts_with("error: cannot write `"),
        "{}",
        run.stderr
    );
    assert_eq!(f.read("tenants.lock"), before);
}

#[test]
fn a_version_1_lock_is_upgraded_by_lock() {
    let f = Fixture::example();
    let v1 = f.read("tenants.lock").replace("version: 2", "version: 1");
    let v1 = v1.split("packs:").next().unwrap().to_owned();
    f.write("tenants.lock", &v1);
    let run = f.run(&["validate"]);
    common::assert_invalid(
        &run,
        "tenants/acme.yaml:2:5",
        "pool tenant `acme` has no pool pack",
    );
    assert_eq!(f.run(&["lock"]).code, 0);
    let after = f.read("tenants.lock");
    assert_contains(&after, "version: 2");
    assert_contains(&after, "acme: { tier: basic, pack: 1 }");
    // Shard allocations came through untouched.
    for line in v1.lines().filter(|l| l.contains("{ shard")) {
        assert_contains(&after, line);
    }
    assert_eq!(f.run(&["validate"]).code, 0);
}
