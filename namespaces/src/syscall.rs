//! The system calls the id-mapping and namespace-joining logic uses, behind a
//! trait so that logic can be unit-tested with a fake (see `fake`, enabled by
//! the `test-utils` feature), in the manner of youki's libcontainer.

use std::ffi::OsStr;
use std::fs::OpenOptions;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::nstype::NamespaceType;

/// PATH searched for helper programs when the environment has none.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// System calls used by the mapping and namespace logic.
pub trait Syscall {
    fn getuid(&self) -> u32;
    fn geteuid(&self) -> u32;
    fn getgid(&self) -> u32;
    fn getegid(&self) -> u32;
    /// The name of `uid` in the user database, `None` if it has no entry.
    fn user_name(&self, uid: u32) -> io::Result<Option<String>>;
    fn read_file(&self, path: &Path) -> io::Result<String>;
    /// Writes `data` with a single write(2), as /proc/PID/{uid,gid}_map
    /// require; a short write is an error.
    fn write_file(&self, path: &Path, data: &[u8]) -> io::Result<()>;
    /// Looks `name` up in PATH.
    fn find_program(&self, name: &str) -> Option<PathBuf>;
    /// Runs `program` with `args`, capturing its output.
    fn run_program(&self, program: &Path, args: &[String]) -> io::Result<Output>;
    /// Opens a namespace file read-only, close-on-exec.
    fn open_namespace(&self, path: &Path) -> io::Result<OwnedFd>;
    /// The `CLONE_NEW*` value of the namespace `fd` refers to (NS_GET_NSTYPE).
    fn namespace_type(&self, fd: BorrowedFd<'_>) -> io::Result<i32>;
    /// setns(2) into `fd`, which must be a `typ` namespace.
    fn setns(&self, fd: BorrowedFd<'_>, typ: NamespaceType) -> io::Result<()>;
}

/// The real implementation.
#[derive(Clone, Copy, Debug, Default)]
pub struct LinuxSyscall;

mod ioctl {
    nix::ioctl_none_bad!(ns_get_nstype, libc::NS_GET_NSTYPE);
}

fn is_executable(path: &Path) -> bool {
    path.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Looks `name` up in `path_var` (a PATH value); a name containing '/' is
/// returned as is if it is executable.
pub fn find_in_path(name: &str, path_var: &OsStr) -> Option<PathBuf> {
    if name.contains('/') {
        let p = PathBuf::from(name);
        return is_executable(&p).then_some(p);
    }
    std::env::split_paths(path_var)
        .filter(|dir| !dir.as_os_str().is_empty())
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
}

impl Syscall for LinuxSyscall {
    fn getuid(&self) -> u32 {
        nix::unistd::getuid().as_raw()
    }

    fn geteuid(&self) -> u32 {
        nix::unistd::geteuid().as_raw()
    }

    fn getgid(&self) -> u32 {
        nix::unistd::getgid().as_raw()
    }

    fn getegid(&self) -> u32 {
        nix::unistd::getegid().as_raw()
    }

    fn user_name(&self, uid: u32) -> io::Result<Option<String>> {
        nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
            .map(|user| user.map(|u| u.name))
            .map_err(io::Error::from)
    }

    fn read_file(&self, path: &Path) -> io::Result<String> {
        std::fs::read_to_string(path)
    }

    fn write_file(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        let mut file = OpenOptions::new().write(true).open(path)?;
        let written = file.write(data)?;
        if written != data.len() {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                format!("short write: {written} of {} bytes", data.len()),
            ));
        }
        Ok(())
    }

    fn find_program(&self, name: &str) -> Option<PathBuf> {
        let path_var = std::env::var_os("PATH").unwrap_or_else(|| DEFAULT_PATH.into());
        find_in_path(name, &path_var)
    }

    fn run_program(&self, program: &Path, args: &[String]) -> io::Result<Output> {
        Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .output()
    }

    fn open_namespace(&self, path: &Path) -> io::Result<OwnedFd> {
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_CLOEXEC)
            .open(path)?;
        Ok(OwnedFd::from(file))
    }

    fn namespace_type(&self, fd: BorrowedFd<'_>) -> io::Result<i32> {
        // SAFETY: NS_GET_NSTYPE takes no argument and only reads the open file
        // description `fd` refers to; the borrow keeps the fd open for the call.
        let value = unsafe { ioctl::ns_get_nstype(fd.as_raw_fd()) }?;
        Ok(value)
    }

    fn setns(&self, fd: BorrowedFd<'_>, typ: NamespaceType) -> io::Result<()> {
        nix::sched::setns(fd, typ.clone_flag()).map_err(io::Error::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_programs_in_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let exe = dir.path().join("tool");
        std::fs::write(&exe, "#!/bin/sh\n").expect("write");
        let plain = dir.path().join("plain");
        std::fs::write(&plain, "").expect("write");
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let path_var = std::env::join_paths(["/nonexistent", dir.path().to_str().expect("utf8")])
            .expect("join");
        assert_eq!(find_in_path("tool", &path_var), Some(exe.clone()));
        assert_eq!(find_in_path("plain", &path_var), None);
        assert_eq!(find_in_path("missing", &path_var), None);
        assert_eq!(
            find_in_path(exe.to_str().expect("utf8"), OsStr::new("")),
            Some(exe)
        );
    }

    #[test]
    fn namespace_type_of_own_namespaces() {
        let sys = LinuxSyscall;
        for t in [
            NamespaceType::Network,
            NamespaceType::Mount,
            NamespaceType::User,
        ] {
            let fd = sys.open_namespace(&t.thread_self_path()).expect("open");
            let raw = sys
                .namespace_type(std::os::fd::AsFd::as_fd(&fd))
                .expect("ioctl");
            assert_eq!(NamespaceType::from_raw_flag(raw), Some(t));
        }
        let not_ns = sys
            .open_namespace(Path::new("/proc/self/stat"))
            .expect("open");
        assert!(sys
            .namespace_type(std::os::fd::AsFd::as_fd(&not_ns))
            .is_err());
    }
}
