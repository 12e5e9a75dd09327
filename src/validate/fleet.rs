//! Rules on the platform settings and the tiers: the service catalog, API resources, Fargate sizes, storage and routing per isolation model, override bounds.

use std::collections::BTreeSet;

use crate::diag::Diagnostic;
use crate::model::{AlbMode, Compute, Isolation, Platform, Storage};
use crate::naming;
use crate::repo::{Doc, Repo};
use crate::suggest::did_you_mean;

/// Target groups per Application Load Balancer: 100, not adjustable.
const ALB_TARGET_GROUPS: u32 = 100;

#[allow(clippy::too_many_lines)] // a flat list of independent rules
pub(super) fn platform(doc: &Doc<Platform>, repo: &Repo, out: &mut Vec<Diagnostic>) {
    let p = &doc.value;
    let file = doc.file.as_str();
    // ECS refuses capacity provider names that begin with `aws`, `ecs` or `fargate`
    // (CreateCapacityProvider's `name`), and CloudFormation names each after its stack,
    // whose name begins with the prefix.
    if let Some(reserved) = ["aws", "ecs", "fargate"]
        .into_iter()
        .find(|r| p.naming.prefix.starts_with(r))
    {
        out.push(
            Diagnostic::error(
                "reserved-prefix",
                file,
                doc.node.span_of("/naming/prefix"),
                format!(
                    "naming prefix `{}` begins with `{reserved}`, and ECS refuses capacity provider names that begin with `aws`, `ecs` or `fargate` (CloudFormation names them after the stack)",
                    p.naming.prefix
                ),
            )
            .help("choose a prefix that begins otherwise"),
        );
    }
    images(doc, out);
    if p.api.cors.is_some() {
        for (i, r) in p.api.resources.iter().enumerate() {
            if let Some(j) = r.methods.iter().position(|m| m.as_str() == "OPTIONS") {
                out.push(
                    Diagnostic::error(
                        "cors-options",
                        file,
                        doc.node.span_of(&format!("/api/resources/{i}/methods/{j}")),
                        format!("`{}` lists OPTIONS, which API Gateway answers itself for CORS preflights when `api.cors` is set", r.path),
                    )
                    .help("remove OPTIONS from the resource's methods"),
                );
            }
        }
    }
    // Cognito's default sender: 50 emails a day per account (Amazon Cognito quotas,
    // "Email messages sent daily per AWS account"); every onboarding sends one.
    if p.email.is_none() && repo.tenants.len() > 50 {
        out.push(
            Diagnostic::at_file_start(
                "email-quota",
                file,
                format!(
                    "{} tenants' user pools send email through Cognito's default sender, which sends at most 50 emails a day per account",
                    repo.tenants.len()
                ),
            )
            .warning()
            .help("set `email.ses_source_arn` (a verified SES identity) so that user pools send through SES"),
        );
    }
    if p.router.resolver.is_some() {
        out.push(
            Diagnostic::error(
                "unused-setting",
                file,
                doc.node.key_span_of("/router/resolver"),
                "`router.resolver` is not used: nginx resolves each Service Connect name once, at start, through the task's `/etc/hosts`, where ECS writes them (they are in no DNS)",
            )
            .warning()
            .help("remove the setting"),
        );
    }
    for name in p.services.keys() {
        let pointer = format!("/services/{name}");
        if !is_service_name(name) {
            out.push(
                Diagnostic::error(
                    "invalid-service-name",
                    file,
                    doc.node.key_span_of(&pointer),
                    format!("service name `{name}` is not allowed"),
                )
                .help("service names are 1 to 20 lowercase letters and digits, starting with a letter"),
            );
        } else if name == "rproxy" {
            out.push(
                Diagnostic::error(
                    "reserved-service-name",
                    file,
                    doc.node.key_span_of(&pointer),
                    "`rproxy` is the router, configured under `router:`, not a service",
                )
                .help("rename the service or move its settings to `router:`"),
            );
        }
    }
    let mut paths = BTreeSet::new();
    for (i, resource) in p.api.resources.iter().enumerate() {
        let pointer = format!("/api/resources/{i}/path");
        let service = resource
            .path
            .trim_start_matches('/')
            .split('/')
            .next()
            .unwrap_or_default();
        if !p.services.contains_key(service) {
            let mut d = Diagnostic::error(
                "unknown-service",
                file,
                doc.node.span_of(&pointer),
                format!(
                    "API resource `{}` names service `{service}`, which is not in `services`",
                    resource.path
                ),
            );
            if let Some(s) = did_you_mean(service, p.services.keys().map(String::as_str)) {
                d = d.help(format!("did you mean `/{s}`?"));
            }
            out.push(d);
        }
        if !paths.insert(resource.path.as_str()) {
            out.push(
                Diagnostic::error(
                    "duplicate-resource",
                    file,
                    doc.node.span_of(&pointer),
                    format!("API resource `{}` is listed twice", resource.path),
                )
                .help("list each path once with all its methods"),
            );
        }
        let mut methods = BTreeSet::new();
        for (j, method) in resource.methods.iter().enumerate() {
            if !methods.insert(method) {
                out.push(Diagnostic::error(
                    "duplicate-method",
                    file,
                    doc.node.span_of(&format!("/api/resources/{i}/methods/{j}")),
                    format!(
                        "method `{}` is listed twice for `{}`",
                        method.as_str(),
                        resource.path
                    ),
                ));
            }
        }
    }
    // Each routed tenant's listener rule forwards to its own target group on its
    // shard's ALB, and "Target Groups per Application Load Balancer" is 100 and not
    // adjustable (Quotas for your Application Load Balancers,
    // docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-limits.html):
    // a shard of more tenants can never be filled, whatever the rule quota.
    if p.routing.tenants_per_shard > ALB_TARGET_GROUPS {
        out.push(
            Diagnostic::error(
                "above-alb-quota",
                file,
                doc.node.span_of("/routing/tenants_per_shard"),
                format!(
                    "{} tenants per shard is above the {ALB_TARGET_GROUPS} target groups an Application Load Balancer can have (each routed tenant has its own)",
                    p.routing.tenants_per_shard
                ),
            )
            .help(format!("\"Target Groups per Application Load Balancer\" cannot be raised: set `routing.tenants_per_shard` to at most {ALB_TARGET_GROUPS}; more shards take the rest")),
        );
    }
    network(doc, out);
    let fargate = repo
        .tiers
        .values()
        .any(|t| t.value.compute == Compute::Fargate);
    if fargate {
        for (name, s) in &p.services {
            fargate_size(doc, &format!("/services/{name}"), s.cpu, s.memory, out);
        }
        fargate_size(doc, "/router", p.router.cpu, p.router.memory, out);
    }
}

/// `network`: either a VPC tenantops creates (`cidr`) or an existing one (`vpc_id` with
/// private subnets in at least two availability zones), never half of each.
fn network(doc: &Doc<Platform>, out: &mut Vec<Diagnostic>) {
    let n = &doc.value.network;
    let file = doc.file.as_str();
    match (&n.vpc_id, n.subnet_ids.len()) {
        (Some(_), count) if count < 2 => out.push(
            Diagnostic::error(
                "imported-vpc-subnets",
                file,
                doc.node.key_span_of("/network/vpc_id"),
                format!("an existing VPC needs `subnet_ids` in at least two availability zones; {count} given"),
            )
            .help("list the VPC's private subnets under `network.subnet_ids`"),
        ),
        (None, count) if count > 0 => out.push(
            Diagnostic::error(
                "subnets-without-vpc",
                file,
                doc.node.key_span_of("/network/subnet_ids"),
                "`subnet_ids` is given without `vpc_id`",
            )
            .help("add `network.vpc_id`, or remove `subnet_ids` to let tenantops create the VPC"),
        ),
        _ => {}
    }
    if n.vpc_id.is_some() && n.cidr.is_some() {
        out.push(
            Diagnostic::error(
                "cidr-with-imported-vpc",
                file,
                doc.node.key_span_of("/network/cidr"),
                "`cidr` applies to a VPC tenantops creates, but `vpc_id` imports one",
            )
            .help("remove `network.cidr`, or remove `vpc_id` and `subnet_ids`"),
        );
    }
    if let Some(cidr) = &n.cidr
        && crate::model::subnet_cidrs(cidr).is_none()
    {
        out.push(
            Diagnostic::error(
                "invalid-cidr",
                file,
                doc.node.span_of("/network/cidr"),
                format!("`{cidr}` is not an IPv4 network address with its prefix"),
            )
            .help("give the network's first address, such as `10.0.0.0/16` (host bits zero)"),
        );
    }
    let mut seen = BTreeSet::new();
    for (i, subnet) in n.subnet_ids.iter().enumerate() {
        if !seen.insert(&subnet.0) {
            out.push(Diagnostic::error(
                "duplicate-subnet",
                file,
                doc.node.span_of(&format!("/network/subnet_ids/{i}")),
                format!("subnet `{}` is listed twice", subnet.0),
            ));
        }
    }
}

fn is_service_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && name.len() <= 20
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
}

/// Fargate accepts only certain CPU/memory pairs.
fn fargate_memory(cpu: u32) -> Option<(u32, u32, u32)> {
    Some(match cpu {
        256 => (512, 2048, 512),
        512 => (1024, 4096, 1024),
        1024 => (2048, 8192, 1024),
        2048 => (4096, 16384, 1024),
        4096 => (8192, 30720, 1024),
        8192 => (16384, 61440, 4096),
        16384 => (32768, 122_880, 8192),
        _ => return None,
    })
}

fn fargate_size(
    doc: &Doc<Platform>,
    pointer: &str,
    cpu: u32,
    memory: u32,
    out: &mut Vec<Diagnostic>,
) {
    let file = doc.file.as_str();
    match fargate_memory(cpu) {
        None => out.push(
            Diagnostic::error(
                "fargate-size",
                file,
                doc.node.span_of(&format!("{pointer}/cpu")),
                format!("Fargate has no task size with {cpu} CPU units"),
            )
            .help("a tier runs on Fargate; use 256, 512, 1024, 2048, 4096, 8192 or 16384"),
        ),
        Some((min, max, step)) => {
            let ok = (min..=max).contains(&memory)
                && (memory - min).is_multiple_of(step)
                && !(cpu == 256 && memory == 1536);
            if !ok {
                out.push(
                    Diagnostic::error(
                        "fargate-size",
                        file,
                        doc.node.span_of(&format!("{pointer}/memory")),
                        format!("Fargate cannot run {memory} MiB with {cpu} CPU units"),
                    )
                    .help(format!(
                        "with {cpu} CPU units use {min} to {max} MiB in steps of {step}{}",
                        if cpu == 256 {
                            " (512, 1024 or 2048)"
                        } else {
                            ""
                        }
                    )),
                );
            }
        }
    }
}

#[allow(clippy::too_many_lines)] // a flat list of independent rules
pub(super) fn tiers(repo: &Repo, out: &mut Vec<Diagnostic>) {
    let services = repo.platform.as_ref().map(|p| &p.value.services);
    for (name, doc) in &repo.tiers {
        let t = &doc.value;
        let file = doc.file.as_str();
        if !naming::is_label(name, 20) {
            out.push(
                Diagnostic::at_file_start("invalid-tier-name", file, format!("tier name `{name}` is not allowed"))
                    .help("name tier files with 1 to 20 lowercase letters, digits and hyphens, starting with a letter"),
            );
        }
        if let Some(services) = services {
            for (service, _) in services.iter().filter(|(_, s)| s.table.is_some()) {
                if !t.storage.contains_key(service) {
                    out.push(
                        Diagnostic::error(
                            "missing-storage",
                            file,
                            doc.node.key_span_of("/storage"),
                            format!(
                                "tier `{name}` does not say how the `{service}` table is stored"
                            ),
                        )
                        .help(format!(
                            "add `{service}: pooled` or `{service}: silo` under `storage:`"
                        )),
                    );
                }
            }
            for service in t.storage.keys() {
                let span = doc.node.key_span_of(&format!("/storage/{service}"));
                match services.get(service) {
                    None => {
                        let mut d = Diagnostic::error(
                            "unknown-service",
                            file,
                            span,
                            format!(
                                "`storage` names service `{service}`, which is not in the catalog"
                            ),
                        );
                        if let Some(s) = did_you_mean(service, services.keys().map(String::as_str))
                        {
                            d = d.help(format!("did you mean `{s}`?"));
                        }
                        out.push(d);
                    }
                    Some(s) if s.table.is_none() => out.push(
                        Diagnostic::error(
                            "no-table",
                            file,
                            span,
                            format!(
                                "service `{service}` has no table, so it has no storage to choose"
                            ),
                        )
                        .help("remove this line, or give the service a `table:` in tenantops.yaml"),
                    ),
                    Some(_) => {}
                }
            }
        }
        let any_silo = t.storage.values().any(|s| *s == Storage::Silo);
        if t.isolation == Isolation::Pool {
            for (service, storage) in &t.storage {
                if *storage == Storage::Silo {
                    out.push(
                        Diagnostic::error(
                            "tier-only",
                            file,
                            doc.node.span_of(&format!("/storage/{service}")),
                            format!("a `pool` tier has no per-tenant resources, so `{service}` cannot be `silo`"),
                        )
                        .help("use `pooled`, or make the tier `bridge` or `silo`"),
                    );
                }
            }
            if t.overrides.desired_count.is_some() {
                out.push(tier_only(doc, "/overrides/desired_count", "tenants of a `pool` tier share its services, so they cannot set their own `desired_count`"));
            }
        }
        if t.routing.alb == AlbMode::Dedicated && t.isolation != Isolation::Silo {
            out.push(tier_only(
                doc,
                "/routing/alb",
                "dedicated ALBs are for `silo` tiers; pool and bridge tenants share a router shard",
            ));
        }
        if t.overrides.dedicated_alb && t.isolation != Isolation::Silo {
            out.push(tier_only(
                doc,
                "/overrides/dedicated_alb",
                "only tenants of `silo` tiers can have a dedicated ALB",
            ));
        }
        if !any_silo {
            if t.data_retention != crate::model::DataRetention::Retain {
                out.push(tier_only(
                    doc,
                    "/data_retention",
                    "`data_retention` applies to silo tables, and this tier has none",
                ));
            }
            if t.overrides.data_retention {
                out.push(tier_only(
                    doc,
                    "/overrides/data_retention",
                    "`data_retention` applies to silo tables, and this tier has none",
                ));
            }
        }
        if let Some(b) = t.overrides.desired_count {
            if b.min > b.max {
                out.push(Diagnostic::error(
                    "invalid-bounds",
                    file,
                    doc.node.span_of("/overrides/desired_count"),
                    format!(
                        "bounds `min: {}` and `max: {}` are the wrong way round",
                        b.min, b.max
                    ),
                ));
            } else if !(b.min..=b.max).contains(&t.desired_count) {
                out.push(
                    Diagnostic::error(
                        "invalid-bounds",
                        file,
                        doc.node.span_of("/desired_count"),
                        format!(
                            "the tier's own `desired_count: {}` is outside its override bounds {}..={}",
                            t.desired_count, b.min, b.max
                        ),
                    )
                    .help("widen the bounds or change the tier's `desired_count`"),
                );
            }
        }
    }
}

fn tier_only(doc: &Doc<crate::model::Tier>, pointer: &str, message: &str) -> Diagnostic {
    Diagnostic::error(
        "tier-only",
        &doc.file,
        doc.node.key_span_of(pointer),
        message,
    )
    .help("remove this setting")
}

/// A warning for each container image that is not in this region's private ECR: the
/// network tenantops creates has no NAT gateway, so tasks pull only through its ECR
/// endpoints (`ecr.api`, `ecr.dkr`, and S3 for the layers), from the region's own
/// registries. An imported network may have a way out: no warning there.
fn images(doc: &Doc<Platform>, out: &mut Vec<Diagnostic>) {
    let p = &doc.value;
    if p.network.vpc_id.is_some() {
        return;
    }
    let suffix = format!(".dkr.ecr.{}.amazonaws.com/", p.region);
    let local = |image: &str| {
        image.split_once(&suffix).is_some_and(|(account, _)| {
            account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit())
        })
    };
    let mut check = |pointer: String, image: &str| {
        if !local(image) {
            out.push(
                Diagnostic::error(
                    "image-unreachable",
                    &doc.file,
                    doc.node.span_of(&pointer),
                    format!(
                        "image `{image}` is not in this region's private ECR (`<account>{suffix}...`), and the network has no NAT gateway: its tasks cannot pull it"
                    ),
                )
                .warning()
                .help("push the image to ECR in this region (or use ECR pull-through cache), or import a network with a NAT gateway"),
            );
        }
    };
    for (name, service) in &p.services {
        check(format!("/services/{name}/image"), &service.image);
    }
    check("/router/image".to_owned(), &p.router.image);
}
