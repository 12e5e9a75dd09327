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

/// Parts lock separately so a CI matrix runs in parallel, but only parts whose stacks
/// are disjoint may run at once: a whole apply excludes every part, and shards of
/// different counts (or two runs with the platform) may share stacks. Before, a whole
/// apply, a `--platform` and a `--shard` each took their own lock stack and changed the
/// same stacks at once. Each lock here is one another apply holds (made with boto3,
/// tagged as tenantops tags its locks, its holder alive on another host).
#[test]
fn parts_run_at_once_only_when_their_stacks_are_disjoint() {
    let moto = Moto::start(0.2, &[]);
    let f = Fixture::example();
    let hold = |name: &str, part: Option<&str>| {
        let part = part.map_or_else(String::new, |p| {
            format!(", {{'Key': 'tenantops:lock-part', 'Value': '{p}'}}")
        });
        moto.python(&format!(
            "cfn.create_stack(StackName='{name}', TemplateBody='{{\"Resources\":{{\"Lock\":{{\"Type\":\"AWS::CloudFormation::WaitConditionHandle\"}}}}}}', Tags=[{{'Key': 'tenantops:kind', 'Value': 'lock'}}, {{'Key': 'tenantops:stage', 'Value': 'prod'}}, {{'Key': 'tenantops:lock-holder', 'Value': 'ci-runner-7:4242'}}, {{'Key': 'tenantops:lock-since', 'Value': '2026-12-02T10:00:00Z'}}{part}])"
        ))
    };
    let drop = |name: &str| moto.python(&format!("cfn.delete_stack(StackName='{name}')"));
    let refused = |args: &[&str], holder: &str| {
        let mark = moto.mark();
        let run = moto.apply(f.path(), args);
        assert_eq!(run.code, 6, "{args:?}: {}", run.all());
        assert_contains(
            &run.stderr,
            format!("another apply holds the stage lock `{holder}`"),
        );
        let calls = moto.since(mark);
        // Its own lock, taken and given back; nothing else.
        assert_eq!(
            (
                calls.get("CreateStack"),
                calls.get("DeleteStack"),
                moto.mutating_since(mark)
            ),
            (Some(&1), Some(&1), 2),
            "{args:?}: {calls:?}"
        );
    };

    hold("saas-prod-tenantops-lock", Some("all"));
    refused(&["--shard", "1/2"], "saas-prod-tenantops-lock");
    refused(&["--platform"], "saas-prod-tenantops-lock");
    drop("saas-prod-tenantops-lock");
    // A lock from before parts were tagged is the whole stage's.
    hold("saas-prod-tenantops-lock-shard-2-of-2", None);
    refused(&["--platform"], "saas-prod-tenantops-lock-shard-2-of-2");
    drop("saas-prod-tenantops-lock-shard-2-of-2");

    hold("saas-prod-tenantops-lock-shard-1-of-2", Some("shard 1/2"));
    refused(&[], "saas-prod-tenantops-lock-shard-1-of-2");
    refused(&["--shard", "1/4"], "saas-prod-tenantops-lock-shard-1-of-2");
    // Both with the platform would share the platform stacks.
    hold("saas-prod-tenantops-lock-platform", Some("platform"));
    refused(
        &["--shard", "2/2", "--platform"],
        "saas-prod-tenantops-lock-platform",
    );
    drop("saas-prod-tenantops-lock-platform");
    // Disjoint parts run beside it: the platform, and the other shard of the count.
    for args in [&["--platform"][..], &["--shard", "2/2"]] {
        let run = moto.apply(f.path(), args);
        assert_eq!(run.code, 0, "{args:?}: {}", run.all());
    }
}
