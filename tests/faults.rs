//! Applies through a fault-injecting proxy (`tests/support/fault_proxy.py`, fixed seed, loopback only, bounded in faults): throttling, 503s, connections reset before and after the server acted, slow answers. No panic, no dishonest exit (an exit 0 means every stack converged and every service is steady), and reruns converge to a fleet a clean apply finds nothing to do in.

mod common;

use std::io::BufRead as _;
use std::process::{Child, Command, Stdio};

use common::{Fixture, Moto, assert_contains, shipped, tool};

/// The proxy, in front of `moto`.
struct Proxy {
    child: Child,
    endpoint: String,
    log: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Proxy {
    fn start(moto: &Moto, seed: u64, rate: f64) -> Proxy {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("faults.log");
        let mut child = Command::new(tool("python"))
            .arg(shipped().join("tests/support/fault_proxy.py"))
            .args([moto.endpoint.as_str(), &seed.to_string(), &rate.to_string()])
            .arg(&log)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the fault proxy");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("the proxy's port");
        let port = line.trim().trim_start_matches("listening on ").to_owned();
        Proxy {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            log,
            _dir: dir,
        }
    }

    /// Mutating calls the server carried out whose answer the proxy dropped.
    fn lost_mutations(&self) -> usize {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter(|l| {
                l.strip_prefix("reset-after ")
                    .is_some_and(|action| common::MUTATING.contains(&action))
            })
            .count()
    }

    /// Faults injected so far, by kind.
    fn faults(&self) -> std::collections::BTreeMap<String, usize> {
        let mut by_kind = std::collections::BTreeMap::new();
        for line in std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
        {
            let kind = line.split(' ').next().unwrap_or_default().to_owned();
            *by_kind.entry(kind).or_default() += 1;
        }
        by_kind
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The shipped fleet applied through a proxy that faults one request in six, rerun
/// until it succeeds (at most eight runs): every run ends with an exit code from the
/// table (never a panic), a run that exits 0 leaves the fleet converged and healthy,
/// and a clean apply afterwards makes no mutating call.
#[test]
fn applies_through_faults_converge_and_never_exit_dishonestly() {
    let mut lost = 0;
    // A wider sweep: TENANTOPS_FAULT_SEEDS=1,2,3 (the suite runs these three).
    let seeds: Vec<u64> = std::env::var("TENANTOPS_FAULT_SEEDS").map_or_else(
        |_| vec![7, 1234, 99],
        |s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect(),
    );
    for seed in seeds {
        let moto = Moto::start(0.2, &[]);
        let f = Fixture::example();
        let proxy = Proxy::start(&moto, seed, 0.3);
        let mut codes = Vec::new();
        let mut outputs = String::new();
        for _ in 0..8 {
            let run = moto.run(
                f.path(),
                &[
                    "apply",
                    "--yes",
                    "--poll",
                    "0.05",
                    "--steady-timeout",
                    "30",
                    "--busy-timeout",
                    "60",
                    "--request-timeout",
                    "10",
                    "--endpoint-url",
                    &proxy.endpoint,
                ],
            );
            outputs.push_str(&run.all());
            assert!(
                [0, 5, 6, 7].contains(&run.code),
                "seed {seed}: exit {}\n{}",
                run.code,
                run.all()
            );
            assert!(!run.stderr.contains("panicked"), "{}", run.all());
            codes.push(run.code);
            if run.code == 0 {
                break;
            }
        }
        assert_eq!(
            codes.last(),
            Some(&0),
            "seed {seed}: no run succeeded: {codes:?}, faults {:?}\n{outputs}",
            proxy.faults()
        );
        let faults = proxy.faults();
        assert!(
            faults.values().sum::<usize>() >= 10,
            "seed {seed}: too few faults to mean anything: {faults:?}"
        );
        // Honest: the run that said 0 left every stack in sync and every service
        // steady, as a clean status (straight to moto) sees it.
        let status = moto.run(
            f.path(),
            &["status", "--detailed-exitcode", "--format", "json"],
        );
        assert_eq!(status.code, 0, "seed {seed}: {}", status.all());
        let mark = moto.mark();
        let again = moto.apply(f.path(), &[]);
        assert_eq!(again.code, 0, "{}", again.all());
        assert_contains(&again.stdout, "nothing to apply (15 stacks unchanged)");
        assert_eq!(moto.mutating_since(mark), 0, "{:?}", moto.since(mark));
        lost += proxy.lost_mutations();
        eprintln!(
            "seed {seed}: runs {codes:?}, faults {faults:?}, mutating answers lost {}",
            proxy.lost_mutations()
        );
    }
    // The hard case was met: a create, update or delete that happened, unanswered.
    assert!(
        lost > 0,
        "no mutating call lost its answer under these seeds"
    );
}
