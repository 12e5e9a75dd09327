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
    if !diags.iter().any(Diagnostic::is_error) && repo.complete {
        diags.extend(render::fleet_quotas(&repo));
        if args.render
            && !diags.iter().any(Diagnostic::is_error)
            && let Err(problems) = render::render(&repo, None, None)
        {
            diags.extend(problems);
        }
    }
    let summary = validate::summary(&repo);
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
