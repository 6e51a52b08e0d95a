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
fn bind_new_netns(target: PathBuf) -> Result<()> {
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
    let run_dir = run_dir.as_ref();
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

    if let Err(err) = bind_new_netns(path.clone()) {
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
}
