//! Benchmark of `plan --live`, `status` and `apply` against a moto server on loopback: a plan and a status over a fleet of about 2,000 unchanged tenant stacks (wall time and the requests moto received), and an apply of 200 new tenants with `--concurrency 1` and `--concurrency 8` (wall time and requests per stack).
//!
//! Run with `cargo bench --bench apply` (release profile; needs `.venv/` from
//! `scripts/test`). `TENANTOPS_BENCH_PLAN_TENANTS` (default 5,000, of which 40% are
//! bridge or silo tenants with a stack of their own), `TENANTOPS_BENCH_APPLY_TENANTS`
//! (default 200) and `TENANTOPS_BENCH_RUNS` (default 5) change the sizes. The plan's
//! fleet renders tenant stacks from a one-resource repository template
//! (`templates/tenant.json.j2`), so that deploying 2,000 of them into moto takes
//! minutes, not hours; the plan's cost does not depend on what a template holds.

#[allow(dead_code)] // the wall-time helper is for the other benchmarks
mod common;
#[path = "../tests/common/mod.rs"]
mod fixtures;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use common::env_usize;
use fixtures::{Fixture, Moto};

fn main() {
    let runs = env_usize("TENANTOPS_BENCH_RUNS", 5);
    plan_of_unchanged(env_usize("TENANTOPS_BENCH_PLAN_TENANTS", 5_000), runs);
    for concurrency in ["1", "8"] {
        apply_new(
            env_usize("TENANTOPS_BENCH_APPLY_TENANTS", 200),
            concurrency,
            if concurrency == "1" { 1 } else { runs.min(3) },
        );
    }
}

fn median(mut d: Vec<Duration>) -> Duration {
    d.sort();
    d[d.len() / 2]
}

fn summary(calls: &BTreeMap<String, usize>) -> String {
    calls
        .iter()
        .map(|(a, n)| format!("{a} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn plan_of_unchanged(tenants: usize, runs: usize) {
    let fleet = Fixture::empty();
    tenantops::synth::write_fleet(fleet.path(), tenants).expect("write fleet");
    // A one-resource tenant template declaring every parameter tenantops passes.
    let render = fleet.run(&["render"]);
    assert_eq!(render.code, 0, "{}", render.all());
    let mut params = BTreeSet::new();
    for entry in std::fs::read_dir(fleet.path().join("rendered/stacks")).expect("rendered") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if name.contains("-tenant-") && name.ends_with(".params.json") {
            let doc: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("json");
            if let Some(p) = doc["parameters"].as_object() {
                params.extend(p.keys().cloned());
            }
        }
    }
    let declared = params
        .iter()
        .map(|p| format!("{p:?}: {{\"Type\": \"String\", \"Default\": \"\"}}"))
        .collect::<Vec<_>>()
        .join(", ");
    fleet.write(
        "templates/tenant.json.j2",
        format!(
            "{{\"AWSTemplateFormatVersion\": \"2010-09-09\", \"Parameters\": {{{declared}}}, \"Resources\": {{\"Marker\": {{\"Type\": \"AWS::CloudFormation::WaitConditionHandle\"}}}}}}\n"
        ),
    );
    let moto = Moto::start(0.0, &[]);
    let started = Instant::now();
    let setup = moto.run(
        fleet.path(),
        &["apply", "--yes", "--concurrency", "8", "--format", "json"],
    );
    assert_eq!(setup.code, 0, "setup apply failed:\n{}", setup.all());
    let doc: serde_json::Value = serde_json::from_str(&setup.stdout).expect("report");
    let stacks = doc["results"].as_array().map_or(0, Vec::len);
    let tenant_stacks = doc["results"]
        .as_array()
        .map_or(0, |r| r.iter().filter(|s| s["kind"] == "tenant").count());
    println!(
        "plan --live, {tenants} tenants: {stacks} stacks live ({tenant_stacks} tenant stacks), deployed in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    timed(
        &moto,
        &fleet,
        "plan of unchanged fleet",
        &["plan", "--live", "--detailed-exitcode"],
        runs,
    );
    status_of(&moto, &fleet, runs);
}

/// `status` over the same fleet: with `--no-services` (the listing only), and with
/// services (one `ListStackResources` per live tenant and tier stack, 8 at a time).
fn status_of(moto: &Moto, fleet: &Fixture, runs: usize) {
    for (label, args) in [
        (
            "status --no-services",
            &["status", "--no-services", "--format", "json"][..],
        ),
        ("status (services)", &["status", "--format", "json"][..]),
    ] {
        timed(moto, fleet, label, args, runs);
    }
}

/// Runs `args` against moto `runs` times; prints the median, min and max wall time and
/// the requests moto received in one run.
fn timed(moto: &Moto, fleet: &Fixture, label: &str, args: &[&str], runs: usize) {
    let mut walls = Vec::new();
    let mut per_run = BTreeMap::new();
    for _ in 0..runs {
        let mark = moto.mark();
        let t = Instant::now();
        let run = moto.run(fleet.path(), args);
        walls.push(t.elapsed());
        assert_eq!(
            run.code,
            0,
            "{label}: the fleet should be unchanged:\n{}",
            run.all()
        );
        per_run = moto.since(mark);
    }
    println!(
        "  {label:<33} median {:>8.1} ms (min {:.1}, max {:.1}); requests: {}",
        median(walls.clone()).as_secs_f64() * 1000.0,
        walls.iter().min().map_or(0.0, |d| d.as_secs_f64() * 1000.0),
        walls.iter().max().map_or(0.0, |d| d.as_secs_f64() * 1000.0),
        summary(&per_run)
    );
}

fn apply_new(tenants: usize, concurrency: &str, runs: usize) {
    let mut walls = Vec::new();
    let mut calls = BTreeMap::new();
    let mut stacks = 0;
    for _ in 0..runs {
        let f = Fixture::example();
        for i in 0..tenants {
            let id = format!("bench{i:04}");
            f.write(
                &format!("tenants/{id}.yaml"),
                fixtures::tenant(&id, "advanced"),
            );
        }
        let lock = f.run(&["lock"]);
        assert_eq!(lock.code, 0, "{}", lock.all());
        let moto = Moto::start(0.0, &[]);
        let mark = moto.mark();
        let t = Instant::now();
        let run = moto.run(
            f.path(),
            &[
                "apply",
                "--yes",
                "--concurrency",
                concurrency,
                "--format",
                "json",
            ],
        );
        walls.push(t.elapsed());
        assert_eq!(run.code, 0, "{}", run.all());
        let doc: serde_json::Value = serde_json::from_str(&run.stdout).expect("report");
        stacks = doc["results"].as_array().map_or(0, Vec::len);
        calls = moto.since(mark);
    }
    let total: usize = calls.values().sum();
    #[allow(clippy::cast_precision_loss)] // request counts
    let per_stack = total as f64 / stacks.max(1) as f64;
    println!(
        "apply of {tenants} new tenants ({stacks} stacks), --concurrency {concurrency}: median {:.1} s over {runs} run(s); {total} requests, {per_stack:.1} per stack: {}",
        median(walls).as_secs_f64(),
        summary(&calls)
    );
}
