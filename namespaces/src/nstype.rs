//! The kinds of Linux namespaces.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use nix::sched::CloneFlags;
use nix::unistd::Pid;
use oci_spec::runtime::LinuxNamespaceType;

/// A kind of Linux namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NamespaceType {
    User,
    Mount,
    Pid,
    Network,
    Ipc,
    Uts,
    Cgroup,
    Time,
}

impl NamespaceType {
    /// Every namespace type, in the order a runtime usually creates/joins them
    /// (user first).
    pub const ALL: [NamespaceType; 8] = [
        NamespaceType::User,
        NamespaceType::Pid,
        NamespaceType::Uts,
        NamespaceType::Ipc,
        NamespaceType::Network,
        NamespaceType::Cgroup,
        NamespaceType::Mount,
        NamespaceType::Time,
    ];

    /// The file name under /proc/PID/ns/ ("user", "mnt", "net", ...).
    pub fn proc_name(self) -> &'static str {
        match self {
            NamespaceType::User => "user",
            NamespaceType::Mount => "mnt",
            NamespaceType::Pid => "pid",
            NamespaceType::Network => "net",
            NamespaceType::Ipc => "ipc",
            NamespaceType::Uts => "uts",
            NamespaceType::Cgroup => "cgroup",
            NamespaceType::Time => "time",
        }
    }

    /// The `CLONE_NEW*` value, as returned by the NS_GET_NSTYPE ioctl.
    pub fn raw_flag(self) -> i32 {
        match self {
            NamespaceType::User => libc::CLONE_NEWUSER,
            NamespaceType::Mount => libc::CLONE_NEWNS,
            NamespaceType::Pid => libc::CLONE_NEWPID,
            NamespaceType::Network => libc::CLONE_NEWNET,
            NamespaceType::Ipc => libc::CLONE_NEWIPC,
            NamespaceType::Uts => libc::CLONE_NEWUTS,
            NamespaceType::Cgroup => libc::CLONE_NEWCGROUP,
            NamespaceType::Time => libc::CLONE_NEWTIME,
        }
    }

    /// The `CLONE_NEW*` flag for setns(2)/unshare(2).
    pub fn clone_flag(self) -> CloneFlags {
        CloneFlags::from_bits_retain(self.raw_flag())
    }

    /// The type whose `CLONE_NEW*` value is `value`, if any.
    pub fn from_raw_flag(value: i32) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.raw_flag() == value)
    }

    /// `/proc/PID/ns/<proc_name>`.
    pub fn proc_path(self, pid: Pid) -> PathBuf {
        PathBuf::from(format!("/proc/{pid}/ns/{}", self.proc_name()))
    }

    /// `/proc/thread-self/ns/<proc_name>`: the namespace of the calling thread.
    pub fn thread_self_path(self) -> PathBuf {
        PathBuf::from(format!("/proc/thread-self/ns/{}", self.proc_name()))
    }
}

impl fmt::Display for NamespaceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NamespaceType::User => "user",
            NamespaceType::Mount => "mount",
            NamespaceType::Pid => "pid",
            NamespaceType::Network => "network",
            NamespaceType::Ipc => "ipc",
            NamespaceType::Uts => "uts",
            NamespaceType::Cgroup => "cgroup",
            NamespaceType::Time => "time",
        })
    }
}

/// Error of [`NamespaceType::from_str`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown namespace type {0:?}")]
pub struct UnknownNamespaceType(pub String);

impl FromStr for NamespaceType {
    type Err = UnknownNamespaceType;

    /// Accepts both the /proc names ("mnt", "net") and the long ones
    /// ("mount", "network").
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "user" => NamespaceType::User,
            "mnt" | "mount" => NamespaceType::Mount,
            "pid" => NamespaceType::Pid,
            "net" | "network" => NamespaceType::Network,
            "ipc" => NamespaceType::Ipc,
            "uts" => NamespaceType::Uts,
            "cgroup" => NamespaceType::Cgroup,
            "time" => NamespaceType::Time,
            other => return Err(UnknownNamespaceType(other.to_string())),
        })
    }
}

impl From<LinuxNamespaceType> for NamespaceType {
    fn from(t: LinuxNamespaceType) -> Self {
        match t {
            LinuxNamespaceType::User => NamespaceType::User,
            LinuxNamespaceType::Mount => NamespaceType::Mount,
            LinuxNamespaceType::Pid => NamespaceType::Pid,
            LinuxNamespaceType::Network => NamespaceType::Network,
            LinuxNamespaceType::Ipc => NamespaceType::Ipc,
            LinuxNamespaceType::Uts => NamespaceType::Uts,
            LinuxNamespaceType::Cgroup => NamespaceType::Cgroup,
            LinuxNamespaceType::Time => NamespaceType::Time,
        }
    }
}

impl From<NamespaceType> for LinuxNamespaceType {
    fn from(t: NamespaceType) -> Self {
        match t {
            NamespaceType::User => LinuxNamespaceType::User,
            NamespaceType::Mount => LinuxNamespaceType::Mount,
            NamespaceType::Pid => LinuxNamespaceType::Pid,
            NamespaceType::Network => LinuxNamespaceType::Network,
            NamespaceType::Ipc => LinuxNamespaceType::Ipc,
            NamespaceType::Uts => LinuxNamespaceType::Uts,
            NamespaceType::Cgroup => LinuxNamespaceType::Cgroup,
            NamespaceType::Time => LinuxNamespaceType::Time,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_flags_round_trip() {
        for t in NamespaceType::ALL {
            assert_eq!(NamespaceType::from_raw_flag(t.raw_flag()), Some(t));
            assert_eq!(t.clone_flag().bits(), t.raw_flag());
            assert_eq!(t.proc_name().parse::<NamespaceType>(), Ok(t));
            assert_eq!(t.to_string().parse::<NamespaceType>(), Ok(t));
            let oci: LinuxNamespaceType = t.into();
            assert_eq!(NamespaceType::from(oci), t);
        }
        assert_eq!(NamespaceType::from_raw_flag(0), None);
        assert!("bogus".parse::<NamespaceType>().is_err());
    }

    #[test]
    fn proc_paths() {
        assert_eq!(
            NamespaceType::Network.proc_path(Pid::from_raw(42)),
            PathBuf::from("/proc/42/ns/net")
        );
        assert_eq!(
            NamespaceType::Mount.thread_self_path(),
            PathBuf::from("/proc/thread-self/ns/mnt")
        );
    }
}
