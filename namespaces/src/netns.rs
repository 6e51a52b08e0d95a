//! Persistent network namespaces, as `ip netns add/delete` and Podman make
//! them: a new network namespace is created on a short-lived thread and its
//! /proc/thread-self/ns/net is bind-mounted onto a file under a run
//! directory (itself made a shared mount point, so the bind mounts reach
//! other mount namespaces). The namespace lives as long as that mount.
//!
//! Needs CAP_SYS_ADMIN (root, or root of the rootless user namespace with
//! its own mount namespace).

use std::fs::{self, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::errno::Errno;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{unshare, CloneFlags};

use crate::error::{Error, Result};
use crate::handle::NamespaceFile;
use crate::nstype::NamespaceType;

/// Where `ip netns` keeps its namespaces (rootful).
pub const NETNS_RUN_DIR: &str = "/run/netns";

/// How long [`remove_netns`] retries unlink(2) while the file is busy.
const REMOVE_RETRIES: u32 = 200;
const REMOVE_RETRY_DELAY: Duration = Duration::from_millis(10);

/// Checks that `name` can be a file name in the run directory.
pub fn validate_netns_name(name: &str) -> Result<()> {
    let reason = if name.is_empty() {
        Some("empty")
    } else if name == "." || name == ".." {
        Some("reserved name")
    } else if name.contains('/') {
        Some("contains '/'")
    } else if name.contains('\0') {
        Some("contains a NUL byte")
    } else if name.len() > 255 {
        Some("longer than 255 bytes")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(Error::InvalidNetnsName {
            name: name.to_string(),
            reason: reason.to_string(),
        }),
        None => Ok(()),
    }
}

/// A random name like Podman's: `netns-` and 32 hex digits.
pub fn generate_netns_name() -> Result<String> {
    const URANDOM: &str = "/dev/urandom";
    let mut bytes = [0u8; 16];
    fs::File::open(URANDOM)
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|source| Error::Read {
            path: PathBuf::from(URANDOM),
            source,
        })?;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!("netns-{hex}"))
}

/// Makes `dir` a shared mount point, bind-mounting it onto itself first if
/// it is not a mount point yet (what `ip netns` does with /run/netns).
pub fn make_shared_mount_point(dir: &Path) -> Result<()> {
    let shared = MsFlags::MS_SHARED | MsFlags::MS_REC;
    match mount(None::<&str>, dir, None::<&str>, shared, None::<&str>) {
        Ok(()) => return Ok(()),
        // EINVAL: not a mount point.
        Err(Errno::EINVAL) => {}
        Err(e) => {
            return Err(Error::netns(
                "failed to make a shared mount point of",
                dir,
                e.into(),
            ))
        }
    }
    mount(
        Some(dir),
        dir,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|e| Error::netns("failed to bind-mount onto itself", dir, e.into()))?;
    mount(None::<&str>, dir, None::<&str>, shared, None::<&str>)
        .map_err(|e| Error::netns("failed to make a shared mount point of", dir, e.into()))
}

/// On a thread of its own: unshare the network namespace and bind-mount it
/// onto `target`. The thread ends right after, so no other code runs in the
/// new namespace by accident.
fn bind_new_netns(target: PathBuf, loopback: bool) -> Result<()> {
    let worker = target.clone();
    let handle = std::thread::Builder::new()
        .name("netns-create".to_string())
        .spawn(move || -> Result<()> {
            unshare(CloneFlags::CLONE_NEWNET).map_err(|e| {
                Error::netns(
                    "failed to unshare a network namespace for",
                    &worker,
                    e.into(),
                )
            })?;
            if loopback {
                set_loopback_up()
                    .map_err(|e| Error::netns("failed to bring up loopback in", &worker, e))?;
            }
            let own = NamespaceType::Network.thread_self_path();
            mount(
                Some(&own),
                &worker,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
            .map_err(|e| {
                Error::netns(
                    "failed to bind-mount the new network namespace onto",
                    &worker,
                    e.into(),
                )
            })
        })
        .map_err(|e| {
            Error::netns(
                "failed to start a thread to create the network namespace",
                &target,
                e,
            )
        })?;
    handle.join().unwrap_or_else(|_| {
        Err(Error::netns(
            "the thread creating the network namespace panicked for",
            &target,
            io::Error::other("thread panicked"),
        ))
    })
}

/// Creates a persistent network namespace `run_dir/name` (`ip netns add`)
/// and returns its path. `run_dir` is created if needed and made a shared
/// mount point.
pub fn create_netns(run_dir: impl AsRef<Path>, name: &str) -> Result<PathBuf> {
    create_netns_inner(run_dir.as_ref(), name, false)
}

/// As [`create_netns`], with the loopback interface up (127.0.0.1 and ::1
/// reachable), as a container's private network namespace has it.
pub fn create_netns_with_loopback(run_dir: impl AsRef<Path>, name: &str) -> Result<PathBuf> {
    create_netns_inner(run_dir.as_ref(), name, true)
}

/// Sets IFF_UP on `lo` in the calling thread's network namespace.
pub(crate) fn set_loopback_up() -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let sock = nix::sys::socket::socket(
        nix::sys::socket::AddressFamily::Inet,
        nix::sys::socket::SockType::Datagram,
        nix::sys::socket::SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS reads the flags into `req`, a valid ifreq that
    // outlives the call, on a socket we own.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: ifru_flags is the union member SIOCGIFFLAGS just filled.
    unsafe { req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short };
    // SAFETY: as above; SIOCSIFFLAGS reads `req`.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Makes the network namespace at `source` (e.g. `/proc/PID/ns/net` of a
/// process that created it) persistent as `run_dir/name`, as
/// [`create_netns`] does for a new one; [`remove_netns`] removes it.
pub fn persist_netns(run_dir: impl AsRef<Path>, name: &str, source: &Path) -> Result<PathBuf> {
    persist_with(run_dir.as_ref(), name, |target| {
        mount(
            Some(source),
            &target,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(|e| {
            Error::netns(
                "failed to bind-mount the network namespace onto",
                &target,
                e.into(),
            )
        })
    })
}

fn create_netns_inner(run_dir: &Path, name: &str, loopback: bool) -> Result<PathBuf> {
    persist_with(run_dir, name, |target| bind_new_netns(target, loopback))
}

fn persist_with(
    run_dir: &Path,
    name: &str,
    bind: impl FnOnce(PathBuf) -> Result<()>,
) -> Result<PathBuf> {
    validate_netns_name(name)?;
    fs::create_dir_all(run_dir)
        .map_err(|e| Error::netns("failed to create directory", run_dir, e))?;
    make_shared_mount_point(run_dir)?;

    let path = run_dir.join(name);
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o444)
        .open(&path)
        .map_err(|e| match e.kind() {
            io::ErrorKind::AlreadyExists => Error::NetnsExists { path: path.clone() },
            _ => Error::netns("failed to create the mount point", &path, e),
        })?;

    if let Err(err) = bind(path.clone()) {
        if let Err(rm) = fs::remove_file(&path) {
            tracing::warn!(path = %path.display(), %rm, "cannot remove netns mount point after failure");
        }
        return Err(err);
    }
    tracing::debug!(path = %path.display(), "created persistent network namespace");
    Ok(path)
}

/// Opens the persistent network namespace at `path` (checking that it is
/// one).
pub fn open_netns(path: impl AsRef<Path>) -> Result<NamespaceFile> {
    NamespaceFile::open(path, NamespaceType::Network)
}

/// Removes a persistent network namespace (`ip netns delete`): lazy
/// unmount, then unlink. A path that does not exist is not an error, nor is
/// a file that is no longer mounted; /proc paths are left alone.
pub fn remove_netns(path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    if path.starts_with("/proc") {
        tracing::debug!(path = %path.display(), "not removing a /proc namespace path");
        return Ok(());
    }
    match umount2(path, MntFlags::MNT_DETACH) {
        // EINVAL: exists but is not mounted.
        Ok(()) | Err(Errno::EINVAL) => {}
        Err(Errno::ENOENT) => return Ok(()),
        Err(e) => return Err(Error::netns("failed to unmount", path, e.into())),
    }
    let mut attempt = 0;
    loop {
        match fs::remove_file(path) {
            Ok(()) => break,
            Err(e) if e.kind() == io::ErrorKind::NotFound => break,
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && attempt < REMOVE_RETRIES => {
                attempt += 1;
                std::thread::sleep(REMOVE_RETRY_DELAY);
            }
            Err(e) => return Err(Error::netns("failed to remove", path, e)),
        }
    }
    tracing::debug!(path = %path.display(), "removed persistent network namespace");
    Ok(())
}

/// Makes `cmd` start in a mount namespace of its own whose mounts are all
/// private. For helpers that rearrange mounts in a namespace they create
/// from ours (slirp4netns `--enable-sandbox`): with the shared mount points
/// the netns directories are, their unmounts would propagate back and take
/// the namespace files away. Podman starts slirp4netns the same way.
pub fn spawn_in_private_mount_ns(cmd: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs in the forked child before exec and only
    // makes two system calls (unshare, mount with static arguments); it
    // touches no locks or allocations shared with the parent.
    unsafe {
        cmd.pre_exec(|| {
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)?;
            mount(
                None::<&str>,
                "/",
                None::<&str>,
                MsFlags::MS_REC | MsFlags::MS_PRIVATE,
                None::<&str>,
            )?;
            Ok(())
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["netns-1", "a", "my.ns"] {
            assert!(validate_netns_name(ok).is_ok(), "{ok}");
        }
        let long = "x".repeat(256);
        for bad in ["", ".", "..", "a/b", "a\0b", long.as_str()] {
            let err = validate_netns_name(bad).expect_err(bad);
            assert!(err
                .to_string()
                .starts_with("invalid network namespace name"));
        }
        let a = generate_netns_name().expect("name");
        let b = generate_netns_name().expect("name");
        assert_ne!(a, b);
        assert_eq!(a.len(), "netns-".len() + 32);
        assert!(validate_netns_name(&a).is_ok());
    }

    #[test]
    fn removing_missing_or_unmounted_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("missing");
        remove_netns(&missing).expect("missing is fine");
        let plain = dir.path().join("plain");
        fs::write(&plain, "").expect("write");
        // Not mounted: umount fails with EINVAL as root, EPERM otherwise.
        if nix::unistd::geteuid().is_root() {
            remove_netns(&plain).expect("unmounted is fine");
            assert!(!plain.exists());
        }
        remove_netns("/proc/self/ns/net").expect("/proc is left alone");
    }

    #[test]
    fn loopback_is_up_in_a_new_netns() {
        if !nix::unistd::geteuid().is_root() {
            return;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let path = create_netns_with_loopback(dir.path(), "lo-test").expect("create");
        let out = std::process::Command::new("nsenter")
            .arg(format!("--net={}", path.display()))
            .args(["ip", "-o", "link", "show", "lo"])
            .output()
            .expect("nsenter");
        let plain = create_netns(dir.path(), "plain-test").expect("create");
        let out_plain = std::process::Command::new("nsenter")
            .arg(format!("--net={}", plain.display()))
            .args(["ip", "-o", "link", "show", "lo"])
            .output()
            .expect("nsenter");
        remove_netns(&path).expect("remove");
        remove_netns(&plain).expect("remove");
        // create_netns made the directory a shared mount point of itself.
        let _ = umount2(dir.path(), MntFlags::MNT_DETACH);
        // /sys shows the namespace sysfs was mounted in; ask the kernel via ip.
        let up = |o: &[u8]| String::from_utf8_lossy(o).contains("<LOOPBACK,UP,");
        assert!(up(&out.stdout), "{}", String::from_utf8_lossy(&out.stdout));
        assert!(!up(&out_plain.stdout), "lo stays down by default");
    }
}
