//! The stage lock: two applies on one stage never interleave. The lock is a CloudFormation stack, `<base>-tenantops-lock`, created with `CreateStack`, which succeeds for exactly one caller while the stack exists.
//!
//! No other service is needed (no bucket, no table), and the holder is visible in the
//! console as the stack's tags: `tenantops:lock-holder` (host and process id),
//! `tenantops:lock-since` and `tenantops:commit`. The lock is taken only when an
//! apply has something to change, so a run with nothing to do makes no mutating call.
//!
//! A lock left by a killed run is taken over when its holder was on this host and
//! that process no longer exists, or with `--break-lock` (a run on another host that
//! died leaves the lock until someone who knows it is dead breaks it).

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use super::progress::timestamp;
use crate::aws::{Aws, AwsError, LiveStack, TemplateSource};
use crate::plan::shard::Part;

/// The template of the lock stack: one resource that costs nothing and does nothing.
const LOCK_TEMPLATE: &str = r#"{"AWSTemplateFormatVersion":"2010-09-09","Description":"tenantops stage lock: an apply is running on this stage (see the tags)","Resources":{"Lock":{"Type":"AWS::CloudFormation::WaitConditionHandle"}}}"#;

/// Tag: who holds the lock, `host:pid`.
pub const TAG_HOLDER: &str = "tenantops:lock-holder";
/// Tag: since when.
pub const TAG_SINCE: &str = "tenantops:lock-since";
/// Tag: the part of the stage the holder applies ([`Part::tag`]).
pub const TAG_PART: &str = "tenantops:lock-part";
/// The part tag of `bootstrap`'s lock: the pipeline stack is in no fleet part.
const PIPELINE_PART: &str = "pipeline";

/// Why the lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "another apply holds the stage lock `{stack}` ({holder}, since {since}); wait for it, or if it died on another host, rerun with --break-lock"
    )]
    Held {
        stack: String,
        holder: String,
        since: String,
    },
    #[error(transparent)]
    Aws(#[from] AwsError),
}

/// The lock stack's name for a stage, or for one part of it (`suffix`, from
/// [`crate::plan::shard::Part::lock_suffix`]).
#[must_use]
pub fn lock_stack(base: &str, suffix: &str) -> String {
    format!("{base}-tenantops-lock{suffix}")
}

/// This process, as the lock names it.
#[must_use]
pub fn me() -> String {
    format!("{}:{}", hostname(), std::process::id())
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown-host".to_owned())
}

/// Whether the holder `host:pid` is a process of this host that no longer runs.
fn holder_is_dead(holder: &str) -> bool {
    let Some((host, pid)) = holder.rsplit_once(':') else {
        return false;
    };
    host == hostname()
        && pid.parse::<u32>().is_ok_and(|pid| {
            pid != std::process::id() && !std::path::Path::new(&format!("/proc/{pid}")).exists()
        })
}

/// Takes the lock stack `name`, or says who holds it. `wait` bounds how long a
/// lock that is being deleted (a finishing apply) is waited for.
///
/// # Errors
/// [`LockError::Held`] when another live apply holds it.
pub async fn acquire(
    aws: &Aws,
    name: &str,
    stage: &str,
    part: Option<&Part>,
    commit: &str,
    break_lock: bool,
    wait: Duration,
) -> Result<String, LockError> {
    let name = name.to_owned();
    let tags = BTreeMap::from([
        ("tenantops:stage".to_owned(), stage.to_owned()),
        ("tenantops:kind".to_owned(), "lock".to_owned()),
        (
            TAG_PART.to_owned(),
            part.map_or_else(|| PIPELINE_PART.to_owned(), Part::tag),
        ),
        (TAG_HOLDER.to_owned(), me()),
        (TAG_SINCE.to_owned(), timestamp(SystemTime::now())),
        (crate::plan::TAG_COMMIT.to_owned(), commit.to_owned()),
    ]);
    let body = TemplateSource::Body(LOCK_TEMPLATE.to_owned());
    let started = std::time::Instant::now();
    let mut delay = Duration::from_millis(500);
    loop {
        match aws
            .create_stack(&name, &body, &BTreeMap::new(), &tags)
            .await
        {
            Ok(()) => return Ok(name),
            Err(e) if !e.is_already_exists() => return Err(e.into()),
            Err(_) => {}
        }
        let Some(held) = aws.describe_stack(&name).await? else {
            continue;
        };
        let holder = held.tags.get(TAG_HOLDER).cloned().unwrap_or_default();
        let since = held.tags.get(TAG_SINCE).cloned().unwrap_or_default();
        let releasing = held.status.starts_with("DELETE_");
        if !releasing && (break_lock || holder_is_dead(&holder)) {
            aws.delete_stack(&name).await?;
        } else if !releasing || started.elapsed() > wait {
            return Err(LockError::Held {
                stack: name,
                holder,
                since,
            });
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

/// Whether a live stack is a lock of `stage` (any part's).
#[must_use]
pub fn is_lock(stage: &str, tags: &BTreeMap<String, String>) -> bool {
    tags.get("tenantops:kind").is_some_and(|k| k == "lock")
        && tags.get("tenantops:stage").is_some_and(|s| s == stage)
}

/// The first lock of `locks` (the stage's lock stacks as listed once `own` was taken)
/// held by another apply whose part may share a stack with `part`. Parts lock
/// separately so a CI matrix runs in parallel, but a whole apply and a `--shard` (or
/// two shards of different counts) would change the same stacks at once: each takes
/// its own lock first and then looks, so of two such applies at least one sees the
/// other and stops. A lock being deleted is a finished apply's; one whose holder
/// died on this host is not in the way.
#[must_use]
pub fn in_the_way<'a>(own: &str, part: &Part, locks: &'a [LiveStack]) -> Option<&'a LiveStack> {
    locks.iter().find(|l| {
        l.name != own
            && !l.status.starts_with("DELETE_")
            && l.tags.get(TAG_PART).is_none_or(|p| p != PIPELINE_PART)
            && Part::from_tag(l.tags.get(TAG_PART).map(String::as_str)).overlaps(part)
            && !holder_is_dead(l.tags.get(TAG_HOLDER).map_or("", String::as_str))
    })
}

/// Releases the lock (deletes the lock stack; the next apply may create it as soon as
/// CloudFormation has deleted it).
///
/// # Errors
/// The delete call's failure.
pub async fn release(aws: &Aws, name: &str) -> Result<(), AwsError> {
    aws.delete_stack(name).await
}
