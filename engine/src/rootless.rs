//! Rootless policy: who counts as rootless, and where a rootless user's
//! storage, run directory and pause pid file live.
//!
//! A process is rootless when its effective uid is not 0, or when it runs
//! inside the rootless user namespace (as uid 0 there): the namespace join
//! leaves [`USERNS_CONFIGURED_ENV`] and [`ROOTLESS_UID_ENV`] in the
//! environment, as Podman does, and paths keep being computed for that user.
//!
//! | what | path |
//! |---|---|
//! | runtime dir | `$XDG_RUNTIME_DIR`, else `/tmp/podman-rs-$UID` (0700, ours, no symlink) |
//! | graphroot | `$XDG_DATA_HOME/podman-rs`, else `~/.local/share/podman-rs` |
//! | runroot | `<runtime dir>/podman-rs` |
//! | pause pid file | `<runtime dir>/podman-rs/libpod/tmp/pause.pid` (whatever `--runroot` says) |

use std::ffi::OsString;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Set (to `init` or `done`) in a process that is inside the rootless user
/// namespace.
pub const USERNS_CONFIGURED_ENV: &str = podman_rs_namespaces::pause::USERNS_CONFIGURED_ENV;
/// The uid of the rootless user outside the namespace.
pub const ROOTLESS_UID_ENV: &str = podman_rs_namespaces::pause::ROOTLESS_UID_ENV;
/// The subdirectory of the data and runtime directories podman-rs uses.
pub const SUBDIR: &str = "podman-rs";
/// The pause pid file, relative to the runtime directory (under [`SUBDIR`]).
const PAUSE_PID_REL: &str = "podman-rs/libpod/tmp/pause.pid";

/// Errors resolving the rootless paths.
#[derive(Debug, thiserror::Error)]
pub enum RootlessError {
    #[error("cannot determine the home directory of uid {uid}: set $HOME or $XDG_DATA_HOME")]
    NoHome { uid: u32 },
    #[error("creating the runtime directory {}: {source}", path.display())]
    CreateRuntimeDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("runtime directory {}: {reason} (set $XDG_RUNTIME_DIR to a directory of your own)", path.display())]
    UnsafeRuntimeDir { path: PathBuf, reason: String },
}

/// What the rootless decisions depend on (the process environment, or a test's).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RootlessEnv {
    /// The effective uid of this process (0 inside the rootless namespace).
    pub euid: u32,
    /// `$_CONTAINERS_USERNS_CONFIGURED`.
    pub userns_configured: Option<OsString>,
    /// `$_CONTAINERS_ROOTLESS_UID`, parsed.
    pub rootless_uid: Option<u32>,
    pub home: Option<PathBuf>,
    pub xdg_data_home: Option<PathBuf>,
    pub xdg_runtime_dir: Option<PathBuf>,
}

fn non_empty(k: &str) -> Option<OsString> {
    std::env::var_os(k).filter(|v| !v.is_empty())
}

impl RootlessEnv {
    /// The environment of this process.
    pub fn from_env() -> RootlessEnv {
        RootlessEnv {
            euid: rustix::process::geteuid().as_raw(),
            userns_configured: non_empty(USERNS_CONFIGURED_ENV),
            rootless_uid: non_empty(ROOTLESS_UID_ENV)
                .and_then(|v| v.to_str().and_then(|s| s.parse().ok())),
            home: non_empty("HOME").map(PathBuf::from),
            xdg_data_home: non_empty("XDG_DATA_HOME").map(PathBuf::from),
            xdg_runtime_dir: non_empty("XDG_RUNTIME_DIR").map(PathBuf::from),
        }
    }

    /// Whether this process is already inside a rootless user namespace.
    pub fn in_namespace(&self) -> bool {
        self.userns_configured.is_some()
    }

    /// The uid of the rootless user (outside the namespace); `None` for root.
    pub fn rootless_uid(&self) -> Option<u32> {
        if self.in_namespace() {
            if let Some(uid) = self.rootless_uid {
                return Some(uid);
            }
        }
        (self.euid != 0).then_some(self.euid)
    }

    pub fn is_rootless(&self) -> bool {
        self.rootless_uid().is_some()
    }

    /// `$XDG_DATA_HOME`, else `$HOME/.local/share` (home from the user
    /// database when `$HOME` is unset).
    pub fn data_home(&self, uid: u32) -> Result<PathBuf, RootlessError> {
        if let Some(d) = &self.xdg_data_home {
            return Ok(d.clone());
        }
        let home = match &self.home {
            Some(h) => h.clone(),
            None => nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
                .ok()
                .flatten()
                .map(|u| u.dir)
                .filter(|d| !d.as_os_str().is_empty())
                .ok_or(RootlessError::NoHome { uid })?,
        };
        Ok(home.join(".local/share"))
    }

    /// The runtime directory before any check: `$XDG_RUNTIME_DIR`, else
    /// `/tmp/podman-rs-$UID` (the `bool` is true for that fallback).
    pub fn runtime_dir_candidate(&self, uid: u32) -> (PathBuf, bool) {
        match &self.xdg_runtime_dir {
            Some(d) => (d.clone(), false),
            None => (PathBuf::from(format!("/tmp/podman-rs-{uid}")), true),
        }
    }
}

/// A rootless user's directories.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootlessPaths {
    pub runtime_dir: PathBuf,
    pub graphroot: PathBuf,
    pub runroot: PathBuf,
    pub pause_pid_file: PathBuf,
}

/// The paths of user `uid` in `env`, without touching the file system.
pub fn paths_for(env: &RootlessEnv, uid: u32) -> Result<RootlessPaths, RootlessError> {
    let (runtime_dir, _) = env.runtime_dir_candidate(uid);
    Ok(RootlessPaths {
        graphroot: env.data_home(uid)?.join(SUBDIR),
        runroot: runtime_dir.join(SUBDIR),
        pause_pid_file: runtime_dir.join(PAUSE_PID_REL),
        runtime_dir,
    })
}

/// Creates the fallback runtime directory `dir` (mode 0700) if needed and
/// checks it is a real directory owned by `owner` that nobody else can use.
pub fn ensure_private_dir(dir: &Path, owner: u32) -> Result<(), RootlessError> {
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(source) => {
            return Err(RootlessError::CreateRuntimeDir {
                path: dir.to_path_buf(),
                source,
            })
        }
    }
    let unsafe_dir = |reason: String| RootlessError::UnsafeRuntimeDir {
        path: dir.to_path_buf(),
        reason,
    };
    let meta =
        std::fs::symlink_metadata(dir).map_err(|source| RootlessError::CreateRuntimeDir {
            path: dir.to_path_buf(),
            source,
        })?;
    if meta.file_type().is_symlink() {
        return Err(unsafe_dir("is a symbolic link".into()));
    }
    if !meta.is_dir() {
        return Err(unsafe_dir("is not a directory".into()));
    }
    if meta.uid() != owner {
        return Err(unsafe_dir(format!(
            "is owned by uid {}, not {owner}",
            meta.uid()
        )));
    }
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(unsafe_dir(format!("has mode {mode:04o}, not 0700")));
    }
    Ok(())
}

/// The paths of the rootless user of this process (`None` for root),
/// creating and checking the fallback runtime directory.
pub fn current_paths() -> Result<Option<RootlessPaths>, RootlessError> {
    let env = RootlessEnv::from_env();
    let Some(uid) = env.rootless_uid() else {
        return Ok(None);
    };
    let paths = paths_for(&env, uid)?;
    if env.runtime_dir_candidate(uid).1 {
        // Inside the namespace our own files show as owned by uid 0: compare
        // with the effective uid, whichever namespace we are in.
        ensure_private_dir(&paths.runtime_dir, env.euid)?;
    }
    Ok(Some(paths))
}

/// Whether this process is rootless (see the module documentation).
pub fn is_rootless() -> bool {
    RootlessEnv::from_env().is_rootless()
}

/// Store setting: the overlay mount program (fuse-overlayfs) a rootless
/// store mounts container root filesystems with.
pub const MOUNT_PROGRAM_SETTING: &str = "mount_program";
/// Store setting: the driver was chosen by [`choose_driver`]'s probe (so a
/// default "overlay" request later means the recorded "vfs").
const PROBED_SETTING: &str = "driver_probed";

/// For a rootless store opened for the first time with the default
/// "overlay" driver, decides how overlays get mounted, as containers/storage
/// does: the kernel's overlayfs inside the user namespace (with
/// `userxattr`), else `fuse-overlayfs` when it is installed and /dev/fuse is
/// usable, else "vfs" (copies; said once). The choice is recorded in the
/// store; later opens follow it. Root, and stores already set up, are left
/// alone.
pub fn choose_driver(
    store: &crate::store::Store,
    storage: &mut crate::interface::StorageOptions,
) -> Result<(), crate::store::StoreError> {
    if storage.driver != "overlay" || !podman_rs_namespaces::in_user_namespace() {
        return Ok(());
    }
    match store.driver()? {
        Some(d) if d == "vfs" && store.setting(PROBED_SETTING)?.is_some() => {
            storage.driver = d;
            return Ok(());
        }
        Some(_) => return Ok(()),
        None => {}
    }
    if let Some(program) = &storage.mount_program {
        // Configured in storage.conf, as containers/storage honours it.
        store.set_setting(MOUNT_PROGRAM_SETTING, &program.to_string_lossy())?;
        return Ok(());
    }
    let probe_dir = storage.root.join("overlay-probe");
    let native = podman_rs_rootfs::probe_native(&probe_dir, true);
    let Err(native_err) = native else {
        tracing::debug!("rootless store: the kernel's overlayfs works in the user namespace");
        return Ok(());
    };
    let fuse = find_fuse_overlayfs();
    match fuse {
        Ok(program) => {
            tracing::debug!(
                "rootless store: native overlay refused ({native_err}); using {}",
                program.display()
            );
            store.set_setting(MOUNT_PROGRAM_SETTING, &program.to_string_lossy())?;
        }
        Err(why) => {
            tracing::warn!(
                "the kernel refused overlayfs in the user namespace ({native_err}) and {why}: \
                 using the vfs driver (each container gets a full copy of its image)"
            );
            store.set_setting(PROBED_SETTING, "1")?;
            storage.driver = "vfs".into();
        }
    }
    Ok(())
}

/// `fuse-overlayfs` on PATH with a /dev/fuse this user can open.
pub(crate) fn find_fuse_overlayfs() -> Result<PathBuf, String> {
    let program = std::env::var_os("PATH")
        .and_then(|p| podman_rs_namespaces::syscall::find_in_path("fuse-overlayfs", &p))
        .ok_or_else(|| "fuse-overlayfs is not installed".to_string())?;
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/fuse")
        .map_err(|e| format!("/dev/fuse cannot be opened ({e})"))?;
    Ok(program)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(euid: u32) -> RootlessEnv {
        RootlessEnv {
            euid,
            home: Some("/home/u".into()),
            xdg_runtime_dir: Some("/run/user/1000".into()),
            ..RootlessEnv::default()
        }
    }

    #[test]
    fn who_is_rootless() {
        assert_eq!(user(0).rootless_uid(), None, "root");
        assert_eq!(user(1000).rootless_uid(), Some(1000));
        // Inside the namespace: uid 0, the user from the environment.
        let mut inside = user(0);
        inside.userns_configured = Some("done".into());
        inside.rootless_uid = Some(1000);
        assert_eq!(inside.rootless_uid(), Some(1000));
        assert!(inside.in_namespace());
        // The uid variable alone (no "configured") does not make root rootless.
        let mut stray = user(0);
        stray.rootless_uid = Some(1000);
        assert_eq!(stray.rootless_uid(), None);
    }

    #[test]
    fn default_paths() {
        let p = paths_for(&user(1000), 1000).unwrap();
        assert_eq!(p.graphroot, PathBuf::from("/home/u/.local/share/podman-rs"));
        assert_eq!(p.runroot, PathBuf::from("/run/user/1000/podman-rs"));
        assert_eq!(
            p.pause_pid_file,
            PathBuf::from("/run/user/1000/podman-rs/libpod/tmp/pause.pid")
        );
        let mut env = user(1000);
        env.xdg_data_home = Some("/data".into());
        env.xdg_runtime_dir = None;
        let p = paths_for(&env, 1000).unwrap();
        assert_eq!(p.graphroot, PathBuf::from("/data/podman-rs"));
        assert_eq!(p.runtime_dir, PathBuf::from("/tmp/podman-rs-1000"));
        assert_eq!(p.runroot, PathBuf::from("/tmp/podman-rs-1000/podman-rs"));
        assert!(env.runtime_dir_candidate(1000).1);
    }

    #[test]
    fn home_from_the_user_database() {
        let env = RootlessEnv {
            euid: 0,
            ..RootlessEnv::default()
        };
        // uid 0 always has an entry in /etc/passwd.
        assert!(env.data_home(0).unwrap().ends_with(".local/share"));
        assert!(matches!(
            env.data_home(4_000_000_000),
            Err(RootlessError::NoHome { .. })
        ));
    }

    #[test]
    fn private_dir_checks() {
        let tmp = tempfile::tempdir().unwrap();
        let me = rustix::process::geteuid().as_raw();
        let d = tmp.path().join("rt");
        ensure_private_dir(&d, me).unwrap();
        let mode = std::fs::metadata(&d).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        // Existing and fine: still fine.
        ensure_private_dir(&d, me).unwrap();
        // Someone else's.
        let e = ensure_private_dir(&d, me + 1).unwrap_err();
        assert!(e.to_string().contains("is owned by uid"), "{e}");
        // Too open.
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
        let e = ensure_private_dir(&d, me).unwrap_err();
        assert!(e.to_string().contains("has mode 0755"), "{e}");
        // A symlink to a good directory is refused.
        let good = tmp.path().join("good");
        ensure_private_dir(&good, me).unwrap();
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(&good, &link).unwrap();
        let e = ensure_private_dir(&link, me).unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        // A file.
        let f = tmp.path().join("file");
        std::fs::write(&f, "").unwrap();
        assert!(ensure_private_dir(&f, me).is_err());
    }
}
