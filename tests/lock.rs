//! `tenantops lock`: allocations are made for new routed tenants, never moved, never reused, deterministic, and checked by `--check`.

mod common;

use common::{Fixture, assert_contains, git, tenant};

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

/// Two onboarding branches off one main, each with its tenant and `tenantops lock`'s
/// allocation (both take shard 1's next priority, 4). Branch `first` is merged (and
/// deployed); then `second` is merged into main with git, as a pull request would be.
/// Returns the fixture and main's commit after `first`.
fn two_onboardings(first: &str, second: &str) -> (Fixture, String) {
    let f = Fixture::example();
    git(f.path(), &["init", "-q"]);
    git(f.path(), &["add", "-A"]);
    git(f.path(), &["commit", "-qm", "main"]);
    for id in [first, second] {
        git(f.path(), &["checkout", "-q", "-b", id, "main"]);
        f.write(&format!("tenants/{id}.yaml"), tenant(id, "advanced"));
        let run = f.run(&["lock"]);
        assert_eq!(run.code, 0, "{}", run.all());
        assert_contains(
            &f.read("tenants.lock"),
            format!("{id}: {{ shard: 1, priority: 4 }}"),
        );
        git(f.path(), &["add", "-A"]);
        git(f.path(), &["commit", "-qm", id]);
    }
    git(f.path(), &["checkout", "-q", "main"]);
    git(f.path(), &["merge", "-q", "--ff-only", first]);
    let deployed = git(f.path(), &["rev-parse", "HEAD"]).trim().to_owned();
    // A conflict leaves git's markers in the file (and exits 1): that is the case
    // under test, not a failure of the setup.
    let _ = std::process::Command::new("git")
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "merge",
            "-q",
            "--no-edit",
            second,
        ])
        .current_dir(f.path())
        .output()
        .unwrap();
    (f, deployed)
}

/// Two branches that each allocated the next priority and merged cleanly hold one
/// listener-rule priority twice: validate refuses it and points to `lock --base`;
/// `lock` without the deployed revision refuses too; with it, the deployed tenant keeps
/// its slot and the other gets the next priority, nothing else moves.
#[test]
fn two_onboardings_that_merge_cleanly_into_one_priority_are_settled_by_the_deployed_revision() {
    let (f, deployed) = two_onboardings("initrode", "vandelay");
    let lock = f.read("tenants.lock");
    assert!(
        !lock.contains("<<<<<<<"),
        "this pair merges cleanly:\n{lock}"
    );
    assert_contains(&lock, "initrode: { shard: 1, priority: 4 }");
    assert_contains(&lock, "vandelay: { shard: 1, priority: 4 }");
    let run = f.run(&["validate"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert_contains(
        &run.stderr,
        "`vandelay` and `initrode` both hold shard 1 priority 4",
    );
    assert_contains(&run.stderr, "tenantops lock --base");
    let run = f.run(&["lock"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert_eq!(
        f.read("tenants.lock"),
        lock,
        "a refused lock writes nothing"
    );

    let run = f.run(&["lock", "--base", &deployed]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert_contains(&run.stdout, "`vandelay` gives up shard 1 priority 4");
    let after = f.read("tenants.lock");
    assert_contains(&after, "initrode: { shard: 1, priority: 4 }");
    assert_contains(&after, "vandelay: { shard: 1, priority: 5 }");
    assert_contains(&after, "next_priority: 6");
    for (id, priority) in [("globex", 1), ("stark", 2), ("umbrella", 3)] {
        assert_contains(
            &after,
            format!("{id}: {{ shard: 1, priority: {priority} }}"),
        );
    }
    assert_eq!(f.run(&["validate"]).code, 0);
    assert_eq!(f.run(&["lock", "--check"]).code, 0);
}

/// Two branches whose lock lines conflict: validate reports one located merge conflict
/// (not a YAML syntax error); `lock --base` merges both sides, keeps the deployed
/// allocations and gives the other branch's tenant a new priority.
#[test]
fn a_lock_with_conflict_markers_is_one_located_error_and_lock_merges_both_sides() {
    let (f, deployed) = two_onboardings("initrode", "initech2");
    let lock = f.read("tenants.lock");
    let marker = lock
        .lines()
        .position(|l| l.starts_with("<<<<<<<"))
        .unwrap_or_else(|| panic!("this pair conflicts:\n{lock}"))
        + 1;
    let run = f.run(&["validate"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert_contains(&run.stderr, format!("tenants.lock:{marker}:1"));
    assert_contains(&run.stderr, "unresolved merge conflicts");
    assert!(!run.stderr.contains("yaml"), "{}", run.stderr);
    assert_eq!(run.stderr.matches("error[").count(), 1, "{}", run.stderr);
    // Without the deployed revision the union still has two tenants on priority 4.
    let run = f.run(&["lock"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert_eq!(f.read("tenants.lock"), lock);

    let run = f.run(&["lock", "--base", &deployed]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert_contains(&run.stdout, "merged both sides of the conflict");
    let after = f.read("tenants.lock");
    assert!(!after.contains("<<<<<<<") && !after.contains("======="));
    assert_contains(&after, "initrode: { shard: 1, priority: 4 }");
    assert_contains(&after, "initech2: { shard: 1, priority: 5 }");
    assert_eq!(f.run(&["validate"]).code, 0);

    // A conflicted tenant manifest gets the same located error, with its own fix.
    f.write(
        "tenants/globex.yaml",
        format!(
            "{}<<<<<<< HEAD\nlabels: {{a: b}}\n=======\nlabels: {{a: c}}\n>>>>>>> x\n",
            f.read("tenants/globex.yaml")
        ),
    );
    let run = f.run(&["validate"]);
    assert_eq!(run.code, 1);
    assert_contains(
        &run.stderr,
        "tenants/globex.yaml has unresolved merge conflicts"
            .replace("tenants/globex.yaml", "`tenants/globex.yaml`"),
    );
    assert_contains(&run.stderr, "resolve it in git");
}
