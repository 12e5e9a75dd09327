//! Benchmark of `tenantops render` on a synthetic 10,000-tenant fleet: a fresh render, a re-render over unchanged output, a render to tmpfs, one tenant, and `validate` with and without `--render` (which renders in memory).
//!
//! Run with `cargo bench --bench render` (release profile). Prints the median wall
//! time and peak resident memory (GNU time's maximum RSS) of several runs of the real
//! binary. `TENANTOPS_BENCH_TENANTS` and `TENANTOPS_BENCH_RUNS` change the size.

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn main() {
    let tenants = env_usize("TENANTOPS_BENCH_TENANTS", 10_000);
    let runs = env_usize("TENANTOPS_BENCH_RUNS", 7);
    let fleet = common::Fixture::empty();
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
    let one = common::tenant_id_of_tier(tenants, "advanced");
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
        "validate (renders in memory)",
        &["validate"],
        runs,
        &|| {},
    );
}

fn measure(bin: &str, dir: &Path, label: &str, args: &[&str], runs: usize, before: &dyn Fn()) {
    let mut walls = Vec::new();
    let mut peak_kb = Vec::new();
    for _ in 0..runs {
        before();
        let start = Instant::now();
        let out = Command::new("/usr/bin/time")
            .args(["-f", "%M"])
            .arg(bin)
            .arg("-C")
            .arg(dir)
            .args(args)
            .output()
            .expect("run /usr/bin/time (GNU time) with tenantops");
        walls.push(start.elapsed());
        assert!(
            out.status.success(),
            "{label} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        if let Some(kb) = stderr
            .lines()
            .last()
            .and_then(|l| l.trim().parse::<u64>().ok())
        {
            peak_kb.push(kb);
        }
    }
    walls.sort();
    peak_kb.sort_unstable();
    let median = walls[walls.len() / 2];
    #[allow(clippy::cast_precision_loss)] // kilobytes of RSS, far below 2^52
    let peak = peak_kb
        .get(peak_kb.len() / 2)
        .map_or("n/a".to_owned(), |kb| {
            format!("{:.1} MB", *kb as f64 / 1024.0)
        });
    println!(
        "  {label:<30} median {:>7.1} ms  (min {:.1}, max {:.1})  peak RSS {peak}",
        ms(median),
        ms(walls[0]),
        ms(walls[walls.len() - 1])
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
