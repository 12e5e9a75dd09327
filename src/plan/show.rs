//! How plans are printed: human text and Markdown (pull-request comments, step summaries); JSON is the `Plan` serialized.

use std::fmt::Write as _;

use super::{Action, Change, Plan};
use crate::aws::ResourceChange;

/// `+` add, `~` modify, `-` remove, `!` replace.
fn resource_symbol(r: &ResourceChange) -> char {
    match (r.action.as_str(), r.replacement.as_deref()) {
        ("Add" | "Import", _) => '+',
        ("Remove", _) => '-',
        (_, Some("True" | "Conditional")) => '!',
        _ => '~',
    }
}

fn resource_note(r: &ResourceChange) -> String {
    let what = match (r.action.as_str(), r.replacement.as_deref()) {
        ("Modify", Some("True")) => "replaced",
        ("Modify", Some("Conditional")) => "may be replaced",
        _ => return String::new(),
    };
    let mut note = format!(" ({what}");
    if let Some(cause) = &r.cause {
        let _ = write!(note, ": `{cause}` changes");
    }
    if let Some(name) = &r.custom_name {
        let _ = write!(
            note,
            "; it has a custom `{name}`, so CloudFormation refuses to replace it"
        );
    }
    note.push(')');
    note
}

fn owner(c: &Change) -> String {
    match (&c.tenant, &c.tier) {
        (Some(t), _) if c.wave > 0 => format!("tenant {t}, wave {}", c.wave),
        (Some(t), _) => format!("tenant {t}"),
        (None, Some(tier)) => format!("tier {tier}"),
        (None, None) => c.kind.noun(1).to_owned(),
    }
}

/// The one-line count: `2 to create, 1 to update, ...`.
#[must_use]
pub fn counts(plan: &Plan) -> String {
    let mut parts = Vec::new();
    for (action, word) in [
        (Action::Create, "to create"),
        (Action::Update, "to update"),
        (Action::Recreate, "to recreate"),
        (Action::Delete, "to delete"),
        (Action::Check, "to check"),
    ] {
        let n = plan.count(action);
        if n > 0 {
            parts.push(format!("{n} {word}"));
        }
    }
    if parts.is_empty() {
        parts.push("no changes".to_owned());
    }
    parts.push(format!("{} unchanged", plan.unchanged));
    let destroyed: usize = plan.changes.iter().map(|c| c.destroys.len()).sum();
    if destroyed > 0 {
        parts.push(format!(
            "{destroyed} resource{} holding data or identity removed or replaced",
            if destroyed == 1 { "" } else { "s" }
        ));
    }
    parts.join(", ")
}

/// One destroyed resource, as the plan lists it.
fn destroyed(d: &crate::plan::Destroyed) -> String {
    format!(
        "destroys `{}` ({}): {}, {} by its {} `{}`",
        d.logical_id,
        d.resource_type,
        d.how,
        if d.kept {
            "the old one kept"
        } else {
            "the old one deleted"
        },
        if d.how == "removed" {
            "DeletionPolicy"
        } else {
            "UpdateReplacePolicy"
        },
        d.policy
    )
}

/// The plan as terminal text.
#[must_use]
pub fn human(plan: &Plan) -> String {
    let mut out = String::new();
    for c in &plan.changes {
        let _ = write!(out, "{} {} ({})", c.action.symbol(), c.stack, owner(c));
        if c.action == Action::Create && !c.resources.is_empty() {
            let _ = write!(out, ": {} resources", c.resources.len());
        }
        if let Some(reason) = &c.reason {
            let _ = write!(out, ": {reason}");
        }
        out.push('\n');
        if c.action != Action::Create {
            for r in &c.resources {
                let _ = writeln!(
                    out,
                    "    {} {} {}{}",
                    resource_symbol(r),
                    r.logical_id,
                    r.resource_type,
                    resource_note(r)
                );
            }
        }
        for d in &c.destroys {
            let _ = writeln!(out, "    {}", destroyed(d));
        }
    }
    for note in &plan.notes {
        let _ = writeln!(out, "note: {note}");
    }
    if !plan.headroom.is_empty() {
        let _ = writeln!(out, "quotas: {}", headroom(&plan.headroom));
    }
    let _ = writeln!(out, "plan against {}: {}", plan.against, counts(plan));
    out
}

/// The quotas a plan shows, one line: "Cloud Map namespaces per Region 41 of 50 (was
/// 40)", nearest their limit first.
#[must_use]
pub fn headroom(quotas: &[super::Headroom]) -> String {
    quotas
        .iter()
        .map(|h| {
            let was = h.was.map(|w| format!(" (was {w})")).unwrap_or_default();
            format!("{} {} of {}{was}", h.name, h.used, h.limit)
        })
        .collect::<Vec<_>>()
        .join(" · ")
}

/// The plan as Markdown, for a pull-request comment or `$GITHUB_STEP_SUMMARY`.
#[must_use]
pub fn markdown(plan: &Plan) -> String {
    let mut out = format!(
        "### tenantops plan against {}\n\n{}\n",
        plan.against,
        counts(plan)
    );
    for note in &plan.notes {
        let _ = writeln!(out, "\n> **Note:** {note}");
    }
    if !plan.headroom.is_empty() {
        let _ = writeln!(out, "\nQuotas: {}", headroom(&plan.headroom));
    }
    if plan.changes.is_empty() {
        return out;
    }
    out.push_str("\n| | stack | owner | resources |\n| --- | --- | --- | --- |\n");
    for c in &plan.changes {
        let mut res: Vec<String> = c
            .resources
            .iter()
            .map(|r| {
                format!(
                    "`{}` {}{}",
                    resource_symbol(r),
                    r.logical_id,
                    resource_note(r)
                )
            })
            .collect();
        if c.action == Action::Create {
            res = vec![format!("{} new", c.resources.len())];
        }
        if let Some(reason) = &c.reason {
            res.push(reason.clone());
        }
        res.extend(c.destroys.iter().map(|d| format!("**{}**", destroyed(d))));
        let _ = writeln!(
            out,
            "| `{}` | `{}` | {} | {} |",
            c.action.symbol(),
            c.stack,
            owner(c),
            res.join("<br>").replace('|', "\\|")
        );
    }
    out
}
