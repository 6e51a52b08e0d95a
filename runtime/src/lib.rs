//! The OCI runtime of podman-rs.
//!
//! [`Runtime`] is the interface the engine uses to run an OCI bundle. Two
//! implementations exist: [`Builtin`], which runs containers in-process with
//! youki's `libcontainer`, and [`External`], which hands the same bundle to a
//! runc-compatible binary (crun, runc, or podman-rs itself).
//!
//! The functions behind `podman-rs runtime …` (the runc-compatible command
//! line) live here too, so that the CLI crate only parses flags.

mod builtin;
pub mod exe_guard;
mod exec_process;
mod external;
pub mod features;
mod reach;
mod rlimits;
pub mod rootless;
mod seccomp_load;
mod signals;
pub mod spec;
pub mod state;
mod userns_join;
pub mod validate;

use std::path::{Path, PathBuf};

pub use builtin::Builtin;
pub use external::External;
pub use state::{ContainerState, Status};

/// Errors of the runtime layer. Each says what failed and for which container or path.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("container {0:?} does not exist")]
    NotFound(String),
    #[error("container {0:?} already exists")]
    AlreadyExists(String),
    #[error(
        "invalid container id {0:?}: use letters, digits, '_', '-', '.' (not starting with '.')"
    )]
    InvalidId(String),
    #[error("bundle {path}: {msg}")]
    Bundle { path: PathBuf, msg: String },
    #[error("config.json: unsupported field {0:?}")]
    Unsupported(String),
    #[error("config.json: {0}")]
    InvalidSpec(String),
    #[error("rlimit {name}: {msg}")]
    Rlimit { name: String, msg: String },
    #[error("container {id:?} is {status}: {op} needs {needed}")]
    WrongState {
        id: String,
        status: Status,
        op: &'static str,
        needed: &'static str,
    },
    #[error("unknown signal {0:?}")]
    BadSignal(String),
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Libcontainer(String),
    #[error("{what}: {source}")]
    Sys {
        what: String,
        #[source]
        source: nix::Error,
    },
    #[error("external runtime {binary}: {msg}")]
    External { binary: PathBuf, msg: String },
}

pub type Result<T> = std::result::Result<T, RuntimeError>;

impl RuntimeError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        RuntimeError::Io {
            op,
            path: path.into(),
            source,
        }
    }
    pub(crate) fn sys(what: impl Into<String>, source: nix::Error) -> Self {
        RuntimeError::Sys {
            what: what.into(),
            source,
        }
    }
}

/// Options of `create` (and of `run`, which is create + start + wait).
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    pub bundle: PathBuf,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    pub no_pivot: bool,
    /// Extra file descriptors (3, 4, …) passed to the container process.
    pub preserve_fds: i32,
}

/// Options of `exec`: a new process inside a running container.
#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    /// A process.json (OCI `process` object); when absent `args` is used.
    pub process: Option<PathBuf>,
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: Option<PathBuf>,
    pub user: Option<(u32, u32)>,
    pub tty: bool,
    pub detach: bool,
    pub console_socket: Option<PathBuf>,
    pub pid_file: Option<PathBuf>,
    pub preserve_fds: i32,
    /// Every capability the caller holds in its bounding set, instead of the
    /// container process's (`podman exec --privileged`).
    pub privileged: bool,
}

/// How a waited-for process ended, as a shell exit code (128+N for signal N).
pub type ExitCode = i32;

/// The operations the engine needs from an OCI runtime.
pub trait Runtime {
    /// Create the container from a bundle; its process waits for `start`.
    fn create(&self, id: &str, opts: &CreateOptions) -> Result<()>;
    /// Run the user process of a created container.
    fn start(&self, id: &str) -> Result<()>;
    /// The container's OCI state.
    fn state(&self, id: &str) -> Result<ContainerState>;
    /// Send a signal (name like "TERM"/"SIGTERM" or a number) to the init process, or all processes.
    fn kill(&self, id: &str, signal: &str, all: bool) -> Result<()>;
    /// Remove the container's runtime state and cgroup; `force` kills it first.
    fn delete(&self, id: &str, force: bool) -> Result<()>;
    /// Start an extra process in a running container. Returns its exit code unless detached.
    fn exec(&self, id: &str, opts: &ExecOptions) -> Result<Option<ExitCode>>;
    fn pause(&self, id: &str) -> Result<()>;
    fn resume(&self, id: &str) -> Result<()>;
    /// States of every container under this runtime's root.
    fn list(&self) -> Result<Vec<ContainerState>>;
    /// Process ids in the container.
    fn pids(&self, id: &str) -> Result<Vec<i32>>;
}

/// Checks a container id the way runc does, before anything touches the disk.
pub fn check_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 1024
        && !id.starts_with('.')
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '+'));
    if ok {
        Ok(())
    } else {
        Err(RuntimeError::InvalidId(id.to_string()))
    }
}

/// The default state directory: `/run/podman-rs/runtime` for root,
/// `$XDG_RUNTIME_DIR/podman-rs/runtime` (or `/tmp/podman-rs-$UID/runtime`) otherwise.
pub fn default_root() -> PathBuf {
    if nix::unistd::geteuid().is_root() {
        return PathBuf::from("/run/podman-rs/runtime");
    }
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(dir) if Path::new(&dir).is_dir() => Path::new(&dir).join("podman-rs/runtime"),
        _ => PathBuf::from(format!(
            "/tmp/podman-rs-{}/runtime",
            nix::unistd::geteuid().as_raw()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert!(check_id("abc-1.2_x").is_ok());
        for bad in ["", ".hidden", "a/b", "../x", "a b", "a\0b"] {
            assert!(check_id(bad).is_err(), "{bad:?} accepted");
        }
    }
}
