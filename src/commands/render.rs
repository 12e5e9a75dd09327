//! `tenantops render`: the validated repository rendered into a directory (stacks, parameters, nginx configs, routing and usage plans), replaced whole, or only what some tenants own.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use clap::Args;

use crate::diag::{Diagnostic, SourceText};
use crate::exit::Exit;
use crate::failure::Failure;
use crate::load::TENANTS_DIR;
use crate::output::{Output, plural};
use crate::render;
use crate::repo::{Repo, open, open_some};
use crate::stacks::StackKind;
use crate::validate;

#[derive(Debug, Args)]
pub struct RenderArgs {
    /// Directory to write into, replaced as a whole on every render [default: `rendered`
    /// in the repository].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Render only what this tenant owns (its stacks, pool pack and router config),
    /// reading only its manifest; repeat for more tenants.
    #[arg(long = "tenant", value_name = "ID")]
    pub tenants: Vec<String>,
    /// Render the repository as of git revision REV (read from git, no checkout).
    #[arg(long, value_name = "REV")]
    pub rev: Option<String>,
}

/// The repository for `render`: whole, or with `--tenant` only the tenants asked for
/// and the other members of their pool packs (a pack's stack holds all of them).
fn open_for_render(dir: &Path, args: &RenderArgs) -> Result<(Repo, Vec<Diagnostic>), Failure> {
    let rev = args.rev.as_deref();
    if args.tenants.is_empty() {
        return Ok(open(dir, rev)?);
    }
    let (repo, diags) = open_some(dir, rev, Some(&args.tenants))?;
    let read = |id: &String| {
        SourceText::text(&repo.sources, &format!("{TENANTS_DIR}/{id}.yaml")).is_some()
    };
    if !args.tenants.iter().all(read) {
        let (full, _) = open(dir, rev)?;
        for id in &args.tenants {
            if !full.tenants.iter().any(|t| &t.value.id == id) {
                let ids = full.tenants.iter().map(|t| t.value.id.as_str());
                let hint = crate::suggest::hint(id, ids);
                return Err(Failure::Usage(format!(
                    "--tenant `{id}`: there is no such tenant{hint}"
                )));
            }
        }
    }
    let Some(lock) = &repo.lock else {
        return Ok((repo, diags));
    };
    let packs: Vec<&crate::model::PackAllocation> = args
        .tenants
        .iter()
        .filter_map(|id| lock.value.packs.get(id))
        .collect();
    let mut ids = args.tenants.clone();
    for (id, alloc) in &lock.value.packs {
        if packs.contains(&alloc) && !ids.contains(id) {
            ids.push(id.clone());
        }
    }
    if ids.len() == args.tenants.len() {
        return Ok((repo, diags));
    }
    Ok(open_some(dir, rev, Some(&ids))?)
}

/// Runs `render`.
///
/// # Errors
/// A repository that cannot be read, an unknown `--tenant`, or output that cannot be written.
pub fn run(dir: &Path, args: &RenderArgs, out: &Output) -> Result<Exit, Failure> {
    let (repo, mut diags) = open_for_render(dir, args)?;
    diags.extend(validate::validate(&repo));
    if diags.iter().any(Diagnostic::is_error) || !repo.complete {
        out.report(&mut diags, &repo.sources, "", &serde_json::Value::Null);
        return Ok(Exit::Invalid);
    }
    let only = (!args.tenants.is_empty()).then_some(args.tenants.as_slice());
    let dir = args.out.clone().unwrap_or_else(|| dir.join("rendered"));
    let staging = render::Staging::new(&dir)?;
    let rendered = match render::render(&repo, only, Some(&staging)) {
        Ok(r) => r,
        Err(problems) => {
            drop(staging);
            diags.extend(problems);
            out.report(&mut diags, &repo.sources, "", &serde_json::Value::Null);
            return Ok(Exit::Invalid);
        }
    };
    staging.finish(&rendered)?;

    let mut counts: Vec<(StackKind, usize)> = Vec::new();
    for s in &rendered.stacks {
        match counts.last_mut() {
            Some((kind, n)) if *kind == s.spec.kind => *n += 1,
            _ => counts.push((s.spec.kind, 1)),
        }
    }
    let kinds = counts
        .iter()
        .map(|(kind, n)| format!("{n} {}", kind.noun(*n)))
        .collect::<Vec<_>>()
        .join(", ");
    let s3 = rendered.stacks.iter().filter(|s| s.upload == "s3").count();
    let mut ok = format!(
        "rendered {} stack{} ({kinds}) and {} router config{} into `{}`",
        rendered.stacks.len(),
        plural(rendered.stacks.len()),
        rendered.nginx.len(),
        plural(rendered.nginx.len()),
        dir.display()
    );
    if s3 > 0 {
        let _ = write!(
            ok,
            "\n{s3} template{} over the 51,200-byte TemplateBody limit will go through the artifact bucket",
            plural(s3)
        );
    }
    if rendered.skipped > 0 {
        let _ = write!(
            ok,
            "\n{} stack{} unchanged since the last render into `{}` (same inputs): linked, not rendered again",
            rendered.skipped,
            plural(rendered.skipped),
            dir.display()
        );
    }
    if !rendered.offboarding.is_empty() {
        let _ = write!(
            ok,
            "\noffboarding, so rendered into no stack (apply removes theirs): {}",
            rendered.offboarding.join(", ")
        );
    }
    let extra = serde_json::json!({
        "out": dir.display().to_string(),
        "stacks": rendered.stacks,
        "router_configs": rendered.nginx,
        "offboarding": rendered.offboarding,
        "unchanged_since_last_render": rendered.skipped,
    });
    out.report(&mut diags, &repo.sources, &ok, &extra);
    Ok(Exit::Success)
}
