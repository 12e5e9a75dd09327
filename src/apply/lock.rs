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

use super::progress::timestamp;
use crate::aws::{Aws, AwsError, LiveStack, TemplateSource};
use crate::plan::shard::Part;
use crate::plan::{TAG_KIND, TAG_STAGE};

/// The template of the lock stack: one resource that costs nothing and does nothing.
const LOCK_TEMPLATE: &str = r#"{"AWSTemplateFormatVersion":"2010-09-09","Description":"tenantops stage lock: an apply is running on this stage (see the tags)","Resources":{"Lock":{"Type":"AWS::CloudFormation::WaitConditionHandle"}}}"#;

/// Tag: who holds the lock, `host:pid`.
pub const TAG_HOLDER: &str = "tenantops:lock-holder";
/// Tag: since when.
pub const TAG_SINCE: &str = "tenantops:lock-since";
/// Tag: the holder's process as the kernel knows it (`process_identity`).
pub const TAG_PROCESS: &str = "tenantops:lock-process";
/// Tag: the CI run holding the lock, when there is one.
pub const TAG_RUN: &str = "tenantops:lock-run";
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

/// This process as the kernel knows it: `boot=<boot id> pidns=<pid namespace> pid=<pid>`,
/// or `None` without `/proc` (macOS). Two containers may share a hostname, even a
/// machine, and still not see each other's processes: the PID namespace tells, and
/// the boot id tells a machine (or a reboot) apart.
#[must_use]
pub fn process_identity() -> Option<String> {
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    let pidns = std::fs::read_link("/proc/self/ns/pid").ok()?;
    Some(format!(
        "boot={} pidns={} pid={}",
        boot.trim(),
        pidns.display(),
        std::process::id()
    ))
}

/// The CI run this process is part of, when there is one: GitHub Actions' run id and
/// attempt, or CodeBuild's build id.
fn ci_run() -> Option<String> {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    if let Some(id) = var("GITHUB_RUN_ID") {
        let repo = var("GITHUB_REPOSITORY").unwrap_or_default();
        let attempt = var("GITHUB_RUN_ATTEMPT").unwrap_or_else(|| "1".to_owned());
        return Some(format!("github {repo} run {id} attempt {attempt}"));
    }
    var("CODEBUILD_BUILD_ID").map(|id| format!("codebuild {id}"))
}

/// `boot=... pidns=... pid=N` split into (boot and namespace, pid).
fn split_identity(identity: &str) -> Option<(&str, u32)> {
    let (machine, pid) = identity.rsplit_once(" pid=")?;
    Some((machine, pid.parse().ok()?))
}

/// Whether the lock's holder is certainly dead: its process tag names this machine's
/// boot and this PID namespace, and that process no longer exists. Anything else — a
/// holder on another host, in another container that shares the hostname, without
/// the tag (an older tenantops), or seen from a system without `/proc` — is not known
/// to be dead, and is never taken over without `--break-lock`.
fn holder_is_dead(tags: &BTreeMap<String, String>) -> bool {
    let (Some(theirs), Some(mine)) = (tags.get(TAG_PROCESS), process_identity()) else {
        return false;
    };
    let (Some((their_machine, their_pid)), Some((my_machine, my_pid))) =
        (split_identity(theirs), split_identity(&mine))
    else {
        return false;
    };
    their_machine == my_machine
        && their_pid != my_pid
        && !std::path::Path::new(&format!("/proc/{their_pid}")).exists()
}

/// Whether the lock is this process's own: a create whose response was lost, retried,
/// finds the stack it made.
fn is_mine(tags: &BTreeMap<String, String>) -> bool {
    tags.get(TAG_HOLDER).is_some_and(|h| *h == me())
        && process_identity().is_some_and(|mine| tags.get(TAG_PROCESS) == Some(&mine))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(process: &str) -> BTreeMap<String, String> {
        BTreeMap::from([
            (TAG_HOLDER.to_owned(), me()),
            (TAG_PROCESS.to_owned(), process.to_owned()),
        ])
    }

    #[test]
    fn a_holder_is_dead_only_when_this_machine_and_namespace_say_so() {
        let mine = process_identity().expect("/proc");
        let (machine, pid) = split_identity(&mine).expect("identity");
        // A pid far beyond pid_max never exists.
        let dead = format!("{machine} pid=99999999");
        assert!(holder_is_dead(&tags(&dead)));
        // The same pid in another PID namespace (a container with the same hostname):
        // its /proc entry is not ours to look at.
        let elsewhere = dead.replace("pidns=", "pidns=other-");
        assert!(!holder_is_dead(&tags(&elsewhere)));
        // Another boot (another machine with the same hostname).
        let rebooted = dead.replace("boot=", "boot=x");
        assert!(!holder_is_dead(&tags(&rebooted)));
        // A live process (ourselves, and pid 1), and a holder without the tag.
        assert!(!holder_is_dead(&tags(&mine)));
        assert!(!holder_is_dead(&tags(&format!("{machine} pid=1"))));
        assert!(!holder_is_dead(&BTreeMap::from([(
            TAG_HOLDER.to_owned(),
            format!("{}:99999999", hostname())
        )])));
        assert!(is_mine(&tags(&mine)));
        assert!(!is_mine(&tags(&format!("{machine} pid={}", pid + 1))));
    }
}
