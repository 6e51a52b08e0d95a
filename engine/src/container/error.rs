//! Errors of container operations: each names the container and the step.

use std::path::PathBuf;

/// A container operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    /// A flag value is invalid (Podman reports these before doing anything).
    #[error("{0}")]
    InvalidArgument(String),

    /// The container store failed or refused (no such container, name in
    /// use, ambiguous id prefix, database errors), in its own words.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),

    /// `init` of a container the runtime already has (initialized,
    /// running, paused): Podman's ErrCtrStateInvalid wording.
    #[error("container {0} has already been created in runtime: container state improper")]
    AlreadyCreated(String),

    /// The operation does not apply in the container's state.
    #[error("container {id} is {state}: {what}")]
    BadState {
        id: String,
        state: String,
        what: String,
    },

    /// A file system step failed.
    #[error("container {id}: {op} {path}: {source}")]
    Io {
        id: String,
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The root filesystem could not be prepared or released.
    #[error("container {id}: root filesystem: {source}")]
    Rootfs {
        id: String,
        #[source]
        source: podman_rs_rootfs::Error,
    },

    /// The OCI runtime failed.
    #[error("{0}")]
    Runtime(String),

    /// The monitor process could not be started or failed during start.
    #[error("container {id}: {msg}")]
    Monitor { id: String, msg: String },

    /// The command cannot be run in the container (Podman's exit code 126).
    #[error("{0}: OCI permission denied")]
    CannotInvoke(String),

    /// The command was not found in the container (Podman's exit code 127).
    #[error("{0}: OCI runtime attempted to invoke a command that was not found")]
    CommandNotFound(String),

    /// A failure reported with its exit code by another process (the
    /// monitor): 126 for a command or network that cannot be set up, 127.
    #[error("{msg}")]
    Failed { code: u8, msg: String },

    /// Anything else, already worded.
    #[error("{0}")]
    Other(String),
}

impl ContainerError {
    pub(crate) fn io(
        id: &str,
        op: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> ContainerError {
        let id = id.to_string();
        let path = path.into();
        move |source| ContainerError::Io {
            id,
            op,
            path,
            source,
        }
    }

    /// Whether the error says the container does not exist (Podman exits 1
    /// for those in some verbs, and `--ignore` skips them).
    pub fn is_no_such_container(&self) -> bool {
        matches!(
            self,
            ContainerError::Store(crate::store::StoreError::ContainerNotFound(_))
        )
    }

    /// Whether `init` found the container already created in the runtime
    /// (`init --all` skips those).
    pub fn is_already_created(&self) -> bool {
        matches!(self, ContainerError::AlreadyCreated(_))
    }

    /// The exit code Podman gives this error (125 unless it is about the
    /// container's command).
    pub fn exit_code(&self) -> u8 {
        match self {
            ContainerError::CannotInvoke(_) => 126,
            ContainerError::CommandNotFound(_) => 127,
            ContainerError::Failed { code, .. } => *code,
            _ => 125,
        }
    }
}
