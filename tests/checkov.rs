//! checkov's policy checks over every rendered template (the shipped fleet, the tier × compute × routing matrix and the delivery pipeline): no finding but the skips `tests/checkov-skips.txt` lists, each with its reason, and no skip that no template needs.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use common::{Fixture, shipped};

/// The skipped checks and why.
fn skips() -> BTreeMap<String, String> {
    std::fs::read_to_string(shipped().join("tests/checkov-skips.txt"))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (id, reason) = l.split_once(char::is_whitespace).unwrap();
            (id.to_owned(), reason.trim().to_owned())
        })
        .collect()
}

/// checkov's failed checks over the templates in `dir`: (check, file, resource).
fn failed(dir: &std::path::Path, skip: &[&str]) -> Vec<(String, String, String)> {
    let checkov = shipped().join(".venv/checkov/bin/checkov");
    assert!(
        checkov.exists(),
        "checkov is not installed: run scripts/test, which installs it into .venv/checkov/"
    );
    let mut cmd = Command::new(checkov);
    cmd.arg("-d").arg(dir).args([
        "--framework",
        "cloudformation",
        "--quiet",
        "--compact",
        "-o",
        "json",
    ]);
    if !skip.is_empty() {
        cmd.args(["--skip-check", &skip.join(",")]);
    }
    let out = cmd.output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!(
            "checkov output is not JSON ({e}): {text}{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let reports = match doc {
        serde_json::Value::Array(list) => list,
        one => vec![one],
    };
    let mut found = Vec::new();
    for report in reports {
        for f in report["results"]["failed_checks"]
            .as_array()
            .into_iter()
            .flatten()
        {
            found.push((
                f["check_id"].as_str().unwrap_or_default().to_owned(),
                f["file_path"].as_str().unwrap_or_default().to_owned(),
                f["resource"].as_str().unwrap_or_default().to_owned(),
            ));
        }
    }
    found
}

#[test]
fn rendered_templates_pass_checkov_but_for_reasoned_skips() {
    let scratch = tempfile::tempdir().unwrap();
    for (name, f) in [
        ("shipped", Fixture::example()),
        ("matrix", Fixture::matrix()),
    ] {
        let run = f.run(&[
            "render",
            "--out",
            scratch.path().join(name).to_str().unwrap(),
        ]);
        assert_eq!(run.code, 0, "{}", run.all());
    }
    let pipeline = Fixture::example().run(&["bootstrap", "--print"]);
    assert_eq!(pipeline.code, 0, "{}", pipeline.all());
    std::fs::create_dir_all(scratch.path().join("pipeline/stacks")).unwrap();
    std::fs::write(
        scratch.path().join("pipeline/stacks/pipeline.json"),
        &pipeline.stdout,
    )
    .unwrap();
    // Only the stacks: the parameter files beside them are not templates.
    let templates = scratch.path().join("templates");
    std::fs::create_dir_all(&templates).unwrap();
    for name in ["shipped", "matrix", "pipeline"] {
        for entry in std::fs::read_dir(scratch.path().join(name).join("stacks")).unwrap() {
            let path = entry.unwrap().path();
            let file = path.file_name().unwrap().to_string_lossy().into_owned();
            if !file.ends_with(".params.json") {
                std::fs::copy(&path, templates.join(format!("{name}-{file}"))).unwrap();
            }
        }
    }
    let skips = skips();
    let skip_ids: Vec<&str> = skips.keys().map(String::as_str).collect();
    let found = failed(&templates, &skip_ids);
    assert!(
        found.is_empty(),
        "checkov findings not in tests/checkov-skips.txt: {found:#?}"
    );
    // Every skip is needed: without the skips, each one fails somewhere.
    let all: BTreeSet<String> = failed(&templates, &[])
        .into_iter()
        .map(|(id, _, _)| id)
        .collect();
    for id in skips.keys() {
        assert!(
            all.contains(id),
            "{id} is skipped, but no rendered template fails it: remove it from tests/checkov-skips.txt"
        );
    }
}
