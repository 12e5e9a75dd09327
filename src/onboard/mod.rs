//! `onboard` and `offboard`: tenant lifecycle changes as files (and optionally commits), validated as the repository they would make before anything is written.
//!
//! Onboarding writes `tenants/<id>.yaml` and the tenant's allocation in `tenants.lock`;
//! offboarding sets the tenant's `state: offboarding`, which the next guarded apply
//! turns into stack deletions. Both load the repository through an [`Overlay`] holding
//! the new text, run every validation rule over it, and write the files (each through a
//! temporary file and a rename) only when it is clean. An onboarding request that
//! arrives twice (EventBridge delivers at least once) finds its own file and succeeds
//! without writing.

pub mod commit;
pub mod event;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::Read as _;
use std::path::Path;

use crate::cli::{Cli, CommitArgs, Failure, Format, OffboardArgs, OnboardArgs, Output};
use crate::diag::Diagnostic;
use crate::exit::Exit;
use crate::load::{self, LOCK_FILE, Overlay, Sources, TENANTS_DIR, WorkTree};
use crate::lockfile;
use crate::model::State;
use crate::repo::{self, Repo};
use crate::validate;
use crate::yaml::{self, NodeValue, Span};

/// The label that keeps the control plane's own tenant id (the onboarding event's
/// `tenantId`), which provisioning results are reported under.
pub const CONTROL_PLANE_LABEL: &str = "control-plane-id";

/// A tenant to onboard, and where each value came from when it came from an event.
struct Request {
    id: String,
    tier: String,
    name: String,
    email: String,
    labels: BTreeMap<String, String>,
    /// The event it came from, for pointing a problem at the event that asked for it.
    origin: Option<Origin>,
    event_id: Option<String>,
}

/// An onboarding event: its file name, text, and the span of each field used (`id`,
/// `name`, `tier`, `email`; a field given by a flag has none).
#[derive(Clone)]
struct Origin {
    file: String,
    text: String,
    spans: BTreeMap<&'static str, Span>,
}

impl Origin {
    fn span(&self, key: &str) -> Option<Span> {
        self.spans.get(key).copied()
    }

    /// `sources` with the event added, so that diagnostics can quote it.
    fn add_to(&self, sources: &mut Sources) {
        sources.add(self.file.clone(), self.text.clone());
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
fn request(cli: &Cli, args: &OnboardArgs, out: &Output) -> Result<Result<Request, Exit>, Failure> {
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
    let (file, text) = read_input(path, &cli.dir)?;
    let mut sources = Sources::default();
    sources.add(file.clone(), text.clone());
    let event = match event::parse(&file, &text) {
        Ok(e) => e,
        Err(mut problems) => {
            out.report(&mut problems, &sources, "", &serde_json::Value::Null);
            return Ok(Err(Exit::Invalid));
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

/// A YAML scalar for `text`: plain when that reads back as the same string, else
/// double-quoted (JSON string syntax, which YAML reads the same way).
fn scalar(text: &str) -> String {
    if yaml::needs_quotes(text) {
        serde_json::to_string(text).unwrap_or_default()
    } else {
        text.to_owned()
    }
}

/// The manifest of a new tenant. The line of each field is fixed (see [`FIELD_LINES`]).
fn manifest(req: &Request) -> String {
    let mut text = format!(
        "# yaml-language-server: $schema=../schemas/tenant.schema.json\nid: {}\nname: {}\ntier: {}\nadmin_email: {}\n",
        scalar(&req.id),
        scalar(&req.name),
        scalar(&req.tier),
        scalar(&req.email)
    );
    if !req.labels.is_empty() {
        text.push_str("labels:\n");
        for (k, v) in &req.labels {
            let _ = writeln!(
                text,
                "  {}: {}",
                scalar(k),
                serde_json::to_string(v).unwrap_or_default()
            );
        }
    }
    text
}

/// Which field each line of [`manifest`]'s output holds.
const FIELD_LINES: [(usize, &str); 4] = [(2, "id"), (3, "name"), (4, "tier"), (5, "email")];

/// Loads the work tree with `files` written over it, and validates it.
fn overlaid(
    dir: &Path,
    files: &BTreeMap<String, String>,
) -> Result<(Repo, Vec<Diagnostic>), Failure> {
    let tree = WorkTree::new(dir)?;
    let overlay = Overlay::new(&tree, files.clone());
    let (raw, diags) = load::load(&overlay)?;
    let (repo, mut diags) = repo::decode(raw, diags);
    diags.extend(validate::validate(&repo));
    Ok((repo, diags))
}

/// Points a problem found in the generated manifest at the event field it came from.
fn relocate(diags: &mut [Diagnostic], new_file: &str, origin: Option<&Origin>) {
    let Some(origin) = origin else {
        return;
    };
    for d in diags.iter_mut() {
        if d.file.as_deref() != Some(new_file) {
            continue;
        }
        let field = d
            .span
            .and_then(|s| FIELD_LINES.iter().find(|(line, _)| *line == s.line))
            .map(|(_, f)| *f);
        if let Some(span) = field.and_then(|f| origin.span(f)) {
            d.message = format!("{} (in the tenant the event asks for)", d.message);
            d.file = Some(origin.file.clone());
            d.span = Some(span);
        }
    }
}

/// Problems with the request itself, before it is written as a file: an id that is
/// not a DNS label (it becomes a path), and a tier that does not exist. A tier named
/// in another case (`Advanced`) is taken when that is unambiguous.
fn check_request(
    req: &mut Request,
    tier_names: &BTreeSet<String>,
) -> Result<Vec<Diagnostic>, Failure> {
    let mut problems = Vec::new();
    let at = |key: &str| {
        req.origin
            .as_ref()
            .and_then(|o| o.span(key).map(|span| (o.file.clone(), span)))
    };
    if !crate::naming::is_label(&req.id, 63) {
        let msg = format!(
            "tenant id `{}` is not a lowercase DNS label (a letter, then letters, digits and single hyphens, at most 63)",
            req.id
        );
        problems.push(match at("id") {
            Some((f, span)) => Diagnostic::error("bad-tenant-id", &f, span, msg)
                .help("pass --id to choose the tenant's id; the event's tenantId is kept as its `control-plane-id` label"),
            None => return Err(Failure::Usage(format!("--id: {msg}"))),
        });
    }
    if tier_names.contains(&req.tier) {
        return Ok(problems);
    }
    let folded: Vec<&String> = tier_names
        .iter()
        .filter(|t| t.eq_ignore_ascii_case(&req.tier))
        .collect();
    if let [only] = folded.as_slice() {
        req.tier = (*only).clone();
        return Ok(problems);
    }
    let hint = crate::suggest::hint(&req.tier, tier_names.iter().map(String::as_str));
    let msg = format!("there is no tier `{}` in `tiers/`{hint}", req.tier);
    let help = format!(
        "the tiers are: {}",
        tier_names
            .iter()
            .map(|t| format!("`{t}`"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    problems.push(match at("tier") {
        Some((f, span)) => Diagnostic::error("unknown-tier", &f, span, msg).help(help),
        None => Diagnostic::unlocated("unknown-tier", None, format!("--tier: {msg}")).help(help),
    });
    Ok(problems)
}

/// The tenant already in the repository under this id: `Ok(true)` when it is the same
/// request again (nothing to do), else a located collision.
fn existing(repo: &Repo, req: &Request, new_file: &str) -> Result<bool, Box<Diagnostic>> {
    let Some(existing) = repo
        .tenants
        .iter()
        .find(|t| t.value.id == req.id || t.file == new_file)
    else {
        return Ok(false);
    };
    let t = &existing.value;
    if t.tier == req.tier
        && t.name == req.name
        && t.admin_email == req.email
        && t.state != State::Offboarding
    {
        return Ok(true);
    }
    Err(Box::new(
        Diagnostic::error(
            "tenant-exists",
            &existing.file,
            existing.node.span_of("/id"),
            format!(
                "tenant `{}` already exists ({}, tier `{}`, {}), so it cannot be onboarded again",
                req.id,
                t.name,
                t.tier,
                t.state.as_str()
            ),
        )
        .help("choose another id (--id), or change the existing file in a reviewed commit"),
    ))
}

pub(crate) fn onboard(cli: &Cli, args: &OnboardArgs, out: &Output) -> Result<Exit, Failure> {
    let mut req = match request(cli, args, out)? {
        Ok(r) => r,
        Err(exit) => return Ok(exit),
    };
    let current = open_tenant(cli, &req.id)?;
    let origin = req.origin.clone();
    let mut early = check_request(&mut req, &current.tier_names)?;
    let new_file = format!("{TENANTS_DIR}/{}.yaml", req.id);
    if early.is_empty() {
        match existing(&current, &req, &new_file) {
            Ok(true) => return Ok(done(out, &req, &[], &[], None, true)),
            Ok(false) if cli.dir.join(&new_file).exists() => {
                // A file that did not load is still a file: never written over.
                early.push(
                    Diagnostic::at_file_start(
                        "tenant-exists",
                        &new_file,
                        format!("`{new_file}` already exists (and does not load), so tenant `{}` cannot be onboarded", req.id),
                    )
                    .help("fix or remove the existing file first (`tenantops validate` shows what is wrong with it)"),
                );
            }
            Ok(false) => {}
            Err(d) => early.push(*d),
        }
    }
    if !early.is_empty() {
        let mut sources = current.sources;
        if let Some(o) = &origin {
            o.add_to(&mut sources);
        }
        out.report(&mut early, &sources, "", &serde_json::Value::Null);
        return Ok(Exit::Invalid);
    }
    // The whole repository is validated with the new file in it: problems that were
    // there before are still problems, and nothing is written into a repository that
    // does not validate.
    let mut files = BTreeMap::from([(new_file.clone(), manifest(&req))]);
    let (with_tenant, mut problems) = overlaid(&cli.dir, &files)?;
    problems.retain(|d| !LOCK_FIXES.contains(&d.code));
    if problems.iter().any(Diagnostic::is_error) || !with_tenant.complete {
        relocate(&mut problems, &new_file, origin.as_ref());
        let mut sources = with_tenant.sources;
        if let Some(o) = &origin {
            o.add_to(&mut sources);
        }
        out.report(&mut problems, &sources, "", &serde_json::Value::Null);
        return Ok(Exit::Invalid);
    }
    let lock_lines = relock_into(&with_tenant, &mut files);
    let (with_lock, mut last) = with_new_lock(with_tenant, &files);
    if last.iter().any(Diagnostic::is_error) {
        out.report(&mut last, &with_lock.sources, "", &serde_json::Value::Null);
        return Ok(Exit::Invalid);
    }
    let prepared = prepare_commit(cli, &args.commit)?;
    crate::cli::write_files(&cli.dir, &files)?;
    let written: Vec<String> = files.keys().cloned().collect();
    let mut message = format!(
        "Onboard tenant {} ({} tier)\n\n{}, admin {}.",
        req.id, req.tier, req.name, req.email
    );
    if let Some(id) = &req.event_id {
        let _ = write!(message, "\nFrom onboarding event {id}.");
    }
    let committed = commit_files(cli, prepared, &written, &message)?;
    Ok(done(
        out,
        &req,
        &written,
        &lock_lines,
        committed.as_ref(),
        false,
    ))
}

/// The lock diagnostics that writing the new lock fixes.
const LOCK_FIXES: &[&str] = &[
    "not-allocated",
    "not-packed",
    "stale-allocation",
    "unknown-allocation",
];

/// Adds the relocked `tenants.lock` to `files` when it changes; returns what changed.
fn relock_into(repo: &Repo, files: &mut BTreeMap<String, String>) -> Vec<String> {
    let Some((lock, changes)) = lockfile::relock(repo) else {
        return Vec::new();
    };
    let text = lockfile::to_text(&lock);
    let current = repo
        .lock
        .as_ref()
        .and_then(|l| crate::diag::SourceText::text(&repo.sources, &l.file));
    if current == Some(text.as_str()) {
        return Vec::new();
    }
    files.insert(LOCK_FILE.to_owned(), text);
    changes.lines()
}

/// The repository with only tenant `id`'s file read (platform, tiers and lock as
/// usual): what onboarding needs to know before it validates the whole fleet once.
/// An id that is not a DNS label reads no tenant file (it never becomes a path).
fn open_tenant(cli: &Cli, id: &str) -> Result<Repo, Failure> {
    let tree = WorkTree::new(&cli.dir)?;
    let ids: Vec<String> = if crate::naming::is_label(id, 63) {
        vec![id.to_owned()]
    } else {
        Vec::new()
    };
    let (raw, diags) = load::load_tenants(&tree, &ids)?;
    Ok(repo::decode(raw, diags).0)
}

/// `repo` validated again with the lock `files` now holds (no second load).
fn with_new_lock(mut repo: Repo, files: &BTreeMap<String, String>) -> (Repo, Vec<Diagnostic>) {
    if let Some(text) = files.get(LOCK_FILE)
        && let Ok(node) = yaml::parse(text)
        && let Ok(value) = serde_json::from_value::<crate::model::Lock>(node.to_json())
    {
        repo.sources.add(LOCK_FILE.to_owned(), text.clone());
        repo.lock = Some(repo::Doc {
            file: LOCK_FILE.to_owned(),
            node,
            value,
        });
        repo.lock_present = true;
    }
    let diags = validate::validate(&repo);
    (repo, diags)
}

/// With `--commit`, the commit checked before anything is written.
fn prepare_commit(cli: &Cli, args: &CommitArgs) -> Result<Option<commit::Prepared>, Failure> {
    if !args.commit {
        return Ok(None);
    }
    let author = args.author.clone().unwrap_or(commit::Author::FromConfig);
    commit::prepare(&cli.dir, &author, args.branch.as_deref())
        .map(Some)
        .map_err(|e| Failure::Foreign(format!("cannot commit: {e}; nothing was written")))
}

fn commit_files(
    cli: &Cli,
    prepared: Option<commit::Prepared>,
    files: &[String],
    message: &str,
) -> Result<Option<commit::Committed>, Failure> {
    let Some(prepared) = prepared else {
        return Ok(None);
    };
    commit::commit(prepared, &cli.dir, files, message)
        .map(Some)
        .map_err(|e| Failure::Foreign(format!("the files were written but not committed: {e}")))
}

/// The files, each quoted, joined with "and".
fn listed(files: &[String]) -> String {
    files
        .iter()
        .map(|w| format!("`{w}`"))
        .collect::<Vec<_>>()
        .join(" and ")
}

fn done(
    out: &Output,
    req: &Request,
    written: &[String],
    lock: &[String],
    committed: Option<&commit::Committed>,
    already: bool,
) -> Exit {
    if out.format == Format::Json {
        println!(
            "{}",
            serde_json::json!({
                "ok": true,
                "tenant": req.id,
                "tier": req.tier,
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
            req.id, req.tier
        );
        return Exit::Success;
    }
    for line in lock {
        println!("{line}");
    }
    println!(
        "onboarded `{}` (tier `{}`): wrote {}",
        req.id,
        req.tier,
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

pub(crate) fn offboard(cli: &Cli, args: &OffboardArgs, out: &Output) -> Result<Exit, Failure> {
    let current = open_tenant(cli, &args.id)?;
    let Some(tenant) = current.tenants.iter().find(|t| t.value.id == args.id) else {
        let (current, _) = crate::cli::open(&cli.dir, None)?;
        let hint = crate::suggest::hint(
            &args.id,
            current.tenants.iter().map(|t| t.value.id.as_str()),
        );
        return Err(Failure::Usage(format!(
            "there is no tenant `{}`{hint}",
            args.id
        )));
    };
    if tenant.value.state == State::Offboarding {
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
    let text = crate::diag::SourceText::text(&current.sources, &tenant.file).unwrap_or_default();
    let new_text = with_state(text, &tenant.node, State::Offboarding);
    let mut files = BTreeMap::from([(tenant.file.clone(), new_text)]);
    let (after, mut problems) = overlaid(&cli.dir, &files)?;
    problems.retain(|d| d.is_error() && !LOCK_FIXES.contains(&d.code));
    if !problems.is_empty() || !after.complete {
        out.report(&mut problems, &after.sources, "", &serde_json::Value::Null);
        return Ok(Exit::Invalid);
    }
    let lock_lines = relock_into(&after, &mut files);
    let prepared = prepare_commit(cli, &args.commit)?;
    crate::cli::write_files(&cli.dir, &files)?;
    let written: Vec<String> = files.keys().cloned().collect();
    let message = format!(
        "Offboard tenant {} ({})\n\nThe next apply with --allow-destroy deletes its stacks; tables with data_retention retain are kept.",
        args.id, tenant.value.name
    );
    let committed = commit_files(cli, prepared, &written, &message)?;
    if out.format == Format::Json {
        println!(
            "{}",
            serde_json::json!({
                "ok": true,
                "tenant": args.id,
                "already_offboarding": false,
                "written": written,
                "lock": lock_lines,
                "commit": committed.as_ref().map(|c| serde_json::json!({"id": c.id, "branch": c.branch})),
            })
        );
        return Ok(Exit::Success);
    }
    for line in &lock_lines {
        println!("{line}");
    }
    println!("offboarding `{}`: wrote {}", args.id, listed(&written));
    if let Some(c) = &committed {
        println!(
            "committed {} on `{}`",
            &c.id[..12.min(c.id.len())],
            c.branch
        );
    }
    println!(
        "next: `tenantops apply --allow-destroy` deletes its stacks; then delete `{}` and run `tenantops lock`",
        tenant.file
    );
    Ok(Exit::Success)
}

/// `text` with the top-level `state:` set to `state`: its line replaced when there is
/// one, else a line appended.
fn with_state(text: &str, node: &yaml::Node, state: State) -> String {
    let line = format!("state: {}", state.as_str());
    let at = match &node.value {
        NodeValue::Mapping(entries) => entries
            .iter()
            .find(|e| {
                e.key == "state" && e.key_span.col == 1 && e.value.span.line == e.key_span.line
            })
            .map(|e| e.key_span.line),
        _ => None,
    };
    if let Some(n) = at {
        let replaced = format!("{line}\n");
        let mut lines: Vec<&str> = text.split_inclusive('\n').collect();
        if let Some(slot) = lines.get_mut(n - 1) {
            *slot = &replaced;
            return lines.concat();
        }
        return text.to_owned();
    }
    let mut out = text.to_owned();
    if !out.ends_with('\n') && !out.is_empty() {
        out.push('\n');
    }
    out.push_str(&line);
    out.push('\n');
    out
}
