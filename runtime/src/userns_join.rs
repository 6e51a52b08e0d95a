//! `exec` into a container that has a user namespace of its own.
//!
//! libcontainer 0.7's exec (its tenant builder) joins every namespace of the
//! container's init except the user namespace, so an exec'd process would run
//! with the caller's ids and capabilities instead of the container's. runc and
//! crun join it first. Here libcontainer is given the process as the caller's
//! root (uid 0, capabilities untouched) and does everything else as usual
//! (the other namespaces, cgroups, rlimits, cwd, terminal); the executor then,
//! right before exec, joins the container's user namespace (through a
//! descriptor this process opened) and only there takes the process's user,
//! groups and capabilities, so the ids are the container's and nothing the
//! process keeps is worth more in the caller's namespace than the container's
//! own processes have.

use std::fs::File;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::os::unix::fs::MetadataExt;

use libcontainer::syscall::syscall::create_syscall;
use nix::sched::{setns, CloneFlags};
use nix::unistd::{Gid, Uid};
use oci_spec::runtime::{LinuxCapabilities, Process, UserBuilder};

use crate::{Result, RuntimeError};

/// What the exec'd process takes once inside the container's user namespace.
#[derive(Clone, Debug)]
pub(crate) struct Join {
    /// The namespace descriptor, inherited by libcontainer's forks.
    fd: RawFd,
    uid: u32,
    gid: u32,
    groups: Vec<u32>,
    caps: Option<LinuxCapabilities>,
}

/// When the container whose init is `pid` has a user namespace other than
/// ours: opens it, moves `process`'s user and capabilities into the returned
/// [`Join`] and leaves `process` as root with our capabilities (libcontainer
/// then changes neither). The file keeps the namespace open while
/// libcontainer forks the process that joins it. `None` when the container
/// shares our namespace.
pub(crate) fn for_exec(pid: i32, process: &mut Process) -> Result<Option<(File, Join)>> {
    let theirs = format!("/proc/{pid}/ns/user");
    let ours = std::fs::metadata("/proc/self/ns/user")
        .map_err(|e| RuntimeError::io("stat", "/proc/self/ns/user", e))?;
    let ns = File::open(&theirs).map_err(|e| RuntimeError::io("open", &theirs, e))?;
    let meta = ns
        .metadata()
        .map_err(|e| RuntimeError::io("stat", &theirs, e))?;
    if meta.ino() == ours.ino() && meta.dev() == ours.dev() {
        return Ok(None);
    }
    let user = process.user().clone();
    let join = Join {
        fd: ns.as_raw_fd(),
        uid: user.uid(),
        gid: user.gid(),
        groups: user.additional_gids().clone().unwrap_or_default(),
        caps: process.capabilities().clone(),
    };
    let mut root = UserBuilder::default().uid(0u32).gid(0u32);
    if let Some(umask) = user.umask() {
        root = root.umask(umask);
    }
    let root = root
        .build()
        .map_err(|e| RuntimeError::InvalidSpec(format!("exec process user: {e}")))?;
    process.set_user(root);
    process.set_capabilities(None);
    Ok(Some((ns, join)))
}

impl Join {
    /// In the exec'd process, right before exec: enter the namespace, then
    /// take the process's groups, ids and capabilities there.
    pub(crate) fn enter(&self) -> std::result::Result<(), String> {
        // SAFETY: `fd` was opened by the runtime before libcontainer forked
        // this process and stays open in it until exec (libcontainer only
        // marks inherited descriptors close-on-exec); nothing else closes it.
        let ns = unsafe { BorrowedFd::borrow_raw(self.fd) };
        setns(ns, CloneFlags::CLONE_NEWUSER)
            .map_err(|e| format!("joining the container's user namespace: {e}"))?;
        let sys = create_syscall();
        let groups: Vec<Gid> = self.groups.iter().map(|g| Gid::from_raw(*g)).collect();
        if let Err(e) = sys.set_groups(&groups) {
            // An empty list cannot be set where setgroups is denied; the
            // process then simply keeps none of the caller's groups there.
            if !self.groups.is_empty() {
                return Err(format!(
                    "setting groups {:?} in the container: {e}",
                    self.groups
                ));
            }
        }
        sys.set_id(Uid::from_raw(self.uid), Gid::from_raw(self.gid))
            .map_err(|e| {
                format!(
                    "becoming {}:{} in the container's user namespace: {e}",
                    self.uid, self.gid
                )
            })?;
        if let Some(caps) = &self.caps {
            libcontainer::capabilities::drop_privileges(caps, sys.as_ref())
                .map_err(|e| format!("setting the process's capabilities: {e}"))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::ProcessBuilder;

    #[test]
    fn a_process_in_our_own_namespace_is_left_alone() {
        let mut p = ProcessBuilder::default()
            .user(UserBuilder::default().uid(5u32).gid(6u32).build().unwrap())
            .build()
            .unwrap();
        let before = p.clone();
        let got = for_exec(std::process::id() as i32, &mut p).unwrap();
        assert!(got.is_none());
        assert_eq!(p, before);
    }
}
