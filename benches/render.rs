//! Benchmark of `tenantops render` on a synthetic 10,000-tenant fleet: a fresh render, a re-render over unchanged output, a render to tmpfs, one tenant, and `validate` with and without `--render` (which renders in memory).
//!
//! Run with `cargo bench --bench render` (release profile). Prints the median wall
//! time and peak resident memory (GNU time's maximum RSS) of several runs of the real
//! binary. `TENANTOPS_BENCH_TENANTS` and `TENANTOPS_BENCH_RUNS` change the size.

mod common;
#[path = "../tests/common/mod.rs"]
mod fixtures;

use std::path::Path;

use common::{env_usize, measure};

fn main() {
    let tenants = env_usize("TENANTOPS_BENCH_TENANTS", 10_000);
    let runs = env_usize("TENANTOPS_BENCH_RUNS", 7);
    let fleet = fixtures::Fixture::empty();
    tenantops::synth::write_fleet(fleet.path(), tenants).expect("write fleet");
    let dir = fleet.path();
    let bin = env!("CARGO_BIN_EXE_tenantops");
    let out = dir.join("rendered");
    let out_arg = out.to_str().expect("utf-8 path").to_owned();
    println!("render, {tenants} tenants, {runs} runs each, binary {bin}");

    let fresh = || {
        let _ = std::fs::remove_dir_all(&out);
    };
    measure(
        bin,
        dir,
        "fresh (disk)",
        &["render", "--out", &out_arg],
        runs,
        &fresh,
    );
    measure(
        bin,
        dir,
        "over unchanged output",
        &["render", "--out", &out_arg],
        runs,
        &|| {},
    );
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        let target = shm.join(format!("tenantops-bench-{}", std::process::id()));
        let target_arg = target.to_str().expect("utf-8 path").to_owned();
        let clear = || {
            let _ = std::fs::remove_dir_all(&target);
        };
        measure(
            bin,
            dir,
            "fresh (tmpfs)",
            &["render", "--out", &target_arg],
            runs,
            &clear,
        );
        clear();
    }
    let one = fixtures::tenant_id_of_tier(tenants, "advanced");
    measure(
        bin,
        dir,
        "one tenant (--tenant)",
        &["render", "--tenant", &one, "--out", &out_arg],
        runs,
        &fresh,
    );
    measure(
        bin,
        dir,
        "validate --render (in memory)",
        &["validate", "--render"],
        runs,
        &|| {},
    );
    measure(
        bin,
        dir,
        "validate (stack count only)",
        &["validate"],
        runs,
        &|| {},
    );
}
