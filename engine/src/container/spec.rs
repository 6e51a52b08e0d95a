//! OCI spec generation: a container's [`ContainerConfig`] → `config.json`,
//! as Podman 4.3.1 writes it for the same flags (checked field by field
//! against `podman create` + `podman init` on the development VM; the tests
//! record the expected snippets and the commands that produced them).
//!
//! Podman sources read to learn the behaviour (never copied):
//! - podman `pkg/specgen/generate/oci.go` (`addRlimits`, `makeCommand`:
//!   `/run/podman-init --` prefix), `pkg/specgen/generate/security.go`
//!   (capabilities; non-root users get the added capabilities in their
//!   effective/permitted/inheritable/ambient sets),
//!   `libpod/container_internal_linux.go` (`generateSpec`: HOME, groups,
//!   /etc files, mount order);
//! - containers/common `pkg/config/default.go` (default capabilities, env,
//!   sysctls, `default_ulimits` from `getDefaultProcessLimits` in
//!   `config_linux.go`: nproc = kernel.pid_max), `pkg/capabilities`.
//!
//! Deliberate differences are listed in docs/architecture.md.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use oci_spec::runtime::{
    Capabilities, Capability, LinuxBuilder, LinuxCapabilities, LinuxCpuBuilder,
    LinuxDeviceCgroupBuilder, LinuxMemoryBuilder, LinuxNamespaceBuilder, LinuxNamespaceType,
    LinuxPidsBuilder, LinuxResourcesBuilder, Mount as OciMount, MountBuilder, PosixRlimit,
    PosixRlimitBuilder, PosixRlimitType, ProcessBuilder, RootBuilder, Spec, SpecBuilder,
    UserBuilder,
};

use super::config::{ContainerConfig, ContainerPaths, NetworkMode, RootfsSource};
use super::files::{self, FilesError};

/// Podman's default PATH (containers.conf `env`).
pub const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// Podman's `define.RLimitDefaultValue`.
pub const RLIMIT_DEFAULT: u64 = 1_048_576;
/// Podman's default `--pids-limit` where the pids controller exists.
pub const DEFAULT_PIDS_LIMIT: i64 = 2048;
/// Default `--shm-size`.
pub const DEFAULT_SHM_SIZE: u64 = 64 << 20;
/// Where `--init` binds the init binary.
pub const INIT_PATH: &str = "/run/podman-init";

/// Podman 4.3.1's masked paths (`linux.maskedPaths`), in its order.
pub const MASKED_PATHS: [&str; 11] = [
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/fs/selinux",
    "/sys/dev/block",
];

/// Podman 4.3.1's read-only paths (`linux.readonlyPaths`).
pub const READONLY_PATHS: [&str; 6] = [
    "/proc/asound",
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// Capability names by number (capability.h), up to CAP_CHECKPOINT_RESTORE.
const CAP_NAMES: [&str; 41] = [
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
];

/// Errors of spec generation, naming the field or flag at fault.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("container {id}: no command: the image has no Cmd or Entrypoint and none was given")]
    NoCommand { id: String },
    #[error("resolving the user of container {id}: {source}")]
    User {
        id: String,
        #[source]
        source: FilesError,
    },
    #[error("unknown capability {0:?}")]
    UnknownCapability(String),
    #[error("capability {0:?} cannot be dropped and added")]
    CapAddAndDrop(String),
    #[error("adding all caps and removing all caps not allowed")]
    CapAllAndAll,
    #[error("--ulimit {name}: {msg}")]
    Ulimit { name: String, msg: String },
    #[error("mount {destination}: {msg}")]
    Mount { destination: String, msg: String },
    #[error("--init: no init binary (ContainerPaths.init_binary is unset)")]
    NoInitBinary,
    #[error("--network {mode}: no network namespace path (ContainerPaths.netns is unset)")]
    NoNetns { mode: String },
    #[error("seccomp profile: {0}")]
    Seccomp(#[from] podman_rs_seccomp::SeccompError),
    #[error("building the OCI spec ({what}): {msg}")]
    Build { what: &'static str, msg: String },
}

fn build_err<E: std::fmt::Display>(what: &'static str) -> impl FnOnce(E) -> SpecError {
    move |e| SpecError::Build {
        what,
        msg: e.to_string(),
    }
}

/// Host facts spec generation and file generation depend on, injected so
/// that both are testable without the real host ([`HostInfo::detect`] reads
/// them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostInfo {
    /// Hard RLIMIT_NOFILE / RLIMIT_NPROC of the engine (u64::MAX = unlimited).
    pub nofile_hard: u64,
    pub nproc_hard: u64,
    /// The engine has CAP_SYS_RESOURCE (may raise hard limits).
    pub can_raise_rlimits: bool,
    /// /proc/sys/kernel/pid_max (containers.conf's default nproc).
    pub pid_max: Option<u64>,
    /// Unified cgroup hierarchy.
    pub cgroup_v2: bool,
    /// The pids controller is available (Podman then sets pids.limit 2048).
    pub pids_controller: bool,
    pub rootless: bool,
    /// Rootless on cgroup v2: the cgroup subtree delegated to the user
    /// (see [`delegated_cgroup`]), where containers' cgroups then go.
    pub delegated_cgroup: Option<String>,
    /// Group 5 (tty) exists in our user namespace: devpts gets `gid=5`
    /// (not with a rootless single mapping, as Podman leaves it out then).
    pub tty_gid_mapped: bool,
    /// The engine's bounding capabilities, `CAP_*` names: what `ALL` and
    /// `--privileged` mean.
    pub bounding_caps: Vec<String>,
    /// The host's name (the container's with `--network host`).
    pub hostname: String,
    /// Content of the host's /etc/hosts (the base of the container's).
    pub etc_hosts: String,
    /// Content of the host's resolv.conf (systemd-resolved's upstream file
    /// when /etc/resolv.conf only points at 127.0.0.53).
    pub resolv_conf: String,
    /// The host's first non-loopback IPv4 (`host.containers.internal`).
    pub host_ip: Option<String>,
}

impl Default for HostInfo {
    /// A root host on cgroup v2 with no limits: the facts of no real machine.
    fn default() -> Self {
        HostInfo {
            nofile_hard: u64::MAX,
            nproc_hard: u64::MAX,
            can_raise_rlimits: true,
            pid_max: None,
            cgroup_v2: true,
            pids_controller: true,
            rootless: false,
            delegated_cgroup: None,
            tty_gid_mapped: true,
            bounding_caps: CAP_NAMES.iter().map(|c| format!("CAP_{c}")).collect(),
            hostname: "localhost".into(),
            etc_hosts: String::new(),
            resolv_conf: String::new(),
            host_ip: None,
        }
    }
}

fn read_trim(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

impl HostInfo {
    /// Reads the facts from this host (never fails: missing facts fall back
    /// to the cautious side).
    pub fn detect() -> HostInfo {
        use rustix::process::{getrlimit, Resource};
        let hard = |r| getrlimit(r).maximum.unwrap_or(u64::MAX);
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let mask = |key: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|h| u64::from_str_radix(h.trim(), 16).ok())
                .unwrap_or(0)
        };
        let in_userns = podman_rs_namespaces::in_user_namespace();
        let eff = mask("CapEff:");
        let bnd = mask("CapBnd:");
        let cgroup_v2 = Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
        let rootless = in_userns || !rustix::process::geteuid().is_root();
        let delegated = (rootless && cgroup_v2).then(delegated_cgroup).flatten();
        let has_pids = |cgroup: &str| {
            read_trim(&format!("/sys/fs/cgroup{cgroup}/cgroup.controllers"))
                .is_some_and(|c| c.split_whitespace().any(|x| x == "pids"))
        };
        let pids_controller = match (cgroup_v2, rootless) {
            // Only a delegated subtree can hold a rootless container's limits.
            (true, true) => delegated.as_deref().is_some_and(has_pids),
            (true, false) => has_pids(""),
            (false, _) => Path::new("/sys/fs/cgroup/pids").exists(),
        };
        let mut resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        let ns: Vec<&str> = resolv
            .lines()
            .filter_map(|l| l.strip_prefix("nameserver"))
            .map(str::trim)
            .collect();
        if ns == ["127.0.0.53"] {
            if let Ok(up) = std::fs::read_to_string("/run/systemd/resolve/resolv.conf") {
                resolv = up;
            }
        }
        HostInfo {
            nofile_hard: hard(Resource::Nofile),
            nproc_hard: hard(Resource::Nproc),
            // CAP_SYS_RESOURCE inside a user namespace does not lift the
            // hard limits the host set.
            can_raise_rlimits: eff & (1 << 24) != 0 && !in_userns,
            pid_max: read_trim("/proc/sys/kernel/pid_max").and_then(|s| s.parse().ok()),
            cgroup_v2,
            pids_controller,
            // Root inside rootless podman-rs's user namespace is rootless too.
            rootless,
            delegated_cgroup: delegated,
            tty_gid_mapped: std::fs::read_to_string("/proc/self/gid_map")
                .map(|m| gid_mapped(&m, 5))
                .unwrap_or(true),
            bounding_caps: (0..CAP_NAMES.len())
                .filter(|i| bnd & (1u64 << i) != 0)
                .map(|i| format!("CAP_{}", CAP_NAMES[i]))
                .collect(),
            hostname: read_trim("/proc/sys/kernel/hostname").unwrap_or_default(),
            etc_hosts: std::fs::read_to_string("/etc/hosts").unwrap_or_default(),
            resolv_conf: resolv,
            host_ip: std::fs::read_to_string("/proc/net/fib_trie")
                .ok()
                .and_then(|t| first_local_ipv4(&t)),
        }
    }
}

/// Rootless on cgroup v2: the topmost cgroup, from our own upwards, whose
/// directory and `cgroup.procs` we can write — the subtree an administrator
/// (or systemd's `Delegate=`) gave the user — as a path under
/// /sys/fs/cgroup ("/a/b"). `None` when our own cgroup is not ours.
pub fn delegated_cgroup() -> Option<String> {
    let text = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let own = text.lines().find_map(|l| l.strip_prefix("0::"))?.trim();
    let writable = |p: &Path| {
        let dir = Path::new("/sys/fs/cgroup").join(p.strip_prefix("/").unwrap_or(p));
        nix::unistd::access(&dir, nix::unistd::AccessFlags::W_OK).is_ok()
            && nix::unistd::access(&dir.join("cgroup.procs"), nix::unistd::AccessFlags::W_OK)
                .is_ok()
    };
    let mut cur = PathBuf::from(own);
    let mut best = None;
    while cur != Path::new("/") && writable(&cur) {
        best = Some(cur.to_string_lossy().into_owned());
        if !cur.pop() {
            break;
        }
    }
    best
}

/// The container's cgroup: under the user's delegated subtree when rootless
/// on cgroup v2 has one, else `/podman-rs/<id>` (which a rootless runtime
/// skips, refusing limits).
pub fn cgroups_path(host: &HostInfo, id: &str) -> String {
    // Only detected for rootless on cgroup v2.
    match host.delegated_cgroup.as_deref() {
        Some(base) => format!("{}/podman-rs/{id}", base.trim_end_matches('/')),
        None => format!("/podman-rs/{id}"),
    }
}

/// The first non-loopback local IPv4 in /proc/net/fib_trie content.
fn first_local_ipv4(trie: &str) -> Option<String> {
    let mut last: Option<&str> = None;
    for line in trie.lines() {
        let t = line.trim_start_matches([' ', '|', '+', '-']).trim();
        if t.contains("/32 host LOCAL") {
            if let Some(ip) = last {
                if !ip.starts_with("127.") {
                    return Some(ip.to_string());
                }
            }
        } else if t.split('.').count() == 4 && !t.contains(' ') {
            last = Some(t);
        }
    }
    None
}

/// `net_admin`, `CAP_NET_ADMIN` → `CAP_NET_ADMIN`.
fn normalize_cap(c: &str) -> String {
    let up = c.trim().to_ascii_uppercase();
    if up.starts_with("CAP_") {
        up
    } else {
        format!("CAP_{up}")
    }
}

fn known_cap(c: &str) -> bool {
    c.strip_prefix("CAP_")
        .is_some_and(|n| CAP_NAMES.contains(&n))
}

/// The capability set: defaults (or all, privileged) with `--cap-add` and
/// `--cap-drop` applied as containers/common `capabilities.MergeCapabilities`.
/// Returns (bounding set sorted, the explicitly added caps).
fn merge_caps(
    cfg: &ContainerConfig,
    host: &HostInfo,
) -> Result<(Vec<String>, Vec<String>), SpecError> {
    let all = || host.bounding_caps.clone();
    let norm = |v: &[String]| -> Result<Vec<String>, SpecError> {
        v.iter()
            .map(|c| {
                let n = normalize_cap(c);
                if n == "CAP_ALL" || known_cap(&n) {
                    Ok(n)
                } else {
                    Err(SpecError::UnknownCapability(c.clone()))
                }
            })
            .collect()
    };
    let adds = norm(&cfg.security.cap_add)?;
    let drops = norm(&cfg.security.cap_drop)?;
    let add_all = adds.iter().any(|c| c == "CAP_ALL");
    let drop_all = drops.iter().any(|c| c == "CAP_ALL");
    let base: Vec<String> = if cfg.security.privileged {
        all()
    } else {
        podman_rs_seccomp::PODMAN_DEFAULT_CAPS
            .iter()
            .map(|s| s.to_string())
            .collect()
    };
    let added: Vec<String> = if add_all { all() } else { adds.clone() };
    let mut caps: Vec<String> = if drop_all {
        if add_all {
            return Err(SpecError::CapAllAndAll);
        }
        adds.clone()
    } else {
        for a in &adds {
            if drops.contains(a) {
                return Err(SpecError::CapAddAndDrop(a.clone()));
            }
        }
        let mut c = if add_all { all() } else { base };
        c.extend(adds.iter().filter(|a| *a != "CAP_ALL").cloned());
        c.retain(|x| !drops.contains(x));
        c
    };
    caps.sort();
    caps.dedup();
    Ok((caps, added))
}

fn cap_set(names: &[String]) -> Result<Option<Capabilities>, SpecError> {
    if names.is_empty() {
        return Ok(None);
    }
    names
        .iter()
        .map(|n| {
            serde_json::from_value::<Capability>(serde_json::Value::String(n.clone()))
                .map_err(|_| SpecError::UnknownCapability(n.clone()))
        })
        .collect::<Result<HashSet<_>, _>>()
        .map(Some)
}

fn rlimit_type(name: &str) -> Result<PosixRlimitType, SpecError> {
    let full = format!("RLIMIT_{}", name.trim().to_ascii_uppercase());
    serde_json::from_value(serde_json::Value::String(full)).map_err(|_| SpecError::Ulimit {
        name: name.into(),
        msg: "unknown resource".into(),
    })
}

/// Podman's rlimits, capped at the host's hard limits (which Podman 4.3.1
/// does not do for root, and the runtime then fails with EPERM without
/// CAP_SYS_RESOURCE).
fn rlimits(cfg: &ContainerConfig, host: &HostInfo) -> Result<Vec<PosixRlimit>, SpecError> {
    let mut out = Vec::new();
    let mut set: Vec<PosixRlimitType> = Vec::new();
    for u in &cfg.ulimits {
        let typ = rlimit_type(&u.name)?;
        if u.soft > u.hard {
            return Err(SpecError::Ulimit {
                name: u.name.clone(),
                msg: format!("soft limit {} is above hard limit {}", u.soft, u.hard),
            });
        }
        let host_hard = match typ {
            PosixRlimitType::RlimitNofile => Some(host.nofile_hard),
            PosixRlimitType::RlimitNproc => Some(host.nproc_hard),
            _ => None,
        };
        if let Some(h) = host_hard {
            if u.hard > h && !host.can_raise_rlimits {
                return Err(SpecError::Ulimit {
                    name: u.name.clone(),
                    msg: format!(
                        "hard limit {} is above the host's hard limit {h}, and raising it needs CAP_SYS_RESOURCE",
                        u.hard
                    ),
                });
            }
        }
        set.push(typ);
        out.push(rlimit(typ, u.soft, u.hard)?);
    }
    // containers.conf default_ulimits (nproc = pid_max) apply only when the
    // user gave no --ulimit at all; then addRlimits fills 1048576.
    let nproc_default = if cfg.ulimits.is_empty() {
        host.pid_max.unwrap_or(RLIMIT_DEFAULT)
    } else {
        RLIMIT_DEFAULT
    };
    for (typ, default, hard) in [
        (
            PosixRlimitType::RlimitNofile,
            RLIMIT_DEFAULT,
            host.nofile_hard,
        ),
        (PosixRlimitType::RlimitNproc, nproc_default, host.nproc_hard),
    ] {
        if set.contains(&typ) {
            continue;
        }
        let v = if host.can_raise_rlimits {
            default
        } else {
            default.min(hard)
        };
        out.push(rlimit(typ, v, v)?);
    }
    Ok(out)
}

/// Whether `gid` is inside one of the ranges of a `/proc/*/gid_map`.
fn gid_mapped(map: &str, gid: u64) -> bool {
    map.lines().any(|l| {
        let f: Vec<u64> = l
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        matches!(f.as_slice(), [inside, _, count] if gid >= *inside && gid < inside + count)
    })
}

fn rlimit(typ: PosixRlimitType, soft: u64, hard: u64) -> Result<PosixRlimit, SpecError> {
    PosixRlimitBuilder::default()
        .typ(typ)
        .soft(soft)
        .hard(hard)
        .build()
        .map_err(build_err("rlimit"))
}

fn mount(dest: &str, typ: &str, source: &str, opts: &[&str]) -> Result<OciMount, SpecError> {
    MountBuilder::default()
        .destination(dest)
        .typ(typ)
        .source(source)
        .options(opts.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        .build()
        .map_err(build_err("mount"))
}

fn bind(dest: &str, source: &Path, opts: &[&str]) -> Result<OciMount, SpecError> {
    MountBuilder::default()
        .destination(dest)
        .typ("bind")
        .source(source)
        .options(opts.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        .build()
        .map_err(build_err("mount"))
}

const PROPAGATIONS: [&str; 8] = [
    "shared",
    "rshared",
    "slave",
    "rslave",
    "private",
    "rprivate",
    "unbindable",
    "runbindable",
];

/// A user mount with Podman's default options: binds get `rw`, `rprivate`,
/// `rbind` when not given; tmpfs `rw`, `rprivate`, `nosuid`, `nodev`.
/// Relabel options (`z`, `Z`) are dropped (no SELinux).
fn user_mount(m: &super::config::Mount) -> Result<OciMount, SpecError> {
    let dest = m.destination.to_string_lossy().into_owned();
    let err = |msg: &str| SpecError::Mount {
        destination: dest.clone(),
        msg: msg.into(),
    };
    if !m.destination.is_absolute() {
        return Err(err("the destination must be an absolute path"));
    }
    let mut opts: Vec<String> = m
        .options
        .iter()
        .filter(|o| !matches!(o.as_str(), "z" | "Z"))
        .cloned()
        .collect();
    let has = |opts: &[String], o: &str| opts.iter().any(|x| x == o);
    let has_rw = |opts: &[String]| has(opts, "rw") || has(opts, "ro");
    let has_prop = |opts: &[String]| opts.iter().any(|x| PROPAGATIONS.contains(&x.as_str()));
    match m.kind.as_str() {
        "bind" => {
            if m.source.as_os_str().is_empty() {
                return Err(err("a bind mount needs a source"));
            }
            if has(&opts, "O") {
                return Err(err("overlay volumes (O) are not supported yet"));
            }
            if !has_rw(&opts) {
                opts.push("rw".into());
            }
            if !has_prop(&opts) {
                opts.push("rprivate".into());
            }
            if !has(&opts, "bind") && !has(&opts, "rbind") {
                opts.push("rbind".into());
            }
            MountBuilder::default()
                .destination(&m.destination)
                .typ("bind")
                .source(&m.source)
                .options(opts)
                .build()
                .map_err(build_err("mount"))
        }
        "tmpfs" => {
            if !has_rw(&opts) {
                opts.push("rw".into());
            }
            if !has_prop(&opts) {
                opts.push("rprivate".into());
            }
            for o in ["nosuid", "nodev"] {
                if !has(&opts, o) && !has(&opts, &o.replace("no", "")) {
                    opts.push(o.into());
                }
            }
            MountBuilder::default()
                .destination(&m.destination)
                .typ("tmpfs")
                .source("tmpfs")
                .options(opts)
                .build()
                .map_err(build_err("mount"))
        }
        other => Err(err(&format!("unsupported mount type {other:?}"))),
    }
}

fn size_opt(bytes: u64) -> String {
    if bytes & 1023 == 0 {
        format!("size={}k", bytes / 1024)
    } else {
        format!("size={bytes}")
    }
}

/// Go's RFC 3339 with nanoseconds, trailing zeros trimmed (`time.RFC3339Nano`).
fn rfc3339_nano(ns: i64) -> String {
    let secs = ns.div_euclid(1_000_000_000);
    let nanos = ns.rem_euclid(1_000_000_000) as u32;
    let Some(t) = chrono::DateTime::from_timestamp(secs, nanos) else {
        return String::new();
    };
    let mut s = t.format("%Y-%m-%dT%H:%M:%S").to_string();
    if nanos != 0 {
        let frac = format!("{nanos:09}");
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    s.push('Z');
    s
}

fn tf(b: bool) -> String {
    if b { "TRUE" } else { "FALSE" }.to_string()
}

/// The environment: Podman's defaults (PATH, TERM=xterm, and
/// `container=podman` for image containers), the container's env laid over
/// them (same key: replaced in place), then HOME and HOSTNAME when unset.
fn environment(cfg: &ContainerConfig, home: Option<&str>, hostname: &str) -> Vec<String> {
    let mut env: Vec<String> = vec![DEFAULT_PATH.into(), "TERM=xterm".into()];
    if matches!(cfg.rootfs, RootfsSource::Image { .. }) {
        env.push("container=podman".into());
    }
    let key = |e: &str| e.split('=').next().unwrap_or("").to_string();
    let set = |env: &mut Vec<String>, e: String| {
        let k = key(&e);
        match env.iter_mut().find(|x| key(x) == k) {
            Some(slot) => *slot = e,
            None => env.push(e),
        }
    };
    for e in &cfg.env {
        set(&mut env, e.clone());
    }
    if let Some(h) = home {
        if !env.iter().any(|e| key(e) == "HOME") {
            set(&mut env, format!("HOME={h}"));
        }
    }
    if !env.iter().any(|e| key(e) == "HOSTNAME") {
        set(&mut env, format!("HOSTNAME={hostname}"));
    }
    env
}

/// Generates the OCI spec of a container: what Podman 4.3.1 writes into
/// config.json for the same flags (see the module documentation).
/// Reads the rootfs's /etc/passwd and /etc/group (user lookup); everything
/// else comes from `cfg`, `paths` and `host`.
pub fn generate(
    cfg: &ContainerConfig,
    paths: &ContainerPaths,
    host: &HostInfo,
) -> Result<Spec, SpecError> {
    if cfg.command.is_empty() {
        return Err(SpecError::NoCommand { id: cfg.id.clone() });
    }
    let privileged = cfg.security.privileged;
    let user = files::resolve_user(&paths.rootfs, &cfg.user, &cfg.groups).map_err(|source| {
        SpecError::User {
            id: cfg.id.clone(),
            source,
        }
    })?;
    let hostname = files::container_hostname(cfg, host);

    // process
    let mut args = Vec::new();
    if cfg.init {
        args.extend([INIT_PATH.to_string(), "--".to_string()]);
    }
    args.extend(cfg.command.iter().cloned());
    let (bounding, added) = merge_caps(cfg, host)?;
    // Set every set explicitly: oci-spec's defaults are runc's.
    let mut caps = LinuxCapabilities::default();
    caps.set_bounding(cap_set(&bounding)?);
    if user.uid == 0 {
        caps.set_effective(cap_set(&bounding)?);
        caps.set_permitted(cap_set(&bounding)?);
        caps.set_inheritable(None);
        caps.set_ambient(None);
    } else {
        let extra: Vec<String> = added.into_iter().filter(|c| bounding.contains(c)).collect();
        caps.set_effective(cap_set(&extra)?);
        caps.set_permitted(cap_set(&extra)?);
        caps.set_inheritable(cap_set(&extra)?);
        caps.set_ambient(cap_set(&extra)?);
    }
    let mut oci_user = UserBuilder::default()
        .uid(user.uid)
        .gid(user.gid)
        .umask(0o022u32);
    if !user.additional_gids.is_empty() {
        oci_user = oci_user.additional_gids(user.additional_gids.clone());
    } else if paths.userns.is_some() {
        // The runtime leaves the groups alone when none are given, and ours
        // mean nothing in the container's own user namespace (they would
        // show as 65534): the primary group only, as crun sets for Podman.
        oci_user = oci_user.additional_gids(vec![user.gid]);
    }
    let workdir = if cfg.workdir.is_empty() {
        "/"
    } else {
        cfg.workdir.as_str()
    };
    let mut process = ProcessBuilder::default()
        .terminal(cfg.tty)
        .user(oci_user.build().map_err(build_err("process.user"))?)
        .args(args)
        .env(environment(
            cfg,
            user.home.as_deref().or(cfg.userns.keep_id_home()),
            &hostname,
        ))
        .cwd(workdir)
        .capabilities(caps)
        .rlimits(rlimits(cfg, host)?);
    if cfg.security.no_new_privileges {
        process = process.no_new_privileges(true);
    }
    if let Some(adj) = cfg.resources.oom_score_adj {
        process = process.oom_score_adj(adj);
    }
    let mut process = process.build().map_err(build_err("process"))?;
    if !cfg.tty {
        process.set_terminal(None);
    }
    if !cfg.security.no_new_privileges {
        process.set_no_new_privileges(None);
    }

    let mounts = mounts(cfg, paths, privileged, host)?;

    // linux
    let mut namespaces = vec![LinuxNamespaceType::Pid];
    let mut ns_list = Vec::new();
    let net_path: Option<PathBuf> = match &cfg.network {
        NetworkMode::Host => None,
        NetworkMode::Private
        | NetworkMode::None
        | NetworkMode::Slirp4netns(_)
        | NetworkMode::Pasta(_) => paths.netns.clone(),
        NetworkMode::Path(p) => Some(paths.netns.clone().unwrap_or_else(|| p.clone())),
        NetworkMode::Container(c) => {
            Some(paths.netns.clone().ok_or_else(|| SpecError::NoNetns {
                mode: format!("container:{c}"),
            })?)
        }
    };
    for t in [
        LinuxNamespaceType::Network,
        LinuxNamespaceType::Ipc,
        LinuxNamespaceType::Uts,
        LinuxNamespaceType::Mount,
    ] {
        if t == LinuxNamespaceType::Network && cfg.network == NetworkMode::Host {
            continue;
        }
        namespaces.push(t);
    }
    // cgroupns: private on cgroup v2, host on v1 (containers.conf `cgroupns`).
    if host.cgroup_v2 {
        namespaces.push(LinuxNamespaceType::Cgroup);
    }
    for t in namespaces {
        let mut b = LinuxNamespaceBuilder::default().typ(t);
        if t == LinuxNamespaceType::Network {
            if let Some(p) = &net_path {
                b = b.path(p.clone());
            }
        }
        ns_list.push(b.build().map_err(build_err("namespace"))?);
    }
    // A user namespace of its own is created by the engine (maps written
    // there): the runtime joins it by path.
    if let Some(p) = &paths.userns {
        ns_list.push(
            LinuxNamespaceBuilder::default()
                .typ(LinuxNamespaceType::User)
                .path(p.clone())
                .build()
                .map_err(build_err("namespace"))?,
        );
    }

    // Rootless, the devices cgroup is not ours to write (Podman leaves it out).
    let mut res = LinuxResourcesBuilder::default();
    if !host.rootless {
        res = res.devices(vec![LinuxDeviceCgroupBuilder::default()
            .allow(privileged)
            .access("rwm")
            .build()
            .map_err(build_err("device cgroup"))?]);
    }
    let r = &cfg.resources;
    if r.memory.is_some() || r.memory_swap.is_some() {
        let mut m = LinuxMemoryBuilder::default();
        if let Some(l) = r.memory {
            m = m.limit(l);
        }
        if let Some(s) = r.memory_swap {
            m = m.swap(s);
        }
        res = res.memory(m.build().map_err(build_err("memory"))?);
    }
    if r.cpu_shares.is_some() || r.cpu_quota.is_some() || r.cpuset_cpus.is_some() {
        let mut c = LinuxCpuBuilder::default();
        if let Some(s) = r.cpu_shares {
            c = c.shares(s);
        }
        if let Some(q) = r.cpu_quota {
            c = c.quota(q).period(r.cpu_period.unwrap_or(100_000));
        } else if let Some(p) = r.cpu_period {
            c = c.period(p);
        }
        if let Some(s) = &r.cpuset_cpus {
            c = c.cpus(s.clone());
        }
        res = res.cpu(c.build().map_err(build_err("cpu"))?);
    }
    let pids = match r.pids_limit {
        // Podman 4.3.1 writes 0 for --pids-limit -1 (and 0): unlimited.
        Some(n) => Some(n.max(0)),
        // Rootless on cgroup v1 nothing can be limited (Podman sets none).
        None => (host.pids_controller && (host.cgroup_v2 || !host.rootless))
            .then_some(DEFAULT_PIDS_LIMIT),
    };
    if let Some(p) = pids {
        res = res.pids(
            LinuxPidsBuilder::default()
                .limit(p)
                .build()
                .map_err(build_err("pids"))?,
        );
    }

    let mut sysctl: HashMap<String, String> = HashMap::new();
    if cfg.network != NetworkMode::Host {
        sysctl.insert("net.ipv4.ping_group_range".into(), "0 0".into());
    }
    sysctl.extend(cfg.sysctls.iter().map(|(k, v)| (k.clone(), v.clone())));

    let mut linux = LinuxBuilder::default()
        .resources(res.build().map_err(build_err("resources"))?)
        .cgroups_path(PathBuf::from(cgroups_path(host, &cfg.id)))
        .namespaces(ns_list);
    if !sysctl.is_empty() {
        linux = linux.sysctl(sysctl);
    }
    let unconfined = cfg
        .security
        .seccomp_profile
        .as_deref()
        .is_some_and(podman_rs_seccomp::is_unconfined);
    if !privileged {
        if let Some(s) = podman_rs_seccomp::profile_for_option(
            cfg.security.seccomp_profile.as_deref(),
            &bounding,
        )? {
            linux = linux.seccomp(s);
        }
    }
    let mut linux = linux.build().map_err(build_err("linux"))?;
    // Explicitly: oci-spec's builder defaults are runc's lists.
    let (masked, ro) = if privileged {
        (Vec::new(), Vec::new())
    } else {
        masked_paths(cfg)
    };
    linux.set_masked_paths((!masked.is_empty()).then_some(masked));
    linux.set_readonly_paths((!ro.is_empty()).then_some(ro));

    // annotations
    let mut ann: HashMap<String, String> = HashMap::new();
    ann.insert("io.container.manager".into(), "libpod".into());
    ann.insert(
        "io.kubernetes.cri-o.Created".into(),
        rfc3339_nano(cfg.created_ns),
    );
    ann.insert("io.kubernetes.cri-o.TTY".into(), cfg.tty.to_string());
    ann.insert(
        "io.podman.annotations.autoremove".into(),
        tf(cfg.auto_remove),
    );
    ann.insert("io.podman.annotations.init".into(), tf(cfg.init));
    ann.insert("io.podman.annotations.privileged".into(), tf(privileged));
    ann.insert("io.podman.annotations.publish-all".into(), tf(false));
    if unconfined {
        ann.insert("io.podman.annotations.seccomp".into(), "unconfined".into());
    }
    let sig = if cfg.stop_signal == 0 {
        15
    } else {
        cfg.stop_signal
    };
    ann.insert(
        "org.opencontainers.image.stopSignal".into(),
        sig.to_string(),
    );
    ann.extend(cfg.annotations.iter().map(|(k, v)| (k.clone(), v.clone())));

    let mut root = RootBuilder::default().path(paths.rootfs.clone());
    if cfg.read_only {
        root = root.readonly(true);
    }
    let mut root = root.build().map_err(build_err("root"))?;
    if !cfg.read_only {
        root.set_readonly(None);
    }

    let mut spec = SpecBuilder::default()
        .version("1.0.2-dev")
        .process(process)
        .root(root)
        .hostname(hostname)
        .mounts(mounts.0)
        .annotations(ann)
        .linux(linux)
        .build()
        .map_err(build_err("spec"))?;
    if let Some(p) = mounts.1 {
        if let Some(l) = spec.linux_mut() {
            l.set_rootfs_propagation(Some(p));
        }
    }
    Ok(spec)
}

/// Masked and read-only paths: Podman's lists, `--security-opt mask=`
/// (colon-separated) appended, `unmask=` removed (`ALL` removes all).
fn masked_paths(cfg: &ContainerConfig) -> (Vec<String>, Vec<String>) {
    let split = |v: &[String]| -> Vec<String> {
        v.iter()
            .flat_map(|s| s.split(':'))
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect()
    };
    let unmask = split(&cfg.security.unmask);
    if unmask.iter().any(|u| u == "ALL") {
        return (Vec::new(), Vec::new());
    }
    let mut masked: Vec<String> = MASKED_PATHS.iter().map(|s| s.to_string()).collect();
    for m in split(&cfg.security.mask) {
        if !masked.contains(&m) {
            masked.push(m);
        }
    }
    let mut ro: Vec<String> = READONLY_PATHS.iter().map(|s| s.to_string()).collect();
    masked.retain(|m| !unmask.contains(m));
    ro.retain(|m| !unmask.contains(m));
    (masked, ro)
}

/// The mounts, in Podman's order once sorted by depth (stable), and the
/// rootfs propagation a shared user bind requires.
fn mounts(
    cfg: &ContainerConfig,
    paths: &ContainerPaths,
    privileged: bool,
    host: &HostInfo,
) -> Result<(Vec<OciMount>, Option<String>), SpecError> {
    let mut list: Vec<OciMount> = vec![
        mount("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"])?,
        mount(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "noexec", "strictatime", "mode=755", "size=65536k"],
        )?,
        if privileged {
            mount(
                "/sys",
                "sysfs",
                "sysfs",
                &["rprivate", "nosuid", "noexec", "nodev", "rw"],
            )?
        } else {
            mount(
                "/sys",
                "sysfs",
                "sysfs",
                &["nosuid", "noexec", "nodev", "ro"],
            )?
        },
        mount(
            "/dev/pts",
            "devpts",
            "devpts",
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ][..if host.tty_gid_mapped { 6 } else { 5 }],
        )?,
        mount(
            "/dev/mqueue",
            "mqueue",
            "mqueue",
            &["nosuid", "noexec", "nodev"],
        )?,
    ];
    if cfg.init {
        let bin = paths.init_binary.as_ref().ok_or(SpecError::NoInitBinary)?;
        list.push(bind(INIT_PATH, bin, &["bind", "ro", "rprivate"])?);
    }
    let plan = files::planned(cfg);
    let etc_opts: &[&str] = if cfg.read_only {
        &["bind", "rprivate", "ro", "nosuid", "noexec", "nodev"]
    } else {
        &["bind", "rprivate"]
    };
    let ud = |f: &str| paths.userdata.join(f);
    if plan.hostname {
        list.push(bind("/etc/hostname", &ud(files::HOSTNAME_FILE), etc_opts)?);
    }
    if plan.resolv_conf {
        list.push(bind("/etc/resolv.conf", &ud(files::RESOLV_FILE), etc_opts)?);
    }
    if plan.hosts {
        list.push(bind("/etc/hosts", &ud(files::HOSTS_FILE), etc_opts)?);
    }
    // --userns=keep-id's passwd/group copies, when write_container_files
    // made them (the image had no entry for the user).
    for (file, dest) in [
        (files::PASSWD_FILE, "/etc/passwd"),
        (files::GROUP_FILE, "/etc/group"),
    ] {
        if ud(file).exists() {
            list.push(bind(dest, &ud(file), etc_opts)?);
        }
    }
    let shm = if cfg.shm_size == 0 {
        DEFAULT_SHM_SIZE
    } else {
        cfg.shm_size
    };
    let shm_size = size_opt(shm);
    list.push(mount(
        "/dev/shm",
        "tmpfs",
        "shm",
        &["nosuid", "noexec", "nodev", "mode=1777", &shm_size],
    )?);
    if plan.containerenv {
        list.push(bind(
            "/run/.containerenv",
            &ud(files::CONTAINERENV_FILE),
            &["bind", "rprivate"],
        )?);
    }
    let cgroup_opts = [
        "rprivate",
        "nosuid",
        "noexec",
        "nodev",
        "relatime",
        if privileged { "rw" } else { "ro" },
    ];
    if host.rootless && !host.cgroup_v2 && paths.userns.is_some() {
        // A user namespace of the container's own under the rootless one,
        // on cgroup v1: the runtime's cgroup mount would look for the
        // host's cgroup2 tree, hidden behind its private view. What crun
        // does for rootless v1: bind the caller's /sys/fs/cgroup.
        let mut opts = vec!["rbind"];
        opts.extend_from_slice(&cgroup_opts);
        list.push(bind("/sys/fs/cgroup", Path::new("/sys/fs/cgroup"), &opts)?);
    } else {
        list.push(mount("/sys/fs/cgroup", "cgroup", "cgroup", &cgroup_opts)?);
    }
    // User mounts replace defaults at the same destination.
    let mut propagation = None;
    let mut user = Vec::new();
    let mut seen = BTreeMap::new();
    for m in &cfg.mounts {
        let om = user_mount(m)?;
        let dest = om.destination().to_string_lossy().into_owned();
        if seen.insert(dest.clone(), ()).is_some() {
            return Err(SpecError::Mount {
                destination: dest,
                msg: "duplicate mount destination".into(),
            });
        }
        let opts = om.options().clone().unwrap_or_default();
        if om.typ().as_deref() == Some("bind") {
            if opts.iter().any(|o| o == "shared" || o == "rshared") {
                propagation = Some("shared".to_string());
            } else if propagation.is_none() && opts.iter().any(|o| o == "slave" || o == "rslave") {
                propagation = Some("rslave".to_string());
            }
        }
        user.push(om);
    }
    if cfg.read_only {
        // containers.conf read_only_tmpfs: /tmp, /run, /var/tmp (Podman adds
        // `tmpcopyup`, which the built-in runtime does not implement).
        for d in ["/tmp", "/run", "/var/tmp"] {
            if !seen.contains_key(d) {
                user.push(mount(
                    d,
                    "tmpfs",
                    "tmpfs",
                    &["rw", "rprivate", "nosuid", "nodev"],
                )?);
            }
        }
    }
    list.retain(|m| !seen.contains_key(m.destination().to_string_lossy().as_ref()));
    list.extend(user);
    // Shorter destinations first (Podman's sortMounts), stable.
    list.sort_by_key(|m| m.destination().components().count());
    Ok((list, propagation))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::config::{Mount, Ulimit};
    use serde_json::{json, Value};

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
        alice:x:1000:1000:Alice:/home/alice:/bin/sh\nbob:x:1001:1001::/home/bob:/bin/sh\n";
    const GROUP: &str =
        "root:x:0:\nwheel:x:10:alice,root\nalice:x:1000:\nbob:x:1001:alice\naudio:x:29:bob\n";
    const ID: &str = "8964fbc38250fa6db5a4c82f9b91ddb7bd42377edac3d4407fb630f02963b3c9";

    struct Fx {
        _dir: tempfile::TempDir,
        paths: ContainerPaths,
    }

    fn fx() -> Fx {
        let dir = tempfile::tempdir().unwrap();
        let rootfs = dir.path().join("rootfs");
        std::fs::create_dir_all(rootfs.join("etc")).unwrap();
        std::fs::write(rootfs.join("etc/passwd"), PASSWD).unwrap();
        std::fs::write(rootfs.join("etc/group"), GROUP).unwrap();
        let paths = ContainerPaths {
            rootfs,
            bundle: dir.path().join("bundle"),
            userdata: PathBuf::from("/ud"),
            netns: Some(PathBuf::from("/run/netns/x")),
            init_binary: Some(PathBuf::from("/usr/libexec/podman-rs/init")),
            userns: None,
        };
        Fx { _dir: dir, paths }
    }

    /// This VM: cgroup v1 with pids, root without CAP_SYS_RESOURCE, hard
    /// limits nofile 20000 / nproc 32768, pid_max 32768, 40 bounding caps.
    fn vm() -> HostInfo {
        HostInfo {
            nofile_hard: 20000,
            nproc_hard: 32768,
            can_raise_rlimits: false,
            pid_max: Some(32768),
            cgroup_v2: false,
            pids_controller: true,
            rootless: false,
            bounding_caps: CAP_NAMES
                .iter()
                .filter(|c| **c != "SYS_RESOURCE")
                .map(|c| format!("CAP_{c}"))
                .collect(),
            hostname: "vm".into(),
            ..HostInfo::default()
        }
    }

    fn cfg() -> ContainerConfig {
        ContainerConfig {
            id: ID.into(),
            name: "spec4-a".into(),
            command: vec!["sh".into()],
            created_ns: 1_795_422_560_157_703_058,
            ..Default::default()
        }
    }

    fn gen(c: &ContainerConfig) -> Value {
        let f = fx();
        serde_json::to_value(generate(c, &f.paths, &vm()).unwrap()).unwrap()
    }

    fn sorted(v: &Value) -> Value {
        let mut a: Vec<Value> = v.as_array().cloned().unwrap_or_default();
        a.sort_by_key(|x| x.to_string());
        Value::Array(a)
    }

    fn caps_of(v: &Value) -> Value {
        let c = &v["process"]["capabilities"];
        let mut out = serde_json::Map::new();
        for k in [
            "bounding",
            "effective",
            "permitted",
            "inheritable",
            "ambient",
        ] {
            if !c[k].is_null() {
                out.insert(k.into(), sorted(&c[k]));
            }
        }
        Value::Object(out)
    }

    fn mount_of<'a>(v: &'a Value, dest: &str) -> &'a Value {
        v["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["destination"] == dest)
            .unwrap_or(&Value::Null)
    }

    const DEFAULT_CAPS: [&str; 11] = [
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_FOWNER",
        "CAP_FSETID",
        "CAP_KILL",
        "CAP_NET_BIND_SERVICE",
        "CAP_SETFCAP",
        "CAP_SETGID",
        "CAP_SETPCAP",
        "CAP_SETUID",
        "CAP_SYS_CHROOT",
    ];

    #[test]
    fn rootless_cgroup_v1_gets_no_default_pids_limit() {
        let f = fx();
        let mut host = vm();
        host.cgroup_v2 = false;
        host.pids_controller = true;
        let pids = |host: &HostInfo| {
            let v = serde_json::to_value(generate(&cfg(), &f.paths, host).unwrap()).unwrap();
            v["linux"]["resources"]["pids"]["limit"].clone()
        };
        assert_eq!(pids(&host), json!(DEFAULT_PIDS_LIMIT));
        host.rootless = true;
        assert_eq!(pids(&host), Value::Null, "Podman sets none rootless on v1");
        host.cgroup_v2 = true;
        assert_eq!(pids(&host), json!(DEFAULT_PIDS_LIMIT));
    }

    // podman create --name spec4-a --rootfs R sh; podman init spec4-a
    #[test]
    fn default_process_as_podman() {
        let v = gen(&cfg());
        assert_eq!(v["ociVersion"], "1.0.2-dev");
        assert_eq!(
            v["process"]["user"],
            json!({"uid": 0, "gid": 0, "umask": 18, "additionalGids": [10]})
        );
        assert_eq!(v["process"]["args"], json!(["sh"]));
        assert_eq!(
            v["process"]["env"],
            json!([
                DEFAULT_PATH,
                "TERM=xterm",
                "HOME=/root",
                "HOSTNAME=8964fbc38250"
            ])
        );
        assert_eq!(v["process"]["cwd"], "/");
        assert!(v["process"].get("terminal").is_none());
        assert!(v["process"].get("noNewPrivileges").is_none());
        let d = json!(DEFAULT_CAPS);
        assert_eq!(
            caps_of(&v),
            json!({"bounding": d, "effective": d, "permitted": d})
        );
        assert_eq!(v["hostname"], "8964fbc38250");
        assert!(v["root"].get("readonly").is_none());
    }

    #[test]
    fn image_containers_get_container_podman() {
        // podman create localhost/bbtest sh: env has container=podman.
        let mut c = cfg();
        c.rootfs = RootfsSource::Image {
            id: "20c2".into(),
            name: "localhost/bbtest:latest".into(),
        };
        c.env = vec!["FOO=bar".into(), "PATH=/x".into()];
        assert_eq!(
            gen(&c)["process"]["env"],
            json!([
                "PATH=/x",
                "TERM=xterm",
                "container=podman",
                "FOO=bar",
                "HOME=/root",
                "HOSTNAME=8964fbc38250"
            ])
        );
    }

    // Podman 4.3.1 here writes nofile 1048576 (not settable: crun fails with
    // EPERM) and nproc 32768 (pid_max); we cap at the hard limit.
    #[test]
    fn rlimits_default_capped_at_host_hard_limit() {
        let v = gen(&cfg());
        assert_eq!(
            v["process"]["rlimits"],
            json!([
                {"type": "RLIMIT_NOFILE", "hard": 20000, "soft": 20000},
                {"type": "RLIMIT_NPROC", "hard": 32768, "soft": 32768}
            ])
        );
        let f = fx();
        let host = HostInfo {
            can_raise_rlimits: true,
            ..vm()
        };
        let v = serde_json::to_value(generate(&cfg(), &f.paths, &host).unwrap()).unwrap();
        assert_eq!(v["process"]["rlimits"][0]["hard"], 1048576);
    }

    #[test]
    fn explicit_ulimits() {
        // podman create --ulimit nofile=100:200: nproc then defaults to 1048576
        // (capped here at 32768).
        let mut c = cfg();
        c.ulimits = vec![Ulimit {
            name: "nofile".into(),
            soft: 100,
            hard: 200,
        }];
        assert_eq!(
            gen(&c)["process"]["rlimits"],
            json!([
                {"type": "RLIMIT_NOFILE", "hard": 200, "soft": 100},
                {"type": "RLIMIT_NPROC", "hard": 32768, "soft": 32768}
            ])
        );
        let f = fx();
        c.ulimits[0].hard = 30000;
        let e = generate(&c, &f.paths, &vm()).unwrap_err().to_string();
        assert!(e.contains("nofile") && e.contains("20000"), "{e}");
        c.ulimits[0] = Ulimit {
            name: "nofile".into(),
            soft: 300,
            hard: 200,
        };
        assert!(generate(&c, &f.paths, &vm()).is_err());
        c.ulimits[0].name = "bogus".into();
        assert!(generate(&c, &f.paths, &vm()).is_err());
    }

    #[test]
    fn users_and_home() {
        // podman create -u alice -w /tmp --rootfs R sh
        let mut c = cfg();
        c.user = "alice".into();
        c.workdir = "/tmp".into();
        let v = gen(&c);
        assert_eq!(
            v["process"]["user"],
            json!({"uid": 1000, "gid": 1000, "umask": 18, "additionalGids": [1000, 10, 1001]})
        );
        assert_eq!(v["process"]["cwd"], "/tmp");
        assert!(v["process"]["env"]
            .as_array()
            .unwrap()
            .contains(&json!("HOME=/home/alice")));
        // Non-root: only the bounding set.
        assert_eq!(caps_of(&v), json!({"bounding": DEFAULT_CAPS}));
        // podman create -u 5000: no HOME at all.
        c.user = "5000".into();
        let v = gen(&c);
        assert!(!v["process"]["env"].to_string().contains("HOME="));
        c.user = "nosuch".into();
        let f = fx();
        let e = generate(&c, &f.paths, &vm()).unwrap_err().to_string();
        assert!(
            e.contains("unable to find user nosuch: no matching entries in passwd file"),
            "{e}"
        );
    }

    #[test]
    fn capabilities_as_podman() {
        // podman create --cap-add SYS_ADMIN --cap-drop CHOWN --cap-drop cap_kill
        let mut c = cfg();
        c.security.cap_add = vec!["SYS_ADMIN".into()];
        c.security.cap_drop = vec!["CHOWN".into(), "cap_kill".into()];
        let want = json!([
            "CAP_DAC_OVERRIDE",
            "CAP_FOWNER",
            "CAP_FSETID",
            "CAP_NET_BIND_SERVICE",
            "CAP_SETFCAP",
            "CAP_SETGID",
            "CAP_SETPCAP",
            "CAP_SETUID",
            "CAP_SYS_ADMIN",
            "CAP_SYS_CHROOT"
        ]);
        assert_eq!(
            caps_of(&gen(&c)),
            json!({"bounding": want, "effective": want, "permitted": want})
        );
        // podman create --cap-add ALL: the 40 caps of the host (no CAP_SYS_RESOURCE here).
        c.security.cap_add = vec!["ALL".into()];
        c.security.cap_drop.clear();
        let v = gen(&c);
        assert_eq!(
            v["process"]["capabilities"]["bounding"]
                .as_array()
                .unwrap()
                .len(),
            40
        );
        // podman create --cap-drop ALL: "capabilities": {}
        c.security.cap_add.clear();
        c.security.cap_drop = vec!["ALL".into()];
        assert_eq!(gen(&c)["process"]["capabilities"], json!({}));
        // podman create -u alice --cap-add NET_ADMIN --cap-drop CHOWN
        c.user = "alice".into();
        c.security.cap_add = vec!["NET_ADMIN".into()];
        c.security.cap_drop = vec!["CHOWN".into()];
        let b = json!([
            "CAP_DAC_OVERRIDE",
            "CAP_FOWNER",
            "CAP_FSETID",
            "CAP_KILL",
            "CAP_NET_ADMIN",
            "CAP_NET_BIND_SERVICE",
            "CAP_SETFCAP",
            "CAP_SETGID",
            "CAP_SETPCAP",
            "CAP_SETUID",
            "CAP_SYS_CHROOT"
        ]);
        let e = json!(["CAP_NET_ADMIN"]);
        assert_eq!(
            caps_of(&gen(&c)),
            json!({"bounding": b, "effective": e, "permitted": e, "inheritable": e, "ambient": e})
        );
        let f = fx();
        c.security.cap_add = vec!["BOGUS".into()];
        assert!(matches!(
            generate(&c, &f.paths, &vm()),
            Err(SpecError::UnknownCapability(_))
        ));
        c.security.cap_add = vec!["CHOWN".into()];
        assert!(matches!(
            generate(&c, &f.paths, &vm()),
            Err(SpecError::CapAddAndDrop(_))
        ));
    }

    // podman create --privileged --rootfs R sh
    #[test]
    fn privileged_as_podman() {
        let mut c = cfg();
        c.security.privileged = true;
        let v = gen(&c);
        assert_eq!(
            v["process"]["capabilities"]["effective"]
                .as_array()
                .unwrap()
                .len(),
            40
        );
        assert!(v["linux"].get("seccomp").is_none());
        assert!(v["linux"].get("maskedPaths").is_none());
        assert!(v["linux"].get("readonlyPaths").is_none());
        assert_eq!(
            v["linux"]["resources"]["devices"],
            json!([{"allow": true, "access": "rwm"}])
        );
        assert_eq!(
            mount_of(&v, "/sys")["options"],
            json!(["rprivate", "nosuid", "noexec", "nodev", "rw"])
        );
        assert_eq!(
            mount_of(&v, "/sys/fs/cgroup")["options"],
            json!(["rprivate", "nosuid", "noexec", "nodev", "relatime", "rw"])
        );
        assert_eq!(v["annotations"]["io.podman.annotations.privileged"], "TRUE");
    }

    #[test]
    fn default_mounts_as_podman() {
        let v = gen(&cfg());
        // Podman's mounts (userdata paths ours; /dev/shm a tmpfs, see docs).
        let want = json!([
            {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "noexec", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/etc/hostname", "type": "bind", "source": "/ud/hostname", "options": ["bind", "rprivate"]},
            {"destination": "/etc/resolv.conf", "type": "bind", "source": "/ud/resolv.conf", "options": ["bind", "rprivate"]},
            {"destination": "/etc/hosts", "type": "bind", "source": "/ud/hosts", "options": ["bind", "rprivate"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/run/.containerenv", "type": "bind", "source": "/ud/.containerenv", "options": ["bind", "rprivate"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["rprivate", "nosuid", "noexec", "nodev", "relatime", "ro"]}
        ]);
        assert_eq!(v["mounts"], want);
    }

    #[test]
    fn user_mounts_as_podman() {
        // podman create -v /tmp:/mnt -v /tmp:/mnt2:ro -v /tmp:/mnt3:z,shared
        //   --tmpfs /t --tmpfs /t2:size=1m,mode=1777 --rootfs R sh
        let mut c = cfg();
        let m = |kind: &str, src: &str, dst: &str, o: &[&str]| Mount {
            kind: kind.into(),
            source: src.into(),
            destination: dst.into(),
            options: o.iter().map(|s| s.to_string()).collect(),
        };
        c.mounts = vec![
            m("bind", "/tmp", "/mnt", &[]),
            m("bind", "/tmp", "/mnt2", &["ro"]),
            m("bind", "/tmp", "/mnt3", &["z", "shared"]),
            m("tmpfs", "", "/t", &[]),
            m("tmpfs", "", "/t2", &["size=1m", "mode=1777"]),
            m("tmpfs", "", "/dev/shm", &["size=1m"]),
        ];
        let v = gen(&c);
        assert_eq!(
            mount_of(&v, "/mnt")["options"],
            json!(["rw", "rprivate", "rbind"])
        );
        assert_eq!(
            mount_of(&v, "/mnt2")["options"],
            json!(["ro", "rprivate", "rbind"])
        );
        assert_eq!(
            mount_of(&v, "/mnt3")["options"],
            json!(["shared", "rw", "rbind"])
        );
        assert_eq!(v["linux"]["rootfsPropagation"], "shared");
        // Podman adds "tmpcopyup" (not implemented by the built-in runtime).
        assert_eq!(
            mount_of(&v, "/t")["options"],
            json!(["rw", "rprivate", "nosuid", "nodev"])
        );
        assert_eq!(
            mount_of(&v, "/t2")["options"],
            json!(["size=1m", "mode=1777", "rw", "rprivate", "nosuid", "nodev"])
        );
        // A user mount replaces the default at the same place.
        let shm: Vec<_> = v["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|x| x["destination"] == "/dev/shm")
            .collect();
        assert_eq!(shm.len(), 1);
        assert_eq!(shm[0]["source"], "tmpfs");
        // Depth order: parents before children.
        let depths: Vec<usize> = v["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["destination"].as_str().unwrap().matches('/').count())
            .collect();
        assert!(depths.windows(2).all(|w| w[0] <= w[1]), "{depths:?}");
        let f = fx();
        c.mounts = vec![m("bind", "/tmp", "rel", &[])];
        assert!(matches!(
            generate(&c, &f.paths, &vm()),
            Err(SpecError::Mount { .. })
        ));
        c.mounts = vec![m("volume", "x", "/x", &[])];
        assert!(generate(&c, &f.paths, &vm()).is_err());
    }

    // podman create --read-only --rootfs R sh
    #[test]
    fn read_only_as_podman() {
        let mut c = cfg();
        c.read_only = true;
        let v = gen(&c);
        assert_eq!(v["root"]["readonly"], true);
        for d in ["/etc/hosts", "/etc/hostname", "/etc/resolv.conf"] {
            assert_eq!(
                mount_of(&v, d)["options"],
                json!(["bind", "rprivate", "ro", "nosuid", "noexec", "nodev"])
            );
        }
        for d in ["/tmp", "/run", "/var/tmp"] {
            assert_eq!(mount_of(&v, d)["type"], "tmpfs");
        }
        assert!(mount_of(&v, "/run/.containerenv").is_null());
    }

    // podman create --init --rootfs R sh
    #[test]
    fn init_as_podman() {
        let mut c = cfg();
        c.init = true;
        let v = gen(&c);
        assert_eq!(
            v["process"]["args"],
            json!(["/run/podman-init", "--", "sh"])
        );
        assert_eq!(
            mount_of(&v, "/run/podman-init"),
            &json!({"destination": "/run/podman-init", "type": "bind",
                "source": "/usr/libexec/podman-rs/init", "options": ["bind", "ro", "rprivate"]})
        );
        assert_eq!(v["annotations"]["io.podman.annotations.init"], "TRUE");
        let mut f = fx();
        f.paths.init_binary = None;
        assert!(matches!(
            generate(&c, &f.paths, &vm()),
            Err(SpecError::NoInitBinary)
        ));
    }

    #[test]
    fn namespaces_and_network() {
        let v = gen(&cfg());
        // Podman on cgroup v1: no cgroup namespace.
        assert_eq!(
            v["linux"]["namespaces"],
            json!([{"type": "pid"}, {"type": "network", "path": "/run/netns/x"},
                {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}])
        );
        assert_eq!(
            v["linux"]["sysctl"],
            json!({"net.ipv4.ping_group_range": "0 0"})
        );
        assert_eq!(v["linux"]["cgroupsPath"], format!("/podman-rs/{ID}"));
        // podman create --network host: host's hostname, no netns, no sysctl.
        let mut c = cfg();
        c.network = NetworkMode::Host;
        let mut f = fx();
        f.paths.netns = None;
        let v = serde_json::to_value(generate(&c, &f.paths, &vm()).unwrap()).unwrap();
        assert_eq!(v["hostname"], "vm");
        assert!(v["process"]["env"]
            .as_array()
            .unwrap()
            .contains(&json!("HOSTNAME=vm")));
        assert!(v["linux"].get("sysctl").is_none());
        assert!(!v["linux"]["namespaces"].to_string().contains("network"));
        // podman create --network none: a new netns, no resolv.conf.
        c.network = NetworkMode::None;
        let v = serde_json::to_value(generate(&c, &f.paths, &vm()).unwrap()).unwrap();
        assert!(v["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .contains(&json!({"type": "network"})));
        assert!(mount_of(&v, "/etc/resolv.conf").is_null());
        // cgroup v2: private cgroup namespace.
        let host = HostInfo {
            cgroup_v2: true,
            ..vm()
        };
        let v = serde_json::to_value(generate(&cfg(), &fx().paths, &host).unwrap()).unwrap();
        assert!(v["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .contains(&json!({"type": "cgroup"})));
        c.network = NetworkMode::Container("abc".into());
        assert!(matches!(
            generate(&c, &f.paths, &vm()),
            Err(SpecError::NoNetns { .. })
        ));
    }

    // podman create --hostname foo --memory 100m --memory-swap 200m --cpus 1.5
    //   --cpu-shares 512 --cpuset-cpus 0 --pids-limit 100
    #[test]
    fn resources_as_podman() {
        let mut c = cfg();
        c.hostname = "foo".into();
        c.resources.memory = Some(104857600);
        c.resources.memory_swap = Some(209715200);
        c.resources.cpu_quota = Some(150000);
        c.resources.cpu_shares = Some(512);
        c.resources.cpuset_cpus = Some("0".into());
        c.resources.pids_limit = Some(100);
        c.resources.oom_score_adj = Some(100);
        c.security.no_new_privileges = true;
        let v = gen(&c);
        assert_eq!(
            v["linux"]["resources"],
            json!({"devices": [{"allow": false, "access": "rwm"}],
                "memory": {"limit": 104857600, "swap": 209715200},
                "cpu": {"shares": 512, "quota": 150000, "period": 100000, "cpus": "0"},
                "pids": {"limit": 100}})
        );
        assert_eq!(v["hostname"], "foo");
        assert_eq!(v["process"]["noNewPrivileges"], true);
        assert_eq!(v["process"]["oomScoreAdj"], 100);
        // Default 2048; --pids-limit -1 → 0 (Podman 4.3.1).
        assert_eq!(gen(&cfg())["linux"]["resources"]["pids"]["limit"], 2048);
        c.resources.pids_limit = Some(-1);
        assert_eq!(gen(&c)["linux"]["resources"]["pids"]["limit"], 0);
    }

    #[test]
    fn seccomp_and_masks() {
        let v = gen(&cfg());
        assert_eq!(v["linux"]["seccomp"]["defaultAction"], "SCMP_ACT_ERRNO");
        assert_eq!(v["linux"]["maskedPaths"], json!(MASKED_PATHS));
        assert_eq!(v["linux"]["readonlyPaths"], json!(READONLY_PATHS));
        // podman create --security-opt seccomp=unconfined --security-opt mask=/proc/foo
        //   --security-opt unmask=/proc/kcore
        let mut c = cfg();
        c.security.seccomp_profile = Some("unconfined".into());
        c.security.mask = vec!["/proc/foo".into()];
        c.security.unmask = vec!["/proc/kcore".into()];
        let v = gen(&c);
        assert!(v["linux"].get("seccomp").is_none());
        assert_eq!(
            v["annotations"]["io.podman.annotations.seccomp"],
            "unconfined"
        );
        let masked = v["linux"]["maskedPaths"].as_array().unwrap();
        assert!(!masked.contains(&json!("/proc/kcore")));
        assert_eq!(masked.last().unwrap(), "/proc/foo");
        // --security-opt unmask=ALL: neither list.
        c.security.unmask = vec!["ALL".into()];
        let v = gen(&c);
        assert!(
            v["linux"].get("maskedPaths").is_none() && v["linux"].get("readonlyPaths").is_none()
        );
    }

    // podman create --stop-signal SIGINT --annotation a=b -t --rootfs R sh
    #[test]
    fn annotations_as_podman() {
        let mut c = cfg();
        c.stop_signal = 2;
        c.tty = true;
        c.annotations.insert("a".into(), "b".into());
        c.sysctls.insert("net.core.somaxconn".into(), "100".into());
        let v = gen(&c);
        assert_eq!(
            v["annotations"],
            json!({
                "a": "b",
                "io.container.manager": "libpod",
                "io.kubernetes.cri-o.Created": "2026-11-23T08:29:20.157703058Z",
                "io.kubernetes.cri-o.TTY": "true",
                "io.podman.annotations.autoremove": "FALSE",
                "io.podman.annotations.init": "FALSE",
                "io.podman.annotations.privileged": "FALSE",
                "io.podman.annotations.publish-all": "FALSE",
                "org.opencontainers.image.stopSignal": "2"
            })
        );
        assert_eq!(v["process"]["terminal"], true);
        assert_eq!(v["linux"]["sysctl"]["net.core.somaxconn"], "100");
        assert_eq!(rfc3339_nano(1_000_000_000), "1970-01-01T00:00:01Z");
    }

    #[test]
    fn no_command_and_no_hosts() {
        let f = fx();
        let mut c = cfg();
        c.no_hosts = true;
        let v = serde_json::to_value(generate(&c, &f.paths, &vm()).unwrap()).unwrap();
        assert!(mount_of(&v, "/etc/hosts").is_null());
        c.command.clear();
        assert!(matches!(
            generate(&c, &f.paths, &vm()),
            Err(SpecError::NoCommand { .. })
        ));
    }

    #[test]
    fn fib_trie_parsing() {
        let t = "Main:\n  +-- 0.0.0.0/0 3 0 5\n     |-- 0.0.0.0\n        /0 universe UNICAST\n\
            |-- 127.0.0.1\n        /32 host LOCAL\n     |-- 192.0.2.2\n        /32 host LOCAL\n";
        assert_eq!(first_local_ipv4(t).as_deref(), Some("192.0.2.2"));
    }

    #[test]
    fn tty_group_mapped_or_not() {
        assert!(gid_mapped("         0          0 4294967295\n", 5));
        assert!(gid_mapped("0 1002 1\n1 165536 65536\n", 5));
        assert!(!gid_mapped("0 1003 1\n", 5));
        let f = fx();
        let mut host = HostInfo {
            tty_gid_mapped: false,
            ..vm()
        };
        let v = serde_json::to_value(generate(&cfg(), &f.paths, &host).unwrap()).unwrap();
        let pts = v["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["destination"] == "/dev/pts")
            .unwrap()
            .clone();
        assert!(!pts["options"].to_string().contains("gid=5"), "{pts}");
        host.tty_gid_mapped = true;
        let v = serde_json::to_value(generate(&cfg(), &f.paths, &host).unwrap()).unwrap();
        assert!(v["mounts"].to_string().contains("gid=5"));
    }

    #[test]
    fn detect_does_not_panic() {
        let h = HostInfo::detect();
        assert!(!h.bounding_caps.is_empty() || h.rootless);
    }
}
