//! What the engine interface takes and returns for containers: options of
//! each verb (as Podman's `entities.ContainerCreateOptions`, …) and reports.
//! The CLI fills these from flags; the REST server will fill them from
//! requests. Values are kept as the user wrote them where Podman parses
//! them in the engine (sizes, signals, restart policies), so that every
//! front end gets the same parsing and the same errors.

use std::path::PathBuf;

/// `create` / `run` options.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    /// The image reference (ignored with `rootfs`).
    pub image: String,
    /// `--rootfs PATH[:O]`: `image` is then the path.
    pub rootfs: bool,
    /// Arguments after the image.
    pub command: Vec<String>,
    /// `--entrypoint`: a JSON array or a single command (`Some("")` clears it).
    pub entrypoint: Option<String>,
    pub name: Option<String>,
    /// `-e KEY=VALUE` or `-e KEY` (from the caller's environment; `KEY*` globs).
    pub env: Vec<String>,
    pub env_file: Vec<PathBuf>,
    pub env_host: bool,
    /// The caller's environment (for `-e KEY`, `--env-host`).
    pub caller_env: Vec<(String, String)>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub group_add: Vec<String>,
    pub hostname: Option<String>,
    pub labels: Vec<String>,
    pub label_files: Vec<PathBuf>,
    pub annotations: Vec<String>,
    pub init: bool,
    pub stop_signal: Option<String>,
    pub stop_timeout: Option<u32>,
    pub restart: Option<String>,
    pub rm: bool,
    pub tty: bool,
    pub interactive: bool,
    pub log_driver: Option<String>,
    pub log_opts: Vec<String>,
    pub network: Option<String>,
    /// `--userns=MODE`.
    pub userns: Option<String>,
    /// `--uidmap C:H:N`.
    pub uidmap: Vec<String>,
    /// `--gidmap C:H:N`.
    pub gidmap: Vec<String>,
    /// `-p/--publish`.
    pub publish: Vec<String>,
    pub dns: Vec<String>,
    pub dns_search: Vec<String>,
    pub dns_option: Vec<String>,
    pub add_host: Vec<String>,
    pub no_hosts: bool,
    /// `-v SRC:DST[:OPTS]`.
    pub volumes: Vec<String>,
    /// `--tmpfs DST[:OPTS]`.
    pub tmpfs: Vec<String>,
    pub privileged: bool,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub security_opt: Vec<String>,
    pub read_only: bool,
    pub ulimits: Vec<String>,
    pub shm_size: Option<String>,
    pub sysctls: Vec<String>,
    pub memory: Option<String>,
    pub pids_limit: Option<i64>,
    pub cpus: Option<f64>,
    pub cpu_shares: Option<u64>,
    pub cpuset_cpus: Option<String>,
    pub oom_score_adj: Option<i32>,
    /// `--pull always|missing|never|newer` (default missing).
    pub pull: Option<String>,
    /// Passed to a pull.
    pub tls_verify: Option<bool>,
    pub authfile: Option<PathBuf>,
    pub creds: Option<(String, String)>,
    pub quiet_pull: bool,
    pub cidfile: Option<PathBuf>,
    /// `--replace`: remove a container of the same name first.
    pub replace: bool,
    pub detach_keys: Option<String>,
    /// `--runtime`: path or name of an external OCI runtime.
    pub runtime: Option<String>,
    /// The command line, for `Config.CreateCommand`.
    pub create_command: Vec<String>,
}

/// What `create` reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateReport {
    pub id: String,
    /// Non-fatal problems to print to stderr.
    pub warnings: Vec<String>,
}

/// `ps` options.
#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    /// `-a`: also containers that are not running.
    pub all: bool,
    /// `-l` (1) / `-n N`: only the N most recently created.
    pub last: Option<usize>,
    /// `--filter key=value`.
    pub filters: Vec<String>,
    /// `--size`: compute the writable layer's size.
    pub size: bool,
    /// `--external`: containers of other tools (none: we own our store).
    pub external: bool,
}

/// One container of `ps` (Podman's `entities.ListContainer` JSON shape,
/// fields in Podman's order).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListContainer {
    pub auto_remove: bool,
    pub command: Vec<String>,
    /// "5 minutes ago".
    pub created_at: String,
    pub exited: bool,
    /// Unix seconds (Go's zero time, -62135596800, when never).
    pub exited_at: i64,
    pub exit_code: i32,
    #[serde(rename = "Id")]
    pub id: String,
    pub image: String,
    #[serde(rename = "ImageID")]
    pub image_id: String,
    pub is_infra: bool,
    pub labels: Option<std::collections::BTreeMap<String, String>>,
    pub mounts: Vec<String>,
    pub names: Vec<String>,
    pub namespaces: serde_json::Value,
    pub networks: Vec<String>,
    pub pid: i32,
    pub pod: String,
    pub pod_name: String,
    pub ports: Option<Vec<serde_json::Value>>,
    pub size: Option<ContainerSize>,
    /// Unix seconds (Go's zero time when never).
    pub started_at: i64,
    pub state: String,
    pub status: String,
    /// Unix seconds.
    pub created: i64,
    /// Unix nanoseconds of creation (sorting).
    #[serde(skip)]
    pub created_ns: i64,
}

/// Go's zero `time.Time` as unix seconds.
pub const GO_ZERO_UNIX: i64 = -62135596800;

/// `--size` of `ps` / `inspect`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerSize {
    pub root_fs_size: u64,
    pub rw_size: u64,
}

/// `rm` options.
#[derive(Debug, Clone, Default)]
pub struct RemoveOptions {
    pub force: bool,
    /// `-v`: also anonymous volumes (none exist yet).
    pub volumes: bool,
    /// `--depend`: also containers depending on it.
    pub depend: bool,
    /// `-i/--ignore`: no error for missing containers.
    pub ignore: bool,
    /// `-t`: seconds to wait before killing (with `force`).
    pub timeout: Option<u32>,
}

/// Where attached streams go (the CLI's terminal, or a REST connection).
pub struct AttachStreams {
    /// `None`: stdin is not attached.
    pub stdin: Option<Box<dyn std::io::Read + Send>>,
    pub stdout: Box<dyn std::io::Write + Send>,
    pub stderr: Box<dyn std::io::Write + Send>,
    /// Which container streams to deliver (`-a`): stdout, stderr.
    pub attach_stdout: bool,
    pub attach_stderr: bool,
    /// Detach key sequence (bytes); empty = detaching disabled.
    pub detach_keys: Vec<u8>,
    /// Terminal size to give a tty container at once, and a source of
    /// later changes (the CLI feeds SIGWINCH here).
    pub resize: Option<std::sync::mpsc::Receiver<(u16, u16)>>,
    pub initial_size: Option<(u16, u16)>,
}

impl std::fmt::Debug for AttachStreams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AttachStreams")
            .field("stdin", &self.stdin.is_some())
            .field("detach_keys", &self.detach_keys)
            .finish_non_exhaustive()
    }
}

/// How an attach session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttachEnd {
    /// The container exited with this code (already recorded).
    Exited(i32),
    /// The user typed the detach keys.
    Detached,
    /// The monitor went away without reporting an exit code.
    Lost,
}

/// `exec` options.
#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    pub command: Vec<String>,
    pub interactive: bool,
    pub tty: bool,
    pub detach: bool,
    pub env: Vec<String>,
    pub env_file: Vec<PathBuf>,
    pub caller_env: Vec<(String, String)>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub privileged: bool,
    pub detach_keys: Option<String>,
    pub preserve_fds: u32,
    /// With `tty`: the terminal size (rows, cols) to give the pty.
    pub tty_size: Option<(u16, u16)>,
}

/// `logs` options.
#[derive(Debug, Clone, Default)]
pub struct LogsOptions {
    pub follow: bool,
    /// Podman's accepted forms (RFC 3339, unix seconds, durations).
    pub since: Option<String>,
    pub until: Option<String>,
    pub tail: Option<i64>,
    pub timestamps: bool,
    /// Prefix lines with the container name (`--names`).
    pub names: bool,
}

/// `wait` conditions (`--condition`).
#[derive(Debug, Clone, Default)]
pub struct WaitOptions {
    /// Podman's condition names; empty = "stopped" (exited).
    pub conditions: Vec<String>,
    /// Poll interval (`--interval`, default 250ms in Podman; we default lower).
    pub interval: Option<std::time::Duration>,
    /// `--ignore`: exit code -1 instead of an error for missing containers.
    pub ignore: bool,
}
