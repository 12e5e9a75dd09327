//! The repository itself: committed schemas fresh, shipped manifests point at their schemas, README and `--help` true, `.ci/run` calls the README's test command, synthetic fleets validate.

mod common;

use common::{Fixture, assert_contains, shipped};
use tenantops::schema::Kind;

#[test]
fn committed_schemas_are_what_the_types_generate() {
    for kind in Kind::ALL {
        let path = shipped().join("schemas").join(kind.file_name());
        let committed = std::fs::read_to_string(&path).unwrap();
        assert!(
            committed == kind.generate(),
            "`schemas/{}` is stale: run `cargo run -- schema --write`",
            kind.file_name()
        );
        assert_eq!(
            kind.committed(),
            committed,
            "the binary embeds a different schema"
        );
    }
}

#[test]
fn schema_check_and_write() {
    let f = Fixture::example();
    assert_eq!(f.run(&["schema", "--check"]).code, 0);
    f.write("schemas/tenant.schema.json", "{}\n");
    f.remove("schemas/lock.schema.json");
    let run = f.run(&["schema", "--check"]);
    assert_eq!(run.code, 3, "{}", run.all());
    assert_contains(&run.stderr, "`schemas/tenant.schema.json` is out of date");
    assert_contains(&run.stderr, "`schemas/lock.schema.json` is missing");
    let write = f.run(&["schema", "--write"]);
    assert_eq!(write.code, 0, "{}", write.all());
    assert_eq!(f.run(&["schema", "--check"]).code, 0);
}

#[test]
fn shipped_repository_is_valid_and_locked() {
    let root = shipped();
    for args in [
        &["validate"][..],
        &["lock", "--check"],
        &["schema", "--check"],
    ] {
        let run = common::run_in(&root, args);
        assert_eq!(run.code, 0, "tenantops {args:?}:\n{}", run.all());
    }
}

#[test]
fn shipped_manifests_point_at_their_schemas() {
    let root = shipped();
    let mut files = vec![root.join("tenantops.yaml"), root.join("tenants.lock")];
    for dir in ["tiers", "tenants"] {
        for entry in std::fs::read_dir(root.join(dir)).unwrap() {
            files.push(entry.unwrap().path());
        }
    }
    assert!(files.len() >= 11);
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let first = text.lines().next().unwrap_or_default();
        let target = first
            .strip_prefix("# yaml-language-server: $schema=")
            .unwrap_or_else(|| panic!("{} does not start with a schema line", file.display()));
        let schema = file.parent().unwrap().join(target);
        assert!(
            schema.is_file(),
            "{} points at missing {}",
            file.display(),
            schema.display()
        );
    }
}

#[test]
fn example_fleet_covers_the_reference_architecture() {
    let root = shipped();
    let read = |p: &str| std::fs::read_to_string(root.join(p)).unwrap();
    assert!(read("tiers/basic.yaml").contains("isolation: pool"));
    assert!(read("tiers/advanced.yaml").contains("isolation: bridge"));
    assert!(read("tiers/premium.yaml").contains("isolation: silo"));
    let tenants: Vec<String> = std::fs::read_dir(root.join("tenants"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    assert!(tenants.len() >= 6);
    assert!(tenants.iter().any(|t| t.contains("state: suspended")));
    for tier in ["basic", "advanced", "premium"] {
        assert!(
            tenants
                .iter()
                .any(|t| t.contains(&format!("tier: {tier}\n"))),
            "no {tier} tenant"
        );
    }
}

/// The lines of README.md's first fenced block after `heading`.
fn readme_block(heading: &str) -> Vec<String> {
    let readme = std::fs::read_to_string(shipped().join("README.md")).unwrap();
    let section = readme
        .split(heading)
        .nth(1)
        .unwrap_or_else(|| panic!("README has no `{heading}`"));
    let block = section.split("```").nth(1).unwrap();
    block
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect()
}

#[test]
fn readme_quickstart_is_true() {
    // The sandbox has its own test below; these are the offline commands.
    assert_eq!(
        readme_block("## Quickstart"),
        ["scripts/sandbox", "scripts/test"]
    );
    let commands = readme_block("### Without an emulator");
    assert_eq!(commands, ["cargo run -- validate", "cargo run -- render"]);
    // The first command's output, as the README quotes it.
    let readme = std::fs::read_to_string(shipped().join("README.md")).unwrap();
    let run = common::run_in(&shipped(), &["validate"]);
    assert!(
        readme.contains(&format!("`{}`", run.stdout.trim())),
        "README quotes another output than `{}`",
        run.stdout.trim()
    );
    // The second's, rendered to a scratch directory rather than into the source tree.
    let out = tempfile::tempdir().unwrap();
    let run = common::run_in(
        &shipped(),
        &[
            "render",
            "--out",
            out.path().join("rendered").to_str().unwrap(),
        ],
    );
    assert_eq!(run.code, 0, "{}", run.all());
    let summary = run.stdout.trim().split(" into ").next().unwrap();
    assert!(
        readme.contains(&format!("`{summary} into `./rendered``")),
        "README quotes another output than `{summary}`"
    );
    // The offline plan it suggests works in the repository itself.
    let run = common::run_in(&shipped(), &["plan", "--base", "HEAD"]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(
        run.stdout.contains("plan against base HEAD:"),
        "{}",
        run.stdout
    );
    // The second quickstart command is the test command, and `.ci/run` calls it and
    // nothing else.
    let ci = std::fs::read_to_string(shipped().join(".ci/run")).unwrap();
    let last = ci.lines().rev().find(|l| !l.trim().is_empty()).unwrap();
    assert_eq!(last, "exec scripts/test");
    assert!(shipped().join("scripts/test").is_file());
}

#[test]
fn exit_codes_are_documented_in_readme_and_help() {
    let readme = std::fs::read_to_string(shipped().join("README.md")).unwrap();
    let help = common::run_in(&shipped(), &["--help"]).stdout;
    for exit in tenantops::exit::Exit::ALL {
        let row = format!("| {} | {} |", exit.code(), exit.meaning());
        assert!(readme.contains(&row), "README lacks the row `{row}`");
        let line = format!("{:>2}  {}", exit.code(), exit.meaning());
        assert!(help.contains(&line), "--help lacks `{line}`:\n{help}");
    }
}

#[test]
fn synthetic_fleet_validates_from_work_tree_and_revision_alike() {
    let f = Fixture::empty();
    tenantops::synth::write_fleet(f.path(), 1500).unwrap();
    f.commit("synthetic fleet");
    let tree = f.run(&["validate", "--format", "json"]);
    assert_eq!(tree.code, 0, "{}", tree.all());
    let rev = f.run(&["validate", "--format", "json", "--rev", "HEAD"]);
    assert_eq!(tree.stdout, rev.stdout);
    let doc: serde_json::Value = serde_json::from_str(&tree.stdout).unwrap();
    assert_eq!(doc["summary"]["tenants"], 1500);
    assert_eq!(doc["summary"]["shards"], 6);
    // The generator's lock is the one `tenantops lock` makes.
    assert_eq!(f.run(&["lock", "--check"]).code, 0);
}

#[test]
fn help_text_is_reviewed() {
    for args in [
        &["--help"][..],
        &["validate", "--help"],
        &["render", "--help"],
        &["plan", "--help"],
        &["apply", "--help"],
        &["lock", "--help"],
        &["schema", "--help"],
        &["status", "--help"],
        &["onboard", "--help"],
        &["offboard", "--help"],
        &["suspend", "--help"],
        &["activate", "--help"],
        &["bootstrap", "--help"],
        &["completions", "--help"],
        &["man", "--help"],
    ] {
        let run = common::run_in(&shipped(), args);
        assert_eq!(run.code, 0);
        let name = std::iter::once("help")
            .chain(args[..args.len() - 1].iter().copied())
            .collect::<Vec<_>>()
            .join("_");
        insta::assert_snapshot!(name, run.stdout);
    }
}

#[test]
fn readme_lists_every_reserved_id() {
    let readme = std::fs::read_to_string(shipped().join("README.md")).unwrap();
    let section = readme
        .split("Reserved ids:")
        .nth(1)
        .unwrap()
        .split("\n\n")
        .next()
        .unwrap();
    for id in tenantops::naming::RESERVED_IDS {
        assert!(
            section.contains(&format!("`{id}`")),
            "README does not list reserved id `{id}`"
        );
    }
}

/// Splits a shell command line as the sandbox prints it: words, and double-quoted words.
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => quoted = !quoted,
            ' ' if !quoted => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
            _ => word.push(c),
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

/// The README's first command: `scripts/sandbox` on a fresh state directory copies the
/// example fleet into a git repository of its own, brings it up on moto with the
/// project's corrections, and shows it healthy; every `tenantops` step it suggests next
/// works as printed; `scripts/sandbox stop` ends exactly the processes it started.
#[test]
fn the_sandbox_brings_the_example_fleet_up_healthy_and_its_next_steps_work() {
    let state = tempfile::tempdir().unwrap();
    let sandbox = |arg: &str| {
        let mut cmd = std::process::Command::new(shipped().join("scripts/sandbox"));
        cmd.arg(arg)
            .env("SANDBOX_DIR", state.path())
            .env("TENANTOPS", env!("CARGO_BIN_EXE_tenantops"))
            .env_remove("SANDBOX_FLEET");
        common::run_command(&mut cmd, state.path())
    };
    let up = sandbox("start");
    let pids: Vec<String> = std::fs::read_to_string(state.path().join("pids"))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect();
    // Running, not a zombie waiting for a parent that does not reap (the script's
    // children are reparented when it exits).
    let alive = |pid: &str| {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
            stat.rsplit(") ")
                .next()
                .is_some_and(|s| !s.starts_with('Z'))
        })
    };
    let result = std::panic::catch_unwind(|| {
        assert_eq!(up.code, 0, "{}", up.all());
        assert_eq!(pids.len(), 2, "moto and the scheduler: {pids:?}");
        assert_contains(&up.stdout, "15 created");
        assert_contains(&up.stdout, "0 not in sync");
        let summary = up
            .stdout
            .lines()
            .find(|l| l.starts_with("stage `prod`:"))
            .expect("status's summary");
        assert_contains(&up.stdout, "20 of 20 services steady");
        let readme = std::fs::read_to_string(shipped().join("README.md")).unwrap();
        assert!(
            readme.contains(&format!("`{summary}`")),
            "README quotes another status than `{summary}`"
        );
        // The clone stays as it was: the fleet is a copy, committed in its own repository.
        let fleet = state.path().join("fleet");
        assert!(git2::Repository::open(&fleet).is_ok());
        let env: Vec<(String, String)> = std::fs::read_to_string(state.path().join("env"))
            .unwrap()
            .lines()
            .filter_map(|l| l.strip_prefix("export "))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        assert!(
            env.iter()
                .any(|(k, v)| k == "AWS_ENDPOINT_URL" && v.starts_with("http://127.0.0.1:"))
        );
        let next: Vec<Vec<String>> = up
            .stdout
            .split("Next:")
            .nth(1)
            .expect("the sandbox says what to try next")
            .lines()
            .filter_map(|l| l.trim_start().strip_prefix("tenantops "))
            .map(|l| shell_words(l.split(" # ").next().unwrap()))
            .collect();
        let verbs: Vec<&str> = next.iter().map(|w| w[0].as_str()).collect();
        assert_eq!(verbs, ["onboard", "plan", "plan", "apply", "status"]);
        let mut outputs = Vec::new();
        for words in &next {
            let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_tenantops"));
            cmd.args(words)
                .current_dir(&fleet)
                .env_remove("AWS_PROFILE")
                .envs(env.iter().map(|(k, v)| (k, v)));
            let run = common::run_command(&mut cmd, &fleet);
            assert_eq!(run.code, 0, "tenantops {}: {}", words.join(" "), run.all());
            outputs.push(run.stdout);
        }
        // A basic tenant joins its tier's pool pack.
        assert_contains(&outputs[1], "~ saas-prod-pool-basic-1 (tier basic)");
        assert_contains(&outputs[4], "8 tenants");
        assert_contains(&outputs[4], "0 not in sync");
    });
    let down = sandbox("stop");
    assert_eq!(down.code, 0, "{}", down.all());
    std::thread::sleep(std::time::Duration::from_millis(500));
    for pid in &pids {
        assert!(!alive(pid), "sandbox process {pid} outlived stop");
    }
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
    assert!(!state.path().join("pids").exists());
}

/// Every test ARCHITECTURE.md names for a reliability promise exists: a renamed or
/// deleted test cannot leave a promise backed by nothing.
#[test]
fn every_reliability_promise_names_a_test_that_exists() {
    let architecture = std::fs::read_to_string(shipped().join("ARCHITECTURE.md")).unwrap();
    let section = architecture
        .split("## Reliability promises and their tests")
        .nth(1)
        .expect("ARCHITECTURE.md lists the reliability promises");
    let named: Vec<&str> = section
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|n| {
            n.contains('_')
                && n.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        })
        .collect();
    assert!(named.len() >= 20, "{named:?}");
    let mut sources = String::new();
    for entry in std::fs::read_dir(shipped().join("tests")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "rs") {
            sources.push_str(&std::fs::read_to_string(path).unwrap());
        }
    }
    for name in named {
        assert!(
            sources.contains(&format!("fn {name}(")),
            "ARCHITECTURE.md names `{name}`, which is no test"
        );
    }
}
