//! The container half of the engine interface (Podman's
//! `entities.ContainerEngine`): what the CLI calls, and what the REST
//! server and the remote client will implement and serve.

use super::error::ContainerError;
use super::options::{
    AttachEnd, AttachStreams, CreateOptions, CreateReport, ExecOptions, ListContainer, ListOptions,
    LogsOptions, RemoveOptions, WaitOptions,
};

/// Result of container operations.
pub type ContainerResult<T> = Result<T, ContainerError>;

/// Container operations. Names are a name, a full id or a unique id prefix.
pub trait ContainerEngine {
    /// Records a new container (pulling its image per `--pull`).
    fn container_create(&self, opts: &CreateOptions) -> ContainerResult<CreateReport>;
    /// Starts a container; with `attach`, streams its output until it exits
    /// (or the user detaches) and returns how the session ended.
    fn container_start(
        &self,
        name: &str,
        attach: Option<AttachStreams>,
    ) -> ContainerResult<Option<AttachEnd>>;
    /// Creates the container in the runtime without starting it (Podman's
    /// `init`): state `initialized`; a later `start` starts it. Returns the
    /// container id.
    fn container_init(&self, name: &str) -> ContainerResult<String>;
    /// Attaches to a running container.
    fn container_attach(&self, name: &str, streams: AttachStreams) -> ContainerResult<AttachEnd>;
    /// Sends the stop signal, then SIGKILL after `timeout` seconds
    /// (`None`: the container's stop timeout). Returns the container id.
    fn container_stop(&self, name: &str, timeout: Option<u32>) -> ContainerResult<String>;
    /// Sends a signal to the container's init.
    fn container_kill(&self, name: &str, signal: &str) -> ContainerResult<String>;
    /// Stops (if running) and starts again.
    fn container_restart(&self, name: &str, timeout: Option<u32>) -> ContainerResult<String>;
    fn container_pause(&self, name: &str) -> ContainerResult<String>;
    fn container_unpause(&self, name: &str) -> ContainerResult<String>;
    /// Removes a container; returns its id.
    fn container_remove(&self, name: &str, opts: &RemoveOptions) -> ContainerResult<String>;
    /// `ps`.
    fn container_list(&self, opts: &ListOptions) -> ContainerResult<Vec<ListContainer>>;
    /// `inspect`: Podman's JSON shape.
    fn container_inspect(&self, name: &str, size: bool) -> ContainerResult<serde_json::Value>;
    /// Waits for a condition; returns the exit code.
    fn container_wait(&self, name: &str, opts: &WaitOptions) -> ContainerResult<i32>;
    /// Writes the logs of the containers.
    fn container_logs(
        &self,
        names: &[String],
        opts: &LogsOptions,
        stdout: &mut dyn std::io::Write,
        stderr: &mut dyn std::io::Write,
    ) -> ContainerResult<()>;
    /// Runs a process in a running container; returns its exit code (or
    /// the exec session id with `detach`).
    fn container_exec(&self, name: &str, opts: &ExecOptions) -> ContainerResult<ExecEnd>;
    fn container_rename(&self, name: &str, new_name: &str) -> ContainerResult<()>;
    fn container_exists(&self, name: &str) -> ContainerResult<bool>;
    /// Removes every stopped container; returns their ids.
    fn container_prune(&self) -> ContainerResult<Vec<String>>;
    /// Releases what an exited container holds (mounts, netns, runtime state).
    fn container_cleanup(&self, name: &str) -> ContainerResult<String>;
    /// Resolves a name to a full id.
    fn container_id(&self, name: &str) -> ContainerResult<String>;
}

/// How `exec` ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecEnd {
    Exited(i32),
    Detached(String),
}
