//! Shared by the benchmarks: run the real release binary several times and print the median wall time and the peak resident memory (GNU time's maximum RSS).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// Runs `tenantops -C dir <args>` `runs` times, calling `before` ahead of each run,
/// and prints one line: median, min and max wall time, median peak RSS.
pub fn measure(bin: &str, dir: &Path, label: &str, args: &[&str], runs: usize, before: &dyn Fn()) {
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

/// `name` from the environment as a number, or `default`.
pub fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
