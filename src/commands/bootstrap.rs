//! `tenantops bootstrap`: renders the delivery pipeline stack from `tenantops.yaml`'s `pipeline` section and creates or updates it through the same runner as `apply`.
//!
//! The pipeline stack is deliberately outside the fleet: it has no `tenantops:managed`
//! tag, so no fleet apply (which the pipeline itself runs) ever plans, changes or
//! deletes it. It is changed only by running `bootstrap` with credentials that may.

use std::collections::BTreeMap;
use std::io::IsTerminal as _;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;

use super::args::AwsArgs;
use super::fleet::{confirmed, head_commit, keep_lease, release, runner, runtime, take_lock};
use crate::apply::{self, Options, lock};
use crate::aws::{Aws, Settings};
use crate::diag::Diagnostic;
use crate::exit::Exit;
use crate::failure::Failure;
use crate::output::{Format, Output};
use crate::plan::{self, Desired, DesiredStack};
use crate::render;
use crate::repo::open;
use crate::validate;

#[derive(Debug, Args)]
pub struct BootstrapArgs {
    /// Print the pipeline's CloudFormation template instead of deploying it.
    #[arg(long)]
    pub print: bool,
    /// Do not ask for confirmation (required without a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Seconds between the first status polls (doubling up to 20 s).
    #[arg(long, value_name = "SECS", default_value_t = 2.0, hide = true)]
    pub poll: f64,
    #[command(flatten)]
    pub aws: AwsArgs,
}

/// The validated repository's pipeline stack as a desired state, or the exit code of
/// why there is none (the problems are printed).
fn load(dir: &Path, out: &Output) -> Result<Result<Desired, Exit>, Failure> {
    let (repo, mut diags) = open(dir, None)?;
    diags.extend(validate::validate(&repo));
    let stack = if diags.iter().any(Diagnostic::is_error) || !repo.complete {
        None
    } else {
        match render::render_pipeline(&repo) {
            Ok(stack) => stack,
            Err(problems) => {
                diags.extend(problems);
                None
            }
        }
    };
    if diags.iter().any(Diagnostic::is_error) || !repo.complete {
        out.report(&mut diags, &repo.sources, "", &serde_json::Value::Null);
        return Ok(Err(Exit::Invalid));
    }
    let (Some(stack), Some(platform)) = (stack, repo.platform.as_ref().map(|p| &p.value)) else {
        return Err(Failure::Usage(
            "`tenantops.yaml` has no `pipeline` section (connection_arn, repository, install); see the README's CodePipeline section".to_owned(),
        ));
    };
    Ok(Ok(pipeline_desired(platform, stack)))
}

/// Runs `bootstrap`.
///
/// # Errors
/// A repository without a `pipeline` section, a lock held by another run, or AWS.
pub fn run(dir: &Path, args: &BootstrapArgs, out: &Output) -> Result<Exit, Failure> {
    let desired = match load(dir, out)? {
        Ok(d) => d,
        Err(exit) => return Ok(exit),
    };
    if args.print {
        crate::out!("{}", desired.stacks[0].template);
        return Ok(Exit::Success);
    }
    if !args.yes && !std::io::stdin().is_terminal() {
        return Err(Failure::Usage(
            "bootstrap asks before changing anything, and there is no terminal to ask on; pass --yes (nothing was changed)".to_owned(),
        ));
    }
    let settings = Settings {
        endpoint_url: args.aws.endpoint_url.clone(),
        region: args.aws.region.clone(),
        profile: args.aws.profile.clone(),
        fallback_region: Some(desired.region.clone()),
        request_timeout: Some(Duration::from_secs(args.aws.request_timeout)),
        // The pipeline stack holds the roles CI runs with; an administrator creates it
        // once, with their own permissions, not with the fleet's service role.
        service_role: None,
    };
    let opts = Options {
        poll_initial: Duration::from_secs_f64(args.poll.clamp(0.01, 60.0)),
        commit: head_commit(dir),
        ..Options::default()
    };
    let rt = runtime()?;
    rt.block_on(async {
        let aws = Arc::new(Aws::connect(&settings).await);
        let name = desired.stacks[0].name.clone();
        let live: Vec<_> = aws
            .describe_stack(&name)
            .await
            .map_err(|e| Failure::Aws(e.to_string()))?
            .into_iter()
            .collect();
        let plan = plan::live(&desired, &live);
        if plan.is_empty() {
            if out.format == Format::Json {
                crate::outln!(
                    "{}",
                    serde_json::json!({"ok": true, "stack": name, "changed": false})
                );
            } else {
                crate::outln!("ok: the pipeline stack `{name}` is up to date");
            }
            return Ok(Exit::Success);
        }
        if !confirmed(
            out,
            args.yes,
            &plan,
            &format!("deploy the pipeline stack `{name}`?"),
        ) {
            return Ok(Exit::Refused);
        }
        let held = take_lock(
            &aws,
            &lock::lock_stack(&desired.base, "-pipeline"),
            &desired.stage,
            None,
            &opts,
            false,
        )
        .await?;
        let (runner, progress) = runner(&aws, &opts, out, &desired, &live);
        let keeper = keep_lease(&aws, &held, &opts, &runner, &progress);
        let report = apply::execute(runner, &plan, &desired, &live).await;
        let lost = keeper.stop().await;
        let released = release(&aws, &held, lost.as_deref()).await;
        let outputs = aws
            .describe_stack(&name)
            .await
            .ok()
            .flatten()
            .map(|s| s.outputs)
            .unwrap_or_default();
        print_report(out, &name, &report, &outputs);
        if let Some(warning) = released {
            crate::errln!("{warning}");
        }
        Ok(if report.failed() > 0 || lost.is_some() {
            Exit::Failed
        } else {
            Exit::Success
        })
    })
}

/// The pipeline stack as the only stack of a desired state.
fn pipeline_desired(platform: &crate::model::Platform, stack: render::Stack) -> Desired {
    Desired::with_stacks(platform, vec![DesiredStack::from_rendered(stack, 0)])
}

fn print_report(
    out: &Output,
    name: &str,
    report: &apply::Report,
    outputs: &BTreeMap<String, String>,
) {
    if out.format == Format::Json {
        crate::outln!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "ok": report.failed() == 0,
                "stack": name,
                "changed": true,
                "results": report.results,
                "outputs": outputs,
            }))
            .unwrap_or_default()
        );
    } else {
        crate::out!("{}", apply::report::report_human(report));
        for (k, v) in outputs {
            crate::outln!("{k}: {v}");
        }
    }
}
