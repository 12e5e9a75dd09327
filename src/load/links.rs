//! Following symlinks inside the repository: a link is read through while it stays inside the root, and one that leaves it, loops or points at nothing is a located problem, never an absent file.

use super::{Diagnostic, EntryKind, LoadError, MAX_LINK_HOPS, Store};

/// Follows symlinks from `rel` while they stay inside the repository. Returns the
/// final path and its kind, `None` when it does not exist, or a diagnostic when a link
/// leaves the repository or loops.
pub(super) fn resolve(
    store: &dyn Store,
    path: &str,
    rel: &str,
) -> Result<Result<Option<(String, EntryKind)>, Diagnostic>, LoadError> {
    let mut current = path.to_owned();
    // The last link's target, once one was followed.
    let mut followed: Option<String> = None;
    for _ in 0..=MAX_LINK_HOPS {
        match store.kind(&current)? {
            None => {
                // A link to nothing is not an absent file: taking it for one dropped
                // the tenant, and `lock` then released its allocation.
                return Ok(match followed {
                    None => Ok(None),
                    Some(target) => Err(Diagnostic::at_file_start(
                        "dangling-symlink",
                        rel,
                        format!("`{rel}` is a symlink to `{target}`, which does not exist"),
                    )
                    .help("commit the file it points to, or the file itself in place of the link")),
                });
            }
            Some(EntryKind::Symlink) => {
                let target = store.link_target(&current)?;
                followed = Some(target.clone());
                let parent = current.rsplit_once('/').map_or("", |(p, _)| p);
                match join_inside(parent, &target) {
                    Some(next) => current = next,
                    None => {
                        return Ok(Err(Diagnostic::at_file_start(
                "symlink-outside-repository",
                rel,
                            format!("`{rel}` is a symlink to `{target}`, outside the repository"),
                        )
                        .help("tenantops reads only files inside the repository; commit the file itself")));
                    }
                }
            }
            Some(kind) => return Ok(Ok(Some((current, kind)))),
        }
    }
    Ok(Err(Diagnostic::at_file_start(
        "symlink-loop",
        rel,
        format!("`{rel}` is a chain of more than {MAX_LINK_HOPS} symlinks"),
    )))
}

/// `base/target` normalised, or `None` if `target` is absolute or climbs out of the root.
fn join_inside(base: &str, target: &str) -> Option<String> {
    if target.starts_with('/') || target.starts_with('\\') || target.contains(':') {
        return None;
    }
    let mut parts: Vec<&str> = base.split('/').filter(|p| !p.is_empty()).collect();
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    if parts.is_empty() {
        return None;
    }
    Some(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_stay_inside() {
        assert_eq!(
            join_inside("tenants", "../shared/a.yaml").as_deref(),
            Some("shared/a.yaml")
        );
        assert_eq!(join_inside("tenants", "../../etc/passwd"), None);
        assert_eq!(join_inside("tenants", "/etc/passwd"), None);
        assert_eq!(join_inside("", "a/./b.yaml").as_deref(), Some("a/b.yaml"));
    }
}
