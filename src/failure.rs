//! A command's failure that is not a list of diagnostics (an unreadable file, a usage error, AWS, a guard's refusal), and the exit code it maps to.

use crate::exit::Exit;
use crate::load::LoadError;
use crate::render;

/// A failure that is not a list of diagnostics.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error("cannot write `{0}`")]
    Io(String, #[source] std::io::Error),
    #[error("{0}")]
    Foreign(String),
    #[error("{0}")]
    Usage(String),
    #[error("AWS: {0}")]
    Aws(String),
    #[error("refused: {0}")]
    Refused(String),
}

impl From<render::write::WriteError> for Failure {
    fn from(e: render::write::WriteError) -> Self {
        match e {
            render::write::WriteError::Foreign(_) => Failure::Foreign(e.to_string()),
            render::write::WriteError::Io { path, source } => Failure::Io(path, source),
        }
    }
}

impl Failure {
    /// The exit code of a run that ended in this failure.
    #[must_use]
    pub fn exit(&self) -> Exit {
        match self {
            Failure::Load(LoadError::Io { .. } | LoadError::Git(_)) | Failure::Io(..) => {
                Exit::Internal
            }
            Failure::Load(_) | Failure::Foreign(_) => Exit::Invalid,
            Failure::Usage(_) => Exit::Usage,
            Failure::Aws(_) => Exit::Aws,
            Failure::Refused(_) => Exit::Refused,
        }
    }
}
