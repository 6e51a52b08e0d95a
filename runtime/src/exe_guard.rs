//! Protection against a container overwriting the runtime binary through
//! `/proc/self/exe` (the runc CVE-2019-5736 class).
//!
//! The container's init and exec'd processes start as clones of this binary.
//! A hostile image can make the kernel re-run that binary inside the container
//! (`#!/proc/self/exe`) and then reopen it for writing once it exits. We close
//! that door before any container work: the process re-executes itself from a
//! detached, read-only bind mount of its own binary (`open_tree` +
//! `mount_setattr(MOUNT_ATTR_RDONLY)` + `execveat`), so every later
//! `/proc/PID/exe` of ours resolves to a read-only mount and a write fails
//! with EROFS. No copy is made, so the cost is one extra `execve`. Where the
//! new mount API is refused, a sealed memfd copy of the binary is used instead.

use std::ffi::{CString, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;

use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::Mode;
use nix::sys::statvfs::{fstatvfs, FsFlags};
use nix::unistd::{access, AccessFlags};

use crate::{Result, RuntimeError};

/// Whether the running binary is already write-protected: on a read-only mount,
/// or a sealed memfd.
pub fn is_protected() -> bool {
    let Ok(fd) = nix::fcntl::open(
        "/proc/self/exe",
        OFlag::O_PATH | OFlag::O_CLOEXEC,
        Mode::empty(),
    ) else {
        return false;
    };
    // SAFETY: `open` just returned this descriptor and nothing else owns it.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    if fstatvfs(&fd).is_ok_and(|s| s.flags().contains(FsFlags::ST_RDONLY)) {
        return true;
    }
    std::fs::read_link("/proc/self/exe")
        .map(|p| p.to_string_lossy().starts_with("/memfd:podman-rs"))
        .unwrap_or(false)
}

/// Re-executes the current process from a write-protected view of its binary,
/// unless it already runs from one or the caller could not write the binary
/// anyway (then neither can any container it starts). Returns only when no
/// re-exec was needed; on success the process image is replaced.
pub fn ensure_protected() -> Result<()> {
    if is_protected() {
        return Ok(());
    }
    if access("/proc/self/exe", AccessFlags::W_OK).is_err() {
        return Ok(());
    }
    let fd = match readonly_clone() {
        Ok(fd) => fd,
        Err(e) => {
            tracing::debug!("read-only bind of the binary refused ({e}); using a sealed memfd");
            sealed_memfd().map_err(|e| RuntimeError::io("protect binary", "/proc/self/exe", e))?
        }
    };
    reexec(&fd)
}

/// A detached, read-only bind mount of our own binary (new mount API only).
/// A process executed from it (`/proc/self/fd/N`) is already protected:
/// [`ensure_protected`] then returns at once instead of re-executing.
pub fn readonly_view() -> io::Result<OwnedFd> {
    readonly_clone()
}

/// A detached bind mount of our own binary, made read-only.
fn readonly_clone() -> io::Result<OwnedFd> {
    let path = CString::new("/proc/self/exe").map_err(io::Error::other)?;
    let flags = libc::OPEN_TREE_CLONE | libc::OPEN_TREE_CLOEXEC as libc::c_uint;
    // SAFETY: open_tree takes a dirfd, a NUL-terminated path that lives across
    // the call, and flags; it returns a new descriptor or -1.
    let raw = unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, path.as_ptr(), flags) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the syscall returned a new descriptor that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw as i32) };
    let attr = libc::mount_attr {
        attr_set: libc::MOUNT_ATTR_RDONLY | libc::MOUNT_ATTR_NOSUID | libc::MOUNT_ATTR_NODEV,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    let empty = CString::default();
    // SAFETY: mount_setattr reads `size` bytes from `attr`, which is a live,
    // properly initialised struct; the empty path with AT_EMPTY_PATH refers to `fd`.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            empty.as_ptr(),
            libc::AT_EMPTY_PATH,
            &attr as *const libc::mount_attr,
            std::mem::size_of::<libc::mount_attr>(),
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(fd)
}

/// A copy of our binary in a memfd sealed against any change.
fn sealed_memfd() -> io::Result<OwnedFd> {
    use nix::fcntl::{fcntl, FcntlArg, SealFlag};
    use nix::sys::memfd::{memfd_create, MemFdCreateFlag};
    let name = CString::new("podman-rs").map_err(io::Error::other)?;
    let fd = memfd_create(
        &name,
        MemFdCreateFlag::MFD_CLOEXEC | MemFdCreateFlag::MFD_ALLOW_SEALING,
    )?;
    let mut out = File::from(fd);
    let mut exe = File::open("/proc/self/exe")?;
    io::copy(&mut exe, &mut out)?;
    let seals = SealFlag::F_SEAL_SEAL
        | SealFlag::F_SEAL_SHRINK
        | SealFlag::F_SEAL_GROW
        | SealFlag::F_SEAL_WRITE;
    fcntl(out.as_raw_fd(), FcntlArg::F_ADD_SEALS(seals))?;
    Ok(OwnedFd::from(out))
}

fn reexec(fd: &OwnedFd) -> Result<()> {
    let to_c = |s: OsString| CString::new(s.into_vec()).ok();
    let args: Vec<CString> = std::env::args_os().filter_map(to_c).collect();
    let env: Vec<CString> = std::env::vars_os()
        .filter_map(|(k, v)| {
            let mut kv = k;
            kv.push("=");
            kv.push(v);
            to_c(kv)
        })
        .collect();
    let empty = CString::default();
    let err = match nix::unistd::execveat(
        Some(fd.as_raw_fd()),
        &empty,
        &args,
        &env,
        AtFlags::AT_EMPTY_PATH,
    ) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    Err(RuntimeError::sys(
        "re-executing from the protected binary",
        err,
    ))
}
