//! Who holds a stage lock: this process as the lock names it (`host:pid`), as the kernel knows it (boot id, PID namespace, pid), and the CI run it is part of; and whether a holder those tags name is certainly dead or this very process.

use std::collections::BTreeMap;

/// Tag: who holds the lock, `host:pid`.
pub const TAG_HOLDER: &str = "tenantops:lock-holder";
/// Tag: the holder's process as the kernel knows it (`process_identity`).
pub const TAG_PROCESS: &str = "tenantops:lock-process";
/// Tag: the CI run holding the lock, when there is one.
pub const TAG_RUN: &str = "tenantops:lock-run";

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
pub(super) fn ci_run() -> Option<String> {
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
pub(super) fn holder_is_dead(tags: &BTreeMap<String, String>) -> bool {
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
pub(super) fn is_mine(tags: &BTreeMap<String, String>) -> bool {
    tags.get(TAG_HOLDER).is_some_and(|h| *h == me())
        && process_identity().is_some_and(|mine| tags.get(TAG_PROCESS) == Some(&mine))
}

/// Whether the lock's tags name this process as its holder (its process identity too,
/// where the system has one).
pub(super) fn held_by_me(tags: &BTreeMap<String, String>) -> bool {
    tags.get(TAG_HOLDER).is_some_and(|h| *h == me())
        && process_identity().is_none_or(|mine| tags.get(TAG_PROCESS) == Some(&mine))
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
