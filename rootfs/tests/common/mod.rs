//! Helpers shared by the integration tests (which mount for real and so need root).

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// Skips the calling test (with a note) unless it runs as root.
#[macro_export]
macro_rules! require_root {
    () => {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: needs root (real mounts)");
            return;
        }
    };
}

/// A temporary directory that unmounts everything below it before it is removed.
pub struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("podman-rs-rootfs-test")
            .tempdir()
            .expect("tempdir");
        Scratch { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn mkdir(&self, rel: &str) -> PathBuf {
        let p = self.dir.path().join(rel);
        fs::create_dir_all(&p).expect("mkdir");
        p
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Err(e) = podman_rs_rootfs::unmount_all_under(self.dir.path()) {
            eprintln!("cleanup of {}: {e}", self.dir.path().display());
        }
    }
}

pub fn write(path: &Path, content: &str) {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).expect("mkdir parent");
    }
    fs::write(path, content).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

pub fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// A comparable description of a tree: relative path -> (kind, content, mode, uid, gid).
pub type Snapshot = BTreeMap<PathBuf, (String, Vec<u8>, u32, u32, u32)>;

pub fn snapshot(root: &Path) -> Snapshot {
    let mut out = Snapshot::new();
    walk(root, root, &mut out);
    out
}

fn walk(root: &Path, dir: &Path, out: &mut Snapshot) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("entry").path())
        .collect();
    entries.sort();
    for path in entries {
        let meta = fs::symlink_metadata(&path).expect("lstat");
        let ft = meta.file_type();
        let (kind, content) = if ft.is_dir() {
            ("dir".to_string(), Vec::new())
        } else if ft.is_symlink() {
            let t = fs::read_link(&path).expect("readlink");
            (
                "symlink".to_string(),
                t.into_os_string().into_encoded_bytes(),
            )
        } else if ft.is_file() {
            ("file".to_string(), fs::read(&path).expect("read"))
        } else if ft.is_char_device() {
            (format!("chr {}", meta.rdev()), Vec::new())
        } else if ft.is_fifo() {
            ("fifo".to_string(), Vec::new())
        } else {
            ("other".to_string(), Vec::new())
        };
        let rel = path.strip_prefix(root).expect("prefix").to_path_buf();
        out.insert(
            rel,
            (kind, content, meta.mode() & 0o7777, meta.uid(), meta.gid()),
        );
        if ft.is_dir() {
            walk(root, &path, out);
        }
    }
}
