//! `tenantops render`: cfn-lint on every template, snapshots, determinism, isolation invariants, located template errors and CloudFormation quotas.

mod common;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use common::{Fixture, MATRIX_TENANTS, assert_contains, assert_invalid, shipped, templates};
use serde_json::Value;

/// Runs cfn-lint over every template in `dir/stacks` and asserts it reports nothing.
#[track_caller]
fn cfn_lint(dir: &Path) -> usize {
    let files: Vec<_> = std::fs::read_dir(dir.join("stacks"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !p.to_string_lossy().ends_with(".params.json"))
        .collect();
    assert!(
        !files.is_empty(),
        "no templates rendered in {}",
        dir.display()
    );
    let out = Command::new(common::tool("cfn-lint"))
        .args(["--format", "parseable", "--"])
        .args(&files)
        .output()
        .expect("run cfn-lint");
    assert_eq!(
        out.status.code(),
        Some(0),
        "cfn-lint reported problems:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    files.len()
}

#[test]
fn shipped_repository_renders_and_passes_cfn_lint() {
    let f = Fixture::example();
    let run = f.render(&[]);
    assert_contains(
        &run.stdout,
        "rendered 15 stacks (1 network, 1 edge, 1 link, 3 routers, 1 usage plans, 3 tiers, 1 pool pack, 4 tenants) and 5 router configs",
    );
    assert_eq!(cfn_lint(&f.path().join("rendered")), 15);
}

#[test]
fn every_tier_compute_and_routing_combination_passes_cfn_lint() {
    let f = Fixture::matrix();
    let run = f.render(&[]);
    assert_contains(
        &run.stdout,
        "offboarding, so rendered into no stack (apply removes theirs): platypus",
    );
    let dir = f.path().join("rendered");
    let names: Vec<String> = templates(&dir).into_keys().collect();
    insta::assert_snapshot!("matrix_stacks", names.join("\n"));
    cfn_lint(&dir);
}

/// A stack's resources as `logical id: type`, one per line.
fn resource_list(template: &Value) -> String {
    template["Resources"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(id, r)| format!("{id}: {}", r["Type"].as_str().unwrap()))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn snapshots_of_the_shipped_render() {
    let f = Fixture::example();
    f.render(&[]);
    let dir = f.path().join("rendered");
    let all = templates(&dir);
    for (name, snap) in [
        ("saas-prod-tenant-globex", "tenant_bridge_ec2"),
        ("saas-prod-tenant-wayne", "tenant_silo_dedicated"),
        ("saas-prod-tier-basic", "tier_pool"),
        ("saas-prod-router-1", "router_shard"),
        ("saas-prod-usage-plans", "usage_plans_stack"),
        ("saas-prod-pool-basic-1", "pool_pack"),
        ("saas-prod-network", "network"),
    ] {
        insta::assert_snapshot!(snap, serde_json::to_string_pretty(&all[name]).unwrap());
    }
    let read = |rel: &str| std::fs::read_to_string(dir.join(rel)).unwrap();
    insta::assert_snapshot!("nginx_globex", read("nginx/globex.conf"));
    insta::assert_snapshot!(
        "params_globex",
        read("stacks/saas-prod-tenant-globex.params.json")
    );
    insta::assert_snapshot!("routing", read("routing.json"));
    insta::assert_snapshot!("usage_plans", read("usage-plans.json"));
    insta::assert_snapshot!("stack_index", read("stacks.json"));
}

#[test]
fn output_is_byte_identical_across_runs_and_between_work_tree_and_revision() {
    let f = Fixture::matrix();
    let a = f.path().join("a");
    let b = f.path().join("b");
    let c = f.path().join("c");
    f.render(&["--out", a.to_str().unwrap()]);
    f.render(&["--out", b.to_str().unwrap()]);
    let first = common::tree(&a);
    assert!(first.len() > 20, "{:?}", first.keys());
    assert_eq!(first, common::tree(&b));
    f.commit("matrix");
    f.render(&["--rev", "HEAD", "--out", c.to_str().unwrap()]);
    assert_eq!(first, common::tree(&c));
    // Canonical JSON: minified, keys sorted.
    for (name, bytes) in &first {
        if name.starts_with("stacks/") && !name.ends_with(".params.json") {
            let value: Value = serde_json::from_slice(bytes).unwrap();
            assert_eq!(
                serde_json::to_vec(&value).unwrap(),
                *bytes,
                "{name} is not canonical"
            );
        }
    }
}

/// Every JSON value under `v`.
fn walk<'a>(v: &'a Value, out: &mut Vec<&'a Value>) {
    out.push(v);
    match v {
        Value::Array(items) => items.iter().for_each(|i| walk(i, out)),
        Value::Object(map) => map.values().for_each(|i| walk(i, out)),
        _ => {}
    }
}

/// Every IAM policy statement of a template.
fn statements(template: &Value) -> Vec<&Value> {
    let mut all = Vec::new();
    walk(template, &mut all);
    all.into_iter()
        .filter_map(|v| v.get("Statement").and_then(Value::as_array))
        .flatten()
        .collect()
}

fn resources_of<'a>(template: &'a Value, kind: &str) -> Vec<(&'a String, &'a Value)> {
    template["Resources"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"] == kind)
        .collect()
}

/// The isolation invariants of one tenant's stack.
fn check_isolation(stack: &str, id: &str, template: &Value, others: &[&str], router_port: u64) {
    let text = serde_json::to_string(template).unwrap();
    // No tenant stack mentions another tenant.
    for other in others.iter().filter(|o| **o != id) {
        assert!(!text.contains(other), "{stack} mentions tenant `{other}`");
    }
    // Its security group admits the router's security group on the rproxy port, and
    // itself on service ports; nothing else, and no CIDR.
    let groups = resources_of(template, "AWS::EC2::SecurityGroup");
    let workload = groups
        .iter()
        .find(|(name, _)| *name == "SecurityGroup")
        .unwrap_or_else(|| panic!("{stack} has no workload security group"));
    let ingress = workload.1["Properties"]["SecurityGroupIngress"]
        .as_array()
        .unwrap();
    assert_eq!(ingress.len(), 1, "{stack}: {ingress:?}");
    assert_eq!(
        ingress[0]["SourceSecurityGroupId"],
        serde_json::json!({"Ref": "RouterSecurityGroupId"})
    );
    assert_eq!(ingress[0]["FromPort"], router_port);
    assert_eq!(ingress[0]["ToPort"], router_port);
    for (name, rule) in resources_of(template, "AWS::EC2::SecurityGroupIngress") {
        let p = &rule["Properties"];
        let own = serde_json::json!({"Fn::GetAtt": ["SecurityGroup", "GroupId"]});
        assert_eq!(p["GroupId"], own, "{stack}/{name}");
        assert_eq!(
            p["SourceSecurityGroupId"], own,
            "{stack}/{name} admits something else"
        );
        assert_eq!(p["FromPort"], 3010, "{stack}/{name}");
        assert!(p.get("CidrIp").is_none());
    }
    for (name, group) in &groups {
        assert!(
            *name == "InstanceSecurityGroup" || *name == "SecurityGroup",
            "{stack}: unexpected security group {name}: {group}"
        );
    }
    assert!(
        groups
            .iter()
            .all(|(_, g)| !serde_json::to_string(g).unwrap().contains("CidrIp")),
        "{stack}: a security group admits a CIDR"
    );
    // Data access: silo tables by this stack's own ARNs, pooled tables only under a
    // LeadingKeys condition naming this tenant; never a `*` resource.
    let tables: BTreeMap<&String, &Value> = resources_of(template, "AWS::DynamoDB::Table")
        .into_iter()
        .collect();
    for (name, table) in &tables {
        let table_name = table["Properties"]["TableName"].as_str().unwrap();
        assert!(
            table_name.ends_with(&format!("-{id}")),
            "{stack}: table {name} is `{table_name}`"
        );
    }
    for st in statements(template) {
        let Some(actions) = st.get("Action") else {
            continue;
        };
        let actions = serde_json::to_string(actions).unwrap();
        let resources = st
            .get("Resource")
            .map(|r| serde_json::to_string(r).unwrap())
            .unwrap_or_default();
        assert!(
            !resources.contains("\"*\""),
            "{stack}: `*` resource in {st}"
        );
        if !actions.contains("dynamodb:") {
            continue;
        }
        let mut refs = Vec::new();
        walk(&st["Resource"], &mut refs);
        for r in refs {
            if let Some(att) = r.get("Fn::GetAtt") {
                let table = att[0].as_str().unwrap();
                assert!(
                    tables.contains_key(&table.to_owned()),
                    "{stack}: policy names {table}, not its own"
                );
            }
            if let Some(Value::String(param)) = r.get("Ref") {
                assert!(param.ends_with("TableArn"), "{stack}: {param}");
                assert_eq!(
                    st["Condition"]["ForAllValues:StringEquals"]["dynamodb:LeadingKeys"],
                    serde_json::json!([id]),
                    "{stack}: pooled table {param} without a LeadingKeys condition for `{id}`"
                );
                assert_eq!(st["Condition"]["Null"]["dynamodb:LeadingKeys"], "false");
                assert!(
                    !actions.contains("dynamodb:Scan"),
                    "{stack}: Scan escapes LeadingKeys"
                );
            }
        }
    }
    // The listener rule routes its own id only.
    for (_, rule) in resources_of(template, "AWS::ElasticLoadBalancingV2::ListenerRule") {
        let values = &rule["Properties"]["Conditions"][0]["HttpHeaderConfig"]["Values"];
        assert_eq!(values, &serde_json::json!([id]), "{stack}");
    }
}

#[test]
fn tenant_stacks_are_isolated() {
    let f = Fixture::matrix();
    f.render(&[]);
    let all = templates(&f.path().join("rendered"));
    let ids: Vec<&str> = MATRIX_TENANTS.iter().map(|(id, _, _)| *id).collect();
    let mut checked = 0;
    for (name, template) in &all {
        if let Some(id) = name.strip_prefix("saas-prod-tenant-") {
            check_isolation(name, id, template, &ids, 8080);
            checked += 1;
        }
        if let Some(id) = name
            .strip_prefix("saas-prod-router-")
            .filter(|k| ids.contains(k))
        {
            let text = serde_json::to_string(template).unwrap();
            for other in ids.iter().filter(|o| *o != &id) {
                assert!(!text.contains(other), "{name} mentions {other}");
            }
        }
    }
    // dingo, numbat, bilby, possum, echidna, kiwi (platypus is offboarding).
    assert_eq!(checked, 6);

    // The pool tier scopes pooled data per request: the shared services may only act
    // as the calling tenant, whose session tag the LeadingKeys condition names.
    let basic = &all["saas-prod-tier-basic"];
    let access = &basic["Resources"]["TenantAccessRole"]["Properties"];
    let st = &access["Policies"][0]["PolicyDocument"]["Statement"][0];
    assert_eq!(
        st["Condition"]["ForAllValues:StringEquals"]["dynamodb:LeadingKeys"],
        serde_json::json!(["${aws:PrincipalTag/TenantId}"])
    );
    for (name, role) in resources_of(basic, "AWS::IAM::Role") {
        if name.ends_with("TaskRole") {
            let text = serde_json::to_string(role).unwrap();
            assert!(
                !text.contains("dynamodb:"),
                "{name} reaches pooled data directly"
            );
        }
    }

    // A suspended tenant's key is disabled and its services scaled to zero.
    let dingo = &all["saas-prod-tenant-dingo"]["Resources"];
    assert_eq!(dingo["ApiKey"]["Properties"]["Enabled"], false);
    assert_eq!(dingo["OrdersService"]["Properties"]["DesiredCount"], 0);
    let numbat = &all["saas-prod-tenant-numbat"]["Resources"];
    assert_eq!(numbat["ApiKey"]["Properties"]["Enabled"], true);
    // Tables follow the tenant's data retention: kept by default, deleted on request.
    assert_eq!(
        numbat["OrdersTable"]["DeletionPolicy"],
        "RetainExceptOnCreate"
    );
    assert_eq!(
        all["saas-prod-tenant-echidna"]["Resources"]["OrdersTable"]["DeletionPolicy"],
        "Delete"
    );
}

#[test]
fn routing_and_usage_plans_documents() {
    let f = Fixture::matrix();
    f.render(&[]);
    let dir = f.path().join("rendered");
    let routing: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("routing.json")).unwrap()).unwrap();
    assert_eq!(routing["numbat"]["router"], "saas-prod-router-1");
    assert_eq!(
        routing["numbat"]["header"],
        serde_json::json!({"name": "tenantPath", "value": "numbat"})
    );
    assert_eq!(routing["possum"]["router"], "saas-prod-router-possum");
    assert_eq!(routing["echidna"]["router"], "saas-prod-router-echidna");
    assert_eq!(routing["kiwi"]["router"], "saas-prod-router-1");
    assert_eq!(routing["quokka"]["router"], "saas-prod-router-basic");
    assert_eq!(routing["quokka"]["header"]["value"], "basic");
    assert_eq!(
        routing["quokka"]["endpoint"],
        serde_json::json!({"stack": "saas-prod-router-basic", "output": "ApiEndpoint"})
    );
    assert!(routing.get("platypus").is_none());
    let plans: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("usage-plans.json")).unwrap())
            .unwrap();
    assert_eq!(
        plans["team"]["throttle"],
        serde_json::json!({"rate_limit": 20, "burst_limit": 20})
    );
    assert_eq!(plans["team"]["tenants"][0]["enabled"], false);
    // Each tier's plan is bound to the stages of exactly the routers its tenants use.
    // Each router's REST API id is an item of a CommaDelimitedList parameter; a stage
    // names its router by (parameter, index).
    let stack = &templates(&dir)["saas-prod-usage-plans"]["Resources"];
    let params: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("stacks/saas-prod-usage-plans.params.json")).unwrap(),
    )
    .unwrap();
    let stages = |tier: &str| -> Vec<String> {
        stack[format!("UsagePlan{tier}")]["Properties"]["ApiStages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|stage| {
                let select = &stage["ApiId"]["Fn::Select"];
                let param = select[1]["Ref"].as_str().unwrap();
                let index = usize::try_from(select[0].as_u64().unwrap()).unwrap();
                let router = &params["parameters"][param]["outputs"][index];
                assert_eq!(router["output"], "ApiId");
                router["stack"].as_str().unwrap().to_owned()
            })
            .collect()
    };
    let has = |tier: &str, router: &str| {
        stages(tier)
            .iter()
            .any(|s| s == &format!("saas-prod-router-{router}"))
    };
    assert!(has("Basic", "basic") && !has("Basic", "1"));
    assert!(has("Enterprise", "echidna") && has("Enterprise", "1"));
    assert!(!has("Premium", "echidna") && has("Premium", "possum"));
}

#[test]
fn one_tenant() {
    let f = Fixture::example();
    f.render(&[]);
    let full = common::tree(&f.path().join("rendered"));
    let one = f.path().join("one");
    let run = f.render(&["--tenant", "globex", "--out", one.to_str().unwrap()]);
    assert_contains(
        &run.stdout,
        "rendered 1 stack (1 tenant) and 1 router config",
    );
    let got = common::tree(&one);
    // Exactly what globex owns, byte for byte as in the full render.
    for file in [
        "stacks/saas-prod-tenant-globex.json",
        "stacks/saas-prod-tenant-globex.params.json",
        "nginx/globex.conf",
    ] {
        assert_eq!(got[file], full[file], "{file}");
    }
    assert!(
        !got.contains_key("stacks/saas-prod-router-1.json"),
        "{:?}",
        got.keys()
    );
    assert!(!got.contains_key("nginx/stark.conf"));

    // A pool tenant's own stack is its pack, rendered whole: with its pack mates.
    let run = f.render(&[
        "--tenant",
        "acme",
        "--tenant",
        "wayne",
        "--out",
        one.to_str().unwrap(),
    ]);
    assert_contains(
        &run.stdout,
        "rendered 3 stacks (1 router, 1 pool pack, 1 tenant) and 1 router config",
    );
    let got = common::tree(&one);
    for file in [
        "stacks/saas-prod-pool-basic-1.json",
        "stacks/saas-prod-router-wayne.json",
        "stacks/saas-prod-tenant-wayne.json",
    ] {
        assert_eq!(got[file], full[file], "{file}");
    }
    assert_contains(
        &String::from_utf8_lossy(&got["stacks/saas-prod-pool-basic-1.json"]),
        "ApiKeyHooli",
    );

    let run = f.run(&["render", "--tenant", "globexx"]);
    assert_eq!(run.code, 2, "{}", run.all());
    assert_contains(
        &run.stderr,
        "--tenant `globexx`: there is no such tenant; did you mean `globex`?",
    );
    // Only the tenants asked for are read: a broken file elsewhere does not stop it.
    f.write("tenants/hooli.yaml", "id: [unclosed\n");
    f.render(&["--tenant", "globex", "--out", one.to_str().unwrap()]);
    assert_eq!(f.run(&["render"]).code, 1);
}

#[test]
fn a_foreign_output_directory_is_never_replaced() {
    let f = Fixture::example();
    f.write("out/precious.txt", "keep me");
    let run = f.run(&["render", "--out", f.path().join("out").to_str().unwrap()]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert_contains(&run.stderr, "is not tenantops render output");
    assert_eq!(f.read("out/precious.txt"), "keep me");
    let file = f.path().join("out/precious.txt");
    let run = f.run(&["render", "--out", file.to_str().unwrap()]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert_eq!(f.read("out/precious.txt"), "keep me");
    // Its own output is replaced as a whole: a file of an earlier render goes away.
    f.render(&[]);
    f.write("rendered/nginx/stale.conf", "old");
    f.render(&[]);
    assert!(!f.path().join("rendered/nginx/stale.conf").exists());
}

/// Writes a repository template override.
fn override_template(f: &Fixture, name: &str, edit: impl Fn(&str) -> String) {
    let builtin = std::fs::read_to_string(shipped().join("templates").join(name)).unwrap();
    f.write(&format!("templates/{name}"), edit(&builtin));
}

/// Asserts that a render failed at `location` and wrote nothing over the last render.
#[track_caller]
fn assert_render_refused(f: &Fixture, location: &str, message: &str) {
    let before = common::tree(&f.path().join("rendered"));
    let run = f.run(&["render"]);
    assert_invalid(&run, location, message);
    assert_contains(&run.stderr, "nothing was written");
    assert_eq!(
        common::tree(&f.path().join("rendered")),
        before,
        "render output changed"
    );
    // validate --render renders in memory, so it reports the same problem.
    assert_invalid(&f.run(&["validate", "--render"]), location, message);
    assert_eq!(
        f.run(&["validate"]).code,
        0,
        "plain validate does not run templates"
    );
}

#[test]
fn template_errors_are_located_and_nothing_is_written() {
    let f = Fixture::example();
    f.render(&[]);
    let line_of = |file: &str, needle: &str| {
        f.read(file)
            .lines()
            .position(|l| l.contains(needle))
            .unwrap()
            + 1
    };

    // A syntax error.
    override_template(&f, "tenant.json.j2", |t| {
        t.replace("{% if not bridge %}", "{% if not bridge %")
    });
    // The parser notices at the next token, which is on the following line.
    let line = line_of("templates/tenant.json.j2", "{% if not bridge %") + 1;
    assert_render_refused(
        &f,
        &format!("templates/tenant.json.j2:{line}:14"),
        "syntax error: unexpected `:`, expected end of block",
    );

    // An undefined value (strict undefined).
    override_template(&f, "tenant.json.j2", |t| {
        t.replace("{{ t.user_pool_name | json }}", "{{ t.user_pool | json }}")
    });
    let line = line_of("templates/tenant.json.j2", "t.user_pool | json");
    assert_render_refused(
        &f,
        &format!("templates/tenant.json.j2:{line}:42"),
        "undefined value: `json` got an undefined value",
    );

    // A value spliced in raw, without a serializing filter.
    override_template(&f, "tenant.json.j2", |t| {
        t.replace("{{ t.admin_email | json }}", "\"{{ t.admin_email }}\"")
    });
    let line = line_of("templates/tenant.json.j2", "{{ t.admin_email }}");
    assert_render_refused(
        &f,
        &format!("templates/tenant.json.j2:{line}:25"),
        "must pass through a serializing filter",
    );

    // Output that is not JSON, and a resource named twice.
    override_template(&f, "tenant.json.j2", |t| {
        t.replacen("\"Resources\": {\n", "\"Resources\": {\n    [unclosed\n", 1)
    });
    assert_render_refused(
        &f,
        "templates/tenant.json.j2:1:1",
        "rendered invalid JSON for stack `saas-prod-tenant-globex`",
    );
    override_template(&f, "tenant.json.j2", |t| {
        t.replacen(
            "\"Resources\": {\n",
            "\"Resources\": {\n    \"UserPool\": {\"Type\": \"AWS::SNS::Topic\"},\n",
            1,
        )
    });
    assert_render_refused(
        &f,
        "templates/tenant.json.j2:1:1",
        "key `UserPool` appears twice",
    );
    f.remove("templates/tenant.json.j2");

    // A repository template may be YAML; output that is not YAML is refused.
    f.write(
        "templates/network.yaml.j2",
        "Parameters:\n  VpcCidr: {Type: String}\nResources:\n  - [unclosed\n",
    );
    assert_render_refused(
        &f,
        "templates/network.yaml.j2:1:1",
        "rendered invalid YAML for stack `saas-prod-network`",
    );
    f.write(
        "templates/network.yaml.j2",
        "# {{ platform.base | json }}\nParameters:\n  VpcCidr: {Type: String}\nResources:\n  Vpc:\n    Type: AWS::EC2::VPC\n    Properties:\n      CidrBlock: {Ref: VpcCidr}\n      Tags: [{Key: Name, Value: {{ platform.base | json }}}]\nOutputs:\n  VpcId: {Value: {Ref: Vpc}}\n",
    );
    f.render(&[]);
    assert_eq!(
        f.read("rendered/stacks/saas-prod-network.json"),
        r#"{"Outputs":{"VpcId":{"Value":{"Ref":"Vpc"}}},"Parameters":{"VpcCidr":{"Type":"String"}},"Resources":{"Vpc":{"Properties":{"CidrBlock":{"Ref":"VpcCidr"},"Tags":[{"Key":"Name","Value":"saas-prod"}]},"Type":"AWS::EC2::VPC"}}}"#
    );
    // A JSON template of the same name wins over the YAML one.
    f.write("templates/network.json.j2", "{\"Resources\": {\"Vpc\": {\"Type\": \"AWS::EC2::VPC\", \"Properties\": {\"CidrBlock\": \"10.0.0.0/16\"}}}}\n");
    assert_render_refused(
        &f,
        "templates/network.json.j2:1:1",
        "does not declare parameter `VpcCidr`",
    );
    f.remove("templates/network.json.j2");
    f.remove("templates/network.yaml.j2");

    // The nginx filter refuses what nginx would interpolate.
    override_template(&f, "nginx.conf.j2", |t| {
        t.replace("{{ owner | nginx }}", "{{ (owner ~ \"$x\") | nginx }}")
    });
    let line = line_of("templates/nginx.conf.j2", "$x\") | nginx");
    assert_render_refused(
        &f,
        &format!("templates/nginx.conf.j2:{line}:49"),
        "`nginx` refuses '$'",
    );

    // Fixed: renders again.
    f.remove("templates/nginx.conf.j2");
    f.render(&[]);
}

#[test]
fn cloudformation_quotas_are_reported_by_validate_and_render() {
    // The stack count against the region's quota.
    let f = Fixture::example();
    f.write(
        "tenantops.yaml",
        f.read("tenantops.yaml")
            .replace("stack_quota: 2000", "stack_quota: 10"),
    );
    let line = f
        .read("tenantops.yaml")
        .lines()
        .position(|l| l.contains("stack_quota: 10"))
        .unwrap()
        + 1;
    let run = f.run(&["validate"]);
    assert_invalid(
        &run,
        &format!("tenantops.yaml:{line}:16"),
        "the fleet needs 15 CloudFormation stacks, over `cloudformation.stack_quota: 10`",
    );
    assert_invalid(
        &f.run(&["render"]),
        &format!("tenantops.yaml:{line}:16"),
        "over `cloudformation.stack_quota: 10`",
    );
    assert!(!f.path().join("rendered").exists());

    // A template over the TemplateBody limit without an artifact bucket.
    let f = Fixture::example();
    let mut services = String::from("services:\n");
    for i in 0..30 {
        let _ = write!(
            services,
            "  svc{i}:\n    image: example.com/svc{i}:1\n    port: 3010\n    cpu: 256\n    memory: 512\n"
        );
    }
    let platform = f.read("tenantops.yaml").replace("services:\n", &services);
    f.write("tenantops.yaml", &platform);
    let run = f.render(&[]);
    assert_contains(
        &run.stdout,
        "over the 51,200-byte TemplateBody limit will go through the artifact bucket",
    );
    let params: Value =
        serde_json::from_str(&f.read("rendered/stacks/saas-prod-tenant-globex.params.json"))
            .unwrap();
    assert_eq!(params["upload"], "s3");
    f.write(
        "tenantops.yaml",
        platform.replace(
            "  artifact_bucket: saas-prod-cfn-artifacts-123456789012\n",
            "",
        ),
    );
    let run = f.run(&["validate", "--render"]);
    assert_invalid(
        &run,
        "tenants/globex.yaml:2:5",
        "over CloudFormation's 51200-byte `TemplateBody`, and `cloudformation.artifact_bucket` is not set",
    );

    // Too many resources for one stack.
    let f = Fixture::example();
    let mut services = String::from("services:\n");
    for i in 0..260 {
        let _ = write!(
            services,
            "  svc{i}:\n    image: example.com/svc{i}:1\n    port: 3010\n    cpu: 256\n    memory: 512\n"
        );
    }
    f.write(
        "tenantops.yaml",
        f.read("tenantops.yaml").replace("services:\n", &services),
    );
    // (On Fargate: no EC2 cluster could place 260 services per tenant.)
    f.write(
        "tiers/advanced.yaml",
        f.read("tiers/advanced.yaml")
            .replace("compute: ec2", "compute: fargate"),
    );
    assert_eq!(f.run(&["validate"]).code, 0, "only --render renders");
    let run = f.run(&["validate", "--render"]);
    assert_invalid(
        &run,
        "tenants/globex.yaml:2:5",
        "resources, over CloudFormation's 500 per stack (and 3 more stacks over the same limit)",
    );
    assert_invalid(
        &run,
        "tiers/basic.yaml:2:1",
        "stack `saas-prod-tier-basic` would have",
    );
    assert_eq!(
        run.stderr.matches("error[stack-resources]").count(),
        2,
        "one report per limit and kind of manifest, not one per stack:\n{}",
        run.stderr
    );
    assert_invalid(
        &f.run(&["render"]),
        "tenants/globex.yaml:2:5",
        "resources, over CloudFormation's 500 per stack",
    );
}

#[test]
fn an_imported_vpc_replaces_the_network_stack() {
    let f = Fixture::example();
    f.write(
        "tenantops.yaml",
        f.read("tenantops.yaml").replace(
            "network:\n  cidr: 10.0.0.0/16\n",
            "network:\n  vpc_id: vpc-0123456789abcdef0\n  subnet_ids: [subnet-0123456789abcdef0, subnet-0fedcba9876543210]\n",
        ),
    );
    f.render(&[]);
    let all = templates(&f.path().join("rendered"));
    assert!(!all.contains_key("saas-prod-network"));
    let params: Value =
        serde_json::from_str(&f.read("rendered/stacks/saas-prod-tenant-globex.params.json"))
            .unwrap();
    assert_eq!(
        params["parameters"]["VpcId"],
        serde_json::json!({"value": "vpc-0123456789abcdef0"})
    );
    assert_eq!(
        params["parameters"]["SubnetIds"],
        serde_json::json!({"value": "subnet-0123456789abcdef0,subnet-0fedcba9876543210"})
    );
    cfn_lint(&f.path().join("rendered"));

    // Half an imported VPC is refused.
    f.write(
        "tenantops.yaml",
        f.read("tenantops.yaml").replace(
            "  subnet_ids: [subnet-0123456789abcdef0, subnet-0fedcba9876543210]\n",
            "",
        ),
    );
    let run = f.run(&["validate"]);
    assert_contains(
        &run.stderr,
        "an existing VPC needs `subnet_ids` in at least two availability zones; 0 given",
    );
}

#[test]
fn json_summary_lists_every_stack() {
    let f = Fixture::example();
    let run = f.run(&["render", "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.all());
    let doc: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(doc["ok"], true);
    let stacks = doc["summary"]["stacks"].as_array().unwrap();
    assert_eq!(stacks.len(), 15);
    assert!(
        stacks
            .iter()
            .all(|s| s["template_bytes"].as_u64().unwrap() > 0
                && s["resources"].as_u64().unwrap() > 0)
    );
    assert_eq!(
        doc["summary"]["router_configs"].as_array().unwrap().len(),
        5
    );
}

#[test]
fn resource_lists_of_the_matrix() {
    let f = Fixture::matrix();
    f.render(&[]);
    let all = templates(&f.path().join("rendered"));
    for (name, snap) in [
        ("saas-prod-tenant-echidna", "resources_silo_ec2_dedicated"),
        ("saas-prod-tenant-dingo", "resources_bridge_fargate"),
        ("saas-prod-tier-shared", "resources_pool_ec2"),
        (
            "saas-prod-tier-enterprise",
            "resources_silo_tier_pooled_table",
        ),
    ] {
        insta::assert_snapshot!(snap, resource_list(&all[name]));
    }
}

/// The repository at `dir`, loaded and decoded as the CLI does.
fn decoded(dir: &Path) -> tenantops::repo::Repo {
    let store = tenantops::load::WorkTree::new(dir).unwrap();
    let (raw, diags) = tenantops::load::load(&store).unwrap();
    tenantops::repo::decode(raw, diags).0
}

#[test]
fn validate_counts_stacks_as_render_plans_them() {
    let synthetic = Fixture::empty();
    tenantops::synth::write_fleet(synthetic.path(), 700).unwrap();
    let imported = Fixture::example();
    imported.write(
        "tenantops.yaml",
        imported.read("tenantops.yaml").replace(
            "network:\n  cidr: 10.0.0.0/16\n",
            "network:\n  vpc_id: vpc-0123456789abcdef0\n  subnet_ids: [subnet-0123456789abcdef0, subnet-0fedcba9876543210]\n",
        ),
    );
    for f in [Fixture::example(), Fixture::matrix(), synthetic, imported] {
        let repo = decoded(f.path());
        let planned = tenantops::stacks::build(&repo, None).stacks.len();
        assert!(planned > 5);
        assert_eq!(tenantops::stacks::stack_count(&repo), planned);
    }
}

#[test]
fn an_invalid_repository_renders_nothing() {
    let f = Fixture::example();
    f.render(&[]);
    let before = common::tree(&f.path().join("rendered"));
    f.write(
        "tenants/acme.yaml",
        f.read("tenants/acme.yaml")
            .replace("tier: basic", "tier: basik"),
    );
    let run = f.run(&["render"]);
    assert_invalid(&run, "tenants/acme.yaml:4:7", "tier `basik` does not exist");
    assert_contains(&run.stderr, "nothing was written");
    assert_eq!(common::tree(&f.path().join("rendered")), before);
    let leftovers: Vec<_> = std::fs::read_dir(f.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("tenantops-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// Every ingress rule of every security group in `template`.
fn ingress_rules(template: &Value) -> Vec<&Value> {
    let mut rules = Vec::new();
    for (_, sg) in resources_of(template, "AWS::EC2::SecurityGroup") {
        rules.extend(
            sg["Properties"]["SecurityGroupIngress"]
                .as_array()
                .into_iter()
                .flatten(),
        );
    }
    for (_, rule) in resources_of(template, "AWS::EC2::SecurityGroupIngress") {
        rules.push(&rule["Properties"]);
    }
    rules
}

#[test]
fn no_router_admits_a_cidr_only_api_gateways_vpc_link_reaches_it() {
    for f in [Fixture::example(), Fixture::matrix()] {
        f.render(&[]);
        let mut routers = 0;
        for (name, template) in common::templates(&f.path().join("rendered")) {
            if !name.contains("-router-") {
                continue;
            }
            routers += 1;
            for rule in ingress_rules(&template) {
                assert!(
                    rule.get("CidrIp").is_none() && rule.get("CidrIpv6").is_none(),
                    "{name} admits a CIDR: {rule}"
                );
            }
            assert!(template["Parameters"].get("VpcCidr").is_none(), "{name}");
            // A shard's NLB is its link stack's.
            if template["Parameters"].get("NlbArn").is_some() {
                continue;
            }
            let nlb = &template["Resources"]["NlbSecurityGroup"]["Properties"];
            assert!(nlb.get("SecurityGroupIngress").is_none(), "{name}: {nlb}");
            let nlb_lb = &template["Resources"]["Nlb"]["Properties"];
            assert_eq!(
                nlb_lb["EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic"],
                "off"
            );
        }
        let mut links = 0;
        for (name, template) in common::templates(&f.path().join("rendered")) {
            if !name.contains("-link-") {
                continue;
            }
            links += 1;
            let nlb = &template["Resources"]["NlbSecurityGroup"]["Properties"];
            assert!(nlb.get("SecurityGroupIngress").is_none(), "{name}: {nlb}");
            assert!(ingress_rules(&template).is_empty(), "{name}");
            assert_eq!(
                template["Resources"]["Nlb"]["Properties"]["EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic"],
                "off"
            );
        }
        assert!(routers > 0);
        assert!(links > 0);
    }
}

#[test]
fn the_router_starts_after_every_service_it_proxies_to_and_rolls_when_the_catalog_grows() {
    let f = Fixture::example();
    f.render(&[]);
    let before = common::templates(&f.path().join("rendered"));
    for (name, template) in &before {
        let Some(router) = template["Resources"].get("RouterService") else {
            continue;
        };
        let depends: Vec<&str> = router["DependsOn"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_str().unwrap())
            .collect();
        for (logical, _) in resources_of(template, "AWS::ECS::Service") {
            if logical != "RouterService" {
                assert!(
                    depends.contains(&logical.as_str()),
                    "{name}: RouterService does not wait for {logical}"
                );
            }
        }
    }
    // A new catalog service: every router's task definition changes (its config
    // proxies to the new service), so ECS rolls the routers.
    f.write(
        "tenantops.yaml",
        f.read("tenantops.yaml").replace(
            "services:\n",
            "services:\n  billing:\n    image: 123456789012.dkr.ecr.us-east-1.amazonaws.com/saas/billing:1.0.0\n    port: 3040\n    cpu: 256\n    memory: 512\n    health_path: /billing/health\n",
        ),
    );
    f.render(&[]);
    let after = common::templates(&f.path().join("rendered"));
    let mut routers = 0;
    for (name, template) in &after {
        let Some(task) = template["Resources"].get("RouterTaskDefinition") else {
            continue;
        };
        routers += 1;
        assert_ne!(
            Some(task),
            before[name]["Resources"].get("RouterTaskDefinition"),
            "{name}: the router does not roll"
        );
        assert!(
            task.to_string().contains("billing-api."),
            "{name}: the router's config does not proxy to the new service"
        );
        let depends = template["Resources"]["RouterService"]["DependsOn"].to_string();
        assert!(depends.contains("BillingService"), "{name}: {depends}");
    }
    assert_eq!(routers, 5);
}

#[test]
fn kept_tables_survive_deletion_but_not_a_failed_first_create() {
    // A failed first create deletes what it made (RetainExceptOnCreate), so the
    // "delete, then create" recovery never meets its own table; a deletion keeps it.
    for f in [Fixture::example(), Fixture::matrix()] {
        f.render(&[]);
        let mut tables = 0;
        for (name, template) in common::templates(&f.path().join("rendered")) {
            for (logical, table) in resources_of(&template, "AWS::DynamoDB::Table") {
                tables += 1;
                let deletion = table["DeletionPolicy"].as_str().unwrap();
                let replace = table["UpdateReplacePolicy"].as_str().unwrap();
                assert!(
                    (deletion, replace) == ("RetainExceptOnCreate", "Retain")
                        || (deletion, replace) == ("Delete", "Delete"),
                    "{name} {logical}: {deletion}/{replace}"
                );
                assert_ne!(deletion, "Retain", "{name} {logical}");
            }
        }
        assert!(tables > 0);
    }
}

#[test]
fn tasks_on_ec2_cannot_take_the_instance_role() {
    let f = Fixture::matrix();
    f.render(&[]);
    let mut instances = 0;
    for (name, template) in common::templates(&f.path().join("rendered")) {
        for (_, lt) in resources_of(&template, "AWS::EC2::LaunchTemplate") {
            instances += 1;
            let data = &lt["Properties"]["LaunchTemplateData"];
            assert_eq!(data["MetadataOptions"]["HttpTokens"], "required", "{name}");
            assert_eq!(
                data["MetadataOptions"]["HttpPutResponseHopLimit"], 1,
                "{name}"
            );
            let user_data = data["UserData"].to_string();
            assert!(
                user_data.contains("ECS_AWSVPC_BLOCK_IMDS=true"),
                "{name}: {user_data}"
            );
        }
        for (_, role) in resources_of(&template, "AWS::IAM::Role") {
            let policies = role["Properties"]["ManagedPolicyArns"].to_string();
            assert!(
                !policies.contains("AmazonSSMManagedInstanceCore"),
                "{name}: {policies}"
            );
        }
    }
    assert!(instances > 0);
}

/// The router `name`'s deployment: its logical id, and the id its stage deploys.
fn deployment_of(f: &Fixture, name: &str) -> (String, String) {
    let template = &common::templates(&f.path().join("rendered"))[name];
    let (id, _) = resources_of(template, "AWS::ApiGateway::Deployment")
        .into_iter()
        .next()
        .expect("a deployment");
    let stage = template["Resources"]["Stage"]["Properties"]["DeploymentId"]["Ref"]
        .as_str()
        .unwrap()
        .to_owned();
    (id.clone(), stage)
}

#[test]
fn an_api_change_anywhere_in_the_rendered_api_reaches_the_stage() {
    let f = Fixture::example();
    f.render(&[]);
    let (before, stage) = deployment_of(&f, "saas-prod-router-1");
    assert_eq!(before, stage);
    // Rendering again changes nothing.
    f.render(&[]);
    assert_eq!(deployment_of(&f, "saas-prod-router-1").0, before);
    // A template override that changes only an integration (no path or method) gives
    // the stage a new deployment, which CloudFormation deploys.
    override_template(&f, "router.json.j2", |t| {
        t.replace(
            "\"IntegrationHttpMethod\": {{ m | json }},",
            "\"IntegrationHttpMethod\": {{ m | json }}, \"TimeoutInMillis\": 20000,",
        )
    });
    f.render(&[]);
    let (after, stage) = deployment_of(&f, "saas-prod-router-1");
    assert_ne!(
        after, before,
        "an integration change keeps the old deployment"
    );
    assert_eq!(after, stage);
    // A change to the NLB behind the VPC link (which replaces it, and the URIs its
    // integrations resolve to) does too: for a pool tier's router, whose NLB is its
    // own, and for a shard, whose NLB and VPC link are its link stack's (the router's
    // template does not change; the link stack's digest in it does).
    let (pool_before, _) = deployment_of(&f, "saas-prod-router-basic");
    override_template(&f, "router.json.j2", |t| {
        t.replace(
            "\"Type\": \"network\",",
            "\"Type\": \"network\",\n        \"IpAddressType\": \"ipv4\",",
        )
    });
    f.render(&[]);
    let (pool_changed, _) = deployment_of(&f, "saas-prod-router-basic");
    assert_ne!(
        pool_changed, pool_before,
        "a replaced NLB keeps the old deployment"
    );
    let (shard_before, _) = deployment_of(&f, "saas-prod-router-1");
    override_template(&f, "link.json.j2", |t| {
        t.replace(
            "\"Type\": \"network\",",
            "\"Type\": \"network\",\n        \"IpAddressType\": \"ipv4\",",
        )
    });
    f.render(&[]);
    let (shard_changed, stage) = deployment_of(&f, "saas-prod-router-1");
    assert_ne!(
        shard_changed, shard_before,
        "a replaced shared NLB keeps the shard's old deployment"
    );
    assert_eq!(shard_changed, stage);
    // A change elsewhere (a tenant's template) leaves the shard's deployment alone.
    override_template(&f, "tenant.json.j2", |t| {
        t.replacen(
            "\"Resources\": {",
            "\"Metadata\": {\"x\": 1},\n  \"Resources\": {",
            1,
        )
    });
    f.render(&[]);
    assert_eq!(deployment_of(&f, "saas-prod-router-1").0, shard_changed);
}

#[test]
fn users_carry_the_claims_the_reference_authorizer_reads_and_survive_their_stack() {
    // aws-samples/saas-reference-architecture-ecs tenant_authorizer.py reads
    // custom:tenantId, custom:userRole and custom:tenantTier from the token; tenantops
    // adds custom:tenantPath, the routing value the authorizer returns.
    let f = Fixture::example();
    f.render(&[]);
    let routing: Value = serde_json::from_str(&f.read("rendered/routing.json")).unwrap();
    let mut users = 0;
    for (name, template) in common::templates(&f.path().join("rendered")) {
        for (logical, pool) in resources_of(&template, "AWS::Cognito::UserPool") {
            assert_eq!(
                pool["DeletionPolicy"], "RetainExceptOnCreate",
                "{name} {logical}"
            );
            assert_eq!(pool["UpdateReplacePolicy"], "Retain", "{name} {logical}");
            assert_eq!(
                pool["Properties"]["DeletionProtection"], "ACTIVE",
                "{name} {logical}"
            );
            let schema = pool["Properties"]["Schema"].to_string();
            for attr in ["tenantId", "tenantTier", "tenantPath", "userRole"] {
                assert!(schema.contains(&format!("\"{attr}\"")), "{name}: {schema}");
            }
        }
        for (logical, user) in resources_of(&template, "AWS::Cognito::UserPoolUser") {
            users += 1;
            let attrs: std::collections::BTreeMap<&str, &str> =
                user["Properties"]["UserAttributes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|a| {
                        (
                            a["Name"].as_str().unwrap(),
                            a["Value"].as_str().unwrap_or_default(),
                        )
                    })
                    .collect();
            let tenant = attrs["custom:tenantId"];
            let route = &routing[tenant];
            assert_eq!(
                attrs["custom:tenantTier"], route["tier"],
                "{name} {logical}"
            );
            assert_eq!(
                attrs["custom:tenantPath"], route["header"]["value"],
                "{name} {logical}"
            );
            assert_eq!(attrs["custom:userRole"], "TenantAdmin", "{name} {logical}");
        }
        for (logical, task) in resources_of(&template, "AWS::ECS::TaskDefinition") {
            if logical == "RouterTaskDefinition" {
                continue;
            }
            let env = task["Properties"]["ContainerDefinitions"][0]["Environment"].to_string();
            assert!(
                env.contains("USER_POOL_ID") && env.contains("APP_CLIENT_ID"),
                "{name} {logical}: {env}"
            );
        }
    }
    // Every tenant's admin: four of their own pools, three in the basic tier's.
    assert_eq!(users, 7);
}

#[test]
fn browser_clients_get_cors_preflights_and_headers_when_asked_for() {
    let f = Fixture::example();
    f.write(
        "tenantops.yaml",
        f.read("tenantops.yaml").replace(
            "  authorizer: ",
            "  cors:\n    allow_origin: https://app.example.com\n  authorizer: ",
        ),
    );
    let run = f.run(&["validate", "--render"]);
    assert_eq!(run.code, 0, "{}", run.all());
    f.render(&[]);
    assert!(cfn_lint(&f.path().join("rendered")) > 0);
    let router = &common::templates(&f.path().join("rendered"))["saas-prod-router-1"];
    let preflights: Vec<_> = resources_of(router, "AWS::ApiGateway::Method")
        .into_iter()
        .filter(|(_, m)| m["Properties"]["HttpMethod"] == "OPTIONS")
        .collect();
    assert_eq!(preflights.len(), 5, "one per API resource");
    for (id, m) in &preflights {
        let p = &m["Properties"];
        assert_eq!(p["AuthorizationType"], "NONE", "{id}");
        assert_eq!(p["ApiKeyRequired"], false, "{id}");
        assert_eq!(p["Integration"]["Type"], "MOCK", "{id}");
        assert_eq!(
            p["Integration"]["IntegrationResponses"][0]["ResponseParameters"]["method.response.header.Access-Control-Allow-Origin"],
            "'https://app.example.com'"
        );
    }
    assert_eq!(
        resources_of(router, "AWS::ApiGateway::GatewayResponse").len(),
        2
    );
    assert_contains(
        &f.read("rendered/nginx/globex.conf"),
        "add_header Access-Control-Allow-Origin \"https://app.example.com\" always;",
    );
    // OPTIONS in a resource's methods would be a second OPTIONS method: refused.
    f.write(
        "tenantops.yaml",
        f.read("tenantops.yaml").replace(
            "methods: [GET, POST]\n    - path: /orders/{id}",
            "methods: [GET, POST, OPTIONS]\n    - path: /orders/{id}",
        ),
    );
    let run = f.run(&["validate"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert_contains(
        &run.stderr,
        "`/orders` lists OPTIONS, which API Gateway answers itself",
    );
}

#[test]
fn shards_share_an_nlb_in_groups_of_shards_per_nlb_and_a_regroup_moves_them() {
    // Three shards (one tenant each), two to an NLB: links 1 (shards 1, 2) and 2 (3).
    let f = Fixture::example();
    f.write(
        "tenantops.yaml",
        f.read("tenantops.yaml").replace(
            "tenants_per_shard: 100",
            "tenants_per_shard: 1\n  shards_per_nlb: 2",
        ),
    );
    f.remove("tenants.lock");
    assert_eq!(f.run(&["lock"]).code, 0);
    f.render(&[]);
    let t = common::templates(&f.path().join("rendered"));
    let links: Vec<_> = t.keys().filter(|k| k.contains("-link-")).cloned().collect();
    assert_eq!(links, ["saas-prod-link-1", "saas-prod-link-2"]);
    let params = |router: &str| -> Value {
        serde_json::from_str(&f.read(&format!("rendered/stacks/{router}.params.json"))).unwrap()
    };
    for (router, link, port) in [
        ("saas-prod-router-1", "saas-prod-link-1", 10_000),
        ("saas-prod-router-2", "saas-prod-link-1", 10_001),
        ("saas-prod-router-3", "saas-prod-link-2", 10_000),
    ] {
        let p = params(router);
        assert_eq!(p["parameters"]["VpcLinkId"]["stack"], link, "{router}: {p}");
        assert_eq!(p["parameters"]["NlbArn"]["stack"], link, "{router}");
        assert!(
            p["depends_on"]
                .as_array()
                .unwrap()
                .iter()
                .any(|d| d == link),
            "{router}"
        );
        let group = link.rsplit('-').next().unwrap();
        let listener = &t[router]["Resources"][format!("Link{group}Listener")]["Properties"];
        assert_eq!(listener["Port"], port, "{router}");
        assert_eq!(
            listener["LoadBalancerArn"],
            serde_json::json!({"Ref": "NlbArn"})
        );
    }
    // One NLB per group: every shard's listener has a port of its own on it.
    assert_eq!(
        t["saas-prod-router-1"]["Resources"]["Link1Listener"]["Properties"]["Port"],
        10_000
    );
    // Regrouped (ten to an NLB): shard 3 moves to link 1 with a new listener and
    // target group (a target group serves one load balancer), link 2 goes.
    f.write(
        "tenantops.yaml",
        f.read("tenantops.yaml")
            .replace("shards_per_nlb: 2", "shards_per_nlb: 10"),
    );
    f.render(&[]);
    let t = common::templates(&f.path().join("rendered"));
    assert!(!t.contains_key("saas-prod-link-2"));
    let r3 = &t["saas-prod-router-3"]["Resources"];
    assert!(r3.get("Link2TargetGroup").is_none() && r3.get("Link1TargetGroup").is_some());
    assert_eq!(r3["Link1Listener"]["Properties"]["Port"], 10_002);
    assert_eq!(
        params("saas-prod-router-3")["parameters"]["VpcLinkId"]["stack"],
        "saas-prod-link-1"
    );
}

#[test]
fn one_permission_lets_the_authorizer_serve_every_router() {
    let f = Fixture::matrix();
    f.render(&[]);
    let t = common::templates(&f.path().join("rendered"));
    let mut permissions = Vec::new();
    for (name, template) in &t {
        for (id, _) in resources_of(template, "AWS::Lambda::Permission") {
            permissions.push(format!("{name}/{id}"));
        }
    }
    assert_eq!(permissions, ["saas-prod-edge/AuthorizerPermission"]);
    let p = &t["saas-prod-edge"]["Resources"]["AuthorizerPermission"]["Properties"];
    assert_eq!(p["Principal"], "apigateway.amazonaws.com");
    assert_eq!(
        p["SourceAccount"],
        serde_json::json!({"Ref": "AWS::AccountId"})
    );
    // Every router's authorizer is under the pattern: this account and region's REST
    // API authorizers, nothing wider.
    assert_eq!(
        p["SourceArn"],
        serde_json::json!({"Fn::Sub": "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:*/authorizers/*"})
    );
    let routers = t.keys().filter(|k| k.contains("-router-")).count();
    assert!(routers > 3, "{routers}");
    // The edge stack is applied before any router (its kind comes first).
    let plan: Value =
        serde_json::from_str(&f.read("rendered/stacks/saas-prod-edge.params.json")).unwrap();
    assert_eq!(plan["kind"], "edge");
}
