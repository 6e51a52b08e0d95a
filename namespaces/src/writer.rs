//! Writing the uid/gid maps of a process in a new user namespace.
//!
//! A privileged caller (effective uid 0) writes /proc/PID/uid_map and
//! gid_map directly. An unprivileged caller does the same for the one
//! mapping the kernel lets it write itself (a single id mapping its own
//! effective id; for gids after writing "deny" to /proc/PID/setgroups), and
//! otherwise runs the setuid helpers newuidmap/newgidmap, which check the
//! mappings against /etc/subuid and /etc/subgid.

use std::io;
use std::path::PathBuf;

use nix::unistd::Pid;

use crate::error::{Error, Result};
use crate::idmap::{display_id_maps, format_id_map_file, validate_id_maps, IdKind, IdMap};
use crate::rootless::IdMappings;
use crate::syscall::{LinuxSyscall, Syscall};

/// How a map gets written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteMethod {
    /// Straight to /proc/PID/{uid,gid}_map.
    Direct,
    /// Through newuidmap/newgidmap.
    Helper,
}

/// Writes id maps of processes; see the module documentation for how it
/// picks between writing directly and the helpers.
pub struct MapWriter<'a> {
    sys: &'a dyn Syscall,
    proc_root: PathBuf,
    method: Option<WriteMethod>,
    newuidmap: Option<PathBuf>,
    newgidmap: Option<PathBuf>,
}

impl Default for MapWriter<'static> {
    fn default() -> Self {
        Self::new()
    }
}

impl MapWriter<'static> {
    /// A writer using the real system calls.
    pub fn new() -> Self {
        MapWriter::with_syscall(&LinuxSyscall)
    }
}

impl<'a> MapWriter<'a> {
    pub fn with_syscall(sys: &'a dyn Syscall) -> Self {
        MapWriter {
            sys,
            proc_root: PathBuf::from("/proc"),
            method: None,
            newuidmap: None,
            newgidmap: None,
        }
    }

    /// Always use `method` instead of choosing.
    pub fn force_method(mut self, method: WriteMethod) -> Self {
        self.method = Some(method);
        self
    }

    /// Use `path` as newuidmap (`IdKind::Uid`) or newgidmap instead of
    /// looking it up in PATH.
    pub fn helper_path(mut self, kind: IdKind, path: impl Into<PathBuf>) -> Self {
        match kind {
            IdKind::Uid => self.newuidmap = Some(path.into()),
            IdKind::Gid => self.newgidmap = Some(path.into()),
        }
        self
    }

    /// Where /proc is (for tests).
    pub fn proc_root(mut self, path: impl Into<PathBuf>) -> Self {
        self.proc_root = path.into();
        self
    }

    fn privileged(&self) -> bool {
        self.sys.geteuid() == 0
    }

    /// The method [`MapWriter::write`] will use for these mappings.
    pub fn method_for(&self, kind: IdKind, maps: &[IdMap]) -> WriteMethod {
        if let Some(m) = self.method {
            return m;
        }
        if self.privileged() {
            return WriteMethod::Direct;
        }
        let own = match kind {
            IdKind::Uid => self.sys.geteuid(),
            IdKind::Gid => self.sys.getegid(),
        };
        match maps {
            [m] if m.size == 1 && m.host_id == own => WriteMethod::Direct,
            _ => WriteMethod::Helper,
        }
    }

    fn proc_file(&self, pid: Pid, name: &str) -> PathBuf {
        self.proc_root.join(pid.to_string()).join(name)
    }

    /// Writes "deny" (or "allow") to /proc/PID/setgroups. A kernel without
    /// that file (before 3.19) is not an error.
    pub fn write_setgroups(&self, pid: Pid, allow: bool) -> Result<()> {
        let path = self.proc_file(pid, "setgroups");
        let data: &[u8] = if allow { b"allow" } else { b"deny" };
        match self.sys.write_file(&path, data) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other.map_err(|source| Error::Write { path, source }),
        }
    }

    /// Writes the `kind` map of process `pid`; returns how it was written.
    pub fn write(&self, pid: Pid, kind: IdKind, maps: &[IdMap]) -> Result<WriteMethod> {
        validate_id_maps(kind, maps)?;
        let method = self.method_for(kind, maps);
        tracing::debug!(%pid, %kind, maps = %display_id_maps(maps), ?method, "writing id map");
        match method {
            WriteMethod::Direct => {
                if kind == IdKind::Gid && !self.privileged() {
                    // An unprivileged process may only write gid_map once
                    // setgroups(2) is disabled in the namespace.
                    self.write_setgroups(pid, false)?;
                }
                let path = self.proc_file(pid, kind.map_file());
                self.sys
                    .write_file(&path, format_id_map_file(maps).as_bytes())
                    .map_err(|source| Error::Write { path, source })?;
            }
            WriteMethod::Helper => self.run_helper(pid, kind, maps)?,
        }
        Ok(method)
    }

    /// Writes the uid map, then the gid map, of process `pid`.
    pub fn write_all(&self, pid: Pid, mappings: &IdMappings) -> Result<()> {
        self.write(pid, IdKind::Uid, &mappings.uid)?;
        self.write(pid, IdKind::Gid, &mappings.gid)?;
        Ok(())
    }

    fn helper(&self, kind: IdKind) -> Option<PathBuf> {
        let configured = match kind {
            IdKind::Uid => self.newuidmap.clone(),
            IdKind::Gid => self.newgidmap.clone(),
        };
        configured.or_else(|| self.sys.find_program(kind.helper()))
    }

    fn run_helper(&self, pid: Pid, kind: IdKind, maps: &[IdMap]) -> Result<()> {
        let not_found = || Error::MapHelperNotFound {
            program: kind.helper().to_string(),
            kind,
            pid: pid.as_raw(),
        };
        let program = self.helper(kind).ok_or_else(not_found)?;
        let mut args = Vec::with_capacity(1 + 3 * maps.len());
        args.push(pid.to_string());
        for m in maps {
            args.push(m.container_id.to_string());
            args.push(m.host_id.to_string());
            args.push(m.size.to_string());
        }
        let output =
            self.sys
                .run_program(&program, &args)
                .map_err(|source| match source.kind() {
                    io::ErrorKind::NotFound => not_found(),
                    _ => Error::MapHelperSpawn {
                        program: program.clone(),
                        source,
                    },
                })?;
        if !output.status.success() {
            let mut stderr = String::from_utf8_lossy(&output.stderr).trim().to_string();
            if stderr.is_empty() {
                stderr = String::from_utf8_lossy(&output.stdout).trim().to_string();
            }
            if stderr.is_empty() {
                stderr = "(no output)".to_string();
            }
            return Err(Error::MapHelperFailed {
                program,
                kind,
                pid: pid.as_raw(),
                maps: display_id_maps(maps),
                status: output.status.to_string(),
                stderr,
            });
        }
        Ok(())
    }
}

/// Writes `mappings` for process `pid` with the real system calls.
pub fn write_id_mappings(pid: Pid, mappings: &IdMappings) -> Result<()> {
    MapWriter::new().write_all(pid, mappings)
}

/// Looks up newuidmap or newgidmap in PATH.
pub fn find_map_helper(kind: IdKind) -> Option<PathBuf> {
    LinuxSyscall.find_program(kind.helper())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::FakeSyscall;

    fn pid() -> Pid {
        Pid::from_raw(4242)
    }

    fn mappings() -> IdMappings {
        IdMappings {
            uid: vec![IdMap::new(0, 1000, 1), IdMap::new(1, 100000, 65536)],
            gid: vec![IdMap::new(0, 1000, 1), IdMap::new(1, 200000, 65536)],
        }
    }

    #[test]
    fn privileged_writes_directly() {
        let sys = FakeSyscall::new(0, 0);
        MapWriter::with_syscall(&sys)
            .write_all(pid(), &mappings())
            .expect("write");
        assert_eq!(
            sys.writes(),
            vec![
                (
                    PathBuf::from("/proc/4242/uid_map"),
                    "0 1000 1\n1 100000 65536\n".to_string()
                ),
                (
                    PathBuf::from("/proc/4242/gid_map"),
                    "0 1000 1\n1 200000 65536\n".to_string()
                ),
            ]
        );
        assert!(sys.runs().is_empty());
    }

    #[test]
    fn unprivileged_self_mapping_writes_directly_with_setgroups_deny() {
        let sys = FakeSyscall::new(1000, 1001);
        let single = IdMappings {
            uid: vec![IdMap::new(0, 1000, 1)],
            gid: vec![IdMap::new(0, 1001, 1)],
        };
        let w = MapWriter::with_syscall(&sys);
        assert_eq!(w.method_for(IdKind::Uid, &single.uid), WriteMethod::Direct);
        w.write_all(pid(), &single).expect("write");
        let paths: Vec<(String, String)> = sys
            .writes()
            .into_iter()
            .map(|(p, c)| (p.display().to_string(), c))
            .collect();
        assert_eq!(
            paths,
            vec![
                ("/proc/4242/uid_map".to_string(), "0 1000 1\n".to_string()),
                ("/proc/4242/setgroups".to_string(), "deny".to_string()),
                ("/proc/4242/gid_map".to_string(), "0 1001 1\n".to_string()),
            ]
        );
    }

    #[test]
    fn unprivileged_other_maps_use_helpers() {
        let sys = FakeSyscall::new(1000, 1000)
            .with_program("newuidmap", "/usr/bin/newuidmap")
            .with_program("newgidmap", "/usr/bin/newgidmap");
        let w = MapWriter::with_syscall(&sys);
        // Someone else's single id is not a self mapping.
        assert_eq!(
            w.method_for(IdKind::Uid, &[IdMap::new(0, 1001, 1)]),
            WriteMethod::Helper
        );
        w.write_all(pid(), &mappings()).expect("write");
        assert!(sys.writes().is_empty());
        let runs = sys.runs();
        assert_eq!(runs.len(), 2);
        assert_eq!(runs[0].0, PathBuf::from("/usr/bin/newuidmap"));
        assert_eq!(
            runs[0].1,
            ["4242", "0", "1000", "1", "1", "100000", "65536"].map(String::from)
        );
        assert_eq!(runs[1].0, PathBuf::from("/usr/bin/newgidmap"));
        assert_eq!(runs[1].1[4..], ["1", "200000", "65536"].map(String::from));
    }

    #[test]
    fn missing_helper_is_a_clear_error() {
        let sys = FakeSyscall::new(1000, 1000);
        let err = MapWriter::with_syscall(&sys)
            .write_all(pid(), &mappings())
            .expect_err("no newuidmap");
        assert!(matches!(err, Error::MapHelperNotFound { .. }));
        let text = err.to_string();
        assert!(text.contains("newuidmap not found"), "{text}");
        assert!(text.contains("process 4242"), "{text}");
        assert!(text.contains("uidmap"), "{text}");
    }

    #[test]
    fn refusing_helper_is_a_clear_error() {
        let sys = FakeSyscall::new(1000, 1000)
            .with_program("newuidmap", "/usr/bin/newuidmap")
            .with_program_result(
                1,
                "newuidmap: uid range [1-65537) -> [100000-165536) not allowed\n",
            );
        let err = MapWriter::with_syscall(&sys)
            .write(pid(), IdKind::Uid, &mappings().uid)
            .expect_err("refused");
        let text = err.to_string();
        assert!(text.starts_with("/usr/bin/newuidmap refused to write uid mappings 0:1000:1,1:100000:65536 for process 4242"), "{text}");
        assert!(text.contains("exit status: 1"), "{text}");
        assert!(text.contains("not allowed"), "{text}");
    }

    #[test]
    fn configured_helper_path_and_forced_method() {
        let sys = FakeSyscall::new(0, 0);
        MapWriter::with_syscall(&sys)
            .force_method(WriteMethod::Helper)
            .helper_path(IdKind::Gid, "/opt/newgidmap")
            .write(pid(), IdKind::Gid, &[IdMap::new(0, 0, 10)])
            .expect("write");
        assert_eq!(sys.runs()[0].0, PathBuf::from("/opt/newgidmap"));
    }

    #[test]
    fn invalid_maps_are_refused_before_writing() {
        let sys = FakeSyscall::new(0, 0);
        let err = MapWriter::with_syscall(&sys)
            .write(
                pid(),
                IdKind::Uid,
                &[IdMap::new(0, 0, 10), IdMap::new(5, 100, 1)],
            )
            .expect_err("overlap");
        assert!(matches!(err, Error::InvalidIdMap { .. }));
        assert!(sys.writes().is_empty());
    }

    #[test]
    fn write_errors_name_the_file() {
        let sys = FakeSyscall::new(0, 0).with_failing_write("/proc/4242/uid_map", libc::EPERM);
        let err = MapWriter::with_syscall(&sys)
            .write(pid(), IdKind::Uid, &[IdMap::new(0, 0, 10)])
            .expect_err("EPERM");
        let text = err.to_string();
        assert!(
            text.starts_with("failed to write /proc/4242/uid_map"),
            "{text}"
        );
    }

    #[test]
    fn missing_setgroups_is_tolerated() {
        let sys =
            FakeSyscall::new(1000, 1000).with_failing_write("/proc/4242/setgroups", libc::ENOENT);
        MapWriter::with_syscall(&sys)
            .write(pid(), IdKind::Gid, &[IdMap::new(0, 1000, 1)])
            .expect("write");
        assert_eq!(sys.writes().len(), 1);
    }
}
