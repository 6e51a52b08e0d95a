//! Seccomp profiles for podman-rs.
//!
//! This crate owns:
//! - Podman's default seccomp profile (that of Podman 4.3 / containers/common 0.50),
//!   written as Rust data: [`default_template`] in Podman/Docker format,
//!   [`default_profile_for`] resolved for a capability set and architecture.
//! - Loading profile files in Podman/Docker's `seccomp.json` format (or already in
//!   OCI `linux.seccomp` form) and resolving their `includes`/`excludes` conditions
//!   ([`load_profile`], [`Profile`]).
//! - The `--security-opt seccomp=...` value, including `unconfined`
//!   ([`profile_for_option`]).
//!
//! The result is an [`oci_spec::runtime::LinuxSeccomp`], ready for `config.json`.

mod arch;
pub mod bpf;
mod default;
mod error;
mod profile;

use std::path::Path;

use oci_spec::runtime::LinuxSeccomp;

pub use arch::TargetArch;
pub use default::{default_template, ALLOWED_SYSCALLS, EPERM_SYSCALLS};
pub use error::{CompileError, SeccompError};
pub use profile::{
    normalize_cap, ArchMapEntry, Filter, KernelVersion, Profile, SyscallArg, SyscallRule,
    MAX_ARG_INDEX,
};

/// The capabilities Podman gives a container by default (containers.conf `default_capabilities`).
pub const PODMAN_DEFAULT_CAPS: [&str; 11] = [
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

/// Where Podman installs its default profile file.
pub const DEFAULT_PROFILE_PATH: &str = "/usr/share/containers/seccomp.json";

/// The `--security-opt seccomp=` value that disables seccomp.
pub const UNCONFINED: &str = "unconfined";

/// Podman's default profile for [`PODMAN_DEFAULT_CAPS`] on the native architecture.
pub fn default_profile() -> LinuxSeccomp {
    default_for(&PODMAN_DEFAULT_CAPS, TargetArch::native())
}

/// Podman's default profile for a container with bounding capabilities `caps`
/// (`CAP_SYS_ADMIN` or `SYS_ADMIN`, any case) on `arch`: what Podman writes
/// into `config.json`.
pub fn default_profile_for<S: AsRef<str>>(caps: &[S], arch: TargetArch) -> LinuxSeccomp {
    default_for(caps, Some(arch))
}

fn default_for<S: AsRef<str>>(caps: &[S], arch: Option<TargetArch>) -> LinuxSeccomp {
    let mut template = default_template();
    if let Some(arch) = arch {
        template.default_errno_ret = Some(arch.enosys());
    }
    // The default profile has no minKernel condition: the kernel version is not needed.
    template.to_oci_with_kernel(caps, arch, None)
}

/// Loads a profile file (Podman/Docker format or OCI form) and resolves it for
/// capabilities `caps` on the native architecture.
pub fn load_profile<S: AsRef<str>>(
    path: impl AsRef<Path>,
    caps: &[S],
) -> Result<LinuxSeccomp, SeccompError> {
    load_profile_inner(path.as_ref(), caps, TargetArch::native())
}

/// Like [`load_profile`], for the given architecture.
pub fn load_profile_for<S: AsRef<str>>(
    path: impl AsRef<Path>,
    caps: &[S],
    arch: TargetArch,
) -> Result<LinuxSeccomp, SeccompError> {
    load_profile_inner(path.as_ref(), caps, Some(arch))
}

fn load_profile_inner<S: AsRef<str>>(
    path: &Path,
    caps: &[S],
    arch: Option<TargetArch>,
) -> Result<LinuxSeccomp, SeccompError> {
    let profile = Profile::from_file(path)?;
    let seccomp = profile.to_oci(caps, arch)?;
    tracing::debug!(
        path = %path.display(),
        arch = ?arch,
        rules = seccomp.syscalls().as_ref().map_or(0, Vec::len),
        "loaded seccomp profile"
    );
    Ok(seccomp)
}

/// True for the value `unconfined` (seccomp disabled).
pub fn is_unconfined(value: &str) -> bool {
    value.trim() == UNCONFINED
}

/// Resolves the value of `--security-opt seccomp=VALUE` for capabilities `caps`:
/// - `unconfined` gives `None` (no seccomp filter),
/// - no value (or an empty one) gives the built-in default profile,
/// - anything else is the path of a profile file, loaded with [`load_profile`].
pub fn profile_for_option<S: AsRef<str>>(
    value: Option<&str>,
    caps: &[S],
) -> Result<Option<LinuxSeccomp>, SeccompError> {
    match value.map(str::trim) {
        Some(v) if is_unconfined(v) => Ok(None),
        None | Some("") => Ok(Some(default_for(caps, TargetArch::native()))),
        Some(path) => load_profile(path, caps).map(Some),
    }
}
