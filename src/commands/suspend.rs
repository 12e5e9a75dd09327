//! `tenantops suspend`: a tenant (by id, or the control plane's deactivation request) set `suspended`, and optionally committed, once the repository with that change validates.

use std::path::Path;

use clap::Args;

use super::lifecycle::{StateArgs, run_state};
use crate::exit::Exit;
use crate::failure::Failure;
use crate::model::State;
use crate::onboard::event::RequestKind;
use crate::output::Output;

#[derive(Debug, Args)]
pub struct SuspendArgs {
    #[command(flatten)]
    pub target: StateArgs,
}

/// Runs `suspend`.
///
/// # Errors
/// An unknown tenant, a repository that cannot be read, or a commit or write that fails.
pub fn run(dir: &Path, args: &SuspendArgs, out: &Output) -> Result<Exit, Failure> {
    run_state(
        dir,
        &args.target,
        out,
        RequestKind::Deactivate,
        State::Suspended,
        &|_| {
            "the next `tenantops apply` scales its services to zero and disables its API key"
                .to_owned()
        },
    )
}
