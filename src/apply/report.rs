//! What an apply did: each stack's outcome and the run's report, printed as a human table, one summary line, or Markdown.

use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use crate::plan::Action;
use crate::stacks::StackKind;

/// How a stack's work ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Created,
    Updated,
    Recreated,
    Deleted,
    /// Nothing to do after all (the stack converged meanwhile, or CloudFormation found
    /// nothing to change and the tags were already right).
    Unchanged,
    /// Deployed as wanted before; its services were checked and seen steady, and that
    /// is now recorded (the run that changed it had not seen it).
    Steady,
    Failed,
    /// Not attempted: a producer failed, or an earlier wave failed too often.
    Skipped,
}

impl Outcome {
    #[must_use]
    pub fn word(self) -> &'static str {
        match self {
            Outcome::Created => "created",
            Outcome::Updated => "updated",
            Outcome::Recreated => "recreated",
            Outcome::Deleted => "deleted",
            Outcome::Unchanged => "unchanged",
            Outcome::Steady => "steady",
            Outcome::Failed => "FAILED",
            Outcome::Skipped => "skipped",
        }
    }
}

/// One stack's result.
#[derive(Clone, Debug, Serialize)]
pub struct StackResult {
    pub stack: String,
    pub kind: StackKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    pub wave: u32,
    pub action: Action,
    pub result: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub duration_ms: u64,
    /// Tables of a deleted stack that CloudFormation kept (`DeletionPolicy: Retain`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub retained: Vec<String>,
}

/// The whole run's results.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    pub results: Vec<StackResult>,
    pub duration_ms: u64,
}

impl Report {
    #[must_use]
    pub fn failed(&self) -> usize {
        self.results
            .iter()
            .filter(|r| r.result == Outcome::Failed)
            .count()
    }

    #[must_use]
    pub fn count(&self, outcome: Outcome) -> usize {
        self.results.iter().filter(|r| r.result == outcome).count()
    }
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
        Outcome::Steady,
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
