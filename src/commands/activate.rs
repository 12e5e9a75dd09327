//! `tenantops activate`: a suspended tenant (by id, or the control plane's activation request) set `active` again, and optionally committed, once the repository with that change validates.

use std::path::Path;

use clap::Args;

use super::lifecycle::{StateArgs, run_state};
use crate::exit::Exit;
use crate::failure::Failure;
use crate::model::State;
use crate::onboard::event::RequestKind;
use crate::output::Output;

#[derive(Debug, Args)]
pub struct ActivateArgs {
    #[command(flatten)]
    pub target: StateArgs,
}

/// Runs `activate`.
///
/// # Errors
/// An unknown tenant, a repository that cannot be read, or a commit or write that fails.
pub fn run(dir: &Path, args: &ActivateArgs, out: &Output) -> Result<Exit, Failure> {
    run_state(
        dir,
        &args.target,
        out,
        RequestKind::Activate,
        State::Active,
        &|_| {
            "the next `tenantops apply` runs its services and enables its API key again".to_owned()
        },
    )
}
