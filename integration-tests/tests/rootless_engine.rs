//! The engine verbs as a normal user: the rootless user namespace kept by
//! the pause process (maps from /etc/subuid, one namespace for every
//! command, single mapping for a user without ranges, recreation after the
//! pause process died, `system migrate`), `unshare`, and per-user storage.
//!
//! The tests create their own users and their /etc/subuid and /etc/subgid
//! entries, run podman-rs with `runuser` in a clean environment with a
//! private `$XDG_RUNTIME_DIR` per test, and `system migrate` at the end so
//! no pause process is left behind.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use podman_rs_integration_tests::images::{busybox_image, push_layout};
use podman_rs_integration_tests::registry::Registry;
use podman_rs_integration_tests::{binary, capture, require_root, text};

const SINGLE_MAPPING_WARNING: &str = "Using rootless single mapping into the namespace. This might break some images. Check /etc/subuid and /etc/subgid for adding sub*ids if not using a network user";

/// Serialises useradd and the edits of /etc/subuid and /etc/subgid.
static ID_FILES: Mutex<()> = Mutex::new(());

fn uid_of(name: &str) -> Option<u32> {
    Command::new("id")
        .args(["-u", name])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
}

/// Rewrites `file` so that `name` (uid `uid`) has exactly `range`.
fn set_range(file: &str, name: &str, uid: u32, range: Option<(u32, u32)>) {
    let old = std::fs::read_to_string(file).unwrap_or_default();
    let mut lines: Vec<String> = old
        .lines()
        .filter(|l| {
            let owner = l.split(':').next().unwrap_or_default();
            owner != name && owner != uid.to_string()
        })
        .map(str::to_string)
        .collect();
    if let Some((start, count)) = range {
        lines.push(format!("{name}:{start}:{count}"));
    }
    let tmp = format!("{file}.podman-rs-test");
    std::fs::write(&tmp, lines.join("\n") + "\n").unwrap();
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::rename(&tmp, file).unwrap();
}

/// A test user (created once) with exactly `range` as subuids and subgids.
fn user(name: &str, range: Option<(u32, u32)>) -> u32 {
    let _g = ID_FILES.lock().unwrap_or_else(|e| e.into_inner());
    let uid = match uid_of(name) {
        Some(u) => u,
        None => {
            let st = Command::new("useradd")
                .args(["--create-home", "--shell", "/bin/sh", name])
                .status()
                .expect("useradd");
            assert!(st.success() || uid_of(name).is_some(), "useradd {name}");
            uid_of(name).expect("uid of the new user")
        }
    };
    set_range("/etc/subuid", name, uid, range);
    set_range("/etc/subgid", name, uid, range);
    uid
}

fn set_user_range(name: &str, uid: u32, range: Option<(u32, u32)>) {
    let _g = ID_FILES.lock().unwrap_or_else(|e| e.into_inner());
    set_range("/etc/subuid", name, uid, range);
    set_range("/etc/subgid", name, uid, range);
}

/// One user's commands with a private runtime directory; the pause process
/// is reset with `system migrate` on drop.
struct Session {
    name: String,
    runtime: tempfile::TempDir,
}

impl Session {
    fn new(name: &str, uid: u32) -> Session {
        let runtime = tempfile::Builder::new()
            .prefix("podman-rs-rl-run-")
            .tempdir()
            .unwrap();
        std::fs::set_permissions(runtime.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        nix::unistd::chown(
            runtime.path(),
            Some(nix::unistd::Uid::from_raw(uid)),
            Some(nix::unistd::Gid::from_raw(uid)),
        )
        .unwrap();
        Session {
            name: name.to_string(),
            runtime,
        }
    }

    fn home(&self) -> PathBuf {
        PathBuf::from(format!("/home/{}", self.name))
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new("runuser");
        c.args(["-u", &self.name, "--", "env", "-i"])
            .arg(format!("HOME={}", self.home().display()))
            .arg(format!("USER={}", self.name))
            .arg(format!("LOGNAME={}", self.name))
            .arg("PATH=/usr/local/bin:/usr/bin:/bin")
            .arg("SHELL=/bin/sh")
            .arg(format!("XDG_RUNTIME_DIR={}", self.runtime.path().display()))
            .arg(binary())
            .args(args)
            .current_dir("/");
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        capture(self.command(args))
    }

    /// [`Session::run`] on cgroup v2: in a mount namespace of its own with
    /// the host's cgroup2 hierarchy (the controller-less unified one on a
    /// hybrid host) over /sys/fs/cgroup, after moving into the cgroup
    /// `leaf` (as a delegated session is). The pause process started from
    /// here keeps that view for every later command.
    fn run_v2(&self, leaf: &str, args: &[&str]) -> Output {
        let inner = self.command(args);
        let script = format!(
            "mount -t cgroup2 none /sys/fs/cgroup && echo $$ > /sys/fs/cgroup{leaf}/cgroup.procs && exec \"$@\""
        );
        let mut c = Command::new("unshare");
        c.args(["-m", "--propagation", "private", "sh", "-c", &script, "sh"])
            .arg(inner.get_program())
            .args(inner.get_args())
            .current_dir("/");
        capture(c)
    }

    /// Runs and expects success; returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        let (o, e) = text(&out);
        assert!(
            out.status.success(),
            "{args:?} as {}: {:?}\nstdout: {o}\nstderr: {e}",
            self.name,
            out.status
        );
        o
    }

    /// Runs a program (not podman-rs) as the user.
    fn sh(&self, script: &str) -> String {
        let out = capture({
            let mut c = Command::new("runuser");
            c.args(["-u", &self.name, "--", "sh", "-c", script]);
            c
        });
        text(&out).0
    }

    fn pid_file(&self) -> PathBuf {
        self.runtime.path().join("podman-rs/libpod/tmp/pause.pid")
    }

    fn pause_pid(&self) -> Option<i32> {
        std::fs::read_to_string(self.pid_file())
            .ok()
            .and_then(|s| s.trim().parse().ok())
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let pid = self.pause_pid();
        let _ = self.run(&["system", "migrate"]);
        if let Some(pid) = pid {
            // Belt and braces: never leave a pause process behind.
            if is_pause(pid) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
    }
}

fn is_pause(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|c| c.trim() == "podman-rs pause")
        .unwrap_or(false)
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| s.contains(") Z "))
            .unwrap_or(true)
}

fn wait_gone(pid: i32) {
    let start = Instant::now();
    while is_pause(pid) {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "pause {pid} still alive"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn map_lines(s: &str) -> Vec<Vec<String>> {
    s.lines()
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .collect()
}

fn map(entries: &[(u32, u32, u32)]) -> Vec<Vec<String>> {
    entries
        .iter()
        .map(|(a, b, c)| vec![a.to_string(), b.to_string(), c.to_string()])
        .collect()
}

#[test]
fn unshare_maps_the_user_and_its_subordinate_range() {
    require_root();
    let uid = user("podmanrs-rl", Some((500000, 65536)));
    let s = Session::new("podmanrs-rl", uid);
    let uid_map = s.ok(&["unshare", "cat", "/proc/self/uid_map"]);
    assert_eq!(map_lines(&uid_map), map(&[(0, uid, 1), (1, 500000, 65536)]));
    let gid_map = s.ok(&["unshare", "cat", "/proc/self/gid_map"]);
    assert_eq!(map_lines(&gid_map), map(&[(0, uid, 1), (1, 500000, 65536)]));
    assert_eq!(s.ok(&["unshare", "id", "-u"]).trim(), "0");
    let env = s.ok(&["unshare", "env"]);
    let home = s.home();
    for want in [
        "_CONTAINERS_USERNS_CONFIGURED=done".to_string(),
        format!("_CONTAINERS_ROOTLESS_UID={uid}"),
        format!(
            "CONTAINERS_GRAPHROOT={}/.local/share/podman-rs",
            home.display()
        ),
        format!(
            "CONTAINERS_RUNROOT={}/podman-rs",
            s.runtime.path().display()
        ),
    ] {
        assert!(env.lines().any(|l| l == want), "{want} not in\n{env}");
    }
    // The pause process: ours, named, holding the namespace.
    let pid = s.pause_pid().expect("pause pid file");
    assert!(is_pause(pid));
    let owner = std::fs::metadata(format!("/proc/{pid}")).unwrap().uid();
    assert_eq!(owner, uid);
}

#[test]
fn commands_share_one_namespace_and_a_killed_pause_is_recreated() {
    require_root();
    let uid = user("podmanrs-rl", Some((500000, 65536)));
    let s = Session::new("podmanrs-rl", uid);
    // Two first commands at once: one namespace (the pid file lock).
    let children: Vec<_> = (0..2)
        .map(|_| {
            let mut c = s.command(&["unshare", "readlink", "/proc/self/ns/user"]);
            c.stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::null());
            c.spawn().expect("spawn")
        })
        .collect();
    let outs: Vec<String> = children
        .into_iter()
        .map(|c| String::from_utf8_lossy(&c.wait_with_output().unwrap().stdout).into_owned())
        .collect();
    assert!(outs[0].starts_with("user:["), "{outs:?}");
    assert_eq!(outs[0], outs[1], "same user namespace");
    let third = s.ok(&["unshare", "readlink", "/proc/self/ns/user"]);
    assert_eq!(third, outs[0]);
    let host = s.sh("readlink /proc/self/ns/user");
    assert_ne!(host, third, "not the host's namespace");
    let before = s.pause_pid().expect("pause pid");
    let pauses = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|p| is_pause(*p))
        .filter(|p| {
            std::fs::metadata(format!("/proc/{p}"))
                .map(|m| m.uid() == uid)
                .unwrap_or(false)
        })
        .filter(|p| {
            // This session's only (other tests may run their own).
            std::fs::read_link(format!("/proc/{p}/ns/user")).ok()
                == std::fs::read_link(format!("/proc/{before}/ns/user")).ok()
        })
        .count();
    assert_eq!(pauses, 1, "one pause process for the namespace");

    // kill -9: the next command makes a new one.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(before),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    wait_gone(before);
    let map = s.ok(&["unshare", "cat", "/proc/self/uid_map"]);
    assert_eq!(
        map_lines(&map),
        self::map(&[(0, uid, 1), (1, 500000, 65536)])
    );
    let after = s.pause_pid().expect("new pause pid");
    assert_ne!(after, before);
    assert!(is_pause(after));
}

#[test]
fn a_user_without_ranges_gets_a_single_mapping_and_one_warning() {
    require_root();
    let uid = user("podmanrs-nosub", None);
    let s = Session::new("podmanrs-nosub", uid);
    let first = s.run(&[
        "unshare",
        "cat",
        "/proc/self/uid_map",
        "/proc/self/setgroups",
    ]);
    let (o1, e1) = text(&first);
    assert!(first.status.success(), "{e1}");
    let second = s.run(&["unshare", "cat", "/proc/self/gid_map"]);
    let (o2, e2) = text(&second);
    assert!(second.status.success(), "{e2}");
    let mut lines = o1.lines();
    assert_eq!(
        lines
            .next()
            .map(|l| l.split_whitespace().collect::<Vec<_>>()),
        Some(vec!["0", &uid.to_string(), "1"])
    );
    assert_eq!(lines.next(), Some("deny"));
    assert_eq!(map_lines(&o2), map(&[(0, uid, 1)]));
    let count = |e: &str, s: &str| e.matches(s).count();
    assert_eq!(
        count(&e1, SINGLE_MAPPING_WARNING) + count(&e2, SINGLE_MAPPING_WARNING),
        1,
        "first: {e1}\nsecond: {e2}"
    );
    assert!(e1.contains(SINGLE_MAPPING_WARNING), "{e1}");
    assert!(
        e1.contains("level=error msg=\"cannot find UID/GID for user podmanrs-nosub: no subuid ranges found for user \\\"podmanrs-nosub\\\" in /etc/subuid - check rootless mode in man pages.\""),
        "{e1}"
    );
    assert!(
        e1.contains("level=warning msg=\"Using rootless single mapping"),
        "{e1}"
    );
    assert!(e2.is_empty(), "nothing on the second command: {e2}");
    // Containers run on the single mapping too (devpts then has no
    // gid=5, as Podman leaves it out): root-owned images only.
    let dir = tempfile::tempdir().unwrap();
    let rootfs = dir.path().join("rootfs");
    podman_rs_integration_tests::make_rootfs(&rootfs);
    let tar = dir.path().join("rootfs.tar");
    let made = Command::new("tar")
        .arg("-C")
        .arg(&rootfs)
        .args(["--owner=0", "--group=0", "-cf"])
        .arg(&tar)
        .arg(".")
        .status()
        .unwrap();
    assert!(made.success());
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&tar, std::fs::Permissions::from_mode(0o644)).unwrap();
    s.ok(&["import", "-q", tar.to_str().unwrap(), "localhost/single"]);
    let out = s.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "localhost/single",
        "id",
        "-u",
    ]);
    assert_eq!(out, "0\n");
    let out = s.ok(&[
        "run",
        "--rm",
        "-t",
        "--network",
        "none",
        "localhost/single",
        "sh",
        "-c",
        "test -c /dev/pts/0 && echo tty",
    ]);
    assert_eq!(out.trim(), "tty");
}

#[test]
fn unshare_exit_codes_and_messages() {
    require_root();
    let uid = user("podmanrs-rl", Some((500000, 65536)));
    let s = Session::new("podmanrs-rl", uid);
    let out = s.run(&["unshare", "false"]);
    assert_eq!(out.status.code(), Some(1));
    let out = s.run(&["unshare", "sh", "-c", "exit 7"]);
    assert_eq!(out.status.code(), Some(7));
    let out = s.run(&["unshare", "no-such-command-here"]);
    assert_eq!(out.status.code(), Some(127));
    assert_eq!(
        text(&out).1,
        "Error: exec: \"no-such-command-here\": executable file not found in $PATH\n"
    );
    let out = s.run(&["unshare", "/etc/passwd"]);
    assert_eq!(out.status.code(), Some(126));
    assert_eq!(
        text(&out).1,
        "Error: fork/exec /etc/passwd: permission denied\n"
    );
    // No command: $SHELL (sh here) reading its commands from stdin.
    let mut c = s.command(&["unshare"]);
    c.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"id -u; exit 3\n").unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "0");
}

#[test]
fn system_migrate_applies_a_changed_range() {
    require_root();
    let name = "podmanrs-mig";
    let uid = user(name, Some((640000, 65536)));
    let s = Session::new(name, uid);
    let m = s.ok(&["unshare", "cat", "/proc/self/uid_map"]);
    assert_eq!(map_lines(&m), map(&[(0, uid, 1), (1, 640000, 65536)]));
    set_user_range(name, uid, Some((710000, 10000)));
    // The running namespace keeps its maps until migrate.
    let m = s.ok(&["unshare", "cat", "/proc/self/uid_map"]);
    assert_eq!(map_lines(&m), map(&[(0, uid, 1), (1, 640000, 65536)]));
    let pid = s.pause_pid().expect("pause pid");
    let out = s.run(&["system", "migrate"]);
    assert_eq!(text(&out), (String::new(), String::new()));
    assert_eq!(out.status.code(), Some(0));
    assert!(!s.pid_file().exists(), "pid file removed");
    wait_gone(pid);
    let m = s.ok(&["unshare", "cat", "/proc/self/uid_map"]);
    assert_eq!(map_lines(&m), map(&[(0, uid, 1), (1, 710000, 10000)]));
    // Without a pause process migrate does nothing and creates none.
    let out = s.run(&["system", "migrate"]);
    assert!(out.status.success(), "{}", text(&out).1);
    let out = s.run(&["system", "migrate"]);
    assert_eq!(text(&out), (String::new(), String::new()));
    assert!(!s.pid_file().exists());
    set_user_range(name, uid, Some((640000, 65536)));
}

#[test]
fn images_and_pull_use_each_users_own_store() {
    require_root();
    let uid1 = user("podmanrs-rl", Some((500000, 65536)));
    let uid2 = user("podmanrs-rl2", Some((570000, 65536)));
    let a = Session::new("podmanrs-rl", uid1);
    let b = Session::new("podmanrs-rl2", uid2);
    let store_a = a.home().join(".local/share/podman-rs");
    let store_b = b.home().join(".local/share/podman-rs");
    for (s, store, uid) in [(&a, &store_a, uid1), (&b, &store_b, uid2)] {
        let _ = std::fs::remove_dir_all(store);
        let out = s.ok(&["images"]);
        assert_eq!(
            out.lines()
                .next()
                .unwrap_or_default()
                .split_whitespace()
                .collect::<Vec<_>>(),
            ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
        );
        assert_eq!(out.lines().count(), 1, "{out}");
        let meta = std::fs::metadata(store).expect("store created");
        assert_eq!(meta.uid(), uid, "owned by the user on the host");
        assert!(store.join("db.sqlite").exists());
        let run = std::fs::metadata(s.runtime.path().join("podman-rs")).unwrap();
        assert_eq!(run.uid(), uid);
    }
    // A pulled image is in its user's store only; its files belong to the
    // user (root inside the namespace) on the host.
    let reg = Registry::start();
    let bb = busybox_image();
    push_layout(bb.path(), &reg.addr(), "busybox:latest").expect("push busybox");
    let image = format!("{}/busybox:latest", reg.addr());
    let id = a.ok(&["pull", "-q", "--tls-verify=false", &image]);
    assert_eq!(id.trim().len(), 64, "{id}");
    assert!(a
        .ok(&["images"])
        .contains(&format!("{}/busybox", reg.addr())));
    assert_eq!(
        b.ok(&["images"]).lines().count(),
        1,
        "not in the other store"
    );
    let bin = walk_find(&store_a.join("layers"), "busybox").expect("busybox in a layer");
    assert_eq!(std::fs::symlink_metadata(&bin).unwrap().uid(), uid1);
    a.ok(&["rmi", &image]);
    assert_eq!(a.ok(&["images"]).lines().count(), 1);
}

fn walk_find(dir: &Path, name: &str) -> Option<PathBuf> {
    for e in std::fs::read_dir(dir).ok()?.flatten() {
        let p = e.path();
        if e.file_name() == name {
            return Some(p);
        }
        if e.file_type().ok()?.is_dir() {
            if let Some(f) = walk_find(&p, name) {
                return Some(f);
            }
        }
    }
    None
}

#[test]
fn unshare_as_root_is_refused_as_podman_does() {
    require_root();
    let mut c = Command::new(binary());
    c.args(["unshare", "true"])
        .env_remove("_CONTAINERS_USERNS_CONFIGURED")
        .env_remove("_CONTAINERS_ROOTLESS_UID");
    let out = capture(c);
    assert_eq!(out.status.code(), Some(125));
    assert_eq!(text(&out).1, "Error: please use unshare with rootless\n");
    if Path::new("/usr/bin/podman").exists() {
        let mut c = Command::new("podman");
        c.args(["unshare", "true"])
            .env_remove("_CONTAINERS_USERNS_CONFIGURED")
            .env_remove("_CONTAINERS_ROOTLESS_UID");
        let theirs = capture(c);
        assert_eq!(theirs.status.code(), out.status.code());
        assert_eq!(text(&theirs).1, text(&out).1);
    }
}

/// The pause process's mount table (where the user's containers mount).
fn pause_mounts(s: &Session) -> String {
    let pid = s.pause_pid().expect("pause process");
    std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap_or_default()
}

/// Serialises the tests that change /dev/net/tun's mode.
static TUN: Mutex<()> = Mutex::new(());
/// Tests that change /dev/fuse's mode hold this.
static FUSE: Mutex<()> = Mutex::new(());

/// Restores a device's mode when dropped.
struct ModeGuard(PathBuf, u32);

impl ModeGuard {
    fn set(path: &str, mode: u32) -> ModeGuard {
        let old = std::fs::metadata(path).unwrap().permissions().mode() & 0o7777;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
        ModeGuard(PathBuf::from(path), old)
    }
}

impl Drop for ModeGuard {
    fn drop(&mut self) {
        let _ = std::fs::set_permissions(&self.0, std::fs::Permissions::from_mode(self.1));
    }
}

#[test]
fn containers_run_as_the_user_as_they_do_for_root() {
    require_root();
    let start = 600000;
    let uid = user("podmanrs-rlc", Some((start, 65536)));
    let s = Session::new("podmanrs-rlc", uid);
    let _ = std::fs::remove_dir_all(s.home().join(".local/share/podman-rs"));
    let reg = Registry::start();
    let bb = busybox_image();
    push_layout(bb.path(), &reg.addr(), "busybox:latest").expect("push busybox");
    let image = format!("{}/busybox:latest", reg.addr());
    s.ok(&["pull", "-q", "--tls-verify=false", &image]);

    // Root in the container, the user on the host.
    let out = s.ok(&["run", "--rm", "--network", "none", &image, "id"]);
    assert!(out.starts_with("uid=0(root) gid=0(root)"), "{out}");

    // Detached, with a directory of the user bind-mounted: files made
    // inside belong to the user on the host; the maps are the pause
    // namespace's; logs, exec, ps, stop, rm as for root.
    let data = s.home().join("rlc-data");
    let _ = std::fs::remove_dir_all(&data);
    s.sh(&format!("mkdir -p {}", data.display()));
    let vol = format!("{}:/data", data.display());
    let id = s.ok(&[
        "run",
        "-d",
        "--name",
        "rlc1",
        "--network",
        "none",
        "-v",
        &vol,
        &image,
        "sh",
        "-c",
        "echo hello from rootless; touch /data/made-inside; sleep 1000",
    ]);
    let id = id.trim().to_string();
    assert_eq!(id.len(), 64, "{id}");
    let pid: i32 = s
        .ok(&["inspect", "--format", "{{.State.Pid}}", "rlc1"])
        .trim()
        .parse()
        .unwrap();
    let uid_map = std::fs::read_to_string(format!("/proc/{pid}/uid_map")).unwrap();
    assert_eq!(map_lines(&uid_map), map(&[(0, uid, 1), (1, start, 65536)]));
    assert_eq!(
        std::fs::metadata(format!("/proc/{pid}")).unwrap().uid(),
        uid
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while !data.join("made-inside").exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        std::fs::metadata(data.join("made-inside")).unwrap().uid(),
        uid,
        "a file made by container root belongs to the user"
    );
    let ps = s.ok(&["ps"]);
    assert!(ps.contains("rlc1") && ps.contains("Up"), "{ps}");
    let logs = s.ok(&["logs", "rlc1"]);
    assert_eq!(logs, "hello from rootless\n");
    let exec = s.ok(&["exec", "rlc1", "id", "-u"]);
    assert_eq!(exec, "0\n");
    // Pausing needs a cgroup, which a rootless container on v1 has none of.
    if !Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        let out = s.run(&["pause", "rlc1"]);
        assert_eq!(out.status.code(), Some(125));
        assert_eq!(
            text(&out).1,
            "Error: can not pause containers on rootless containers with cgroup V1: this container does not have a cgroup\n"
        );
    }
    s.ok(&["stop", "-t", "0", "rlc1"]);
    let state = s.ok(&["inspect", "--format", "{{.State.Status}}", "rlc1"]);
    assert_eq!(state.trim(), "exited");
    s.ok(&["rm", "rlc1"]);
    assert_eq!(s.ok(&["ps", "-a", "-q"]), "");
    assert!(
        !pause_mounts(&s).contains(&id),
        "no mount of the container is left in the user's namespace"
    );

    // A host file the user cannot write stays unwritable, even to root in
    // the container.
    let before = std::fs::read("/etc/passwd").unwrap();
    let out = s.run(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-v",
        "/etc/passwd:/etc/passwd",
        &image,
        "sh",
        "-c",
        "echo intruder::0:0::/:/bin/sh >> /etc/passwd",
    ]);
    assert_ne!(out.status.code(), Some(0), "{:?}", text(&out));
    assert!(
        text(&out).1.contains("Permission denied"),
        "{:?}",
        text(&out)
    );
    assert_eq!(std::fs::read("/etc/passwd").unwrap(), before);

    // Resource limits on cgroup v1: dropped with Podman's warning.
    if !Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        let out = s.run(&[
            "run",
            "--rm",
            "--network",
            "none",
            "--memory",
            "64m",
            &image,
            "true",
        ]);
        assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
        assert!(
            text(&out).1.contains(
                "Resource limits are not supported and ignored on cgroups V1 rootless systems"
            ),
            "{:?}",
            text(&out)
        );
    }

    // The default network is slirp4netns: with /dev/net/tun closed to the
    // user it fails as Podman does (126, no container left); opened, the
    // container gets slirp4netns's tap0 and published ports reach it.
    let _tun = TUN.lock().unwrap_or_else(|e| e.into_inner());
    {
        let _mode = ModeGuard::set("/dev/net/tun", 0o600);
        let out = s.run(&["run", "--rm", &image, "true"]);
        assert_eq!(out.status.code(), Some(126), "{:?}", text(&out));
        let err = text(&out).1;
        assert!(
            err.starts_with("Error: /usr/bin/slirp4netns failed: \"open(\\\"/dev/net/tun\\\"): Permission denied"),
            "{err}"
        );
        assert!(err.contains("chmod 0666 /dev/net/tun"), "{err}");
        assert_eq!(s.ok(&["ps", "-a", "-q"]), "");
        // pasta (Podman 4.4+) meets the same wall.
        let out = s.run(&["run", "--rm", "--network", "pasta", &image, "true"]);
        assert_eq!(out.status.code(), Some(126), "{:?}", text(&out));
        let err = text(&out).1;
        assert!(
            err.starts_with("Error: pasta failed with exit code 1:"),
            "{err}"
        );
        assert!(err.contains("chmod 0666 /dev/net/tun"), "{err}");
        assert_eq!(s.ok(&["ps", "-a", "-q"]), "");
    }
    {
        let _mode = ModeGuard::set("/dev/net/tun", 0o666);
        let out = s.ok(&["run", "--rm", &image, "ip", "-4", "addr", "show", "tap0"]);
        assert!(out.contains("inet 10.0.2.100/24"), "{out}");
        let port = podman_rs_integration_tests::registry::free_port().unwrap();
        let publish = format!("127.0.0.1:{port}:80");
        s.ok(&[
            "run", "-d", "--name", "rlcweb", "-p", &publish, &image, "httpd", "-f", "-p", "80",
            "-h", "/etc",
        ]);
        let url = format!("http://127.0.0.1:{port}/hostname");
        let deadline = Instant::now() + Duration::from_secs(10);
        let body = loop {
            match ureq_get(&url) {
                Some(b) => break b,
                None if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
                None => panic!("{url} never answered"),
            }
        };
        assert!(!body.is_empty());
        s.ok(&["rm", "-f", "-t", "0", "rlcweb"]);
        // pasta: the host's address inside, published ports forwarded.
        let out = s.ok(&[
            "run",
            "--rm",
            "--network",
            "pasta",
            &image,
            "ip",
            "-4",
            "addr",
        ]);
        assert!(
            out.lines().filter(|l| l.contains("inet ")).count() >= 2,
            "{out}"
        );
        let port = podman_rs_integration_tests::registry::free_port().unwrap();
        let publish = format!("{port}:80");
        s.ok(&[
            "run",
            "-d",
            "--name",
            "rlcpasta",
            "--network",
            "pasta",
            "-p",
            &publish,
            &image,
            "httpd",
            "-f",
            "-p",
            "80",
            "-h",
            "/etc",
        ]);
        let url = format!("http://127.0.0.1:{port}/hostname");
        let deadline = Instant::now() + Duration::from_secs(10);
        while ureq_get(&url).is_none() {
            assert!(
                Instant::now() < deadline,
                "{url} never answered through pasta"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        s.ok(&["rm", "-f", "-t", "0", "rlcpasta"]);
    }
    let _ = std::fs::remove_dir_all(&data);
}

fn ureq_get(url: &str) -> Option<String> {
    let out = Command::new("curl")
        .args(["-sf", "--max-time", "2", url])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn unmappable_owners_and_devices_never_fail_an_import() {
    require_root();
    let start = 670000;
    let uid = user("podmanrs-rlo", Some((start, 65536)));
    let s = Session::new("podmanrs-rlo", uid);
    let store = s.home().join(".local/share/podman-rs");
    let _ = std::fs::remove_dir_all(&store);
    // A layer with a file of uid 1000 (mapped), one of uid 70000 (outside
    // the 65536 subordinate ids) and a device node.
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |path: &str, uid: u64, kind: tar::EntryType| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_uid(uid);
        h.set_gid(uid);
        h.set_mode(0o644);
        h.set_size(0);
        if kind == tar::EntryType::Char {
            h.set_device_major(1).unwrap();
            h.set_device_minor(3).unwrap();
        }
        b.append_data(&mut h, path, std::io::empty()).unwrap();
    };
    add("owned1000", 1000, tar::EntryType::Regular);
    add("owned70000", 70000, tar::EntryType::Regular);
    add("null", 0, tar::EntryType::Char);
    let tar = b.into_inner().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("layer.tar");
    std::fs::write(&path, tar).unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = s.run(&["import", path.to_str().unwrap(), "localhost/owners"]);
    let (o, e) = text(&out);
    assert!(out.status.success(), "{o}\n{e}");
    assert!(
        e.contains("potentially insufficient UIDs or GIDs available in user namespace (requested 70000:70000")
            && e.contains("owned by nobody"),
        "one warning names the first unmapped owner: {e}"
    );
    assert_eq!(e.matches("insufficient UIDs").count(), 1, "{e}");
    let f1000 = walk_find(&store.join("layers"), "owned1000").expect("owned1000 stored");
    assert_eq!(std::fs::metadata(&f1000).unwrap().uid(), start + 999);
    let f70000 = walk_find(&store.join("layers"), "owned70000").expect("owned70000 stored");
    assert_eq!(
        std::fs::metadata(&f70000).unwrap().uid(),
        start + 65533,
        "given to nobody (65534 in the namespace)"
    );
    assert!(
        walk_find(&store.join("layers"), "null").is_none(),
        "device nodes are skipped in a user namespace"
    );
}

/// The filesystem type and super options of the mount at `target` in `info`.
fn mount_of(info: &str, target: &str) -> Option<(String, String)> {
    info.lines().find_map(|l| {
        let (pre, post) = l.split_once(" - ")?;
        if pre.split(' ').nth(4)? != target {
            return None;
        }
        let mut p = post.split(' ');
        let fstype = p.next()?.to_string();
        let _source = p.next()?;
        Some((fstype, p.next().unwrap_or_default().to_string()))
    })
}

#[test]
fn rootless_storage_native_overlay_fuse_overlayfs_and_vfs() {
    require_root();
    let reg = Registry::start();
    let bb = busybox_image();
    push_layout(bb.path(), &reg.addr(), "busybox:latest").expect("push busybox");
    let image = format!("{}/busybox:latest", reg.addr());
    let write_read = "echo data > /f && rm /bin/true && cat /f && ls /bin/true 2>&1; true";
    let start = 740000;
    for (name, how) in [
        ("podmanrs-rln", "native"),
        ("podmanrs-rlfu", "fuse"),
        ("podmanrs-rlv", "vfs"),
    ] {
        let uid = user(name, Some((start + 70000 * (how.len() as u32), 65536)));
        let s = Session::new(name, uid);
        let _ = std::fs::remove_dir_all(s.home().join(".local/share/podman-rs"));
        let conf = s.home().join(".config/containers/storage.conf");
        let _ = std::fs::remove_file(&conf);
        let mut global: Vec<&str> = Vec::new();
        let _fuse_lock = FUSE.lock().unwrap_or_else(|p| p.into_inner());
        let _fuse = (how == "fuse").then(|| {
            s.sh("mkdir -p ~/.config/containers");
            s.sh(&format!(
                "printf '[storage]\\ndriver = \"overlay\"\\n[storage.options.overlay]\\nmount_program = \"/usr/bin/fuse-overlayfs\"\\n' > {}",
                conf.display()
            ));
            ModeGuard::set("/dev/fuse", 0o666)
        });
        if how == "vfs" {
            global.extend(["--storage-driver", "vfs"]);
        }
        let args = |rest: &[&str]| -> Vec<String> {
            global.iter().chain(rest).map(|a| a.to_string()).collect()
        };
        let run = |rest: &[&str]| {
            let a = args(rest);
            s.ok(&a.iter().map(String::as_str).collect::<Vec<_>>())
        };
        run(&["pull", "-q", "--tls-verify=false", &image]);
        let out = run(&[
            "run",
            "--rm",
            "--network",
            "none",
            &image,
            "sh",
            "-c",
            write_read,
        ]);
        assert!(
            out.starts_with("data\n") && out.contains("No such file"),
            "{how}: writes and whiteouts in the container's layer: {out}"
        );
        let id = run(&["run", "-d", "--network", "none", &image, "sleep", "1000"]);
        let id = id.trim();
        let mounts = pause_mounts(&s);
        let merged = s
            .runtime
            .path()
            .join(format!("podman-rs/containers/{id}/merged"));
        let found = mount_of(&mounts, &merged.to_string_lossy());
        match how {
            "native" => {
                let (fstype, opts) = found.expect("overlay mounted");
                assert_eq!(fstype, "overlay");
                assert!(opts.contains("userxattr"), "{opts}");
            }
            "fuse" => {
                let (fstype, _) = found.expect("fuse-overlayfs mounted");
                assert_eq!(fstype, "fuse.fuse-overlayfs");
            }
            _ => assert!(found.is_none(), "vfs mounts nothing: {found:?}"),
        }
        run(&["rm", "-f", "-t", "0", id]);
        assert!(
            mount_of(&pause_mounts(&s), &merged.to_string_lossy()).is_none(),
            "{how}: unmounted on rm"
        );
        let _ = std::fs::remove_file(&conf);
    }
}

#[test]
fn keep_id_runs_as_the_user_and_reuses_its_copy() {
    require_root();
    let start = 900000;
    let uid = user("podmanrs-rlk", Some((start, 65536)));
    let s = Session::new("podmanrs-rlk", uid);
    let store = s.home().join(".local/share/podman-rs");
    let _ = std::fs::remove_dir_all(&store);
    let reg = Registry::start();
    let bb = busybox_image();
    push_layout(bb.path(), &reg.addr(), "busybox:latest").expect("push busybox");
    let image = format!("{}/busybox:latest", reg.addr());
    s.ok(&["pull", "-q", "--tls-verify=false", &image]);
    let name = "podmanrs-rlk";
    // Without a usable /dev/fuse the layers are copied with the new owners.
    let _fuse_lock = FUSE.lock().unwrap_or_else(|p| p.into_inner());
    let no_fuse = ModeGuard::set("/dev/fuse", 0o600);
    let first = s.run(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--userns=keep-id",
        &image,
        "sh",
        "-c",
        "id -u; id -g; echo HOME=$HOME; grep ^podmanrs-rlk: /etc/passwd /etc/group",
    ]);
    let (o, e) = text(&first);
    assert!(first.status.success(), "{o}\n{e}");
    assert_eq!(
        o,
        format!(
            "{uid}\n{uid}\nHOME=/\n/etc/passwd:{name}:*:{uid}:{uid}::/:/bin/sh\n/etc/group:{name}:x:{uid}:{name}\n"
        )
    );
    assert!(
        e.contains("made a copy of the image"),
        "the copy is said: {e}"
    );
    let copies = || -> Vec<(PathBuf, u64)> {
        let mut v = Vec::new();
        for l in std::fs::read_dir(store.join("layers")).unwrap().flatten() {
            if let Ok(rd) = std::fs::read_dir(l.path().join("mapped")) {
                for c in rd.flatten() {
                    if c.file_type().unwrap().is_dir() {
                        v.push((c.path(), c.metadata().unwrap().ino()));
                    }
                }
            }
        }
        v
    };
    let before = copies();
    assert_eq!(before.len(), 1, "{before:?}");
    // Detached: the maps are Podman's keep-id layout, relative to the
    // pause namespace; a second container reuses the copy.
    let id = s.ok(&[
        "run",
        "-d",
        "--network",
        "none",
        "--userns=keep-id",
        &image,
        "sleep",
        "1000",
    ]);
    let pid: i32 = s
        .ok(&["inspect", "--format", "{{.State.Pid}}", id.trim()])
        .trim()
        .parse()
        .unwrap();
    let uid_map = std::fs::read_to_string(format!("/proc/{pid}/uid_map")).unwrap();
    assert_eq!(
        map_lines(&uid_map),
        map(&[
            (0, start, uid),
            (uid, uid, 1),
            (uid + 1, start + uid, 65536 - uid)
        ]),
        "{uid_map}"
    );
    assert_eq!(copies(), before, "same copy, not a new one");
    // exec joins the container's user namespace: the same maps (relative to
    // the pause namespace, as seen from inside) and the user's id.
    let inside = s.ok(&[
        "exec",
        id.trim(),
        "sh",
        "-c",
        "id -u; cat /proc/self/uid_map",
    ]);
    let mut lines = inside.lines();
    assert_eq!(lines.next(), Some(uid.to_string().as_str()), "{inside}");
    assert_eq!(
        map_lines(&lines.collect::<Vec<_>>().join("\n")),
        map(&[(0, 1, uid), (uid, 0, 1), (uid + 1, uid + 1, 65536 - uid)]),
        "{inside}"
    );
    let root = s.ok(&["exec", "-u", "0", id.trim(), "id", "-u"]);
    assert_eq!(root.trim(), "0");
    s.ok(&["rm", "-f", "-t", "0", id.trim()]);

    // With fuse-overlayfs usable, a mapping with no copy yet is idmapped by
    // it (its uidmapping/gidmapping): nothing is copied, owners are right.
    drop(no_fuse);
    let _fuse = ModeGuard::set("/dev/fuse", 0o666);
    let id = s.ok(&[
        "run",
        "-d",
        "--network",
        "none",
        "--uidmap",
        "0:1:65536",
        "--gidmap",
        "0:1:65536",
        &image,
        "sleep",
        "1000",
    ]);
    let id = id.trim();
    let inside = s.ok(&[
        "exec",
        id,
        "sh",
        "-c",
        "stat -c %u:%g /bin/busybox; id -u; touch /new && stat -c %u /new",
    ]);
    assert_eq!(inside, "0:0\n0\n0\n", "{inside}");
    let pid: i32 = s
        .ok(&["inspect", "--format", "{{.State.Pid}}", id])
        .trim()
        .parse()
        .unwrap();
    let info = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap();
    assert!(
        mount_of(&info, "/").is_some_and(|(fstype, _)| fstype.contains("fuse")),
        "the root is fuse-overlayfs: {info}"
    );
    // From the host, the new file belongs to the mapped root.
    let upper_file = walk_find(&store.join("containers"), "new").expect("upper file");
    assert_eq!(
        std::fs::metadata(&upper_file).unwrap().uid(),
        uid,
        "on disk: the user (0 unshifted)"
    );
    assert_eq!(copies(), before, "no copy for the new mapping");
    s.ok(&["rm", "-f", "-t", "0", id]);
}

#[test]
fn nomap_runs_and_execs_behind_a_private_runtime_dir() {
    require_root();
    let uid = user("podmanrs-rln", Some((1100000, 65536)));
    let s = Session::new("podmanrs-rln", uid);
    // The runtime directory is 0700 and its owner (the user) is not mapped
    // into a nomap container's namespace: the runtime must still reach the
    // rootfs, the netns and the bind sources under it.
    let mode = std::fs::metadata(s.runtime.path()).unwrap().mode() & 0o777;
    assert_eq!(mode, 0o700);
    let reg = Registry::start();
    let bb = busybox_image();
    push_layout(bb.path(), &reg.addr(), "busybox:latest").expect("push busybox");
    let image = format!("{}/busybox:latest", reg.addr());
    s.ok(&["pull", "-q", "--tls-verify=false", &image]);
    let out = s.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--userns=nomap",
        &image,
        "sh",
        "-c",
        "id; cat /proc/self/uid_map; head -c 9 /etc/hosts; echo",
    ]);
    let mut lines = out.lines();
    assert_eq!(
        lines.next(),
        Some("uid=0(root) gid=0(root) groups=0(root)"),
        "Podman's ids: {out}"
    );
    assert_eq!(
        map_lines(lines.next().unwrap_or("")),
        map(&[(0, 1, 65536)]),
        "{out}"
    );
    assert_eq!(
        lines.next(),
        Some("127.0.0.1"),
        "bind-mounted /etc/hosts: {out}"
    );
    let id = s.ok(&[
        "run",
        "-d",
        "--network",
        "none",
        "--userns=nomap",
        &image,
        "sleep",
        "1000",
    ]);
    let inside = s.ok(&["exec", id.trim(), "sh", "-c", "id; cat /proc/self/uid_map"]);
    let mut lines = inside.lines();
    assert_eq!(
        lines.next(),
        Some("uid=0(root) gid=0(root) groups=0(root)"),
        "{inside}"
    );
    assert_eq!(
        map_lines(lines.next().unwrap_or("")),
        map(&[(0, 1, 65536)]),
        "{inside}"
    );
    // The directory itself was never changed.
    let after = std::fs::metadata(s.runtime.path()).unwrap().mode() & 0o777;
    assert_eq!(after, 0o700);
    s.ok(&["rm", "-f", "-t", "0", id.trim()]);
}

#[test]
fn on_cgroup_v2_containers_go_to_the_users_delegated_cgroup() {
    require_root();
    // The host's cgroup2 hierarchy: /sys/fs/cgroup on v2, the unified one on
    // a hybrid host.
    let base = if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        PathBuf::from("/sys/fs/cgroup")
    } else {
        PathBuf::from("/sys/fs/cgroup/unified")
    };
    if !base.join("cgroup.procs").exists() {
        eprintln!("skipped: no cgroup2 hierarchy");
        return;
    }
    let uid = user("podmanrs-rlcg", Some((1200000, 65536)));
    let s = Session::new("podmanrs-rlcg", uid);
    let _ = std::fs::remove_dir_all(s.home().join(".local/share/podman-rs"));
    // A subtree delegated to the user, with its session in a leaf.
    let name = format!("podman-rs-it-rl-{}", std::process::id());
    let deleg = podman_rs_integration_tests::delegate_cgroup(&base, &name, uid).unwrap();
    let leaf = format!("/{name}/session");
    let reg = Registry::start();
    let bb = busybox_image();
    push_layout(bb.path(), &reg.addr(), "busybox:latest").expect("push busybox");
    let image = format!("{}/busybox:latest", reg.addr());
    let ok = |args: &[&str]| {
        let out = s.run_v2(&leaf, args);
        let (o, e) = text(&out);
        assert!(out.status.success(), "{args:?}: {e}");
        o
    };
    ok(&["pull", "-q", "--tls-verify=false", &image]);
    let id = ok(&["run", "-d", "--network", "none", &image, "sleep", "1000"]);
    let id = id.trim().to_string();
    let pid: i32 = ok(&["inspect", "--format", "{{.State.Pid}}", &id])
        .trim()
        .parse()
        .unwrap();
    let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let want = format!("0::/{name}/podman-rs/{id}");
    assert!(cg.lines().any(|l| l == want), "want {want}: {cg}");
    ok(&["rm", "-f", "-t", "0", &id]);
    assert!(
        !deleg.join("podman-rs").join(&id).exists(),
        "the container's cgroup is removed with it"
    );
    ok(&["system", "migrate"]);
    drop(s);
    // The pause process is gone: the cgroups can go.
    let mut dirs = vec![
        deleg.join("podman-rs"),
        deleg.join("session"),
        deleg.clone(),
    ];
    for _ in 0..50 {
        dirs.retain(|d| std::fs::remove_dir(d).is_err() && d.exists());
        if dirs.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
