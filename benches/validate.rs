//! Benchmark of `tenantops validate` on a synthetic 10,000-tenant fleet, from the work tree and from `--rev HEAD`; and of what validates the whole fleet on the way: `onboard`, `offboard` and an offline `plan` of one shard.
//!
//! Run with `cargo bench --bench validate` (release profile). Prints the median wall
//! time and the peak resident memory (GNU time's maximum RSS) of several runs of the
//! real binary. `TENANTOPS_BENCH_TENANTS` and `TENANTOPS_BENCH_RUNS` change the size.

mod common;
#[path = "../tests/common/mod.rs"]
mod fixtures;

use std::process::Command;

use common::{env_usize, measure};

fn main() {
    let tenants = env_usize("TENANTOPS_BENCH_TENANTS", 10_000);
    let runs = env_usize("TENANTOPS_BENCH_RUNS", 7);
    let fleet = fixtures::Fixture::empty();
    tenantops::synth::write_fleet(fleet.path(), tenants).expect("write fleet");
    fleet.commit("fleet");
    let dir = &fleet.dir;
    let bin = env!("CARGO_BIN_EXE_tenantops");
    println!("validate, {tenants} tenants, {runs} runs each, binary {bin}");
    for (label, args) in [
        ("work tree", &["validate"][..]),
        (
            "--rev HEAD (loose objects)",
            &["validate", "--rev", "HEAD"][..],
        ),
    ] {
        measure(bin, dir.path(), label, args, runs, &|| {});
    }
    // onboard and offboard validate the whole fleet as it would be; each run starts
    // from the committed fleet again.
    let lock = std::fs::read(dir.path().join("tenants.lock")).expect("lock");
    let reset = || {
        let _ = std::fs::remove_file(dir.path().join("tenants/benchnew.yaml"));
        std::fs::write(dir.path().join("tenants.lock"), &lock).expect("restore lock");
    };
    measure(
        bin,
        dir.path(),
        "onboard (advanced, allocates)",
        &[
            "onboard",
            "--id",
            "benchnew",
            "--tier",
            "advanced",
            "--name",
            "Bench New",
            "--email",
            "ops@benchnew.example.com",
        ],
        runs,
        &reset,
    );
    reset();
    let victim = tenantops::synth::tenant_id(7);
    let victim_file = dir.path().join(format!("tenants/{victim}.yaml"));
    let original = std::fs::read(&victim_file).expect("tenant");
    measure(
        bin,
        dir.path(),
        "offboard",
        &["offboard", &victim],
        runs,
        &|| std::fs::write(&victim_file, &original).expect("restore tenant"),
    );
    std::fs::write(&victim_file, &original).expect("restore tenant");
    // A one-tenant change in the work tree against the committed fleet: the plan a
    // pull request that edits one tenant gets.
    let edited = dir.path().join(format!(
        "tenants/{}.yaml",
        fixtures::tenant_id_of_tier(tenants, "advanced")
    ));
    let before_edit = std::fs::read_to_string(&edited).expect("tenant");
    std::fs::write(
        &edited,
        format!("{before_edit}overrides:\n  desired_count: 2\n"),
    )
    .expect("edit tenant");
    measure(
        bin,
        dir.path(),
        "plan --base HEAD (one tenant edited)",
        &["plan", "--base", "HEAD"],
        runs,
        &|| {},
    );
    std::fs::write(&edited, &before_edit).expect("restore tenant");
    for (label, args) in [
        ("plan --base HEAD (whole)", &["plan", "--base", "HEAD"][..]),
        (
            "plan --base HEAD --shard 1/8",
            &["plan", "--base", "HEAD", "--shard", "1/8"][..],
        ),
    ] {
        measure(bin, dir.path(), label, args, runs, &|| {});
    }
    if Command::new("git")
        .arg("-C")
        .arg(dir.path())
        .args(["gc", "-q"])
        .status()
        .is_ok_and(|s| s.success())
    {
        measure(
            bin,
            dir.path(),
            "--rev HEAD (packed)",
            &["validate", "--rev", "HEAD"],
            runs,
            &|| {},
        );
    }
}
