//! Loading from git revisions (`--rev`, no checkout) and the `--base` rules that keep a pull request from moving a live tenant.

mod common;

use common::{Fixture, assert_contains, tenant};

#[test]
fn rev_reads_the_commit_not_the_work_tree() {
    let f = Fixture::example();
    f.commit("fleet");
    f.write("tenants/acme.yaml", "id: [broken\n");
    assert_eq!(f.run(&["validate"]).code, 1);
    let run = f.run(&["validate", "--rev", "HEAD"]);
    assert_eq!(run.code, 0, "{}", run.all());

    // And the other way round: a broken commit, a fixed work tree.
    f.commit("break acme");
    f.write(
        "tenants/acme.yaml",
        Fixture::example().read("tenants/acme.yaml"),
    );
    assert_eq!(f.run(&["validate"]).code, 0);
    let run = f.run(&["validate", "--rev", "HEAD"]);
    assert_eq!(run.code, 1);
    assert_contains(&run.stderr, "tenants/acme.yaml:2:1");
    assert_eq!(f.run(&["validate", "--rev", "HEAD~1"]).code, 0);
}

#[test]
fn rev_and_work_tree_agree() {
    let f = Fixture::example();
    f.write(
        "tenants/acme.yaml",
        f.read("tenants/acme.yaml")
            .replace("tier: basic", "tier: premum"),
    );
    f.write("tenants/notes.txt", "x");
    f.write("tenants/big.yaml", "#".repeat(2 * 1024 * 1024));
    f.commit("broken fleet");
    let tree = f.run(&["validate", "--format", "json"]);
    let rev = f.run(&["validate", "--format", "json", "--rev", "HEAD"]);
    assert_eq!(tree.code, 1);
    assert_eq!(tree.stdout, rev.stdout);
    assert_eq!(tree.code, rev.code);
}

#[cfg(unix)]
#[test]
fn committed_symlinks_are_held_to_the_same_rule() {
    let f = Fixture::example();
    std::os::unix::fs::symlink("/etc/hostname", f.path().join("tenants/evil.yaml")).unwrap();
    f.write("shared/x.yaml", tenant("x", "basic"));
    std::os::unix::fs::symlink("../shared/x.yaml", f.path().join("tenants/x.yaml")).unwrap();
    f.commit("links");
    let run = f.run(&["validate", "--rev", "HEAD"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert_contains(
        &run.stderr,
        "`tenants/evil.yaml` is a symlink to `/etc/hostname`, outside the repository",
    );
    assert!(
        !run.stderr.contains("`tenants/x.yaml` is a symlink"),
        "an inside link is followed: {}",
        run.stderr
    );
    // Followed and read: its (only) problem is that the lock has no place for it.
    assert_contains(&run.stderr, "pool tenant `x` has no pool pack");
}

#[test]
fn unknown_revision_and_missing_repository() {
    let f = Fixture::example();
    let run = f.run(&["validate", "--rev", "HEAD"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr.contains("is not inside a git repository")
            || run.stderr.contains("cannot resolve revision"),
        "{}",
        run.stderr
    );
    f.commit("fleet");
    let run = f.run(&["validate", "--rev", "no-such-branch"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr
            .starts_with("error: cannot resolve revision `no-such-branch`"),
        "{}",
        run.stderr
    );
}

#[test]
fn fleet_in_a_subdirectory_of_the_git_repository() {
    let top = Fixture::empty();
    let fleet = Fixture::example();
    let sub = top.path().join("platform/fleet");
    std::fs::create_dir_all(sub.parent().unwrap()).unwrap();
    std::fs::rename(fleet.path(), &sub).unwrap();
    top.write("README.md", "monorepo\n");
    top.commit("monorepo");
    let run = common::run_in(&sub, &["validate", "--rev", "HEAD"]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert_contains(&run.stdout, "7 tenants");
}

#[test]
fn lock_check_at_a_revision() {
    let f = Fixture::example();
    f.write("tenants/newco.yaml", tenant("newco", "advanced"));
    f.commit("add newco without locking");
    assert_eq!(f.run(&["lock", "--check", "--rev", "HEAD"]).code, 3);
    assert_eq!(f.run(&["lock"]).code, 0);
    f.commit("lock");
    assert_eq!(f.run(&["lock", "--check", "--rev", "HEAD"]).code, 0);
}

#[test]
fn base_refuses_moved_allocations_and_rewound_shards() {
    let f = Fixture::example();
    let base = f.commit("base");
    f.write(
        "tenants.lock",
        f.read("tenants.lock")
            .replace(
                "globex: { shard: 1, priority: 1 }",
                "globex: { shard: 1, priority: 3 }",
            )
            .replace(
                "umbrella: { shard: 1, priority: 3 }",
                "umbrella: { shard: 1, priority: 1 }",
            ),
    );
    let run = f.run(&["validate", "--base", &base]);
    common::assert_invalid(
        &run,
        "tenants.lock:9:3",
        &format!(
            "tenant `globex` moved from shard 1 priority 1 (at `{base}`) to shard 1 priority 3"
        ),
    );
    common::assert_invalid(&run, "tenants.lock:11:3", "tenant `umbrella` moved");
    // Without --base the lock is self-consistent, so only --base can catch this.
    assert_eq!(f.run(&["validate"]).code, 0);

    // A pool tenant's pack is as fixed as a listener rule: moving it replaces its key.
    let f = Fixture::example();
    let base = f.commit("base");
    f.write(
        "tenants.lock",
        f.read("tenants.lock").replace(
            "hooli: { tier: basic, pack: 1 }",
            "hooli: { tier: basic, pack: 2 }",
        ),
    );
    let run = f.run(&["validate", "--base", &base]);
    common::assert_invalid(
        &run,
        "tenants.lock:14:3",
        &format!("pool tenant `hooli` moved from pool pack 1 (at `{base}`) to pack 2"),
    );

    let f = Fixture::example();
    let base = f.commit("base");
    f.write(
        "tenants/globex.yaml",
        f.read("tenants/globex.yaml") + "state: offboarding\n",
    );
    f.commit("offboard globex");
    f.remove("tenants/globex.yaml");
    assert_eq!(f.run(&["lock"]).code, 0);
    f.write(
        "tenants.lock",
        f.read("tenants.lock")
            .replace("next_priority: 4", "next_priority: 2"),
    );
    let run = f.run(&["validate", "--base", &base]);
    common::assert_invalid(
        &run,
        "tenants.lock:7:20",
        "shard 1's `next_priority` went back from 4",
    );
}

#[test]
fn base_refuses_deleting_a_live_tenant_and_renaming() {
    let f = Fixture::example();
    let base = f.commit("base");
    f.remove("tenants/hooli.yaml");
    let run = f.run(&["validate", "--base", &base]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert_contains(
        &run.stderr,
        format!("tenant `hooli` is `active` at `{base}`, and this change deletes its file"),
    );
    assert_contains(&run.stderr, "first set `state: offboarding`");

    // A rename: same display name under a new id.
    f.write(
        "tenants/hooli-inc.yaml",
        tenant("hooli-inc", "basic").replace("Tenant hooli-inc", "Hooli"),
    );
    let run = f.run(&["validate", "--base", &base]);
    common::assert_invalid(
        &run,
        "tenants/hooli-inc.yaml:2:5",
        "tenant `hooli-inc` looks like `hooli` renamed (same display name): tenant ids are permanent",
    );
}

#[test]
fn base_allows_the_offboarding_path() {
    let f = Fixture::example();
    f.write(
        "tenants/globex.yaml",
        f.read("tenants/globex.yaml") + "state: offboarding\n",
    );
    let base = f.commit("offboard globex");
    f.remove("tenants/globex.yaml");
    assert_eq!(f.run(&["lock"]).code, 0);
    f.write("tenants/newco.yaml", tenant("newco", "advanced"));
    assert_eq!(f.run(&["lock"]).code, 0);
    let run = f.run(&["validate", "--base", &base]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(
        f.read("tenants.lock")
            .contains("newco: { shard: 1, priority: 4 }")
    );
}

#[test]
fn base_refuses_deleting_the_lock() {
    let f = Fixture::example();
    let base = f.commit("base");
    f.remove("tenants.lock");
    let run = f.run(&["validate", "--base", &base]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert_contains(
        &run.stderr,
        format!("`tenants.lock` exists at `{base}` and this change deletes it"),
    );
}
