//! `onboard`, `offboard`, `suspend` and `activate`: tenant files written from flags or the control plane's requests (in the shape sbt-aws builds them), validated before anything is written, committed with git2 when asked.

mod common;

use common::{Fixture, assert_contains, assert_invalid};

fn event(name: &str) -> String {
    common::shipped()
        .join("tests/fixtures/events")
        .join(format!("{name}.json"))
        .display()
        .to_string()
}

/// An event as sbt-aws 0.9.1 builds it (`tests/support/sbt_events.py fixtures`).
fn sbt(name: &str) -> String {
    event(&format!("sbt/{name}"))
}

/// `text` as event file `name` in `dir`, outside the repository (writing it is not a
/// change to the fleet); its path.
fn event_file(dir: &tempfile::TempDir, name: &str, text: &str) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
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
fn an_sbt_onboarding_request_becomes_a_tenant_named_after_it_and_its_allocation() {
    let f = fleet();
    let run = f.run(&["onboard", "--from-event", &sbt("onboarding-advanced")]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert_contains(
        &run.stdout,
        "allocate `initrode-global`: shard 1 priority 4",
    );
    // SBT's tenantId is a uuid4: the id is made from the name; the tier matched
    // case-insensitively; both of the control plane's ids are kept as labels.
    assert_eq!(
        f.read("tenants/initrode-global.yaml"),
        "# yaml-language-server: $schema=../schemas/tenant.schema.json\nid: initrode-global\nname: Initrode Global\ntier: advanced\nadmin_email: \"admin@initrode.example.com\"\nlabels:\n  control-plane-id: \"c3f1a2b4-5d6e-4f70-8a9b-0c1d2e3f4a5b\"\n  control-plane-registration-id: \"0b9e8d7c-6a5f-4e3d-9c2b-1a0f9e8d7c6b\"\n"
    );
    assert_contains(
        &f.read("tenants.lock"),
        "  initrode-global: { shard: 1, priority: 4 }\n",
    );
    let mut changed = dirty(&f);
    changed.sort();
    assert_eq!(changed, ["tenants.lock", "tenants/initrode-global.yaml"]);
    let check = f.run(&["validate", "--render"]);
    assert_eq!(check.code, 0, "{}", check.all());
    assert_eq!(f.run(&["lock", "--check"]).code, 0);

    // EventBridge delivers at least once: the same request again changes nothing.
    let again = f.run(&[
        "onboard",
        "--from-event",
        &sbt("onboarding-advanced"),
        "--format",
        "json",
    ]);
    assert_eq!(again.code, 0, "{}", again.all());
    let doc: serde_json::Value = serde_json::from_str(&again.stdout).unwrap();
    assert_eq!(doc["already_onboarded"], true);
    assert_eq!(doc["tenant"], "initrode-global");
    assert_eq!(doc["written"], serde_json::json!([]));

    // Each tier, and a uuid4 starting with a digit: every one onboards.
    for name in ["onboarding-basic", "onboarding-premium"] {
        let run = f.run(&["onboard", "--from-event", &sbt(name)]);
        assert_eq!(run.code, 0, "{name}: {}", run.all());
    }
    assert_contains(&f.read("tenants/soylent-corp.yaml"), "tier: basic\n");
    assert_contains(
        &f.read("tenants/soylent-corp.yaml"),
        "control-plane-id: \"1f7a9c3e-2b4d-4e6f-8a0b-c1d2e3f4a5b6\"",
    );
    assert_contains(
        &f.read("tenants/vandelay-industries.yaml"),
        "tier: premium\n",
    );
    assert_eq!(f.run(&["validate", "--render"]).code, 0);

    // Delivered again after being onboarded under another id (`--id`), it is found by
    // its control-plane id and changes nothing.
    let g = fleet();
    let first = g.run(&[
        "onboard",
        "--from-event",
        &sbt("onboarding-basic"),
        "--id",
        "soylent",
    ]);
    assert_eq!(first.code, 0, "{}", first.all());
    let again = g.run(&["onboard", "--from-event", &sbt("onboarding-basic")]);
    assert_eq!(again.code, 0, "{}", again.all());
    assert_contains(&again.stdout, "tenant `soylent` is already onboarded");
    assert!(!g.path().join("tenants/soylent-corp.yaml").exists());
}

#[test]
fn the_per_tenant_choices_of_a_request_are_mapped_or_refused_never_dropped() {
    let f = fleet();
    let events = tempfile::tempdir().unwrap();
    let premium = std::fs::read_to_string(sbt("onboarding-premium")).unwrap();
    // `useEc2: true` on a silo tier that runs on Fargate and lets no tenant choose: refused.
    let file = event_file(
        &events,
        "ec2.json",
        &premium.replace("\"useEc2\": \"false\"", "\"useEc2\": \"true\""),
    );
    let run = f.run(&["onboard", "--from-event", &file]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert_contains(&run.stderr, format!("--> {file}:17:15\n"));
    assert_contains(
        &run.stderr,
        "the request asks for `useEc2: true`, but tier `premium` runs on fargate and does not let tenants choose `compute`",
    );
    assert!(dirty(&f).is_empty(), "{:?}", dirty(&f));
    // The tier allows it: the tenant's manifest gets `overrides.compute: ec2`.
    f.write(
        "tiers/premium.yaml",
        f.read("tiers/premium.yaml").replace(
            "  dedicated_alb: true\n",
            "  dedicated_alb: true\n  compute: true\n",
        ),
    );
    let run = f.run(&["onboard", "--from-event", &file]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert_contains(
        &f.read("tenants/vandelay-industries.yaml"),
        "overrides:\n  compute: ec2\n",
    );
    let rendered = f.run(&["render", "--tenant", "vandelay-industries"]);
    assert_eq!(rendered.code, 0, "{}", rendered.all());
    assert_contains(
        &f.read("rendered/stacks/saas-prod-tenant-vandelay-industries.json"),
        "\"AWS::AutoScaling::AutoScalingGroup\"",
    );

    // Federation is refused; an rproxy turned off is a warning, and the tenant onboards.
    let g = fleet();
    let advanced = std::fs::read_to_string(sbt("onboarding-advanced")).unwrap();
    let federated = event_file(
        &events,
        "federated.json",
        &advanced.replace(
            "\"useFederation\": \"false\"",
            "\"useFederation\": \"true\"",
        ),
    );
    let run = g.run(&["onboard", "--from-event", &federated]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert_contains(&run.stderr, "federated.json:16:22\n");
    assert_contains(&run.stderr, "tenantops has no identity federation");
    let no_rproxy = event_file(
        &events,
        "no-rproxy.json",
        &advanced
            .replace("\"useRProxy\": \"true\"", "\"useRProxy\": \"false\"")
            .replace("\"prices\": []", "\"currency\": \"EUR\""),
    );
    let run = g.run(&["onboard", "--from-event", &no_rproxy]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert_contains(&run.stderr, "no-rproxy.json:18:18\n");
    assert_contains(&run.stderr, "`useRProxy: false` is ignored");
    assert_contains(&run.stderr, "no-rproxy.json:15:5\n");
    assert_contains(&run.stderr, "tenantops does not use `detail.currency`");
    // The bridge tier decides where its shared cluster runs, as in the reference
    // architecture: a tenant's `useEc2` is a warning there.
    assert_contains(&run.stderr, "no-rproxy.json:17:15\n");
    assert_contains(
        &run.stderr,
        "`useEc2: false` is ignored: tenants of the `bridge` tier `advanced` share its cluster, which runs on ec2",
    );
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
        .stdin(std::fs::File::open(sbt("onboarding-advanced")).unwrap());
    let piped = common::run_command(&mut cmd, f.path());
    assert_eq!(piped.code, 0, "{}", piped.all());
    assert!(f.path().join("tenants/initrode-global.yaml").exists());

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
    assert_contains(&run.stderr, "no `detail.email`");
    assert_contains(&run.stderr, format!("--> {path}:9:13\n"));
    assert_contains(&run.stderr, "`detail.tier` must be a non-empty string");
    assert_contains(&run.stderr, format!("--> {path}:10:15\n"));
    assert_contains(&run.stderr, "`detail.useEc2` must be \"true\" or \"false\"");
    assert_contains(&run.stderr, "4 problems found; nothing was written");
    assert!(dirty(&f).is_empty(), "{:?}", dirty(&f));

    let other = f.run(&["onboard", "--from-event", &sbt("offboarding-advanced")]);
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

    // The nested shape is not SBT's; another source is not the control plane; a 10 MB
    // body and non-JSON are refused at the file.
    let events = tempfile::tempdir().unwrap();
    let advanced = std::fs::read_to_string(sbt("onboarding-advanced")).unwrap();
    let cases = [
        (
            "nested.json",
            advanced.replace("\"prices\": []", "\"tenantData\": {\"tenantName\": \"X\"}"),
            "`detail.tenantData` is not SBT's shape",
        ),
        (
            "source.json",
            advanced.replace("sbt.control.plane", "sbt.application.plane"),
            "the event comes from `sbt.application.plane`, not from the control plane",
        ),
        (
            "big.json",
            format!("{{\"pad\": \"{}\"}}", "x".repeat(10 * 1024 * 1024)),
            "the event is over 262144 bytes",
        ),
        (
            "yaml.json",
            "detail-type: sbt_aws_onboardingRequest\n".to_owned(),
            "not a JSON event",
        ),
    ];
    for (name, text, message) in cases {
        let file = event_file(&events, name, &text);
        let run = f.run(&["onboard", "--from-event", &file]);
        assert_eq!(run.code, 1, "{name}: {}", run.all());
        assert_contains(&run.stderr, message);
        assert_contains(&run.stderr, "nothing was written");
    }
    assert!(dirty(&f).is_empty(), "{:?}", dirty(&f));
    // A control plane with its own `controlPlaneEventSource` is named with --event-source.
    let file = event_file(
        &events,
        "own-source.json",
        &advanced.replace("sbt.control.plane", "acme.control.plane"),
    );
    let run = f.run(&[
        "onboard",
        "--from-event",
        &file,
        "--event-source",
        "acme.control.plane",
    ]);
    assert_eq!(run.code, 0, "{}", run.all());
}

#[test]
fn an_unknown_tier_and_a_taken_or_reserved_id_are_located_errors() {
    let f = fleet();
    let path = event("unknown-tier");
    let run = f.run(&["onboard", "--from-event", &path]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert_contains(&run.stderr, format!("--> {path}:10:13\n"));
    assert_contains(
        &run.stderr,
        "there is no tier `PREMUIM` in `tiers/`; did you mean `premium`?",
    );

    // `Acme` makes the id `acme`, which another tenant has.
    let path = event("duplicate");
    let dup = f.run(&["onboard", "--from-event", &path]);
    assert_eq!(dup.code, 1, "{}", dup.all());
    assert_contains(&dup.stderr, format!("--> {path}:8:19\n"));
    assert_contains(
        &dup.stderr,
        "the tenant's name makes the id `acme`, which tenant `acme` (Acme Corporation) already has",
    );
    assert_contains(&dup.stderr, "pass --id to choose another id");
    // `Basic` makes a tier's name, which is reserved.
    let events = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("\"Acme\"", "\"Basic\"");
    let reserved_file = event_file(&events, "reserved.json", &text);
    let reserved = f.run(&["onboard", "--from-event", &reserved_file]);
    assert_eq!(reserved.code, 1, "{}", reserved.all());
    assert_contains(&reserved.stderr, "reserved.json:8:19\n");
    assert_contains(&reserved.stderr, "makes the id `basic`, which is reserved");
    // A name with no letter to keep needs --id, which wins.
    let nameless = event_file(
        &events,
        "nameless.json",
        &text.replace("\"Basic\"", "\"日本\""),
    );
    let refused = f.run(&["onboard", "--from-event", &nameless]);
    assert_eq!(refused.code, 1, "{}", refused.all());
    assert_contains(&refused.stderr, "has no letter or digit to make an id from");
    let chosen = f.run(&["onboard", "--from-event", &nameless, "--id", "nippon"]);
    assert_eq!(chosen.code, 0, "{}", chosen.all());
    assert_contains(
        &f.read("tenants/nippon.yaml"),
        "control-plane-id: \"4c5d6e7f-8091-4a23-b4c5-d6e7f8a9b0c1\"",
    );

    // A rule the new tenant breaks is reported at the event field it came from.
    let bad_email = Fixture::example();
    bad_email.commit("fleet");
    let text = std::fs::read_to_string(sbt("onboarding-advanced"))
        .unwrap()
        .replace("admin@initrode.example.com", "nobody")
        .replace("Initrode Global", "Acme Corporation");
    let file = event_file(&events, "event.json", &text);
    let run = bad_email.run(&["onboard", "--from-event", &file, "--id", "zeta-corp"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert_contains(&run.stderr, "event.json:13:14\n");
    assert_contains(&run.stderr, "`nobody` is not a valid email address");
    assert_contains(&run.stderr, "event.json:12:19\n");
    assert_contains(
        &run.stderr,
        "display name `Acme Corporation` is already used by `tenants/acme.yaml`",
    );
    assert!(!bad_email.path().join("tenants/zeta-corp.yaml").exists());
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
        &sbt("onboarding-advanced"),
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
            .starts_with("Onboard tenant initrode-global (advanced tier)")
    );
    assert_contains(
        commit.message().unwrap(),
        "From onboarding event e0000000-0000-4000-8000-000000000001.",
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
    assert_eq!(paths, ["tenants.lock", "tenants/initrode-global.yaml"]);
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
    let run = g.run(&[
        "onboard",
        "--from-event",
        &sbt("onboarding-advanced"),
        "--commit",
    ]);
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
    f.write(
        "tenants/initrode-global.yaml",
        "id: initrode-global\nname: [unclosed\n",
    );
    let run = f.run(&["onboard", "--from-event", &sbt("onboarding-advanced")]);
    assert_invalid(
        &run,
        "tenants/initrode-global.yaml:1:1",
        "`tenants/initrode-global.yaml` already exists (and does not load)",
    );
    assert_eq!(
        f.read("tenants/initrode-global.yaml"),
        "id: initrode-global\nname: [unclosed\n"
    );
}

#[test]
fn onboarding_never_writes_into_an_invalid_repository() {
    let f = fleet();
    f.write(
        "tenants/broken.yaml",
        "id: broken\nname: Broken\ntier: nope\nadmin_email: a@b.example.com\n",
    );
    let run = f.run(&["onboard", "--from-event", &sbt("onboarding-advanced")]);
    assert_invalid(&run, "tenants/broken.yaml:3:7", "tier");
    assert!(!f.path().join("tenants/initrode-global.yaml").exists());
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
        &sbt("onboarding-advanced"),
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
            &sbt("onboarding-advanced"),
            "--commit",
            flag,
            value,
        ]);
        assert_eq!(run.code, 2, "{}", run.all());
        assert_contains(&run.stderr, message);
        assert!(dirty(&f).is_empty(), "{flag}: {:?}", dirty(&f));
    }
}

#[test]
fn the_sbt_event_fixtures_are_what_sbts_own_merge_builds() {
    let out = tempfile::tempdir().unwrap();
    let run = std::process::Command::new(common::tool("python"))
        .arg(common::shipped().join("tests/support/sbt_events.py"))
        .arg("fixtures")
        .arg(out.path())
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let committed = common::tree(&common::shipped().join("tests/fixtures/events/sbt"));
    let generated = common::tree(out.path());
    assert_eq!(
        committed.keys().collect::<Vec<_>>(),
        generated.keys().collect::<Vec<_>>()
    );
    for (name, bytes) in &generated {
        assert!(
            committed[name] == *bytes,
            "tests/fixtures/events/sbt/{name} is stale: run `tests/support/sbt_events.py fixtures tests/fixtures/events/sbt`"
        );
    }
}

#[test]
fn lifecycle_requests_find_their_tenant_by_its_control_plane_ids() {
    let f = fleet();
    let offboarding = sbt("offboarding-advanced");
    // No tenant has that control-plane id yet: a located refusal.
    let unknown = f.run(&["offboard", "--from-event", &offboarding]);
    assert_eq!(unknown.code, 1, "{}", unknown.all());
    assert_contains(&unknown.stderr, format!("--> {offboarding}:19:17\n"));
    assert_contains(
        &unknown.stderr,
        "no tenant of this repository is control-plane tenant `c3f1a2b4-5d6e-4f70-8a9b-0c1d2e3f4a5b`",
    );
    assert!(dirty(&f).is_empty());

    assert_eq!(
        f.run(&["onboard", "--from-event", &sbt("onboarding-advanced")])
            .code,
        0
    );
    f.commit("onboard");
    let wrong = f.run(&["suspend", "--from-event", &offboarding]);
    assert_eq!(wrong.code, 1);
    assert_contains(&wrong.stderr, "is not a deactivation request");
    let suspended = f.run(&["suspend", "--from-event", &sbt("deactivate-advanced")]);
    assert_eq!(suspended.code, 0, "{}", suspended.all());
    assert_contains(
        &f.read("tenants/initrode-global.yaml"),
        "\nstate: suspended\n",
    );
    let done = f.run(&["offboard", "--from-event", &offboarding, "--format", "json"]);
    assert_eq!(done.code, 0, "{}", done.all());
    let doc: serde_json::Value = serde_json::from_str(&done.stdout).unwrap();
    assert_eq!(doc["tenant"], "initrode-global");
    assert_eq!(doc["state"], "offboarding");
    // Delivered again: nothing to do. An offboarding tenant is not activated by a request.
    let again = f.run(&["offboard", "--from-event", &offboarding]);
    assert_contains(&again.stdout, "already offboarding; nothing was written");
    let activate = f.run(&["activate", "--from-event", &sbt("activate-advanced")]);
    assert_eq!(activate.code, 1, "{}", activate.all());
    assert_contains(
        &activate.stderr,
        "tenant `initrode-global` is offboarding, so it is not set `active` by a request",
    );
    let neither = f.run(&["offboard"]);
    assert_eq!(neither.code, 2);
}

/// The event's source is never waited on or read without end: a FIFO with no writer
/// (which blocked `onboard` for good), `/dev/zero` and a directory are refused at once
/// with exit 2 and nothing written; a repeated `--label` is refused instead of keeping
/// the last; a `tenants` that is a file is the located `not-a-directory` (it was an
/// unlocated I/O error, exit 10).
#[cfg(unix)]
#[test]
fn onboarding_input_never_blocks_and_conflicting_flags_are_refused() {
    let f = Fixture::example();
    let lock = f.read("tenants.lock");
    let outside = tempfile::tempdir().unwrap();
    let fifo = outside.path().join("event.json");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    for source in [
        fifo.display().to_string(),
        "/dev/zero".to_owned(),
        outside.path().display().to_string(),
    ] {
        let run = f.run(&["onboard", "--from-event", &source]);
        assert_eq!(run.code, 2, "{source}: {}", run.all());
        assert_contains(&run.stderr, "is not a regular file");
    }
    let newco = |extra: &[&str]| {
        let mut args = vec![
            "onboard",
            "--id",
            "newco",
            "--tier",
            "basic",
            "--name",
            "New Co",
            "--email",
            "admin@newco.example.com",
        ];
        args.extend_from_slice(extra);
        f.run(&args)
    };
    let run = newco(&["--label", "wave=1", "--label", "wave=2"]);
    assert_eq!(run.code, 2, "{}", run.all());
    assert_contains(&run.stderr, "--label `wave` is given twice (`1` and `2`)");

    std::fs::rename(f.path().join("tenants"), outside.path().join("tenants")).unwrap();
    f.write("tenants", "not a folder\n");
    let run = newco(&[]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert_contains(
        &run.stderr,
        "error[not-a-directory]: `tenants` must be a directory",
    );
    assert_eq!(f.read("tenants.lock"), lock, "something was written");
}
