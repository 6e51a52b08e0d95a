//! Tests against the machine's real cgroups. They need root; without it they
//! print a note and pass. Every test uses a cgroup path unique to the test
//! process and cleans up through a drop guard, so a failed assertion leaves
//! neither a process nor a cgroup behind.

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::{geteuid, Pid};
use oci_spec::runtime::{
    LinuxCpuBuilder, LinuxMemoryBuilder, LinuxPidsBuilder, LinuxResources, LinuxResourcesBuilder,
};
use podman_rs_cgroups::{
    can_manage, check_manage, Cgroup, CgroupMode, Error, FreezerState, DEFAULT_CGROUP_ROOT,
};

const MIB: u64 = 1 << 20;
const PROBE_ENV: &str = "PODMAN_RS_CGROUPS_PROBE_PATH";

fn is_root() -> bool {
    if geteuid().is_root() {
        return true;
    }
    eprintln!("skipping: needs root");
    false
}

fn unique_path(name: &str) -> String {
    format!("/podman-rs-cgroups-test-{}-{name}", std::process::id())
}

/// A `sh` that waits for a line on stdin and then execs `sleep`: it can be
/// moved into a cgroup first so that the memory `sleep` touches is charged
/// to that cgroup (cgroup v1 does not move charges with a task).
struct Sleeper {
    child: Child,
    stdin: Option<ChildStdin>,
}

impl Sleeper {
    fn spawn() -> Self {
        let mut child = Command::new("sh")
            .args(["-c", "read _go; exec sleep 1000"])
            .stdin(Stdio::piped())
            .spawn()
            .expect("spawn sh");
        let stdin = child.stdin.take();
        Sleeper { child, stdin }
    }

    fn pid(&self) -> i32 {
        i32::try_from(self.child.id()).expect("pid fits i32")
    }

    /// Lets the shell exec `sleep` and waits until it has.
    fn release(&mut self) {
        if let Some(mut stdin) = self.stdin.take() {
            stdin.write_all(b"go\n").expect("release child");
        }
        let comm = format!("/proc/{}/comm", self.pid());
        wait_for("the child to exec sleep", || {
            fs::read_to_string(&comm).is_ok_and(|c| c.trim() == "sleep")
        });
    }

    fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    fn kill(&mut self) {
        if self.alive() {
            let _ = kill(Pid::from_raw(self.pid()), Signal::SIGKILL);
        }
        let _ = self.child.wait();
    }
}

/// Cleans up whatever a test created, even when it panics: thaws the
/// cgroup (frozen tasks do not die), kills the child, removes the cgroup
/// directories in every hierarchy without relying on the code under test.
struct Guard {
    dirs: Vec<PathBuf>,
    child: Option<Sleeper>,
}

impl Guard {
    fn new(cg: &Cgroup) -> Self {
        Guard {
            dirs: cg.dirs().iter().map(|d| d.dir.clone()).collect(),
            child: None,
        }
    }
}

fn rmdir_tree(dir: &Path) {
    if let Ok(entries) = fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                rmdir_tree(&e.path());
            }
        }
    }
    for _ in 0..50 {
        if fs::remove_dir(dir).is_ok() || !dir.exists() {
            return;
        }
        thread::sleep(Duration::from_millis(20));
    }
    eprintln!("warning: could not remove {}", dir.display());
}

impl Drop for Guard {
    fn drop(&mut self) {
        for d in &self.dirs {
            let _ = fs::write(d.join("freezer.state"), "THAWED");
            let _ = fs::write(d.join("cgroup.freeze"), "0");
        }
        if let Some(child) = self.child.as_mut() {
            child.kill();
        }
        for d in &self.dirs {
            if d.exists() {
                rmdir_tree(d);
            }
        }
    }
}

fn resources() -> LinuxResources {
    LinuxResourcesBuilder::default()
        .memory(
            LinuxMemoryBuilder::default()
                .limit(64 * MIB as i64)
                .build()
                .expect("memory"),
        )
        .pids(LinuxPidsBuilder::default().limit(32).build().expect("pids"))
        .cpu(
            LinuxCpuBuilder::default()
                .shares(512u64)
                .quota(50_000i64)
                .period(100_000u64)
                .cpus("0")
                .mems("0")
                .build()
                .expect("cpu"),
        )
        .build()
        .expect("resources")
}

fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "timed out waiting for {what}"
        );
        thread::sleep(Duration::from_millis(20));
    }
}

fn v1_mode() -> bool {
    match CgroupMode::detect().expect("detect") {
        CgroupMode::Legacy | CgroupMode::Hybrid => true,
        CgroupMode::Unified => {
            eprintln!("skipping: machine runs cgroup v2");
            false
        }
    }
}

#[test]
fn v1_full_lifecycle() {
    if !is_root() || !v1_mode() {
        return;
    }
    let cg = Cgroup::open(unique_path("life")).expect("open");
    let mut guard = Guard::new(&cg);
    assert!(!cg.exists());
    assert!(cg.can_manage(), "{:?}", cg.check_manage());

    guard.child = Some(Sleeper::spawn());
    let pid = guard.child.as_ref().map(Sleeper::pid).expect("child");
    cg.add_task(pid).expect("add_task");
    cg.apply(&resources()).expect("apply");
    guard.child.as_mut().expect("child").release();
    assert!(cg.exists());

    // Every hierarchy with a controller now has the directory.
    for d in cg.dirs() {
        if d.hierarchy.has_v1_controllers() {
            assert!(d.dir.is_dir(), "{} missing", d.dir.display());
        }
    }

    assert!(cg.pids().expect("pids").contains(&pid));

    let limits = cg.limits().expect("limits");
    assert_eq!(limits.memory, Some(64 * MIB));
    assert_eq!(limits.pids, Some(32));
    assert_eq!(limits.cpu_shares, Some(512));
    assert_eq!(limits.cpu_quota, Some(50_000));
    assert_eq!(limits.cpu_period, Some(100_000));
    assert_eq!(limits.cpuset_cpus.as_deref(), Some("0"));
    assert_eq!(limits.cpuset_mems.as_deref(), Some("0"));
    assert_eq!(limits.cpu_weight, None);

    wait_for("memory to be charged", || {
        cg.stats()
            .map(|s| s.memory.usage.unwrap_or(0) > 0)
            .unwrap_or(false)
    });
    let stats = cg.stats().expect("stats");
    assert_eq!(stats.cgroup_version, 1);
    assert!(stats.memory.usage.unwrap_or(0) > 0, "{stats:?}");
    assert_eq!(stats.memory.limit, Some(64 * MIB));
    assert!(stats.memory.max_usage.unwrap_or(0) >= stats.memory.usage.unwrap_or(0));
    assert!(stats.pids.current.unwrap_or(0) >= 1, "{stats:?}");
    assert_eq!(stats.pids.limit, Some(32));
    // exec'ing sleep inside the cgroup cost some CPU time.
    assert!(stats.cpu.usage_total_ns.unwrap_or(0) > 0, "{stats:?}");
    assert!(stats.io.read_bytes.is_some(), "{stats:?}");
    let json = serde_json::to_string(&stats).expect("serialize");
    assert!(json.contains("\"usage\""));

    assert_eq!(cg.oom_kill_count().expect("oom"), Some(0));

    assert_eq!(cg.freezer_state().expect("state"), FreezerState::Thawed);
    cg.freeze().expect("freeze");
    assert_eq!(cg.freezer_state().expect("state"), FreezerState::Frozen);
    cg.thaw().expect("thaw");
    assert_eq!(cg.freezer_state().expect("state"), FreezerState::Thawed);

    // remove() kills nothing: with the child alive it fails with EBUSY.
    let err = cg
        .remove_with_timeout(Duration::from_millis(100))
        .expect_err("remove must fail while a process is inside");
    assert_eq!(err.raw_os_error(), Some(nix::libc::EBUSY), "{err}");
    assert!(err.to_string().contains("remove cgroup"), "{err}");
    assert!(guard.child.as_mut().expect("child").alive());
    assert!(cg.pids().expect("pids").contains(&pid));

    guard.child.as_mut().expect("child").kill();
    cg.remove().expect("remove");
    assert!(!cg.exists());
    for d in cg.dirs() {
        assert!(!d.dir.exists(), "{} still exists", d.dir.display());
    }
    // Independent check of every mounted hierarchy.
    for entry in fs::read_dir(DEFAULT_CGROUP_ROOT).expect("list cgroup root") {
        let entry = entry.expect("entry");
        let dir = entry.path().join(cg.path());
        assert!(!dir.exists(), "{} still exists", dir.display());
    }
    assert_eq!(cg.pids().expect("pids"), Vec::<i32>::new());
    assert!(matches!(cg.stats(), Err(Error::NotFound { .. })));
    cg.remove().expect("removing a removed cgroup is fine");
}

#[test]
fn v1_nested_cgroups_are_listed_and_removed() {
    if !is_root() || !v1_mode() {
        return;
    }
    let cg = Cgroup::open(unique_path("nested")).expect("open");
    let mut guard = Guard::new(&cg);
    guard.child = Some(Sleeper::spawn());
    let pid = guard.child.as_ref().map(Sleeper::pid).expect("child");
    cg.add_task(pid).expect("add_task");

    // Move the child into a sub-cgroup of the pids hierarchy (as a
    // container's own cgroup namespace could): pids() still finds it.
    let pids_dir = cg
        .controller_dir("pids")
        .expect("pids mounted")
        .to_path_buf();
    let sub = pids_dir.join("inner/deeper");
    fs::create_dir_all(&sub).expect("mkdir sub");
    fs::write(sub.join("cgroup.procs"), pid.to_string()).expect("move to sub");
    assert_eq!(
        fs::read_to_string(pids_dir.join("cgroup.procs"))
            .expect("read")
            .trim(),
        ""
    );
    assert!(cg.pids().expect("pids").contains(&pid));

    guard.child.as_mut().expect("child").kill();
    cg.remove().expect("remove");
    assert!(!pids_dir.exists());
    assert!(!cg.exists());
}

#[test]
fn root_can_manage() {
    if !is_root() {
        return;
    }
    let path = unique_path("manage");
    assert!(can_manage(&path), "{:?}", check_manage(&path));
    // Checking creates nothing.
    assert!(!Cgroup::open(&path).expect("open").exists());
}

/// Re-run by `unprivileged_user_cannot_manage` as uid 65534: reports the
/// answer of `can_manage` on stdout.
#[test]
fn can_manage_probe() {
    let Ok(path) = std::env::var(PROBE_ENV) else {
        return;
    };
    match check_manage(&path) {
        Ok(()) => println!("PROBE-RESULT=yes"),
        Err(e) => println!("PROBE-RESULT=no ({e})"),
    }
}

#[test]
fn unprivileged_user_cannot_manage() {
    if !is_root() {
        return;
    }
    // Copy this test binary where uid 65534 can run it.
    let exe = std::env::current_exe().expect("current exe");
    let tmp = tempfile::tempdir().expect("tempdir");
    fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o755)).expect("chmod");
    let copy = tmp.path().join("probe");
    fs::copy(&exe, &copy).expect("copy test binary");
    fs::set_permissions(&copy, fs::Permissions::from_mode(0o755)).expect("chmod");

    let path = unique_path("rootless");
    let out = Command::new(&copy)
        .args([
            "--exact",
            "can_manage_probe",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(PROBE_ENV, &path)
        .uid(65534)
        .gid(65534)
        .output()
        .expect("run probe");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "probe failed: {stdout}");
    // A user owning no cgroup cannot create one under the root-owned
    // hierarchy roots, v1 or v2.
    assert!(stdout.contains("PROBE-RESULT=no"), "{stdout}");
    assert!(stdout.contains("Permission denied"), "{stdout}");
    assert!(!Cgroup::open(&path).expect("open").exists());
}

/// cgroup2 on this machine: the whole hierarchy on pure v2, the
/// controller-less `unified` one in hybrid mode. `None` on pure v1.
fn cgroup2_root() -> Option<(PathBuf, CgroupMode)> {
    let mode = CgroupMode::detect().expect("detect");
    let root = match mode {
        CgroupMode::Unified => PathBuf::from(DEFAULT_CGROUP_ROOT),
        CgroupMode::Hybrid => Path::new(DEFAULT_CGROUP_ROOT).join("unified"),
        CgroupMode::Legacy => {
            eprintln!("skipping: no cgroup2 hierarchy");
            return None;
        }
    };
    Some((root, mode))
}

#[test]
fn v2_real_hierarchy() {
    if !is_root() {
        return;
    }
    let Some((root, mode)) = cgroup2_root() else {
        return;
    };
    let cg = Cgroup::open_v2(&root, unique_path("v2")).expect("open");
    let mut guard = Guard::new(&cg);
    let dir = cg.dirs()[0].dir.clone();
    assert!(!cg.exists());
    assert!(cg.can_manage(), "{:?}", cg.check_manage());

    guard.child = Some(Sleeper::spawn());
    let pid = guard.child.as_ref().map(Sleeper::pid).expect("child");
    let limited = if mode == CgroupMode::Unified {
        // Pure v2: the runtime's path, through libcgroups.
        cg.add_task(pid).expect("add_task");
        let controllers = fs::read_to_string(dir.join("cgroup.controllers")).unwrap_or_default();
        let has = |c: &str| controllers.split_whitespace().any(|x| x == c);
        if has("memory") && has("pids") {
            let res = LinuxResourcesBuilder::default()
                .memory(
                    LinuxMemoryBuilder::default()
                        .limit(64 * MIB as i64)
                        .build()
                        .expect("memory"),
                )
                .pids(LinuxPidsBuilder::default().limit(32).build().expect("pids"))
                .build()
                .expect("resources");
            cg.apply(&res).expect("apply");
            true
        } else {
            false
        }
    } else {
        // Hybrid: no controllers here, and libcgroups would try to enable
        // them at the hierarchy root; create and join by hand.
        fs::create_dir(&dir).expect("mkdir");
        fs::write(dir.join("cgroup.procs"), pid.to_string()).expect("join");
        false
    };
    guard.child.as_mut().expect("child").release();

    assert!(cg.exists());
    assert_eq!(cg.pids().expect("pids"), vec![pid]);

    let stats = cg.stats().expect("stats");
    assert_eq!(stats.cgroup_version, 2);
    // cpu.stat is a core file: usage is always there.
    assert!(stats.cpu.usage_total_ns.is_some(), "{stats:?}");
    let limits = cg.limits().expect("limits");
    if limited {
        assert_eq!(limits.memory, Some(64 * MIB));
        assert_eq!(limits.pids, Some(32));
        wait_for("memory to be charged", || {
            cg.stats()
                .map(|s| s.memory.usage.unwrap_or(0) > 0)
                .unwrap_or(false)
        });
        assert_eq!(cg.oom_kill_count().expect("oom"), Some(0));
    } else {
        assert_eq!(limits.memory, None);
        assert_eq!(stats.memory.usage, None);
        assert_eq!(cg.oom_kill_count().expect("oom"), None);
    }

    assert_eq!(cg.freezer_state().expect("state"), FreezerState::Thawed);
    cg.freeze().expect("freeze");
    assert_eq!(cg.freezer_state().expect("state"), FreezerState::Frozen);
    cg.thaw().expect("thaw");
    assert_eq!(cg.freezer_state().expect("state"), FreezerState::Thawed);

    let err = cg
        .remove_with_timeout(Duration::from_millis(100))
        .expect_err("remove must fail while a process is inside");
    assert_eq!(err.raw_os_error(), Some(nix::libc::EBUSY), "{err}");
    assert!(guard.child.as_mut().expect("child").alive());

    guard.child.as_mut().expect("child").kill();
    cg.remove().expect("remove");
    assert!(!dir.exists());
    assert!(!cg.exists());
}
