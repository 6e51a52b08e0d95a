//! Turning `create`/`run` options into a [`ContainerConfig`]: parsing the
//! flag values Podman parses in the engine, and merging the image's
//! configuration with the user's, as Podman's specgen does.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::config::{
    ContainerConfig, ImageRuntimeConfig, LogConfig, Mount, NetworkMode, PortMapping, RestartPolicy,
    SecurityConfig, Ulimit, UsernsMode,
};
use super::error::ContainerError;
use super::options::CreateOptions;

fn invalid(msg: impl Into<String>) -> ContainerError {
    ContainerError::InvalidArgument(msg.into())
}

/// Parses `--restart` (`no`, `on-failure[:N]`, `always`, `unless-stopped`).
pub fn parse_restart(s: &str) -> Result<RestartPolicy, ContainerError> {
    let (name, count) = match s.split_once(':') {
        Some((n, c)) => (n, Some(c)),
        None => (s, None),
    };
    match (name, count) {
        ("" | "no", None) => Ok(RestartPolicy::default()),
        ("always" | "unless-stopped", None) => Ok(RestartPolicy {
            name: name.into(),
            max_retries: 0,
        }),
        ("on-failure", None) => Ok(RestartPolicy {
            name: name.into(),
            max_retries: 0,
        }),
        ("on-failure", Some(c)) => {
            let n: u32 = c
                .parse()
                .map_err(|_| {
                    invalid(format!(
                        "parsing restart policy retry count: strconv.Atoi: parsing {c:?}: invalid syntax"
                    ))
                })?;
            Ok(RestartPolicy {
                name: name.into(),
                max_retries: n,
            })
        }
        ("always" | "unless-stopped" | "no", Some(_)) => Err(invalid(
            "restart policy retries can only be specified with on-failure restart policy",
        )),
        // Podman 4.3.1's wording (the option fails when applied).
        _ => Err(invalid(format!(
            "running container create option: {s:?} is not a valid restart policy: invalid argument"
        ))),
    }
}

/// Parses a signal name (`TERM`, `SIGTERM`, `sigterm`, `RTMIN+3`) or number.
pub fn parse_signal(s: &str) -> Result<i32, ContainerError> {
    let bad = || invalid(format!("invalid signal: {s}"));
    if let Ok(n) = s.parse::<i32>() {
        if (1..=64).contains(&n) {
            return Ok(n);
        }
        return Err(bad());
    }
    let up = s.to_ascii_uppercase();
    let name = up.strip_prefix("SIG").unwrap_or(&up);
    if let Some(rest) = name.strip_prefix("RTMIN") {
        let off: i32 = if rest.is_empty() {
            0
        } else {
            rest.strip_prefix('+')
                .and_then(|n| n.parse().ok())
                .ok_or_else(bad)?
        };
        return if (0..=30).contains(&off) {
            Ok(34 + off)
        } else {
            Err(bad())
        };
    }
    if let Some(rest) = name.strip_prefix("RTMAX") {
        let off: i32 = if rest.is_empty() {
            0
        } else {
            rest.strip_prefix('-')
                .and_then(|n| n.parse().ok())
                .ok_or_else(bad)?
        };
        return if (0..=30).contains(&off) {
            Ok(64 - off)
        } else {
            Err(bad())
        };
    }
    format!("SIG{name}")
        .parse::<nix::sys::signal::Signal>()
        .map(|s| s as i32)
        .map_err(|_| bad())
}

/// Parses a size (`64m`, `1g`, `512`, `1.5k`) into bytes, as Podman's
/// units.RAMInBytes (binary multiples, case-insensitive, optional `b`).
pub fn parse_size(s: &str) -> Result<u64, ContainerError> {
    let bad = || invalid(format!("invalid size: '{s}'"));
    let t = s.trim();
    let lower = t.to_ascii_lowercase();
    let digits_end = lower
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(lower.len());
    let (num, unit) = lower.split_at(digits_end);
    let n: f64 = num.parse().map_err(|_| bad())?;
    let mult: u64 = match unit.trim_end_matches('b').trim_end_matches('i') {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        "t" => 1 << 40,
        "p" => 1 << 50,
        _ => return Err(bad()),
    };
    if n < 0.0 {
        return Err(bad());
    }
    Ok((n * mult as f64) as u64)
}

/// Parses `--ulimit name=soft[:hard]` (`-1` = unlimited); errors in
/// Podman's words (its wrapper around go-units' message).
pub fn parse_ulimit(s: &str) -> Result<Ulimit, ContainerError> {
    parse_ulimit_inner(s).map_err(|e| {
        invalid(format!(
            "ulimit option {s:?} requires name=SOFT:HARD, failed to be parsed: {e}"
        ))
    })
}

fn parse_ulimit_inner(s: &str) -> Result<Ulimit, ContainerError> {
    let (name, vals) = s
        .split_once('=')
        .ok_or_else(|| invalid(format!("invalid ulimit argument: {s}")))?;
    const NAMES: &[&str] = &[
        "core",
        "cpu",
        "data",
        "fsize",
        "locks",
        "memlock",
        "msgqueue",
        "nice",
        "nofile",
        "nproc",
        "rss",
        "rtprio",
        "rttime",
        "sigpending",
        "stack",
        "as",
    ];
    if !NAMES.contains(&name) {
        return Err(invalid(format!("invalid ulimit type: {name}")));
    }
    let num = |v: &str| -> Result<u64, ContainerError> {
        if v == "-1" {
            return Ok(u64::MAX);
        }
        v.parse()
            .map_err(|_| invalid(format!("strconv.ParseInt: parsing {v:?}: invalid syntax")))
    };
    let (soft, hard) = match vals.split_once(':') {
        Some((a, b)) => (num(a)?, num(b)?),
        None => {
            let v = num(vals)?;
            (v, v)
        }
    };
    if soft > hard {
        return Err(invalid(format!(
            "ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"
        )));
    }
    Ok(Ulimit {
        name: name.into(),
        soft,
        hard,
    })
}

/// Parses `-p/--publish` values: `[[IP:][HOSTPORT]:]CONTAINERPORT[/PROTO]`,
/// ports or equal-length ranges (`8080-8081:80-81`). A missing host port
/// gets a free one now, as Podman picks one for the container.
pub fn parse_publish(values: &[String]) -> Result<Vec<PortMapping>, ContainerError> {
    let mut out = Vec::new();
    for v in values {
        // Podman's wording throughout (Go's strconv errors included).
        let (spec, proto) = match v.split_once('/') {
            Some((_, p)) if p.contains('/') => {
                return Err(invalid(
                    "invalid port format - protocol can only be specified once",
                ))
            }
            Some((s, p)) => (s, p),
            None => (v.as_str(), "tcp"),
        };
        if !matches!(proto, "tcp" | "udp" | "sctp") {
            return Err(invalid(format!(
                "unrecognized protocol {proto:?} in port mapping"
            )));
        }
        // An IPv6 host address is written in brackets: [::1]:8080:80.
        let (ip, rest) = match spec.strip_prefix('[').and_then(|r| r.split_once("]:")) {
            Some((ip, rest)) => (ip.to_string(), rest.to_string()),
            None => {
                let parts: Vec<&str> = spec.split(':').collect();
                match parts.len() {
                    1 | 2 => (String::new(), spec.to_string()),
                    3 => (parts[0].to_string(), format!("{}:{}", parts[1], parts[2])),
                    _ => {
                        return Err(invalid(
                            "invalid port format - format is [[hostIP:]hostPort:]containerPort",
                        ))
                    }
                }
            }
        };
        if !ip.is_empty() && ip.parse::<std::net::IpAddr>().is_err() {
            return Err(invalid(format!("cannot parse {ip:?} as an IP address")));
        }
        let (host, ctr) = match rest.split_once(':') {
            Some((h, c)) => (h, c),
            None => ("", rest.as_str()),
        };
        let range = |s: &str, what: &str| -> Result<(u16, u16), ContainerError> {
            let num = |n: &str| -> Result<u16, ContainerError> {
                let v: u64 = n.parse().map_err(|_| {
                    invalid(format!(
                        "parsing {what} port: invalid port number: strconv.Atoi: parsing {n:?}: invalid syntax"
                    ))
                })?;
                u16::try_from(v).ok().filter(|v| *v > 0).ok_or_else(|| {
                    invalid(format!(
                        "parsing {what} port: port numbers must be between 1 and 65535 (inclusive), got {v}"
                    ))
                })
            };
            match s.split_once('-') {
                Some((a, b)) => {
                    let (a, b) = (num(a)?, num(b)?);
                    if b <= a {
                        return Err(invalid(format!(
                            "parsing {what} port: the end port of a range must be higher than the start port - {b} is not higher than {a}"
                        )));
                    }
                    Ok((a, b))
                }
                None => num(s).map(|n| (n, n)),
            }
        };
        let (c0, c1) = range(ctr, "container")?;
        let hosts = if host.is_empty() {
            (c0..=c1)
                .map(|_| free_port(proto))
                .collect::<Result<Vec<u16>, ContainerError>>()?
        } else {
            let (h0, h1) = range(host, "host")?;
            if h1 - h0 != c1 - c0 {
                return Err(invalid(format!(
                    "host and container port ranges have different lengths: {} vs {}",
                    h1 - h0 + 1,
                    c1 - c0 + 1
                )));
            }
            (h0..=h1).collect()
        };
        for (h, c) in hosts.into_iter().zip(c0..=c1) {
            out.push(PortMapping {
                host_ip: ip.clone(),
                host_port: h,
                container_port: c,
                protocol: proto.to_string(),
            });
        }
    }
    Ok(out)
}

/// A port the kernel says is free now.
fn free_port(proto: &str) -> Result<u16, ContainerError> {
    let port = if proto == "udp" {
        std::net::UdpSocket::bind("0.0.0.0:0").and_then(|s| s.local_addr())
    } else {
        std::net::TcpListener::bind("0.0.0.0:0").and_then(|s| s.local_addr())
    };
    port.map(|a| a.port())
        .map_err(|e| ContainerError::Other(format!("finding a free host port: {e}")))
}

/// Parses `--network` (the modes that exist before bridge networking).
pub fn parse_network(s: &str) -> Result<NetworkMode, ContainerError> {
    match s {
        "" | "private" => Ok(NetworkMode::Private),
        "slirp4netns" => Ok(NetworkMode::Slirp4netns(Vec::new())),
        "pasta" => Ok(NetworkMode::Pasta(Vec::new())),
        "none" => Ok(NetworkMode::None),
        "host" => Ok(NetworkMode::Host),
        _ => {
            if let Some(c) = s.strip_prefix("container:") {
                if c.is_empty() {
                    return Err(invalid(
                        "container: network mode needs a container name or ID",
                    ));
                }
                Ok(NetworkMode::Container(c.into()))
            } else if let Some(o) = s.strip_prefix("slirp4netns:") {
                let opts: Vec<String> = o.split(',').map(str::to_string).collect();
                super::slirp::parse_options(&opts).map_err(invalid)?;
                Ok(NetworkMode::Slirp4netns(opts))
            } else if let Some(o) = s.strip_prefix("pasta:") {
                // `pasta:` with nothing after it: no options (an empty one
                // would reach pasta as a PID argument).
                Ok(NetworkMode::Pasta(
                    o.split(',')
                        .filter(|x| !x.is_empty())
                        .map(str::to_string)
                        .collect(),
                ))
            } else if let Some(p) = s.strip_prefix("ns:") {
                if !p.starts_with('/') {
                    return Err(invalid(format!(
                        "invalid network namespace path {p:?}: must be absolute"
                    )));
                }
                Ok(NetworkMode::Path(PathBuf::from(p)))
            } else {
                Err(invalid(format!(
                    "network {s:?}: only none, host, private, slirp4netns, pasta, container:ID and ns:PATH are supported until bridge networking exists"
                )))
            }
        }
    }
}

/// Parses `--entrypoint`: a JSON array, or one command.
pub fn parse_entrypoint(s: &str) -> Vec<String> {
    if s.is_empty() {
        return Vec::new();
    }
    if let Ok(v) = serde_json::from_str::<Vec<String>>(s) {
        return v;
    }
    vec![s.to_string()]
}

/// Merges `KEY=VALUE` lists: a later key replaces an earlier one in place.
pub fn merge_env(into: &mut Vec<String>, items: impl IntoIterator<Item = String>) {
    for item in items {
        let key = item.split('=').next().unwrap_or_default().to_string();
        if let Some(slot) = into
            .iter_mut()
            .find(|e| e.split('=').next() == Some(key.as_str()))
        {
            *slot = item;
        } else {
            into.push(item);
        }
    }
}

/// `-e` entries: `KEY=VALUE`, `KEY` (from the caller, skipped if unset), `KEY*`.
fn user_env(entries: &[String], caller: &[(String, String)]) -> Vec<String> {
    let mut out = Vec::new();
    for e in entries {
        if e.contains('=') {
            out.push(e.clone());
        } else if let Some(prefix) = e.strip_suffix('*') {
            for (k, v) in caller {
                if k.starts_with(prefix) {
                    out.push(format!("{k}={v}"));
                }
            }
        } else if let Some((k, v)) = caller.iter().find(|(k, _)| k == e) {
            out.push(format!("{k}={v}"));
        }
    }
    out
}

/// Reads `--env-file`: `KEY=VALUE` lines, `KEY` (from the caller), `#` comments.
pub fn read_env_file(
    path: &std::path::Path,
    caller: &[(String, String)],
) -> Result<Vec<String>, ContainerError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| invalid(format!("open {}: {e}", path.display())))?;
    let lines: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect();
    Ok(user_env(&lines, caller))
}

/// Parses `KEY=VALUE` labels/annotations (`KEY` alone = empty value).
pub fn parse_kv(items: &[String]) -> BTreeMap<String, String> {
    items
        .iter()
        .map(|i| match i.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (i.clone(), String::new()),
        })
        .collect()
}

/// Parses `-v SRC:DST[:OPTS]` (host bind mounts; named volumes come later).
pub fn parse_volume(s: &str) -> Result<Mount, ContainerError> {
    let parts: Vec<&str> = s.split(':').collect();
    let (src, dst, opts) = match parts.as_slice() {
        [src, dst] => (*src, *dst, ""),
        [src, dst, opts] => (*src, *dst, *opts),
        [_] => {
            return Err(invalid(format!(
                "volume {s:?}: anonymous volumes come with the volumes issue; give SRC:DST"
            )))
        }
        _ => {
            return Err(invalid(format!(
                "incorrect volume format {s:?}, should be [host-dir:]ctr-dir[:option]"
            )))
        }
    };
    if !dst.starts_with('/') {
        return Err(invalid(format!(
            "invalid container path {dst:?}, must be an absolute path"
        )));
    }
    if !src.starts_with('/') && !src.starts_with('.') {
        return Err(invalid(format!(
            "volume {s:?}: named volumes come with the volumes issue; use an absolute host path"
        )));
    }
    let src = std::fs::canonicalize(src).map_err(|e| invalid(format!("statfs {src}: {e}")))?;
    let mut options: Vec<String> = Vec::new();
    for o in opts.split(',').filter(|o| !o.is_empty()) {
        match o {
            "ro" | "rw" | "z" | "Z" | "O" | "U" | "rbind" | "bind" | "nosuid" | "suid"
            | "nodev" | "dev" | "noexec" | "exec" | "private" | "rprivate" | "shared"
            | "rshared" | "slave" | "rslave" | "copy" | "nocopy" => options.push(o.into()),
            _ => return Err(invalid(format!("invalid option {o:?} for volume {s:?}"))),
        }
    }
    Ok(Mount {
        kind: "bind".into(),
        source: src,
        destination: PathBuf::from(dst),
        options,
    })
}

/// Parses `--tmpfs DST[:OPTS]`.
pub fn parse_tmpfs(s: &str) -> Result<Mount, ContainerError> {
    let (dst, opts) = s.split_once(':').unwrap_or((s, ""));
    if !dst.starts_with('/') {
        return Err(invalid(format!(
            "invalid container path {dst:?}, must be an absolute path"
        )));
    }
    Ok(Mount {
        kind: "tmpfs".into(),
        source: PathBuf::new(),
        destination: PathBuf::from(dst),
        options: opts
            .split(',')
            .filter(|o| !o.is_empty())
            .map(str::to_string)
            .collect(),
    })
}

fn parse_security(opts: &CreateOptions) -> Result<SecurityConfig, ContainerError> {
    let mut sec = SecurityConfig {
        privileged: opts.privileged,
        cap_add: opts.cap_add.clone(),
        cap_drop: opts.cap_drop.clone(),
        ..Default::default()
    };
    for o in &opts.security_opt {
        let (k, v) = o.split_once('=').unwrap_or((o.as_str(), ""));
        match (k, v) {
            ("seccomp", v) if !v.is_empty() => sec.seccomp_profile = Some(v.into()),
            ("no-new-privileges", "" | "true") => sec.no_new_privileges = true,
            ("no-new-privileges", "false") => sec.no_new_privileges = false,
            ("mask", v) => sec.mask.extend(v.split(':').map(str::to_string)),
            ("unmask", v) => sec.unmask.extend(v.split(':').map(str::to_string)),
            // No SELinux or AppArmor on this engine's hosts: accepted, as
            // Podman does when they are disabled.
            ("label", _) | ("apparmor", _) => {}
            _ => return Err(invalid(format!("invalid --security-opt 2: {o:?}"))),
        }
    }
    Ok(sec)
}

/// A random 64-hex id.
pub fn random_id() -> Result<String, ContainerError> {
    let mut buf = [0u8; 32];
    rustix::rand::getrandom(&mut buf, rustix::rand::GetRandomFlags::empty())
        .map_err(|e| ContainerError::Other(format!("getrandom: {e}")))?;
    Ok(hex::encode(buf))
}

/// Builds the configuration from the options and the image's config.
/// `id`, `name`, `rootfs` and `runtime` are filled in by the caller.
pub fn build_config(
    opts: &CreateOptions,
    image: &ImageRuntimeConfig,
) -> Result<ContainerConfig, ContainerError> {
    let mut cfg = ContainerConfig::default();
    // Command: --entrypoint replaces the image's and clears its Cmd.
    let (entrypoint, cmd) = match &opts.entrypoint {
        Some(ep) => (parse_entrypoint(ep), opts.command.clone()),
        None => (
            image.entrypoint.clone().unwrap_or_default(),
            if opts.command.is_empty() {
                image.cmd.clone().unwrap_or_default()
            } else {
                opts.command.clone()
            },
        ),
    };
    cfg.command = entrypoint.iter().chain(cmd.iter()).cloned().collect();
    if cfg.command.is_empty() {
        return Err(invalid(
            "no command or entrypoint provided, and no CMD or ENTRYPOINT from image",
        ));
    }
    cfg.entrypoint = entrypoint;
    cfg.cmd = cmd;
    // Environment: image, --env-host, --env-file, -e (later wins).
    let mut env = image.env.clone();
    if opts.env_host {
        merge_env(
            &mut env,
            opts.caller_env.iter().map(|(k, v)| format!("{k}={v}")),
        );
    }
    for f in &opts.env_file {
        merge_env(&mut env, read_env_file(f, &opts.caller_env)?);
    }
    merge_env(&mut env, user_env(&opts.env, &opts.caller_env));
    cfg.env = env;
    cfg.workdir = opts
        .workdir
        .clone()
        .filter(|w| !w.is_empty())
        .or_else(|| (!image.working_dir.is_empty()).then(|| image.working_dir.clone()))
        .unwrap_or_else(|| "/".into());
    if !cfg.workdir.starts_with('/') {
        return Err(invalid(format!(
            "workdir {:?} must be an absolute path",
            cfg.workdir
        )));
    }
    cfg.user = opts.user.clone().unwrap_or_else(|| image.user.clone());
    cfg.groups = opts.group_add.clone();
    cfg.hostname = opts.hostname.clone().unwrap_or_default();
    let mut labels = image.labels.clone().unwrap_or_default();
    for f in &opts.label_files {
        let text = std::fs::read_to_string(f)
            .map_err(|e| invalid(format!("open {}: {e}", f.display())))?;
        let lines: Vec<String> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_string)
            .collect();
        labels.extend(parse_kv(&lines));
    }
    labels.extend(parse_kv(&opts.labels));
    cfg.labels = labels;
    cfg.annotations = parse_kv(&opts.annotations);
    cfg.stop_signal = match (&opts.stop_signal, image.stop_signal.as_str()) {
        (Some(s), _) => parse_signal(s)?,
        (None, "") => 15,
        (None, s) => parse_signal(s)?,
    };
    cfg.stop_timeout = opts.stop_timeout.unwrap_or(10);
    cfg.restart = match &opts.restart {
        Some(r) => parse_restart(r)?,
        None => RestartPolicy::default(),
    };
    if opts.rm && !matches!(cfg.restart.name.as_str(), "" | "no") {
        return Err(invalid(
            "the --rm option conflicts with --restart, when the restartPolicy is not \"\" and \"no\"",
        ));
    }
    cfg.auto_remove = opts.rm;
    cfg.init = opts.init;
    cfg.tty = opts.tty;
    cfg.stdin = opts.interactive;
    cfg.log = parse_log(opts)?;
    cfg.network = match opts.network.as_deref() {
        // Rootless, the default network is slirp4netns (Podman's default).
        None | Some("") if podman_rs_namespaces::rootless() => NetworkMode::Slirp4netns(Vec::new()),
        other => parse_network(other.unwrap_or(""))?,
    };
    cfg.ports = parse_publish(&opts.publish)?;
    let userns_ctx = super::userns::UsernsContext::detect();
    cfg.userns = super::userns::parse_userns(
        opts.userns.as_deref(),
        &opts.uidmap,
        &opts.gidmap,
        &userns_ctx,
    )?;
    cfg.dns_servers = opts.dns.clone();
    cfg.dns_search = opts.dns_search.clone();
    cfg.dns_options = opts.dns_option.clone();
    for h in &opts.add_host {
        if h.split_once(':')
            .is_none_or(|(n, ip)| n.is_empty() || ip.is_empty())
        {
            return Err(invalid(format!("invalid IP address in add-host: {h:?}")));
        }
    }
    cfg.add_hosts = opts.add_host.clone();
    cfg.no_hosts = opts.no_hosts;
    for v in &opts.volumes {
        cfg.mounts.push(parse_volume(v)?);
    }
    for t in &opts.tmpfs {
        cfg.mounts.push(parse_tmpfs(t)?);
    }
    if let (UsernsMode::KeepId { uid, gid }, Some(r)) = (&cfg.userns.mode, &userns_ctx.rootless) {
        // The container runs as the user (same ids) unless --user says
        // otherwise; without uid=/gid= options it also gets the user's
        // passwd and group entries.
        let (u, g) = (uid.unwrap_or(r.uid), gid.unwrap_or(r.gid));
        if opts.user.is_none() {
            cfg.user = format!("{u}:{g}");
        }
        if uid.is_none() && gid.is_none() {
            let (passwd, group) =
                super::userns::keep_id_entries(r.uid, r.gid, &cfg.mounts, &cfg.workdir);
            cfg.userns.passwd_entry = passwd;
            cfg.userns.group_entry = group;
        }
    }
    cfg.security = parse_security(opts)?;
    cfg.read_only = opts.read_only;
    for u in &opts.ulimits {
        if u == "host" {
            continue;
        }
        cfg.ulimits.push(parse_ulimit(u)?);
    }
    cfg.shm_size = match &opts.shm_size {
        Some(s) => {
            parse_size(s).map_err(|e| invalid(format!("unable to translate --shm-size: {e}")))?
        }
        None => 64 << 20,
    };
    cfg.sysctls = parse_kv(&opts.sysctls);
    if let Some(m) = &opts.memory {
        cfg.resources.memory = Some(
            parse_size(m).map_err(|e| invalid(format!("invalid value for memory: {e}")))? as i64,
        );
    }
    cfg.resources.pids_limit = opts.pids_limit;
    if let Some(c) = opts.cpus {
        if c < 0.0 {
            return Err(invalid(format!("invalid --cpus {c}")));
        }
        cfg.resources.cpu_period = Some(100_000);
        cfg.resources.cpu_quota = Some((c * 100_000.0) as i64);
    }
    cfg.resources.cpu_shares = opts.cpu_shares;
    cfg.resources.cpuset_cpus = opts.cpuset_cpus.clone();
    cfg.resources.oom_score_adj = opts.oom_score_adj;
    cfg.create_command = opts.create_command.clone();
    cfg.detach_keys = opts.detach_keys.clone().unwrap_or_default();
    if let Some(k) = &opts.detach_keys {
        super::attach::parse_detach_keys(k).map_err(invalid)?;
    }
    cfg.cidfile = opts.cidfile.clone();
    Ok(cfg)
}

fn parse_log(opts: &CreateOptions) -> Result<LogConfig, ContainerError> {
    let driver = opts.log_driver.clone().unwrap_or_else(|| "k8s-file".into());
    match driver.as_str() {
        "k8s-file" | "json-file" | "none" | "passthrough" => {}
        "journald" => {
            return Err(invalid(
                "log driver journald: no journal on this host (PID 1 is not systemd); use k8s-file",
            ))
        }
        other => {
            tracing::debug!("unknown log driver {other:?}");
            return Err(invalid(
                "running container create option: invalid log driver: invalid argument",
            ));
        }
    }
    let mut log = LogConfig {
        driver,
        ..Default::default()
    };
    for o in &opts.log_opts {
        let (k, v) = o
            .split_once('=')
            .ok_or_else(|| invalid(format!("invalid log option {o:?}")))?;
        match k {
            "path" => log.path = Some(PathBuf::from(v)),
            "max-size" => log.max_size = parse_size(v)?,
            "tag" => log.tag = v.into(),
            _ => return Err(invalid(format!("unknown log opt {k:?}"))),
        }
    }
    Ok(log)
}

/// Docker/Podman-style random names: `adjective_surname`.
pub fn random_name() -> String {
    const LEFT: &[&str] = &[
        "admiring",
        "agitated",
        "amazing",
        "awesome",
        "beautiful",
        "blissful",
        "bold",
        "brave",
        "busy",
        "charming",
        "clever",
        "compassionate",
        "competent",
        "confident",
        "cool",
        "dazzling",
        "determined",
        "eager",
        "ecstatic",
        "elastic",
        "elegant",
        "epic",
        "exciting",
        "fervent",
        "focused",
        "friendly",
        "funny",
        "gallant",
        "gifted",
        "goofy",
        "gracious",
        "happy",
        "hopeful",
        "inspiring",
        "jolly",
        "keen",
        "kind",
        "laughing",
        "loving",
        "lucid",
        "magical",
        "modest",
        "nice",
        "nifty",
        "optimistic",
        "peaceful",
        "pensive",
        "practical",
        "quirky",
        "relaxed",
        "romantic",
        "serene",
        "sharp",
        "stoic",
        "sweet",
        "tender",
        "trusting",
        "upbeat",
        "vibrant",
        "vigilant",
        "wizardly",
        "wonderful",
        "youthful",
        "zen",
    ];
    const RIGHT: &[&str] = &[
        "albattani",
        "allen",
        "archimedes",
        "babbage",
        "banach",
        "bardeen",
        "bell",
        "bohr",
        "brattain",
        "cannon",
        "carson",
        "curie",
        "darwin",
        "dijkstra",
        "einstein",
        "euclid",
        "euler",
        "fermat",
        "feynman",
        "franklin",
        "galileo",
        "gauss",
        "goldberg",
        "goodall",
        "hamilton",
        "hawking",
        "heisenberg",
        "hertz",
        "hopper",
        "hypatia",
        "johnson",
        "kepler",
        "knuth",
        "lamarr",
        "leakey",
        "lovelace",
        "lumiere",
        "mayer",
        "mccarthy",
        "meitner",
        "morse",
        "newton",
        "nobel",
        "noether",
        "pasteur",
        "payne",
        "perlman",
        "pike",
        "poincare",
        "ritchie",
        "rosalind",
        "shannon",
        "sinoussi",
        "stonebraker",
        "tesla",
        "thompson",
        "torvalds",
        "turing",
        "villani",
        "wilson",
        "wozniak",
        "wright",
        "yalow",
        "zhukovsky",
    ];
    let mut b = [0u8; 2];
    let _ = rustix::rand::getrandom(&mut b, rustix::rand::GetRandomFlags::empty());
    format!(
        "{}_{}",
        LEFT[b[0] as usize % LEFT.len()],
        RIGHT[b[1] as usize % RIGHT.len()]
    )
}

/// Podman's name rule: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`.
pub fn check_name(name: &str) -> Result<(), ContainerError> {
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(invalid(format!(
            "container name {name:?}: names must match [a-zA-Z0-9][a-zA-Z0-9_.-]*: invalid argument"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_policies() {
        assert_eq!(parse_restart("no").unwrap(), RestartPolicy::default());
        assert_eq!(parse_restart("on-failure:2").unwrap().max_retries, 2);
        assert_eq!(parse_restart("always").unwrap().name, "always");
        assert!(parse_restart("always:3").is_err());
        assert!(parse_restart("sometimes").is_err());
        assert!(parse_restart("on-failure:x").is_err());
    }

    #[test]
    fn signals() {
        assert_eq!(parse_signal("TERM").unwrap(), 15);
        assert_eq!(parse_signal("sigkill").unwrap(), 9);
        assert_eq!(parse_signal("2").unwrap(), 2);
        assert_eq!(parse_signal("RTMIN+3").unwrap(), 37);
        assert!(parse_signal("NOPE").is_err());
        assert!(parse_signal("99").is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("64m").unwrap(), 64 << 20);
        assert_eq!(parse_size("1g").unwrap(), 1 << 30);
        assert_eq!(parse_size("512").unwrap(), 512);
        assert_eq!(parse_size("2KB").unwrap(), 2048);
        assert!(parse_size("lots").is_err());
    }

    #[test]
    fn ulimits() {
        let u = parse_ulimit("nofile=1024:2048").unwrap();
        assert_eq!((u.soft, u.hard), (1024, 2048));
        assert!(parse_ulimit("nofile=10:5").is_err());
        assert!(parse_ulimit("bogus=1").is_err());
        assert_eq!(parse_ulimit("core=-1").unwrap().hard, u64::MAX);
    }

    #[test]
    fn command_and_env_merge_like_podman() {
        let image = ImageRuntimeConfig {
            env: vec!["PATH=/bin".into(), "A=image".into()],
            entrypoint: Some(vec!["/ep".into()]),
            cmd: Some(vec!["default".into()]),
            ..Default::default()
        };
        let opts = CreateOptions {
            env: vec!["A=user".into(), "FROMHOST".into(), "MISSING".into()],
            caller_env: vec![("FROMHOST".into(), "yes".into())],
            ..Default::default()
        };
        let cfg = build_config(&opts, &image).unwrap();
        assert_eq!(cfg.command, vec!["/ep", "default"]);
        assert_eq!(cfg.env, vec!["PATH=/bin", "A=user", "FROMHOST=yes"]);
        assert_eq!(cfg.workdir, "/");
        assert_eq!(cfg.stop_signal, 15);
        // --entrypoint clears the image's Cmd.
        let opts = CreateOptions {
            entrypoint: Some("[\"/bin/sh\",\"-c\"]".into()),
            command: vec!["echo hi".into()],
            ..Default::default()
        };
        let cfg = build_config(&opts, &image).unwrap();
        assert_eq!(cfg.command, vec!["/bin/sh", "-c", "echo hi"]);
        let opts = CreateOptions {
            entrypoint: Some("".into()),
            ..Default::default()
        };
        assert!(build_config(&opts, &image).is_err());
        // --rm conflicts with a restart policy.
        let opts = CreateOptions {
            rm: true,
            restart: Some("always".into()),
            ..Default::default()
        };
        assert!(build_config(&opts, &image).is_err());
    }

    #[test]
    fn names() {
        assert!(check_name("web-1.a_b").is_ok());
        assert!(check_name("-x").is_err());
        assert!(check_name("").is_err());
        assert!(check_name("a b").is_err());
        let n = random_name();
        assert!(check_name(&n).is_ok(), "{n}");
    }
}
