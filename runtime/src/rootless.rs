//! Running as a normal user: cgroups the user cannot create are skipped, as
//! crun and runc do.
//!
//! On cgroup v2, libcontainer's v2 manager skips cgroups it is not allowed
//! to create when it runs rootless, which would drop resource limits without
//! a word: a rootless bundle that asks for limits is refused, naming the
//! field, unless its cgroup's place is writable by the caller (a delegated
//! subtree, where the engine puts its containers). On v1 it fails instead (it cannot
//! create its directories under root-owned hierarchies). For that case the
//! runtime process first moves into its own user, mount and cgroup namespaces
//! (mapping only the caller's own uid and gid, so nothing gains privilege) and
//! mounts a cgroup2 view over /sys/fs/cgroup: libcontainer then takes its v2
//! path and skips what it cannot create, leaving the process in the cgroups it
//! already has. Resource limits cannot be honoured that way, so a rootless
//! bundle on v1 that asks for them is refused, naming the field.

use std::fs;
use std::path::Path;

use libcgroups::common::{get_cgroup_setup, CgroupSetup};
use nix::mount::{mount, MsFlags};
use nix::sched::{unshare, CloneFlags};
use nix::unistd::{access, getegid, geteuid, AccessFlags};
use oci_spec::runtime::{LinuxResources, Spec};

use crate::{Result, RuntimeError};

/// The first resource field set: what a rootless container cannot honour
/// without a cgroup of its own (cgroup v1, or v2 without delegation).
pub fn first_resource_field(r: &LinuxResources) -> Option<&'static str> {
    if r.memory().is_some() {
        return Some("linux.resources.memory");
    }
    if r.cpu().is_some() {
        return Some("linux.resources.cpu");
    }
    if r.pids().is_some() {
        return Some("linux.resources.pids");
    }
    if r.block_io().is_some() {
        return Some("linux.resources.blockIO");
    }
    if r.hugepage_limits().as_ref().is_some_and(|h| !h.is_empty()) {
        return Some("linux.resources.hugepageLimits");
    }
    if r.network().is_some() {
        return Some("linux.resources.network");
    }
    if r.unified().as_ref().is_some_and(|u| !u.is_empty()) {
        return Some("linux.resources.unified");
    }
    None
}

/// On cgroup v2: the nearest existing directory on the way to the spec's
/// cgroup that the caller cannot write (so it cannot create the cgroup),
/// `None` when it can.
fn undelegated_cgroup(spec: &Spec) -> Option<std::path::PathBuf> {
    let root = Path::new("/sys/fs/cgroup");
    let rel = spec
        .linux()
        .as_ref()
        .and_then(|l| l.cgroups_path().as_ref())
        .map(|p| p.strip_prefix("/").unwrap_or(p).to_path_buf());
    let mut dir = match rel {
        Some(r) => root.join(r),
        // libcontainer's default lies under the root cgroup.
        None => root.to_path_buf(),
    };
    while !dir.exists() && dir != root {
        if !dir.pop() {
            break;
        }
    }
    access(&dir, AccessFlags::W_OK).is_err().then_some(dir)
}

/// Whether the caller can create cgroups in the v1 hierarchies (an admin may have delegated them).
fn v1_writable() -> bool {
    ["memory", "pids", "cpu"]
        .iter()
        .all(|c| access(&Path::new("/sys/fs/cgroup").join(c), AccessFlags::W_OK).is_ok())
}

/// What [`prepare`] changed that must be undone once the container exists.
///
/// Inside a rootless user namespace (uid 0 there, as the engine's monitor
/// is) the private cgroup view is made in a mount namespace of its own, and
/// the caller goes back to the one it had as soon as libcontainer has
/// forked the container: the monitor's later unmounts (rootfs, netns) must
/// reach the namespace every other command of the user shares.
#[derive(Debug, Default)]
pub struct Prepared {
    restore_mount_ns: Option<std::os::fd::OwnedFd>,
}

impl Prepared {
    /// Returns to the mount namespace the caller had before [`prepare`].
    pub fn finish(self) -> Result<()> {
        if let Some(fd) = self.restore_mount_ns {
            nix::sched::setns(&fd, CloneFlags::CLONE_NEWNS).map_err(|e| {
                RuntimeError::sys("rootless: returning to the caller's mount namespace", e)
            })?;
        }
        Ok(())
    }
}

/// Prepares this process to create `spec`: as a normal user on cgroup v1,
/// enters the private cgroup view described above; and when `private_mounts`
/// is asked for (the caller wants to change what it sees of the bundle),
/// makes sure the process has its own mount namespace.
pub fn prepare(spec: &Spec, private_mounts: bool) -> Result<Prepared> {
    let in_userns = podman_rs_namespaces::in_user_namespace();
    if geteuid().is_root() && !in_userns {
        if private_mounts {
            unshare(CloneFlags::CLONE_NEWNS).map_err(|e| RuntimeError::sys("unshare(mount)", e))?;
            make_mounts_private()?;
        }
        return Ok(Prepared::default());
    }
    let setup = get_cgroup_setup()
        .map_err(|e| RuntimeError::Libcontainer(format!("detecting the cgroup layout: {e}")))?;
    if matches!(setup, CgroupSetup::Unified) {
        // libcgroups skips a cgroup a normal user cannot create and would
        // drop the limits without a word: refuse them unless the cgroup's
        // place is delegated to the caller.
        if let (Some(field), Some(dir)) = (
            spec.linux()
                .as_ref()
                .and_then(|l| l.resources().as_ref())
                .and_then(first_resource_field),
            undelegated_cgroup(spec),
        ) {
            return Err(RuntimeError::InvalidSpec(format!(
                "{field}: resource limits need a cgroup this user can create, and {} is not \
                 delegated to it (delegate a cgroup v2 subtree to the user, or run as root)",
                dir.display()
            )));
        }
    }
    let v1_locked = !matches!(setup, CgroupSetup::Unified) && !v1_writable();
    if v1_locked {
        if let Some(field) = spec
            .linux()
            .as_ref()
            .and_then(|l| l.resources().as_ref())
            .and_then(first_resource_field)
        {
            return Err(RuntimeError::InvalidSpec(format!(
                "{field}: resource limits need cgroups, which a normal user cannot create on this \
                 cgroup v1 host (use cgroup v2 with delegation, or run as root)"
            )));
        }
    }
    if !(v1_locked || private_mounts) {
        return Ok(Prepared::default());
    }
    if in_userns && geteuid().is_root() {
        // Already mapped (the user's pause namespace): no new user
        // namespace, which could map only ourselves; keep a way back.
        let saved = std::fs::File::open("/proc/self/ns/mnt")
            .map_err(|e| RuntimeError::io("open", "/proc/self/ns/mnt", e))?;
        let mut flags = CloneFlags::CLONE_NEWNS;
        if v1_locked {
            flags |= CloneFlags::CLONE_NEWCGROUP;
        }
        unshare(flags).map_err(|e| RuntimeError::sys("rootless: unshare(mount)", e))?;
        make_mounts_private()?;
        if v1_locked {
            mount_cgroup2_view()?;
        }
        return Ok(Prepared {
            restore_mount_ns: (!private_mounts).then(|| saved.into()),
        });
    }
    enter_private_namespaces(v1_locked)?;
    Ok(Prepared::default())
}

/// [`prepare`] for joining a running container: resource limits are not
/// checked again (create did), only the cgroup view is set up.
pub fn prepare_exec(spec: &Spec) -> Result<Prepared> {
    let mut spec = spec.clone();
    if let Some(linux) = spec.linux_mut() {
        linux.set_resources(None);
    }
    prepare(&spec, false)
}

fn write(path: &str, data: String) -> Result<()> {
    fs::write(path, data).map_err(|e| RuntimeError::io("write", path, e))
}

pub(crate) fn make_mounts_private() -> Result<()> {
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_SLAVE,
        None::<&str>,
    )
    .map_err(|e| RuntimeError::sys("making mounts private", e))
}

/// A user namespace mapping only our own uid/gid (no privilege gained), with
/// our own mount namespace, and with `cgroup2_view` a cgroup namespace and a
/// cgroup2 mount over /sys/fs/cgroup.
fn enter_private_namespaces(cgroup2_view: bool) -> Result<()> {
    let (uid, gid) = (geteuid().as_raw(), getegid().as_raw());
    let mut flags = CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNS;
    if cgroup2_view {
        flags |= CloneFlags::CLONE_NEWCGROUP;
    }
    unshare(flags).map_err(|e| RuntimeError::sys("rootless: unshare(user, mount)", e))?;
    write("/proc/self/setgroups", "deny".into())?;
    write("/proc/self/uid_map", format!("{uid} {uid} 1"))?;
    write("/proc/self/gid_map", format!("{gid} {gid} 1"))?;
    make_mounts_private()?;
    if cgroup2_view {
        mount_cgroup2_view()?;
    }
    Ok(())
}

/// A cgroup2 mount over /sys/fs/cgroup in our own mount and cgroup
/// namespaces: libcontainer then takes its v2 path and skips the cgroups a
/// normal user cannot create.
fn mount_cgroup2_view() -> Result<()> {
    mount(
        Some("cgroup2"),
        "/sys/fs/cgroup",
        Some("cgroup2"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        None::<&str>,
    )
    .map_err(|e| RuntimeError::sys("rootless: mounting a cgroup2 view on /sys/fs/cgroup", e))?;
    tracing::debug!("rootless on cgroup v1: cgroups skipped (private cgroup2 view)");
    Ok(())
}
