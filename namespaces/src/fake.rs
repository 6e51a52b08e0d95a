//! A fake [`Syscall`] that records what it is asked to do, for unit tests
//! (of this crate, and of other crates with the `test-utils` feature).

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Output};
use std::sync::{Mutex, MutexGuard};

use crate::nstype::NamespaceType;
use crate::syscall::Syscall;

#[derive(Debug, Default)]
struct State {
    files: HashMap<PathBuf, String>,
    writes: Vec<(PathBuf, String)>,
    runs: Vec<(PathBuf, Vec<String>)>,
    open_fds: HashMap<RawFd, i32>,
    setns_calls: Vec<(PathBuf, NamespaceType)>,
    fd_paths: HashMap<RawFd, PathBuf>,
}

/// Fake system calls. Files read come from [`FakeSyscall::with_file`];
/// writes, program runs and setns calls are recorded; namespace files are
/// /dev/null descriptors whose type is set with
/// [`FakeSyscall::with_namespace`].
#[derive(Debug, Default)]
pub struct FakeSyscall {
    pub uid: u32,
    pub euid: u32,
    pub gid: u32,
    pub egid: u32,
    users: HashMap<u32, String>,
    programs: HashMap<String, PathBuf>,
    /// (exit code, stderr) of every program run.
    program_result: (i32, String),
    namespaces: HashMap<PathBuf, i32>,
    /// Paths whose writes fail with this errno.
    failing_writes: HashMap<PathBuf, i32>,
    state: Mutex<State>,
}

impl FakeSyscall {
    /// A process with real and effective ids `uid`/`gid`.
    pub fn new(uid: u32, gid: u32) -> Self {
        FakeSyscall {
            uid,
            euid: uid,
            gid,
            egid: gid,
            ..Default::default()
        }
    }

    pub fn with_user(mut self, uid: u32, name: &str) -> Self {
        self.users.insert(uid, name.to_string());
        self
    }

    pub fn with_file(self, path: impl Into<PathBuf>, content: &str) -> Self {
        self.state().files.insert(path.into(), content.to_string());
        self
    }

    /// Makes `name` found in PATH at `path`.
    pub fn with_program(mut self, name: &str, path: impl Into<PathBuf>) -> Self {
        self.programs.insert(name.to_string(), path.into());
        self
    }

    /// Every program run exits with `code` and prints `stderr`.
    pub fn with_program_result(mut self, code: i32, stderr: &str) -> Self {
        self.program_result = (code, stderr.to_string());
        self
    }

    /// Makes `path` a namespace file of type `typ`.
    pub fn with_namespace(mut self, path: impl Into<PathBuf>, typ: NamespaceType) -> Self {
        self.namespaces.insert(path.into(), typ.raw_flag());
        self
    }

    /// Makes `path` an openable file that is not a namespace.
    pub fn with_non_namespace(mut self, path: impl Into<PathBuf>) -> Self {
        self.namespaces.insert(path.into(), 0);
        self
    }

    /// Writes to `path` fail with `errno`.
    pub fn with_failing_write(mut self, path: impl Into<PathBuf>, errno: i32) -> Self {
        self.failing_writes.insert(path.into(), errno);
        self
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Successful writes, in order: (path, content).
    pub fn writes(&self) -> Vec<(PathBuf, String)> {
        self.state().writes.clone()
    }

    /// Programs run, in order: (program, args).
    pub fn runs(&self) -> Vec<(PathBuf, Vec<String>)> {
        self.state().runs.clone()
    }

    /// setns calls, in order: (path the fd was opened from, type).
    pub fn setns_calls(&self) -> Vec<(PathBuf, NamespaceType)> {
        self.state().setns_calls.clone()
    }
}

impl Syscall for FakeSyscall {
    fn getuid(&self) -> u32 {
        self.uid
    }

    fn geteuid(&self) -> u32 {
        self.euid
    }

    fn getgid(&self) -> u32 {
        self.gid
    }

    fn getegid(&self) -> u32 {
        self.egid
    }

    fn user_name(&self, uid: u32) -> io::Result<Option<String>> {
        Ok(self.users.get(&uid).cloned())
    }

    fn read_file(&self, path: &Path) -> io::Result<String> {
        self.state()
            .files
            .get(path)
            .cloned()
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
    }

    fn write_file(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        if let Some(errno) = self.failing_writes.get(path) {
            return Err(io::Error::from_raw_os_error(*errno));
        }
        self.state().writes.push((
            path.to_path_buf(),
            String::from_utf8_lossy(data).into_owned(),
        ));
        Ok(())
    }

    fn find_program(&self, name: &str) -> Option<PathBuf> {
        self.programs.get(name).cloned()
    }

    fn run_program(&self, program: &Path, args: &[String]) -> io::Result<Output> {
        self.state()
            .runs
            .push((program.to_path_buf(), args.to_vec()));
        let (code, stderr) = &self.program_result;
        Ok(Output {
            status: ExitStatus::from_raw(code << 8),
            stdout: Vec::new(),
            stderr: stderr.clone().into_bytes(),
        })
    }

    fn open_namespace(&self, path: &Path) -> io::Result<OwnedFd> {
        let typ = *self
            .namespaces
            .get(path)
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        let fd = OwnedFd::from(std::fs::File::open("/dev/null")?);
        let mut state = self.state();
        state.open_fds.insert(fd.as_raw_fd(), typ);
        state.fd_paths.insert(fd.as_raw_fd(), path.to_path_buf());
        Ok(fd)
    }

    fn namespace_type(&self, fd: BorrowedFd<'_>) -> io::Result<i32> {
        match self.state().open_fds.get(&fd.as_raw_fd()) {
            // A non-namespace type (0) stands for a file that is no namespace.
            Some(0) | None => Err(io::Error::from_raw_os_error(libc::ENOTTY)),
            Some(t) => Ok(*t),
        }
    }

    fn setns(&self, fd: BorrowedFd<'_>, typ: NamespaceType) -> io::Result<()> {
        let mut state = self.state();
        let actual = state.open_fds.get(&fd.as_raw_fd()).copied();
        if actual != Some(typ.raw_flag()) {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        let path = state
            .fd_paths
            .get(&fd.as_raw_fd())
            .cloned()
            .unwrap_or_default();
        state.setns_calls.push((path, typ));
        Ok(())
    }
}
