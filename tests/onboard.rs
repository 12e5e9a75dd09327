//! `onboard` and `offboard`: tenant files written from flags or the control plane's onboarding event, validated before anything is written, committed with git2 when asked.

mod common;

use common::{Fixture, assert_contains, assert_invalid};

fn event(name: &str) -> String {
    common::shipped()
        .join("tests/fixtures/events")
        .join(format!("{name}.json"))
        .display()
        .to_string()
}

/// A git repository holding the shipped fleet, committed.
fn fleet() -> Fixture {
    let f = Fixture::example();
    f.commit("fleet");
    f
}

/// Whether the work tree differs from HEAD (any modified or new file).
fn dirty(f: &Fixture) -> Vec<String> {
    let repo = git2::Repository::open(f.path()).unwrap();
    let mut opts = git2::StatusOptions::new();
    opts.include_untracked(true).recurse_untracked_dirs(true);
    repo.statuses(Some(&mut opts))
        .unwrap()
        .iter()
        .filter_map(|s| s.path().ok().map(str::to_owned))
        .collect()
}

#[test]
fn an_onboarding_event_becomes_a_valid_tenant_file_and_its_allocation() {
    let f = fleet();
    let run = f.run(&["onboard", "--from-event", &event("valid")]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert_contains(&run.stdout, "allocate `initrode`: shard 1 priority 4");
    // The tier matched case-insensitively; the control plane's id is kept as a label.
    assert_eq!(
        f.read("tenants/initrode.yaml"),
        "# yaml-language-server: $schema=../schemas/tenant.schema.json\nid: initrode\nname: Initrode Global\ntier: advanced\nadmin_email: \"admin@initrode.example.com\"\nlabels:\n  control-plane-id: \"initrode\"\n"
    );
    assert_contains(
        &f.read("tenants.lock"),
        "  initrode: { shard: 1, priority: 4 }\n",
    );
    let mut changed = dirty(&f);
    changed.sort();
    assert_eq!(changed, ["tenants.lock", "tenants/initrode.yaml"]);
    let check = f.run(&["validate", "--render"]);
    assert_eq!(check.code, 0, "{}", check.all());
    assert_eq!(f.run(&["lock", "--check"]).code, 0);

    // EventBridge delivers at least once: the same request again changes nothing.
    let again = f.run(&[
        "onboard",
        "--from-event",
        &event("valid"),
        "--format",
        "json",
    ]);
    assert_eq!(again.code, 0, "{}", again.all());
    let doc: serde_json::Value = serde_json::from_str(&again.stdout).unwrap();
    assert_eq!(doc["already_onboarded"], true);
    assert_eq!(doc["written"], serde_json::json!([]));
}

#[test]
fn flags_onboard_with_labels_and_the_event_can_be_read_from_stdin() {
    let f = fleet();
    let run = f.run(&[
        "onboard",
        "--id",
        "vandelay",
        "--tier",
        "premium",
        "--name",
        "Vandelay: Import & Export",
        "--email",
        "art@vandelay.example.com",
        "--label",
        "wave=2",
        "--label",
        "region=emea",
    ]);
    assert_eq!(run.code, 0, "{}", run.all());
    let text = f.read("tenants/vandelay.yaml");
    assert_contains(&text, "name: \"Vandelay: Import & Export\"\n");
    assert_contains(&text, "labels:\n  region: \"emea\"\n  wave: \"2\"\n");
    assert_eq!(f.run(&["validate"]).code, 0);

    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_tenantops"));
    cmd.arg("-C")
        .arg(f.path())
        .args(["onboard", "--from-event", "-"])
        .stdin(std::fs::File::open(event("valid")).unwrap());
    let piped = common::run_command(&mut cmd, f.path());
    assert_eq!(piped.code, 0, "{}", piped.all());
    assert!(f.path().join("tenants/initrode.yaml").exists());

    let missing = f.run(&["onboard", "--id", "x1"]);
    assert_eq!(missing.code, 2, "{}", missing.all());
    assert_contains(&missing.stderr, "onboard needs --tier, --name, --email");
}

#[test]
fn an_event_with_missing_fields_is_refused_where_they_are_missing() {
    let f = fleet();
    let path = event("missing-fields");
    let run = f.run(&["onboard", "--from-event", &path]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert_contains(&run.stderr, format!("--> {path}:6:13\n"));
    assert_contains(
        &run.stderr,
        "the onboarding request has no `detail.tenantId`",
    );
    assert_contains(&run.stderr, format!("--> {path}:7:19\n"));
    assert_contains(&run.stderr, "no `detail.tenantData.email`");
    assert_contains(&run.stderr, format!("--> {path}:9:15\n"));
    assert_contains(
        &run.stderr,
        "`detail.tenantData.tier` must be a non-empty string",
    );
    assert_contains(&run.stderr, "3 problems found; nothing was written");
    assert!(dirty(&f).is_empty(), "{:?}", dirty(&f));

    let other = f.run(&["onboard", "--from-event", &event("offboarding")]);
    assert_eq!(other.code, 1);
    assert_contains(
        &other.stderr,
        "`sbt_aws_offboardingRequest` is not an onboarding request",
    );
    assert!(dirty(&f).is_empty());

    let github = f.run(&["onboard", "--from-event", &path, "--format", "github"]);
    assert_contains(
        &github.stdout,
        format!(
            "::error file={path},line=6,col=13,title=tenantops missing-field::the onboarding request has no `detail.tenantId`"
        ),
    );
}

#[test]
fn an_unknown_tier_and_a_duplicate_tenant_are_located_errors() {
    let f = fleet();
    let path = event("unknown-tier");
    let run = f.run(&["onboard", "--from-event", &path]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert_contains(&run.stderr, format!("--> {path}:11:15\n"));
    assert_contains(
        &run.stderr,
        "there is no tier `premuim` in `tiers/`; did you mean `premium`?",
    );

    let dup = f.run(&["onboard", "--from-event", &event("duplicate")]);
    assert_invalid(
        &dup,
        "tenants/acme.yaml:2:5",
        "tenant `acme` already exists (Acme Corporation, tier `basic`, active)",
    );

    // A rule the new tenant breaks is reported at the event field it came from.
    let bad_email = Fixture::example();
    bad_email.commit("fleet");
    let text = std::fs::read_to_string(event("valid"))
        .unwrap()
        .replace("admin@initrode.example.com", "nobody")
        .replace("Initrode Global", "Acme Corporation");
    bad_email.write("event.json", &text);
    let run = bad_email.run(&[
        "onboard",
        "--from-event",
        &bad_email.path().join("event.json").display().to_string(),
    ]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert_contains(&run.stderr, "event.json:14:16\n");
    assert_contains(&run.stderr, "`nobody` is not a valid email address");
    assert_contains(&run.stderr, "event.json:13:21\n");
    assert_contains(
        &run.stderr,
        "display name `Acme Corporation` is already used by `tenants/acme.yaml`",
    );
    assert!(!bad_email.path().join("tenants/initrode.yaml").exists());

    // A control-plane id that is not a DNS label (a UUID) needs --id.
    let uuid = Fixture::example();
    uuid.commit("fleet");
    uuid.write(
        "event.json",
        std::fs::read_to_string(event("valid"))
            .unwrap()
            .replace("\"initrode\"", "\"8c1f0e2a-77b4\""),
    );
    let file = uuid.path().join("event.json").display().to_string();
    let refused = uuid.run(&["onboard", "--from-event", &file]);
    assert_eq!(refused.code, 1);
    assert_contains(
        &refused.stderr,
        "tenant id `8c1f0e2a-77b4` is not a lowercase DNS label",
    );
    assert_contains(&refused.stderr, "pass --id to choose the tenant's id");
    let chosen = uuid.run(&["onboard", "--from-event", &file, "--id", "initrode"]);
    assert_eq!(chosen.code, 0, "{}", chosen.all());
    assert_contains(
        &uuid.read("tenants/initrode.yaml"),
        "control-plane-id: \"8c1f0e2a-77b4\"",
    );
}

#[test]
fn commit_records_only_the_written_files_on_a_new_branch() {
    let f = fleet();
    // Unrelated staged work is not swept into the onboarding commit.
    f.write("notes.txt", "draft\n");
    let repo = git2::Repository::open(f.path()).unwrap();
    let mut index = repo.index().unwrap();
    index.add_path(std::path::Path::new("notes.txt")).unwrap();
    index.write().unwrap();

    let run = f.run(&[
        "onboard",
        "--from-event",
        &event("valid"),
        "--commit",
        "--branch",
        "onboard/initrode",
        "--author",
        "Onboarding Bot <bot@example.com>",
    ]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert_contains(&run.stdout, "on `onboard/initrode`");
    let head = repo.head().unwrap();
    assert_eq!(head.shorthand(), Ok("onboard/initrode"));
    let commit = head.peel_to_commit().unwrap();
    assert_eq!(commit.author().name(), Ok("Onboarding Bot"));
    assert_eq!(commit.author().email(), Ok("bot@example.com"));
    assert!(
        commit
            .message()
            .unwrap()
            .starts_with("Onboard tenant initrode (advanced tier)")
    );
    assert_contains(
        commit.message().unwrap(),
        "From onboarding event 3f2b9c1e-7a41-4f0e-9d2a-5c6b7e8f9a10.",
    );
    let parent = commit.parent(0).unwrap();
    let diff = repo
        .diff_tree_to_tree(
            Some(&parent.tree().unwrap()),
            Some(&commit.tree().unwrap()),
            None,
        )
        .unwrap();
    let mut paths: Vec<String> = diff
        .deltas()
        .map(|d| d.new_file().path().unwrap().display().to_string())
        .collect();
    paths.sort();
    assert_eq!(paths, ["tenants.lock", "tenants/initrode.yaml"]);
    // The committed tree validates on its own.
    let at_head = f.run(&["validate", "--rev", "HEAD"]);
    assert_eq!(at_head.code, 0, "{}", at_head.all());
    // The index holds the new files too, and still the unrelated staged one.
    let statuses: Vec<String> = dirty(&f);
    assert_eq!(statuses, ["notes.txt"]);

    // The branch exists now: a second onboarding onto it is refused before writing.
    let again = f.run(&[
        "onboard",
        "--id",
        "vandelay",
        "--tier",
        "basic",
        "--name",
        "Vandelay",
        "--email",
        "a@vandelay.example.com",
        "--commit",
        "--branch",
        "onboard/initrode",
        "--author",
        "B <b@example.com>",
    ]);
    assert_eq!(again.code, 1, "{}", again.all());
    assert_contains(
        &again.stderr,
        "branch `onboard/initrode` already exists; nothing was written",
    );
    assert!(!f.path().join("tenants/vandelay.yaml").exists());

    // Without --author, git's configuration is the author.
    let g = fleet();
    let repo = git2::Repository::open(g.path()).unwrap();
    let mut config = repo.config().unwrap();
    config.set_str("user.name", "Config Person").unwrap();
    config.set_str("user.email", "config@example.com").unwrap();
    let run = g.run(&["onboard", "--from-event", &event("valid"), "--commit"]);
    assert_eq!(run.code, 0, "{}", run.all());
    let commit = repo.head().unwrap().peel_to_commit().unwrap();
    assert_eq!(commit.author().email(), Ok("config@example.com"));
    assert!(dirty(&g).is_empty(), "{:?}", dirty(&g));
}

#[test]
fn offboard_marks_the_tenant_and_the_next_plan_deletes_its_stacks() {
    let f = fleet();
    let run = f.run(&[
        "offboard",
        "globex",
        "--commit",
        "--author",
        "Ops <ops@example.com>",
    ]);
    assert_eq!(run.code, 0, "{}", run.all());
    // Its allocation stays until the file is deleted: a rule priority is never reused.
    assert_contains(
        &run.stdout,
        "offboarding `globex`: wrote `tenants/globex.yaml`\n",
    );
    assert_contains(
        &run.stdout,
        "next: `tenantops apply --allow-destroy` deletes its stacks",
    );
    let text = f.read("tenants/globex.yaml");
    assert!(text.ends_with("state: offboarding\n"), "{text}");
    assert!(dirty(&f).is_empty(), "{:?}", dirty(&f));
    let plan = f.run(&["plan", "--base", "HEAD~1"]);
    assert_eq!(plan.code, 0, "{}", plan.all());
    assert_contains(&plan.stdout, "- saas-prod-tenant-globex (tenant globex)");

    // A tenant with a `state:` line has it replaced; a second offboard changes nothing.
    let g = fleet();
    g.write(
        "tenants/hooli.yaml",
        g.read("tenants/hooli.yaml") + "state: suspended # until the invoice is paid\n",
    );
    g.commit("suspend hooli");
    assert_eq!(g.run(&["offboard", "hooli"]).code, 0);
    let text = g.read("tenants/hooli.yaml");
    assert_contains(&text, "\nstate: offboarding\n");
    assert!(!text.contains("suspended"), "{text}");
    let again = g.run(&["offboard", "hooli"]);
    assert_eq!(again.code, 0);
    assert_contains(&again.stdout, "already offboarding; nothing was written");

    let unknown = g.run(&["offboard", "globx"]);
    assert_eq!(unknown.code, 2);
    assert_contains(
        &unknown.stderr,
        "there is no tenant `globx`; did you mean `globex`?",
    );
}

#[test]
fn a_file_that_does_not_load_is_never_written_over() {
    let f = fleet();
    f.write("tenants/initrode.yaml", "id: initrode\nname: [unclosed\n");
    let run = f.run(&["onboard", "--from-event", &event("valid")]);
    assert_invalid(
        &run,
        "tenants/initrode.yaml:1:1",
        "`tenants/initrode.yaml` already exists (and does not load)",
    );
    assert_eq!(
        f.read("tenants/initrode.yaml"),
        "id: initrode\nname: [unclosed\n"
    );
}

#[test]
fn onboarding_never_writes_into_an_invalid_repository() {
    let f = fleet();
    f.write(
        "tenants/broken.yaml",
        "id: broken\nname: Broken\ntier: nope\nadmin_email: a@b.example.com\n",
    );
    let run = f.run(&["onboard", "--from-event", &event("valid")]);
    assert_invalid(&run, "tenants/broken.yaml:3:7", "tier");
    assert!(!f.path().join("tenants/initrode.yaml").exists());
}

#[test]
fn unusable_flags_are_usage_errors_that_write_nothing() {
    let f = fleet();
    let missing = f.run(&["onboard", "--from-event", "/nonexistent/event.json"]);
    assert_eq!(missing.code, 2, "{}", missing.all());
    assert_contains(
        &missing.stderr,
        "--from-event `/nonexistent/event.json`: cannot read it",
    );

    let bad_label = f.run(&[
        "onboard",
        "--from-event",
        &event("valid"),
        "--label",
        "novalue",
    ]);
    assert_eq!(bad_label.code, 2, "{}", bad_label.all());
    assert_contains(&bad_label.stderr, "`novalue` is not KEY=VALUE");

    let bad_id = f.run(&[
        "onboard",
        "--id",
        "../escape",
        "--tier",
        "basic",
        "--name",
        "X",
        "--email",
        "x@x.example.com",
    ]);
    assert_eq!(bad_id.code, 2, "{}", bad_id.all());
    assert_contains(
        &bad_id.stderr,
        "--id: tenant id `../escape` is not a lowercase DNS label",
    );
    assert!(dirty(&f).is_empty(), "{:?}", dirty(&f));

    // A malformed author or branch is refused before anything is written.
    for (flag, value, message) in [
        ("--author", "nobody", "`nobody`: expected `Name <email>`"),
        ("--branch", "a..b", "`a..b` is not a valid branch name"),
    ] {
        let run = f.run(&[
            "onboard",
            "--from-event",
            &event("valid"),
            "--commit",
            flag,
            value,
        ]);
        assert_eq!(run.code, 2, "{}", run.all());
        assert_contains(&run.stderr, message);
        assert!(dirty(&f).is_empty(), "{flag}: {:?}", dirty(&f));
    }
}
