//! How plans and apply reports are printed: human text, Markdown (pull-request comments, step summaries) and JSON.

use std::fmt::Write as _;
use std::time::Duration;

use super::apply::{Outcome, Report};
use super::{Action, Change, Plan};
use crate::aws::ResourceChange;

/// `+` add, `~` modify, `-` remove, `!` replace.
fn resource_symbol(r: &ResourceChange) -> char {
    match (r.action.as_str(), r.replacement.as_deref()) {
        ("Add" | "Import", _) => '+',
        ("Remove", _) => '-',
        (_, Some("True")) => '!',
        _ => '~',
    }
}

fn resource_note(r: &ResourceChange) -> &'static str {
    match (r.action.as_str(), r.replacement.as_deref()) {
        ("Modify", Some("True")) => " (replaced)",
        ("Modify", Some("Conditional")) => " (may be replaced)",
        _ => "",
    }
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
    parts.join(", ")
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
    }
    let _ = writeln!(out, "plan against {}: {}", plan.against, counts(plan));
    out
}

/// The plan as Markdown, for a pull-request comment or `$GITHUB_STEP_SUMMARY`.
#[must_use]
pub fn markdown(plan: &Plan) -> String {
    let mut out = format!(
        "### tenantops plan against {}\n\n{}\n",
        plan.against,
        counts(plan)
    );
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

/// The apply summary table (results that did something, or failed).
#[must_use]
pub fn report_human(report: &Report) -> String {
    let mut out = String::new();
    let width = report
        .results
        .iter()
        .map(|r| r.stack.len())
        .max()
        .unwrap_or(5);
    let _ = writeln!(
        out,
        "{:<12} {:<width$} {:<9} {:<10} {:>9}",
        "tenant", "stack", "action", "result", "duration"
    );
    for r in &report.results {
        let _ = write!(
            out,
            "{:<12} {:<width$} {:<9} {:<10} {:>8.1}s",
            r.tenant.as_deref().unwrap_or("-"),
            r.stack,
            r.action.word(),
            r.result.word(),
            Duration::from_millis(r.duration_ms).as_secs_f64()
        );
        if let Some(reason) = &r.reason {
            let _ = write!(out, "  {reason}");
        }
        out.push('\n');
        if !r.retained.is_empty() {
            let _ = writeln!(out, "{:<12} kept tables: {}", "", r.retained.join(", "));
        }
    }
    out
}

/// The apply summary's last line.
#[must_use]
pub fn report_line(report: &Report) -> String {
    let mut parts = Vec::new();
    for outcome in [
        Outcome::Created,
        Outcome::Updated,
        Outcome::Recreated,
        Outcome::Deleted,
        Outcome::Unchanged,
        Outcome::Failed,
        Outcome::Skipped,
    ] {
        let n = report.count(outcome);
        if n > 0 {
            parts.push(format!("{n} {}", outcome.word().to_lowercase()));
        }
    }
    format!(
        "apply: {} in {:.1}s",
        parts.join(", "),
        Duration::from_millis(report.duration_ms).as_secs_f64()
    )
}

/// The apply summary as Markdown.
#[must_use]
pub fn report_markdown(report: &Report) -> String {
    let mut out = format!(
        "### tenantops apply\n\n{}\n\n| tenant | stack | action | result | duration | note |\n| --- | --- | --- | --- | --- | --- |\n",
        report_line(report)
    );
    for r in &report.results {
        let mut note = r.reason.clone().unwrap_or_default();
        if !r.retained.is_empty() {
            let _ = write!(note, " kept tables: {}", r.retained.join(", "));
        }
        let _ = writeln!(
            out,
            "| {} | `{}` | {} | {} | {:.1}s | {} |",
            r.tenant.as_deref().unwrap_or("-"),
            r.stack,
            r.action.word(),
            r.result.word(),
            Duration::from_millis(r.duration_ms).as_secs_f64(),
            note.trim().replace('|', "\\|")
        );
    }
    out
}
