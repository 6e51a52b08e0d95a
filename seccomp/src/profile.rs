//! Podman/Docker `seccomp.json` profiles and their conversion to OCI [`LinuxSeccomp`].

use std::cmp::Ordering;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompArgBuilder,
    LinuxSeccompFilterFlag, LinuxSeccompOperator, LinuxSyscall,
};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{SeccompError, TargetArch};

/// Highest syscall argument index seccomp can look at (syscalls have 6 arguments).
pub const MAX_ARG_INDEX: usize = 5;

/// A seccomp profile in Podman/Docker's `seccomp.json` format.
///
/// This format is a superset of the OCI `linux.seccomp` object: an OCI
/// object parses as a profile whose rules have no conditions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    /// Action for syscalls no rule matches.
    pub default_action: LinuxSeccompAction,
    /// Errno returned by the default action when it is `SCMP_ACT_ERRNO`/`SCMP_ACT_TRACE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_errno_ret: Option<u32>,
    /// Symbolic name of `defaultErrnoRet` (informational only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_errno: Option<String>,
    /// Fixed list of architectures (OCI form / old Docker profiles).
    /// A profile may use this or `archMap`, not both.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub architectures: Vec<Arch>,
    /// Architectures to enable, keyed by the native architecture.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub arch_map: Vec<ArchMapEntry>,
    /// Seccomp filter flags, passed through.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub flags: Vec<LinuxSeccompFilterFlag>,
    /// Socket of a seccomp agent for `SCMP_ACT_NOTIFY`, passed through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listener_path: Option<PathBuf>,
    /// Opaque data for the seccomp agent, passed through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listener_metadata: Option<String>,
    /// The rules, in order.
    #[serde(default, deserialize_with = "null_as_default")]
    pub syscalls: Vec<SyscallRule>,
}

/// One `archMap` entry: when the native architecture is `architecture`,
/// the filter covers it and its `subArchitectures`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArchMapEntry {
    /// The native architecture this entry applies to.
    pub architecture: Arch,
    /// The other ABIs a process of that architecture can use.
    #[serde(default, deserialize_with = "null_as_default")]
    pub sub_architectures: Vec<Arch>,
}

/// One entry of `syscalls[]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyscallRule {
    /// Legacy single-name form; a rule may use `name` or `names`, not both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The syscalls the rule applies to.
    #[serde(default, deserialize_with = "null_as_default")]
    pub names: Vec<String>,
    /// What happens when the rule matches.
    pub action: LinuxSeccompAction,
    /// Errno returned for `SCMP_ACT_ERRNO`/`SCMP_ACT_TRACE` (libseccomp's default is EPERM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errno_ret: Option<u32>,
    /// Symbolic name of `errnoRet` (informational only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errno: Option<String>,
    /// Conditions on the syscall's arguments; all must hold.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub args: Vec<SyscallArg>,
    /// Free text.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub comment: String,
    /// The rule applies only when all of these hold.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Filter::is_empty"
    )]
    pub includes: Filter,
    /// The rule is dropped when any of these holds.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Filter::is_empty"
    )]
    pub excludes: Filter,
}

/// A condition on a syscall argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyscallArg {
    /// Argument index, 0 to [`MAX_ARG_INDEX`].
    pub index: usize,
    /// The value compared with.
    #[serde(default)]
    pub value: u64,
    /// Second value (the mask's operand for `SCMP_CMP_MASKED_EQ`).
    #[serde(default)]
    pub value_two: u64,
    /// The comparison.
    pub op: LinuxSeccompOperator,
}

/// `includes` / `excludes` of a rule.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Filter {
    /// Capabilities (`CAP_SYS_ADMIN`; the `CAP_` prefix and case are optional).
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub caps: Vec<String>,
    /// Architectures, by libseccomp-golang name (`amd64`, `arm64`, ...).
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub arches: Vec<String>,
    /// Minimum kernel version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_kernel: Option<KernelVersion>,
}

impl Filter {
    /// True when the filter has no condition.
    pub fn is_empty(&self) -> bool {
        self.caps.is_empty() && self.arches.is_empty() && self.min_kernel.is_none()
    }
}

/// A kernel version as used by `minKernel`: `"<kernel>.<major>"`, e.g. `"5.8"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KernelVersion {
    /// First number (`5` in `5.8`).
    pub kernel: u32,
    /// Second number (`8` in `5.8`).
    pub major: u32,
}

impl KernelVersion {
    /// A version from its two numbers.
    pub const fn new(kernel: u32, major: u32) -> Self {
        Self { kernel, major }
    }

    /// Parses a kernel release as `uname -r` prints it (`6.1.0-18-amd64`),
    /// keeping its first two numbers.
    pub fn from_release(release: &str) -> Result<Self, SeccompError> {
        let invalid = || SeccompError::InvalidKernelVersion {
            value: release.to_string(),
        };
        let mut parts = release.trim().splitn(3, '.');
        let kernel = parts.next().ok_or_else(invalid)?;
        let major = parts.next().ok_or_else(invalid)?;
        let major_digits: &str = {
            let end = major
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(major.len());
            &major[..end]
        };
        Ok(Self {
            kernel: kernel.parse().map_err(|_| invalid())?,
            major: major_digits.parse().map_err(|_| invalid())?,
        })
    }

    /// The running kernel's version, from `/proc/sys/kernel/osrelease`.
    pub fn host() -> Result<Self, SeccompError> {
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").map_err(|e| {
            SeccompError::HostKernel {
                reason: format!("reading /proc/sys/kernel/osrelease: {e}"),
            }
        })?;
        Self::from_release(&release).map_err(|e| SeccompError::HostKernel {
            reason: e.to_string(),
        })
    }
}

impl FromStr for KernelVersion {
    type Err = SeccompError;

    /// Parses the strict `"<kernel>.<major>"` form used by `minKernel`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || SeccompError::InvalidKernelVersion {
            value: s.to_string(),
        };
        let (kernel, major) = s.split_once('.').ok_or_else(invalid)?;
        let number = |t: &str| -> Result<u32, SeccompError> {
            if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
                return Err(invalid());
            }
            t.parse().map_err(|_| invalid())
        };
        Ok(Self {
            kernel: number(kernel)?,
            major: number(major)?,
        })
    }
}

impl fmt::Display for KernelVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.kernel, self.major)
    }
}

impl Serialize for KernelVersion {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for KernelVersion {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Reads `null` as the type's default value (Go writes `null` for empty slices).
fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// Canonical capability name: upper case with the `CAP_` prefix.
pub fn normalize_cap(cap: &str) -> String {
    let upper = cap.trim().to_ascii_uppercase();
    if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    }
}

/// What a profile is resolved for: the container's capabilities (its bounding set),
/// its architecture and the kernel version.
#[derive(Debug, Clone)]
struct Target {
    caps: Vec<String>,
    arch: Option<TargetArch>,
    kernel: Option<KernelVersion>,
}

impl Target {
    fn has_cap(&self, cap: &str) -> bool {
        let cap = normalize_cap(cap);
        self.caps.contains(&cap)
    }

    fn is_arch(&self, name: &str) -> bool {
        match (self.arch, name.parse::<TargetArch>()) {
            (Some(arch), Ok(other)) => arch == other,
            _ => false,
        }
    }

    /// Unknown kernel versions count as older than any `minKernel`.
    fn kernel_at_least(&self, min: KernelVersion) -> bool {
        self.kernel.is_some_and(|k| k.cmp(&min) != Ordering::Less)
    }

    /// Podman's (containers/common) order of checks: any exclude drops the rule,
    /// then every include must hold.
    fn selects(&self, rule: &SyscallRule) -> bool {
        let ex = &rule.excludes;
        if ex.arches.iter().any(|a| self.is_arch(a))
            || ex.caps.iter().any(|c| self.has_cap(c))
            || ex.min_kernel.is_some_and(|k| self.kernel_at_least(k))
        {
            return false;
        }
        let inc = &rule.includes;
        (inc.arches.is_empty() || inc.arches.iter().any(|a| self.is_arch(a)))
            && inc.caps.iter().all(|c| self.has_cap(c))
            && inc.min_kernel.is_none_or(|k| self.kernel_at_least(k))
    }
}

impl Profile {
    /// Parses a profile (Podman/Docker format or OCI `linux.seccomp` form) from JSON text.
    /// `origin` names the source in error messages (a file path, `<string>`, ...).
    pub fn from_json(json: &str, origin: &str) -> Result<Self, SeccompError> {
        let mut de = serde_json::Deserializer::from_str(json);
        let profile: Profile =
            serde_path_to_error::deserialize(&mut de).map_err(|e| SeccompError::Parse {
                origin: origin.to_string(),
                field: field_path(e.path()),
                message: e.inner().to_string(),
            })?;
        de.end().map_err(|e| SeccompError::Parse {
            origin: origin.to_string(),
            field: String::new(),
            message: e.to_string(),
        })?;
        profile.validate(origin)?;
        Ok(profile)
    }

    /// Reads and parses a profile file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, SeccompError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| SeccompError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_json(&text, &path.display().to_string())
    }

    /// The profile as pretty-printed JSON in Podman/Docker format.
    pub fn to_json(&self) -> String {
        // A Profile only holds strings, numbers and enums: serializing cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Checks what the JSON types alone cannot.
    pub fn validate(&self, origin: &str) -> Result<(), SeccompError> {
        let invalid = |field: String, message: String| SeccompError::Invalid {
            origin: origin.to_string(),
            field,
            message,
        };
        if !self.architectures.is_empty() && !self.arch_map.is_empty() {
            return Err(invalid(
                String::new(),
                "both 'architectures' and 'archMap' are given, use only one".to_string(),
            ));
        }
        for (i, rule) in self.syscalls.iter().enumerate() {
            if rule.name.is_some() && !rule.names.is_empty() {
                return Err(invalid(
                    format!("syscalls[{i}]"),
                    "both 'name' and 'names' are given, use only one".to_string(),
                ));
            }
            let mut names = rule.name.iter().chain(&rule.names).peekable();
            if names.peek().is_none() {
                return Err(invalid(
                    format!("syscalls[{i}].names"),
                    "no syscall name given".to_string(),
                ));
            }
            if let Some((j, _)) = names.enumerate().find(|(_, n)| n.trim().is_empty()) {
                return Err(invalid(
                    format!("syscalls[{i}].names[{j}]"),
                    "empty syscall name".to_string(),
                ));
            }
            for (j, arg) in rule.args.iter().enumerate() {
                if arg.index > MAX_ARG_INDEX {
                    return Err(invalid(
                        format!("syscalls[{i}].args[{j}].index"),
                        format!(
                            "argument index {} is out of range 0-{MAX_ARG_INDEX}",
                            arg.index
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// True when some rule has a `minKernel` condition, so resolving it needs the kernel version.
    pub fn uses_min_kernel(&self) -> bool {
        self.syscalls
            .iter()
            .any(|r| r.includes.min_kernel.is_some() || r.excludes.min_kernel.is_some())
    }

    /// Resolves the profile to what goes into the OCI `config.json` for a container
    /// with bounding capabilities `caps` on `arch`, reading the host kernel version
    /// if (and only if) a rule has a `minKernel` condition.
    pub fn to_oci<S: AsRef<str>>(
        &self,
        caps: &[S],
        arch: Option<TargetArch>,
    ) -> Result<LinuxSeccomp, SeccompError> {
        let kernel = if self.uses_min_kernel() {
            Some(KernelVersion::host()?)
        } else {
            None
        };
        Ok(self.to_oci_with_kernel(caps, arch, kernel))
    }

    /// Like [`Profile::to_oci`], with the kernel version given. A `None` kernel
    /// counts as older than any `minKernel`: `includes.minKernel` rules are
    /// dropped and `excludes.minKernel` rules kept.
    ///
    /// `arch` selects the `archMap` entry and is matched against
    /// `includes.arches`/`excludes.arches`; with `None` no `archMap` entry and
    /// no arch condition matches.
    pub fn to_oci_with_kernel<S: AsRef<str>>(
        &self,
        caps: &[S],
        arch: Option<TargetArch>,
        kernel: Option<KernelVersion>,
    ) -> LinuxSeccomp {
        let target = Target {
            caps: caps.iter().map(|c| normalize_cap(c.as_ref())).collect(),
            arch,
            kernel,
        };

        let architectures: Vec<Arch> = if !self.architectures.is_empty() {
            self.architectures.clone()
        } else {
            arch.map(TargetArch::seccomp_arch)
                .and_then(|native| self.arch_map.iter().find(|e| e.architecture == native))
                .map(|e| {
                    std::iter::once(e.architecture)
                        .chain(e.sub_architectures.iter().copied())
                        .collect()
                })
                .unwrap_or_default()
        };

        let syscalls: Vec<LinuxSyscall> = self
            .syscalls
            .iter()
            .filter(|rule| target.selects(rule))
            .map(to_oci_syscall)
            .collect();

        let mut oci = LinuxSeccomp::default();
        oci.set_default_action(self.default_action)
            .set_default_errno_ret(self.default_errno_ret)
            .set_architectures(non_empty(architectures))
            .set_flags(non_empty(self.flags.clone()))
            .set_listener_path(self.listener_path.clone())
            .set_listener_metadata(self.listener_metadata.clone())
            .set_syscalls(non_empty(syscalls));
        oci
    }
}

fn to_oci_syscall(rule: &SyscallRule) -> LinuxSyscall {
    let names = rule.name.iter().chain(&rule.names).cloned().collect();
    let args = rule.args.iter().map(oci_arg).collect();
    let mut syscall = LinuxSyscall::default();
    syscall
        .set_names(names)
        .set_action(rule.action)
        .set_errno_ret(rule.errno_ret)
        .set_args(non_empty(args));
    syscall
}

fn oci_arg(arg: &SyscallArg) -> LinuxSeccompArg {
    let mut builder = LinuxSeccompArgBuilder::default()
        .index(arg.index)
        .value(arg.value)
        .op(arg.op);
    // Go's runtime-spec omits a zero valueTwo from config.json.
    if arg.value_two != 0 {
        builder = builder.value_two(arg.value_two);
    }
    // Every field of the builder has a default (`#[builder(default)]`), so `build`
    // cannot fail; LinuxSeccompArg has no setters to avoid the builder.
    builder
        .build()
        .expect("LinuxSeccompArgBuilder has a default for every field")
}

fn non_empty<T>(v: Vec<T>) -> Option<Vec<T>> {
    if v.is_empty() {
        None
    } else {
        Some(v)
    }
}

fn field_path(path: &serde_path_to_error::Path) -> String {
    let text = path.to_string();
    if text == "." {
        String::new()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_version_parse() {
        assert_eq!(
            "5.8".parse::<KernelVersion>().ok(),
            Some(KernelVersion::new(5, 8))
        );
        assert_eq!(
            "4.14".parse::<KernelVersion>().ok(),
            Some(KernelVersion::new(4, 14))
        );
        for bad in ["5", "5.8.1", "a.b", "", ".", "5.", "-1.2", "5.8-rc1"] {
            assert!(
                matches!(bad.parse::<KernelVersion>(), Err(SeccompError::InvalidKernelVersion { ref value }) if value == bad),
                "{bad:?} should be rejected"
            );
        }
    }

    #[test]
    fn kernel_version_from_release() {
        let v = KernelVersion::from_release("6.1.0-18-amd64\n").ok();
        assert_eq!(v, Some(KernelVersion::new(6, 1)));
        let v = KernelVersion::from_release("5.15.0-rc3").ok();
        assert_eq!(v, Some(KernelVersion::new(5, 15)));
        assert!(KernelVersion::from_release("linux").is_err());
    }

    #[test]
    fn kernel_version_order() {
        assert!(KernelVersion::new(5, 8) > KernelVersion::new(4, 19));
        assert!(KernelVersion::new(5, 10) > KernelVersion::new(5, 8));
        assert_eq!(KernelVersion::new(5, 8).to_string(), "5.8");
    }

    #[test]
    fn host_kernel_is_readable() {
        let host = KernelVersion::host();
        assert!(host.is_ok(), "{host:?}");
    }

    #[test]
    fn caps_are_normalized() {
        assert_eq!(normalize_cap("sys_admin"), "CAP_SYS_ADMIN");
        assert_eq!(normalize_cap("CAP_CHOWN"), "CAP_CHOWN");
        assert_eq!(normalize_cap(" cap_kill "), "CAP_KILL");
    }
}
