//! The same image commands in podman-rs and in the stock podman, each with
//! private storage, for tests that compare the two.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use crate::registry::Registry;
use crate::{binary, capture, text};

/// podman-rs with private storage and a registries.conf whose only search
/// registry is `reg` (insecure: plain HTTP on loopback).
pub struct PodmanRs {
    dir: tempfile::TempDir,
}

impl PodmanRs {
    pub fn new(reg: &Registry) -> PodmanRs {
        let dir = tempfile::Builder::new()
            .prefix("podman-rs-images-")
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
        PodmanRs { dir }
    }

    /// A path inside the private directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The storage root (`--root`).
    pub fn root(&self) -> PathBuf {
        self.path("root")
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(binary());
        c.arg("--root")
            .arg(self.root())
            .arg("--runroot")
            .arg(self.path("run"))
            .arg("--storage-driver=vfs")
            .args(args)
            .env("CONTAINERS_REGISTRIES_CONF", self.path("registries.conf"))
            .stdin(Stdio::null());
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        capture(self.cmd(args))
    }

    /// Runs, asserting success; returns stdout and stderr.
    pub fn ok_both(&self, args: &[&str]) -> (String, String) {
        let out = self.run(args);
        let (o, e) = text(&out);
        assert!(
            out.status.success(),
            "podman-rs {args:?} failed ({:?}): {o}{e}",
            out.status.code()
        );
        (o, e)
    }

    /// Runs, asserting success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        self.ok_both(args).0
    }

    /// Blob and layer directory names in the store.
    pub fn stored(&self) -> (Vec<String>, Vec<String>) {
        let list = |p: PathBuf| -> Vec<String> {
            let mut v: Vec<String> = std::fs::read_dir(p)
                .map(|rd| {
                    rd.flatten()
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .filter(|n| !n.starts_with('.'))
                        .collect()
                })
                .unwrap_or_default();
            v.sort();
            v
        };
        (
            list(self.root().join("blobs/sha256")),
            list(self.root().join("layers")),
        )
    }
}

/// The stock podman with private storage (vfs, cgroupfs, file events: no
/// systemd here). Its images are removed on drop.
pub struct Podman {
    dir: tempfile::TempDir,
}

impl Default for Podman {
    fn default() -> Self {
        Self::new()
    }
}

impl Podman {
    pub fn new() -> Podman {
        Podman {
            dir: tempfile::Builder::new()
                .prefix("podman-rs-podman-")
                .tempdir()
                .expect("tempdir"),
        }
    }

    /// A path inside the private directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn run(&self, args: &[&str]) -> Output {
        let d = self.dir.path();
        let _ = std::fs::create_dir_all(d.join("xdg"));
        let mut c = Command::new("podman");
        c.arg("--root")
            .arg(d.join("root"))
            .arg("--runroot")
            .arg(d.join("runroot"))
            .arg("--tmpdir")
            .arg(d.join("tmp"))
            .args([
                "--storage-driver=vfs",
                "--cgroup-manager=cgroupfs",
                "--events-backend=file",
            ])
            .args(args)
            .env("XDG_RUNTIME_DIR", d.join("xdg"))
            .env("XDG_CONFIG_HOME", d.join("config"))
            .stdin(Stdio::null());
        capture(c)
    }

    /// Runs, asserting success; returns stdout and stderr.
    pub fn ok_both(&self, args: &[&str]) -> (String, String) {
        let out = self.run(args);
        let (o, e) = text(&out);
        assert!(out.status.success(), "podman {args:?} failed: {o}{e}");
        (o, e)
    }

    /// Runs, asserting success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        self.ok_both(args).0
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = self.run(&["rmi", "--all", "--force"]);
    }
}
