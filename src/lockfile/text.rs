//! The lock file's text: what `tenantops lock` writes (canonical, reviewed like `Cargo.lock`), the fast reader that takes exactly that text back without a positioned parse, and the size it must stay under to be read at all.

use std::fmt::Write as _;

use crate::model::{Allocation, LOCK_VERSION, Lock, MAX_PRIORITY, PackAllocation, ShardState};

/// The lock file's text. Stable: the same lock always gives the same bytes.
#[must_use]
pub fn to_text(lock: &Lock) -> String {
    let mut out = String::new();
    out.push_str("# yaml-language-server: $schema=schemas/lock.schema.json\n");
    out.push_str(
        "# Managed by `tenantops lock`; do not edit by hand. Allocations never move once\n",
    );
    out.push_str(
        "# made, and a released priority is never reused. Review changes like Cargo.lock.\n",
    );
    let _ = writeln!(out, "version: {}", lock.version);
    if lock.shards.is_empty() {
        out.push_str("shards: []\n");
    } else {
        out.push_str("shards:\n");
        for shard in &lock.shards {
            let _ = writeln!(
                out,
                "  - id: {}\n    next_priority: {}",
                shard.id, shard.next_priority
            );
        }
    }
    if lock.tenants.is_empty() {
        out.push_str("tenants: {}\n");
    } else {
        out.push_str("tenants:\n");
        for (id, alloc) in &lock.tenants {
            let _ = writeln!(
                out,
                "  {}: {{ shard: {}, priority: {} }}",
                quoted(id),
                alloc.shard,
                alloc.priority
            );
        }
    }
    if lock.packs.is_empty() {
        out.push_str("packs: {}\n");
    } else {
        out.push_str("packs:\n");
        for (id, alloc) in &lock.packs {
            let _ = writeln!(
                out,
                "  {}: {{ tier: {}, pack: {} }}",
                quoted(id),
                quoted(&alloc.tier),
                alloc.pack
            );
        }
    }
    out
}

/// The refusal to write `text` (from [`to_text`]) when it is over the size the loader
/// reads back ([`crate::load::MAX_LOCK_BYTES`]), so every later command would refuse it.
#[must_use]
pub fn unreadable(text: &str) -> Option<crate::diag::Diagnostic> {
    let max = crate::load::MAX_LOCK_BYTES;
    (text.len() as u64 > max).then(|| {
        crate::diag::Diagnostic::unlocated(
            "lock-too-large",
            Some(crate::load::LOCK_FILE),
            format!(
                "the new `tenants.lock` would be {} bytes, over the {max} bytes tenantops reads back; it was not written",
                text.len()
            ),
        )
        .help("a fleet this large needs more than one stage or region (cells)")
    })
}

/// `text` read as the lock [`to_text`] writes, without the parser that keeps
/// positions: `Some` only when `text` is exactly what `to_text` writes for the lock
/// read, every number within the schema's range (so the schema check would pass), and
/// no key quoted; `None` for anything else, which the full parser reads and locates.
/// A lock of 100,000 tenants is 3.7 MB: `render --tenant` must not pay a positioned
/// parse of all of it to read one allocation.
#[must_use]
pub fn read_canonical(text: &str) -> Option<Lock> {
    let number = |s: &str, max: u32| s.parse::<u32>().ok().filter(|n| (1..=max).contains(n));
    let mut lock = Lock::default();
    let mut lines = text.lines();
    let mut version = None;
    let mut section = "";
    while let Some(line) = lines.next() {
        if line.starts_with('#') {
            continue;
        }
        if let Some(v) = line.strip_prefix("version: ") {
            version = Some(number(v, LOCK_VERSION)?);
        } else if let Some(rest) = line.strip_suffix(':').filter(|l| !l.starts_with(' ')) {
            section = rest;
        } else if matches!(line, "shards: []" | "tenants: {}" | "packs: {}") {
            section = "";
        } else if let Some(id) = line.strip_prefix("  - id: ") {
            let next = lines.next()?.strip_prefix("    next_priority: ")?;
            if section != "shards" {
                return None;
            }
            lock.shards.push(ShardState {
                id: number(id, 10_000)?,
                next_priority: number(next, MAX_PRIORITY + 1)?,
            });
        } else {
            let (key, value) = line.strip_prefix("  ")?.split_once(": { ")?;
            let value = value.strip_suffix(" }")?;
            if key.starts_with('"') {
                return None;
            }
            let (first, second) = value.split_once(", ")?;
            match section {
                "tenants" => {
                    let alloc = Allocation {
                        shard: number(first.strip_prefix("shard: ")?, 10_000)?,
                        priority: number(second.strip_prefix("priority: ")?, MAX_PRIORITY)?,
                    };
                    lock.tenants
                        .insert(key.to_owned(), alloc)
                        .is_none()
                        .then_some(())?;
                }
                "packs" => {
                    let tier = first.strip_prefix("tier: ")?;
                    if tier.starts_with('"') {
                        return None;
                    }
                    let alloc = PackAllocation {
                        tier: tier.to_owned(),
                        pack: number(second.strip_prefix("pack: ")?, 10_000)?,
                    };
                    lock.packs
                        .insert(key.to_owned(), alloc)
                        .is_none()
                        .then_some(())?;
                }
                _ => return None,
            }
        }
    }
    lock.version = version?;
    (to_text(&lock) == text).then_some(lock)
}

/// `s` as a YAML key or value that reads back as the same string.
fn quoted(s: &str) -> String {
    if crate::yaml::needs_quotes(s) {
        serde_json::to_string(s).unwrap_or_default()
    } else {
        s.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::want;
    use super::super::{Want, allocate};
    use super::*;

    #[test]
    fn text_round_trips_through_the_schema_and_parser() {
        let (lock, _) = allocate(&Lock::default(), &[want("acme"), want("globex")], 100);
        let text = to_text(&lock);
        let node = crate::yaml::parse(&text).unwrap();
        let json = node.to_json();
        assert!(
            crate::schema::check(crate::schema::Kind::Lock, "tenants.lock", &node, &json)
                .is_empty()
        );
        let back: Lock = serde_json::from_value(json).unwrap();
        assert_eq!(back, lock);
        assert!(text.starts_with("# yaml-language-server: $schema="));
    }

    #[test]
    fn the_fast_reader_takes_what_lock_writes_and_nothing_else() {
        let pool = Want {
            id: "hooli",
            routed: false,
            pool_tier: Some("basic"),
            needs: true,
        };
        let wants = [want("acme"), want("globex"), pool];
        let (lock, _) = allocate(&Lock::default(), &wants, 100);
        let text = to_text(&lock);
        assert_eq!(read_canonical(&text), Some(lock.clone()));
        let empty = Lock {
            version: LOCK_VERSION,
            ..Lock::default()
        };
        assert_eq!(read_canonical(&to_text(&empty)), Some(empty));
        // Version 0 is outside the schema's range.
        assert_eq!(read_canonical(&to_text(&Lock::default())), None);
        // What the full parser reads (and locates problems in) instead.
        for edited in [
            text.replace("priority: 1 ", "priority: 0 "),
            text.replace("priority: 1 ", "priority: 50001 "),
            text.replace("version: 2", "version: 3"),
            text.replace("  acme:", "  acme:  "),
            text.replace("  acme:", "  \"acme\":"),
            text.replace("# Managed", "#  Managed"),
            format!("{text}\n"),
            text.replace("globex", "acme"),
            text.replace("shard: 1,", "shard: one,"),
            String::new(),
        ] {
            assert_eq!(read_canonical(&edited), None, "{edited}");
        }
    }

    #[test]
    fn keys_that_would_not_read_back_as_strings_are_quoted() {
        let (lock, _) = allocate(
            &Lock::default(),
            &[want("null"), want("1e3"), want("acme")],
            100,
        );
        let text = to_text(&lock);
        assert!(text.contains("  \"null\": {"), "{text}");
        assert!(text.contains("  acme: {"), "{text}");
        let back: Lock =
            serde_json::from_value(crate::yaml::parse(&text).unwrap().to_json()).unwrap();
        assert_eq!(back, lock);
    }
}
