//! `plan --shard I/N` and `--platform`: over a synthetic fleet, every tenant's stacks in exactly one shard, shards balanced within one tenant, and the platform stacks only where asked; against moto, the deletion budget of a sharded apply is the whole change's.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{Fixture, Moto, assert_contains};

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

/// `--max-destroy` is the fleet's budget, not each part's: the shipped workflow runs
/// the platform part and then every shard with the same flags, and each part counted
/// only its own deletions, so four parts under `--max-destroy 3` deleted twelve tenant
/// stacks from one commit. Every part now counts the whole change's deletions.
#[test]
fn the_deletion_budget_is_the_whole_changes_in_every_part() {
    let moto = Moto::start(0.2, &[]);
    let f = Fixture::example();
    assert_eq!(moto.apply(f.path(), &[]).code, 0);
    // Three tenants go: their three tenant stacks and wayne's dedicated router.
    for id in ["globex", "umbrella", "wayne"] {
        f.remove(&format!("tenants/{id}.yaml"));
    }
    assert_eq!(f.run(&["lock"]).code, 0);
    let parts: [&[&str]; 3] = [&["--platform"], &["--shard", "1/2"], &["--shard", "2/2"]];
    let mark = moto.mark();
    for part in parts {
        let mut args = vec!["--allow-destroy", "--max-destroy", "2"];
        args.extend_from_slice(part);
        let run = moto.apply(f.path(), &args);
        assert_eq!(run.code, 6, "{part:?}: {}", run.all());
        assert_contains(&run.stderr, "the whole change deletes 4 stacks");
        assert_contains(&run.stderr, "over --max-destroy 2");
    }
    assert_eq!(moto.mutating_since(mark), 0, "{:?}", moto.since(mark));
    // Without --allow-destroy, a part that deletes nothing itself is refused too.
    let run = moto.apply(f.path(), &["--platform"]);
    assert_eq!(run.code, 6, "{}", run.all());
    assert_contains(&run.stderr, "--allow-destroy");

    // Within the budget every part runs, and together they delete the four.
    for part in parts {
        let mut args = vec!["--allow-destroy", "--max-destroy", "4"];
        args.extend_from_slice(part);
        let run = moto.apply(f.path(), &args);
        assert_eq!(run.code, 0, "{part:?}: {}", run.all());
    }
    let again = moto.apply(f.path(), &[]);
    assert_eq!(again.code, 0, "{}", again.all());
    assert_contains(&again.stdout, "nothing to apply");
}
