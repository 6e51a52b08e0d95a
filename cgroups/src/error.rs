//! Error type of the crate: every variant names the path involved and the
//! operation that failed.

use std::path::PathBuf;
use std::time::Duration;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Errors returned by the cgroup manager.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A system call on a cgroup file or directory failed.
    #[error("failed to {op} {path}: {source}")]
    Io {
        /// What was being done ("read", "remove cgroup", ...).
        op: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A cgroup file held something this crate does not understand.
    #[error("failed to parse {path}: unexpected content {content:?}")]
    Parse {
        /// The file that was read.
        path: PathBuf,
        /// The offending content (line or value).
        content: String,
    },

    /// The cgroup does not exist in any hierarchy.
    #[error("cgroup {path} does not exist (needed to {op})")]
    NotFound {
        /// What was being done.
        op: &'static str,
        /// The cgroups path (relative to the hierarchy roots).
        path: PathBuf,
    },

    /// The cgroups path given to [`crate::Cgroup::open`] is not acceptable.
    #[error("invalid cgroups path {path:?}: {reason}")]
    InvalidPath {
        /// The path as given.
        path: PathBuf,
        /// Why it was rejected.
        reason: &'static str,
    },

    /// The cgroup setup of the machine could not be determined.
    #[error("failed to detect the cgroup setup at {path}: {reason}")]
    Detect {
        /// The cgroup root that was inspected.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },

    /// The operation needs a controller or kernel feature that is missing.
    #[error("cannot {op} {path}: {reason}")]
    Unsupported {
        /// What was being done.
        op: &'static str,
        /// The cgroup (or hierarchy) involved.
        path: PathBuf,
        /// What is missing.
        reason: &'static str,
    },

    /// A state change did not complete in time.
    #[error("timed out after {waited:?} waiting to {op} {path}")]
    Timeout {
        /// What was being done.
        op: &'static str,
        /// The cgroup directory involved.
        path: PathBuf,
        /// How long we waited.
        waited: Duration,
    },

    /// An operation delegated to libcgroups failed.
    #[error("failed to {op} {path}: {source}")]
    Libcgroups {
        /// What was being done ("add task to", "apply resources to", ...).
        op: &'static str,
        /// The cgroups path.
        path: PathBuf,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
}

impl Error {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn parse(path: impl Into<PathBuf>, content: impl Into<String>) -> Self {
        Error::Parse {
            path: path.into(),
            content: content.into(),
        }
    }

    /// The underlying OS error, if this error wraps one.
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            Error::Io { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }
}
