//! Shared by the benchmarks: run the real release binary several times (and a baseline binary beside it) and print the median wall time, CPU time and peak resident memory (GNU time's maximum RSS).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// Runs `tenantops -C dir <args>` `runs` times, calling `before` ahead of each run,
/// and prints one line: median, min and max wall time, median CPU time (user +
/// system) and median peak RSS. With `TENANTOPS_BENCH_BASELINE` naming another
/// tenantops binary (the previous release, say), each run of it follows a run of
/// this one, and a second line gives its figures: the two measured side by side.
pub fn measure(bin: &str, dir: &Path, label: &str, args: &[&str], runs: usize, before: &dyn Fn()) {
    let baseline = std::env::var("TENANTOPS_BENCH_BASELINE").ok();
    let bins: Vec<&str> = std::iter::once(bin).chain(baseline.as_deref()).collect();
    let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); bins.len()];
    for _ in 0..runs {
        for (bin, samples) in bins.iter().zip(&mut samples) {
            before();
            samples.push(sample(bin, dir, label, args));
        }
    }
    for (i, samples) in samples.iter_mut().enumerate() {
        let name = if i == 0 {
            label.to_owned()
        } else {
            format!("  (baseline) {label}")
        };
        report(&name, samples);
    }
}

#[derive(Clone, Copy)]
struct Sample {
    wall: Duration,
    cpu: Duration,
    peak_kb: u64,
}

fn sample(bin: &str, dir: &Path, label: &str, args: &[&str]) -> Sample {
    let start = Instant::now();
    let out = Command::new("/usr/bin/time")
        .args(["-f", "%U %S %M"])
        .arg(bin)
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .expect("run /usr/bin/time (GNU time) with tenantops");
    let wall = start.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // A synthetic fleet larger than one account's quotas (10,000 API keys a region,
    // 5,000 roles) is refused for those alone, after all of validate's work.
    let only_quotas = out.status.code() == Some(1)
        && stderr.contains("error[quota]")
        && stderr
            .lines()
            .filter(|l| l.starts_with("error["))
            .all(|l| l.starts_with("error[quota]"));
    assert!(
        out.status.success() || only_quotas,
        "{label} failed: {stderr}"
    );
    let fields: Vec<&str> = stderr
        .lines()
        .last()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let secs = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    Sample {
        wall,
        cpu: Duration::from_secs_f64(secs(0) + secs(1)),
        peak_kb: fields.get(2).and_then(|f| f.parse().ok()).unwrap_or(0),
    }
}

fn report(label: &str, samples: &mut [Sample]) {
    let mid = samples.len() / 2;
    samples.sort_by_key(|s| s.wall);
    let (median, min, max) = (
        samples[mid].wall,
        samples[0].wall,
        samples[samples.len() - 1].wall,
    );
    samples.sort_by_key(|s| s.cpu);
    let cpu = samples[mid].cpu;
    samples.sort_by_key(|s| s.peak_kb);
    #[allow(clippy::cast_precision_loss)] // kilobytes of RSS, far below 2^52
    let peak = samples[mid].peak_kb as f64 / 1024.0;
    println!(
        "  {label:<34} median {:>7.1} ms  (min {:.1}, max {:.1})  CPU {:.1} ms  peak RSS {peak:.1} MB",
        ms(median),
        ms(min),
        ms(max),
        ms(cpu),
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// `name` from the environment as a number, or `default`.
pub fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
