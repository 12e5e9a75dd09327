//! `plan --base`: what a pull request changes relative to its base revision, offline (no AWS configuration at all), in human, Markdown and JSON; and what `plan --live` says when AWS credentials fail (nothing secret, the profile named).

mod common;

use common::{Fixture, assert_contains, tenant};

/// A pull request on the shipped fleet: one tenant scaled, one added, one offboarded.
fn pull_request() -> Fixture {
    let f = Fixture::example();
    f.commit("base");
    let globex = f
        .read("tenants/globex.yaml")
        .replace("desired_count: 2", "desired_count: 3");
    f.write("tenants/globex.yaml", globex);
    f.write("tenants/initrode.yaml", tenant("initrode", "advanced"));
    let umbrella = format!("{}state: offboarding\n", f.read("tenants/umbrella.yaml"));
    f.write("tenants/umbrella.yaml", umbrella);
    assert_eq!(f.run(&["lock"]).code, 0);
    f
}

/// No AWS anywhere: an endpoint that refuses connections, no credentials.
fn offline(f: &Fixture, args: &[&str]) -> common::Run {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_tenantops"));
    cmd.arg("-C")
        .arg(f.path())
        .args(args)
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_PROFILE");
    common::run_command(&mut cmd, f.path())
}

#[test]
fn plan_base_shows_each_stack_and_tenant_a_pull_request_changes() {
    let f = pull_request();
    let run = offline(&f, &["plan", "--base", "HEAD", "--detailed-exitcode"]);
    assert_eq!(run.code, 4, "{}", run.all());
    insta::assert_snapshot!("plan_base_human", run.stdout);
    assert_contains(
        &run.stdout,
        "~ saas-prod-tenant-globex (tenant globex, wave 1)",
    );
    assert_contains(&run.stdout, "+ saas-prod-tenant-initrode (tenant initrode)");
    assert_contains(&run.stdout, "- saas-prod-tenant-umbrella (tenant umbrella)");

    let md = offline(&f, &["plan", "--base", "HEAD", "--format", "markdown"]);
    assert_eq!(md.code, 0, "{}", md.all());
    insta::assert_snapshot!("plan_base_markdown", md.stdout);

    let json = offline(&f, &["plan", "--base", "HEAD", "--format", "json"]);
    let doc: serde_json::Value = serde_json::from_str(&json.stdout).expect("json");
    let changes = doc["plan"]["changes"].as_array().expect("changes");
    let actions: Vec<(&str, &str)> = changes
        .iter()
        .map(|c| {
            (
                c["stack"].as_str().unwrap_or_default(),
                c["action"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert!(
        actions.contains(&("saas-prod-tenant-globex", "update")),
        "{actions:?}"
    );
    assert!(
        actions.contains(&("saas-prod-tenant-initrode", "create")),
        "{actions:?}"
    );
    assert!(
        actions.contains(&("saas-prod-tenant-umbrella", "delete")),
        "{actions:?}"
    );
    // Deletions come last.
    assert_eq!(actions.last().map(|a| a.1), Some("delete"));
    // The globex update names the resources that change.
    let globex = changes
        .iter()
        .find(|c| c["stack"] == "saas-prod-tenant-globex")
        .expect("globex");
    let modified: Vec<&str> = globex["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .filter_map(|r| r["logical_id"].as_str())
        .collect();
    assert!(!modified.is_empty(), "{globex}");
}

#[test]
fn plan_base_with_no_changes_exits_zero_and_an_invalid_head_is_refused() {
    let f = Fixture::example();
    f.commit("base");
    let run = offline(&f, &["plan", "--base", "HEAD", "--detailed-exitcode"]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert_contains(&run.stdout, "no changes, 15 unchanged");

    f.write("tenants/broken.yaml", "id: broken\n");
    let run = offline(&f, &["plan", "--base", "HEAD"]);
    assert_eq!(run.code, 1, "{}", run.all());

    let run = offline(&f, &["plan"]);
    assert_eq!(run.code, 2, "--base or --live is required: {}", run.all());
}

#[test]
fn plan_base_against_a_revision_before_tenantops_creates_everything() {
    let f = Fixture::empty();
    f.write("README.md", "before tenantops\n");
    f.commit("before");
    for (src, dst) in [
        ("tenantops.yaml", "tenantops.yaml"),
        ("tenants.lock", "tenants.lock"),
    ] {
        f.write(
            dst,
            std::fs::read(common::shipped().join(src)).expect("read"),
        );
    }
    for dir in ["tiers", "tenants"] {
        for entry in std::fs::read_dir(common::shipped().join(dir)).expect("dir") {
            let entry = entry.expect("entry");
            f.write(
                &format!("{dir}/{}", entry.file_name().to_string_lossy()),
                std::fs::read(entry.path()).expect("read"),
            );
        }
    }
    let run = offline(&f, &["plan", "--base", "HEAD"]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert_contains(&run.stdout, "15 to create, 0 unchanged");
}

#[test]
fn plan_live_without_a_reachable_aws_exits_7_with_the_cause() {
    let f = Fixture::example();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tenantops"))
        .arg("-C")
        .arg(f.path())
        .args(["plan", "--live", "--endpoint-url", "http://127.0.0.1:9"])
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env_remove("AWS_ENDPOINT_URL")
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(7), "{stderr}");
    assert_contains(&stderr, "error: AWS: DescribeStacks:");
    assert_contains(&stderr, "Connection refused");
    assert!(
        stderr.lines().count() == 1,
        "one line, no debug dump: {stderr}"
    );
}

/// Runs `plan --live` with only the AWS configuration in `config` (no credentials in
/// the environment, no instance metadata) against a port nothing listens on: the
/// credentials fail before any request is sent.
fn plan_with_aws_config(config: &str, extra: &[&str]) -> common::Run {
    let f = Fixture::example();
    let aws = tempfile::tempdir().expect("temp");
    std::fs::write(aws.path().join("config"), config).expect("config");
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_tenantops"));
    cmd.arg("-C")
        .arg(f.path())
        .args(["plan", "--live", "--endpoint-url", "http://127.0.0.1:9"])
        .args(extra)
        .env("AWS_CONFIG_FILE", aws.path().join("config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            aws.path().join("credentials"),
        )
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("NO_COLOR", "1")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE");
    common::run_command(&mut cmd, f.path())
}

/// A failing `credential_process` has its standard error quoted into the SDK's error;
/// a helper that prints the secret key there must not put it in the terminal or the CI
/// log. Before, the whole line was printed as the process wrote it.
#[test]
fn a_failing_credential_process_never_prints_its_secrets() {
    let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    let run = plan_with_aws_config(
        &format!(
            "[profile leaky]\nregion = us-east-1\ncredential_process = sh -c 'echo \"refresh failed for AKIAIOSFODNN7EXAMPLE: aws_secret_access_key={secret}\" >&2; exit 3'\n"
        ),
        &["--profile", "leaky"],
    );
    assert_ne!(run.code, 0, "{}", run.all());
    assert_contains(&run.stderr, "external process exited with code");
    assert_contains(
        &run.stderr,
        "not shown: a credential process's output may hold credentials",
    );
    for leaked in [secret, "AKIAIOSFODNN7EXAMPLE", "refresh failed"] {
        assert!(
            !run.all().contains(leaked),
            "{leaked} leaked:\n{}",
            run.all()
        );
    }
}

/// With no credentials anywhere, the error leads with what is missing and names the
/// profile looked in, before the SDK's list of providers.
#[test]
fn no_credentials_names_the_profile_it_looked_in() {
    let run = plan_with_aws_config("", &["--profile", "ops-admin"]);
    assert_ne!(run.code, 0, "{}", run.all());
    assert_contains(&run.stderr, "no AWS credentials found");
    assert_contains(&run.stderr, "not in profile `ops-admin`");
    assert_contains(&run.stderr, "aws sso login --profile ops-admin");
}

/// An endpoint that accepts connections and never answers: every attempt is bounded by
/// `--request-timeout` and retried, and the run ends with the timeout named. Before,
/// there was no bound at all: one unanswered request held apply (and the stage lock)
/// for as long as the connection stayed open.
#[test]
fn an_unanswered_request_times_out_instead_of_holding_the_run() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming().flatten() {
            held.push(conn);
        }
    });
    let f = Fixture::example();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_tenantops"));
    cmd.arg("-C")
        .arg(f.path())
        .args(["plan", "--live", "--request-timeout", "1"])
        .args(["--endpoint-url", &format!("http://127.0.0.1:{port}")])
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE");
    let started = std::time::Instant::now();
    let run = common::run_command(&mut cmd, f.path());
    assert_eq!(run.code, 7, "{}", run.all());
    assert_contains(&run.stderr, "operation attempt timeout");
    // Eight attempts of a second each and the backoff between them, not forever.
    assert!(
        started.elapsed() < std::time::Duration::from_mins(2),
        "{:?}",
        started.elapsed()
    );
}

/// A pull request that moves the `tenantops:` pin is an upgrade: both sides are
/// rendered by the installed tenantops, so the plan names the pin change and points to
/// `plan --live`, which names each stack another version deployed. A pull request
/// that leaves the pin alone says nothing of it.
#[test]
fn plan_base_names_a_changed_tenantops_pin() {
    let f = Fixture::example();
    let platform = f.read("tenantops.yaml");
    let pinned =
        |pin: &str| platform.replacen("stage: ", &format!("tenantops: \"{pin}\"\nstage: "), 1);
    f.write("tenantops.yaml", pinned(">=0.1, <0.2"));
    f.commit("pinned");
    let run = offline(&f, &["plan", "--base", "HEAD"]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(!run.stdout.contains("pin"), "{}", run.stdout);

    f.write("tenantops.yaml", pinned(">=0.1.0, <0.3"));
    for (format, prefix) in [("human", "note: "), ("markdown", "> **Note:** ")] {
        let run = offline(&f, &["plan", "--base", "HEAD", "--format", format]);
        assert_eq!(run.code, 0, "{}", run.all());
        assert_contains(
            &run.stdout,
            format!(
                "{prefix}the tenantops pin changes from `>=0.1, <0.2` to `>=0.1.0, <0.3`: both revisions are rendered here by tenantops {}",
                env!("CARGO_PKG_VERSION")
            ),
        );
        assert_contains(
            &run.stdout,
            "`plan --live` with the new tenantops names each",
        );
    }
    let run = offline(&f, &["plan", "--base", "HEAD", "--format", "json"]);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(json["plan"]["notes"].as_array().map(Vec::len), Some(1));
}

/// A catalog `sort_key` change replaces every orders table (the provider schema's
/// `conditionalCreateOnlyProperties` has `KeySchema`), and each has a custom
/// `TableName`, which CloudFormation refuses to replace: `plan --base` marks it `!`
/// with the property, and `validate --render --base` refuses it once, located at the
/// line of the change. A task definition's new size replaces it too (nothing named:
/// no refusal).
#[test]
fn a_replacement_cloudformation_would_refuse_is_named_in_the_plan_and_refused_by_validate() {
    let f = Fixture::example();
    f.commit("base");
    let platform = f.read("tenantops.yaml");
    f.write(
        "tenantops.yaml",
        platform.replacen("sort_key: orderId", "sort_key: orderKey", 1),
    );
    let line = platform
        .lines()
        .position(|l| l.contains("sort_key: orderId"))
        .unwrap()
        + 1;
    let run = offline(&f, &["plan", "--base", "HEAD"]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert_contains(
        &run.stdout,
        "! OrdersTable AWS::DynamoDB::Table (may be replaced: `KeySchema` changes; it has a custom `TableName`, so CloudFormation refuses to replace it)",
    );
    let json = offline(&f, &["plan", "--base", "HEAD", "--format", "json"]);
    let json: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let tables: Vec<&serde_json::Value> = json["plan"]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["resources"].as_array().unwrap())
        .filter(|r| r["logical_id"] == "OrdersTable")
        .collect();
    assert_eq!(tables.len(), 5);
    assert!(tables.iter().all(|r| r["replacement"] == "Conditional"
        && r["cause"] == "KeySchema"
        && r["custom_name"] == "TableName"));

    let run = offline(&f, &["validate", "--render", "--base", "HEAD"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert_contains(&run.stderr, format!("tenantops.yaml:{line}:1"));
    assert_contains(
        &run.stderr,
        "replaces `OrdersTable` (AWS::DynamoDB::Table) in 5 stacks",
    );
    assert_eq!(
        run.stderr.matches("error[replaces-named-resource]").count(),
        1
    );

    // A bigger orders task replaces its task definitions, which have no custom name.
    f.write(
        "tenantops.yaml",
        platform.replacen(
            "    cpu: 256\n    memory: 512\n    health_path: /orders/health",
            "    cpu: 512\n    memory: 1024\n    health_path: /orders/health",
            1,
        ),
    );
    let run = offline(&f, &["plan", "--base", "HEAD"]);
    assert_contains(
        &run.stdout,
        "AWS::ECS::TaskDefinition (replaced: `Cpu` changes)",
    );
    let run = offline(&f, &["validate", "--render", "--base", "HEAD"]);
    assert_eq!(run.code, 0, "{}", run.all());

    // Premium products moving to pooled storage drop two tenants' tables: the plan
    // names each with what becomes of it.
    f.write("tenantops.yaml", &platform);
    f.write(
        "tiers/premium.yaml",
        f.read("tiers/premium.yaml")
            .replace("  products: silo", "  products: pooled"),
    );
    let run = offline(&f, &["plan", "--base", "HEAD"]);
    assert_contains(
        &run.stdout,
        "destroys `ProductsTable` (AWS::DynamoDB::Table): removed, the old one deleted by its DeletionPolicy `Delete`",
    );
    assert_contains(
        &run.stdout,
        "destroys `ProductsTable` (AWS::DynamoDB::Table): removed, the old one kept by its DeletionPolicy `RetainExceptOnCreate`",
    );
    assert_contains(
        &run.stdout,
        "2 resources holding data or identity removed or replaced",
    );
}

/// The replacement data (`src/plan/replacement.json`) is what the installed cfn-lint's
/// resource provider schemas say (`scripts/replacement-data`), and covers every type
/// tenantops renders (the tier × compute × routing matrix and the pipeline stack).
#[test]
fn the_replacement_data_is_cfn_lints_and_covers_every_rendered_type() {
    let committed: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(common::shipped().join("src/plan/replacement.json")).unwrap(),
    )
    .unwrap();
    let kinds: Vec<&String> = committed.as_object().unwrap().keys().collect();
    let out = std::process::Command::new(common::tool("python"))
        .arg(common::shipped().join("scripts/replacement-data"))
        .args(&kinds)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let fresh: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        fresh, committed,
        "cfn-lint's schemas moved: run `.venv/bin/python scripts/replacement-data $(jq -r 'keys[]' src/plan/replacement.json) > src/plan/replacement.json`"
    );
    let f = Fixture::matrix();
    f.render(&[]);
    let mut rendered: Vec<String> = common::templates(&f.path().join("rendered"))
        .values()
        .flat_map(|t| {
            t["Resources"]
                .as_object()
                .unwrap()
                .values()
                .map(|r| r["Type"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        })
        .collect();
    let pipeline = f.run(&["bootstrap", "--print"]);
    assert_eq!(pipeline.code, 0, "{}", pipeline.all());
    let pipeline: serde_json::Value = serde_json::from_str(&pipeline.stdout).unwrap();
    rendered.extend(
        pipeline["Resources"]
            .as_object()
            .unwrap()
            .values()
            .map(|r| r["Type"].as_str().unwrap().to_owned()),
    );
    for kind in rendered {
        assert!(
            committed.get(&kind).is_some(),
            "no replacement data for {kind}"
        );
    }
}
