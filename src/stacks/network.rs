//! The network stack (`<base>-network`): the fleet's own VPC, unless `tenantops.yaml` imports one.

use std::collections::BTreeMap;

use super::{Build, StackKind, StackSet, StackSpec, value};
use crate::model::DEFAULT_CIDR;

/// Adds the network stack to a full set when the fleet has its own VPC (an imported
/// VPC's ids are literal parameters of the stacks that use it).
pub(super) fn build(b: &Build<'_>, set: &mut StackSet) {
    if b.p.network.vpc_id.is_some() || !b.full() {
        return;
    }
    let cidr = b.p.network.cidr.as_deref().unwrap_or(DEFAULT_CIDR);
    set.stacks.push(StackSpec {
        name: b.network.clone(),
        kind: StackKind::Network,
        origin: b.pfile.to_owned(),
        pointer: "/network".to_owned(),
        parameters: BTreeMap::from([("VpcCidr".to_owned(), value(cidr))]),
        tags: b.tags(None, None, StackKind::Network),
        depends_on: Vec::new(),
        context: minijinja::context! {
            platform => b.platform.clone(),
            subnets => crate::model::subnet_cidrs(cidr),
        },
        tenant: None,
        nginx: None,
    });
}
