//! `podman-rs runtime` as a normal user: `spec --rootless` + `run` with a user
//! namespace mapping the caller's uid to root, cgroups skipped where the user
//! cannot create them.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use podman_rs_integration_tests::{binary, capture, make_rootfs, require_root, text};
use serde_json::json;

const USER: &str = "podmanrs-it";

/// Creates the unprivileged test user once; returns its uid.
fn test_user() -> u32 {
    // The tests run in parallel: one creates the user, the others wait for it
    // (concurrent useradd calls fight over /etc/passwd's lock).
    static CREATE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = CREATE.lock().unwrap_or_else(|p| p.into_inner());
    let uid = |()| {
        Command::new("id")
            .args(["-u", USER])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .and_then(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .trim()
                    .parse::<u32>()
                    .ok()
            })
    };
    if let Some(u) = uid(()) {
        return u;
    }
    let st = Command::new("useradd")
        .args(["--create-home", "--shell", "/bin/sh", USER])
        .status()
        .expect("useradd");
    assert!(st.success() || uid(()).is_some(), "useradd {USER} failed");
    uid(()).expect("test user uid")
}

/// A directory the test user owns, with a copy of the binary it can run.
struct UserDir {
    dir: tempfile::TempDir,
}

impl UserDir {
    fn new(uid: u32) -> UserDir {
        let dir = tempfile::Builder::new()
            .prefix("podman-rs-rootless-")
            .tempdir()
            .unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::copy(binary(), dir.path().join("podman-rs")).unwrap();
        make_rootfs(&dir.path().join("bundle/rootfs"));
        std::fs::create_dir_all(dir.path().join("state")).unwrap();
        std::fs::create_dir_all(dir.path().join("shared")).unwrap();
        let st = Command::new("chown")
            .args(["-R", &format!("{uid}:{uid}")])
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(st.success());
        UserDir { dir }
    }

    fn p(&self, rel: &str) -> String {
        self.dir.path().join(rel).to_string_lossy().into_owned()
    }

    /// `podman-rs runtime --root <state> ARGS` as the test user on cgroup
    /// v2: in a mount namespace of its own where the host's cgroup2
    /// hierarchy (the unified one on a hybrid host, with no controllers) is
    /// mounted over /sys/fs/cgroup, so libcgroups takes its real v2 path.
    /// With `cgroup`, the shell first moves into that cgroup (as a delegated
    /// session would be).
    fn runtime_v2(&self, cgroup: Option<&str>, args: &[&str]) -> std::process::Output {
        let enter = cgroup
            .map(|c| format!("echo $$ > /sys/fs/cgroup{c}/cgroup.procs && "))
            .unwrap_or_default();
        let script = format!(
            "mount -t cgroup2 none /sys/fs/cgroup && {enter}exec runuser -u {USER} -- \"$@\""
        );
        let mut c = Command::new("unshare");
        c.args(["-m", "--propagation", "private", "sh", "-c", &script, "sh"])
            .arg(self.p("podman-rs"))
            .args(["runtime", "--root", &self.p("state")])
            .args(args)
            .env("XDG_RUNTIME_DIR", self.p("state"));
        capture(c)
    }

    /// Runs `podman-rs runtime --root <state> ARGS` as the test user.
    fn runtime(&self, args: &[&str]) -> std::process::Output {
        let mut c = Command::new("runuser");
        c.args(["-u", USER, "--"])
            .arg(self.p("podman-rs"))
            .args(["runtime", "--root", &self.p("state")])
            .args(args)
            .env("XDG_RUNTIME_DIR", self.p("state"));
        capture(c)
    }

    fn edit_config(&self, f: impl FnOnce(&mut serde_json::Value)) {
        let path = self.dir.path().join("bundle/config.json");
        let mut v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        f(&mut v);
        std::fs::write(&path, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    }
}

fn cgroup_v1_host() -> bool {
    nix::sys::statfs::statfs("/sys/fs/cgroup")
        .map(|s| s.filesystem_type() != nix::sys::statfs::CGROUP2_SUPER_MAGIC)
        .unwrap_or(false)
}

#[test]
fn rootless_spec_and_run_as_a_normal_user() {
    require_root();
    let uid = test_user();
    let u = UserDir::new(uid);
    let out = u.runtime(&["spec", "--rootless", "--bundle", &u.p("bundle")]);
    assert!(out.status.success(), "{}", text(&out).1);
    let shared = u.p("shared");
    u.edit_config(|v| {
        v["process"]["terminal"] = json!(false);
        v["process"]["args"] = json!([
            "sh",
            "-c",
            "id -u; cat /proc/self/uid_map; echo data > /shared/made-inside; echo $$"
        ]);
        v["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/shared", "type": "bind", "source": shared, "options": ["rbind", "rw"]
        }));
    });
    let out = u.runtime(&["run", "--bundle", &u.p("bundle"), "r1"]);
    let (o, e) = text(&out);
    assert_eq!(out.status.code(), Some(0), "stdout: {o}\nstderr: {e}");
    let lines: Vec<&str> = o.lines().collect();
    assert_eq!(lines[0], "0", "root inside the container");
    let map: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(
        map,
        ["0", &uid.to_string(), "1"],
        "container root is the user outside"
    );
    assert_eq!(lines[2], "1");
    // A file the container's root created belongs to the user on the host.
    let meta = std::fs::metadata(Path::new(&shared).join("made-inside")).unwrap();
    assert_eq!(std::os::unix::fs::MetadataExt::uid(&meta), uid);
    // Nothing left in the user's state dir.
    let left: Vec<_> = std::fs::read_dir(u.p("state"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn rootless_container_runs_as_the_user_on_the_host_and_cannot_write_root_files() {
    require_root();
    let uid = test_user();
    let u = UserDir::new(uid);
    assert!(u
        .runtime(&["spec", "--rootless", "--bundle", &u.p("bundle")])
        .status
        .success());
    u.edit_config(|v| {
        v["process"]["terminal"] = json!(false);
        v["process"]["args"] = json!(["sh", "-c", "echo x >> /host-passwd; echo rc=$?; sleep 600"]);
        v["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/host-passwd", "type": "bind", "source": "/etc/passwd", "options": ["bind", "rw"]
        }));
    });
    let before = std::fs::read("/etc/passwd").unwrap();
    let out = u.runtime(&["run", "--detach", "--bundle", &u.p("bundle"), "r2"]);
    assert!(out.status.success(), "{}", text(&out).1);
    let st: serde_json::Value =
        serde_json::from_slice(&u.runtime(&["state", "r2"]).stdout).unwrap();
    assert_eq!(st["status"], "running");
    let pid = st["pid"].as_i64().unwrap();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let uids = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert!(
        uids.split_whitespace()
            .skip(1)
            .all(|x| x == uid.to_string()),
        "{uids}"
    );
    let out = u.runtime(&["delete", "--force", "r2"]);
    assert!(out.status.success(), "{}", text(&out).1);
    assert_eq!(
        std::fs::read("/etc/passwd").unwrap(),
        before,
        "/etc/passwd was modified"
    );
}

#[test]
fn rootless_resource_limits_on_cgroup_v1_are_refused_by_name() {
    require_root();
    let uid = test_user();
    let u = UserDir::new(uid);
    assert!(u
        .runtime(&["spec", "--rootless", "--bundle", &u.p("bundle")])
        .status
        .success());
    u.edit_config(|v| {
        v["process"]["terminal"] = json!(false);
        v["process"]["args"] = json!(["true"]);
        v["linux"]["resources"]["memory"] = json!({"limit": 67108864});
    });
    let out = u.runtime(&["run", "--bundle", &u.p("bundle"), "r3"]);
    if cgroup_v1_host() {
        assert!(!out.status.success());
        assert!(
            text(&out).1.contains("linux.resources.memory"),
            "{}",
            text(&out).1
        );
    } else {
        // On cgroup v2 the root cgroup is not delegated to the user.
        assert!(!out.status.success());
        assert!(text(&out).1.contains("not delegated"), "{}", text(&out).1);
    }
    let left: Vec<_> = std::fs::read_dir(u.p("state"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// A cgroup v2 directory (under the host's cgroup2 hierarchy) delegated to
/// `uid` with a leaf for its session; removed on drop.
struct Delegated {
    dir: std::path::PathBuf,
    name: String,
}

impl Delegated {
    fn new(uid: u32) -> Option<Delegated> {
        let base = if cgroup_v1_host() {
            Path::new("/sys/fs/cgroup/unified")
        } else {
            Path::new("/sys/fs/cgroup")
        };
        let fs = nix::sys::statfs::statfs(base).ok()?;
        if fs.filesystem_type() != nix::sys::statfs::CGROUP2_SUPER_MAGIC {
            return None;
        }
        let name = format!("podman-rs-it-deleg-{}", std::process::id());
        let dir = podman_rs_integration_tests::delegate_cgroup(base, &name, uid).ok()?;
        Some(Delegated { dir, name })
    }
}

impl Drop for Delegated {
    fn drop(&mut self) {
        // Children first (the container's, then the session's).
        let mut dirs: Vec<_> = walk_dirs(&self.dir);
        dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
        for d in dirs {
            let _ = std::fs::remove_dir(d);
        }
    }
}

fn walk_dirs(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = vec![dir.to_path_buf()];
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            out.extend(walk_dirs(&e.path()));
        }
    }
    out
}

#[test]
fn rootless_on_cgroup_v2_uses_a_delegated_cgroup_and_refuses_limits_elsewhere() {
    require_root();
    let uid = test_user();
    let u = UserDir::new(uid);
    let Some(deleg) = Delegated::new(uid) else {
        eprintln!("skipped: no cgroup2 hierarchy to delegate from");
        return;
    };
    assert!(u
        .runtime(&["spec", "--rootless", "--bundle", &u.p("bundle")])
        .status
        .success());
    let leaf = format!("/{}/session", deleg.name);
    // A cgroup path under the delegated directory: created there, and the
    // container's init is in it.
    let ctr = format!("/{}/ctr", deleg.name);
    u.edit_config(|v| {
        v["process"]["terminal"] = json!(false);
        v["process"]["args"] = json!(["sleep", "100"]);
        v["linux"]["cgroupsPath"] = json!(ctr);
    });
    let out = u.runtime_v2(
        Some(&leaf),
        &["run", "--detach", "--bundle", &u.p("bundle"), "v2a"],
    );
    assert!(out.status.success(), "{}", text(&out).1);
    let st: serde_json::Value =
        serde_json::from_slice(&u.runtime(&["state", "v2a"]).stdout).unwrap();
    let pid = st["pid"].as_i64().unwrap();
    let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert!(
        cg.lines().any(|l| l == format!("0::{ctr}")),
        "the init is in the delegated cgroup: {cg}"
    );
    let out = u.runtime_v2(None, &["delete", "--force", "v2a"]);
    assert!(out.status.success(), "{}", text(&out).1);

    // Limits where the user cannot create the cgroup: refused by name, not
    // silently dropped.
    u.edit_config(|v| {
        v["process"]["args"] = json!(["true"]);
        v["linux"]["cgroupsPath"] = json!("/podman-rs-it-not-delegated/ctr");
        v["linux"]["resources"]["memory"] = json!({"limit": 67108864});
    });
    let out = u.runtime_v2(Some(&leaf), &["run", "--bundle", &u.p("bundle"), "v2b"]);
    let (_, e) = text(&out);
    assert!(!out.status.success(), "{e}");
    assert!(
        e.contains("linux.resources.memory") && e.contains("not delegated"),
        "{e}"
    );
    drop(deleg);
}
