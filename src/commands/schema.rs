//! `tenantops schema`: writes or checks the JSON Schemas in `schemas/` generated from tenantops' types.

use std::collections::BTreeMap;
use std::path::Path;

use clap::Args;

use crate::exit::Exit;
use crate::failure::Failure;
use crate::files::write_files;
use crate::output::{Format, Output};
use crate::schema::Kind;

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

/// Runs `schema`.
///
/// # Errors
/// Schemas that cannot be written.
pub fn run(dir: &Path, args: &SchemaArgs, out: &Output) -> Result<Exit, Failure> {
    let schemas = dir.join("schemas");
    let mut stale = Vec::new();
    let mut changed = BTreeMap::new();
    for kind in Kind::ALL {
        let path = schemas.join(kind.file_name());
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
    write_files(dir, &changed)?;
    let written: Vec<String> = changed.into_keys().collect();
    if out.format == Format::Json {
        crate::outln!("{}", serde_json::json!({"ok": true, "written": written}));
    } else if args.check {
        crate::outln!("ok: `schemas/` is up to date");
    } else if written.is_empty() {
        crate::outln!("ok: `schemas/` was already up to date");
    } else {
        for rel in &written {
            crate::outln!("wrote `{rel}`");
        }
    }
    Ok(Exit::Success)
}
