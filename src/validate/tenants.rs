//! Rules on tenants: ids (file name, DNS label, length, reserved, unique), display names, tier, email, labels, overrides.

use std::collections::HashMap;

use crate::diag::Diagnostic;
use crate::model::{Isolation, Platform, Storage, Tenant, Tier};
use crate::naming;
use crate::repo::{Doc, Repo, file_stem};
use crate::suggest::did_you_mean;
use crate::yaml::{Node, NodeValue, pointer_token};

/// Highest rollout wave a `wave` label may name.
const MAX_WAVE: u32 = 1000;

/// A tenant file as the field rules see it: typed when it passed its schema, else the
/// string fields that are there.
struct View<'a> {
    file: &'a str,
    node: &'a Node,
    id: Option<&'a str>,
    name: Option<&'a str>,
    tier: Option<&'a str>,
    email: Option<&'a str>,
    typed: Option<&'a Tenant>,
}

impl<'a> View<'a> {
    fn typed(doc: &'a Doc<Tenant>) -> Self {
        let t = &doc.value;
        View {
            file: &doc.file,
            node: &doc.node,
            id: Some(&t.id),
            name: Some(&t.name),
            tier: Some(&t.tier),
            email: Some(&t.admin_email),
            typed: Some(t),
        }
    }

    fn partial(file: &'a str, node: &'a Node) -> Self {
        let text = |pointer: &str| match node.at_pointer(pointer).map(|n| &n.value) {
            Some(NodeValue::String(s)) => Some(s.as_str()),
            _ => None,
        };
        View {
            file,
            node,
            // A malformed id has its schema error; the id rules only judge well-formed ones.
            id: text("/id").filter(|id| naming::is_label(id, 63)),
            name: text("/name"),
            tier: text("/tier"),
            email: text("/admin_email"),
            typed: None,
        }
    }
}

pub(super) fn tenants(repo: &Repo, out: &mut Vec<Diagnostic>) {
    let mut ids: HashMap<&str, &str> = HashMap::new();
    let mut names: HashMap<String, (&str, &str)> = HashMap::new();
    let mut with_names: Vec<(&str, &Node, &str)> = Vec::new();
    let platform = repo.platform.as_ref().map(|p| &p.value);
    let views = repo.tenants.iter().map(View::typed).chain(
        repo.partial_tenants
            .iter()
            .map(|(file, node)| View::partial(file, node)),
    );
    for view in views {
        if let Some(id) = view.id {
            id_rules(&view, id, repo, platform, out);
            if let Some(first) = ids.insert(id, view.file) {
                out.push(
                    Diagnostic::error(
                        "duplicate-id",
                        view.file,
                        view.node.span_of("/id"),
                        format!("tenant id `{id}` is already used by `{first}`"),
                    )
                    .help("tenant ids are unique; pick another id"),
                );
            }
        }
        if let Some(name) = view.name {
            if let Some(d) = name_problem(&view, name) {
                out.push(d);
            }
            with_names.push((view.file, view.node, name));
        }
        if let Some(email) = view.email
            && let Err(why) = check_email(email)
        {
            out.push(
                Diagnostic::error(
                    "invalid-email",
                    view.file,
                    view.node.span_of("/admin_email"),
                    format!("`{email}` is not a valid email address: {why}"),
                )
                .help("write an address such as `admin@example.com`"),
            );
        }
        let tier = view.tier.map(|name| (name, repo.tiers.get(name)));
        match (tier, view.typed) {
            (Some((name, Some(tier))), Some(tenant)) => {
                labels(view.file, view.node, tenant, out);
                overrides(view.file, view.node, tenant, name, &tier.value, out);
            }
            // A tier whose file failed to load has its own errors; it is not unknown.
            (Some((name, None)), _) if !repo.tier_names.contains(name) => {
                out.push(unknown_tier(&view, name, repo));
            }
            _ => {}
        }
    }
    // Names are unique. Of two files with one name, the one the change adds is the
    // one blamed (with `validate --base`, files at the base come first), so a pull
    // request's annotation lands on its own file, not on an existing tenant's.
    if let Some(established) = &repo.established {
        with_names.sort_by_key(|(file, _, _)| !established.contains(*file));
    }
    for (file, node, name) in with_names {
        let key = normalize_name(name);
        if let Some((first_file, first_name)) = names.get(&key) {
            out.push(
                Diagnostic::error(
                    "duplicate-name",
                    file,
                    node.span_of("/name"),
                    format!("display name `{name}` is already used by `{first_file}` (as `{first_name}`)"),
                )
                .help("display names are unique, ignoring case and spacing"),
            );
        } else {
            names.insert(key, (file, name));
        }
    }
}

fn unknown_tier(view: &View<'_>, name: &str, repo: &Repo) -> Diagnostic {
    let d = Diagnostic::error(
        "unknown-tier",
        view.file,
        view.node.span_of("/tier"),
        format!("tier `{name}` does not exist"),
    );
    match did_you_mean(name, repo.tiers.keys().map(String::as_str)) {
        Some(s) => d.help(format!("did you mean `{s}`?")),
        None if repo.tiers.is_empty() => d.help("add the tier as a file in `tiers/`"),
        None => d.help(format!(
            "the tiers are {}",
            repo.tiers
                .keys()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

fn id_rules(
    view: &View<'_>,
    id: &str,
    repo: &Repo,
    platform: Option<&Platform>,
    out: &mut Vec<Diagnostic>,
) {
    let file = view.file;
    let span = view.node.span_of("/id");
    let stem = file_stem(file);
    if stem != id {
        out.push(
            Diagnostic::error(
                "id-file-mismatch",
                file,
                span,
                format!("tenant id `{id}` does not match its file name `{file}`"),
            )
            .help(format!("a tenant's file is `tenants/<id>.yaml`: rename the file to `tenants/{id}.yaml`, or set `id: {stem}`")),
        );
    }
    let reserved = naming::RESERVED_IDS.contains(&id)
        || repo.tier_names.contains(id)
        || platform.is_some_and(|p| p.services.contains_key(id));
    if reserved {
        out.push(
            Diagnostic::error("reserved-id", file, span, format!("tenant id `{id}` is reserved"))
                .help("tier names, service names and names of shared resources cannot be tenant ids; pick another id"),
        );
    }
    if let Some(platform) = platform {
        let max = naming::max_tenant_id_len(platform);
        if id.len() > max {
            let tightest = naming::tenant_names(platform, id)
                .into_iter()
                .filter(|n| n.name.len() > n.limit)
                .min_by_key(|n| n.limit)
                .map(|n| {
                    format!(
                        ": the {} `{}` would be {} characters, over AWS's {}",
                        n.what,
                        n.name,
                        n.name.len(),
                        n.limit
                    )
                })
                .unwrap_or_default();
            out.push(
                Diagnostic::error(
                    "id-too-long",
                    file,
                    span,
                    format!("tenant id `{id}` is {} characters; with prefix `{}` and stage `{}` ids can have at most {max}{tightest}", id.len(), platform.naming.prefix, platform.stage),
                )
                .help("pick a shorter id"),
            );
        }
    }
}

/// Case, spacing and Unicode's compatibility forms do not make two display names
/// different: NFKC (fullwidth `Ａｃｍｅ` is `Acme`, a decomposed `é` the composed one),
/// then lowercase, then runs of white space as one space (UAX #15; the same folding
/// identifiers get in UAX #31).
fn normalize_name(name: &str) -> String {
    use unicode_normalization::UnicodeNormalization as _;
    let folded: String = name.nfkc().collect::<String>().to_lowercase();
    folded.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A display name people could not read as written: only white space, or a
/// character that is not shown as itself — a control character (Cc), a format
/// character (Cf: zero-width spaces and joiners, direction overrides such as U+202E,
/// the soft hyphen, a BOM), a line or paragraph separator.
fn name_problem(view: &View<'_>, name: &str) -> Option<Diagnostic> {
    use unicode_general_category::{GeneralCategory as G, get_general_category};
    let span = view.node.span_of("/name");
    if name.trim().is_empty() {
        return Some(
            Diagnostic::error(
                "invalid-name",
                view.file,
                span,
                "the display name is only white space".to_owned(),
            )
            .help("write the tenant's name as people should see it"),
        );
    }
    let bad = name.chars().find(|c| {
        matches!(
            get_general_category(*c),
            G::Control | G::Format | G::LineSeparator | G::ParagraphSeparator
        )
    })?;
    Some(
        Diagnostic::error(
            "invalid-name",
            view.file,
            span,
            format!(
                "the display name holds U+{:04X}, an invisible control or format character (such as a zero-width space or a text-direction override)",
                u32::from(bad)
            ),
        )
        .help("display names are shown to people and compared for uniqueness; write them with visible characters only"),
    )
}

/// A practical check of an address: one `@`, a sane local part, and a domain of DNS
/// labels with a top-level domain.
fn check_email(email: &str) -> Result<(), &'static str> {
    let (local, domain) = email.split_once('@').ok_or("it has no `@`")?;
    if local.is_empty() || local.len() > 64 {
        return Err("the part before `@` must be 1 to 64 characters");
    }
    if !local
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c))
        || local.starts_with('.')
        || local.ends_with('.')
        || local.contains("..")
    {
        return Err("the part before `@` has characters an address cannot have");
    }
    if domain.contains('@') {
        return Err("it has more than one `@`");
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 {
        return Err("the domain has no top-level domain");
    }
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    if domain.len() > 253 || !labels.iter().all(label_ok) {
        return Err("the domain is not a valid host name");
    }
    if labels
        .last()
        .is_some_and(|tld| tld.len() < 2 || tld.chars().all(|c| c.is_ascii_digit()))
    {
        return Err("the top-level domain is not valid");
    }
    Ok(())
}

fn labels(file: &str, node: &Node, tenant: &Tenant, out: &mut Vec<Diagnostic>) {
    for (key, value) in &tenant.labels {
        let pointer = format!("/labels/{}", pointer_token(key));
        let key_ok = !key.is_empty()
            && key.len() <= 63
            && key.starts_with(|c: char| c.is_ascii_lowercase())
            && key
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_./".contains(c));
        if !key_ok {
            out.push(
                Diagnostic::error("invalid-label", file, node.key_span_of(&pointer), format!("label key `{key}` is not allowed"))
                    .help("label keys are up to 63 lowercase letters, digits, `-`, `_`, `.` and `/`, starting with a letter"),
            );
        }
        if value.len() > 256 || value.chars().any(char::is_control) {
            out.push(Diagnostic::error(
                "invalid-label",
                file,
                node.span_of(&pointer),
                format!("the value of label `{key}` must be at most 256 characters with no control characters"),
            ));
        }
        if key == "wave" && !value.parse::<u32>().is_ok_and(|w| w <= MAX_WAVE) {
            out.push(
                Diagnostic::error(
                    "invalid-wave",
                    file,
                    node.span_of(&pointer),
                    format!("rollout wave `{value}` is not a whole number from 0 to {MAX_WAVE}"),
                )
                .help("waves are applied in increasing order: write `wave: \"1\"`"),
            );
        }
    }
}

fn overrides(
    file: &str,
    node: &Node,
    tenant: &Tenant,
    tier_name: &str,
    tier: &Tier,
    out: &mut Vec<Diagnostic>,
) {
    let o = &tenant.overrides;
    let refuse = |pointer: &str, why: String| {
        Diagnostic::error("override-not-allowed", file, node.key_span_of(pointer), why)
    };
    if let Some(count) = o.desired_count {
        let pointer = "/overrides/desired_count";
        if tier.isolation == Isolation::Pool {
            out.push(refuse(pointer, format!("tenants of the `pool` tier `{tier_name}` share its services, so they cannot set `desired_count`")).help("remove the override, or move the tenant to a bridge or silo tier"));
        } else if let Some(b) = tier.overrides.desired_count {
            if !(b.min..=b.max).contains(&count) {
                out.push(
                    Diagnostic::error(
                        "override-out-of-bounds",
                        file,
                        node.span_of(pointer),
                        format!("`desired_count: {count}` is outside tier `{tier_name}`'s bounds {}..={}", b.min, b.max),
                    )
                    .help(format!("pick a count from {} to {}, or widen the bounds in the tier", b.min, b.max)),
                );
            }
        } else {
            out.push(
                refuse(
                    pointer,
                    format!("tier `{tier_name}` does not let tenants override `desired_count`"),
                )
                .help(
                    "remove the override, or add `overrides.desired_count: {min, max}` to the tier",
                ),
            );
        }
    }
    if let Some(dedicated) = o.dedicated_alb {
        let pointer = "/overrides/dedicated_alb";
        if tier.isolation != Isolation::Silo {
            out.push(refuse(pointer, format!("only tenants of `silo` tiers can have a dedicated ALB, and `{tier_name}` is `{}`", tier.isolation.as_str())).help("remove the override, or move the tenant to a silo tier"));
        } else if !tier.overrides.dedicated_alb
            && dedicated != (tier.routing.alb == crate::model::AlbMode::Dedicated)
        {
            out.push(
                refuse(
                    pointer,
                    format!("tier `{tier_name}` does not let tenants choose `dedicated_alb`"),
                )
                .help("remove the override, or set `overrides.dedicated_alb: true` in the tier"),
            );
        }
    }
    if o.data_retention.is_some() {
        let pointer = "/overrides/data_retention";
        if !tier.storage.values().any(|s| *s == Storage::Silo) {
            out.push(refuse(pointer, format!("tier `{tier_name}` keeps no silo tables, so `data_retention` does not apply")).help("remove the override"));
        } else if !tier.overrides.data_retention {
            out.push(
                refuse(
                    pointer,
                    format!("tier `{tier_name}` does not let tenants choose `data_retention`"),
                )
                .help("remove the override, or set `overrides.data_retention: true` in the tier"),
            );
        }
    }
    if let Some(compute) = o.compute {
        let pointer = "/overrides/compute";
        if tier.isolation != Isolation::Silo {
            out.push(refuse(pointer, format!("tenants of the `{}` tier `{tier_name}` share its cluster, so they cannot choose `compute`", tier.isolation.as_str())).help("remove the override, or move the tenant to a silo tier"));
        } else if !tier.overrides.compute && compute != tier.compute {
            out.push(
                refuse(
                    pointer,
                    format!("tier `{tier_name}` does not let tenants choose `compute`"),
                )
                .help("remove the override, or set `overrides.compute: true` in the tier"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::check_email;

    #[test]
    fn emails() {
        for ok in [
            "admin@example.com",
            "a.b+c@sub.example.co.uk",
            "x@xn--bcher-kva.example",
        ] {
            assert!(check_email(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "admin",
            "@example.com",
            "a@b",
            "a@@b.com",
            "a@b..com",
            "a b@c.com",
            "a@-b.com",
            ".a@b.com",
            "a@b.c0m.1",
            "a@exämple.com",
        ] {
            assert!(check_email(bad).is_err(), "{bad}");
        }
    }
}
