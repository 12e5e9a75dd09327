//! The loaded repository as typed documents: each file parsed with positions, checked against its schema, and decoded.

use std::collections::{BTreeMap, BTreeSet};

use serde::de::DeserializeOwned;

use crate::diag::Diagnostic;
use crate::load::{RawRepo, Sources};
use crate::model::{Lock, Platform, Tenant, Tier};
use crate::schema::{self, Kind};
use crate::yaml::{self, Node};

/// A manifest that passed its schema: its path, its positioned tree and its value.
#[derive(Debug)]
pub struct Doc<T> {
    pub file: String,
    pub node: Tree,
    pub value: T,
}

/// A document's positioned tree: parsed with the document, or, for a lock the fast
/// reader took ([`crate::lockfile::text::read_canonical`]), parsed from its text the first
/// time a diagnostic needs a position.
pub struct Tree {
    node: std::sync::OnceLock<Node>,
    text: String,
}

impl Tree {
    /// A tree parsed already.
    #[must_use]
    pub fn parsed(node: Node) -> Tree {
        Tree {
            node: std::sync::OnceLock::from(node),
            text: String::new(),
        }
    }

    /// The tree of `text` (a document known to parse), parsed when first used.
    #[must_use]
    pub fn deferred(text: String) -> Tree {
        Tree {
            node: std::sync::OnceLock::new(),
            text,
        }
    }
}

impl std::ops::Deref for Tree {
    type Target = Node;

    fn deref(&self) -> &Node {
        self.node
            .get_or_init(|| yaml::parse(&self.text).unwrap_or_else(|_| Node::null()))
    }
}

impl std::fmt::Debug for Tree {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.node.get() {
            Some(node) => node.fmt(f),
            None => f.write_str("Tree(not parsed yet)"),
        }
    }
}

/// The repository, every manifest that loaded cleanly decoded into the model.
#[derive(Debug, Default)]
pub struct Repo {
    pub sources: Sources,
    pub platform: Option<Doc<Platform>>,
    /// Tiers by name (the file stem).
    pub tiers: BTreeMap<String, Doc<Tier>>,
    /// Every tier file's name, loaded or not.
    pub tier_names: BTreeSet<String>,
    /// Tenants in file-name order.
    pub tenants: Vec<Doc<Tenant>>,
    pub lock: Option<Doc<Lock>>,
    /// Tenant files that are YAML but failed their schema, kept so the field-level
    /// rules (tier exists, email, duplicates) still report in the same run.
    pub partial_tenants: Vec<(String, Node)>,
    /// Whether the lock file exists (it may exist and still fail to load).
    pub lock_present: bool,
    /// Whether every file loaded, parsed and passed its schema. Fleet-wide rules that
    /// would be misled by a missing file (lock consistency, "no tenants") need this.
    pub complete: bool,
    /// Only some tenant files were read (`render --tenant`); see `RawRepo::subset`.
    pub subset: bool,
    /// The repository's own templates: name (relative to `templates/`) → source path.
    pub templates: BTreeMap<String, String>,
    /// With `validate --base`, the tenant files that exist at the base revision: a rule
    /// that finds two files in conflict blames the one the change adds.
    pub established: Option<BTreeSet<String>>,
}

/// The stem of `tiers/basic.yaml` or `tenants/acme.yaml`.
#[must_use]
pub fn file_stem(path: &str) -> &str {
    let name = path.rsplit('/').next().unwrap_or(path);
    name.strip_suffix(".yaml").unwrap_or(name)
}

/// Parses and schema-checks every file of `raw`.
#[must_use]
pub fn decode(raw: RawRepo, mut diags: Vec<Diagnostic>) -> (Repo, Vec<Diagnostic>) {
    let mut complete = diags.iter().all(|d| !d.is_error()) && raw.tenants_complete;
    let mut repo = Repo {
        lock_present: raw.lock.is_some() || raw.lock_unreadable,
        subset: raw.subset,
        tier_names: raw.tier_names.clone(),
        ..Repo::default()
    };
    let mut partial_tenants = Vec::new();
    let mut take = |id: usize, kind: Kind, result: Decoded, diags: &mut Vec<Diagnostic>| {
        let path = &raw.sources.get(id).path;
        match result {
            Ok((node, json)) => Some((path.clone(), node, json)),
            Err((node, mut errors)) => {
                complete = false;
                diags.append(&mut errors);
                if let (Kind::Tenant, Some(node)) = (kind, node) {
                    partial_tenants.push((path.clone(), node));
                }
                None
            }
        }
    };
    let one = |id: usize, kind: Kind| {
        let file = raw.sources.get(id);
        decode_one(kind, &file.path, &file.text)
    };
    let platform = raw
        .platform
        .and_then(|id| take(id, Kind::Platform, one(id, Kind::Platform), &mut diags));
    // The lock as `tenantops lock` writes it is read without the positioned parser.
    let fast_lock = raw.lock.and_then(|id| {
        let file = raw.sources.get(id);
        crate::lockfile::text::read_canonical(&file.text).map(|value| Doc {
            file: file.path.clone(),
            node: Tree::deferred(file.text.clone()),
            value,
        })
    });
    let lock = raw
        .lock
        .filter(|_| fast_lock.is_none())
        .and_then(|id| take(id, Kind::Lock, one(id, Kind::Lock), &mut diags));
    let tiers: Vec<_> = raw
        .tiers
        .iter()
        .filter_map(|&id| take(id, Kind::Tier, one(id, Kind::Tier), &mut diags))
        .collect();
    let decoded = parallel_map(&raw.tenants, |&id| one(id, Kind::Tenant));
    let tenants: Vec<_> = raw
        .tenants
        .iter()
        .zip(decoded)
        .filter_map(|(&id, result)| take(id, Kind::Tenant, result, &mut diags))
        .collect();

    repo.partial_tenants = partial_tenants;
    repo.platform = platform.and_then(|p| typed(p, &mut diags));
    repo.lock = fast_lock.or_else(|| lock.and_then(|l| typed(l, &mut diags)));
    for tier in tiers {
        if let Some(doc) = typed::<Tier>(tier, &mut diags) {
            repo.tiers.insert(file_stem(&doc.file).to_owned(), doc);
        }
    }
    repo.tenants = tenants
        .into_iter()
        .filter_map(|t| typed(t, &mut diags))
        .collect();
    repo.complete = complete && diags.iter().all(|d| !d.is_error()) && repo.platform.is_some();
    repo.templates = raw
        .templates
        .iter()
        .map(|(name, &id)| (name.clone(), raw.sources.get(id).path.clone()))
        .collect();
    repo.sources = raw.sources;
    (repo, diags)
}

/// A file parsed and schema-checked: its tree and JSON, or its problems (with the tree
/// when it parsed).
type Decoded = Result<(Node, serde_json::Value), (Option<Node>, Vec<Diagnostic>)>;

/// `f` over `items` on every core, results in order. Decoding ten thousand tenant files
/// is the bulk of `validate`, rendering their stacks the bulk of `render`, and each item
/// is independent.
pub(crate) fn parallel_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    if threads < 2 || items.len() < 64 {
        return items.iter().map(f).collect();
    }
    let chunk = items.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| scope.spawn(|| part.iter().map(&f).collect::<Vec<R>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| {
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    })
}

/// Parses one file and checks it against its schema.
fn decode_one(kind: Kind, path: &str, text: &str) -> Decoded {
    if let Some(line) = crate::lockfile::merge::first_marker(text) {
        return Err((None, vec![merge_conflict(kind, path, line)]));
    }
    let node = match yaml::parse(text) {
        Ok(node) => node,
        Err(e) => {
            let help = e.help.unwrap_or_else(|| {
                "check the indentation, quoting and brackets here and on the line before".to_owned()
            });
            let d = Diagnostic::error("yaml-syntax", path, e.span, e.message).help(help);
            return Err((None, vec![d]));
        }
    };
    if matches!(node.value, yaml::NodeValue::Null) {
        return Err((
            None,
            vec![
                Diagnostic::error("empty-file", path, node.span, format!("`{path}` is empty"))
                    .help(format!(
                        "write the {} as `key: value` lines, or delete the file",
                        kind.noun()
                    )),
            ],
        ));
    }
    let json = node.to_json();
    let errors = schema::check(kind, path, &node, &json);
    if errors.is_empty() {
        Ok((node, json))
    } else {
        Err((Some(node), errors))
    }
}

/// A file git left with conflict markers: one error at the first marker, whatever
/// else the markers break, with the way out for this kind of file.
fn merge_conflict(kind: Kind, path: &str, line: usize) -> Diagnostic {
    let d = Diagnostic::error(
        "merge-conflict",
        path,
        yaml::Span::new(line, 1, 7),
        format!("`{path}` has unresolved merge conflicts (git's markers, from this line)"),
    );
    if kind == Kind::Lock {
        d.help("run `tenantops lock --base <the deployed revision, e.g. origin/main>`: it merges both sides' allocations, keeps every one the deployed revision holds, and gives a tenant whose slot the other side took there a new priority")
    } else {
        d.help(format!(
            "resolve it in git: keep one side of each conflict or combine them into one {}, and remove the markers",
            kind.noun()
        ))
    }
}

fn typed<T: DeserializeOwned>(
    (file, node, json): (String, Node, serde_json::Value),
    diags: &mut Vec<Diagnostic>,
) -> Option<Doc<T>> {
    match serde_json::from_value::<T>(json) {
        Ok(value) => Some(Doc {
            file,
            node: Tree::parsed(node),
            value,
        }),
        Err(e) => {
            // The schema is generated from T, so this means the two disagree: say so.
            diags.push(Diagnostic::error(
                "decode",
                &file,
                node.span,
                format!("cannot read `{file}`: {e}"),
            ));
            None
        }
    }
}

/// Loads and decodes the repository at `root`, from the work tree or a revision.
///
/// # Errors
/// A revision that does not resolve, or a read that fails.
pub fn open(
    root: &std::path::Path,
    rev: Option<&str>,
) -> Result<(Repo, Vec<Diagnostic>), crate::load::LoadError> {
    open_some(root, rev, None)
}

/// Like [`open`]; with `tenants`, reads only those tenant files.
///
/// # Errors
/// As [`open`].
pub fn open_some(
    root: &std::path::Path,
    rev: Option<&str>,
    tenants: Option<&[String]>,
) -> Result<(Repo, Vec<Diagnostic>), crate::load::LoadError> {
    let load = |store: &dyn crate::load::Store| match tenants {
        None => crate::load::load(store),
        Some(ids) => crate::load::load_tenants(store, ids),
    };
    let (raw, diags) = match rev {
        None => load(&crate::load::WorkTree::new(root)?)?,
        Some(rev) => {
            let revision = crate::load::GitRevision::open(root, rev)?;
            load(&revision.store()?)?
        }
    };
    Ok(decode(raw, diags))
}
