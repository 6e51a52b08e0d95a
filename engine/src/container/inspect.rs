//! `podman inspect` of a container: Podman 4.3.1's JSON shape
//! (`define.InspectContainerData`), filled from the record and config.

use serde_json::{json, Map, Value};

use super::config::{ContainerConfig, NetworkMode, RootfsSource};
use super::local::rfc3339_ns;
use super::rootfs;
use crate::interface::LocalEngine;
use crate::store::{ContainerRecord, ContainerStatus};

/// The environment as Podman reports it in `Config.Env`: the container's,
/// plus PATH, TERM and container defaults, sorted by key.
pub fn inspect_env(cfg: &ContainerConfig) -> Vec<String> {
    let mut env = cfg.env.clone();
    let has = |env: &[String], k: &str| env.iter().any(|e| e.split('=').next() == Some(k));
    for (k, v) in [
        (
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        ),
        ("TERM", "xterm"),
        ("container", "podman"),
    ] {
        if !has(&env, k) {
            env.push(format!("{k}={v}"));
        }
    }
    env.sort_by(|a, b| a.split('=').next().cmp(&b.split('=').next()));
    env
}

/// The environment of the spec last generated (with HOME and HOSTNAME):
/// Podman reports the spec's once the container has been initialized.
fn spec_env(userdata: &std::path::Path) -> Option<Vec<String>> {
    let data = std::fs::read(userdata.join("config.json")).ok()?;
    let spec: Value = serde_json::from_slice(&data).ok()?;
    serde_json::from_value(spec.get("process")?.get("env")?.clone()).ok()
}

fn bool_upper(b: bool) -> &'static str {
    if b {
        "TRUE"
    } else {
        "FALSE"
    }
}

/// The container's inspect JSON.
pub fn inspect_json(
    engine: &LocalEngine,
    rec: &ContainerRecord,
    cfg: &ContainerConfig,
    size: bool,
) -> Value {
    let layout = engine.layout();
    let st = &rec.state;
    let id = rec.id.as_str();
    let (image_id, image_name, image_digest) = match &cfg.rootfs {
        RootfsSource::Image { id, name } => {
            let digest = engine
                .store()
                .lookup_image(id, &[])
                .map(|i| i.digest)
                .unwrap_or_default();
            (id.clone(), name.clone(), digest)
        }
        _ => (String::new(), String::new(), String::new()),
    };
    let rootfs_path = match &cfg.rootfs {
        RootfsSource::Path { path, .. } => path.display().to_string(),
        _ => String::new(),
    };
    let hostname = if cfg.hostname.is_empty() {
        id[..12].to_string()
    } else {
        cfg.hostname.clone()
    };
    let userdata = layout.userdata(id);
    let file = |name: &str| {
        let p = userdata.join(name);
        if p.exists() {
            p.display().to_string()
        } else {
            String::new()
        }
    };
    let running = matches!(
        st.status,
        ContainerStatus::Running | ContainerStatus::Paused | ContainerStatus::Stopping
    );
    let caps: Vec<String> = if cfg.security.privileged {
        Vec::new()
    } else {
        podman_rs_seccomp::PODMAN_DEFAULT_CAPS
            .iter()
            .map(|s| s.to_string())
            .collect()
    };
    let mut annotations = Map::new();
    annotations.insert("io.kubernetes.cri-o.TTY".into(), json!(cfg.tty.to_string()));
    annotations.insert(
        "io.podman.annotations.autoremove".into(),
        json!(bool_upper(cfg.auto_remove)),
    );
    annotations.insert(
        "io.podman.annotations.init".into(),
        json!(bool_upper(cfg.init)),
    );
    annotations.insert(
        "io.podman.annotations.privileged".into(),
        json!(bool_upper(cfg.security.privileged)),
    );
    annotations.insert("io.podman.annotations.publish-all".into(), json!("FALSE"));
    for (k, v) in &cfg.annotations {
        annotations.insert(k.clone(), json!(v));
    }
    let log_path = cfg.log.path.clone().unwrap_or_else(|| layout.log_path(id));
    let network_mode = match &cfg.network {
        NetworkMode::Private => "private".to_string(),
        NetworkMode::None => "none".into(),
        NetworkMode::Host => "host".into(),
        NetworkMode::Container(c) => format!("container:{c}"),
        NetworkMode::Path(p) => format!("ns:{}", p.display()),
        NetworkMode::Slirp4netns(_) => "slirp4netns".into(),
        NetworkMode::Pasta(_) => "pasta".into(),
    };
    // Podman's shape: {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}.
    let mut ports = serde_json::Map::new();
    for p in &cfg.ports {
        let key = format!("{}/{}", p.container_port, p.protocol);
        let entry = json!({"HostIp": p.host_ip, "HostPort": p.host_port.to_string()});
        match ports.get_mut(&key).and_then(Value::as_array_mut) {
            Some(list) => list.push(entry),
            None => {
                ports.insert(key, json!([entry]));
            }
        }
    }
    let ports = Value::Object(ports);
    let mounts: Vec<Value> = cfg
        .mounts
        .iter()
        .map(|m| {
            json!({
                "Type": m.kind,
                "Source": m.source.display().to_string(),
                "Destination": m.destination.display().to_string(),
                "Driver": "",
                "Mode": "",
                "Options": m.options.iter().filter(|o| *o != "ro" && *o != "rw").collect::<Vec<_>>(),
                "RW": !m.options.iter().any(|o| o == "ro"),
                "Propagation": "rprivate",
            })
        })
        .collect();
    let graph = match &cfg.rootfs {
        RootfsSource::Image { .. } => {
            let lower: Vec<String> = engine
                .store()
                .lookup_image(&image_id, &[])
                .ok()
                .and_then(|i| engine.store().layers().layer_dirs(&i.layers).ok())
                .map(|d| d.iter().rev().map(|p| p.display().to_string()).collect())
                .unwrap_or_default();
            json!({
                "Name": engine.storage().driver,
                "Data": {
                    "LowerDir": lower.join(":"),
                    "MergedDir": layout.merged(id).display().to_string(),
                    "UpperDir": layout.upper(id).display().to_string(),
                    "WorkDir": layout.work(id).display().to_string(),
                }
            })
        }
        _ => json!({"Name": "", "Data": null}),
    };
    let mut v = json!({
        "Id": id,
        "Created": rfc3339_ns(rec.created),
        "Path": cfg.command.first().cloned().unwrap_or_default(),
        // Podman 4.3.1: the arguments after the first, or the whole
        // command when it is one word.
        "Args": if cfg.command.len() > 1 { &cfg.command[1..] } else { &cfg.command[..] },
        "State": {
            "OciVersion": "1.0.2-dev",
            "Status": st.status.as_str(),
            "Running": running,
            "Paused": st.status == ContainerStatus::Paused,
            "Restarting": false,
            "OOMKilled": st.oom_killed,
            "Dead": false,
            "Pid": st.pid,
            "ConmonPid": if running { st.monitor_pid } else { 0 },
            "ExitCode": st.exit_code.unwrap_or(0),
            "Error": st.error,
            "StartedAt": rfc3339_ns(st.started_at),
            "FinishedAt": rfc3339_ns(st.finished_at),
            "Health": {"Status": "", "FailingStreak": 0, "Log": null},
            "CheckpointedAt": "0001-01-01T00:00:00Z",
            "RestoredAt": "0001-01-01T00:00:00Z",
        },
        "Image": image_id,
        "ImageDigest": image_digest,
        "ImageName": image_name,
        "Rootfs": rootfs_path,
        "Pod": "",
        "ResolvConfPath": file("resolv.conf"),
        "HostnamePath": file("hostname"),
        "HostsPath": file("hosts"),
        "StaticDir": userdata.display().to_string(),
        "OCIConfigPath": layout.bundle(id).join("config.json").display().to_string(),
        "OCIRuntime": cfg.runtime.as_ref().map(|r| r.display().to_string()).unwrap_or_else(|| "podman-rs".into()),
        "ConmonPidFile": "",
        "PidFile": "",
        "Name": rec.name,
        "RestartCount": st.restart_count,
        "Driver": engine.storage().driver,
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "EffectiveCaps": caps,
        "BoundingCaps": caps,
        "ExecIDs": [],
        "GraphDriver": graph,
        "Mounts": mounts,
        "Dependencies": [],
        "NetworkSettings": {
            "EndpointID": "", "Gateway": "", "IPAddress": "", "IPPrefixLen": 0,
            "IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
            "MacAddress": "", "Bridge": "", "SandboxID": "", "HairpinMode": false,
            "LinkLocalIPv6Address": "", "LinkLocalIPv6PrefixLen": 0, "Ports": ports.clone(),
            "SandboxKey": if running && matches!(cfg.network, NetworkMode::Private | NetworkMode::None) {
                layout.netns_dir().join(id).display().to_string()
            } else { String::new() },
        },
        "Namespace": "",
        "IsInfra": false,
        "IsService": false,
        "Config": {
            "Hostname": hostname,
            "Domainname": "",
            "User": cfg.user,
            "AttachStdin": false,
            "AttachStdout": false,
            "AttachStderr": false,
            "Tty": cfg.tty,
            "OpenStdin": cfg.stdin,
            "StdinOnce": false,
            "Env": spec_env(&userdata).unwrap_or_else(|| inspect_env(cfg)),
            "Cmd": if cfg.cmd.is_empty() { Value::Null } else { json!(cfg.cmd) },
            "Image": image_name,
            "Volumes": null,
            "WorkingDir": cfg.workdir,
            "Entrypoint": cfg.entrypoint.join(" "),
            "OnBuild": null,
            "Labels": if cfg.labels.is_empty() { Value::Null } else { json!(cfg.labels) },
            "Annotations": annotations,
            "StopSignal": cfg.stop_signal,
            "HealthcheckOnFailureAction": "none",
            "CreateCommand": cfg.create_command,
            "Umask": "0022",
            "Timeout": 0,
            "StopTimeout": cfg.stop_timeout,
            "Passwd": true,
            "sdNotifyMode": "container",
        },
        "HostConfig": {
            "Binds": cfg.mounts.iter().filter(|m| m.kind == "bind").map(|m| {
                let mut s = format!("{}:{}", m.source.display(), m.destination.display());
                let opts: Vec<&str> = m.options.iter().map(String::as_str).collect();
                s.push(':');
                s.push_str(&if opts.is_empty() { "rw,rprivate,rbind".to_string() } else { opts.join(",") });
                s
            }).collect::<Vec<_>>(),
            "CgroupManager": "cgroupfs",
            "CgroupMode": "host",
            "ContainerIDFile": cfg.cidfile.as_ref().map(|p| p.display().to_string()).unwrap_or_default(),
            "LogConfig": {
                "Type": cfg.log.driver,
                "Config": null,
                "Path": log_path.display().to_string(),
                "Tag": cfg.log.tag,
                "Size": if cfg.log.max_size == 0 { "0B".to_string() } else { format!("{}B", cfg.log.max_size) },
            },
            "NetworkMode": network_mode,
            "PortBindings": ports,
            "RestartPolicy": {"Name": cfg.restart.name, "MaximumRetryCount": cfg.restart.max_retries},
            "AutoRemove": cfg.auto_remove,
            "CapAdd": cfg.security.cap_add,
            "CapDrop": cfg.security.cap_drop,
            "Dns": cfg.dns_servers,
            "DnsOptions": cfg.dns_options,
            "DnsSearch": cfg.dns_search,
            "ExtraHosts": cfg.add_hosts,
            "GroupAdd": cfg.groups,
            "IpcMode": "shareable",
            "Cgroup": "",
            "Cgroups": "default",
            "OomScoreAdj": cfg.resources.oom_score_adj.unwrap_or(0),
            "PidMode": "private",
            "Privileged": cfg.security.privileged,
            "ReadonlyRootfs": cfg.read_only,
            "SecurityOpt": [],
            "Tmpfs": {},
            "UTSMode": "private",
            "UsernsMode": cfg.userns.mode.inspect_text(),
            "ShmSize": cfg.shm_size,
            "Runtime": "oci",
            "Memory": cfg.resources.memory.unwrap_or(0),
            "NanoCpus": cfg.resources.cpu_quota.unwrap_or(0) * 10_000,
            "CpuShares": cfg.resources.cpu_shares.unwrap_or(0),
            "CpuPeriod": cfg.resources.cpu_period.unwrap_or(0),
            "CpuQuota": cfg.resources.cpu_quota.unwrap_or(0),
            "CpusetCpus": cfg.resources.cpuset_cpus.clone().unwrap_or_default(),
            "PidsLimit": cfg.resources.pids_limit.unwrap_or(0),
            "Ulimits": cfg.ulimits.iter().map(|u| json!({
                "Name": format!("RLIMIT_{}", u.name.to_uppercase()), "Soft": u.soft, "Hard": u.hard
            })).collect::<Vec<_>>(),
        },
    });
    if let Some(maps) = super::userns::inspect_id_mappings(&cfg.userns) {
        if let Some(hc) = v.get_mut("HostConfig").and_then(|h| h.as_object_mut()) {
            hc.insert("IDMappings".into(), maps);
        }
    }
    if size {
        if let Some(obj) = v.as_object_mut() {
            obj.insert("SizeRw".into(), json!(rootfs::rw_size(&layout, id)));
            obj.insert("SizeRootFs".into(), json!(0));
        }
    }
    v
}
