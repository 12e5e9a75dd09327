//! Pool packs (`<base>-pool-<tier>-<n>`): the API keys and identities of up to `PACK_SIZE` pool tenants, placed by the lock.

use std::collections::BTreeMap;

use super::workload::{TenantCtx, tenant_ctx};
use super::{Build, Member, StackKind, StackSet, StackSpec, out};
use crate::model::Isolation;
use crate::naming::{logical_id, pack_stack, tier_stack, usage_plans_stack};

/// Adds the pool packs that hold a wanted tenant; returns, for every pool tenant, the
/// pack stack that holds its API key.
pub(super) fn build<'m>(
    b: &Build<'_>,
    members: &'m [Member<'_>],
    set: &mut StackSet,
) -> BTreeMap<&'m str, String> {
    let p = b.p;
    let usage = usage_plans_stack(p);
    let mut packs: BTreeMap<(&str, u32), Vec<&Member<'_>>> = BTreeMap::new();
    for m in members {
        if m.tier.isolation != Isolation::Pool {
            continue;
        }
        if let Some(alloc) = b.lock.and_then(|l| l.packs.get(&m.tenant.id)) {
            packs
                .entry((m.tenant.tier.as_str(), alloc.pack))
                .or_default()
                .push(m);
        }
    }
    let mut key_stacks: BTreeMap<&'m str, String> = BTreeMap::new();
    for ((tier, pack), list) in &packs {
        let stack = pack_stack(p, tier, *pack);
        for m in list {
            key_stacks.insert(&m.tenant.id, stack.clone());
        }
        if !list.iter().any(|m| b.wanted(&m.tenant.id)) {
            continue;
        }
        let tenants: Vec<TenantCtx<'_>> = list.iter().map(|m| tenant_ctx(&b.base, m)).collect();
        let tier_s = tier_stack(p, tier);
        set.stacks.push(StackSpec {
            name: stack,
            kind: StackKind::Pack,
            origin: b
                .repo
                .lock
                .as_ref()
                .map_or_else(String::new, |l| l.file.clone()),
            pointer: "/packs".to_owned(),
            parameters: BTreeMap::from([
                (
                    "UsagePlanId".to_owned(),
                    out(&usage, &format!("{}UsagePlanId", logical_id(tier))),
                ),
                ("UserPoolId".to_owned(), out(&tier_s, "UserPoolId")),
            ]),
            tags: b.tags(Some(tier), None, StackKind::Pack),
            depends_on: vec![usage.clone(), tier_s],
            context: minijinja::context! {
                platform => b.platform.clone(),
                pack => minijinja::context! { tier => tier, number => pack },
                tenants => minijinja::Value::from_serialize(&tenants),
            },
            tenant: None,
            nginx: None,
        });
    }
    key_stacks
}
