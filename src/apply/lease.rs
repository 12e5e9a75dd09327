//! The stage lock's lease: a lock carries the time it expires (`tenantops:lock-expires`), its holder renews it while it applies, and a lock whose lease ran out is taken over — so a holder that crashed on another host frees the stage without `--break-lock`.
//!
//! The holder renews at a third of the lease with a tags-only `UpdateStack` of the
//! lock stack (the lock's own tags, the expiry moved on), after checking the lock is
//! still its own. A renewal that fails is tried again every few seconds; once the
//! lease is within [`SKEW`] of running out, or the lock is gone or someone else's, the
//! holder has lost it and stops starting stacks (those in flight finish, as on an
//! interrupt). Another apply takes an expired lock over only [`SKEW`] after its expiry,
//! so two hosts whose clocks differ by less than that never both hold it. A lock
//! without the tag (written by a tenantops before the lease) never expires.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::holder::{TAG_HOLDER, held_by_me};
use super::progress::timestamp;
use crate::aws::Aws;

/// Tag: when the lock's lease runs out, `YYYY-MM-DDTHH:MM:SSZ`.
pub const TAG_EXPIRES: &str = "tenantops:lock-expires";
/// The clock difference between two hosts that a lease tolerates.
pub const SKEW: Duration = Duration::from_mins(1);
/// The lease a lock is taken for, unless `--lock-lease` says otherwise.
pub const DEFAULT_LEASE_SECS: u64 = 900;
/// How long one renewal's stack update may take before it counts as failed.
const RENEWAL_WAIT: Duration = Duration::from_mins(2);

/// The expiry tag's value for a lease of `lease` from now.
#[must_use]
pub fn expiry(lease: Duration) -> String {
    timestamp(SystemTime::now() + lease)
}

/// Whether the lock's lease ran out more than [`SKEW`] before `now`. A lock without
/// the tag, or with one that does not parse, has no lease and never expires.
#[must_use]
pub fn expired(tags: &BTreeMap<String, String>, now: SystemTime) -> bool {
    tags.get(TAG_EXPIRES)
        .and_then(|t| parse(t))
        .is_some_and(|expires| now > expires + SKEW)
}

/// `YYYY-MM-DDTHH:MM:SSZ` (as [`timestamp`] writes it) as a time.
fn parse(text: &str) -> Option<SystemTime> {
    let bytes = text.as_bytes();
    if bytes.len() != 20
        || bytes[4] != b'-'
        || bytes[7] != b'-'
        || bytes[10] != b'T'
        || bytes[19] != b'Z'
    {
        return None;
    }
    let num = |from: usize, to: usize| text.get(from..to)?.parse::<i64>().ok();
    let (year, month, day) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (hour, minute, second) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    // Howard Hinnant's days-from-civil, the inverse of `timestamp`'s.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = u64::try_from(days * 86_400 + hour * 3600 + minute * 60 + second).ok()?;
    Some(UNIX_EPOCH + Duration::from_secs(secs))
}

/// Renews a held lock's lease until stopped; see the module documentation.
pub struct Keeper {
    stop: watch::Sender<bool>,
    task: JoinHandle<Option<String>>,
}

impl Keeper {
    /// Starts renewing `name`'s lease of `lease`. `lost` is called once, with the
    /// reason, when the lease is lost.
    #[must_use]
    pub fn start(
        aws: Arc<Aws>,
        name: String,
        lease: Duration,
        lost: Box<dyn Fn(&str) + Send + Sync>,
    ) -> Keeper {
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(keep(aws, name, lease, stopped, lost));
        Keeper { stop, task }
    }

    /// Stops renewing (a renewal in flight is finished first, so the lock is not
    /// mid-update when it is released). `Some(reason)` when the lease was lost: the
    /// lock may be someone else's now and is not to be released.
    pub async fn stop(self) -> Option<String> {
        let _ = self.stop.send(true);
        self.task.await.ok().flatten()
    }
}

async fn keep(
    aws: Arc<Aws>,
    name: String,
    lease: Duration,
    mut stopped: watch::Receiver<bool>,
    lost: Box<dyn Fn(&str) + Send + Sync>,
) -> Option<String> {
    let mut expires = SystemTime::now() + lease;
    let every = (lease / 3).max(Duration::from_millis(200));
    let mut pause = every;
    loop {
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            _ = stopped.changed() => return None,
        }
        match renew(&aws, &name, lease).await {
            Ok(next) => {
                expires = next;
                pause = every;
            }
            Err(Renewal::Lost(why)) => {
                lost(&why);
                return Some(why);
            }
            Err(Renewal::Failed(why)) => {
                if SystemTime::now() + SKEW >= expires {
                    let why = format!("its lease could not be renewed before it ran out ({why})");
                    lost(&why);
                    return Some(why);
                }
                pause = every.min(Duration::from_secs(5));
            }
        }
    }
}

enum Renewal {
    /// The lock is gone or someone else's.
    Lost(String),
    /// This attempt failed; the lease still holds.
    Failed(String),
}

/// One renewal: the lock checked to be this process's, then its expiry moved on.
async fn renew(aws: &Aws, name: &str, lease: Duration) -> Result<SystemTime, Renewal> {
    let held = aws
        .describe_stack(name)
        .await
        .map_err(|e| Renewal::Failed(e.to_string()))?
        .ok_or_else(|| Renewal::Lost(format!("the lock stack `{name}` is gone")))?;
    if !held_by_me(&held.tags) || held.status.starts_with("DELETE_") {
        return Err(Renewal::Lost(format!(
            "the lock stack `{name}` was taken over ({})",
            held.tags
                .get(TAG_HOLDER)
                .map_or("no holder", String::as_str)
        )));
    }
    let next = SystemTime::now() + lease;
    let mut tags = held.tags.clone();
    tags.insert(TAG_EXPIRES.to_owned(), timestamp(next));
    aws.update_tags(name, std::iter::empty(), &tags)
        .await
        .map_err(|e| Renewal::Failed(e.to_string()))?;
    let started = std::time::Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        match aws.describe_stack(name).await {
            Ok(Some(s)) if s.status == "UPDATE_COMPLETE" => return Ok(next),
            Ok(Some(s)) if !s.busy() => {
                return Err(Renewal::Failed(format!(
                    "the lock's update ended in {}",
                    s.status
                )));
            }
            Ok(None) => return Err(Renewal::Lost(format!("the lock stack `{name}` is gone"))),
            Ok(Some(_)) | Err(_) if started.elapsed() < RENEWAL_WAIT => {}
            Ok(Some(_)) | Err(_) => {
                return Err(Renewal::Failed(
                    "the lock's update did not finish".to_owned(),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_parses_back_and_expires_only_past_the_skew() {
        let now = SystemTime::now();
        let text = timestamp(now);
        let parsed = parse(&text).expect("parses");
        let secs = |t: SystemTime| t.duration_since(UNIX_EPOCH).unwrap().as_secs();
        assert_eq!(secs(parsed), secs(now));
        assert_eq!(parse("2024-02-29T23:59:59Z").map(secs), Some(1_709_251_199));
        for bad in ["", "2024-13-01T00:00:00Z", "2024-02-29 23:59:59Z", "soon"] {
            assert_eq!(parse(bad), None, "{bad}");
        }
        let tags = |t: &str| BTreeMap::from([(TAG_EXPIRES.to_owned(), t.to_owned())]);
        let at = |t: SystemTime| tags(&timestamp(t));
        assert!(!expired(&at(now), now), "not yet");
        assert!(
            !expired(&at(now - SKEW + Duration::from_secs(5)), now),
            "within the skew"
        );
        assert!(expired(&at(now - SKEW - Duration::from_secs(5)), now));
        assert!(!expired(&BTreeMap::new(), now), "no lease never expires");
        assert!(!expired(&tags("whenever"), now));
    }
}
