//! Work skipped because its inputs did not change, held against doing all of it: a re-render over unchanged output links what it would have rendered (and renders again what was edited by hand), and `plan --base`, which renders only the stacks whose inputs differ, names exactly the stacks whose full renders differ.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::{Fixture, tree};

/// `render --out <out>` as JSON, asserting success.
#[track_caller]
fn render(f: &Fixture, out: &Path, extra: &[&str]) -> serde_json::Value {
    let out = out.to_str().expect("utf-8 path");
    let mut args = vec!["--format", "json", "render", "--out", out];
    args.extend_from_slice(extra);
    let run = f.run(&args);
    assert_eq!(run.code, 0, "render failed:\n{}", run.all());
    let report: serde_json::Value = serde_json::from_str(&run.stdout).expect("render prints JSON");
    report["summary"].clone()
}

fn unchanged(report: &serde_json::Value) -> u64 {
    report["unchanged_since_last_render"]
        .as_u64()
        .expect("a count of unchanged stacks")
}

fn stack_count(report: &serde_json::Value) -> u64 {
    report["stacks"].as_array().expect("stacks").len() as u64
}

#[test]
fn a_rerender_links_unchanged_stacks_and_renders_what_changed_or_was_edited() {
    let f = Fixture::matrix();
    let out = f.path().join("out");
    let first = render(&f, &out, &[]);
    assert_eq!(unchanged(&first), 0, "nothing to reuse the first time");
    let rendered = tree(&out);

    // Nothing changed: every stack is linked, and the output is the same bytes.
    let again = render(&f, &out, &[]);
    assert_eq!(unchanged(&again), stack_count(&again));
    assert_eq!(tree(&out), rendered);

    // One tenant's service count changes: its stack is rendered, the others linked, and
    // the result is what a fresh render gives.
    let file = "tenants/numbat.yaml";
    f.write(file, f.read(file) + "overrides:\n  desired_count: 2\n");
    let edited = render(&f, &out, &[]);
    let fresh = f.path().join("fresh");
    let full = render(&f, &fresh, &[]);
    assert_eq!(unchanged(&full), 0);
    let changed = stack_count(&edited) - unchanged(&edited);
    assert!(changed >= 1, "the renamed tenant's stack is rendered again");
    assert!(unchanged(&edited) > 0, "the other stacks are linked");
    assert_eq!(tree(&out), tree(&fresh));
    assert_ne!(tree(&out), rendered);

    // Hand edits to the output, one keeping the file's size: both are rendered again.
    let names: Vec<String> = tree(&out.join("stacks"))
        .into_keys()
        .filter(|n| n.rsplit('.').nth(1) != Some("params"))
        .collect();
    let (same_size, longer) = (&names[0], &names[1]);
    let path = out.join("stacks").join(same_size);
    let text = std::fs::read_to_string(&path).expect("template");
    std::fs::write(&path, text.replacen('{', " ", 1)).expect("edit");
    let path = out.join("stacks").join(longer);
    std::fs::write(
        &path,
        std::fs::read_to_string(&path).expect("template") + " ",
    )
    .expect("edit");
    let repaired = render(&f, &out, &[]);
    assert_eq!(unchanged(&repaired), stack_count(&repaired) - 2);
    assert_eq!(tree(&out), tree(&fresh));

    // A render of one tenant leaves only its files; a full render after it renders
    // the rest again and reuses that tenant's.
    let one = render(&f, &out, &["--tenant", "bilby"]);
    assert_eq!(unchanged(&one), stack_count(&one));
    let whole = render(&f, &out, &[]);
    assert_eq!(unchanged(&whole), stack_count(&one));
    assert_eq!(tree(&out), tree(&fresh));
}

/// Each stack's rendered files (`<name>.json`, `<name>.params.json`) under `out`.
fn stacks_of(out: &Path) -> BTreeMap<String, Vec<Vec<u8>>> {
    let mut stacks: BTreeMap<String, Vec<Vec<u8>>> = BTreeMap::new();
    for (name, bytes) in tree(&out.join("stacks")) {
        let stack = name
            .strip_suffix(".params.json")
            .or_else(|| name.strip_suffix(".json"))
            .expect("a stack file")
            .to_owned();
        stacks.entry(stack).or_default().push(bytes);
    }
    stacks
}

/// The changes `plan --base HEAD` reports, stack → action.
fn offline_plan(f: &Fixture) -> (BTreeMap<String, String>, u64) {
    let run = f.run(&["--format", "json", "plan", "--base", "HEAD"]);
    assert_eq!(run.code, 0, "plan failed:\n{}", run.all());
    let report: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON plan");
    let changes = report["plan"]["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .map(|c| {
            (
                c["stack"].as_str().expect("stack").to_owned(),
                c["action"].as_str().expect("action").to_owned(),
            )
        })
        .collect();
    (
        changes,
        report["plan"]["unchanged"].as_u64().expect("unchanged"),
    )
}

/// What a full render of both sides says changes: the oracle for the offline plan.
fn full_comparison(f: &Fixture) -> (BTreeMap<String, String>, u64) {
    let base = f.path().join("base-render");
    let head = f.path().join("head-render");
    render(f, &base, &["--rev", "HEAD"]);
    render(f, &head, &[]);
    let (before, after) = (stacks_of(&base), stacks_of(&head));
    let mut changes = BTreeMap::new();
    let mut same = 0;
    for (name, files) in &after {
        match before.get(name) {
            None => {
                changes.insert(name.clone(), "create".to_owned());
            }
            Some(old) if old != files => {
                changes.insert(name.clone(), "update".to_owned());
            }
            Some(_) => same += 1,
        }
    }
    for name in before.keys().filter(|n| !after.contains_key(*n)) {
        changes.insert(name.clone(), "delete".to_owned());
    }
    let _ = std::fs::remove_dir_all(&base);
    let _ = std::fs::remove_dir_all(&head);
    (changes, same)
}

#[test]
fn an_offline_plan_names_exactly_the_stacks_whose_full_renders_differ() {
    type Change = fn(&Fixture);
    let scenarios: [(&str, Change); 6] = [
        ("nothing", |_| {}),
        ("one tenant's service count", |f| {
            let file = "tenants/numbat.yaml";
            f.write(file, f.read(file) + "overrides:\n  desired_count: 2\n");
        }),
        ("a tier's desired count", |f| {
            let file = "tiers/advanced.yaml";
            f.write(
                file,
                f.read(file).replace("desired_count: 1", "desired_count: 2"),
            );
        }),
        ("a template override", |f| {
            let text = tenantops::render::engine::BUILTIN
                .iter()
                .find(|(name, _)| *name == "tenant.json.j2")
                .map(|(_, text)| *text)
                .expect("built-in tenant template");
            f.write(
                "templates/tenant.json.j2",
                text.replacen(
                    "\"Resources\": {",
                    "\"Metadata\": {\"Edited\": true},\n\"Resources\": {",
                    1,
                ),
            );
        }),
        ("a tenant added", |f| {
            f.write("tenants/emu.yaml", common::tenant("emu", "advanced"));
            let run = f.run(&["lock"]);
            assert_eq!(run.code, 0, "{}", run.all());
        }),
        ("a tenant removed", |f| {
            f.remove("tenants/bilby.yaml");
            let run = f.run(&["lock"]);
            assert_eq!(run.code, 0, "{}", run.all());
        }),
    ];
    for (label, change) in scenarios {
        let f = Fixture::matrix();
        f.commit("base");
        change(&f);
        let (plan, plan_same) = offline_plan(&f);
        let (oracle, oracle_same) = full_comparison(&f);
        assert_eq!(plan, oracle, "{label}: the plan's changes");
        assert_eq!(
            plan_same, oracle_same,
            "{label}: the plan's unchanged count"
        );
        if label != "nothing" {
            assert!(!plan.is_empty(), "{label}: something changes");
        }
    }
}
