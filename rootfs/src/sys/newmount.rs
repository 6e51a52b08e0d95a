//! The new mount API (fsopen, fsconfig, fsmount, move_mount) through rustix's
//! safe wrappers (nix 0.29 has none of these). The attribute constants are the
//! stable uapi values of `<linux/mount.h>`.

use std::os::fd::{BorrowedFd, OwnedFd};

use nix::errno::Errno;
use rustix::fs::CWD;
use rustix::mount::{FsMountFlags, FsOpenFlags, MountAttrFlags, MoveMountFlags};

pub(crate) const MOUNT_ATTR_RDONLY: u32 = 0x0000_0001;
pub(crate) const MOUNT_ATTR_NOSUID: u32 = 0x0000_0002;
pub(crate) const MOUNT_ATTR_NODEV: u32 = 0x0000_0004;
pub(crate) const MOUNT_ATTR_NOEXEC: u32 = 0x0000_0008;

/// `MOUNT_ATTR_IDMAP`: map the mount's ids through a user namespace.
pub(crate) const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;

/// `struct mount_attr` of `<linux/mount.h>` (MOUNT_ATTR_SIZE_VER0).
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// `open_tree(AT_FDCWD, path, OPEN_TREE_CLONE|OPEN_TREE_CLOEXEC)`: a detached
/// copy of the mount subtree at `path` (not recursive).
pub(crate) fn open_tree_clone(path: &std::path::Path) -> nix::Result<OwnedFd> {
    rustix::mount::open_tree(
        CWD,
        path,
        rustix::mount::OpenTreeFlags::OPEN_TREE_CLONE
            | rustix::mount::OpenTreeFlags::OPEN_TREE_CLOEXEC,
    )
    .map_err(errno)
}

/// `mount_setattr(mnt, "", AT_EMPTY_PATH, {MOUNT_ATTR_IDMAP, userns})`:
/// makes the detached mount `mnt` idmapped through the user namespace `userns`.
pub(crate) fn mount_setattr_idmap(mnt: BorrowedFd<'_>, userns: BorrowedFd<'_>) -> nix::Result<()> {
    use std::os::fd::AsRawFd;
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_IDMAP,
        attr_clr: 0,
        propagation: 0,
        userns_fd: u64::try_from(userns.as_raw_fd()).map_err(|_| Errno::EBADF)?,
    };
    // SAFETY: mount_setattr reads `size_of::<MountAttr>()` bytes from `attr`,
    // a live, correctly laid out struct; the path is a static empty C string
    // and both fds are borrowed for the duration of the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            mnt.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if ret < 0 {
        Err(Errno::last())
    } else {
        Ok(())
    }
}

/// rustix's errno as nix's, which the rest of the crate speaks.
fn errno(e: rustix::io::Errno) -> Errno {
    Errno::from_raw(e.raw_os_error())
}

/// `fsopen(fstype, FSOPEN_CLOEXEC)`: a new filesystem context.
pub(crate) fn fsopen(fstype: &str) -> nix::Result<OwnedFd> {
    rustix::mount::fsopen(fstype, FsOpenFlags::FSOPEN_CLOEXEC).map_err(errno)
}

/// `fsconfig(fs, FSCONFIG_SET_FLAG, key, NULL, 0)`.
pub(crate) fn fsconfig_set_flag(fs: BorrowedFd<'_>, key: &str) -> nix::Result<()> {
    rustix::mount::fsconfig_set_flag(fs, key).map_err(errno)
}

/// `fsconfig(fs, FSCONFIG_SET_STRING, key, value, 0)`.
pub(crate) fn fsconfig_set_string(fs: BorrowedFd<'_>, key: &str, value: &[u8]) -> nix::Result<()> {
    rustix::mount::fsconfig_set_string(fs, key, value).map_err(errno)
}

/// `fsconfig(fs, FSCONFIG_SET_FD, key, NULL, fd)`.
pub(crate) fn fsconfig_set_fd(
    fs: BorrowedFd<'_>,
    key: &str,
    fd: BorrowedFd<'_>,
) -> nix::Result<()> {
    rustix::mount::fsconfig_set_fd(fs, key, fd).map_err(errno)
}

/// `fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0)`: build the superblock.
pub(crate) fn fsconfig_create(fs: BorrowedFd<'_>) -> nix::Result<()> {
    rustix::mount::fsconfig_create(fs).map_err(errno)
}

/// `fsmount(fs, FSMOUNT_CLOEXEC, attr_flags)`: a detached mount of the context.
pub(crate) fn fsmount(fs: BorrowedFd<'_>, attr_flags: u32) -> nix::Result<OwnedFd> {
    rustix::mount::fsmount(
        fs,
        FsMountFlags::FSMOUNT_CLOEXEC,
        MountAttrFlags::from_bits_retain(attr_flags),
    )
    .map_err(errno)
}

/// `move_mount(mnt, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH)`: attach a detached mount.
pub(crate) fn move_mount(mnt: BorrowedFd<'_>, target: &[u8]) -> nix::Result<()> {
    rustix::mount::move_mount(
        mnt,
        "",
        CWD,
        target,
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
    )
    .map_err(errno)
}
