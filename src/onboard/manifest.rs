//! A new tenant's manifest text (each field on a fixed line), and problems found in it pointed back at the event field they came from.

use std::fmt::Write as _;

use super::{Origin, Request};
use crate::diag::Diagnostic;
use crate::model::Compute;
use crate::yaml;

/// A YAML scalar for `text`: plain when that reads back as the same string, else
/// double-quoted (JSON string syntax, which YAML reads the same way).
fn scalar(text: &str) -> String {
    if yaml::needs_quotes(text) {
        serde_json::to_string(text).unwrap_or_default()
    } else {
        text.to_owned()
    }
}

/// The manifest of a new tenant (with `compute` as its override when the request chose
/// one). The line of each field is fixed (see [`FIELD_LINES`]).
pub(super) fn manifest(req: &Request, compute: Option<Compute>) -> String {
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
    if let Some(c) = compute {
        let _ = write!(text, "overrides:\n  compute: {}\n", compute_word(c));
    }
    text
}

/// A compute's name in manifests.
pub(super) fn compute_word(c: Compute) -> &'static str {
    match c {
        Compute::Fargate => "fargate",
        Compute::Ec2 => "ec2",
    }
}

/// Which field each line of [`manifest`]'s output holds.
const FIELD_LINES: [(usize, &str); 4] = [(2, "id"), (3, "name"), (4, "tier"), (5, "email")];

/// Points a problem found in the generated manifest at the event field it came from.
pub(super) fn relocate(diags: &mut [Diagnostic], new_file: &str, origin: Option<&Origin>) {
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
