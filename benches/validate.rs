//! Benchmark of `tenantops validate` on a synthetic 10,000-tenant fleet, from the work tree and from `--rev HEAD`.
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
