//! `tenantops offboard`: a tenant (by id, or the control plane's offboarding request) marked `offboarding`, and optionally committed, once the repository with that change validates.

use std::path::Path;

use clap::Args;

use super::lifecycle::{StateArgs, run_state};
use crate::exit::Exit;
use crate::failure::Failure;
use crate::model::State;
use crate::onboard::event::RequestKind;
use crate::output::Output;

#[derive(Debug, Args)]
pub struct OffboardArgs {
    #[command(flatten)]
    pub target: StateArgs,
}

/// Runs `offboard`.
///
/// # Errors
/// An unknown tenant, a repository that cannot be read, or a commit or write that fails.
pub fn run(dir: &Path, args: &OffboardArgs, out: &Output) -> Result<Exit, Failure> {
    run_state(
        dir,
        &args.target,
        out,
        RequestKind::Offboarding,
        State::Offboarding,
        &|o| {
            format!(
                "`tenantops apply --allow-destroy` deletes its stacks; then delete `{}` and run `tenantops lock`",
                o.file
            )
        },
    )
}
