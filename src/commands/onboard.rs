//! `tenantops onboard`: a tenant from flags or the control plane's onboarding event, written as its manifest and allocation (and optionally committed) once the repository with it validates.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::Path;

use clap::Args;

use super::args::CommitArgs;
use crate::exit::Exit;
use crate::failure::Failure;
use crate::load::Sources;
use crate::onboard::{self, CONTROL_PLANE_LABEL, Onboarded, Origin, Rejected, Request, event};
use crate::output::{Format, Output, listed};

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

/// Reads the event file (`-`: standard input). Its name in diagnostics is as given,
/// made absolute when `-C` moved the repository root away from the working directory.
fn read_input(path: &str, dir: &Path) -> Result<(String, String), Failure> {
    if path == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| Failure::Io("standard input".to_owned(), e))?;
        return Ok(("<stdin>".to_owned(), text));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::Usage(format!("--from-event `{path}`: cannot read it: {e}")))?;
    let label = if dir == Path::new(".") || Path::new(path).is_absolute() {
        path.to_owned()
    } else {
        std::env::current_dir().map_or_else(
            |_| path.to_owned(),
            |cwd| cwd.join(path).display().to_string(),
        )
    };
    Ok((label, text))
}

/// The request from the flags and, with `--from-event`, the event (flags win).
fn request(dir: &Path, args: &OnboardArgs) -> Result<Result<Request, Rejected>, Failure> {
    let mut labels = BTreeMap::new();
    for (k, v) in &args.labels {
        labels.insert(k.clone(), v.clone());
    }
    let Some(path) = &args.from_event else {
        let missing: Vec<&str> = [
            ("--id", args.id.is_none()),
            ("--tier", args.tier.is_none()),
            ("--name", args.name.is_none()),
            ("--email", args.email.is_none()),
        ]
        .iter()
        .filter(|(_, m)| *m)
        .map(|(f, _)| *f)
        .collect();
        if !missing.is_empty() {
            return Err(Failure::Usage(format!(
                "onboard needs {} (or --from-event FILE)",
                missing.join(", ")
            )));
        }
        return Ok(Ok(Request {
            id: args.id.clone().unwrap_or_default(),
            tier: args.tier.clone().unwrap_or_default(),
            name: args.name.clone().unwrap_or_default(),
            email: args.email.clone().unwrap_or_default(),
            labels,
            origin: None,
            event_id: None,
        }));
    };
    let (file, text) = read_input(path, dir)?;
    let mut sources = Sources::default();
    sources.add(file.clone(), text.clone());
    let event = match event::parse(&file, &text) {
        Ok(e) => e,
        Err(problems) => {
            return Ok(Err(Rejected {
                diagnostics: problems,
                sources,
            }));
        }
    };
    // A `--label control-plane-id=...` wins, like every flag.
    labels
        .entry(CONTROL_PLANE_LABEL.to_owned())
        .or_insert_with(|| event.tenant_id.value.clone());
    let mut spans = BTreeMap::new();
    let mut pick = |key: &'static str, flag: &Option<String>, field: &event::Field| {
        flag.clone().unwrap_or_else(|| {
            spans.insert(key, field.span);
            field.value.clone()
        })
    };
    let id = pick("id", &args.id, &event.tenant_id);
    let name = pick("name", &args.name, &event.name);
    let tier = pick("tier", &args.tier, &event.tier);
    let email = pick("email", &args.email, &event.email);
    Ok(Ok(Request {
        id,
        tier,
        name,
        email,
        labels,
        origin: Some(Origin { file, text, spans }),
        event_id: event.event_id,
    }))
}

/// Runs `onboard`.
///
/// # Errors
/// An unreadable event file, missing flags, a repository that cannot be read, or a
/// commit or write that fails.
pub fn run(dir: &Path, args: &OnboardArgs, out: &Output) -> Result<Exit, Failure> {
    let req = match request(dir, args)? {
        Ok(r) => r,
        Err(rejected) => return Ok(refused(out, rejected)),
    };
    match onboard::onboard(dir, req, args.commit.to().as_ref())? {
        Ok(onboarded) => Ok(done(out, &onboarded)),
        Err(rejected) => Ok(refused(out, rejected)),
    }
}

/// Prints a lifecycle change's problems.
pub(super) fn refused(out: &Output, mut rejected: Rejected) -> Exit {
    out.report(
        &mut rejected.diagnostics,
        &rejected.sources,
        "",
        &serde_json::Value::Null,
    );
    Exit::Invalid
}

/// Prints what onboarding did.
fn done(out: &Output, o: &Onboarded) -> Exit {
    let (written, lock, committed, already) =
        (&o.written, &o.lock, o.committed.as_ref(), o.already);
    if out.format == Format::Json {
        println!(
            "{}",
            serde_json::json!({
                "ok": true,
                "tenant": o.id,
                "tier": o.tier,
                "already_onboarded": already,
                "written": written,
                "lock": lock,
                "commit": committed.map(|c| serde_json::json!({"id": c.id, "branch": c.branch})),
            })
        );
        return Exit::Success;
    }
    if already {
        println!(
            "ok: tenant `{}` is already onboarded with these values (tier `{}`); nothing was written",
            o.id, o.tier
        );
        return Exit::Success;
    }
    for line in lock {
        println!("{line}");
    }
    println!(
        "onboarded `{}` (tier `{}`): wrote {}",
        o.id,
        o.tier,
        listed(written)
    );
    match committed {
        Some(c) => println!(
            "committed {} on `{}`",
            &c.id[..12.min(c.id.len())],
            c.branch
        ),
        None => println!("next: commit them; the apply after merge provisions the tenant"),
    }
    Exit::Success
}
