//! `tenantops onboard`: a tenant from flags or the control plane's onboarding event, written as its manifest and allocation (and optionally committed) once the repository with it validates.

use std::collections::BTreeMap;
use std::path::Path;

use clap::Args;

use super::args::CommitArgs;
use super::lifecycle::{event_sources, read_event, refused};
use crate::exit::Exit;
use crate::failure::Failure;
use crate::load::Sources;
use crate::onboard::event::{self, RequestKind};
use crate::onboard::{
    self, CONTROL_PLANE_LABEL, Onboarded, Origin, REGISTRATION_LABEL, Rejected, Request,
};
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
    /// With `--from-event`, the `source` the control plane's requests come from
    /// [default: `sbt.control.plane`, or `controlPlaneEventSource` before sbt-aws 0.9].
    #[arg(long, value_name = "SOURCE", requires = "from_event")]
    pub event_source: Option<String>,
    #[command(flatten)]
    pub commit: CommitArgs,
}

fn parse_label(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.to_owned())),
        _ => Err(format!("`{text}` is not KEY=VALUE")),
    }
}

/// The request from the flags and, with `--from-event`, the event (flags win).
fn request(dir: &Path, args: &OnboardArgs) -> Result<Result<Request, Rejected>, Failure> {
    let mut labels = BTreeMap::new();
    for (k, v) in &args.labels {
        if let Some(before) = labels.insert(k.clone(), v.clone()) {
            return Err(Failure::Usage(format!(
                "--label `{k}` is given twice (`{before}` and `{v}`); a tenant has one value per label"
            )));
        }
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
            id_from_name: false,
            tier: args.tier.clone().unwrap_or_default(),
            name: args.name.clone().unwrap_or_default(),
            email: args.email.clone().unwrap_or_default(),
            labels,
            origin: None,
            event_id: None,
            use_ec2: None,
            use_federation: None,
            use_rproxy: None,
            warnings: Vec::new(),
        }));
    };
    from_event(dir, path, args, labels)
}

/// The request from the event in `path`, with the flags winning over its fields.
fn from_event(
    dir: &Path,
    path: &str,
    args: &OnboardArgs,
    mut labels: BTreeMap<String, String>,
) -> Result<Result<Request, Rejected>, Failure> {
    let (file, text) = match read_event(path, dir)? {
        Ok(read) => read,
        Err(rejected) => return Ok(Err(rejected)),
    };
    let mut sources = Sources::default();
    sources.add(file.clone(), text.clone());
    let accepted = event_sources(args.event_source.as_deref());
    let event = match event::parse(&file, &text, RequestKind::Onboarding, &accepted) {
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
    if let Some(r) = &event.registration_id {
        labels
            .entry(REGISTRATION_LABEL.to_owned())
            .or_insert_with(|| r.value.clone());
    }
    let mut spans = BTreeMap::new();
    let mut pick = |key: &'static str, flag: &Option<String>, field: Option<&event::Field>| {
        flag.clone().unwrap_or_else(|| {
            field.map_or_else(String::new, |f| {
                spans.insert(key, f.span);
                f.value.clone()
            })
        })
    };
    let name = pick("name", &args.name, event.name.as_ref());
    let tier = pick("tier", &args.tier, event.tier.as_ref());
    let email = pick("email", &args.email, event.email.as_ref());
    // SBT's tenant ids are uuid4s: the id is then made from the name (`--id` wins).
    let usable = !onboard::is_uuid(&event.tenant_id.value)
        && crate::naming::is_label(&event.tenant_id.value, 63);
    let (id, id_from_name) = match &args.id {
        Some(id) => (id.clone(), false),
        None if usable => {
            spans.insert("id", event.tenant_id.span);
            (event.tenant_id.value.clone(), false)
        }
        None => {
            if let Some(f) = &event.name {
                spans.insert("id", f.span);
            }
            (String::new(), true)
        }
    };
    for (key, flag) in [
        ("useEc2", event.use_ec2),
        ("useFederation", event.use_federation),
        ("useRProxy", event.use_rproxy),
    ] {
        if let Some(f) = flag {
            spans.insert(key, f.span);
        }
    }
    Ok(Ok(Request {
        id,
        id_from_name,
        tier,
        name,
        email,
        labels,
        origin: Some(Origin { file, text, spans }),
        event_id: event.event_id,
        use_ec2: event.use_ec2.map(|f| f.value),
        use_federation: event.use_federation.map(|f| f.value),
        use_rproxy: event.use_rproxy.map(|f| f.value),
        warnings: event.warnings,
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

/// Prints what onboarding did (and its warnings, on standard error).
fn done(out: &Output, o: &Onboarded) -> Exit {
    out.warnings(&o.warnings, &o.sources);
    let (written, lock, committed, already) =
        (&o.written, &o.lock, o.committed.as_ref(), o.already);
    if out.format == Format::Json {
        crate::outln!(
            "{}",
            serde_json::json!({
                "ok": true,
                "tenant": o.id,
                "tier": o.tier,
                "already_onboarded": already,
                "warnings": o.warnings,
                "written": written,
                "lock": lock,
                "commit": committed.map(|c| serde_json::json!({"id": c.id, "branch": c.branch})),
            })
        );
        return Exit::Success;
    }
    if already {
        crate::outln!(
            "ok: tenant `{}` is already onboarded with these values (tier `{}`); nothing was written",
            o.id,
            o.tier
        );
        return Exit::Success;
    }
    for line in lock {
        crate::outln!("{line}");
    }
    crate::outln!(
        "onboarded `{}` (tier `{}`): wrote {}",
        o.id,
        o.tier,
        listed(written)
    );
    match committed {
        Some(c) => crate::outln!(
            "committed {} on `{}`",
            &c.id[..12.min(c.id.len())],
            c.branch
        ),
        None => crate::outln!("next: commit them; the apply after merge provisions the tenant"),
    }
    Exit::Success
}
