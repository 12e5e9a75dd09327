//! Benchmark of `tenantops validate` on a synthetic 10,000-tenant fleet, from the work tree and from `--rev HEAD`.
//!
//! Run with `cargo bench --bench validate` (release profile). Prints the median wall
//! time and the peak resident memory (GNU time's maximum RSS) of several runs of the
//! real binary. `TENANTOPS_BENCH_TENANTS` and `TENANTOPS_BENCH_RUNS` change the size.

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
    fleet.commit("fleet");
    let dir = &fleet.dir;
    let bin = env!("CARGO_BIN_EXE_tenantops");
    println!("validate, {tenants} tenants, {runs} runs each, binary {bin}");
    for (label, extra) in [
        ("work tree", &[][..]),
        ("--rev HEAD (loose objects)", &["--rev", "HEAD"][..]),
    ] {
        measure(bin, dir.path(), label, extra, runs);
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
            &["--rev", "HEAD"],
            runs,
        );
    }
}

fn measure(bin: &str, dir: &Path, label: &str, extra: &[&str], runs: usize) {
    let mut walls = Vec::new();
    let mut peak_kb = Vec::new();
    for _ in 0..runs {
        let start = Instant::now();
        let out = Command::new("/usr/bin/time")
            .args(["-f", "%M"])
            .arg(bin)
            .arg("-C")
            .arg(dir)
            .arg("validate")
            .args(extra)
            .output()
            .expect("run /usr/bin/time (GNU time) with tenantops");
        walls.push(start.elapsed());
        assert!(
            out.status.success(),
            "validate failed: {}",
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
        "  {label:<28} median {:>7.1} ms  (min {:.1}, max {:.1})  peak RSS {peak}",
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
