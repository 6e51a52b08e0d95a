//! Where a container's files live, and its per-container lock.
//!
//! ```text
//! <root>/containers/<id>/upper, work      the writable layer (overlay)
//! <root>/containers/<id>/rootfs           the copied root (vfs driver)
//! <root>/containers/<id>/userdata/        hosts, resolv.conf, hostname,
//!                                         .containerenv, ctr.log
//! <runroot>/containers/<id>/merged        the mounted root filesystem
//! <runroot>/containers/<id>/bundle/       the OCI bundle (config.json)
//! <runroot>/s/<id>                        the monitor's attach socket
//! <runroot>/s/<id>.console                the runtime's console socket (-t)
//! <runroot>/runtime/                      the built-in runtime's state
//! <runroot>/netns/<id>                    the private network namespace
//! <runroot>/locks/<id>.lock               the per-container flock
//! ```
//! The attach socket sits in a short directory: a Unix socket path must
//! fit in 108 bytes.

use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};

use super::error::ContainerError;

/// Paths of the engine's container files under one root and run root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    root: PathBuf,
    runroot: PathBuf,
}

impl Layout {
    pub fn new(root: impl Into<PathBuf>, runroot: impl Into<PathBuf>) -> Layout {
        Layout {
            root: root.into(),
            runroot: runroot.into(),
        }
    }

    pub fn runroot(&self) -> &Path {
        &self.runroot
    }

    /// Persistent per-container directory.
    pub fn container_dir(&self, id: &str) -> PathBuf {
        self.root.join("containers").join(id)
    }

    pub fn upper(&self, id: &str) -> PathBuf {
        self.container_dir(id).join("upper")
    }

    pub fn work(&self, id: &str) -> PathBuf {
        self.container_dir(id).join("work")
    }

    /// The vfs driver's copy of the image.
    pub fn vfs_rootfs(&self, id: &str) -> PathBuf {
        self.container_dir(id).join("rootfs")
    }

    pub fn userdata(&self, id: &str) -> PathBuf {
        self.container_dir(id).join("userdata")
    }

    /// The default log file (Podman's `userdata/ctr.log`).
    pub fn log_path(&self, id: &str) -> PathBuf {
        self.userdata(id).join("ctr.log")
    }

    /// Per-container run-state directory (tmpfs).
    pub fn run_dir(&self, id: &str) -> PathBuf {
        self.runroot.join("containers").join(id)
    }

    pub fn merged(&self, id: &str) -> PathBuf {
        self.run_dir(id).join("merged")
    }

    pub fn bundle(&self, id: &str) -> PathBuf {
        self.run_dir(id).join("bundle")
    }

    pub fn attach_socket(&self, id: &str) -> PathBuf {
        self.runroot.join("s").join(sock_name(id))
    }

    /// slirp4netns's API socket (`--network slirp4netns` with `-p`), next to
    /// the attach socket for the same 108-byte limit.
    pub fn slirp_socket(&self, id: &str) -> PathBuf {
        self.runroot
            .join("s")
            .join(format!("{}.net", sock_name(id)))
    }

    /// The socket the runtime sends a `-t` container's pty master over
    /// (next to the attach socket: a path under `run_dir` would pass the
    /// 108-byte limit with a run root of more than ~15 bytes).
    pub fn console_socket(&self, id: &str) -> PathBuf {
        self.runroot
            .join("s")
            .join(format!("{}.console", sock_name(id)))
    }

    /// The console socket of an `exec -t` by process `pid` (same directory
    /// and limit as [`Self::console_socket`]).
    pub fn exec_console_socket(&self, id: &str, pid: u32) -> PathBuf {
        self.runroot
            .join("s")
            .join(format!("{}.exec-{pid}", sock_name(id)))
    }

    /// The built-in runtime's state root.
    pub fn runtime_root(&self) -> PathBuf {
        self.runroot.join("runtime")
    }

    pub fn netns_dir(&self) -> PathBuf {
        self.runroot.join("netns")
    }

    pub fn lock_path(&self, id: &str) -> PathBuf {
        self.runroot.join("locks").join(format!("{id}.lock"))
    }

    /// Takes the container's exclusive lock (released on drop). Lifecycle
    /// commands hold it for their whole step; the monitor never takes it
    /// (it records state with single atomic updates), so a command waiting
    /// for the monitor never deadlocks with it.
    pub fn lock(&self, id: &str) -> Result<ContainerLock, ContainerError> {
        let path = self.lock_path(id);
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(ContainerError::io(id, "creating", dir))?;
        }
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(ContainerError::io(id, "opening lock", &path))?;
        rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive)
            .map_err(|e| ContainerError::io(id, "locking", &path)(e.into()))?;
        Ok(ContainerLock { _file: file, path })
    }
}

/// A held container lock.
#[derive(Debug)]
pub struct ContainerLock {
    _file: File,
    path: PathBuf,
}

impl ContainerLock {
    /// Releases the lock and removes its file (the container is gone).
    pub fn remove(self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// A socket's name for container `id`: its first 32 hex digits (128 bits,
/// unique in practice), so that a rootless run root such as
/// `/tmp/podman-rs-rl-run-XXXXXX/podman-rs` still leaves the whole path
/// under the 108-byte limit of a socket address.
fn sock_name(id: &str) -> &str {
    id.get(..32).unwrap_or(id)
}
