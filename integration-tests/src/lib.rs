//! Shared helpers for the end-to-end tests: the podman-rs binary, busybox
//! bundles built from the host's busybox-static, and per-test runtime roots.
//!
//! The tests run real containers and so need root (CI runs as root). They do
//! not skip themselves: without root they fail, saying why.

pub mod images;
pub mod registry;
pub mod side_by_side;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use serde_json::{json, Value};

/// The podman-rs binary under test: `$PODMAN_RS_BIN`, or `podman-rs` in the
/// target directory these tests were built into. It is copied once into a
/// private directory, so a test of the /proc/self/exe protection can never
/// damage the build output even if the protection failed.
pub fn binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let src = std::env::var_os("PODMAN_RS_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                let exe = std::env::current_exe().expect("current_exe");
                // target/<profile>/deps/<test> → target/<profile>/podman-rs
                exe.parent()
                    .and_then(Path::parent)
                    .expect("target dir")
                    .join("podman-rs")
            });
        assert!(
            src.is_file(),
            "podman-rs binary not found at {} (build it first: cargo build -p podman-rs-cli, or set PODMAN_RS_BIN)",
            src.display()
        );
        // Copies left by earlier test processes that are gone are removed.
        if let Ok(rd) = std::fs::read_dir(std::env::temp_dir()) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if let Some(pid) = name.strip_prefix("podman-rs-it-bin-") {
                    if !Path::new(&format!("/proc/{pid}")).exists() {
                        let _ = std::fs::remove_dir_all(e.path());
                    }
                }
            }
        }
        let dir = std::env::temp_dir().join(format!("podman-rs-it-bin-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("bin dir");
        let dst = dir.join("podman-rs");
        std::fs::copy(&src, &dst).expect("copy binary");
        dst
    })
}

/// Fails the test unless running as root, with the reason.
pub fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "these end-to-end tests run real containers and need root (CI runs them as root)"
    );
}

/// Makes `<cgroup2 dir>/<name>` with a `session` leaf and delegates both to
/// `uid` as cgroup v2 delegation does (the directories and their
/// `cgroup.procs`, `cgroup.threads`, `cgroup.subtree_control`).
pub fn delegate_cgroup(base: &Path, name: &str, uid: u32) -> std::io::Result<PathBuf> {
    let dir = base.join(name);
    std::fs::create_dir_all(dir.join("session"))?;
    for d in [dir.clone(), dir.join("session")] {
        for f in [
            "",
            "cgroup.procs",
            "cgroup.threads",
            "cgroup.subtree_control",
        ] {
            let p = if f.is_empty() { d.clone() } else { d.join(f) };
            nix::unistd::chown(&p, Some(nix::unistd::Uid::from_raw(uid)), None)?;
        }
    }
    Ok(dir)
}

/// The host's statically linked busybox.
pub fn busybox() -> PathBuf {
    let p = PathBuf::from("/bin/busybox");
    let out = Command::new("file").arg("-L").arg(&p).output();
    if let Ok(out) = out {
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("statically linked") || text.contains("static-pie"),
            "/bin/busybox is not static: install busybox-static (make deps does)"
        );
    }
    p
}

/// Writes a minimal busybox root filesystem into `rootfs`.
pub fn make_rootfs(rootfs: &Path) {
    for d in ["bin", "proc", "sys", "dev", "tmp", "etc", "root", "run"] {
        std::fs::create_dir_all(rootfs.join(d)).expect("mkdir rootfs");
    }
    let bb = busybox();
    std::fs::copy(&bb, rootfs.join("bin/busybox")).expect("copy busybox");
    let list = Command::new(&bb)
        .arg("--list")
        .output()
        .expect("busybox --list");
    for name in String::from_utf8_lossy(&list.stdout).lines() {
        if name == "busybox" || name.is_empty() {
            continue;
        }
        let _ = std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(name));
    }
    std::fs::write(
        rootfs.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n",
    )
    .expect("passwd");
    std::fs::write(rootfs.join("etc/group"), "root:x:0:\nnobody:x:65534:\n").expect("group");
}

/// A bundle directory with a busybox rootfs and a config.json to edit.
pub struct Bundle {
    pub dir: tempfile::TempDir,
    pub config: Value,
}

impl Bundle {
    /// A bundle from `podman-rs runtime spec` (optionally `--rootless`) running `args`.
    pub fn busybox(args: &[&str]) -> Bundle {
        Self::with_spec(args, false)
    }

    pub fn with_spec(args: &[&str], rootless: bool) -> Bundle {
        let dir = tempfile::Builder::new()
            .prefix("podman-rs-bundle-")
            .tempdir()
            .expect("tempdir");
        make_rootfs(&dir.path().join("rootfs"));
        let mut cmd = Command::new(binary());
        cmd.args(["runtime", "spec", "--bundle"]).arg(dir.path());
        if rootless {
            cmd.arg("--rootless");
        }
        let out = cmd.output().expect("spec");
        assert!(
            out.status.success(),
            "runtime spec failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = std::fs::read_to_string(dir.path().join("config.json")).expect("config");
        let mut config: Value = serde_json::from_str(&text).expect("config json");
        config["process"]["terminal"] = json!(false);
        config["process"]["args"] = json!(args);
        // The default root is read-only: give the tests a writable /tmp.
        if let Some(mounts) = config["mounts"].as_array_mut() {
            mounts.push(
                json!({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
                               "options": ["nosuid", "nodev", "mode=1777"]}),
            );
        }
        let mut b = Bundle { dir, config };
        b.save();
        b
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `config` back to config.json.
    pub fn save(&mut self) {
        std::fs::write(
            self.dir.path().join("config.json"),
            serde_json::to_vec_pretty(&self.config).expect("json"),
        )
        .expect("write config");
    }

    /// Sets `process.args` and saves.
    pub fn args(&mut self, args: &[&str]) {
        self.config["process"]["args"] = json!(args);
        self.save();
    }
}

/// A private `--root` for one test, so tests never see each other's containers.
pub struct Root {
    pub dir: tempfile::TempDir,
}

impl Default for Root {
    fn default() -> Self {
        Self::new()
    }
}

impl Root {
    pub fn new() -> Root {
        Root {
            dir: tempfile::Builder::new()
                .prefix("podman-rs-root-")
                .tempdir()
                .expect("tempdir"),
        }
    }

    /// `podman-rs runtime --root <root> ARGS…` as a command to adjust.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(binary());
        c.arg("runtime")
            .arg("--root")
            .arg(self.dir.path())
            .args(args);
        c.stdin(Stdio::null());
        c
    }

    /// Runs and captures stdout and stderr. They go through files, not pipes:
    /// a created container inherits the runtime's stdio and keeps it open, so
    /// waiting for a pipe's end would wait for the container.
    pub fn run(&self, args: &[&str]) -> Output {
        capture(self.cmd(args))
    }

    /// Runs, asserting success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "podman-rs runtime {args:?} failed ({:?}): {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The parsed `state` JSON of a container.
    pub fn state(&self, id: &str) -> Value {
        serde_json::from_str(&self.ok(&["state", id])).expect("state json")
    }

    /// Polls `state` until `status` (or panics after ~10 s).
    pub fn wait_status(&self, id: &str, status: &str) -> Value {
        for _ in 0..200 {
            let st = self.state(id);
            if st["status"] == status {
                return st;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("container {id} never reached {status}: {}", self.state(id));
    }

    /// Entries in the root (container state dirs), ignoring the private bundles dir.
    pub fn entries(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.dir.path())
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n != ".bundles")
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }
}

impl Drop for Root {
    fn drop(&mut self) {
        // Never leave containers running after a failed test.
        if let Ok(rd) = std::fs::read_dir(self.dir.path()) {
            for e in rd.flatten() {
                let id = e.file_name().to_string_lossy().into_owned();
                if !id.starts_with('.') {
                    let _ = self.run(&["delete", "--force", &id]);
                }
            }
        }
    }
}

/// Runs `cmd` to completion with stdout and stderr captured through files.
pub fn capture(mut cmd: Command) -> Output {
    let out = tempfile::tempfile().expect("tempfile");
    let err = tempfile::tempfile().expect("tempfile");
    let status = cmd
        .stdout(out.try_clone().expect("dup"))
        .stderr(err.try_clone().expect("dup"))
        .status()
        .expect("spawn podman-rs");
    let read = |mut f: std::fs::File| {
        use std::io::{Read, Seek};
        let mut v = Vec::new();
        f.rewind().expect("rewind");
        f.read_to_end(&mut v).expect("read");
        v
    };
    Output {
        status,
        stdout: read(out),
        stderr: read(err),
    }
}

/// stdout and stderr of an Output as strings.
pub fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Unique id per test.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}
