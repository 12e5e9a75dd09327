//! Offboarding: a tenant's `state: offboarding` written (and committed) once the repository with it validates; the next guarded apply deletes its stacks.

use std::collections::BTreeMap;
use std::path::Path;

use super::{
    CommitTo, LOCK_FIXES, Rejected, commit, commit_files, open_tenant, overlaid, prepare_commit,
    relock_into,
};
use crate::failure::Failure;
use crate::files::write_files;
use crate::model::State;
use crate::yaml::{self, NodeValue};

/// What offboarding did.
pub struct Offboarded {
    /// The tenant was already offboarding: nothing was written.
    pub already: bool,
    /// The tenant's manifest.
    pub file: String,
    pub written: Vec<String>,
    /// The lock's changes.
    pub lock: Vec<String>,
    pub committed: Option<commit::Committed>,
}

/// Marks tenant `id` of the repository at `dir` offboarding (and commits with `commit`)
/// once the repository with that change validates.
///
/// # Errors
/// An unknown tenant, a repository that cannot be read, a commit that cannot be made,
/// or files that cannot be written.
pub fn offboard(
    dir: &Path,
    id: &str,
    commit: Option<&CommitTo>,
) -> Result<Result<Offboarded, Rejected>, Failure> {
    let current = open_tenant(dir, id)?;
    let Some(tenant) = current.tenants.iter().find(|t| t.value.id == id) else {
        let (current, _) = crate::repo::open(dir, None)?;
        let hint = crate::suggest::hint(id, current.tenants.iter().map(|t| t.value.id.as_str()));
        return Err(Failure::Usage(format!("there is no tenant `{id}`{hint}")));
    };
    if tenant.value.state == State::Offboarding {
        return Ok(Ok(Offboarded {
            already: true,
            file: tenant.file.clone(),
            written: Vec::new(),
            lock: Vec::new(),
            committed: None,
        }));
    }
    let text = crate::diag::SourceText::text(&current.sources, &tenant.file).unwrap_or_default();
    let new_text = with_state(text, &tenant.node, State::Offboarding);
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
    let message = format!(
        "Offboard tenant {id} ({})\n\nThe next apply with --allow-destroy deletes its stacks; tables with data_retention retain are kept.",
        tenant.value.name
    );
    let committed = commit_files(dir, prepared, &written, &message)?;
    Ok(Ok(Offboarded {
        already: false,
        file: tenant.file.clone(),
        written,
        lock,
        committed,
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
