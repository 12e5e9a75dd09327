//! `tenantops completions`: the shell completion script (`clap_complete`).

use clap::Args;

use crate::exit::Exit;

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum, value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

/// Prints the completion script of the command line `cmd` for the shell asked for.
#[must_use]
pub fn run(args: &CompletionsArgs, mut cmd: clap::Command) -> Exit {
    // Into memory first: clap_complete panics on a failed write (a closed pipe).
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "tenantops", &mut script);
    crate::stdio::write_out_bytes(&script);
    Exit::Success
}
