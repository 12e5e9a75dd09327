//! `tenantops validate`: every manifest against its schema and the fleet's rules, the fleet's stack count against its quota, and with `--render` every template rendered in memory.

use std::path::Path;

use clap::Args;

use crate::diag::Diagnostic;
use crate::exit::Exit;
use crate::failure::Failure;
use crate::output::{Output, plural};
use crate::render;
use crate::repo::open;
use crate::validate;

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Validate the repository as of git revision REV (read from git, no checkout).
    #[arg(long, value_name = "REV")]
    pub rev: Option<String>,
    /// Also refuse changes relative to REV that would move a live tenant: a changed
    /// allocation or id, or a tenant deleted without offboarding.
    #[arg(long, value_name = "REV")]
    pub base: Option<String>,
    /// Also render every template in memory (nothing is written): template errors, and
    /// each stack against CloudFormation's limits on resources, parameters, outputs and
    /// template size. Without it, only the fleet's stack count is checked.
    #[arg(long)]
    pub render: bool,
}

/// Runs `validate`.
///
/// # Errors
/// A repository or revision that cannot be read.
pub fn run(dir: &Path, args: &ValidateArgs, out: &Output) -> Result<Exit, Failure> {
    let (mut repo, mut diags) = open(dir, args.rev.as_deref())?;
    let base = match &args.base {
        Some(base_rev) => {
            let (base, _) = open(dir, Some(base_rev))?;
            repo.established = Some(
                base.tenants
                    .iter()
                    .map(|t| t.file.clone())
                    .chain(base.partial_tenants.iter().map(|(f, _)| f.clone()))
                    .collect(),
            );
            Some((base, base_rev))
        }
        None => None,
    };
    diags.extend(validate::validate(&repo));
    if let Some((base, base_rev)) = &base {
        diags.extend(validate::against_base(&repo, base, base_rev));
    }
    // A fleet that passes the rules is held against the region's stack quota, and with
    // `--render` rendered in memory, so that template errors and per-stack quotas are
    // caught before a pull request merges.
    let mut uses = Vec::new();
    if !diags.iter().any(Diagnostic::is_error) && repo.complete {
        let (held, problems) = crate::quotas::held(&repo);
        uses = held;
        diags.extend(problems);
        if args.render
            && !diags.iter().any(Diagnostic::is_error)
            && let Err(problems) = render::render(&repo, None, None)
        {
            diags.extend(problems);
        }
        if let (true, Some((base, base_rev))) = (args.render, &base)
            && !diags.iter().any(Diagnostic::is_error)
        {
            diags.extend(refused_replacements(
                dir,
                args.rev.as_deref(),
                &repo,
                base,
                base_rev,
                out,
            )?);
        }
    }
    let mut summary = validate::summary(&repo);
    summary.quotas = uses;
    let ok = format!(
        "ok: {} tenant{} in {} tier{} ({} routed on {} router shard{}), no problems",
        summary.tenants,
        plural(summary.tenants),
        summary.tiers,
        plural(summary.tiers),
        summary.routed,
        summary.shards,
        plural(summary.shards)
    );
    let failed = diags.iter().any(Diagnostic::is_error);
    out.report(
        &mut diags,
        &repo.sources,
        &ok,
        &serde_json::to_value(&summary).unwrap_or_default(),
    );
    Ok(if failed { Exit::Invalid } else { Exit::Success })
}

/// Replacements CloudFormation would refuse: a resource with a custom name whose
/// change replaces it (or may), from the offline plan of the two revisions. Each is
/// located at the first changed line of the most specific manifest the change touches
/// (the tenant's, its tier's, or `tenantops.yaml`), where the edit that causes it is,
/// once for all the stacks it replaces the resource in.
fn refused_replacements(
    dir: &Path,
    rev: Option<&str>,
    repo: &crate::repo::Repo,
    base: &crate::repo::Repo,
    base_rev: &str,
    out: &Output,
) -> Result<Vec<Diagnostic>, Failure> {
    let Some((head, old)) =
        super::fleet::offline_sides(dir, rev, base_rev, out, &crate::plan::shard::Part::All)?
    else {
        return Ok(Vec::new());
    };
    let text = |r: &crate::repo::Repo, file: &str| {
        crate::diag::SourceText::text(&r.sources, file)
            .unwrap_or_default()
            .to_owned()
    };
    // The first line of `file` that differs from the base revision's, if any.
    let first_change = |file: &str| {
        let (now, was) = (text(repo, file), text(base, file));
        (now != was).then(|| {
            now.lines()
                .zip(was.lines().chain(std::iter::repeat("")))
                .position(|(a, b)| a != b)
                .map_or_else(|| now.lines().count().max(1), |i| i + 1)
        })
    };
    let plan = crate::plan::offline(&head, &old, base_rev);
    // (file, line, resource, type, cause, name, verb) → stacks.
    let mut found: std::collections::BTreeMap<_, Vec<String>> = std::collections::BTreeMap::new();
    for change in &plan.changes {
        let Some(stack) = head.stacks.iter().find(|s| s.name == change.stack) else {
            continue;
        };
        for r in &change.resources {
            let (Some(name), Some(cause)) = (&r.custom_name, &r.cause) else {
                continue;
            };
            let tier_file = stack.tier.as_ref().map(|t| format!("tiers/{t}.yaml"));
            let (file, line) = [
                Some(stack.manifest()),
                tier_file,
                Some(crate::load::PLATFORM_FILE.to_owned()),
            ]
            .into_iter()
            .flatten()
            .find_map(|f| first_change(&f).map(|line| (f, line)))
            .unwrap_or_else(|| (stack.manifest(), 1));
            let verb = if r.replacement.as_deref() == Some("True") {
                "is replaced"
            } else {
                "may be replaced"
            };
            found
                .entry((
                    file,
                    line,
                    r.logical_id.clone(),
                    r.resource_type.clone(),
                    cause.clone(),
                    name.clone(),
                    verb,
                ))
                .or_default()
                .push(change.stack.clone());
        }
    }
    Ok(found
        .into_iter()
        .map(|((file, line, logical, kind, cause, name, verb), stacks)| {
            let shown = if stacks.len() > 3 {
                format!("{} and {} more", stacks[..3].join(", "), stacks.len() - 3)
            } else {
                stacks.join(", ")
            };
            Diagnostic::error(
                "replaces-named-resource",
                &file,
                crate::yaml::Span::new(line, 1, 1),
                format!(
                    "this change replaces `{logical}` ({kind}) in {} stack{} ({shown}): it {verb} when `{cause}` changes, and it has a custom `{name}`, which CloudFormation cannot replace, so each update would fail and roll back",
                    stacks.len(),
                    plural(stacks.len())
                ),
            )
            .help("CloudFormation creates the replacement before deleting the old resource, so a custom-named one cannot be replaced (and a replaced table, user pool or key is a new, empty one): revert this change, or move the data to a new resource under another name first")
        })
        .collect())
}
