//! Handles on namespaces: open a namespace file (/proc/PID/ns/TYPE or a
//! bind-mounted one), check its type with NS_GET_NSTYPE, setns(2) into it.

use std::fmt;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use nix::unistd::Pid;

use crate::error::{Error, Result};
use crate::nstype::NamespaceType;
use crate::syscall::{LinuxSyscall, Syscall};

/// The identity of a namespace: device and inode of its nsfs file. Two
/// files refer to the same namespace exactly when their ids are equal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NamespaceId {
    pub dev: u64,
    pub ino: u64,
}

impl fmt::Display for NamespaceId {
    /// `[inode]`, as in the /proc/PID/ns/* link targets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}]", self.ino)
    }
}

/// The id of the namespace the file at `path` refers to (follows the
/// /proc/PID/ns/* links; works on bind-mounted namespace files).
pub fn namespace_id(path: impl AsRef<Path>) -> Result<NamespaceId> {
    let path = path.as_ref();
    let meta = std::fs::metadata(path).map_err(|source| Error::StatNamespace {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(NamespaceId {
        dev: meta.dev(),
        ino: meta.ino(),
    })
}

/// An open namespace file of a known type.
#[derive(Debug)]
pub struct NamespaceFile {
    fd: OwnedFd,
    path: PathBuf,
    typ: NamespaceType,
}

fn check_type(
    sys: &dyn Syscall,
    fd: BorrowedFd<'_>,
    path: &Path,
    expected: Option<NamespaceType>,
) -> Result<NamespaceType> {
    let raw = sys
        .namespace_type(fd)
        .map_err(|source| Error::NotANamespace {
            path: path.to_path_buf(),
            expected,
            source,
        })?;
    let actual = NamespaceType::from_raw_flag(raw).ok_or_else(|| Error::UnknownNamespaceType {
        path: path.to_path_buf(),
        value: raw,
    })?;
    match expected {
        Some(expected) if expected != actual => Err(Error::WrongNamespaceType {
            path: path.to_path_buf(),
            expected,
            actual,
        }),
        _ => Ok(actual),
    }
}

impl NamespaceFile {
    /// Opens `path`, which must be a namespace of type `expected`.
    pub fn open(path: impl AsRef<Path>, expected: NamespaceType) -> Result<Self> {
        Self::open_with(&LinuxSyscall, path, expected)
    }

    /// [`NamespaceFile::open`] through `sys`.
    pub fn open_with(
        sys: &dyn Syscall,
        path: impl AsRef<Path>,
        expected: NamespaceType,
    ) -> Result<Self> {
        Self::open_inner(sys, path.as_ref(), Some(expected))
    }

    /// Opens `path`, a namespace of any type.
    pub fn open_any(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_inner(&LinuxSyscall, path.as_ref(), None)
    }

    fn open_inner(sys: &dyn Syscall, path: &Path, expected: Option<NamespaceType>) -> Result<Self> {
        let fd = sys
            .open_namespace(path)
            .map_err(|source| Error::OpenNamespace {
                path: path.to_path_buf(),
                source,
            })?;
        let typ = check_type(sys, fd.as_fd(), path, expected)?;
        Ok(NamespaceFile {
            fd,
            path: path.to_path_buf(),
            typ,
        })
    }

    /// The `typ` namespace of process `pid` (/proc/PID/ns/TYPE).
    pub fn of_process(pid: Pid, typ: NamespaceType) -> Result<Self> {
        Self::open(typ.proc_path(pid), typ)
    }

    /// The `typ` namespace of the calling thread.
    pub fn of_current_thread(typ: NamespaceType) -> Result<Self> {
        Self::open(typ.thread_self_path(), typ)
    }

    pub fn namespace_type(&self) -> NamespaceType {
        self.typ
    }

    /// The path the file was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Moves the calling thread into this namespace (setns(2)). Joining a
    /// user or mount namespace needs a single-threaded process.
    pub fn join(&self) -> Result<()> {
        self.join_with(&LinuxSyscall)
    }

    /// [`NamespaceFile::join`] through `sys`.
    pub fn join_with(&self, sys: &dyn Syscall) -> Result<()> {
        tracing::debug!(path = %self.path.display(), typ = %self.typ, "setns");
        sys.setns(self.fd.as_fd(), self.typ)
            .map_err(|source| Error::Setns {
                path: self.path.clone(),
                typ: self.typ,
                source,
            })
    }

    /// The identity of this namespace.
    pub fn id(&self) -> Result<NamespaceId> {
        let st = nix::sys::stat::fstat(self.fd.as_raw_fd()).map_err(|e| Error::StatNamespace {
            path: self.path.clone(),
            source: e.into(),
        })?;
        Ok(NamespaceId {
            dev: st.st_dev,
            ino: st.st_ino,
        })
    }

    pub fn into_fd(self) -> OwnedFd {
        self.fd
    }
}

impl AsFd for NamespaceFile {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for NamespaceFile {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// Opens `path`, checks it is a `expected` namespace and joins it.
pub fn join_namespace(path: impl AsRef<Path>, expected: NamespaceType) -> Result<()> {
    NamespaceFile::open(path, expected)?.join()
}

/// The type of the namespace file at `path`.
pub fn namespace_type_of(path: impl AsRef<Path>) -> Result<NamespaceType> {
    Ok(NamespaceFile::open_any(path)?.namespace_type())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::FakeSyscall;

    #[test]
    fn joining_the_right_type() {
        let sys = FakeSyscall::new(0, 0).with_namespace("/run/netns/a", NamespaceType::Network);
        let ns =
            NamespaceFile::open_with(&sys, "/run/netns/a", NamespaceType::Network).expect("open");
        assert_eq!(ns.namespace_type(), NamespaceType::Network);
        ns.join_with(&sys).expect("setns");
        assert_eq!(
            sys.setns_calls(),
            vec![(PathBuf::from("/run/netns/a"), NamespaceType::Network)]
        );
    }

    #[test]
    fn joining_the_wrong_type_names_path_and_type() {
        let sys = FakeSyscall::new(0, 0).with_namespace("/proc/7/ns/mnt", NamespaceType::Mount);
        let err = NamespaceFile::open_with(&sys, "/proc/7/ns/mnt", NamespaceType::Network)
            .expect_err("wrong type");
        assert!(matches!(
            err,
            Error::WrongNamespaceType {
                expected: NamespaceType::Network,
                actual: NamespaceType::Mount,
                ..
            }
        ));
        assert_eq!(
            err.to_string(),
            "/proc/7/ns/mnt is a mount namespace, expected a network namespace"
        );
        assert!(sys.setns_calls().is_empty());
    }

    #[test]
    fn not_a_namespace_or_missing() {
        let sys = FakeSyscall::new(0, 0).with_non_namespace("/tmp/plain");
        let err = NamespaceFile::open_with(&sys, "/tmp/plain", NamespaceType::Uts)
            .expect_err("not a namespace");
        let text = err.to_string();
        assert!(
            text.starts_with("/tmp/plain is not a namespace file (expected a uts namespace)"),
            "{text}"
        );

        let err = NamespaceFile::open_with(&sys, "/nope", NamespaceType::Uts).expect_err("missing");
        assert!(
            err.to_string()
                .starts_with("failed to open namespace file /nope"),
            "{err}"
        );
    }

    #[test]
    fn real_wrong_type_and_plain_file() {
        let err = NamespaceFile::open("/proc/self/ns/uts", NamespaceType::Network)
            .expect_err("uts is not net");
        assert_eq!(
            err.to_string(),
            "/proc/self/ns/uts is a uts namespace, expected a network namespace"
        );
        let err = NamespaceFile::open("/proc/self/status", NamespaceType::Network)
            .expect_err("not a namespace");
        assert!(matches!(err, Error::NotANamespace { .. }), "{err}");
        assert_eq!(
            namespace_type_of("/proc/self/ns/ipc").expect("type"),
            NamespaceType::Ipc
        );
    }

    #[test]
    fn ids_match_paths() {
        let ns = NamespaceFile::of_current_thread(NamespaceType::Uts).expect("open");
        assert_eq!(
            ns.id().expect("fstat"),
            namespace_id(NamespaceType::Uts.thread_self_path()).expect("stat")
        );
        assert_ne!(
            ns.id().expect("fstat"),
            namespace_id("/proc/self/ns/ipc").expect("stat")
        );
        // Joining our own namespace is allowed (root) or EPERM: never a type error.
        if let Err(err) = ns.join() {
            assert!(matches!(err, Error::Setns { .. }), "{err}");
        }
    }
}
