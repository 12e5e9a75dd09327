//! `tenantops offboard`: a tenant marked `offboarding` (and optionally committed) once the repository with that change validates.

use std::path::Path;

use clap::Args;

use super::args::CommitArgs;
use super::onboard::refused;
use crate::exit::Exit;
use crate::failure::Failure;
use crate::onboard;
use crate::output::{Format, Output, listed};

#[derive(Debug, Args)]
pub struct OffboardArgs {
    /// The tenant's id.
    #[arg(value_name = "ID")]
    pub id: String,
    #[command(flatten)]
    pub commit: CommitArgs,
}

/// Runs `offboard`.
///
/// # Errors
/// An unknown tenant, a repository that cannot be read, or a commit or write that fails.
pub fn run(dir: &Path, args: &OffboardArgs, out: &Output) -> Result<Exit, Failure> {
    let o = match onboard::offboard(dir, &args.id, args.commit.to().as_ref())? {
        Ok(o) => o,
        Err(rejected) => return Ok(refused(out, rejected)),
    };
    if o.already {
        if out.format == Format::Json {
            println!(
                "{}",
                serde_json::json!({"ok": true, "tenant": args.id, "already_offboarding": true, "written": []})
            );
        } else {
            println!(
                "ok: tenant `{}` is already offboarding; nothing was written",
                args.id
            );
        }
        return Ok(Exit::Success);
    }
    if out.format == Format::Json {
        println!(
            "{}",
            serde_json::json!({
                "ok": true,
                "tenant": args.id,
                "already_offboarding": false,
                "written": o.written,
                "lock": o.lock,
                "commit": o.committed.as_ref().map(|c| serde_json::json!({"id": c.id, "branch": c.branch})),
            })
        );
        return Ok(Exit::Success);
    }
    for line in &o.lock {
        println!("{line}");
    }
    println!("offboarding `{}`: wrote {}", args.id, listed(&o.written));
    if let Some(c) = &o.committed {
        println!(
            "committed {} on `{}`",
            &c.id[..12.min(c.id.len())],
            c.branch
        );
    }
    println!(
        "next: `tenantops apply --allow-destroy` deletes its stacks; then delete `{}` and run `tenantops lock`",
        o.file
    );
    Ok(Exit::Success)
}
