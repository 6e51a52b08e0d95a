//! A container's configuration: everything `create`/`run` decided, resolved
//! against the image, and persisted with the container record (as JSON) so
//! that every later command — `start`, `restart`, `inspect`, a restart by the
//! monitor — works from the same description. Podman's counterpart is
//! libpod's `ContainerConfig` (+ the `SpecGenerator` it is built from).
//!
//! Fields are added, never renamed or repurposed: records written by older
//! versions must still load (`#[serde(default)]` on everything new).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The persisted configuration of one container.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ContainerConfig {
    /// 64 lowercase hex characters.
    pub id: String,
    /// Unique among containers (and, later, pods).
    pub name: String,
    /// Where the root filesystem comes from.
    pub rootfs: RootfsSource,
    /// The resolved command: entrypoint followed by command (Podman's
    /// `Path` + `Args`). Never empty for a valid container.
    pub command: Vec<String>,
    /// `--entrypoint` or the image's Entrypoint (`Config.Entrypoint`).
    pub entrypoint: Vec<String>,
    /// The command part: user arguments or the image's Cmd (`Config.Cmd`).
    pub cmd: Vec<String>,
    /// The final environment, `KEY=value`, image first, then defaults, then
    /// `--env-host`, `--env-file`, `-e` (later wins), as Podman merges them.
    pub env: Vec<String>,
    /// `-w` or the image's WorkingDir; `/` when neither.
    pub workdir: String,
    /// `-u` or the image's User, as given (`name`, `uid`, `uid:gid`,
    /// `name:group`); empty = root. Resolved against the rootfs's
    /// /etc/passwd and /etc/group when the spec is generated.
    pub user: String,
    /// `--group-add`.
    pub groups: Vec<String>,
    /// `--hostname`; empty = the first 12 characters of the id.
    pub hostname: String,
    pub labels: BTreeMap<String, String>,
    /// `--annotation`, passed to the OCI spec's annotations.
    pub annotations: BTreeMap<String, String>,
    /// Signal number sent by `stop` (`--stop-signal` or the image's
    /// StopSignal; 15 = SIGTERM by default).
    pub stop_signal: i32,
    /// Seconds `stop` waits before SIGKILL (`--stop-timeout`, default 10).
    pub stop_timeout: u32,
    pub restart: RestartPolicy,
    /// `--rm`: the monitor removes the container after it exits.
    pub auto_remove: bool,
    /// `--init`: run a minimal init (the podman-rs binary) as pid 1 that
    /// reaps zombies and forwards signals to the command.
    pub init: bool,
    /// `-t`: a pseudo-terminal for the container's stdio.
    pub tty: bool,
    /// `-i`: keep stdin open.
    pub stdin: bool,
    /// Log driver and options.
    pub log: LogConfig,
    pub network: NetworkMode,
    /// `-p/--publish`: forwarded by slirp4netns (other modes drop them, as
    /// Podman does, with a warning at create).
    pub ports: Vec<PortMapping>,
    /// `--dns`, `--dns-search`, `--dns-option`: empty = copy the host's
    /// /etc/resolv.conf (minus localhost nameservers when the container has
    /// its own network namespace, as Podman does).
    pub dns_servers: Vec<String>,
    pub dns_search: Vec<String>,
    pub dns_options: Vec<String>,
    /// `--add-host name:ip`.
    pub add_hosts: Vec<String>,
    /// `--no-hosts`: do not generate /etc/hosts.
    pub no_hosts: bool,
    /// `-v HOST:CTR[:OPTIONS]` bind mounts and `--tmpfs`, `--mount`.
    pub mounts: Vec<Mount>,
    pub security: SecurityConfig,
    pub resources: Resources,
    /// `--ulimit name=soft[:hard]`; unset ones get Podman's defaults capped
    /// at the caller's hard limit.
    pub ulimits: Vec<Ulimit>,
    /// `--shm-size` in bytes (default 64 MiB).
    pub shm_size: u64,
    /// `--read-only`.
    pub read_only: bool,
    /// `--sysctl key=value` (plus containers.conf default_sysctls).
    pub sysctls: BTreeMap<String, String>,
    /// `--runtime`: an external OCI runtime binary; `None` = built-in.
    pub runtime: Option<PathBuf>,
    /// Unix nanoseconds when the container was created.
    pub created_ns: i64,
    /// The command line that created it (`Config.CreateCommand`).
    pub create_command: Vec<String>,
    /// `--detach-keys` given at create/run (empty = default "ctrl-p,ctrl-q").
    pub detach_keys: String,
    /// `--cidfile`.
    pub cidfile: Option<PathBuf>,
    /// `--userns`, `--uidmap`, `--gidmap`.
    pub userns: UserNamespace,
}

/// The container's user namespace (`--userns`, `--uidmap`, `--gidmap`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct UserNamespace {
    pub mode: UsernsMode,
    /// The uid map written for the container's user namespace, in ids of
    /// the namespace the engine runs in: host ids as root, ids of the
    /// rootless (pause) namespace rootless. Empty: no user namespace of
    /// its own.
    pub uid_map: Vec<podman_rs_namespaces::IdMap>,
    pub gid_map: Vec<podman_rs_namespaces::IdMap>,
    /// `--userns=keep-id`: the /etc/passwd and /etc/group lines added for
    /// the user when the image has no entry of that name or id (Podman's
    /// AddCurrentUserPasswdEntry).
    pub passwd_entry: Option<String>,
    pub group_entry: Option<String>,
}

impl UserNamespace {
    /// The home directory of [`Self::passwd_entry`].
    pub fn keep_id_home(&self) -> Option<&str> {
        self.passwd_entry.as_deref()?.split(':').nth(5)
    }

    /// Whether the engine creates a user namespace for the container.
    pub fn has_mappings(&self) -> bool {
        !self.uid_map.is_empty() || !self.gid_map.is_empty()
    }
}

/// `--userns=MODE`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "mode", content = "value")]
pub enum UsernsMode {
    /// `""`: the engine's namespace (root: the host's; rootless: the pause
    /// namespace), unless `--uidmap`/`--gidmap` are given.
    #[default]
    Default,
    /// `host`.
    Host,
    /// `private` or `--uidmap`/`--gidmap`: a new namespace with the maps.
    Private,
    /// `keep-id[:uid=U,gid=G]` (rootless only).
    KeepId { uid: Option<u32>, gid: Option<u32> },
    /// `nomap` (rootless only).
    NoMap,
    /// `ns:PATH`: join that user namespace.
    Path(PathBuf),
}

impl UsernsMode {
    /// `HostConfig.UsernsMode` as Podman prints it.
    pub fn inspect_text(&self) -> String {
        match self {
            UsernsMode::Default | UsernsMode::Host => String::new(),
            UsernsMode::Private => "private".into(),
            UsernsMode::KeepId { .. } => "keep-id".into(),
            UsernsMode::NoMap => "nomap".into(),
            UsernsMode::Path(p) => format!("ns:{}", p.display()),
        }
    }
}

/// Where a container's root filesystem comes from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum RootfsSource {
    /// Layers of a stored image, stacked with an overlay (or copied: vfs).
    Image {
        /// Image id (64 hex).
        id: String,
        /// The name the user gave, as resolved (`docker.io/library/busybox:latest`),
        /// or the id when the user gave an id.
        name: String,
    },
    /// `--rootfs PATH[:O]`: an exploded root filesystem used in place, or
    /// with an overlay over it (`overlay: true`) so it stays unmodified.
    Path { path: PathBuf, overlay: bool },
    #[default]
    None,
}

/// `--restart`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RestartPolicy {
    /// "" (= no), "no", "on-failure", "always", "unless-stopped".
    pub name: String,
    /// For on-failure: 0 = unlimited.
    pub max_retries: u32,
}

/// `--log-driver` / `--log-opt`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LogConfig {
    /// "k8s-file" (default), "json-file" (written in k8s-file format, as
    /// Podman does), "none", "passthrough".
    pub driver: String,
    /// `--log-opt path=`: default `<container dir>/ctr.log`.
    pub path: Option<PathBuf>,
    /// `--log-opt max-size=` in bytes; 0 = unlimited.
    pub max_size: u64,
    /// `--log-opt tag=`.
    pub tag: String,
}

/// `--network` until bridge networking exists.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "mode", content = "value")]
pub enum NetworkMode {
    /// Default: a new network namespace with only loopback (up).
    #[default]
    Private,
    /// `none`: a new network namespace with only loopback, as `Private`.
    None,
    /// `host`: the host's network namespace.
    Host,
    /// `container:ID`: another container's network namespace.
    Container(String),
    /// `ns:PATH`: a network namespace file.
    Path(PathBuf),
    /// `slirp4netns[:OPTIONS]`: a new network namespace connected to the
    /// host's network by a user-mode slirp4netns process (what rootless
    /// Podman uses); OPTIONS as Podman's (`allow_host_loopback=true`,
    /// `cidr=…`, `mtu=…`, `enable_ipv6=false`, `outbound_addr=…`).
    Slirp4netns(Vec<String>),
    /// `pasta[:OPTIONS]`: a new network namespace connected by pasta
    /// (OPTIONS: pasta's own command-line arguments).
    Pasta(Vec<String>),
}

/// One `-p/--publish` mapping.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PortMapping {
    /// Empty = all addresses.
    pub host_ip: String,
    pub host_port: u16,
    pub container_port: u16,
    /// "tcp", "udp" or "sctp".
    pub protocol: String,
}

/// One mount requested by the user.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Mount {
    /// "bind" or "tmpfs" (named volumes come with the volumes issue).
    pub kind: String,
    /// Host path for bind mounts; empty for tmpfs.
    pub source: PathBuf,
    pub destination: PathBuf,
    /// Mount options as Podman passes them to the spec: `ro`, `rw`,
    /// `rbind`/`bind`, `nosuid`, `nodev`, `noexec`, propagation, `size=`,
    /// `mode=`, `z`/`Z` (relabel: ignored without SELinux), `O` (overlay).
    pub options: Vec<String>,
}

/// Privileges and confinement.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SecurityConfig {
    pub privileged: bool,
    /// `--cap-add` (`ALL` allowed), names as given, upper-cased with or
    /// without the `CAP_` prefix.
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    /// `--security-opt seccomp=PATH|unconfined`: `None` = default profile.
    pub seccomp_profile: Option<String>,
    /// `--security-opt no-new-privileges`.
    pub no_new_privileges: bool,
    /// `--security-opt mask=`/`unmask=` (`ALL` for unmask).
    pub mask: Vec<String>,
    pub unmask: Vec<String>,
}

/// Resource limits (applied through the runtime's cgroup).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Resources {
    /// `--memory` bytes.
    pub memory: Option<i64>,
    /// `--memory-swap` bytes (-1 unlimited).
    pub memory_swap: Option<i64>,
    /// `--pids-limit` (Podman's default is 2048; 0/-1 unlimited).
    pub pids_limit: Option<i64>,
    /// `--cpus` as a quota over a 100000 µs period.
    pub cpu_quota: Option<i64>,
    pub cpu_period: Option<u64>,
    /// `--cpu-shares`.
    pub cpu_shares: Option<u64>,
    /// `--cpuset-cpus`.
    pub cpuset_cpus: Option<String>,
    /// `--oom-score-adj`.
    pub oom_score_adj: Option<i32>,
}

/// `--ulimit`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Ulimit {
    /// `nofile`, `nproc`, … (without `RLIMIT_`).
    pub name: String,
    pub soft: u64,
    pub hard: u64,
}

/// The image configuration that spec generation needs (`config` of the
/// image config JSON: OCI `ImageConfig`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ImageRuntimeConfig {
    #[serde(rename = "User")]
    pub user: String,
    #[serde(rename = "Env")]
    pub env: Vec<String>,
    #[serde(rename = "Entrypoint")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(rename = "Cmd")]
    pub cmd: Option<Vec<String>>,
    #[serde(rename = "WorkingDir")]
    pub working_dir: String,
    #[serde(rename = "Labels")]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(rename = "StopSignal")]
    pub stop_signal: String,
    #[serde(rename = "Volumes")]
    pub volumes: Option<BTreeMap<String, serde_json::Value>>,
    #[serde(rename = "ExposedPorts")]
    pub exposed_ports: Option<BTreeMap<String, serde_json::Value>>,
}

/// Paths of one container's files, decided by the engine.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerPaths {
    /// The mounted root filesystem (overlay merged dir, vfs copy, or the
    /// `--rootfs` path).
    pub rootfs: PathBuf,
    /// The OCI bundle directory (config.json is written here).
    pub bundle: PathBuf,
    /// Persistent per-container directory (`<root>/containers/<id>/userdata`):
    /// generated hosts, resolv.conf, hostname, .containerenv.
    pub userdata: PathBuf,
    /// The network namespace to join, if the container has one of its own
    /// or shares another's (`None` for `--network host`).
    pub netns: Option<PathBuf>,
    /// The binary to run as `--init` (bind-mounted at /run/podman-init).
    pub init_binary: Option<PathBuf>,
    /// The user namespace to join (`None`: the engine's own).
    pub userns: Option<PathBuf>,
}
