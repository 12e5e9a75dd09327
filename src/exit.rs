//! The process exit codes, one per outcome, documented in `--help` and the README.

use std::fmt::Write as _;

/// How a run ended. The numbers are part of the interface: scripts and CI depend on them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// Everything checked out (warnings may have been printed).
    Success = 0,
    /// The repository is invalid: a manifest, the lock, or a revision named on the
    /// command line. Nothing was written.
    Invalid = 1,
    /// The command line itself is wrong (unknown flag, missing argument).
    Usage = 2,
    /// `--check` found a generated file out of date (`tenants.lock`, `schemas/`).
    Stale = 3,
    /// `plan --detailed-exitcode`: the plan has changes.
    Changes = 4,
    /// `apply`: some stacks failed (or were skipped because of a failure); the others
    /// were applied. The report says which.
    Failed = 5,
    /// A guard refused the run before anything changed: deletions without
    /// `--allow-destroy` or over `--max-destroy`, the stage lock held by another apply,
    /// or live state that changed after the plan was confirmed.
    Refused = 6,
    /// AWS could not be reached or refused a read (credentials, endpoint, permissions)
    /// before anything changed.
    Aws = 7,
    /// tenantops failed for a reason that is not the input: an I/O error, or a bug.
    Internal = 10,
}

impl Exit {
    pub const ALL: [Exit; 9] = [
        Exit::Success,
        Exit::Invalid,
        Exit::Usage,
        Exit::Stale,
        Exit::Changes,
        Exit::Failed,
        Exit::Refused,
        Exit::Aws,
        Exit::Internal,
    ];

    #[must_use]
    pub fn code(self) -> i32 {
        self as i32
    }

    /// One line for `--help` and the README table.
    #[must_use]
    pub fn meaning(self) -> &'static str {
        match self {
            Exit::Success => "success: no errors (warnings may have been printed)",
            Exit::Invalid => {
                "invalid input: a manifest, template, the lock or a revision is wrong; nothing was written"
            }
            Exit::Usage => "usage error: the command line is wrong",
            Exit::Stale => "out of date: `--check` found `tenants.lock` or `schemas/` stale",
            Exit::Changes => {
                "changes present (`--detailed-exitcode`): `plan` has changes, `status` drift"
            }
            Exit::Failed => {
                "partly failed: `apply` applied some stacks, others failed or were skipped"
            }
            Exit::Refused => {
                "refused by a deletion guard, the stage lock or moved live state; nothing changed"
            }
            Exit::Aws => {
                "AWS unreachable or refused a read (credentials, endpoint, permissions); nothing changed"
            }
            Exit::Internal => "internal error: I/O failure or a bug in tenantops",
        }
    }
}

/// The exit-code table shown at the end of `--help`.
#[must_use]
pub fn help_table() -> String {
    let mut out = String::from("Exit codes:\n");
    for exit in Exit::ALL {
        let _ = writeln!(out, "  {:>2}  {}", exit.code(), exit.meaning());
    }
    out
}
