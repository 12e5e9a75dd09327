//! How `status` is printed: a table per tenant and stack (human text or Markdown) and a summary line.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::{Service, StackStatus, Status, Sync};

fn services_cell(s: &StackStatus) -> String {
    if let Some(e) = &s.services_error {
        return format!("unreadable: {e}");
    }
    if s.services.is_empty() {
        return "-".to_owned();
    }
    let running: i32 = s.services.iter().map(|v| v.running).sum();
    let desired: i32 = s.services.iter().map(|v| v.desired).sum();
    let mut cell = format!("{running}/{desired} tasks in {} services", s.services.len());
    let unsteady: Vec<String> = s
        .services
        .iter()
        .filter(|v| !v.steady)
        .map(|v| format!("{} {}/{}", v.name, v.running, v.desired))
        .collect();
    if !unsteady.is_empty() {
        let _ = write!(cell, " (not steady: {})", unsteady.join(", "));
    }
    cell
}

fn rows(status: &Status) -> Vec<[String; 7]> {
    let mut rows = Vec::new();
    for t in &status.tenants {
        for s in &t.stacks {
            rows.push([
                t.tenant.clone(),
                t.tier.clone().unwrap_or_else(|| "(removed)".to_owned()),
                t.state.map_or("-", crate::model::State::as_str).to_owned(),
                s.stack.clone(),
                s.status.clone().unwrap_or_else(|| "-".to_owned()),
                s.sync.word().to_owned(),
                services_cell(s),
            ]);
        }
        if t.stacks.is_empty() {
            rows.push([
                t.tenant.clone(),
                t.tier.clone().unwrap_or_default(),
                t.state.map_or("-", crate::model::State::as_str).to_owned(),
                "(no stacks)".to_owned(),
                "-".to_owned(),
                Sync::InSync.word().to_owned(),
                "-".to_owned(),
            ]);
        }
    }
    for s in &status.platform {
        rows.push([
            "(platform)".to_owned(),
            String::new(),
            String::new(),
            s.stack.clone(),
            s.status.clone().unwrap_or_else(|| "-".to_owned()),
            s.sync.word().to_owned(),
            services_cell(s),
        ]);
    }
    rows
}

const HEADER: [&str; 7] = [
    "TENANT", "TIER", "STATE", "STACK", "STATUS", "SYNC", "SERVICES",
];

/// The summary line: tenants by sync, and tasks running.
#[must_use]
pub fn summary(status: &Status) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for t in &status.tenants {
        *counts.entry(t.sync().word()).or_default() += 1;
    }
    let tenants = counts
        .iter()
        .map(|(k, v)| format!("{v} {k}"))
        .collect::<Vec<_>>()
        .join(", ");
    // Each stack once: a pool pack is listed under every tenant it holds (12 stacks
    // were counted as 15).
    let stacks: Vec<&StackStatus> = status
        .all_stacks()
        .map(|s| (s.stack.as_str(), s))
        .collect::<BTreeMap<_, _>>()
        .into_values()
        .collect();
    let services: Vec<&Service> = stacks.iter().flat_map(|s| s.services.iter()).collect();
    let drifted = stacks.iter().filter(|s| s.sync != Sync::InSync).count();
    format!(
        "stage `{}`: {} tenant{} ({}); {} stack{}, {} not in sync; {} of {} services steady",
        status.stage,
        status.tenants.len(),
        crate::output::plural(status.tenants.len()),
        if tenants.is_empty() {
            "none".to_owned()
        } else {
            tenants
        },
        stacks.len(),
        crate::output::plural(stacks.len()),
        drifted,
        services.iter().filter(|s| s.steady).count(),
        services.len()
    )
}

/// A plain-text table.
#[must_use]
pub fn human(status: &Status) -> String {
    let rows = rows(status);
    let mut widths = HEADER.map(str::len);
    for r in &rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let line = |cells: &[&str], out: &mut String| {
        let mut text = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == cells.len() {
                text.push_str(cell);
            } else {
                let _ = write!(text, "{cell:<w$}  ");
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(&HEADER, &mut out);
    for r in &rows {
        line(&r.each_ref().map(String::as_str), &mut out);
    }
    let _ = writeln!(out, "{}", summary(status));
    if !status.headroom.is_empty() {
        let _ = writeln!(
            out,
            "quotas: {}",
            crate::plan::show::headroom(&status.headroom)
        );
    }
    out
}

/// A Markdown table, for a step summary or an issue.
#[must_use]
pub fn markdown(status: &Status) -> String {
    let mut out = format!("### tenantops status\n\n{}\n\n", summary(status));
    if !status.headroom.is_empty() {
        let _ = writeln!(
            out,
            "Quotas: {}\n",
            crate::plan::show::headroom(&status.headroom)
        );
    }
    let _ = writeln!(out, "| {} |", HEADER.join(" | "));
    let _ = writeln!(out, "|{}", " --- |".repeat(HEADER.len()));
    for r in rows(status) {
        let cells: Vec<String> = r.iter().map(|c| c.replace('|', "\\|")).collect();
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
    out
}
