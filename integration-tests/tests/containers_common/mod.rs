//! Shared fixture of the container tests: a loopback registry holding the
//! offline busybox image, podman-rs with private storage that has pulled it,
//! and (for side-by-side checks) the stock podman with the same image.

#![allow(dead_code)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use podman_rs_integration_tests::images::{busybox_image, push_layout};
use podman_rs_integration_tests::registry::Registry;
use podman_rs_integration_tests::side_by_side::Podman;
use podman_rs_integration_tests::{binary, capture, require_root, text};

/// Root's hard limits here are below Podman's defaults; podman-rs caps
/// itself, podman must be told.
pub const PODMAN_ULIMITS: [&str; 4] = [
    "--ulimit",
    "nofile=1024:1024",
    "--ulimit",
    "nproc=1024:1024",
];

/// podman-rs with a private `--root`/`--runroot`.
pub struct Prs {
    dir: tempfile::TempDir,
    driver: &'static str,
}

impl Prs {
    pub fn new(reg: &Registry, driver: &'static str) -> Prs {
        let dir = tempfile::Builder::new()
            .prefix("podman-rs-ctr-")
            .tempdir()
            .expect("tempdir");
        std::fs::write(
            dir.path().join("registries.conf"),
            format!(
                "unqualified-search-registries = [\"{0}\"]\n\n[[registry]]\nlocation = \"{0}\"\ninsecure = true\n",
                reg.addr()
            ),
        )
        .expect("registries.conf");
        Prs { dir, driver }
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    pub fn runroot(&self) -> PathBuf {
        self.dir.path().join("run")
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(binary());
        c.arg("--root")
            .arg(self.root())
            .arg("--runroot")
            .arg(self.runroot())
            .arg(format!("--storage-driver={}", self.driver))
            .args(args)
            .env("CONTAINERS_REGISTRIES_CONF", self.path("registries.conf"))
            .stdin(Stdio::null());
        c
    }

    /// Runs to completion, output captured through files (a container's
    /// monitor must never hold our pipes).
    pub fn run(&self, args: &[&str]) -> Output {
        capture(self.cmd(args))
    }

    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        let (o, e) = text(&out);
        assert!(
            out.status.success(),
            "podman-rs {args:?} failed ({:?}): {o}{e}",
            out.status.code()
        );
        o
    }

    /// `inspect --format TEMPLATE NAME`, trimmed.
    pub fn inspect(&self, name: &str, template: &str) -> String {
        self.ok(&["inspect", "--format", template, name])
            .trim()
            .to_string()
    }

    /// Polls `inspect` until `pred` holds for the output of `template`.
    pub fn wait_for(
        &self,
        name: &str,
        template: &str,
        timeout: Duration,
        pred: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let out = self.run(&["inspect", "--format", template, name]);
            let v = text(&out).0.trim().to_string();
            if out.status.success() && pred(&v) {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "{name}: {template} never reached the expected value (last: {v:?}, {})",
                text(&out).1
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Polls the logs until they contain `needle`.
    pub fn wait_log(&self, name: &str, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let out = self.run(&["logs", name]);
            let (o, e) = text(&out);
            if o.contains(needle) {
                return o;
            }
            assert!(
                Instant::now() < deadline,
                "{name}: logs never showed {needle:?}: {o}{e}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Names of the entries of a directory (empty when it does not exist).
    pub fn entries(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    /// Mount points of this process's mount table under our directories,
    /// but the netns directory itself (a shared bind mount of itself that
    /// stays, as Podman's /run/netns).
    pub fn mounts_under_roots(&self) -> Vec<String> {
        let info = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
        let base = self.dir.path().to_string_lossy().into_owned();
        let netns = self.runroot().join("netns").to_string_lossy().into_owned();
        info.lines()
            .filter_map(|l| l.split(' ').nth(4))
            .filter(|m| m.starts_with(&base) && *m != netns)
            .map(str::to_string)
            .collect()
    }

    /// Everything the engine may leave for container `id`, as findings.
    pub fn leftovers(&self, id: &str) -> Vec<String> {
        let mut found = Vec::new();
        for p in [
            self.root().join("containers").join(id),
            self.runroot().join("containers").join(id),
            self.runroot().join("netns").join(id),
            self.runroot().join("runtime").join(id),
            self.runroot().join("locks").join(format!("{id}.lock")),
        ] {
            if p.symlink_metadata().is_ok() {
                found.push(format!("path {}", p.display()));
            }
        }
        // Sockets are named by the first 32 hex digits of the id.
        let prefix = id.get(..32).unwrap_or(id);
        for e in std::fs::read_dir(self.runroot().join("s"))
            .into_iter()
            .flatten()
            .flatten()
        {
            if e.file_name().to_string_lossy().starts_with(prefix) {
                found.push(format!("path {}", e.path().display()));
            }
        }
        for m in self.mounts_under_roots() {
            if m.contains(id) {
                found.push(format!("mount {m}"));
            }
        }
        for cg in cgroup_dirs(id) {
            found.push(format!("cgroup {}", cg.display()));
        }
        found
    }
}

impl Drop for Prs {
    fn drop(&mut self) {
        // Never leave containers running after a failed test.
        let _ = self.run(&["rm", "-a", "-f", "-t", "0"]);
        // The engine keeps <runroot>/netns a shared mount point (as Podman
        // keeps its netns directory): unmount it and anything else left
        // under the directory, or the temp dir cannot go and every later
        // mountinfo read on the host walks the leftovers.
        let dir = self.dir.path().display().to_string();
        if let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") {
            let mut left: Vec<&str> = info
                .lines()
                .filter_map(|l| l.split(' ').nth(4))
                .filter(|m| m.starts_with(&dir))
                .collect();
            left.sort_unstable_by_key(|m| std::cmp::Reverse(m.len()));
            for m in left {
                let _ = Command::new("umount").arg("-l").arg(m).status();
            }
        }
    }
}

/// `/sys/fs/cgroup/<controller>/podman-rs/<id>` (v1) or
/// `/sys/fs/cgroup/podman-rs/<id>` (v2) that exist.
pub fn cgroup_dirs(id: &str) -> Vec<PathBuf> {
    let mut v = Vec::new();
    let unified = Path::new("/sys/fs/cgroup/podman-rs").join(id);
    if unified.exists() {
        v.push(unified);
    }
    if let Ok(rd) = std::fs::read_dir("/sys/fs/cgroup") {
        for e in rd.flatten() {
            let p = e.path().join("podman-rs").join(id);
            if p.exists() {
                v.push(p);
            }
        }
    }
    v
}

/// The test environment: registry with busybox, podman-rs that pulled it.
pub struct Env {
    pub reg: Registry,
    pub prs: Prs,
    /// "127.0.0.1:PORT/busybox:latest"
    pub image: String,
}

impl Env {
    pub fn new() -> Env {
        Self::with_driver("vfs")
    }

    pub fn with_driver(driver: &'static str) -> Env {
        require_root();
        let reg = Registry::start();
        let bb = busybox_image();
        push_layout(bb.path(), &reg.addr(), "busybox:latest").expect("push busybox");
        let image = format!("{}/busybox:latest", reg.addr());
        let prs = Prs::new(&reg, driver);
        prs.ok(&["pull", "-q", "--tls-verify=false", &image]);
        Env { reg, prs, image }
    }

    /// The stock podman with the same image pulled.
    pub fn podman(&self) -> Podman {
        let pm = Podman::new();
        pm.ok(&["pull", "-q", "--tls-verify=false", &self.image]);
        pm
    }
}

/// `podman run` with the ulimits this host needs, then `args`.
pub fn podman_run_args<'a>(args: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["run"];
    v.extend(PODMAN_ULIMITS);
    v.extend_from_slice(args);
    v
}

/// Waits for a child with a timeout; kills it and panics on timeout.
pub fn wait_timeout(child: &mut Child, timeout: Duration, what: &str) -> std::process::ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(st) = child.try_wait().expect("try_wait") {
            return st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not finish within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Bytes read from a reader on a thread, to be polled.
#[derive(Clone, Default)]
pub struct Collected(Arc<Mutex<Vec<u8>>>);

impl Collected {
    pub fn spawn(mut r: impl Read + Send + 'static) -> Collected {
        let c = Collected::default();
        let buf = c.0.clone();
        std::thread::spawn(move || {
            let mut chunk = [0u8; 4096];
            loop {
                match r.read(&mut chunk) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buf.lock().expect("lock").extend_from_slice(&chunk[..n]),
                }
            }
        });
        c
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("lock")).into_owned()
    }

    /// Waits until the collected text contains `needle` (after `from` bytes).
    pub fn wait_for(&self, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let t = self.text();
            if t.contains(needle) {
                return t;
            }
            assert!(
                Instant::now() < deadline,
                "never saw {needle:?} in output: {t:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
