//! Checks the rlimits of a process spec against what the caller can set.
//!
//! Raising a hard limit needs CAP_SYS_RESOURCE. Without it the kernel refuses
//! deep inside container setup with a bare EPERM, so we check first and name
//! the limit in the error.

use nix::sys::resource::{getrlimit, Resource};
use oci_spec::runtime::{PosixRlimit, PosixRlimitType};

use crate::{Result, RuntimeError};

const CAP_SYS_RESOURCE: u32 = 24;

fn resource(t: PosixRlimitType) -> Resource {
    match t {
        PosixRlimitType::RlimitCpu => Resource::RLIMIT_CPU,
        PosixRlimitType::RlimitFsize => Resource::RLIMIT_FSIZE,
        PosixRlimitType::RlimitData => Resource::RLIMIT_DATA,
        PosixRlimitType::RlimitStack => Resource::RLIMIT_STACK,
        PosixRlimitType::RlimitCore => Resource::RLIMIT_CORE,
        PosixRlimitType::RlimitRss => Resource::RLIMIT_RSS,
        PosixRlimitType::RlimitNproc => Resource::RLIMIT_NPROC,
        PosixRlimitType::RlimitNofile => Resource::RLIMIT_NOFILE,
        PosixRlimitType::RlimitMemlock => Resource::RLIMIT_MEMLOCK,
        PosixRlimitType::RlimitAs => Resource::RLIMIT_AS,
        PosixRlimitType::RlimitLocks => Resource::RLIMIT_LOCKS,
        PosixRlimitType::RlimitSigpending => Resource::RLIMIT_SIGPENDING,
        PosixRlimitType::RlimitMsgqueue => Resource::RLIMIT_MSGQUEUE,
        PosixRlimitType::RlimitNice => Resource::RLIMIT_NICE,
        PosixRlimitType::RlimitRtprio => Resource::RLIMIT_RTPRIO,
        PosixRlimitType::RlimitRttime => Resource::RLIMIT_RTTIME,
    }
}

/// Whether this process has `cap` in its effective set (read from /proc/self/status).
pub(crate) fn has_effective_cap(cap: u32) -> bool {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return false;
    };
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .is_some_and(|mask| mask & (1u64 << cap) != 0)
}

/// Pure decision: is `(soft, hard)` settable given the current hard limit?
pub(crate) fn check_one(
    name: &str,
    soft: u64,
    hard: u64,
    current_hard: u64,
    can_raise: bool,
) -> Result<()> {
    if soft > hard {
        return Err(RuntimeError::Rlimit {
            name: name.into(),
            msg: format!("soft limit {soft} is above hard limit {hard}"),
        });
    }
    if hard > current_hard && !can_raise {
        return Err(RuntimeError::Rlimit {
            name: name.into(),
            msg: format!(
                "hard limit {hard} is above the caller's hard limit {current_hard} \
                 and raising it needs CAP_SYS_RESOURCE"
            ),
        });
    }
    Ok(())
}

/// Checks every rlimit of the spec; the error names the first one that cannot be set.
pub fn check(rlimits: &[PosixRlimit]) -> Result<()> {
    let can_raise = has_effective_cap(CAP_SYS_RESOURCE);
    for rl in rlimits {
        let name = rl.typ().to_string();
        let (_, current_hard) = getrlimit(resource(rl.typ()))
            .map_err(|e| RuntimeError::sys(format!("getrlimit {name}"), e))?;
        check_one(&name, rl.soft(), rl.hard(), current_hard, can_raise)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions() {
        assert!(check_one("RLIMIT_NOFILE", 1024, 1024, 20000, false).is_ok());
        let e = check_one("RLIMIT_NOFILE", 1048576, 1048576, 20000, false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("RLIMIT_NOFILE") && e.contains("20000"), "{e}");
        assert!(check_one("RLIMIT_NOFILE", 1048576, 1048576, 20000, true).is_ok());
        assert!(check_one("RLIMIT_NPROC", 10, 5, 100, true).is_err());
    }
}
