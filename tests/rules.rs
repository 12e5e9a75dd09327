//! The semantic rules of `tenantops validate`, each driven through the real binary over a broken copy of the example fleet.

mod common;

use common::{Fixture, assert_contains, assert_invalid, tenant};

#[test]
fn shipped_example_is_valid() {
    let run = Fixture::example().run(&["validate"]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(
        run.stdout,
        "ok: 7 tenants in 3 tiers (3 routed on 1 router shard), no problems\n"
    );
}

#[test]
fn reserved_ids() {
    for id in [
        "shared", "admin", "api", "www", "basic", "premium", "orders", "rproxy",
    ] {
        let f = Fixture::example();
        f.write(&format!("tenants/{id}.yaml"), tenant(id, "basic"));
        assert_invalid(
            &f.run(&["validate"]),
            &format!("tenants/{id}.yaml:2:5"),
            &format!("tenant id `{id}` is reserved"),
        );
    }
}

#[test]
fn id_too_long_for_the_names_it_feeds() {
    let f = Fixture::example();
    let id = "a".repeat(54);
    f.write(&format!("tenants/{id}.yaml"), tenant(&id, "basic"));
    let run = f.run(&["validate"]);
    assert_invalid(
        &run,
        &format!("tenants/{id}.yaml:2:5"),
        "ids can have at most 53",
    );
    assert_contains(
        &run.stderr,
        "the Cloud Map namespace (a DNS label) `saas-prod-aaaa",
    );
    // The limit follows the naming settings: a shorter prefix allows a longer id.
    let f = Fixture::example();
    f.write(
        "tenantops.yaml",
        f.read("tenantops.yaml")
            .replace("prefix: saas", "prefix: s"),
    );
    let id = "b".repeat(48);
    f.write(&format!("tenants/{id}.yaml"), tenant(&id, "advanced"));
    assert_eq!(f.run(&["lock"]).code, 0);
    let run = f.run(&["validate"]);
    assert_eq!(run.code, 0, "{}", run.all());
}

#[test]
fn id_must_match_file_name() {
    let f = Fixture::example();
    f.write("tenants/newco.yaml", tenant("newco-inc", "basic"));
    let run = f.run(&["validate"]);
    assert_invalid(
        &run,
        "tenants/newco.yaml:2:5",
        "tenant id `newco-inc` does not match its file name `tenants/newco.yaml`",
    );
}

#[test]
fn duplicate_ids_and_display_names() {
    let f = Fixture::example();
    f.write(
        "tenants/acme2.yaml",
        tenant("acme", "basic").replace("Tenant acme", "  ACME   corporation "),
    );
    let run = f.run(&["validate"]);
    assert_invalid(
        &run,
        "tenants/acme2.yaml:2:5",
        "tenant id `acme` is already used by `tenants/acme.yaml`",
    );
    assert_invalid(
        &run,
        "tenants/acme2.yaml:3:9",
        "is already used by `tenants/acme.yaml` (as `Acme Corporation`)",
    );
}

#[test]
fn invalid_email() {
    let f = Fixture::example();
    f.write(
        "tenants/acme.yaml",
        f.read("tenants/acme.yaml")
            .replace("ops@acme.example.com", "ops@localhost"),
    );
    assert_invalid(
        &f.run(&["validate"]),
        "tenants/acme.yaml:5:14",
        "the domain has no top-level domain",
    );
}

#[test]
fn override_outside_tier_bounds() {
    let f = Fixture::example();
    f.write(
        "tenants/globex.yaml",
        f.read("tenants/globex.yaml")
            .replace("desired_count: 2", "desired_count: 9"),
    );
    let run = f.run(&["validate"]);
    assert_invalid(
        &run,
        "tenants/globex.yaml:9:18",
        "`desired_count: 9` is outside tier `advanced`'s bounds 1..=3",
    );
}

#[test]
fn overrides_the_tier_does_not_allow() {
    let f = Fixture::example();
    f.write(
        "tenants/acme.yaml",
        f.read("tenants/acme.yaml") + "overrides:\n  desired_count: 2\n",
    );
    f.write(
        "tenants/umbrella.yaml",
        f.read("tenants/umbrella.yaml")
            + "overrides:\n  dedicated_alb: true\n  data_retention: delete\n",
    );
    let run = f.run(&["validate"]);
    assert_invalid(
        &run,
        "tenants/acme.yaml:9:3",
        "tenants of the `pool` tier `basic` share its services",
    );
    assert_invalid(
        &run,
        "tenants/umbrella.yaml:9:3",
        "only tenants of `silo` tiers can have a dedicated ALB, and `advanced` is `bridge`",
    );
    assert_invalid(
        &run,
        "tenants/umbrella.yaml:10:3",
        "tier `advanced` does not let tenants choose `data_retention`",
    );
}

#[test]
fn a_compute_override_needs_a_silo_tier_that_allows_it() {
    let f = Fixture::example();
    f.write(
        "tenants/umbrella.yaml",
        f.read("tenants/umbrella.yaml") + "overrides:\n  compute: fargate\n",
    );
    let stark = f.read("tenants/stark.yaml");
    f.write(
        "tenants/stark.yaml",
        stark.clone() + "overrides:\n  compute: ec2\n",
    );
    let run = f.run(&["validate"]);
    let umbrella_line = f.read("tenants/umbrella.yaml").lines().count();
    assert_invalid(
        &run,
        &format!("tenants/umbrella.yaml:{umbrella_line}:3"),
        "tenants of the `bridge` tier `advanced` share its cluster, so they cannot choose `compute`",
    );
    let stark_line = stark.lines().count() + 2;
    assert_invalid(
        &run,
        &format!("tenants/stark.yaml:{stark_line}:3"),
        "tier `premium` does not let tenants choose `compute`",
    );
    // Allowed by the tier: it validates, and the tenant's stack runs on EC2 capacity.
    f.write(
        "tenants/umbrella.yaml",
        f.read("tenants/umbrella.yaml")
            .replace("overrides:\n  compute: fargate\n", ""),
    );
    f.write(
        "tiers/premium.yaml",
        f.read("tiers/premium.yaml").replace(
            "  dedicated_alb: true\n",
            "  dedicated_alb: true\n  compute: true\n",
        ),
    );
    let run = f.run(&["validate", "--render"]);
    assert_eq!(run.code, 0, "{}", run.all());
}

#[test]
fn tier_only_options_in_the_wrong_tier() {
    let f = Fixture::example();
    f.write(
        "tiers/basic.yaml",
        f.read("tiers/basic.yaml")
            .replace("orders: pooled", "orders: silo")
            + "data_retention: delete\n",
    );
    f.write(
        "tiers/advanced.yaml",
        f.read("tiers/advanced.yaml")
            .replace("alb: shared", "alb: dedicated"),
    );
    let run = f.run(&["validate"]);
    assert_invalid(
        &run,
        "tiers/basic.yaml:7:11",
        "a `pool` tier has no per-tenant resources, so `orders` cannot be `silo`",
    );
    assert_invalid(
        &run,
        "tiers/advanced.yaml:10:3",
        "dedicated ALBs are for `silo` tiers",
    );
}

#[test]
fn storage_must_match_the_catalog() {
    let f = Fixture::example();
    let tier = f
        .read("tiers/advanced.yaml")
        .replace("  products: pooled\n", "  prodcts: pooled\n  users: silo\n");
    f.write("tiers/advanced.yaml", tier);
    let run = f.run(&["validate"]);
    assert_invalid(
        &run,
        "tiers/advanced.yaml:6:1",
        "tier `advanced` does not say how the `products` table is stored",
    );
    assert_invalid(
        &run,
        "tiers/advanced.yaml:8:3",
        "`storage` names service `prodcts`, which is not in the catalog",
    );
    assert_contains(&run.stderr, "did you mean `products`?");
    assert_invalid(
        &run,
        "tiers/advanced.yaml:9:3",
        "service `users` has no table",
    );
}

#[test]
fn fargate_sizes() {
    let f = Fixture::example();
    let text = f.read("tenantops.yaml");
    f.write(
        "tenantops.yaml",
        text.replacen("cpu: 256\n    memory: 512", "cpu: 256\n    memory: 4096", 1)
            .replace("  cpu: 256\n  memory: 512", "  cpu: 300\n  memory: 512"),
    );
    let run = f.run(&["validate"]);
    assert_invalid(
        &run,
        "tenantops.yaml:34:13",
        "Fargate cannot run 4096 MiB with 256 CPU units",
    );
    assert_invalid(
        &run,
        "tenantops.yaml:57:8",
        "Fargate has no task size with 300 CPU units",
    );
}

#[test]
fn api_resources_name_catalog_services() {
    let f = Fixture::example();
    f.write("tenantops.yaml", f.read("tenantops.yaml").replace("- path: /users\n      methods: [GET, POST]", "- path: /user\n      methods: [GET, POST, GET]\n    - path: /orders\n      methods: [GET]"));
    let run = f.run(&["validate"]);
    assert_invalid(
        &run,
        "tenantops.yaml:27:13",
        "API resource `/user` names service `user`, which is not in `services`",
    );
    assert_invalid(
        &run,
        "tenantops.yaml:28:28",
        "method `GET` is listed twice for `/user`",
    );
    assert_invalid(
        &run,
        "tenantops.yaml:29:13",
        "API resource `/orders` is listed twice",
    );
}

#[test]
fn wave_labels_are_numbers() {
    let f = Fixture::example();
    f.write(
        "tenants/acme.yaml",
        f.read("tenants/acme.yaml")
            .replace("wave: \"1\"", "wave: first"),
    );
    assert_invalid(
        &f.run(&["validate"]),
        "tenants/acme.yaml:7:9",
        "rollout wave `first` is not a whole number",
    );
}

#[test]
fn new_routed_tenant_needs_an_allocation() {
    let f = Fixture::example();
    f.write("tenants/newco.yaml", tenant("newco", "advanced"));
    let run = f.run(&["validate"]);
    assert_invalid(
        &run,
        "tenants/newco.yaml:2:5",
        "tenant `newco` has no router shard and listener-rule priority",
    );
    assert_contains(&run.stderr, "run `tenantops lock`");
    // A pooled tenant needs no listener rule, but a place in a pool pack.
    let f = Fixture::example();
    f.write("tenants/newco.yaml", tenant("newco", "basic"));
    let run = f.run(&["validate"]);
    assert_invalid(
        &run,
        "tenants/newco.yaml:2:5",
        "pool tenant `newco` has no pool pack",
    );
    assert!(!run.stderr.contains("listener-rule"), "{}", run.stderr);
}

#[test]
fn lock_inconsistencies() {
    let f = Fixture::example();
    f.write(
        "tenants.lock",
        f.read("tenants.lock").replace("stark: { shard: 1, priority: 2 }", "stark: { shard: 1, priority: 1 }\n  ghost: { shard: 1, priority: 2 }\n  acme: { shard: 2, priority: 9 }"),
    );
    let run = f.run(&["validate"]);
    assert_invalid(
        &run,
        "tenants.lock:10:3",
        "`stark` and `globex` both hold shard 1 priority 1",
    );
    assert_invalid(&run, "tenants.lock:11:3", "there is no tenant `ghost`");
    assert_invalid(
        &run,
        "tenants.lock:12:3",
        "`acme` holds a listener rule, but its tier does not route it",
    );
    assert_invalid(
        &run,
        "tenants.lock:12:3",
        "`acme` is on shard 2, which is not in `shards`",
    );
}

#[test]
fn priority_not_yet_issued() {
    let f = Fixture::example();
    f.write(
        "tenants.lock",
        f.read("tenants.lock").replace(
            "umbrella: { shard: 1, priority: 3 }",
            "umbrella: { shard: 1, priority: 7 }",
        ),
    );
    assert_invalid(
        &f.run(&["validate"]),
        "tenants.lock:11:3",
        "which that shard has not handed out yet (`next_priority: 4`)",
    );
}

#[test]
fn shard_over_capacity() {
    let f = Fixture::example();
    f.write(
        "tenantops.yaml",
        f.read("tenantops.yaml")
            .replace("tenants_per_shard: 100", "tenants_per_shard: 2"),
    );
    assert_invalid(
        &f.run(&["validate"]),
        "tenants.lock:6:9",
        "shard 1 holds 3 tenants, over `routing.tenants_per_shard: 2`",
    );
}

#[test]
fn a_shard_over_the_target_groups_an_alb_can_have_is_an_error() {
    // Each routed tenant's rule forwards to its own target group on the shard's ALB,
    // and AWS does not raise "Target Groups per Application Load Balancer" (100).
    let f = Fixture::example();
    f.write(
        "tenantops.yaml",
        f.read("tenantops.yaml")
            .replace("tenants_per_shard: 100", "tenants_per_shard: 150"),
    );
    let run = f.run(&["validate"]);
    assert_invalid(
        &run,
        "tenantops.yaml:12:22",
        "150 tenants per shard is above the 100 target groups an Application Load Balancer can have",
    );
    assert_contains(&run.stderr, "cannot be raised");
}

#[test]
fn lock_problems_are_not_guessed_when_a_tenant_fails_to_load() {
    let f = Fixture::example();
    f.write("tenants/globex.yaml", "id: globex\nname: [broken\n");
    let run = f.run(&["validate"]);
    assert_eq!(run.code, 1);
    assert!(
        !run.stderr.contains("there is no tenant `globex`"),
        "{}",
        run.stderr
    );
}

#[test]
fn json_format() {
    let f = Fixture::example();
    f.write(
        "tenants/acme.yaml",
        f.read("tenants/acme.yaml")
            .replace("tier: basic", "tier: basik"),
    );
    let run = f.run(&["validate", "--format", "json"]);
    assert_eq!(run.code, 1);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(doc["ok"], false);
    assert_eq!(doc["errors"], 1);
    let d = &doc["diagnostics"][0];
    assert_eq!(d["code"], "unknown-tier");
    assert_eq!(d["file"], "tenants/acme.yaml");
    assert_eq!(
        (d["line"].as_u64(), d["column"].as_u64()),
        (Some(4), Some(7))
    );
    assert_eq!(d["help"], "did you mean `basic`?");
    let ok = Fixture::example().run(&["validate", "--format", "json"]);
    let doc: serde_json::Value = serde_json::from_str(&ok.stdout).unwrap();
    assert_eq!(doc["ok"], true);
    assert_eq!(doc["summary"]["tenants"], 7);
}

#[test]
fn github_format() {
    let f = Fixture::example();
    f.write(
        "tenants/acme.yaml",
        f.read("tenants/acme.yaml")
            .replace("tier: basic", "tier: basik"),
    );
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_tenantops"))
        .current_dir(f.path())
        .args(["validate", "--format", "github"])
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&run.stdout),
        "::error file=tenants/acme.yaml,line=4,col=7,title=tenantops unknown-tier::tier `basik` does not exist%0Adid you mean `basic`?\n"
    );
}

#[test]
fn colour_only_when_asked_or_on_a_terminal() {
    let f = Fixture::example();
    f.write(
        "tenants/acme.yaml",
        f.read("tenants/acme.yaml")
            .replace("tier: basic", "tier: basik"),
    );
    assert!(!f.run(&["validate"]).stderr.contains('\u{1b}'));
    assert!(
        f.run(&["validate", "--color", "always"])
            .stderr
            .contains("\u{1b}[1;31m")
    );
}

#[test]
fn a_router_resolver_is_a_warning_service_connect_names_are_in_etc_hosts() {
    let f = Fixture::example();
    f.write(
        "tenantops.yaml",
        f.read("tenantops.yaml").replace(
            "  health_path: /health\n",
            "  health_path: /health\n  resolver: 169.254.169.253\n",
        ),
    );
    let run = f.run(&["validate"]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert_contains(
        &run.stderr,
        "warning[unused-setting]: `router.resolver` is not used",
    );
    assert_contains(&run.stdout, "(1 warning)");
}

#[test]
fn images_the_network_cannot_pull_and_prefixes_ecs_refuses() {
    let f = Fixture::example();
    let platform = f.read("tenantops.yaml");
    f.write(
        "tenantops.yaml",
        platform
            .replace(
                "image: 123456789012.dkr.ecr.us-east-1.amazonaws.com/saas/orders:1.4.2",
                "image: docker.io/library/orders:1.4.2",
            )
            .replace(
                "image: 123456789012.dkr.ecr.us-east-1.amazonaws.com/saas/rproxy:1.4.2",
                "image: 123456789012.dkr.ecr.eu-west-1.amazonaws.com/saas/rproxy:1.4.2",
            ),
    );
    let run = f.run(&["validate"]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert_contains(
        &run.stderr,
        "warning[image-unreachable]: image `docker.io/library/orders:1.4.2` is not in this region's private ECR",
    );
    assert_contains(
        &run.stderr,
        "image `123456789012.dkr.ecr.eu-west-1.amazonaws.com/saas/rproxy:1.4.2`",
    );
    assert_contains(&run.stdout, "(2 warnings)");

    let g = Fixture::example();
    let text = g.read("tenantops.yaml");
    let line = text
        .lines()
        .position(|l| l.trim_start().starts_with("prefix:"))
        .unwrap()
        + 1;
    g.write(
        "tenantops.yaml",
        text.replace("prefix: saas", "prefix: ecsprod"),
    );
    let run = g.run(&["validate"]);
    assert_invalid(
        &run,
        &format!("tenantops.yaml:{line}:11"),
        "naming prefix `ecsprod` begins with `ecs`, and ECS refuses capacity provider names",
    );
}

#[test]
fn an_ec2_cluster_that_cannot_place_its_tasks_is_refused() {
    // The shipped advanced tier on its earlier capacity (m5.large, 2 awsvpc tasks each
    // without ENI trunking, at most 10): its two tenants' 24 peak tasks do not fit.
    let f = Fixture::example();
    f.write(
        "tiers/advanced.yaml",
        f.read("tiers/advanced.yaml")
            .replace("instance_type: m5.4xlarge", "instance_type: m5.large")
            .replace("max_instances: 30", "max_instances: 10"),
    );
    let text = f.read("tiers/advanced.yaml");
    let line = text
        .lines()
        .position(|l| l.starts_with("capacity:"))
        .unwrap()
        + 1;
    let run = f.run(&["validate"]);
    assert_invalid(
        &run,
        &format!("tiers/advanced.yaml:{line}:1"),
        "tier `advanced`'s cluster must hold 24 tasks at a deployment's peak (6144 CPU units, 12288 MiB), which takes 12 `m5.large` instances (each holds 2 awsvpc tasks, one per ENI), over `capacity.max_instances: 10`",
    );
    // Raised: it fits, and the Auto Scaling group may grow that far.
    f.write(
        "tiers/advanced.yaml",
        text.replace("max_instances: 10", "max_instances: 12"),
    );
    assert_eq!(f.run(&["validate"]).code, 0);
    f.render(&[]);
    let tier: serde_json::Value =
        serde_json::from_str(&f.read("rendered/stacks/saas-prod-tier-advanced.json")).unwrap();
    assert_eq!(
        tier["Resources"]["AutoScalingGroup"]["Properties"]["MaxSize"],
        "12"
    );
    assert_eq!(tier["Parameters"]["InstanceType"]["Default"], "m5.large");

    // An instance type tenantops knows nothing of.
    f.write(
        "tiers/advanced.yaml",
        text.replace("instance_type: m5.large", "instance_type: m5.larg"),
    );
    let run = f.run(&["validate"]);
    assert_invalid(
        &run,
        &format!("tiers/advanced.yaml:{}:18", line + 1),
        "tenantops does not know how many tasks a `m5.larg` holds (its ENI limit); did you mean `m5.large`?",
    );
}

#[test]
fn user_pools_send_through_ses_when_set_and_a_large_fleet_is_warned_without_it() {
    let f = Fixture::empty();
    tenantops::synth::write_fleet(f.path(), 60).unwrap();
    let run = f.run(&["validate"]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert_contains(
        &run.stderr,
        "60 tenants' user pools send email through Cognito's default sender, which sends at most 50 emails a day per account",
    );
    f.write(
        "tenantops.yaml",
        f.read("tenantops.yaml")
            + "email:\n  ses_source_arn: arn:aws:ses:us-east-1:123456789012:identity/example.com\n  from: \"Example <no-reply@example.com>\"\n",
    );
    let run = f.run(&["validate"]);
    assert!(!run.stderr.contains("email-quota"), "{}", run.all());
    f.render(&[]);
    // cfn-lint accepts the user pools with their SES configuration.
    let lint = std::process::Command::new(common::tool("cfn-lint"))
        .args(["--format", "parseable", "--"])
        .arg(f.path().join("rendered/stacks/saas-prod-tier-basic.json"))
        .arg(
            f.path()
                .join("rendered/stacks/saas-prod-tenant-t00006.json"),
        )
        .output()
        .unwrap();
    assert!(
        lint.status.success(),
        "cfn-lint: {}",
        String::from_utf8_lossy(&lint.stdout)
    );
    let tier: serde_json::Value =
        serde_json::from_str(&f.read("rendered/stacks/saas-prod-tier-basic.json")).unwrap();
    assert_eq!(
        tier["Resources"]["UserPool"]["Properties"]["EmailConfiguration"],
        serde_json::json!({
            "EmailSendingAccount": "DEVELOPER",
            "SourceArn": "arn:aws:ses:us-east-1:123456789012:identity/example.com",
            "From": "Example <no-reply@example.com>",
        })
    );
}

#[test]
fn more_shards_per_nlb_than_an_nlb_has_listeners_is_refused() {
    // "Listeners per Network Load Balancer" is 50, not adjustable: one per shard.
    let f = Fixture::example();
    f.write(
        "tenantops.yaml",
        f.read("tenantops.yaml").replace(
            "tenants_per_shard: 100",
            "tenants_per_shard: 100\n  shards_per_nlb: 51",
        ),
    );
    let run = f.run(&["validate"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert_contains(&run.stderr, "tenantops.yaml:13:19");
    assert_contains(&run.stderr, "51");
}
