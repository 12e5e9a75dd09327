//! The command line: the global flags and the subcommands (clap), and the dispatch that runs one, prints its failure and gives the exit code.
//!
//! Each subcommand's flags and its run live in `commands/<name>.rs`; this file only
//! parses, picks the output and dispatches.

use std::path::PathBuf;

use clap::{CommandFactory as _, Parser, Subcommand};

use crate::commands::{
    activate, apply, bootstrap, completions, lock, man, offboard, onboard, plan, render, schema,
    status, suspend, validate,
};
use crate::exit::{Exit, help_table};
use crate::output::{Color, Format, Output};

/// Declarative multi-tenant SaaS infrastructure on AWS: tiers and tenants in git,
/// validated, rendered and applied.
#[derive(Debug, Parser)]
#[command(name = "tenantops", version, after_help = help_table(), max_term_width = 100, args_override_self = true)]
pub struct Cli {
    /// Run as if started in DIR (the repository holding `tenantops.yaml`).
    #[arg(
        short = 'C',
        long = "directory",
        value_name = "DIR",
        default_value = ".",
        global = true
    )]
    pub dir: PathBuf,
    /// Output format: `github` prints workflow annotations for pull requests; `markdown`
    /// prints plans and apply summaries for PR comments (other commands print human text).
    #[arg(long, value_enum, default_value_t = Format::Human, global = true)]
    pub format: Format,
    /// Colour in human output.
    #[arg(long, value_enum, default_value_t = Color::Auto, global = true)]
    pub color: Color,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check every manifest against its schema and the fleet's rules; report every problem.
    #[command(after_help = help_table())]
    Validate(validate::ValidateArgs),
    /// Render CloudFormation stacks, nginx router configs, routing and usage plans into a directory.
    #[command(after_help = help_table())]
    Render(render::RenderArgs),
    /// Show what would change: against a base revision (offline) or live AWS state (with change sets).
    #[command(after_help = help_table())]
    Plan(plan::PlanArgs),
    /// Deploy the repository to AWS: create, update and (with guards) delete stacks.
    #[command(after_help = help_table())]
    Apply(apply::ApplyArgs),
    /// Show the fleet from live state: each tenant's stacks, drift from git, and its ECS
    /// services' running and desired counts.
    #[command(after_help = help_table())]
    Status(status::StatusArgs),
    /// Add a tenant: write `tenants/<id>.yaml` and its allocation, from flags or the
    /// control plane's onboarding event.
    #[command(after_help = help_table())]
    Onboard(onboard::OnboardArgs),
    /// Mark a tenant `offboarding`: the next apply with `--allow-destroy` deletes its stacks.
    #[command(after_help = help_table())]
    Offboard(offboard::OffboardArgs),
    /// Mark a tenant `suspended`: the next apply scales its services to zero and
    /// disables its API key.
    #[command(after_help = help_table())]
    Suspend(suspend::SuspendArgs),
    /// Mark a suspended tenant `active` again.
    #[command(after_help = help_table())]
    Activate(activate::ActivateArgs),
    /// Allocate router shard and listener-rule priority to new routed tenants in `tenants.lock`.
    #[command(after_help = help_table())]
    Lock(lock::LockArgs),
    /// Write or check the JSON Schemas in `schemas/` generated from tenantops' types.
    #[command(after_help = help_table())]
    Schema(schema::SchemaArgs),
    /// Deploy the delivery pipeline of `tenantops.yaml`'s `pipeline` section
    /// (CodePipeline, CodeBuild, the onboarding EventBridge rule).
    #[command(after_help = help_table())]
    Bootstrap(bootstrap::BootstrapArgs),
    /// Print the shell completion script for SHELL (see the README for where to put it).
    Completions(completions::CompletionsArgs),
    /// Print the man page, or write one page per command into a directory.
    Man(man::ManArgs),
}

impl Command {
    /// Whether the command writes files, so that a failure says it wrote nothing.
    fn writes(&self) -> bool {
        match self {
            Command::Lock(args) => !args.check,
            Command::Schema(args) => args.write,
            Command::Validate(_)
            | Command::Plan(_)
            | Command::Status(_)
            | Command::Completions(_) => false,
            Command::Render(_)
            | Command::Apply(_)
            | Command::Onboard(_)
            | Command::Offboard(_)
            | Command::Suspend(_)
            | Command::Activate(_)
            | Command::Bootstrap(_)
            | Command::Man(_) => true,
        }
    }
}

/// Runs tenantops with the process arguments and returns the exit code.
#[must_use]
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                Exit::Usage.code()
            } else {
                Exit::Success.code()
            };
        }
    };
    run(&cli).code()
}

/// Runs a parsed command line.
#[must_use]
pub fn run(cli: &Cli) -> Exit {
    let out = Output::new(cli.format, cli.color, &cli.dir, cli.command.writes());
    let dir = cli.dir.as_path();
    let result = match &cli.command {
        Command::Validate(args) => validate::run(dir, args, &out),
        Command::Render(args) => render::run(dir, args, &out),
        Command::Plan(args) => plan::run(dir, args, &out),
        Command::Apply(args) => apply::run(dir, args, &out),
        Command::Lock(args) => lock::run(dir, args, &out),
        Command::Schema(args) => schema::run(dir, args, &out),
        Command::Status(args) => status::run(dir, args, &out),
        Command::Bootstrap(args) => bootstrap::run(dir, args, &out),
        Command::Completions(args) => Ok(completions::run(args, Cli::command())),
        Command::Man(args) => man::run(args, Cli::command()),
        Command::Onboard(args) => onboard::run(dir, args, &out),
        Command::Offboard(args) => offboard::run(dir, args, &out),
        Command::Suspend(args) => suspend::run(dir, args, &out),
        Command::Activate(args) => activate::run(dir, args, &out),
    };
    result.unwrap_or_else(|e| {
        out.fatal(&e);
        e.exit()
    })
}
