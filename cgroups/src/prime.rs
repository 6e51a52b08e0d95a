//! Starting the RCU grace period of a cgroup migration early.
//!
//! Moving a process into a cgroup (a write to `cgroup.procs`) takes the
//! kernel's `cgroup_threadgroup_rwsem` for writing. When nobody took it for a
//! while, that first waits for a whole RCU grace period (~8 ms on a 2-CPU VM
//! with HZ=250; the writes right after one take ~0.1 ms, until another grace
//! period has gone by without writers). A container start moves its init
//! into the container's cgroups, so every start paid that wait.
//!
//! [`prime_migration`] moves the calling process into the cgroup it is
//! already in (a no-op for the process) on a thread of its own: the grace
//! period then runs while the caller prepares the container, and the
//! runtime's migration a few milliseconds later finds the lock warm. Kernels
//! mounted with `favordynmods` never wait; there this costs one write.

use std::path::{Path, PathBuf};

/// Starts the migration lock's grace period in the background (see the
/// module docs). Best effort: without a writable `cgroup.procs` of our own
/// (rootless, no cgroupfs) nothing happens.
pub fn prime_migration() {
    let spawned = std::thread::Builder::new()
        .name("cgroup-prime".into())
        .spawn(|| {
            let Some(procs) = own_procs_file() else {
                return;
            };
            let pid = std::process::id().to_string();
            // Only a cgroup that lists us: the write must not move us (a
            // cgroupfs mounted from elsewhere than /proc/self/cgroup says).
            let listed = std::fs::read_to_string(&procs)
                .is_ok_and(|list| list.lines().any(|l| l.trim() == pid));
            if !listed {
                return;
            }
            if let Err(e) = std::fs::write(&procs, &pid) {
                tracing::debug!(
                    "priming the cgroup migration lock ({}): {e}",
                    procs.display()
                );
            }
        });
    if let Err(e) = spawned {
        tracing::debug!("priming the cgroup migration lock: no thread: {e}");
    }
}

/// The `cgroup.procs` of the cgroup this process is in, in one hierarchy:
/// a cgroup v1 controller's, else the unified one's.
fn own_procs_file() -> Option<PathBuf> {
    let text = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    own_procs_in(&text, Path::new(crate::DEFAULT_CGROUP_ROOT), |p| {
        p.is_file()
    })
}

fn own_procs_in(proc_cgroup: &str, root: &Path, exists: impl Fn(&Path) -> bool) -> Option<PathBuf> {
    let mut unified = None;
    for line in proc_cgroup.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let rel = path.trim_start_matches('/');
        if controllers.is_empty() {
            unified = Some(rel.to_string());
            continue;
        }
        if controllers.starts_with("name=") {
            continue;
        }
        // A controller's own directory (`cpu`, also `cpu,cpuacct` mounts
        // are reached through the per-controller links distributions add).
        for c in controllers.split(',') {
            let procs = root.join(c).join(rel).join("cgroup.procs");
            if exists(&procs) {
                return Some(procs);
            }
        }
    }
    let rel = unified?;
    [root.join(&rel), root.join("unified").join(&rel)]
        .into_iter()
        .map(|d| d.join("cgroup.procs"))
        .find(|p| exists(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_a_v1_controller_first() {
        let text = "10:hugetlb:/\n9:name=systemd:/user.slice\n8:pids:/a/b\n0::/x\n";
        let got = own_procs_in(text, Path::new("/sys/fs/cgroup"), |_| true);
        assert_eq!(
            got,
            Some(PathBuf::from("/sys/fs/cgroup/hugetlb/cgroup.procs"))
        );
    }

    #[test]
    fn skips_missing_controllers_and_named_hierarchies() {
        let text = "3:name=systemd:/s\n2:cpu,cpuacct:/c\n0::/u\n";
        let got = own_procs_in(text, Path::new("/r"), |p| {
            p == Path::new("/r/cpuacct/c/cgroup.procs")
        });
        assert_eq!(got, Some(PathBuf::from("/r/cpuacct/c/cgroup.procs")));
    }

    #[test]
    fn unified_only() {
        let text = "0::/user.slice/x.scope\n";
        let got = own_procs_in(text, Path::new("/r"), |p| {
            p == Path::new("/r/user.slice/x.scope/cgroup.procs")
        });
        assert_eq!(
            got,
            Some(PathBuf::from("/r/user.slice/x.scope/cgroup.procs"))
        );
        let hybrid = own_procs_in(text, Path::new("/r"), |p| {
            p == Path::new("/r/unified/user.slice/x.scope/cgroup.procs")
        });
        assert_eq!(
            hybrid,
            Some(PathBuf::from("/r/unified/user.slice/x.scope/cgroup.procs"))
        );
    }

    #[test]
    fn nothing_writable() {
        assert_eq!(own_procs_in("garbage\n", Path::new("/r"), |_| true), None);
        assert_eq!(own_procs_in("1:pids:/\n", Path::new("/r"), |_| false), None);
    }
}
