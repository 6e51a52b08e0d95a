//! Checks a bundle before anything is created, so that a bad bundle fails
//! with a message naming the problem and leaves no state behind.
//!
//! A field of the OCI runtime spec that this runtime does not implement is an
//! error naming it, never silently ignored. A property the spec does not
//! define at all is ignored with a warning naming it, as the spec's
//! extensibility rule requires ("runtimes MUST ignore unknown properties").
//! Empty values (`null`, `""`, `[]`, `{}`) count as absent.

use std::path::Path;

use oci_spec::runtime::Spec;
use serde_json::Value;

use crate::{Result, RuntimeError};

/// Paths (dotted, `[]` for array items) of every field the runtime honours.
const SUPPORTED: &[&str] = &[
    "ociVersion",
    "root",
    "root.path",
    "root.readonly",
    "hostname",
    "domainname",
    "annotations",
    "mounts",
    "mounts[].destination",
    "mounts[].type",
    "mounts[].source",
    "mounts[].options",
    "mounts[].uidMappings",
    "mounts[].gidMappings",
    "mounts[].uidMappings[].containerID",
    "mounts[].uidMappings[].hostID",
    "mounts[].uidMappings[].size",
    "mounts[].gidMappings[].containerID",
    "mounts[].gidMappings[].hostID",
    "mounts[].gidMappings[].size",
    "process",
    "process.terminal",
    "process.user",
    "process.user.uid",
    "process.user.gid",
    "process.user.umask",
    "process.user.additionalGids",
    "process.user.username",
    "process.args",
    "process.env",
    "process.cwd",
    "process.capabilities",
    "process.capabilities.bounding",
    "process.capabilities.effective",
    "process.capabilities.inheritable",
    "process.capabilities.permitted",
    "process.capabilities.ambient",
    "process.rlimits",
    "process.rlimits[].type",
    "process.rlimits[].hard",
    "process.rlimits[].soft",
    "process.noNewPrivileges",
    "process.apparmorProfile",
    "process.oomScoreAdj",
    "process.ioPriority",
    "process.ioPriority.class",
    "process.ioPriority.priority",
    "process.scheduler",
    "process.scheduler.policy",
    "process.scheduler.nice",
    "process.scheduler.priority",
    "process.scheduler.flags",
    "process.scheduler.runtime",
    "process.scheduler.deadline",
    "process.scheduler.period",
    "hooks",
    "hooks.prestart",
    "hooks.createRuntime",
    "hooks.createContainer",
    "hooks.startContainer",
    "hooks.poststart",
    "hooks.poststop",
    "hooks.prestart[].path",
    "hooks.prestart[].args",
    "hooks.prestart[].env",
    "hooks.prestart[].timeout",
    "hooks.createRuntime[].path",
    "hooks.createRuntime[].args",
    "hooks.createRuntime[].env",
    "hooks.createRuntime[].timeout",
    "hooks.createContainer[].path",
    "hooks.createContainer[].args",
    "hooks.createContainer[].env",
    "hooks.createContainer[].timeout",
    "hooks.startContainer[].path",
    "hooks.startContainer[].args",
    "hooks.startContainer[].env",
    "hooks.startContainer[].timeout",
    "hooks.poststart[].path",
    "hooks.poststart[].args",
    "hooks.poststart[].env",
    "hooks.poststart[].timeout",
    "hooks.poststop[].path",
    "hooks.poststop[].args",
    "hooks.poststop[].env",
    "hooks.poststop[].timeout",
    "linux",
    "linux.uidMappings",
    "linux.uidMappings[].containerID",
    "linux.uidMappings[].hostID",
    "linux.uidMappings[].size",
    "linux.gidMappings",
    "linux.gidMappings[].containerID",
    "linux.gidMappings[].hostID",
    "linux.gidMappings[].size",
    "linux.sysctl",
    "linux.cgroupsPath",
    "linux.namespaces",
    "linux.namespaces[].type",
    "linux.namespaces[].path",
    "linux.devices",
    "linux.devices[].type",
    "linux.devices[].path",
    "linux.devices[].major",
    "linux.devices[].minor",
    "linux.devices[].fileMode",
    "linux.devices[].uid",
    "linux.devices[].gid",
    "linux.rootfsPropagation",
    "linux.maskedPaths",
    "linux.readonlyPaths",
    "linux.seccomp",
    "linux.seccomp.defaultAction",
    "linux.seccomp.defaultErrnoRet",
    "linux.seccomp.architectures",
    "linux.seccomp.flags",
    "linux.seccomp.listenerPath",
    "linux.seccomp.listenerMetadata",
    "linux.seccomp.syscalls",
    "linux.seccomp.syscalls[].names",
    "linux.seccomp.syscalls[].action",
    "linux.seccomp.syscalls[].errnoRet",
    "linux.seccomp.syscalls[].args",
    "linux.seccomp.syscalls[].args[].index",
    "linux.seccomp.syscalls[].args[].value",
    "linux.seccomp.syscalls[].args[].valueTwo",
    "linux.seccomp.syscalls[].args[].op",
    "linux.resources",
    "linux.resources.devices",
    "linux.resources.devices[].allow",
    "linux.resources.devices[].type",
    "linux.resources.devices[].major",
    "linux.resources.devices[].minor",
    "linux.resources.devices[].access",
    "linux.resources.memory",
    "linux.resources.memory.limit",
    "linux.resources.memory.reservation",
    "linux.resources.memory.swap",
    "linux.resources.memory.kernel",
    "linux.resources.memory.kernelTCP",
    "linux.resources.memory.swappiness",
    "linux.resources.memory.disableOOMKiller",
    "linux.resources.memory.useHierarchy",
    "linux.resources.memory.checkBeforeUpdate",
    "linux.resources.cpu",
    "linux.resources.cpu.shares",
    "linux.resources.cpu.quota",
    "linux.resources.cpu.burst",
    "linux.resources.cpu.period",
    "linux.resources.cpu.realtimeRuntime",
    "linux.resources.cpu.realtimePeriod",
    "linux.resources.cpu.cpus",
    "linux.resources.cpu.mems",
    "linux.resources.cpu.idle",
    "linux.resources.pids",
    "linux.resources.pids.limit",
    "linux.resources.blockIO",
    "linux.resources.blockIO.weight",
    "linux.resources.blockIO.leafWeight",
    "linux.resources.blockIO.weightDevice",
    "linux.resources.blockIO.throttleReadBpsDevice",
    "linux.resources.blockIO.throttleWriteBpsDevice",
    "linux.resources.blockIO.throttleReadIOPSDevice",
    "linux.resources.blockIO.throttleWriteIOPSDevice",
    "linux.resources.hugepageLimits",
    "linux.resources.hugepageLimits[].pageSize",
    "linux.resources.hugepageLimits[].limit",
    "linux.resources.network",
    "linux.resources.network.classID",
    "linux.resources.network.priorities",
    "linux.resources.unified",
    "linux.timeOffsets",
    "linux.intelRdt",
    "linux.memoryPolicy",
    "linux.netDevices",
    "process.execCPUAffinity",
    "process.execCPUAffinity.initial",
    "process.execCPUAffinity.final",
    "linux.personality",
    "linux.personality.domain",
    "linux.personality.flags",
];

/// Fields whose content is free-form (maps of user data) or checked elsewhere.
const OPAQUE: &[&str] = &[
    "annotations",
    "linux.intelRdt",
    "linux.memoryPolicy",
    "linux.netDevices",
    "linux.sysctl",
    "linux.resources.unified",
    "linux.timeOffsets",
    "linux.resources.blockIO.weightDevice",
    "linux.resources.blockIO.throttleReadBpsDevice",
    "linux.resources.blockIO.throttleWriteBpsDevice",
    "linux.resources.blockIO.throttleReadIOPSDevice",
    "linux.resources.blockIO.throttleWriteIOPSDevice",
    "linux.resources.network.priorities",
    "linux.seccomp.listenerMetadata",
];

/// Fields the OCI runtime spec defines that this runtime does not implement.
const UNSUPPORTED: &[&str] = &[
    "process.consoleSize",
    "process.commandLine",
    "linux.resources.rdma",
    "windows",
    "solaris",
    "vm",
    "zos",
];

/// SELinux labels: honoured as "no label" when SELinux is off (nothing to
/// apply, as crun does), unsupported when it is on.
const SELINUX_LABELS: &[&str] = &["process.selinuxLabel", "linux.mountLabel"];

pub(crate) fn selinux_enabled() -> bool {
    Path::new("/sys/fs/selinux/enforce").exists()
}

const NAMESPACE_TYPES: &[&str] = &[
    "pid", "network", "mount", "ipc", "uts", "user", "cgroup", "time",
];

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

/// What the field check found: the first spec-defined field we do not
/// implement (an error), and the properties the spec does not define (ignored).
#[derive(Debug, Default, PartialEq)]
pub struct FieldReport {
    pub unsupported: Option<String>,
    pub unknown: Vec<String>,
}

/// Walks the config and sorts every non-empty field into supported,
/// unsupported (spec-defined, not implemented) and unknown (not in the spec).
pub fn check_fields(config: &Value) -> FieldReport {
    fn walk(v: &Value, path: &str, report: &mut FieldReport) {
        if OPAQUE.contains(&path) {
            return;
        }
        match v {
            Value::Object(map) => {
                for (k, child) in map {
                    let p = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    if is_empty(child) {
                        continue;
                    }
                    let selinux = SELINUX_LABELS.contains(&p.as_str());
                    if UNSUPPORTED.contains(&p.as_str()) || (selinux && selinux_enabled()) {
                        report.unsupported.get_or_insert(p);
                    } else if selinux {
                        continue;
                    } else if SUPPORTED.contains(&p.as_str()) {
                        walk(child, &p, report);
                    } else {
                        report.unknown.push(p);
                    }
                }
            }
            Value::Array(items) => {
                let p = format!("{path}[]");
                for i in items.iter().filter(|i| i.is_object()) {
                    walk(i, &p, report);
                }
            }
            _ => {}
        }
    }
    let mut report = FieldReport::default();
    walk(config, "", &mut report);
    report.unknown.sort();
    report.unknown.dedup();
    report
}

/// The first spec-defined field the runtime does not implement.
pub fn first_unsupported(config: &Value) -> Option<String> {
    check_fields(config).unsupported
}

/// Reads and checks `bundle/config.json`: valid JSON of the OCI schema, only
/// supported fields, known namespace types, and an existing root filesystem.
pub fn load_bundle(bundle: &Path) -> Result<Spec> {
    let bundle_err = |msg: String| RuntimeError::Bundle {
        path: bundle.to_path_buf(),
        msg,
    };
    if !bundle.is_dir() {
        return Err(bundle_err("not a directory".into()));
    }
    let config_path = bundle.join("config.json");
    let text = std::fs::read_to_string(&config_path)
        .map_err(|e| RuntimeError::io("read", &config_path, e))?;
    let raw: Value = serde_json::from_str(&text)
        .map_err(|e| bundle_err(format!("config.json is not valid JSON: {e}")))?;
    check_value(&raw)?;
    let spec: Spec = serde_json::from_value(raw).map_err(|e| {
        bundle_err(format!(
            "config.json does not match the OCI runtime spec: {e}"
        ))
    })?;
    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| RuntimeError::InvalidSpec("root: missing".into()))?;
    let rootfs = if root.path().is_absolute() {
        root.path().clone()
    } else {
        bundle.join(root.path())
    };
    if !rootfs.is_dir() {
        return Err(bundle_err(format!(
            "root filesystem {} does not exist or is not a directory",
            rootfs.display()
        )));
    }
    if spec.process().is_none() {
        return Err(RuntimeError::InvalidSpec("process: missing".into()));
    }
    check_namespace_paths(&spec)?;
    Ok(spec)
}

fn apparmor_enabled() -> bool {
    std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|v| v.trim() == "Y")
}

/// A namespace to join must be a namespace file of the declared type.
fn check_namespace_paths(spec: &Spec) -> Result<()> {
    use podman_rs_namespaces::{namespace_type_of, NamespaceType};
    let nss = spec.linux().as_ref().and_then(|l| l.namespaces().as_ref());
    for ns in nss.into_iter().flatten() {
        let Some(path) = ns.path() else { continue };
        let want = NamespaceType::from(ns.typ());
        match namespace_type_of(path) {
            Ok(got) if got == want => {}
            Ok(got) => {
                return Err(RuntimeError::InvalidSpec(format!(
                    "linux.namespaces: {} is a {got} namespace, not {want}",
                    path.display()
                )))
            }
            Err(e) => {
                return Err(RuntimeError::InvalidSpec(format!(
                    "linux.namespaces: cannot join {want} namespace {}: {e}",
                    path.display()
                )))
            }
        }
    }
    Ok(())
}

/// The checks on the raw JSON value (also used for `exec --process`).
pub fn check_value(raw: &Value) -> Result<()> {
    if !raw.is_object() {
        return Err(RuntimeError::InvalidSpec("not a JSON object".into()));
    }
    let version = raw.get("ociVersion").and_then(Value::as_str).unwrap_or("");
    if !version.starts_with("1.") {
        return Err(RuntimeError::InvalidSpec(format!(
            "ociVersion {version:?}: only 1.x is supported"
        )));
    }
    let report = check_fields(raw);
    if let Some(field) = report.unsupported {
        return Err(RuntimeError::Unsupported(field));
    }
    for field in &report.unknown {
        tracing::warn!(
            "config.json: ignoring {field:?}, which the OCI runtime spec does not define"
        );
    }
    if raw
        .pointer("/process/apparmorProfile")
        .and_then(Value::as_str)
        .is_some_and(|p| !p.is_empty())
        && !apparmor_enabled()
    {
        return Err(RuntimeError::InvalidSpec(
            "process.apparmorProfile: AppArmor is not enabled on this host".into(),
        ));
    }
    if let Some(nss) = raw.pointer("/linux/namespaces").and_then(Value::as_array) {
        for ns in nss {
            let t = ns.get("type").and_then(Value::as_str).unwrap_or("");
            if !NAMESPACE_TYPES.contains(&t) {
                return Err(RuntimeError::InvalidSpec(format!(
                    "linux.namespaces: unknown namespace type {t:?} (known: {})",
                    NAMESPACE_TYPES.join(", ")
                )));
            }
        }
    }
    Ok(())
}

/// Checks a `process.json` given to `exec --process`.
pub fn check_process_file(path: &Path) -> Result<oci_spec::runtime::Process> {
    let text = std::fs::read_to_string(path).map_err(|e| RuntimeError::io("read", path, e))?;
    let raw: Value = serde_json::from_str(&text).map_err(|e| {
        RuntimeError::InvalidSpec(format!("{}: not valid JSON: {e}", path.display()))
    })?;
    let wrapped = serde_json::json!({"ociVersion": "1.0.0", "process": raw});
    check_value(&wrapped)?;
    serde_json::from_value::<oci_spec::runtime::Process>(wrapped["process"].clone()).map_err(|e| {
        RuntimeError::InvalidSpec(format!("{}: not an OCI process: {e}", path.display()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn supported_fields_pass() {
        let v = json!({
            "ociVersion": "1.0.2",
            "root": {"path": "rootfs", "readonly": true},
            "process": {"args": ["sh"], "cwd": "/", "user": {"uid": 0, "gid": 0},
                        "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}]},
            "annotations": {"anything.goes": "x"},
            "linux": {"sysctl": {"net.ipv4.ip_forward": "1"},
                      "namespaces": [{"type": "pid"}],
                      "seccomp": {"defaultAction": "SCMP_ACT_ALLOW",
                                  "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO",
                                                "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}]}]}},
            "mountLabel": ""
        });
        assert_eq!(first_unsupported(&v), None);
        assert!(check_value(&v).is_ok());
    }

    #[test]
    fn unsupported_fields_are_named_and_unknown_ones_listed() {
        let v = json!({"ociVersion": "1.0.2", "linux": {"resources": {"rdma": {"mlx": {"hcaHandles": 1}}}}});
        assert_eq!(
            first_unsupported(&v).as_deref(),
            Some("linux.resources.rdma")
        );
        let v =
            json!({"ociVersion": "1.0.2", "process": {"consoleSize": {"height": 1, "width": 2}}});
        assert_eq!(
            first_unsupported(&v).as_deref(),
            Some("process.consoleSize")
        );
        let v = json!({"ociVersion": "1.0.2", "vm": {"kernel": {"path": "/k"}}});
        assert_eq!(first_unsupported(&v).as_deref(), Some("vm"));
        let v = json!({"ociVersion": "1.0.2", "mounts": [{"destination": "/x", "typo": 1}], "extra": {"a": 1}});
        let r = check_fields(&v);
        assert_eq!(r.unsupported, None);
        assert_eq!(r.unknown, ["extra", "mounts[].typo"]);
        assert!(check_value(&v).is_ok(), "unknown properties are ignored");
    }

    #[test]
    fn selinux_labels_follow_the_host() {
        let v = json!({"ociVersion": "1.0.2", "linux": {"mountLabel": "system_u:object_r:x"}});
        let want = selinux_enabled().then(|| "linux.mountLabel".to_string());
        assert_eq!(first_unsupported(&v), want);
    }

    #[test]
    fn unknown_namespace_type() {
        let v = json!({"ociVersion": "1.0.2", "linux": {"namespaces": [{"type": "bogus"}]}});
        let err = check_value(&v).unwrap_err().to_string();
        assert!(err.contains("bogus"), "{err}");
    }

    #[test]
    fn bad_version() {
        let v = json!({"ociVersion": "2.0.0"});
        assert!(check_value(&v).is_err());
    }
}
