//! `plan --shard I/N` and `--platform`: over a synthetic fleet, every tenant's stacks in exactly one shard, shards balanced within one tenant, and the platform stacks only where asked.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::Fixture;

/// (stack, tenant) of every change of an offline plan; the tenant only for tenant
/// stacks (the ones shards split; a dedicated ALB's router is a platform stack).
fn planned(f: &Fixture, extra: &[&str]) -> Vec<(String, Option<String>)> {
    let mut args = vec!["plan", "--base", "empty", "--format", "json"];
    args.extend_from_slice(extra);
    let run = f.run(&args);
    assert_eq!(run.code, 0, "{}", run.all());
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    doc["plan"]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["stack"].as_str().unwrap().to_owned(),
                c["tenant"]
                    .as_str()
                    .filter(|_| c["kind"] == "tenant")
                    .map(str::to_owned),
            )
        })
        .collect()
}

#[test]
fn every_tenant_is_in_exactly_one_shard_and_shards_are_balanced() {
    let f = Fixture::empty();
    f.write("README.md", "before tenantops\n");
    let repo = git2::Repository::init(f.path()).unwrap();
    common::commit_all(&repo, "empty");
    repo.branch(
        "empty",
        &repo.head().unwrap().peel_to_commit().unwrap(),
        false,
    )
    .unwrap();
    tenantops::synth::write_fleet(f.path(), 120).unwrap();

    let all = planned(&f, &[]);
    let tenants: BTreeSet<String> = all.iter().filter_map(|(_, t)| t.clone()).collect();
    let platform: BTreeSet<String> = all
        .iter()
        .filter(|(_, t)| t.is_none())
        .map(|(s, _)| s.clone())
        .collect();
    assert!(tenants.len() > 40, "{} tenants with stacks", tenants.len());
    assert!(!platform.is_empty());
    assert_eq!(
        planned(&f, &["--platform"])
            .into_iter()
            .map(|(s, _)| s)
            .collect::<BTreeSet<_>>(),
        platform
    );

    for n in 1..=8_u32 {
        let mut seen: BTreeMap<String, u32> = BTreeMap::new();
        let mut sizes = Vec::new();
        let mut stacks = 0;
        for i in 1..=n {
            let shard = format!("{i}/{n}");
            let part = planned(&f, &["--shard", &shard]);
            assert!(
                part.iter().all(|(_, t)| t.is_some()),
                "platform stacks in shard {shard}"
            );
            stacks += part.len();
            let mine: BTreeSet<String> = part.into_iter().filter_map(|(_, t)| t).collect();
            for t in &mine {
                if let Some(other) = seen.insert(t.clone(), i) {
                    panic!("tenant {t} in shards {other} and {i} of {n}");
                }
            }
            sizes.push(mine.len());
        }
        assert_eq!(seen.len(), tenants.len(), "N={n}: every tenant in a shard");
        assert_eq!(
            stacks,
            all.len() - platform.len(),
            "N={n}: every tenant stack once"
        );
        let (min, max) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
        assert!(max - min <= 1, "N={n}: shard sizes {sizes:?}");
    }

    // With --platform, a shard also runs the platform stacks.
    let first = planned(&f, &["--shard", "1/4", "--platform"]);
    assert_eq!(
        first.iter().filter(|(_, t)| t.is_none()).count(),
        platform.len()
    );

    for bad in ["0/4", "5/4", "2", "1/0"] {
        let run = f.run(&["plan", "--base", "empty", "--shard", bad]);
        assert_eq!(run.code, 2, "{bad}: {}", run.all());
        common::assert_contains(&run.stderr, "is not I/N");
    }
}
