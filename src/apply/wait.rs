//! Waiting on AWS without hammering it: stack and change-set status polls and the ECS steady wait, with exponential backoff and jitter, bounded by a timeout, reading through transient failures.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::runner::Runner;
use crate::aws::{AwsError, LiveStack};
use crate::plan::DesiredStack;
use crate::stacks::StackKind;

impl Runner {
    /// Polls a stack until it is not in progress; `None` once it is gone.
    pub(super) async fn wait(
        &self,
        name: &str,
        timeout: Duration,
    ) -> Result<Option<LiveStack>, String> {
        let mut poll = self.poll(timeout);
        loop {
            let stack = read_through(&mut poll, || self.aws.describe_stack(name)).await?;
            match stack {
                Some(s) if s.busy() => {
                    if !poll.pause().await {
                        return Err(format!("still {} after {}s", s.status, timeout.as_secs()));
                    }
                }
                other => return Ok(other),
            }
        }
    }

    fn poll(&self, timeout: Duration) -> Poll {
        Poll {
            started: Instant::now(),
            timeout,
            delay: self.opts.poll_initial,
            max: self.opts.poll_max,
        }
    }

    pub(super) async fn wait_change_set(
        &self,
        name: &str,
        cs: &str,
    ) -> Result<crate::aws::ChangeSetState, String> {
        let mut poll = self.poll(self.opts.stack_timeout);
        loop {
            let state = read_through(&mut poll, || self.aws.describe_change_set(name, cs)).await?;
            if !matches!(
                state.status.as_str(),
                "CREATE_PENDING" | "CREATE_IN_PROGRESS"
            ) {
                return Ok(state);
            }
            if !poll.pause().await {
                return Err(format!("change set still {}", state.status));
            }
        }
    }

    /// Waits until every ECS service of a tenant or tier stack runs its desired count
    /// with a single deployment, bounded by `steady_timeout`.
    pub(super) async fn steady(&self, desired: &DesiredStack) -> Result<(), String> {
        if !matches!(desired.kind, StackKind::Tenant | StackKind::Tier) {
            return Ok(());
        }
        let name = desired.name.as_str();
        let mut poll = self.poll(self.opts.steady_timeout);
        // Reads ride out throttling as status polls do: eight throttled
        // DescribeServices once failed a healthy stack and skipped its dependents.
        let by_cluster = read_through(&mut poll, || self.aws.services_of(name)).await?;
        if by_cluster.is_empty() {
            return Ok(());
        }
        self.progress
            .step(name, "waiting for ECS services to be steady");
        loop {
            let mut waiting = Vec::new();
            for (cluster, services) in &by_cluster {
                for s in read_through(&mut poll, || self.aws.describe_services(cluster, services))
                    .await?
                {
                    if !s.steady() {
                        waiting.push(format!(
                            "{} ({} of {} running, {} deployment{}, {})",
                            s.name,
                            s.running,
                            s.desired,
                            s.deployments,
                            if s.deployments == 1 { "" } else { "s" },
                            s.status
                        ));
                    }
                }
            }
            if waiting.is_empty() {
                return Ok(());
            }
            if !poll.pause().await {
                return Err(format!(
                    "ECS services not steady after {}s: {}",
                    self.opts.steady_timeout.as_secs(),
                    waiting.join("; ")
                ));
            }
        }
    }
}

/// The pauses between status polls: exponential backoff with jitter, bounded by a
/// timeout.
struct Poll {
    started: Instant,
    timeout: Duration,
    delay: Duration,
    max: Duration,
}

impl Poll {
    /// Sleeps before the next poll; `false` (without sleeping) once the timeout has
    /// passed.
    async fn pause(&mut self) -> bool {
        if self.started.elapsed() >= self.timeout {
            return false;
        }
        tokio::time::sleep(jitter(self.delay)).await;
        self.delay = (self.delay * 2).min(self.max);
        true
    }
}

/// `d` scaled by a factor in [0.5, 1.0): polls of many stacks spread out.
///
/// The factor comes from `SplitMix64` over a per-process sequence (seeded once from
/// the clock and the pid), not from the clock's nanoseconds each time: on macOS the
/// clock has microsecond resolution, so `nanos % 1000` was always 0 and every poll of
/// every stack had the same factor.
pub(super) fn jitter(d: Duration) -> Duration {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};
    static SEED: OnceLock<u64> = OnceLock::new();
    static COUNT: AtomicU64 = AtomicU64::new(0);
    let seed = *SEED.get_or_init(|| {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |t| t.as_nanos());
        #[allow(clippy::cast_possible_truncation)] // the low bits are the varying ones
        let nanos = nanos as u64;
        nanos ^ (u64::from(std::process::id()) << 32)
    });
    let mut z = seed.wrapping_add(
        COUNT
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_add(1)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15),
    );
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    // The top 53 bits as a fraction in [0, 1).
    #[allow(clippy::cast_precision_loss)] // 53 bits fit an f64 exactly
    let unit = (z >> 11) as f64 / (1_u64 << 53) as f64;
    d.mul_f64(0.5 + unit / 2.0)
}

/// Consecutive transient failures of a status read a wait rides out (each after a
/// poll interval) before the stack fails: the SDK has already retried each of them.
pub const TRANSIENT_READS: u32 = 3;

/// A status read made while waiting, read again (after a poll interval) through at most
/// [`TRANSIENT_READS`] consecutive transient failures.
async fn read_through<T, F, Fut>(poll: &mut Poll, mut read: F) -> Result<T, String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, AwsError>>,
{
    let mut failed = 0;
    loop {
        match read().await {
            Ok(value) => return Ok(value),
            Err(e) if e.is_transient() && failed < TRANSIENT_READS => {
                failed += 1;
                if !poll.pause().await {
                    return Err(e.to_string());
                }
            }
            Err(e) => return Err(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::jitter;

    #[test]
    fn jitter_stays_within_half_to_all_of_the_interval_and_spreads() {
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..1000 {
            let d = jitter(Duration::from_secs(1));
            assert!(
                d >= Duration::from_millis(500) && d < Duration::from_secs(1),
                "{d:?}"
            );
            seen.insert(d.as_millis() / 50);
        }
        // Every tenth of the range is hit: the factors spread (a clock with
        // microsecond resolution gave one factor).
        assert_eq!(seen.len(), 10, "{seen:?}");
    }
}
