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
    let status = rt.block_on(async {
        let aws = Arc::new(Aws::connect(&settings(&args.aws, &desired)).await);
        let super::fleet::Live {
            stacks: live,
            foreign,
            ..
        } = list_live(&aws, &desired).await?;
        if let Some(first) = foreign.first() {
            crate::errln!(
                "warning: {}",
                super::fleet::foreign_message(&desired, first, foreign.len() - 1)
            );
        }
        status::read(
            &aws,
            &desired,
            &live,
            &args.tenants,
            !args.no_services,
            usize::from(args.concurrency),
        )
        .await
        .map_err(|e| Failure::Aws(e.to_string()))
    })?;
    match out.format {
        Format::Json => crate::outln!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "ok": true,
                "healthy": status.healthy(),
                "summary": status::summary(&status),
                "status": status,
            }))
            .unwrap_or_default()
        ),
        Format::Markdown | Format::Github => crate::out!("{}", status::markdown(&status)),
        Format::Human => crate::out!("{}", status::human(&status)),
    }
    Ok(if args.detailed_exitcode && !status.healthy() {
        Exit::Changes
    } else {
        Exit::Success
    })
}
