//! Tests against the real kernel. Most need root; without it they print why
//! they are skipped (straight to stderr, which the test harness does not
//! capture) and pass.

use std::fs;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use nix::fcntl::OFlag;
use nix::mount::{umount2, MntFlags};
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, geteuid, pipe2, ForkResult, Pid};
use podman_rs_namespaces::{
    create_netns, in_user_namespace, namespace_id, open_netns, parse_id_map_file, remove_netns,
    rootless, AllowedIds, Error, IdKind, IdMap, IdMappings, MapWriter, NamespaceFile,
    NamespaceType, SubIdRange, WriteMethod,
};

/// Set in the environment of the re-executed test binary that runs
/// [`helper_process_entry`] as the temporary test user.
const HELPER_ENV: &str = "PODMAN_RS_NS_TEST_HELPER";
const TEST_USER: &str = "podmanrs-nstest";
const TEST_SUBUID_START: u32 = 1_200_000;
const TEST_SUBGID_START: u32 = 1_300_000;
const TEST_SUBID_COUNT: u32 = 65536;

fn skip(test: &str, reason: &str) {
    // Not captured by the harness: the reason shows in `cargo test` output.
    let _ = writeln!(io::stderr(), "SKIPPED {test}: {reason}");
}

fn require_root(test: &str) -> bool {
    if geteuid().is_root() && !in_user_namespace() {
        true
    } else {
        skip(test, "needs root in the initial user namespace");
        false
    }
}

/// A forked child that unshares its user namespace and waits for the parent
/// to map it. It exits 0 if, once released, it is uid 0 and gid 0 in its
/// namespace, 3 otherwise, 2 if unshare failed.
struct UsernsChild {
    pid: Option<Pid>,
    release: Option<OwnedFd>,
}

impl UsernsChild {
    fn spawn() -> io::Result<Self> {
        // CLOEXEC: other threads spawning programs must not inherit them.
        let (ready_r, ready_w) = pipe2(OFlag::O_CLOEXEC)?;
        let (go_r, go_w) = pipe2(OFlag::O_CLOEXEC)?;
        // SAFETY: the test process is multi-threaded, so the child only makes
        // async-signal-safe calls (unshare, close, read, write, getuid,
        // getgid, _exit) on file descriptors it owns, and never returns.
        match unsafe { fork() }? {
            ForkResult::Child => {
                // SAFETY: plain system calls on valid fds and local buffers;
                // see above.
                unsafe {
                    libc::close(go_w.as_raw_fd());
                    libc::close(ready_r.as_raw_fd());
                    let ok: u8 = u8::from(libc::unshare(libc::CLONE_NEWUSER) == 0);
                    libc::write(ready_w.as_raw_fd(), (&ok as *const u8).cast(), 1);
                    if ok == 0 {
                        libc::_exit(2);
                    }
                    let mut buf = [0u8; 1];
                    // Returns when the parent closes its end.
                    libc::read(go_r.as_raw_fd(), buf.as_mut_ptr().cast(), 1);
                    let code = if libc::getuid() == 0 && libc::getgid() == 0 {
                        0
                    } else {
                        3
                    };
                    libc::_exit(code);
                }
            }
            ForkResult::Parent { child } => {
                drop(ready_w);
                drop(go_r);
                let mut this = UsernsChild {
                    pid: Some(child),
                    release: Some(go_w),
                };
                let mut buf = [0u8; 1];
                let n = nix::unistd::read(ready_r.as_raw_fd(), &mut buf)?;
                if n != 1 || buf[0] != 1 {
                    let code = this.finish();
                    return Err(io::Error::other(format!(
                        "child could not unshare its user namespace (exit {code})"
                    )));
                }
                Ok(this)
            }
        }
    }

    fn pid(&self) -> Pid {
        self.pid.unwrap_or(Pid::from_raw(0))
    }

    /// Releases the child and returns its exit code.
    fn finish(&mut self) -> i32 {
        self.release.take();
        let Some(pid) = self.pid.take() else {
            return -1;
        };
        match waitpid(pid, None) {
            Ok(WaitStatus::Exited(_, code)) => code,
            other => panic!("unexpected wait status {other:?}"),
        }
    }
}

impl Drop for UsernsChild {
    fn drop(&mut self) {
        if let Some(pid) = self.pid.take() {
            let _ = kill(pid, Signal::SIGKILL);
            let _ = waitpid(pid, None);
        }
    }
}

fn read_map(pid: Pid, kind: IdKind) -> Vec<IdMap> {
    let path = format!("/proc/{pid}/{}", kind.map_file());
    let content = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    parse_id_map_file(&content).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn rootless_detection_is_consistent() {
    assert_eq!(rootless(), !geteuid().is_root() || in_user_namespace());
}

#[test]
fn userns_direct_mapping_as_root() {
    if !require_root("userns_direct_mapping_as_root") {
        return;
    }
    let mappings = IdMappings {
        uid: vec![IdMap::new(0, 0, 1), IdMap::new(1, 100000, 65536)],
        gid: vec![IdMap::new(0, 0, 1), IdMap::new(1, 200000, 65536)],
    };
    let mut child = UsernsChild::spawn().expect("spawn userns child");
    let ns = NamespaceFile::of_process(child.pid(), NamespaceType::User).expect("open userns");
    let own = NamespaceFile::of_current_thread(NamespaceType::User).expect("own userns");
    assert_ne!(ns.id().expect("id"), own.id().expect("id"));

    let writer = MapWriter::new();
    assert_eq!(
        writer.method_for(IdKind::Uid, &mappings.uid),
        WriteMethod::Direct
    );
    writer
        .write_all(child.pid(), &mappings)
        .expect("write maps");
    assert_eq!(read_map(child.pid(), IdKind::Uid), mappings.uid);
    assert_eq!(read_map(child.pid(), IdKind::Gid), mappings.gid);

    // A map can only be written once.
    let err = writer
        .write(child.pid(), IdKind::Uid, &mappings.uid)
        .expect_err("second write");
    assert!(
        err.to_string()
            .starts_with(&format!("failed to write /proc/{}/uid_map", child.pid())),
        "{err}"
    );
    assert_eq!(child.finish(), 0, "child is root in its namespace");
}

/// A temporary run directory; unmounts the bind mount `create_netns` makes
/// of it before the temporary directory is removed.
struct RunDir {
    dir: PathBuf,
    _tmp: tempfile::TempDir,
}

impl RunDir {
    fn new() -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        RunDir {
            dir: tmp.path().join("netns"),
            _tmp: tmp,
        }
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        if let Err(e) = umount2(&self.dir, MntFlags::MNT_DETACH) {
            let _ = writeln!(io::stderr(), "unmounting {}: {e}", self.dir.display());
        }
    }
}

#[test]
fn persistent_netns_create_join_remove() {
    if !require_root("persistent_netns_create_join_remove") {
        return;
    }
    let run_dir = RunDir::new();
    let dir = run_dir.dir.clone();
    let path = create_netns(&dir, "podman-rs-test").expect("create netns");
    assert_eq!(path, dir.join("podman-rs-test"));

    let again = create_netns(&dir, "podman-rs-test").expect_err("exists");
    assert!(matches!(again, Error::NetnsExists { .. }), "{again}");

    let host = namespace_id("/proc/self/ns/net").expect("own netns");
    let ns = open_netns(&path).expect("open netns");
    let id = ns.id().expect("id");
    assert_eq!(namespace_id(&path).expect("stat"), id);
    assert_ne!(id, host, "a new network namespace");

    let wrong = NamespaceFile::open(&path, NamespaceType::Mount).expect_err("wrong type");
    assert_eq!(
        wrong.to_string(),
        format!(
            "{} is a network namespace, expected a mount namespace",
            path.display()
        )
    );

    // Join it on a new thread: only that thread moves.
    let joined = std::thread::spawn(move || {
        ns.join().expect("setns");
        let link = fs::read_link("/proc/thread-self/ns/net").expect("readlink");
        let devices = fs::read_to_string("/proc/thread-self/net/dev").expect("net/dev");
        (link, devices)
    })
    .join()
    .expect("thread");
    assert_eq!(joined.0, PathBuf::from(format!("net:[{}]", id.ino)));
    let names: Vec<&str> = joined
        .1
        .lines()
        .skip(2)
        .filter_map(|l| l.split(':').next())
        .map(str::trim)
        .collect();
    assert_eq!(names, ["lo"], "a fresh namespace has only loopback");
    assert_eq!(namespace_id("/proc/self/ns/net").expect("own"), host);

    // And in a child process: /proc/self/ns/net differs after setns.
    let ns = open_netns(&path).expect("open netns");
    let fd = ns.as_raw_fd();
    let mut cmd = Command::new("readlink");
    cmd.arg("/proc/self/ns/net");
    // SAFETY: runs between fork and exec; setns(2) is async-signal-safe and
    // `fd` stays open in the child until exec (ns outlives the spawn).
    unsafe {
        cmd.pre_exec(move || {
            if libc::setns(fd, libc::CLONE_NEWNET) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = cmd.output().expect("readlink in the netns");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("net:[{}]", id.ino)
    );
    drop(ns);

    remove_netns(&path).expect("remove");
    assert!(!path.exists());
    remove_netns(&path).expect("removing twice is fine");
}

/// Adds the test user with subordinate ids; undoes everything when dropped.
struct TestUser {
    uid: u32,
    gid: u32,
    subuid: Option<String>,
    subgid: Option<String>,
}

fn read_optional(path: &str) -> io::Result<Option<String>> {
    match fs::read_to_string(path) {
        Ok(c) => Ok(Some(c)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

fn restore(path: &str, content: &Option<String>) {
    let result = match content {
        Some(c) => fs::write(path, c),
        None => fs::remove_file(path),
    };
    if let Err(e) = result {
        let _ = writeln!(io::stderr(), "WARNING: could not restore {path}: {e}");
    }
}

fn with_line(content: &Option<String>, line: &str) -> String {
    let mut c = content.clone().unwrap_or_default();
    if !c.is_empty() && !c.ends_with('\n') {
        c.push('\n');
    }
    c.push_str(line);
    c.push('\n');
    c
}

fn userdel() {
    let _ = Command::new("userdel").arg(TEST_USER).output();
}

impl TestUser {
    fn create() -> Result<Self, String> {
        if nix::unistd::User::from_name(TEST_USER)
            .map_err(|e| e.to_string())?
            .is_some()
        {
            userdel(); // left over from an interrupted run
        }
        let subuid = read_optional("/etc/subuid").map_err(|e| format!("/etc/subuid: {e}"))?;
        let subgid = read_optional("/etc/subgid").map_err(|e| format!("/etc/subgid: {e}"))?;
        let out = Command::new("useradd")
            .args(["--system", "--user-group", "--no-create-home"])
            .args(["--shell", "/usr/sbin/nologin", TEST_USER])
            .output()
            .map_err(|e| format!("useradd: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "useradd failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        let user = match nix::unistd::User::from_name(TEST_USER) {
            Ok(Some(u)) => u,
            other => {
                userdel();
                return Err(format!("useradd made no user: {other:?}"));
            }
        };
        let this = TestUser {
            uid: user.uid.as_raw(),
            gid: user.gid.as_raw(),
            subuid,
            subgid,
        };
        // By name in /etc/subuid, by numeric uid in /etc/subgid.
        let uid_line = format!("{TEST_USER}:{TEST_SUBUID_START}:{TEST_SUBID_COUNT}");
        let gid_line = format!("{}:{TEST_SUBGID_START}:{TEST_SUBID_COUNT}", this.uid);
        fs::write("/etc/subuid", with_line(&this.subuid, &uid_line))
            .map_err(|e| format!("/etc/subuid: {e}"))?;
        fs::write("/etc/subgid", with_line(&this.subgid, &gid_line))
            .map_err(|e| format!("/etc/subgid: {e}"))?;
        Ok(this)
    }
}

impl Drop for TestUser {
    fn drop(&mut self) {
        userdel();
        restore("/etc/subuid", &self.subuid);
        restore("/etc/subgid", &self.subgid);
    }
}

fn have_program(name: &str) -> bool {
    podman_rs_namespaces::syscall::find_in_path(
        name,
        &std::env::var_os("PATH")
            .unwrap_or_else(|| podman_rs_namespaces::syscall::DEFAULT_PATH.into()),
    )
    .is_some()
}

#[test]
fn userns_helper_mapping_with_test_user() {
    const NAME: &str = "userns_helper_mapping_with_test_user";
    if !require_root(NAME) {
        return;
    }
    for program in ["newuidmap", "newgidmap", "useradd", "userdel"] {
        if !have_program(program) {
            skip(
                NAME,
                &format!("{program} is not installed (apt-get install uidmap passwd)"),
            );
            return;
        }
    }
    let exe = std::env::current_exe().expect("current_exe");
    let before_uid = fs::read_to_string("/etc/subuid").ok();
    let before_gid = fs::read_to_string("/etc/subgid").ok();
    let output = {
        let user = match TestUser::create() {
            Ok(u) => u,
            Err(reason) => {
                skip(NAME, &format!("cannot create the test user: {reason}"));
                return;
            }
        };
        Command::new(&exe)
            .args([
                "helper_process_entry",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(HELPER_ENV, "1")
            .uid(user.uid)
            .gid(user.gid)
            .output()
    };
    // The user is gone and the files are restored.
    assert_eq!(fs::read_to_string("/etc/subuid").ok(), before_uid);
    assert_eq!(fs::read_to_string("/etc/subgid").ok(), before_gid);
    assert!(nix::unistd::User::from_name(TEST_USER)
        .expect("getpwnam")
        .is_none());

    let output = match output {
        Ok(o) => o,
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            skip(
                NAME,
                &format!("the test user cannot run {}: {e}", exe.display()),
            );
            return;
        }
        Err(e) => panic!("running the helper: {e}"),
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("HELPER OK"),
        "helper failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    // Visible with --nocapture.
    println!("{stdout}");
}

/// Not a test on its own: the body of [`userns_helper_mapping_with_test_user`],
/// run as the unprivileged test user in a re-executed test binary.
#[test]
fn helper_process_entry() {
    if std::env::var_os(HELPER_ENV).is_none() {
        return;
    }
    assert!(!geteuid().is_root());
    assert!(rootless());
    let uid = nix::unistd::getuid().as_raw();
    let gid = nix::unistd::getgid().as_raw();

    // Ranges come from the real files, by name (subuid) and by uid (subgid).
    let uids = AllowedIds::for_current_user(IdKind::Uid).expect("subuid");
    assert_eq!(
        uids.ranges(),
        &[SubIdRange::new(TEST_SUBUID_START, TEST_SUBID_COUNT)]
    );
    let gids = AllowedIds::for_current_user(IdKind::Gid).expect("subgid");
    assert_eq!(
        gids.ranges(),
        &[SubIdRange::new(TEST_SUBGID_START, TEST_SUBID_COUNT)]
    );

    let writer = MapWriter::new();

    // 1. Default rootless mappings through newuidmap/newgidmap.
    let mappings = IdMappings::rootless_default().expect("default mappings");
    assert_eq!(
        mappings.uid,
        vec![
            IdMap::new(0, uid, 1),
            IdMap::new(1, TEST_SUBUID_START, TEST_SUBID_COUNT)
        ]
    );
    assert_eq!(
        writer.method_for(IdKind::Uid, &mappings.uid),
        WriteMethod::Helper
    );
    let mut child = UsernsChild::spawn().expect("spawn");
    writer
        .write_all(child.pid(), &mappings)
        .expect("newuidmap/newgidmap");
    assert_eq!(read_map(child.pid(), IdKind::Uid), mappings.uid);
    assert_eq!(read_map(child.pid(), IdKind::Gid), mappings.gid);
    assert_eq!(child.finish(), 0, "root in its namespace");
    println!("default mappings via helpers: ok");

    // 2. keep-id: container uid = host uid.
    let keep = IdMappings::rootless_keep_id(None, None).expect("keep-id");
    let child = UsernsChild::spawn().expect("spawn");
    writer.write_all(child.pid(), &keep).expect("keep-id maps");
    let written = read_map(child.pid(), IdKind::Uid);
    assert_eq!(written, keep.uid);
    assert_eq!(
        podman_rs_namespaces::idmap::map_to_host(&written, uid),
        Some(uid)
    );
    drop(child);
    println!("keep-id mappings via helpers: ok");

    // 3. newuidmap refuses ids outside /etc/subuid: a clear error.
    let mut child = UsernsChild::spawn().expect("spawn");
    let err = writer
        .write(
            child.pid(),
            IdKind::Uid,
            &[IdMap::new(0, uid, 1), IdMap::new(1, 5_000_000, 10)],
        )
        .expect_err("not in /etc/subuid");
    assert!(matches!(err, Error::MapHelperFailed { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("newuidmap refused to write uid mappings"),
        "{text}"
    );
    println!("refusal: {text}");
    // Our own validation catches it before running the helper.
    assert!(matches!(
        uids.validate(&[IdMap::new(1, 5_000_000, 10)]),
        Err(Error::IdMapNotAllowed { .. })
    ));
    let _ = child.finish();

    // 4. A single self mapping is written directly, setgroups denied.
    let single = IdMappings {
        uid: vec![IdMap::new(0, uid, 1)],
        gid: vec![IdMap::new(0, gid, 1)],
    };
    assert_eq!(
        writer.method_for(IdKind::Gid, &single.gid),
        WriteMethod::Direct
    );
    let mut child = UsernsChild::spawn().expect("spawn");
    writer
        .write_all(child.pid(), &single)
        .expect("direct self mapping");
    assert_eq!(read_map(child.pid(), IdKind::Uid), single.uid);
    assert_eq!(read_map(child.pid(), IdKind::Gid), single.gid);
    let setgroups = fs::read_to_string(Path::new(&format!("/proc/{}/setgroups", child.pid())))
        .expect("setgroups");
    assert_eq!(setgroups.trim(), "deny");
    assert_eq!(child.finish(), 0);
    println!("single self mapping written directly: ok");

    println!("HELPER OK");
}
