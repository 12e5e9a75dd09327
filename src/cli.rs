//! The command line: clap definitions, one function per command, output in the chosen format, and the exit code.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::diag::{self, Diagnostic};
use crate::exit::{Exit, help_table};
use crate::load::{self, GitRevision, LOCK_FILE, LoadError, WorkTree};
use crate::lockfile;
use crate::render;
use crate::repo::{self, Repo};
use crate::schema::Kind;
use crate::validate;

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

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Human,
    Github,
    Json,
    Markdown,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Color {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check every manifest against its schema and the fleet's rules; report every problem.
    #[command(after_help = help_table())]
    Validate(ValidateArgs),
    /// Render CloudFormation stacks, nginx router configs, routing and usage plans into a directory.
    #[command(after_help = help_table())]
    Render(RenderArgs),
    /// Show what would change: against a base revision (offline) or live AWS state (with change sets).
    #[command(after_help = help_table())]
    Plan(PlanArgs),
    /// Deploy the repository to AWS: create, update and (with guards) delete stacks.
    #[command(after_help = help_table())]
    Apply(ApplyArgs),
    /// Show the fleet from live state: each tenant's stacks, drift from git, and its ECS
    /// services' running and desired counts.
    #[command(after_help = help_table())]
    Status(StatusArgs),
    /// Add a tenant: write `tenants/<id>.yaml` and its allocation, from flags or the
    /// control plane's onboarding event.
    #[command(after_help = help_table())]
    Onboard(OnboardArgs),
    /// Mark a tenant `offboarding`: the next apply with `--allow-destroy` deletes its stacks.
    #[command(after_help = help_table())]
    Offboard(OffboardArgs),
    /// Allocate router shard and listener-rule priority to new routed tenants in `tenants.lock`.
    #[command(after_help = help_table())]
    Lock(LockArgs),
    /// Write or check the JSON Schemas in `schemas/` generated from tenantops' types.
    #[command(after_help = help_table())]
    Schema(SchemaArgs),
    /// Deploy the delivery pipeline of `tenantops.yaml`'s `pipeline` section
    /// (CodePipeline, CodeBuild, the onboarding EventBridge rule).
    #[command(after_help = help_table())]
    Bootstrap(BootstrapArgs),
    /// Print the shell completion script for SHELL (see the README for where to put it).
    Completions(CompletionsArgs),
    /// Print the man page, or write one page per command into a directory.
    Man(ManArgs),
}

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

/// Where AWS is. Without these, the SDK's standard configuration applies: the default
/// credential chain, `AWS_PROFILE`, `AWS_REGION` (else the region in `tenantops.yaml`)
/// and `AWS_ENDPOINT_URL`.
#[derive(Debug, Args)]
#[allow(clippy::doc_markdown)] // `[env: NAME]` as clap prints its own env notes
pub struct AwsArgs {
    /// Send every AWS request to URL (an emulator, a VPC endpoint) [env: AWS_ENDPOINT_URL].
    #[arg(long, value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// AWS region [env: AWS_REGION; default: `region` in tenantops.yaml].
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
    /// Named profile of the shared AWS config files [env: AWS_PROFILE].
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
}

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

/// Which part of the fleet a run handles, for spreading a large fleet over a CI matrix.
#[derive(Debug, Args)]
pub struct PartArgs {
    /// Only the tenant stacks of shard I of N: tenants (outside pool tiers) dealt
    /// round-robin by id, so every tenant is in exactly one shard and shard sizes
    /// differ by at most one.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<crate::deploy::shard::Shard>,
    /// The platform stacks (network, routers, usage plans, tiers, pool packs): alone,
    /// only those; with `--shard`, those as well. Run them before the shards.
    #[arg(long)]
    pub platform: bool,
}

impl PartArgs {
    #[must_use]
    pub fn part(&self) -> crate::deploy::shard::Part {
        crate::deploy::shard::Part::from_flags(self.shard, self.platform)
    }
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// Do not ask for confirmation (required without a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Stacks deployed at once.
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: u16,
    /// Failed tenant stacks a wave may have before later waves are not started.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub max_failures: usize,
    /// Allow deleting the stacks of offboarded or removed tenants (and of removed tiers
    /// or routers). Tables with `DeletionPolicy: Retain` are kept.
    #[arg(long)]
    pub allow_destroy: bool,
    /// Refuse to run when more than N stacks would be deleted.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub max_destroy: usize,
    /// Seconds a stack's ECS services may take to run their desired count steadily.
    #[arg(long, value_name = "SECS", default_value_t = 600)]
    pub steady_timeout: u64,
    /// Seconds to wait for a stack another actor is changing.
    #[arg(long, value_name = "SECS", default_value_t = 900)]
    pub busy_timeout: u64,
    /// Take over the stage lock left by an apply that died on another host.
    #[arg(long)]
    pub break_lock: bool,
    /// The commit recorded in each changed stack's `tenantops:commit` tag [default:
    /// `CODEBUILD_RESOLVED_SOURCE_VERSION` inside CodeBuild, else the repository's HEAD].
    #[arg(long, value_name = "SHA")]
    pub commit: Option<String>,
    /// Also write the JSON report to FILE.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Write one provisioning result per tenant the run touched to FILE, as a JSON
    /// array of EventBridge `PutEvents` entries (`sbt_aws_provisionSuccess` /
    /// `sbt_aws_provisionFailure`, deprovision for removed tenants).
    #[arg(long, value_name = "FILE")]
    pub events: Option<PathBuf>,
    /// With `--events`, the entries' `Source`.
    #[arg(
        long,
        value_name = "SOURCE",
        default_value = "tenantops",
        requires = "events"
    )]
    pub event_source: String,
    /// With `--events`, the entries' `EventBusName` (the control plane's bus).
    #[arg(long, value_name = "NAME", requires = "events")]
    pub event_bus: Option<String>,
    /// Seconds between the first status polls (doubling up to 20 s).
    #[arg(long, value_name = "SECS", default_value_t = 2.0, hide = true)]
    pub poll: f64,
    #[command(flatten)]
    pub part: PartArgs,
    #[command(flatten)]
    pub aws: AwsArgs,
}

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

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum, value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write `tenantops.1` and a `tenantops-<command>.1` page per command into DIR
    /// instead of printing `tenantops.1`.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// Committing what `onboard` or `offboard` wrote.
#[derive(Debug, Args)]
pub struct CommitArgs {
    /// Commit the files written (only those) to the current branch.
    #[arg(long)]
    pub commit: bool,
    /// With `--commit`, create branch NAME at HEAD, switch to it and commit there.
    #[arg(long, value_name = "NAME", requires = "commit", value_parser = crate::onboard::commit::parse_branch)]
    pub branch: Option<String>,
    /// With `--commit`, the commit's author [default: git's `user.name` and `user.email`].
    #[arg(long, value_name = "NAME <EMAIL>", requires = "commit", value_parser = crate::onboard::commit::Author::parse)]
    pub author: Option<crate::onboard::commit::Author>,
}

#[derive(Debug, Args)]
pub struct OnboardArgs {
    /// The tenant's permanent id (a lowercase DNS label); with `--from-event`, instead
    /// of the event's `tenantId`.
    #[arg(long, value_name = "ID")]
    pub id: Option<String>,
    /// Its tier (a file in `tiers/`, matched case-insensitively).
    #[arg(long, value_name = "TIER")]
    pub tier: Option<String>,
    /// Its display name, unique in the fleet.
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// The email of its first admin user.
    #[arg(long, value_name = "EMAIL")]
    pub email: Option<String>,
    /// A label (for example `wave=2`); repeat for more.
    #[arg(long = "label", value_name = "K=V", value_parser = parse_label)]
    pub labels: Vec<(String, String)>,
    /// Read the tenant from the control plane's EventBridge onboarding event (SaaS
    /// Builder Toolkit shape) in FILE, or `-` for standard input. Flags override its values.
    #[arg(long, value_name = "FILE|-")]
    pub from_event: Option<String>,
    #[command(flatten)]
    pub commit: CommitArgs,
}

fn parse_label(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.to_owned())),
        _ => Err(format!("`{text}` is not KEY=VALUE")),
    }
}

#[derive(Debug, Args)]
pub struct OffboardArgs {
    /// The tenant's id.
    #[arg(value_name = "ID")]
    pub id: String,
    #[command(flatten)]
    pub commit: CommitArgs,
}

#[derive(Debug, Args)]
pub struct LockArgs {
    /// Do not write: exit 3 if `tenants.lock` is out of date.
    #[arg(long)]
    pub check: bool,
    /// With `--check`, check the lock as of git revision REV.
    #[arg(long, value_name = "REV", requires = "check")]
    pub rev: Option<String>,
}

#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct SchemaArgs {
    /// Regenerate `schemas/*.schema.json`.
    #[arg(long)]
    pub write: bool,
    /// Exit 3 if any file in `schemas/` differs from what tenantops generates.
    #[arg(long)]
    pub check: bool,
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
    let out = Output::new(cli);
    let result = match &cli.command {
        Command::Validate(args) => validate_cmd(cli, args, &out),
        Command::Render(args) => render_cmd(cli, args, &out),
        Command::Plan(args) => crate::deploy::cmd::plan(cli, args, &out),
        Command::Apply(args) => crate::deploy::cmd::apply(cli, args, &out),
        Command::Lock(args) => lock_cmd(cli, args, &out),
        Command::Schema(args) => schema_cmd(cli, args, &out),
        Command::Status(args) => crate::deploy::cmd::status(cli, args, &out),
        Command::Bootstrap(args) => crate::deploy::bootstrap::bootstrap(cli, args, &out),
        Command::Completions(args) => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(args.shell, &mut cmd, "tenantops", &mut std::io::stdout());
            Ok(Exit::Success)
        }
        Command::Man(args) => man_cmd(args),
        Command::Onboard(args) => crate::onboard::onboard(cli, args, &out),
        Command::Offboard(args) => crate::onboard::offboard(cli, args, &out),
    };
    result.unwrap_or_else(|e| {
        out.fatal(&e);
        match e {
            Failure::Load(LoadError::Io { .. } | LoadError::Git(_)) | Failure::Io(..) => {
                Exit::Internal
            }
            Failure::Load(_) | Failure::Foreign(_) => Exit::Invalid,
            Failure::Usage(_) => Exit::Usage,
            Failure::Aws(_) => Exit::Aws,
            Failure::Refused(_) => Exit::Refused,
        }
    })
}

/// A failure that is not a list of diagnostics.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Failure {
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error("cannot write `{0}`")]
    Io(String, #[source] std::io::Error),
    #[error("{0}")]
    Foreign(String),
    #[error("{0}")]
    Usage(String),
    #[error("AWS: {0}")]
    Aws(String),
    #[error("refused: {0}")]
    Refused(String),
}

impl From<render::write::WriteError> for Failure {
    fn from(e: render::write::WriteError) -> Self {
        match e {
            render::write::WriteError::Foreign(_) => Failure::Foreign(e.to_string()),
            render::write::WriteError::Io { path, source } => Failure::Io(path, source),
        }
    }
}

/// Where and how results are printed.
pub(crate) struct Output {
    pub(crate) format: Format,
    color: bool,
    root: String,
    /// Whether the command writes files, so a failure says that it wrote nothing.
    writes: bool,
}

impl Output {
    fn new(cli: &Cli) -> Self {
        let color = match cli.color {
            Color::Always => true,
            Color::Never => false,
            Color::Auto => {
                std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
            }
        };
        let root = cli.dir.to_string_lossy().trim_end_matches('/').to_owned();
        let writes = match &cli.command {
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
            | Command::Bootstrap(_)
            | Command::Man(_) => true,
        };
        Output {
            format: cli.format,
            color,
            root: if root == "." { String::new() } else { root },
            writes,
        }
    }

    /// Prints diagnostics and a closing line; `ok` is the success line.
    pub(crate) fn report(
        &self,
        diagnostics: &mut [Diagnostic],
        sources: &dyn diag::SourceText,
        ok: &str,
        extra: &serde_json::Value,
    ) {
        diag::sort(diagnostics);
        let errors = diagnostics.iter().filter(|d| d.is_error()).count();
        let warnings = diagnostics.len() - errors;
        match self.format {
            Format::Human | Format::Markdown => {
                let mut err = std::io::stderr().lock();
                let _ = err.write_all(
                    diag::human(diagnostics, sources, &self.root, self.color).as_bytes(),
                );
                if errors > 0 {
                    let _ = writeln!(err, "{}", self.failed_line(errors, warnings));
                } else {
                    let _ = err.flush();
                    println!(
                        "{ok}{}",
                        if warnings > 0 {
                            format!(" ({warnings} warning{})", plural(warnings))
                        } else {
                            String::new()
                        }
                    );
                }
            }
            Format::Github => {
                print!("{}", diag::github(diagnostics, &self.root));
                if errors > 0 {
                    eprintln!("{}", self.failed_line(errors, warnings));
                } else {
                    println!("{ok}");
                }
            }
            Format::Json => {
                let doc = serde_json::json!({
                    "ok": errors == 0,
                    "errors": errors,
                    "warnings": warnings,
                    "diagnostics": diagnostics,
                    "summary": extra,
                });
                println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
            }
        }
    }

    fn failed_line(&self, errors: usize, warnings: usize) -> String {
        let mut line = format!("error: {errors} problem{} found", plural(errors));
        if warnings > 0 {
            let _ = write!(line, " ({warnings} warning{})", plural(warnings));
        }
        if self.writes {
            line.push_str("; nothing was written");
        }
        if self.color {
            format!("\x1b[1;31m{line}\x1b[0m")
        } else {
            line
        }
    }

    pub(crate) fn fatal(&self, error: &Failure) {
        let mut message = error.to_string();
        let mut source = std::error::Error::source(error);
        while let Some(cause) = source {
            let _ = write!(message, ": {cause}");
            source = cause.source();
        }
        match self.format {
            Format::Json => println!("{}", serde_json::json!({"ok": false, "error": message})),
            Format::Github => println!(
                "::error title=tenantops::{}",
                message.replace('%', "%25").replace('\n', "%0A")
            ),
            Format::Human | Format::Markdown => eprintln!("error: {message}"),
        }
    }

    /// A plain message line (human: stdout; json: as `{"message"}`).
    fn stale(&self, lines: &[String], help: &str) {
        match self.format {
            Format::Json => println!(
                "{}",
                serde_json::json!({"ok": false, "stale": lines, "help": help})
            ),
            Format::Github => {
                for line in lines {
                    println!("::error title=tenantops out of date::{line}");
                }
            }
            Format::Human | Format::Markdown => {
                for line in lines {
                    eprintln!("error: {line}");
                }
                eprintln!("  = help: {help}");
            }
        }
    }
}

pub(crate) fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Loads and decodes the repository at `root`, from the work tree or a revision.
pub(crate) fn open(root: &Path, rev: Option<&str>) -> Result<(Repo, Vec<Diagnostic>), LoadError> {
    open_some(root, rev, None)
}

/// Like [`open`]; with `tenants`, reads only those tenant files.
fn open_some(
    root: &Path,
    rev: Option<&str>,
    tenants: Option<&[String]>,
) -> Result<(Repo, Vec<Diagnostic>), LoadError> {
    let load = |store: &dyn load::Store| match tenants {
        None => load::load(store),
        Some(ids) => load::load_tenants(store, ids),
    };
    let (raw, diags) = match rev {
        None => load(&WorkTree::new(root)?)?,
        Some(rev) => {
            let revision = GitRevision::open(root, rev)?;
            load(&revision.store()?)?
        }
    };
    Ok(repo::decode(raw, diags))
}

/// The repository for `render`: whole, or with `--tenant` only the tenants asked for
/// and the other members of their pool packs (a pack's stack holds all of them).
fn open_for_render(cli: &Cli, args: &RenderArgs) -> Result<(Repo, Vec<Diagnostic>), Failure> {
    let rev = args.rev.as_deref();
    if args.tenants.is_empty() {
        return Ok(open(&cli.dir, rev)?);
    }
    let (repo, diags) = open_some(&cli.dir, rev, Some(&args.tenants))?;
    let read = |id: &String| {
        diag::SourceText::text(&repo.sources, &format!("{}/{id}.yaml", load::TENANTS_DIR)).is_some()
    };
    if !args.tenants.iter().all(read) {
        let (full, _) = open(&cli.dir, rev)?;
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
    Ok(open_some(&cli.dir, rev, Some(&ids))?)
}

fn validate_cmd(cli: &Cli, args: &ValidateArgs, out: &Output) -> Result<Exit, Failure> {
    let (repo, mut diags) = open(&cli.dir, args.rev.as_deref())?;
    diags.extend(validate::validate(&repo));
    if let Some(base_rev) = &args.base {
        let (base, _) = open(&cli.dir, Some(base_rev))?;
        diags.extend(validate::against_base(&repo, &base, base_rev));
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

fn render_cmd(cli: &Cli, args: &RenderArgs, out: &Output) -> Result<Exit, Failure> {
    let (repo, mut diags) = open_for_render(cli, args)?;
    diags.extend(validate::validate(&repo));
    if diags.iter().any(Diagnostic::is_error) || !repo.complete {
        out.report(&mut diags, &repo.sources, "", &serde_json::Value::Null);
        return Ok(Exit::Invalid);
    }
    let only = (!args.tenants.is_empty()).then_some(args.tenants.as_slice());
    let dir = args.out.clone().unwrap_or_else(|| cli.dir.join("rendered"));
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

    let mut counts: Vec<(render::StackKind, usize)> = Vec::new();
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
    });
    out.report(&mut diags, &repo.sources, &ok, &extra);
    Ok(Exit::Success)
}

/// Diagnostics `tenantops lock` repairs by running, rather than refusing to run on.
const LOCK_FIXES: &[&str] = &[
    "not-allocated",
    "not-packed",
    "unknown-allocation",
    "stale-allocation",
];

fn lock_cmd(cli: &Cli, args: &LockArgs, out: &Output) -> Result<Exit, Failure> {
    let (repo, mut diags) = open(&cli.dir, args.rev.as_deref())?;
    diags.extend(validate::validate(&repo));
    diags.retain(|d| !LOCK_FIXES.contains(&d.code));
    if diags.iter().any(Diagnostic::is_error) || !repo.complete {
        out.report(&mut diags, &repo.sources, "", &serde_json::Value::Null);
        return Ok(Exit::Invalid);
    }
    // A complete repository has its platform settings, so this always allocates.
    let Some((new, changes)) = lockfile::relock(&repo) else {
        return Ok(Exit::Invalid);
    };
    let text = lockfile::to_text(&new);
    let current = repo.lock.as_ref().and_then(|l| repo_text(&repo, &l.file));
    let mut lines = changes.lines();
    if current == Some(text.as_str()) {
        if out.format == Format::Json {
            println!("{}", serde_json::json!({"ok": true, "changed": false}));
        } else {
            println!(
                "ok: `{LOCK_FILE}` is up to date ({} allocation{} on {} shard{})",
                new.tenants.len(),
                plural(new.tenants.len()),
                new.shards.len(),
                plural(new.shards.len())
            );
        }
        return Ok(Exit::Success);
    }
    if lines.is_empty() {
        lines.push(match current {
            Some(_) => format!("`{LOCK_FILE}` is not in its canonical form (edited by hand?)"),
            None => format!("`{LOCK_FILE}` is missing"),
        });
    }
    if args.check {
        out.stale(&lines, "run `tenantops lock` and commit `tenants.lock`");
        return Ok(Exit::Stale);
    }
    write_files(&cli.dir, &BTreeMap::from([(LOCK_FILE.to_owned(), text)]))?;
    if out.format == Format::Json {
        println!(
            "{}",
            serde_json::json!({"ok": true, "changed": true, "changes": lines})
        );
    } else {
        for line in &lines {
            println!("{line}");
        }
        println!("wrote `{LOCK_FILE}`");
    }
    Ok(Exit::Success)
}

fn repo_text<'a>(repo: &'a Repo, path: &str) -> Option<&'a str> {
    diag::SourceText::text(&repo.sources, path)
}

fn schema_cmd(cli: &Cli, args: &SchemaArgs, out: &Output) -> Result<Exit, Failure> {
    let dir = cli.dir.join("schemas");
    let mut stale = Vec::new();
    let mut changed = BTreeMap::new();
    for kind in Kind::ALL {
        let path = dir.join(kind.file_name());
        let want = kind.generate();
        let have = std::fs::read_to_string(&path).ok();
        if have.as_deref() == Some(want.as_str()) {
            continue;
        }
        let rel = format!("schemas/{}", kind.file_name());
        if args.write {
            changed.insert(rel, want);
        } else {
            let why = if have.is_some() {
                "out of date"
            } else {
                "missing"
            };
            stale.push(format!("`{rel}` is {why}"));
        }
    }
    if !stale.is_empty() {
        out.stale(
            &stale,
            "run `tenantops schema --write` and commit `schemas/`",
        );
        return Ok(Exit::Stale);
    }
    write_files(&cli.dir, &changed)?;
    let written: Vec<String> = changed.into_keys().collect();
    if out.format == Format::Json {
        println!("{}", serde_json::json!({"ok": true, "written": written}));
    } else if args.check {
        println!("ok: `schemas/` is up to date");
    } else if written.is_empty() {
        println!("ok: `schemas/` was already up to date");
    } else {
        for rel in &written {
            println!("wrote `{rel}`");
        }
    }
    Ok(Exit::Success)
}

fn man_cmd(args: &ManArgs) -> Result<Exit, Failure> {
    let cmd = <Cli as clap::CommandFactory>::command();
    let Some(dir) = &args.out else {
        let mut page = Vec::new();
        clap_mangen::Man::new(cmd)
            .render(&mut page)
            .map_err(|e| Failure::Io("the man page".to_owned(), e))?;
        std::io::stdout()
            .write_all(&page)
            .map_err(|e| Failure::Io("standard output".to_owned(), e))?;
        return Ok(Exit::Success);
    };
    std::fs::create_dir_all(dir).map_err(|e| Failure::Io(dir.display().to_string(), e))?;
    clap_mangen::generate_to(cmd, dir).map_err(|e| Failure::Io(dir.display().to_string(), e))?;
    println!("wrote the man pages into `{}`", dir.display());
    Ok(Exit::Success)
}

/// Writes `files` (paths relative to `dir` → text), each through a temporary file,
/// renaming them only once every one is written: a reader never sees half a file, and
/// a failure before the renames leaves the repository as it was.
pub(crate) fn write_files(dir: &Path, files: &BTreeMap<String, String>) -> Result<(), Failure> {
    let mut staged = Vec::new();
    let cleanup = |staged: &[(PathBuf, PathBuf)]| {
        for (tmp, _) in staged {
            let _ = std::fs::remove_file(tmp);
        }
    };
    for (rel, text) in files {
        let path = dir.join(rel);
        let tmp = path.with_extension("tmp-tenantops");
        let written = path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(&tmp, text));
        if let Err(e) = written {
            cleanup(&staged);
            return Err(Failure::Io(path.display().to_string(), e));
        }
        staged.push((tmp, path));
    }
    for (i, (tmp, path)) in staged.iter().enumerate() {
        if let Err(e) = std::fs::rename(tmp, path) {
            cleanup(&staged[i..]);
            return Err(Failure::Io(path.display().to_string(), e));
        }
    }
    Ok(())
}
