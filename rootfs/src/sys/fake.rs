//! A recording fake of [`Syscalls`] for unit tests.

use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::mount::{MntFlags, MsFlags};

use super::{FsValue, Syscalls};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Call {
    Mount {
        source: Option<String>,
        target: PathBuf,
        fstype: Option<String>,
        flags: MsFlags,
        data: Option<String>,
    },
    Umount {
        target: PathBuf,
        flags: MntFlags,
    },
    FsConfig {
        key: String,
        value: String,
    },
    Create,
    FsMount {
        attrs: u32,
    },
    MoveMount {
        target: PathBuf,
    },
    OpenTreeIdmapped {
        path: PathBuf,
    },
}

#[derive(Debug, Default)]
pub(crate) struct FakeSys {
    pub calls: RefCell<Vec<Call>>,
    /// Which path each fd handed out by `open_dir` stands for.
    pub fds: RefCell<HashMap<RawFd, PathBuf>>,
    pub log: RefCell<Vec<String>>,
    /// fsopen fails with this.
    pub fsopen_errno: Option<Errno>,
    /// fsconfig refuses fd values (a kernel before 6.13).
    pub fd_values_unsupported: bool,
    /// fsconfig refuses this layer with EINVAL and a log message.
    pub reject_layer: Option<PathBuf>,
    /// 0 means 4096.
    pub page_size: usize,
    /// Mount points where a plain umount gets EBUSY.
    pub busy: Vec<PathBuf>,
    /// Every umount gets EINVAL.
    pub not_mounted: bool,
    /// Every umount gets this error.
    pub umount_errno: Option<Errno>,
    /// The mount table (id, mount point) that mountinfo shows and umount edits.
    pub mounts: RefCell<Vec<(u32, PathBuf)>>,
    /// open_tree_idmapped fails with this.
    pub idmap_errno: Option<Errno>,
}

impl FakeSys {
    pub fn calls(&self) -> Vec<Call> {
        self.calls.borrow().clone()
    }

    fn record(&self, call: Call) {
        self.calls.borrow_mut().push(call);
    }

    /// The last fd `open_dir` returned for `path`.
    pub fn fd_of(&self, path: &Path) -> RawFd {
        self.fds
            .borrow()
            .iter()
            .filter(|(_, p)| p.as_path() == path)
            .map(|(fd, _)| *fd)
            .max()
            .unwrap_or(-1)
    }

    fn path_of_fd(&self, fd: RawFd) -> Option<PathBuf> {
        self.fds.borrow().get(&fd).cloned()
    }
}

fn s(v: &OsStr) -> String {
    v.to_string_lossy().into_owned()
}

impl Syscalls for FakeSys {
    fn mount(
        &self,
        source: Option<&OsStr>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&OsStr>,
    ) -> nix::Result<()> {
        self.record(Call::Mount {
            source: source.map(s),
            target: target.to_path_buf(),
            fstype: fstype.map(str::to_string),
            flags,
            data: data.map(s),
        });
        Ok(())
    }

    fn umount(&self, target: &Path, flags: MntFlags) -> nix::Result<()> {
        self.record(Call::Umount {
            target: target.to_path_buf(),
            flags,
        });
        if self.not_mounted {
            return Err(Errno::EINVAL);
        }
        if let Some(e) = self.umount_errno {
            return Err(e);
        }
        if flags.is_empty() && self.busy.iter().any(|b| b == target) {
            return Err(Errno::EBUSY);
        }
        let mut mounts = self.mounts.borrow_mut();
        if let Some(pos) = mounts.iter().rposition(|(_, mp)| mp == target) {
            mounts.remove(pos);
        }
        Ok(())
    }

    fn fsopen(&self, _fstype: &str) -> nix::Result<OwnedFd> {
        if let Some(e) = self.fsopen_errno {
            return Err(e);
        }
        std::fs::File::open("/dev/null")
            .map(OwnedFd::from)
            .map_err(|_| Errno::EIO)
    }

    fn fsconfig(&self, _fs: BorrowedFd<'_>, key: &str, value: FsValue<'_>) -> nix::Result<()> {
        let (text, path) = match value {
            FsValue::Flag => ("flag".to_string(), None),
            FsValue::String(v) => {
                let text = s(v);
                let path = text
                    .strip_prefix("/proc/self/fd/")
                    .and_then(|n| n.parse().ok())
                    .and_then(|fd| self.path_of_fd(fd))
                    .unwrap_or_else(|| PathBuf::from(v));
                (format!("str:{text}"), Some(path))
            }
            FsValue::Fd(fd) => {
                if self.fd_values_unsupported {
                    return Err(Errno::EINVAL);
                }
                let path = self.path_of_fd(fd.as_raw_fd()).unwrap_or_default();
                (format!("fd:{}", path.display()), Some(path))
            }
        };
        if path.is_some() && path == self.reject_layer {
            self.log
                .borrow_mut()
                .push("e overlay: layer rejected".to_string());
            return Err(Errno::EINVAL);
        }
        self.record(Call::FsConfig {
            key: key.to_string(),
            value: text,
        });
        Ok(())
    }

    fn fsconfig_create(&self, _fs: BorrowedFd<'_>) -> nix::Result<()> {
        self.record(Call::Create);
        Ok(())
    }

    fn fsmount(&self, _fs: BorrowedFd<'_>, attr_flags: u32) -> nix::Result<OwnedFd> {
        self.record(Call::FsMount { attrs: attr_flags });
        std::fs::File::open("/dev/null")
            .map(OwnedFd::from)
            .map_err(|_| Errno::EIO)
    }

    fn move_mount(&self, _mnt: BorrowedFd<'_>, target: &Path) -> nix::Result<()> {
        self.record(Call::MoveMount {
            target: target.to_path_buf(),
        });
        Ok(())
    }

    fn fs_log(&self, _fs: BorrowedFd<'_>) -> Vec<String> {
        std::mem::take(&mut *self.log.borrow_mut())
    }

    fn open_dir(&self, path: &Path) -> nix::Result<OwnedFd> {
        if !path.is_dir() {
            return Err(if path.exists() {
                Errno::ENOTDIR
            } else {
                Errno::ENOENT
            });
        }
        let fd = std::fs::File::open("/dev/null")
            .map(OwnedFd::from)
            .map_err(|_| Errno::EIO)?;
        self.fds
            .borrow_mut()
            .insert(fd.as_raw_fd(), path.to_path_buf());
        Ok(fd)
    }

    fn open_tree_idmapped(&self, path: &Path, _userns: BorrowedFd<'_>) -> nix::Result<OwnedFd> {
        if let Some(e) = self.idmap_errno {
            return Err(e);
        }
        self.record(Call::OpenTreeIdmapped {
            path: path.to_path_buf(),
        });
        self.open_dir(path)
    }

    fn mountinfo(&self) -> std::io::Result<Vec<u8>> {
        let mut text = String::from("1 0 254:0 / / rw - ext4 /dev/vda rw\n");
        for (id, mp) in self.mounts.borrow().iter() {
            let mp = mp.display().to_string().replace(' ', "\\040");
            text.push_str(&format!("{id} 1 0:{id} / {mp} rw - tmpfs tmpfs rw\n"));
        }
        Ok(text.into_bytes())
    }

    fn page_size(&self) -> usize {
        if self.page_size == 0 {
            4096
        } else {
            self.page_size
        }
    }
}
