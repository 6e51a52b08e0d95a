//! Seccomp for the built-in runtime: the container's profile compiled once to
//! BPF (cached under the runtime root by `podman_rs_seccomp::bpf::cache_key`)
//! and loaded by the container's init right before it execs the process,
//! instead of libcontainer compiling the profile in every init (≈20 ms of
//! libseccomp time per start with Podman's default profile).
//!
//! Without `noNewPrivileges`, loading a filter needs CAP_SYS_ADMIN, and
//! libcontainer has dropped the container's capabilities by the time the
//! executor runs. So libcontainer is given the spec with CAP_SYS_ADMIN added
//! to the *effective and permitted* sets only (never bounding, inheritable or
//! ambient, so nothing the process execs could get it back); the executor
//! loads the filter and then sets those two sets to the container's own
//! before exec. The process the container runs sees exactly the spec's
//! capabilities and filter.

use std::fs;
use std::io::Write;
use std::path::Path;

use caps::{CapSet, CapsHashSet};
use libcontainer::capabilities::CapabilityExt;
use oci_spec::runtime::{Capabilities, LinuxSeccomp, Process, Spec};

use crate::{Result, RuntimeError};

/// The most instructions seccomp(2) takes.
const MAX_INSNS: usize = libc::BPF_MAXINSNS as usize;

/// What the container's init does before exec.
#[derive(Clone)]
pub(crate) struct SeccompLoad {
    filter: Vec<libc::sock_filter>,
    flags: u32,
    /// The container's effective and permitted sets, when CAP_SYS_ADMIN was
    /// lent for loading the filter.
    restore: Option<(CapsHashSet, CapsHashSet)>,
}

/// The spec to hand libcontainer (no seccomp section, CAP_SYS_ADMIN lent if
/// needed) and the load for the executor; `None` when the spec has no
/// seccomp section or one that libcontainer must load itself (a
/// user-notification listener, or startContainer hooks that would run with
/// the lent capability).
pub(crate) fn prepare(root: &Path, spec: &Spec) -> Result<Option<(Spec, SeccompLoad)>> {
    let Some(seccomp) = spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) else {
        return Ok(None);
    };
    let start_hooks = spec
        .hooks()
        .as_ref()
        .and_then(|h| h.start_container().as_ref())
        .is_some_and(|v| !v.is_empty());
    if start_hooks || !podman_rs_seccomp::bpf::precompilable(seccomp) {
        return Ok(None);
    }
    let mut out = spec.clone();
    if let Some(linux) = out.linux_mut() {
        linux.set_seccomp(None);
    }
    let load = match out.process_mut() {
        Some(process) => for_process(root, seccomp, process)?,
        None => SeccompLoad {
            filter: program(root, seccomp)?,
            flags: podman_rs_seccomp::bpf::filter_flags(seccomp),
            restore: None,
        },
    };
    Ok(Some((out, load)))
}

/// The container's filter for an exec'd process. libcontainer gives those
/// none at all (its exec builds a `linux` section without `seccomp`), where
/// runc and crun apply the container's: here the executor loads it. `None`
/// when the container has no filter; an error for one only libcontainer's
/// notify handshake could load.
pub(crate) fn prepare_exec(
    root: &Path,
    container: &Spec,
    process: &mut Process,
) -> Result<Option<SeccompLoad>> {
    let Some(seccomp) = container
        .linux()
        .as_ref()
        .and_then(|l| l.seccomp().as_ref())
    else {
        return Ok(None);
    };
    if !podman_rs_seccomp::bpf::precompilable(seccomp) {
        return Err(RuntimeError::Unsupported(
            "exec into a container whose seccomp profile uses SCMP_ACT_NOTIFY".into(),
        ));
    }
    for_process(root, seccomp, process).map(Some)
}

/// The load for `process`, lending it CAP_SYS_ADMIN (effective and permitted)
/// when it has neither noNewPrivileges nor the capability.
fn for_process(root: &Path, seccomp: &LinuxSeccomp, process: &mut Process) -> Result<SeccompLoad> {
    let filter = program(root, seccomp)?;
    let flags = podman_rs_seccomp::bpf::filter_flags(seccomp);
    let nnp = process.no_new_privileges().unwrap_or(false);
    let mut restore = None;
    if let (false, Some(caps)) = (nnp, process.capabilities().clone()) {
        let sys_admin = oci_spec::runtime::Capability::SysAdmin;
        let effective = caps.effective().clone().unwrap_or_default();
        if !effective.contains(&sys_admin) {
            let permitted = caps.permitted().clone().unwrap_or_default();
            restore = Some((to_caps(&effective), to_caps(&permitted)));
            let mut lent = caps.clone();
            let mut e = effective;
            e.insert(sys_admin);
            let mut p = permitted;
            p.insert(sys_admin);
            lent.set_effective(Some(e)).set_permitted(Some(p));
            process.set_capabilities(Some(lent));
        }
    }
    Ok(SeccompLoad {
        filter,
        flags,
        restore,
    })
}

fn to_caps(set: &Capabilities) -> CapsHashSet {
    set.iter().map(CapabilityExt::to_cap).collect()
}

/// The compiled program, from the cache or compiled and cached now.
fn program(
    root: &Path,
    seccomp: &oci_spec::runtime::LinuxSeccomp,
) -> Result<Vec<libc::sock_filter>> {
    let dir = root.join("seccomp");
    let path = dir.join(format!(
        "{}.bpf",
        podman_rs_seccomp::bpf::cache_key(seccomp)
    ));
    if let Ok(bytes) = fs::read(&path) {
        match decode(&bytes) {
            Some(p) => return Ok(p),
            None => tracing::warn!("{}: not a seccomp program, compiling again", path.display()),
        }
    }
    let bytes = podman_rs_seccomp::bpf::compile(seccomp)
        .map_err(|e| RuntimeError::InvalidSpec(format!("linux.seccomp: {e}")))?;
    let prog = decode(&bytes).ok_or_else(|| {
        RuntimeError::InvalidSpec(format!(
            "linux.seccomp: the compiled program has {} bytes, more than seccomp(2) takes",
            bytes.len()
        ))
    })?;
    // A cache that cannot be written only costs the next start the compile.
    if let Err(e) = store(&dir, &path, &bytes) {
        tracing::debug!("caching the seccomp program in {}: {e}", path.display());
    }
    Ok(prog)
}

/// Written whole under a temporary name and renamed, so a reader never sees
/// part of a program.
fn store(dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    fs::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// `struct sock_filter` entries (host byte order) from the exported bytes.
fn decode(bytes: &[u8]) -> Option<Vec<libc::sock_filter>> {
    if bytes.is_empty() || !bytes.len().is_multiple_of(8) || bytes.len() / 8 > MAX_INSNS {
        return None;
    }
    Some(
        bytes
            .chunks_exact(8)
            .map(|c| libc::sock_filter {
                code: u16::from_ne_bytes([c[0], c[1]]),
                jt: c[2],
                jf: c[3],
                k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
            })
            .collect(),
    )
}

impl SeccompLoad {
    /// Loads the filter into the calling thread and gives back the lent
    /// capability. Runs in the container's init, right before exec.
    pub(crate) fn apply(&self) -> std::result::Result<(), String> {
        let prog = libc::sock_fprog {
            len: self.filter.len() as u16,
            filter: self.filter.as_ptr() as *mut libc::sock_filter,
        };
        // SAFETY: seccomp(SECCOMP_SET_MODE_FILTER) reads `prog`, whose
        // `filter` points to `len` (≤ BPF_MAXINSNS) initialised entries that
        // outlive the call; it writes nothing of ours.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::c_ulong::from(libc::SECCOMP_SET_MODE_FILTER),
                libc::c_ulong::from(self.flags),
                &prog as *const libc::sock_fprog,
            )
        };
        if rc != 0 {
            return Err(format!(
                "loading the seccomp filter: {}",
                std::io::Error::last_os_error()
            ));
        }
        if let Some((effective, permitted)) = &self.restore {
            // Effective first: it must stay a subset of permitted.
            caps::set(None, CapSet::Effective, effective)
                .and_then(|_| caps::set(None, CapSet::Permitted, permitted))
                .map_err(|e| format!("dropping CAP_SYS_ADMIN after loading seccomp: {e}"))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::Capability as OciCap;

    fn spec_with_default_profile() -> Spec {
        let mut spec = Spec::default();
        if let Some(linux) = spec.linux_mut() {
            linux.set_seccomp(Some(podman_rs_seccomp::default_profile()));
        }
        // oci-spec's default process sets noNewPrivileges; Podman's does not.
        if let Some(p) = spec.process_mut() {
            p.set_no_new_privileges(None);
        }
        spec
    }

    #[test]
    fn lends_sys_admin_to_effective_and_permitted_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let spec = spec_with_default_profile();
        let before = spec
            .process()
            .as_ref()
            .and_then(|p| p.capabilities().clone())
            .expect("default caps");
        let (out, load) = prepare(dir.path(), &spec).expect("prepare").expect("some");
        assert!(out
            .linux()
            .as_ref()
            .and_then(|l| l.seccomp().as_ref())
            .is_none());
        let caps = out
            .process()
            .as_ref()
            .and_then(|p| p.capabilities().clone())
            .expect("caps");
        assert!(caps
            .effective()
            .as_ref()
            .is_some_and(|s| s.contains(&OciCap::SysAdmin)));
        assert!(caps
            .permitted()
            .as_ref()
            .is_some_and(|s| s.contains(&OciCap::SysAdmin)));
        assert_eq!(caps.bounding(), before.bounding());
        assert_eq!(caps.inheritable(), before.inheritable());
        assert_eq!(caps.ambient(), before.ambient());
        let (e, p) = load.restore.expect("restore");
        assert!(!e.contains(&caps::Capability::CAP_SYS_ADMIN));
        assert!(!p.contains(&caps::Capability::CAP_SYS_ADMIN));
        assert_eq!(e.len(), before.effective().as_ref().map_or(0, |s| s.len()));
    }

    #[test]
    fn program_is_cached_and_reused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let seccomp = podman_rs_seccomp::default_profile();
        let first = program(dir.path(), &seccomp).expect("compile");
        let files: Vec<_> = fs::read_dir(dir.path().join("seccomp"))
            .expect("cache dir")
            .flatten()
            .collect();
        assert_eq!(files.len(), 1);
        let cached = fs::read(files[0].path()).expect("read");
        assert_eq!(cached.len(), first.len() * 8);
        // A damaged cache entry is compiled again, not loaded.
        fs::write(files[0].path(), b"garbage").expect("damage");
        let again = program(dir.path(), &seccomp).expect("recompile");
        assert_eq!(again.len(), first.len());
        assert_eq!(
            fs::read(files[0].path()).expect("read").len(),
            first.len() * 8
        );
    }

    #[test]
    fn nothing_to_do_without_a_profile_or_with_nnp() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(prepare(dir.path(), &Spec::default())
            .expect("prepare")
            .is_none());
        let mut spec = spec_with_default_profile();
        if let Some(p) = spec.process_mut() {
            p.set_no_new_privileges(Some(true));
        }
        let (_, load) = prepare(dir.path(), &spec).expect("prepare").expect("some");
        assert!(
            load.restore.is_none(),
            "no capability is lent with noNewPrivileges"
        );
    }
}
