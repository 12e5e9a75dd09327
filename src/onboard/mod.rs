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
mod manifest;
mod request;
mod state;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

use manifest::{compute_word, manifest, relocate};
pub use request::{CONTROL_PLANE_LABEL, Origin, REGISTRATION_LABEL, Request, is_uuid, slug};
pub use state::{StateChanged, Target, set_state};

use crate::diag::Diagnostic;
use crate::failure::Failure;
use crate::files::write_files;
use crate::load::{self, LOCK_FILE, Overlay, Sources, TENANTS_DIR, WorkTree};
use crate::lockfile;
use crate::model::State;
use crate::repo::{self, Repo};
use crate::validate;
use crate::yaml;

/// What a lifecycle change refuses with: every problem, and the texts to quote them
/// from (the repository as it would be, and the event).
pub struct Rejected {
    pub diagnostics: Vec<Diagnostic>,
    pub sources: Sources,
}

/// Committing the files written: by whom, and on which new branch (else the current one).
pub struct CommitTo {
    pub author: commit::Author,
    pub branch: Option<String>,
}

/// What onboarding did.
pub struct Onboarded {
    pub id: String,
    /// The tier as the repository names it (a request may name it in another case).
    pub tier: String,
    /// The same request was already onboarded: nothing was written.
    pub already: bool,
    pub written: Vec<String>,
    /// The lock's changes.
    pub lock: Vec<String>,
    pub committed: Option<commit::Committed>,
    /// Warnings about the request (fields read and not used), and the event's text to
    /// quote them from.
    pub warnings: Vec<Diagnostic>,
    pub sources: Sources,
}

impl Request {
    fn onboarded(
        self,
        already: bool,
        written: Vec<String>,
        lock: Vec<String>,
        committed: Option<commit::Committed>,
    ) -> Onboarded {
        let mut sources = Sources::default();
        if let Some(o) = &self.origin {
            o.add_to(&mut sources);
        }
        Onboarded {
            id: self.id,
            tier: self.tier,
            already,
            written,
            lock,
            committed,
            warnings: self.warnings,
            sources,
        }
    }
}

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
    if req.id.is_empty() {
        problems.push(
            req.problem(
                "bad-tenant-id",
                "id",
                format!(
                    "the tenant's name `{}` has no letter or digit to make an id from",
                    req.name
                ),
            )
            .help("pass --id to choose the tenant's id"),
        );
        return Ok(problems);
    }
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
    let hint = crate::suggest::hint(
        &req.tier.to_ascii_lowercase(),
        tier_names.iter().map(String::as_str),
    );
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
    let ours = req.labels.get(CONTROL_PLANE_LABEL);
    let same_tenant = ours.is_none() || t.labels.get(CONTROL_PLANE_LABEL) == ours;
    if same_tenant
        && t.tier == req.tier
        && t.name == req.name
        && t.admin_email == req.email
        && t.state != State::Offboarding
    {
        return Ok(true);
    }
    if req.id_from_name {
        return Err(Box::new(
            req.problem(
                "id-taken",
                "id",
                format!(
                    "the tenant's name makes the id `{}`, which tenant `{}` ({}) already has",
                    req.id, t.id, t.name
                ),
            )
            .help("pass --id to choose another id for this tenant"),
        ));
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

/// The problems of a refused request, with the texts to quote them from.
fn rejected(
    diagnostics: Vec<Diagnostic>,
    mut sources: Sources,
    origin: Option<&Origin>,
) -> Rejected {
    if let Some(o) = origin {
        o.add_to(&mut sources);
    }
    Rejected {
        diagnostics,
        sources,
    }
}

/// Another tenant file that holds the same control-plane tenant (its `control-plane-id`
/// label): the same request delivered again after the tenant was onboarded under
/// another id (`Ok`: that id, nothing to do), or a second tenant asking for a
/// control-plane tenant that already has one (a located collision).
fn onboarded_elsewhere(
    repo: &Repo,
    req: &Request,
    new_file: &str,
) -> Option<Result<String, Box<Diagnostic>>> {
    let ours = req.labels.get(CONTROL_PLANE_LABEL)?;
    let other = repo
        .tenants
        .iter()
        .find(|t| t.file != new_file && t.value.labels.get(CONTROL_PLANE_LABEL) == Some(ours))?;
    let t = &other.value;
    if t.tier.eq_ignore_ascii_case(&req.tier)
        && t.name == req.name
        && t.admin_email == req.email
        && t.state != State::Offboarding
    {
        return Some(Ok(t.id.clone()));
    }
    Some(Err(Box::new(
        Diagnostic::error(
            "tenant-exists",
            &other.file,
            other.node.key_span_of(&format!("/labels/{CONTROL_PLANE_LABEL}")),
            format!(
                "control-plane tenant `{ours}` is already tenant `{}` ({}, tier `{}`, {}), so it cannot be onboarded again",
                t.id, t.name, t.tier, t.state.as_str()
            ),
        )
        .help("change the existing tenant in a reviewed commit"),
    )))
}

/// Makes the request's id from its name (the slug fits every AWS name it feeds); a
/// slug that is a reserved id or a tier's name is refused, located at the name.
fn id_from_name(dir: &Path, req: &mut Request) -> Result<Option<Rejected>, Failure> {
    let base = open_tenant(dir, "")?;
    if let Some(platform) = &base.platform {
        req.id = slug(&req.name, crate::naming::max_tenant_id_len(&platform.value));
    }
    if !crate::naming::RESERVED_IDS.contains(&req.id.as_str()) && !base.tier_names.contains(&req.id)
    {
        return Ok(None);
    }
    let d = req
        .problem(
            "id-reserved",
            "id",
            format!(
                "the tenant's name makes the id `{}`, which is reserved",
                req.id
            ),
        )
        .help("pass --id to choose the tenant's id");
    Ok(Some(rejected(vec![d], base.sources, req.origin.as_ref())))
}

/// Onboards `req` into the repository at `dir`: writes its manifest and allocation
/// (and commits them with `commit`) once the repository with them validates.
///
/// # Errors
/// A repository that cannot be read, a commit that cannot be made, files that cannot
/// be written, or a request whose id cannot be a file name.
pub fn onboard(
    dir: &Path,
    mut req: Request,
    commit: Option<&CommitTo>,
) -> Result<Result<Onboarded, Rejected>, Failure> {
    if req.id_from_name
        && let Some(refused) = id_from_name(dir, &mut req)?
    {
        return Ok(Err(refused));
    }
    let current = open_tenant(dir, &req.id)?;
    let origin = req.origin.clone();
    let mut early = check_request(&mut req, &current.tier_names)?;
    let mut compute = None;
    if let Some(tier) = current.tiers.get(&req.tier).filter(|_| early.is_empty()) {
        let (chosen, problems) = request::choices(&req, &req.tier, &tier.value);
        compute = chosen;
        req.warnings
            .extend(problems.iter().filter(|d| !d.is_error()).cloned());
        early.extend(problems.into_iter().filter(Diagnostic::is_error));
    }
    let new_file = format!("{TENANTS_DIR}/{}.yaml", req.id);
    if early.is_empty() {
        match existing(&current, &req, &new_file) {
            Ok(true) => return Ok(Ok(req.onboarded(true, Vec::new(), Vec::new(), None))),
            Ok(false) if dir.join(&new_file).exists() => {
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
        return Ok(Err(rejected(early, current.sources, origin.as_ref())));
    }
    // The whole repository is validated with the new file in it: problems that were
    // there before are still problems, and nothing is written into a repository that
    // does not validate.
    let mut files = BTreeMap::from([(new_file.clone(), manifest(&req, compute))]);
    let (with_tenant, mut problems) = overlaid(dir, &files)?;
    problems.retain(|d| !LOCK_FIXES.contains(&d.code));
    if let Some(found) = onboarded_elsewhere(&with_tenant, &req, &new_file) {
        return match found {
            Ok(id) => {
                req.id = id;
                Ok(Ok(req.onboarded(true, Vec::new(), Vec::new(), None)))
            }
            Err(d) => Ok(Err(rejected(
                vec![*d],
                with_tenant.sources,
                origin.as_ref(),
            ))),
        };
    }
    if problems.iter().any(Diagnostic::is_error) || !with_tenant.complete {
        relocate(&mut problems, &new_file, origin.as_ref());
        return Ok(Err(rejected(
            problems,
            with_tenant.sources,
            origin.as_ref(),
        )));
    }
    let lock_lines = relock_into(&with_tenant, &mut files);
    let (with_lock, last) = with_new_lock(with_tenant, &files);
    if last.iter().any(Diagnostic::is_error) {
        return Ok(Err(Rejected {
            diagnostics: last,
            sources: with_lock.sources,
        }));
    }
    let prepared = prepare_commit(dir, commit)?;
    write_files(dir, &files)?;
    let written: Vec<String> = files.keys().cloned().collect();
    let mut message = format!(
        "Onboard tenant {} ({} tier)\n\n{}, admin {}.",
        req.id, req.tier, req.name, req.email
    );
    if let Some(id) = &req.event_id {
        let _ = write!(message, "\nFrom onboarding event {id}.");
    }
    let committed = commit_files(dir, prepared, &written, &message)?;
    Ok(Ok(req.onboarded(false, written, lock_lines, committed)))
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
fn open_tenant(dir: &Path, id: &str) -> Result<Repo, Failure> {
    let tree = WorkTree::new(dir)?;
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
            node: repo::Tree::parsed(node),
            value,
        });
        repo.lock_present = true;
    }
    let mut diags = validate::validate(&repo);
    // Never write a lock that every later command would refuse to read.
    diags.extend(files.get(LOCK_FILE).and_then(|t| lockfile::unreadable(t)));
    // Nor a tenant the account has no room for: the quotas `validate` holds the fleet
    // to (the stack count and every other AWS quota it spends), errors only.
    if !diags.iter().any(Diagnostic::is_error) && repo.complete {
        let (_, problems) = crate::quotas::held(&repo);
        diags.extend(problems.into_iter().filter(Diagnostic::is_error));
    }
    (repo, diags)
}

/// With a commit asked for, the commit checked before anything is written.
fn prepare_commit(dir: &Path, to: Option<&CommitTo>) -> Result<Option<commit::Prepared>, Failure> {
    let Some(to) = to else {
        return Ok(None);
    };
    commit::prepare(dir, &to.author, to.branch.as_deref())
        .map(Some)
        .map_err(|e| Failure::Foreign(format!("cannot commit: {e}; nothing was written")))
}

fn commit_files(
    dir: &Path,
    prepared: Option<commit::Prepared>,
    files: &[String],
    message: &str,
) -> Result<Option<commit::Committed>, Failure> {
    let Some(prepared) = prepared else {
        return Ok(None);
    };
    commit::commit(prepared, dir, files, message)
        .map(Some)
        .map_err(|e| Failure::Foreign(format!("the files were written but not committed: {e}")))
}
