//! The rootless pause process: a process that keeps a user namespace (and
//! the mount namespace created with it) alive, so that every command of a
//! rootless user runs in the same namespaces, as root there.
//!
//! - [`join_or_create`]: join the namespaces of the live pause process named
//!   by a pid file or, when there is none (or it died), create a new user +
//!   mount namespace, map the user's id and subordinate ranges into it,
//!   start a pause process in it and record its pid. The caller must still
//!   be single-threaded: setns(2) into a user namespace requires it.
//! - [`try_join`]: join only if a live pause process exists.
//! - [`run_pause_process`]: the body of the pause process itself (the same
//!   binary, started with [`PAUSE_ENV`] set).
//! - [`stop_pause_process`]: remove the pid file and kill the process.
//!
//! The pid file is written atomically (temporary file + rename) while
//! holding an exclusive flock(2) on `<pid file>.lock`, so two commands
//! started together create one namespace.

use std::ffi::{CStr, CString, OsString};
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg, OFlag};
use nix::sched::CloneFlags;
use nix::sys::signal::{SigHandler, Signal};
use nix::sys::wait::waitpid;
use nix::unistd::{ForkResult, Gid, Pid, Uid};

use crate::handle::NamespaceFile;
use crate::idmap::{display_id_maps, IdKind, IdMap};
use crate::nstype::NamespaceType;
use crate::rootless::{AllowedIds, IdMappings};
use crate::writer::MapWriter;

/// Set in the environment of the pause process (by [`join_or_create`]).
pub const PAUSE_ENV: &str = "_PODMAN_RS_PAUSE";
/// The process name of the pause process (at most 15 bytes).
pub const PAUSE_NAME: &str = "podman-rs pause";
/// Set (to `done`) once a process is inside the rootless namespace.
pub const USERNS_CONFIGURED_ENV: &str = "_CONTAINERS_USERNS_CONFIGURED";
/// The rootless user's uid outside the namespace.
pub const ROOTLESS_UID_ENV: &str = "_CONTAINERS_ROOTLESS_UID";
/// The rootless user's gid outside the namespace.
pub const ROOTLESS_GID_ENV: &str = "_CONTAINERS_ROOTLESS_GID";

/// Podman's warning when `/` is not a shared mount.
pub const ROOT_NOT_SHARED: &str =
    "\"/\" is not a shared mount, this could cause issues or missing mounts with rootless containers";
/// Podman's warning for a user without subordinate ids.
pub const SINGLE_MAPPING: &str = "Using rootless single mapping into the namespace. This might break some images. Check /etc/subuid and /etc/subgid for adding sub*ids if not using a network user";

/// How long a creator waits for its new pause process to be running.
const START_TIMEOUT: Duration = Duration::from_secs(5);

/// Errors joining or creating the rootless namespaces.
#[derive(Debug, thiserror::Error)]
pub enum PauseError {
    #[error("{what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot join mount namespace for {pid}: {source}")]
    JoinMount {
        pid: i32,
        #[source]
        source: crate::Error,
    },
    #[error("cannot become root in the user namespace: {0}")]
    SetIds(Errno),
    #[error("cannot read the subordinate ids: {0}")]
    SubIds(#[source] crate::Error),
    #[error("cannot clone: {0}")]
    Fork(Errno),
    #[error("cannot clone: {errno}{hint}")]
    Unshare { errno: Errno, hint: String },
    #[error("cannot set up namespace: {0}")]
    Maps(#[source] crate::Error),
    #[error("the namespace creator exited early")]
    ChildDied,
    #[error("the pause process {pid} did not start")]
    PauseNotStarted { pid: i32 },
    #[error("invalid path {}", .0.display())]
    BadPath(PathBuf),
}

/// A message for the user, printed once, when a namespace is created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    Error(String),
    Warning(String),
}

/// What [`join_or_create`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entered {
    /// Joined an existing pause process.
    Joined,
    /// Created the namespaces (and a pause process); the notices are for the user.
    Created(Vec<Notice>),
}

fn io_err(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> PauseError {
    let path = path.to_path_buf();
    move |source| PauseError::Io { what, path, source }
}

/// Whether this process was started as the pause process.
pub fn is_pause_process() -> bool {
    std::env::var_os(PAUSE_ENV).is_some()
}

/// The pause process: ignore the signals a terminal or a shell may send,
/// name itself [`PAUSE_NAME`] and sleep forever (SIGKILL/SIGTERM end it).
pub fn run_pause_process() -> ! {
    for sig in [
        Signal::SIGALRM,
        Signal::SIGHUP,
        Signal::SIGINT,
        Signal::SIGPIPE,
        Signal::SIGQUIT,
        Signal::SIGIO,
        Signal::SIGPROF,
        Signal::SIGVTALRM,
        Signal::SIGXCPU,
        Signal::SIGXFSZ,
    ] {
        // SAFETY: SIG_IGN installs no handler code, so nothing can run
        // concurrently with the rest of the process.
        let _ = unsafe { nix::sys::signal::signal(sig, SigHandler::SigIgn) };
    }
    if let Ok(name) = CString::new(PAUSE_NAME) {
        let _ = nix::sys::prctl::set_name(&name);
    }
    loop {
        nix::unistd::pause();
    }
}

/// The pid in `pid_file` when it names a live pause process of this user
/// (its name is [`PAUSE_NAME`] and it belongs to our uid).
pub fn live_pause_pid(pid_file: &Path) -> Option<Pid> {
    let text = std::fs::read_to_string(pid_file).ok()?;
    let pid: i32 = text.trim().parse().ok().filter(|p| *p > 0)?;
    is_our_pause(Pid::from_raw(pid)).then_some(Pid::from_raw(pid))
}

fn is_our_pause(pid: Pid) -> bool {
    let proc_dir = PathBuf::from(format!("/proc/{pid}"));
    let owned = std::fs::metadata(&proc_dir)
        .map(|m| m.uid() == nix::unistd::getuid().as_raw())
        .unwrap_or(false);
    owned
        && std::fs::read_to_string(proc_dir.join("comm"))
            .map(|c| c.trim_end_matches('\n') == PAUSE_NAME)
            .unwrap_or(false)
}

/// Outcome of one join attempt.
enum Join {
    Done,
    /// Nothing joined: the pause process is gone or not joinable.
    Stale,
}

/// Joins the user and mount namespaces of `pid`, becomes root there, goes
/// back to the current directory and marks the environment.
fn join_pid(pid: Pid) -> Result<Join, PauseError> {
    let uid = nix::unistd::getuid().as_raw();
    let gid = nix::unistd::getgid().as_raw();
    let cwd = std::env::current_dir().ok();
    let (Ok(user), Ok(mnt)) = (
        NamespaceFile::of_process(pid, NamespaceType::User),
        NamespaceFile::of_process(pid, NamespaceType::Mount),
    ) else {
        return Ok(Join::Stale);
    };
    if let Err(e) = user.join() {
        tracing::debug!(%pid, %e, "cannot join the pause process's user namespace");
        return Ok(Join::Stale);
    }
    mnt.join().map_err(|source| PauseError::JoinMount {
        pid: pid.as_raw(),
        source,
    })?;
    become_root().map_err(PauseError::SetIds)?;
    if let Some(cwd) = cwd {
        // A directory missing in the new mount namespace is not fatal.
        let _ = std::env::set_current_dir(cwd);
    }
    std::env::set_var(USERNS_CONFIGURED_ENV, "done");
    std::env::set_var(ROOTLESS_UID_ENV, uid.to_string());
    std::env::set_var(ROOTLESS_GID_ENV, gid.to_string());
    Ok(Join::Done)
}

fn become_root() -> Result<(), Errno> {
    let g = Gid::from_raw(0);
    let u = Uid::from_raw(0);
    nix::unistd::setresgid(g, g, g)?;
    nix::unistd::setresuid(u, u, u)
}

/// Joins the pause process of `pid_file` if it is alive; `false` (nothing
/// changed) otherwise. Never creates one.
pub fn try_join(pid_file: &Path) -> Result<bool, PauseError> {
    match live_pause_pid(pid_file) {
        Some(pid) => Ok(matches!(join_pid(pid)?, Join::Done)),
        None => Ok(false),
    }
}

fn lock_path(pid_file: &Path) -> PathBuf {
    let mut s = OsString::from(pid_file.as_os_str());
    s.push(".lock");
    PathBuf::from(s)
}

/// Joins the pause process named by `pid_file` or creates one (running
/// `exe` with [`PAUSE_ENV`] set) in new user and mount namespaces.
pub fn join_or_create(pid_file: &Path, exe: &Path) -> Result<Entered, PauseError> {
    if try_join(pid_file)? {
        return Ok(Entered::Joined);
    }
    let dir = pid_file
        .parent()
        .ok_or_else(|| PauseError::BadPath(pid_file.to_path_buf()))?;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io_err("creating", dir))?;
    let lock_file = lock_path(pid_file);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .mode(0o600)
        .open(&lock_file)
        .map_err(io_err("opening", &lock_file))?;
    let _lock = Flock::lock(file, FlockArg::LockExclusive).map_err(|(_, e)| PauseError::Io {
        what: "locking",
        path: lock_file.clone(),
        source: e.into(),
    })?;
    // Someone may have created it while we waited for the lock.
    if try_join(pid_file)? {
        return Ok(Entered::Joined);
    }
    match std::fs::remove_file(pid_file) {
        Ok(()) => tracing::debug!(path = %pid_file.display(), "removed a stale pause pid file"),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err("removing", pid_file)(e)),
    }
    let (pid, notices) = create(exe)?;
    write_pid_file(pid_file, pid)?;
    match join_pid(pid)? {
        Join::Done => Ok(Entered::Created(notices)),
        Join::Stale => Err(PauseError::PauseNotStarted { pid: pid.as_raw() }),
    }
}

fn write_pid_file(pid_file: &Path, pid: Pid) -> Result<(), PauseError> {
    let mut tmp = OsString::from(pid_file.as_os_str());
    tmp.push(format!(".tmp-{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io_err("writing", &tmp))?;
    f.write_all(pid.to_string().as_bytes())
        .map_err(io_err("writing", &tmp))?;
    drop(f);
    std::fs::rename(&tmp, pid_file).map_err(io_err("renaming to", pid_file))
}

/// Removes `pid_file` and SIGKILLs the pause process it names (only if it
/// really is one of ours: a recycled pid is left alone). Missing file: no-op.
pub fn stop_pause_process(pid_file: &Path) -> Result<(), PauseError> {
    let text = match std::fs::read_to_string(pid_file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_err("cannot read pause process pid file", pid_file)(e)),
    };
    match std::fs::remove_file(pid_file) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err("cannot delete pause pid file", pid_file)(e)),
    }
    if let Some(pid) = text.trim().parse::<i32>().ok().filter(|p| *p > 0) {
        let pid = Pid::from_raw(pid);
        if is_our_pause(pid) {
            let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
        }
    }
    Ok(())
}

/// Whether the mount at `/` has shared propagation (from mountinfo text).
pub fn root_is_shared(mountinfo: &str) -> bool {
    let mut shared = true;
    for line in mountinfo.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        if fields.get(4) == Some(&"/") {
            // The last mount on / is the visible one.
            shared = fields
                .iter()
                .skip(6)
                .take_while(|f| **f != "-")
                .any(|f| f.starts_with("shared:"));
        }
    }
    shared
}

fn user_name(uid: u32) -> String {
    use crate::syscall::{LinuxSyscall, Syscall};
    LinuxSyscall
        .user_name(uid)
        .ok()
        .flatten()
        .unwrap_or_else(|| uid.to_string())
}

/// The maps of the new namespace: the user's own id as 0 and the
/// subordinate ranges from 1 on; without ranges, only the user's own id,
/// with Podman's two messages.
pub fn namespace_mappings(
    uid: u32,
    gid: u32,
    uids: &AllowedIds,
    gids: &AllowedIds,
    name: &str,
) -> (IdMappings, Vec<Notice>) {
    let missing = if uids.ranges().is_empty() {
        Some(IdKind::Uid)
    } else if gids.ranges().is_empty() {
        Some(IdKind::Gid)
    } else {
        None
    };
    match missing {
        None => (
            IdMappings {
                uid: uids.default_mappings(),
                gid: gids.default_mappings(),
            },
            Vec::new(),
        ),
        Some(kind) => {
            let (word, file) = match kind {
                IdKind::Uid => ("subuid", "/etc/subuid"),
                IdKind::Gid => ("subgid", "/etc/subgid"),
            };
            (
                IdMappings {
                    uid: vec![IdMap::new(0, uid, 1)],
                    gid: vec![IdMap::new(0, gid, 1)],
                },
                vec![
                    Notice::Error(format!(
                        "cannot find UID/GID for user {name}: no {word} ranges found for user \"{name}\" in {file} - check rootless mode in man pages."
                    )),
                    Notice::Warning(SINGLE_MAPPING.to_string()),
                ],
            )
        }
    }
}

fn unshare_hint() -> String {
    let read = |p: &str| std::fs::read_to_string(p).map(|s| s.trim().to_string());
    if read("/proc/sys/user/max_user_namespaces").is_ok_and(|v| v == "0") {
        return ": user namespaces are not enabled in /proc/sys/user/max_user_namespaces".into();
    }
    if read("/proc/sys/kernel/unprivileged_userns_clone").is_ok_and(|v| v == "0") {
        return ": user namespaces are not enabled in /proc/sys/kernel/unprivileged_userns_clone"
            .into();
    }
    String::new()
}

fn read_exact(f: &mut File, buf: &mut [u8]) -> bool {
    f.read_exact(buf).is_ok()
}

/// Creates the namespaces and the pause process; returns its pid.
fn create(exe: &Path) -> Result<(Pid, Vec<Notice>), PauseError> {
    let uid = nix::unistd::getuid().as_raw();
    let gid = nix::unistd::getgid().as_raw();
    let mut notices = Vec::new();
    if let Ok(mi) = std::fs::read_to_string("/proc/self/mountinfo") {
        if !root_is_shared(&mi) {
            notices.push(Notice::Warning(ROOT_NOT_SHARED.to_string()));
        }
    }
    let uids = AllowedIds::for_current_user(IdKind::Uid).map_err(PauseError::SubIds)?;
    let gids = AllowedIds::for_current_user(IdKind::Gid).map_err(PauseError::SubIds)?;
    let (mappings, more) = namespace_mappings(uid, gid, &uids, &gids, &user_name(uid));
    notices.extend(more);

    // Everything the children need is allocated before fork.
    let exe_c = CString::new(exe.as_os_str().as_bytes())
        .map_err(|_| PauseError::BadPath(exe.to_path_buf()))?;
    let argv = [c"podman-rs".to_owned()];
    let envp = [CString::new(format!("{PAUSE_ENV}=1")).map_err(|_| PauseError::ChildDied)?];
    let pipe = || nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(PauseError::Fork);
    let (up_r, up_w) = pipe()?;
    let (down_r, down_w) = pipe()?;

    // SAFETY: the caller is single-threaded (documented requirement of this
    // module), so the child may allocate and use any function; it ends
    // with `_exit` and never returns into the caller's code.
    match unsafe { nix::unistd::fork() }.map_err(PauseError::Fork)? {
        ForkResult::Child => {
            drop(up_r);
            drop(down_w);
            let code = creator_child(up_w, down_r, &exe_c, &argv, &envp);
            // SAFETY: `_exit` ends the forked child without running the
            // parent's atexit handlers or destructors.
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => {
            drop(up_w);
            drop(down_r);
            let result = creator_parent(child, File::from(up_r), File::from(down_w), &mappings);
            let _ = waitpid(child, None);
            let pid = result?;
            wait_started(pid)?;
            Ok((pid, notices))
        }
    }
}

fn creator_parent(
    child: Pid,
    mut up: File,
    mut down: File,
    mappings: &IdMappings,
) -> Result<Pid, PauseError> {
    let mut status = [0u8; 1];
    if !read_exact(&mut up, &mut status) {
        return Err(PauseError::ChildDied);
    }
    if status[0] != 0 {
        let mut errno = [0u8; 4];
        let errno = if read_exact(&mut up, &mut errno) {
            Errno::from_raw(i32::from_ne_bytes(errno))
        } else {
            Errno::UnknownErrno
        };
        return Err(PauseError::Unshare {
            errno,
            hint: unshare_hint(),
        });
    }
    tracing::debug!(
        pid = %child,
        uid_map = %display_id_maps(&mappings.uid),
        gid_map = %display_id_maps(&mappings.gid),
        "mapping the rootless user namespace"
    );
    if let Err(e) = MapWriter::new().write_all(child, mappings) {
        let _ = nix::sys::signal::kill(child, Signal::SIGKILL);
        return Err(PauseError::Maps(e));
    }
    if down.write_all(&[1]).is_err() {
        return Err(PauseError::ChildDied);
    }
    let mut pid = [0u8; 4];
    if !read_exact(&mut up, &mut pid) {
        return Err(PauseError::ChildDied);
    }
    Ok(Pid::from_raw(i32::from_ne_bytes(pid)))
}

/// In the forked creator: unshare, wait for the maps, start the pause
/// process and report its pid. Returns the exit code.
fn creator_child(
    up: OwnedFd,
    down: OwnedFd,
    exe: &CStr,
    argv: &[CString],
    envp: &[CString],
) -> i32 {
    let mut up = File::from(up);
    let mut down = File::from(down);
    if let Err(e) = nix::sched::unshare(CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNS) {
        let mut msg = vec![1u8];
        msg.extend_from_slice(&(e as i32).to_ne_bytes());
        let _ = up.write_all(&msg);
        return 1;
    }
    if up.write_all(&[0]).is_err() {
        return 1;
    }
    let mut go = [0u8; 1];
    if !read_exact(&mut down, &mut go) {
        return 1;
    }
    let _ = become_root();
    // SAFETY: still single-threaded (we are a fork of a single-threaded
    // process); the grandchild only calls async-signal-safe functions
    // before execve and `_exit`.
    match unsafe { nix::unistd::fork() } {
        Ok(ForkResult::Child) => {
            let _ = nix::unistd::setsid();
            // Keep no directory of the caller busy.
            let _ = nix::unistd::chdir(c"/");
            // SAFETY: plain system calls on fds this process owns; the
            // path is a NUL-terminated literal.
            unsafe {
                let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
                if null >= 0 {
                    libc::dup2(null, 0);
                    libc::dup2(null, 1);
                    libc::dup2(null, 2);
                }
                libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32);
            }
            let _ = nix::unistd::execve(exe, argv, envp);
            // SAFETY: see the creator's `_exit`.
            unsafe { libc::_exit(127) }
        }
        Ok(ForkResult::Parent { child }) => {
            if up.write_all(&child.as_raw().to_ne_bytes()).is_err() {
                return 1;
            }
            0
        }
        Err(_) => 1,
    }
}

/// Waits until `pid` runs as the pause process (so that a concurrent
/// command reading the pid file recognises it).
fn wait_started(pid: Pid) -> Result<(), PauseError> {
    let start = Instant::now();
    while !is_our_pause(pid) {
        if start.elapsed() > START_TIMEOUT || nix::sys::signal::kill(pid, None) == Err(Errno::ESRCH)
        {
            return Err(PauseError::PauseNotStarted { pid: pid.as_raw() });
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::subid::SubIdRange;

    #[test]
    fn shared_root_detection() {
        let shared = "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n";
        assert!(root_is_shared(shared));
        let private = "22 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw\n\
                       30 22 0:5 / /dev rw shared:2 - devtmpfs udev rw\n";
        assert!(!root_is_shared(private));
        let master = "22 1 8:1 / / rw master:1 - ext4 /dev/sda1 rw\n";
        assert!(!root_is_shared(master));
    }

    #[test]
    fn mappings_with_and_without_ranges() {
        let uids = AllowedIds::new(IdKind::Uid, 1002, &[SubIdRange::new(165536, 65536)]);
        let gids = AllowedIds::new(IdKind::Gid, 1002, &[SubIdRange::new(165536, 65536)]);
        let (m, n) = namespace_mappings(1002, 1002, &uids, &gids, "u");
        assert!(n.is_empty());
        assert_eq!(
            m.uid,
            vec![IdMap::new(0, 1002, 1), IdMap::new(1, 165536, 65536)]
        );
        let none = AllowedIds::new(IdKind::Uid, 1003, &[]);
        let gnone = AllowedIds::new(IdKind::Gid, 1003, &[]);
        let (m, n) = namespace_mappings(1003, 1004, &none, &gnone, "nosub");
        assert_eq!(m.uid, vec![IdMap::new(0, 1003, 1)]);
        assert_eq!(m.gid, vec![IdMap::new(0, 1004, 1)]);
        assert_eq!(
            n,
            vec![
                Notice::Error(
                    "cannot find UID/GID for user nosub: no subuid ranges found for user \"nosub\" in /etc/subuid - check rootless mode in man pages.".into()
                ),
                Notice::Warning(SINGLE_MAPPING.into()),
            ]
        );
        // Only the gids missing: named as such.
        let (_, n) = namespace_mappings(1002, 1002, &uids, &gnone, "u");
        assert!(
            matches!(&n[0], Notice::Error(m) if m.contains("no subgid ranges") && m.contains("/etc/subgid"))
        );
    }

    #[test]
    fn stale_pid_files() {
        let tmp = tempfile::tempdir().unwrap();
        let f = tmp.path().join("pause.pid");
        assert_eq!(live_pause_pid(&f), None, "missing");
        std::fs::write(&f, "garbage").unwrap();
        assert_eq!(live_pause_pid(&f), None);
        // Our own pid is alive but not a pause process.
        std::fs::write(&f, std::process::id().to_string()).unwrap();
        assert_eq!(live_pause_pid(&f), None);
        // Stopping removes the file and kills nothing that is not a pause.
        stop_pause_process(&f).unwrap();
        assert!(!f.exists());
        stop_pause_process(&f).unwrap();
        assert_eq!(lock_path(&f), tmp.path().join("pause.pid.lock"));
    }
}
