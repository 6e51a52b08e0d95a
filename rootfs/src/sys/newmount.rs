//! Raw wrappers of the new mount API (fsopen, fsconfig, fsmount, move_mount).
//!
//! nix 0.29 has none of these, so they go through `libc::syscall`. The
//! constants are the stable uapi values of `<linux/mount.h>`, spelled out here
//! so that they do not depend on which libc release exports them.

use std::ffi::{CStr, CString};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;

pub(crate) const FSOPEN_CLOEXEC: libc::c_uint = 0x0000_0001;

pub(crate) const FSCONFIG_SET_FLAG: libc::c_uint = 0;
pub(crate) const FSCONFIG_SET_STRING: libc::c_uint = 1;
pub(crate) const FSCONFIG_SET_FD: libc::c_uint = 5;
pub(crate) const FSCONFIG_CMD_CREATE: libc::c_uint = 6;

pub(crate) const FSMOUNT_CLOEXEC: libc::c_uint = 0x0000_0001;

pub(crate) const MOUNT_ATTR_RDONLY: u32 = 0x0000_0001;
pub(crate) const MOUNT_ATTR_NOSUID: u32 = 0x0000_0002;
pub(crate) const MOUNT_ATTR_NODEV: u32 = 0x0000_0004;
pub(crate) const MOUNT_ATTR_NOEXEC: u32 = 0x0000_0008;

pub(crate) const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x0000_0004;

/// Turns a syscall's return value into a new fd the caller owns.
fn owned_fd(ret: libc::c_long) -> nix::Result<OwnedFd> {
    let ret = Errno::result(ret)?;
    let fd = RawFd::try_from(ret).map_err(|_| Errno::EOVERFLOW)?;
    // SAFETY: the syscall succeeded and returned a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn cstring(s: &[u8]) -> nix::Result<CString> {
    CString::new(s).map_err(|_| Errno::EINVAL)
}

/// `fsopen(fstype, FSOPEN_CLOEXEC)`: a new filesystem context.
pub(crate) fn fsopen(fstype: &str) -> nix::Result<OwnedFd> {
    let name = cstring(fstype.as_bytes())?;
    // SAFETY: `name` is NUL-terminated and outlives the call; the kernel only reads it.
    let ret = unsafe { libc::syscall(libc::SYS_fsopen, name.as_ptr(), FSOPEN_CLOEXEC) };
    owned_fd(ret)
}

fn fsconfig_raw(
    fs: BorrowedFd<'_>,
    cmd: libc::c_uint,
    key: Option<&CStr>,
    value: Option<&CStr>,
    aux: libc::c_int,
) -> nix::Result<()> {
    let key_ptr = key.map_or(std::ptr::null(), CStr::as_ptr);
    let value_ptr = value.map_or(std::ptr::null(), CStr::as_ptr);
    // SAFETY: `fs` is a live fd; key/value are NUL-terminated strings (or NULL where the
    // command takes none) borrowed for the duration of the call; the kernel copies them.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fs.as_raw_fd(),
            cmd,
            key_ptr,
            value_ptr,
            aux,
        )
    };
    Errno::result(ret).map(drop)
}

/// `fsconfig(fs, FSCONFIG_SET_FLAG, key, NULL, 0)`.
pub(crate) fn fsconfig_set_flag(fs: BorrowedFd<'_>, key: &str) -> nix::Result<()> {
    let key = cstring(key.as_bytes())?;
    fsconfig_raw(fs, FSCONFIG_SET_FLAG, Some(&key), None, 0)
}

/// `fsconfig(fs, FSCONFIG_SET_STRING, key, value, 0)`.
pub(crate) fn fsconfig_set_string(fs: BorrowedFd<'_>, key: &str, value: &[u8]) -> nix::Result<()> {
    let key = cstring(key.as_bytes())?;
    let value = cstring(value)?;
    fsconfig_raw(fs, FSCONFIG_SET_STRING, Some(&key), Some(&value), 0)
}

/// `fsconfig(fs, FSCONFIG_SET_FD, key, NULL, fd)`.
pub(crate) fn fsconfig_set_fd(
    fs: BorrowedFd<'_>,
    key: &str,
    fd: BorrowedFd<'_>,
) -> nix::Result<()> {
    let key = cstring(key.as_bytes())?;
    fsconfig_raw(fs, FSCONFIG_SET_FD, Some(&key), None, fd.as_raw_fd())
}

/// `fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0)`: build the superblock.
pub(crate) fn fsconfig_create(fs: BorrowedFd<'_>) -> nix::Result<()> {
    fsconfig_raw(fs, FSCONFIG_CMD_CREATE, None, None, 0)
}

/// `fsmount(fs, FSMOUNT_CLOEXEC, attr_flags)`: a detached mount of the context.
pub(crate) fn fsmount(fs: BorrowedFd<'_>, attr_flags: u32) -> nix::Result<OwnedFd> {
    // SAFETY: plain integer arguments; `fs` is a live fd for the duration of the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_fsmount,
            fs.as_raw_fd(),
            FSMOUNT_CLOEXEC,
            attr_flags as libc::c_uint,
        )
    };
    owned_fd(ret)
}

/// `move_mount(mnt, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH)`: attach a detached mount.
pub(crate) fn move_mount(mnt: BorrowedFd<'_>, target: &[u8]) -> nix::Result<()> {
    let empty = c"";
    let target = cstring(target)?;
    // SAFETY: `mnt` is a live fd; both paths are NUL-terminated and outlive the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            mnt.as_raw_fd(),
            empty.as_ptr(),
            libc::AT_FDCWD,
            target.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH,
        )
    };
    Errno::result(ret).map(drop)
}
