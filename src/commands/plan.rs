//! `tenantops plan`: what would change, against a base revision (offline) or live CloudFormation state (with a change set per update).

use std::path::Path;
use std::sync::Arc;

use clap::Args;

use super::args::{AwsArgs, PartArgs};
use super::fleet::{desired, list_live, offline_sides, refuse_foreign, runtime, settings};
use crate::apply::{self, Options};
use crate::aws::Aws;
use crate::exit::Exit;
use crate::failure::Failure;
use crate::output::{Format, Output};
use crate::plan::{self, Plan, shard, show};

#[derive(Debug, Args)]
#[group(id = "against", required = true, multiple = false, args = ["base", "live"])]
pub struct PlanArgs {
    /// Offline: what the work tree (or `--rev`) changes relative to git revision REV,
    /// per stack and tenant. Needs no AWS access.
    #[arg(long, value_name = "REV")]
    pub base: Option<String>,
    /// Against live CloudFormation state, with a change set (deleted afterwards) for
    /// every stack to update, showing its resource changes.
    #[arg(long)]
    pub live: bool,
    /// Plan the repository as of git revision REV instead of the work tree.
    #[arg(long, value_name = "REV")]
    pub rev: Option<String>,
    /// Exit 4 when the plan has changes (0 when it has none).
    #[arg(long)]
    pub detailed_exitcode: bool,
    #[command(flatten)]
    pub part: PartArgs,
    #[command(flatten)]
    pub aws: AwsArgs,
}

fn print_plan(out: &Output, plan: &Plan) {
    match out.format {
        Format::Json => crate::outln!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({"ok": true, "plan": plan}))
                .unwrap_or_default()
        ),
        Format::Markdown | Format::Github => crate::out!("{}", show::markdown(plan)),
        Format::Human => crate::out!("{}", show::human(plan)),
    }
}

/// Runs `plan`.
///
/// # Errors
/// A repository that cannot be read, a base that does not validate, or AWS.
pub fn run(dir: &Path, args: &PlanArgs, out: &Output) -> Result<Exit, Failure> {
    let part = args.part.part();
    let plan = if let Some(base_rev) = &args.base {
        let Some((head, base)) = offline_sides(dir, args.rev.as_deref(), base_rev, out, &part)?
        else {
            return Ok(Exit::Invalid);
        };
        shard::restrict(plan::offline(&head, &base, base_rev), &part, &head)
    } else {
        let Some(head) = desired(dir, args.rev.as_deref(), out, &part)? else {
            return Ok(Exit::Invalid);
        };
        let rt = runtime()?;
        rt.block_on(async {
            let aws = Arc::new(Aws::connect(&settings(&args.aws, &head)).await);
            let super::fleet::Live {
                stacks: live,
                foreign,
                ..
            } = list_live(&aws, &head).await?;
            refuse_foreign(&head, &foreign)?;
            let mut plan = shard::restrict(plan::live(&head, &live), &part, &head);
            let opts = Options::default();
            apply::read_destroys(&aws, &mut plan, &head, opts.concurrency)
                .await
                .map_err(|e| Failure::Aws(e.to_string()))?;
            apply::describe_updates(&aws, &mut plan, &head, &live, &opts)
                .await
                .map_err(|e| Failure::Aws(e.to_string()))?;
            Ok::<_, Failure>(plan)
        })?
    };
    print_plan(out, &plan);
    Ok(if args.detailed_exitcode && !plan.is_empty() {
        Exit::Changes
    } else {
        Exit::Success
    })
}
