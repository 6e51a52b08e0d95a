//! overlayfs mounts of image layers (read-only or with an upper dir).
//!
//! # How layers reach the kernel
//!
//! mount(2) takes overlay options as one string of at most a page (4096
//! bytes here, NUL included); longer data is silently truncated by the
//! kernel, so a long layer list cannot go that way. The new mount API passes
//! each layer in its own `fsconfig(fd, ..., "lowerdir+", ...)` call (Linux
//! 6.8+), which removes that limit, needs no escaping of `,` `:` `\`, and
//! lets the kernel say which layer it rejected. So [`MountApi::Auto`] probes
//! the kernel and, best first, uses:
//!
//! 1. [`MountApi::NewApiFds`] (Linux 6.13+): every layer is opened here and
//!    handed over as an fd (`FSCONFIG_SET_FD`): no path length limit at all.
//! 2. [`MountApi::NewApiPaths`] (Linux 6.8+): layers as strings; a string
//!    value is limited to 255 bytes, so a longer path (or an upper/work path
//!    with a `\`, which the kernel would unescape) goes as
//!    `/proc/self/fd/N` of a directory fd opened here.
//! 3. [`MountApi::Legacy`]: mount(2) with `lowerdir=a:b,upperdir=..`; fails
//!    with [`Error::OptionsTooLong`] when the string exceeds the page.
//!
//! The other classic way around the page limit, chdir into a common parent
//! and pass short relative paths, is not used: it changes the cwd of the
//! whole process, which races with every other thread of the engine.
//!
//! A read-only overlay needs at least two lowerdirs; a single lowerdir
//! without upper is mounted as a read-only bind mount instead.

use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::mount::{MntFlags, MsFlags};

use crate::error::{Error, KernelLog, LayerRole, Result};
use crate::mountinfo::{self, Unmounted};
use crate::sys::{
    FsValue, RealSyscalls, Syscalls, MOUNT_ATTR_NODEV, MOUNT_ATTR_NOEXEC, MOUNT_ATTR_NOSUID,
    MOUNT_ATTR_RDONLY,
};
use crate::util::create_dir;

/// Most lower layers overlayfs accepts (OVL_MAX_STACK).
pub const MAX_LOWER_LAYERS: usize = 500;

/// Longest string value fsconfig(FSCONFIG_SET_STRING) accepts, without its NUL.
const FSCONFIG_STRING_MAX: usize = 255;

/// Option keys that this crate sets itself and `extra` must not contain.
const RESERVED_KEYS: &[&str] = &["lowerdir", "lowerdir+", "datadir+", "upperdir", "workdir"];

/// A layer directory, opened: its role, its path and an fd of it.
type Layer<'a> = (LayerRole, &'a Path, OwnedFd);

/// Which kernel interface mounts the overlay. See the module docs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum MountApi {
    /// Probe the kernel and take the best of the three below.
    #[default]
    Auto,
    /// mount(2) with one option string (limited to a page).
    Legacy,
    /// fsopen/fsconfig with each layer passed as a path string ("lowerdir+", Linux 6.8+).
    NewApiPaths,
    /// fsopen/fsconfig with each layer passed as an fd (Linux 6.13+).
    NewApiFds,
}

/// How a mount was actually made (returned by [`OverlayMount::mount`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MountMethod {
    /// One lowerdir, no upper: a read-only bind mount of that directory.
    Bind,
    /// mount(2) with an option string.
    Legacy,
    /// New mount API, layers as path strings.
    NewApiPaths,
    /// New mount API, layers as fds.
    NewApiFds,
}

/// overlayfs options besides the directories.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OverlayOptions {
    /// `userxattr`: keep overlay metadata in `user.overlay.*` xattrs (needed in a user namespace).
    pub userxattr: bool,
    /// `metacopy=on|off` (copy up metadata only on chmod/chown...).
    pub metacopy: Option<bool>,
    /// `volatile`: skip syncs of the upper dir.
    pub volatile: bool,
    /// Mount read-only even if there is an upper dir.
    pub readonly: bool,
    /// MS_NOSUID / MOUNT_ATTR_NOSUID.
    pub nosuid: bool,
    /// MS_NODEV / MOUNT_ATTR_NODEV.
    pub nodev: bool,
    /// MS_NOEXEC / MOUNT_ATTR_NOEXEC.
    pub noexec: bool,
    /// More overlayfs options passed through as given: `key` or `key=value`
    /// (e.g. `index=off`, `redirect_dir=on`, `xino=auto`).
    pub extra: Vec<String>,
    /// Which kernel interface to use.
    pub api: MountApi,
    /// Idmap every lower layer through this user namespace
    /// (`/proc/PID/ns/user`): each is passed as a detached idmapped clone
    /// (open_tree + mount_setattr MOUNT_ATTR_IDMAP). Needs the new mount API
    /// and an upper dir.
    pub idmap_userns: Option<PathBuf>,
}

impl OverlayOptions {
    /// The overlayfs parameters other than directories, as (key, value) pairs
    /// (`None` value: a flag).
    fn fs_params(&self) -> Vec<(String, Option<String>)> {
        let mut params: Vec<(String, Option<String>)> = Vec::new();
        if self.userxattr {
            params.push(("userxattr".into(), None));
        }
        if let Some(on) = self.metacopy {
            params.push((
                "metacopy".into(),
                Some(if on { "on" } else { "off" }.into()),
            ));
        }
        if self.volatile {
            params.push(("volatile".into(), None));
        }
        for opt in &self.extra {
            match opt.split_once('=') {
                Some((k, v)) => params.push((k.to_string(), Some(v.to_string()))),
                None => params.push((opt.clone(), None)),
            }
        }
        params
    }

    fn ms_flags(&self) -> MsFlags {
        let mut flags = MsFlags::empty();
        flags.set(MsFlags::MS_RDONLY, self.readonly);
        flags.set(MsFlags::MS_NOSUID, self.nosuid);
        flags.set(MsFlags::MS_NODEV, self.nodev);
        flags.set(MsFlags::MS_NOEXEC, self.noexec);
        flags
    }

    fn mount_attrs(&self) -> u32 {
        let mut attrs = 0;
        for (on, attr) in [
            (self.readonly, MOUNT_ATTR_RDONLY),
            (self.nosuid, MOUNT_ATTR_NOSUID),
            (self.nodev, MOUNT_ATTR_NODEV),
            (self.noexec, MOUNT_ATTR_NOEXEC),
        ] {
            if on {
                attrs |= attr;
            }
        }
        attrs
    }
}

/// An overlay mount: `lower` layers (top-most first, the overlayfs lowerdir
/// order), an optional `upper`+`work` pair making it writable, and the
/// mount point `target`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverlayMount {
    /// Lower layers, top-most first.
    pub lower: Vec<PathBuf>,
    /// Upper layer (writes land here). Requires `work`.
    pub upper: Option<PathBuf>,
    /// overlayfs work dir, on the same filesystem as `upper`.
    pub work: Option<PathBuf>,
    /// Mount point (created if absent).
    pub target: PathBuf,
    pub options: OverlayOptions,
}

impl OverlayMount {
    /// A read-only overlay of `lower` (top-most first) at `target`.
    pub fn new(lower: Vec<PathBuf>, target: impl Into<PathBuf>) -> Self {
        OverlayMount {
            lower,
            upper: None,
            work: None,
            target: target.into(),
            options: OverlayOptions::default(),
        }
    }

    /// Makes the overlay writable with `upper` and `work` (created on mount if absent).
    pub fn with_upper(mut self, upper: impl Into<PathBuf>, work: impl Into<PathBuf>) -> Self {
        self.upper = Some(upper.into());
        self.work = Some(work.into());
        self
    }

    /// Replaces the options.
    pub fn with_options(mut self, options: OverlayOptions) -> Self {
        self.options = options;
        self
    }

    /// Mounts the overlay. Creates `target`, and `upper`/`work` if absent.
    pub fn mount(&self) -> Result<MountMethod> {
        self.mount_with(&RealSyscalls)
    }

    /// Unmounts `target` (lazily detaching it if busy).
    pub fn unmount(&self) -> Result<Unmounted> {
        mountinfo::unmount(&self.target)
    }

    /// [`OverlayMount::unmount`] with a given syscall implementation.
    pub fn unmount_with(&self, sys: &dyn Syscalls) -> Result<Unmounted> {
        mountinfo::unmount_with(sys, &self.target)
    }

    /// The mount(2) data string of this overlay (directories escaped as
    /// overlayfs expects: `\` before `\`, `,` and `:`).
    pub fn legacy_options(&self) -> OsString {
        let mut data: Vec<u8> = b"lowerdir=".to_vec();
        for (i, layer) in self.lower.iter().enumerate() {
            if i > 0 {
                data.push(b':');
            }
            push_escaped(&mut data, layer);
        }
        if let (Some(upper), Some(work)) = (&self.upper, &self.work) {
            data.extend_from_slice(b",upperdir=");
            push_escaped(&mut data, upper);
            data.extend_from_slice(b",workdir=");
            push_escaped(&mut data, work);
        }
        for (key, value) in self.options.fs_params() {
            data.push(b',');
            data.extend_from_slice(key.as_bytes());
            if let Some(value) = value {
                data.push(b'=');
                data.extend_from_slice(value.as_bytes());
            }
        }
        OsString::from_vec(data)
    }

    /// Mounts the overlay with a FUSE program (`fuse-overlayfs`) instead of
    /// the kernel's overlayfs: `program -o lowerdir=…,upperdir=…,workdir=…
    /// target`. Only the directories are passed (the program keeps its own
    /// metadata); `target`, `upper` and `work` are created if absent.
    pub fn mount_program(&self, program: &Path) -> Result<()> {
        self.mount_program_with(program, &[])
    }

    /// [`OverlayMount::mount_program`] with more `-o` options for the
    /// program (fuse-overlayfs's `uidmapping=`/`gidmapping=`).
    pub fn mount_program_with(&self, program: &Path, extra: &[String]) -> Result<()> {
        self.validate()?;
        create_dir(&self.target, 0o755)?;
        if let (Some(upper), Some(work)) = (&self.upper, &self.work) {
            create_dir(upper, 0o755)?;
            create_dir(work, 0o700)?;
        }
        let dirs_only = OverlayMount {
            options: OverlayOptions {
                api: self.options.api,
                ..OverlayOptions::default()
            },
            ..self.clone()
        };
        let mut opts = dirs_only.legacy_options();
        for e in extra {
            opts.push(",");
            opts.push(e);
        }
        let out = std::process::Command::new(program)
            .arg("-o")
            .arg(opts)
            .arg(&self.target)
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(|e| Error::Program {
                target: self.target.clone(),
                program: program.to_path_buf(),
                reason: e.to_string(),
            })?;
        if out.status.success() {
            return Ok(());
        }
        Err(Error::Program {
            target: self.target.clone(),
            program: program.to_path_buf(),
            reason: format!(
                "{}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        })
    }

    /// [`OverlayMount::mount`] with a given syscall implementation.
    pub fn mount_with(&self, sys: &dyn Syscalls) -> Result<MountMethod> {
        self.validate()?;
        // Check the lower layers before creating anything.
        let mut layers = self.open_layers(sys, false)?;
        create_dir(&self.target, 0o755)?;
        if let (Some(upper), Some(work)) = (&self.upper, &self.work) {
            self.prepare_upper(upper, work)?;
            layers.extend(self.open_layers(sys, true)?);
        }

        if self.upper.is_none() && self.lower.len() == 1 {
            drop(layers);
            return self.mount_bind(sys);
        }

        let api = match self.options.api {
            MountApi::Auto => probe_api(sys),
            api => api,
        };
        tracing::debug!(target = %self.target.display(), layers = self.lower.len(), ?api, "mounting overlay");
        match api {
            MountApi::Legacy | MountApi::Auto if self.options.idmap_userns.is_some() => {
                Err(Error::invalid(
                    &self.target,
                    "idmapped lower layers need the new mount API (Linux 6.8+)",
                ))
            }
            MountApi::Legacy | MountApi::Auto => {
                // mount(2) takes paths; the fds only served to check the layers.
                drop(layers);
                self.mount_legacy(sys)
            }
            MountApi::NewApiPaths => self.mount_new_api(sys, layers, false),
            MountApi::NewApiFds => self.mount_new_api(sys, layers, true),
        }
    }

    fn validate(&self) -> Result<()> {
        let invalid = |reason: String| Err(Error::invalid(&self.target, reason));
        if self.lower.is_empty() {
            return invalid("an overlay needs at least one lowerdir".into());
        }
        if self.lower.len() > MAX_LOWER_LAYERS {
            return invalid(format!(
                "{} lowerdirs, overlayfs accepts at most {MAX_LOWER_LAYERS}",
                self.lower.len()
            ));
        }
        if self.upper.is_some() != self.work.is_some() {
            return invalid("upperdir and workdir go together".into());
        }
        if self.options.idmap_userns.is_some() && self.upper.is_none() {
            return invalid("idmapped lower layers need an upper dir".into());
        }
        for opt in &self.options.extra {
            let key = opt.split_once('=').map_or(opt.as_str(), |(k, _)| k);
            if key.is_empty() || opt.contains([',', '\0']) {
                return invalid(format!("bad overlay option {opt:?}"));
            }
            if RESERVED_KEYS.contains(&key) {
                return invalid(format!(
                    "overlay option {key:?} is set from the layer fields, not from options"
                ));
            }
        }
        Ok(())
    }

    /// Creates upper/work if absent and checks they can work together.
    fn prepare_upper(&self, upper: &Path, work: &Path) -> Result<()> {
        if !upper.exists() {
            create_dir(upper, 0o755)?;
            // The merged root directory takes its owner and mode from the upper
            // dir: give a new upper dir those of the top-most lower layer.
            if let Some(top) = self.lower.first() {
                if let Ok(meta) = std::fs::metadata(top) {
                    copy_owner_and_mode(&meta, upper)?;
                }
            }
        }
        create_dir(work, 0o700)?;

        let upper_meta = std::fs::metadata(upper).map_err(|e| Error::io("stat", upper, e))?;
        let work_meta = std::fs::metadata(work).map_err(|e| Error::io("stat", work, e))?;
        if upper_meta.dev() != work_meta.dev() {
            return Err(Error::WorkdirDevice {
                target: self.target.clone(),
                upper: upper.to_path_buf(),
                work: work.to_path_buf(),
            });
        }
        let upper_c = std::fs::canonicalize(upper).map_err(|e| Error::io("resolving", upper, e))?;
        let work_c = std::fs::canonicalize(work).map_err(|e| Error::io("resolving", work, e))?;
        if upper_c.starts_with(&work_c) || work_c.starts_with(&upper_c) {
            return Err(Error::invalid(
                &self.target,
                format!(
                    "upperdir {} and workdir {} must be separate trees",
                    upper.display(),
                    work.display()
                ),
            ));
        }
        Ok(())
    }

    /// Opens the lower layers, or upper and work, checking each is a usable
    /// directory and naming the one that is not.
    fn open_layers(&self, sys: &dyn Syscalls, upper_and_work: bool) -> Result<Vec<Layer<'_>>> {
        let mut layers: Vec<(LayerRole, &Path)> = Vec::new();
        if !upper_and_work {
            layers.extend(
                self.lower
                    .iter()
                    .enumerate()
                    .map(|(i, p)| (LayerRole::Lower(i), p.as_path())),
            );
        } else if let (Some(upper), Some(work)) = (&self.upper, &self.work) {
            layers.push((LayerRole::Upper, upper));
            layers.push((LayerRole::Work, work));
        }
        if let (false, Some(userns_path)) = (upper_and_work, &self.options.idmap_userns) {
            let userns = std::fs::File::open(userns_path).map_err(|e| {
                let source = Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO));
                self.mount_error(
                    "opening the user namespace for idmapped layers",
                    source,
                    Vec::new(),
                )
            })?;
            return layers
                .into_iter()
                .map(|(role, path)| {
                    sys.open_tree_idmapped(path, userns.as_fd())
                        .map(|fd| (role, path, fd))
                        .map_err(|source| self.layer_error(role, path, source, Vec::new()))
                })
                .collect();
        }
        layers
            .into_iter()
            .map(|(role, path)| {
                sys.open_dir(path)
                    .map(|fd| (role, path, fd))
                    .map_err(|source| self.layer_error(role, path, source, Vec::new()))
            })
            .collect()
    }

    fn layer_error(&self, role: LayerRole, layer: &Path, source: Errno, log: Vec<String>) -> Error {
        Error::Layer {
            target: self.target.clone(),
            layer: layer.to_path_buf(),
            role,
            source,
            kernel_log: KernelLog(log),
        }
    }

    fn mount_error(&self, step: &'static str, source: Errno, log: Vec<String>) -> Error {
        Error::Mount {
            target: self.target.clone(),
            step,
            source,
            kernel_log: KernelLog(log),
        }
    }

    fn mount_bind(&self, sys: &dyn Syscalls) -> Result<MountMethod> {
        let Some(lower) = self.lower.first() else {
            return Err(Error::invalid(&self.target, "no lowerdir"));
        };
        sys.mount(
            Some(lower.as_os_str()),
            &self.target,
            None,
            MsFlags::MS_BIND,
            None,
        )
        .map_err(|e| self.mount_error("mount(MS_BIND)", e, Vec::new()))?;
        let flags =
            MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY | self.options.ms_flags();
        if let Err(e) = sys.mount(None, &self.target, None, flags, None) {
            // Do not leave a writable bind mount behind.
            if let Err(undo) = sys.umount(&self.target, MntFlags::MNT_DETACH) {
                tracing::warn!(target = %self.target.display(), error = %undo, "could not undo bind mount");
            }
            return Err(self.mount_error("mount(MS_REMOUNT|MS_BIND|MS_RDONLY)", e, Vec::new()));
        }
        Ok(MountMethod::Bind)
    }

    fn mount_legacy(&self, sys: &dyn Syscalls) -> Result<MountMethod> {
        let data = self.legacy_options();
        let limit = sys.page_size().saturating_sub(1);
        if data.len() > limit {
            return Err(Error::OptionsTooLong {
                target: self.target.clone(),
                len: data.len(),
                limit,
            });
        }
        sys.mount(
            Some(OsStr::new("overlay")),
            &self.target,
            Some("overlay"),
            self.options.ms_flags(),
            Some(&data),
        )
        .map_err(|e| self.mount_error("mount(2) overlay", e, Vec::new()))?;
        Ok(MountMethod::Legacy)
    }

    fn mount_new_api(
        &self,
        sys: &dyn Syscalls,
        layers: Vec<Layer<'_>>,
        layers_as_fds: bool,
    ) -> Result<MountMethod> {
        let fs = sys
            .fsopen("overlay")
            .map_err(|e| self.mount_error("fsopen(overlay)", e, Vec::new()))?;
        let fs = fs.as_fd();
        if let Err(e) = sys.fsconfig(fs, "source", FsValue::String(OsStr::new("overlay"))) {
            tracing::debug!(error = %e, "fsconfig source=overlay refused, going on");
        }

        for (role, path, fd) in &layers {
            let key = match role {
                LayerRole::Lower(_) => "lowerdir+",
                LayerRole::Upper => "upperdir",
                LayerRole::Work => "workdir",
            };
            let proc_path;
            let value = if layers_as_fds {
                FsValue::Fd(fd.as_fd())
            } else {
                let bytes = path.as_os_str().as_bytes();
                // lowerdir+ strings are taken literally; upperdir/workdir are unescaped.
                let needs_escape = !matches!(role, LayerRole::Lower(_)) && bytes.contains(&b'\\');
                if bytes.len() > FSCONFIG_STRING_MAX || needs_escape {
                    proc_path = OsString::from(format!("/proc/self/fd/{}", fd.as_raw_fd()));
                    FsValue::String(&proc_path)
                } else {
                    FsValue::String(path.as_os_str())
                }
            };
            sys.fsconfig(fs, key, value)
                .map_err(|e| self.layer_error(*role, path, e, sys.fs_log(fs)))?;
        }

        for (key, value) in self.options.fs_params() {
            let value_os;
            let v = match &value {
                Some(v) => {
                    value_os = OsString::from(v);
                    FsValue::String(&value_os)
                }
                None => FsValue::Flag,
            };
            sys.fsconfig(fs, &key, v)
                .map_err(|e| self.mount_error(fsconfig_step(&key), e, sys.fs_log(fs)))?;
        }
        if self.options.readonly {
            sys.fsconfig(fs, "ro", FsValue::Flag)
                .map_err(|e| self.mount_error("fsconfig(ro)", e, sys.fs_log(fs)))?;
        }

        sys.fsconfig_create(fs)
            .map_err(|e| self.mount_error("fsconfig(FSCONFIG_CMD_CREATE)", e, sys.fs_log(fs)))?;
        // The layers are resolved and pinned by the superblock now.
        drop(layers);
        let mnt = sys
            .fsmount(fs, self.options.mount_attrs())
            .map_err(|e| self.mount_error("fsmount", e, sys.fs_log(fs)))?;
        sys.move_mount(mnt.as_fd(), &self.target)
            .map_err(|e| self.mount_error("move_mount", e, Vec::new()))?;
        Ok(if layers_as_fds {
            MountMethod::NewApiFds
        } else {
            MountMethod::NewApiPaths
        })
    }
}

fn fsconfig_step(key: &str) -> &'static str {
    match key {
        "userxattr" => "fsconfig(userxattr)",
        "metacopy" => "fsconfig(metacopy)",
        "volatile" => "fsconfig(volatile)",
        _ => "fsconfig(option)",
    }
}

/// Finds out which interface the running kernel offers for overlay layers.
/// Whether the kernel's overlayfs mounts here: two lower layers, an upper
/// and a work dir under `dir` (created and removed again), with `userxattr`
/// when asked (a user namespace). The storage drivers' probe before they
/// record "overlay" for a rootless store.
pub fn probe_native(dir: &Path, userxattr: bool) -> Result<()> {
    let _ = std::fs::remove_dir_all(dir);
    let made = (|| {
        for d in ["l1", "l2", "upper", "work", "merged"] {
            create_dir(&dir.join(d), 0o755)?;
        }
        let ov = OverlayMount::new(vec![dir.join("l1"), dir.join("l2")], dir.join("merged"))
            .with_upper(dir.join("upper"), dir.join("work"))
            .with_options(OverlayOptions {
                userxattr,
                ..OverlayOptions::default()
            });
        ov.mount()?;
        ov.unmount().map(|_| ())
    })();
    let _ = std::fs::remove_dir_all(dir);
    made
}

pub fn probe_api(sys: &dyn Syscalls) -> MountApi {
    let Ok(root) = sys.open_dir(Path::new("/")) else {
        return MountApi::Legacy;
    };
    let try_value = |value: FsValue<'_>| -> bool {
        match sys.fsopen("overlay") {
            // A throwaway context: nothing is mounted from it.
            Ok(fs) => sys.fsconfig(fs.as_fd(), "lowerdir+", value).is_ok(),
            Err(_) => false,
        }
    };
    if try_value(FsValue::Fd(root.as_fd())) {
        MountApi::NewApiFds
    } else if try_value(FsValue::String(OsStr::new("/"))) {
        MountApi::NewApiPaths
    } else {
        MountApi::Legacy
    }
}

fn push_escaped(out: &mut Vec<u8>, path: &Path) {
    for &b in path.as_os_str().as_bytes() {
        if matches!(b, b'\\' | b',' | b':') {
            out.push(b'\\');
        }
        out.push(b);
    }
}

fn copy_owner_and_mode(from: &std::fs::Metadata, to: &Path) -> Result<()> {
    nix::unistd::chown(
        to,
        Some(nix::unistd::Uid::from_raw(from.uid())),
        Some(nix::unistd::Gid::from_raw(from.gid())),
    )
    .map_err(|e| Error::io("chown", to, e.into()))?;
    let mode = nix::sys::stat::Mode::from_bits_truncate(from.mode() & 0o7777);
    nix::sys::stat::fchmodat(None, to, mode, nix::sys::stat::FchmodatFlags::FollowSymlink)
        .map_err(|e| Error::io("chmod", to, e.into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::fake::{Call, FakeSys};

    fn layers(dir: &Path, names: &[&str]) -> Vec<PathBuf> {
        names
            .iter()
            .map(|n| {
                let p = dir.join(n);
                std::fs::create_dir_all(&p).expect("mkdir");
                p
            })
            .collect()
    }

    #[test]
    fn legacy_options_escape_and_order() {
        let m = OverlayMount::new(
            vec!["/l/top".into(), "/l/with:colon,comma\\bs".into()],
            "/m",
        )
        .with_upper("/u", "/w")
        .with_options(OverlayOptions {
            userxattr: true,
            metacopy: Some(false),
            volatile: true,
            extra: vec!["index=off".into(), "default_permissions".into()],
            ..Default::default()
        });
        assert_eq!(
            m.legacy_options(),
            OsStr::new(
                "lowerdir=/l/top:/l/with\\:colon\\,comma\\\\bs,upperdir=/u,workdir=/w,\
                 userxattr,metacopy=off,volatile,index=off,default_permissions"
            )
        );
    }

    #[test]
    fn validation_rejects_bad_requests() {
        let cases = [
            OverlayMount::new(vec![], "/m"),
            OverlayMount::new(vec!["/a".into(); MAX_LOWER_LAYERS + 1], "/m"),
            OverlayMount {
                upper: Some("/u".into()),
                ..OverlayMount::new(vec!["/a".into()], "/m")
            },
            OverlayMount::new(vec!["/a".into(), "/b".into()], "/m").with_options(OverlayOptions {
                extra: vec!["lowerdir=/x".into()],
                ..Default::default()
            }),
            OverlayMount::new(vec!["/a".into(), "/b".into()], "/m").with_options(OverlayOptions {
                extra: vec!["a,b".into()],
                ..Default::default()
            }),
        ];
        for m in cases {
            let fake = FakeSys::default();
            match m.mount_with(&fake) {
                Err(Error::Invalid { path, .. }) => assert_eq!(path, Path::new("/m")),
                other => panic!("{m:?}: {other:?}"),
            }
            assert!(fake.calls().is_empty());
        }
    }

    #[test]
    fn auto_prefers_fds_and_passes_layers_in_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let lower = layers(dir.path(), &["l1", "l2", "l3"]);
        let m = OverlayMount::new(lower.clone(), dir.path().join("merged"))
            .with_upper(dir.path().join("upper"), dir.path().join("work"))
            .with_options(OverlayOptions {
                userxattr: true,
                metacopy: Some(true),
                nodev: true,
                nosuid: true,
                ..Default::default()
            });
        let fake = FakeSys::default();
        assert_eq!(m.mount_with(&fake).expect("mount"), MountMethod::NewApiFds);
        assert!(dir.path().join("upper").is_dir() && dir.path().join("work").is_dir());

        let calls = fake.calls();
        let configs: Vec<(String, String)> = calls
            .iter()
            .filter_map(|c| match c {
                Call::FsConfig { key, value } => Some((key.clone(), value.clone())),
                _ => None,
            })
            .skip(1) // the probe
            .collect();
        let fd = |p: &Path| format!("fd:{}", p.display());
        let want: Vec<(String, String)> = vec![
            ("source".into(), "str:overlay".into()),
            ("lowerdir+".into(), fd(&lower[0])),
            ("lowerdir+".into(), fd(&lower[1])),
            ("lowerdir+".into(), fd(&lower[2])),
            ("upperdir".into(), fd(&dir.path().join("upper"))),
            ("workdir".into(), fd(&dir.path().join("work"))),
            ("userxattr".into(), "flag".into()),
            ("metacopy".into(), "str:on".into()),
        ];
        assert_eq!(configs, want);
        assert!(calls.contains(&Call::FsMount {
            attrs: MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV
        }));
        assert_eq!(
            calls.last(),
            Some(&Call::MoveMount {
                target: dir.path().join("merged")
            })
        );
    }

    #[test]
    fn paths_mode_uses_proc_fd_for_long_paths() {
        let dir = tempfile::tempdir().expect("tempdir");
        let long = dir.path().join("a".repeat(200)).join("b".repeat(100));
        std::fs::create_dir_all(&long).expect("mkdir");
        let short = layers(dir.path(), &["s"]).remove(0);
        let m = OverlayMount::new(vec![long.clone(), short.clone()], dir.path().join("m"))
            .with_options(OverlayOptions {
                api: MountApi::NewApiPaths,
                ..Default::default()
            });
        let fake = FakeSys::default();
        assert_eq!(
            m.mount_with(&fake).expect("mount"),
            MountMethod::NewApiPaths
        );
        let lowers: Vec<String> = fake
            .calls()
            .iter()
            .filter_map(|c| match c {
                Call::FsConfig { key, value } if key == "lowerdir+" => Some(value.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(lowers.len(), 2);
        assert!(lowers[0].starts_with("str:/proc/self/fd/"), "{lowers:?}");
        // The fake resolves /proc/self/fd/N of fds it handed out.
        assert_eq!(
            lowers[0],
            format!("str:/proc/self/fd/{}", fake.fd_of(&long))
        );
        assert_eq!(lowers[1], format!("str:{}", short.display()));
    }

    #[test]
    fn auto_uses_path_strings_before_linux_6_13() {
        let dir = tempfile::tempdir().expect("tempdir");
        let lower = layers(dir.path(), &["l1", "l2"]);
        let m = OverlayMount::new(lower, dir.path().join("m"));
        let fake = FakeSys {
            fd_values_unsupported: true,
            ..Default::default()
        };
        assert_eq!(probe_api(&fake), MountApi::NewApiPaths);
        assert_eq!(
            m.mount_with(&fake).expect("mount"),
            MountMethod::NewApiPaths
        );
    }

    #[test]
    fn falls_back_to_legacy_without_new_api() {
        let dir = tempfile::tempdir().expect("tempdir");
        let lower = layers(dir.path(), &["l1", "l2"]);
        let m = OverlayMount::new(lower, dir.path().join("m"));
        let fake = FakeSys {
            fsopen_errno: Some(Errno::ENOSYS),
            ..Default::default()
        };
        assert_eq!(m.mount_with(&fake).expect("mount"), MountMethod::Legacy);
        let data = fake
            .calls()
            .into_iter()
            .find_map(|c| match c {
                Call::Mount { fstype, data, .. } if fstype.as_deref() == Some("overlay") => data,
                _ => None,
            })
            .expect("overlay mount(2)");
        assert_eq!(data, m.legacy_options().to_string_lossy());
    }

    #[test]
    fn legacy_refuses_options_over_a_page() {
        let dir = tempfile::tempdir().expect("tempdir");
        let lower = layers(dir.path(), &["l1", "l2", "l3"]);
        let m = OverlayMount::new(lower, dir.path().join("m")).with_options(OverlayOptions {
            api: MountApi::Legacy,
            ..Default::default()
        });
        let fake = FakeSys {
            page_size: 32,
            ..Default::default()
        };
        match m.mount_with(&fake) {
            Err(Error::OptionsTooLong { len, limit, target }) => {
                assert_eq!(limit, 31);
                assert_eq!(len, m.legacy_options().len());
                assert_eq!(target, dir.path().join("m"));
            }
            other => panic!("{other:?}"),
        }
        assert!(!fake.calls().iter().any(|c| matches!(c, Call::Mount { .. })));
    }

    #[test]
    fn failing_layer_is_named_with_kernel_log() {
        let dir = tempfile::tempdir().expect("tempdir");
        let lower = layers(dir.path(), &["l1", "bad", "l3"]);
        let m = OverlayMount::new(lower.clone(), dir.path().join("m"));
        let fake = FakeSys {
            reject_layer: Some(lower[1].clone()),
            ..Default::default()
        };
        let err = m.mount_with(&fake).expect_err("must fail");
        match &err {
            Error::Layer {
                target,
                layer,
                role,
                source,
                kernel_log,
            } => {
                assert_eq!(target, &dir.path().join("m"));
                assert_eq!(layer, &lower[1]);
                assert_eq!(*role, LayerRole::Lower(1));
                assert_eq!(*source, Errno::EINVAL);
                assert_eq!(kernel_log.0, vec!["e overlay: layer rejected".to_string()]);
            }
            other => panic!("{other:?}"),
        }
        let text = err.to_string();
        assert!(text.contains(&lower[1].display().to_string()), "{text}");
        assert!(text.contains("lowerdir #1"), "{text}");
        assert!(
            text.contains(&dir.path().join("m").display().to_string()),
            "{text}"
        );
        assert!(!fake
            .calls()
            .iter()
            .any(|c| matches!(c, Call::FsMount { .. })));
    }

    #[test]
    fn missing_layer_is_named_before_mounting() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut lower = layers(dir.path(), &["l1", "l2"]);
        lower.insert(1, dir.path().join("missing"));
        for api in [MountApi::Legacy, MountApi::NewApiFds] {
            let m = OverlayMount::new(lower.clone(), dir.path().join("m")).with_options(
                OverlayOptions {
                    api,
                    ..Default::default()
                },
            );
            let fake = FakeSys::default();
            match m.mount_with(&fake) {
                Err(Error::Layer {
                    layer,
                    role,
                    source,
                    ..
                }) => {
                    assert_eq!(layer, lower[1]);
                    assert_eq!(role, LayerRole::Lower(1));
                    assert_eq!(source, Errno::ENOENT);
                }
                other => panic!("{api:?}: {other:?}"),
            }
            // Nothing was created for a request that cannot work.
            assert!(!dir.path().join("m").exists());
        }
    }

    #[test]
    fn single_lower_is_a_readonly_bind() {
        let dir = tempfile::tempdir().expect("tempdir");
        let lower = layers(dir.path(), &["only"]);
        let target = dir.path().join("m");
        let m = OverlayMount::new(lower.clone(), &target).with_options(OverlayOptions {
            nosuid: true,
            ..Default::default()
        });
        let fake = FakeSys::default();
        assert_eq!(m.mount_with(&fake).expect("mount"), MountMethod::Bind);
        let mounts: Vec<Call> = fake
            .calls()
            .into_iter()
            .filter(|c| matches!(c, Call::Mount { .. }))
            .collect();
        assert_eq!(
            mounts,
            vec![
                Call::Mount {
                    source: Some(lower[0].display().to_string()),
                    target: target.clone(),
                    fstype: None,
                    flags: MsFlags::MS_BIND,
                    data: None,
                },
                Call::Mount {
                    source: None,
                    target,
                    fstype: None,
                    flags: MsFlags::MS_REMOUNT
                        | MsFlags::MS_BIND
                        | MsFlags::MS_RDONLY
                        | MsFlags::MS_NOSUID,
                    data: None,
                },
            ]
        );
    }

    #[test]
    fn unmount_detaches_when_busy() {
        let fake = FakeSys {
            busy: vec![PathBuf::from("/m")],
            ..Default::default()
        };
        let m = OverlayMount::new(vec!["/a".into(), "/b".into()], "/m");
        assert_eq!(m.unmount_with(&fake).expect("unmount"), Unmounted::Detached);
        assert_eq!(
            fake.calls(),
            vec![
                Call::Umount {
                    target: "/m".into(),
                    flags: MntFlags::empty()
                },
                Call::Umount {
                    target: "/m".into(),
                    flags: MntFlags::MNT_DETACH
                },
            ]
        );
        let fake = FakeSys {
            not_mounted: true,
            ..Default::default()
        };
        assert!(matches!(
            m.unmount_with(&fake),
            Err(Error::NotMounted { target }) if target == Path::new("/m")
        ));
    }

    #[test]
    fn workdir_must_share_upper_filesystem() {
        // /dev/shm is a tmpfs here; the tempdir is not (when it is, skip).
        let dir = tempfile::tempdir().expect("tempdir");
        let Ok(shm) = tempfile::tempdir_in("/dev/shm") else {
            return;
        };
        let dev = |p: &Path| std::fs::metadata(p).map(|m| m.dev()).unwrap_or(0);
        if dev(dir.path()) == dev(shm.path()) {
            return;
        }
        let lower = layers(dir.path(), &["l1"]);
        let m = OverlayMount::new(lower, dir.path().join("m"))
            .with_upper(dir.path().join("upper"), shm.path().join("work"));
        let fake = FakeSys::default();
        assert!(matches!(
            m.mount_with(&fake),
            Err(Error::WorkdirDevice { .. })
        ));
    }
}
