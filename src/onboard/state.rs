//! Lifecycle state changes: a tenant set `offboarding`, `suspended` or `active` (and committed) once the repository with that change validates; the next apply carries it out (offboarding deletes its stacks behind the guards).
//!
//! The tenant is named by its id, or by the control plane's request: the tenant whose
//! `control-plane-id` label is the event's `tenantId` (or whose
//! `control-plane-registration-id` is its `tenantRegistrationId`).

use std::collections::BTreeMap;
use std::path::Path;

use super::event::{ControlPlaneEvent, Field};
use super::{
    CONTROL_PLANE_LABEL, CommitTo, LOCK_FIXES, REGISTRATION_LABEL, Rejected, commit, commit_files,
    open_tenant, overlaid, prepare_commit, relock_into,
};
use crate::diag::Diagnostic;
use crate::failure::Failure;
use crate::files::write_files;
use crate::load::Sources;
use crate::model::State;
use crate::yaml::{self, NodeValue};

/// Which tenant a state change is for.
pub enum Target<'a> {
    /// By id (the command line).
    Id(&'a str),
    /// By the control plane's ids, from a request read from `file` (its text is quoted
    /// in diagnostics).
    Event {
        file: &'a str,
        text: &'a str,
        event: &'a ControlPlaneEvent,
    },
}

/// What a state change did.
pub struct StateChanged {
    pub id: String,
    /// The tenant was already in that state: nothing was written.
    pub already: bool,
    /// The tenant's manifest.
    pub file: String,
    pub written: Vec<String>,
    /// The lock's changes.
    pub lock: Vec<String>,
    pub committed: Option<commit::Committed>,
}

/// Sets the state of `target` in the repository at `dir` to `state` (and commits with
/// `commit`) once the repository with that change validates. An offboarding tenant is
/// never suspended or activated again by a request: that is a reviewed edit.
///
/// # Errors
/// An unknown tenant id, a repository that cannot be read, a commit that cannot be
/// made, or files that cannot be written.
pub fn set_state(
    dir: &Path,
    target: &Target<'_>,
    state: State,
    commit: Option<&CommitTo>,
) -> Result<Result<StateChanged, Rejected>, Failure> {
    let id = match target {
        Target::Id(id) => (*id).to_owned(),
        Target::Event { file, text, event } => match by_labels(dir, file, text, event)? {
            Ok(id) => id,
            Err(rejected) => return Ok(Err(rejected)),
        },
    };
    let current = open_tenant(dir, &id)?;
    let Some(tenant) = current.tenants.iter().find(|t| t.value.id == id) else {
        let (current, _) = crate::repo::open(dir, None)?;
        let hint = crate::suggest::hint(&id, current.tenants.iter().map(|t| t.value.id.as_str()));
        return Err(Failure::Usage(format!("there is no tenant `{id}`{hint}")));
    };
    let unchanged = |already: bool| StateChanged {
        id: id.clone(),
        already,
        file: tenant.file.clone(),
        written: Vec::new(),
        lock: Vec::new(),
        committed: None,
    };
    if tenant.value.state == state {
        return Ok(Ok(unchanged(true)));
    }
    if tenant.value.state == State::Offboarding {
        let d = Diagnostic::error(
            "tenant-offboarding",
            &tenant.file,
            tenant.node.span_of("/state"),
            format!(
                "tenant `{id}` is offboarding, so it is not set `{}` by a request",
                state.as_str()
            ),
        )
        .help("undo an offboarding by editing the file in a reviewed commit");
        return Ok(Err(Rejected {
            diagnostics: vec![d],
            sources: current.sources,
        }));
    }
    let text = crate::diag::SourceText::text(&current.sources, &tenant.file).unwrap_or_default();
    let new_text = with_state(text, &tenant.node, state);
    let mut files = BTreeMap::from([(tenant.file.clone(), new_text)]);
    let (after, mut problems) = overlaid(dir, &files)?;
    problems.retain(|d| d.is_error() && !LOCK_FIXES.contains(&d.code));
    if !problems.is_empty() || !after.complete {
        return Ok(Err(Rejected {
            diagnostics: problems,
            sources: after.sources,
        }));
    }
    let lock = relock_into(&after, &mut files);
    let prepared = prepare_commit(dir, commit)?;
    write_files(dir, &files)?;
    let written: Vec<String> = files.keys().cloned().collect();
    let committed = commit_files(
        dir,
        prepared,
        &written,
        &message(&id, &tenant.value.name, state),
    )?;
    Ok(Ok(StateChanged {
        written,
        lock,
        committed,
        ..unchanged(false)
    }))
}

/// The commit message of a state change.
fn message(id: &str, name: &str, state: State) -> String {
    match state {
        State::Offboarding => format!(
            "Offboard tenant {id} ({name})\n\nThe next apply with --allow-destroy deletes its stacks; tables with data_retention retain are kept."
        ),
        State::Suspended => format!(
            "Suspend tenant {id} ({name})\n\nThe next apply scales its services to zero and disables its API key."
        ),
        State::Active => format!(
            "Activate tenant {id} ({name})\n\nThe next apply runs its services and enables its API key again."
        ),
    }
}

/// The id of the tenant the control plane's request names: by its `control-plane-id`
/// label (the event's `tenantId`), else its `control-plane-registration-id` (the
/// event's `tenantRegistrationId`); a located refusal when no tenant has either.
fn by_labels(
    dir: &Path,
    file: &str,
    text: &str,
    event: &ControlPlaneEvent,
) -> Result<Result<String, Rejected>, Failure> {
    let (repo, _) = crate::repo::open(dir, None)?;
    let has = |label: &str, field: Option<&Field>| {
        field.and_then(|f| {
            repo.tenants
                .iter()
                .find(|t| t.value.labels.get(label) == Some(&f.value))
                .map(|t| t.value.id.clone())
        })
    };
    if let Some(id) = has(CONTROL_PLANE_LABEL, Some(&event.tenant_id))
        .or_else(|| has(REGISTRATION_LABEL, event.registration_id.as_ref()))
    {
        return Ok(Ok(id));
    }
    let mut sources = Sources::default();
    sources.add(file.to_owned(), text.to_owned());
    let d = Diagnostic::error(
        "unknown-tenant",
        file,
        event.tenant_id.span,
        format!(
            "no tenant of this repository is control-plane tenant `{}` (no `{CONTROL_PLANE_LABEL}` label with that value{})",
            event.tenant_id.value,
            event
                .registration_id
                .as_ref()
                .map_or_else(String::new, |r| format!(", and no `{REGISTRATION_LABEL}` `{}`", r.value))
        ),
    )
    .help("a tenant onboarded by hand gets the label `control-plane-id: <tenantId>` to be found by the control plane's requests");
    Ok(Err(Rejected {
        diagnostics: vec![d],
        sources,
    }))
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
