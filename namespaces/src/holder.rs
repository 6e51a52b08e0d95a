//! A process holding a container's user namespace (and, optionally, a
//! network namespace owned by it).
//!
//! The engine creates the user namespace itself instead of letting the OCI
//! runtime do it: libcontainer writes multi-range maps through
//! newuidmap/newgidmap, which refuse inside the rootless pause namespace,
//! while the engine (root on the host, or uid 0 with CAP_SETUID in the
//! pause namespace) can write them directly. The spec then names
//! `/proc/<holder>/ns/user` and the runtime joins it.
//!
//! The network namespace is created by the holder too, after its maps are
//! written, so that it is owned by the container's user namespace: the
//! runtime joins the user namespace first, and from inside it may only
//! join namespaces that the user namespace owns.
//!
//! The holder dies with its [`UsernsHolder`] (drop) and with the process
//! that spawned it (`PR_SET_PDEATHSIG`).

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;

use nix::fcntl::OFlag;
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::waitpid;
use nix::unistd::{ForkResult, Pid};

use crate::error::{Error, Result};
use crate::rootless::IdMappings;
use crate::writer::{MapWriter, WriteMethod};

/// A live holder process; see the module documentation.
#[derive(Debug)]
pub struct UsernsHolder {
    pid: Pid,
    /// Closing it (drop) tells the holder to exit.
    keep: Option<File>,
    netns: bool,
}

fn holder_err(step: &'static str) -> impl FnOnce(std::io::Error) -> Error {
    move |source| Error::Holder { step, source }
}

/// Runs in the forked child: only raw system calls, no allocation (the
/// parent may have other threads). Returns the exit code.
fn child_main(up: &OwnedFd, down: &OwnedFd, netns: bool) -> i32 {
    let report = |code: i32| {
        let bytes = code.to_ne_bytes();
        // SAFETY: writes 4 bytes from a live stack buffer to an fd we own.
        unsafe { libc::write(up.as_raw_fd(), bytes.as_ptr().cast(), bytes.len()) };
    };
    let wait_parent = || -> bool {
        let mut b = [0u8; 1];
        // SAFETY: reads at most 1 byte into a live stack buffer from an fd we own.
        let n = unsafe { libc::read(down.as_raw_fd(), b.as_mut_ptr().cast(), 1) };
        n == 1
    };
    let errno = || {
        std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO)
    };
    // SAFETY: prctl(PR_SET_PDEATHSIG) takes an integer signal number.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
    // SAFETY: unshare only changes this (single-threaded) child's namespaces.
    if unsafe { libc::unshare(libc::CLONE_NEWUSER) } != 0 {
        report(errno());
        return 1;
    }
    report(0);
    // The parent writes the maps now.
    if !wait_parent() {
        return 0;
    }
    if netns {
        // SAFETY: as above; the new user namespace gives CAP_SYS_ADMIN.
        if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
            report(errno());
            return 1;
        }
        if let Err(e) = crate::netns::set_loopback_up() {
            report(e.raw_os_error().unwrap_or(libc::EIO));
            return 1;
        }
    }
    report(0);
    // Hold the namespaces until the parent closes its end (or dies).
    while wait_parent() {}
    0
}

fn read_status(up: &mut File, step: &'static str) -> Result<()> {
    let mut buf = [0u8; 4];
    up.read_exact(&mut buf).map_err(|_| Error::Holder {
        step,
        source: std::io::Error::other("the holder process exited"),
    })?;
    match i32::from_ne_bytes(buf) {
        0 => Ok(()),
        code => Err(Error::Holder {
            step,
            source: std::io::Error::from_raw_os_error(code),
        }),
    }
}

impl UsernsHolder {
    /// Forks a holder, has it unshare a user namespace, writes `maps` into
    /// it directly (we must be privileged over the ids), and, with
    /// `netns`, has it create a network namespace with loopback up.
    pub fn spawn(maps: &IdMappings, netns: bool) -> Result<UsernsHolder> {
        let writer = MapWriter::new().force_method(WriteMethod::Direct);
        let pipe =
            || nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| holder_err("pipe")(e.into()));
        let (up_r, up_w) = pipe()?;
        let (down_r, down_w) = pipe()?;
        // SAFETY: the child runs only `child_main`, which makes raw system
        // calls on fds it owns and allocates nothing, then `_exit`s.
        match unsafe { nix::unistd::fork() }.map_err(|e| holder_err("fork")(e.into()))? {
            ForkResult::Child => {
                drop(up_r);
                drop(down_w);
                let code = child_main(&up_w, &down_r, netns);
                // SAFETY: ends the child without running the parent's destructors.
                unsafe { libc::_exit(code) }
            }
            ForkResult::Parent { child } => {
                drop(up_w);
                drop(down_r);
                let mut holder = UsernsHolder {
                    pid: child,
                    keep: Some(File::from(down_w)),
                    netns,
                };
                let mut up = File::from(up_r);
                read_status(&mut up, "unshare(CLONE_NEWUSER)")?;
                writer.write_all(child, maps)?;
                if let Some(k) = holder.keep.as_mut() {
                    k.write_all(b"m")
                        .map_err(holder_err("signalling the holder"))?;
                }
                read_status(
                    &mut up,
                    if netns {
                        "creating the network namespace"
                    } else {
                        "starting"
                    },
                )?;
                tracing::debug!(pid = %child, netns, "user namespace holder ready");
                Ok(holder)
            }
        }
    }

    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// `/proc/<pid>/ns/user`.
    pub fn userns_path(&self) -> PathBuf {
        PathBuf::from(format!("/proc/{}/ns/user", self.pid))
    }

    /// `/proc/<pid>/ns/net` when the holder created a network namespace.
    pub fn netns_path(&self) -> Option<PathBuf> {
        self.netns
            .then(|| PathBuf::from(format!("/proc/{}/ns/net", self.pid)))
    }

    /// An fd of the user namespace (for idmapped mounts).
    pub fn open_userns(&self) -> Result<File> {
        File::open(self.userns_path()).map_err(holder_err("opening the user namespace"))
    }

    /// Ends the holder and reaps it.
    pub fn stop(&mut self) {
        if self.keep.take().is_some() {
            let _ = kill(self.pid, Signal::SIGKILL);
            let _ = waitpid(self.pid, None);
        }
    }
}

impl Drop for UsernsHolder {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::idmap::IdMap;

    #[test]
    fn holder_has_the_maps_and_a_netns() {
        if !nix::unistd::geteuid().is_root() || crate::rootless::in_user_namespace() {
            eprintln!("skipped: needs real root");
            return;
        }
        let maps = IdMappings {
            uid: vec![IdMap::new(0, 100000, 65536)],
            gid: vec![IdMap::new(0, 200000, 1000)],
        };
        let mut h = UsernsHolder::spawn(&maps, true).expect("spawn");
        let pid = h.pid();
        let uid_map = std::fs::read_to_string(format!("/proc/{pid}/uid_map")).expect("uid_map");
        assert_eq!(
            uid_map.split_whitespace().collect::<Vec<_>>(),
            ["0", "100000", "65536"]
        );
        let gid_map = std::fs::read_to_string(format!("/proc/{pid}/gid_map")).expect("gid_map");
        assert!(gid_map.contains("200000"), "{gid_map}");
        let own = std::fs::read_link("/proc/self/ns/net").expect("own netns");
        let its = std::fs::read_link(h.netns_path().expect("netns")).expect("holder netns");
        assert_ne!(own, its);
        assert!(h.open_userns().is_ok());
        h.stop();
        assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
    }
}
