//! The IAM policies of `docs/iam/` against what tenantops really calls: every request moto receives from apply, plan --live and status, evaluated by moto's own IAM policy evaluator with its action and resource; every grant used; the service role passed on every stack change; the GitHub OIDC trust policy admitting only the fleet repository's main branch.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use common::{Fixture, Moto, Request, assert_contains, shipped};

const ACCOUNT: &str = "123456789012";
const REGION: &str = "us-east-1";

/// The IAM action and resource ARN a request is authorized for. CloudFormation's stack
/// operations are authorized on the stack's ARN (`stack/<name>/<id>`, the IAM Service
/// Authorization Reference's `stack` resource type), a listing without a stack name on
/// `*`; an S3 object operation on `arn:aws:s3:::<bucket>/<key>` (path-style here); the
/// ECS and DynamoDB calls tenantops makes on `*`.
fn authorized(r: &Request) -> (String, String) {
    let action = format!("{}:{}", r.service, r.action);
    let resource = match r.service.as_str() {
        "cloudformation" => match r.params.get("StackName") {
            Some(arn) if arn.starts_with("arn:") => arn.clone(),
            Some(name) => format!(
                "arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{name}/00000000-0000-0000-0000-000000000000"
            ),
            None => "*".to_owned(),
        },
        "s3" => format!(
            "arn:aws:s3:::{}",
            r.path.trim_start_matches('/').split('?').next().unwrap()
        ),
        _ => "*".to_owned(),
    };
    (action, resource)
}

/// moto's evaluator (`moto.iam.access_control.IAMPolicy`, what moto itself enforces
/// with `INITIAL_NO_AUTH_ACTION_COUNT`) over `policy` for each (action, resource):
/// the ones it does not permit.
fn refused_by(moto: &Moto, policy: &str, asked: &BTreeSet<(String, String)>) -> Vec<String> {
    let mut code = format!(
        "from moto.iam.access_control import IAMPolicy, PermissionResult\npolicy = IAMPolicy(open({:?}).read())\n",
        shipped()
            .join("docs/iam")
            .join(policy)
            .display()
            .to_string()
    );
    for (action, resource) in asked {
        let _ = writeln!(
            code,
            "if policy.is_action_permitted({action:?}, {resource:?}) != PermissionResult.PERMITTED: print({:?})",
            format!("{action} on {resource}")
        );
    }
    moto.python(&code).lines().map(str::to_owned).collect()
}

/// Every action a policy grants, as written (wildcards kept).
fn granted(policy: &str) -> BTreeSet<String> {
    let doc: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(shipped().join("docs/iam").join(policy)).unwrap(),
    )
    .unwrap();
    let mut out = BTreeSet::new();
    for statement in doc["Statement"].as_array().unwrap() {
        match &statement["Action"] {
            serde_json::Value::String(a) => {
                out.insert(a.clone());
            }
            serde_json::Value::Array(list) => {
                out.extend(list.iter().map(|a| a.as_str().unwrap().to_owned()));
            }
            other => panic!("{policy}: an Action of {other}"),
        }
    }
    out
}

/// Grants no run here can reach, each with the state that needs it and the test of
/// the SDK's doubles that does reach it (moto cannot produce these states).
const ONLY_ON_FAILURE: &[(&str, &str)] = &[
    (
        "cloudformation:ContinueUpdateRollback",
        "UPDATE_ROLLBACK_FAILED (doubles: update_rollback_failed_is_continued_then_updated)",
    ),
    (
        "cloudformation:DescribeStackEvents",
        "a failed stack, whose events give the reason (doubles: a_failed_create_is_explained_by_its_resource_events)",
    ),
    (
        "iam:PassRole",
        "authorized by IAM inside CloudFormation, not a request tenantops sends",
    ),
];

/// The example fleet on moto through what a fleet's life asks of tenantops: a
/// `plan --live` of nothing, the first apply (one template over the `TemplateBody`
/// limit, so the artifact bucket is used), a plan and status of an edit, its apply, an
/// offboarding and a status. Returns the requests of the plans and statuses, and all.
fn a_fleets_life(moto: &Moto) -> (Vec<Request>, Vec<Request>) {
    moto.python(
        "session.client('s3', endpoint_url=cfn.meta.endpoint_url).create_bucket(Bucket='saas-prod-cfn-artifacts-123456789012')",
    );
    let f = Fixture::example();
    // One tenant template past the 51,200-byte TemplateBody limit, so the artifact
    // bucket is used too.
    let builtin = std::fs::read_to_string(shipped().join("templates/tenant.json.j2")).unwrap();
    f.write(
        "templates/tenant.json.j2",
        builtin.replacen(
            "\n{\n",
            &format!(
                "\n{{\n  \"Metadata\": {{\"Padding\": \"{}\"}},\n",
                "x".repeat(60_000)
            ),
            1,
        ),
    );
    let mut read_only: Vec<Request> = Vec::new();
    let mut every: Vec<Request> = Vec::new();
    let mut step = |args: &[&str], reads: bool| {
        let mark = moto.mark();
        let run = moto.run(f.path(), args);
        assert!(
            run.code == 0 || (args[0] == "plan" && run.code == 2),
            "{args:?}: {}",
            run.all()
        );
        let requests: Vec<Request> = moto.requests().into_iter().skip(mark).collect();
        if reads {
            read_only.extend(requests.iter().cloned());
        }
        every.extend(requests);
    };
    step(&["plan", "--live"], true);
    step(&["apply", "--yes", "--poll", "0.05"], false);
    f.write(
        "tenants/globex.yaml",
        f.read("tenants/globex.yaml")
            .replace("name: Globex Corporation", "name: Globex Corp."),
    );
    f.write(
        "tiers/advanced.yaml",
        f.read("tiers/advanced.yaml")
            .replacen("desired_count: 1", "desired_count: 2", 1),
    );
    step(&["plan", "--live"], true);
    step(&["status"], true);
    step(&["apply", "--yes", "--poll", "0.05"], false);
    f.write(
        "tenants/umbrella.yaml",
        format!("{}state: offboarding\n", f.read("tenants/umbrella.yaml")),
    );
    step(
        &["apply", "--yes", "--poll", "0.05", "--allow-destroy"],
        false,
    );
    step(&["status"], true);

    (read_only, every)
}

#[test]
fn the_documented_policies_allow_what_tenantops_calls_and_nothing_it_does_not() {
    let moto = Moto::start(0.2, &[]);
    let (read_only, every) = a_fleets_life(&moto);
    let actions = |rs: &[Request]| -> BTreeSet<String> {
        rs.iter()
            .map(|r| format!("{}:{}", r.service, r.action))
            .collect()
    };
    let used = actions(&every);
    for needed in [
        "cloudformation:CreateStack",
        "cloudformation:ExecuteChangeSet",
        "cloudformation:DeleteStack",
        "s3:PutObject",
        "ecs:DescribeServices",
    ] {
        assert!(
            used.contains(needed),
            "the runs never reached {needed}: {used:?}"
        );
    }
    let asked = |rs: &[Request]| rs.iter().map(authorized).collect::<BTreeSet<_>>();
    let refused = refused_by(&moto, "ci-apply.json", &asked(&every));
    assert!(
        refused.is_empty(),
        "ci-apply.json refuses:\n{}",
        refused.join("\n")
    );
    let refused = refused_by(&moto, "ci-read-only.json", &asked(&read_only));
    assert!(
        refused.is_empty(),
        "ci-read-only.json refuses:\n{}",
        refused.join("\n")
    );

    // The read-only policy changes no stack: of the mutating calls it allows only
    // change sets, which it can neither execute nor turn into stacks.
    for action in granted("ci-read-only.json") {
        let name = action.split(':').nth(1).unwrap();
        assert!(
            !common::MUTATING.contains(&name)
                || ["CreateChangeSet", "DeleteChangeSet", "PutObject"].contains(&name),
            "ci-read-only.json grants {action}"
        );
    }
    // Every grant is used, or needs a state only the doubles produce (and those are
    // indeed not reached here).
    for (action, _) in ONLY_ON_FAILURE {
        assert!(
            !used.contains(*action),
            "{action} is used: not only on failure"
        );
    }
    let read_used = actions(&read_only);
    for (policy, used) in [("ci-apply.json", &used), ("ci-read-only.json", &read_used)] {
        for action in granted(policy) {
            assert!(
                used.contains(&action)
                    || ONLY_ON_FAILURE.iter().any(|(a, _)| *a == action)
                    || (action == "s3:GetObject" && used.contains("s3:PutObject")),
                "{policy} grants {action}, which no run used"
            );
        }
    }

    // Every stack change names the service role, so CloudFormation acts with it.
    let role = format!("arn:aws:iam::{ACCOUNT}:role/saas-prod-cloudformation");
    assert_contains(
        &std::fs::read_to_string(shipped().join("tenantops.yaml")).unwrap(),
        format!("service_role_arn: {role}"),
    );
    let mut changes: BTreeMap<&str, usize> = BTreeMap::new();
    for r in &every {
        if [
            "CreateStack",
            "UpdateStack",
            "CreateChangeSet",
            "DeleteStack",
        ]
        .contains(&r.action.as_str())
        {
            assert_eq!(
                r.params.get("RoleARN"),
                Some(&role),
                "{} of {:?} without the service role",
                r.action,
                r.params.get("StackName")
            );
            *changes.entry(r.action.as_str()).or_default() += 1;
        }
    }
    assert!(changes.len() >= 3, "{changes:?}");
    for policy in ["ci-apply.json", "ci-read-only.json"] {
        let text = std::fs::read_to_string(shipped().join("docs/iam").join(policy)).unwrap();
        assert_contains(&text, format!("\"Resource\": \"{role}\""));
    }
}

/// The OIDC trust policy, evaluated by moto's evaluator with the token's claims as
/// GitHub sets them (`aud` `sts.amazonaws.com` for configure-aws-credentials, `sub`
/// `repo:<owner>/<repo>:ref:refs/heads/<branch>` for a push, `...:pull_request` for a
/// pull request; GitHub's "Configuring `OpenID` Connect in Amazon Web Services"):
/// the fleet repository's main branch may assume the apply role, its pull requests,
/// other branches and other repositories may not.
#[test]
fn only_the_fleet_repositorys_main_branch_may_assume_the_apply_role() {
    let moto = Moto::start(0.2, &[]);
    let path = shipped().join("docs/iam/github-oidc-trust.json");
    let mut code = format!(
        "from moto.iam.access_control import IAMPolicy, PermissionResult\npolicy = IAMPolicy(open({:?}).read())\n",
        path.display().to_string()
    );
    let claims = [
        (
            "repo:example-org/saas-fleet:ref:refs/heads/main",
            "sts.amazonaws.com",
            true,
        ),
        (
            "repo:example-org/saas-fleet:pull_request",
            "sts.amazonaws.com",
            false,
        ),
        (
            "repo:example-org/saas-fleet:ref:refs/heads/feature",
            "sts.amazonaws.com",
            false,
        ),
        (
            "repo:someone-else/saas-fleet:ref:refs/heads/main",
            "sts.amazonaws.com",
            false,
        ),
        (
            "repo:example-org/saas-fleet:ref:refs/heads/main",
            "https://github.com/example-org",
            false,
        ),
    ];
    for (sub, aud, _) in &claims {
        let _ = writeln!(
            code,
            "print(policy.is_action_permitted('sts:AssumeRoleWithWebIdentity', incoming_condition_values={{'token.actions.githubusercontent.com:sub': {sub:?}, 'token.actions.githubusercontent.com:aud': {aud:?}}}) == PermissionResult.PERMITTED)"
        );
    }
    let answers: Vec<String> = moto.python(&code).lines().map(str::to_owned).collect();
    for ((sub, aud, expected), answer) in claims.iter().zip(&answers) {
        assert_eq!(
            answer,
            if *expected { "True" } else { "False" },
            "sub {sub}, aud {aud}"
        );
    }
    assert_eq!(answers.len(), claims.len());
    // The workflow that assumes it runs on pushes to main and asks for the token.
    let apply =
        std::fs::read_to_string(shipped().join(".github/workflows/fleet-apply.yml")).unwrap();
    assert_contains(&apply, "id-token: write");
    assert_contains(&apply, "branches: [main]");
}

/// A resource type's CloudFormation namespace and the IAM service prefix of the
/// actions CloudFormation calls to manage it (the Service Authorization Reference).
const PREFIXES: &[(&str, &str)] = &[
    ("ApiGateway", "apigateway"),
    ("AutoScaling", "autoscaling"),
    ("Cognito", "cognito-idp"),
    ("DynamoDB", "dynamodb"),
    ("EC2", "ec2"),
    ("ECS", "ecs"),
    ("ElasticLoadBalancingV2", "elasticloadbalancing"),
    ("IAM", "iam"),
    ("Lambda", "lambda"),
    ("Logs", "logs"),
    ("ServiceDiscovery", "servicediscovery"),
];

/// The CloudFormation service role's policy grants the services of every resource type
/// tenantops renders — over the tier × compute × routing matrix and the example fleet
/// — and no other; plus `ssm:GetParameters` for the ECS-optimized AMI parameter and
/// KMS for tables encrypted with the AWS-managed key. Roles and instance profiles are
/// granted only by this stage's name, so every one rendered is unnamed (CloudFormation
/// names it after its stack, `saas-prod-...`) or named so; the Lambda grant is the
/// authorizer's invoke permission, on the authorizer `tenantops.yaml` names.
#[test]
fn the_service_role_grants_the_services_of_every_rendered_resource_and_no_other() {
    let mut needed = BTreeSet::new();
    let mut roles = Vec::new();
    let mut functions = BTreeSet::new();
    for f in [Fixture::matrix(), Fixture::example()] {
        f.render(&[]);
        for (stack, template) in common::templates(&f.path().join("rendered")) {
            for parameter in template["Parameters"].as_object().into_iter().flatten() {
                let kind = parameter.1["Type"].as_str().unwrap_or_default();
                if kind.starts_with("AWS::SSM::Parameter::Value<") {
                    needed.insert("ssm".to_owned());
                }
            }
            for (id, resource) in template["Resources"].as_object().unwrap() {
                let kind = resource["Type"].as_str().unwrap();
                let namespace = kind.split("::").nth(1).unwrap();
                let prefix = PREFIXES
                    .iter()
                    .find(|(n, _)| *n == namespace)
                    .unwrap_or_else(|| panic!("{stack}: {kind} has no IAM prefix here"))
                    .1;
                needed.insert(prefix.to_owned());
                let properties = &resource["Properties"];
                if properties["SSESpecification"]["SSEEnabled"] == true
                    && properties["SSESpecification"]["KMSMasterKeyId"].is_null()
                {
                    needed.insert("kms".to_owned());
                }
                for name in ["RoleName", "InstanceProfileName"] {
                    if let Some(n) = properties.get(name) {
                        roles.push(format!("{stack}/{id}: {n}"));
                    }
                }
                if kind == "AWS::Lambda::Permission" {
                    functions.insert(properties["FunctionName"].to_string());
                }
            }
        }
    }
    let doc: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(shipped().join("docs/iam/cloudformation-service-role.json"))
            .unwrap(),
    )
    .unwrap();
    let granted: BTreeSet<String> = granted("cloudformation-service-role.json")
        .iter()
        .map(|a| a.split(':').next().unwrap().to_owned())
        .collect();
    assert_eq!(
        granted, needed,
        "granted services against the rendered ones"
    );
    for statement in doc["Statement"].as_array().unwrap() {
        assert!(statement["Effect"] == "Allow" && !statement["Resource"].is_null());
    }
    assert!(roles.is_empty(), "named roles or profiles: {roles:?}");
    let platform = std::fs::read_to_string(shipped().join("tenantops.yaml")).unwrap();
    let authorizer = platform
        .lines()
        .find_map(|l| l.trim().strip_prefix("authorizer: "))
        .unwrap();
    assert_eq!(functions, BTreeSet::from([format!("{authorizer:?}")]));
    let lambda = doc["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Sid"] == "TheAuthorizersInvokePermission")
        .unwrap();
    assert_eq!(lambda["Resource"], authorizer);
    let trust: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(shipped().join("docs/iam/cloudformation-service-role-trust.json"))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        trust["Statement"][0]["Principal"]["Service"],
        "cloudformation.amazonaws.com"
    );
}

/// The fenced `sh` blocks of `docs/getting-started.md`, in order, as lines.
fn guide_blocks() -> Vec<Vec<String>> {
    let guide = std::fs::read_to_string(shipped().join("docs/getting-started.md")).unwrap();
    guide
        .split("```sh\n")
        .skip(1)
        .map(|rest| {
            rest.split("```")
                .next()
                .unwrap()
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(str::to_owned)
                .collect()
        })
        .collect()
}

/// Runs `lines` with bash in `dir`, with the AWS CLI and tenantops on the PATH and
/// moto's endpoint and credentials.
fn run_block(moto: &Moto, dir: &std::path::Path, lines: &[String]) -> Vec<common::Run> {
    let aws_env = moto.env();
    let awscli = shipped().join(".venv/awscli/bin");
    assert!(
        awscli.join("aws").is_file(),
        "the AWS CLI is not installed: run scripts/test, which installs it into .venv/awscli/"
    );
    let bin = std::path::PathBuf::from(env!("CARGO_BIN_EXE_tenantops"));
    let path = format!(
        "{}:{}:{}",
        awscli.display(),
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    lines
        .iter()
        .map(|line| {
            let mut cmd = std::process::Command::new("bash");
            cmd.args(["--noprofile", "--norc", "-eo", "pipefail", "-c", line])
                .current_dir(dir)
                .envs(aws_env.iter().map(|(k, v)| (k, v)))
                .env("PATH", &path)
                .env("AWS_DEFAULT_REGION", REGION)
                .env("AWS_PAGER", "");
            let run = common::run_command(&mut cmd, dir);
            assert_eq!(run.code, 0, "{line}\n{}", run.all());
            run
        })
        .collect()
}

/// `docs/getting-started.md` as a user follows it, against moto: the ECR repository, the
/// roles with their trusts and policies (moto validates each policy document's
/// grammar), the OIDC provider, the artifact bucket as described; then validate, plan
/// --live, apply and status on the example fleet, ending healthy. The `docker` lines
/// are only checked for what they build (no Docker daemon here).
#[test]
fn the_getting_started_guide_deploys_the_example_fleet_on_moto() {
    let blocks = guide_blocks();
    assert_eq!(blocks.len(), 3, "{blocks:?}");
    let moto = Moto::start(0.2, &[]);
    let (docker, ecr): (Vec<String>, Vec<String>) = blocks[0]
        .iter()
        .cloned()
        .partition(|l| l.starts_with("docker "));
    assert_eq!(docker.len(), 2, "{docker:?}");
    assert!(docker[0].ends_with(" rproxy/") && shipped().join("rproxy/Dockerfile").is_file());
    let platform = std::fs::read_to_string(shipped().join("tenantops.yaml")).unwrap();
    let image = docker[1].trim_start_matches("docker push ");
    assert_contains(&platform, format!("image: {image}\n"));
    run_block(&moto, &shipped(), &ecr);
    run_block(&moto, &shipped(), &blocks[1]);
    let made = moto.python(
        "import json\niam = session.client('iam', endpoint_url=cfn.meta.endpoint_url)\ns3 = session.client('s3', endpoint_url=cfn.meta.endpoint_url)\nrole = iam.get_role(RoleName='saas-prod-cloudformation')['Role']\nprint(role['Arn'])\nprint(json.dumps(role['AssumeRolePolicyDocument'], sort_keys=True))\nprint(json.dumps(iam.get_role_policy(RoleName='saas-prod-cloudformation', PolicyName='tenantops-fleet')['PolicyDocument'], sort_keys=True))\nprint(iam.get_role(RoleName='saas-prod-tenantops-apply')['Role']['Arn'])\nprint([p['Arn'] for p in iam.list_open_id_connect_providers()['OpenIDConnectProviderList']])\nprint([p['PolicyName'] for p in iam.list_policies(Scope='Local')['Policies']])\nb = 'saas-prod-cfn-artifacts-123456789012'\nprint(s3.get_bucket_versioning(Bucket=b)['Status'])\nprint(s3.get_bucket_encryption(Bucket=b)['ServerSideEncryptionConfiguration']['Rules'][0]['ApplyServerSideEncryptionByDefault']['SSEAlgorithm'])\nprint(all(s3.get_public_access_block(Bucket=b)['PublicAccessBlockConfiguration'].values()))",
    );
    let lines: Vec<&str> = made.lines().collect();
    let role = format!("arn:aws:iam::{ACCOUNT}:role/saas-prod-cloudformation");
    assert_eq!(lines[0], role);
    assert_contains(&platform, format!("service_role_arn: {role}\n"));
    let file = |name: &str| -> serde_json::Value {
        serde_json::from_str(
            &std::fs::read_to_string(shipped().join("docs/iam").join(name)).unwrap(),
        )
        .unwrap()
    };
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(lines[1]).unwrap(),
        file("cloudformation-service-role-trust.json")
    );
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(lines[2]).unwrap(),
        file("cloudformation-service-role.json")
    );
    assert_eq!(
        lines[3],
        format!("arn:aws:iam::{ACCOUNT}:role/saas-prod-tenantops-apply")
    );
    assert_contains(
        lines[4],
        "oidc-provider/token.actions.githubusercontent.com",
    );
    assert_contains(lines[5], "saas-prod-tenantops-read-only");
    assert_eq!(&lines[6..], ["Enabled", "AES256", "True"]);

    let f = Fixture::example();
    let runs = run_block(&moto, f.path(), &blocks[2]);
    assert_eq!(
        blocks[2],
        [
            "tenantops validate",
            "tenantops plan --live",
            "tenantops apply --yes",
            "tenantops status"
        ]
    );
    assert_contains(&runs[1].stdout, "15 to create");
    assert_contains(&runs[3].stdout, "0 not in sync");
    assert_contains(&runs[3].stdout, "20 of 20 services steady");
}

/// The guide's cost table counts the tasks (and their size) the rendered templates run.
#[test]
fn the_guides_cost_table_counts_the_rendered_tasks() {
    let f = Fixture::example();
    let guide = std::fs::read_to_string(shipped().join("docs/getting-started.md")).unwrap();
    f.render(&[]);
    let templates = common::templates(&f.path().join("rendered"));
    let mut rows = 0;
    for line in guide.lines() {
        let cells: Vec<&str> = line.split(" | ").collect();
        let Some(stack) = cells.first().and_then(|c| c.strip_prefix("| `")) else {
            continue;
        };
        let stack = stack.trim_end_matches('`');
        let Some(tasks) = cells
            .get(1)
            .and_then(|c| c.strip_suffix(" tasks of 0.25 vCPU, 0.5 GB"))
        else {
            continue;
        };
        let resources = templates[stack]["Resources"].as_object().unwrap();
        let desired: u64 = resources
            .values()
            .filter(|r| r["Type"] == "AWS::ECS::Service")
            .map(|r| r["Properties"]["DesiredCount"].as_u64().unwrap())
            .sum();
        assert_eq!(desired.to_string(), tasks, "{stack}");
        for definition in resources
            .values()
            .filter(|r| r["Type"] == "AWS::ECS::TaskDefinition")
        {
            let containers = definition["Properties"]["ContainerDefinitions"]
                .as_array()
                .unwrap();
            let cpu: u64 = containers
                .iter()
                .map(|c| c["Cpu"].as_u64().unwrap_or(0))
                .sum();
            let memory: u64 = containers
                .iter()
                .map(|c| {
                    c["Memory"]
                        .as_u64()
                        .or_else(|| c["MemoryReservation"].as_u64())
                        .unwrap_or(0)
                })
                .sum();
            let cpu = definition["Properties"]["Cpu"]
                .as_str()
                .and_then(|c| c.parse().ok())
                .unwrap_or(cpu);
            let memory = definition["Properties"]["Memory"]
                .as_str()
                .and_then(|m| m.parse().ok())
                .unwrap_or(memory);
            assert_eq!((cpu, memory), (256, 512), "{stack}");
        }
        rows += 1;
    }
    assert_eq!(rows, 5, "cost rows with task counts");
}
