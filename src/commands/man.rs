//! `tenantops man`: the man page, or one page per command written into a directory (`clap_mangen`).

use std::path::PathBuf;

use clap::Args;

use crate::exit::Exit;
use crate::failure::Failure;

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write `tenantops.1` and a `tenantops-<command>.1` page per command into DIR
    /// instead of printing `tenantops.1`.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// Runs `man` for the command line `cmd`.
///
/// # Errors
/// Pages that cannot be written.
pub fn run(args: &ManArgs, cmd: clap::Command) -> Result<Exit, Failure> {
    let Some(dir) = &args.out else {
        let mut page = Vec::new();
        clap_mangen::Man::new(cmd)
            .render(&mut page)
            .map_err(|e| Failure::Io("the man page".to_owned(), e))?;
        crate::stdio::write_out_bytes(&page);
        return Ok(Exit::Success);
    };
    std::fs::create_dir_all(dir).map_err(|e| Failure::Io(dir.display().to_string(), e))?;
    clap_mangen::generate_to(cmd, dir).map_err(|e| Failure::Io(dir.display().to_string(), e))?;
    crate::outln!("wrote the man pages into `{}`", dir.display());
    Ok(Exit::Success)
}
