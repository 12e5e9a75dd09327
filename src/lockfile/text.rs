//! The lock file's text: what `tenantops lock` writes (canonical, reviewed like `Cargo.lock`), the fast reader that takes exactly that text back without a positioned parse, and the size it must stay under to be read at all.

use std::fmt::Write as _;

use crate::model::{Allocation, LOCK_VERSION, Lock, MAX_PRIORITY, PackAllocation, ShardState};

/// The lock file's text. Stable: the same lock always gives the same bytes.
#[must_use]
pub fn to_text(lock: &Lock) -> String {
    let mut out = String::new();
    out.push_str(HEADER);
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

/// The schema's largest shard and pack numbers (`model::lock`'s ranges; a test holds
/// them equal to the committed schema).
const MAX_SHARD: u32 = 10_000;
const MAX_PACK: u32 = 10_000;

/// The comment every lock starts with.
const HEADER: &str = "# yaml-language-server: $schema=schemas/lock.schema.json
# Managed by `tenantops lock`; do not edit by hand. Allocations never move once
# made, and a released priority is never reused. Review changes like Cargo.lock.
";

/// `text` read as the lock [`to_text`] writes, without the parser that keeps
/// positions: `Some` only when `text` is exactly what `to_text` writes for the lock
/// read, every number within the schema's range (so the schema check would pass), and
/// no key quoted; `None` for anything else, which the full parser reads and locates.
/// A lock of 100,000 tenants is 3.7 MB: `render --tenant` must not pay a positioned
/// parse of all of it to read one allocation.
#[must_use]
pub fn read_canonical(text: &str) -> Option<Lock> {
    // Line by line, each line checked to be the one `to_text` prints for what it
    // holds (numbers in their shortest form and range, keys unquoted and ascending, a
    // section's empty form when it is empty), so that the text is `to_text` of the
    // lock read without printing it again.
    let body = text.strip_prefix(HEADER)?.strip_suffix('\n')?;
    if body.contains('\r') {
        return None;
    }
    let mut lines = body.split('\n').peekable();
    let mut lock = Lock {
        version: number(lines.next()?.strip_prefix("version: ")?, LOCK_VERSION)?,
        ..Lock::default()
    };
    let shards = lines.next()?;
    if shards != "shards: []" {
        // `shards:` then at least one shard.
        if shards != "shards:" {
            return None;
        }
        let mut any = false;
        while let Some(id) = lines.peek().and_then(|l| l.strip_prefix("  - id: ")) {
            let id = number(id, MAX_SHARD)?;
            lines.next();
            let next = lines.next()?.strip_prefix("    next_priority: ")?;
            lock.shards.push(ShardState {
                id,
                next_priority: number(next, MAX_PRIORITY + 1)?,
            });
            any = true;
        }
        if !any {
            return None;
        }
    }
    lock.tenants = section(&mut lines, "tenants", |value| {
        let (shard, priority) = value.split_once(", ")?;
        Some(Allocation {
            shard: number(shard.strip_prefix("shard: ")?, MAX_SHARD)?,
            priority: number(priority.strip_prefix("priority: ")?, MAX_PRIORITY)?,
        })
    })?;
    lock.packs = section(&mut lines, "packs", |value| {
        let (tier, pack) = value.split_once(", ")?;
        let tier = tier.strip_prefix("tier: ")?;
        Some(PackAllocation {
            tier: (!crate::yaml::needs_quotes(tier)).then(|| tier.to_owned())?,
            pack: number(pack.strip_prefix("pack: ")?, MAX_PACK)?,
        })
    })?;
    lines.next().is_none().then_some(lock)
}

/// A number in its shortest form, from 1 to `max`.
fn number(s: &str, max: u32) -> Option<u32> {
    let canonical = !s.is_empty() && !s.starts_with('0') && s.bytes().all(|b| b.is_ascii_digit());
    s.parse::<u32>()
        .ok()
        .filter(|n| canonical && (1..=max).contains(n))
}

/// A mapping section `name` of `  key: { value }` lines, keys ascending and unquoted
/// (`name: {}` when empty), each value read by `value`.
fn section<'a, T>(
    lines: &mut std::iter::Peekable<impl Iterator<Item = &'a str>>,
    name: &str,
    value: impl Fn(&str) -> Option<T>,
) -> Option<std::collections::BTreeMap<String, T>> {
    let head = lines.next()?;
    if head.strip_prefix(name) == Some(": {}") {
        return Some(std::collections::BTreeMap::new());
    }
    if head.strip_prefix(name) != Some(":") {
        return None;
    }
    let mut entries: Vec<(String, T)> = Vec::new();
    while let Some(line) = lines.peek().and_then(|l| l.strip_prefix("  ")) {
        let (key, rest) = line.split_once(": { ")?;
        let inner = rest.strip_suffix(" }")?;
        let ascending = entries.last().is_none_or(|(last, _)| last.as_str() < key);
        if !ascending || crate::yaml::needs_quotes(key) {
            return None;
        }
        entries.push((key.to_owned(), value(inner)?));
        lines.next();
    }
    // Sorted already, so the map is built in one pass.
    (!entries.is_empty()).then(|| entries.into_iter().collect())
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
        // Many shards and packs, ids of every shape `quoted` leaves alone.
        let ids: Vec<String> = (0..700).map(|i| format!("t-{i:04}x")).collect();
        let many: Vec<Want<'_>> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| Want {
                id,
                routed: i % 3 != 0,
                pool_tier: (i % 3 == 0).then_some("basic"),
                needs: true,
            })
            .collect();
        let (big, _) = allocate(&Lock::default(), &many, 100);
        assert!(big.shards.len() > 3 && big.packs.len() > 200);
        assert_eq!(read_canonical(&to_text(&big)), Some(big));
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
            text.replace("shard: 1,", "shard: 01,"),
            text.replace("shards:", "shards: "),
            text.replace("shards:\n  - id: 1\n    next_priority: 3\n", "shards:\n"),
            text.replace('\n', "\r\n"),
            text.replace("packs:\n  hooli: { tier: basic, pack: 1 }\n", "packs:\n"),
            text.replace("tier: basic", "tier: \"basic\""),
            String::new(),
        ] {
            assert_eq!(read_canonical(&edited), None, "{edited}");
        }
    }

    #[test]
    fn the_fast_readers_ranges_are_the_schemas() {
        let schema: serde_json::Value =
            serde_json::from_str(crate::schema::Kind::Lock.committed()).unwrap();
        let max = |pointer: &str| schema.pointer(pointer).and_then(serde_json::Value::as_u64);
        let defs = "/$defs";
        for (pointer, ours) in [
            ("/properties/version/maximum".to_owned(), LOCK_VERSION),
            (
                format!("{defs}/ShardState/properties/id/maximum"),
                MAX_SHARD,
            ),
            (
                format!("{defs}/ShardState/properties/next_priority/maximum"),
                MAX_PRIORITY + 1,
            ),
            (
                format!("{defs}/Allocation/properties/shard/maximum"),
                MAX_SHARD,
            ),
            (
                format!("{defs}/Allocation/properties/priority/maximum"),
                MAX_PRIORITY,
            ),
            (
                format!("{defs}/PackAllocation/properties/pack/maximum"),
                MAX_PACK,
            ),
        ] {
            assert_eq!(max(&pointer), Some(u64::from(ours)), "{pointer}");
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
