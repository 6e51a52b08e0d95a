//! The syscalls this crate mounts with, behind [`Syscalls`] so that the
//! decisions around them (which API, which option string, what to do on
//! EBUSY...) can be unit-tested with a recording fake.

#[cfg(test)]
pub(crate) mod fake;
mod newmount;

use std::ffi::OsStr;
use std::fs::OpenOptions;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use nix::errno::Errno;
use nix::mount::{MntFlags, MsFlags};

pub(crate) use newmount::{
    MOUNT_ATTR_NODEV, MOUNT_ATTR_NOEXEC, MOUNT_ATTR_NOSUID, MOUNT_ATTR_RDONLY,
};

/// The value of one `fsconfig` call.
#[derive(Debug, Clone, Copy)]
pub enum FsValue<'a> {
    /// `FSCONFIG_SET_FLAG` (a key without value, e.g. `userxattr`).
    Flag,
    /// `FSCONFIG_SET_STRING`.
    String(&'a OsStr),
    /// `FSCONFIG_SET_FD` (overlayfs takes layers as fds since Linux 6.13).
    Fd(BorrowedFd<'a>),
}

/// The kernel interface used by this crate. [`RealSyscalls`] is the one to use;
/// tests substitute a fake.
pub trait Syscalls {
    /// mount(2).
    fn mount(
        &self,
        source: Option<&OsStr>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&OsStr>,
    ) -> nix::Result<()>;
    /// umount2(2).
    fn umount(&self, target: &Path, flags: MntFlags) -> nix::Result<()>;
    /// fsopen(2) with FSOPEN_CLOEXEC.
    fn fsopen(&self, fstype: &str) -> nix::Result<OwnedFd>;
    /// fsconfig(2) setting one parameter.
    fn fsconfig(&self, fs: BorrowedFd<'_>, key: &str, value: FsValue<'_>) -> nix::Result<()>;
    /// fsconfig(2) with FSCONFIG_CMD_CREATE.
    fn fsconfig_create(&self, fs: BorrowedFd<'_>) -> nix::Result<()>;
    /// fsmount(2) with FSMOUNT_CLOEXEC and the given MOUNT_ATTR_* flags.
    fn fsmount(&self, fs: BorrowedFd<'_>, attr_flags: u32) -> nix::Result<OwnedFd>;
    /// move_mount(2) of a detached mount fd onto `target`.
    fn move_mount(&self, mnt: BorrowedFd<'_>, target: &Path) -> nix::Result<()>;
    /// Drains the messages the kernel logged in an fs context.
    fn fs_log(&self, fs: BorrowedFd<'_>) -> Vec<String>;
    /// Opens a directory (O_RDONLY|O_DIRECTORY|O_CLOEXEC), following symlinks.
    fn open_dir(&self, path: &Path) -> nix::Result<OwnedFd>;
    /// A detached clone of the mount at `path` (open_tree OPEN_TREE_CLONE),
    /// idmapped through the user namespace `userns` (mount_setattr
    /// MOUNT_ATTR_IDMAP).
    fn open_tree_idmapped(&self, path: &Path, userns: BorrowedFd<'_>) -> nix::Result<OwnedFd>;
    /// The bytes of /proc/self/mountinfo.
    fn mountinfo(&self) -> std::io::Result<Vec<u8>>;
    /// The page size, which bounds mount(2) data.
    fn page_size(&self) -> usize;
}

/// The real kernel.
#[derive(Debug, Clone, Copy, Default)]
pub struct RealSyscalls;

impl Syscalls for RealSyscalls {
    fn mount(
        &self,
        source: Option<&OsStr>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&OsStr>,
    ) -> nix::Result<()> {
        nix::mount::mount(source, target, fstype, flags, data)
    }

    fn umount(&self, target: &Path, flags: MntFlags) -> nix::Result<()> {
        nix::mount::umount2(target, flags)
    }

    fn fsopen(&self, fstype: &str) -> nix::Result<OwnedFd> {
        newmount::fsopen(fstype)
    }

    fn fsconfig(&self, fs: BorrowedFd<'_>, key: &str, value: FsValue<'_>) -> nix::Result<()> {
        match value {
            FsValue::Flag => newmount::fsconfig_set_flag(fs, key),
            FsValue::String(s) => newmount::fsconfig_set_string(fs, key, s.as_bytes()),
            FsValue::Fd(fd) => newmount::fsconfig_set_fd(fs, key, fd),
        }
    }

    fn fsconfig_create(&self, fs: BorrowedFd<'_>) -> nix::Result<()> {
        newmount::fsconfig_create(fs)
    }

    fn fsmount(&self, fs: BorrowedFd<'_>, attr_flags: u32) -> nix::Result<OwnedFd> {
        newmount::fsmount(fs, attr_flags)
    }

    fn move_mount(&self, mnt: BorrowedFd<'_>, target: &Path) -> nix::Result<()> {
        newmount::move_mount(mnt, target.as_os_str().as_bytes())
    }

    fn fs_log(&self, fs: BorrowedFd<'_>) -> Vec<String> {
        // Each read(2) returns one message ("e overlay: ...") until ENODATA.
        let mut messages = Vec::new();
        let mut buf = [0u8; 1024];
        while messages.len() < 32 {
            match nix::unistd::read(fs.as_raw_fd(), &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let text = String::from_utf8_lossy(buf.get(..n).unwrap_or(&[]));
                    messages.push(text.trim_end().to_string());
                }
            }
        }
        messages
    }

    fn open_dir(&self, path: &Path) -> nix::Result<OwnedFd> {
        OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
            .open(path)
            .map(OwnedFd::from)
            .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))
    }

    fn open_tree_idmapped(&self, path: &Path, userns: BorrowedFd<'_>) -> nix::Result<OwnedFd> {
        use std::os::fd::AsFd;
        let tree = newmount::open_tree_clone(path)?;
        newmount::mount_setattr_idmap(tree.as_fd(), userns)?;
        Ok(tree)
    }

    fn mountinfo(&self) -> std::io::Result<Vec<u8>> {
        // /proc files report size 0, so fs::read starts with 32-byte reads;
        // each read(2) of mountinfo walks the mount list again. Big reads.
        use std::io::Read;
        let mut buf = Vec::with_capacity(64 << 10);
        std::fs::File::open("/proc/self/mountinfo")?.read_to_end(&mut buf)?;
        Ok(buf)
    }

    fn page_size(&self) -> usize {
        match nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE) {
            Ok(Some(n)) => usize::try_from(n).unwrap_or(4096),
            _ => 4096,
        }
    }
}
