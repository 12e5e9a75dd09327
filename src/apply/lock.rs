//! The stage lock: two applies on one stage never interleave. The lock is a CloudFormation stack, `<base>-tenantops-lock`, created with `CreateStack`, which succeeds for exactly one caller while the stack exists.
//!
//! No other service is needed (no bucket, no table), and the holder is visible in the
//! console as the stack's tags: `tenantops:lock-holder` (host and process id),
//! `tenantops:lock-since` and `tenantops:commit`. The lock is taken only when an
//! apply has something to change, so a run with nothing to do makes no mutating call.
//!
//! A lock left by a killed run is taken over only when its holder is certainly dead:
//! the `tenantops:lock-process` tag names this machine's boot and PID namespace and
//! that pid is gone (`holder_is_dead`). A holder in another container with the same
//! hostname, on another host, or seen without `/proc` is not known to be dead: its
//! lock waits for `--break-lock` from someone who knows (the `tenantops:lock-run` tag
//! names the CI run to look at). A create whose response was lost is recognised as
//! this process's own (`is_mine`). A lock whose lease ran out (`lease`) is taken over
//! wherever its holder ran.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

pub use super::holder::{TAG_HOLDER, TAG_PROCESS, TAG_RUN, me, process_identity};
use super::holder::{ci_run, holder_is_dead, is_mine};
use super::progress::timestamp;
use crate::aws::{Aws, AwsError, LiveStack, TemplateSource};
use crate::plan::shard::Part;
use crate::plan::{TAG_KIND, TAG_STAGE};

/// The template of the lock stack: one resource that costs nothing and does nothing.
const LOCK_TEMPLATE: &str = r#"{"AWSTemplateFormatVersion":"2010-09-09","Description":"tenantops stage lock: an apply is running on this stage (see the tags)","Resources":{"Lock":{"Type":"AWS::CloudFormation::WaitConditionHandle"}}}"#;

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
        "another apply holds the stage lock `{stack}` ({holder}, since {since}{lease}); wait for it, or if it died on another host, rerun with --break-lock"
    )]
    Held {
        stack: String,
        holder: String,
        since: String,
        /// `, its lease runs out at ...`, or nothing for a lock without a lease.
        lease: String,
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

/// Takes the lock stack `name` for a lease of `opts.lock_lease`, recording
/// `opts.commit`, or says who holds it. `opts.busy_timeout` bounds how long a lock
/// that is being deleted (a finishing apply) is waited for.
///
/// # Errors
/// [`LockError::Held`] when another live apply holds it.
pub async fn acquire(
    aws: &Aws,
    name: &str,
    stage: &str,
    part: Option<&Part>,
    opts: &super::Options,
    break_lock: bool,
) -> Result<String, LockError> {
    let name = name.to_owned();
    let mut tags = BTreeMap::from([
        (TAG_STAGE.to_owned(), stage.to_owned()),
        (TAG_KIND.to_owned(), "lock".to_owned()),
        (
            TAG_PART.to_owned(),
            part.map_or_else(|| PIPELINE_PART.to_owned(), Part::tag),
        ),
        (TAG_HOLDER.to_owned(), me()),
        (TAG_SINCE.to_owned(), timestamp(SystemTime::now())),
        (crate::plan::TAG_COMMIT.to_owned(), opts.commit.clone()),
        (
            super::lease::TAG_EXPIRES.to_owned(),
            super::lease::expiry(opts.lock_lease),
        ),
    ]);
    if let Some(identity) = process_identity() {
        tags.insert(TAG_PROCESS.to_owned(), identity);
    }
    if let Some(run) = ci_run() {
        tags.insert(TAG_RUN.to_owned(), run);
    }
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
        let releasing = held.status.starts_with("DELETE_");
        if !releasing && is_mine(&held.tags) {
            // The create went through and its answer was lost: the SDK's retry met
            // the stack it had made.
            return Ok(name);
        }
        let holder = match held.tags.get(TAG_RUN) {
            Some(run) => format!(
                "{}, {run}",
                held.tags.get(TAG_HOLDER).map_or("", String::as_str)
            ),
            None => held.tags.get(TAG_HOLDER).cloned().unwrap_or_default(),
        };
        let since = held.tags.get(TAG_SINCE).cloned().unwrap_or_default();
        let expired = super::lease::expired(&held.tags, SystemTime::now());
        if !releasing && (break_lock || expired || holder_is_dead(&held.tags)) {
            aws.delete_stack(&name).await?;
        } else if !releasing || started.elapsed() > opts.busy_timeout {
            return Err(LockError::Held {
                stack: name,
                holder,
                since,
                lease: held
                    .tags
                    .get(super::lease::TAG_EXPIRES)
                    .map(|t| format!(", its lease runs out at {t}"))
                    .unwrap_or_default(),
            });
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

/// Whether a live stack is a lock of `stage` (any part's).
#[must_use]
pub fn is_lock(stage: &str, tags: &BTreeMap<String, String>) -> bool {
    tags.get(TAG_KIND).is_some_and(|k| k == "lock")
        && tags.get(TAG_STAGE).is_some_and(|s| s == stage)
}

/// The first lock of `locks` (the stage's lock stacks as listed once `own` was taken)
/// held by another apply whose part may share a stack with `part`. Parts lock
/// separately so a CI matrix runs in parallel, but a whole apply and a `--shard` (or
/// two shards of different counts) would change the same stacks at once: each takes
/// its own lock first and then looks, so of two such applies at least one sees the
/// other and stops. A lock being deleted is a finished apply's; one whose holder
/// died on this host, or whose lease ran out, is not in the way.
#[must_use]
pub fn in_the_way<'a>(own: &str, part: &Part, locks: &'a [LiveStack]) -> Option<&'a LiveStack> {
    locks.iter().find(|l| {
        let tag = l.tags.get(TAG_PART).map(String::as_str);
        l.name != own
            && !l.status.starts_with("DELETE_")
            && tag != Some(PIPELINE_PART)
            && Part::from_tag(tag).overlaps(part)
            && !holder_is_dead(&l.tags)
            && !super::lease::expired(&l.tags, SystemTime::now())
    })
}

/// Releases the lock (deletes the lock stack; the next apply may create it as soon as
/// CloudFormation has deleted it).
///
/// # Errors
/// The delete call's failure.
pub async fn release(aws: &Aws, name: &str) -> Result<(), AwsError> {
    // The SDK has retried each attempt; a release that still fails (the network
    // between CI and AWS going away at the end of a run) is tried twice more before
    // the lock is left for `status` to show.
    for pause in [2, 5] {
        if aws.delete_stack(name).await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_secs(pause)).await;
    }
    aws.delete_stack(name).await
}
