//! `tenantops status`: the fleet as it runs, per tenant its stacks, their sync with git and their ECS services.

use std::path::Path;
use std::sync::Arc;

use clap::Args;

use super::args::AwsArgs;
use super::fleet::{desired, list_live, runtime, settings};
use crate::aws::Aws;
use crate::exit::Exit;
use crate::failure::Failure;
use crate::output::{Format, Output};
use crate::plan::shard::Part;
use crate::status;

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Only this tenant (repeat for more); without it, every tenant and the platform stacks.
    #[arg(long = "tenant", value_name = "ID")]
    pub tenants: Vec<String>,
    /// Do not read ECS services (only CloudFormation: one listing for the whole fleet).
    #[arg(long)]
    pub no_services: bool,
    /// Compare with git revision REV instead of the work tree.
    #[arg(long, value_name = "REV")]
    pub rev: Option<String>,
    /// Exit 4 when a stack is not in sync with git or a service is not steady.
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Stacks whose services are read at once.
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: u16,
    #[command(flatten)]
    pub aws: AwsArgs,
}

/// Runs `status`.
///
/// # Errors
/// A repository that cannot be read, an unknown `--tenant`, or AWS.
pub fn run(dir: &Path, args: &StatusArgs, out: &Output) -> Result<Exit, Failure> {
    let Some(desired) = desired(dir, args.rev.as_deref(), out, &Part::All)? else {
        return Ok(Exit::Invalid);
    };
    for id in &args.tenants {
        if desired.tenant(id).is_none() {
            let hint = crate::suggest::hint(id, desired.roster.iter().map(|t| t.id.as_str()));
            return Err(Failure::Usage(format!(
                "--tenant `{id}`: there is no such tenant{hint}"
            )));
        }
    }
    let rt = runtime()?;
    let (status, locks) = rt.block_on(async {
        let aws = Arc::new(Aws::connect(&settings(&args.aws, &desired)).await);
        let super::fleet::Live {
            stacks: live,
            foreign,
            locks,
        } = list_live(&aws, &desired).await?;
        if let Some(first) = foreign.first() {
            crate::errln!(
                "warning: {}",
                super::fleet::foreign_message(&desired, first, foreign.len() - 1)
            );
        }
        let status = status::read(
            &aws,
            &desired,
            &live,
            &args.tenants,
            !args.no_services,
            usize::from(args.concurrency),
        )
        .await
        .map_err(|e| Failure::Aws(e.to_string()))?;
        Ok::<_, Failure>((status, held_locks(&locks)))
    })?;
    match out.format {
        Format::Json => crate::outln!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "ok": true,
                "healthy": status.healthy(),
                "summary": status::summary(&status),
                "status": status,
                "locks": locks,
            }))
            .unwrap_or_default()
        ),
        Format::Markdown | Format::Github => {
            crate::out!("{}", status::markdown(&status));
            for l in &locks {
                crate::outln!("\n**Held:** {}", lock_line(l));
            }
        }
        Format::Human => {
            crate::out!("{}", status::human(&status));
            for l in &locks {
                crate::outln!("held: {}", lock_line(l));
            }
        }
    }
    Ok(if args.detailed_exitcode && !status.healthy() {
        Exit::Changes
    } else {
        Exit::Success
    })
}

/// The stage's lock stacks that are held (not being deleted): an apply running now,
/// or one that died or failed to release it, which the next apply of an overlapping
/// part will meet.
fn held_locks(locks: &[crate::aws::LiveStack]) -> Vec<serde_json::Value> {
    use crate::apply::lock;
    locks
        .iter()
        .filter(|l| !l.status.starts_with("DELETE_"))
        .map(|l| {
            let tag = |k: &str| l.tags.get(k).cloned().unwrap_or_default();
            serde_json::json!({
                "stack": l.name,
                "part": tag(lock::TAG_PART),
                "holder": tag(lock::TAG_HOLDER),
                "run": tag(lock::TAG_RUN),
                "since": tag(lock::TAG_SINCE),
                "expires": tag(crate::apply::lease::TAG_EXPIRES),
            })
        })
        .collect()
}

fn lock_line(l: &serde_json::Value) -> String {
    let s = |k: &str| l[k].as_str().unwrap_or_default().to_owned();
    let run = s("run");
    format!(
        "the stage lock `{}` ({}) is held by {}{} since {}{}; an apply of an overlapping part is refused until it is released or its lease runs out (or broken with --break-lock once its holder is known dead)",
        s("stack"),
        if s("part").is_empty() {
            "all".to_owned()
        } else {
            s("part")
        },
        s("holder"),
        if run.is_empty() {
            String::new()
        } else {
            format!(" ({run})")
        },
        s("since"),
        if s("expires").is_empty() {
            ", with no lease".to_owned()
        } else {
            format!(", lease until {}", s("expires"))
        },
    )
}
